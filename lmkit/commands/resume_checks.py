"""`lmkit train --resume DIR` continues the saved model: options that contradict it are refused.

A resumed run keeps the saved model's architecture and direction, its
tokenizer and its corpus, and writes into DIR. An option given on the
command line that says otherwise (`--model gru` for a saved LSTM, another
`--hidden-size`, another `--train`) would be ignored without a word, or
would train the saved weights on other text; each is refused with the
saved value named. Options left at their defaults are not compared
(click says which were given), and a given option equal to the saved value
is fine, so repeating the original command with --resume works.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from lmkit.checkpoint.saved_config import CONFIG_FILE, changed_split
from lmkit.commands.common import CORPUS_PARAMS, flag, given, ignored_options
from lmkit.commands.train_models import MODEL_PARAMS  # their saved values are in config.json's "model" object
from lmkit.errors import CheckpointError, ConfigError, counted, printable
from lmkit.models import BOTH_WAYS, CLOZE_KINDS
from lmkit.models.neural.cloze import BEFORE_OPTIONS
from lmkit.text.tokenizer_options import tokenizer_knobs

ABSENT = object()


def saved_value(config: dict, name: str):
    if name == "model":
        return config.get("kind", ABSENT)
    if name == "direction":
        return config.get("direction", "forward")
    model = config.get("model")
    older = BEFORE_OPTIONS if config.get("kind") in CLOZE_KINDS else {}  # saved before the option: built so
    return model.get(name, older.get(name, ABSENT)) if isinstance(model, dict) else ABSENT


def same(value, saved) -> bool:
    """Equal, counting 0 and None alike (scratch-rnn keeps --emb-size 0, one-hot inputs, as null)."""
    return value == saved or (value in (0, None) and saved in (0, None))


def check_resume_options(ctx: click.Context, directory: Path, config: dict) -> None:
    """ConfigError for an option given now that contradicts the model saved in `directory`."""
    for name in ("model", "direction", *MODEL_PARAMS):
        if not given(ctx, name) or (name == "softmax" and ctx.params[name] == "auto"):  # auto: the one it was built
            continue                                                                     # with, full or adaptive
        value, saved = ctx.params[name], saved_value(config, name)
        option = flag(ctx, name)
        if name == "direction" and config.get("kind") in CLOZE_KINDS:  # forward too: it is not what it trains
            raise ConfigError(f"--resume {directory}: {option} {value} does not apply to the saved "
                              f"{config.get('kind')} model: a bidirectional model reads every line both ways")
        if saved is ABSENT:
            raise ConfigError(f"--resume {directory}: {option} does not apply to the saved {config.get('kind')} "
                              f"model; leave it out")
        if not same(value, saved):
            had = f"{flag(ctx, name, saved)}, not {option}" if isinstance(value, bool) else \
                f"{option} {shown(saved)}, not {shown(value)}"
            raise ConfigError(f"--resume {directory}: the saved model has {had}; "
                              f"leave {option} out to continue it, or train a new model into another --out")
    saved_seed = ((config.get("train") or {}).get("config") or {}).get("seed")
    if given(ctx, "seed") and ctx.params["seed"] != saved_seed:  # the first command's own seed may be repeated
        raise ignored_options([flag(ctx, "seed")], f"--resume {directory} continues the saved random state")
    out = ctx.params.get("out")
    if given(ctx, "out") and Path(out).resolve() != Path(directory).resolve():
        raise ConfigError(f"--resume {directory} continues the run in {directory}: leave --out {out} out")
    if given(ctx, "overwrite"):
        raise ConfigError("--overwrite starts a new run and --resume continues one: give one of them")


def budget_left(ctx: click.Context, directory: Path, progress: dict, config) -> str | None:
    """ConfigError when a budget given now (--max-steps, --epochs, --max-time: each counts the whole run) is one
    the resumed run has already used up; otherwise the warning to print when a saved one is (the run only
    finishes its evaluation), or None."""
    used = {"max_steps": (progress.get("step", 0), config.max_steps, f"it is at step {progress.get('step', 0):,}"),
            "epochs": (progress.get("epoch", 0), config.epochs,
                       f"it has done {counted(progress.get('epoch', 0), 'epoch')}"),
            "max_time": (progress.get("elapsed", 0.0), config.time_limit,
                         f"it has trained {progress.get('elapsed', 0.0):,.2f} s")}
    spent = [(name, limit, where) for name, (done, limit, where) in used.items() if limit and done >= limit]
    for name, limit, where in spent:
        if given(ctx, name):
            raise ConfigError(f"--resume {directory}: {flag(ctx, name)} {shown(ctx.params[name])} counts the whole "
                              f"run, and {where}; give more to train on")
    if not spent:
        return None
    name, limit, where = spent[0]
    option = f"--{name.replace('_', '-')}"
    return (f"warning: --resume {printable(str(directory))}: nothing left to train ({where}, its {option} "
            f"{shown(limit)}); give a larger {option} to train on")


def stopped_early(ctx: click.Context, directory: Path, state: dict) -> str | None:
    """The warning for a resumed run that early stopping ended (its saved count of evaluations without a new best
    had reached its saved --patience, and under --asgd its averaging had begun), unless --patience is given now
    above that count; else None."""
    progress, saved = state.get("progress") or {}, state.get("train_config") or {}
    stale = progress.get("stale_evals", progress.get("bad_evals", 0))  # before stale_evals, every evaluation counted
    patience = saved.get("patience")
    if not isinstance(patience, int) or not isinstance(stale, int) or stale < patience:
        return None
    if saved.get("asgd") and progress.get("averaging_since") is None:
        return None
    if given(ctx, "patience") and ctx.params["patience"] > stale:
        return None
    return (f"warning: --resume {printable(str(directory))}: the run stopped early, its validation no better in its "
            f"last {counted(stale, 'evaluation')} (--patience {patience}); resumed as it is, it may stop again at its "
            "next evaluation: give a larger --patience to train on")


def shown(value) -> str:
    return str(value).lower() if isinstance(value, bool) or value is None else str(value)


def check_resume_corpus(ctx: click.Context, directory: Path, config: dict, open_corpus):
    """The corpus given now (`open_corpus()`), which must be the one the model was trained on; a named corpus
    is compared by name before it is fetched, local files by the content hash in their corpus's name (the same
    text under another first file's name is the same corpus: the run's config.json keeps the name it was saved
    with)."""
    from lmkit.corpus.local import same_text_renamed, split_before_format_2

    saved = config.get("corpus")
    name = ctx.params.get("corpus")
    corpus = None if name is not None and name != saved and not ctx.params.get("train") else open_corpus()
    if saved is not None and (corpus is None or corpus.name != saved) and not (
            corpus is not None and same_text_renamed(saved, corpus)):
        from lmkit.corpus.catalog import missing_local_corpus

        options = " ".join(flag(ctx, name) for name in CORPUS_PARAMS if given(ctx, name))
        if missing_local_corpus(saved) is None:
            advice = f"leave {options} out to continue on its own corpus"
        elif corpus is not None and split_before_format_2(saved, corpus):  # pass 88: the advice below looped
            advice = (f"{saved!r} held these files as split before corpus format 2, which this lmkit splits otherwise, "
                      "and it is no longer in the corpora folder: put that folder back (or set LMKIT_CORPORA to the "
                      "folder holding it) to resume, or train a new model")
        else:
            advice = ("that one is no longer in the corpora folder: give --train the file(s) it was made from (the "
                      "same text, split the same way)")
        raise ConfigError(f"--resume {directory}: the saved model was trained on corpus {saved!r}, not "
                          f"{name if corpus is None else corpus.name!r} ({options}); {advice}")
    return corpus


WHAT_THE_MODEL_IS = ("kind", "direction", "model", "tokenizer", "vocab", "corpus")  # fixed for the whole of a run


def model_identity(config: dict) -> dict:
    """What a run's config.json says that no later save of the same run may change: WHAT_THE_MODEL_IS, the hashes
    of the texts it trains on and its seed (a cloze model's "forward": saved before bidirectional models said
    "both")."""
    identity = {key: config.get(key) for key in WHAT_THE_MODEL_IS}
    if identity["kind"] in CLOZE_KINDS and identity["direction"] in (None, "forward"):
        identity["direction"] = BOTH_WAYS
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    settings = train.get("config") if isinstance(train.get("config"), dict) else {}
    identity["train.texts"], identity["train.config.seed"] = train.get("texts"), settings.get("seed")
    return identity


def first_difference(key: str, best, resumed):
    """(dotted key, the best model's value, the resumable state's) where they first differ, or None. The resumable
    state is saved at least as late as the best model, so it records all the best model records (a later lmkit
    may record more): only a value of the best model's that the state lacks or says otherwise differs."""
    if best in (None, "", {}):
        return None
    if isinstance(best, dict):
        others = resumed if isinstance(resumed, dict) else {}
        return next((found for name in sorted(best)
                     if (found := first_difference(f"{key}.{name}", best[name], others.get(name))) is not None), None)
    return None if best == resumed else (key, best, resumed)


