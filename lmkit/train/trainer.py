"""Trainer: truncated BPTT over a continuous token stream.

The training stream is batchified into B parallel rows; each optimizer step
takes one window of `bptt` columns, carries the hidden state in from the
previous window (detached: gradients stop at the window edge) and minimises
the mean per-token cross-entropy. Validation runs over the whole valid split
with the state carried. The trainer prints nothing: it reports through
TrainCallbacks, and the CLI draws the progress bar.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lmkit.models.base import HandWrittenGradients
from lmkit.checkpoint import append_metrics, save_model
from lmkit.train.cpu_memory import keep_freed_memory
from lmkit.text.batches import batchify, count_windows, window
from lmkit.errors import TrainingError
from lmkit.evaluate.cloze import pseudo_nll, pseudo_record
from lmkit.evaluate.perplexity import NLL
from lmkit.models.base import is_cloze
from lmkit.runtime import resolve_precision
from lmkit.train.progress import Progress
from lmkit.train.config import TrainConfig, select_device
from lmkit.train.resume_state import load_resume, save_last
from lmkit.train.stop_signals import StopSignals


class TrainCallbacks:
    """Hooks the trainer calls; the default does nothing. The CLI subclasses it to print."""

    def on_epoch_start(self, epoch: int, windows: int, done: int) -> None: ...
    def on_step(self, info: dict) -> None: ...
    def on_eval(self, record: dict) -> None: ...
    def on_epoch_end(self, epoch: int) -> None: ...
    def on_message(self, text: str) -> None: ...


@dataclass
class TrainResult:
    directory: Path
    progress: Progress
    stopped: str                    # "done", "max_steps", "max_time", "early_stop", "SIGINT", "SIGTERM"


class RolledBack(Exception):
    """Raised inside the loop after a non-finite loss restored the last checkpoint."""

MAX_ROLLBACKS = 3
STOP_REASONS = (None, "max_steps", "max_time", "SIGTERM", "SIGINT")  # later ones win when ranks disagree


def detach(state):
    """Cut the graph behind a hidden state (tensor or tuple of tensors): the TBPTT window edge."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    return tuple(detach(s) for s in state)


def state_to_list(state) -> list:
    return [state] if isinstance(state, torch.Tensor) else [s.cpu() for s in state]


