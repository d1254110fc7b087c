"""The BPTT checks and the gradient-norm demonstration, as library functions and as `lmkit gradcheck`."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from conftest import assert_one_line_error
from lmkit.commands.gradcheck import command
from lmkit.models.neural.gradcheck import (
    CheckCase,
    NormCurve,
    check_case,
    default_cases,
    gradient_norms,
    matrix_with_spectral_radius,
    objective,
    relative_error,
    small_vocab,
)
from lmkit.models.neural.scratch import ScratchConfig, ScratchRNN


@pytest.mark.parametrize("case", default_cases(), ids=CheckCase.label)
def test_bptt_matches_finite_differences_and_autograd(case):
    results = check_case(case)
    expected = {"U", "W", "b", "V", "c"} | ({"E"} if case.emb_size else set())
    assert {r.name for r in results} == expected
    for r in results:
        assert r.numeric_error < 1e-6, (r.name, r.numeric_error)
        assert r.autograd_error < 1e-10, (r.name, r.autograd_error)


@pytest.mark.parametrize("seed", [1, 2])
def test_check_holds_on_other_instances(seed):
    for case in (CheckCase("relu", 4, None), CheckCase("tanh", None, 1)):
        results = check_case(case, hidden_size=4, steps=9, batch_size=3, seed=seed)
        assert max(r.numeric_error for r in results) < 1e-6
        assert max(r.autograd_error for r in results) < 1e-10


def test_truncated_objective_is_the_loss_when_k_covers_the_window_and_differs_otherwise():
    model = ScratchRNN(small_vocab(7), ScratchConfig(hidden_size=5, init_scale=0.8)).double()
    params = {name: p.detach() for name, p in model.named_parameters()}
    g = torch.Generator().manual_seed(0)
    inputs, targets = torch.randint(0, 7, (2, 6), generator=g), torch.randint(0, 7, (2, 6), generator=g)
    state = torch.randn(2, 5, generator=g, dtype=torch.float64)
    frozen = torch.randn(2, 6, 5, generator=g, dtype=torch.float64)  # unused when k >= T - 1
    full = float(objective(params, inputs, targets, state, "tanh"))
    assert float(objective(params, inputs, targets, state, "tanh", truncate=5, frozen=frozen)) == pytest.approx(full)
    assert float(objective(params, inputs, targets, state, "tanh", truncate=1, frozen=frozen)) != pytest.approx(full)


def test_truncation_changes_the_gradient_materially():
    """So a check that passes for k = 2 could not be passed by full BPTT's gradient."""
    g = torch.Generator().manual_seed(0)
    inputs, targets = torch.randint(0, 7, (2, 6), generator=g), torch.randint(0, 7, (2, 6), generator=g)
    grads = []
    for k in (None, 2):
        model = ScratchRNN(small_vocab(7), ScratchConfig(hidden_size=5, init_scale=0.8, bptt_truncate=k)).double()
        model.loss_and_grads(inputs, targets, model.init_state(2))
        grads.append(model.W.grad)
    assert relative_error(*grads) > 1e-3


def test_relative_error_is_relative_with_a_floor():
    a = torch.tensor([1.0, 100.0, 0.0, 1e-9])
    b = torch.tensor([1.1, 100.0, 0.0, 2e-9])
    assert relative_error(a, b) == pytest.approx(0.1 / 1.1)
    assert relative_error(a[2:], b[2:]) == pytest.approx(1e-9 / 1e-4)  # tiny entries: |a - b| / floor
    assert relative_error(torch.zeros(0), torch.zeros(0)) == 0.0


def test_matrix_has_the_requested_spectral_radius():
    W = matrix_with_spectral_radius(16, 1.7, torch.Generator().manual_seed(5))
    assert float(torch.linalg.eigvals(W).abs().max()) == pytest.approx(1.7)


def test_gradients_vanish_for_small_radius_and_explode_for_relu_with_large_radius():
    vanishing = gradient_norms("tanh", 0.5, distance=20)
    exploding = gradient_norms("relu", 3.0, distance=20)
    assert len(vanishing.norms) == 21
    assert vanishing.norms[20] < 1e-4 * vanishing.norms[0]
    assert all(later < earlier for earlier, later in zip(vanishing.norms, vanishing.norms[1:]))
    assert exploding.norms[20] > 1e3 * exploding.norms[0]
    assert vanishing.factor_per_step() < 1 < exploding.factor_per_step()


