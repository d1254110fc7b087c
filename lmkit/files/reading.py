"""Reading input only from regular files, strictly.

A path on the command line (--train, --prompt-file, eval --file, tokenize
--from) or inside a model directory may name anything the file system
holds: a FIFO, whose read waits for a writer that may never come; a device
such as /dev/zero, which never ends; a folder. lmkit reads input only from
regular files (or links to one), refuses anything else with one line before
reading a byte (`open_regular`), and refuses a file it would read whole
when it is larger than the caller's bound (`read_bounded`); standard input
is read to the same bounds. Files too large for memory are streamed by their
readers instead. What the bytes are as text (UTF-8, UTF-16 or UTF-32, binary
data) is lmkit.files.text_bytes's to say. Writing is lmkit.files.writing's.
"""
from __future__ import annotations

import errno
import json
import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO

from lmkit.errors import CorpusError, LmkitError
from lmkit.files.text_bytes import STDIN_NAME, decode_text

NOT_REGULAR = {stat.S_IFDIR: "a directory", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
               stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket",
               stat.S_IFLNK: "a symbolic link that cannot be followed (a loop)"}
TEXT_IN_MEMORY_BYTES = 64 << 20  # read_text's bound: a larger text is streamed (lmkit.corpus.text_files), not read whole
JSON_MAX_BYTES = 256 << 20       # config.json, tokenizer.json, manifests: far beyond any lmkit writes


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words ("a FIFO (named pipe)", "a character device", ...)."""
    return NOT_REGULAR.get(stat.S_IFMT(mode), "not a regular file")


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


def read_text(path: str | os.PathLike, errors: str = "strict", max_bytes: int = TEXT_IN_MEMORY_BYTES,
              purpose: str = "into memory at once") -> str:
    """Read a UTF-8 text file whole; binary, undecodable or larger than `max_bytes` raises CorpusError naming it.

    Only regular files are read (`read_bounded`). `errors="replace"` substitutes
    U+FFFD for bad bytes instead of refusing. Line endings are normalised to "\\n".
    `purpose` ends the message of a file that is too large ("... the most lmkit reads as a prompt").
    """
    return decode_text(read_bounded(path, max_bytes, CorpusError, purpose), path, errors)


def read_standard_input(max_bytes: int, purpose: str, errors: str = "strict") -> str:
    """Standard input read whole as UTF-8 text, as read_text reads a file: CorpusError naming "standard input"
    where it holds more than `max_bytes` or is not text."""
    return decode_text(standard_input_bytes(max_bytes, purpose), STDIN_NAME, errors)


def standard_input_bytes(max_bytes: int, purpose: str, error: type[LmkitError] = CorpusError) -> bytes:
    """Standard input's bytes, as read_bounded reads a file's: `error` where it holds more than `max_bytes` (checked
    as it is read, so `< /dev/zero` ends at the bound); `purpose` ends the message ("as a prompt")."""
    data = standard_input().read(max_bytes + 1)
    if len(data) > max_bytes:
        raise error(f"{STDIN_NAME}: holds more than {max_bytes:,} bytes, the most lmkit reads {purpose}")
    return data


def standard_input() -> BinaryIO:
    """Standard input's bytes; CorpusError where the process has none (started with it closed: `<&-`)."""
    if sys.stdin is None:
        raise CorpusError("standard input is closed; give the text through a pipe or a file")
    return sys.stdin.buffer


def read_json(path: str | os.PathLike, what: str = "file", error: type[LmkitError] = LmkitError) -> dict:
    """Load a JSON object; a missing or malformed file raises `error` (an LmkitError) naming it."""
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: {what} is {broken_link(path) if path.is_symlink() else 'missing'}")
    try:
        obj = json.loads(read_bounded(path, JSON_MAX_BYTES, error).decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise error(f"{path}: {what} is not valid JSON ({json_problem(exc)})") from exc
    if not isinstance(obj, dict):
        raise error(f"{path}: {what} must hold a JSON object, got {type(obj).__name__}")
    return obj


def json_problem(exc: Exception) -> str:
    """What was wrong with a JSON text that json.loads refused, in words about the text (Python's limit on
    the digits of an integer otherwise speaks of sys.set_int_max_str_digits)."""
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError, OSError)):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return f"it holds an integer of more than {sys.get_int_max_str_digits():,} digits"


def broken_link(path: Path) -> str:
    """What a symbolic link that cannot be read through is: one that loops, or one whose target is gone."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return NOT_REGULAR[stat.S_IFLNK]
    return "a symbolic link that leads nowhere"

