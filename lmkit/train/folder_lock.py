"""One writer per folder: flock(2) on FOLDER/.lock, held while a process writes into FOLDER.

A model directory (lmkit.train.resume_state.DirectoryLock) and a report
folder (lmkit.report.folder.ReportLock) are each written by one process at a
time; a second gets a one-line error naming the folder instead of
interleaving its files with the first's. The kernel drops the lock when the
holder dies, even on kill -9, so a killed run never leaves a folder busy.
"""
from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path
from typing import Callable

from lmkit.checkpoint.ownership import LOCK_FILE, is_lock_file, lock_state
from lmkit.errors import CheckpointError, LmkitError
from lmkit.files.writing import not_own_file


class FolderLock:
    """Exclusive while held: FOLDER/.lock, created if absent and holding the holder's process number; removed
    on release. `busy(folder)` is the error a second process gets."""

    def __init__(self, folder: Path, busy: Callable[[Path], LmkitError]):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.busy = busy
        self.handle = None

    def __enter__(self) -> "FolderLock":
        while True:
            self.folder.mkdir(parents=True, exist_ok=True)  # the last holder may have removed a folder it made
            self.handle = open_lock_file(self.path)
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                self.handle.close()
                raise self.busy(self.folder) from exc
            if self._still_the_lock_file():
                break
            self.handle.close()  # the holder removed it between our open and flock: lock the new one
        if not is_lock_file(self.path):  # more than a process number, or linked from elsewhere: the user's
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            raise CheckpointError(f"{self.path}: is not lmkit's lock (it holds more than a process number, or is "
                                  "linked from elsewhere); lmkit keeps its lock under this name: move the file")
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"{os.getpid()}\n")
        self.handle.flush()
        return self

    def _still_the_lock_file(self) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(self.handle.fileno()).st_ino
        except FileNotFoundError:
            return False

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)  # while still locked, so nobody holds the file being removed
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def refuse_if_held(folder: Path, busy: Callable[[Path], LmkitError]) -> None:
    """Raise `busy(folder)` now if a process holds FOLDER/.lock (before reading files it may be rewriting).
    Creates nothing."""
    state = lock_state(Path(folder))
    if state == "planted":
        raise planted(Path(folder) / LOCK_FILE)
    if state == "held":
        raise busy(Path(folder))


def open_lock_file(path: Path):
    """FOLDER/.lock for reading and writing, created if absent; a link or non-file planted there is refused, not
    followed (truncating it would write through to whatever it names)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if not_own_file(path) is None:
            raise
        raise planted(path) from exc  # a link (O_NOFOLLOW's ELOOP) or a folder (EISDIR)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise planted(path)
    return os.fdopen(fd, "r+")


def planted(path: Path) -> CheckpointError:
    """The error for a link, folder, FIFO or device standing where lmkit keeps its lock."""
    what = not_own_file(path) or "not a regular file"
    return CheckpointError(f"{path}: is {what}, not a regular file; lmkit keeps its lock there, remove it")
