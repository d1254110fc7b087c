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

The forward pass and back-propagation through time are in lmkit/models/neural/elman_bptt.py.
No autograd runs in `loss_and_grads`; lmkit/models/neural/gradcheck.py checks it against
finite differences and against autograd, and docs/bptt.md walks through it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor, nn

from lmkit.config.from_json import from_json
from lmkit.config.settings import LARGEST_SEED, check_settings, setting
from lmkit.errors import CheckpointError, ConfigError
from lmkit.models.base import StepScoring, line_start_read_as_end
from lmkit.models.neural.elman_bptt import ACTIVATIONS, Params, bptt, clip_factor, final_state, forward_pass, target_logprobs
from lmkit.models.neural.rnn import LARGEST_WIDTH
from lmkit.models.neural.weight_files import WEIGHTS_FILE, save_tensors
from lmkit.models.neural.weights import load_weights
from lmkit.models.saved_record import weights_record
from lmkit.text.vocab import Vocab

EMBEDDING_INIT = 0.1  # E ~ U(-0.1, 0.1) unless init_scale is set


@dataclass
class ScratchConfig:
    CLI_NAME: ClassVar[str] = "scratch-rnn"
    ARCHITECTURE: ClassVar[tuple[str, ...]] = ("hidden_size", "layers", "emb_size", "nonlinearity")  # in its weights' record

    hidden_size: int = setting(128, "Hidden units per layer.", low=1, high=LARGEST_WIDTH)
    layers: int = setting(1, "Stacked recurrent layers.", low=1, high=1, hint="the scratch-rnn has one layer")
    emb_size: int | None = setting(None, "Embedding size (scratch-rnn: none = one-hot inputs, as the tutorials "
                                   "begin).", low=1, high=LARGEST_WIDTH)
    nonlinearity: str = setting("tanh", "The Elman RNN's f.", choices=tuple(ACTIVATIONS))
    bptt_truncate: int | None = setting(None, "Propagate errors at most this many steps back inside a window.",
                                        low=0, high=2**20)
    init_scale: float | None = setting(None, "None: U(-1/sqrt(fan_in), +) like the tutorials; else U(-scale, scale).",
                                       low=0, low_open=True, high=1e3, cli=False)
    seed: int = setting(0, "Seed of the initial weights.", low=0, high=LARGEST_SEED, cli=False)

    def validate(self) -> None:
        check_settings(self)

    @classmethod
    def from_dict(cls, config: dict, where: str = "model") -> "ScratchConfig":
        """The ScratchConfig from config.json's "model" object: types checked, unknown keys ignored."""
        return from_json(cls, config, where)


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

    def select_state(self, state: Tensor, index: Tensor) -> Tensor:
        """(1, B, H) -> (1, K, H) for streams `index` (K,)."""
        return state.index_select(1, index.to(state.device))

    def forward(self, inputs: Tensor, targets: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """score_targets that autograd can follow (for checks; training uses loss_and_grads)."""
        trace = forward_pass(self.params(), line_start_read_as_end(inputs), state[0], self.cfg.nonlinearity)
        return target_logprobs(trace, targets), final_state(trace, state[0])[None]

    @torch.no_grad()
    def score_targets(self, inputs: Tensor, targets: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        return self.forward(inputs, targets, state)  # (B, T) log-probs, state

    @torch.no_grad()
    def step(self, ids: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        trace = forward_pass(self.params(), line_start_read_as_end(ids[:, None]), state[0], self.cfg.nonlinearity)
        return trace.logp[:, 0], trace.s[:, 0][None]  # (B, K), (1, B, H)

    @torch.no_grad()
    def loss_and_grads(self, inputs: Tensor, targets: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """Mean loss per token of one window, with every `param.grad` overwritten by hand-written BPTT."""
        params = self.params()
        trace = forward_pass(params, inputs, state[0], self.cfg.nonlinearity)  # training windows hold no <s>
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

    def save(self, directory: str | Path, direction: str | None = None) -> None:
        save_tensors(self, Path(directory), weights_record(self.kind, direction or "forward", self.cfg))

    @classmethod
    def load(cls, directory: str | Path, config: dict, vocab: Vocab) -> "ScratchRNN":
        where = Path(directory) / "config.json"
        try:
            settings = ScratchConfig.from_dict(config.get("model") or {})
            settings.validate()
        except ConfigError as exc:
            raise CheckpointError(f"{where}: invalid scratch-rnn settings: {exc}") from exc
        tensors = load_weights(Path(directory) / WEIGHTS_FILE, parameter_shapes(len(vocab), settings),
                               record=weights_record(cls.kind, config.get("direction", "forward"), settings),
                               config=config)
        model = cls(vocab, settings)
        with torch.no_grad():
            for name, param in model.named_parameters():
                param.copy_(tensors[name])
        return model
