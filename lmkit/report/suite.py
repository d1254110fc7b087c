"""The baseline suite: the standard set of models trained on one corpus and tokenizer.

    unigram .. 5-gram, add-k and interpolated modified Kneser-Ney      (seconds: counting)
    Elman RNN (tanh), GRU, LSTM at one size                            (minutes: a shared time budget)

The neural models split `budget_minutes` evenly; each trains with early
stopping, validating often enough to draw a learning curve (the interval is
calibrated from a few timed steps). Every model is a normal model directory,
so `lmkit eval` and `lmkit generate` work on it, and its config.json records
the `lmkit train` command line that trains the same model.
"""
from __future__ import annotations

import copy
import shlex
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from lmkit.checkpoint import CONFIG_FILE, check_model_directory, read_config, save_model
from lmkit.text.batches import batchify, window
from lmkit.text.id_cache import encoded_split
from lmkit.errors import ConfigError
from lmkit.evaluate.perplexity import stream_nll
from lmkit.fileio import write_json_atomic
from lmkit.train.trainer import TrainCallbacks, Trainer, detach
from lmkit.train.config import TrainConfig

CELL_NAMES = {"rnn_tanh": "Elman RNN", "rnn_relu": "Elman RNN (relu)", "gru": "GRU", "lstm": "LSTM"}
SMOOTHING_NAMES = {"add-k": "add-k", "kn": "Kneser-Ney", "mle": "MLE"}


@dataclass
class SuiteConfig:
    budget_minutes: float = 20.0            # for all neural models together
    orders: tuple[int, ...] = (1, 2, 3, 4, 5)
    smoothings: tuple[str, ...] = ("add-k", "kn")
    add_k: float = 0.1
    cells: tuple[str, ...] = ("rnn_tanh", "gru", "lstm")
    emb_size: int = 64
    hidden_size: int = 256
    layers: int = 1
    out_dropout: float = 0.2
    batch_size: int = 32
    bptt: int = 64
    lr: float = 3e-3
    patience: int = 3
    evaluations: int = 12                   # validations wanted per neural model (for its learning curve)
    seed: int = 1234
    device: str = "auto"
    reuse: bool = False                     # keep models already trained in the output folder
    tokenizer_flags: list[str] = field(default_factory=list)   # e.g. ["--tokenizer", "char"], for the recorded commands

    def validate(self) -> None:
        if not self.budget_minutes > 0:
            raise ConfigError(f"--budget-minutes must be positive, got {self.budget_minutes}")

    def neural_seconds(self) -> float:
        return 60.0 * self.budget_minutes / max(len(self.cells), 1)


@dataclass
class SuiteModel:
    name: str
    directory: Path
    command: str


def ngram_name(order: int, smoothing: str) -> str:
    return f"{order}-gram {SMOOTHING_NAMES[smoothing]}"


def train_command(corpus, config: SuiteConfig, directory: Path, model_flags: list[str]) -> str:
    return shlex.join(["lmkit", "train", "--corpus", corpus.name, *config.tokenizer_flags, *model_flags,
                       "--seed", str(config.seed), "--out", str(directory)])


def fresh_directory(directory: Path) -> None:
    """Clear a model directory left by an earlier suite run (metrics.jsonl appends, so it must start empty);
    a folder lmkit did not make is refused, never removed."""
    check_model_directory(directory)
    if directory.is_dir() and not directory.is_symlink():
        shutil.rmtree(directory)


def build_ngrams(corpus, tokenizer, models_dir: Path, config: SuiteConfig, say: Callable[[str], None]) -> list[SuiteModel]:
    from lmkit.models.ngram.model import build_ngram

    train = np.asarray(encoded_split(corpus, tokenizer, "train"))
    built = []
    for smoothing in config.smoothings:
        for order in config.orders:
            directory = models_dir / f"ngram-{smoothing}-{order}"
            flags = ["--model", "ngram", "--order", str(order), "--smoothing", smoothing]
            flags += ["--k", f"{config.add_k:g}"] if smoothing == "add-k" else []
            command = train_command(corpus, config, directory, flags)
            built.append(SuiteModel(ngram_name(order, smoothing), directory, command))
            if config.reuse and (directory / CONFIG_FILE).exists():
                continue
            fresh_directory(directory)
            say(f"counting {ngram_name(order, smoothing)}")
            started = time.monotonic()
            model = build_ngram(train, tokenizer.vocab, order=order, smoothing=smoothing, k=config.add_k)
            seconds = time.monotonic() - started
            save_model(directory, model, tokenizer, {"corpus": corpus.name, "direction": "forward",
                                                     "train": {"command": command, "seconds": seconds}})
    return built


