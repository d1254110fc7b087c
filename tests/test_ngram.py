"""NGramLM on small hand-checked fixtures: counts, formulas, the LanguageModel contract, persistence, bad options."""
import math
import re
import warnings

import numpy as np
import pytest
import torch

from lmkit.text.encode import encode_lines
from lmkit.errors import CheckpointError, ConfigError, LmkitError
from lmkit.evaluate.perplexity import summarize
from lmkit.models import model_class
from lmkit.models.ngram.model import NGramLM, build_ngram
from lmkit.models.ngram.count import count_ngrams
from lmkit.text.tokenizers import WordTokenizer
from lmkit.text.vocab import BOS_ID, EOS_ID, UNK_ID

LINES = ["a b", "a b", "b a"]
SMOOTHINGS = ["mle", "add-k", "kn"]
ENGLISH = [
    "the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the cat saw the dog",
    "on the mat the cat sat", "a dog on a log", "the log and the mat", "cat dog cat dog",
    "the end of the story", "a story of a cat", "the dog and the end", "sat on the cat",
]


@pytest.fixture(scope="module")
def tiny():
    tokenizer = WordTokenizer.fit(LINES)
    return tokenizer, encode_lines(tokenizer, LINES)


@pytest.fixture(scope="module")
def english():
    tokenizer = WordTokenizer.fit(ENGLISH[:10], min_freq=2)  # leaves some words out: <unk> is seen in training
    return tokenizer, encode_lines(tokenizer, ENGLISH[:10])


def sentence_logp(model, tokenizer, line: str) -> float:
    ids = torch.tensor([[BOS_ID, *tokenizer.encode_line(line), EOS_ID]])
    return float(model.score(ids).sum())


def perplexity(model, stream) -> float:
    """The model's perplexity of an id stream, as lmkit eval computes it."""
    return summarize(stream, model.score_stream(stream), vocab=model.vocab).total.perplexity


