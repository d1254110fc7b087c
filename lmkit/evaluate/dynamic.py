"""Dynamic evaluation (Krause et al. 2018): the model keeps learning from the text it has just scored.

The stream is read in segments of `segment` tokens, the state carried. Each segment
is first scored with the current weights, then its mean loss gives a gradient g and
every weight θ_i takes Krause et al.'s RMS-normalised step

    θ_i <- θ_i - η g_i / (RMS_i + ε) + λ_i (θ0_i - θ_i),   λ_i = min(1, λ RMS_i / mean(RMS))

RMS_i = sqrt(MS_i), MS_i being the mean squared gradient of θ_i over segments of
held-out text (measured with the saved weights θ0, see `mean_squares`), and λ pulls
the weights back toward θ0.

ε bounds the step of a weight whose gradient was rare where MS was measured. It is
a fraction of mean(RMS), not a constant: the RMS of a trained model's weights spans
eight orders of magnitude (a character LSTM: 1% of its weights below 3e-11, median
3e-4), so with Krause et al.'s tiny absolute ε a weight measured as nearly still
took a step thousands of times η·g whenever the test text moved it, and the model
diverged (test 2.04 -> 16,928 bits/char at η = 1e-3). Tied to mean(RMS), ε means
the same for any model and loss scale. A weight whose gradient was zero on every
measured segment (the embedding row of a symbol the held-out text lacks) has no
measured scale at all; it stays as saved.

A segment is always scored before the step that learns from it, so no token is
seen before it is scored; the first segment scores as the static model does. The
work is done on a copy of the model: the loaded model, and the files it came from,
are never changed.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from lmkit.errors import ConfigError
from lmkit.evaluate.adaptive_config import REGIMES, RMS_FLOOR
from lmkit.models.base import is_cloze
from lmkit.text.batches import with_bos


def supports_dynamic(model) -> bool:
    """A left-to-right model trained by gradients (a bidirectional cloze model reads no text "so far" to adapt to)."""
    return (isinstance(model, torch.nn.Module) and not is_cloze(model)
            and any(True for _ in model.parameters()))


def require_dynamic_support(model, kind: str | None) -> None:
    if not supports_dynamic(model):
        raise ConfigError(f"--dynamic needs {REGIMES['dynamic'][1]}; this model's kind is {kind or type(model).__name__}")


def detach_state(state):
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def segments(stream: np.ndarray, segment: int, device):
    """(inputs (1, S), targets (1, S), start) for each segment of a `<s>`-prefixed stream."""
    ids = torch.from_numpy(np.asarray(with_bos(stream), dtype=np.int64)).to(device)
    for lo in range(0, len(ids) - 1, segment):
        hi = min(lo + segment, len(ids) - 1)
        yield ids[None, lo:hi], ids[None, lo + 1:hi + 1], lo


def segment_grads(model, inputs, targets, state):
    """Score one segment and differentiate its mean loss: ((S,) log-probs, grads, next state)."""
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):  # cuDNN's RNN backward wants train mode
        logp, state = model(inputs, targets, state)  # (1, S)
        grads = torch.autograd.grad(-logp.mean(), list(model.parameters()), allow_unused=True)
    return logp.detach()[0], grads, detach_state(state)


def mean_squares(model, stream: np.ndarray, segment: int, device="cpu") -> list[torch.Tensor]:
    """MS_i: each weight's squared gradient averaged over the segments of `stream`, weights unchanged."""
    model.eval()
    totals = [torch.zeros_like(p) for p in model.parameters()]
    count, state = 0, model.init_state(1)
    for inputs, targets, _ in segments(stream, segment, device):
        _, grads, state = segment_grads(model, inputs, targets, state)
        for total, grad in zip(totals, grads):
            if grad is not None:
                total += grad.detach() ** 2
        count += 1
    return [total / max(count, 1) for total in totals]


def dynamic_logprobs(model, stream: np.ndarray, ms: list[torch.Tensor], lr: float, decay: float, segment: int,
                     device="cpu") -> np.ndarray:
    """(N,) log-probability of each token under dynamic evaluation (on a copy of `model`)."""
    work = copy.deepcopy(model).to(device).eval()
    params = list(work.parameters())
    saved = [p.detach().clone() for p in params]
    step = RMSStep([m.to(device) for m in ms], lr, decay)
    out = np.zeros(len(stream))
    state = work.init_state(1)
    for inputs, targets, lo in segments(stream, segment, device):
        logp, grads, state = segment_grads(work, inputs, targets, state)
        out[lo:lo + len(logp)] = logp.double().cpu().numpy()
        step(params, saved, grads)
    return out


class RMSStep:
    """Krause et al.'s update (see the module docstring) for weights whose mean squared gradients are `ms`."""

    def __init__(self, ms: list[torch.Tensor], lr: float, decay: float):
        self.lr = lr
        rms = [m.sqrt() for m in ms]
        mean_rms = torch.cat([r.flatten() for r in rms]).mean()
        self.rms = [r + RMS_FLOOR * mean_rms for r in rms]  # ε = RMS_FLOOR * mean(RMS), see the module docstring
        self.pulls = [torch.clamp(decay * r / mean_rms, max=1.0) for r in rms]
        self.measured = [(m > 0).to(m.dtype) for m in ms]  # 0: never had a gradient, never moves

    @torch.no_grad()
    def __call__(self, params: list[torch.Tensor], saved: list[torch.Tensor], grads) -> None:
        for p, p0, g, r, pull, moves in zip(params, saved, grads, self.rms, self.pulls, self.measured):
            if g is not None:
                p -= self.lr * moves * g / r
            p += pull * (p0 - p)


def tune_dynamic_lr(model, stream: np.ndarray, ms, decay: float, segment: int, lrs, device="cpu") -> float:
    """The learning rate of the grid with the lowest NLL on `stream` (the valid text).

    A rate whose updates diverged scores NaN; NaN would win np.argmin (it returns the first NaN), and
    did: an AWD-LSTM tuned to 3e-3, where its weights blew up, instead of 3e-5, where the valid NLL
    fell from 4.53 to 4.22 nats per token. So a non-finite NLL counts as the worst possible.
    """
    nlls = np.array([-dynamic_logprobs(model, stream, ms, lr, decay, segment, device).sum() for lr in lrs])
    if not np.isfinite(nlls).any():
        raise ConfigError(f"--dynamic: the model diverged at every learning rate tried "
                          f"({', '.join(f'{lr:g}' for lr in lrs)}); give a smaller --dynamic-lr")
    return lrs[int(np.argmin(np.where(np.isfinite(nlls), nlls, np.inf)))]
