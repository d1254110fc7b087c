"""Progress: the run's position, which --resume restores and trainer_state.pt holds.

Its own module because both the trainer (which advances it) and the trainer state's
checks (lmkit.train.state_check, which read it back) need it, and neither may import
the other.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Progress:
    """Everything about the run's position that --resume must restore."""

    step: int = 0
    epoch: int = 0
    column: int = 0                 # next window's first column within the epoch
    tokens: int = 0
    elapsed: float = 0.0
    best_valid: float = math.inf
    bad_evals: int = 0              # evaluations since the last new best (--asgd's --nonmono counts these)
    stale_evals: int = 0            # those of them that count toward --patience (lmkit.train.schedule.counts_for_patience)
    lr: float = 0.0                 # the scheduled LR of the latest window (before the variable-BPTT scaling)
    lr_scale: float = 1.0           # plateau decays and NaN rollbacks, times the configured LR
    averaging_since: int | None = None  # --asgd: the step averaging started at
    last_loss: float = math.nan
    history: list = field(default_factory=list)
