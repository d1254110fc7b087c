"""N-gram counting that never holds the whole corpus's positions in memory (KenLM's approach).

    stream --chunks at sentence ends--> count each chunk in memory (ngram_count)
           --> per order, a sorted run on disk: packed n-gram rows + raw counts (ngram_rows)
           --> k-way merge of the runs, block by block, summing the counts of equal rows
           --> NGramCounts, exactly as count_ngrams gives for the whole stream

In-memory counting needs ~60 bytes per token for its position arrays; here
that is bounded by the chunk size, which `memory` sets. What stays in memory
is what the model keeps anyway: one row per distinct n-gram. Lower-order
adjusted counts are recomputed after merging (they count distinct left
neighbours, which chunks cannot add up), so the result is identical.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from lmkit.errors import ConfigError
from lmkit.models.ngram_count import NGramCounts, OrderCounts, count_ngrams
from lmkit.models.ngram_rows import bytes_rows, keys_from_rows, row_bytes
from lmkit.models.ngram_tables import find_sorted, word_rows
from lmkit.vocab import BOS_ID, EOS_ID

BYTES_PER_TOKEN = 64      # peak working set of count_ngrams per token of a chunk, measured
MIN_CHUNK_TOKENS = 1000
MERGE_BLOCK_ROWS = 1 << 18  # rows read from each run per merge step


def chunk_bounds(stream: np.ndarray, chunk_tokens: int) -> Iterator[tuple[int, int]]:
    """(start, end) pieces of about chunk_tokens ids, each ending right after a `</s>` (or at the stream end)."""
    start, n = 0, len(stream)
    while start < n:
        end = min(start + chunk_tokens, n)
        if end < n:
            ends = np.flatnonzero(np.asarray(stream[start:end]) == EOS_ID)
            probe = end
            while not len(ends) and probe < n:  # a sentence longer than a chunk: extend to its end
                window = np.asarray(stream[probe : probe + chunk_tokens])
                ends = np.flatnonzero(window == EOS_ID) + (probe - start)
                probe += chunk_tokens
            end = start + int(ends[-1]) + 1 if len(ends) else n
        yield start, end
        start = end


def write_runs(stream: np.ndarray, vocab_size: int, order: int, chunk_tokens: int, folder: Path) -> tuple[np.ndarray, list]:
    """Count chunk by chunk: dense unigram counts, and per order k >= 2 the list of run files."""
    unigrams = np.zeros(vocab_size, dtype=np.int64)
    runs: list[list[tuple[Path, Path]]] = [[] for _ in range(order + 1)]
    for c, (start, end) in enumerate(chunk_bounds(stream, chunk_tokens)):
        counts = count_ngrams(np.asarray(stream[start:end]), vocab_size, order)
        unigrams += counts.orders[0].raw
        keys = [o.keys for o in counts.orders]
        for k in range(2, order + 1):
            rows_path, counts_path = folder / f"run{c}.order{k}.rows.npy", folder / f"run{c}.order{k}.counts.npy"
            np.save(rows_path, row_bytes(word_rows(keys, vocab_size, k)), allow_pickle=False)  # sorted: key order
            np.save(counts_path, counts.orders[k - 1].raw, allow_pickle=False)
            runs[k].append((rows_path, counts_path))
    return unigrams, runs


def merge_runs(runs: list[tuple[Path, Path]], width: int, block_rows: int = MERGE_BLOCK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Distinct packed rows of all runs in sorted order, with summed counts; reads each run block by block."""
    sources = [(np.load(r, mmap_mode="r"), np.load(c, mmap_mode="r")) for r, c in runs]
    cursor = [0] * len(sources)
    rows_out, counts_out = [], []
    while True:
        blocks = [(rows[i : i + block_rows], counts[i : i + block_rows], len(rows))
                  for (rows, counts), i in zip(sources, cursor)]
        live = [b for b in blocks if len(b[0])]
        if not live:
            break
        # every row up to the smallest last row among blocks that do not reach their run's end is final
        cut = min((b[0][-1] for (b, i) in zip(blocks, cursor) if len(b[0]) and i + len(b[0]) < b[2]), default=None)
        taken_rows, taken_counts = [], []
        for s, (rows, counts, _) in enumerate(blocks):
            take = len(rows) if cut is None else int(np.searchsorted(rows, cut, side="right"))
            taken_rows.append(np.asarray(rows[:take]))
            taken_counts.append(np.asarray(counts[:take]))
            cursor[s] += take
        merged_rows, merged_counts = sum_equal_rows(np.concatenate(taken_rows), np.concatenate(taken_counts))
        rows_out.append(merged_rows)
        counts_out.append(merged_counts)
    if not rows_out:
        return np.zeros(0, dtype=f"S{4 * width}"), np.zeros(0, dtype=np.int64)
    return np.concatenate(rows_out), np.concatenate(counts_out)


def sum_equal_rows(rows: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(rows, kind="stable")
    rows, counts = rows[order], counts[order]
    starts = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]])) if len(rows) else np.zeros(0, np.int64)
    return rows[starts], np.add.reduceat(counts, starts) if len(starts) else counts[:0]


def order_counts(packed: np.ndarray, raw: np.ndarray, lower: np.ndarray, vocab_size: int) -> OrderCounts:
    """One order's OrderCounts from its merged (packed sorted rows, raw counts), `lower` being order k-1's rows."""
    rows = bytes_rows(packed, packed.dtype.itemsize // 4)
    suffix = find_sorted(lower, row_bytes(rows[:, 1:]))
    return OrderCounts(keys_from_rows(rows, lower, vocab_size), raw.astype(np.int64), suffix, rows[:, 0] == BOS_ID)


def count_ngrams_external(stream: np.ndarray, vocab_size: int, order: int, memory: int | None = None,
                          workdir: str | Path | None = None, chunk_tokens: int | None = None) -> NGramCounts:
    """count_ngrams with a bounded working set: chunks of `chunk_tokens` (or `memory` bytes' worth) counted
    separately, their sorted runs written under `workdir` (a temporary folder) and merged."""
    if chunk_tokens is None:
        if memory is None or memory <= 0:
            raise ConfigError(f"--memory must be a positive size, got {memory!r}")
        chunk_tokens = max(MIN_CHUNK_TOKENS, int(memory) // BYTES_PER_TOKEN)
    if chunk_tokens < 1:
        raise ConfigError(f"chunk size must be at least 1 token, got {chunk_tokens}")
    with tempfile.TemporaryDirectory(prefix="lmkit-ngram-runs-", dir=workdir) as folder:
        unigrams, runs = write_runs(stream, vocab_size, order, chunk_tokens, Path(folder))
        keys = np.arange(vocab_size, dtype=np.int64)
        orders = [OrderCounts(keys, unigrams, np.zeros(0, np.int64), keys == BOS_ID)]
        lower = row_bytes(keys[:, None])
        for k in range(2, order + 1):  # merge and index one order at a time: only two orders' rows at once
            packed, raw = merge_runs(runs[k], k, max(1, chunk_tokens // 4))
            orders.append(order_counts(packed, raw, lower, vocab_size))
            lower = packed
    return NGramCounts(vocab_size, orders)
