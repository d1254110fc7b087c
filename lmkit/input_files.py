"""Opening the files a user names: regular files only, and read whole only below a size bound.

A path on the command line (--train, --prompt-file, eval --file, tokenize
--from) or inside a model directory may name anything the file system
holds: a FIFO, whose read waits for a writer that may never come; a device
such as /dev/zero or /dev/urandom, which never ends; a folder. lmkit reads
input only from regular files (or symbolic links to one), refuses anything
else with one line before reading a byte, and refuses a file it would read
whole into memory when the file is larger than the bound the caller gives.
Files too large for memory are streamed by their readers instead.
"""
from __future__ import annotations

import os
import stat
from typing import BinaryIO

from lmkit.errors import LmkitError

# stat test -> what the user is told the path is
NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words ("a named pipe (FIFO)", "a character device", ...)."""
    return next((name for test, name in NOT_REGULAR if test(mode)), "not a file")


def not_regular(path, mode: int, error: type[LmkitError]) -> LmkitError:
    return error(f"{path}: is {kind_of(mode)}, not a regular file; lmkit reads input only from regular files")


def check_regular(path: str | os.PathLike, error: type[LmkitError] = LmkitError) -> os.stat_result:
    """The status of `path` when it is a regular file (or a link to one); `error` naming it otherwise."""
    try:
        status = os.stat(path)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise error(f"{path}: no such file") from exc
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(status.st_mode):
        raise not_regular(path, status.st_mode, error)
    return status


def open_regular(path: str | os.PathLike, error: type[LmkitError] = LmkitError) -> BinaryIO:
    """`path` opened for binary reading, refusing anything but a regular file.

    The file is checked before opening and again on the open descriptor, so a
    FIFO put in its place meanwhile is refused too: it is opened non-blocking,
    which returns at once where a plain open would wait for a writer.
    """
    check_regular(path, error)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise not_regular(path, mode, error)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_bounded(path: str | os.PathLike, max_bytes: int, error: type[LmkitError] = LmkitError,
                 purpose: str = "into memory at once") -> bytes:
    """The bytes of regular file `path`; `error` if it holds more than `max_bytes` (checked as it is read)."""
    with open_regular(path, error) as handle:
        size = os.fstat(handle.fileno()).st_size
        data = handle.read(size + 1) if size <= max_bytes else b""  # one byte more: a file that grew is seen
        if len(data) > size:
            data += handle.read(max_bytes + 1 - len(data))
    if size > max_bytes or len(data) > max_bytes:
        raise error(f"{path}: holds more than {max_bytes:,} bytes, the most lmkit reads {purpose}")
    return data
