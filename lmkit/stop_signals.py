"""The signals that stop lmkit as a user asks it to (SIGINT, SIGTERM, SIGHUP), and when they act.

A command is stopped where it stands: the cli raises the first as Terminated
(lmkit.cli.CommandStops), so `finally` blocks on the way out remove temporary
files, and records any later one. Two kinds of code must not be cut in the
middle:

- a long-running loop (training): inside `with StopSignals() as stop:` the first
  signal only records its name in `stop.received`; the loop notices after the
  current step, saves and returns. A second Ctrl-C raises KeyboardInterrupt at
  once, for a user who really wants out.
- a few renames that must land together (a model's files, a report's):
  inside `with held_back():` a signal waits until the block ends, then acts as
  it would have.

A signal the process was started ignoring (SIGINT for `lmkit train ... &` in a
script, SIGHUP under nohup) stays ignored.
"""
from __future__ import annotations

import contextlib
import os
import signal

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # the signals that stop lmkit as a user asks it to


def exit_code(name: str) -> int:
    """The exit code of a command stopped by signal `name` ("SIGTERM"): 128 + its number, as a shell reports it."""
    return 128 + signal.Signals[name].value


def ignored(signum: signal.Signals) -> bool:
    """Whether the process ignores `signum`, as a shell starts a background job with SIGINT."""
    return signal.getsignal(signum) == signal.SIG_IGN


@contextlib.contextmanager
def killed_by_sigterm():
    """SIGTERM ends the process at once inside the block: for a call that blocks in C++ without returning to
    Python (the DDP rendezvous waiting for a process that will never come), where a Python handler would
    wait for it."""
    if ignored(signal.SIGTERM):
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Terminated(BaseException):
    """Ctrl-C, SIGTERM or SIGHUP outside training's safe points, raised so that the `finally` blocks on the way
    out (temporary files, locks) run; BaseException, so no `except Exception` keeps it. Ctrl-C is raised as this
    too, not as KeyboardInterrupt, which click turns into 'Aborted!' and exit 1 where it catches it. The cli
    ends the command with one line and 128 + the signal's number (lmkit.cli.LazyGroup). A command that trains
    more than one model raises it after a model's training stopped for a signal: the user stopped the command,
    not only that model."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = signal.Signals(signum)


class StopSignals:
    def __init__(self, second_ctrl_c_stops: bool = True):
        self.received: str | None = None
        self.second_ctrl_c_stops = second_ctrl_c_stops
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.received == "SIGINT" and signum == signal.SIGINT and self.second_ctrl_c_stops:
            raise KeyboardInterrupt
        if self.received is None:
            self.received = signal.Signals(signum).name

    def __enter__(self) -> "StopSignals":
        try:
            self._previous = {s: signal.signal(s, self._handle) for s in HANDLED if not ignored(s)}
        except ValueError:  # not the main thread: signals stay with their owner
            self._previous = {}
        return self

    def __exit__(self, *exc) -> bool:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        return False


@contextlib.contextmanager
def held_back():
    """A stop signal arriving inside the block acts as the block ends (on the handler the command had), so what
    the block does (renames that must land together) is done whole: a second Ctrl-C too waits for it. A block
    that fails ends the command anyway, so then the signal is dropped. Off the main thread, signals act as they
    do."""
    with StopSignals(second_ctrl_c_stops=False) as stop:
        yield
    if stop.received is not None:
        os.kill(os.getpid(), signal.Signals[stop.received])
