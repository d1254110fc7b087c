"""`lmkit report`: evaluate models on one test split (or train the baseline suite first) and write
report.md, report.json, report.html and PNG plots."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from lmkit.commands.common import corpus_options, model_options, tokenizer_options
from lmkit.commands.options import number
from lmkit.settings import LARGEST_SEED
from lmkit.errors import ConfigError


@click.command()
@click.argument("model_dirs", metavar="[MODEL]...", nargs=-1, type=click.Path(path_type=Path))
@corpus_options(default=None)
@tokenizer_options
@click.option("--suite", type=click.Choice(["baseline"]), default=None,
              help="Train the standard set first: 1- to 5-gram add-k and Kneser-Ney, Elman RNN, GRU and LSTM.")
@click.option("--budget-minutes", type=number(float, low=0, low_open=True, high=1e6), default=20.0, show_default=True,
              help="--suite: training time for the neural models together (split evenly); N-grams take seconds.")
@click.option("--add-k", type=number(float, low=0, low_open=True, high=1e6), default=0.1, show_default=True, help="--suite: the k of the add-k N-grams.")
@click.option("--reuse", is_flag=True, help="--suite: keep models already trained in the output folder.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder [default: reports/<corpus>-<tokenizer>].")
@click.option("--sample-tokens", type=number(int, low=0, high=2**20), default=80, show_default=True, help="Length of each model's sample (0: none).")
@click.option("--seed", type=number(int, low=0, high=LARGEST_SEED), default=1234, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@model_options
def command(model_dirs, corpus_spec, tokenizer_spec, suite, budget_minutes, add_k, reuse, out, sample_tokens, seed,
            device, quiet, opener):
    """Compare MODELs (model directories or ARPA files) and/or the --suite baseline on one test split.

    With --corpus all models are scored on that corpus's valid and test splits, each with its
    own tokenizer; without it, each on the corpus it was trained on. Models with different
    vocabularies never share a perplexity column: bits per character compares them.
    """
    from lmkit.commands.report_run import run_report

    if not model_dirs and suite is None:
        raise ConfigError("nothing to report: give MODELs, or --suite baseline with --corpus NAME")
    if suite is not None and not (corpus_spec.name or corpus_spec.train):
        raise ConfigError("--suite baseline needs a corpus: --corpus NAME or --train PATH")
    if sample_tokens < 0:
        raise ConfigError(f"--sample-tokens must be at least 0, got {sample_tokens}")
    options = {"suite": suite, "budget_minutes": budget_minutes, "add_k": add_k, "reuse": reuse, "out": out,
               "sample_tokens": sample_tokens, "seed": seed, "device": device, "quiet": quiet,
               "command": shlex.join(["lmkit", *sys.argv[1:]])}
    written, table = run_report(list(model_dirs), corpus_spec, tokenizer_spec, opener, options)
    click.echo(table)
    for what in ("markdown", "html", "json", "bits_per_char", "curves", "tokens"):
        if what in written:
            click.echo(f"wrote {written[what]}")
