"""The adaptive regimes (lmkit.evaluate.cache, .dynamic): past tokens only, first scores static, weights untouched."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lmkit.errors import ConfigError
from lmkit.evaluate.adaptive_config import RMS_FLOOR
from lmkit.evaluate.adaptive import spread_sample
from lmkit.evaluate.cache import cache_probs, mix_logp, read_pointers, require_cache_support, tune_cache
from lmkit.evaluate.dynamic import (RMSStep, dynamic_logprobs, mean_squares, require_dynamic_support,
                                    tune_dynamic_lr)
from lmkit.evaluate.perplexity import stream_logprobs
from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.models.neural.scratch import ScratchConfig, ScratchRNN
from lmkit.models.ngram.model import build_ngram
from lmkit.text.vocab import EOS_ID, SPECIALS, Vocab

VOCAB = Vocab(list(SPECIALS) + list("abcdefgh"))


def make_rnn(seed=0):
    torch.manual_seed(seed)
    return RNNLM(VOCAB, RNNConfig(cell="lstm", emb_size=8, hidden_size=16, layers=1)).eval()


def make_scratch():
    return ScratchRNN(VOCAB, ScratchConfig(hidden_size=12, seed=3))


def random_stream(n, seed):
    rng = np.random.default_rng(seed)
    stream = rng.integers(4, len(VOCAB), size=n)
    stream[rng.random(n) < 0.1] = EOS_ID
    return stream


def repeated_stream(copies=8):
    line = list(random_stream(40, 7)) + [EOS_ID]
    return np.array(line * copies)


def cache_logp(model, stream, theta=0.5, lam=0.3, size=30):
    pointers = read_pointers(model, stream, rows=1)
    return mix_logp(pointers.model_logp, cache_probs(pointers, theta, size), lam)


def future_permuted(stream, keep, seed=1):
    """`stream` with every token after position `keep` shuffled."""
    changed = stream.copy()
    tail = changed[keep:]
    np.random.default_rng(seed).shuffle(tail)
    changed[keep:] = tail
    assert (changed[keep:] != stream[keep:]).any()
    return changed


def test_cache_model_logp_is_the_static_score_and_lambda_zero_changes_nothing():
    model, stream = make_rnn(), random_stream(300, 0)
    static = stream_logprobs(model, stream, rows=1)
    assert np.allclose(read_pointers(model, stream, rows=1).model_logp, static, atol=1e-5)
    assert np.allclose(cache_logp(model, stream, lam=0.0), static, atol=1e-5)
    assert cache_logp(model, stream)[0] == pytest.approx(static[0], abs=1e-5)  # empty cache: the model alone


@pytest.mark.parametrize("keep", [1, 57, 200])
def test_cache_never_looks_ahead(keep):
    model, stream = make_rnn(), random_stream(300, 0)
    before = cache_logp(model, stream)
    after = cache_logp(model, future_permuted(stream, keep))
    assert np.allclose(before[:keep], after[:keep], atol=1e-6)
    assert not np.allclose(before[keep:], after[keep:])


def test_cache_probabilities_look_only_size_tokens_back():
    model, stream = make_rnn(), np.array([5, 6, 7, 8, 9, 5, 6, 7, 8, 9])
    pointers = read_pointers(model, stream, rows=1)
    assert cache_probs(pointers, 1.0, 4)[5] == 0.0      # the earlier 5 is 5 positions back
    assert cache_probs(pointers, 1.0, 5)[5] > 0.0
    assert np.all(cache_probs(pointers, 1.0, 100) <= 1.0 + 1e-12)


def test_cache_tuning_uses_the_cache_on_repeated_text():
    model, stream = make_rnn(), repeated_stream()
    pointers = read_pointers(model, stream, rows=1)
    theta, lam = tune_cache(pointers, 100, (0.1, 1.0, 3.0), (0.0, 0.2, 0.5))
    assert lam > 0
    assert cache_logp(model, stream, theta, lam, 100).sum() > pointers.model_logp.sum()


@pytest.mark.parametrize("make", [make_rnn, make_scratch])
def test_dynamic_first_segment_is_static_and_never_looks_ahead(make):
    model, stream = make(), random_stream(160, 2)
    ms = mean_squares(model, random_stream(100, 5), 16)
    static = stream_logprobs(model, stream, rows=1)
    scores = dynamic_logprobs(model, stream, ms, 1e-2, 0.01, 16)
    assert np.allclose(scores[:16], static[:16], atol=1e-5)
    assert not np.allclose(scores[16:], static[16:], atol=1e-5)  # the weights did move
    for keep in (32, 80):
        again = dynamic_logprobs(model, future_permuted(stream, keep), ms, 1e-2, 0.01, 16)
        assert np.allclose(again[:keep], scores[:keep], atol=1e-6)


def test_dynamic_leaves_the_model_untouched_and_learns_repeated_text():
    model, stream = make_rnn(), repeated_stream()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    ms = mean_squares(model, stream[:100], 20)
    lr = tune_dynamic_lr(model, stream, ms, 0.0, 20, (1e-5, 1e-2, 1e-1))
    assert lr == 1e-2  # too large a step diverges, too small learns little
    adapted = dynamic_logprobs(model, stream, ms, lr, 0.0, 20)
    assert adapted.sum() > stream_logprobs(model, stream, rows=1).sum()
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())


def test_dynamic_tuning_never_picks_a_rate_that_diverged(monkeypatch):
    """np.argmin returns the first NaN: an LR whose updates blew up (NaN NLL) once won the tuning."""
    import lmkit.evaluate.dynamic as dynamic

    nll = {1e-5: 3.0, 1e-4: 2.0, 1e-3: np.nan, 1e-2: np.inf}
    monkeypatch.setattr(dynamic, "dynamic_logprobs", lambda model, stream, ms, lr, *rest: np.full(4, -nll[lr]))
    assert dynamic.tune_dynamic_lr(None, np.zeros(4), [], 0.0, 2, (1e-3, 1e-5, 1e-4, 1e-2)) == 1e-4
    nll.update({1e-5: np.nan, 1e-4: np.nan})
    with pytest.raises(ConfigError, match="diverged at every learning rate tried .* smaller --dynamic-lr"):
        dynamic.tune_dynamic_lr(None, np.zeros(4), [], 0.0, 2, (1e-3, 1e-5, 1e-4, 1e-2))


def test_dynamic_leaves_weights_without_a_measured_gradient_where_they_were():
    """A symbol missing from the text MS_i was measured on has MS_i = 0 for its embedding row: meeting it in
    the scored text must not move that row by lr * g / epsilon (it threw the row, and every later state, off)."""
    model = make_rnn()
    unseen = VOCAB.id("h")
    tuning = random_stream(200, 5)
    tuning[tuning == unseen] = VOCAB.id("a")
    ms = mean_squares(model, tuning, 16)
    assert torch.count_nonzero(ms[0][unseen]) == 0 and torch.count_nonzero(ms[0][VOCAB.id("a")]) > 0
    params = [p.detach().clone() for p in model.parameters()]  # RNNLM's first weight: the embedding
    saved = [p.clone() for p in params]
    grads = [torch.full_like(p, 1e-3) for p in params]
    RMSStep(ms, 1e-3, 0.0)(params, saved, grads)
    assert torch.equal(params[0][unseen], saved[0][unseen])
    assert not torch.equal(params[0][VOCAB.id("a")], saved[0][VOCAB.id("a")])


def test_dynamic_step_of_a_weight_measured_as_nearly_still_is_bounded_by_the_floor():
    """RMS spans orders of magnitude across a trained model's weights; one measured as almost never moving
    must not take a step of lr * g / 1e-10 when the scored text does move it (that made models diverge)."""
    ms = [torch.tensor([1.0, 1.0, 1.0, 1e-20])]  # RMS 1, 1, 1, 1e-10: mean 0.75
    params, saved = [torch.zeros(4)], [torch.zeros(4)]
    RMSStep(ms, 1e-3, 0.0)(params, saved, [torch.ones(4)])
    floor = RMS_FLOOR * 0.75
    assert params[0][0].item() == pytest.approx(-1e-3 / (1.0 + floor))
    assert params[0][3].item() == pytest.approx(-1e-3 / (1e-10 + floor))


def test_spread_sample_takes_evenly_spaced_runs_or_everything():
    stream = np.arange(1000)
    sample = spread_sample(stream, 100, pieces=4)
    assert list(sample[:25]) == list(range(25)) and list(sample[-25:]) == list(range(975, 1000))
    assert len(sample) == 100 and len(set(sample)) == 100
    assert list(spread_sample(stream[:50], 100)) == list(range(50))


@pytest.mark.filterwarnings("ignore:Kneser-Ney discounts")
def test_models_without_hidden_states_or_gradients_are_refused_by_kind():
    ngram = build_ngram(random_stream(200, 0), VOCAB, order=2, smoothing="kn")
    with pytest.raises(ConfigError, match="--cache needs a torch recurrent model .*this model's kind is ngram"):
        require_cache_support(ngram, "ngram")
    with pytest.raises(ConfigError, match="this model's kind is scratch-rnn"):
        require_cache_support(make_scratch(), "scratch-rnn")
    with pytest.raises(ConfigError, match="--dynamic needs a left-to-right model trained by gradients .*this model's kind is ngram"):
        require_dynamic_support(ngram, "ngram")
    require_dynamic_support(make_scratch(), "scratch-rnn")
    require_cache_support(make_rnn(), "lstm")
