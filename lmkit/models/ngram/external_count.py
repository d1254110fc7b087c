"""N-gram counting that never holds the whole corpus's positions in memory (KenLM's approach).

    stream --chunks at sentence ends--> count each chunk in memory (ngram_count)
           --> per order, a sorted run on disk: n-gram rows (word ids) + raw counts
           --> orders merged from 1 up: a block of rows becomes int64 keys in the merged tables
               below it, and a k-way merge of the runs sums the counts of equal keys
           --> NGramCounts, exactly as count_ngrams gives for the whole stream

In-memory counting needs ~60 bytes per token for its position arrays; here
that is bounded by the chunk size, which `memory` sets. What stays in memory
is what the model keeps anyway: one row per distinct n-gram. Lower-order
adjusted counts are recomputed after merging (they count distinct left
neighbours, which chunks cannot add up), so the result is identical.
"""
from __future__ import annotations

import resource
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from lmkit.errors import ConfigError, LmkitError, human_bytes
from lmkit.files.temporary_names import held_folder
from lmkit.models.ngram.count import NGramCounts, OrderCounts, check_key_range, count_ngrams, group_keys
from lmkit.models.ngram.tables import find_sorted, word_rows
from lmkit.text.vocab import BOS_ID, EOS_ID

BYTES_PER_TOKEN = 64      # peak working set of count_ngrams per token of a chunk, measured
MIN_CHUNK_TOKENS = 1000
MERGE_BLOCK_ROWS = 1 << 18  # rows read from each run per merge step
FILE_MARGIN = 64  # open files left to the rest of the process while runs merge


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
    """Count chunk by chunk: dense unigram counts, and per order k >= 2 the run files (rows, counts) of every chunk.

    A chunk's k-grams, as (n, k) word ids in its key order, are sorted lexicographically.
    """
    unigrams = np.zeros(vocab_size, dtype=np.int64)
    runs: list[list[tuple[Path, Path]]] = [[] for _ in range(order + 1)]
    for c, (start, end) in enumerate(chunk_bounds(stream, chunk_tokens)):
        counts = count_ngrams(np.asarray(stream[start:end]), vocab_size, order)
        unigrams += counts.orders[0].raw
        keys = [o.keys for o in counts.orders]
        for k in range(2, order + 1):
            paths = folder / f"run{c}.order{k}.rows.npy", folder / f"run{c}.order{k}.counts.npy"
            np.save(paths[0], word_rows(keys, vocab_size, k), allow_pickle=False)
            np.save(paths[1], counts.orders[k - 1].raw, allow_pickle=False)
            runs[k].append(paths)
    return unigrams, runs


def global_keys(rows: np.ndarray, lower: list[np.ndarray], vocab_size: int) -> np.ndarray:
    """Keys of lexicographically sorted (n, k) rows in the merged tables of orders 1..k-1 (`lower`).

    Sorted rows have nondecreasing prefix indices, so each lookup's queries arrive sorted.
    """
    index = rows[:, 0].astype(np.int64)
    for j in range(1, rows.shape[1]):
        key = index * vocab_size + rows[:, j]
        index = key if j == rows.shape[1] - 1 else np.searchsorted(lower[j], key)
    return index


