"""report.html: one self-contained page (table, notes, plots as data: URIs, samples) that opens without a server."""
from __future__ import annotations

import base64
import html

from lmkit.report.tables import (ADAPTIVE_HEADING, Table, adaptive_regimes, adaptive_table, group_title, model_table,
                                 test_text_note)
from lmkit.report.tokens import TOKENS_STYLE, contrast_pair, tokens_html

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
th { background: #f2f2f2; }
tr.best td, span.best { font-weight: bold; background: #eef7f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f7f7f7; padding: 0.6em; white-space: pre-wrap; }
img { max-width: 100%; }
"""
NUMERIC = {"train time", "valid ppl", "test ppl", "test ppl w/o OOV", "test bits/char", "OOV rate"}


def html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    body = []
    for i, cells in enumerate(table.rows):
        tds = "".join(f'<td class="num">{html.escape(c)}</td>' if h in NUMERIC else f"<td>{html.escape(c)}</td>"
                      for h, c in zip(table.headers, cells))
        body.append(f'<tr class="best">{tds}</tr>' if i in table.best else f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def embedded_image(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}</figcaption></figure>'


def render_html(report, plots: dict[str, bytes]) -> str:
    """The page; `plots`: kind -> the PNG drawn (embedded, so the page does not depend on the files beside it)."""
    groups = report.groups
    parts = [f"<h1>lmkit report: {html.escape(report.title)}</h1>"]
    note = test_text_note(report.rows)
    if note is not None:
        marks = {"": "{}", "code": "<code>{}</code>", "best": '<span class="best">{}</span> (highlighted)'}
        parts.append("<p>" + "".join(marks[style].format(html.escape(text)) for style, text in note) + "</p>")
    parts.append(html_table(model_table(report.rows, with_perplexity=len(groups) == 1)))
    if len(groups) > 1:
        for group in groups:
            parts += [f"<h3>Perplexity: {html.escape(group_title(group))}</h3>", html_table(model_table(group, True))]
    regimes = adaptive_regimes(report.rows)
    if regimes:
        parts += [f"<h3>{html.escape(ADAPTIVE_HEADING)}</h3>",
                  html_table(adaptive_table(report.rows, regimes, with_perplexity=len(groups) == 1))]
    if report.notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in report.notes) + "</ul>")
    for key, caption in (("bits_per_char", "Test bits per character"), ("curves", "Learning curves")):
        if key in plots:
            parts.append(embedded_image(plots[key], caption))
    parts.append(tokens_html(report.rows, contrast_pair(report.rows)))
    samples = [r for r in report.rows if r.sample]
    if samples:
        parts.append("<h2>Samples</h2>")
        parts += [f"<h4>{html.escape(r.name)}</h4><pre>{html.escape(r.sample)}</pre>" for r in samples]
    if report.commands:
        parts.append("<h2>Commands</h2><pre>" + html.escape("\n".join(report.commands)) + "</pre>")
    env = report.environment
    parts.append(f"<p><small>Made {html.escape(report.created)} with lmkit {html.escape(env['lmkit'])}, "
                 f"torch {html.escape(env['torch'])} on {html.escape(env['platform'])} ({env['cpus']} CPUs).</small></p>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(report.title)}</title>'
            f"<style>{STYLE}{TOKENS_STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
