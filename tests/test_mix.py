"""Interpolation: mixes probabilities, weight 1.0 is the model itself, EM finds the better weights."""
import math
import re

import numpy as np
import pytest
import torch

from lmkit.errors import ConfigError, VocabError
from lmkit.evaluate.perplexity import stream_logprobs
from lmkit.models.mix import Interpolated, check_weights, mix_logprobs, tune_weights
from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.text.encode import encode_lines
from lmkit.text.tokenizers import CharTokenizer, WordTokenizer

LINES = ["the cat sat", "a dog ran far", "the dog sat"]


def rnn(vocab, cell, seed):
    torch.manual_seed(seed)
    return RNNLM(vocab, RNNConfig(cell=cell, emb_size=8, hidden_size=10, layers=1)).eval()


@pytest.fixture
def pair():
    vocab = WordTokenizer.fit(LINES).vocab
    return rnn(vocab, "lstm", 0), rnn(vocab, "gru", 1)


def test_weight_one_gives_the_single_model(pair):
    a, b = pair
    ids = torch.tensor([[2, 4, 5, 6, 3, 7, 8]])
    with torch.no_grad():
        assert torch.allclose(Interpolated([a, b], [1.0, 0.0]).score(ids), a.score(ids), atol=1e-6)
        assert torch.allclose(Interpolated([a, b], [0.0, 1.0]).score(ids), b.score(ids), atol=1e-6)


def test_step_mixes_probabilities_and_sums_to_one(pair):
    a, b = pair
    mix = Interpolated([a, b], [0.3, 0.7])
    ids = torch.tensor([2, 5])
    with torch.no_grad():
        logp, _ = mix.step(ids, mix.init_state(2))
        pa, _ = a.step(ids, a.init_state(2))
        pb, _ = b.step(ids, b.init_state(2))
    assert torch.allclose(logp.exp(), 0.3 * pa.exp() + 0.7 * pb.exp(), atol=1e-6)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(2), atol=1e-5)


def test_step_and_score_agree(pair):
    mix = Interpolated(list(pair), [0.5, 0.5])
    ids = torch.tensor([[2, 4, 5, 6, 3, 7]])
    with torch.no_grad():
        scored = mix.score(ids)[0]
        state, stepped = mix.init_state(1), []
        for t in range(ids.shape[1] - 1):
            logp, state = mix.step(ids[:, t], state)
            stepped.append(float(logp[0, ids[0, t + 1]]))
    assert np.allclose(scored.numpy(), stepped, atol=1e-5)


def test_mixing_streams_equals_mixing_per_token_scores(pair):
    a, b = pair
    stream = encode_lines(WordTokenizer.fit(LINES), LINES)
    mixed = stream_logprobs(Interpolated([a, b], [0.25, 0.75]), stream, rows=2, window=3)
    parts = [stream_logprobs(m, stream, rows=2, window=3) for m in (a, b)]
    assert np.allclose(mixed, mix_logprobs(parts, [0.25, 0.75]), atol=1e-6)


def test_mismatched_vocabularies_are_refused(pair):
    other = rnn(CharTokenizer.fit(LINES).vocab, "lstm", 2)
    with pytest.raises(VocabError, match="different vocabulary"):
        Interpolated([pair[0], other], [0.5, 0.5])


@pytest.mark.parametrize("weights", [[0.5], [0.7, 0.7], [-0.5, 1.5]])
def test_bad_weights_are_refused(pair, weights):
    with pytest.raises(ConfigError, match="--weights"):
        Interpolated(list(pair), weights)


def test_weights_that_are_not_finite_are_named_so_and_minus_zero_is_zero():
    """Adversarial pass 71: nan and inf were refused as not "non-negative with a positive sum", and -0 was
    printed as a weight of -0."""
    with pytest.raises(ConfigError, match=re.escape("must be finite numbers, got [nan, 1.0]")):
        check_weights([float("nan"), 1.0], 2)
    weights = check_weights([-0.0, 1.0], 2)
    assert not np.signbit(weights).any()


