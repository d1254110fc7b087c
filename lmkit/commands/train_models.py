"""What `lmkit train --model NAME` builds: one registry from model name to its config class and builder.

The config classes own every model option's default, help and check; `lmkit train` shows
the union of their options (lmkit.commands.options) and refuses one the chosen model lacks.
"""
from __future__ import annotations

from typing import Callable

from lmkit.commands.options import config_from, options_for_other_models
from lmkit.config.settings import knobs
from lmkit.errors import ConfigError
from lmkit.models.neural.cloze import ClozeConfig, ClozeRNN
from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.models.neural.scratch import ScratchConfig, ScratchRNN
from lmkit.models.ngram.model import NGramConfig, refuse_unused_k
from lmkit.text.vocab import Vocab
from lmkit.train.config import TrainConfig
from lmkit.train.presets import option_names

MODEL_FAMILIES: dict[str, type] = {
    "lstm": RNNConfig,
    "gru": RNNConfig,
    "rnn_tanh": RNNConfig,
    "rnn_relu": RNNConfig,
    "scratch-rnn": ScratchConfig,
    "bilstm": ClozeConfig,
    "bigru": ClozeConfig,
    "birnn": ClozeConfig,
    "ngram": NGramConfig,
}

# the options that describe a model (their saved values are in config.json's "model" object)
MODEL_PARAMS = tuple(dict.fromkeys(knob.name for cls in MODEL_FAMILIES.values() for knob in knobs(cls) if knob.rules.cli))


def build_rnn(name: str, vocab: Vocab, opts: dict, seed: int):
    return RNNLM(vocab, config_from(RNNConfig, opts, cell=name))


def build_scratch(name: str, vocab: Vocab, opts: dict, seed: int):
    return ScratchRNN(vocab, config_from(ScratchConfig, opts, seed=seed))


def build_cloze(name: str, vocab: Vocab, opts: dict, seed: int):
    return ClozeRNN(vocab, config_from(ClozeConfig, opts, kind=name))


BUILDERS: dict[type, Callable] = {RNNConfig: build_rnn, ScratchConfig: build_scratch, ClozeConfig: build_cloze}


def check_model_options(name: str, opts: dict, given: set[str]) -> None:
    """Refuse options the chosen model does not take (--nonlinearity with lstm, --layers with scratch-rnn,
    a training option such as --lr or --max-time with ngram, which counts instead of training)."""
    options_for_other_models(MODEL_FAMILIES[name], opts, given, MODEL_FAMILIES, name)
    if MODEL_FAMILIES[name] is NGramConfig:
        refuse_unused_k(given, opts["smoothing"], opts["k"])
        for option in ("sample_tokens", "quiet"):  # run options of a trained model: `lmkit ngram` has neither
            if option in given and opts.get(option):
                raise ConfigError(f"--{option.replace('_', '-')} does not apply to --model ngram (an N-gram model is "
                                  "counted, with no progress bar and no sample at the end)")
        training = [knob for knob in knobs(TrainConfig) if knob.rules.cli and knob.name in given]
        if training:
            first = min(training, key=lambda knob: knob.name)
            raise ConfigError(f"{first.spelled(opts.get(first.name))} does not apply to --model ngram (it is for the models "
                              "trained by gradient steps; an N-gram model is counted)")
    if MODEL_FAMILIES[name] is ClozeConfig and "direction" in given:  # forward too: it is not what it trains
        raise ConfigError(f"--direction {opts['direction']} does not apply to --model {name}: "
                          "a bidirectional model reads every line both ways")
    if "dropout" in given and opts.get("dropout") and opts.get("layers") == 1:
        raise ConfigError(f"--dropout {opts['dropout']:g} would be ignored: it drops between stacked layers and "
                          "--layers is 1; drop it, or use --emb-dropout / --out-dropout")


# Dropout on words and subwords, between stacked layers and before the softmax: side by side in 480 s (with the
# word defaults of lmkit.train.config) it took Shakespeare's word LSTM from test perplexity 130.7 to 111.9 (valid
# 136.1 to 130.7), and with weight decay 0.1 pku98's from 399.1 to 378.3 (benchmarks/RESULTS.md, "Word models by
# default"). Characters keep none: the main job's recipe was measured without it.
WORD_LEVEL_DROPOUT = {"dropout": 0.1, "out_dropout": 0.1}


