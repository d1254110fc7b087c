"""The optimizer a run trains with, built in one place (the trainer, and the report's step timing).

AdamW runs torch's fused kernel where it exists (CPU and CUDA weights): one
pass over each weight per step instead of the dozen elementwise passes of the
multi-tensor form. Same update, to float rounding (saved states load into
either form), and much less time where the weights are many and the step
small: 7.6 ms against 34.4 ms for the 8.7M weights of the pku98 BiLSTM on one
core, a quarter of its whole training step (benchmarks/RESULTS.md, "AdamW's
fused kernel"). SGD's update is a single pass already: it stays as it is.
"""
from __future__ import annotations

import torch

FUSED_DEVICES = ("cpu", "cuda")


def make_optimizer(params, name: str, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """`name` ("adamw" or "sgd") over `params`, at `lr` with decoupled (AdamW) or L2 (SGD) `weight_decay`."""
    params = list(params)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    fused = bool(params) and all(p.device.type in FUSED_DEVICES and p.is_floating_point() for p in params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)
