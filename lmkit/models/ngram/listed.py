"""Backoff tables from listed n-grams (an ARPA file's sections), with the checks a foreign file needs.

ARPA files may list an n-gram without its prefix (pruned SRILM models do).
The tables need every prefix, so a missing one is added with backoff 1 and
the probability the file implies for it (bo(context) * p(w | shorter
context)): every score stays exactly what the file says, as KenLM does.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lmkit.errors import ArpaError
from lmkit.models.ngram.rows import duplicates, keys_from_rows, missing_prefixes, row_bytes, sort_rows
from lmkit.models.ngram.tables import NEVER, BackoffTables
from lmkit.text.vocab import Vocab


class Entries:
    """One section as arrays: (n, k) word ids, log10 p, log10 backoff, source line (0: added prefix)."""

    def __init__(self, rows: np.ndarray, logp: np.ndarray, logbo: np.ndarray, lines: np.ndarray):
        self.rows, self.logp, self.logbo, self.lines = rows, logp, logbo, lines

    def extend(self, rows: np.ndarray) -> None:
        m = len(rows)
        self.rows = np.concatenate([self.rows, rows.astype(np.int32)])
        self.logp = np.concatenate([self.logp, np.full(m, np.nan)])
        self.logbo = np.concatenate([self.logbo, np.zeros(m)])
        self.lines = np.concatenate([self.lines, np.zeros(m, dtype=np.int64)])


def section_entries(path: Path, section: tuple, n: int, stoi: dict) -> Entries:
    words, probs, backoffs, lines = section
    flat = [stoi.get(w, -1) for gram in words for w in gram]
    ids = np.array(flat, dtype=np.int64).reshape(len(words), n)
    unknown = np.flatnonzero((ids < 0).any(axis=1))
    if len(unknown):
        i = int(unknown[0])
        word = next(w for w in words[i] if w not in stoi)
        raise ArpaError(f"{path}:{lines[i]}: word {word!r} of this {n}-gram is not among the 1-grams")
    return Entries(ids.astype(np.int32), np.array(probs, dtype=np.float64), np.array(backoffs, dtype=np.float64),
                   np.array(lines, dtype=np.int64))


def unigram_tables(section: tuple, vocab: Vocab) -> tuple[np.ndarray, np.ndarray]:
    words, probs, backoffs, _ = section
    ids = np.array([vocab.stoi[w[0]] for w in words], dtype=np.int64)
    logp = np.full(len(vocab), -np.inf, dtype=np.float32)
    logbo = np.zeros(len(vocab), dtype=np.float32)
    logp[ids] = probs
    logbo[ids] = backoffs
    logp[list(NEVER)] = -np.inf
    return logp, logbo


def add_missing_prefixes(entries: list) -> None:
    """Top down, so a prefix added to order k-1 gets its own prefix checked at order k-2."""
    for k in range(len(entries) - 1, 2, -1):
        lower = np.sort(row_bytes(entries[k - 1].rows))
        missing = missing_prefixes(entries[k].rows, lower)
        if len(missing):
            entries[k - 1].extend(missing)


def tables_from_entries(path: Path, sections: list, vocab: Vocab) -> BackoffTables:
    V = len(vocab)
    logp1, logbo1 = unigram_tables(sections[0], vocab)
    tables = BackoffTables(V, [np.arange(V, dtype=np.int64)], [logp1], [logbo1])
    entries = [None, None] + [section_entries(path, s, n, vocab.stoi) for n, s in enumerate(sections[1:], 2)]
    add_missing_prefixes(entries)
    lower = row_bytes(np.arange(V)[:, None])
    for k in range(2, len(sections) + 1):
        this = entries[k]
        order, packed = sort_rows(this.rows)
        repeated = duplicates(packed)
        if len(repeated):
            i = int(repeated[0])
            first, second = sorted((int(this.lines[order[i - 1]]), int(this.lines[order[i]])))
            raise ArpaError(f"{path}:{second}: duplicate {k}-gram (first listed at line {first})")
        keys = keys_from_rows(this.rows[order], lower, V)
        logp = this.logp[order]
        tables.keys.append(keys)
        tables.logbo.append(this.logbo[order].astype(np.float32))
        tables.logp.append(fill_added(tables, k, this.rows[order], keys, logp).astype(np.float32))
        lower = packed
    tables.logbo[-1] = np.zeros(0, dtype=np.float32)  # the top order backs off nowhere
    return tables


def fill_added(tables: BackoffTables, k: int, rows: np.ndarray, keys: np.ndarray, logp: np.ndarray) -> np.ndarray:
    """Probabilities of the prefixes added to order k: what the lower orders give them."""
    added = np.flatnonzero(np.isnan(logp))
    if not len(added):
        return logp
    lower = tables.truncated(k - 1)
    context_backoff = lower.logbo[k - 2][keys[added] // tables.vocab_size]
    words = rows[added, 1:].astype(np.int64)
    state = np.full((len(added), k - 2), -1, dtype=np.int64)
    shorter, _, _ = lower.score_stream(words, state)
    logp = logp.copy()
    logp[added] = context_backoff + shorter[:, -1]
    return logp
