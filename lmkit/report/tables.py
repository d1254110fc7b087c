"""The report's tables as plain strings, shared by the Markdown and HTML renderers."""
from __future__ import annotations

from dataclasses import dataclass

from lmkit.errors import human_bytes

SAMPLE_CHARS = 48


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    best: list[int]          # the rows marked in bold (best_rows)


def human_count(n: int | None) -> str:
    if n is None:
        return "-"
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.3g}{suffix}"
    return str(n)


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return "<1s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    return f"{int(seconds // 60)}m {int(seconds % 60):02d}s"


def number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if value >= 1e5:
        return f"{value:.3g}"
    return f"{value:.{digits}f}"


def excerpt(text: str, limit: int = SAMPLE_CHARS) -> str:
    """The sample on one line (line breaks shown as ⏎), cut to `limit` characters."""
    flat = " ⏎ ".join(line.strip() for line in text.split("\n"))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def size_cell(row) -> str:
    """"lstm 1 x 384, bf16; 730k params, 2.9 MiB": the architecture (if known), the weights, the bytes on disk."""
    disk = human_bytes(row.disk_bytes)
    size = f"{human_count(row.parameters)} params, {disk}" if row.parameters else disk
    return f"{row.architecture}; {size}" if row.architecture else size


def model_table(rows, with_perplexity: bool) -> Table:
    """One line per model; perplexity columns only when `with_perplexity` (rows already known comparable)."""
    headers = ["model", "tokenizer (V)", "architecture; params, size", "train time"]
    if with_perplexity:
        headers += ["valid ppl", "test ppl", "test ppl w/o OOV"]
    headers += ["test bits/char", "OOV rate", "sample"]
    lines = []
    for row in rows:
        cells = [row.name, f"{row.tokenizer} ({row.vocab_size:,})", size_cell(row), human_seconds(row.train_seconds)]
        if with_perplexity:
            valid = row.valid["perplexity"] if row.valid else None
            cells += [number(valid), number(row.test["perplexity"]), number(row.test["perplexity_without_oov"])]
        cells += [number(row.test["bits_per_char"], 4), f"{100 * row.test['oov_rate']:.2f}%", excerpt(row.sample)]
        lines.append(cells)
    return Table(headers, lines, best_rows(rows))


def best_rows(rows) -> list[int]:
    """The rows with the lowest test bits/char among the models that score every character. A token outside a
    model's vocabulary is scored as <unk>, which does not pay for spelling the word, so such a model reads lower
    than it is; only when every model has OOV tokens do they all compete, and never one with most of the text
    outside its vocabulary (ModelReport.mostly_unknown) or one that gives test tokens probability zero. None where the models were tested on different texts:
    their bits/char are not comparable."""
    if len({r.test_digest for r in rows}) > 1:
        return []
    scored = [(i, r.test["bits_per_char"]) for i, r in enumerate(rows)
              if r.test["bits_per_char"] is not None and not r.mostly_unknown and not r.zero_probability]
    exact = [(i, bits) for i, bits in scored if not rows[i].test["oov"]]
    candidates = exact or scored
    lowest = min((bits for _, bits in candidates), default=None)
    return [i for i, bits in candidates if bits == lowest]


def group_title(group) -> str:
    first = group[0]
    return f"{first.tokenizer}, vocabulary of {first.vocab_size:,} tokens, tested on {first.test_text}"


ADAPTIVE_NAMES = {"cache": "neural cache", "dynamic": "dynamic eval", "memory": "kNN memory"}
ADAPTIVE_HEADING = ("Adaptive evaluation (separate regimes: the neural cache and dynamic eval adapt to the test text "
                    "already read, never to text ahead; the kNN memory reads the train text at every prediction; "
                    "each row's settings say which were tuned, on the valid split)")


def adaptive_table(rows, regimes: list[str], with_perplexity: bool) -> Table:
    """The adaptive regimes' figures, a table apart from the static ones: they read more than the model."""
    headers = ["model", "static test bits/char, one stream"]  # as the regimes read it (lmkit.evaluate.adaptive)
    for regime in regimes:
        name = ADAPTIVE_NAMES[regime]
        headers += ([f"{name} test ppl"] if with_perplexity else []) + [f"{name} test bits/char", f"{name} settings"]
    lines = []
    for row in rows:
        static = next((figures.get("static") for figures in row.adaptive.values() if figures), None)
        cells = [row.name, number(static["bits_per_char"], 4) if static else "n/a"]
        for regime in regimes:
            figures = row.adaptive.get(regime)
            ev = figures["evaluation"] if figures else None
            cells += ([number(ev["perplexity"]) if ev else "n/a"] if with_perplexity else [])
            cells += [number(ev["bits_per_char"], 4) if ev else "n/a", regime_settings(figures)]
        lines.append(cells)
    return Table(headers, lines, [])


def regime_settings(figures: dict | None) -> str:
    """What a regime used, and which of its settings were tuned ("size 100, theta 0.3, lambda 0.1; theta and lambda
    tuned"); the text they were tuned on is the heading's."""
    from lmkit.evaluate.adaptive import chosen_settings, tuned_names

    if not figures:
        return "not supported by this model"
    return chosen_settings(figures) + (f"; {tuned_names(figures)} tuned" if figures.get("tuned") else "; none tuned")


def adaptive_regimes(rows) -> list[str]:
    """The regimes some row was evaluated in, in a fixed order."""
    return [regime for regime in ADAPTIVE_NAMES if any(regime in row.adaptive for row in rows)]


def test_text_note(rows) -> list[tuple[str, str]] | None:
    """What report.md and report.html say first where every model read one test text: the text, the figures'
    definitions and what the best row's mark means, as (style, text) pieces, style "" (plain), "code" or "best"
    (each page writes them its own way). None where the models read different texts (the notes say which)."""
    if len({r.test_digest for r in rows}) != 1:
        return None
    first = rows[0]
    return [("", f"Test text: {first.test_text} ({first.test['chars']:,} characters, sha256 {first.test_digest[:12]}…). "
                 "Perplexity = exp(NLL / predicted tokens), each line's "), ("code", "</s>"),
            ("", " predicted, "), ("code", "<s>"),
            ("", " never; bits/char = NLL in bits / characters of the test text (newlines counted). "),
            ("best", "Marked best"), ("", ": lowest bits/char among the models without OOV tokens, where any has none (an "
                                         "OOV token scored as "), ("code", "<unk>"),
            ("", " does not pay for spelling its word).")]
