"""The softmax layer's hand-written gradient: against finite differences, against autograd's own
route (linear -> log_softmax -> nll) in fp32 and under bf16 autocast, and where P(target) underflows."""
import pytest
import torch
import torch.nn.functional as F

from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.models.neural.softmax_loss import LinearTargetLogProb, linear_target_logprobs
from lmkit.text.vocab import Vocab


def layer(hidden_size: int, vocab_size: int, rows: int, dtype=torch.float32, seed: int = 0):
    torch.manual_seed(seed)
    hidden = torch.randn(rows, hidden_size, dtype=dtype, requires_grad=True)
    linear = torch.nn.Linear(hidden_size, vocab_size).to(dtype)
    return hidden, linear, torch.randint(0, vocab_size, (rows,))


def autograd_route(hidden, linear, targets):
    return -F.cross_entropy(linear(hidden).float(), targets, reduction="none")


def gradients(logp, weights, hidden, linear):
    return torch.autograd.grad((logp * weights).sum(), (hidden, linear.weight, linear.bias))


@pytest.mark.parametrize("hidden_size, vocab_size", [(6, 40), (40, 6)], ids=["large-vocab", "small-vocab"])
def test_gradient_matches_finite_differences(hidden_size, vocab_size):
    hidden, linear, targets = layer(hidden_size, vocab_size, rows=9, dtype=torch.float64)
    function = lambda h, w, b: LinearTargetLogProb.apply(h, w, b, targets, torch.float64)  # noqa: E731
    assert torch.autograd.gradcheck(function, (hidden, linear.weight, linear.bias))


@pytest.mark.parametrize("hidden_size, vocab_size", [(16, 300), (64, 20)], ids=["large-vocab", "small-vocab"])
def test_fp32_equals_autograds_route(hidden_size, vocab_size):
    hidden, linear, targets = layer(hidden_size, vocab_size, rows=50)
    weights = torch.rand(50)  # any per-token weighting of the loss, not only the mean
    ours, theirs = linear_target_logprobs(hidden, linear, targets), autograd_route(hidden, linear, targets)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, theirs, atol=2e-6, rtol=1e-6)
    for a, b in zip(gradients(ours, weights, hidden, linear), gradients(theirs, weights, hidden, linear)):
        torch.testing.assert_close(a, b, atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("hidden_size, vocab_size", [(16, 300), (64, 20)], ids=["large-vocab", "small-vocab"])
def test_bf16_autocast_agrees_with_autocasts_route_to_bf16_precision(hidden_size, vocab_size):
    hidden, linear, targets = layer(hidden_size, vocab_size, rows=50)
    weights = torch.full((50,), 1 / 50)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours, theirs = linear_target_logprobs(hidden, linear, targets), autograd_route(hidden, linear, targets)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, theirs, atol=0.05, rtol=0.01)  # both see bf16 logits
    for a, b in zip(gradients(ours, weights, hidden, linear), gradients(theirs, weights, hidden, linear)):
        assert a.dtype == b.dtype == torch.float32
        assert (a - b).abs().max() <= 0.02 * b.abs().max()


def test_confident_predictions_keep_their_small_gradient_under_bf16():
    """P(target) near 1: the target's entry P - 1 comes from the fp32 log-probability, not from a P
    rounded to bf16, whose spacing near 1 (0.004) is larger than 1 - P here (0.003)."""
    hidden, linear, _ = layer(8, 50, rows=1)
    target = torch.tensor([7])
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.zero_()
        linear.bias[7] = 12.0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logp = linear_target_logprobs(hidden, linear, target)
    (bias_grad,) = torch.autograd.grad(logp.sum(), linear.bias)
    one_minus_p = 49 / (49 + torch.tensor(12.0).exp())  # d log p / d bias[target] = 1 - P(target)
    torch.testing.assert_close(bias_grad[7], one_minus_p, rtol=0.01, atol=0)


def test_underflowing_target_probability_gives_the_exact_finite_log_probability():
    hidden, linear, targets = layer(4, 10, rows=3)
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.copy_(torch.arange(10.0) * 30)  # logit gaps of up to 270: exp underflows fp32
    targets = torch.tensor([0, 9, 1])
    ours = linear_target_logprobs(hidden, linear, targets)
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, autograd_route(hidden, linear, targets))
    (grad,) = torch.autograd.grad(ours.sum(), linear.bias)
    assert torch.isfinite(grad).all()


