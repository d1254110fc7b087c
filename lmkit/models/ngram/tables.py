"""Backoff tables: what every smoothed N-gram model (and every ARPA file) comes down to.

Order k holds its distinct k-grams as sorted int64 keys (see ngram_count: prefix
index * V + last word; order 1 is dense, key = word id), each with a log10
probability and, below the top order, a log10 backoff weight. Scoring follows
the ARPA rule, with h' = h without its first word:

    p(w | h) = p(h w)                 if the n-gram `h w` is listed
             = bo(h) * p(w | h')      otherwise (bo(h) = 1 when h is not listed)

A history is carried as the table indices of its suffixes of length 1..N-1
(-1 where that suffix is not listed). `</s>` and `<s>` reset it to `<s>`.
Lookups sort their queries first: a sorted batch walks the table once instead
of missing the cache on every binary search.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from lmkit.text.vocab import BOS_ID, EOS_ID, PAD_ID

LN10 = float(np.log(10.0))
NEVER = (PAD_ID, BOS_ID)  # ids that are context only, never predicted


def sorted_parts(values: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(sorted values, their positions) for consecutive parts of an array; one part where possible.

    Non-negative integers are sorted with their positions packed into the low bits of one uint64
    (a plain sort is several times faster than an argsort); the parts are as long as those bits
    allow. Anything else is argsorted whole.
    """
    n = len(values)
    if n == 0 or values.dtype.kind not in "iu" or values.min() < 0:
        order = np.argsort(values)
        yield values[order], order
        return
    position_bits = 64 - max(1, int(values.max()).bit_length())
    if position_bits < 16:
        order = np.argsort(values)
        yield values[order], order
        return
    part, shift = 1 << position_bits, np.uint64(position_bits)
    for start in range(0, n, part):
        packed = values[start : start + part].astype(np.uint64) << shift
        packed |= np.arange(len(packed), dtype=np.uint64)
        packed.sort()
        positions = (packed & np.uint64(part - 1)).view(np.int64)
        if start:
            positions += start
        packed >>= shift
        yield packed.view(np.int64), positions


