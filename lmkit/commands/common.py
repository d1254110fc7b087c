"""Click options shared by several commands: the corpus, the tokenizer, the models given (ARPA files too),
the CPU threads.

    @click.command()
    @corpus_options                       # --corpus --train --valid --test --encoding-errors
    @tokenizer_options                    # --tokenizer and the options of lmkit.text.tokenizer_options: --min-freq ... --spm-type
    @model_options                        # --tokenizer-from (for models given as ARPA files)
    @threads_option                       # --threads N, applied to torch before the command runs
    def command(corpus_spec: CorpusSpec, tokenizer_spec: TokenizerSpec, opener: ModelOpener, ...):
        corpus = corpus_spec.open()               # fetches a named corpus on first use
        tokenizer = tokenizer_spec.load(corpus)   # built from train only, cached under corpora/<name>/tokenizers/
        member = opener.open(path)                # a model directory or an ARPA file

The decorators gather their options into one object each, so commands take
two arguments instead of twelve and every command spells the options alike.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from lmkit.commands.options import given_options, number, options_from
from lmkit.commands.output_paths import PathGiven
from lmkit.errors import ConfigError, counted
from lmkit.text.normal_forms import escaped, needs_escapes
from lmkit.text.tokenizer_options import TOKENIZER_OPTIONS, tokenizer_knobs

UNDECODABLE = re.compile("[\udc80-\udcff]")  # how Python hands over bytes of argv and stdin that are not UTF-8


def undecodable(text: str) -> str | None:
    """Why `text` (from argv or stdin) is not UTF-8, or None: "byte 0xe9 after 3 characters" (counting from 0,
    "at character 3" was read as the third, where the byte comes fourth)."""
    bad = UNDECODABLE.search(text)
    return None if bad is None else f"byte 0x{ord(bad.group()) - 0xDC00:02x} after {counted(bad.start(), 'character')}"


class Utf8Text(click.ParamType):
    """Text given on the command line. Bytes that are not UTF-8 (a Latin-1 terminal, a pasted file) are
    refused, as they are in files, rather than read as tokens that match nothing."""

    name = "text"

    def convert(self, value, param, ctx):
        if isinstance(value, str) and (why := undecodable(value)):
            try:  # a locale that is not UTF-8 (LC_ALL=C, PYTHONUTF8=0) hands over UTF-8 bytes undecoded
                return os.fsencode(value).decode("utf-8")
            except UnicodeDecodeError:
                self.fail(f"not valid UTF-8 ({why}); lmkit reads UTF-8 text", param, ctx)
        return value


TEXT = Utf8Text()


@dataclass(frozen=True)
class CorpusSpec:
    """What the user chose: a corpus name or local files, and how to treat undecodable bytes."""

    name: str | None = None
    train: tuple[Path, ...] = ()
    valid: tuple[Path, ...] = ()
    test: tuple[Path, ...] = ()
    encoding_errors: str = "strict"
    default: str | None = "shakespeare"
    file_given: bool = False  # lmkit eval --file: a text read as given, with --encoding-errors too

    def __post_init__(self):  # every command that takes these options refuses them alone, before any work
        if self.name is not None and not self.name.strip():  # else read as no --corpus: the default trained
            raise ConfigError(f"--corpus {self.name!r}: the name is empty; name a corpus (`lmkit corpus list`)")
        alone = [option for option, paths in (("--valid", self.valid), ("--test", self.test)) if paths]
        if alone and not self.train:
            raise ConfigError(f"{' and '.join(alone)} need{'s' if len(alone) == 1 else ''} --train: --valid and "
                              "--test are the held-out parts of a --train text")
        if self.encoding_errors != "strict" and not (self.train or self.file_given):
            context = click.get_current_context(silent=True)  # only `lmkit eval` reads a --file
            file_option = context is not None and any(param.name == "file" for param in context.command.params)
            raise ConfigError(f"--encoding-errors {self.encoding_errors} applies only to files read with --train"
                              f"{' or --file' if file_option else ''} (a named corpus is stored as UTF-8 by lmkit; "
                              "arguments and standard input must be UTF-8); drop it")

    @property
    def given(self) -> bool:
        """Whether the user named a corpus (--corpus or --train), rather than leaving the model's own."""
        return bool(self.name or self.train)

    def open(self, fetch: bool = True):
        from lmkit.corpus.catalog import get_corpus

        if self.train:
            if self.name is not None:
                raise ConfigError("give either --corpus or --train, not both")
            return get_corpus(train=list(self.train), valid=list(self.valid) or None, test=list(self.test) or None,
                              fetch=fetch, encoding_errors=self.encoding_errors)
        name = self.name or self.default
        if name is None:
            raise ConfigError("no corpus given: pass --corpus NAME or --train PATH")
        return open_named(name, fetch, self.encoding_errors)


