"""One definition of perplexity for every model.

Total negative log-likelihood in nats over the predicted tokens (every
token of every line and each line's `</s>`; `<s>` is context, never
predicted), then

    perplexity      = exp(nll / tokens)
    bits per token  = nll / (tokens * ln 2)
    bits per char   = nll / (chars * ln 2)      chars of the original text, newlines counted
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from lmkit.data import with_bos
from lmkit.vocab import EOS_ID

LN2 = math.log(2.0)


@dataclass
class NLL:
    """Summed negative log-likelihood (nats) over `tokens` predictions."""

    nll: float
    tokens: int

    def __add__(self, other: "NLL") -> "NLL":
        return NLL(self.nll + other.nll, self.tokens + other.tokens)

    @property
    def mean(self) -> float:
        return self.nll / max(self.tokens, 1)

    @property
    def perplexity(self) -> float:
        return math.exp(min(self.mean, 700.0))

    @property
    def bits_per_token(self) -> float:
        return self.mean / LN2

    def bits_per_char(self, chars: int) -> float:
        return self.nll / (max(chars, 1) * LN2)


def row_cuts(stream: np.ndarray, rows: int) -> list[int]:
    """Start positions of up to `rows` pieces of a stream, each at a line start where possible.

    A piece starting right after a `</s>` (or at the leading `<s>`) begins a sentence,
    so an N-gram scores it exactly as in one long pass.
    """
    predictions = len(stream) - 1
    wanted = [k * predictions // rows for k in range(1, rows)]
    ends = np.flatnonzero(np.asarray(stream[:-1]) == EOS_ID)
    if len(ends):
        picks = ends[np.clip(np.searchsorted(ends, wanted), 0, len(ends) - 1)]
        wanted = [int(p) for p in picks]
    return sorted({0, *(w for w in wanted if 0 < w < predictions)})


def stream_rows(stream: np.ndarray, rows: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cut a `<s>`-prefixed stream into contiguous pieces that together predict every token once.

    Returns inputs (R, L), targets (R, L) and a mask (R, L) of real (non-padding) predictions.
    """
    predictions = len(stream) - 1
    cuts = row_cuts(stream, max(1, rows)) + [predictions]
    length = max(hi - lo for lo, hi in zip(cuts, cuts[1:]))
    inputs = torch.zeros(len(cuts) - 1, length, dtype=torch.long)
    targets = torch.zeros_like(inputs)
    mask = torch.zeros(inputs.shape, dtype=torch.bool)
    source = torch.from_numpy(np.asarray(stream, dtype=np.int64))
    for r, (lo, hi) in enumerate(zip(cuts, cuts[1:])):
        inputs[r, : hi - lo] = source[lo:hi]
        targets[r, : hi - lo] = source[lo + 1 : hi + 1]
        mask[r, : hi - lo] = True
    return inputs, targets, mask


@torch.inference_mode()
def stream_nll(model, stream: np.ndarray, rows: int = 16, window: int = 256, device: str | torch.device = "cpu") -> NLL:
    """NLL of a split's id stream, state carried from window to window along each of `rows` pieces."""
    stream = with_bos(stream)
    inputs, targets, mask = (t.to(device) for t in stream_rows(stream, rows))
    state = model.init_state(inputs.shape[0])
    total = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, inputs.shape[1], window):
        part = slice(start, start + window)
        logp, state = model.score_targets(inputs[:, part], targets[:, part], state)  # (R, W)
        total -= logp.double().masked_fill(~mask[:, part], 0.0).sum()
    return NLL(float(total), int(mask.sum()))
