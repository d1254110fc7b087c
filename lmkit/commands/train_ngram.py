"""`lmkit train --model ngram`: the same N-gram build as `lmkit ngram`, reached from train's options."""
from __future__ import annotations

import click

# TokenizerSpec option name -> the click parameter of --tokenizer's options
TOKENIZER_PARAMS = {"vocab_size": "vocab_size", "model_type": "spm_type", "min_freq": "min_freq",
                    "max_size": "max_size", "lowercase": "lowercase", "segment": "segment"}


def train_ngram(corpus_spec, tokenizer_spec, opts: dict) -> int:
    import torch

    from lmkit.commands.ngram import command as ngram_command

    params = {"corpus": corpus_spec.name, "train": corpus_spec.train, "valid": corpus_spec.valid,
              "test": corpus_spec.test, "encoding_errors": corpus_spec.encoding_errors,
              "tokenizer": tokenizer_spec.kind, "order": opts["order"], "smoothing": opts["smoothing"],
              "k": opts["add_k"], "direction": opts["direction"], "out": opts["out"],
              "threads": torch.get_num_threads()}  # as train's --threads set them
    params.update({TOKENIZER_PARAMS[name]: value for name, value in tokenizer_spec.options.items()})
    if corpus_spec.name is None and not corpus_spec.train:
        params["corpus"] = corpus_spec.default
    click.get_current_context().invoke(ngram_command, **params)
    return 0
