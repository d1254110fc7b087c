"""The tutorials' bidirectional Elman RNN by hand: its forward pass and BPTT in both directions.

Plain tensor functions, no autograd, as lmkit/models/neural/elman_bptt.py (whose
recurrence and per-direction back-propagation they reuse). A batch of B framed
lines x_0 .. x_{L-1} (`<s> .. </s>`, all of length L); a primed name (U', W', b',
V', E') is the backward direction's own weight, nothing is shared:

    s_t  = f(U  x_t + W  s_{t-1}  + b )     forward reader, s_{-1} = 0      (B, L, H)
    s'_t = f(U' x_t + W' s'_{t+1} + b')     backward reader, s'_L = 0        (B, L, H)
    z_t  = V s_{t-1} + V' s'_{t+1} + c      t = 1 .. L-1 (s'_L = 0)          (B, L-1, K)
    o_t  = softmax(z_t),   L = -sum_t w_t log o_t[x_t]     (w_t = 1/(B (L-1)) for the mean)

so o_t never depends on x_t. Back-propagation:

    dz_t = w_t (o_t - onehot(x_t))
    dV = sum_t dz_t^T s_{t-1}     dV' = sum_t dz_t^T s'_{t+1}     dc = sum_t dz_t
    forward reader:  the output error reaching s_u is dz_{u+1} V   (u = 0 .. L-2), then BPTT
                     from u = L-1 down to 0 (ds_u = dz_{u+1} V + da_{u+1} W), as one-directional
    backward reader: the output error reaching s'_u is dz_{u-1} V' (u = 2 .. L-1), then BPTT
                     from u = 0 UP to L-1 (ds'_u = dz_{u-1} V' + da'_{u-1} W'): the same loop
                     run over the reversed line, where the backward reader's time runs forward
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from lmkit.models.neural.elman_bptt import ACTIVATIONS, Params, Trace, deltas_through_time, input_gradients, recurrence

PRIME = "'"
READER_WEIGHTS = ("E", "U", "W", "b")


def reader(params: Params, prime: str) -> Params:
    """One direction's own weights, named as the one-directional code names them (U for U', ...)."""
    return {name: params[name + prime] for name in READER_WEIGHTS if name + prime in params}


def parameter_shapes(vocab_size: int, hidden_size: int, emb_size: int | None) -> dict[str, tuple[int, ...]]:
    K, H, D = vocab_size, hidden_size, emb_size or vocab_size
    shapes: dict[str, tuple[int, ...]] = {}
    for prime in ("", PRIME):
        if emb_size:
            shapes["E" + prime] = (K, D)
        shapes.update({"U" + prime: (H, D), "W" + prime: (H, H), "b" + prime: (H,), "V" + prime: (K, H)})
    return {**shapes, "c": (K,)}


class BiTrace(NamedTuple):
    ahead: Trace     # forward reader over x_0 .. x_{L-1}
    behind: Trace    # backward reader over x_{L-1} .. x_0 (its own time order)
    before: Tensor   # s_{t-1}  for t = 1 .. L-1           (B, L-1, H)
    after: Tensor    # s'_{t+1} for t = 1 .. L-1           (B, L-1, H)
    logp: Tensor     # log o_t  for t = 1 .. L-1           (B, L-1, K)


def bi_forward(params: Params, ids: Tensor, nonlinearity: str) -> BiTrace:
    """Both readers over framed lines ids (B, L) and the cloze log-probs. Plain tensor ops: autograd can follow."""
    zero = params["W"].new_zeros(ids.shape[0], params["W"].shape[0])   # s_{-1} = s'_L = 0   (B, H)
    ahead = recurrence(reader(params, ""), ids, zero, nonlinearity)
    behind = recurrence(reader(params, PRIME), ids.flip(1), zero, nonlinearity)
    backward_states = behind.s.flip(1)                                  # s'_t in line order   (B, L, H)
    after = torch.cat([backward_states[:, 2:], zero[:, None]], dim=1)   # s'_{t+1}, s'_L = 0   (B, L-1, H)
    before = ahead.s[:, :-1]                                            # s_{t-1}              (B, L-1, H)
    z = before @ params["V"].T + after @ params["V'"].T + params["c"]  # (B, L-1, K)
    return BiTrace(ahead, behind, before, after, torch.log_softmax(z, dim=-1))


def bi_loss(trace: BiTrace, ids: Tensor, weights: Tensor) -> Tensor:
    """L = -sum_{b,t} weights[b, t] log o_t[x_t] over t = 1 .. L-1."""
    return -(weights * trace.logp.gather(-1, ids[:, 1:, None]).squeeze(-1)).sum()


def bi_bptt(params: Params, trace: BiTrace, ids: Tensor, weights: Tensor, nonlinearity: str) -> Params:
    """Gradients of bi_loss for every parameter, by hand (see the module docstring)."""
    dz = trace.logp.exp()                                                    # o_t            (B, L-1, K)
    dz.scatter_add_(-1, ids[:, 1:, None], -torch.ones_like(dz[..., :1]))     # o_t - onehot(x_t)
    dz *= weights[..., None]
    grads = {"V": dz.flatten(0, 1).T @ trace.before.flatten(0, 1),
             "V'": dz.flatten(0, 1).T @ trace.after.flatten(0, 1), "c": dz.sum(dim=(0, 1))}
    none = dz.new_zeros(dz.shape[0], 1, trace.before.shape[-1])              # (B, 1, H)
    into_ahead = torch.cat([dz @ params["V"], none], dim=1)                  # s_u <- dz_{u+1} V      (B, L, H)
    into_behind = torch.cat([none, none, (dz @ params["V'"])[:, :-1]], dim=1).flip(1)  # s'_u <- dz_{u-1} V'
    for prime, side, into in (("", trace.ahead, into_ahead), (PRIME, trace.behind, into_behind)):
        grads.update({name + prime: g for name, g in reader_gradients(reader(params, prime), side, into,
                                                                      nonlinearity).items()})
    return grads


def reader_gradients(params: Params, trace: Trace, into: Tensor, nonlinearity: str) -> Params:
    """One reader's U (E), W, b gradients from the output error reaching each of its states (its own time order)."""
    fprime = ACTIVATIONS[nonlinearity].derivative(trace.a, trace.s)
    da, _ = deltas_through_time(into, fprime, params["W"], None)             # (B, L, H)
    grads = {"W": da.flatten(0, 1).T @ trace.s_prev.flatten(0, 1), "b": da.sum(dim=(0, 1))}
    return {**grads, **input_gradients(params, trace, da)}
