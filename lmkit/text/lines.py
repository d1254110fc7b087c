"""Whole lines of an id stream, framed for a bidirectional (cloze) model.

A cloze model reads a line in both directions, so it needs the line whole:

    stream   a b </s> c d e </s> f ...
    lines    [a b </s>] [c d e </s>] ...
    framed   <s> a b </s> <pad> <pad>     (N, L) with lengths (N,) = 4, 5
             <s> c d e </s>

Position 0 (`<s>`) is context only; positions 1 .. length-1 (the tokens and
`</s>`) are each predicted from all the others. A cloze model trains on batches
of whole lines of similar length (line_batches; lmkit.train.line_batches walks them).
"""
from __future__ import annotations

import numpy as np
import torch

from lmkit.text.vocab import BOS_ID, EOS_ID, PAD_ID


def stream_lines(stream: np.ndarray) -> list[np.ndarray]:
    """The lines of a stream, each ending with its `</s>` (a last line without one gets it added)."""
    stream = np.asarray(stream, dtype=np.int64)
    ends = np.flatnonzero(stream == EOS_ID) + 1
    lines = np.split(stream, ends)
    if len(lines[-1]):
        lines[-1] = np.append(lines[-1], EOS_ID)
    else:
        lines.pop()
    return lines


def cut_long_lines(lines: list[np.ndarray], longest: int) -> list[np.ndarray]:
    """Lines of at most `longest` tokens: a longer line is cut into consecutive pieces, each then read as a line.

    A piece's edges are false line ends (the model reads `<s>` and nothing after its last token there),
    the price of bounding the memory one training step takes, as a window bounds it for a stream.
    """
    pieces = []
    for line in lines:
        pieces.extend(line[i : i + longest] for i in range(0, len(line), longest))
    return pieces


# a batch of ROUNDED_FROM lines or more holds a multiple of ROW_MULTIPLE: with AMX, oneDNN's bf16 LSTM runs such row
# counts up to 1.6x faster per token than their neighbours (62 rows against 64), and rounding fewer rows loses
# speed (11 rows to 8: 0.8x); without AMX it is even (benchmarks/RESULTS.md, "Line batches in multiples of 8 rows")
ROW_MULTIPLE, ROUNDED_FROM = 8, 24
BATCH_RULE = [ROW_MULTIPLE, ROUNDED_FROM]  # what a trainer state records of it ("line_rows")


def batch_rows(width: int, tokens: int) -> int:
    """How many lines framing into `width` ids a batch of about `tokens` ids holds: tokens // width (at least
    one), rounded to the nearest multiple of ROW_MULTIPLE (halves down) once that is ROUNDED_FROM or more, so at
    most 32/29 of `tokens` (29 rows become 32)."""
    rows = max(1, tokens // width)
    if rows < ROUNDED_FROM:
        return rows
    return (rows + ROW_MULTIPLE // 2 - 1) // ROW_MULTIPLE * ROW_MULTIPLE


def line_batches(lines: list[np.ndarray], tokens: int) -> list[list[int]]:
    """Indices of lines grouped into batches of similar length, each framing into about `tokens` ids.

    Lines are taken longest first; a batch framed as (N, L) costs N x L ids (L = its longest line plus
    `<s>`), so it takes the N = batch_rows(L, tokens) lines that fit. Neighbours in length share a batch and
    little padding is run over; a batch of short lines holds many, one of long lines few. A line framing into
    more than `tokens` ids gets a batch of its own (cut_long_lines keeps them from growing without bound).
    """
    order = sorted(range(len(lines)), key=lambda i: len(lines[i]), reverse=True)
    batches: list[list[int]] = []
    at = 0
    while at < len(order):
        rows = batch_rows(len(lines[order[at]]) + 1, tokens)
        batches.append(order[at : at + rows])
        at += rows
    return batches


def frame_lines(lines: list[np.ndarray], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Lines (each ending with `</s>`) -> ids (N, L) `<s> line <pad>..` and lengths (N,) counting `<s>`."""
    lengths = torch.tensor([len(line) + 1 for line in lines], dtype=torch.long)
    ids = torch.full((len(lines), int(lengths.max()) if len(lines) else 1), PAD_ID, dtype=torch.long)
    ids[:, 0] = BOS_ID
    for r, line in enumerate(lines):
        ids[r, 1 : len(line) + 1] = torch.from_numpy(np.asarray(line, dtype=np.int64))
    return ids.to(device), lengths.to(device)
