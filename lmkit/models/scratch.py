"""ScratchRNN: the tutorials' Elman RNN language model, with its forward pass and BPTT written by hand.

Notation follows the tutorials; every tensor is batch-first. B sequences of
T steps, vocabulary size K, hidden size H, input size D (D = K for one-hot
inputs, D = emb_size with an embedding E). Row-vector form, so that the
weights have exactly the shapes of torch's nn.RNN (U = weight_ih_l0,
W = weight_hh_l0, b = bias_ih_l0 + bias_hh_l0):

    x_t = onehot(w_t) or E[w_t]          (B, D)
    a_t = U x_t + W s_{t-1} + b          (B, H)   pre-activation
    s_t = f(a_t)                         (B, H)   f = tanh or relu
    z_t = V s_t + c                      (B, K)   logits
    o_t = softmax(z_t)                   (B, K)
    L   = -1/(B T) sum_t log o_t[y_t]             mean cross-entropy per token

Back-propagation through time, from the last step to the first:

    dz_t = (o_t - onehot(y_t)) / (B T)              (B, K)
    ds_t = dz_t V + da_{t+1} W                      (B, H)   the second term carries the past's share
    da_t = ds_t * f'(a_t)                           (B, H)   tanh' = 1 - s_t^2, relu' = [a_t > 0]
    dV = sum_t dz_t^T s_t    dc = sum_t dz_t        shared weights: gradients summed over time
    dU = sum_t da_t^T x_t    dW = sum_t da_t^T s_{t-1}    db = sum_t da_t
    dE[w_t] += da_t U                               (embedding only)

No autograd runs in `loss_and_grads`; lmkit/gradcheck.py checks it against
finite differences and against autograd, and docs/bptt.md walks through it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import safetensors.torch
import torch
from torch import Tensor, nn

from lmkit.errors import CheckpointError, ConfigError
from lmkit.fileio import write_bytes_atomic
from lmkit.models.base import StepScoring
from lmkit.models.weights import load_weights
from lmkit.vocab import Vocab

WEIGHTS_FILE = "model.safetensors"
EMBEDDING_INIT = 0.1  # E ~ U(-0.1, 0.1) unless init_scale is set
Params = dict[str, Tensor]


class Activation(NamedTuple):
    f: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor, Tensor], Tensor]  # f'(a_t) from (a_t, s_t)


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation(torch.tanh, lambda a, s: 1 - s * s),
    "relu": Activation(torch.relu, lambda a, s: (a > 0).to(a.dtype)),
}


@dataclass
class ScratchConfig:
    hidden_size: int = 128
    emb_size: int | None = None  # None: one-hot inputs, as the tutorials begin
    nonlinearity: str = "tanh"
    bptt_truncate: int | None = None  # k: the error of output t reaches a_t .. a_{t-k} only
    init_scale: float | None = None  # None: U(-1/sqrt(fan_in), +) like the tutorials; else U(-scale, scale)
    seed: int = 0

    def validate(self) -> None:
        for name in ("hidden_size", "emb_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.nonlinearity not in ACTIVATIONS:
            raise ConfigError(f"--nonlinearity must be one of {', '.join(ACTIVATIONS)}, got {self.nonlinearity!r}")
        if self.bptt_truncate is not None and (not isinstance(self.bptt_truncate, int) or self.bptt_truncate < 0):
            raise ConfigError(f"--bptt-truncate must be a non-negative integer, got {self.bptt_truncate!r}")
        if self.init_scale is not None and not self.init_scale > 0:
            raise ConfigError(f"--init-scale must be positive, got {self.init_scale!r}")

    @classmethod
    def from_dict(cls, config: dict) -> "ScratchConfig":
        """The ScratchConfig from config.json's "model" object (unknown keys are ignored)."""
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in config.items() if key in names})


# --- the forward pass ---------------------------------------------------------


class Trace(NamedTuple):
    """What the forward pass keeps for the backward pass."""

    inputs: Tensor  # (B, T) ids w_t
    x: Tensor | None  # (B, T, D) embedded inputs; None for one-hot
    a: Tensor  # (B, T, H) pre-activations a_t
    s: Tensor  # (B, T, H) states s_t
    s_prev: Tensor  # (B, T, H) states s_{t-1}; s_prev[:, 0] is the state carried in
    logp: Tensor  # (B, T, K) log o_t


def input_term(params: Params, inputs: Tensor) -> tuple[Tensor, Tensor | None]:
    """U x_t for every step: ((B, T, H), the embedded x (B, T, D) or None for one-hot)."""
    if "E" in params:
        x = params["E"][inputs]  # x_t = E[w_t]            (B, T, D)
        return x @ params["U"].T, x  # U x_t              (B, T, H)
    return params["U"].T[inputs], None  # U onehot(w_t) is column w_t of U  (B, T, H)


def forward_pass(params: Params, inputs: Tensor, state: Tensor, nonlinearity: str) -> Trace:
    """Run the recurrence over inputs (B, T) from state s_{-1} (B, H). Plain tensor ops, so autograd can follow it too."""
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
        return Trace(inputs, x, empty, empty, empty, ux.new_zeros(*inputs.shape, params["V"].shape[0]))
    s_all = torch.stack(states, dim=1)  # (B, T, H)
    s_prev = torch.cat([state[:, None], s_all[:, :-1]], dim=1)  # s_{t-1}   (B, T, H)
    z = s_all @ params["V"].T + params["c"]  # z_t = V s_t + c            (B, T, K)
    return Trace(inputs, x, torch.stack(pre, dim=1), s_all, s_prev, torch.log_softmax(z, dim=-1))


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


