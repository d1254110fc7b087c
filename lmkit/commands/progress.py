"""The one way lmkit's commands show progress: tqdm bars on stderr.

Library code reports through callbacks (lmkit.evaluate.perplexity.Progress:
`progress(done, total)` per pass; the trainer's TrainCallbacks); only the CLI
draws. A bar appears only for a pass that lasts more than DELAY_SECONDS, only
when stderr is a terminal, and never with --quiet, so pipes, logs and tests
stay clean. $LMKIT_PROGRESS_DELAY changes that delay (0: a bar for every pass);
$LMKIT_PROGRESS=always draws bars to a pipe too.
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator

from tqdm import tqdm

from lmkit.errors import ConfigError

DELAY_SECONDS = 2.0
DELAY_VARIABLE = "LMKIT_PROGRESS_DELAY"
ALWAYS_VARIABLE = "LMKIT_PROGRESS"


def check_progress_variables(environ) -> None:
    """ConfigError for a value of $LMKIT_PROGRESS or $LMKIT_PROGRESS_DELAY that lmkit would not read (they were
    ignored silently: LMKIT_PROGRESS=1 drew no bars and said nothing); empty counts as unset. lmkit.cli checks
    them once, before any command runs."""
    shown = environ.get(ALWAYS_VARIABLE) or "always"
    if shown != "always":
        raise ConfigError(f"{ALWAYS_VARIABLE}={shown!r}: the one value lmkit reads is 'always' (progress bars on "
                          "stderr even where it is not a terminal); unset it for bars on a terminal only")
    delay = environ.get(DELAY_VARIABLE) or ""
    if delay and delay_seconds(delay) is None:
        raise ConfigError(f"{DELAY_VARIABLE}={delay!r} is not a number of seconds, 0 or more (how long a pass runs "
                          f"before its progress bar shows); unset it for the default {DELAY_SECONDS:g}")


def delay_seconds(text: str) -> float | None:
    """`text` as seconds of delay, or None where it is not a number of at least 0 (`inf`: no bar ever shows)."""
    try:
        seconds = float(text)
    except ValueError:
        return None
    return None if math.isnan(seconds) or seconds < 0 else seconds


def bar_delay() -> float:
    """Seconds a pass runs before its bar shows: $LMKIT_PROGRESS_DELAY (checked: check_progress_variables), else
    DELAY_SECONDS."""
    seconds = delay_seconds(os.environ.get(DELAY_VARIABLE) or "")
    return DELAY_SECONDS if seconds is None else seconds


def bars_wanted(quiet: bool) -> bool:
    """Bars are for a person watching: not with --quiet, not when stderr goes to a file or pipe
    (unless $LMKIT_PROGRESS is `always`, for a program that reads them)."""
    return not quiet and (sys.stderr.isatty() or os.environ.get(ALWAYS_VARIABLE) == "always")


def make_bar(total: float | None, desc: str, unit: str, initial: int = 0, delay: float | None = None) -> tqdm:
    """A bar on stderr that clears itself when done (and shows only after `delay`, default bar_delay())."""
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, unit_scale=unit == "tok", file=sys.stderr,
                dynamic_ncols=True, leave=False, delay=bar_delay() if delay is None else delay)


class PassBars:
    """A `progress(done, total)` callback drawing one bar per pass (a pass begins when `done` drops back to 0 and
    ends when it reaches `total`; a pass of total 0 draws none)."""

    def __init__(self, desc: str, enabled: bool, unit: str = "tok"):
        self.desc, self.enabled, self.unit = desc, enabled, unit
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total == 0:  # a pass with nothing to do shows nothing
            return
        if self.bar is None or done < self.bar.n or done == 0:
            self.close()
            self.bar = make_bar(total, self.desc, self.unit)
        self.bar.update(done - self.bar.n)
        if done >= total:  # the pass is over: its bar goes, and the next stage's stands alone
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "PassBars":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def bars_cleared() -> Iterator[None]:
    """The bars on stderr wiped while a command writes lines among them (a table to stdout on the same terminal, a
    warning), and drawn again after; a bar still within its delay stays undrawn."""
    with tqdm.external_write_mode(file=sys.stderr):
        yield


def pass_bars(desc: str, quiet: bool = False, unit: str = "tok") -> PassBars:
    """The progress callback a command hands to the library for its passes over data (`unit`: what it counts)."""
    return PassBars(desc, bars_wanted(quiet), unit)
