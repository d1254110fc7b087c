"""A recurrent model's hidden state as training carries it from window to window along each row.

State tensors hold the rows in dimension 1, (L, B, H): a tensor (GRU, Elman RNN) or a tuple of them (LSTM's h
and c).
"""
from __future__ import annotations

import torch

from lmkit.text.vocab import EOS_ID


def detach(state):
    """Cut the graph behind a hidden state (tensor or tuple of tensors): the TBPTT window edge."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    return tuple(detach(s) for s in state)


def fresh_at_line_starts(state, inputs: torch.Tensor):
    """`state` with the rows whose window begins with a line end (`</s>`, inputs (B, T)) at the zero state: the
    start every reading from nothing begins with (lmkit.evaluate.fresh_start), which rows carrying their state
    from window to window never saw, so that a short run could latch there for good (pass 86). State tensors
    hold the rows in dimension 1."""
    starts = inputs[:, 0] == EOS_ID  # (B,)
    if state is None or not bool(starts.any()):
        return state
    if isinstance(state, torch.Tensor):
        return state.masked_fill(starts.to(state.device)[None, :, None], 0)
    return tuple(fresh_at_line_starts(part, inputs) for part in state)


def state_to_list(state) -> list:
    """The state's tensors, as a list (on the CPU where a tuple), for the trainer state a save writes."""
    return [state] if isinstance(state, torch.Tensor) else [s.cpu() for s in state]
