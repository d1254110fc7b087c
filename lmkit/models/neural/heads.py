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
ADAPTIVE_DIV = 4  # each tail cluster reads a projection of the softmax's inputs to 1/4 of the one before
ADAPTIVE_CLUSTERS = 2  # tail clusters after the head (adaptive_cutoffs)
# --softmax auto: adaptive from this many types up. A full softmax over a word vocabulary (pku98's 50,756, Shakespeare's
# 30,876) is nearly all of a 2 x 256 LSTM's work: the adaptive one trained 12 times the tokens in the same 480 s
# (benchmarks/RESULTS.md, "Word models by default"). Chinese characters and subwords are in the same regime: on one
# thread of an AVX2-only CPU (fp32), 480 s side by side, the adaptive softmax read 2.5-2.9 times the tokens and
# ended 4.7-7.6% lower in test bits/char on zh-reviews' 4,545 and pku98's 4,632 characters and on Shakespeare's
# 8,000 subwords; on tang300's 2,505 characters the two came out level (RESULTS.md, "Held-out corpora"), so below
# 4,000 types (English characters, small Chinese corpora) the full softmax stays.
AUTO_ADAPTIVE_VOCAB = 4_000
SOFTMAX_CHOICES = ("auto", "full", "adaptive")


def resolved_softmax(asked: str, vocab_size: int, features: int, tied: bool = False) -> str:
    """The head a model of `vocab_size` types whose softmax reads `features` gets for --softmax `asked`: auto is
    adaptive from AUTO_ADAPTIVE_VOCAB types up, unless the weights are tied (the adaptive softmax has no single
    output matrix) or too few features would be left to its last cluster; full or adaptive as asked."""
    if asked != "auto":
        return asked
    fits = vocab_size >= AUTO_ADAPTIVE_VOCAB and features >= ADAPTIVE_DIV ** ADAPTIVE_CLUSTERS and not tied
    return "adaptive" if fits else "full"


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


def check_adaptive_features(features: int, source: str = "--hidden-size") -> None:
    """ConfigError where an adaptive softmax would read too few `features` for its last cluster's projection to keep
    one; `source` says where they come from (a BiLSTM's softmax reads 2 x --hidden-size)."""
    fewest = ADAPTIVE_DIV ** ADAPTIVE_CLUSTERS
    if features < fewest:
        raise ConfigError(f"--softmax adaptive needs a softmax reading at least {fewest} features (its last cluster "
                          f"reads 1/{fewest} of them), this model's reads {features} (from {source}); raise "
                          "--hidden-size or use --softmax full")


def adaptive_cutoffs(vocab_size: int) -> list[int]:
    """Head of the ~5% most frequent types, then clusters up to 20% and the rest."""
    if vocab_size < MIN_ADAPTIVE_VOCAB:
        raise ConfigError(f"--softmax adaptive needs a vocabulary of at least {MIN_ADAPTIVE_VOCAB} types, "
                          f"this one has {vocab_size}; use --softmax full")
    return [round(vocab_size * 0.05), round(vocab_size * 0.2)]  # ADAPTIVE_CLUSTERS tail clusters


class AdaptiveSoftmax(nn.Module):
    """log p(w) = log p_head(w) for the head's words; log p_head(cluster c) + log p_c(w) for a word of tail cluster c.

    The weights are torch's nn.AdaptiveLogSoftmaxWithLoss (`asm`: `head` reads H, each tail cluster projects H to
    H / 4^c and reads that); the computation is lmkit's, as for the full softmax: under bf16 autocast the matmuls
    run in bf16 and every log-softmax in fp32 (torch's module would take all of it to fp32 or all to bf16), and
    the loss goes through each layer's hand-written gradient (softmax_loss)."""

    def __init__(self, hidden_size: int, vocab_size: int):
        super().__init__()
        cutoffs = adaptive_cutoffs(vocab_size)
        check_adaptive_features(hidden_size)
        self.asm = nn.AdaptiveLogSoftmaxWithLoss(hidden_size, vocab_size, cutoffs, div_value=float(ADAPTIVE_DIV))

    def target_logprobs(self, out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # out (B, T, H), targets (B, T) -> (B, T) fp32
        asm, hidden = self.asm, out.reshape(-1, out.shape[-1])                                 # (N, H)
        flat = targets.reshape(-1).contiguous()  # (N,); a strided view would make bucketize warn and copy
        starts = torch.tensor(asm.cutoffs[:-1], device=flat.device)                          # each cluster's first id
        cluster = torch.bucketize(flat, starts, right=True)                                   # (N,) 0: a head word
        in_head = torch.where(cluster == 0, flat, asm.shortlist_size + cluster - 1)           # the word, or its cluster
        logp = linear_target_logprobs(hidden, asm.head, in_head)                              # (N,)
        for c, (tail, start) in enumerate(zip(asm.tail, asm.cutoffs), start=1):  # cluster c's words: cutoffs[c-1]..
            rows = (cluster == c).nonzero().squeeze(1)                                         # (n,)
            if rows.numel():
                projected = tail[0](hidden.index_select(0, rows))                             # (n, H / 4^c)
                logp = logp.index_add(0, rows, linear_target_logprobs(projected, tail[1], flat[rows] - start))
        return logp.view(targets.shape)

    def log_probs(self, out: torch.Tensor) -> torch.Tensor:
        # out (B, H) -> (B, V) fp32
        asm = self.asm
        head = F.log_softmax(asm.head(out).float(), dim=-1)                       # (B, shortlist + clusters)
        parts = [head[:, : asm.shortlist_size]]
        for c, tail in enumerate(asm.tail):
            parts.append(F.log_softmax(tail(out).float(), dim=-1) + head[:, asm.shortlist_size + c, None])
        return torch.cat(parts, dim=1)


HEADS: dict[str, type[nn.Module]] = {"full": FullSoftmax, "adaptive": AdaptiveSoftmax}