def test_em_recovers_the_mixture_that_generated_the_data():
    rng = np.random.default_rng(0)
    # two "models" of a 2-symbol source; the data really is a 0.3/0.7 mixture of them
    p1, p2 = np.array([0.9, 0.1]), np.array([0.2, 0.8])
    truth = 0.3 * p1 + 0.7 * p2
    symbols = rng.choice(2, size=20000, p=truth)
    weights = tune_weights([np.log(p1[symbols]), np.log(p2[symbols])])
    assert weights == pytest.approx([0.3, 0.7], abs=0.02)


def test_em_weighs_a_member_of_probability_zero_by_the_tokens_it_scores_and_leaves_out_those_none_scores():
    """An unsmoothed member (-inf on its unseen tokens) keeps a weight below one; a token every member gives
    probability zero changes nothing (its likelihood is -inf at every weight)."""
    rng = np.random.default_rng(2)
    smooth = np.log(rng.uniform(0.05, 1, 400))
    sharp = np.where(rng.uniform(size=400) < 0.2, -np.inf, np.log(rng.uniform(0.3, 1, 400)))
    weights = tune_weights([sharp, smooth])
    assert 0 < weights[0] < 1 and np.isfinite(mix_logprobs([sharp, smooth], weights)).all()
    with_dead = tune_weights([np.append(sharp, -np.inf), np.append(smooth, -np.inf)])
    assert with_dead == pytest.approx(weights)
    assert tune_weights([np.full(3, -np.inf), np.full(3, -np.inf)]) == pytest.approx([0.5, 0.5])


def test_em_never_does_worse_than_either_model_alone():
    rng = np.random.default_rng(1)
    a, b = np.log(rng.uniform(0.05, 1, 500)), np.log(rng.uniform(0.05, 1, 500))
    weights = tune_weights([a, b])
    best = mix_logprobs([a, b], weights).sum()
    assert best >= max(a.sum(), b.sum()) - 1e-9
    assert math.isclose(weights.sum(), 1.0)


def test_an_interpolated_model_directory_reloads_with_the_same_scores(pair, tmp_path):
    from lmkit.checkpoint.save_load import load_model, save_model

    tokenizer = WordTokenizer.fit(LINES)
    mix = Interpolated(list(pair), [0.4, 0.6])
    save_model(tmp_path / "mix", mix, tokenizer)
    loaded, _, config = load_model(tmp_path / "mix")
    assert config["kind"] == "interpolated" and list(loaded.weights) == [0.4, 0.6]
    ids = torch.tensor([[2, 4, 5, 6, 3, 7]])
    with torch.no_grad():
        assert torch.allclose(loaded.eval().score(ids), mix.score(ids))


def test_a_members_weights_linked_from_outside_are_refused(pair, tmp_path):
    """members/ is read whole, so a link out of it is refused as one at the top is."""
    from lmkit.checkpoint.save_load import load_model, save_model
    from lmkit.errors import CheckpointError

    tokenizer = WordTokenizer.fit(LINES)
    save_model(tmp_path / "mix", Interpolated(list(pair), [0.4, 0.6]), tokenizer)
    weights = tmp_path / "mix" / "members" / "0" / "model.safetensors"
    weights.rename(tmp_path / "elsewhere.safetensors")
    weights.symlink_to(tmp_path / "elsewhere.safetensors")
    with pytest.raises(CheckpointError, match="members/0/model.safetensors: a symbolic link to .*outside the model"):
        load_model(tmp_path / "mix")


@pytest.mark.parametrize("count, weights, words", [
    (1, [0.5, 0.5], "--weights: 1 model needs 1 weight, got 2"),
    (2, [1.0], "--weights: 2 models need 2 weights, got 1"),
    (2, [0.5, "a"], '--weights must be a list of numbers, got [0.5, "a"]'),
])
def test_weights_that_do_not_fit_the_models_are_named(count, weights, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        check_weights(weights, count)
