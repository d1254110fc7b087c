"""Named bundles of settings: `lmkit train --preset awd`. The one table of them.

A preset names values for fields of TrainConfig and RNNConfig (keys are the field names; the
CLI option is --field-name). An option the user gives on the command line overrides the
preset's value; --optimizer given without --lr drops the preset's LR too (it was chosen for the
preset's optimizer). The preset in effect is printed at the start and saved in config.json.
"""
from __future__ import annotations

from typing import Any

from lmkit.config.settings import knobs
from lmkit.errors import ConfigError
from lmkit.models.neural.heads import resolved_softmax
from lmkit.models.neural.rnn import RNNConfig
from lmkit.train.config import TrainConfig

# Merity et al. 2017's word-level AWD-LSTM with their Penn Treebank regularisers (dropouti 0.4, dropouth 0.25,
# dropout 0.4, dropoute 0.1, wdrop 0.5, alpha 2, beta 1, SGD at 30 with NT-ASGD), 3 tied layers of 400:
# their embedding size, and a hidden size a CPU trains in under an hour.
AWD_PAPER: dict[str, Any] = {
    "layers": 3, "emb_size": 400, "hidden_size": 400, "tie_weights": True,
    "locked_dropout": True, "emb_dropout": 0.4, "dropout": 0.25, "out_dropout": 0.4,
    "word_dropout": 0.1, "weight_drop": 0.5,
    "ar": 2.0, "tar": 1.0, "variable_bptt": True, "bptt": 70, "batch_size": 20,
    "optimizer": "sgd", "lr": 30.0, "clip": 0.25, "weight_decay": 1.2e-6, "asgd": True, "nonmono": 5,
}

PRESETS: dict[str, dict[str, Any]] = {
    # AWD_PAPER with its dropouts cut by about 40%: the paper's were tuned for hundreds of passes, and in the
    # few passes of a CPU budget they underfit (Shakespeare words, 30 minutes, 3.3 passes: the training loss
    # under dropout equal to the valid loss, test perplexity 145.9; with these 133.6; benchmarks/RESULTS.md).
    "awd": {**AWD_PAPER, "emb_dropout": 0.25, "dropout": 0.15, "out_dropout": 0.25, "word_dropout": 0.05,
            "weight_drop": 0.3},
    # the paper's own values, for runs of many passes (a GPU, or hours)
    "awd-paper": AWD_PAPER,
    # The character-level settings of Merity et al. 2018 (Penn Treebank characters: dropouti 0.1, dropouth 0.25,
    # dropout 0.1, wdrop 0.5, no AR/TAR, Adam at 2e-3, bptt 150, batch 128) on the default model's size.
    "awd-char": {
        "locked_dropout": True, "emb_dropout": 0.1, "dropout": 0.25, "out_dropout": 0.1, "weight_drop": 0.5,
        "variable_bptt": True, "bptt": 150, "batch_size": 128,
        "optimizer": "adamw", "lr": 2e-3, "weight_decay": 1.2e-6, "asgd": True, "nonmono": 5,
    },
    # Corpora of tens of thousands of tokens (tang300: 26,621 characters): one small tied layer, dropout
    # stronger than AWD's on its input, output and whole words, AR/TAR, and half of the once-seen tokens
    # trained as <unk> (a short text's test has many unknown ones). Chosen on tang300's and song100's valid
    # splits (benchmarks/small_data.py); the budget is in passes, with validation often enough to stop
    # early, since such a run overfits within minutes.
    "small-corpus": {
        "layers": 1, "emb_size": 192, "hidden_size": 192, "tie_weights": True,
        "emb_dropout": 0.5, "out_dropout": 0.6, "word_dropout": 0.2, "ar": 2.0, "tar": 1.0, "rare_unk": 0.5,
        "batch_size": 16, "bptt": 64, "epochs": 80, "eval_every": 50, "patience": 6,
        "lr": 6e-3,  # measured at the characters' 1e-2 and 6e-3: a little better at 6e-3 on both corpora and splits
        "weight_decay": 0.0,  # chosen without it (0.1 gained under 0.07 on tang300's valid): not the characters' 0.1
    },
}

# A preset's settings for a vocabulary large enough that --softmax auto would choose the adaptive softmax, where
# the preset's own tied full softmax is most of each step. `--preset awd` on Shakespeare's 30,876 words, 30 minutes
# on one thread of a 2-core AVX2-only AMD EPYC (fp32), side by side: tied and full, 814 steps (1.1M tokens) to valid
# perplexity 208.1, worse than the word 5-gram; untied and adaptive, 2,679 steps (3.7M tokens) to valid 127.4, test
# 136.9 (benchmarks/RESULTS.md, "The AWD preset's softmax on a CPU"). awd-paper keeps the paper's tied softmax.
LARGE_VOCABULARY: dict[str, dict[str, Any]] = {"awd": {"tie_weights": False, "softmax": "adaptive"}}
# Measured at 30,876 types. Below 10,000 the tied softmax is at most as much work as the three layers of 400
# (10,000 x 400 against 3 x 4 x 400 x 800 multiply-adds a token), and the paper's tie stays.
LARGE_VOCABULARY_TYPES = 10_000

PRESET_CLASSES = (TrainConfig, RNNConfig)


def preset_values(name: str, given: set[str], optimizer: str | None = None) -> dict[str, Any]:
    """The preset's settings that apply when the user gave the options `given` (field names), `optimizer` among
    them when --optimizer was given."""
    if name not in PRESETS:
        raise ConfigError(f"--preset must be one of {', '.join(PRESETS)}, got {name!r}")
    values = {key: value for key, value in PRESETS[name].items() if key not in given}
    own_optimizer = PRESETS[name].get("optimizer", TrainConfig().optimizer)
    if "optimizer" in given and "lr" not in given and optimizer != own_optimizer:
        values.pop("lr", None)  # the preset's LR belongs to the preset's optimizer
    return values


def large_vocabulary_values(name: str | None, vocab_size: int, hidden_size: int, given: set[str]) -> dict[str, Any]:
    """Preset `name`'s LARGE_VOCABULARY settings for a vocabulary of LARGE_VOCABULARY_TYPES or more read by a
    softmax of `hidden_size` features, where --softmax auto would choose the adaptive softmax there and the user
    chose neither --tie-weights nor --softmax (`given`: field names); {} otherwise."""
    values = LARGE_VOCABULARY.get(name or "", {})
    if not values or given & {"tie_weights", "softmax"} or vocab_size < LARGE_VOCABULARY_TYPES:
        return {}
    return values if resolved_softmax("auto", vocab_size, hidden_size) == "adaptive" else {}


def option_names(values: dict[str, Any]) -> str:
    """'--layers 3 --tie-weights --lr 30' for printing."""
    options = {knob.name: knob.option for cls in PRESET_CLASSES for knob in knobs(cls)}
    words = []
    for key, value in values.items():
        if isinstance(value, bool):
            words.append(options[key] if value else "--no-" + options[key][2:])
        else:
            words.append(f"{options[key]} {value:g}" if isinstance(value, float) else f"{options[key]} {value}")
    return " ".join(words)