def open_named(name: str, fetch: bool = True, encoding_errors: str = "strict"):
    """A named corpus; a fetch says on stderr what it fetches and where to, before it starts."""
    from lmkit.config.folders import corpora_root
    from lmkit.corpus.catalog import get_corpus
    from lmkit.corpus.sources import CORPORA
    from lmkit.errors import CorpusError

    try:
        return get_corpus(name, fetch=False, encoding_errors=encoding_errors)
    except CorpusError:
        if not fetch or not (name in CORPORA or name.startswith("hf:")):
            raise
    if name.startswith("hf:"):  # a malformed name is refused before a fetch is announced
        from lmkit.corpus.hf import parse_hf_name

        parse_hf_name(name)
    what = CORPORA[name].description if name in CORPORA else "a Hugging Face dataset"
    click.echo(f"fetching {name} ({what}) into {corpora_root().absolute()} ...", err=True)
    return get_corpus(name, fetch=True, encoding_errors=encoding_errors)


@dataclass(frozen=True)
class TokenizerSpec:
    """A tokenizer kind and the options the user set explicitly (the rest keep each tokenizer's defaults)."""

    kind: str = "char"
    options: dict = field(default_factory=dict)
    explicit_kind: bool = False  # --tokenizer given (else `kind` is the command's default)

    def load(self, corpus, rebuild: bool = False):
        from lmkit.text.tokenizer_cache import get_tokenizer, option_defaults

        if self.kind == "word" and not self.options.get("segment"):
            warn_if_unsegmented(corpus)
        elif self.kind == "word" and getattr(corpus, "segmented", False):  # pass 85: re-cut without a word
            click.echo(f"warning: {corpus.name} is already word-segmented, and --segment jieba cuts its words again "
                       "(pku98's 1998年 becomes 1998 年); leave --segment out to keep its own segmentation", err=True)
        tokenizer = get_tokenizer(corpus, self.kind, rebuild=rebuild, **self.options)
        asked = self.options.get("vocab_size", option_defaults(self.kind).get("vocab_size"))
        if asked is not None and len(tokenizer.vocab) < asked:  # sentencepiece stops where the text has no more pieces
            default = "" if "vocab_size" in self.options else " (the default)"
            click.echo(f"warning: --vocab-size {asked:,}{default}: the train split of {corpus.name} gave only "
                       f"{counted(len(tokenizer.vocab), 'piece')} (specials included); that is the vocabulary used",
                       err=True)
        return tokenizer


def warn_if_unsegmented(corpus) -> None:
    """Whitespace words on text written without spaces (Chinese, Thai) are whole clauses or lines: say so, and
    what to use."""
    from lmkit.text.unsegmented import CHINESE, unspaced_script

    script = None if getattr(corpus, "segmented", False) else unspaced_script(corpus.lines("train"))
    if script is not None:
        advice = ("add --segment jieba to cut it into words, or use --tokenizer char" if script == CHINESE else
                  "use --tokenizer char or --tokenizer spm (--segment jieba cuts only Chinese)")
        click.echo(f"warning: most lines of {corpus.name}'s train split are long runs of {script} text with no "
                   "spaces, so --tokenizer word makes each run of it between spaces and punctuation one token (a "
                   f"clause or a whole line); {advice}", err=True)


