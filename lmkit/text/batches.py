"""The batches models train on, cut from one id stream (lmkit.text.encode).

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

from typing import Iterator

import numpy as np
import torch

from lmkit.errors import ConfigError, counted
from lmkit.text.vocab import BOS_ID


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
            f"{what} has {counted(len(stream), 'token')}: too few for --batch-size {batch_size} "
            f"(each of the {batch_size} rows needs at least 2 tokens)"
        )
    rows = np.asarray(stream[: columns * batch_size], dtype=np.int64).reshape(batch_size, columns)
    return torch.from_numpy(rows)


def window_starts(columns: int, bptt: int, start: int = 0) -> Iterator[int]:
    """Starting columns of TBPTT windows over a (B, columns) batch: inputs need a target after them."""
    return iter(range(start, columns - 1, bptt))


def window_columns(batch: torch.Tensor, start: int, bptt: int) -> torch.Tensor:
    """The (B, T+1) columns a window starting at column `start` reads: its inputs, then its last target."""
    length = min(bptt, batch.shape[1] - 1 - start)
    return batch[:, start : start + length + 1]


def window(batch: torch.Tensor, start: int, bptt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """inputs (B, T) and targets (B, T) for the window starting at column `start`."""
    columns = window_columns(batch, start, bptt)
    return columns[:, :-1], columns[:, 1:]


def count_windows(columns: int, bptt: int) -> int:
    return max(0, (columns - 1 + bptt - 1) // bptt)
