"""The body of `lmkit report`: corpus and tokenizer, the suite if asked, one row per model, the files."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import click

from lmkit.errors import ConfigError


def tokenizer_flags(tokenizer_spec) -> list[str]:
    """The command-line flags that choose this tokenizer again: ['--tokenizer', 'word', '--no-split-punct']."""
    from lmkit.config.settings import changed_flags
    from lmkit.text.tokenizer_options import TOKENIZER_OPTIONS

    return ["--tokenizer", tokenizer_spec.kind, *changed_flags(tuple(TOKENIZER_OPTIONS.values()), tokenizer_spec.options)]


def default_out(corpus, tokenizer_kind: str | None, model_dirs: list[Path]) -> Path:
    if corpus is not None:
        return Path("reports") / f"{corpus.name}-{tokenizer_kind or 'models'}"
    from lmkit.checkpoint.save_load import read_config

    first = Path(model_dirs[0])
    name = (read_config(first).get("corpus") if first.is_dir() else None) or "models"  # an ARPA file names no corpus
    return Path("reports") / f"{name}-models"


def train_suite(corpus, tokenizer_spec, options: dict, out: Path) -> tuple[list, object]:
    from lmkit.commands.progress import bars_wanted
    from lmkit.commands.train_output import ProgressPrinter
    from lmkit.report.suite import run_suite

    tokenizer = tokenizer_spec.load(corpus)
    config = dataclasses.replace(options["suite_config"], tokenizer_flags=tokenizer_flags(tokenizer_spec))
    say = (lambda _: None) if options["quiet"] else (lambda text: click.echo(text, err=True))
    printer = ProgressPrinter(enabled=not options["quiet"], bars=bars_wanted(options["quiet"]))
    try:
        return run_suite(corpus, tokenizer, out, config, say, callbacks=lambda name: printer), tokenizer
    finally:
        printer.close()


def best_mixture(rows: list, corpus, shared: dict) -> list:
    """Mikolov's comparison in one row: the best neural model interpolated with the best N-gram (by validation)."""
    from lmkit.report.compare import describe_mixture

    def best(candidates):
        return min(candidates, key=lambda r: r.valid["nll"], default=None)

    neural = best([r for r in rows if r.kind != "ngram" and r.valid])
    ngram = best([r for r in rows if r.kind == "ngram" and r.valid and r.token_unit == getattr(neural, "token_unit", None)])
    if neural is None or ngram is None:
        return []
    return [describe_mixture([Path(neural.directory), Path(ngram.directory)], [neural.name, ngram.name], corpus, **shared)]


def refuse_cloze_models(model_dirs: list[Path]) -> None:
    """A bidirectional model has no perplexity to put in the report's columns: refused before any work."""
    from lmkit.checkpoint.save_load import read_config
    from lmkit.models.neural.cloze import CLOZE_CELLS

    for directory in map(Path, model_dirs):
        kind = read_config(directory).get("kind") if (directory / "config.json").is_file() else None
        if kind in CLOZE_CELLS:
            raise ConfigError(f"{directory} is a bidirectional cloze model ({kind}); it has no perplexity to "
                              "compare in a report: lmkit eval gives its pseudo-perplexity")


def run_report(model_dirs: list[Path], corpus_spec, tokenizer_spec, opener, options: dict) -> tuple[dict, str]:
    """Returns the files written and the table as Markdown (for the terminal)."""
    from lmkit.report.folder import ReportLock, check_report_folder

    refuse_cloze_models(model_dirs)
    given = opener.open_each([Path(d) for d in model_dirs])  # checked now, each opened when its row is made
    corpus = corpus_spec.open() if corpus_spec.given else None
    suite = options["suite"] is not None
    out = Path(options["out"] or default_out(corpus, tokenizer_spec.kind if suite else None, model_dirs))
    check_report_folder(out)  # a user's folder is refused before the lock puts a file into it
    with ReportLock(out):
        check_report_folder(out)  # again, now that no other report can be writing into it
        return write_report_files(model_dirs, given, corpus, tokenizer_spec, out, options)


