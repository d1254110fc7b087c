"""Keep a long run alive when its standard output goes away.

Under `lmkit train ... | tee log`, Ctrl-C reaches tee too; tee exits, and the
next line lmkit prints fails with EPIPE. Progress lines are not worth a lost
run: inside `surviving_stdout()`, the first broken write points the output at
/dev/null and the run carries on to save its checkpoint (messages on stderr
still arrive).
"""
from __future__ import annotations

import contextlib
import os
import sys


class SurvivingStream:
    """A text stream whose writes stop, silently, once the reader has gone."""

    def __init__(self, stream):
        self._stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            with self._on_broken_pipe():
                return self._stream.write(text)
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            with self._on_broken_pipe():
                self._stream.flush()

    @contextlib.contextmanager
    def _on_broken_pipe(self):
        try:
            yield
        except BrokenPipeError:
            self.broken = True
            self._point_at_devnull()

    def _point_at_devnull(self) -> None:
        """The unflushed buffer would fail again at exit: the descriptor now leads nowhere instead."""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def surviving_stdout():
    """sys.stdout replaced by a SurvivingStream for the block."""
    original = sys.stdout
    sys.stdout = SurvivingStream(original)
    try:
        yield sys.stdout
    finally:
        sys.stdout = original
