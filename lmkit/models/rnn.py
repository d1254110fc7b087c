"""RNNLM: embedding -> stacked Elman RNN / GRU / LSTM -> softmax, over torch.nn.

    x_t = E[id_t]                         # (B, E)   embedding lookup (= U x_t for one-hot x_t)
    s_t = cell(x_t, s_{t-1})              # (B, H)   weights shared across time, `layers` deep
    o_t = log_softmax(V s_t + c)          # (B, Vocab)

Cells: rnn_tanh and rnn_relu (Elman), gru, lstm. The state is h (L, B, H),
or (h, c) for the LSTM. forward(inputs, targets, state) returns per-token
log-probabilities of the targets, which is both the training loss (negated)
and the protocol's score_targets.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from lmkit.config_json import from_json
from lmkit.errors import CheckpointError, ConfigError
from lmkit.fileio import write_bytes_atomic
from lmkit.models.heads import HEADS
from lmkit.models.weights import check_shapes, load_weights
from lmkit.vocab import Vocab

WEIGHTS_FILE = "model.safetensors"
TIED = "head.linear.weight"  # not stored when tied: it is embedding.weight

# cell name -> (torch module, extra constructor arguments)
CELLS: dict[str, tuple[type[nn.RNNBase], dict]] = {
    "rnn_tanh": (nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
    "gru": (nn.GRU, {}),
    "lstm": (nn.LSTM, {}),
}


@dataclass
class RNNConfig:
    cell: str = "lstm"
    emb_size: int = 64
    hidden_size: int = 256
    layers: int = 2
    dropout: float = 0.1        # between stacked layers
    emb_dropout: float = 0.0    # on the embeddings
    out_dropout: float = 0.1    # on the top layer's outputs, before the softmax
    tie_weights: bool = False   # share the embedding matrix with the softmax weights
    softmax: str = "full"       # "full" or "adaptive" (large word vocabularies)

    def validate(self) -> None:
        if self.cell not in CELLS:
            raise ConfigError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        for name in ("emb_size", "hidden_size", "layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("dropout", "emb_dropout", "out_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"--{name.replace('_', '-')} must be in [0, 1), got {getattr(self, name)}")
        if self.softmax not in HEADS:
            raise ConfigError(f"--softmax must be one of {', '.join(HEADS)}, got {self.softmax!r}")
        if self.tie_weights and self.softmax != "full":
            raise ConfigError("--tie-weights needs --softmax full: the adaptive softmax has no single output matrix")
        if self.tie_weights and self.emb_size != self.hidden_size:
            raise ConfigError(
                f"--tie-weights needs --emb-size equal to --hidden-size (got {self.emb_size} and {self.hidden_size}): "
                "the embedding matrix doubles as the softmax weights"
            )

    @classmethod
    def from_dict(cls, obj: dict, where: str = "model") -> "RNNConfig":
        """From config.json's "model" object: each value's type checked (naming `where` and the key), unknown keys ignored."""
        return from_json(cls, obj, where)


class RNNLM(nn.Module):
    """Recurrent language model implementing the LanguageModel protocol."""

    def __init__(self, vocab: Vocab, config: RNNConfig):
        super().__init__()
        config.validate()
        self.vocab = vocab
        self.cfg = config
        self.kind = config.cell
        module, extra = CELLS[config.cell]
        self.embedding = nn.Embedding(len(vocab), config.emb_size)
        self.emb_drop = nn.Dropout(config.emb_dropout)
        self.rnn = module(config.emb_size, config.hidden_size, config.layers, batch_first=True,
                          dropout=config.dropout if config.layers > 1 else 0.0, **extra)
        self.out_drop = nn.Dropout(config.out_dropout)
        self.head = HEADS[config.softmax](config.hidden_size, len(vocab))  # o_t = softmax(V s_t + c)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        if config.tie_weights:
            self.head.linear.weight = self.embedding.weight

    # --- the protocol ---------------------------------------------------------
    def init_state(self, batch_size: int):
        weight = self.embedding.weight
        shape = (self.cfg.layers, batch_size, self.cfg.hidden_size)
        h = torch.zeros(shape, dtype=weight.dtype, device=weight.device)
        return (h, torch.zeros_like(h)) if self.cfg.cell == "lstm" else h

    def hidden_states(self, inputs: torch.Tensor, state):
        # inputs: (B, T) -> top-layer outputs s_t (B, T, H), state
        x = self.emb_drop(self.embedding(inputs))  # (B, T, E)
        out, state = self.rnn(x, state)            # (B, T, H)
        return self.out_drop(out), state

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor, state):
        """(B, T) inputs and targets -> ((B, T) log p(target), state)."""
        out, state = self.hidden_states(inputs, state)
        return self.head.target_logprobs(out, targets), state

    score_targets = forward

    def step(self, ids: torch.Tensor, state):
        # ids: (B,) -> log-probs (B, V)
        out, state = self.hidden_states(ids[:, None], state)
        return self.head.log_probs(out[:, 0]), state

    def score(self, ids: torch.Tensor) -> torch.Tensor:
        # ids: (B, T) -> (B, T-1)
        logp, _ = self.forward(ids[:, :-1], ids[:, 1:], self.init_state(ids.shape[0]))
        return logp

    def num_parameters(self) -> int:
        return sum(p.numel() for p in {id(p): p for p in self.parameters()}.values())

    # --- persistence ----------------------------------------------------------
    def config(self) -> dict:
        return {"kind": self.cfg.cell, "model": asdict(self.cfg)}

    def save(self, directory: Path) -> None:
        from safetensors.torch import save

        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        if self.cfg.tie_weights:
            tensors.pop(TIED)  # the same tensor as embedding.weight
        write_bytes_atomic(Path(directory) / WEIGHTS_FILE, save(tensors, metadata={"kind": self.kind}))

    @classmethod
    def load(cls, directory: Path, config: dict, vocab: Vocab) -> "RNNLM":
        where = Path(directory) / "config.json"
        try:
            settings = RNNConfig.from_dict(config.get("model") or {})
            with torch.device("meta"):  # the shapes config.json asks for, without allocating them
                expected = {name: tuple(t.shape) for name, t in cls(vocab, settings).state_dict().items()}
        except ConfigError as exc:
            raise CheckpointError(f"{where}: invalid model settings: {exc}") from exc
        except (RuntimeError, OverflowError, ValueError, TypeError) as exc:  # sizes no tensor can have
            raise CheckpointError(f"{where}: invalid model settings: no model of this size can be built "
                                  f"({str(exc).splitlines()[0]})") from exc
        if settings.tie_weights:
            expected.pop(TIED)
        tensors = load_weights(Path(directory) / WEIGHTS_FILE, expected, optional=frozenset({TIED}))
        model = cls(vocab, settings)
        model.load_state_dict(dict(sorted(tensors.items())), strict=False)
        return model

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        expected = {name: tuple(t.shape) for name, t in self.state_dict().items()}
        if self.cfg.tie_weights:
            expected.pop(TIED)
        check_shapes({name: tuple(t.shape) for name, t in state_dict.items()}, expected, optional=frozenset({TIED}))
        return super().load_state_dict(state_dict, strict=False, assign=assign)
