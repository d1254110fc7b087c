"""Reading user text safely, whatever its size.

Every input file is first scanned as raw bytes in fixed-size chunks: the scan
hashes it, refuses binary files (a NUL byte), names the byte offset of the
first invalid UTF-8 sequence, and stops at the first line longer than
`max_line_bytes`, so a 100 MB single line fails after a few MB and never
fills memory. Small files are then read as Python strings; large ones go
through `datasets` (Arrow, memory-mapped, batched), so a multi-GB corpus is
streamed line by line and never held in a Python list.
"""
from __future__ import annotations

import codecs
import hashlib
import io
import os
import stat
import tempfile
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from lmkit.errors import CorpusError, LmkitError
from lmkit.files.reading import not_regular, open_regular, read_json
from lmkit.files.writing import write_json_atomic
from lmkit.files.text_bytes import (BINARY_SNIFF_BYTES, binary_file_error, looks_binary, marked_wide_unicode,
                              wide_unicode_error)
from lmkit.files.folder_markers import LMKIT_MARKERS, MODEL_CONFIG_FILE, is_lmkit_config


CHUNK_BYTES = 1 << 20
SKIPPED_SHOWN = 5                 # files a folder's "left out" warning names
MAX_LINE_BYTES = 4 << 20          # a longer line is refused (the "100 MB single line")
LARGE_FILE_BYTES = 64 << 20       # above this, lines are streamed through `datasets`
REMEMBER_SCANS_BYTES = 16 << 20   # above this, a file's scan is remembered until it changes
ENCODING_ERRORS = ("strict", "replace")


NO_TEXT = "no text, only blank or whitespace-only lines"


SHOW_NOTHING = {"Cc", "Cf", "Mn", "Me"}  # control and format characters (U+200B, a BOM), combining marks alone
# letters and symbols drawn as blank space: the Hangul fillers, the braille pattern with no dots, the null notehead
BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800\U0001d159")


def printed(line: str) -> bool:
    """Whether a line shows anything: a character that is neither whitespace, nor a control or invisible
    format character, nor a combining mark (which shows only on a character before it), nor a blank glyph."""
    return any(not ch.isspace() and ch not in BLANK_GLYPHS and unicodedata.category(ch) not in SHOW_NOTHING
               for ch in line)


@dataclass(frozen=True)
class TextFile:
    """A scanned input: its path, size in bytes and sha256 of its bytes."""

    path: Path
    size: int
    sha256: str

    def describe(self) -> dict:
        return {"path": str(self.path.absolute()), "bytes": self.size, "sha256": self.sha256}  # read from anywhere


def check_encoding_errors(errors: str) -> str:
    if errors not in ENCODING_ERRORS:
        raise CorpusError(f"--encoding-errors must be one of {', '.join(ENCODING_ERRORS)}, got {errors!r}")
    return errors


def scan_text_file(path: Path, errors: str = "strict", max_line_bytes: int = MAX_LINE_BYTES) -> TextFile:
    """Hash and validate `path` chunk by chunk; CorpusError names the file and what is wrong with it."""
    path = Path(path)
    decoder = codecs.getincrementaldecoder("utf-8")(errors)
    digest = hashlib.sha256()
    offset = line_bytes = 0
    line_number = 1
    marks = StrayByteOrderMarks()
    try:
        with open_regular(path, CorpusError) as handle:
            while chunk := handle.read(CHUNK_BYTES):
                _check_not_binary(path, chunk, offset)
                _check_decodes(path, decoder, chunk, offset)
                marks.look(chunk, offset, line_number)
                line_bytes, line_number = _check_line_lengths(path, chunk, line_bytes, line_number, max_line_bytes)
                digest.update(chunk)
                offset += len(chunk)
            _check_decodes(path, decoder, b"", offset, final=True)
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    marks.warn(path)
    return TextFile(path, offset, digest.hexdigest())


BYTE_ORDER_MARK = "\ufeff".encode("utf-8")


class StrayByteOrderMarks:
    """Byte-order marks past a file's first byte, where joining files with `cat` puts the second file's: the one
    at the start is dropped as every reader drops it; these are text, a character the model reads (as
    <unk> where it never saw one). lmkit keeps them, as it keeps all text as written, and says so once a file."""

    def __init__(self):
        self.count, self.first_line, self.tail = 0, None, b""

    def look(self, chunk: bytes, offset: int, line_number: int) -> None:
        """Count the marks in `chunk` (at byte `offset` of the file, its first line `line_number`), one cut
        between two chunks included."""
        data, start = self.tail + chunk, offset - len(self.tail)
        found = data.find(BYTE_ORDER_MARK)
        while found >= 0:
            if start + found > 0:
                if self.first_line is None:
                    before = data[:found].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                    self.first_line = line_number - self.tail.count(b"\n") + before.count(b"\n")
                self.count += 1
            found = data.find(BYTE_ORDER_MARK, found + len(BYTE_ORDER_MARK))
        self.tail = chunk[-(len(BYTE_ORDER_MARK) - 1):]

    def warn(self, path: Path) -> None:
        if self.count:
            marks = "a byte-order mark (U+FEFF)" if self.count == 1 else f"{self.count:,} byte-order marks (U+FEFF)"
            warnings.warn(f"{path}: {marks} inside the text, the first on line {self.first_line:,}, as where files "
                          "are joined with cat: lmkit reads each as a character of its line (only one at the file's "
                          "start is dropped); remove them to read the text without", stacklevel=3)