def check_best_model(directory: Path, where: Path, resumed: dict) -> None:
    """CheckpointError, before a step is trained, when DIR's best model (DIR/config.json, loaded as fill and eval
    load it) does not describe the model of the resumable state in `where` (`resumed`, its config.json): the
    resume rewrites last/ and may replace the best model, so an edited or swapped file is named first."""
    from lmkit.checkpoint.ownership import check_model_directory
    from lmkit.checkpoint.save_load import load_model

    check_model_directory(directory, "--resume")  # a config.json of the user's beside a copied last/ is named as such
    best_file, resumed_file = Path(directory) / CONFIG_FILE, Path(where) / CONFIG_FILE
    if not best_file.exists():
        return
    best, state = model_identity(load_model(directory)[2]), model_identity(resumed)
    for key in best:
        found = first_difference(key, best[key], state[key])
        if found is not None:
            name, value, other = found
            raise CheckpointError(f"{best_file}: \"{name}\" is {shown_json(value)}, but {resumed_file} (the same "
                                  f"run's resumable state) has {shown_json(other)} (was a config.json edited, or a "
                                  "model copied in from another run?); --resume continues one run: put its files "
                                  "back, or train a new model into another --out")


def shown_json(value) -> str:
    if value is None:
        return "none"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def check_resume_texts(directory: Path, config: dict, corpus) -> None:
    """ConfigError when a split the run read (lmkit.checkpoint.saved_config.text_record) has changed since: its
    saved place in the train split, and its best validation, belong to the old text. Runs saved before the record
    pass."""
    split = changed_split(config, corpus)
    if split is not None:
        raise ConfigError(f"--resume {directory}: the {split} split of corpus {corpus.name!r} is not the text "
                          f"this run was trained on (its sha256 has changed since); train a new model into "
                          "another --out")


