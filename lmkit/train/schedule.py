"""Learning-rate schedules: one that knows the run's budget, and the plateau rule.

A budget schedule (cosine or linear) keys the LR to the fraction f of the budget used so far:

    f = max(step / max_steps, elapsed / max_time, epochs done / epochs)   (the budgets that are set; epochs always)
    lr(f) = lr * f / warmup                        while f < warmup
            lr * decay((f - warmup) / (1 - warmup)) after it, decay(g) = (1 + cos(pi g)) / 2   or   1 - g

so the LR rises over the first `warmup` of the budget to --lr, then decays to 0 where the first budget to
run out ends: by time under --max-time, by steps under --max-steps, by passes over the data
otherwise. f is computed from the run's progress (steps, seconds and data position, all saved
for --resume), so a resumed run continues the same curve. The plateau rule instead divides the
LR by --lr-decay each time validation fails to improve (lmkit.train.trainer applies it).

Early stopping under a budget schedule counts only the evaluations of the budget's last quarter
(PATIENCE_FROM), where the LR has decayed to 15% of its peak (cosine) or 25% (linear): while it is
higher, validation often stalls for a while and the decay still brings it down. The default run on
Shakespeare characters stalled for 1,600 steps at 85% of the peak LR, and --patience 3 ended it at
30% of its budget; counting from the second half, a run on a loaded CPU stalled after its first pass
at 48-30% of the peak LR and was ended at 63%, its test bits/char worse than the 5-gram's
(benchmarks/RESULTS.md). The best validated model is the one saved, so training on costs time, never
quality; a run that overfits is still stopped in its last quarter. The plateau rule counts every
evaluation.
"""
from __future__ import annotations

import math

BUDGET_SHAPES = {
    "cosine": lambda f: 0.5 * (1.0 + math.cos(math.pi * f)),
    "linear": lambda f: 1.0 - f,
}


def budget_fraction(step: int, elapsed: float, epochs_done: float, max_steps: int | None, max_time: float | None,
                    epochs: int) -> float:
    """How much of the budget is used, in [0, 1]: the largest share among the budgets that are set."""
    shares = [epochs_done / epochs]
    if max_steps:
        shares.append(step / max_steps)
    if max_time:
        shares.append(elapsed / max_time)
    return min(1.0, max(0.0, *shares))


def budget_lr(lr: float, fraction: float, shape: str, warmup: float) -> float:
    """The LR at `fraction` of the budget: a linear warm-up over `warmup` to `lr`, then the decay `shape` over the
    rest, to 0. (Before adversarial pass 80 the decay also ran during the warm-up,
    so the LR never reached `lr`: 0.52 of it at --warmup 0.5; 0.999 at the default 0.02.)"""
    if fraction < warmup:
        return lr * fraction / warmup
    return lr * BUDGET_SHAPES[shape]((fraction - warmup) / (1.0 - warmup))


def is_budget_schedule(name: str) -> bool:
    return name in BUDGET_SHAPES


PATIENCE_FROM = 0.75  # the fraction of a budget schedule after which evaluations count toward --patience


def counts_for_patience(schedule: str, fraction: float) -> bool:
    """Whether an evaluation without a new best, at `fraction` of the budget, counts toward --patience."""
    return not is_budget_schedule(schedule) or fraction >= PATIENCE_FROM
