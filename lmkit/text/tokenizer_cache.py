"""Tokenizers cached beside their corpus, and how well they cover valid/test.

    corpora/<name>/tokenizers/<key>.json        tokenizer.json built from train.txt only
    corpora/<name>/tokenizers/<key>.stats.json  token and <unk> counts per split

The key is the tokenizer kind plus every option that differs from its
default in lmkit.text.tokenizer_options ("char", "word-lowercase=true",
"spm-vocab_size=4000"), so the same choice always finds the same file and
`lmkit vocab build` and `lmkit train` share one tokenizer. A word-segmented
corpus (manifest `segmented: true`, such as pku98) gives the char tokenizer
`segmented=True` unless the caller says otherwise, so its characters are those
of the plain text ("char-segmented=true").
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from lmkit.corpus.split import SPLITS
from lmkit.errors import LmkitError, MissingPackageError, TokenizerError
from lmkit.files.reading import read_json
from lmkit.files.writing import stranger_below, write_json_atomic
from lmkit.text.tokenizer_options import checked_options, options_class
from lmkit.text.tokenizers import Tokenizer, fit_tokenizer, load_tokenizer
from lmkit.text.vocab import EOS_ID, UNK_ID

TOP_TOKENS = 50


def option_defaults(kind: str) -> dict:
    """The options `kind` takes when fitted, with their defaults (its class in lmkit.text.tokenizer_options)."""
    return asdict(options_class(kind)())


def resolve_options(kind: str, options: dict) -> dict:
    """All of `kind`'s options, defaults filled in; ConfigError for an option the kind does not take or a bad value."""
    return asdict(checked_options(kind, options))


def changed_options(kind: str, options: dict) -> dict:
    """Those of `kind`'s options (defaults filled in) that differ from their defaults."""
    defaults = option_defaults(kind)
    return {k: v for k, v in resolve_options(kind, options).items() if v != defaults[k]}


def tokenizer_key(kind: str, options: dict) -> str:
    changed = changed_options(kind, options)
    parts = [f"{k}={json.dumps(v).strip(chr(34)).lower()}" for k, v in sorted(changed.items())]
    return "-".join([kind, *parts])


def corpus_options(corpus, kind: str, options: dict) -> dict:
    """`options` with what the corpus implies: a segmented corpus gives the char tokenizer segmented=True."""
    if kind == "char" and getattr(corpus, "segmented", False):
        return {"segmented": True, **options}
    return options


def tokenizer_path(corpus, kind: str, options: dict) -> Path:
    key = tokenizer_key(kind, corpus_options(corpus, kind, options))
    return Path(corpus.directory) / "tokenizers" / f"{key}.json"


def get_tokenizer(corpus, kind: str, rebuild: bool = False, **options) -> Tokenizer:
    """The cached tokenizer for (corpus, kind, options), or one built from the train split and cached."""
    corpus.check_files()  # a hand-edited split is refused here as by corpus info, ngram and train (pass 83)
    options = corpus_options(corpus, kind, options)
    path = tokenizer_path(corpus, kind, options)
    resolved = resolve_options(kind, options)
    for place in (path, stats_path(path)):  # the tokenizer and its coverage stats
        stranger = stranger_below(Path(corpus.directory), place)
        if stranger is not None:  # not a damaged cache that --force would rebuild: something lmkit did not put there
            raise TokenizerError(f"{stranger[0]}: is {stranger[1]} where lmkit caches this tokenizer, and not "
                                 "lmkit's; move it away")
    if path.exists() and not rebuild:
        try:
            cached = load_tokenizer(path)
        except MissingPackageError:
            raise  # the file is fine; what it needs is not installed
        except LmkitError as exc:
            reason = str(exc).removeprefix(f"{path}: ")
            raise TokenizerError(f"{path}: cached tokenizer is damaged ({reason}); rebuild it with "
                                 f"`{rebuild_command(corpus, kind, options)}`") from exc
        if is_current(cached, resolved):
            return cached
    tokenizer = fit_tokenizer(kind, corpus.lines("train"), **resolved)
    tokenizer.save(path)
    stats_path(path).unlink(missing_ok=True)
    return tokenizer


def rebuild_command(corpus, kind: str, options: dict) -> str:
    """The `lmkit vocab build ... --force` that rebuilds this cached tokenizer: its corpus, kind and options."""
    from lmkit.config.settings import changed_flags, knobs

    typed = {knob.name for knob in knobs(options_class(kind)) if knob.rules.cli}  # not what the corpus implies
    changed = {k: v for k, v in changed_options(kind, options).items() if k in typed}
    flags = changed_flags((options_class(kind),), changed)
    return " ".join(["lmkit vocab build --corpus", corpus.name, "--tokenizer", kind, *flags, "--force"])


def is_current(tokenizer: Tokenizer, resolved: dict) -> bool:
    """False for a cache file an older lmkit wrote under the same key with other behaviour (a word tokenizer
    from before punctuation splitting, or before whole-word specials): it records other options than one fitted
    now would, so it is rebuilt."""
    recorded = {name: value for name, value in tokenizer.options().items() if name != "model"}
    return recorded == type(tokenizer).recorded_options(**resolved)


def stats_path(tokenizer_file: Path) -> Path:
    return tokenizer_file.with_name(tokenizer_file.name[: -len(".json")] + ".stats.json")


def split_coverage(tokenizer: Tokenizer, lines, top: int = 0) -> dict:
    """Tokens (with one </s> per line), how many map to <unk>, the OOV rate, and the `top` most frequent tokens."""
    counts: Counter = Counter()
    lines_seen = 0
    for line in lines:
        counts.update(tokenizer.encode_line(line))
        lines_seen += 1
    counts[EOS_ID] += lines_seen
    tokens, unknown = sum(counts.values()), counts[UNK_ID]
    stats = {"tokens": tokens, "unk": unknown, "oov_rate": unknown / tokens if tokens else 0.0}
    if top:
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        stats["top"] = [[tokenizer.vocab.token(i), n] for i, n in ranked]
    return stats


def split_coverage_holds(stats) -> bool:
    """Whether `stats` is a split's coverage as split_coverage writes it: counts that are whole, unknowns among the
    tokens, the rate their ratio, and the top tokens as [token, count] pairs."""
    def count(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    if not isinstance(stats, dict) or not (count(stats.get("tokens")) and count(stats.get("unk"))):
        return False
    tokens, unknown, rate = stats["tokens"], stats["unk"], stats.get("oov_rate")
    top = stats.get("top", [])
    return (unknown <= tokens and isinstance(rate, (int, float)) and not isinstance(rate, bool)
            and abs(rate - (unknown / tokens if tokens else 0.0)) < 1e-9 and isinstance(top, list)
            and all(isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and count(pair[1])
                    for pair in top))


def coverage(corpus, tokenizer: Tokenizer, tokenizer_file: Path | None = None) -> dict:
    """split -> coverage stats, cached beside the tokenizer file when one is given."""
    cache = stats_path(tokenizer_file) if tokenizer_file else None
    if cache is not None and cache.exists():
        try:
            stats = read_json(cache, "coverage stats")
            if set(stats) == set(SPLITS) and all(split_coverage_holds(stats[split]) for split in SPLITS):
                return stats
        except LmkitError:
            pass  # damaged or edited: counted again, and the cache rewritten
    tokenizer = tokenizer.reading(corpus)
    stats = {split: split_coverage(tokenizer, corpus.lines(split), TOP_TOKENS if split == "train" else 0)
             for split in SPLITS}
    if cache is not None:
        write_json_atomic(cache, stats)
    return stats
