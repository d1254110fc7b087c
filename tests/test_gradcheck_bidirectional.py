"""The bidirectional Elman RNN's hand-written BPTT (both directions) against finite differences and autograd."""
import pytest
import torch

from lmkit.models.neural import elman_bibptt
from lmkit.models.neural.elman_bibptt import bi_forward, parameter_shapes
from lmkit.models.neural.gradcheck import CheckCase, bidirectional_cases, check_bidirectional


@pytest.mark.parametrize("case", bidirectional_cases(), ids=lambda c: c.label())
def test_bidirectional_bptt_matches_finite_differences_and_autograd(case):
    results = check_bidirectional(case, steps=5)
    assert {r.name for r in results} >= {"U", "W", "b", "V", "U'", "W'", "b'", "V'", "c"}
    worst = max(results, key=lambda r: r.worst)
    assert worst.worst < 1e-6, worst


def test_the_check_catches_a_backward_pass_that_stops_at_one_step(monkeypatch):
    real = elman_bibptt.deltas_through_time
    monkeypatch.setattr(elman_bibptt, "deltas_through_time", lambda ds, fp, W, k: real(ds, fp, W, 0))
    results = check_bidirectional(CheckCase("tanh"), steps=5)
    failing = {r.name for r in results if r.worst > 1e-3}
    assert {"W", "W'"} <= failing


def test_the_scratch_prediction_at_t_never_reads_x_t_but_reads_both_sides():
    generator = torch.Generator().manual_seed(0)
    params = {name: torch.rand(shape, generator=generator, dtype=torch.float64) - 0.5
              for name, shape in parameter_shapes(9, 4, None).items()}
    ids = torch.tensor([[2, 5, 6, 7, 8, 4, 3]])
    before = bi_forward(params, ids, "tanh").logp
    for t in range(1, ids.shape[1]):
        changed = ids.clone()
        changed[0, t] = 1
        after = bi_forward(params, changed, "tanh").logp
        assert torch.equal(after[:, t - 1], before[:, t - 1])            # o_t does not read x_t
        others = [j for j in range(ids.shape[1] - 1) if j != t - 1]
        assert all(not torch.equal(after[:, j], before[:, j]) for j in others)  # every other o reads it


def test_gradcheck_command_checks_the_bidirectional_rnn(cli):
    result = cli("gradcheck", "--bidirectional", "--steps", "4")
    assert result.exit_code == 0, result.output
    assert "bidirectional BPTT" in result.output and "V'" in result.output and result.output.rstrip().endswith(
        "are below 1e-05")
