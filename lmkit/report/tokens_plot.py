"""tokens.png: the report's token view as a picture for report.md (matplotlib Agg, no display).

One panel per model (tokens on a surprisal heat scale) and, when there is a pair to contrast, a panel of
their difference; characters laid out on a fixed grid (CJK characters two cells wide), wrapped at COLUMNS.
"""
from __future__ import annotations

import contextlib
import io
import re
import warnings

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from lmkit.report.tokens import END_MARK, differences, diverging, heat, shown_piece, surprisal_scale
from lmkit.text.display_width import display_width

TOKENS_FILE = "tokens.png"
COLUMNS = 100
DPI = 120
INCHES_PER_COLUMN = 0.1
INCHES_PER_ROW = 0.26
MISSING_SHOWN = 10  # characters named in the warning when no font has them
PLACEHOLDER_FONT = re.compile(r"last ?resort", re.IGNORECASE)  # matplotlib ships it: a box for every character


def cells(text: str) -> int:
    """Grid columns of a token: its display width, at least one (a token of a lone combining mark gets a cell)."""
    return max(1, display_width(text))


def layout(tokens: list[tuple[str, str]]) -> list[tuple[int, int, str, str]]:
    """(row, column, text, colour) for each (text, colour) token, wrapped at COLUMNS; ⏎ ends a row."""
    placed, row, column = [], 0, 0
    for text, colour in tokens:
        width = cells(text)
        if column + width > COLUMNS and column > 0:
            row, column = row + 1, 0
        placed.append((row, column, text, colour))
        column += width
        if text == END_MARK:
            row, column = row + 1, 0
    return placed


def panels(rows: list, pair) -> list[tuple[str, list[tuple[str, str]]]]:
    """(title, [(text, colour), ...]) for each model and the pair's difference."""
    shown = [r for r in rows if r.passage]
    scale = surprisal_scale(shown)
    out = [(f"{r.name}: surprisal, white 0 to red {scale:.1f}+ bits",
            [(shown_piece(p, r.tokenizer), heat(b, scale)) for line in r.passage for p, b in line]) for r in shown]
    if pair is not None:
        first, second = pair
        out.append((f"{first.name} vs {second.name}: green the first better, purple the second",  # each name once:
                    [(shown_piece(p, first.tokenizer), diverging(d, scale / 2))  # long names ran off the edge
                     for line in differences(pair) for p, _, _, d in line]))
    return out


def font_families(texts) -> tuple[list[str], list[str]]:
    """(families for the token text, the characters none of them has). Monospace first; where it lacks a
    character (Chinese with DejaVu), the installed fonts that have it are added as matplotlib's fallbacks."""
    from matplotlib import font_manager, ft2font

    def charmap(path: str) -> set[int]:
        try:
            return set(ft2font.FT2Font(path).get_charmap())
        except (OSError, RuntimeError, ValueError):  # a font file FreeType cannot read
            return set()

    wanted = {ord(c) for text in texts for c in text if c.isprintable() and not c.isspace()}
    missing = wanted - charmap(font_manager.findfont("monospace"))
    families = ["monospace"]
    for entry in font_manager.fontManager.ttflist if missing else ():
        if PLACEHOLDER_FONT.search(entry.name):  # maps every code point to a box: no fallback at all
            continue
        has = missing & charmap(entry.fname)
        if has and entry.name not in families:
            families.append(entry.name)
            missing -= has
        if not missing:
            break
    return families, sorted(chr(c) for c in missing)


def fonts_for(texts: list[str], name: str) -> list[str]:
    """The font families that draw `texts` in the picture `name` (font_families), with a warning naming the
    characters no installed font has: every picture that shows the user's text (tokens, model names) says so."""
    families, missing = font_families(texts)
    if missing:
        shown = "".join(missing[:MISSING_SHOWN]) + ("..." if len(missing) > MISSING_SHOWN else "")
        warnings.warn(f"{name}: no installed font has {len(missing):,} of the text's characters ({shown}); "
                      "they are drawn as boxes (report.html shows them; installing a CJK font such as "
                      "Noto Sans CJK fixes the picture)", stacklevel=3)
    return families


@contextlib.contextmanager
def glyph_lines_left_out():
    """matplotlib's warning line for each glyph no font has, wherever text is measured or drawn, left out: fonts_for
    names the missing characters once a picture."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        yield


def rgb(colour: str) -> tuple[float, float, float]:
    r, g, b = (int(v) / 255 for v in colour[4:-1].split(","))
    return r, g, b


def draw_tokens_png(rows: list, pair, name: str) -> bytes | None:
    """The tokens picture as PNG bytes (`name`: the file it is for, named in a warning), or None with no text."""
    drawn = [(title, layout(tokens)) for title, tokens in panels(rows, pair)]
    if not drawn:
        return None
    families = fonts_for([text for _, placed in drawn for _, _, text, _ in placed], name)
    heights = [1.6 + max(r for r, *_ in placed) + 1 for _, placed in drawn]
    figure = Figure(figsize=(COLUMNS * INCHES_PER_COLUMN + 0.4, INCHES_PER_ROW * sum(heights)), dpi=DPI)
    top = 0.0
    for (title, placed), height in zip(drawn, heights):
        axes = figure.add_axes((0.02, 1 - (top + height) / sum(heights), 0.96, height / sum(heights)))
        axes.set_xlim(0, COLUMNS)
        axes.set_ylim(height - 0.6, -1.0)
        axes.axis("off")
        axes.text(0, -0.6, title, fontsize=10, fontweight="bold", va="center")
        for row, column, text, colour in placed:
            axes.add_patch(Rectangle((column, row + 0.1), cells(text), 0.8, facecolor=rgb(colour), linewidth=0))
            axes.text(column, row + 0.5, text, fontsize=9.5, family=families, va="center",
                      color="#999999" if text == END_MARK else "#222222")
        top += height
    return png_bytes(figure)


def png_bytes(figure: Figure) -> bytes:
    """The figure drawn as PNG, in memory (written with the report's other files, all at once)."""
    buffer = io.BytesIO()
    with glyph_lines_left_out():
        figure.savefig(buffer, format="png")
    return buffer.getvalue()
