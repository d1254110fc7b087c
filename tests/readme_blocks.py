"""The README's code blocks and the `lmkit ...` lines in them: one reading, shared by the test that parses
every line (test_readme.py) and the one that runs the tour (test_readme_tour.py)."""
from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return [block for _, block in sectioned_blocks(language)]


def sectioned_blocks(language: str) -> list[tuple[str, str]]:
    """(title of the `## ` section it is in, block text) for every ```language block, in README order."""
    blocks = []
    for match in re.finditer(rf"```{language}\n(.*?)```", README, flags=re.S):
        titles = re.findall(r"^## (.+)$", README[:match.start()], flags=re.M)
        blocks.append((titles[-1] if titles else "", match.group(1)))
    return blocks


def lmkit_lines(blocks: list[str] | None = None) -> list[str]:
    """The `lmkit ...` command lines of `blocks` (default: every bash block), comments cut off, in order."""
    lines = []
    for block in code_blocks("bash") if blocks is None else blocks:
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("lmkit "):
                lines.append(line)
    return lines


def parse(line: str) -> tuple[str, click.Context]:
    """(command name as typed, e.g. "vocab build"; its parsed click context) of an `lmkit ...` line;
    click's error (exit code 2 when run) if a command, option or argument does not parse."""
    from lmkit.cli import app

    names, args = [], shlex.split(line)[1:]
    command, ctx = app, app.make_context("lmkit", list(args), resilient_parsing=False)
    while isinstance(command, click.Group):
        with warnings.catch_warnings():  # click 8.2 keeps the subcommand in protected_args until 9.0
            warnings.simplefilter("ignore", DeprecationWarning)
            remaining = ctx.protected_args + ctx.args
        name, command, rest = command.resolve_command(ctx, remaining)
        assert command is not None, f"unknown command in {line!r}"
        names.append(name)
        ctx = command.make_context(name, rest, parent=ctx)
    return " ".join(names), ctx
