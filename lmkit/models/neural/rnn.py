"""RNNLM: embedding -> stacked Elman RNN / GRU / LSTM -> softmax, over torch.nn.

    x_t = E[id_t]                         # (B, E)   embedding lookup (= U x_t for one-hot x_t)
    s_t = cell(x_t, s_{t-1})              # (B, H)   weights shared across time, `layers` deep
    o_t = log_softmax(V s_t + c)          # (B, Vocab)

Cells: rnn_tanh and rnn_relu (Elman), gru, lstm. The state is h (L, B, H),
or (h, c) for the LSTM. forward(inputs, targets, state) returns per-token
log-probabilities of the targets, which is both the training loss (negated)
and the protocol's score_targets.

Regularisers of the AWD-LSTM family (Merity et al. 2017), each off by default:
whole-word dropout on the embedding matrix (--word-dropout), dropout on the
inputs, between layers and before the softmax (--emb-dropout, --dropout,
--out-dropout; --locked-dropout makes them variational: one mask per sequence),
weight drop on the hidden-to-hidden matrices (--weight-drop, lmkit.models.neural.recurrence)
and weight tying. All act in training mode only: eval mode runs the raw weights.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from lmkit.config.from_json import from_json
from lmkit.config.settings import check_settings, setting
from lmkit.errors import CheckpointError, ConfigError
from lmkit.models.base import line_start_read_as_end
from lmkit.models.neural.dropouts import element_dropout, locked_dropout, word_dropout
from lmkit.models.neural.heads import (ADAPTIVE_CLUSTERS, ADAPTIVE_DIV, AUTO_ADAPTIVE_VOCAB, HEADS, SOFTMAX_CHOICES,
                                      resolved_softmax)
from lmkit.models.neural.recurrence import RecurrentDrops, layer_shells, run_layers
from lmkit.models.neural.weight_files import WEIGHTS_FILE, save_tensors
from lmkit.models.neural.weights import check_shapes, load_weights, planned_shapes
from lmkit.models.saved_record import weights_record
from lmkit.text.vocab import Vocab

TIED = "head.linear.weight"  # not stored when tied: it is embedding.weight

# cell name -> (torch module, extra constructor arguments)
CELLS: dict[str, tuple[type[nn.RNNBase], dict]] = {
    "rnn_tanh": (nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
    "gru": (nn.GRU, {}),
    "lstm": (nn.LSTM, {}),
}


LARGEST_WIDTH = 65536   # embedding and hidden sizes: far beyond what a CPU or one GPU trains
LARGEST_DEPTH = 64


@dataclass
class RNNConfig:
    CLI_NAME: ClassVar[str] = "rnn_tanh/rnn_relu/gru/lstm"
    ARCHITECTURE: ClassVar[tuple[str, ...]] = ("emb_size", "hidden_size", "layers", "tie_weights", "softmax")  # in its weights' record

    cell: str = setting("lstm", "Recurrent cell.", choices=tuple(CELLS), cli=False)  # chosen by --model
    emb_size: int = setting(64, "Embedding size.", low=1, high=LARGEST_WIDTH)
    hidden_size: int = setting(256, "Hidden units per layer; 384 for a character LSTM trained on a CPU, unless in "
                               "bf16 on AMX.", low=1, high=LARGEST_WIDTH)
    layers: int = setting(2, "Stacked recurrent layers (a deep RNN); 1 for a character LSTM trained on a CPU, "
                          "unless in bf16 on AMX or with --dropout.", low=1, high=LARGEST_DEPTH)
    dropout: float = setting(0.0, "Dropout between stacked layers; 0.1 on words and subwords.", low=0, high=1,
                             high_open=True)
    emb_dropout: float = setting(0.0, "Dropout on the embedded inputs.", low=0, high=1, high_open=True)
    out_dropout: float = setting(0.0, "Dropout before the softmax; 0.1 on words and subwords.", low=0, high=1,
                                 high_open=True)
    locked_dropout: bool = setting(False, "Variational dropout: --emb-dropout, --dropout and --out-dropout draw one "
                                   "mask per sequence, the same at every time step.")
    word_dropout: float = setting(0.0, "Drop whole words: rows of the embedding matrix, drawn once per training step.",
                                  low=0, high=1, high_open=True)
    weight_drop: float = setting(0.0, "DropConnect on the hidden-to-hidden weights, drawn once per training step (weight drop).",
                                 low=0, high=1, high_open=True)
    tie_weights: bool = setting(False, "Share the embedding matrix with the softmax weights (needs emb = hidden size).")
    softmax: str = setting("auto", "adaptive: frequency-clustered softmax for large vocabularies (1000+ types); "
                           f"auto: adaptive from {AUTO_ADAPTIVE_VOCAB:,} types up, full below (and with --tie-weights or a softmax "
                           f"reading fewer than {ADAPTIVE_DIV ** ADAPTIVE_CLUSTERS} features).",
                           choices=SOFTMAX_CHOICES)

    def validate(self) -> None:
        check_settings(self)
        if self.tie_weights and self.softmax == "adaptive":
            raise ConfigError("--tie-weights needs --softmax full: the adaptive softmax has no single output matrix")
        if self.tie_weights and self.emb_size != self.hidden_size:
            raise ConfigError(
                f"--tie-weights needs --emb-size equal to --hidden-size (got {self.emb_size} and {self.hidden_size}): "
                "the embedding matrix doubles as the softmax weights"
            )

    def for_vocabulary(self, vocab_size: int) -> "RNNConfig":
        """This config with --softmax auto resolved for a vocabulary of `vocab_size` types: what the model is built
        with and config.json records."""
        return replace(self, softmax=resolved_softmax(self.softmax, vocab_size, self.hidden_size, self.tie_weights))

    @classmethod
    def from_dict(cls, obj: dict, where: str = "model") -> "RNNConfig":
        """From config.json's "model" object: each value's type checked (naming `where` and the key), unknown keys
        ignored; a config saved before --softmax existed was built with the full softmax."""
        if isinstance(obj, dict) and "softmax" not in obj:
            obj = {**obj, "softmax": "full"}
        return from_json(cls, obj, where)


class RNNLM(nn.Module):
    """Recurrent language model implementing the LanguageModel protocol."""

    exposes_outputs = True  # forward(..., outputs=True) gives the top layer's outputs (for AR/TAR)

    def __init__(self, vocab: Vocab, config: RNNConfig):
        super().__init__()
        config.validate()
        config = config.for_vocabulary(len(vocab))
        self.vocab = vocab
        self.cfg = config
        self.kind = config.cell
        module, extra = CELLS[config.cell]
        self.embedding = nn.Embedding(len(vocab), config.emb_size)
        inner_dropout = config.dropout if config.layers > 1 and not config.locked_dropout else 0.0
        self.rnn = module(config.emb_size, config.hidden_size, config.layers, batch_first=True,
                          dropout=inner_dropout, **extra)
        self.drops = RecurrentDrops(weight=config.weight_drop, between=config.dropout if config.locked_dropout else 0.0)
        self.shells = layer_shells(self.rnn) if self.drops.between and config.layers > 1 else ()  # not weights
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

    def select_state(self, state, index: torch.Tensor):
        """h (L, B, H), or (h, c) for the LSTM -> the same for streams `index` (K,)."""
        index = index.to(self.embedding.weight.device)
        if isinstance(state, tuple):
            return tuple(part.index_select(1, index) for part in state)
        return state.index_select(1, index)

    def top_outputs(self, inputs: torch.Tensor, state):
        # inputs: (B, T) -> top-layer outputs s_t (B, T, H), the same after output dropout, state
        inputs = line_start_read_as_end(inputs)  # the line start it trained on (lmkit.models.base)
        x = word_dropout(self.embedding, inputs, self.cfg.word_dropout, self.training)  # (B, T, E)
        x = self._dropout(x, self.cfg.emb_dropout)
        out, state = run_layers(self.rnn, self.shells, x, state, self.drops, self.training)  # (B, T, H)
        return out, self._dropout(out, self.cfg.out_dropout), state

    def hidden_states(self, inputs: torch.Tensor, state):
        # inputs: (B, T) -> top-layer outputs s_t (B, T, H) as the softmax sees them, state
        _, out, state = self.top_outputs(inputs, state)
        return out, state

    def _dropout(self, x: torch.Tensor, p: float) -> torch.Tensor:
        return (locked_dropout if self.cfg.locked_dropout else element_dropout)(x, p, self.training)

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor, state, outputs: bool = False):
        """(B, T) inputs and targets -> ((B, T) log p(target), state); with outputs=True also
        (raw, dropped): the top layer's outputs before and after output dropout, (B, T, H) each,
        for activation regularisation (lmkit.train.penalties)."""
        raw, dropped, state = self.top_outputs(inputs, state)
        logp = self.head.target_logprobs(dropped, targets)
        return (logp, state, (raw, dropped)) if outputs else (logp, state)

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
        return self.config_of(self.cfg)

    @staticmethod
    def config_of(cfg: "RNNConfig") -> dict:
        """What config.json records of a model of this shape: its kind and settings."""
        return {"kind": cfg.cell, "model": asdict(cfg)}

    def save(self, directory: Path, direction: str | None = None) -> None:
        tied = frozenset({TIED}) if self.cfg.tie_weights else frozenset()  # the same tensor as embedding.weight
        save_tensors(self, Path(directory), weights_record(self.kind, direction or "forward", self.cfg), leave_out=tied)

    @classmethod
    def load(cls, directory: Path, config: dict, vocab: Vocab) -> "RNNLM":
        where = Path(directory) / "config.json"
        try:
            settings = RNNConfig.from_dict(config.get("model") or {})
        except ConfigError as exc:
            raise CheckpointError(f"{where}: invalid model settings: {exc}") from exc
        if config.get("kind") != settings.cell:  # the kind names the class, the cell builds it: one model
            raise CheckpointError(f"{where}: \"kind\": {json.dumps(config.get('kind'))} does not fit \"model\": "
                                  f"{{\"cell\": {json.dumps(settings.cell)}}} (was config.json edited?)")
        expected = planned_shapes(lambda: cls(vocab, settings), where)
        if settings.tie_weights:
            expected.pop(TIED)
        tensors = load_weights(Path(directory) / WEIGHTS_FILE, expected, optional=frozenset({TIED}),
                               record=weights_record(settings.cell, config.get("direction", "forward"), settings),
                               config=config)
        model = cls(vocab, settings)
        model.load_state_dict(dict(sorted(tensors.items())), strict=False)
        return model

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        expected = {name: tuple(t.shape) for name, t in self.state_dict().items()}
        if self.cfg.tie_weights:
            expected.pop(TIED)
        check_shapes({name: tuple(t.shape) for name, t in state_dict.items()}, expected, optional=frozenset({TIED}))
        return super().load_state_dict(state_dict, strict=False, assign=assign)
