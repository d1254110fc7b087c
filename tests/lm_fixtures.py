"""Small model directories on the tiny fixture corpora, shared by the evaluation and report tests."""
from __future__ import annotations

from pathlib import Path

import torch

from lmkit.checkpoint.learning_curve import append_metrics
from lmkit.checkpoint.save_load import save_model
from lmkit.text.id_cache import encoded_split


def rnn_dir(path: Path, corpus, tokenizer, cell: str = "lstm", seed: int = 0, curve: int = 3) -> Path:
    """An untrained (seeded) recurrent model saved like a trained one, with a made-up learning curve."""
    from lmkit.models.neural.rnn import RNNConfig, RNNLM

    torch.manual_seed(seed)
    model = RNNLM(tokenizer.vocab, RNNConfig(cell=cell, emb_size=8, hidden_size=16, layers=1))
    save_model(path, model, tokenizer, {"corpus": corpus.name, "train": {"command": f"lmkit train --model {cell}"}})
    for i in range(curve):
        append_metrics(path, {"step": 10 * (i + 1), "tokens": 1000 * (i + 1), "time": 1.5 * (i + 1),
                              "valid_ppl": 40.0 / (i + 1), "valid_bpc": 5.0 - i})
    return path


def ngram_dir(path: Path, corpus, tokenizer, order: int = 3, smoothing: str = "kn") -> Path:
    from lmkit.models.ngram.model import build_ngram

    model = build_ngram(encoded_split(corpus, tokenizer, "train"), tokenizer.vocab, order=order, smoothing=smoothing)
    return save_model(path, model, tokenizer, {"corpus": corpus.name})
