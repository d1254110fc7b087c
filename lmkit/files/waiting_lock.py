"""Taking turns: one lmkit process at a time through a step that the others wait for.

flock(2) on a lock file of lmkit's own; a process that finds it held says so
(a warning, so that a wait behind a stopped process is not a silent hang) and
waits. The kernel drops the lock when its holder dies, even on kill -9, so a
killed process never leaves the others waiting.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import warnings
from pathlib import Path
from typing import Iterator

from lmkit.errors import CorpusError
from lmkit.files.writing import not_own_file


@contextlib.contextmanager
def turn(lock: Path, what: str, waiting: str) -> Iterator[None]:
    """Hold `lock` (created if absent), waiting for another process that holds it after warning `waiting`. Where
    something not lmkit's stands at `lock` (a link, a folder), CorpusError naming it as `what` (this folder's
    encoding lock, ...) and asking to move it away; nothing is followed or replaced."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        stranger = not_own_file(lock)
        if stranger is None:
            raise
        raise CorpusError(f"{lock}: is {stranger} where lmkit keeps {what}, and not lmkit's; move it away") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            warnings.warn(waiting, stacklevel=4)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