def find_sorted(table: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of each query in the sorted `table`, -1 where absent (queries sorted first, then put back)."""
    out = np.full(len(queries), -1, dtype=np.int64)
    if not len(table) or not len(queries):
        return out
    for ordered, positions in sorted_parts(queries):
        where = np.searchsorted(table, ordered)
        hit = table[np.minimum(where, len(table) - 1)] == ordered
        out[positions] = np.where(hit, where, -1)
    return out


@dataclass
class BackoffTables:
    vocab_size: int
    keys: list[np.ndarray]    # keys[k-1]: (n_k,) int64 sorted
    logp: list[np.ndarray]    # logp[k-1]: (n_k,) float32 log10 p
    logbo: list[np.ndarray]   # logbo[k-1]: (n_k,) float32 log10 backoff; the top order's is empty

    @property
    def order(self) -> int:
        return len(self.keys)

    def sizes(self) -> list[int]:
        return [len(k) for k in self.keys]

    def truncated(self, order: int) -> "BackoffTables":
        """The first `order` orders, read as a model of that order (the last backoffs are then unused)."""
        return BackoffTables(self.vocab_size, self.keys[:order], self.logp[:order], self.logbo[:order])

    # --- lookups -------------------------------------------------------------
    def lookup(self, k: int, context: np.ndarray, words: np.ndarray) -> np.ndarray:
        """Index of the k-gram (context (k-1)-gram index, word) in order k, -1 where absent or context is -1."""
        if k == 1:
            return words.astype(np.int64)
        table = self.keys[k - 1]
        out = np.full(context.shape, -1, dtype=np.int64)
        known = context >= 0
        if not len(table) or not known.any():
            return out
        out[known] = find_sorted(table, context[known] * self.vocab_size + words[known])
        return out

    def start_state(self, rows: int) -> np.ndarray:
        """(rows, N-1) history of a fresh sentence: just `<s>`."""
        state = np.full((rows, self.order - 1), -1, dtype=np.int64)
        state[:, :1] = BOS_ID
        return state

    def walk(self, words: np.ndarray, state: np.ndarray, top: int | None = None) -> tuple[list, list]:
        """Look up the n-grams ending at each word of (R, T) `words`, the history before words[:, 0] being `state`.

        Returns found[k] (R, T), the index of the k-gram ending at each word (-1 if absent), for
        k = 1..top (default N), and contexts[j] (R, T), the j-word history before each word.
        """
        top = self.order if top is None else top
        found, contexts = [None, words], [None]
        for k in range(2, top + 1):
            context = np.empty(words.shape, dtype=np.int64)
            context[:, :1] = state[:, k - 2 : k - 1]
            context[:, 1:] = self.after(found[k - 1][:, :-1], words[:, :-1], k - 1)
            contexts.append(context)
            found.append(self.lookup(k, context, words))
        return found, contexts

    @staticmethod
    def after(found_j: np.ndarray, words: np.ndarray, j: int) -> np.ndarray:
        """The j-word history after each word: the j-gram ending there, or `<s>` alone after `</s>` / `<s>`."""
        reset = (words == EOS_ID) | (words == BOS_ID)
        return np.where(reset, BOS_ID if j == 1 else -1, found_j)

    def state_after(self, found: list, words: np.ndarray, t: int) -> np.ndarray:
        """(R, N-1) history after words[:, t]."""
        columns = [self.after(found[j][:, t], words[:, t], j) for j in range(1, self.order)]
        return np.stack(columns, axis=1) if columns else np.zeros((words.shape[0], 0), dtype=np.int64)

    def score_stream(self, words: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """log10 p (R, T) of each word given all before it, the n-gram order used, and the state after the last word."""
        found, contexts = self.walk(words, state)
        logp, matched = self.backoff_scores(found, contexts)
        after = self.state_after(found, words, -1) if words.shape[1] else state
        return logp, matched, after

    def score_next(self, targets: np.ndarray, history: list) -> tuple[np.ndarray, np.ndarray]:
        """log10 p (R, T) of targets[:, t] after the history history[j][:, t] (j = 1..N-1)."""
        found, contexts = [None, targets], [None, *history]
        for k in range(2, self.order + 1):
            found.append(self.lookup(k, contexts[k - 1], targets))
        return self.backoff_scores(found, contexts)

    def backoff_scores(self, found: list, contexts: list) -> tuple[np.ndarray, np.ndarray]:
        """The ARPA rule, in float64 log10: p of the longest listed n-gram plus the backoffs of the
        longer contexts that failed; also the order that matched. Dense gathers, no boolean indexing."""
        matched = np.ones(found[1].shape, dtype=np.int8)
        for k in range(2, self.order + 1):
            matched[found[k] >= 0] = k
        total = self.logp[0][found[1]].astype(np.float64)
        for k in range(2, self.order + 1):
            if len(self.logp[k - 1]):  # an order can be empty: no sentence that long
                total = np.where(matched == k, self.logp[k - 1][np.maximum(found[k], 0)], total)
            context = contexts[k - 1]
            if len(self.logbo[k - 2]):
                backoff = self.logbo[k - 2][np.maximum(context, 0)]
                total += np.where((matched < k) & (context >= 0), backoff, 0.0)
        total[np.isin(found[1], NEVER)] = -np.inf
        return total, matched

    def advance(self, state: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """History (R, N-1) after feeding one token per row."""
        words = ids.reshape(-1, 1)
        found, _ = self.walk(words, state, top=self.order - 1)
        return self.state_after(found, words, 0)

    def distribution(self, state: np.ndarray) -> np.ndarray:
        """(R, V) log10 p of every next token after each history."""
        rows = state.shape[0]
        logp = np.tile(self.logp[0].astype(np.float64), (rows, 1))  # (R, V)
        for j in range(1, self.order):
            context = state[:, j - 1]
            known = np.flatnonzero(context >= 0)
            logp[known] += self.logbo[j - 1][context[known]][:, None]
            table = self.keys[j]
            lo = np.searchsorted(table, context[known] * self.vocab_size)
            hi = np.searchsorted(table, (context[known] + 1) * self.vocab_size)
            row_of = np.repeat(known, hi - lo)
            entries = np.arange(int((hi - lo).sum())) + np.repeat(lo - np.cumsum(hi - lo) + (hi - lo), hi - lo)
            logp[row_of, table[entries] % self.vocab_size] = self.logp[j][entries]
        logp[:, list(NEVER)] = -np.inf
        return logp

    # --- n-grams as words ------------------------------------------------------
    def word_rows(self, k: int) -> np.ndarray:
        """(n_k, k) int32 word ids of every k-gram, in table order."""
        return word_rows(self.keys, self.vocab_size, k)


def word_rows(keys: list[np.ndarray], vocab_size: int, k: int) -> np.ndarray:
    """(n_k, k) int32 word ids of the k-grams whose keys are keys[k-1], following prefixes down to order 1."""
    rows = np.arange(vocab_size, dtype=np.int32)[:, None]
    for j in range(2, k + 1):
        prefix, last = np.divmod(keys[j - 1], vocab_size)
        rows = np.concatenate([rows[prefix], last.astype(np.int32)[:, None]], axis=1)
    return rows
