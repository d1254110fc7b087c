"""The optimizer a run trains with, built in one place (the trainer, and the report's step timing).

AdamW runs torch's fused kernel where it exists (CPU and CUDA weights): one
pass over each weight per step instead of the dozen elementwise passes of the
multi-tensor form. Same update, to float rounding: a saved state loads into
either form, and `load_optimizer_state` keeps the form chosen here (a state
saved by the multi-tensor form names it, and would otherwise bring it back), and much less time where the weights are many and the step
small: 7.6 ms against 34.4 ms for the 8.7M weights of the pku98 BiLSTM on one
core, a quarter of its whole training step (benchmarks/RESULTS.md, "AdamW's
fused kernel"). SGD's update is a single pass already: it stays as it is.
"""
from __future__ import annotations

import torch

FUSED_DEVICES = ("cpu", "cuda")
KERNEL_KEYS = ("foreach", "fused", "capturable", "differentiable")  # how a group's update runs, not what it does
CONFIGURED_KEYS = ("weight_decay",)  # what this run's config sets (--weight-decay again on --resume included)


def make_optimizer(params, name: str, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """`name` ("adamw" or "sgd") over `params`, at `lr` with decoupled (AdamW) or L2 (SGD) `weight_decay`."""
    params = list(params)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    fused = bool(params) and all(p.device.type in FUSED_DEVICES and p.is_floating_point() for p in params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """`optimizer.load_state_dict(state)`, keeping the kernel `optimizer` was built with (KERNEL_KEYS) instead of
    the saved state's: a run saved before the fused kernel, or on another device, resumes on this one's; and
    keeping the settings it was built with from the run's config (CONFIGURED_KEYS), which config.json records.
    (The LR is not among them: the schedule sets it at every step.)"""
    chosen = {key: optimizer.defaults[key] for key in KERNEL_KEYS + CONFIGURED_KEYS if key in optimizer.defaults}
    optimizer.load_state_dict({**state, "param_groups": [{**group, **chosen} for group in state["param_groups"]]})
