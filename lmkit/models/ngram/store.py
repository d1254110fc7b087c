"""Reading model.ngram.npz back, checked: a damaged or foreign file is a CheckpointError, never a wrong model.

The file holds, per order n, `keys{n}` (int64, strictly increasing), `logp{n}`
and `logbo{n}` (float32 log10), as written by NGramLM.save, and `record`:
the JSON of what the tables are (saved_record), which config.json must agree
with (files saved before the record existed have none).
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from lmkit.errors import CheckpointError
from lmkit.files.reading import open_regular
from lmkit.models.saved_record import check_record
from lmkit.models.ngram.tables import BackoffTables


RECORD = "record"  # the array holding the tables' weights_record, as JSON


def read_tables(path: Path, order: int, vocab_size: int, record: dict[str, str] | None = None,
                config: dict | None = None) -> BackoffTables:
    """The tables of an `order`-gram model over `vocab_size` types; given `record` (weights_record of what
    config.json says, `config` as read), the file's own record must agree (check_record)."""
    if not path.exists():
        raise CheckpointError(f"{path}: N-gram weights are missing")
    try:
        with open_regular(path, CheckpointError) as handle:
            check_sizes(handle)
            handle.seek(0)
            with np.load(handle, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"{path}: not a readable N-gram weights file ({exc})") from exc
    if record is not None and RECORD in arrays:  # files saved before the record existed have none
        check_record(path, record, saved_record(path, arrays[RECORD]), config or {}, settings=None)
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


def saved_record(path: Path, array: np.ndarray) -> dict:
    """The record array's JSON object (its values are checked by check_record); CheckpointError when it is not one."""
    try:
        saved = json.loads(str(array[()])) if array.shape == () and array.dtype.kind == "U" else None
    except (ValueError, RecursionError):
        saved = None
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path}: its record of the model that saved it is damaged")
    return saved


HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def check_sizes(handle) -> None:
    """ValueError unless every array is stored uncompressed (as NGramLM.save writes it) and holds the bytes its
    header declares: numpy allocates an array from its header's shape before reading it, and a compressed member
    could expand without bound."""
    with zipfile.ZipFile(handle) as archive:
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"{info.filename} is compressed; lmkit writes its tables uncompressed")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version not in HEADER_READERS:
                    raise ValueError(f"{info.filename} is a .npy file of version {version}, not one lmkit writes")
                shape, _, dtype = HEADER_READERS[version](member)
                declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if declared > info.file_size:
                    raise ValueError(f"{info.filename} declares {declared:,} bytes of data in {info.file_size:,}")


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
