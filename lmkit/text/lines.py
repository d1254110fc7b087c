"""Whole lines of an id stream, framed for a bidirectional (cloze) model.

A cloze model reads a line in both directions, so it needs the line whole:

    stream   a b </s> c d e </s> f ...
    lines    [a b </s>] [c d e </s>] ...
    framed   <s> a b </s> <pad> <pad>     (N, L) with lengths (N,) = 4, 5
             <s> c d e </s>

Position 0 (`<s>`) is context only; positions 1 .. length-1 (the tokens and
`</s>`) are each predicted from all the others.
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


def whole_lines(window: torch.Tensor) -> list[np.ndarray]:
    """Lines lying whole inside the rows of a (B, W) window of a stream: after one `</s>`, up to the next.

    The pieces before a row's first `</s>` and after its last are cut lines and are left out.
    """
    lines = []
    for row in window.cpu().numpy():
        ends = np.flatnonzero(row == EOS_ID)
        lines.extend(row[lo + 1 : hi + 1] for lo, hi in zip(ends, ends[1:]) if hi > lo + 1)
    return lines


def length_groups(lines: list[np.ndarray], slack: float = 1.5, min_lines: int = 8) -> list[list[np.ndarray]]:
    """Lines sorted longest first and cut into groups of similar length, so framing pads little.

    A group takes lines while its longest is at most `slack` times the line's length, or while it holds
    fewer than `min_lines` (a batch too small to keep the matrix products busy). Framed together, lines
    of 3 and 120 tokens would cost 120 recurrent steps each; grouped, each group costs its own longest.
    """
    groups: list[list[np.ndarray]] = []
    for line in sorted(lines, key=len, reverse=True):
        if groups and (len(groups[-1]) < min_lines or len(groups[-1][0]) <= slack * len(line)):
            groups[-1].append(line)
        else:
            groups.append([line])
    return groups


def frame_lines(lines: list[np.ndarray], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Lines (each ending with `</s>`) -> ids (N, L) `<s> line <pad>..` and lengths (N,) counting `<s>`."""
    lengths = torch.tensor([len(line) + 1 for line in lines], dtype=torch.long)
    ids = torch.full((len(lines), int(lengths.max()) if len(lines) else 1), PAD_ID, dtype=torch.long)
    ids[:, 0] = BOS_ID
    for r, line in enumerate(lines):
        ids[r, 1 : len(line) + 1] = torch.from_numpy(np.asarray(line, dtype=np.int64))
    return ids.to(device), lengths.to(device)
