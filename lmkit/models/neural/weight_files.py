"""A module's weights as one safetensors file in a model directory (read back by lmkit.models.neural.weights)."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from lmkit.fileio import write_bytes_atomic

WEIGHTS_FILE = "model.safetensors"


def save_tensors(module: nn.Module, directory: Path, kind: str) -> None:
    """Write `module`'s state dict atomically to directory/model.safetensors."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    write_bytes_atomic(directory / WEIGHTS_FILE, save(tensors, metadata={"kind": kind}))
