"""The README is the front door: its commands must stay true."""
import re
import shlex
import warnings
from pathlib import Path

import click
import pytest

from lmkit.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def lmkit_lines() -> list[str]:
    lines = []
    for block in code_blocks("bash"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("lmkit "):
                lines.append(line)
    return lines


def test_ci_runs_the_readme_test_command():
    test_command = next(line for block in code_blocks("bash") for line in block.splitlines() if "pytest" in line)
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command.strip() in ci_lines


def test_the_main_job_command_is_lmkit_train_with_no_options():
    first = code_blocks("bash")[0].strip()
    assert first.endswith("&& lmkit train") and "torch==2.13.0" in first


@pytest.mark.parametrize("line", lmkit_lines())
def test_every_tour_command_parses(line):
    """Each `lmkit ...` example names a real command whose options and arguments parse."""
    args = shlex.split(line)[1:]
    command, ctx = app, app.make_context("lmkit", list(args), resilient_parsing=False)
    while isinstance(command, click.Group):
        with warnings.catch_warnings():  # click 8.2 keeps the subcommand in protected_args until 9.0
            warnings.simplefilter("ignore", DeprecationWarning)
            remaining = ctx.protected_args + ctx.args
        name, command, rest = command.resolve_command(ctx, remaining)
        assert command is not None, f"unknown command in {line!r}"
        ctx = command.make_context(name, rest, parent=ctx)


def test_python_api_example_runs(monkeypatch, tmp_path, tiny_zh):
    import lmkit.corpus.catalog

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(lmkit.corpus.catalog, "get_corpus", lambda name: tiny_zh)
    code = code_blocks("python")[0].replace("max_steps=200", "max_steps=5")
    printed = []
    exec(compile(code, "README.md", "exec"), {"print": lambda *a: printed.append(" ".join(map(str, a)))})
    assert (tmp_path / "checkpoints" / "tang-gru" / "model.safetensors").exists()
    assert len(printed) == 1 and printed[0].startswith("春") and len(printed[0]) > 1  # the prompt, then its sample
