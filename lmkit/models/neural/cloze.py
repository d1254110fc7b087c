"""ClozeRNN: the tutorials' bidirectional RNN, predicting each token of a line from both sides of it.

Two recurrent stacks with no input or recurrent weight shared between them, one
reading the line left to right, one right to left (`<s> x_1 .. x_n </s>` =
x_0 .. x_{L-1}); both read the same word vectors x_t, rows of one embedding table
(`--no-shared-embedding`: a table each):

    A_t  = f(U  x_t + W  A_{t-1})          # forward state: has read x_0 .. x_t       (B, L, H)
    A'_t = f(U' x_t + W' A'_{t+1})         # backward state: has read x_t .. x_{L-1}  (B, L, H)
    y_t  = softmax(V A_{t-1} + V' A'_{t+1} + c)       for t = 1 .. L-1, A'_L = 0    (--join sum)

so the prediction at t sees every token but x_t itself (a cloze, or fill-in-the-blank,
distribution p(x_t | x_{!=t})). In that form each side adds its own term to the
logits: the left context can favour 买 and the right context 一部新手机 can favour
it too, but no unit sees both at once. `--join layer` (the default) adds one hidden
layer reading both states, so the two sides meet before the output:

    S_t  = [A_{t-1}; A'_{t+1}]                        # (B, L-1, 2H)
    J_t  = S_t + N tanh(M S_t + m)                    # (B, L-1, 2H), N = 0 at the start
    y_t  = softmax([V V'] J_t + c)

(context2vec, Melamud et al. 2016, also joins the two sides of a BiLSTM with a hidden
layer). `--join project` makes that layer the only way through, H wide, so the softmax
reads H features where the other two read 2H, and costs what one direction's does:

    P_t  = tanh(M S_t + m)                            # (B, L-1, H)
    y_t  = softmax(V P_t + c)

`--layers` stacks each direction on its own: torch's
bidirectional=True would feed both directions of layer 1 to layer 2, and the forward
state at t-1 would then have seen x_t through the backward half.

It is not a left-to-right language model (no `step`): it implements the cloze
protocol (lmkit.models.base.ClozeModel). Training gives it batches of whole lines
of similar length (lmkit.train.line_batches), every line of the training text once an epoch.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from lmkit.config.settings import check_settings, same_setting, setting
from lmkit.errors import CheckpointError, ConfigError
from lmkit.files.reading import open_regular
from lmkit.models import BOTH_WAYS
from lmkit.models.neural.dropouts import drop_words
from lmkit.models.neural.heads import HEADS, check_adaptive_features, resolved_softmax
from lmkit.models.neural.recurrence import RecurrentDrops, run_layers
from lmkit.models.neural.rnn import CELLS, RNNConfig
from lmkit.models.neural.weight_files import WEIGHTS_FILE, save_tensors
from lmkit.models.neural.weights import Shapes, load_weights, planned_shapes, read_header
from lmkit.models.saved_record import EDITED, weights_record
from lmkit.text.vocab import Vocab

# model name (config.json "kind") -> the recurrent cell of each direction
CLOZE_CELLS: dict[str, str] = {"birnn": "rnn_tanh", "bigru": "gru", "bilstm": "lstm"}
JOINS = ("sum", "layer", "project")
# what a config.json saved before each option existed was built with: the sum form, an embedding per direction
BEFORE_OPTIONS = {"join": "sum", "shared_embedding": False, "softmax": "full"}
# the settings that decide which weights a model has (not only their sizes): each value's, for naming a misfit
STRUCTURE = {"join": JOINS, "shared_embedding": (True, False), "softmax": tuple(HEADS)}


@dataclass
class ClozeConfig:
    CLI_NAME: ClassVar[str] = "birnn/bigru/bilstm"
    ARCHITECTURE: ClassVar[tuple[str, ...]] = ("emb_size", "hidden_size", "layers", "softmax", "join",
                                               "shared_embedding")  # in its weights' record

    kind: str = setting("bilstm", "Bidirectional model.", choices=tuple(CLOZE_CELLS), cli=False)  # chosen by --model
    # the network's knobs mean what they mean for RNNLM: declared there once
    emb_size: int = same_setting(RNNConfig, "emb_size")
    hidden_size: int = same_setting(RNNConfig, "hidden_size")
    layers: int = same_setting(RNNConfig, "layers")
    dropout: float = same_setting(RNNConfig, "dropout")
    emb_dropout: float = same_setting(RNNConfig, "emb_dropout")
    out_dropout: float = same_setting(RNNConfig, "out_dropout")
    word_dropout: float = same_setting(RNNConfig, "word_dropout")
    weight_drop: float = same_setting(RNNConfig, "weight_drop")
    softmax: str = same_setting(RNNConfig, "softmax")
    join: str = setting("layer", "How the two directions meet before the softmax: sum (the tutorials' "
                        "softmax(V A + V' A' + c)), layer (a tanh layer over both states added first) or "
                        "project (the softmax reads only a tanh layer of --hidden-size units over both "
                        "states: half the softmax's work).", choices=JOINS)
    shared_embedding: bool = setting(True, "One embedding table for both directions: the word vector x_t each "
                                     "reads is the same, their input and recurrent weights (U, W and U', W') "
                                     "stay separate. --no-shared-embedding gives each direction its own.")
    mask_rate: float = setting(0.0, "Training only: read this share of each line's tokens as <unk>, as the unfilled "
                               "places of a blank of several tokens are read when it is filled (their "
                               "predictions still target the true tokens).", low=0, high=1, high_open=True)

    @property
    def features(self) -> int:
        """What the softmax reads at each position: both directions' states (2H), or their projection (H)."""
        return self.hidden_size if self.join == "project" else 2 * self.hidden_size

    def validate(self) -> None:
        check_settings(self)
        if self.softmax == "adaptive":  # say where too few features are left for its tails
            check_adaptive_features(self.features, f"--hidden-size {self.hidden_size}" if self.join == "project"
                                    else f"2 x --hidden-size {self.hidden_size}, one per direction")

    def for_vocabulary(self, vocab_size: int) -> "ClozeConfig":
        """This config with --softmax auto resolved for a vocabulary of `vocab_size` types (RNNConfig's rule)."""
        return replace(self, softmax=resolved_softmax(self.softmax, vocab_size, self.features))

    @classmethod
    def from_dict(cls, obj: dict) -> "ClozeConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{**BEFORE_OPTIONS, **{k: v for k, v in obj.items() if k in known}})


