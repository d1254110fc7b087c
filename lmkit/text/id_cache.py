"""Encoded splits cached beside their corpus, keyed by the tokenizer's fingerprint.

    corpora/<name>/ids/<fingerprint>/<split>.npy            (memory-mapped when read back)
    corpora/<name>/ids/<fingerprint>/<split>.reversed.npy   (a backward model's stream)
    corpora/<name>/ids/<fingerprint>/<split>[.reversed].npy.json   its record (IdsRecord)

Training never re-tokenizes. Split files above LARGE_SPLIT_BYTES are encoded
by a multiprocess `datasets` map and streamed to disk (lmkit.text.encode_large),
so memory does not grow with the corpus.

Each array's record names what it encodes (split, direction, tokenizer, and the
manifest's sha256 and size of the split's text) and the array's own size and
sha256. So ids are used only for the text they came from (after a split and its
manifest were changed together, the stale array is encoded again), and only as
they were written: ids edited in place, or another array copied over this one,
are refused as damaged; an array copied here with its record carries another
place's record, and the split is encoded again. The record is removed before an
array is written and written after it: an array without one, from a run killed
between the two or from an lmkit before records, is encoded again.

One process encodes into a fingerprint's folder at a time: it holds the folder's
`.lock` (a second waits, then finds the array made), and while it holds it,
what an encoding killed there left behind (its work folder of Arrow shards, a
half-written array under its temporary name) is removed. Any encoding also
sweeps the corpus's other fingerprint folders that nobody holds.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from lmkit.config.from_json import from_json
from lmkit.corpus.split import SPLITS
from lmkit.corpus.fetch import sha256_file
from lmkit.corpus.store import HASHED_ON_FETCH_BYTES
from lmkit.errors import CorpusError, LmkitError
from lmkit.files.reading import read_json
from lmkit.files.writing import atomic_write, stranger_below, write_json_atomic
from lmkit.files.temporary_names import temporary_of
from lmkit.text.encode import encode_lines, tokenizer_fingerprint
from lmkit.text.encode_large import WORK_MARKER, WORK_NAME, encode_file
from lmkit.text.tokenizers import Tokenizer
from lmkit.files.waiting_lock import turn
from lmkit.text.vocab import EOS_ID

LARGE_SPLIT_BYTES = 64 << 20  # split files above this are encoded in bounded memory, in several processes
ENCODING_LOCK = ".lock"       # held by the process encoding into a fingerprint's folder
FINGERPRINT = re.compile(r"[0-9a-f]{16}")  # a fingerprint folder's name (tokenizer_fingerprint); others are not swept
HALF_WRITTEN = re.compile(rf"({'|'.join(SPLITS)})(\.reversed)?\.npy(\.json)?")  # what atomic_write writes here
HASHED_IDS_BYTES = HASHED_ON_FETCH_BYTES  # an array up to this size is held to its sha256 at each use, a larger one to
                                         # its size: the bound a split's text is held to its manifest by


@dataclass(frozen=True)
class IdsRecord:
    """What a cached array was encoded from, and what it was when written (<split>.npy.json)."""
    split: str
    reversed: bool           # a backward model's stream
    tokenizer: str           # its fingerprint, the folder's name
    text_sha256: str         # the split's text, as the manifest records it
    text_bytes: int
    ids_bytes: int           # the array's file
    ids_sha256: str | None   # None above HASHED_IDS_BYTES

    @classmethod
    def written(cls, corpus, split: str, cache: Path, reverse: bool) -> "IdsRecord":
        size = cache.stat().st_size
        text = corpus.split_stats(split)
        return cls(split, reverse, cache.parent.name, str(text["sha256"]), int(text["bytes"]), size,
                   sha256_file(cache) if size <= HASHED_IDS_BYTES else None)

    def holds(self, corpus, split: str, cache: Path, reverse: bool) -> bool:
        """Whether this is the record of the array at `cache` for the split's text as the manifest now records it
        (not one copied there with another split's, direction's or tokenizer's array)."""
        text = corpus.split_stats(split)
        return ((self.split, self.reversed, self.tokenizer) == (split, reverse, cache.parent.name)
                and (self.text_sha256, self.text_bytes) == (text["sha256"], text["bytes"])
                and (self.ids_sha256 is not None or self.ids_bytes > HASHED_IDS_BYTES))


def record_path(cache: Path) -> Path:
    return cache.with_name(cache.name + ".json")


def current_record(corpus, split: str, cache: Path, reverse: bool) -> IdsRecord | None:
    """The record of the array at `cache` when there is one, it can be read, and it is this array's record for the
    split's text as the manifest now records it (IdsRecord.holds); None when the split is to be encoded (again)."""
    if not (cache.exists() and record_path(cache).exists()):
        return None
    try:
        record = from_json(IdsRecord, read_json(record_path(cache), "cached ids record"), "")
    except LmkitError:
        return None  # damaged: lmkit's own record, written again with the array
    return record if record.holds(corpus, split, cache, reverse) else None


def check_as_recorded(cache: Path, record: IdsRecord, split: str) -> None:
    """CorpusError naming `cache` when the array is not the one its record describes (edited, or swapped for
    another split's or direction's)."""
    size = cache.stat().st_size
    if size != record.ids_bytes or (record.ids_sha256 is not None and sha256_file(cache) != record.ids_sha256):
        raise CorpusError(f"{cache}: the cached ids of the {split} split are damaged (not the array lmkit wrote: its "
                          f"{'size' if size != record.ids_bytes else 'sha256'} is not the one "
                          f"{record_path(cache).name} records); delete the file, and lmkit encodes the split again")


def encoded_split(corpus, tokenizer: Tokenizer, split: str, reverse: bool = False,
                  large_bytes: int = LARGE_SPLIT_BYTES, num_proc: int | None = None) -> np.ndarray:
    """The split's id stream, read from the cache or encoded once and cached (memory-mapped).

    `reverse=True` gives the backward model's stream: each line's tokens reversed, `</s>` still last.
    A split file larger than `large_bytes` is encoded by `num_proc` processes in bounded memory
    (lmkit.text.encode_large); a smaller one in memory. Both write the same array.
    """
    tokenizer = tokenizer.reading(corpus)  # a segmented corpus is plain text to a character tokenizer built elsewhere
    corpus.check_file(split)  # the ids cached from the split are its text's only while the text is the manifest's
    name = f"{split}.reversed.npy" if reverse else f"{split}.npy"
    cache = Path(corpus.directory) / "ids" / tokenizer_fingerprint(tokenizer) / name
    for path in (cache, record_path(cache)):
        stranger = stranger_below(Path(corpus.directory), path)
        if stranger is not None:
            raise CorpusError(f"{stranger[0]}: is {stranger[1]} where lmkit caches the encoded {split} split, and "
                              "not lmkit's; move it away")
    record = current_record(corpus, split, cache, reverse)
    if record is None:
        with encoding_into(cache.parent):
            record = current_record(corpus, split, cache, reverse)  # another process may have made it meanwhile
            if record is None:
                record_path(cache).unlink(missing_ok=True)  # first: an array without its record is encoded again
                encode_split(corpus, tokenizer, split, reverse, cache, large_bytes, num_proc)
                record = IdsRecord.written(corpus, split, cache, reverse)
                write_json_atomic(record_path(cache), asdict(record))
    check_as_recorded(cache, record, split)
    try:
        return load_ids(cache, len(tokenizer.vocab), split, lines=int(corpus.split_stats(split)["lines"]))
    except CorpusError:
        corpus.num_lines(split)  # the manifest's line count, held to the text: when it is the one that is wrong
        raise


def encode_split(corpus, tokenizer: Tokenizer, split: str, reverse: bool, cache: Path, large_bytes: int,
                 num_proc: int | None) -> None:
    source = Path(corpus.path(split))
    if source.exists() and source.stat().st_size > large_bytes:
        encode_file(source, tokenizer, cache, reverse=reverse, num_proc=num_proc)
    else:
        stream = encode_lines(tokenizer, corpus.lines(split), reverse=reverse)
        with atomic_write(cache, "wb") as handle:
            np.save(handle, stream, allow_pickle=False)


@contextlib.contextmanager
def encoding_into(folder: Path) -> Iterator[None]:
    """Hold `folder` (ids/<fingerprint>/) for one encoder, waiting for another that holds it; meanwhile remove
    what killed encodings left there, and in the corpus's other fingerprint folders that nobody holds."""
    folder.mkdir(parents=True, exist_ok=True)
    with turn(folder / ENCODING_LOCK, "this folder's encoding lock",
              f"{folder}: another lmkit process is encoding this corpus with this tokenizer; waiting for it to finish "
              "(its result is then used)"):
        remove_leftovers(folder)
        for other in folder.parent.iterdir():
            if other != folder and FINGERPRINT.fullmatch(other.name) and other.is_dir() and not other.is_symlink():
                sweep_if_free(other)
        yield


def sweep_if_free(folder: Path) -> None:
    """remove_leftovers in another fingerprint's folder, if no process is encoding there (its lock is free)."""
    try:
        fd = os.open(folder / ENCODING_LOCK, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return  # never locked by this lmkit: what is there is not provably an encoding's
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        remove_leftovers(folder)
    except BlockingIOError:
        pass  # an encoding at work
    finally:
        os.close(fd)


def remove_leftovers(folder: Path) -> None:
    """In a fingerprint's folder held by this process: the work folders (Arrow shards, hundreds of MB) of
    encodings killed there, known by their names and the marker lmkit writes first in each (a user's folder of
    that name is kept), and their half-written arrays, known by their exact names and kinds."""
    for entry in folder.iterdir():
        if entry.is_symlink():
            continue
        if WORK_NAME.fullmatch(entry.name) and entry.is_dir() and WORK_MARKER.present(entry):
            shutil.rmtree(entry, ignore_errors=True)
        elif HALF_WRITTEN.fullmatch(temporary_of(entry.name) or "") and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)


def load_ids(cache: Path, vocab_size: int, split: str, lines: int | None = None) -> np.ndarray:
    """The cached id stream, memory-mapped: one dimension of integer ids below `vocab_size`, one `</s>` per line
    of the split (`lines`), the last id among them; or CorpusError naming the file (cut short, overwritten,
    written for another vocabulary, or edited: ids set to another token gave a perplexity of 1761 for 98)."""
    damaged = f"{cache}: the cached ids of the {split} split are damaged"
    advice = "delete the file, and lmkit encodes the split again"
    try:
        ids = np.load(cache, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        reason = str(exc).split(". ")[0] or type(exc).__name__  # numpy's first sentence, not its advice
        raise CorpusError(f"{damaged} ({reason}); {advice}") from exc
    if not isinstance(ids, np.ndarray) or ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise CorpusError(f"{damaged} (not a list of whole numbers); {advice}")
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise CorpusError(f"{damaged} (ids outside the vocabulary of {vocab_size} tokens); {advice}")
    if lines is not None and (int(np.count_nonzero(ids == EOS_ID)) != lines or (ids.size and ids[-1] != EOS_ID)):
        raise CorpusError(f"{damaged} (not one end of line for each of its {lines:,} lines); {advice}")
    return ids
