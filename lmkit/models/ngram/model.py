"""NGramLM: count-based language models over the same vocabulary and ids as the neural ones.

    model = NGramLM(vocab, order=5, smoothing="kn").fit(stream)   # stream: lmkit.text.encode.encode_lines(...)
    model.score(ids)            # (B, T) -> (B, T-1) natural log-probs, vectorised
    model.step(ids, state)      # (B,) -> (B, V) next-token log-probs, for sampling
    model.score_stream(stream)  # (N,) log-prob of every token of an id stream, as evaluation counts them

Counting (count.py) and smoothing (smoothing.py) produce backoff tables
(tables.py), which is also what an ARPA file holds (arpa.py), so a model
read from KenLM's ARPA and one estimated here score the same way. Saved as
model.ngram.npz (plain arrays, no pickles) beside config.json.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from lmkit.config.settings import check_value, knobs, named, setting
from lmkit.errors import CheckpointError, ConfigError
from lmkit.files.writing import atomic_write
from lmkit.models.ngram.count import count_ngrams
from lmkit.models.ngram.smoothing import SMOOTHINGS, predictable_size, smoothing_function
from lmkit.models.ngram.store import RECORD, read_tables
from lmkit.models.ngram.tables import LN10, BackoffTables
from lmkit.models.saved_record import weights_record
from lmkit.text.vocab import BOS_ID, Vocab

MAX_ORDER = 10
WEIGHTS_FILE = "model.ngram.npz"
DIRECTIONS = ("forward", "backward")
IMPORTED = "arpa"  # the smoothing of a model read from an ARPA file: scored as the file says, never re-fitted


@dataclass
class NGramConfig:
    """The estimation choices of an N-gram model (`lmkit ngram` and `lmkit train --model ngram` options)."""

    CLI_NAME: ClassVar[str] = "ngram"

    order: int = setting(5, "The N in N-gram.", low=1, high=MAX_ORDER)
    smoothing: str = setting("kn", "Modified Kneser-Ney, add-k (Laplace/Lidstone) or unsmoothed maximum likelihood.",
                             choices=tuple(SMOOTHINGS))
    k: float = setting(1.0, "add-k: the k added to every count (1 = Laplace).", low=0, low_open=True, high=1e6)


def refuse_unused_k(given: set[str], smoothing: str, k: float) -> None:
    """--k given with a smoothing that has no k would be ignored without a word: refused (the CLI's rule)."""
    if "k" in given and smoothing != "add-k":
        raise ConfigError(f"--k {k:g} does not apply to --smoothing {smoothing} (it is add-k's constant); drop it, "
                          "or use --smoothing add-k")


class NGramLM:
    """An order-N backoff language model implementing the LanguageModel protocol (natural-log outputs)."""

    kind = "ngram"
    ARCHITECTURE = ("order", "smoothing", "k")  # in its tables' record (saved_record)

    def __init__(self, vocab: Vocab, order: int = NGramConfig.order, smoothing: str = NGramConfig.smoothing,
                 k: float = NGramConfig.k, direction: str = "forward"):
        check_options(order, smoothing, k, direction)
        self.vocab = vocab
        self.order = int(order)
        self.smoothing = smoothing
        self.k = float(k)
        self.direction = direction
        self.tables: BackoffTables | None = None
        self.details: dict = {}

    # --- estimation ---------------------------------------------------------------
    def fit(self, stream: np.ndarray, memory: int | None = None, workdir: str | Path | None = None) -> "NGramLM":
        """Count and smooth an id stream whose lines end with `</s>`.

        memory: a budget in bytes for counting on disk in sorted runs (corpora larger than RAM);
        None counts in memory. Both give the same model.
        """
        if len(stream) == 0:
            raise ConfigError("the N-gram training text is empty: nothing to count")
        if memory is None:
            counts = count_ngrams(stream, len(self.vocab), self.order)
        else:
            from lmkit.models.ngram.external_count import count_ngrams_external

            counts = count_ngrams_external(stream, len(self.vocab), self.order, memory, workdir)
        if counts.orders[0].raw.sum() == 0:
            raise ConfigError("the N-gram training text has no tokens to predict")
        self.tables, self.details = smoothing_function(self.smoothing)(counts, predictable_size(len(self.vocab)), self.k)
        return self

    @classmethod
    def from_tables(cls, vocab: Vocab, tables: BackoffTables, smoothing: str = IMPORTED, **details) -> "NGramLM":
        model = cls(vocab, order=tables.order, smoothing=smoothing)
        model.tables = tables
        model.details = dict(details)
        return model

    def fitted(self) -> BackoffTables:
        if self.tables is None:
            raise ConfigError("this N-gram model has not been estimated yet: call fit(stream) first")
        return self.tables

    # --- the LanguageModel protocol ----------------------------------------------
    def init_state(self, batch_size: int) -> torch.Tensor:
        """(B, N-1) indices of the history's suffixes; all -1: nothing seen yet (feed `<s>` next)."""
        return torch.full((batch_size, self.order - 1), -1, dtype=torch.long)

    def step(self, ids: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tables = self.fitted()
        history = tables.advance(as_numpy(state), as_numpy(ids))
        logp = tables.distribution(history) * LN10  # (B, V)
        return torch.from_numpy(logp.astype(np.float32)), torch.from_numpy(history)

    def score_targets(self, inputs: torch.Tensor, targets: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) log p(targets[:, t] | everything up to inputs[:, t]) and the state after inputs."""
        tables = self.fitted()
        inputs_np, targets_np, state_np = as_numpy(inputs), as_numpy(targets), as_numpy(state)
        if inputs_np.shape[1] == 0:
            return torch.zeros(inputs_np.shape, dtype=torch.float32), state
        if np.array_equal(inputs_np[:, 1:], targets_np[:, :-1]):  # one pass over inputs + the last target
            words = np.concatenate([inputs_np, targets_np[:, -1:]], axis=1)
            found, contexts = tables.walk(words, state_np)
            logp10, _ = tables.backoff_scores([f if f is None else f[:, 1:] for f in found],
                                              [c if c is None else c[:, 1:] for c in contexts])
            after = tables.state_after(found, words, -2)
        else:
            found, _ = tables.walk(inputs_np, state_np, top=self.order - 1)
            history = [tables.after(found[j], inputs_np, j) for j in range(1, self.order)]
            logp10, _ = tables.score_next(targets_np, history)
            after = tables.state_after(found, inputs_np, -1)
        return torch.from_numpy((logp10 * LN10).astype(np.float32)), torch.from_numpy(after)

    def score(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, T-1) log p(ids[:, t+1] | ids[:, :t+1]), rows starting from `init_state`."""
        logp, _ = self.score_targets(ids[:, :-1], ids[:, 1:], self.init_state(ids.shape[0]))
        return logp

    def select_state(self, state: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return state.index_select(0, index.to(state.device))

    # --- whole streams --------------------------------------------------------------
    def full_scores(self, stream: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N,) log10 p of every token of an id stream (the first one after `<s>`), and the n-gram order used."""
        tables = self.fitted()
        words = np.concatenate([[BOS_ID], np.asarray(stream, dtype=np.int64)])[None, :]
        logp10, matched, _ = tables.score_stream(words, tables.start_state(1))
        return logp10[0, 1:], matched[0, 1:]

    def score_stream(self, stream: np.ndarray) -> np.ndarray:
        """(N,) natural log p of every token of an id stream, each line scored after `<s>` (KenLM's bos/eos)."""
        return self.full_scores(stream)[0] * LN10

    def ngram_counts(self) -> list[int]:
        """The n-grams of each order, as the ARPA file lists them: the 1-grams are the vocabulary's words but <pad>,
        which the model never reads nor predicts (its tables keep a row for every id)."""
        return [len(self.vocab) - 1] + self.fitted().sizes()[1:]

    # --- persistence ------------------------------------------------------------------
    def config(self) -> dict:
        return {"kind": self.kind, "order": self.order, "smoothing": self.smoothing, "k": self.k,
                "direction": self.direction, "ngrams": self.ngram_counts(), "weights": WEIGHTS_FILE, **self.details}

    def save(self, directory: str | Path, direction: str | None = None) -> None:
        """Write the tables, and the record of what they are (saved_record), to model.ngram.npz; `direction`, which
        a neural model is told, an N-gram knows (self.direction)."""
        tables = self.fitted()
        arrays = {RECORD: np.array(json.dumps(weights_record(self.kind, self.direction, self)))}
        for n in range(1, tables.order + 1):
            arrays[f"keys{n}"], arrays[f"logp{n}"], arrays[f"logbo{n}"] = tables.keys[n - 1], tables.logp[n - 1], tables.logbo[n - 1]
        with atomic_write(Path(directory) / WEIGHTS_FILE, "wb") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, directory: str | Path, config: dict, vocab: Vocab) -> "NGramLM":
        if "order" not in config:  # every N-gram's config.json names its order: read as 0, it was called a bad option
            raise CheckpointError(f"{Path(directory) / 'config.json'}: no \"order\": an N-gram's config.json names "
                                  "its order (was config.json edited?)")
        try:
            model = cls(vocab, order=config["order"], smoothing=config.get("smoothing", "kn"),
                        k=config.get("k", 1.0), direction=config.get("direction", "forward"))
        except ConfigError as exc:
            raise CheckpointError(f"{Path(directory) / 'config.json'}: {exc}") from exc
        model.tables = read_tables(Path(directory) / WEIGHTS_FILE, model.order, len(vocab),
                                   record=weights_record(cls.kind, model.direction, model), config=config)
        model.details = {key: config[key] for key in ("discounts", "source") if key in config}
        return model


def build_ngram(stream: np.ndarray, vocab: Vocab, order: int = NGramConfig.order, smoothing: str = NGramConfig.smoothing,
                k: float = NGramConfig.k, direction: str = "forward", memory: int | None = None) -> NGramLM:
    """An N-gram model estimated from an id stream (lmkit.text.encode.encode_lines; reversed lines for backward)."""
    return NGramLM(vocab, order=order, smoothing=smoothing, k=k, direction=direction).fit(stream, memory=memory)


def check_options(order, smoothing: str, k, direction: str) -> None:
    """The settings NGramConfig declares, held to their declarations (one source of their bounds); a model read from
    an ARPA file has the smoothing IMPORTED, which no option asks for."""
    knob = {knob.name: knob for knob in knobs(NGramConfig)}
    check_value(knob["order"], order)
    if smoothing != IMPORTED:
        check_value(knob["smoothing"], smoothing)
    check_value(knob["k"], k)
    if direction not in DIRECTIONS:
        raise ConfigError(f"{named('--direction')} must be one of {', '.join(DIRECTIONS)}, got {direction!r}")


def as_numpy(tensor) -> np.ndarray:
    if isinstance(tensor, torch.Tensor):
        return tensor.detach().cpu().numpy().astype(np.int64, copy=False)
    return np.asarray(tensor, dtype=np.int64)