def with_word_level_dropout(opts: dict, tokenizer_kind: str, chosen: set[str]) -> dict:
    """`opts` with WORD_LEVEL_DROPOUT on a word or subword vocabulary, for each option the model takes and neither
    the user nor a preset set (`chosen`); --dropout only between stacked layers (with one there is none)."""
    if tokenizer_kind == "char":
        return opts
    takes = {knob.name for knob in knobs(MODEL_FAMILIES[opts["model"]])}
    changes = {name: value for name, value in WORD_LEVEL_DROPOUT.items()
               if name in takes and name not in chosen and not (name == "dropout" and opts.get("layers") == 1)}
    return {**opts, **changes}


# A character LSTM trained on a CPU, unless in bf16 on AMX (so in fp32, or in bf16 on AVX512_BF16 units alone): one
# layer of 384. In the main job's 480 s, on 2-core AMD EPYCs (benchmarks/RESULTS.md, "One layer of 384 on a real
# AVX2-only CPU" and "One layer of 384 in bf16 without AMX"):
#   AVX2 only, fp32:      11.4M characters against 2 x 256's 9.3M, test 1.9250 bits/char against 1.9800;
#   AVX512_BF16, bf16:    25.5M characters against 20.0M, test 1.8645 against 1.8977 (valid 2.0398 against 2.0651).
# Its recurrence is one matmul a step, which bf16 runs 1.9 times as fast as fp32 there (2 x 256: 1.35 times). On AMX,
# where bf16 reads 3-5 times the characters, 2 x 256 at batch 32 stays: one layer was not measured there.
CPU_CHAR_MODEL = {"layers": 1, "hidden_size": 384}
CPU_CHAR_MODEL_NOTE = "the default for a character LSTM trained on a CPU, unless in bf16 on AMX"


def with_cpu_char_model(opts: dict, tokenizer_kind: str, cpu_without_amx: bool, chosen: set[str],
                        say: Callable[[str], None]) -> dict:
    """`opts` with CPU_CHAR_MODEL for a character LSTM trained on a CPU and not in bf16 on AMX (`cpu_without_amx`),
    each of --layers and --hidden-size where the user did not set it (`chosen`); --layers stays as it is under a
    dropout between layers, and both under a --preset, whose model is its own. `say` what was chosen, since --help
    cannot know the machine."""
    if tokenizer_kind != "char" or not cpu_without_amx or opts["model"] != "lstm" or opts.get("preset"):
        return opts
    changes = {name: value for name, value in CPU_CHAR_MODEL.items()
               if name not in chosen and not (name == "layers" and opts.get("dropout"))}
    if changes:
        spelled = {knob.name: knob.option for knob in knobs(RNNConfig)}
        say(f"note: using {option_names(changes)}, {CPU_CHAR_MODEL_NOTE} (give "
            f"{' or '.join(spelled[name] for name in changes)} to choose yourself)")
    return {**opts, **changes}


def refuse_idle_locked_dropout(opts: dict, given: set[str]) -> None:
    """ConfigError for --locked-dropout given where no dropout it shapes drops anything (`opts` with the word-level
    dropouts, with_word_level_dropout, applied): it changes how --emb-dropout, --dropout and --out-dropout draw
    their masks, and alone it would train exactly the model without it."""
    if "locked_dropout" not in given or not opts.get("locked_dropout"):
        return
    config = config_from(RNNConfig, opts)  # the only family with the option (check_model_options refuses it for others)
    between = config.dropout if config.layers > 1 else 0.0
    if not (config.emb_dropout or between or config.out_dropout):
        raise ConfigError("--locked-dropout would change nothing: it makes --emb-dropout, --dropout (between stacked "
                          "layers) and --out-dropout draw one mask per sequence, and none of them drops anything here; "
                          "give one of them a rate, e.g. --out-dropout 0.2")


def build_model(name: str, vocab: Vocab, opts: dict, seed: int):
    if len(vocab) <= 4:
        raise ConfigError("the vocabulary holds only the special tokens: the training text is empty or every "
                          "token falls below --min-freq")
    return BUILDERS[MODEL_FAMILIES[name]](name, vocab, opts, seed)
