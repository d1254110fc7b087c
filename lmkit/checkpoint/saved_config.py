"""What config.json records beside a model's own settings, the form of each record, and the checks that the
files saved beside it are the ones it records.

    "train"      the command, its settings and seconds (a report's train time; what --resume compares), and the
                 sha256 of the texts it read (what --resume holds the corpus to)
    "vocab"      {size, fingerprint} of the vocabulary the weights were trained with
    "tokenizer"  {kind, options fingerprint}: how the weights' text was cut into tokens

read_config (lmkit.checkpoint.save_load) reads every record through `from_json`, so a
damaged or edited record is one error naming its key; the tokenizer.json beside
the weights is then held to the vocab and tokenizer records before a model loads.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from lmkit.config.from_json import finite_number, from_json
from lmkit.corpus.store import NAME_PATTERN, NAME_RULE
from lmkit.errors import CheckpointError, ConfigError
from lmkit.files.folder_markers import MODEL_CONFIG_FILE
from lmkit.files.json_text import json_text
from lmkit.text.tokenizers import Tokenizer

CONFIG_FILE = MODEL_CONFIG_FILE
TOKENIZER_FILE = "tokenizer.json"


@dataclass
class SavedFields:
    """The keys of config.json that commands read besides the model's own settings, with their types."""

    format: int
    kind: str | None = None
    corpus: str | None = None
    direction: str = "forward"
    model: dict | None = None
    members: list | None = None
    train: dict | None = None
    tokenizer: dict | None = None
    vocab: dict | None = None


@dataclass
class SavedTraining:
    """The keys of config.json's "train" that commands read (a report's train time and command, the run's settings
    that --resume compares options with), with their types."""

    command: str | None = None
    seconds: float | None = None
    config: dict | None = None
    texts: dict | None = None  # text_record: what --resume holds the corpus to


@dataclass
class SavedVocab:
    """config.json's "vocab": the vocabulary the weights were trained with (vocab_record)."""

    size: int
    fingerprint: str


@dataclass
class SavedTokenizer:
    """config.json's "tokenizer": how the weights' text was cut (tokenizer_record); an N-gram saved before the
    options were recorded has the kind only."""

    kind: str
    options: str | None = None


LONGEST_SECONDS = 10**9  # a duration (train.seconds, a learning curve's time) beyond 31 years is not one a run took


def plausible_seconds(value: int | float) -> bool:
    return finite_number(value) and 0 <= value <= LONGEST_SECONDS


SHA256_HEX = re.compile("[0-9a-f]{64}")  # how text_record writes a split's digest


def check_saved_records(fields: SavedFields) -> None:
    """ConfigError naming the key when a record inside config.json is not of the form lmkit writes."""
    if fields.corpus and not fields.corpus.startswith("hf:") and not NAME_PATTERN.match(fields.corpus):
        raise ConfigError(f"\"corpus\": {json_text(fields.corpus).strip()[:120]} is not a corpus name ({NAME_RULE}; "
                          "or hf:NAME)")
    if fields.vocab is not None:
        from_json(SavedVocab, fields.vocab, "vocab")
    if fields.tokenizer is not None:
        from_json(SavedTokenizer, fields.tokenizer, "tokenizer")
    if fields.train is not None:
        training = from_json(SavedTraining, fields.train, "train")
        if training.seconds is not None and not plausible_seconds(training.seconds):
            raise ConfigError(f"train.seconds must be a number of seconds from 0 to {LONGEST_SECONDS:.0e}, "
                              f"got {json_text(training.seconds).strip()[:60]}")
        for split, digest in (training.texts or {}).items():  # text_record's: a split's sha256 in hex
            if not (isinstance(digest, str) and SHA256_HEX.fullmatch(digest)):
                raise ConfigError(f"train.texts.{split} must be a sha256 in hex (64 digits 0-9a-f), got "
                                  f"{json_text(digest).strip()[:80]}")


TRAINED_ON = ("train", "valid")  # the splits a run reads while it trains (its windows, its validations)