def check_resume_tokenizer(ctx: click.Context, directory: Path, tokenizer, rebuilt) -> None:
    """Tokenizer options given now must rebuild the saved tokenizer (`rebuilt`: what they give on the corpus, the
    saved tokenizer's recorded options filling in those not given: saved_reading). Where only the vocabulary
    differs, the options that size it (--min-freq, --max-size), which no tokenizer records, are the likely cause."""
    if rebuilt.vocab == tokenizer.vocab and rebuilt.options() == tokenizer.options():
        return
    options = " ".join(flag(ctx, name) for name in tokenizer_knobs() if given(ctx, name))
    if rebuilt.options() == tokenizer.options():
        raise ConfigError(f"--resume {directory}: the saved tokenizer, {tokenizer.describe()}, has "
                          f"{len(tokenizer.vocab)} tokens, and {options} with --min-freq and --max-size as given or at "
                          f"their defaults builds {len(rebuilt.vocab)}; give the --min-freq and --max-size the run "
                          f"was trained with, or leave {options} out to continue with the saved one")
    recorded = tokenizer.options()
    differing = " ".join(flag(ctx, name) for name in tokenizer_knobs()
                         if given(ctx, name) and name in recorded and ctx.params[name] != recorded[name]) or options
    raise ConfigError(f"--resume {directory}: the saved tokenizer is {tokenizer.describe()} with "
                      f"{len(tokenizer.vocab)} tokens, not {rebuilt.describe()} with {len(rebuilt.vocab)} "
                      f"({differing}); leave {differing} out to continue with the saved one")


def saved_reading(tokenizer, spec):
    """The tokenizer options given with --resume (`spec`), filled in from the saved `tokenizer`: its kind where
    --tokenizer is not given, and the options it records (--lowercase, --segment, ...) where they are not; so a
    repeated option is compared with the saved tokenizer, not with another kind's defaults. (--min-freq and
    --max-size are not recorded: the vocabulary is, and the rebuilt one is compared with it.)"""
    from lmkit.commands.common import TokenizerSpec
    from lmkit.text.tokenizer_options import knobs, options_class

    kind = spec.kind if spec.explicit_kind else tokenizer.kind
    if kind != tokenizer.kind:
        return spec
    own = {knob.name for knob in knobs(options_class(kind))}
    recorded = {name: value for name, value in tokenizer.options().items() if name in own}
    return TokenizerSpec(kind, {**recorded, **spec.options})


def tokenizer_options_given(ctx: click.Context) -> bool:
    return any(given(ctx, name) for name in tokenizer_knobs())
