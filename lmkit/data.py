"""Token id streams and the batches models train on.

A split becomes one int32 stream: every line's ids followed by `</s>`.
Streams are cached beside the corpus (keyed by the tokenizer's fingerprint),
so training never re-tokenizes, and are memory-mapped when read back. Split
files above LARGE_SPLIT_BYTES are encoded by a multiprocess `datasets` map and
streamed to disk (lmkit.encode_large), so memory does not grow with the corpus.

batchify cuts a stream into B parallel rows (the word_language_model idea,
batch-first here):

    stream  a b c d e f g h i j k l m n o p q r s t u v w x    (N = 24, B = 4)
    rows    [a b c d e f]
            [g h i j k l]
            [m n o p q r]
            [s t u v w x]      -> (B, N // B); the tail that does not fill a row is dropped

and TBPTT windows walk the columns bptt at a time, inputs[:, i:i+bptt]
predicting targets[:, i+1:i+1+bptt], the hidden state carried between them.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from lmkit.errors import ConfigError
from lmkit.fileio import atomic_write
from lmkit.tokenizers import Tokenizer
from lmkit.vocab import BOS_ID, EOS_ID

SPLITS = ("train", "valid", "test")
LARGE_SPLIT_BYTES = 64 << 20  # split files above this are encoded in bounded memory, in several processes


def tokenizer_fingerprint(tokenizer: Tokenizer) -> str:
    blob = json.dumps(tokenizer.to_json(), sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def encode_lines(tokenizer: Tokenizer, lines: Iterable[str], reverse: bool = False) -> np.ndarray:
    """(N,) int32 stream: each line's ids (reversed for a backward model) then `</s>`."""
    chunks: list[np.ndarray] = []
    buffer: list[int] = []
    for line in lines:
        ids = tokenizer.encode_line(line)
        buffer.extend(reversed(ids) if reverse else ids)
        buffer.append(EOS_ID)
        if len(buffer) >= 1 << 20:  # keep Python lists small: flush to numpy every ~1M ids
            chunks.append(np.asarray(buffer, dtype=np.int32))
            buffer = []
    chunks.append(np.asarray(buffer, dtype=np.int32))
    return np.concatenate(chunks)


def encoded_split(corpus, tokenizer: Tokenizer, split: str, reverse: bool = False,
                  large_bytes: int = LARGE_SPLIT_BYTES, num_proc: int | None = None) -> np.ndarray:
    """The split's id stream, read from the cache or encoded once and cached (memory-mapped).

    `reverse=True` gives the backward model's stream: each line's tokens reversed, `</s>` still last.
    A split file larger than `large_bytes` is encoded by `num_proc` processes in bounded memory
    (lmkit.encode_large); a smaller one in memory. Both write the same array.
    """
    name = f"{split}.reversed.npy" if reverse else f"{split}.npy"
    cache = Path(corpus.directory) / "ids" / tokenizer_fingerprint(tokenizer) / name
    if not cache.exists():
        source = Path(corpus.path(split))
        if source.exists() and source.stat().st_size > large_bytes:
            from lmkit.encode_large import encode_file

            encode_file(source, tokenizer, cache, reverse=reverse, num_proc=num_proc)
        else:
            stream = encode_lines(tokenizer, corpus.lines(split), reverse=reverse)
            with atomic_write(cache, "wb") as handle:
                np.save(handle, stream, allow_pickle=False)
    return np.load(cache, mmap_mode="r", allow_pickle=False)


def with_bos(stream: np.ndarray) -> np.ndarray:
    """Prefix `<s>` so the first token of the stream is predicted too (evaluation streams)."""
    return np.concatenate([np.asarray([BOS_ID], dtype=np.int32), np.asarray(stream, dtype=np.int32)])


def batchify(stream: np.ndarray, batch_size: int, what: str = "data") -> torch.Tensor:
    """(N,) stream -> (B, N // B) long tensor of B parallel rows."""
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    columns = len(stream) // batch_size
    if columns < 2:
        raise ConfigError(
            f"{what} has {len(stream)} tokens: too few for --batch-size {batch_size} "
            f"(each of the {batch_size} rows needs at least 2 tokens)"
        )
    rows = np.asarray(stream[: columns * batch_size], dtype=np.int64).reshape(batch_size, columns)
    return torch.from_numpy(rows)


def window_starts(columns: int, bptt: int, start: int = 0) -> Iterator[int]:
    """Starting columns of TBPTT windows over a (B, columns) batch: inputs need a target after them."""
    return iter(range(start, columns - 1, bptt))


def window(batch: torch.Tensor, start: int, bptt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """inputs (B, T) and targets (B, T) for the window starting at column `start`."""
    length = min(bptt, batch.shape[1] - 1 - start)
    return batch[:, start : start + length], batch[:, start + 1 : start + 1 + length]


def count_windows(columns: int, bptt: int) -> int:
    return max(0, (columns - 1 + bptt - 1) // bptt)
