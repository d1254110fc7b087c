"""N-grams as rows of word ids, for n-grams that arrive as lists of words (ARPA files).

A k-gram row (w1 .. wk) is packed into 4k bytes, each id big-endian, so that
numpy's byte-string order is the lexicographic order of the rows. In that
order a table's k-grams come grouped by their prefix exactly like the sorted
int64 keys of ngram_count (prefix index * V + last word), so rows convert to
keys with one sorted search per order.
"""
from __future__ import annotations

import numpy as np

from lmkit.models.ngram.tables import find_sorted


def row_bytes(rows: np.ndarray) -> np.ndarray:
    """(n, k) ids -> (n,) fixed-width byte strings that sort like the rows."""
    rows = np.ascontiguousarray(np.asarray(rows).astype(">u4"))
    if rows.shape[1] == 0:
        return np.zeros(len(rows), dtype="S1")
    return rows.view(f"S{4 * rows.shape[1]}").reshape(len(rows))


def bytes_rows(packed: np.ndarray, k: int) -> np.ndarray:
    """Inverse of row_bytes: (n,) byte strings -> (n, k) int32 ids."""
    data = np.frombuffer(np.ascontiguousarray(packed, dtype=f"S{4 * k}").tobytes(), dtype=">u4")
    return data.reshape(len(packed), k).astype(np.int32)


def sort_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lexicographic order of (n, k) rows: (permutation, packed rows in that order)."""
    packed = row_bytes(rows)
    order = np.argsort(packed, kind="stable")
    return order, packed[order]


def keys_from_rows(rows: np.ndarray, lower: np.ndarray, vocab_size: int) -> np.ndarray:
    """int64 keys of lexicographically sorted (n, k) rows whose prefixes all lie in `lower`
    (the packed, sorted (k-1)-gram rows); -1 marks a row whose prefix is missing."""
    prefix = find_sorted(lower, row_bytes(rows[:, :-1]))
    return np.where(prefix >= 0, prefix * vocab_size + rows[:, -1], -1)


def duplicates(packed_sorted: np.ndarray) -> np.ndarray:
    """Positions i (in sorted order) where row i equals row i - 1."""
    return np.flatnonzero(packed_sorted[1:] == packed_sorted[:-1]) + 1


def missing_prefixes(rows: np.ndarray, lower_packed_sorted: np.ndarray) -> np.ndarray:
    """Distinct (k-1)-word prefixes of (n, k) rows that `lower` does not list, as (m, k-1) rows."""
    prefixes = np.unique(row_bytes(rows[:, :-1]))
    absent = find_sorted(lower_packed_sorted, prefixes) < 0
    return bytes_rows(prefixes[absent], rows.shape[1] - 1)
