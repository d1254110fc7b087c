"""Vocab: fixed specials, deterministic order, cutoffs, OOV, JSON, built from train only, coverage stats."""
from __future__ import annotations

from collections import Counter

import pytest

from lmkit.corpus.catalog import get_corpus
from lmkit.errors import VocabError
from lmkit.text.tokenizer_cache import coverage, get_tokenizer, split_coverage, tokenizer_path
from lmkit.text.tokenizers import CharTokenizer
from lmkit.text.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, Vocab

COUNTS = Counter({"b": 3, "a": 3, "c": 5, "d": 1, "e": 2})


def test_special_ids_are_fixed():
    vocab = Vocab.build(COUNTS)
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    assert [vocab.id(t) for t in SPECIALS] == [0, 1, 2, 3]
    assert vocab.itos[:4] == ["<pad>", "<unk>", "<s>", "</s>"]


def test_order_is_frequency_then_token():
    assert Vocab.build(COUNTS).itos[4:] == ["c", "a", "b", "e", "d"]
    assert Vocab.build(Counter(dict(reversed(list(COUNTS.items()))))).itos == Vocab.build(COUNTS).itos


def test_min_freq_and_max_size():
    assert Vocab.build(COUNTS, min_freq=3).itos[4:] == ["c", "a", "b"]
    assert Vocab.build(COUNTS, max_size=6).itos[4:] == ["c", "a"]  # the size counts the 4 specials
    assert Vocab.build(COUNTS, min_freq=2, max_size=100).itos[4:] == ["c", "a", "b", "e"]


@pytest.mark.parametrize("kwargs, message", [
    ({"min_freq": 0}, "min_freq cannot be less than 1. Got: 0"),
    ({"max_size": 4}, "max_size must leave room beyond the 4 specials. Got: 4"),
    ({"min_freq": 10}, "--min-freq 10: no token of the training text occurs that often"),
])
def test_bad_cutoffs(kwargs, message):
    with pytest.raises(VocabError, match=message):
        Vocab.build(COUNTS, **kwargs)


def test_specials_in_counts_are_not_duplicated():
    vocab = Vocab.build(Counter({"<unk>": 9, "</s>": 9, "x": 1}))
    assert vocab.itos == [*SPECIALS, "x"]


def test_oov_maps_to_unk():
    vocab = Vocab.build(COUNTS, min_freq=2)
    assert vocab.encode(["c", "d", "zz"]) == [vocab.id("c"), UNK_ID, UNK_ID]
    assert vocab.oov(["c", "d", "zz", "a"]) == (2, 4)
    assert "d" not in vocab and vocab.id("d") == UNK_ID


def test_json_round_trip_and_fingerprint():
    vocab = Vocab.build(COUNTS)
    again = Vocab.from_json(vocab.to_json())
    assert again == vocab and again.counts == vocab.counts and again.fingerprint() == vocab.fingerprint()
    assert Vocab.build(COUNTS, min_freq=2).fingerprint() != vocab.fingerprint()


@pytest.mark.parametrize("tokens, message", [
    (["a", "b"], "must start with the specials"),
    ([*SPECIALS, "x", "x"], "lists 'x' twice"),
    ([*SPECIALS, ""], "entry 4 is not a non-empty string"),
])
def test_invalid_token_lists(tokens, message):
    with pytest.raises(VocabError, match=message):
        Vocab(tokens)


def test_token_id_out_of_range():
    with pytest.raises(VocabError, match="token id 99 is outside the vocabulary of size 9"):
        Vocab.build(COUNTS).token(99)


@pytest.fixture
def split_corpus(corpora_root, tmp_path):
    """Train sees 'a' and 'b'; valid adds 'x', test adds 'y' and 'z' (never in the vocabulary)."""
    paths = {}
    for split, text in (("train", "ab\nba\naab\n"), ("valid", "ax\nb\n"), ("test", "yz\nab\n")):
        paths[split] = tmp_path / f"{split}.txt"
        paths[split].write_text(text, encoding="utf-8")
    return get_corpus(train=paths["train"], valid=paths["valid"], test=paths["test"])


def test_vocab_comes_from_train_only(split_corpus):
    tokenizer = get_tokenizer(split_corpus, "char")
    assert tokenizer.vocab.itos == [*SPECIALS, "a", "b"]  # a: 4, b: 3
    assert tokenizer.vocab.counts == {"a": 4, "b": 3}


def test_coverage_counts_unknowns_and_line_ends(split_corpus):
    tokenizer = get_tokenizer(split_corpus, "char")
    stats = coverage(split_corpus, tokenizer, tokenizer_path(split_corpus, "char", {}))
    assert stats["train"]["tokens"] == 10 and stats["train"]["unk"] == 0  # 7 chars + 3 </s>
    assert (stats["valid"]["tokens"], stats["valid"]["unk"]) == (5, 1)
    assert (stats["test"]["tokens"], stats["test"]["unk"], stats["test"]["oov_rate"]) == (6, 2, pytest.approx(1 / 3))
    assert stats["train"]["top"] == [["a", 4], ["</s>", 3], ["b", 3]]
    assert tokenizer_path(split_corpus, "char", {}).with_name("char.stats.json").exists()


def test_split_coverage_on_empty_split():
    tokenizer = CharTokenizer.fit(["ab"])
    assert split_coverage(tokenizer, []) == {"tokens": 0, "unk": 0, "oov_rate": 0.0}
