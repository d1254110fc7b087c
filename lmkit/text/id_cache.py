"""Encoded splits cached beside their corpus, keyed by the tokenizer's fingerprint.

    corpora/<name>/ids/<fingerprint>/<split>.npy            (memory-mapped when read back)
    corpora/<name>/ids/<fingerprint>/<split>.reversed.npy   (a backward model's stream)

Training never re-tokenizes. Split files above LARGE_SPLIT_BYTES are encoded
by a multiprocess `datasets` map and streamed to disk (lmkit.text.encode_large),
so memory does not grow with the corpus.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lmkit.errors import CorpusError
from lmkit.fileio import atomic_write, stranger_below
from lmkit.text.encode import encode_lines, tokenizer_fingerprint
from lmkit.text.encode_large import encode_file
from lmkit.text.tokenizers import Tokenizer

LARGE_SPLIT_BYTES = 64 << 20  # split files above this are encoded in bounded memory, in several processes


def encoded_split(corpus, tokenizer: Tokenizer, split: str, reverse: bool = False,
                  large_bytes: int = LARGE_SPLIT_BYTES, num_proc: int | None = None) -> np.ndarray:
    """The split's id stream, read from the cache or encoded once and cached (memory-mapped).

    `reverse=True` gives the backward model's stream: each line's tokens reversed, `</s>` still last.
    A split file larger than `large_bytes` is encoded by `num_proc` processes in bounded memory
    (lmkit.text.encode_large); a smaller one in memory. Both write the same array.
    """
    tokenizer = tokenizer.reading(corpus)  # a segmented corpus is plain text to a character tokenizer built elsewhere
    name = f"{split}.reversed.npy" if reverse else f"{split}.npy"
    cache = Path(corpus.directory) / "ids" / tokenizer_fingerprint(tokenizer) / name
    stranger = stranger_below(Path(corpus.directory), cache)
    if stranger is not None:
        raise CorpusError(f"{stranger[0]}: is {stranger[1]} where lmkit caches the encoded {split} split, and not "
                          "lmkit's; move it away")
    if not cache.exists():
        source = Path(corpus.path(split))
        if source.exists() and source.stat().st_size > large_bytes:
            encode_file(source, tokenizer, cache, reverse=reverse, num_proc=num_proc)
        else:
            stream = encode_lines(tokenizer, corpus.lines(split), reverse=reverse)
            with atomic_write(cache, "wb") as handle:
                np.save(handle, stream, allow_pickle=False)
    return load_ids(cache, len(tokenizer.vocab), split)


def load_ids(cache: Path, vocab_size: int, split: str) -> np.ndarray:
    """The cached id stream, memory-mapped: one dimension of integer ids below `vocab_size`, or CorpusError
    naming the file (cut short, overwritten, or written for another vocabulary)."""
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
    return ids
