"""Teaching a model how often it will meet a token it has never seen.

A vocabulary built from the training text leaves no `<unk>` in that text, so a neural model learns to
give `<unk>` almost no probability, and every unknown token of the test text costs it dearly (a
character LSTM on 26k characters of pku98: 11.2 nats per unknown character, Kneser-Ney 9.3). Good and
Turing's answer to "how likely is something new?" is the share of things seen once; so each occurrence
of a token seen exactly once in the training text becomes `<unk>` with probability p, drawn afresh for
every window, in the inputs and the targets alike (a target is the next window column's input).
"""
from __future__ import annotations

import torch

from lmkit.text.vocab import SPECIALS, UNK_ID, Vocab


def once_seen(vocab: Vocab) -> torch.Tensor:
    """(V,) bool: the tokens counted exactly once when the vocabulary was built (never a special)."""
    return torch.tensor([vocab.counts.get(token, 0) == 1 and token not in SPECIALS for token in vocab.itos])


def rare_to_unk(ids: torch.Tensor, rare: torch.Tensor, p: float) -> torch.Tensor:
    """ids (B, T) -> the same, each token marked in `rare` (V,) replaced by <unk> with probability p."""
    hit = rare[ids] & (torch.rand(ids.shape, device=ids.device) < p)
    return torch.where(hit, torch.full_like(ids, UNK_ID), ids)
