"""A model as a user names it: a model directory, or an ARPA file made by KenLM, SRILM or lmkit.

    member = open_model("checkpoints/shakespeare-word-lstm")       # config.json, tokenizer.json, weights
    member = open_model("kenlm.arpa.gz")                            # whitespace words from the file's 1-grams
    member = open_model("kenlm.arpa.gz", tokenizer)                 # the file's words must be the tokenizer's
    members = open_models(["checkpoints/a", "kenlm.arpa"])          # one vocabulary for a mix or a fill pair
    for member in open_each(paths): ...                            # one at a time, each on its own (a report)
    member.model, member.tokenizer, member.config

Every command that takes a model opens it here, so each takes both kinds
alike. An ARPA file (plain, gzip, bzip2 or xz) holds no tokenizer: one given
must list exactly the file's words (and fixes their ids); without one, the
file's 1-grams become a whitespace-word tokenizer, its `<s>`, `</s>` and
`<unk>` being lmkit's own. A file of characters or subword pieces needs its
tokenizer given. Nor does an ARPA file say which way its lines ran: its
config's direction is None, and the file is used as the command uses it.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from lmkit.checkpoint.ownership import LOCK_FILE, lock_state
from lmkit.checkpoint.save_load import load_model
from lmkit.errors import CheckpointError, ConfigError, printable
from lmkit.text.tokenizers import Tokenizer, WordTokenizer
from lmkit.config.folders import home_hint

TOKENIZER_OPTION = "--tokenizer-from"  # how a user gives an ARPA file its tokenizer, named in messages
GIVEN = "the tokenizer given"  # where a tokenizer came from, when the caller does not say
ARPA_WORDS_ADVICE = (f"an ARPA file's text is read as whitespace-separated words: for a model of characters, subword "
                     "pieces or words split from their punctuation (lmkit's word default), pass "
                     f"{TOKENIZER_OPTION} with its model directory or tokenizer.json")


@dataclass
class LoadedModel:
    """A model ready to score text: the model, the tokenizer that makes its ids, and its config."""

    name: str           # the path as given
    model: object
    tokenizer: Tokenizer
    config: dict        # config.json, or for an ARPA file what it would say (no corpus, direction None)
    reads_arpa_words: bool = False  # an ARPA file given no tokenizer: its text is read as whitespace words

    @property
    def path(self) -> Path:
        return Path(self.name)

    @property
    def closed_vocabulary(self) -> bool:
        """An ARPA file without <unk> (lmkit.models.ngram.arpa.close_vocabulary): each unknown token costs it
        log10 UNKNOWN_MISSING."""
        return bool(getattr(self.model, "details", {}).get("closed_vocabulary"))

    def require_left_to_right(self, use: str) -> None:
        """ConfigError when this is a bidirectional cloze model, which has no left-to-right probabilities."""
        from lmkit.models.base import is_cloze

        if is_cloze(self.model):
            raise ConfigError(f"{self.name} is a bidirectional cloze model ({self.config.get('kind')}); it {use}")

    @property
    def zero_probability_advice(self) -> str:
        """What would score a token this model gives probability zero (lmkit.evaluate.perplexity.scored_by)."""
        if self.path.is_file():
            misread = f"{ARPA_WORDS_ADVICE} (none was given); if it is a word model, " if self.reads_arpa_words else ""
            return (f"{misread}its ARPA file gives it log10 probability -99 or less (zero), or no entry its backoff "
                    "reaches: score the text with a smoothed model, or mix one in (--mix)")
        if self.config.get("smoothing") == "mle":
            return ("an unsmoothed (mle) N-gram cannot score unseen events: build it with `lmkit ngram --smoothing kn` "
                    "(or add-k), or mix a smoothed model in (--mix)")
        return "it gives that token no probability at all: mix in a model that does (--mix)"

    def disk_bytes(self) -> int:
        """The model's own files: the ARPA file, or lmkit.checkpoint.model_bytes of a directory."""
        from lmkit.checkpoint.save_load import model_bytes

        return self.path.stat().st_size if self.path.is_file() else model_bytes(self.path)


def open_model(path: str | Path, tokenizer: Tokenizer | None = None,
               tokenizer_source: str = GIVEN) -> LoadedModel:
    """The model at `path`, a model directory or an ARPA file; `tokenizer` (from `tokenizer_source`) is for an
    ARPA file only."""
    path = Path(path)
    check_tokenizer_use([path], tokenizer)
    if path.is_dir():
        loaded = LoadedModel(str(path), *load_model(path))
        warn_if_still_written(path, loaded.config)
        return loaded
    return open_arpa(path, tokenizer, tokenizer_source)


