"""lmkit: train, sample and compare recurrent and N-gram language models.

The public API. Names are imported on first use (PEP 562), so `import lmkit`
and the `lmkit` command start without loading torch.
"""
from __future__ import annotations

import importlib

from lmkit.config.machine import keep_compiled_kernels

keep_compiled_kernels()  # before torch compiles a kernel (lmkit.config.machine)

# public name -> module that defines it
_EXPORTS = {
    "LmkitError": "lmkit.errors",
    "CORPORA": "lmkit.corpus.catalog",
    "get_corpus": "lmkit.corpus.catalog",
    "get_tokenizer": "lmkit.text.tokenizer_cache",
    "Vocab": "lmkit.text.vocab",
    "fit_tokenizer": "lmkit.text.tokenizers",
    "load_tokenizer": "lmkit.text.tokenizers",
    "encode_lines": "lmkit.text.encode",
    "encoded_split": "lmkit.text.id_cache",
    "LanguageModel": "lmkit.models.base",
    "RNNConfig": "lmkit.models.neural.rnn",
    "RNNLM": "lmkit.models.neural.rnn",
    "ScratchConfig": "lmkit.models.neural.scratch",
    "ScratchRNN": "lmkit.models.neural.scratch",
    "NGramLM": "lmkit.models.ngram.model",
    "build_ngram": "lmkit.models.ngram.model",
    "Interpolated": "lmkit.models.mix",
    "TrainConfig": "lmkit.train.config",
    "Trainer": "lmkit.train.trainer",
    "save_model": "lmkit.checkpoint.save_load",
    "load_model": "lmkit.checkpoint.save_load",
    "open_model": "lmkit.checkpoint.model_source",
    "SamplingConfig": "lmkit.generate.sampling",
    "sample": "lmkit.generate.sampling",
    "decode": "lmkit.generate.decode",
    "beam_search": "lmkit.generate.beam",
    "stream_nll": "lmkit.evaluate.perplexity",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lmkit' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
