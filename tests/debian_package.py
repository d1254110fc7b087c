"""Debian packages built in memory for the tests: an ar archive of debian-binary, control.tar.gz and data.tar.gz,
as `dpkg-deb --fsys-tarfile` reads them. lmkit fetches real ones with `apt-get download`."""
from __future__ import annotations

import io
import tarfile


def tar_gz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def ar_archive(members: list[tuple[str, bytes]]) -> bytes:
    out = b"!<arch>\n"
    for name, data in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode() + data + b"\n" * (len(data) % 2)
    return out


def debian_package(package: str, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A .deb of `package` whose data archive holds `members` (data None: a link or folder)."""
    control = tarfile.TarInfo("./control")
    fields = f"Package: {package}\nVersion: 9.9\nArchitecture: all\nMaintainer: a <a@b.c>\nDescription: d\n"
    return ar_archive([("debian-binary", b"2.0\n"), ("control.tar.gz", tar_gz([(control, fields.encode())])),
                       ("data.tar.gz", tar_gz(members))])


def crafted_deb(member: tarfile.TarInfo, data: bytes | None) -> bytes:
    """fortunes-zh (tang300's and song100's package) holding one member."""
    return debian_package("fortunes-zh", [(member, data)])
