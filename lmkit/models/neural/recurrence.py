"""The stacked recurrent layers under AWD-LSTM's weight drop and locked dropout, on torch's fused kernels.

nn.LSTM / nn.GRU / nn.RNN run every layer and time step in one fused oneDNN (CPU) or cuDNN (GPU)
call. Weight drop keeps that call, as Merity et al. do: DropConnect is applied to the raw
hidden-to-hidden matrices weight_hh_l* once per window, and the dropped matrices are handed to the
same module in place of the raw ones (torch.func.functional_call), so autograd carries the
gradient through the mask back to the raw weight. Locked dropout *between* layers needs each
layer's output, so then the layers run one at a time, each still one fused call, through
single-layer shells on the meta device (they hold no weights: every tensor is passed in).

In eval mode, or with nothing to drop, the module runs as it is: raw weights, one call.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from lmkit.models.neural.dropouts import drop_connect, locked_dropout

NOT_ONE_CHUNK = "RNN module weights are not part of single contiguous chunk"  # cuDNN's note on passed-in weights


@dataclass(frozen=True)
class RecurrentDrops:
    weight: float = 0.0     # DropConnect probability on each hidden-to-hidden matrix
    between: float = 0.0    # locked dropout on the outputs of every layer but the last


def layer_shells(rnn: nn.RNNBase) -> tuple[nn.RNNBase, ...]:
    """One weightless single-layer module of the same cell per layer of `rnn` (for layer-by-layer runs)."""
    extra = {"nonlinearity": rnn.nonlinearity} if isinstance(rnn, nn.RNN) else {}
    sizes = [rnn.input_size] + [rnn.hidden_size] * (rnn.num_layers - 1)
    return tuple(type(rnn)(size, rnn.hidden_size, 1, bias=rnn.bias, batch_first=rnn.batch_first, device="meta", **extra)
                 for size in sizes)


def run_layers(rnn: nn.RNNBase, shells: tuple[nn.RNNBase, ...], x: torch.Tensor, state, drops: RecurrentDrops,
               training: bool):
    """x (B, T, In) -> top-layer outputs (B, T, H), next state."""
    layered = training and drops.between > 0 and rnn.num_layers > 1
    if not training or (drops.weight == 0 and not layered):
        return rnn(x, state)
    weights = dict(rnn.named_parameters())
    if drops.weight:
        weights.update({name: drop_connect(w, drops.weight) for name, w in weights.items() if name.startswith("weight_hh")})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=NOT_ONE_CHUNK)
        if not layered:
            return functional_call(rnn, weights, (x, state))
        return layer_by_layer(shells, weights, x, state, drops.between)


def layer_by_layer(shells, weights: dict, x: torch.Tensor, state, between: float):
    states = []
    for k, shell in enumerate(shells):
        if k:
            x = locked_dropout(x, between, training=True)
        own = {name[: -len(f"_l{k}")] + "_l0": w for name, w in weights.items() if name.endswith(f"_l{k}")}
        x, layer_state = functional_call(shell, own, (x, state_of_layer(state, k)))
        states.append(layer_state)
    return x, stack_states(states)


def state_of_layer(state, k: int):
    # h (L, B, H) or (h, c) -> layer k's (1, B, H) or (h_k, c_k); None stays None (zeros)
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s[k : k + 1] for s in state)
    return state[k : k + 1]


def stack_states(states: list):
    if isinstance(states[0], tuple):
        return tuple(torch.cat(parts, dim=0) for parts in zip(*states))
    return torch.cat(states, dim=0)
