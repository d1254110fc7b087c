"""Exactness against KenLM: lmplz's ARPA files, query's per-sentence scores and the kenlm module.

The references are in tests/data/kenlm/ (tests/data/README.md says where they
come from): WikiText-2 text, one sentence per line, whitespace tokens, models
from `lmplz -o N`. The 5-gram's ARPA file (7.7 MB) is not kept; its test
scores are, so our 5-gram is still checked against `query`.
"""
import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from lmkit.evaluate.perplexity import summarize
from lmkit.text.encode import encode_lines
from lmkit.models.ngram.arpa import read_arpa
from lmkit.models.ngram.arpa_write import write_arpa
from lmkit.models.ngram.model import build_ngram
from lmkit.text.tokenizers import WordTokenizer
from lmkit.text.vocab import EOS_ID

REFERENCE = Path(__file__).resolve().parent / "data" / "kenlm"
PERPLEXITY = {2: 394.7269, 3: 373.2349, 5: 368.4563}  # tests/data/README.md
ORDERS = [2, 3, 5]  # query's scores are kept for every order
ARPA_ORDERS = [2, 3]  # lmplz's ARPA files are kept for these


def read_lines(name: str) -> list[str]:
    with gzip.open(REFERENCE / name, "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()


@pytest.fixture(scope="module")
def corpus():
    train, test = read_lines("train.txt.gz"), read_lines("test.txt.gz")
    tokenizer = WordTokenizer.fit(train, split_punct=False)  # KenLM counts whitespace words
    return tokenizer, encode_lines(tokenizer, train), encode_lines(tokenizer, test), test


@pytest.fixture(scope="module")
def models(corpus):
    tokenizer, train, _, _ = corpus
    return {order: build_ngram(train, tokenizer.vocab, order, smoothing="kn") for order in (2, 3, 5)}


def per_line(stream: np.ndarray, values: np.ndarray) -> np.ndarray:
    ends = np.flatnonzero(stream == EOS_ID) + 1
    return np.add.reduceat(values, np.concatenate([[0], ends[:-1]]))


@pytest.mark.parametrize("order", ARPA_ORDERS)
def test_probabilities_and_backoffs_equal_lmplz(corpus, models, order):
    tokenizer = corpus[0]
    kenlm_model = read_arpa(REFERENCE / f"order{order}.arpa.gz", tokenizer.vocab)
    ours, theirs = models[order].tables, kenlm_model.tables
    assert ours.sizes() == theirs.sizes()
    for n in range(1, order + 1):
        np.testing.assert_array_equal(ours.keys[n - 1], theirs.keys[n - 1])  # the same n-grams
        listed = np.isfinite(theirs.logp[n - 1])  # all but <s> and <pad>
        np.testing.assert_array_equal(listed, np.isfinite(ours.logp[n - 1]))
        np.testing.assert_allclose(ours.logp[n - 1][listed], theirs.logp[n - 1][listed], rtol=0, atol=1e-4)
        np.testing.assert_allclose(ours.logbo[n - 1], theirs.logbo[n - 1], rtol=0, atol=1e-4)


@pytest.mark.parametrize("order", ORDERS)
def test_test_perplexity_equals_kenlm_query(corpus, models, order):
    _, _, test, _ = corpus
    log10p, _ = models[order].full_scores(test)
    assert 10 ** (-log10p.sum() / len(log10p)) == pytest.approx(PERPLEXITY[order], rel=1e-4)
    table = np.loadtxt(REFERENCE / f"order{order}.test-scores.tsv", skiprows=1)  # line, log10 p, tokens, oov
    np.testing.assert_allclose(per_line(test, log10p), table[:, 1], rtol=0, atol=1e-3)
    np.testing.assert_array_equal(np.bincount(np.cumsum(test == EOS_ID) - (test == EOS_ID)), table[:, 2])


@pytest.mark.parametrize("order", [3])
def test_kenlm_module_reads_our_arpa_and_agrees(corpus, models, order, tmp_path):
    kenlm = pytest.importorskip("kenlm", reason="the kenlm Python module is not installed (pip install kenlm)")
    tokenizer, _, test, lines = corpus
    path = write_arpa(models[order], tmp_path / f"ours{order}.arpa")
    theirs = kenlm.Model(str(path))
    log10p, _ = models[order].full_scores(test)
    ours = per_line(test, log10p)
    scores = np.array([theirs.score(line, bos=True, eos=True) for line in lines])
    np.testing.assert_allclose(ours, scores, rtol=0, atol=1e-3)
    assert 10 ** (-scores.sum() / len(test)) == pytest.approx(PERPLEXITY[order], rel=1e-4)


def test_our_arpa_reads_back_identically(corpus, models, tmp_path):
    tokenizer, _, test, _ = corpus
    path = write_arpa(models[3], tmp_path / "ours3.arpa.gz")
    again = read_arpa(path)
    assert again.vocab == tokenizer.vocab
    np.testing.assert_array_equal(again.score_stream(test), models[3].score_stream(test))
    assert math.isfinite(summarize(test, again.score_stream(test)).total.perplexity)