def test_factor_per_step_is_the_geometric_mean_ratio():
    assert NormCurve("tanh", 1.0, [8.0, 4.0, 2.0, 1.0]).factor_per_step() == pytest.approx(0.5)
    assert NormCurve("relu", 1.0, [1.0, 0.0]).factor_per_step() == 0.0


def test_command_passes_and_prints_every_parameter():
    result = CliRunner().invoke(command, [])
    assert result.exit_code == 0, result.output
    assert "ok: all 44 errors are below 1e-05" in result.output
    assert "relu emb3 k=2" in result.output


def test_command_exits_1_when_an_error_exceeds_the_tolerance():
    result = CliRunner().invoke(command, ["--tolerance", "1e-13", "--steps", "3"])
    assert result.exit_code == 1
    assert "FAIL" in result.output


def test_command_norms_table():
    result = CliRunner().invoke(command, ["--norms", "--distance", "12", "--radius", "0.5", "--radius", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["d"])
    assert lines[header].split() == ["d", "tanh", "0.5", "tanh", "2", "relu", "0.5", "relu", "2"]
    title = " ".join(lines[:header])  # the columns explained, not a bare `columns: f rho`
    assert "nonlinearity f (tanh or relu)" in title and "spectral radius rho" in title and "vanish" in title
    assert [line.split()[0] for line in lines[header + 1:-1]] == ["0", "1", "2", "3", "5", "10", "12"]
    assert lines[-1].startswith("per step")


@pytest.mark.parametrize("arguments, message", [
    (["--distance", "4"], "there is no --norms: --distance would be ignored; drop it"),
    (["--radius", "2", "--bidirectional"], "there is no --norms: --radius would be ignored; drop it"),
    (["--norms", "--steps", "3", "--eps", "1e-4"],
     "--norms measures gradient norms and checks nothing: --steps --eps would be ignored; drop them"),
    (["--norms", "--tolerance", "1e-3", "--batch-size", "3"], "--batch-size --tolerance would be ignored"),
    # pass 80: it printed T=1 and checked lines of two tokens
    (["--bidirectional", "--steps", "1"], "--steps 1 with --bidirectional: a line of one token has no other token"),
])
def test_command_refuses_the_other_modes_options(cli, arguments, message):
    assert_one_line_error(cli("gradcheck", *arguments), message)


def test_norms_that_outgrow_float64_say_so_rather_than_nan(cli):
    """--radius 1000 printed a ReLU column of nan from d = 0 on, unexplained."""
    result = cli("gradcheck", "--norms", "--radius", "1000", "--distance", "200")
    assert result.exit_code == 0 and "nan" not in result.output, result.output
    assert "overflow" in result.output and "outgrew float64" in result.output


@pytest.mark.parametrize("eps", ["1e-300", "1e-17", "2.2e-16"])
@pytest.mark.parametrize("bidirectional", [(), ("--bidirectional",)])
def test_a_step_float64_cannot_resolve_is_a_bad_option_not_a_failed_check(cli, eps, bidirectional):
    """Pass 44: --eps 1e-300 left every weight where it was, every numeric gradient 0, and 'FAILED: 44 of 44'."""
    assert_one_line_error(cli("gradcheck", "--eps", eps, *bidirectional), f"--eps {float(eps)!r} is below float64's "
                          "spacing near 1 (2.220446049250313e-16)", "measure rounding, not the gradient",
                          "give a step from 2.220446049250313e-16 to 1 (default 1e-05)")
    assert cli("gradcheck", "--eps", "2.220446049250313e-16", "--steps", "2").exit_code == 1  # checked, and failed


def test_a_check_failed_at_a_step_far_from_the_default_names_the_step(cli):
    result = cli("gradcheck", "--eps", "1e-10", "--steps", "3")
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().endswith("(with --eps 1e-10: the finite differences' own error, rounding of order "
                                          "1e-16/eps and truncation of order eps^2, is least near 1e-05)")
    assert "--eps" not in CliRunner().invoke(command, ["--tolerance", "1e-13", "--steps", "3"]).output
