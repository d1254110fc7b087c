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
import signal
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from lmkit.checkpoint.ownership import LOCK_FILE, check_model_directory, first_foreign_entry, read_names
from lmkit.checkpoint.save_load import CONFIG_FILE, read_config, save_model, vocab_record
from lmkit.config.settings import LARGEST_SEED, changed_flags, check_settings, setting
from lmkit.errors import ConfigError
from lmkit.evaluate.perplexity import stream_nll
from lmkit.files.writing import write_json_atomic
from lmkit.models.neural.rnn import RNNConfig
from lmkit.stop_signals import Terminated
from lmkit.text.batches import batchify, window
from lmkit.text.id_cache import encoded_split
from lmkit.train.config import TrainConfig
from lmkit.train.optimizers import make_optimizer
from lmkit.train.resume_state import DirectoryLock, check_last_folders
from lmkit.train.hidden_state import detach
from lmkit.train.trainer import TrainCallbacks, Trainer

CELL_NAMES = {"rnn_tanh": "Elman RNN", "rnn_relu": "Elman RNN (relu)", "gru": "GRU", "lstm": "LSTM"}
SMOOTHING_NAMES = {"add-k": "add-k", "kn": "Kneser-Ney", "mle": "MLE"}


# What the suite changes from RNNConfig's and TrainConfig's defaults, so that three cells share one
# budget fairly on small corpora: one layer, dropout before the softmax, a shorter window, and epochs
# left to the time budget and early stopping. Everything else is the defaults.
SUITE_MODEL_CHANGES = {"layers": 1, "out_dropout": 0.2}
SUITE_TRAIN_CHANGES = {"bptt": 64, "epochs": 1000}
SUITE_ONLY = ("budget_minutes", "add_k", "reuse")  # SuiteConfig's fields only --suite uses (a report uses seed, device)


@dataclass
class SuiteConfig:
    budget_minutes: float = setting(20.0, "--suite: training time for the neural models together (split evenly); "
                                    "N-grams take seconds.", low=0, low_open=True, high=1e6)
    add_k: float = setting(0.1, "--suite: the k of the add-k N-grams.", low=0, low_open=True, high=1e6)
    evaluations: int = setting(12, "Validations wanted per neural model (for its learning curve).", low=2,
                               high=10_000, cli=False)
    seed: int = setting(1234, "Seed of the suite's models and of each model's sample.", low=0, high=LARGEST_SEED)
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps.")
    reuse: bool = setting(False, "--suite: keep models already trained in the output folder.")
    orders: tuple[int, ...] = (1, 2, 3, 4, 5)
    smoothings: tuple[str, ...] = ("add-k", "kn")
    cells: tuple[str, ...] = ("rnn_tanh", "gru", "lstm")
    model_changes: dict = field(default_factory=lambda: dict(SUITE_MODEL_CHANGES))
    train_changes: dict = field(default_factory=lambda: dict(SUITE_TRAIN_CHANGES))
    tokenizer_flags: list[str] = field(default_factory=list)   # e.g. ["--tokenizer", "char"], for the recorded commands

    def validate(self) -> None:
        check_settings(self)

    def model_config(self, cell: str) -> RNNConfig:
        return RNNConfig(cell=cell, **self.model_changes)

    def train_config(self, seconds: float, eval_every: int, tokenizer_kind: str) -> TrainConfig:
        return TrainConfig(**self.train_changes, max_time=seconds, eval_every=eval_every, seed=self.seed,
                           device=self.device).with_tokenizer_defaults(tokenizer_kind)

    def neural_seconds(self) -> float:
        return 60.0 * self.budget_minutes / max(len(self.cells), 1)


@dataclass
class SuiteModel:
    name: str
    directory: Path
    command: str


def ngram_name(order: int, smoothing: str) -> str:
    return f"{order}-gram {SMOOTHING_NAMES[smoothing]}"


def train_command(corpus, config: SuiteConfig, directory: Path, model_flags: list[str], seeded: bool = True) -> str:
    """The `lmkit train` command that makes the same model (`seeded`: it has weights to seed, a count has not)."""
    seed = ["--seed", str(config.seed)] if seeded else []
    return shlex.join(["lmkit", "train", "--corpus", corpus.name, *config.tokenizer_flags, *model_flags, *seed,
                       "--out", str(directory)])


def refuse_planted_links(models_dir: Path) -> None:
    """Before any work: the suite's folder and the model directories in it are lmkit's, never links (a link
    there would have the suite train into, and replace, a model somewhere else)."""
    linked = [models_dir] if models_dir.is_symlink() else []
    if models_dir.is_dir() and not linked:
        linked = sorted(entry for entry in models_dir.iterdir() if entry.is_symlink())
    if linked:
        raise ConfigError(f"{linked[0]}: is a symbolic link, which lmkit does not make in a report folder; "
                          "remove it or choose another --out")


