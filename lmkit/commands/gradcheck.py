"""`lmkit gradcheck`: check ScratchRNN's hand-written BPTT, or (--norms) watch gradients vanish and explode."""
from __future__ import annotations

import math

import click

from lmkit.commands.common import refuse_ignored, threads_option
from lmkit.commands.options import number
from lmkit.config.settings import LARGEST_SEED
from lmkit.errors import ConfigError
from lmkit.models.neural.gradcheck_sizes import (CHECK, CHECK_EPS, CHECK_STEPS, CHECK_TOLERANCE, NORMS,
                                                 NORMS_DISTANCE, NORMS_RADII, SMALLEST_EPS)

NORM_DISTANCES = (0, 1, 2, 3, 5, 10, 15, 20, 25, 30, 40, 50, 75, 100)
CHECK_ONLY = ("steps", "batch_size", "eps", "tolerance")  # the check's settings, which --norms never reads
NORMS_ONLY = ("distance", "radii")


def print_checks(results, tolerance: float, title: str) -> int:
    """One row per (case, parameter); returns how many errors exceed `tolerance`."""
    click.echo(title)
    click.echo(f"{'case':<20} {'param':<6} {'shape':<8} {'vs numeric':>11} {'vs autograd':>12}")
    failures = 0
    for r in results:
        shape = "x".join(map(str, r.shape))
        flag = "  FAIL" if r.worst > tolerance else ""
        failures += r.worst > tolerance
        click.echo(f"{r.case.label():<20} {r.name:<6} {shape:<8} {r.numeric_error:>11.1e} {r.autograd_error:>12.1e}{flag}")
    return failures


def print_norms(curves, title: str) -> None:
    click.echo(title)
    click.echo(f"{'d':>8} " + " ".join(f"{c.nonlinearity + ' ' + format(c.spectral_radius, 'g'):>10}" for c in curves))
    distance = len(curves[0].norms) - 1
    for d in (d for d in NORM_DISTANCES if d < distance):
        click.echo(f"{d:>8} " + " ".join(shown(c.norms[d], ".2e") for c in curves))
    click.echo(f"{distance:>8} " + " ".join(shown(c.norms[-1], ".2e") for c in curves))
    click.echo(f"{'per step':>8} " + " ".join(shown(c.factor_per_step(), ".3f") for c in curves))
    if any(not math.isfinite(n) for c in curves for n in c.norms):
        click.echo(f"overflow: a network's states or gradients outgrew float64 ({OVERFLOW_WHY})")


OVERFLOW_WHY = "with rho > 1 a ReLU network's states grow without bound going forward, as its gradients do going back"


def shown(value: float, spec: str) -> str:
    """A norm or factor in its column; `overflow` where float64 could not hold it (inf, or the nan inf makes)."""
    return f"{format(value, spec):>10}" if math.isfinite(value) else f"{'overflow':>10}"


def norms_title(sizes: dict) -> str:
    return (f"How the gradient of the last step's loss L reaches back d steps: ||dL/ds_(T-1-d)|| for a random "
            f"Elman RNN (H={sizes['hidden_size']}, K={sizes['vocab_size']}).\n"
            "Each column is one network: its nonlinearity f (tanh or relu) and the spectral radius rho of its "
            "recurrent matrix W\n(rho < 1: gradients vanish with distance; rho > 1: they may explode). "
            "Rows: distance d; last row: the mean factor per step.")


@click.command("gradcheck")
@click.option("--norms", is_flag=True, help="Show how ||dL/ds_k|| shrinks or grows with distance instead of checking.")
@click.option("--hidden-size", type=number(int, low=1, high=4096), default=None, help=f"Hidden units [check: {CHECK.hidden_size}, --norms: {NORMS.hidden_size}].")
@click.option("--vocab-size", type=number(int, low=5, high=4096), default=None, help=f"Vocabulary size, specials included [check: {CHECK.vocab_size}, --norms: {NORMS.vocab_size}].")
@click.option("--steps", type=number(int, low=1, high=10_000), default=CHECK_STEPS, show_default=True, help="Time steps of the check.")
@click.option("--batch-size", type=number(int, low=1, high=4096), default=CHECK.batch_size, show_default=True, help="Sequences in the check.")
@click.option("--eps", type=number(float, low=0, low_open=True, high=1), default=CHECK_EPS, show_default=True,
              help="Finite-difference step.")
