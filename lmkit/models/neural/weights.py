"""Reading weight files: safetensors only, which holds tensors and never code.

The file's header is read first. What it records of the model that saved it
(weights_record: kind, direction, and the settings its weights follow) must
agree with config.json, so a hand-edited key is named as such; then the
tensors' names and shapes must be those config.json describes, so a config
that asks for a huge model (or a file that does not fit it) is refused
without allocating it; every tensor read must hold finite numbers only.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import torch

from lmkit.errors import CheckpointError, ConfigError, first_line
from lmkit.files.reading import open_regular
from lmkit.models.saved_record import check_record

Shapes = dict[str, tuple[int, ...]]
HEADER_MAX_BYTES = 100_000_000  # the safetensors format's own limit on its JSON header


def planned_shapes(build: Callable[[], torch.nn.Module], where: Path) -> Shapes:
    """The names and shapes of the weights `build()` makes, built on the meta device (nothing is allocated, so a
    config.json asking for a huge model costs nothing); CheckpointError naming `where` (the config.json) for
    settings no model can have."""
    try:
        with torch.device("meta"):
            return {name: tuple(t.shape) for name, t in build().state_dict().items()}
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{where}: invalid model settings: {exc}") from exc
    except (RuntimeError, OverflowError, ValueError) as exc:  # sizes no tensor can have
        raise CheckpointError(f"{where}: invalid model settings: no model of this size can be built "
                              f"({first_line(exc)})") from exc


def check_shapes(found: Shapes, expected: Shapes, optional: frozenset[str] = frozenset()) -> None:
    """CheckpointError naming the first misfit (names in sorted order); `optional` names may be present or not."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected) - optional)
    if missing or unexpected:
        misfits = [f"{what} {names[:3]}" for what, names in (("missing", missing), ("unexpected", unexpected)) if names]
        raise CheckpointError(f"weights do not fit this model: {', '.join(misfits)}")
    for name in sorted(set(found) & set(expected)):
        if tuple(found[name]) != tuple(expected[name]):
            raise CheckpointError(f"weight {name} has shape {tuple(found[name])}, the model expects {tuple(expected[name])}")


def load_weights(path: Path, expected: Shapes | None = None, optional: frozenset[str] = frozenset(),
                 record: dict[str, str] | None = None, config: dict | None = None) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file; CheckpointError when missing, malformed, not finite, or saved by another
    model than config.json describes (`record`: weights_record of config.json's kind, direction and settings, held
    against the header's; `config`: config.json as read, to quote it), or
    (given `expected` names and shapes) not the model's, all checked from the header before reading a tensor."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: weights file is missing")
    with open_regular(path, CheckpointError) as handle:
        found, metadata = read_header(handle, path)  # the whole file is read only once the header accounts for it all
        if record is not None:
            check_record(path, record, metadata, config or {})
        if expected is not None:
            try:
                check_shapes(found, expected, optional)
            except CheckpointError as exc:
                raise CheckpointError(f"{path}: {exc}") from exc
        handle.seek(0)
        data = handle.read()
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, OSError, TypeError) as exc:
        raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from exc
    for name, tensor in sorted(tensors.items()):
        check_finite(path, name, tensor)
    return tensors


def read_header(handle, path: Path) -> tuple[Shapes, dict]:
    """Tensor names and shapes, and the "__metadata__" strings (lmkit writes the model's kind there; {} when
    absent), from a safetensors header (an 8-byte little-endian length, then that much JSON), which must account
    for every byte of the file: a file padded to any size is refused before it is read."""
    size = os.fstat(handle.fileno()).st_size
    length = int.from_bytes(handle.read(8), "little")
    try:
        if not 2 <= length <= min(HEADER_MAX_BYTES, size - 8):
            raise ValueError(f"header length {length} does not fit a file of {size} bytes")
        header = json.loads(handle.read(length))
        entries = {name: entry for name, entry in header.items() if name != "__metadata__"}
        end = max((int(entry["data_offsets"][1]) for entry in entries.values()), default=0)
        if 8 + length + end != size:
            raise ValueError(f"the header describes {8 + length + end:,} bytes, the file has {size:,}")
        metadata = header.get("__metadata__") or {}
        return ({name: tuple(int(n) for n in entry["shape"]) for name, entry in entries.items()},
                metadata if isinstance(metadata, dict) else {})
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from exc


def check_finite(path: Path, name: str, tensor: torch.Tensor) -> None:
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise CheckpointError(f"{path}: weight {name} holds {bad:,} NaN or infinite values: the file is damaged, "
                              "or was saved by a run that diverged")