def suite_names() -> frozenset[str]:
    """What a suite's model folder may hold: a trained model's files (no interpolation's members/) and its lock."""
    from lmkit.models.mix import MEMBERS_DIR

    return read_names() - {MEMBERS_DIR} | {LOCK_FILE}


def check_replaceable(directory: Path) -> None:
    """ConfigError (or CheckpointError) unless the suite may replace `directory` whole: absent, or a model folder
    lmkit made that holds only lmkit's files and that no process is training in."""
    check_model_directory(directory)
    if directory.is_dir() and not directory.is_symlink():
        DirectoryLock.refuse_if_held(directory)  # a process training there now: its folder is not ours to clear
        stray = first_foreign_entry(directory, suite_names())
        if stray is not None:
            raise ConfigError(f"{stray}: is not lmkit's, and the suite replaces {directory} whole when it trains "
                              "again; move it out, or choose another --out")
        check_last_folders(directory)


def fresh_directory(directory: Path) -> None:
    """Clear a model directory left by an earlier suite run (metrics.jsonl appends, so it must start empty);
    a folder lmkit did not make is refused, never removed."""
    check_replaceable(directory)
    if directory.is_dir() and not directory.is_symlink():
        shutil.rmtree(directory)


def ngram_plan(corpus, config: SuiteConfig, models_dir: Path) -> list[tuple[SuiteModel, int, str]]:
    """The suite's N-grams in report order: each as a SuiteModel (its folder, the `lmkit train` command that
    builds it), its order and its smoothing."""
    plan = []
    for smoothing in config.smoothings:
        for order in config.orders:
            directory = models_dir / f"ngram-{smoothing}-{order}"
            flags = ["--model", "ngram", "--order", str(order), "--smoothing", smoothing]
            flags += ["--k", f"{config.add_k:g}"] if smoothing == "add-k" else []
            model = SuiteModel(ngram_name(order, smoothing), directory,
                               train_command(corpus, config, directory, flags, seeded=False))
            plan.append((model, order, smoothing))
    return plan


def reusable(directory: Path, corpus, tokenizer, command: str | None = None, model: dict | None = None) -> bool:
    """Whether --reuse keeps the model in `directory`: a left-to-right model trained on this corpus with this
    vocabulary, and the suite's own: for an N-gram, built by the same command (so with the same k); for a
    recurrent model, of the suite's kind and shape (`model`, its config.json's "kind" and "model"), its training
    finished. Any other is trained again, not scored under the suite's name as if it were the suite's."""
    if not (directory / CONFIG_FILE).exists():
        return False
    saved = read_config(directory)
    same = (saved.get("corpus") == corpus.name and saved.get("vocab") == vocab_record(tokenizer.vocab)
            and saved.get("direction", "forward") == "forward")
    if command is not None:
        same = same and (saved.get("train") or {}).get("command") == command
    if model is not None:  # and its training finished: a run killed midway saved an early model, no "stopped"
        same = (same and {"kind": saved.get("kind"), "model": saved.get("model")} == model
                and (saved.get("train") or {}).get("stopped") is not None)
    return same


def suite_model(config: SuiteConfig, cell: str, vocab_size: int) -> dict:
    """What the config.json of the suite's `cell` model over `vocab_size` types records of its kind and shape."""
    from lmkit.models.neural.rnn import RNNLM

    return RNNLM.config_of(config.model_config(cell).for_vocabulary(vocab_size))


def build_ngrams(corpus, tokenizer, plan: list[tuple[SuiteModel, int, str]], kept: set[Path], config: SuiteConfig,
                 say: Callable[[str], None]) -> list[SuiteModel]:
    """Count the N-grams of `plan` (ngram_plan) but those in `kept` (--reuse); returns them in report order."""
    from lmkit.models.ngram.model import build_ngram

    train = np.asarray(encoded_split(corpus, tokenizer, "train"))
    for model, order, smoothing in plan:
        if model.directory in kept:
            continue
        fresh_directory(model.directory)
        say(f"counting {model.name}")
        with DirectoryLock(model.directory):  # as `lmkit ngram` holds it: a concurrent `lmkit train --out` is refused
            started = time.monotonic()
            counted = build_ngram(train, tokenizer.vocab, order=order, smoothing=smoothing, k=config.add_k)
            seconds = time.monotonic() - started
            save_model(model.directory, counted, tokenizer, {"corpus": corpus.name, "direction": "forward",
                                                              "train": {"command": model.command, "seconds": seconds}})
    return [model for model, _, _ in plan]