def quiet_build(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_ngram(*args, **kwargs)


def test_counts_follow_kenlm_conventions(tiny):
    tokenizer, stream = tiny
    a, b = tokenizer.vocab.id("a"), tokenizer.vocab.id("b")
    counts = count_ngrams(stream, len(tokenizer.vocab), 2)
    unigrams = counts.orders[0]
    assert unigrams.raw[[a, b, EOS_ID, BOS_ID, UNK_ID]].tolist() == [3, 3, 3, 0, 0]
    adjusted = counts.adjusted(1)  # distinct left neighbours, <s> included
    assert adjusted[[a, b, EOS_ID, BOS_ID, UNK_ID]].tolist() == [2, 2, 2, 0, 0]
    bigrams = {tuple(row): int(c) for row, c in zip(counts_rows(counts, 2), counts.orders[1].raw)}
    assert bigrams == {(BOS_ID, a): 2, (BOS_ID, b): 1, (a, b): 2, (b, EOS_ID): 2, (b, a): 1, (a, EOS_ID): 1}


def counts_rows(counts, k):
    from lmkit.models.ngram.tables import word_rows

    return word_rows([o.keys for o in counts.orders], counts.vocab_size, k).tolist()


def test_mle_and_laplace_give_the_textbook_numbers(tiny):
    tokenizer, stream = tiny
    mle = build_ngram(stream, tokenizer.vocab, 2, smoothing="mle")
    assert sentence_logp(mle, tokenizer, "a b") == pytest.approx(3 * math.log(2 / 3))
    laplace = build_ngram(stream, tokenizer.vocab, 2, smoothing="add-k", k=1)  # V = 4 predictable words
    assert sentence_logp(laplace, tokenizer, "a b") == pytest.approx(math.log(3 / 7) + math.log(3 / 7) + math.log(3 / 7))
    lidstone = build_ngram(stream, tokenizer.vocab, 2, smoothing="add-k", k=0.5)
    assert sentence_logp(lidstone, tokenizer, "b") == pytest.approx(math.log(1.5 / 5) + math.log(2.5 / 5))


def test_mle_refuses_perplexity_of_an_unseen_continuation(tiny):
    tokenizer, stream = tiny
    mle = build_ngram(stream, tokenizer.vocab, 2, smoothing="mle")
    unseen = encode_lines(tokenizer, ["b b"])
    with pytest.raises(LmkitError, match=r"^line 1, token 2 \('b'\): has probability zero under this model, so its "
                                         r"perplexity is infinite \(1 such token\); an unsmoothed \(mle\) N-gram"):
        perplexity(mle, unseen)
    assert perplexity(mle, encode_lines(tokenizer, ["a b"])) == pytest.approx(1.5)


def test_kn_falls_back_to_default_discounts_with_a_warning(tiny):
    tokenizer, stream = tiny
    said = r"1-grams cannot be estimated.*: used KenLM's fallback D1 = 0.5, D2 = 1, D3\+ = 1.5 instead \(normal for char"
    with pytest.warns(UserWarning, match=said):  # what was used instead, and that 1-grams of a small alphabet are fine
        model = build_ngram(stream, tokenizer.vocab, 2, smoothing="kn")
    assert model.details["discounts"][0] == [0.5, 1.0, 1.5]
    assert math.isfinite(perplexity(model, encode_lines(tokenizer, ["b b zzz"])))


def test_huge_k_is_the_uniform_model(english):
    tokenizer, stream = english
    model = build_ngram(stream, tokenizer.vocab, 3, smoothing="add-k", k=1e6)  # the largest k NGramConfig allows
    test = encode_lines(tokenizer, ENGLISH[10:])
    assert perplexity(model, test) == pytest.approx(len(tokenizer.vocab) - 2, rel=1e-6)  # all but <pad>, <s>


@pytest.mark.parametrize("options, words", [
    ({"order": 0}, "--order must be at least 1, got 0"),
    ({"order": 11}, "--order must be at most 10, got 11"),
    ({"order": 2.0}, "--order must be an integer, got 2.0"),
    ({"smoothing": "witten-bell"}, "--smoothing must be one of mle, add-k, kn, got 'witten-bell'"),
    ({"k": 2e6}, "--k must be at most 1000000, got 2000000.0"),
    ({"k": 0}, "--k must be > 0, got 0.0"),
    ({"k": np.float32(-1)}, "--k must be > 0, got -1.0"),  # numpy's numbers as Python's
    ({"direction": "both"}, "--direction must be one of forward, backward, got 'both'"),
])
def test_the_python_api_holds_the_options_bounds(english, options, words):
    """NGramLM checks its settings by NGramConfig's declarations, the ones `lmkit ngram` checks its options by."""
    tokenizer, _ = english
    with pytest.raises(ConfigError, match=re.escape(words)):
        NGramLM(tokenizer.vocab, **options)


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_next_token_distribution_sums_to_one(english, smoothing, order):
    tokenizer, stream = english
    model = quiet_build(stream, tokenizer.vocab, order, smoothing=smoothing, k=0.3)
    rng = np.random.default_rng(order)
    seen = [stream[i : i + 6] for i in rng.integers(0, len(stream) - 6, 8)]
    unseen = [rng.integers(1, len(tokenizer.vocab), 6) for _ in range(8)]
    histories = torch.tensor(np.stack(seen + unseen), dtype=torch.long)  # (16, 6)
    state = model.init_state(16)
    for t in range(histories.shape[1]):
        logp, state = model.step(histories[:, t], state)
        assert torch.allclose(torch.logsumexp(logp.double(), 1), torch.zeros(16, dtype=torch.double), atol=1e-5)
        assert torch.isneginf(logp[:, BOS_ID]).all()
        if smoothing != "mle":  # every word that can be predicted gets some probability
            assert torch.isfinite(logp[:, [UNK_ID, EOS_ID, *range(4, len(tokenizer.vocab))]]).all()


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_step_agrees_with_score_and_state_carries_across_windows(english, smoothing):
    tokenizer, stream = english
    model = quiet_build(stream, tokenizer.vocab, 3, smoothing=smoothing)
    ids = torch.tensor(np.concatenate([[BOS_ID], stream[:40]]), dtype=torch.long).reshape(1, -1).repeat(2, 1)
    ids[1, 7:] = torch.flip(ids[1, 7:], [0])
    whole = model.score(ids)  # (2, 40)
    state, stepped = model.init_state(2), []
    for t in range(ids.shape[1] - 1):
        logp, state = model.step(ids[:, t], state)
        stepped.append(logp.gather(1, ids[:, t + 1 : t + 2]))
    assert torch.allclose(whole, torch.cat(stepped, 1), atol=1e-5, equal_nan=True)
    state, windows = model.init_state(2), []
    for start in range(0, 40, 9):
        stop = min(start + 9, 40)
        logp, state = model.score_targets(ids[:, start:stop], ids[:, start + 1 : stop + 1], state)
        windows.append(logp)
    assert torch.allclose(whole, torch.cat(windows, 1), atol=1e-6)


def test_score_targets_with_padding_matches_the_unpadded_scores(english):
    tokenizer, stream = english
    model = build_ngram(stream, tokenizer.vocab, 3, smoothing="add-k")
    ids = torch.tensor(np.concatenate([[BOS_ID], stream[:20]]), dtype=torch.long)[None]
    inputs, targets = ids[:, :-1].clone(), ids[:, 1:].clone()
    inputs[:, 15:] = 0  # padding after the real tokens, as evaluation batches have
    logp, _ = model.score_targets(inputs, targets, model.init_state(1))
    assert torch.allclose(logp[:, :15], model.score(ids)[:, :15])


def test_stream_scores_treat_each_line_as_a_sentence(english):
    tokenizer, stream = english
    model = build_ngram(stream, tokenizer.vocab, 3, smoothing="add-k")
    lines = ENGLISH[10:]
    per_line = sum(sentence_logp(model, tokenizer, line) for line in lines)
    assert model.score_stream(encode_lines(tokenizer, lines)).sum() == pytest.approx(per_line)


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_save_and_load_give_identical_scores(english, tmp_path, smoothing):
    tokenizer, stream = english
    model = quiet_build(stream, tokenizer.vocab, 3, smoothing=smoothing, direction="backward")
    model.save(tmp_path)
    config = model.config()
    assert config["kind"] == "ngram" and config["direction"] == "backward"
    loaded = model_class("ngram").load(tmp_path, config, tokenizer.vocab)
    test = encode_lines(tokenizer, ENGLISH)
    np.testing.assert_array_equal(model.score_stream(test), loaded.score_stream(test))


def test_damaged_weights_are_refused(english, tmp_path):
    tokenizer, stream = english
    model = build_ngram(stream, tokenizer.vocab, 2)
    model.save(tmp_path)
    with pytest.raises(CheckpointError, match="config.json: --order"):
        NGramLM.load(tmp_path, {**model.config(), "order": -1}, tokenizer.vocab)
    with pytest.raises(CheckpointError, match='config.json: "order": 3 does not fit model.ngram.npz, which holds the '
                                              'weights of "order": 2'):  # a bigram file read as a trigram
        NGramLM.load(tmp_path, {**model.config(), "order": 3}, tokenizer.vocab)
    with np.load(tmp_path / "model.ngram.npz") as data:  # as saved before the tables had a record
        arrays = {name: data[name] for name in data.files if name != "record"}
    np.savez(tmp_path / "model.ngram.npz", **arrays)
    with pytest.raises(CheckpointError, match="model.ngram.npz: order 2 arrays"):
        NGramLM.load(tmp_path, {**model.config(), "order": 3}, tokenizer.vocab)
    assert NGramLM.load(tmp_path, model.config(), tokenizer.vocab).order == 2
    (tmp_path / "model.ngram.npz").write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="model.ngram.npz"):
        NGramLM.load(tmp_path, model.config(), tokenizer.vocab)


