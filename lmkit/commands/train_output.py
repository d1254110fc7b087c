"""What `lmkit train` prints: a progress bar, evaluation lines, the final summary."""
from __future__ import annotations

import math
import time

import click
from tqdm import tqdm

from lmkit.commands.progress import make_bar
from lmkit.train.trainer import TrainCallbacks
from lmkit.errors import counted, printable

LN2 = math.log(2.0)
# with a budget, tqdm's own estimate (the end of the epoch) gives way to the budget's time left, in the postfix
BUDGET_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"


class ProgressPrinter(TrainCallbacks):
    """A tqdm bar per epoch (loss, perplexity, tokens/s, time left) and a line per validation.

    With a budget (--max-time, --max-steps) the time left is the budget's: what remains of --max-time,
    or the steps left to --max-steps at this run's pace, whichever ends first; without one, the epoch's.
    """

    def __init__(self, enabled: bool = True, pseudo: bool = False, bars: bool | None = None,
                 max_time: float | None = None, max_steps: int | None = None):
        self.enabled = enabled
        self.ppl_name = "pseudo-ppl" if pseudo else "ppl"  # a bidirectional model's loss is a pseudo one
        self.bars = enabled if bars is None else bars
        self.max_time, self.max_steps = max_time, max_steps
        self.bar: tqdm | None = None
        self._last_elapsed = None
        self._started: tuple[float, int] | None = None  # (clock, step) when this run began

    def on_epoch_start(self, epoch: int, windows: int, done: int) -> None:
        self._last_elapsed = None
        if not self.bars:
            return
        self.close()
        self.bar = make_bar(windows, f"epoch {epoch + 1}", "step", initial=done, delay=0)
        if self.max_time or self.max_steps:
            self.bar.bar_format = BUDGET_FORMAT

    def on_step(self, info: dict) -> None:
        if self._started is None:  # the trainer's --max-time clock starts with this run
            self._started = (time.monotonic() - 1e-9, info["step"] - 1)
        if self.bar is None:
            return
        elapsed = info["elapsed"]
        rate = ""
        if self._last_elapsed is not None and elapsed > self._last_elapsed:
            rate = f"{info['window_tokens'] / (elapsed - self._last_elapsed):,.0f}"
        self._last_elapsed = elapsed
        loss = info["loss"]
        left = self.budget_left(info["step"])
        left = f" budget left {format_seconds(left)}" if left is not None else ""
        self.bar.set_postfix_str(f"loss {loss:.3f} {self.ppl_name} {math.exp(min(loss, 50)):.2f} tok/s {rate}{left}",
                                 refresh=False)
        self.bar.update(1)

    def budget_left(self, step: int) -> float | None:
        """Seconds until --max-time or --max-steps ends the run (the sooner), or None without a budget."""
        clock, first = self._started
        spent = time.monotonic() - clock
        lefts = []
        if self.max_time:
            lefts.append(max(0.0, self.max_time - spent))
        if self.max_steps and step > first:
            lefts.append(max(0, self.max_steps - step) * spent / (step - first))
        return min(lefts) if lefts else None

    def on_eval(self, record: dict) -> None:
        if not self.enabled:
            return
        pseudo = "valid_pseudo_ppl" in record  # a bidirectional model: pseudo-measures only
        prefix, name = ("valid_pseudo_", "pseudo-ppl") if pseudo else ("valid_", "ppl")
        bpc = f"  {name[:-3]}bpc {record[prefix + 'bpc']:.3f}" if prefix + "bpc" in record else ""
        star = "  (best)" if record.get("best") else ""
        self.write(f"step {record['step']:>6}  valid {name} {record[prefix + 'ppl']:.3f}{bpc}  lr {record['lr']:.3g}"
                   f"  {counted(record['tokens'], 'token')}  {record['time']:.0f}s{star}")

    def on_message(self, text: str) -> None:
        self.write(text)

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text)
        else:
            click.echo(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def format_seconds(seconds: float) -> str:
    """mm:ss, or h:mm:ss from an hour on."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def summary_lines(name: str, split_results: dict, chars: dict, baseline: tuple[str, float] | None) -> list[str]:
    """Lines like `valid  ppl 4.51  bits/token 2.17  bits/char 2.17` for each evaluated split."""
    lines = [f"model: {printable(str(name))}"]
    for split, result in split_results.items():
        bpc = result.bits_per_char(chars[split]) if chars.get(split) else None
        text = f"  {split:<5}  ppl {result.perplexity:10.3f}  bits/token {result.bits_per_token:.4f}"
        if bpc is not None:
            text += f"  bits/char {bpc:.4f}"
        lines.append(text)
    if baseline is not None:
        lines.append(f"  baseline {baseline[0]}: valid bits/char {baseline[1]:.4f}")
    return lines
