"""Reading model.ngram.npz back, checked: a damaged or foreign file is a CheckpointError, never a wrong model.

The file holds, per order n, `keys{n}` (int64, strictly increasing), `logp{n}`
and `logbo{n}` (float32 log10), as written by NGramLM.save.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from lmkit.errors import CheckpointError
from lmkit.input_files import open_regular
from lmkit.models.ngram_tables import BackoffTables


def read_tables(path: Path, order: int, vocab_size: int) -> BackoffTables:
    if not path.exists():
        raise CheckpointError(f"{path}: N-gram weights are missing")
    try:
        with open_regular(path, CheckpointError) as handle, np.load(handle, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"{path}: not a readable N-gram weights file ({exc})") from exc
    keys, logp, logbo = [], [], []
    for n in range(1, order + 1):
        missing = [f"{name}{n}" for name in ("keys", "logp", "logbo") if f"{name}{n}" not in arrays]
        if missing:
            raise CheckpointError(f"{path}: missing arrays {missing} for a {order}-gram model")
        keys.append(arrays[f"keys{n}"])
        logp.append(arrays[f"logp{n}"])
        logbo.append(arrays[f"logbo{n}"])
        check_order(path, n, order, vocab_size, keys, logp[-1], logbo[-1])
    return BackoffTables(vocab_size, keys, logp, logbo)


def check_order(path: Path, n: int, order: int, vocab_size: int, keys: list, logp: np.ndarray, logbo: np.ndarray) -> None:
    this = keys[-1]
    if this.dtype != np.int64 or logp.dtype != np.float32 or logbo.dtype != np.float32:
        raise CheckpointError(f"{path}: order {n} arrays have types {this.dtype}/{logp.dtype}/{logbo.dtype}, "
                              "expected int64/float32/float32")
    expected_bo = 0 if n == order else len(this)
    if this.ndim != 1 or logp.shape != this.shape or logbo.shape != (expected_bo,):
        raise CheckpointError(f"{path}: order {n} arrays have inconsistent shapes")
    if n == 1 and not np.array_equal(this, np.arange(vocab_size)):
        raise CheckpointError(f"{path}: the unigram table does not match the vocabulary of size {vocab_size}")
    if n > 1 and len(this):
        if (np.diff(this) <= 0).any():
            raise CheckpointError(f"{path}: order {n} keys are not strictly increasing")
        if this[0] < 0 or this[-1] // vocab_size >= len(keys[-2]):
            raise CheckpointError(f"{path}: order {n} keys point outside the order {n - 1} table")
    if np.isnan(logp).any() or (logp > 1e-4).any() or np.isnan(logbo).any():
        raise CheckpointError(f"{path}: order {n} holds probabilities that are not probabilities")
