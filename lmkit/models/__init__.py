"""Stage: the models, and their registry: one place maps a `kind` name (as written in config.json) to its class.

    base          the LanguageModel protocol (init_state, step, score) every model implements
    neural        recurrent models (torch) and the hand-written Elman RNN; ngram: N-gram models, ARPA in and out
    mix           linear interpolation of any LanguageModels over one vocabulary
    saved_record  what a weights file records of the model that saved it; weights_kind: which family's file it is

Classes are imported on first use, so loading an N-gram directory does not
import the RNN code and vice versa. Every registered class provides

    config() -> dict                               # JSON hyperparameters, "kind" included
    save(directory: Path, direction=None) -> None  # its weight files, written atomically, recording what
                                                   # saved them (lmkit.models.saved_record; None: its usual way)
    load(directory: Path, config: dict, vocab)     # classmethod, the inverse; config.json held against that record
"""
from __future__ import annotations

import importlib

from lmkit.errors import ConfigError

MODEL_KINDS: dict[str, str] = {
    "rnn_tanh": "lmkit.models.neural.rnn:RNNLM",
    "rnn_relu": "lmkit.models.neural.rnn:RNNLM",
    "gru": "lmkit.models.neural.rnn:RNNLM",
    "lstm": "lmkit.models.neural.rnn:RNNLM",
    "scratch-rnn": "lmkit.models.neural.scratch:ScratchRNN",
    "birnn": "lmkit.models.neural.cloze:ClozeRNN",
    "bigru": "lmkit.models.neural.cloze:ClozeRNN",
    "bilstm": "lmkit.models.neural.cloze:ClozeRNN",
    "ngram": "lmkit.models.ngram.model:NGramLM",
    "interpolated": "lmkit.models.mix:Interpolated",
}

# the bidirectional (cloze) kinds: their config.json says "direction": "both" (before that fix, "forward")
CLOZE_KINDS = tuple(kind for kind, where in MODEL_KINDS.items() if where.endswith(":ClozeRNN"))
BOTH_WAYS = "both"


def model_class(kind: str):
    """The class registered for `kind`; ConfigError listing the known kinds otherwise."""
    if kind not in MODEL_KINDS:
        raise ConfigError(f"unknown model kind {kind!r}; choose one of {', '.join(MODEL_KINDS)}")
    module_name, class_name = MODEL_KINDS[kind].split(":")
    return getattr(importlib.import_module(module_name), class_name)
