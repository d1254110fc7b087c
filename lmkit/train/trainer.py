"""Trainer: truncated BPTT over a continuous token stream.

The training stream is batchified into B parallel rows; each optimizer step
takes one window of `bptt` columns (or a length drawn around it, --variable-bptt),
carries the hidden state in from the previous window (detached: gradients stop
at the window edge) and minimises the mean per-token cross-entropy (plus AR/TAR
when asked). A cloze (bidirectional) model needs its lines whole: its steps take
batches of about B x bptt tokens of whole lines instead (lmkit.train.line_batches).
The LR follows lmkit.train.schedule; with --asgd the validated and saved model is
the running mean of the weights (lmkit.train.averaging).
Validation runs over the whole valid split with the state carried. The trainer
prints nothing: it reports through TrainCallbacks, and the CLI draws the progress bar.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lmkit.checkpoint.learning_curve import append_metrics, drop_metrics_after
from lmkit.checkpoint.ownership import LAST
from lmkit.checkpoint.save_load import ModelWriteError, save_model
from lmkit.errors import CheckpointError, ConfigError, TrainingError
from lmkit.evaluate.cloze import pseudo_nll, pseudo_record
from lmkit.evaluate.perplexity import NLL
from lmkit.models.base import HandWrittenGradients, is_cloze
from lmkit.stop_signals import StopSignals
from lmkit.text.batches import batchify, count_windows, window_columns
from lmkit.text.lines import BATCH_RULE
from lmkit.train.averaging import WeightAverage, should_start_averaging
from lmkit.train.config import TrainConfig, select_device, training_precision
from lmkit.train.hidden_state import detach, fresh_at_line_starts, state_to_list
from lmkit.train.cpu_memory import keep_freed_memory
from lmkit.train.line_batches import LineBatches
from lmkit.train.optimizers import load_optimizer_state, make_optimizer
from lmkit.train.penalties import activation_penalty
from lmkit.train.progress import Progress
from lmkit.train.rare_tokens import once_seen, rare_to_unk
from lmkit.train.resume_state import clear_previous_run, holds_previous_run, load_resume, save_last, what_is_left
from lmkit.train.schedule import budget_fraction, budget_lr, counts_for_patience, is_budget_schedule
from lmkit.train.window_lengths import WindowLengths


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
    stopped: str                    # "done", "max_steps", "max_time", "early_stop", "SIGINT", "SIGTERM", "SIGHUP"


class RolledBack(Exception):
    """Raised inside the loop after a non-finite loss restored the last checkpoint."""

MAX_ROLLBACKS = 3
POSITION_COLUMNS, POSITION_LINES = "columns", "line batches"  # what progress.column counts (trainer state "position")
STOP_REASONS = (None, "max_steps", "max_time", "SIGHUP", "SIGTERM", "SIGINT")  # later ones win when ranks disagree


class Trainer:
    def __init__(self, model, tokenizer, train_stream: np.ndarray, valid_stream: np.ndarray, config: TrainConfig,
                 directory: Path, extra: dict | None = None, callbacks: TrainCallbacks | None = None,
                 valid_chars: int | None = None, world=None, overwrite: bool = False):
        """`overwrite`: a fresh run may replace the run saved in `directory` before (its model, learning curve and
        resumable state); without it run() refuses such a directory, as `lmkit train` without --overwrite does.
        The initial weights are the model's as given: seed torch (torch.manual_seed(config.seed)) before building
        it, as `lmkit train` does, for a run that repeats."""
        config = config.with_tokenizer_defaults(tokenizer.kind)
        config.validate()
        self.cfg = config
        from lmkit.train.distributed import World  # local import: keeps torch.distributed out of plain use

        self.world = world or World.single()
        self.device = self.world.local_device(select_device(config.device))
        self.precision = training_precision(config.precision, self.device, model)  # before anything is moved or written
        self.model = model.to(self.device)
        check_model_takes(model, config)
        if config.keep_freed_memory and self.device.type == "cpu":
            keep_freed_memory()
        self.tokenizer = tokenizer
        self.directory = Path(directory)
        self.overwrite, self.restored = overwrite, False
        self.extra = {**(extra or {}), "runtime": self.runtime()}
        self.callbacks = callbacks or TrainCallbacks()
        self.valid_stream = valid_stream
        self.valid_chars = valid_chars
        self.batch, self.lines = None, None
        if is_cloze(model):  # every line whole, in batches of about B x bptt tokens
            if config.variable_bptt:  # refused here, the root: a new run and a resumed one alike
                raise ConfigError(f"--variable-bptt does not apply to --model {model.kind}: a bidirectional model "
                                  "trains on whole lines, not on windows of the stream")
            self.lines = LineBatches(train_stream, config.batch_size * config.bptt, config.seed,
                                     self.world.rank, self.world.size)
            self.epoch_end = self.windows = len(self.lines)  # the position in an epoch counts batches
        else:  # TBPTT windows over B parallel rows; the position in an epoch counts columns
            rows = batchify(train_stream, config.batch_size, "the training split")
            self.batch = self.world.rows(rows).to(self.device)  # (B / ranks, N / B)
            if self.batch.shape[1] <= 1:
                raise TrainingError("the training split is too small for one window")
            self.epoch_end = self.batch.shape[1] - 1
            self.windows = count_windows(self.batch.shape[1], config.bptt)
        torch.manual_seed(config.seed)
        self.rare = once_seen(tokenizer.vocab).to(self.device) if config.rare_unk else None
        self.lengths = WindowLengths(config.bptt, config.seed + 1) if config.variable_bptt else None
        self.step_model = self.world.wrap(self.model)
        if config.compile:
            self.step_model = torch.compile(self.step_model)
        self.optimizer = make_optimizer(self.model.parameters(), config.optimizer, config.lr, config.weight_decay)
        self.average: WeightAverage | None = None
        self.progress = Progress(lr=config.lr)
        self.hidden = None
        self.stop = StopSignals()
        self._rollbacks = 0

    @property
    def scored_model(self):
        """The model validated and saved: the running mean under --asgd once averaging started, else the model."""
        return self.average.model if self.average is not None else self.model

    # --- resume -------------------------------------------------------------------
    def restore(self, state: dict, lr: float | None = None, source: str = "the trainer state") -> None:
        """Continue exactly where a saved trainer state stopped (same or different world size); `lr` given
        replaces the configured LR and forgets the decays and halvings so far. `source` names the state in errors."""
        self.restored = True
        known = Progress.__dataclass_fields__
        saved = state["progress"]
        progress = Progress(**{k: v for k, v in saved.items() if k in known})
        if "stale_evals" not in saved:  # saved before patience knew the schedule: every evaluation counted
            progress.stale_evals = progress.bad_evals
        if self.lines is not None and progress.column and not self._same_line_batches(state):
            progress.column = 0  # its batch index would point into other batches: the epoch starts again
            self.callbacks.on_message(f"the line batches differ from the saved run's (--batch-size x --bptt, or "
                                      f"an older lmkit): epoch {progress.epoch + 1} starts again")
        self._move_to_batch(progress, (state.get("world") or {}).get("batch_size"))
        self._check_position(progress, source)
        load_optimizer_state(self.optimizer, state["optimizer"])
        self.progress = progress
        if "lr_scale" not in saved and self.cfg.lr:  # saved before lr_scale: the plateau rule's LR was kept whole
            self.progress.lr_scale = saved.get("lr", self.cfg.lr) / self.cfg.lr
        if lr is not None:
            self.cfg.lr, self.progress.lr_scale = lr, 1.0
        torch.set_rng_state(state["rng"].contiguous())
        if self.lengths is not None and state.get("window_rng") is not None:
            self.lengths.set_state(state["window_rng"])
        self.average = None
        if state.get("average") is not None:
            self.average = WeightAverage(self.model)
            self.average.load_state_dict(state["average"])
        self._restore_hidden(state)

    def _same_line_batches(self, state: dict) -> bool:
        """Whether a saved cloze run's batch index points into the batches this run builds."""
        saved = state.get("train_config") or {}
        return (state.get("position") == POSITION_LINES and saved.get("batch_size") == self.cfg.batch_size
                and saved.get("bptt") == self.cfg.bptt and state.get("line_rows") == BATCH_RULE)

    def _move_to_batch(self, progress: Progress, saved_batch) -> None:
        """A stream run resumed at another --batch-size: the stream is laid out in that many rows, so a column of
        the saved layout is another place in this one. The share of the epoch read is kept (column x rows tokens),
        and the hidden state starts afresh (its rows were the saved layout's); both are said."""
        if self.lines is not None or not isinstance(saved_batch, int) or saved_batch == self.cfg.batch_size:
            return
        if progress.column:
            progress.column = min(self.epoch_end, progress.column * saved_batch // self.cfg.batch_size)
        self.callbacks.on_message(f"--batch-size {self.cfg.batch_size} where the run had {saved_batch}: the text is "
                                  f"laid out in {self.cfg.batch_size} rows now, so epoch {progress.epoch + 1} goes on "
                                  f"from the same share of it ({progress.column / max(self.epoch_end, 1):.0%}) with "
                                  "the hidden state started afresh")

    def _check_position(self, progress: Progress, source: str) -> None:
        """A saved position must lie inside this run's data: past the end it was saved on other data (or edited).
        (What a state can be checked for without the data, lmkit.train.state_check checks when it is loaded.)"""
        if self.lines is None and self.epoch_end < progress.column < self.epoch_end + self.cfg.bptt:
            progress.column = self.epoch_end  # saved before lmkit capped the last, shorter window at the end
        if progress.column > self.epoch_end:
            unit = POSITION_LINES if self.lines is not None else POSITION_COLUMNS
            raise CheckpointError(f"{source}: damaged trainer state: progress.column {progress.column} is past the "
                                  f"{self.epoch_end} {unit} of an epoch of this training split at a batch size "
                                  f"of {self.cfg.batch_size}; resume from another copy, or start a new run")

    def _restore_hidden(self, state: dict) -> None:
        hidden = state.get("hidden")
        saved_batch = (state.get("world") or {}).get("batch_size")
        if hidden and saved_batch == self.cfg.batch_size:  # the rows line up: carry the state on
            # in the weights' dtype: a state saved under bf16 autocast must not send an fp32 resume to bf16 kernels
            dtype = next(self.model.parameters()).dtype
            parts = [self.world.rows(h.transpose(0, 1)).transpose(0, 1).to(self.device, dtype) for h in hidden]
            self.hidden = parts[0] if len(parts) == 1 else tuple(parts)

    def trainer_state(self) -> dict:
        hidden = None
        if self.hidden is not None:
            hidden = [self.world.gather_rows(h.transpose(0, 1)).transpose(0, 1).cpu() for h in state_to_list(self.hidden)]
        return {"step": self.progress.step, "progress": vars(self.progress).copy(),
                "optimizer": self.optimizer.state_dict(), "rng": torch.get_rng_state(),
                "window_rng": self.lengths.state() if self.lengths is not None else None,
                "average": self.average.state_dict() if self.average is not None else None,
                "hidden": hidden, "world": self.world.layout(self.cfg.batch_size), "train_config": self.cfg.to_dict(),
                "position": POSITION_LINES if self.lines is not None else POSITION_COLUMNS,
                "line_rows": list(BATCH_RULE) if self.lines is not None else None}  # the line batches' rule

    # --- the loop -------------------------------------------------------------------
    def run(self) -> TrainResult:
        if self.world.is_main and not self.restored:
            self._start_afresh()
        elif self.world.is_main:  # resumed: a killed run's later evaluations are not this run's
            drop_metrics_after(self.directory, self.progress.step)
        self._clock_start = time.monotonic() - self.progress.elapsed  # the budget counts the whole run's time
        stopped = "done"
        with self.stop:
            stopped = self._should_stop() or stopped  # a resumed run may be at its --max-steps or --max-time already
            while self.progress.epoch < self.cfg.epochs and stopped == "done":
                try:
                    stopped = self._run_epoch()
                except RolledBack:
                    self._clock_start = time.monotonic() - self.progress.elapsed
        self.progress.elapsed = self._elapsed()
        if stopped in ("max_steps", "max_time") and not self._evaluated_now():
            self._evaluate()  # keeps the best model and saves last/
        else:
            self._save_last()
        return TrainResult(self.directory, self.progress, stopped)

    def _start_afresh(self) -> None:
        """A new run into a directory that holds an earlier one: its curve and state cleared with `overwrite`, else
        refused (run twice, a script would replace the model and append a second curve to the first)."""
        if not holds_previous_run(self.directory):
            return
        if not self.overwrite:
            raise CheckpointError(f"{self.directory}: holds a run saved before (its model, learning curve or resumable "
                                  "state); pass overwrite=True to replace it, or restore its state (load_resume) to "
                                  "continue it")
        clear_previous_run(self.directory)

    def _elapsed(self) -> float:
        return time.monotonic() - self._clock_start

    def _evaluated_now(self) -> bool:
        return bool(self.progress.history) and self.progress.history[-1]["step"] == self.progress.step

    def _run_epoch(self) -> str:
        p, cfg = self.progress, self.cfg
        self.callbacks.on_epoch_start(p.epoch, self.windows, self.windows_done())
        self.model.train()
        if p.column == 0 or self.hidden is None:
            self.hidden = self.model.init_state(self.batch.shape[0] if self.batch is not None else 0)
        while p.column < self.epoch_end:
            inputs, targets, length, advance, tokens = self._next_window()
            self._apply_lr(length)
            loss = self._train_step(inputs, targets, tokens)
            p.step += 1
            p.tokens += tokens
            p.column = min(p.column + advance, self.epoch_end)  # a last, shorter window ends the epoch exactly
            p.last_loss = loss
            p.elapsed = self._elapsed()
            self.callbacks.on_step({"step": p.step, "epoch": p.epoch, "loss": loss, "tokens": p.tokens,
                                    "elapsed": p.elapsed, "lr": p.lr, "window_tokens": tokens})
            validating = bool(cfg.eval_every) and p.step % cfg.eval_every == 0
            patience_ran_out = validating and self._evaluate()
            if not validating and cfg.save_every and p.step % cfg.save_every == 0:
                self._save_last()
            # a budget that ends at this very step names the stop: patience running out there stops nothing
            last_window = p.epoch + 1 >= cfg.epochs and p.column >= self.epoch_end
            reason = self._should_stop() or ("early_stop" if patience_ran_out and not last_window else None)
            if reason:
                return reason
        p.epoch += 1
        p.column = 0
        self.hidden = None
        self.callbacks.on_epoch_end(p.epoch)
        if self._evaluated_now():  # --eval-every just validated this very step
            return "done"
        # patience running out at the last epoch's end stops nothing: the --epochs budget ended there anyway
        return "early_stop" if self._evaluate() and p.epoch < cfg.epochs else "done"

    def _next_window(self) -> tuple[torch.Tensor, torch.Tensor, int, int, int]:
        """(inputs, targets, length, advance, tokens) of the next step: a stream window's (B, T) inputs and
        targets, T for the LR and T columns to advance; or a cloze model's framed lines (N, L), their lengths
        (N,), --bptt (LR unscaled) and one batch. `tokens`: those predicted, over all ranks."""
        p, cfg = self.progress, self.cfg
        if self.lines is not None:
            ids, lengths, tokens = self.lines.take(p.epoch, p.column, self.device)
            if self.rare is not None:
                ids = rare_to_unk(ids, self.rare, cfg.rare_unk)
            return ids, lengths, cfg.bptt, 1, tokens
        length = self.lengths.next() if self.lengths is not None else cfg.bptt
        columns = window_columns(self.batch, p.column, length)  # (B, T+1)
        if self.rare is not None:  # one draw per column, so a target and the input it becomes agree
            columns = rare_to_unk(columns, self.rare, cfg.rare_unk)
        return columns[:, :-1], columns[:, 1:], length, length, columns[:, 1:].numel() * self.world.size

    def windows_done(self) -> int:
        """Steps taken so far in this epoch (windows, or line batches)."""
        return self.progress.column if self.lines is not None else self.progress.column // self.cfg.bptt

    def _should_stop(self) -> str | None:
        """The reason to stop now, agreed by every rank (one rank alone leaving would hang the others)."""
        reason = None
        if self.stop.received:
            reason = self.stop.received
        elif self.cfg.max_steps and self.progress.step >= self.cfg.max_steps:
            reason = "max_steps"
        elif self.cfg.time_limit and self._elapsed() >= self.cfg.time_limit:
            reason = "max_time"
        return self.world.agree(reason, STOP_REASONS)

    def runtime(self) -> dict:
        """What this machine gave the run (config.json and each metrics line record it; a resume may differ)."""
        return {"precision": self.precision.name, "threads": torch.get_num_threads(), "device": str(self.device),
                "processes": self.world.size}

    # --- the learning rate ----------------------------------------------------------
    def _apply_lr(self, length: int) -> None:
        """Set the LR of the next window: the schedule's, times length / bptt (variable BPTT)."""
        self.progress.lr = self.scheduled_lr()
        self._set_lr(self.progress.lr * length / self.cfg.bptt)

    def scheduled_lr(self) -> float:
        p, cfg = self.progress, self.cfg
        lr = cfg.lr * p.lr_scale
        if not is_budget_schedule(cfg.schedule):
            return lr
        return budget_lr(lr, self.budget_used(), cfg.schedule, cfg.warmup)

    def budget_used(self) -> float:
        """The fraction of the budget used before the next window (lmkit.train.schedule), the same on every rank.
        Time counts as of the last step's end (p.elapsed), so a run starts at exactly 0 whatever its setup took,
        and one whose steps or epochs stay ahead of the clock repeats exactly under its --seed."""
        p, cfg = self.progress, self.cfg
        epochs_done = p.epoch + p.column / max(1, self.epoch_end)
        fraction = budget_fraction(p.step, p.elapsed, epochs_done, cfg.max_steps, cfg.time_limit, cfg.epochs)
        return self.world.mean(fraction) if cfg.time_limit else fraction  # each rank's clock differs a little

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    # --- one step -------------------------------------------------------------------
    def _autocast(self):
        if self.precision.name == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _train_step(self, inputs: torch.Tensor, targets: torch.Tensor, tokens: int) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        if self.lines is None and self.cfg.line_start_resets:
            self.hidden = fresh_at_line_starts(self.hidden, inputs)
        if isinstance(self.model, HandWrittenGradients):  # ScratchRNN: hand-written BPTT fills .grad
            loss, self.hidden = self.model.loss_and_grads(inputs, targets, self.hidden)
            objective = loss
            self.world.all_reduce_grads(self.model)
        else:
            loss, objective = self._losses(inputs, targets, tokens)
            objective.backward()
        loss_value = self.world.mean(float(loss.detach()))
        objective_value = loss_value if objective is loss else self.world.mean(float(objective.detach()))
        if not math.isfinite(objective_value):  # a NaN loss makes a NaN objective
            return self._non_finite(loss_value if not math.isfinite(loss_value) else objective_value)
        if self.cfg.clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        self.optimizer.step()
        if self.average is not None:
            self.average.update(self.model)
        return loss_value

    def _losses(self, inputs: torch.Tensor, targets: torch.Tensor, tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean cross-entropy, what the optimizer minimises: it plus AR/TAR) of one window; carries the state.
        `tokens`: those the step predicts over all ranks."""
        penalized = bool(self.cfg.ar or self.cfg.tar)
        with self._autocast():
            if penalized:
                logp, hidden, (raw, dropped) = self.step_model(inputs, targets, self.hidden, outputs=True)
            else:
                logp, hidden = self.step_model(inputs, targets, self.hidden)  # (B, T)
        self.hidden = detach(hidden)
        if self.lines is None:
            loss = -logp.float().mean()
        else:  # ranks' shares of a line batch differ in size: each scales its sum so that DDP's mean of the
            loss = -logp.float().sum() * (self.world.size / tokens)  # ranks' gradients is the batch's per-token mean
        if not penalized:
            return loss, loss
        return loss, loss + activation_penalty(raw, dropped, self.cfg.ar, self.cfg.tar)

    def _non_finite(self, loss_value: float) -> float:
        step = self.progress.step + 1
        where = self.directory / LAST
        if self.cfg.on_nan == "rollback" and where.exists() and self._rollbacks < MAX_ROLLBACKS:
            self._rollbacks += 1
            self._rollback()
            peak = " (the schedule's peak)" if is_budget_schedule(self.cfg.schedule) else ""
            self.callbacks.on_message(f"step {step}: loss is {loss_value}; rolled back to the last checkpoint "
                                      f"(step {self.progress.step}) and halved the learning rate to "
                                      f"{self.cfg.lr * self.progress.lr_scale:g}{peak}")
            raise RolledBack
        kept = f"the last good checkpoint in {where} is kept" if where.exists() else "no checkpoint had been saved yet"
        clip = "a smaller --clip" if self.cfg.clip else "--clip 1 (gradient clipping is off)"
        decay = f", or a smaller --weight-decay (it is {self.cfg.weight_decay:g})" if self.cfg.weight_decay else ""
        raise TrainingError(f"step {step}: training loss is {loss_value}; stopped, {kept}. Try a lower --lr or "
                            f"{clip}{decay}")

    def _rollback(self) -> None:
        model, _, _, state = load_resume(self.directory)
        self.model.load_state_dict(model.state_dict())
        scale, elapsed = self.progress.lr_scale, self._elapsed()  # restore() brings back the saved ones
        self.restore(state)
        self.progress.lr_scale = scale / 2  # halve the LR that just failed
        self.progress.elapsed = elapsed     # the time spent still counts against --max-time

    # --- evaluation and checkpoints ------------------------------------------------------
    def evaluate(self, stream: np.ndarray) -> NLL:
        """NLL of a split under the model that is validated and saved (see scored_model)."""
        model = self.scored_model
        model.eval()
        with torch.no_grad(), self._autocast():
            if is_cloze(model):  # a bidirectional model: pseudo-NLL, every line read whole
                result = pseudo_nll(model, stream, device=self.device)
            else:
                result = self.world.stream_nll(model, stream, self.cfg.eval_rows, device=self.device)
        self.model.train()
        return result

    def _evaluate(self) -> bool:
        """Validate, keep the best model, apply the plateau rule and the averaging trigger, save last/;
        True when patience ran out."""
        p = self.progress
        result = self.evaluate(self.valid_stream)
        done = p.epoch + (p.column >= self.epoch_end)  # epochs read whole: a validation on an epoch's last window
        record = {"step": p.step, "epoch": done, "tokens": p.tokens, "time": round(p.elapsed, 3),  # counts it
                  "train_loss": p.last_loss, "valid_nll": result.mean, "valid_ppl": result.perplexity,
                  "valid_tokens": result.tokens, "lr": p.lr, **self.runtime()}
        if self.valid_chars:
            record["valid_bpc"] = result.bits_per_char(self.valid_chars)
        if is_cloze(self.model):
            record = pseudo_record(record)
        if self.average is not None:
            record["averaged"] = self.average.count
        fraction = self.budget_used()  # on every rank alike: under --max-time it is a collective
        improved = result.mean < p.best_valid
        if improved:
            p.best_valid, p.bad_evals, p.stale_evals = result.mean, 0, 0
            if self.world.is_main:
                self._save_best(record)
        else:
            p.bad_evals += 1
            # before the budget's counted part: only a budget grown by --resume puts an evaluation there after
            # counted ones, which were counted against the old budget and no longer count
            p.stale_evals = p.stale_evals + 1 if counts_for_patience(self.cfg.schedule, fraction) else 0
            if self.cfg.schedule == "plateau":
                p.lr_scale /= self.cfg.lr_decay
        p.history.append(record)
        if self.world.is_main:
            append_metrics(self.directory, record)
        self.callbacks.on_eval({**record, "best": improved})
        if should_start_averaging(self.cfg.asgd, self.average is not None, p.bad_evals, self.cfg.nonmono):
            self._start_averaging()
        self._save_last()
        return p.stale_evals >= self.cfg.patience and (not self.cfg.asgd or self.average is not None)

    def _start_averaging(self) -> None:
        p = self.progress
        self.average = WeightAverage(self.model)
        self.average.update(self.model)
        p.averaging_since, p.bad_evals, p.stale_evals = p.step, 0, 0  # patience starts again for the averaged weights
        evaluations = f"{self.cfg.nonmono} evaluation{'' if self.cfg.nonmono == 1 else 's'}"
        self.callbacks.on_message(f"step {p.step}: validation has not improved for {evaluations}; "
                                  "averaging the weights from here on (NT-ASGD)")

    def _save_best(self, record: dict) -> None:
        try:
            save_model(self.directory, self.scored_model, self.tokenizer, {**self.extra, "valid": record})
        except ModelWriteError as exc:  # say too whether a checkpoint is left to resume (--overwrite cleared the old)
            raise CheckpointError(f"{exc}{what_is_left(self.directory)}") from exc

    def _save_last(self) -> None:
        state = self.trainer_state()
        if self.world.is_main:
            save_last(self.directory, self.model, self.tokenizer, state, self.extra)


def check_model_takes(model, config: TrainConfig) -> None:
    """--ar/--tar need the top layer's outputs, which only models with `forward(..., outputs=True)` give."""
    if (config.ar or config.tar) and not getattr(model, "exposes_outputs", False):
        raise ConfigError(f"--ar and --tar need a model that exposes its top-layer outputs (lstm, gru, rnn_tanh, "
                          f"rnn_relu), not {getattr(model, 'kind', type(model).__name__)}")