def scan_remembered(path: Path, errors: str, max_line_bytes: int, records: Path,
                    min_bytes: int = REMEMBER_SCANS_BYTES) -> TextFile:
    """scan_text_file, remembered by (path, size, mtime) so an unchanged multi-GB file is hashed only once."""
    path = Path(path)
    try:
        status = path.stat()
    except OSError:
        return scan_text_file(path, errors, max_line_bytes)
    if status.st_size < min_bytes or not path.is_file():
        return scan_text_file(path, errors, max_line_bytes)
    identity = f"{path.resolve()}|{status.st_size}|{status.st_mtime_ns}|{errors}|{max_line_bytes}"
    record = records / f"{hashlib.sha256(os.fsencode(identity)).hexdigest()[:24]}.json"
    try:
        known = read_json(record, "scan record")
        return TextFile(path, int(known["bytes"]), str(known["sha256"]))
    except (LmkitError, KeyError, ValueError, TypeError):
        scanned = scan_text_file(path, errors, max_line_bytes)
        write_json_atomic(record, scanned.describe())
        return scanned


def _check_not_binary(path: Path, chunk: bytes, offset: int) -> None:
    nul = chunk.find(b"\x00")
    if nul >= 0:
        raise CorpusError(binary_file_error(path, chunk if offset == 0 else b"", f"at byte offset {offset + nul}"))


def _check_decodes(path: Path, decoder, chunk: bytes, offset: int, final: bool = False) -> None:
    pending = len(decoder.getstate()[0])  # bytes of a character split across chunks
    try:
        decoder.decode(chunk, final)
    except UnicodeDecodeError as exc:
        where = offset - pending + exc.start
        raise CorpusError((marked_wide_unicode(path, chunk) if offset == 0 else None) or
                          f"{path}: not valid UTF-8 at byte offset {where}; fix the file or pass --encoding-errors "
                          "replace") from exc


def _check_line_lengths(path: Path, chunk: bytes, carried: int, line_number: int, limit: int) -> tuple[int, int]:
    """Length of the unfinished last line after `chunk`, and its line number; raise on an overlong line."""
    pieces = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    lengths = [carried + len(pieces[0])] + [len(p) for p in pieces[1:]]
    for i, length in enumerate(lengths):
        if length > limit:
            raise CorpusError(
                f"{path}: line {line_number + i} is longer than {limit:,} bytes; "
                "lmkit reads text line by line, so break the text into lines"
            )
    return lengths[-1], line_number + len(pieces) - 1


