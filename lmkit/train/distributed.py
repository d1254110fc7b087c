"""World: the trainer's view of torch.distributed (one process, or DDP ranks).

Each rank trains on its own contiguous slice of the B parallel BPTT rows and
keeps its hidden state local; DistributedDataParallel all-reduces gradients;
validation NLL and token counts are summed across ranks (never averaged
perplexities); only rank 0 writes files. Launch with
`torchrun --nproc-per-node N -m lmkit train ...` or `lmkit train --nproc N`.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from lmkit.errors import ConfigError, TrainingError
from lmkit.evaluate.perplexity import NLL, WINDOW, score_padded, stream_rows
from lmkit.models.base import HandWrittenGradients
from lmkit.stop_signals import killed_by_sigterm
from lmkit.text.batches import with_bos


def lost_peer(exc: RuntimeError) -> bool:
    """Whether a collective failed because a peer is gone: torch's DistError, or gloo/NCCL's RuntimeError
    (raised as a plain one from a gradient hook inside backward)."""
    text = str(exc)
    return isinstance(exc, dist.DistError) or "gloo" in text or "NCCL" in text or "closed by peer" in text


def job_size() -> int:
    """Processes in the job torchrun (or `--nproc`) started this one in: WORLD_SIZE, 1 for a single process."""
    return int(os.environ.get("WORLD_SIZE", "1"))


@dataclass
class World:
    rank: int = 0
    size: int = 1

    @classmethod
    def single(cls) -> "World":
        return cls()

    @classmethod
    def from_env(cls, device_type: str = "cpu") -> "World":
        """Join the process group torchrun describes in the environment (or stay single)."""
        size = job_size()
        if size <= 1:
            return cls.single()
        if not dist.is_initialized():
            with killed_by_sigterm():  # the launcher stops a rank still waiting here for one that failed
                dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
        return cls(rank=dist.get_rank(), size=dist.get_world_size())

    def close(self) -> None:
        """Leave the process group together. A rank that exits with it still up can abort in gloo's
        teardown ("terminate called without an active exception") while the others finish."""
        if self.distributed and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    @contextlib.contextmanager
    def peers_watched(self):
        """A collective that fails because another process is gone (killed, out of memory) raises
        TrainingError in one line: that process's end, not this one's traceback, is the cause."""
        try:
            yield
        except RuntimeError as exc:
            if not self.distributed or not lost_peer(exc):
                raise
            said = str(exc).split(". ")[0].split("] ")[-1]  # "Connection closed by peer [127.0.0.1]:1419"
            raise TrainingError(f"process {self.rank} of {self.size}: another process of the job is gone "
                                f"({said})") from exc

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def local_device(self, device: torch.device) -> torch.device:
        if device.type == "cuda" and self.distributed:
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return device

    @contextlib.contextmanager
    def main_first(self):
        """Rank 0 runs the block first (fetching, tokenizing, writing caches); the others then read its results."""
        if self.distributed and not self.is_main:
            dist.barrier()
        yield
        if self.distributed and self.is_main:
            dist.barrier()

    def agree(self, choice, ranked: tuple):
        """The highest-ranked of every rank's `choice` (an element of `ranked`), the same on all ranks."""
        if not self.distributed:
            return choice
        tensor = torch.tensor([ranked.index(choice)], dtype=torch.int64)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return ranked[int(tensor)]

    def broadcast(self, value):
        """Rank 0's `value` on every rank (e.g. the output directory it chose)."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    # --- data ---------------------------------------------------------------------
    def rows(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of the (B, ...) rows."""
        if not self.distributed:
            return batch
        if batch.shape[0] % self.size:
            raise undividable_batch(batch.shape[0], self.size)
        share = batch.shape[0] // self.size
        return batch[self.rank * share : (self.rank + 1) * share]

    def gather_rows(self, local: torch.Tensor) -> torch.Tensor:
        """All ranks' row slices, concatenated in rank order (inverse of `rows`)."""
        if not self.distributed:
            return local
        parts = [torch.empty_like(local) for _ in range(self.size)]
        dist.all_gather(parts, local.contiguous())
        return torch.cat(parts, dim=0)

    def stream_nll(self, model, stream: np.ndarray, rows: int, window: int = WINDOW, device="cpu") -> NLL:
        """NLL of an evaluation stream: the same rows as one process would score, shared out among ranks
        (each rank scores every size-th row), summed over ranks: identical to the single-process figure."""
        inputs, targets, mask = stream_rows(with_bos(stream), rows)  # (R, L) each
        mine = slice(self.rank, None, self.size)
        inputs, targets, mask = (t[mine].to(device) for t in (inputs, targets, mask))
        logp = score_padded(model, inputs, targets, mask, window) if len(inputs) else torch.zeros(0)
        return self.sum_nll(NLL(-float(logp.sum()), int(mask.sum())))

    def layout(self, batch_size: int) -> dict:
        return {"ranks": self.size, "batch_size": batch_size}

    # --- reductions -----------------------------------------------------------------
    def wrap(self, model: torch.nn.Module):
        if not self.distributed or isinstance(model, HandWrittenGradients):
            return model
        from torch.nn.parallel import DistributedDataParallel

        device = next(model.parameters()).device
        device_ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)

    def mean(self, value: float) -> float:
        if not self.distributed:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(tensor)
        return float(tensor) / self.size

    def all_reduce_grads(self, model: torch.nn.Module) -> None:
        """Average hand-written gradients (models DDP cannot wrap)."""
        if not self.distributed:
            return
        for param in model.parameters():
            if param.grad is not None:
                dist.all_reduce(param.grad)
                param.grad /= self.size

    def sum_nll(self, result: NLL) -> NLL:
        if not self.distributed:
            return result
        tensor = torch.tensor([result.nll, float(result.tokens)], dtype=torch.float64)
        dist.all_reduce(tensor)
        return NLL(float(tensor[0]), int(tensor[1]))


def shared_sizes(size: int, processes: int) -> str:
    """The batch sizes nearest `size` that `processes` share evenly, in words ("14 or 16")."""
    lower = size // processes * processes
    return f"{lower} or {lower + processes}" if lower else f"{processes}"


def undividable_batch(size: int, processes: int) -> ConfigError:
    """The error for a batch of `size` rows that `processes` cannot share evenly, with the sizes near it that do."""
    return ConfigError(f"--batch-size {size} must be divisible by the {processes} processes: give --batch-size "
                       f"{shared_sizes(size, processes)}")
