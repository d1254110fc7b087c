"""Token streams, their cache, and the TBPTT batches cut from them (lmkit.text.batches)."""
import hashlib

import numpy as np
import pytest
import torch

from lmkit.text import id_cache
from lmkit.corpus.catalog import Corpus
from lmkit.text.batches import batchify, count_windows, window, window_starts, with_bos
from lmkit.text.encode import encode_lines, tokenizer_fingerprint
from lmkit.text.id_cache import encoded_split
from lmkit.errors import ConfigError
from lmkit.text.tokenizers import CharTokenizer, WordTokenizer
from lmkit.text.vocab import BOS_ID, EOS_ID


def test_encode_lines_puts_eos_after_every_line_and_reverses_only_the_tokens():
    tokenizer = WordTokenizer.fit(["the cat sat"])
    the, cat, sat = (tokenizer.vocab.stoi[w] for w in ("the", "cat", "sat"))
    assert encode_lines(tokenizer, ["the cat", "", "sat"]).tolist() == [the, cat, EOS_ID, EOS_ID, sat, EOS_ID]
    assert encode_lines(tokenizer, ["the cat sat"], reverse=True).tolist() == [sat, cat, the, EOS_ID]
    assert encode_lines(tokenizer, []).dtype == np.int32


def test_with_bos_prefixes_one_start_token():
    assert with_bos(np.array([5, 3], dtype=np.int32)).tolist() == [BOS_ID, 5, 3]


def test_batchify_cuts_the_docstring_example_into_four_rows_and_drops_the_tail():
    rows = batchify(np.arange(26), 4)  # 26 tokens: the last 2 do not fill a row
    assert rows.dtype == torch.int64 and rows.shape == (4, 6)
    assert rows[1].tolist() == list(range(6, 12))


@pytest.mark.parametrize("size, batch", [(7, 4), (100, 0)])
def test_batchify_refuses_too_few_tokens_or_no_rows(size, batch):
    with pytest.raises(ConfigError, match="--batch-size"):
        batchify(np.arange(size), batch)


@pytest.mark.parametrize("columns, bptt", [(2, 5), (10, 3), (10, 9), (11, 5), (100, 35)])
def test_windows_cover_every_target_once(columns, bptt):
    batch = torch.arange(columns)[None, :].repeat(2, 1)  # (2, columns)
    starts = list(window_starts(columns, bptt))
    assert len(starts) == count_windows(columns, bptt)
    targets = []
    for start in starts:
        inputs, target = window(batch, start, bptt)
        assert inputs.shape == target.shape and inputs.shape[1] <= bptt
        assert torch.equal(target, inputs + 1)  # each input predicts the next token
        targets += target[0].tolist()
    assert targets == list(range(1, columns))


def test_encoded_split_is_cached_per_tokenizer_and_memory_mapped(tmp_path, monkeypatch):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "train.txt").write_text("abc\nba\n", encoding="utf-8")
    data = (folder / "train.txt").read_bytes()
    stats = {"lines": 2, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    corpus = Corpus("c", folder, {"format": 1, "splits": {"train": stats}})
    tokenizer = CharTokenizer.fit(["abc"])
    first = encoded_split(corpus, tokenizer, "train")
    assert isinstance(first, np.memmap)
    assert (folder / "ids" / tokenizer_fingerprint(tokenizer) / "train.npy").exists()
    monkeypatch.setattr(id_cache, "encode_lines", lambda *a, **k: pytest.fail("encoded twice"))
    np.testing.assert_array_equal(encoded_split(corpus, tokenizer, "train"), first)
    assert tokenizer_fingerprint(CharTokenizer.fit(["abcd"])) != tokenizer_fingerprint(tokenizer)
