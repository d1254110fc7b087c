"""Model builders for `lmkit train --model NAME`: one registry, one function per family."""
from __future__ import annotations

from lmkit.errors import ConfigError
from lmkit.vocab import Vocab


def build_rnn(vocab: Vocab, opts: dict):
    from lmkit.models.rnn import RNNConfig, RNNLM

    return RNNLM(vocab, RNNConfig(
        cell=opts["model"], emb_size=opts["emb_size"], hidden_size=opts["hidden_size"], layers=opts["layers"],
        dropout=opts["dropout"], emb_dropout=opts["emb_dropout"], out_dropout=opts["out_dropout"],
        tie_weights=opts["tie_weights"], softmax=opts["softmax"],
    ))


def build_scratch(vocab: Vocab, opts: dict):
    from lmkit.models.scratch import ScratchConfig, ScratchRNN

    if opts["layers"] != 1:
        raise ConfigError(f"--model scratch-rnn has one layer, got --layers {opts['layers']}")
    return ScratchRNN(vocab, ScratchConfig(
        hidden_size=opts["hidden_size"], emb_size=opts["emb_size"] or None, nonlinearity=opts["nonlinearity"],
        bptt_truncate=opts["bptt_truncate"], seed=opts["seed"],
    ))


MODEL_BUILDERS = {
    "lstm": build_rnn,
    "gru": build_rnn,
    "rnn_tanh": build_rnn,
    "rnn_relu": build_rnn,
    "scratch-rnn": build_scratch,
}
TRAINABLE = tuple(MODEL_BUILDERS)
MODEL_CHOICES = TRAINABLE + ("ngram",)

# the click parameters that describe a model, and those each --model reads (the others would be ignored)
MODEL_PARAMS = ("emb_size", "hidden_size", "layers", "dropout", "emb_dropout", "out_dropout", "softmax", "tie_weights",
                "nonlinearity", "bptt_truncate", "order", "smoothing", "add_k")
RNN_PARAMS = ("emb_size", "hidden_size", "layers", "dropout", "emb_dropout", "out_dropout", "softmax", "tie_weights")
PARAMS_USED = {**{cell: RNN_PARAMS for cell in ("lstm", "gru", "rnn_tanh", "rnn_relu")},
               "scratch-rnn": ("emb_size", "hidden_size", "layers", "nonlinearity", "bptt_truncate"),
               "ngram": ("order", "smoothing", "add_k")}


def unused_params(model: str) -> list[str]:
    """The model parameters that --model `model` does not read."""
    return [name for name in MODEL_PARAMS if name not in PARAMS_USED[model]]


def build_model(vocab: Vocab, opts: dict):
    if len(vocab) <= 4:
        raise ConfigError("the vocabulary holds only the special tokens: the training text is empty or every "
                          "token falls below --min-freq")
    return MODEL_BUILDERS[opts["model"]](vocab, opts)
