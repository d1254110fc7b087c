"""Smoothings: each turns NGramCounts into BackoffTables. One registry, no kind chains.

    mle     p(w | h) = c(h w) / c(h .) for the longest suffix h of the history seen as a context;
            a word never seen after that context gets probability 0 (perplexity is then refused)
    add-k   p(w | h) = (c(h w) + k) / (c(h .) + k V)   (Laplace: k = 1; Lidstone otherwise), V the
            predictable words; an unseen history gives the uniform 1/V
    kn      interpolated modified Kneser-Ney (ngram_kneser_ney)

A "full" history is N-1 words long, or shorter but starting with `<s>` (nothing
can precede it): add-k applies its formula to full histories only, and the
lower orders it keeps are uniform, there only so that lookups work.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from lmkit.errors import ConfigError
from lmkit.models.ngram.count import NGramCounts
from lmkit.models.ngram.kneser_ney import kneser_ney
from lmkit.models.ngram.tables import NEVER, BackoffTables


def predictable_size(vocab_size: int) -> int:
    """Words a model can predict: the vocabulary less `<pad>` and `<s>`."""
    return vocab_size - len(NEVER)


def context_totals(counts: NGramCounts, k: int) -> np.ndarray:
    """(n_{k-1},) c(h .): how often each (k-1)-gram is followed by a word."""
    totals = np.bincount(counts.contexts(k), weights=counts.orders[k - 1].raw, minlength=len(counts.orders[k - 2]))
    return totals.astype(np.float64)


def unigram_raw(counts: NGramCounts) -> np.ndarray:
    raw = counts.orders[0].raw.astype(np.float64)
    raw[list(NEVER)] = 0.0
    return raw


def log10_table(prob: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log10(prob).astype(np.float32)


def mle(counts: NGramCounts, uniform_size: int, k: float = 0.0) -> tuple[BackoffTables, dict]:
    raw = unigram_raw(counts)
    logp = [log10_table(raw / raw.sum())]
    logbo = []
    for n in range(2, counts.order + 1):
        totals = context_totals(counts, n)
        logp.append(log10_table(counts.orders[n - 1].raw / totals[counts.contexts(n)]))
        logbo.append(np.where(totals > 0, -np.inf, 0.0).astype(np.float32))  # seen context: nothing else follows
    logbo.append(np.zeros(0, np.float32))
    return BackoffTables(counts.vocab_size, [o.keys for o in counts.orders], logp, logbo), {}


def add_k(counts: NGramCounts, uniform_size: int, k: float = 1.0) -> tuple[BackoffTables, dict]:
    order = counts.order
    if order == 1:
        raw = unigram_raw(counts)
        prob = (raw + k) / (raw.sum() + k * uniform_size)
    else:
        prob = np.full(counts.vocab_size, 1.0 / uniform_size)
    prob[list(NEVER)] = 0.0
    logp, logbo = [log10_table(prob)], []
    for n in range(2, order + 1):
        totals = context_totals(counts, n)
        full_context = np.ones(len(totals), bool) if n == order else counts.orders[n - 2].bos_initial
        weight = np.where(full_context, k * uniform_size / (totals + k * uniform_size), 1.0)
        logbo.append(np.log10(weight).astype(np.float32))
        this = counts.orders[n - 1]
        context = counts.contexts(n)
        prob = np.where(full_context[context], (this.raw + k) / (totals[context] + k * uniform_size), 1.0 / uniform_size)
        logp.append(log10_table(prob))
    logbo.append(np.zeros(0, np.float32))
    return BackoffTables(counts.vocab_size, [o.keys for o in counts.orders], logp, logbo), {}


def modified_kneser_ney(counts: NGramCounts, uniform_size: int, k: float = 0.0) -> tuple[BackoffTables, dict]:
    tables, used = kneser_ney(counts, uniform_size)
    return tables, {"discounts": [list(d) for d in used]}


SMOOTHINGS: dict[str, Callable] = {"mle": mle, "add-k": add_k, "kn": modified_kneser_ney}


def smoothing_function(name: str) -> Callable:
    if name not in SMOOTHINGS:
        raise ConfigError(f"unknown smoothing {name!r}; choose one of {', '.join(SMOOTHINGS)}")
    return SMOOTHINGS[name]