def corpus_options(function=None, *, default: str | None = "shakespeare"):
    """Add --corpus/--train/--valid/--test/--encoding-errors and pass them as `corpus_spec: CorpusSpec`."""
    if function is None:
        return functools.partial(corpus_options, default=default)
    shown = f" (default: {default})" if default else ""

    @functools.wraps(function)
    def wrapper(*args, corpus, train, valid, test, encoding_errors, **kwargs):
        spec = CorpusSpec(corpus, tuple(train), tuple(valid), tuple(test), encoding_errors, default,
                          file_given=kwargs.get("file") is not None)
        return function(*args, corpus_spec=spec, **kwargs)

    path = PathGiven()
    options = [
        click.option("--corpus", metavar="NAME", default=None,
                     help=f"Named corpus (see `lmkit corpus list`) or hf:NAME[:CONFIG]{shown}."),
        click.option("--train", "train", multiple=True, type=path, metavar="PATH",
                     help="Local UTF-8 text file or folder for training (repeatable); split 90/5/5 unless --valid/--test. "
                          "A folder gives its text files, sorted, hidden ones (.name) and lmkit's model directories and "
                          "reports left out."),
        click.option("--valid", "valid", multiple=True, type=path, metavar="PATH", help="Validation text (with --train)."),
        click.option("--test", "test", multiple=True, type=path, metavar="PATH", help="Test text (with --train)."),
        click.option("--encoding-errors", type=click.Choice(["strict", "replace"]), default="strict", show_default=True,
                     help="On bytes that are not UTF-8: stop with an error, or replace them with U+FFFD."),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def tokenizer_options(function=None, *, default: str = "char"):
    """Add --tokenizer and its options and pass them as `tokenizer_spec: TokenizerSpec`, holding the options
    the user gave (an option the chosen kind does not take is refused when the tokenizer is loaded)."""
    if function is None:
        return functools.partial(tokenizer_options, default=default)

    @functools.wraps(function)
    def wrapper(*args, tokenizer, **kwargs):
        given = given_options(click.get_current_context())
        values = {name: kwargs.pop(name) for name in tokenizer_knobs()}
        spec = TokenizerSpec(tokenizer, {name: value for name, value in values.items() if name in given},
                             explicit_kind="tokenizer" in given)
        return function(*args, tokenizer_spec=spec, **kwargs)

    wrapper = options_from(*TOKENIZER_OPTIONS.values(), union=True)(wrapper)
    return click.option("--tokenizer", type=click.Choice(list(TOKENIZER_OPTIONS)), default=default, show_default=True,
                        help="Characters, whitespace words (jieba for Chinese with --segment), or sentencepiece.")(wrapper)


@dataclass(frozen=True)
class ModelOpener:
    """Opens the models a command is given, model directories or ARPA files (lmkit.checkpoint.model_source), with
    the tokenizer of --tokenizer-from for the ARPA files."""

    tokenizer_from: Path | None = None

    def tokenizer(self):
        return tokenizer_from_path(self.tokenizer_from) if self.tokenizer_from is not None else None

    @property
    def source(self) -> str:
        return f"--tokenizer-from {self.tokenizer_from}"

    def open(self, path: Path):
        from lmkit.checkpoint.model_source import open_model

        return open_model(path, self.tokenizer(), self.source)

    def open_shared(self, paths: list[Path]):
        """Models that must share one vocabulary (a fill pair): see lmkit.checkpoint.model_source.open_models."""
        from lmkit.checkpoint.model_source import open_models

        return open_models(paths, self.tokenizer(), self.source)

    def open_each(self, paths: list[Path]):
        """Models used each on its own, opened one at a time (a report)."""
        from lmkit.checkpoint.model_source import open_each

        return open_each(paths, self.tokenizer(), self.source)


def model_options(function):
    """Add --tokenizer-from and pass it as `opener: ModelOpener`."""

    @functools.wraps(function)
    def wrapper(*args, tokenizer_from, **kwargs):
        return function(*args, opener=ModelOpener(tokenizer_from), **kwargs)

    return click.option(
        "--tokenizer-from", "tokenizer_from", type=PathGiven(), default=None, metavar="PATH",
        help="For a model given as an ARPA file: a tokenizer.json or model directory whose tokenizer it uses "
             "[default: whitespace words from the file's 1-grams, or beside a model directory (--mix, fill) "
             "that directory's tokenizer]. Needed for a model of characters or subword pieces.")(wrapper)


def threads_option(function):
    """Add --threads N (default: what this process may use) and set torch's threads before the command runs."""

    @functools.wraps(function)
    def wrapper(*args, threads, **kwargs):
        from lmkit.config.machine import apply_threads

        apply_threads(threads)
        return function(*args, **kwargs)

    return click.option("--threads", type=number(int, low=1, high=4096), default=None, callback=check_threads, metavar="N",
                        help="CPU threads for torch [default: the CPUs this process may use: its CPU affinity, "
                             "cgroup quota, OMP_NUM_THREADS and MKL_NUM_THREADS].")(wrapper)
CORPUS_PARAMS = ("corpus", "train", "valid", "test", "encoding_errors")  # the click parameters of corpus_options


def given(ctx: click.Context, name: str) -> bool:
    """Whether option `name` was given (command line or environment), not left at its default."""
    return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)


def flag(ctx: click.Context, name: str, value: Any = None) -> str:
    """The option's spelling on the command line: "hidden_size" -> "--hidden-size"; an on/off flag given off
    reads as the user typed it ("--no-lowercase"), or as it would for `value` when that is given (a saved one)."""
    param = next(p for p in ctx.command.params if p.name == name)
    on = ctx.params.get(name) if value is None else value
    if getattr(param, "secondary_opts", None) and on is False:
        return param.secondary_opts[0]
    return param.opts[0]


def refuse_ignored(ctx: click.Context, names, reason: str) -> None:
    """ConfigError naming the options among `names` that were given, where `reason` makes them meaningless."""
    ignored = [flag(ctx, name) for name in names if given(ctx, name)]
    if ignored:
        raise ignored_options(ignored, reason)


def ignored_options(options: list[str], reason: str) -> ConfigError:
    """The one-line error for `options` (as typed) that `reason` would make lmkit ignore."""
    return ConfigError(f"{reason}: {' '.join(options)} would be ignored; drop {'it' if len(options) == 1 else 'them'}")