# --- the model ------------------------------------------------------------------


def parameter_shapes(vocab_size: int, config: ScratchConfig) -> dict[str, tuple[int, ...]]:
    H, K = config.hidden_size, vocab_size
    D = config.emb_size or K
    embedding = {"E": (K, D)} if config.emb_size else {}
    return {**embedding, "U": (H, D), "W": (H, H), "b": (H,), "V": (K, H), "c": (K,)}


def initial_value(name: str, shape: tuple[int, ...], config: ScratchConfig, generator: torch.Generator) -> Tensor:
    """Biases start at 0; matrices ~ U(-r, r) with r = init_scale if given, else 1/sqrt(fan_in) (the
    tutorials' rule) and 0.1 for E (as lmkit's RNNLM, so that scratch-rnn and rnn_tanh start alike)."""
    if len(shape) == 1:
        return torch.zeros(shape)
    bound = config.init_scale or (EMBEDDING_INIT if name == "E" else shape[1] ** -0.5)
    return (torch.rand(shape, generator=generator) * 2 - 1) * bound


class ScratchRNN(StepScoring, nn.Module):
    """Elman RNN language model trained by hand-written BPTT; implements the LanguageModel protocol."""

    kind = "scratch-rnn"
    manual_gradients = True  # the trainer calls loss_and_grads instead of loss.backward()

    def __init__(self, vocab: Vocab, config: ScratchConfig | None = None):
        super().__init__()
        config = config or ScratchConfig()
        config.validate()
        self.vocab, self.cfg = vocab, config
        generator = torch.Generator().manual_seed(config.seed)
        for name, shape in parameter_shapes(len(vocab), config).items():
            self.register_parameter(name, nn.Parameter(initial_value(name, shape, config, generator)))

    def params(self) -> Params:
        return dict(self.named_parameters())

    # The state is s_{t-1} laid out as torch's nn.RNN lays out h: (layers = 1, B, H).
    def init_state(self, batch_size: int) -> Tensor:
        return self.W.new_zeros(1, batch_size, self.cfg.hidden_size)  # s_{-1} = 0   (1, B, H)

    def forward(self, inputs: Tensor, targets: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """score_targets that autograd can follow (for checks; training uses loss_and_grads)."""
        trace = forward_pass(self.params(), inputs, state[0], self.cfg.nonlinearity)
        return target_logprobs(trace, targets), final_state(trace, state[0])[None]

    @torch.no_grad()
    def score_targets(self, inputs: Tensor, targets: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        return self.forward(inputs, targets, state)  # (B, T) log-probs, state

    @torch.no_grad()
    def step(self, ids: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        trace = forward_pass(self.params(), ids[:, None], state[0], self.cfg.nonlinearity)
        return trace.logp[:, 0], trace.s[:, 0][None]  # (B, K), (1, B, H)

    @torch.no_grad()
    def loss_and_grads(self, inputs: Tensor, targets: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """Mean loss per token of one window, with every `param.grad` overwritten by hand-written BPTT."""
        params = self.params()
        trace = forward_pass(params, inputs, state[0], self.cfg.nonlinearity)
        weights = torch.full(targets.shape, 1.0 / max(1, targets.numel()), dtype=trace.s.dtype, device=trace.s.device)
        loss = -(target_logprobs(trace, targets) * weights).sum()
        grads, _ = bptt(params, trace, targets, weights, self.cfg.nonlinearity, self.cfg.bptt_truncate)
        for name, param in params.items():
            param.grad = grads[name]
        return loss, final_state(trace, state[0])[None]

    @torch.no_grad()
    def sgd_step(self, inputs: Tensor, targets: Tensor, state: Tensor, lr: float,
                 max_norm: float | None = None) -> tuple[Tensor, Tensor]:
        """The tutorials' update, finished: U -= lr dL/dU (and W, b, V, c, E), after optional clipping."""
        loss, state = self.loss_and_grads(inputs, targets, state)
        scale = clip_factor([p.grad for p in self.parameters()], max_norm) if max_norm else 1.0
        for param in self.parameters():
            param -= lr * scale * param.grad
        return loss, state

    # --- persistence ------------------------------------------------------------
    def config(self) -> dict:
        return {"kind": self.kind, "model": dataclasses.asdict(self.cfg)}

    def save(self, directory: str | Path) -> None:
        tensors = {name: p.detach().cpu().contiguous() for name, p in self.named_parameters()}
        write_bytes_atomic(Path(directory) / WEIGHTS_FILE, safetensors.torch.save(tensors))

    @classmethod
    def load(cls, directory: str | Path, config: dict, vocab: Vocab) -> "ScratchRNN":
        try:
            model = cls(vocab, ScratchConfig.from_dict(config.get("model") or {}))
        except (ConfigError, TypeError) as exc:
            raise CheckpointError(f"{directory}/config.json: invalid scratch-rnn settings: {exc}") from exc
        path = Path(directory) / WEIGHTS_FILE
        tensors = load_weights(path)
        expected = {name: tuple(p.shape) for name, p in model.named_parameters()}
        found = {name: tuple(t.shape) for name, t in tensors.items()}
        if found != expected:
            raise CheckpointError(f"{path}: holds tensors {found}, but config.json and the vocabulary need {expected}")
        with torch.no_grad():
            for name, param in model.named_parameters():
                param.copy_(tensors[name])
        return model
