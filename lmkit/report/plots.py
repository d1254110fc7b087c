"""The report's PNG plots, drawn with matplotlib's Agg canvas (no display, no pyplot global state).

    bits_per_char.png    test bits per character of every model (comparable across vocabularies)
    learning_curves.png  validation perplexity (bits/char when vocabularies differ) against tokens
                         seen and against wall-clock time, one line per trained model; the best
                         N-gram (counted, not trained: no curve) drawn as a dashed reference line

Each is drawn into memory (PNG bytes); the report writes its files only once everything is drawn, so a
report stopped while drawing (its slowest part) leaves the folder as it was.
"""
from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

from lmkit.report.tables import best_rows
from lmkit.report.tokens import contrast_pair
from lmkit.report.tokens_plot import TOKENS_FILE, draw_tokens_png, fonts_for, glyph_lines_left_out, png_bytes

DPI = 120
BITS_PER_CHAR_FILE = "bits_per_char.png"
CURVES_FILE = "learning_curves.png"
PLOT_FILES = (BITS_PER_CHAR_FILE, CURVES_FILE, TOKENS_FILE)


def draw_plots(report) -> dict[str, tuple[str, bytes]]:
    """The report's plots, drawn: kind -> (file name, PNG bytes); a plot with nothing to show is left out."""
    with glyph_lines_left_out():  # tight_layout measures the charts' text too
        return drawn_plots(report)


def drawn_plots(report) -> dict[str, tuple[str, bytes]]:
    drawn = {}
    if charted(report.rows):
        drawn["bits_per_char"] = (BITS_PER_CHAR_FILE, bits_per_char_chart(report.rows))
    curves = learning_curves(report)
    if curves is not None:
        drawn["curves"] = (CURVES_FILE, curves)
    tokens = draw_tokens_png(report.rows, contrast_pair(report.rows), TOKENS_FILE)
    if tokens is not None:
        drawn["tokens"] = (TOKENS_FILE, tokens)
    return drawn


def charted(rows) -> list:
    """The rows with a finite test bits/char to draw (not one of infinite figures: ModelReport.zero_probability)."""
    return [r for r in rows if r.test["bits_per_char"] is not None and not r.zero_probability]


def bits_per_char_chart(rows) -> bytes:
    """Bars of test bits/char, the table's best in green: never a model flattered by tokens outside its vocabulary
    (tables.best_rows), which the lowest bar can be."""
    best = {id(rows[i]) for i in best_rows(rows)}
    rows = charted(rows)
    values = [r.test["bits_per_char"] for r in rows]
    one_text = len({r.test_digest for r in rows}) == 1  # else each bar names its text: bars of two texts differ
    names = [r.name if one_text else f"{r.name} ({r.test_text})" for r in rows]  # in the text as much as the model
    figure = Figure(figsize=(7.5, 0.9 + 0.32 * len(rows)), dpi=DPI)
    axes = figure.add_subplot()
    colors = ["#2a7f62" if id(r) in best else "#5b7db1" for r in rows]
    positions = range(len(rows))
    axes.barh(list(positions), values, color=colors)
    families = fonts_for(names + [rows[0].test_text], BITS_PER_CHAR_FILE)  # 唐诗-lstm, not boxes
    axes.set_yticks(list(positions), names, fontfamily=families)
    axes.invert_yaxis()  # first model on top, as in the table
    for y, value in zip(positions, values):
        axes.text(value, y, f" {value:.3f}", va="center", fontsize=8)
    axes.set_xlim(0, max(values) * 1.15)
    axes.set_xlabel("test bits per character (lower is better)")
    title = (f"{rows[0].test_text}: bits per character" if one_text else
             "bits per character, each model on the test text named beside it (compare only within one text)")
    axes.set_title(title, fontfamily=families)
    figure.tight_layout()
    return png_bytes(figure)


def plain_log_scale(axes) -> None:
    """A log y axis labelled in plain numbers (1.25, 300): matplotlib's own labels are mathtext (1.4×10^0), which
    looks for the STIX fonts and printed a findfont line for each one missing to every report's stderr."""
    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    axes.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def curve_metric(report) -> tuple[str, str] | None:
    """Which validation number to plot: perplexity when comparable, else bits/char (if every curve has it)."""
    if len(report.groups) == 1:
        return "valid_ppl", "validation perplexity"
    trained = [r for r in report.rows if len(r.curve) >= 2]
    if all("valid_bpc" in point for r in trained for point in r.curve):
        return "valid_bpc", "validation bits per character"
    return None


def reference_value(rows, key: str) -> tuple[str, float] | None:
    """The best N-gram (it has no learning curve), as a horizontal reference line: only where every curve drawn
    was validated on the text it was (the same corpus, so the same test text), or it would sit among the curves of
    another text."""
    field = {"valid_ppl": "perplexity", "valid_bpc": "bits_per_char"}[key]
    texts = {r.test_digest for r in rows if len(r.curve) >= 2}
    flat = [(r.valid[field], r.name) for r in rows if r.kind == "ngram" and r.valid and r.valid.get(field) is not None
            and texts == {r.test_digest}]
    if not flat:
        return None
    value, name = min(flat)
    return name, value


def learning_curves(report) -> bytes | None:
    trained = [r for r in report.rows if len(r.curve) >= 2]
    metric = curve_metric(report)
    if not trained or metric is None:
        return None
    key, label = metric
    figure = Figure(figsize=(11, 4.2), dpi=DPI)
    panels = figure.subplots(1, 2, sharey=True)
    reference = reference_value(report.rows, key)
    families = fonts_for([r.name for r in trained] + [report.title] + ([reference[0]] if reference else []),
                         CURVES_FILE)
    for axes, x_key, x_label in ((panels[0], "tokens", "training tokens seen"), (panels[1], "time", "wall-clock seconds")):
        for row in trained:
            points = [p for p in row.curve if x_key in p and key in p]
            axes.plot([p[x_key] for p in points], [p[key] for p in points], marker="o", markersize=3, label=row.name)
        if reference is not None:
            axes.axhline(reference[1], color="gray", linestyle="--", linewidth=1, label=f"best N-gram: {reference[0]}")
        axes.set_xlabel(x_label)
        axes.grid(alpha=0.3)
    if key == "valid_ppl":
        plain_log_scale(panels[0])
    panels[0].set_ylabel(label)
    panels[1].legend(prop={"size": 8, "family": families})
    figure.suptitle(f"{report.title}: {label} during training", fontfamily=families)
    figure.tight_layout()
    return png_bytes(figure)
