"""Keep a long run alive when its output goes away.

Under `lmkit train ... | tee log`, Ctrl-C reaches tee too; tee exits, and the
next line lmkit prints fails with EPIPE. When the terminal itself closes
(SIGHUP, which training takes as a request to save and stop), every write to
it fails with EIO, progress bars on stderr included. Progress lines are not
worth a lost run: inside `surviving_output()`, the first broken write to
stdout or stderr points that stream at /dev/null and the run carries on to
save its checkpoint (the other stream, if its reader is still there, still
gets its messages).
"""
from __future__ import annotations

import contextlib
import errno
import os
import sys


def reader_gone(exc: OSError) -> bool:
    """Whether a failed write means nobody reads any more: a closed pipe, or a terminal hung up (EIO)."""
    return isinstance(exc, BrokenPipeError) or exc.errno == errno.EIO


class SurvivingStream:
    """A text stream whose writes stop, silently, once the reader has gone."""

    def __init__(self, stream):
        self._stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            with self._on_reader_gone():
                return self._stream.write(text)
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            with self._on_reader_gone():
                self._stream.flush()

    @contextlib.contextmanager
    def _on_reader_gone(self):
        try:
            yield
        except OSError as exc:
            if not reader_gone(exc):
                raise
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
def surviving_output():
    """sys.stdout and sys.stderr each replaced by a SurvivingStream for the block."""
    original = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SurvivingStream(original[0]), SurvivingStream(original[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = original
