"""Checks of ScratchRNN's hand-written BPTT, and the vanishing/exploding gradient demonstration.

`check_case` builds a small random ScratchRNN in float64 and compares, for every
parameter, the gradient from `loss_and_grads` with
  - centred finite differences, (L(theta + eps) - L(theta - eps)) / (2 eps), and
  - torch autograd run over the same forward pass.

With truncation (bptt_truncate = k) the hand-written gradient is not the gradient
of the loss but of a surrogate in which output t is computed from s_{t-k-1} held
constant; `objective` evaluates that surrogate, so both references stay exact.

`gradient_norms` measures ||dL/ds_{T-1-d}|| for the loss of the last step alone,
as d grows, for a given nonlinearity and spectral radius of W.

Nothing here prints; `lmkit gradcheck` (lmkit/commands/gradcheck.py) does.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor

from lmkit.errors import ConfigError
from lmkit.models.neural.elman_bptt import Params, bptt, forward_pass, target_logprobs
from lmkit.models.neural.gradcheck_sizes import CHECK, CHECK_EPS, CHECK_STEPS, NORMS, NORMS_DISTANCE
from lmkit.models.neural.scratch import ScratchConfig, ScratchRNN
from lmkit.text.vocab import SPECIALS, Vocab

ERROR_FLOOR = 1e-4  # entries below this in both gradients are compared absolutely (see relative_error)


@dataclass(frozen=True)
class CheckCase:
    nonlinearity: str = "tanh"
    emb_size: int | None = None  # None: one-hot inputs
    truncate: int | None = None  # bptt_truncate k

    def label(self) -> str:
        inputs = f"emb{self.emb_size}" if self.emb_size else "one-hot"
        truncation = f"k={self.truncate}" if self.truncate is not None else "full"
        return f"{self.nonlinearity} {inputs} {truncation}"


@dataclass(frozen=True)
class ParamCheck:
    case: CheckCase
    name: str
    shape: tuple[int, ...]
    numeric_error: float  # max relative error, BPTT vs finite differences
    autograd_error: float  # max relative error, BPTT vs autograd

    @property
    def worst(self) -> float:
        return max(self.numeric_error, self.autograd_error)


@dataclass(frozen=True)
class NormCurve:
    nonlinearity: str
    spectral_radius: float
    norms: list[float]  # norms[d]: mean over the batch of ||dL/ds_{T-1-d}||, L the last step's loss

    def factor_per_step(self) -> float:
        """Geometric mean of norms[d+1] / norms[d]: below 1 vanishes, above 1 explodes."""
        first, last = self.norms[0], self.norms[-1]
        if first <= 0 or last <= 0 or len(self.norms) < 2:
            return 0.0
        return (last / first) ** (1 / (len(self.norms) - 1))


def default_cases() -> list[CheckCase]:
    """tanh and relu, one-hot and embedding, full BPTT and truncation to 2 steps."""
    return [CheckCase(f, emb, k) for f, emb, k in itertools.product(("tanh", "relu"), (None, 3), (None, 2))]


def small_vocab(size: int) -> Vocab:
    return Vocab([*SPECIALS, *(f"w{i}" for i in range(size - len(SPECIALS)))])


def relative_error(a: Tensor, b: Tensor, floor: float = ERROR_FLOOR) -> float:
    """max_i |a_i - b_i| / max(|a_i|, |b_i|, floor): relative, but absolute for entries near 0."""
    if a.numel() == 0:
        return 0.0
    scale = torch.maximum(a.abs(), b.abs()).clamp_min(floor)
    return float(((a - b).abs() / scale).max())


def objective(params: Params, inputs: Tensor, targets: Tensor, state: Tensor, nonlinearity: str,
              truncate: int | None = None, frozen: Tensor | None = None) -> Tensor:
    """Mean loss per token, or with `truncate` = k the surrogate whose gradient truncated BPTT computes:
    output t runs only steps t-k .. t, from the state s_{t-k-1} in `frozen` (B, T, H) taken as a constant."""
    if truncate is None:
        trace = forward_pass(params, inputs, state, nonlinearity)
        return -target_logprobs(trace, targets).mean()
    total = torch.zeros((), dtype=state.dtype)
    for t in range(inputs.shape[1]):
        start = max(0, t - truncate)
        s_start = state if start == 0 else frozen[:, start - 1]
        trace = forward_pass(params, inputs[:, start : t + 1], s_start, nonlinearity)
        total = total - trace.logp[:, -1].gather(-1, targets[:, t, None]).sum()  # log o_t[y_t]
    return total / targets.numel()


def numerical_gradients(loss_of, params: Params, eps: float) -> Params:
    """Centred differences, one entry at a time: (L(p + eps) - L(p - eps)) / (2 eps)."""
    grads = {}
    for name, param in params.items():
        grad, flat = torch.zeros_like(param), param.view(-1)
        for i in range(flat.numel()):
            original = float(flat[i])
            flat[i] = original + eps
            plus = float(loss_of())
            flat[i] = original - eps
            minus = float(loss_of())
            flat[i] = original
            grad.view(-1)[i] = (plus - minus) / (2 * eps)
        grads[name] = grad
    return grads


def autograd_gradients(params: Params, loss_of_params) -> Params:
    leaves = {name: p.detach().clone().requires_grad_(True) for name, p in params.items()}
    with torch.enable_grad():
        grads = torch.autograd.grad(loss_of_params(leaves), list(leaves.values()), allow_unused=True)
    return {name: torch.zeros_like(p) if g is None else g for (name, p), g in zip(leaves.items(), grads)}


def check_case(case: CheckCase, *, vocab_size: int = CHECK.vocab_size, hidden_size: int = CHECK.hidden_size,
               batch_size: int = CHECK.batch_size, steps: int = CHECK_STEPS, eps: float = CHECK_EPS,
               seed: int = 0) -> list[ParamCheck]:
    """Compare BPTT with finite differences and autograd on one small random float64 instance."""
    config = ScratchConfig(hidden_size=hidden_size, emb_size=case.emb_size, nonlinearity=case.nonlinearity,
                           bptt_truncate=case.truncate, init_scale=0.8, seed=seed)
    model = ScratchRNN(small_vocab(vocab_size), config).double()
    generator = torch.Generator().manual_seed(seed + 1)
    inputs = torch.randint(0, vocab_size, (batch_size, steps), generator=generator)
    targets = torch.randint(0, vocab_size, (batch_size, steps), generator=generator)
    state = torch.randn(batch_size, hidden_size, generator=generator, dtype=torch.float64) * 0.5  # carried in
    model.loss_and_grads(inputs, targets, state[None])  # fills p.grad; the model's state is (1, B, H)
    params = {name: p.detach() for name, p in model.named_parameters()}
    frozen = forward_pass(params, inputs, state, case.nonlinearity).s

    def loss_of(p: Params) -> Tensor:
        return objective(p, inputs, targets, state, case.nonlinearity, case.truncate, frozen)

    with torch.no_grad():
        numeric = numerical_gradients(lambda: loss_of(params), params, eps)
    automatic = autograd_gradients(params, loss_of)
    return [
        ParamCheck(case, name, tuple(p.shape), relative_error(p.grad, numeric[name]),
                   relative_error(p.grad, automatic[name]))
        for name, p in model.named_parameters()
    ]


def matrix_with_spectral_radius(size: int, radius: float, generator: torch.Generator) -> Tensor:
    """A random Gaussian (size, size) matrix scaled so that its largest |eigenvalue| is `radius`."""
    matrix = torch.randn(size, size, generator=generator, dtype=torch.float64)
    return matrix * (radius / torch.linalg.eigvals(matrix).abs().max())


def gradient_norms(nonlinearity: str, spectral_radius: float, *, distance: int = NORMS_DISTANCE,
                   hidden_size: int = NORMS.hidden_size, vocab_size: int = NORMS.vocab_size,
                   batch_size: int = NORMS.batch_size, seed: int = 0) -> NormCurve:
    """||dL/ds_{T-1-d}|| for d = 0 .. distance, where L is the loss of the last step only."""
    config = ScratchConfig(hidden_size=hidden_size, nonlinearity=nonlinearity, init_scale=0.5, seed=seed)
    model = ScratchRNN(small_vocab(vocab_size), config).double()
    generator = torch.Generator().manual_seed(seed + 1)
    params = {name: p.detach() for name, p in model.named_parameters()}
    params["W"] = matrix_with_spectral_radius(hidden_size, spectral_radius, generator)
    steps = distance + 1
    inputs = torch.randint(0, vocab_size, (batch_size, steps), generator=generator)
    targets = torch.randint(0, vocab_size, (batch_size, steps), generator=generator)
    weights = torch.zeros(batch_size, steps, dtype=torch.float64)
    weights[:, -1] = 1.0 / batch_size  # L = mean over the batch of the last step's loss
    trace = forward_pass(params, inputs, model.init_state(batch_size)[0], nonlinearity)
    _, ds = bptt(params, trace, targets, weights, nonlinearity)  # dL/ds_t   (B, T, H)
    norms = ds.norm(dim=-1).mean(dim=0).flip(0)  # norms[d] = ||dL/ds_{T-1-d}||
    return NormCurve(nonlinearity, spectral_radius, [float(n) for n in norms])


# --- the bidirectional Elman RNN (lmkit/models/neural/elman_bibptt.py) ----------------
def bidirectional_cases() -> list[CheckCase]:
    """tanh and relu, one-hot and embedding inputs; full BPTT in both directions."""
    return [CheckCase(f, emb) for f, emb in itertools.product(("tanh", "relu"), (None, 3))]


def check_bidirectional(case: CheckCase, *, vocab_size: int = CHECK.vocab_size, hidden_size: int = CHECK.hidden_size,
                        batch_size: int = CHECK.batch_size, steps: int = CHECK_STEPS, eps: float = CHECK_EPS,
                        seed: int = 0) -> list[ParamCheck]:
    """bi_bptt against finite differences and autograd on random float64 weights and lines of `steps` tokens."""
    from lmkit.models.neural.elman_bibptt import bi_bptt, bi_forward, bi_loss, parameter_shapes

    if steps < 2:
        raise ConfigError(f"--steps {steps} with --bidirectional: a line of one token has no other token to predict it "
                          "from; give --steps 2 or more")
    generator = torch.Generator().manual_seed(seed)
    params = {name: (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * 0.8
              for name, shape in parameter_shapes(vocab_size, hidden_size, case.emb_size).items()}
    ids = torch.randint(0, vocab_size, (batch_size, steps), generator=generator)
    weights = torch.full((batch_size, ids.shape[1] - 1), 1.0 / ids[:, 1:].numel(), dtype=torch.float64)
    by_hand = bi_bptt(params, bi_forward(params, ids, case.nonlinearity), ids, weights, case.nonlinearity)

    def loss_of(p: Params) -> Tensor:
        return bi_loss(bi_forward(p, ids, case.nonlinearity), ids, weights)

    with torch.no_grad():
        numeric = numerical_gradients(lambda: loss_of(params), params, eps)
    automatic = autograd_gradients(params, loss_of)
    return [ParamCheck(case, name, tuple(p.shape), relative_error(by_hand[name], numeric[name]),
                       relative_error(by_hand[name], automatic[name])) for name, p in params.items()]
