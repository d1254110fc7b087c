"""`lmkit report`: evaluate models on one test split (or train the baseline suite first) and write
report.md, report.json, report.html and PNG plots."""
from __future__ import annotations

import shlex
import sys

import click

from lmkit.commands.common import corpus_options, model_options, refuse_ignored, threads_option, tokenizer_options
from lmkit.commands.evaluate import refuse_unused_adaptive
from lmkit.commands.options import config_from, number, options_from
from lmkit.commands.output_paths import PathGiven
from lmkit.evaluate.adaptive_config import AdaptiveConfig
from lmkit.errors import ConfigError
from lmkit.report.suite import SUITE_ONLY, SuiteConfig
from lmkit.text.tokenizer_options import tokenizer_knobs


@click.command()
@click.argument("model_dirs", metavar="[MODEL]...", nargs=-1, type=PathGiven())
@corpus_options(default=None)
@tokenizer_options
@click.option("--suite", type=click.Choice(["baseline"]), default=None,
              help="Train the standard set first: 1- to 5-gram add-k and Kneser-Ney, Elman RNN, GRU and LSTM.")
@options_from(SuiteConfig)
@click.option("--out", type=PathGiven(writes="a folder"), default=None,
              help="Output folder [default: reports/<corpus>-<tokenizer>].")
@click.option("--sample-tokens", type=number(int, low=0, high=2**20), default=80, show_default=True, help="Length of each model's sample (0: none).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@options_from(AdaptiveConfig)
@model_options
@threads_option
@click.pass_context
def command(ctx, model_dirs, corpus_spec, tokenizer_spec, suite, out, sample_tokens, quiet, opener, **setting_options):
    """Compare MODELs (model directories or ARPA files) and/or the --suite baseline on one test split.

    With --corpus all models are scored on that corpus's valid and test splits, each with its
    own tokenizer; without it, each on the corpus it was trained on. Models with different
    vocabularies never share a perplexity column: bits per character compares them.

    --cache N, --dynamic and --memory add a table apart from these: each model (that can)
    evaluated with the neural cache and dynamic evaluation, which adapt to the test text
    already read, and with a memory of its train split (the kNN-LM).
    """
    from lmkit.commands.report_run import run_report

    if not model_dirs and suite is None:
        raise ConfigError("nothing to report: give MODELs, or --suite baseline with --corpus NAME")
    if suite is not None and not corpus_spec.given:
        raise ConfigError("--suite baseline needs a corpus: --corpus NAME or --train PATH")
    if suite is None:
        refuse_ignored(ctx, SUITE_ONLY, "there is no --suite baseline to train")
        refuse_ignored(ctx, ("tokenizer", *tokenizer_knobs()),
                       "there is no --suite baseline to train (each MODEL reads text with its own tokenizer)")
        if sample_tokens == 0:
            refuse_ignored(ctx, ("seed",), "--sample-tokens 0 draws no sample")
    suite_config = config_from(SuiteConfig, setting_options)
    adaptive = config_from(AdaptiveConfig, setting_options)
    refuse_unused_adaptive(ctx, adaptive)
    options = {"suite": suite, "suite_config": suite_config, "out": out, "sample_tokens": sample_tokens,
               "seed": suite_config.seed, "device": suite_config.device, "quiet": quiet,
               "adaptive": adaptive,
               "command": shlex.join(["lmkit", *sys.argv[1:]])}
    written, table = run_report(list(model_dirs), corpus_spec, tokenizer_spec, opener, options)
    click.echo(table)
    for what in ("markdown", "html", "json", "bits_per_char", "curves", "tokens"):
        if what in written:
            click.echo(f"wrote {written[what]}")