def timed_step_seconds(model, batch: torch.Tensor, bptt: int, repeats: int = 3) -> float:
    """Median seconds of one training step (forward, backward, AdamW) on a throwaway copy of `model`."""
    probe = copy.deepcopy(model).train()
    optimizer = make_optimizer(probe.parameters(), "adamw", lr=1e-3)
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
    shape = TrainConfig(**config.train_changes)  # the batch and window the suite trains with
    batch = batchify(train, shape.batch_size, "the training split").to(device)
    step = timed_step_seconds(model, batch, shape.bptt)
    sample = valid[: min(len(valid), 20_000)]
    started = time.perf_counter()
    stream_nll(copy.deepcopy(model).eval(), sample, device=device)
    evaluation = (time.perf_counter() - started) * len(valid) / max(len(sample), 1)
    count = max(2, min(config.evaluations, int(0.2 * seconds / max(evaluation, 1e-3))))
    return max(1, int((seconds - count * evaluation) / count / max(step, 1e-6)))


def neural_flags(cell: str, config: SuiteConfig, eval_every: int, seconds: float) -> list[str]:
    """The `lmkit train` options that train what the suite trains: what differs from the defaults, and the batch,
    which `lmkit train` would choose by the tokenizer and the machine (lmkit.train.config.default_shape) where the
    suite trains TrainConfig's own."""
    batch = TrainConfig(**config.train_changes).batch_size
    changes = {**config.model_changes, "batch_size": batch, **config.train_changes, "max_time": round(seconds),
               "eval_every": eval_every}
    return ["--model", cell, *changed_flags((RNNConfig, TrainConfig), changes)]


def train_neural(corpus, tokenizer, cell: str, directory: Path, config: SuiteConfig,
                 callbacks: TrainCallbacks | None) -> str:
    """Train one recurrent model within its share of the budget; returns the equivalent command line."""
    from lmkit.models.neural.rnn import RNNLM
    from lmkit.train.config import select_device

    torch.manual_seed(config.seed)
    model = RNNLM(tokenizer.vocab, config.model_config(cell))
    train = np.asarray(encoded_split(corpus, tokenizer, "train"))
    valid = np.asarray(encoded_split(corpus, tokenizer, "valid"))
    device = select_device(config.device)
    seconds = config.neural_seconds()
    every = eval_interval(model.to(device), train, valid, config, seconds, device)
    command = train_command(corpus, config, directory, neural_flags(cell, config, every, seconds))
    train_config = config.train_config(seconds, every, tokenizer.kind)
    extra = {"corpus": corpus.name, "direction": "forward",
             "train": {"command": command, "tokenizer": tokenizer.describe(), "config": train_config.to_dict(),
                       "parameters": model.num_parameters()}}
    trainer = Trainer(model, tokenizer, train, valid, train_config, directory, extra=extra, callbacks=callbacks,
                      valid_chars=corpus.num_chars("valid"))
    result = trainer.run()  # validates once more when the time is up, so config.json holds the best model
    if result.stopped.startswith("SIG"):  # the whole report was stopped: no more models, no report written, and
        raise Terminated(signal.Signals[result.stopped])  # no "stopped" in config.json, so --reuse trains it again
    saved = read_config(directory)
    saved["train"] = {**saved.get("train", {}), "seconds": result.progress.elapsed, "stopped": result.stopped}
    write_json_atomic(directory / CONFIG_FILE, saved)
    return command


def run_suite(corpus, tokenizer, out: Path, config: SuiteConfig, say: Callable[[str], None] = lambda _: None,
              callbacks: Callable[[str], TrainCallbacks] | None = None) -> list[SuiteModel]:
    """Train the baseline suite into out/models/; returns the models in report order."""
    config.validate()
    models_dir = Path(out) / "models"
    refuse_planted_links(models_dir)
    plan = ngram_plan(corpus, config, models_dir)
    planned = [(m.directory, {"command": m.command}) for m, _, _ in plan]
    planned += [(models_dir / cell, {"model": suite_model(config, cell, len(tokenizer.vocab))}) for cell in config.cells]
    kept = {directory for directory, own in planned if config.reuse and reusable(directory, corpus, tokenizer, **own)}
    for directory, _ in planned:  # every one before the first is replaced
        if directory not in kept:
            check_replaceable(directory)
    models = build_ngrams(corpus, tokenizer, plan, kept, config, say)
    for cell in config.cells:
        directory = models_dir / cell
        name = CELL_NAMES[cell]
        if directory in kept:
            models.append(SuiteModel(name, directory, (read_config(directory).get("train") or {}).get("command", "")))
            continue
        fresh_directory(directory)
        say(f"training {name} for up to {config.neural_seconds() / 60:.3g} minutes")
        with DirectoryLock(directory):  # as `lmkit train` holds it
            command = train_neural(corpus, tokenizer, cell, directory, config, callbacks(name) if callbacks else None)
        models.append(SuiteModel(name, directory, command))
    return models