def warn_if_still_written(directory: Path, config: dict) -> None:
    """A model read while another lmkit process writes into its directory (a run training on, an N-gram rebuilt
    with --overwrite) is what was saved there so far: a warning says so, so that its figures are not taken for the
    run's final ones."""
    if lock_state(directory) != "held":
        return
    step = (config.get("valid") or {}).get("step")
    saved = f"at step {step:,}" if isinstance(step, int) and not isinstance(step, bool) else "so far"
    warnings.warn(f"{printable(str(directory))}: another lmkit process is writing into this directory (it holds "
                  f"{LOCK_FILE}): this is the model saved there {saved}, not what that run will end with")


def open_models(paths: Sequence[str | Path], tokenizer: Tokenizer | None = None,
                tokenizer_source: str = GIVEN) -> list[LoadedModel]:
    """Models that must share one vocabulary (a mix, a fill pair). Without a tokenizer given, the ARPA files
    among them take the first model directory's, so that their ids mean the same tokens."""
    paths = [Path(p) for p in paths]
    check_tokenizer_use(paths, tokenizer)
    directories = {p: open_model(p) for p in paths if p.is_dir()}
    first = next(iter(directories.values()), None)
    readers = [(tokenizer_source, tokenizer)] if tokenizer is not None else []
    check_one_reading(readers + [(loaded.name, loaded.tokenizer) for loaded in directories.values()])
    if tokenizer is None and first is not None:
        tokenizer = first.tokenizer
        tokenizer_source = f"the tokenizer of {first.name}, which ARPA files beside it share; " \
                           f"{TOKENIZER_OPTION} chooses another"
    return [directories.get(p) or open_arpa(p, tokenizer, tokenizer_source) for p in paths]


def check_one_reading(readers: list[tuple[str, Tokenizer]]) -> None:
    """Models whose ids must mean the same tokens must also cut text into them alike: one vocabulary read two ways
    would score each model on a reading not its own. (Different vocabularies are the caller's to name.)"""
    if not readers:
        return
    first_name, first = readers[0]
    for name, other in readers[1:]:
        if other.vocab == first.vocab and not other.reads_like(first):
            seen = (f"{other.describe()} against {first.describe()}" if other.describe() != first.describe() else
                    f"both {first.describe()}, but their model files differ in pieces, normalizer or encoding settings")
            raise ConfigError(f"{printable(name)} and {printable(first_name)} have one vocabulary but read text "
                              f"differently ({seen}): use models trained with the same tokenizer")


def open_each(paths: Sequence[str | Path], tokenizer: Tokenizer | None = None,
              tokenizer_source: str = GIVEN) -> Iterator[LoadedModel]:
    """Models used each on its own (a report): checked at once, each opened when the caller reaches it (so
    one is held at a time); `tokenizer` is for the ARPA files among them."""
    paths = [Path(p) for p in paths]
    check_tokenizer_use(paths, tokenizer)
    return (open_model(path, None if path.is_dir() else tokenizer, tokenizer_source) for path in paths)


def open_arpa(path: Path, tokenizer: Tokenizer | None, tokenizer_source: str) -> LoadedModel:
    from lmkit.models.ngram.arpa import VocabMismatch, read_arpa

    if not path.exists():
        raise CheckpointError(f"{path}: no such model directory or ARPA file{home_hint(path)}")
    try:
        model = read_arpa(path, tokenizer.vocab if tokenizer is not None else None)
    except VocabMismatch as exc:
        raise VocabMismatch(f"{exc} (the vocabulary of {tokenizer_source})") from exc
    return LoadedModel(str(path), model, tokenizer or WordTokenizer(model.vocab), arpa_config(model, path),
                       reads_arpa_words=tokenizer is None)


def arpa_config(model, path: Path) -> dict:
    """What a model directory's config.json would say of an ARPA file's model."""
    return {"kind": model.kind, "order": model.order, "smoothing": model.smoothing, "ngrams": model.ngram_counts(),
            "arpa": str(path), "direction": None}


def check_tokenizer_use(paths: list[Path], tokenizer: Tokenizer | None) -> None:
    """A tokenizer is given for ARPA files; a model directory has its own, which it must not silently replace."""
    if tokenizer is not None and all(p.is_dir() for p in paths):
        why = f"{paths[0]} is a model directory with its own" if paths else "no model is given as one"
        raise ConfigError(f"{TOKENIZER_OPTION} is for ARPA files, which hold no tokenizer; {why}")
