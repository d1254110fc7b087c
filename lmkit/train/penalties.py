"""Activation regularisation (AR) and temporal activation regularisation (TAR), Merity et al. 2017.

On the top recurrent layer's outputs of one window, (B, T, H):

    AR  = alpha * mean(dropped_h ** 2)             dropped_h: after the output dropout, as the softmax sees it
    TAR = beta  * mean((h_t - h_{t-1}) ** 2)       h: before the dropout, consecutive steps of the window

Both are added to the mean cross-entropy the optimizer minimises; the loss lmkit reports stays
the cross-entropy alone.
"""
from __future__ import annotations

import torch


def activation_penalty(raw: torch.Tensor, dropped: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    # raw, dropped: (B, T, H) -> a scalar
    penalty = raw.new_zeros((), dtype=torch.float32)
    if alpha:
        penalty = penalty + alpha * dropped.float().pow(2).mean()
    if beta and raw.shape[1] > 1:
        penalty = penalty + beta * (raw[:, 1:] - raw[:, :-1]).float().pow(2).mean()
    return penalty
