"""Tokenizer options: what each tokenizer kind takes when it is fitted, with one default, help and check each.

    checked_options("word", {"max_size": 10000})   # WordOptions(min_freq=1, max_size=10000, ...), checked
    checked_options("char", {"lowercase": True})   # ConfigError: --lowercase does not apply to --tokenizer char
                                                   #   (it takes --min-freq, --max-size)

The tokenizers' `fit` (lmkit.text.tokenizers), the cache key of a fitted tokenizer (the fields that differ
from these defaults, lmkit.text.tokenizer_cache) and the command line's --min-freq ... --spm-type
(generated from these classes by lmkit.commands.common.tokenizer_options) all read them here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from lmkit.config.settings import Knob, check_settings, knobs, same_setting, setting
from lmkit.errors import ConfigError, TokenizerError
from lmkit.text.vocab import SPECIALS

LARGEST_VOCAB = 2**24        # sentencepiece pieces
LARGEST_MIN_FREQ = 2**62
LARGEST_MAX_SIZE = 2**31


@dataclass(frozen=True)
class CharOptions:
    CLI_NAME: ClassVar[str] = "char"

    min_freq: int = setting(1, "Keep tokens seen at least this often.", low=1, high=LARGEST_MIN_FREQ)
    max_size: int | None = setting(None, f"Keep at most this many tokens, the {len(SPECIALS)} specials included.",
                                   low=len(SPECIALS) + 1, high=LARGEST_MAX_SIZE)
    segmented: bool = setting(False, "Read word-segmented text as the plain text it segments (\"我 昨天\" is 我 昨 天).",
                              cli=False)  # a segmented corpus (lmkit.corpus.segmented) implies it


@dataclass(frozen=True)
class WordOptions:
    CLI_NAME: ClassVar[str] = "word"

    min_freq: int = same_setting(CharOptions, "min_freq")
    max_size: int | None = same_setting(CharOptions, "max_size")
    lowercase: bool = setting(False, "Lowercase before counting.")
    segment: str | None = setting(None, "Cut Chinese into words with jieba.", choices=("jieba",))
    split_punct: bool = setting(True, "Cut punctuation off words (\"Hello,\" -> Hello ,; a word spelled <unk>, as "
                                      "Penn Treebank marks rare words, stays whole); --no-split-punct keeps "
                                      "whitespace words.")
    mend_segments: bool = setting(True, "Undo jieba's cuts inside words of other scripts (lmkit.text.jieba_words).",
                                  cli=False)  # False only in a tokenizer.json from before it (loaded as it was built)
    whole_words: bool = setting(True, "With jieba, text outside Chinese and Japanese stays as it is between spaces "
                                "(It's, phone,), as the whitespace tokenizer reads it (lmkit.text.jieba_words).",
                                cli=False)  # False only in a tokenizer.json from before it (loaded as it was built)
    whole_specials: bool = setting(True, "A whitespace word spelled like a special (<unk>, as Penn Treebank marks rare "
                                   "words) stays whole where jieba or the punctuation split would cut it.",
                                   cli=False)  # False only in a tokenizer.json from before it (loaded as it was built)


@dataclass(frozen=True)
class SpmOptions:
    CLI_NAME: ClassVar[str] = "spm"

    vocab_size: int = setting(8000, "Vocabulary size, specials included.", low=1, high=LARGEST_VOCAB)
    model_type: str = setting("bpe", "Sentencepiece model: byte-pair encoding or unigram.", choices=("bpe", "unigram"),
                              option="--spm-type")
    character_coverage: float = setting(0.9995, "Share of the text's characters the pieces cover; the rarest others "
                                        "are <unk>.", low=0, low_open=True, high=1, cli=False)


TOKENIZER_OPTIONS: dict[str, type] = {"char": CharOptions, "word": WordOptions, "spm": SpmOptions}


def options_class(kind: str) -> type:
    """The options class of tokenizer `kind`; TokenizerError naming the kinds for an unknown one."""
    if kind not in TOKENIZER_OPTIONS:
        raise TokenizerError(f"unknown tokenizer {kind!r}; choose one of {', '.join(TOKENIZER_OPTIONS)}")
    return TOKENIZER_OPTIONS[kind]


def tokenizer_knobs(*classes: type) -> dict[str, Knob]:
    """Field name -> knob, for the settings of `classes` (default: every kind's) that the command line has."""
    return {knob.name: knob for cls in classes or TOKENIZER_OPTIONS.values() for knob in knobs(cls) if knob.rules.cli}


def checked_options(kind: str, values: dict[str, Any]):
    """`kind`'s options with `values` set and the rest at their defaults, each value checked (ConfigError)."""
    cls = options_class(kind)
    own = {knob.name for knob in knobs(cls)}
    for name in values:
        if name not in own:
            other = tokenizer_knobs().get(name)
            takes = ", ".join(knob.option for knob in tokenizer_knobs(cls).values())
            typed = other.option if other else name
            if other and values[name] is False and typed.startswith("--"):  # an on/off flag given off
                typed = "--no-" + typed[2:]
            raise ConfigError(f"{typed} does not apply to --tokenizer {kind} (it takes {takes})")
    options = cls(**values)
    check_settings(options)
    return options
