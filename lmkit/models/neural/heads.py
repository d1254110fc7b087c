"""Output layers for RNNLM: o_t = softmax(V s_t + c), full or adaptive.

The adaptive softmax (Grave et al., via torch.nn.AdaptiveLogSoftmaxWithLoss)
puts the frequent words in a small head and the rare ones in clusters whose
projections are smaller, so large word vocabularies (50k+) cost a fraction
of a full softmax. lmkit's vocabulary is already sorted by frequency, which is
what the cutoffs assume.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmkit.errors import ConfigError
from lmkit.models.neural.softmax_loss import linear_target_logprobs

MIN_ADAPTIVE_VOCAB = 1000


class FullSoftmax(nn.Module):
    def __init__(self, hidden_size: int, vocab_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, vocab_size)
        nn.init.uniform_(self.linear.weight, -0.1, 0.1)
        nn.init.zeros_(self.linear.bias)

    def target_logprobs(self, out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # out (B, T, H), targets (B, T) -> (B, T)
        batch, steps, hidden = out.shape
        logp = linear_target_logprobs(out.reshape(-1, hidden), self.linear, targets.reshape(-1))  # (B*T,)
        return logp.view(batch, steps)

    def log_probs(self, out: torch.Tensor) -> torch.Tensor:
        # out (B, H) -> (B, V)
        return F.log_softmax(self.linear(out).float(), dim=-1)


def adaptive_cutoffs(vocab_size: int) -> list[int]:
    """Head of the ~5% most frequent types, then clusters up to 20% and the rest."""
    if vocab_size < MIN_ADAPTIVE_VOCAB:
        raise ConfigError(f"--softmax adaptive needs a vocabulary of at least {MIN_ADAPTIVE_VOCAB} types, "
                          f"this one has {vocab_size}; use --softmax full")
    return [round(vocab_size * 0.05), round(vocab_size * 0.2)]


class AdaptiveSoftmax(nn.Module):
    def __init__(self, hidden_size: int, vocab_size: int):
        super().__init__()
        self.asm = nn.AdaptiveLogSoftmaxWithLoss(hidden_size, vocab_size, adaptive_cutoffs(vocab_size), div_value=4.0)

    def target_logprobs(self, out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        batch, steps, hidden = out.shape
        with torch.autocast(out.device.type, enabled=False):
            result = self.asm(out.reshape(-1, hidden).float(), targets.reshape(-1))
        return result.output.view(batch, steps)

    def log_probs(self, out: torch.Tensor) -> torch.Tensor:
        with torch.autocast(out.device.type, enabled=False):
            return self.asm.log_prob(out.float())


HEADS: dict[str, type[nn.Module]] = {"full": FullSoftmax, "adaptive": AdaptiveSoftmax}