def tokenizer_from_path(path: Path):
    """A tokenizer from a tokenizer.json file or a model directory holding one."""
    from lmkit.checkpoint.save_load import TOKENIZER_FILE, check_links_inside
    from lmkit.errors import TokenizerError
    from lmkit.text.tokenizers import load_tokenizer

    path = Path(path)
    if path.is_dir():
        check_links_inside(path)  # as loading the model would: its tokenizer.json may not lead out of it
    file = path / TOKENIZER_FILE if path.is_dir() else path
    if not file.exists() and not file.is_symlink():  # a broken link is the JSON reader's to describe
        from lmkit.corpus.store import is_corpus_folder

        if path.is_dir() and is_corpus_folder(path):  # pass 83: it said only that tokenizer.json was missing
            raise TokenizerError(f"{path}: is the folder of a cached corpus, not a tokenizer or a model directory; "
                                 f"give --corpus {path.name} for its tokenizers")
        raise TokenizerError(f"{file}: no such tokenizer file")
    if file.name != TOKENIZER_FILE and (file.parent / TOKENIZER_FILE).is_file():
        raise TokenizerError(f"{file}: is a file of the model directory {file.parent}, not its tokenizer; give "
                             f"{file.parent} (or {file.parent / TOKENIZER_FILE})")
    if ".arpa" in file.name.lower():  # what lmkit ngram --arpa writes, compressed or not
        raise TokenizerError(f"{file}: is an ARPA file, which holds no tokenizer; give the model directory it was "
                             f"written from (or its {TOKENIZER_FILE})")
    return load_tokenizer(file)


def display_token(token: str, quoted: bool = False) -> str:
    """A token as the terminal should show it: spaces and control characters made visible (repr), combining
    marks as \\uXXXX where the token would print as another (lmkit.text.normal_forms: a leading mark, or a token
    not in NFC such as cafe + U+0301); quoted always when `quoted`."""
    if needs_escapes(token):
        return escaped(token)
    plain = token.isprintable() and not any(c.isspace() for c in token)
    return repr(token) if quoted or not plain else token


direction_option = click.option(
    "--direction", type=click.Choice(["forward", "backward"]), default="forward", show_default=True,
    help="backward models each line reversed (for `lmkit fill`).")


def check_threads(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """Beyond the number's own check: at most this machine's logical CPUs (a ConfigError, one line); a warning
    where that is more than this process may run on (taskset, a container's CPU quota): its threads take turns."""
    from lmkit.config.machine import check_threads as check, usable_cpus

    if value is None:
        return None
    check(value)
    usable = usable_cpus()
    if value > usable:
        click.echo(f"warning: --threads {value}: this process may run on {counted(usable, 'CPU')} at once (its CPU "
                   "affinity or its cgroup's CPU quota), so its threads will take turns there; without --threads lmkit "
                   "uses what it may", err=True)
    return value


def warn_if_mostly_unknown(member, evaluation, what: str, left_out_by: str = "the perplexity w/o OOV") -> None:
    """A warning when so many of `what`'s tokens (its Evaluation by `member`: eval's text, rescore's hypotheses)
    are outside the model's vocabulary that its figures mean little (each is scored as <unk>); for an ARPA file,
    whose text is read as whitespace words unless --tokenizer-from says otherwise, the likely cause: a character
    model's ARPA file read Chinese lines as one word each, 50% <unk>. An ARPA file without <unk> (a closed
    vocabulary) gives each such token log10 -100, which a warning of its own names, beside that one, whatever
    their number; `left_out_by`: the figure that leaves them out, or None where the output has none."""
    from lmkit.checkpoint.model_source import ARPA_WORDS_ADVICE
    from lmkit.models.ngram.arpa import UNKNOWN_MISSING

    if evaluation.oov and member.closed_vocabulary:  # its <unk> a substitute: every OOV costs ~230 nats
        one = evaluation.oov == 1
        left_out = f"; {left_out_by} leaves {'it' if one else 'them'} out" if left_out_by else ""
        click.echo(f"warning: {member.name} lists no <unk> (a closed vocabulary): {counted(evaluation.oov, 'token')} "
                   f"of {what} {'is' if one else 'are'} outside it, each given log10 probability {UNKNOWN_MISSING:g} "
                   f"as KenLM gives it{left_out}", err=True)
    if not evaluation.mostly_unknown:
        return
    hint = f" ({ARPA_WORDS_ADVICE})" if member.reads_arpa_words else ""
    click.echo(f"warning: {100 * evaluation.oov_rate:.1f}% of the {evaluation.total.tokens:,} tokens of {what} are "
               f"outside {member.name}'s vocabulary and scored as <unk>{hint}", err=True)