class Trainer:
    def __init__(self, model, tokenizer, train_stream: np.ndarray, valid_stream: np.ndarray, config: TrainConfig,
                 directory: Path, extra: dict | None = None, callbacks: TrainCallbacks | None = None,
                 valid_chars: int | None = None, world=None):
        config.validate()
        self.cfg = config
        from lmkit.train.distributed import World  # local import: keeps torch.distributed out of plain use

        self.world = world or World.single()
        self.device = self.world.local_device(select_device(config.device))
        self.precision = resolve_precision(config.precision, self.device)  # before anything is moved or written
        self.model = model.to(self.device)
        if config.keep_freed_memory and self.device.type == "cpu":
            keep_freed_memory()
        self.tokenizer = tokenizer
        self.directory = Path(directory)
        self.extra = {**(extra or {}), "runtime": self.runtime()}
        self.callbacks = callbacks or TrainCallbacks()
        self.valid_stream = valid_stream
        self.valid_chars = valid_chars
        rows = batchify(train_stream, config.batch_size, "the training split")
        self.batch = self.world.rows(rows).to(self.device)  # (B / ranks, N / B)
        if self.batch.shape[1] <= 1:
            raise TrainingError("the training split is too small for one window")
        self.windows = count_windows(self.batch.shape[1], config.bptt)
        torch.manual_seed(config.seed)
        self.step_model = self.world.wrap(self.model)
        if config.compile:
            self.step_model = torch.compile(self.step_model)
        self.optimizer = self._make_optimizer()
        self.progress = Progress(lr=config.lr)
        self.hidden = None
        self.stop = StopSignals()
        self._rollbacks = 0

    def _make_optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters()]
        if self.cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        return torch.optim.AdamW(params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)

    # --- resume -------------------------------------------------------------------
    def restore(self, state: dict, lr: float | None = None) -> None:
        """Continue exactly where a saved trainer state stopped (same or different world size), at `lr` if given."""
        self.optimizer.load_state_dict(state["optimizer"])
        known = Progress.__dataclass_fields__
        self.progress = Progress(**{k: v for k, v in state["progress"].items() if k in known})
        self.progress.lr = self.progress.lr if lr is None else lr
        torch.set_rng_state(state["rng"])
        hidden = state.get("hidden")
        saved_batch = (state.get("world") or {}).get("batch_size")
        if hidden and saved_batch == self.cfg.batch_size:  # the rows line up: carry the state on
            # in the weights' dtype: a state saved under bf16 autocast must not send an fp32 resume to bf16 kernels
            dtype = next(self.model.parameters()).dtype
            parts = [self.world.rows(h.transpose(0, 1)).transpose(0, 1).to(self.device, dtype) for h in hidden]
            self.hidden = parts[0] if len(parts) == 1 else tuple(parts)
        self._set_lr(self.progress.lr)

    def trainer_state(self) -> dict:
        hidden = None
        if self.hidden is not None:
            hidden = [self.world.gather_rows(h.transpose(0, 1)).transpose(0, 1).cpu() for h in state_to_list(self.hidden)]
        return {"step": self.progress.step, "progress": vars(self.progress).copy(),
                "optimizer": self.optimizer.state_dict(), "rng": torch.get_rng_state(),
                "hidden": hidden, "world": self.world.layout(self.cfg.batch_size), "train_config": self.cfg.to_dict()}

    # --- the loop -------------------------------------------------------------------
    def run(self) -> TrainResult:
        started = time.monotonic() - self.progress.elapsed
        self._started_here = time.monotonic()
        stopped = "done"
        with self.stop:
            while self.progress.epoch < self.cfg.epochs and stopped == "done":
                try:
                    stopped = self._run_epoch(started)
                except RolledBack:
                    started = time.monotonic() - self.progress.elapsed
        self.progress.elapsed = time.monotonic() - started
        if stopped in ("max_steps", "max_time") and not self._evaluated_now():
            self._evaluate()  # keeps the best model and saves last/
        else:
            self._save_last()
        return TrainResult(self.directory, self.progress, stopped)

    def _evaluated_now(self) -> bool:
        return bool(self.progress.history) and self.progress.history[-1]["step"] == self.progress.step

    def _run_epoch(self, started: float) -> str:
        p, cfg = self.progress, self.cfg
        self.callbacks.on_epoch_start(p.epoch, self.windows, p.column // cfg.bptt)
        self.model.train()
        if p.column == 0 or self.hidden is None:
            self.hidden = self.model.init_state(self.batch.shape[0])
        for start in range(p.column, self.batch.shape[1] - 1, cfg.bptt):
            inputs, targets = window(self.batch, start, cfg.bptt)
            loss = self._train_step(inputs, targets)
            p.step += 1
            p.tokens += inputs.numel() * self.world.size
            p.column = start + cfg.bptt
            p.last_loss = loss
            p.elapsed = time.monotonic() - started
            self.callbacks.on_step({"step": p.step, "epoch": p.epoch, "loss": loss, "tokens": p.tokens,
                                    "elapsed": p.elapsed, "lr": p.lr, "window_tokens": inputs.numel() * self.world.size})
            if cfg.eval_every and p.step % cfg.eval_every == 0 and self._evaluate():
                return "early_stop"
            elif cfg.save_every and p.step % cfg.save_every == 0:
                self._save_last()
            reason = self._should_stop()
            if reason:
                return reason
        p.epoch += 1
        p.column = 0
        self.hidden = None
        self.callbacks.on_epoch_end(p.epoch)
        if self._evaluated_now():  # --eval-every just validated this very step
            return "done"
        return "early_stop" if self._evaluate() else "done"

    def _should_stop(self) -> str | None:
        """The reason to stop now, agreed by every rank (one rank alone leaving would hang the others)."""
        reason = None
        if self.stop.received:
            reason = self.stop.received
        elif self.cfg.max_steps and self.progress.step >= self.cfg.max_steps:
            reason = "max_steps"
        elif self.cfg.time_limit and time.monotonic() - self._started_here >= self.cfg.time_limit:
            reason = "max_time"
        return self.world.agree(reason, STOP_REASONS)

    def runtime(self) -> dict:
        """What this machine gave the run (config.json and each metrics line record it; a resume may differ)."""
        return {"precision": self.precision.name, "threads": torch.get_num_threads(), "device": str(self.device)}

    def _autocast(self):
        if self.precision.name == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _train_step(self, inputs: torch.Tensor, targets: torch.Tensor) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        if isinstance(self.model, HandWrittenGradients):  # ScratchRNN: hand-written BPTT fills .grad
            loss, self.hidden = self.model.loss_and_grads(inputs, targets, self.hidden)
            self.world.all_reduce_grads(self.model)
        else:
            with self._autocast():
                logp, hidden = self.step_model(inputs, targets, self.hidden)  # (B, T)
            loss = -logp.float().mean()
            loss.backward()
            self.hidden = detach(hidden)
        loss_value = self.world.mean(float(loss.detach()))
        if not math.isfinite(loss_value):
            return self._non_finite(loss_value)
        if self.cfg.clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        self.optimizer.step()
        return loss_value

    def _non_finite(self, loss_value: float) -> float:
        step = self.progress.step + 1
        where = self.directory / "last"
        if self.cfg.on_nan == "rollback" and where.exists() and self._rollbacks < MAX_ROLLBACKS:
            self._rollbacks += 1
            self._rollback()
            self.callbacks.on_message(f"step {step}: loss is {loss_value}; rolled back to the last checkpoint "
                                      f"(step {self.progress.step}) and halved the learning rate to {self.progress.lr:g}")
            raise RolledBack
        kept = f"the last good checkpoint in {where} is kept" if where.exists() else "no checkpoint had been saved yet"
        raise TrainingError(f"step {step}: training loss is {loss_value}; stopped, {kept}. "
                            "Try a lower --lr or a smaller --clip")

    def _rollback(self) -> None:
        model, _, _, state = load_resume(self.directory)
        self.model.load_state_dict(model.state_dict())
        lr = self.progress.lr  # restore() brings back the saved LR: halve the one that just failed instead
        self.restore(state)
        self.progress.lr = lr / 2
        self._set_lr(self.progress.lr)

    # --- evaluation and checkpoints ------------------------------------------------------
    def evaluate(self, stream: np.ndarray) -> NLL:
        self.model.eval()
        with torch.no_grad(), self._autocast():
            if is_cloze(self.model):  # a bidirectional model: pseudo-NLL, every line read whole
                result = pseudo_nll(self.model, stream, device=self.device)
            else:
                result = self.world.stream_nll(self.model, stream, self.cfg.eval_rows, device=self.device)
        self.model.train()
        return result

    def _evaluate(self) -> bool:
        """Validate, keep the best model, adjust the LR, save last/; True when patience ran out."""
        p = self.progress
        result = self.evaluate(self.valid_stream)
        record = {"step": p.step, "epoch": p.epoch, "tokens": p.tokens, "time": round(p.elapsed, 3),
                  "train_loss": p.last_loss, "valid_nll": result.mean, "valid_ppl": result.perplexity,
                  "valid_tokens": result.tokens, "lr": p.lr, **self.runtime()}
        if self.valid_chars:
            record["valid_bpc"] = result.bits_per_char(self.valid_chars)
        if is_cloze(self.model):
            record = pseudo_record(record)
        improved = result.mean < p.best_valid
        if improved:
            p.best_valid, p.bad_evals = result.mean, 0
            if self.world.is_main:
                save_model(self.directory, self.model, self.tokenizer, {**self.extra, "valid": record})
        else:
            p.bad_evals += 1
            p.lr /= self.cfg.lr_decay
            self._set_lr(p.lr)
        p.history.append(record)
        if self.world.is_main:
            append_metrics(self.directory, record)
        self.callbacks.on_eval({**record, "best": improved})
        self._save_last()
        return p.bad_evals >= self.cfg.patience

    def _save_last(self) -> None:
        state = self.trainer_state()
        if self.world.is_main:
            save_last(self.directory, self.model, self.tokenizer, state, self.extra)

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
