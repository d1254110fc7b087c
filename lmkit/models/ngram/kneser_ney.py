"""Interpolated modified Kneser-Ney (Chen & Goodman 1998), with KenLM's conventions.

For each order k, with adjusted counts a (see NGramCounts.adjusted) and the
counts-of-counts t_j = #{k-grams with a = j}:

    Y = t1 / (t1 + 2 t2)          D_j = j - (j + 1) Y t_{j+1} / t_j      (j = 1, 2, 3+)

    u(w | h)   = (a(h w) - D(a(h w))) / sum_x a(h x)
    gamma(h)   = (D1 N1(h .) + D2 N2(h .) + D3 N3+(h .)) / sum_x a(h x)
    p(w | h)   = u(w | h) + gamma(h) p(w | h')                      (h' = h without its first word)

and the unigrams interpolate with the uniform distribution over the words
that can be predicted (the vocabulary less `<s>` and `<pad>`), which is all
the probability `<unk>` gets when it never occurs in training. gamma(h)
becomes h's backoff weight in the ARPA file.
"""
from __future__ import annotations

import warnings

import numpy as np

from lmkit.models.ngram.count import NGramCounts
from lmkit.models.ngram.tables import NEVER, BackoffTables

FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # KenLM's --discount_fallback defaults


def counts_of_counts(adjusted: np.ndarray) -> np.ndarray:
    """(5,) t_0..t_4: how many n-grams have adjusted count 0, 1, 2, 3, 4."""
    return np.bincount(np.minimum(adjusted, 5), minlength=6)[:5]


def discounts(adjusted: np.ndarray, k: int) -> tuple[float, float, float]:
    """(D1, D2, D3+) for order k, or KenLM's fallback (with a warning) where counts-of-counts leave them undefined."""
    t = counts_of_counts(adjusted).astype(np.float64)
    problem = None
    if (t[1:4] == 0).any():
        j = int(np.flatnonzero(t[1:4] == 0)[0]) + 1
        problem = f"no {k}-gram has adjusted count {j}"
    else:
        y = t[1] / (t[1] + 2 * t[2])
        values = tuple(float(j - (j + 1) * y * t[j + 1] / t[j]) for j in (1, 2, 3))
        bad = [j for j, d in zip((1, 2, 3), values) if not 0 <= d <= j]
        if not bad:
            return values
        problem = f"discount D{bad[0]} = {values[bad[0] - 1]:.4g} is outside [0, {bad[0]}]"
    warnings.warn(fallback_message(k, problem, t[1:].astype(int).tolist()), stacklevel=3)
    return FALLBACK_DISCOUNTS


def fallback_message(k: int, problem: str, counts: list[int]) -> str:
    """What went wrong, what was used instead, and whether to worry (for 1-grams of a small alphabet: no)."""
    used = "D1 = {:g}, D2 = {:g}, D3+ = {:g}".format(*FALLBACK_DISCOUNTS)
    why = ("normal for characters or any small alphabet where every symbol is common; "
           "it only sets how much probability goes to unseen tokens, and the model is fine" if k == 1
           else "small or artificial data?")
    return (f"Kneser-Ney discounts for {k}-grams cannot be estimated ({problem}; counts-of-counts t1..t4 = {counts}): "
            f"used KenLM's fallback {used} instead ({why})")


def discount_of(adjusted: np.ndarray, d: tuple[float, float, float]) -> np.ndarray:
    table = np.array([0.0, d[0], d[1], d[2]])
    return table[np.minimum(adjusted, 3)]


def kneser_ney(counts: NGramCounts, uniform_size: int) -> tuple[BackoffTables, list[tuple[float, float, float]]]:
    """Backoff tables of the interpolated modified Kneser-Ney model, and the discounts used per order."""
    V = counts.vocab_size
    logp, logbo, used = [], [], []
    prob = None  # interpolated probabilities of the order below, (n_{k-1},)
    for k in range(1, counts.order + 1):
        adjusted = counts.adjusted(k)
        d = discounts(adjusted, k)
        used.append(d)
        a = adjusted.astype(np.float64)
        cut = discount_of(adjusted, d)
        if k == 1:
            total = a.sum()
            prob = (a - cut) / total + (cut.sum() / total) / uniform_size
            prob[list(NEVER)] = 0.0
        else:
            context = counts.contexts(k)
            denominator = np.bincount(context, weights=a, minlength=len(prob)).astype(np.float64)
            gamma = np.divide(np.bincount(context, weights=cut, minlength=len(prob)).astype(np.float64), denominator,
                              out=np.ones_like(denominator), where=denominator > 0)
            logbo.append(np.log10(gamma).astype(np.float32))
            interpolated = gamma[context]
            interpolated *= prob[counts.orders[k - 1].suffix]
            a -= cut  # in place from here on: these arrays are as long as the order has n-grams
            a /= denominator[context]
            a += interpolated
            prob = a
        with np.errstate(divide="ignore"):
            logp.append(np.log10(prob).astype(np.float32))
    logbo.append(np.zeros(0, np.float32))
    return BackoffTables(V, [o.keys for o in counts.orders], logp, logbo), used
