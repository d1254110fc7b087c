"""A module's weights as one safetensors file in a model directory (read back by lmkit.models.neural.weights)."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from lmkit.files.writing import write_bytes_atomic

WEIGHTS_FILE = "model.safetensors"


def save_tensors(module: nn.Module, directory: Path, record: dict[str, str], leave_out: frozenset[str] = frozenset()) -> None:
    """Write `module`'s state dict (less the names in `leave_out`) atomically to directory/model.safetensors, with
    `record` (weights_record: what saved them) in its header."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items() if k not in leave_out}
    write_bytes_atomic(directory / WEIGHTS_FILE, save(tensors, metadata=record))
