"""Counting on disk in sorted runs gives exactly the in-memory counts and model."""
from pathlib import Path

import numpy as np
import pytest

from lmkit.text.encode import encode_lines
from lmkit.errors import ConfigError
from lmkit.models.ngram.model import NGramLM
from lmkit.models.ngram.count import count_ngrams
from lmkit.models.ngram.external_count import chunk_bounds, count_ngrams_external, merge_order
from lmkit.text.tokenizers import CharTokenizer, WordTokenizer
from lmkit.text.vocab import EOS_ID

pytestmark = pytest.mark.filterwarnings("ignore:Kneser-Ney discounts")  # a small fixture: default discounts

FIXTURE = Path(__file__).resolve().parent.parent / "corpora" / "fixtures" / "english.txt"


@pytest.fixture(scope="module")
def text():
    lines = [line for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]
    tokenizer = WordTokenizer.fit(lines[:300], min_freq=2)
    return tokenizer, encode_lines(tokenizer, lines[:300]), encode_lines(tokenizer, lines[300:])


def assert_same_counts(a, b):
    assert a.sizes() == b.sizes()
    for x, y in zip(a.orders, b.orders):
        for field in ("keys", "raw", "suffix", "bos_initial"):
            np.testing.assert_array_equal(getattr(x, field), getattr(y, field), err_msg=field)


@pytest.mark.parametrize("chunk_tokens", [1, 37, 500, 10**9])
def test_chunks_end_at_sentence_ends_and_cover_the_stream(text, chunk_tokens):
    _, stream, _ = text
    bounds = list(chunk_bounds(stream, chunk_tokens))
    assert bounds[0][0] == 0 and bounds[-1][1] == len(stream)
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert all(stream[end - 1] == EOS_ID for _, end in bounds)


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_on_disk_counts_equal_in_memory_counts(text, tmp_path, order):
    tokenizer, stream, _ = text
    in_memory = count_ngrams(stream, len(tokenizer.vocab), order)
    on_disk = count_ngrams_external(stream, len(tokenizer.vocab), order, workdir=tmp_path, chunk_tokens=300,
                                     block_rows=7)
    assert_same_counts(in_memory, on_disk)
    assert list(tmp_path.iterdir()) == []  # the runs are removed


def test_a_killed_counts_runs_are_removed_by_the_next_count_and_a_live_ones_stay(text, tmp_path):
    """Pass 84: `ngram --memory` killed with -9 left its folder of sorted runs in the temporary folder for good (19
    and 66 MB on Shakespeare's words; gigabytes on the corpora --memory is for)."""
    import fcntl
    import os
    import time

    from lmkit.models.ngram.external_count import RUNS_FOLDER
    from lmkit.files.temporary_names import make_temporary

    tokenizer, stream, _ = text
    dead = make_temporary(tmp_path, RUNS_FOLDER, lambda path: (path.mkdir(), path)[1])
    live = make_temporary(tmp_path, RUNS_FOLDER, lambda path: (path.mkdir(), path)[1])
    for folder in (dead, live):
        (folder / "run0.order2.rows.npy").write_bytes(b"half a run")
        os.utime(folder, (time.time() - 60, time.time() - 60))
    user = tmp_path / "lmkit-ngram-runs-mine"  # named like the runs folders of old, by a user: not lmkit's to remove
    user.mkdir()
    holder = os.open(live, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a process still counting holds it
    try:
        count_ngrams_external(stream, len(tokenizer.vocab), 3, workdir=tmp_path, chunk_tokens=300)
    finally:
        os.close(holder)
    assert sorted(tmp_path.iterdir()) == sorted([live, user])


def test_merge_reads_runs_in_small_blocks(tmp_path):
    rng = np.random.default_rng(0)
    runs, expected = [], {}
    for r in range(4):
        rows = np.unique(rng.integers(0, 6, (40, 2)), axis=0).astype(np.int32)  # sorted, distinct within a run
        counts = rng.integers(1, 9, len(rows))
        for (a, b), c in zip(rows.tolist(), counts):
            expected[a * 6 + b] = expected.get(a * 6 + b, 0) + int(c)
        paths = tmp_path / f"r{r}.rows.npy", tmp_path / f"r{r}.counts.npy"
        np.save(paths[0], rows)
        np.save(paths[1], counts)
        runs.append(paths)
    keys, counts = merge_order(runs, [np.arange(6)], 6, block_rows=3)
    assert keys.tolist() == sorted(expected)
    assert counts.tolist() == [expected[k] for k in sorted(expected)]


@pytest.mark.parametrize("smoothing", ["mle", "add-k", "kn"])
def test_a_model_counted_on_disk_scores_identically(text, tmp_path, smoothing):
    tokenizer, stream, test = text
    chars = CharTokenizer.fit(tokenizer.decode(stream).splitlines())
    char_stream = encode_lines(chars, tokenizer.decode(stream).splitlines())
    for vocab, train, held_out in ((tokenizer.vocab, stream, test), (chars.vocab, char_stream, char_stream[:500])):
        memory = NGramLM(vocab, 4, smoothing=smoothing).fit(train)
        disk = NGramLM(vocab, 4, smoothing=smoothing).fit(train, memory=64 * 2000, workdir=tmp_path)
        np.testing.assert_array_equal(memory.score_stream(held_out), disk.score_stream(held_out))


def test_a_memory_budget_must_be_positive(text):
    tokenizer, stream, _ = text
    with pytest.raises(ConfigError, match="--memory"):
        count_ngrams_external(stream, len(tokenizer.vocab), 3, memory=0)


def test_a_budget_making_more_runs_than_one_merge_may_hold_open_is_refused_before_any_is_written(text, tmp_path,
                                                                                                  monkeypatch):
    """Adversarial pass 73: --memory 64KiB on Shakespeare's 4.6M characters made 4,496 runs, two open files each, and
    the merge failed with a bare "Too many open files" under the usual `ulimit -n 1024`."""
    import resource

    tokenizer, stream, _ = text
    monkeypatch.setattr(resource, "getrlimit", lambda kind: (64 + 2 * 3, resource.RLIM_INFINITY))  # room for 3 runs
    with pytest.raises(ConfigError) as error:
        count_ngrams_external(stream, len(tokenizer.vocab), 3, memory=64 * 1000, workdir=tmp_path)
    runs = -(-len(stream) // 1000)
    assert str(error.value).startswith(f"--memory 62.5 KiB: counting {len(stream):,} tokens in chunks of 1,000 makes "
                                       f"{runs:,} sorted runs, more than one merge may hold open (3 with this "
                                       "process's limit of 70 open files, `ulimit -n`); give --memory ")
    assert list(tmp_path.iterdir()) == []  # refused before a run was written
    wide = -(-len(stream) // 3) * 64  # the budget it names: three runs
    count_ngrams_external(stream, len(tokenizer.vocab), 3, memory=wide, workdir=tmp_path)