def write_report_files(model_dirs: list[Path], given: list, corpus, tokenizer_spec, out: Path,
                       options: dict) -> tuple[dict, str]:
    """The suite if asked, one row per model, the files in `out` (held by this process)."""
    from lmkit.report.compare import build_report, describe_model, write_report
    from lmkit.report.folder import claim_report_folder
    from lmkit.report.markdown import markdown_table
    from lmkit.report.tables import ADAPTIVE_HEADING, adaptive_regimes, adaptive_table, model_table
    from lmkit.train.config import select_device

    suite = options["suite"] is not None
    trained = []
    commands = [options["command"]]
    title = corpus.name if corpus is not None else "models on their own test splits"
    if suite:
        claim_report_folder(out)  # the suite's models are trained into it
        trained, tokenizer = train_suite(corpus, tokenizer_spec, options, out)
        commands += [m.command for m in trained]
        title = f"{corpus.name} ({tokenizer.describe()})"
    refuse_one_model_twice([Path(m.directory) for m in trained] + [Path(d) for d in model_dirs])
    shared = {"sample_tokens": options["sample_tokens"], "seed": options["seed"], "device": select_device(options["device"])}
    adaptive = options.get("adaptive")
    rows = [describe_model(m.directory, corpus, name=m.name, adaptive=adaptive, **shared) for m in trained]
    labels = distinct_labels([Path(d) for d in model_dirs], taken={m.name for m in trained})
    rows += [describe_model(member, corpus, name=label, adaptive=adaptive, **shared)
             for member, label in zip(given, labels)]
    if suite:
        rows += best_mixture(rows, corpus, shared)
    if corpus is None and len({r.test_text for r in rows}) == 1:
        title = rows[0].test_text
    commands += [r.command for r in rows if r.command and r.command not in commands]
    report = build_report(rows, title, commands, adaptive.asked() if adaptive is not None else [])
    written = write_report(report, out)
    table = model_table(report.rows, with_perplexity=len(report.groups) == 1)
    lines = markdown_table(table) + [""]
    regimes = adaptive_regimes(report.rows)
    if regimes:
        adaptive_rows = adaptive_table(report.rows, regimes, with_perplexity=len(report.groups) == 1)
        lines += [ADAPTIVE_HEADING, ""] + markdown_table(adaptive_rows) + [""]
    return written, "\n".join(lines + [f"- {n}" for n in report.notes])


def refuse_one_model_twice(paths: list[Path]) -> None:
    """Two rows of one model are refused, however it is spelled: `m`, `./m/`, `d/../m`, an absolute path, a link."""
    seen: dict[tuple, Path] = {}
    for path in paths:
        try:
            status = path.stat()
            identity: tuple = (status.st_dev, status.st_ino)  # the folder or file itself, through links
        except OSError:
            identity = (os.path.normpath(path.absolute()),)
        if identity in seen:
            first = seen[identity]
            if str(first) == str(path):
                raise ConfigError(f"{path} is listed twice; give each model once")
            raise ConfigError(f"{first} and {path} are one model (the same {'folder' if path.is_dir() else 'file'}); "
                              "give each model once")
        seen[identity] = path


def distinct_labels(paths: list[Path], taken: set[str] = frozenset()) -> list[str]:
    """Each model's row label: its folder or file name, with as many parent folders as tell it apart from the
    others' (d1/m and d2/m, not m twice), read from the path as typed (`..` resolved, links kept)."""
    parts = [Path(os.path.normpath(p.absolute())).parts for p in paths]
    depth = [1] * len(paths)
    while True:
        labels = [str(Path(*part[-n:])) for part, n in zip(parts, depth)]
        clashes = [i for i, label in enumerate(labels)
                   if (label in taken or labels.count(label) > 1) and depth[i] < len(parts[i])]  # a longer one exists
        if not clashes:
            return labels
        for i in clashes:
            depth[i] += 1

