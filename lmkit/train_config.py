"""TrainConfig: every knob of the training loop, with its default and its check."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from lmkit.config_json import from_json
from lmkit.errors import ConfigError

OPTIMIZERS = ("sgd", "adamw")
PRECISIONS = ("fp32", "bf16")
ON_NAN = ("stop", "rollback")


@dataclass
class TrainConfig:
    epochs: int = 10
    max_steps: int | None = None        # stop after this many optimizer steps (whole run, resumes included)
    max_time: float | None = None       # seconds of training in this process
    batch_size: int = 32
    bptt: int = 64
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 0.0
    lr_decay: float = 4.0               # divide the LR by this when validation does not improve
    clip: float | None = 1.0            # max gradient norm; None or 0 disables
    patience: int = 3                   # evaluations without improvement before stopping early
    eval_every: int | None = None       # steps between validations (besides each epoch end)
    save_every: int | None = None       # steps between resumable checkpoints (besides each evaluation)
    eval_rows: int = 16
    device: str = "auto"
    precision: str = "fp32"
    seed: int = 1234
    compile: bool = False
    on_nan: str = "stop"
    keep_freed_memory: bool = True      # on CPU, let glibc reuse freed memory (lmkit/cpu_memory.py): fewer page faults

    def validate(self) -> None:
        positive = ("epochs", "batch_size", "bptt", "eval_rows")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("max_steps", "eval_every", "save_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.max_time is not None and self.max_time <= 0:
            raise ConfigError(f"--max-time must be positive, got {self.max_time}")
        if not self.lr > 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        if self.lr_decay < 1:
            raise ConfigError(f"--lr-decay must be at least 1 (1 = no decay), got {self.lr_decay}")
        if self.clip is not None and self.clip < 0:
            raise ConfigError(f"--clip must be positive (0 disables), got {self.clip}")
        for name, allowed in (("optimizer", OPTIMIZERS), ("precision", PRECISIONS), ("on_nan", ON_NAN)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: dict, where: str = "train config") -> "TrainConfig":
        """From saved JSON-like settings: each value's type checked (naming `where` and the key), unknown keys ignored."""
        return from_json(cls, obj, where)


def select_device(name: str) -> torch.device:
    """'auto' picks cuda, then mps, then cpu; an explicit name must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"--device {name!r} is not a device name (try auto, cpu, cuda, cuda:1, mps)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"--device {name}: MPS is not available on this machine")
    return device
