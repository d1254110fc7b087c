"""The dropouts of the AWD-LSTM family (Merity et al. 2017, "Regularizing and Optimizing LSTM Language Models").

    locked_dropout   x (B, T, D): one mask per sequence (B, 1, D), the same at every time step
                     (variational dropout, Gal & Ghahramani 2016)
    word_dropout     whole rows of the embedding matrix: a dropped word type is zero wherever it occurs in
                     the window, the kept rows scaled by 1 / (1 - p)
    drop_connect     a weight matrix with entries dropped (DropConnect), used on the hidden-to-hidden
                     matrices before the fused recurrent kernel runs

Every function is the identity when `p` is 0 or the model is not training, and draws its masks from
torch's global generator, which the trainer seeds and saves for --resume like nn.Dropout's.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def keep_mask(shape: tuple[int, ...], p: float, like: torch.Tensor) -> torch.Tensor:
    """Bernoulli(1 - p) entries scaled by 1 / (1 - p), so the expected value is unchanged."""
    return torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(1.0 - p).div_(1.0 - p)


def locked_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    # x (B, T, D) -> (B, T, D), one mask (B, 1, D) shared across the T steps
    if not training or p == 0.0:
        return x
    return x * keep_mask((x.shape[0], 1, x.shape[2]), p, x)


def element_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Plain dropout: a fresh mask for every entry."""
    return F.dropout(x, p, training) if p else x


def word_dropout(embedding: torch.nn.Embedding, ids: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    # ids (B, T) -> (B, T, E): rows of the embedding matrix dropped for the whole call
    return drop_words(embedding(ids), ids, embedding.num_embeddings, p, training)


def drop_words(vectors: torch.Tensor, ids: torch.Tensor, vocab_size: int, p: float, training: bool) -> torch.Tensor:
    # vectors (B, T, E) looked up for ids (B, T) -> (B, T, E), a dropped word type zero wherever it occurs
    if not training or p == 0.0:
        return vectors
    rows = keep_mask((vocab_size, 1), p, vectors)  # (V, 1): one draw per word type
    return vectors * rows[ids]                     # == F.embedding(ids, weight * rows)


def drop_connect(weight: torch.Tensor, p: float) -> torch.Tensor:
    """DropConnect on a weight matrix: gradients flow to the raw weight through the mask."""
    return F.dropout(weight, p, training=True)
