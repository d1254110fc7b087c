"""`lmkit train`: options -> corpus, tokenizer, model, TrainConfig -> Trainer -> summary."""
from __future__ import annotations

import sys

import click

from lmkit.commands.common import corpus_options, direction_option, threads_option, tokenizer_options
from lmkit.commands.options import number, options_from
from lmkit.commands.output_paths import ModelDirectory, PathGiven
from lmkit.commands.train_models import MODEL_FAMILIES
from lmkit.errors import ConfigError
from lmkit.train.config import TrainConfig
from lmkit.train.presets import PRESETS


def model_options(f):
    f = options_from(*dict.fromkeys(MODEL_FAMILIES.values()), union=True)(f)
    return click.option("--model", "model", type=click.Choice(list(MODEL_FAMILIES)), default="lstm", show_default=True,
                        help="Recurrent cell (rnn_tanh/rnn_relu are Elman RNNs), the hand-written scratch-rnn, "
                             "or ngram.")(f)


def run_options(f):
    options = [
        direction_option,
        click.option("--out", type=ModelDirectory(), default=None,
                     help="Model directory: a new or empty folder, or one lmkit made [default: checkpoints/<corpus>-<tokenizer>-<model>]."),
        click.option("--overwrite", is_flag=True, help="Replace a model lmkit saved in --out before (never a folder lmkit did not make)."),
        click.option("--resume", type=PathGiven(), default=None, help="Continue a run from its model directory."),
        click.option("--preset", type=click.Choice(list(PRESETS)), default=None,
                     help="A named bundle of settings (awd: Merity et al.'s word-level AWD-LSTM with dropouts for a "
                          "CPU's few passes, and on 10,000+ types an untied adaptive softmax; awd-paper: with their "
                          "own, tied; awd-char: their character-level "
                          "regularisers; small-corpus: a small tied LSTM with strong dropout, "
                          "AR/TAR and --rare-unk, for corpora of tens of thousands of tokens); options given override its values."),
        click.option("--nproc", type=number(int, low=1, high=1024), default=None,
                     help="Start this many processes on this machine, as torchrun --standalone would (DistributedDataParallel)."),
        click.option("--sample-tokens", type=number(int, low=0, high=2**20), default=300,
                     show_default=True, help="Length of the sample printed at the end (0: none)."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.command(context_settings={"show_default": False})
@corpus_options
@tokenizer_options
@model_options
@options_from(TrainConfig)
@run_options
@threads_option
@click.pass_context
def command(ctx, corpus_spec, tokenizer_spec, **opts):
    """Train a language model; with no options, a character LSTM on Shakespeare (under 10 minutes on 2 CPU cores).

    Writes a model directory (config.json, tokenizer.json, model.safetensors, metrics.jsonl, last/ for
    --resume), prints progress, validation perplexity and bits/char, and a short sample at the end.
    """
    if opts["nproc"] is not None:
        if opts["model"] == "ngram":
            raise ConfigError(f"--nproc {opts['nproc']} does not apply to --model ngram: an N-gram model is counted "
                              "in one process")
        from lmkit.commands.options import given_options
        from lmkit.commands.train_launch import check_job, launch

        given = given_options(ctx)
        check_job(opts["nproc"], opts["device"], opts["batch_size"] if "batch_size" in given else None)
        sys.exit(launch(opts["nproc"], strip_option(sys.argv[1:] if ctx.parent else [], "--nproc")))
    from lmkit.commands.output_guard import surviving_output
    from lmkit.commands.train_run import run_training

    with surviving_output():  # `| tee log` and Ctrl-C, a closed terminal: a reader gone must not cost the checkpoint
        code = run_training(ctx, corpus_spec, tokenizer_spec, opts)
    from lmkit.train.distributed import job_size

    if job_size() > 1:  # process 0 of a job (the others left in run_training)
        from lmkit.commands.train_run import leave_without_teardown

        leave_without_teardown(code)
    sys.exit(code)


def strip_option(argv: list[str], name: str) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out
