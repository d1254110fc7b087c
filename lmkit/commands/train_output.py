"""What `lmkit train` prints: a tqdm bar per epoch, evaluation lines, the final summary."""
from __future__ import annotations

import math

import click
from tqdm import tqdm

from lmkit.train.trainer import TrainCallbacks

LN2 = math.log(2.0)


class ProgressPrinter(TrainCallbacks):
    """One tqdm bar per epoch (loss, perplexity, tokens/s, ETA) and a line per validation."""

    def __init__(self, enabled: bool = True, pseudo: bool = False):
        self.enabled = enabled
        self.ppl_name = "pseudo-ppl" if pseudo else "ppl"  # a bidirectional model's loss is a pseudo one
        self.bar: tqdm | None = None
        self._last_elapsed = None

    def on_epoch_start(self, epoch: int, windows: int, done: int) -> None:
        if self.enabled:
            self.close()
            self.bar = tqdm(total=windows, initial=done, desc=f"epoch {epoch + 1}", unit="step",
                            dynamic_ncols=True, leave=False)
        self._last_elapsed = None

    def on_step(self, info: dict) -> None:
        if self.bar is None:
            return
        elapsed = info["elapsed"]
        rate = ""
        if self._last_elapsed is not None and elapsed > self._last_elapsed:
            rate = f"{info['window_tokens'] / (elapsed - self._last_elapsed):,.0f}"
        self._last_elapsed = elapsed
        loss = info["loss"]
        self.bar.set_postfix_str(f"loss {loss:.3f} {self.ppl_name} {math.exp(min(loss, 50)):.2f} tok/s {rate}", refresh=False)
        self.bar.update(1)

    def on_eval(self, record: dict) -> None:
        if not self.enabled:
            return
        pseudo = "valid_pseudo_ppl" in record  # a bidirectional model: pseudo-measures only
        prefix, name = ("valid_pseudo_", "pseudo-ppl") if pseudo else ("valid_", "ppl")
        bpc = f"  {name[:-3]}bpc {record[prefix + 'bpc']:.3f}" if prefix + "bpc" in record else ""
        star = "  (best)" if record.get("best") else ""
        self.write(f"step {record['step']:>6}  valid {name} {record[prefix + 'ppl']:.3f}{bpc}  lr {record['lr']:.3g}"
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
