"""Reading weight files: safetensors only, which holds tensors and never code."""
from __future__ import annotations

from pathlib import Path

import torch

from lmkit.errors import CheckpointError


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file (which cannot hold code); CheckpointError when missing or malformed."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    if not path.exists():
        raise CheckpointError(f"{path}: weights file is missing")
    try:
        return load(path.read_bytes())
    except (SafetensorError, ValueError, OSError) as exc:
        raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from exc