@click.option("--tolerance", type=number(float, low=0, low_open=True, high=1), default=CHECK_TOLERANCE, show_default=True,
              help="Largest relative error that passes.")
@click.option("--distance", type=number(int, low=1, high=10_000), default=NORMS_DISTANCE, show_default=True,
              help="--norms: steps back from the loss.")
@click.option("--radius", "radii", type=number(float, low=0, low_open=True, high=1e6), multiple=True,
              default=NORMS_RADII, show_default=True, help="--norms: spectral radii of W (repeat the option).")
@click.option("--seed", type=number(int, low=0, high=LARGEST_SEED), default=0, show_default=True, help="Seed of the random instance.")
@click.option("--bidirectional", is_flag=True,
              help="Check the bidirectional Elman RNN's BPTT (both directions, the primed weights U' W' b' V').")
@threads_option
@click.pass_context
def command(ctx, norms, hidden_size, vocab_size, steps, batch_size, eps, tolerance, distance, radii, seed, bidirectional):
    """Compare hand-written BPTT with centred finite differences and with autograd (float64).

    Runs tanh and relu, one-hot and embedding inputs, full and truncated BPTT, and
    exits with status 1 if any parameter's max relative error exceeds --tolerance.
    --bidirectional checks the bidirectional (cloze) Elman RNN instead: a forward and a
    backward reader with their own weights, each token predicted from both sides.
    """
    from lmkit.models.neural import gradcheck

    if norms and bidirectional:
        raise ConfigError("--norms and --bidirectional do not go together: --norms watches the one-directional RNN")
    if norms:
        refuse_ignored(ctx, CHECK_ONLY, "--norms measures gradient norms and checks nothing")
        sizes = {"hidden_size": hidden_size or NORMS.hidden_size, "vocab_size": vocab_size or NORMS.vocab_size}
        curves = [gradcheck.gradient_norms(f, r, distance=distance, seed=seed, **sizes) for f in ("tanh", "relu") for r in radii]
        print_norms(curves, norms_title(sizes))
        return
    refuse_ignored(ctx, NORMS_ONLY, "there is no --norms")
    if eps < SMALLEST_EPS:
        raise ConfigError(f"--eps {eps!r} is below float64's spacing near 1 ({SMALLEST_EPS!r}): the check's weights, "
                          f"of order 1, move by it a float64 step or not at all, so its finite differences would "
                          f"measure rounding, not the gradient; give a step from {SMALLEST_EPS!r} to 1 (default "
                          f"{CHECK_EPS:g})")
    sizes = {"hidden_size": hidden_size or CHECK.hidden_size, "vocab_size": vocab_size or CHECK.vocab_size}
    cases, check = gradcheck.default_cases(), gradcheck.check_case
    if bidirectional:
        cases, check = gradcheck.bidirectional_cases(), gradcheck.check_bidirectional
    results = [r for case in cases
               for r in check(case, steps=steps, batch_size=batch_size, eps=eps, seed=seed, **sizes)]
    which = "bidirectional BPTT" if bidirectional else "BPTT"
    failures = print_checks(results, tolerance, f"max relative error of {which} gradients, float64, eps={eps:g}, "
                                                f"B={batch_size} T={steps} H={sizes['hidden_size']} K={sizes['vocab_size']}")
    if failures:
        own = "" if eps == CHECK_EPS else (f" (with --eps {eps:g}: the finite differences' own error, rounding of "
                                             f"order 1e-16/eps and truncation of order eps^2, is least near "
                                             f"{CHECK_EPS:g})")
        click.echo(f"FAILED: {failures} of {len(results)} errors exceed {tolerance:g}{own}", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"ok: all {len(results)} errors are below {tolerance:g}")
