"""lmkit: train, sample and compare recurrent and N-gram language models.

The public API. Names are imported on first use (PEP 562), so `import lmkit`
and the `lmkit` command start without loading torch.
"""
from __future__ import annotations

import importlib

# public name -> module that defines it
_EXPORTS = {
    "LmkitError": "lmkit.errors",
    "CORPORA": "lmkit.corpus",
    "get_corpus": "lmkit.corpus",
    "get_tokenizer": "lmkit.corpus",
    "Vocab": "lmkit.vocab",
    "fit_tokenizer": "lmkit.tokenizers",
    "load_tokenizer": "lmkit.tokenizers",
    "encode_lines": "lmkit.data",
    "encoded_split": "lmkit.data",
    "LanguageModel": "lmkit.models.base",
    "RNNConfig": "lmkit.models.rnn",
    "RNNLM": "lmkit.models.rnn",
    "ScratchConfig": "lmkit.models.scratch",
    "ScratchRNN": "lmkit.models.scratch",
    "NGramLM": "lmkit.models.ngram",
    "build_ngram": "lmkit.models.ngram",
    "Interpolated": "lmkit.models.mix",
    "TrainConfig": "lmkit.train_config",
    "Trainer": "lmkit.train",
    "save_model": "lmkit.checkpoint",
    "load_model": "lmkit.checkpoint",
    "open_model": "lmkit.model_source",
    "SamplingConfig": "lmkit.sampling",
    "sample": "lmkit.sampling",
    "beam_search": "lmkit.beam",
    "stream_nll": "lmkit.evaluate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lmkit' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
