"""What `lmkit train` prints: a progress bar, evaluation lines, the final summary."""
from __future__ import annotations

import math
import time

import click
from tqdm import tqdm

from lmkit.commands.progress import make_bar
from lmkit.train.trainer import TrainCallbacks

LN2 = math.log(2.0)
BUDGET_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f}s of --max-time [{elapsed}<{remaining}{postfix}]"


class ProgressPrinter(TrainCallbacks):
    """A tqdm bar (loss, perplexity, tokens/s, and the time left) and a line per validation.

    The bar runs to the budget when there is one: --max-time (the time left is the budget's), else
    --max-steps; with neither, one bar per epoch.
    """

    def __init__(self, enabled: bool = True, bars: bool | None = None, max_time: float | None = None,
                 max_steps: int | None = None):
        self.enabled = enabled
        self.bars = enabled if bars is None else bars
        self.max_time, self.max_steps = max_time, max_steps
        self.bar: tqdm | None = None
        self._last_elapsed = None
        self._started: float | None = None

    def on_epoch_start(self, epoch: int, windows: int, done: int) -> None:
        self._last_elapsed = None
        if self._started is None:
            self._started = time.monotonic()  # the trainer's --max-time clock starts with this run
        if not self.bars:
            return
        if self.bar is not None and (self.max_time or self.max_steps):
            self.bar.set_description_str(f"epoch {epoch + 1}", refresh=False)
            return
        self.close()
        if self.max_time:
            self.bar = make_bar(self.max_time, f"epoch {epoch + 1}", "s", delay=0)
            self.bar.bar_format = BUDGET_FORMAT
        elif self.max_steps:
            self.bar = make_bar(self.max_steps, f"epoch {epoch + 1}", "step", delay=0)
        else:
            self.bar = make_bar(windows, f"epoch {epoch + 1}", "step", initial=done, delay=0)

    def on_step(self, info: dict) -> None:
        if self.bar is None:
            return
        elapsed = info["elapsed"]
        rate = ""
        if self._last_elapsed is not None and elapsed > self._last_elapsed:
            rate = f"{info['window_tokens'] / (elapsed - self._last_elapsed):,.0f}"
        self._last_elapsed = elapsed
        loss = info["loss"]
        self.bar.set_postfix_str(f"loss {loss:.3f} ppl {math.exp(min(loss, 50)):.2f} tok/s {rate}", refresh=False)
        if self.max_time:  # the bar counts seconds of the budget, so its time left is the budget's
            self.bar.update(min(time.monotonic() - self._started, self.max_time) - self.bar.n)
        elif self.max_steps:  # steps of the whole run, a resumed one included
            self.bar.update(min(info["step"], self.max_steps) - self.bar.n)
        else:
            self.bar.update(1)

    def on_eval(self, record: dict) -> None:
        if not self.enabled:
            return
        bpc = f"  bpc {record['valid_bpc']:.3f}" if "valid_bpc" in record else ""
        star = "  (best)" if record.get("best") else ""
        self.write(f"step {record['step']:>6}  valid ppl {record['valid_ppl']:.3f}{bpc}  lr {record['lr']:.3g}"
                   f"  {record['tokens']:,} tokens  {record['time']:.0f}s{star}")

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


def summary_lines(name: str, split_results: dict, chars: dict, baseline: tuple[str, float] | None) -> list[str]:
    """Lines like `valid  ppl 4.51  bits/token 2.17  bits/char 2.17` for each evaluated split."""
    lines = [f"model: {name}"]
    for split, result in split_results.items():
        bpc = result.bits_per_char(chars[split]) if chars.get(split) else None
        text = f"  {split:<5}  ppl {result.perplexity:10.3f}  bits/token {result.bits_per_token:.4f}"
        if bpc is not None:
            text += f"  bits/char {bpc:.4f}"
        lines.append(text)
    if baseline is not None:
        lines.append(f"  baseline {baseline[0]}: valid bits/char {baseline[1]:.4f}")
    return lines
