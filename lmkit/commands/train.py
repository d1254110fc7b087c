"""`lmkit train`: options -> corpus, tokenizer, model, TrainConfig -> Trainer -> summary."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import click

from lmkit.commands.common import corpus_options, threads_option, tokenizer_options
from lmkit.commands.train_models import MODEL_CHOICES
from lmkit.errors import ConfigError
from lmkit.runtime import DEFAULT_PRECISION, PRECISIONS
from lmkit.train_config import OPTIMIZERS, TrainConfig

# The main job: `lmkit train` alone trains a character LSTM on Shakespeare in under 10 minutes on 2 CPU cores.
DEFAULT_MAX_TIME = 420.0


def model_options(f):
    options = [
        click.option("--model", "model", type=click.Choice(MODEL_CHOICES), default="lstm", show_default=True,
                     help="Recurrent cell (rnn_tanh/rnn_relu are Elman RNNs), the hand-written scratch-rnn, or ngram."),
        click.option("--emb-size", type=int, default=64, show_default=True, help="Embedding size (scratch-rnn: 0 = one-hot input)."),
        click.option("--hidden-size", type=int, default=256, show_default=True, help="Hidden units per layer."),
        click.option("--layers", type=int, default=2, show_default=True, help="Stacked recurrent layers (a deep RNN)."),
        click.option("--dropout", type=float, default=0.1, show_default=True, help="Dropout between stacked layers."),
        click.option("--emb-dropout", type=float, default=0.0, show_default=True, help="Dropout on the embeddings."),
        click.option("--out-dropout", type=float, default=0.1, show_default=True, help="Dropout before the softmax."),
        click.option("--softmax", type=click.Choice(["full", "adaptive"]), default="full", show_default=True,
                     help="adaptive: frequency-clustered softmax for large word vocabularies (1000+ types)."),
        click.option("--tie-weights", is_flag=True, help="Share the embedding matrix with the softmax weights (needs emb = hidden size)."),
        click.option("--nonlinearity", type=click.Choice(["tanh", "relu"]), default="tanh", show_default=True, help="scratch-rnn only."),
        click.option("--bptt-truncate", type=int, default=None, help="scratch-rnn only: propagate errors at most this many steps back inside a window."),
        click.option("--order", type=int, default=5, show_default=True, help="ngram only: the N in N-gram."),
        click.option("--smoothing", type=click.Choice(["kn", "add-k", "mle"]), default="kn", show_default=True, help="ngram only."),
        click.option("--k", "add_k", type=float, default=1.0, show_default=True, help="ngram only: the k of add-k smoothing."),
        click.option("--direction", type=click.Choice(["forward", "backward"]), default="forward", show_default=True,
                     help="backward trains on each line reversed (for `lmkit fill`)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def trainer_options(f):
    options = [
        click.option("--epochs", type=int, default=20, show_default=True, help="Passes over the training split."),
        click.option("--max-steps", type=int, default=None, help="Stop after this many optimizer steps."),
        click.option("--max-time", type=float, default=None, help=f"Stop after this many seconds of training [default: {DEFAULT_MAX_TIME:g} for the default Shakespeare run, else none]."),
        click.option("--batch-size", type=int, default=64, show_default=True, help="Parallel streams B."),
        click.option("--bptt", type=int, default=128, show_default=True, help="Tokens per truncated-BPTT window."),
        click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="adamw", show_default=True),
        click.option("--lr", type=float, default=None, help="Learning rate [default: 3e-3 for adamw, 20 for sgd]."),
        click.option("--weight-decay", type=float, default=0.0, show_default=True),
        click.option("--lr-decay", type=float, default=4.0, show_default=True, help="Divide the LR by this when validation stops improving."),
        click.option("--clip", type=float, default=1.0, show_default=True, help="Max gradient norm (0 disables)."),
        click.option("--patience", type=int, default=3, show_default=True, help="Evaluations without improvement before stopping."),
        click.option("--eval-every", type=int, default=200, show_default=True, help="Steps between validations (and at each epoch end)."),
        click.option("--save-every", type=int, default=None, help="Steps between resumable checkpoints besides each validation."),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps."),
        click.option("--precision", type=click.Choice(PRECISIONS), default=DEFAULT_PRECISION, show_default=True,
                     help="bf16: matmuls in bf16 (softmax and loss in fp32); auto: bf16 where the device has bf16 units "
                          "(AVX512_BF16, AMX, or a CUDA GPU with bf16), else fp32."),
        click.option("--seed", type=int, default=1234, show_default=True),
        click.option("--compile", "compile_", is_flag=True, help="torch.compile the model."),
        click.option("--on-nan", type=click.Choice(["stop", "rollback"]), default="stop", show_default=True,
                     help="On a NaN/inf loss: stop keeping the last good checkpoint, or roll back to it with half the LR."),
        click.option("--out", type=click.Path(path_type=Path), default=None, help="Model directory [default: checkpoints/<corpus>-<tokenizer>-<model>]."),
        click.option("--overwrite", is_flag=True, help="Replace a model already in --out."),
        click.option("--resume", type=click.Path(path_type=Path), default=None, help="Continue a run from its model directory."),
        click.option("--nproc", type=int, default=None, help="Launch this many processes with torchrun (DistributedDataParallel)."),
        click.option("--sample-tokens", type=int, default=300, show_default=True, help="Length of the sample printed at the end (0: none)."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.command(context_settings={"show_default": False})
@corpus_options
@tokenizer_options
@model_options
@trainer_options
@threads_option
@click.pass_context
def command(ctx, corpus_spec, tokenizer_spec, **opts):
    """Train a language model; with no options, a character LSTM on Shakespeare (under 10 minutes on 2 CPU cores).

    Writes a model directory (config.json, tokenizer.json, model.safetensors, metrics.jsonl, last/ for
    --resume), prints progress, validation perplexity and bits/char, and a short sample at the end.
    """
    if opts["nproc"] is not None:
        sys.exit(launch_torchrun(opts["nproc"], sys.argv[1:] if ctx.parent else []))
    from lmkit.commands.train_run import run_training

    sys.exit(run_training(ctx, corpus_spec, tokenizer_spec, opts))


def launch_torchrun(nproc: int, argv: list[str]) -> int:
    """Re-run this command under torchrun with `nproc` processes on this machine."""
    if nproc < 1:
        raise ConfigError(f"--nproc must be at least 1, got {nproc}")
    args = strip_option(argv, "--nproc")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m", "lmkit", *args]
    click.echo(f"launching: {shlex.join(cmd)}", err=True)
    return subprocess.call(cmd, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})


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