def text_record(corpus) -> dict:
    """What config.json's "train" keeps of the text a run read: each split's sha256, as the manifest records it
    (a run resumed on a split changed since would read other text from its saved place, and compare
    validations of two texts)."""
    return {split: corpus.split_stats(split)["sha256"] for split in TRAINED_ON}


def changed_split(config: dict, corpus) -> str | None:
    """The first split of `corpus` whose sha256 is not the one `config` ("train"'s text_record) says the model
    was trained on, or None (runs saved before the record pass)."""
    saved = (config.get("train") or {}).get("texts") or {}
    if not isinstance(saved, dict) or not saved:
        return None
    return next((split for split, digest in text_record(corpus).items() if split in saved and saved[split] != digest),
                None)


def vocab_record(vocab) -> dict:
    """What config.json keeps of the vocabulary the weights were trained with: its size and fingerprint."""
    return {"size": len(vocab), "fingerprint": vocab.fingerprint()}


def tokenizer_record(tokenizer: Tokenizer) -> dict:
    """What config.json keeps of how the weights' text was cut into tokens: the tokenizer's kind, and a
    fingerprint of its options (a sentencepiece model's are its whole model file)."""
    options = json.dumps(tokenizer.options(), sort_keys=True, ensure_ascii=True)
    return {"kind": tokenizer.kind, "options": hashlib.sha256(options.encode("ascii")).hexdigest()[:16]}


def check_tokenizer_matches(directory: Path, config: dict, tokenizer: Tokenizer) -> None:
    """A tokenizer.json from another model (of the same vocabulary size, say) would make the weights read
    every id as a different token, and one that cuts text otherwise (words where the model read characters,
    the same tokens) would make every figure wrong: refuse both. Directories saved before a record was kept
    pass unchecked on it."""
    check_vocab_matches(directory, config, tokenizer)
    how = tokenizer_difference(config, tokenizer)
    if how is not None:
        raise CheckpointError(f"{directory / TOKENIZER_FILE}: not the tokenizer these weights were trained with: "
                              f"{how}; put back the tokenizer.json saved with the model")


def tokenizer_difference(config: dict, tokenizer: Tokenizer) -> str | None:
    """How `tokenizer` cuts text otherwise than the one config.json records ("it is a word tokenizer, where ..."),
    or None when it cuts it alike or nothing is recorded (read_config has checked the record's form)."""
    if config.get("tokenizer") is None:
        return None
    saved, found = from_json(SavedTokenizer, config["tokenizer"], "tokenizer"), tokenizer_record(tokenizer)
    if saved.kind != found["kind"]:
        return f"it is a {found['kind']} tokenizer, where {CONFIG_FILE} records {json_text(saved.kind).strip()}"
    if saved.options is None and config.get("kind") == "ngram":  # an N-gram saved before the record: its kind only
        return None
    if saved.options != found["options"]:
        return f"its options differ from those {CONFIG_FILE} records"
    return None


def check_vocab_matches(directory: Path, config: dict, tokenizer: Tokenizer) -> None:
    if config.get("vocab") is None:
        return
    saved, found = from_json(SavedVocab, config["vocab"], "vocab"), vocab_record(tokenizer.vocab)
    if saved.fingerprint == found["fingerprint"] and saved.size != found["size"]:  # the record's size was changed
        raise CheckpointError(
            f"{directory / CONFIG_FILE}: vocab.size is {saved.size}, but the tokenizer.json whose vocabulary it "
            f"fingerprints holds {found['size']} tokens; put back the {CONFIG_FILE} saved with the model")
    if saved.fingerprint != found["fingerprint"]:
        raise CheckpointError(
            f"{directory / TOKENIZER_FILE}: not the tokenizer these weights were trained with: its vocabulary "
            f"({found['size']} tokens, fingerprint {found['fingerprint']}) differs from the one {CONFIG_FILE} "
            f"records ({saved.size} tokens, fingerprint {json_text(saved.fingerprint).strip()[:40]}); put back the "
            "tokenizer.json saved with the model")
