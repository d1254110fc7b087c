"""StopSignals: turn SIGINT / SIGTERM / SIGHUP into a flag a loop checks at a safe point.

A long-running loop (training) must not be cut in the middle of an optimizer
step or a checkpoint write. Inside `with StopSignals() as stop:` the first
SIGINT, SIGTERM or SIGHUP (the terminal or the ssh connection closed) only
records its name in `stop.received`; the loop notices
after the current step, saves and returns. A second Ctrl-C raises
KeyboardInterrupt at once, for a user who really wants out. A signal the process was
started ignoring (SIGINT for `lmkit train ... &` in a script) stays ignored.
"""
from __future__ import annotations

import contextlib
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


class StopSignals:
    def __init__(self):
        self.received: str | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.received == "SIGINT" and signum == signal.SIGINT:
            raise KeyboardInterrupt
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