def merge_order(runs: list[tuple[Path, Path]], lower: list[np.ndarray], vocab_size: int,
                block_rows: int = MERGE_BLOCK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys of all runs of one order with summed counts; each run is read block by block."""
    sources = [(np.load(r, mmap_mode="r"), np.load(c, mmap_mode="r")) for r, c in runs]
    cursor = [0] * len(sources)
    keys_out, counts_out = [], []
    while any(i < len(rows) for (rows, _), i in zip(sources, cursor)):
        blocks = [(global_keys(np.asarray(rows[i : i + block_rows]), lower, vocab_size), counts[i : i + block_rows],
                   i + block_rows >= len(rows)) for (rows, counts), i in zip(sources, cursor)]
        # every key up to the smallest last key of a block that does not reach its run's end is final
        cut = min((keys[-1] for keys, _, ends in blocks if len(keys) and not ends), default=None)
        taken_keys, taken_counts = [], []
        for s, (keys, counts, _) in enumerate(blocks):
            take = len(keys) if cut is None else int(np.searchsorted(keys, cut, side="right"))
            taken_keys.append(keys[:take])
            taken_counts.append(np.asarray(counts[:take]))
            cursor[s] += take
        keys = np.concatenate(taken_keys)
        distinct, inverse, _, _ = group_keys(keys)
        keys_out.append(distinct)
        counts_out.append(np.bincount(inverse, weights=np.concatenate(taken_counts), minlength=len(distinct)))
    if not keys_out:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(keys_out), np.concatenate(counts_out).astype(np.int64)


def runs_held_at_once() -> tuple[int, int | None]:
    """(sorted runs one merge may hold open, the process's open-file limit or None): each run holds two files
    (rows, counts) open as memory maps, and FILE_MARGIN are left to the rest of the process."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 30, None
    return max(1, (soft - FILE_MARGIN) // 2), soft


def check_runs_fit(tokens: int, chunk_tokens: int, memory: int | None) -> None:
    """ConfigError, before any run is written, where `tokens` counted in chunks of `chunk_tokens` make more
    sorted runs than one merge may hold open (the merge failed with a bare "Too many open files"), naming the
    --memory that would do."""
    runs = -(-tokens // chunk_tokens)
    held, limit = runs_held_at_once()
    if runs <= held:
        return
    needed = -(-tokens // held) * BYTES_PER_TOKEN
    asked = f"--memory {human_bytes(memory)}" if memory else f"chunks of {chunk_tokens:,} tokens"
    raise ConfigError(f"{asked}: counting {tokens:,} tokens in chunks of {chunk_tokens:,} makes {runs:,} sorted runs, "
                      f"more than one merge may hold open ({held:,} with this process's limit of {limit:,} open "
                      f"files, `ulimit -n`); give --memory {human_bytes(needed)} or more")


def count_ngrams_external(stream: np.ndarray, vocab_size: int, order: int, memory: int | None = None,
                          workdir: str | Path | None = None, chunk_tokens: int | None = None,
                          block_rows: int | None = None) -> NGramCounts:
    """count_ngrams with a bounded working set: chunks of `chunk_tokens` (or `memory` bytes' worth) counted
    separately, their sorted runs written under `workdir` (a temporary folder) and merged order by order."""
    if chunk_tokens is None:
        if memory is None or memory <= 0:
            raise ConfigError(f"--memory must be a positive size, got {memory!r}")
        chunk_tokens = max(MIN_CHUNK_TOKENS, int(memory) // BYTES_PER_TOKEN)
    if chunk_tokens < 1:
        raise ConfigError(f"chunk size must be at least 1 token, got {chunk_tokens}")
    check_runs_fit(len(stream), chunk_tokens, memory)
    block_rows = block_rows or max(1, chunk_tokens // 4)
    # held while it counts, so a later run removes the folder of one killed meanwhile (lmkit.files.temporary_names)
    with held_folder(Path(workdir or tempfile.gettempdir()), RUNS_FOLDER) as folder:
        try:
            unigrams, runs = write_runs(stream, vocab_size, order, chunk_tokens, folder)
        except OSError as exc:  # numpy's own words for a full disk: "36102 requested and 28640 written"
            reason = exc.strerror or f"the disk may be full ({exc})"
            raise LmkitError(f"{folder.parent}: could not write the sorted runs of --memory's counting there: {reason}; "
                             "point TMPDIR at a folder with room") from exc
        keys = np.arange(vocab_size, dtype=np.int64)
        orders = [OrderCounts(keys, unigrams, np.zeros(0, np.int64), keys == BOS_ID)]
        for k in range(2, order + 1):
            check_key_range(len(orders[-1]), vocab_size, k)
            merged, raw = merge_order(runs[k], [o.keys for o in orders], vocab_size, block_rows)
            orders.append(linked(merged, raw, orders, vocab_size))
    return NGramCounts(vocab_size, orders)


RUNS_FOLDER = "ngram-runs"


def linked(keys: np.ndarray, raw: np.ndarray, lower: list[OrderCounts], vocab_size: int) -> OrderCounts:
    """An order's OrderCounts: its suffixes found through its prefixes' suffixes, <s> inherited from the prefix."""
    prefix, last = np.divmod(keys, vocab_size)
    below = lower[-1]
    if len(lower) == 1:
        suffix = last
    else:
        suffix = find_sorted(below.keys, below.suffix[prefix] * vocab_size + last)
    return OrderCounts(keys, raw, suffix, below.bos_initial[prefix])
