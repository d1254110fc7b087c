"""The tutorials' Elman RNN by hand: its forward pass and back-propagation through time.

Plain tensor functions, no autograd, no nn.Module (lmkit/models/neural/scratch.py wraps
them into a LanguageModel). Notation as there: batch-first, B sequences of T
steps, vocabulary K, hidden H, input D; row-vector form with nn.RNN's shapes.

    a_t = U x_t + W s_{t-1} + b          (B, H)   pre-activation
    s_t = f(a_t)                         (B, H)   f = tanh or relu
    o_t = softmax(V s_t + c)             (B, K)

Back-propagation through time, from the last step to the first:

    dz_t = (o_t - onehot(y_t)) / (B T)              (B, K)
    ds_t = dz_t V + da_{t+1} W                      (B, H)   the second term carries the past's share
    da_t = ds_t * f'(a_t)                           (B, H)   tanh' = 1 - s_t^2, relu' = [a_t > 0]
    dV = sum_t dz_t^T s_t    dc = sum_t dz_t        shared weights: gradients summed over time
    dU = sum_t da_t^T x_t    dW = sum_t da_t^T s_{t-1}    db = sum_t da_t
    dE[w_t] += da_t U                               (embedding only)

No autograd runs in `loss_and_grads`; lmkit/models/neural/gradcheck.py checks it against
finite differences and against autograd, and docs/bptt.md walks through it.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch import Tensor

Params = dict[str, Tensor]


class Activation(NamedTuple):
    f: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor, Tensor], Tensor]  # f'(a_t) from (a_t, s_t)


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation(torch.tanh, lambda a, s: 1 - s * s),
    "relu": Activation(torch.relu, lambda a, s: (a > 0).to(a.dtype)),
}


# --- the forward pass ---------------------------------------------------------


class Trace(NamedTuple):
    """What the forward pass keeps for the backward pass."""

    inputs: Tensor  # (B, T) ids w_t
    x: Tensor | None  # (B, T, D) embedded inputs; None for one-hot
    a: Tensor  # (B, T, H) pre-activations a_t
    s: Tensor  # (B, T, H) states s_t
    s_prev: Tensor  # (B, T, H) states s_{t-1}; s_prev[:, 0] is the state carried in
    logp: Tensor | None  # (B, T, K) log o_t (None: the states alone)


def input_term(params: Params, inputs: Tensor) -> tuple[Tensor, Tensor | None]:
    """U x_t for every step: ((B, T, H), the embedded x (B, T, D) or None for one-hot)."""
    if "E" in params:
        x = params["E"][inputs]  # x_t = E[w_t]            (B, T, D)
        return x @ params["U"].T, x  # U x_t              (B, T, H)
    return params["U"].T[inputs], None  # U onehot(w_t) is column w_t of U  (B, T, H)


def recurrence(params: Params, inputs: Tensor, state: Tensor, nonlinearity: str) -> Trace:
    """The states alone: s_t = f(U x_t + W s_{t-1} + b) over inputs (B, T) from s_{-1} (B, H); logp left None."""
    f = ACTIVATIONS[nonlinearity].f
    ux, x = input_term(params, inputs)  # (B, T, H)
    pre, states = [], []
    s = state  # s_{-1}                                    (B, H)
    for t in range(inputs.shape[1]):
        a = ux[:, t] + s @ params["W"].T + params["b"]  # a_t = U x_t + W s_{t-1} + b   (B, H)
        s = f(a)  # s_t = f(a_t)                             (B, H)
        pre.append(a)
        states.append(s)
    if not states:  # T = 0: nothing to run
        empty = ux.new_zeros(inputs.shape[0], 0, state.shape[-1])
        return Trace(inputs, x, empty, empty, empty, None)
    s_all = torch.stack(states, dim=1)  # (B, T, H)
    s_prev = torch.cat([state[:, None], s_all[:, :-1]], dim=1)  # s_{t-1}   (B, T, H)
    return Trace(inputs, x, torch.stack(pre, dim=1), s_all, s_prev, None)


def forward_pass(params: Params, inputs: Tensor, state: Tensor, nonlinearity: str) -> Trace:
    """Run the recurrence over inputs (B, T) from state s_{-1} (B, H). Plain tensor ops, so autograd can follow it too."""
    trace = recurrence(params, inputs, state, nonlinearity)
    z = trace.s @ params["V"].T + params["c"]  # z_t = V s_t + c            (B, T, K)
    return trace._replace(logp=torch.log_softmax(z, dim=-1))


def final_state(trace: Trace, state: Tensor) -> Tensor:
    return trace.s[:, -1] if trace.s.shape[1] else state


def target_logprobs(trace: Trace, targets: Tensor) -> Tensor:
    """log o_t[y_t] for every step: (B, T)."""
    return trace.logp.gather(-1, targets[..., None]).squeeze(-1)


# --- back-propagation through time --------------------------------------------


def bptt(params: Params, trace: Trace, targets: Tensor, weights: Tensor, nonlinearity: str,
         truncate: int | None = None) -> tuple[Params, Tensor]:
    """Gradients of L = -sum_{b,t} weights[b, t] log o_t[y_t] for every parameter, and dL/ds_t (B, T, H).

    `weights` (B, T) is 1/(B T) everywhere for the mean loss; the norms demonstration
    puts all the weight on the last step.
    """
    dz = trace.logp.exp()  # o_t                                          (B, T, K)
    dz.scatter_add_(-1, targets[..., None], -torch.ones_like(dz[..., :1]))  # o_t - onehot(y_t)
    dz *= weights[..., None]  # dL/dz_t                                   (B, T, K)
    grads = {
        "V": dz.flatten(0, 1).T @ trace.s.flatten(0, 1),  # dV = sum_t dz_t^T s_t   (K, H)
        "c": dz.sum(dim=(0, 1)),  # dc = sum_t dz_t                               (K,)
    }
    fprime = ACTIVATIONS[nonlinearity].derivative(trace.a, trace.s)  # f'(a_t)   (B, T, H)
    da, ds = deltas_through_time(dz @ params["V"], fprime, params["W"], truncate)
    grads["W"] = da.flatten(0, 1).T @ trace.s_prev.flatten(0, 1)  # dW = sum_t da_t^T s_{t-1}  (H, H)
    grads["b"] = da.sum(dim=(0, 1))  # db = sum_t da_t                                      (H,)
    grads.update(input_gradients(params, trace, da))
    return grads, ds


def deltas_through_time(ds_out: Tensor, fprime: Tensor, W: Tensor, truncate: int | None) -> tuple[Tensor, Tensor]:
    """da_t and ds_t for t = T-1 .. 0, given each output's own share ds_out[:, t] = dz_t V (B, T, H).

    ds_t = dz_t V + da_{t+1} W and da_t = ds_t * f'(a_t). With `truncate` = k the
    error of output t may travel at most k steps back, so the shares are kept
    apart by age (how far they have travelled) and dropped when older than k;
    without truncation they are simply summed.
    """
    da, ds = torch.zeros_like(ds_out), torch.zeros_like(ds_out)  # (B, T, H)
    carried = ds_out.new_zeros(0, *ds_out[:, 0].shape)  # da_{t+1} W, one row per age 1, 2, ..   (A, B, H)
    for t in reversed(range(ds_out.shape[1])):
        ds_t = torch.cat([ds_out[None, :, t], carried])  # row j: the share of output t+j    (A+1, B, H)
        da_t = ds_t * fprime[None, :, t]  # da_t = ds_t * f'(a_t)                                (A+1, B, H)
        if truncate is None:
            da_t = da_t.sum(dim=0, keepdim=True)  # every age survives: add them up now   (1, B, H)
        ds[:, t], da[:, t] = ds_t.sum(dim=0), da_t.sum(dim=0)
        carried = (da_t @ W)[:truncate]  # shares of ds_{t-1}, ages 1 .. k kept   (<= k, B, H)
    return da, ds


def input_gradients(params: Params, trace: Trace, da: Tensor) -> Params:
    """dU (and dE): dU = sum_t da_t^T x_t. A one-hot x_t selects column w_t of U, so that column collects da_t."""
    ids, rows = trace.inputs.flatten(), da.flatten(0, 1)  # (B T,), (B T, H)
    if trace.x is None:
        dU_T = torch.zeros_like(params["U"].T).index_add_(0, ids, rows)  # (K, H)
        return {"U": dU_T.T}
    dx = rows @ params["U"]  # dL/dx_t = da_t U                                       (B T, D)
    return {
        "U": rows.T @ trace.x.flatten(0, 1),  # (H, D)
        "E": torch.zeros_like(params["E"]).index_add_(0, ids, dx),  # dE[w_t] += dx_t   (K, D)
    }


def clip_factor(grads: list[Tensor], max_norm: float) -> float:
    """Scale that brings the global gradient norm down to `max_norm` (1.0 when it is already below)."""
    total = torch.sqrt(sum((g.float() ** 2).sum() for g in grads))
    return min(1.0, max_norm / (float(total) + 1e-6))