def list_text_files(path: str | Path, lmkit_folder: Callable[[Path], bool] | None = None) -> list[Path]:
    """The files behind one --train/--valid/--test PATH: a file, or every visible file under a folder (sorted)
    outside lmkit's folders: model directories and reports (their markers), and those `lmkit_folder` tells
    (cached corpora: lmkit.corpus.store.is_corpus_folder, which lives above this module)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise CorpusError(f"{path}: no such file or directory") from exc
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if stat.S_ISREG(mode):
        return [path]
    if not stat.S_ISDIR(mode):
        raise not_regular(path, mode, CorpusError)
    everything = sorted(path.rglob("*"))
    lmkits = lmkit_folders(everything, lmkit_folder)  # a model directory, report or cached corpus: no text
    visible = [p for p in everything if not any(part.startswith(".") for part in p.relative_to(path).parts)
               and not any(folder == p or folder in p.parents for folder in lmkits)]
    files = [p for p in visible if p.is_file()]
    texts = [p for p in files if p.stat().st_size > 0 and not _starts_binary(p)]
    linked = [p for p in visible if p.is_symlink() and p.is_dir()]  # not followed: a link may lead back up
    if not texts:
        left = (" outside lmkit's model directories, reports and cached corpora, which are left out"
                if lmkits else "")
        links = (f"; links to folders inside it are not followed ({named_few(linked, path)}): give such a folder to "
                 "the option itself" if linked else "")
        raise CorpusError(f"{path}: the directory holds no text files{left}{links}")
    if linked:  # a folder of the user's text, skipped without a word, would train on part of it (pass 83)
        warnings.warn(f"{path}: left out {len(linked):,} link{'' if len(linked) == 1 else 's'} to a folder, which "
                      f"lmkit does not follow inside a folder it reads: {named_few(linked, path)} (give such a folder "
                      "to the option itself, beside this one)", stacklevel=2)
    kept = set(texts)
    skipped = [p for p in visible if p not in kept and not p.is_dir()]
    if skipped:  # an image or a link to a device beside the texts: left out, and said so
        warnings.warn(f"{path}: left out {len(skipped):,} file{'' if len(skipped) == 1 else 's'} that "
                      f"{'is' if len(skipped) == 1 else 'are'} not text (empty, binary or not a regular file): "
                      f"{named_few(skipped, path)}", stacklevel=2)
    return texts


def named_few(paths: list[Path], folder: Path) -> str:
    """The first SKIPPED_SHOWN of `paths`, relative to `folder`, and how many more: what a "left out" line names."""
    more = f" and {len(paths) - SKIPPED_SHOWN:,} more" if len(paths) > SKIPPED_SHOWN else ""
    return ", ".join(str(p.relative_to(folder)) for p in paths[:SKIPPED_SHOWN]) + more


def lmkit_folders(entries: list[Path], lmkit_folder: Callable[[Path], bool] | None = None) -> list[Path]:
    """The folders among `entries` and their parents that lmkit made: model directories and reports, by their
    markers or (a model directory from before the marker) an lmkit config.json, and the folders `lmkit_folder`
    tells."""
    markers = {marker.name: marker for marker in LMKIT_MARKERS}
    marked = [entry.parent for entry in entries if entry.name in markers and markers[entry.name].present(entry.parent)
              or entry.name == MODEL_CONFIG_FILE and is_lmkit_config(entry)]
    told = [entry for entry in entries if lmkit_folder is not None and entry.is_dir() and lmkit_folder(entry)]
    return marked + told


def _starts_binary(path: Path) -> bool:
    """Whether a folder's file holds a NUL byte in its first 8 KB, so is left out as binary data; CorpusError where
    those bytes are UTF-16 or UTF-32 text: text to train on, in an encoding lmkit does not read (a Latin-1 file
    in the folder is refused the same way, when it is read)."""
    with open(path, "rb") as handle:
        head = handle.read(BINARY_SNIFF_BYTES)
    wide = wide_unicode_error(path, head, f"in the first {BINARY_SNIFF_BYTES} bytes")
    if wide is not None:
        raise CorpusError(wide)
    return looks_binary(head)


def iter_lines(text_file: TextFile, errors: str = "strict", large_bytes: int = LARGE_FILE_BYTES,
               cache_dir: Path | None = None) -> Iterator[str]:
    """Lines of a scanned file without their "\\n" (line endings normalised, BOM dropped)."""
    if text_file.size > large_bytes:
        yield from _iter_lines_datasets(text_file.path, errors, cache_dir)
        return
    yield from stream_lines(text_file.path, errors)


def stream_lines(path: Path, errors: str = "strict") -> Iterator[str]:
    """Lines of a regular UTF-8 file read one at a time, without their "\\n" ("\\r\\n" and "\\r" end lines
    too; a BOM is dropped). Check the file with scan_text_file first: it bounds the length of a line."""
    with open_regular(path, CorpusError) as raw, io.TextIOWrapper(raw, encoding="utf-8", errors=errors) as text:
        for number, line in enumerate(text):
            if number == 0 and line.startswith("\ufeff"):
                line = line[1:]
            yield line[:-1] if line.endswith("\n") else line


def _iter_lines_datasets(path: Path, errors: str, cache_dir: Path | None, batch_size: int = 10_000) -> Iterator[str]:
    """Stream a large file: `datasets` builds a memory-mapped Arrow table, a batched map normalises it.

    The Arrow files live in a temporary folder under `cache_dir`, removed once
    the lines are read: the split .txt files are what the corpus keeps.
    """
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix="arrow-", ignore_cleanup_errors=True) as tmp:
        table = _text_table(path, errors, Path(tmp), batch_size)
        for batch in table.iter(batch_size=batch_size):
            yield from batch["text"]
        del table


def _text_table(path: Path, errors: str, cache_dir: Path, batch_size: int):
    import datasets
    from datasets.utils import logging as ds_logging

    bars_were_on = not datasets.utils.are_progress_bars_disabled()
    datasets.utils.disable_progress_bars()  # library code prints nothing; restored below
    ds_logging.set_verbosity_error()
    try:
        table = datasets.load_dataset("text", data_files=str(path), split="train", encoding_errors=errors,
                                      cache_dir=str(cache_dir))
        return table.map(_normalise_batch, batched=True, batch_size=batch_size, with_indices=True)
    finally:
        if bars_were_on:
            datasets.utils.enable_progress_bars()


def _normalise_batch(batch: dict, indices: list[int]) -> dict:
    """Drop a byte-order mark from the file's first line and any stray carriage returns."""
    lines = [line.replace("\r", "") for line in batch["text"]]
    if indices and indices[0] == 0 and lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    return {"text": lines}
