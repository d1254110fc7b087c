"""Encoded splits cached beside their corpus, keyed by the tokenizer's fingerprint.

    corpora/<name>/ids/<fingerprint>/<split>.npy            (memory-mapped when read back)
    corpora/<name>/ids/<fingerprint>/<split>.reversed.npy   (a backward model's stream)

Training never re-tokenizes. Split files above LARGE_SPLIT_BYTES are encoded
by a multiprocess `datasets` map and streamed to disk (lmkit.text.encode_large),
so memory does not grow with the corpus.

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
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np

from lmkit.errors import CorpusError
from lmkit.fileio import TEMP_PREFIX, atomic_write, not_own_file, stranger_below
from lmkit.text.encode import encode_lines, tokenizer_fingerprint
from lmkit.text.encode_large import WORK_NAME, encode_file
from lmkit.text.tokenizers import Tokenizer
from lmkit.text.vocab import EOS_ID

LARGE_SPLIT_BYTES = 64 << 20  # split files above this are encoded in bounded memory, in several processes
ENCODING_LOCK = ".lock"       # held by the process encoding into a fingerprint's folder
HALF_WRITTEN = re.compile(re.escape(TEMP_PREFIX) + r"[a-z]+(\.reversed)?\.npy\.[a-z0-9_]{8}")  # atomic_write's names


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
    stranger = stranger_below(Path(corpus.directory), cache)
    if stranger is not None:
        raise CorpusError(f"{stranger[0]}: is {stranger[1]} where lmkit caches the encoded {split} split, and not "
                          "lmkit's; move it away")
    if not cache.exists():
        with encoding_into(cache.parent):
            if not cache.exists():  # another process may have made it while this one waited
                encode_split(corpus, tokenizer, split, reverse, cache, large_bytes, num_proc)
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
    lock = folder / ENCODING_LOCK
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        stranger = not_own_file(lock)
        if stranger is None:
            raise
        raise CorpusError(f"{lock}: is {stranger} where lmkit keeps this folder's encoding lock, and not lmkit's; "
                          "move it away") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # said, so that a wait behind a stopped process is not a silent hang
            warnings.warn(f"{folder}: another lmkit process is encoding this corpus with this tokenizer; waiting "
                          "for it to finish (its result is then used)", stacklevel=3)
            fcntl.flock(fd, fcntl.LOCK_EX)
        remove_leftovers(folder)
        for other in folder.parent.iterdir():
            if other != folder and other.is_dir() and not other.is_symlink():
                sweep_if_free(other)
        yield
    finally:
        os.close(fd)


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
    """In a fingerprint's folder held by this process: the work folders (Arrow shards, hundreds of MB) and
    half-written arrays of encodings killed there, known by their exact names and kinds."""
    for entry in folder.iterdir():
        if entry.is_symlink():
            continue
        if WORK_NAME.fullmatch(entry.name) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        elif HALF_WRITTEN.fullmatch(entry.name) and entry.is_file():
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