def reversal_index(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(N, L) index reversing each row within its length (padding stays put); its own inverse."""
    t = torch.arange(width, device=lengths.device)[None, :]           # (1, L)
    flipped = lengths[:, None] - 1 - t                                # (N, L)
    return torch.where(t < lengths[:, None], flipped, t)


class JoinLayer(nn.Module):
    """S = [A; A'] -> S + N tanh(M S + m): the states plus what one hidden layer reading both sides adds.

    N starts at zero, so a new model starts as the sum form and learns the interaction on top of it."""

    def __init__(self, size: int, hidden: int):
        super().__init__()
        self.read = nn.Linear(size, hidden)               # M, m
        self.write = nn.Linear(hidden, size, bias=False)  # N
        nn.init.zeros_(self.write.weight)

    def forward(self, states: torch.Tensor) -> torch.Tensor:  # (..., 2H) -> (..., 2H)
        return states + self.write(torch.tanh(self.read(states)))


class Projection(nn.Module):
    """S = [A; A'] -> tanh(M S + m): one hidden layer over both sides, all the softmax reads."""

    def __init__(self, size: int, hidden: int):
        super().__init__()
        self.read = nn.Linear(size, hidden)               # M, m

    def forward(self, states: torch.Tensor) -> torch.Tensor:  # (..., 2H) -> (..., H)
        return torch.tanh(self.read(states))


JOIN_MODULES = {"sum": lambda size, hidden: nn.Identity(), "layer": JoinLayer, "project": Projection}


class ClozeRNN(nn.Module):
    """Bidirectional recurrent cloze model (see the module docstring)."""

    cloze = True  # the ClozeModel capability: no left-to-right `step`

    def __init__(self, vocab: Vocab, config: ClozeConfig):
        super().__init__()
        config.validate()
        config = config.for_vocabulary(len(vocab))
        self.vocab, self.cfg, self.kind = vocab, config, config.kind
        self.embedding = self._embedding() if config.shared_embedding else None  # x_t, read by both
        self.forward_reader = self._direction()   # U, W
        self.backward_reader = self._direction()  # U', W'
        self.emb_drop = nn.Dropout(config.emb_dropout)
        self.drops = RecurrentDrops(weight=config.weight_drop)  # DropConnect on each direction's W (W')
        self.out_drop = nn.Dropout(config.out_dropout)
        self.join = JOIN_MODULES[config.join](2 * config.hidden_size, config.hidden_size)
        self.head = HEADS[config.softmax](config.features, len(vocab))               # [V V'] J + c, or V P + c

    def _embedding(self) -> nn.Embedding:
        embedding = nn.Embedding(len(self.vocab), self.cfg.emb_size)
        nn.init.uniform_(embedding.weight, -0.1, 0.1)
        return embedding

    def _direction(self) -> nn.ModuleDict:
        cfg = self.cfg
        module, extra = CELLS[CLOZE_CELLS[cfg.kind]]
        rnn = module(cfg.emb_size, cfg.hidden_size, cfg.layers, batch_first=True,
                     dropout=cfg.dropout if cfg.layers > 1 else 0.0, **extra)
        if cfg.shared_embedding:
            return nn.ModuleDict({"rnn": rnn})
        return nn.ModuleDict({"embedding": self._embedding(), "rnn": rnn})

    def _read(self, reader: nn.ModuleDict, ids: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        # ids (N, L) and their word vectors (N, L, E) -> (N, L, H); each direction draws its own word and weight masks
        x = self.emb_drop(drop_words(vectors, ids, len(self.vocab), self.cfg.word_dropout, self.training))
        out, _ = run_layers(reader["rnn"], (), x, None, self.drops, self.training)
        return out

    def features(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(N, L) framed lines -> what the softmax reads at the predicted positions t = 1 .. L-1:
        (N, L-1, 2H): [A_{t-1}; A'_{t+1}] (--join sum) or J_t (--join layer); (N, L-1, H): P_t (--join project)."""
        order = reversal_index(lengths, ids.shape[1])                                # (N, L)
        reversed_ids = ids.gather(1, order)
        if self.embedding is not None:  # one table, looked up once: its backward pass runs once, not per direction
            vectors = self.embedding(ids)                                            # (N, L, E)
            reversed_vectors = vectors.gather(1, order[:, :, None].expand_as(vectors))
        else:
            vectors = self.forward_reader["embedding"](ids)
            reversed_vectors = self.backward_reader["embedding"](reversed_ids)
        forward_states = self._read(self.forward_reader, ids, vectors)               # A_t
        backward = self._read(self.backward_reader, reversed_ids, reversed_vectors)  # reversed in time
        index = order[:, :, None].expand_as(backward)
        backward_states = backward.gather(1, index)                                  # A'_t, back in place
        inside = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]
        backward_states = backward_states * inside[:, :, None].to(backward_states.dtype)  # A'_t = 0 past the line
        after = torch.cat([backward_states[:, 2:], torch.zeros_like(backward_states[:, :1])], dim=1)  # A'_{t+1}
        return self.join(self.out_drop(torch.cat([forward_states[:, :-1], after], dim=2)))

    # --- the cloze protocol -----------------------------------------------------------
    def cloze_logprobs(self, ids: torch.Tensor, lengths: torch.Tensor | None = None,
                       at: int | None = None) -> torch.Tensor:
        """(N, L) framed lines `<s> .. </s>` -> (N, L, V) log p(x_t | every other token of its line); with `at`
        (1 .. L-1), only that position's (N, V): the softmax is read there alone, not at every place.

        Position 0 (`<s>`) and the padding past each length are not predictions: they hold zeros.
        """
        if lengths is None:
            lengths = torch.full((ids.shape[0],), ids.shape[1], dtype=torch.long, device=ids.device)
        feats = self.features(ids, lengths)                                           # (N, L-1, 2H)
        if at is not None:
            if isinstance(at, bool) or not isinstance(at, int) or not 1 <= at < ids.shape[1]:
                raise ValueError(f"at must be a predicted position, 1 .. {ids.shape[1] - 1}, got {at}")
            logp = self.head.log_probs(feats[:, at - 1])                              # (N, V)
            return logp * (at < lengths)[:, None].to(logp.dtype)                     # past a line's end: zeros
        logp = self.head.log_probs(feats.reshape(-1, feats.shape[-1])).view(*feats.shape[:2], -1)
        logp = torch.cat([torch.zeros_like(logp[:, :1]), logp], dim=1)               # (N, L, V)
        inside = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]
        return logp * inside[:, :, None].to(logp.dtype)

    def cloze_targets(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(N, L) framed lines -> (N, L-1) log p(x_t | the others) of the tokens there, t = 1 .. L-1."""
        return self.head.target_logprobs(self.features(ids, lengths), ids[:, 1:])

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor, state=()):
        """The trainer's view: a batch of framed lines, ids (N, L) and lengths (N,) (lmkit.train.line_batches)
        -> ((n,) log-probs of the n predicted tokens, padding left out; state `()`: nothing is carried)."""
        if ids.shape[0] == 0:  # a DDP rank's empty share of a batch: a zero loss that still reaches every weight
            return sum(p.sum() for p in self.parameters())[None] * 0.0, ()
        predicted = torch.arange(1, ids.shape[1], device=ids.device)[None, :] < lengths[:, None]  # (N, L-1)
        feats = self.features(self.masked(ids, lengths), lengths)[predicted]          # (n, 2H): no padding
        return self.head.target_logprobs(feats[None], ids[:, 1:][predicted][None])[0], ()

    def masked(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(N, L) framed lines with --mask-rate of their tokens (never `<s>`, `</s>` or padding) read as <unk>
        while training; unchanged in eval mode."""
        if not self.training or self.cfg.mask_rate == 0:
            return ids
        t = torch.arange(ids.shape[1], device=ids.device)[None, :]
        tokens = (t > 0) & (t < lengths[:, None] - 1)                                 # (N, L): not <s>, </s>, padding
        drawn = torch.rand(ids.shape, device=ids.device) < self.cfg.mask_rate
        return ids.masked_fill(tokens & drawn, self.vocab.unk_id)

    def init_state(self, batch_size: int):
        return ()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # --- persistence -------------------------------------------------------------------
    def config(self) -> dict:
        return {"kind": self.kind, "model": asdict(self.cfg)}

    def save(self, directory: Path, direction: str | None = None) -> None:
        save_tensors(self, Path(directory), weights_record(self.kind, direction or BOTH_WAYS, self.cfg))

    @classmethod
    def load(cls, directory: Path, config: dict, vocab: Vocab) -> "ClozeRNN":
        directory = Path(directory)
        where = directory / "config.json"
        written = config.get("model") or {}
        if written.get("kind", config.get("kind")) != config.get("kind"):  # which one built it? neither, refused
            raise CheckpointError(f"{where}: \"kind\": {json.dumps(config.get('kind'))} and \"model\": "
                                  f"{{\"kind\": {json.dumps(written.get('kind'))}}} differ (was config.json edited?)")
        try:
            settings = ClozeConfig.from_dict({**written, "kind": config.get("kind")})
        except (ConfigError, TypeError) as exc:
            raise CheckpointError(f"{where}: invalid model settings: {exc}") from exc
        expected = planned_shapes(lambda: cls(vocab, settings), where)
        try:
            tensors = load_weights(directory / WEIGHTS_FILE, expected, config=config,
                                   record=weights_record(settings.kind, config.get("direction", BOTH_WAYS), settings))
        except CheckpointError as exc:
            raise structure_misfit(directory, vocab, settings, expected, written) or exc from None
        model = cls(vocab, settings)
        model.load_state_dict(tensors)
        return model


def structure_misfit(directory: Path, vocab: Vocab, settings: ClozeConfig, expected: Shapes,
                     written: dict) -> CheckpointError | None:
    """The error naming config.json's settings (STRUCTURE) when the weights file holds the weights of other values
    of them (a hand-edited or deleted "join", "shared_embedding" or "softmax"); None when no such values explain
    the misfit, or when the file records what it was saved with (saved_record: its check has spoken). For files
    saved before that record. `written`: config.json's "model" object as read, to tell a deleted key from an
    edited one."""
    path, where = directory / WEIGHTS_FILE, directory / "config.json"
    try:
        with open_regular(path, CheckpointError) as handle:
            shapes, metadata = read_header(handle, path)
    except CheckpointError:
        return None
    names = set(shapes)
    if "architecture" in metadata or names == set(expected):  # the file's record spoke (saved_record), or the names
        return None                                            # fit: a size or the file is wrong, as load_weights said
    if not written:  # "model": null or {}: every setting read as its default
        return CheckpointError(f"{where}: \"model\" holds no settings, and the defaults do not fit {WEIGHTS_FILE} "
                               f"{EDITED}")
    for values in itertools.product(*STRUCTURE.values()):
        other = replace(settings, **dict(zip(STRUCTURE, values)))
        try:
            fits = set(planned_shapes(lambda: ClozeRNN(vocab, other), where)) == names
        except CheckpointError:  # a form this vocabulary cannot have (an adaptive softmax under 1,000 types)
            continue
        if fits:
            keys = [key for key in STRUCTURE if getattr(other, key) != getattr(settings, key)]
            said = ", ".join(f"\"{key}\": {json.dumps(getattr(settings, key))}" if key in written else
                             f"no \"{key}\" (read as {json.dumps(getattr(settings, key))}, as saved before it existed)"
                             for key in keys)
            held = ", ".join(f"\"{key}\": {json.dumps(getattr(other, key))}" for key in keys)
            verb = "do" if len(keys) > 1 else "does"
            return CheckpointError(f"{where}: {said} {verb} not fit {WEIGHTS_FILE}, which holds the weights of {held} "
                                   f"{EDITED}")
    return None