def test_rnnlm_with_tied_weights_gets_autograds_gradients():
    vocab = Vocab.build({f"w{i}": 100 - i for i in range(40)})
    torch.manual_seed(0)
    model = RNNLM(vocab, RNNConfig(emb_size=16, hidden_size=16, layers=1, dropout=0, out_dropout=0, tie_weights=True))
    inputs, targets = torch.randint(0, len(vocab), (2, 2, 7)).unbind(0)
    logp, _ = model(inputs, targets, model.init_state(2))
    ours = torch.autograd.grad(logp.mean(), list(model.parameters()))
    out, _ = model.hidden_states(inputs, model.init_state(2))
    theirs = torch.autograd.grad(-F.cross_entropy(model.head.linear(out).flatten(0, 1), targets.flatten()),
                                 list(model.parameters()))
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_scoring_without_gradients_gives_the_same_log_probabilities():
    hidden, linear, targets = layer(16, 300, rows=20)
    with torch.no_grad():
        scored = linear_target_logprobs(hidden, linear, targets)
    assert scored.grad_fn is None
    torch.testing.assert_close(scored, linear_target_logprobs(hidden, linear, targets).detach())


def test_a_layer_without_a_bias_gets_the_gradient_of_finite_differences():
    torch.manual_seed(0)
    hidden = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(30, 5, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 30, (7,))
    function = lambda h, w: LinearTargetLogProb.apply(h, w, None, targets, torch.float64)  # noqa: E731
    assert torch.autograd.gradcheck(function, (hidden, weight))


def adaptive_head(hidden_size: int = 24, vocab_size: int = 1500):
    from lmkit.models.neural.heads import AdaptiveSoftmax

    torch.manual_seed(0)
    head = AdaptiveSoftmax(hidden_size, vocab_size)
    ranks = torch.arange(1, vocab_size + 1, dtype=torch.float)
    targets = torch.multinomial(1 / ranks, 3 * 40, replacement=True).view(3, 40)  # every cluster gets rows
    out = torch.randn(3, 40, hidden_size, requires_grad=True)
    return head, out, targets


def test_the_adaptive_head_equals_torchs_module_in_fp32():
    """lmkit computes the adaptive softmax itself on torch's weights: the same log-probabilities, gradients and
    full distribution as nn.AdaptiveLogSoftmaxWithLoss."""
    head, out, targets = adaptive_head()
    assert {1, 2} <= set(torch.bucketize(targets.flatten(), torch.tensor(head.asm.cutoffs[:-1]), right=True).tolist())
    ours = head.target_logprobs(out, targets)
    theirs = head.asm(out.reshape(-1, out.shape[-1]), targets.reshape(-1)).output.view(targets.shape)
    torch.testing.assert_close(ours, theirs)
    weights = torch.rand(targets.shape)
    for a, b in zip(torch.autograd.grad((ours * weights).sum(), [out, *head.parameters()]),
                    torch.autograd.grad((theirs * weights).sum(), [out, *head.parameters()])):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(head.log_probs(out[0]), head.asm.log_prob(out[0]))


def test_the_adaptive_head_under_bf16_autocast_runs_its_matmuls_in_bf16_and_returns_fp32():
    head, out, targets = adaptive_head()
    exact = head.target_logprobs(out, targets).detach()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours, full = head.target_logprobs(out, targets), head.log_probs(out[0])
    assert ours.dtype == full.dtype == torch.float32
    assert 0 < (ours - exact).abs().max() < 0.05  # bf16 logits: close, not equal
    torch.testing.assert_close(full.exp().sum(-1), torch.ones(40), atol=1e-4, rtol=0)
    torch.testing.assert_close(full.gather(1, targets[0, :, None])[:, 0], ours[0].detach(), atol=0.05, rtol=0)


def test_the_adaptive_head_takes_strided_targets_without_a_warning():
    """Targets that are a strided view (one row of a column-major window) must not make torch warn on the
    user's terminal. In a fresh interpreter: torch warns once per process."""
    import subprocess
    import sys

    probe = """
import warnings, torch
from lmkit.models.neural.heads import AdaptiveSoftmax
head = AdaptiveSoftmax(16, 1200)
targets = torch.randint(0, 1200, (40, 3)).t()[:1]  # (1, 40), stride 3 along the row
assert not targets.reshape(-1).is_contiguous()
with warnings.catch_warnings():
    warnings.simplefilter("error")
    logp = head.target_logprobs(torch.randn(1, 40, 16), targets)
assert logp.shape == (1, 40)
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