def timed_step_seconds(model, batch: torch.Tensor, bptt: int, repeats: int = 3) -> float:
    """Median seconds of one training step (forward, backward, AdamW) on a throwaway copy of `model`."""
    probe = copy.deepcopy(model).train()
    optimizer = torch.optim.AdamW(probe.parameters(), lr=1e-3)
    state, times = probe.init_state(batch.shape[0]), []
    for i in range(repeats + 1):
        inputs, targets = window(batch, (i * bptt) % max(batch.shape[1] - 1, 1), bptt)
        started = time.perf_counter()
        logp, state = probe(inputs, targets, state)
        (-logp.mean()).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state = detach(state)
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def eval_interval(model, train: np.ndarray, valid: np.ndarray, config: SuiteConfig, seconds: float, device) -> int:
    """Steps between validations so that about `config.evaluations` fit in `seconds` (for the learning
    curve), spending at most a fifth of the time on validation."""
    batch = batchify(train, config.batch_size, "the training split").to(device)
    step = timed_step_seconds(model, batch, config.bptt)
    sample = valid[: min(len(valid), 20_000)]
    started = time.perf_counter()
    stream_nll(copy.deepcopy(model).eval(), sample, device=device)
    evaluation = (time.perf_counter() - started) * len(valid) / max(len(sample), 1)
    count = max(2, min(config.evaluations, int(0.2 * seconds / max(evaluation, 1e-3))))
    return max(1, int((seconds - count * evaluation) / count / max(step, 1e-6)))


def neural_flags(cell: str, config: SuiteConfig, eval_every: int, seconds: float) -> list[str]:
    return ["--model", cell, "--emb-size", str(config.emb_size), "--hidden-size", str(config.hidden_size),
            "--layers", str(config.layers), "--dropout", "0", "--out-dropout", f"{config.out_dropout:g}",
            "--batch-size", str(config.batch_size), "--bptt", str(config.bptt), "--lr", f"{config.lr:g}",
            "--epochs", "1000", "--patience", str(config.patience), "--eval-every", str(eval_every),
            "--max-time", f"{seconds:.0f}"]


def train_neural(corpus, tokenizer, cell: str, directory: Path, config: SuiteConfig,
                 callbacks: TrainCallbacks | None) -> str:
    """Train one recurrent model within its share of the budget; returns the equivalent command line."""
    from lmkit.models.neural.rnn import RNNConfig, RNNLM
    from lmkit.train.config import select_device

    torch.manual_seed(config.seed)
    model = RNNLM(tokenizer.vocab, RNNConfig(cell=cell, emb_size=config.emb_size, hidden_size=config.hidden_size,
                                             layers=config.layers, dropout=0.0, out_dropout=config.out_dropout))
    train = np.asarray(encoded_split(corpus, tokenizer, "train"))
    valid = np.asarray(encoded_split(corpus, tokenizer, "valid"))
    device = select_device(config.device)
    seconds = config.neural_seconds()
    every = eval_interval(model.to(device), train, valid, config, seconds, device)
    command = train_command(corpus, config, directory, neural_flags(cell, config, every, seconds))
    train_config = TrainConfig(epochs=1000, max_time=seconds, batch_size=config.batch_size, bptt=config.bptt,
                               lr=config.lr, patience=config.patience, eval_every=every, seed=config.seed,
                               device=config.device)
    extra = {"corpus": corpus.name, "direction": "forward",
             "train": {"command": command, "tokenizer": tokenizer.describe(), "config": train_config.to_dict(),
                       "parameters": model.num_parameters()}}
    trainer = Trainer(model, tokenizer, train, valid, train_config, directory, extra=extra, callbacks=callbacks,
                      valid_chars=corpus.num_chars("valid"))
    result = trainer.run()  # validates once more when the time is up, so config.json holds the best model
    saved = read_config(directory)
    saved["train"] = {**saved.get("train", {}), "seconds": result.progress.elapsed, "stopped": result.stopped}
    write_json_atomic(directory / CONFIG_FILE, saved)
    return command


def run_suite(corpus, tokenizer, out: Path, config: SuiteConfig, say: Callable[[str], None] = lambda _: None,
              callbacks: Callable[[str], TrainCallbacks] | None = None) -> list[SuiteModel]:
    """Train the baseline suite into out/models/; returns the models in report order."""
    config.validate()
    models_dir = Path(out) / "models"
    models = build_ngrams(corpus, tokenizer, models_dir, config, say)
    for cell in config.cells:
        directory = models_dir / cell
        name = CELL_NAMES[cell]
        if config.reuse and (directory / CONFIG_FILE).exists():
            models.append(SuiteModel(name, directory, (read_config(directory).get("train") or {}).get("command", "")))
            continue
        fresh_directory(directory)
        say(f"training {name} for up to {config.neural_seconds() / 60:.1f} minutes")
        command = train_neural(corpus, tokenizer, cell, directory, config, callbacks(name) if callbacks else None)
        models.append(SuiteModel(name, directory, command))
    return models
