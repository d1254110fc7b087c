"""report.md: the comparison table(s), the fairness notes, the plots and the samples."""
from __future__ import annotations

from pathlib import Path

from lmkit.report.tables import (ADAPTIVE_HEADING, Table, adaptive_regimes, adaptive_table, group_title, model_table,
                                 test_text_note)
from lmkit.report.tokens import contrast_pair, difference_summary


def markdown_table(table: Table) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(table.headers) + " |", "|" + "|".join("---" for _ in table.headers) + "|"]
    for i, cells in enumerate(table.rows):
        cells = [cell(c) for c in cells]
        if i in table.best:
            cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(report, plots: dict[str, Path]) -> str:
    groups = report.groups
    out = [f"# lmkit report: {report.title}", ""]
    note = test_text_note(report.rows)
    if note is not None:
        marks = {"": "{}", "code": "`{}`", "best": "**{}** (bold)"}
        out += ["".join(marks[style].format(text) for style, text in note), ""]
    out += markdown_table(model_table(report.rows, with_perplexity=len(groups) == 1)) + [""]
    if len(groups) > 1:
        for group in groups:
            out += [f"### Perplexity: {group_title(group)}", ""]
            out += markdown_table(model_table(group, with_perplexity=True)) + [""]
    regimes = adaptive_regimes(report.rows)
    if regimes:
        out += [f"### {ADAPTIVE_HEADING}", ""]
        out += markdown_table(adaptive_table(report.rows, regimes, with_perplexity=len(groups) == 1)) + [""]
    out += [f"- {note}" for note in report.notes] + ([""] if report.notes else [])
    for key, caption in (("bits_per_char", "Test bits per character"), ("curves", "Learning curves")):
        if key in plots:
            out += [f"![{caption}]({plots[key].name})", ""]
    if "tokens" in plots:
        pair = contrast_pair(report.rows)
        out += ["## Where the models differ", "", "The start of the test text, each token coloured by each model's "
                "surprisal (-log2 p); report.html has the numbers on hover."
                + (f" {difference_summary(pair)}" if pair else ""), "", f"![Token surprisal]({plots['tokens'].name})", ""]
    samples = [r for r in report.rows if r.sample]
    if samples:
        out += ["## Samples", ""]
        for row in samples:
            out += [f"**{row.name}**", "", "```text", row.sample, "```", ""]
    if report.commands:
        out += ["## Commands", "", "```sh", *report.commands, "```", ""]
    env = report.environment
    out += [f"Made {report.created} with lmkit {env['lmkit']}, torch {env['torch']}, Python {env['python']} on "
            f"{env['platform']} ({env['cpus']} CPUs). All numbers are in report.json.", ""]
    return "\n".join(out)
