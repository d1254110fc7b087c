"""Safe file writing and strict text reading.

Every file lmkit writes goes to a temporary name in the same folder, is
fsynced and then renamed over the target, so a crash or a full disk leaves
either the old file or the new one, never half of either.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import IO, Iterator

from lmkit.errors import CorpusError, LmkitError
from lmkit.input_files import read_bounded

LONE_SURROGATE = re.compile("[\ud800-\udfff]")
BINARY_SNIFF_BYTES = 8192
TEXT_IN_MEMORY_BYTES = 64 << 20  # read_text's bound: a larger text is streamed (lmkit.corpus_io), not read whole
JSON_MAX_BYTES = 256 << 20       # config.json, tokenizer.json, manifests: far beyond any lmkit writes
TMP_SUFFIX = ".tmp"  # atomic_write's temporaries: .<name>.<random>.tmp beside the target


class WriteError(LmkitError):
    """A file could not be written (disk full, permissions); the file it was to replace is intact."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"could not write {path}: {reason}; the previous file, if any, is intact")
        self.path, self.reason = path, reason


def current_umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: read the umask by setting it, then put it back
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode `open()` would give a new file; temporary files start private and get this instead."""
    return 0o666 & ~current_umask()


def new_dir_mode() -> int:
    """The mode `mkdir` would give a new folder (mkdtemp's are private)."""
    return 0o777 & ~current_umask()


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; on success fsync and rename it into place.

    On any exception the temporary file is removed and `path` is untouched.
    OSError (disk full, permissions) becomes a WriteError naming the file.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise WriteError(path, exc.strerror or str(exc)) from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            # mkstemp made the file private; give it the mode of the file it replaces, or a new file's
            os.fchmod(fd, stat.S_IMODE(path.stat().st_mode) if path.exists() else new_file_mode())
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteError(path, exc.strerror or str(exc)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text; a lone surrogate (a file name's undecodable byte) is written backslash-escaped."""
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text.encode("utf-8", "backslashreplace").decode("utf-8"))


def json_text(obj, **options) -> str:
    """json.dumps keeping non-ASCII text readable, except lone surrogates (a file name's undecodable bytes,
    as os.fsdecode gives them), which UTF-8 cannot hold: those become \\udcNN escapes, which read back as
    the same string, so a path recorded in JSON names the same file."""
    text = json.dumps(obj, ensure_ascii=False, **options)
    return LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    write_text_atomic(path, json_text(obj, indent=2, sort_keys=True) + "\n")


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def looks_binary(head: bytes) -> bool:
    """A NUL byte in the first few KB marks a file as binary (as git and grep do)."""
    return b"\x00" in head


def read_text(path: str | os.PathLike, errors: str = "strict", max_bytes: int = TEXT_IN_MEMORY_BYTES,
              purpose: str = "into memory at once") -> str:
    """Read a UTF-8 text file whole; binary, undecodable or larger than `max_bytes` raises CorpusError naming it.

    Only regular files are read (lmkit.input_files). `errors="replace"` substitutes
    U+FFFD for bad bytes instead of refusing. Line endings are normalised to "\\n".
    `purpose` ends the message of a file that is too large ("... the most lmkit reads as a prompt").
    """
    data = read_bounded(path, max_bytes, CorpusError, purpose)
    if looks_binary(data[:BINARY_SNIFF_BYTES]):
        raise CorpusError(f"{path}: looks like a binary file (NUL byte in the first {BINARY_SNIFF_BYTES} bytes), expected UTF-8 text")
    try:
        text = data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path}: not valid UTF-8 at byte offset {exc.start} (byte 0x{data[exc.start]:02x}); "
            "save the file as UTF-8"
        ) from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_json(path: str | os.PathLike, what: str = "file", error: type[LmkitError] = LmkitError) -> dict:
    """Load a JSON object; a missing or malformed file raises `error` (an LmkitError) naming it."""
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: {what} is missing")
    try:
        obj = json.loads(read_bounded(path, JSON_MAX_BYTES, error).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise error(f"{path}: {what} is not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise error(f"{path}: {what} must hold a JSON object, got {type(obj).__name__}")
    return obj
