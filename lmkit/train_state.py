"""What `--resume` needs, saved beside the model: DIR/last/ and DIR/.lock.

DIR/last/ is a complete model directory plus trainer_state.pt (optimizer,
schedule, RNG, data position, carried hidden state). It is written into a
fresh temporary folder and swapped in with renames, so a crash leaves either
the previous last/ or the new one (or, between the two renames, last.old/,
which load_resume falls back to).
"""
from __future__ import annotations

import fcntl
import io
import os
import pickle
import shutil
import tempfile
from pathlib import Path

import torch

from lmkit.checkpoint import load_model, save_model
from lmkit.errors import CheckpointError, ConfigError, LmkitError
from lmkit.fileio import fsync_dir

LAST = "last"
STATE_FILE = "trainer_state.pt"


def save_last(directory: Path, model, tokenizer, trainer_state: dict, extra: dict) -> Path:
    """Write model + trainer state to DIR/last/ all-or-nothing."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".last.", dir=directory))
    try:
        save_model(staging, model, tokenizer, extra)
        buffer = io.BytesIO()
        torch.save(trainer_state, buffer)
        with open(staging / STATE_FILE, "wb") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        fsync_dir(staging)
        last, old = directory / LAST, directory / f"{LAST}.old"
        shutil.rmtree(old, ignore_errors=True)
        if last.exists():
            os.replace(last, old)
        os.replace(staging, last)
        fsync_dir(directory)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise LmkitError(f"could not save {directory / LAST}: {exc.strerror or exc}; the previous checkpoint is intact") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory / LAST


def resume_dir(directory: Path) -> Path:
    """The folder holding the resumable state for DIR (DIR/last, DIR/last.old, or DIR itself)."""
    directory = Path(directory)
    for candidate in (directory / LAST, directory / f"{LAST}.old", directory):
        if (candidate / STATE_FILE).exists() and (candidate / "config.json").exists():
            return candidate
    if not directory.exists():
        raise CheckpointError(f"--resume {directory}: no such directory")
    raise CheckpointError(f"--resume {directory}: no resumable state ({LAST}/{STATE_FILE} is missing)")


def load_resume(directory: Path):
    """(model, tokenizer, config, trainer_state) from DIR's resumable checkpoint; never unpickles code."""
    where = resume_dir(directory)
    model, tokenizer, config = load_model(where)
    state = load_trainer_state(where / STATE_FILE)
    return model, tokenizer, config, state


def load_trainer_state(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path}: refused to load: it holds objects other than tensors and plain data "
                              "(possibly code); only weights_only files are accepted") from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable trainer state ({str(exc).splitlines()[0]})") from exc
    if not isinstance(state, dict) or "step" not in state:
        raise CheckpointError(f"{path}: not an lmkit trainer state")
    return state


class DirectoryLock:
    """An exclusive lock on DIR/.lock held while training writes into DIR (released even on kill -9)."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / ".lock"
        self.handle = None

    def __enter__(self) -> "DirectoryLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self.handle.close()
            raise ConfigError(f"{self.path.parent}: another lmkit process is training into this directory "
                              "(it holds .lock); choose another --out or wait for it") from exc
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"{os.getpid()}\n")
        self.handle.flush()
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