@pytest.mark.parametrize("options, message", [
    ({"order": 0}, "--order"), ({"order": 99}, "--order"), ({"order": 2.5}, "--order"),
    ({"smoothing": "witten-bell"}, "--smoothing"), ({"smoothing": "add-k", "k": 0}, "--k"),
    ({"smoothing": "add-k", "k": -1.0}, "--k"), ({"k": float("nan")}, "--k"), ({"direction": "sideways"}, "--direction"),
])
def test_bad_options_are_one_clear_error(english, options, message):
    tokenizer, _ = english
    with pytest.raises(ConfigError, match=message):
        NGramLM(tokenizer.vocab, **options)


def test_bad_streams_are_refused(english):
    tokenizer, _ = english
    with pytest.raises(ConfigError, match="empty"):
        build_ngram(np.zeros(0, dtype=np.int32), tokenizer.vocab, 2)
    with pytest.raises(ConfigError, match="token ids must lie"):
        build_ngram(np.array([5, 999, EOS_ID], dtype=np.int32), tokenizer.vocab, 2)
    with pytest.raises(ConfigError, match="not been estimated"):
        NGramLM(tokenizer.vocab, 2).score(torch.tensor([[BOS_ID, EOS_ID]]))


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_an_order_longer_than_every_sentence_is_empty_but_harmless(smoothing):
    tokenizer = WordTokenizer.fit(["a b", "b", "a"])
    stream = encode_lines(tokenizer, ["a b", "b", "a"])
    model = quiet_build(stream, tokenizer.vocab, 5, smoothing=smoothing)
    assert model.fitted().sizes()[3:] == [1, 0]  # "<s> a b </s>" is the longest n-gram
    logp = model.score_stream(encode_lines(tokenizer, ["a b a b a"]))
    assert logp.shape == (6,) and (np.isfinite(logp).all() or smoothing == "mle")
    state = model.init_state(1)
    for token in [BOS_ID, *tokenizer.encode_line("a b a b")]:
        step_logp, state = model.step(torch.tensor([token]), state)
    assert float(torch.logsumexp(step_logp.double(), 1)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("key_limit", [2**30, 2**46, 2**62])  # one packed sort, several parts, argsort
def test_grouping_keys_agrees_with_numpy_unique(key_limit):
    from lmkit.models.ngram.count import group_keys

    keys = np.random.default_rng(1).integers(0, 5000, 600_000) * (key_limit // 5000)
    distinct, inverse, first, sizes = group_keys(keys)
    expected, expected_inverse, expected_sizes = np.unique(keys, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(distinct, expected)
    np.testing.assert_array_equal(inverse, expected_inverse)
    np.testing.assert_array_equal(sizes, expected_sizes)
    np.testing.assert_array_equal(keys[first], distinct)
