"""A module's weights as one safetensors file in a model directory, checked name by name and shape by shape."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from lmkit.errors import CheckpointError
from lmkit.fileio import write_bytes_atomic
from lmkit.models.neural.weights import load_weights

WEIGHTS_FILE = "model.safetensors"


def save_tensors(module: nn.Module, directory: Path, kind: str) -> None:
    """Write `module`'s state dict atomically to directory/model.safetensors."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    write_bytes_atomic(directory / WEIGHTS_FILE, save(tensors, metadata={"kind": kind}))


def load_checked(module: nn.Module, directory: Path) -> None:
    """Load directory/model.safetensors into `module`; CheckpointError naming a missing, extra or misshapen weight."""
    path = directory / WEIGHTS_FILE
    state = load_weights(path)
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit this model: missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}")
    for name in sorted(state):
        if tuple(state[name].shape) != tuple(expected[name].shape):
            raise CheckpointError(f"{path}: weight {name} has shape {tuple(state[name].shape)}, "
                                  f"the model expects {tuple(expected[name].shape)}")
    module.load_state_dict(state)
