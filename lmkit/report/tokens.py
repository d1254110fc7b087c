"""The report's token view: a passage of the test text, each token coloured by a model's surprisal
(-log2 p, bits) and by the difference between two models of one vocabulary (where one beats the other).

    passage = passage_surprisal(tokenizer, test_text, scores, backward)    # [[(piece, bits), ...] per line]
    pair = contrast_pair(rows)                                             # (neural row, N-gram row) or None
    html = tokens_html(rows, pair)                                          # spans with title= tooltips
    draw_tokens_png(rows, pair, name)                                       # the same as a picture (PNG bytes)

The passage is the first lines of the test text up to PASSAGE_TOKENS tokens; the `</s>` ending each
line is shown as ⏎. A backward model's surprisals are turned around to stand under their tokens.
"""
from __future__ import annotations

import html
import math

import numpy as np

PASSAGE_TOKENS = 160      # tokens of the test text shown (whole lines, at least one)
PASSAGE_LINES = 12        # and at most this many lines
END_MARK = "\u23ce"       # ⏎ stands for each line's </s>
LN2 = math.log(2.0)


def passage_surprisal(tokenizer, text, scores, backward: bool = False) -> list[list[tuple[str, float]]]:
    """Each of the first lines of `text` as (piece, bits) pairs, its `</s>` last; from `scores` (ModelScores of
    the whole text, stream order)."""
    lines, at, shown, tokenizer = [], 0, 0, text.reader(tokenizer)
    for line in text.lines():
        pieces = tokenizer.split(line)
        count = len(tokenizer.encode_line(line)) + 1            # the line's ids and its </s>
        bits = [-float(v) / LN2 for v in scores.logp[at:at + count]]
        if backward:
            bits = bits[:-1][::-1] + bits[-1:]                   # the reversed line's tokens back in reading order
        if len(pieces) + 1 != count:                             # a tokenizer whose pieces are not its ids: no view
            return []
        lines.append(list(zip(pieces + [END_MARK], bits)))
        at, shown = at + count, shown + count
        if shown >= PASSAGE_TOKENS or len(lines) >= PASSAGE_LINES:
            break
    return lines


def contrast_pair(rows: list) -> tuple | None:
    """The best neural model and the best N-gram (lowest test NLL) sharing a vocabulary, a test text and a direction:
    a token of a backward model is predicted from the text after it, and coloured against an N-gram's prediction
    from the text before it, it would not say where either is surprised by the same thing."""
    def best(candidates):
        return min(candidates, key=lambda r: r.test["nll"], default=None)

    neural = sorted((r for r in rows if r.kind not in ("ngram", "interpolated") and r.passage),
                    key=lambda r: r.test["nll"])
    for model in neural:
        ngram = best([r for r in rows if r.kind == "ngram" and r.passage and r.token_unit == model.token_unit
                      and r.test_digest == model.test_digest and r.backward == model.backward])
        if ngram is not None:
            return model, ngram
    return None


def differences(pair) -> list[list[tuple[str, float, float, float]]]:
    """(piece, bits of the first, bits of the second, second - first) per token: > 0 where the first is better."""
    first, second = pair
    return [[(p, a, b, b - a) for (p, a), (_, b) in zip(la, lb)] for la, lb in zip(first.passage, second.passage)]


def surprisal_scale(rows: list) -> float:
    """The bits at which the colour saturates: the 95th percentile over every shown token (at least 1)."""
    values = [bits for r in rows for line in r.passage for _, bits in line]
    return max(float(np.percentile(values, 95)), 1.0) if values else 1.0


def heat(bits: float, scale: float) -> str:
    """White (0 bits) to orange-red (>= scale)."""
    x = min(max(bits / scale, 0.0), 1.0)
    return f"rgb(255,{int(255 - 155 * x)},{int(255 - 215 * x)})"


def diverging(delta: float, scale: float) -> str:
    """Green where the first model is better (delta > 0), purple where it is worse, white where equal."""
    x = min(abs(delta) / scale, 1.0)
    return f"rgb({int(255 - 200 * x)},{int(255 - 60 * x)},{int(255 - 160 * x)})" if delta > 0 else \
        f"rgb({int(255 - 70 * x)},{int(255 - 190 * x)},{int(255 - 40 * x)})"


def shown_piece(piece: str, kind: str) -> str:
    """A piece as it reads in the passage: spm's ▁ as a space, a space between words."""
    text = piece.replace("\u2581", " ") if kind.startswith("spm") else piece
    return text + " " if kind.startswith("word") and piece != END_MARK else text


def span(text: str, colour: str, title: str) -> str:
    shown = html.escape(text)
    if text == END_MARK:
        return f'<span class="eol" title="{html.escape(title)}" style="background:{colour}">{shown}</span><br>'
    return f'<span style="background:{colour}" title="{html.escape(title)}">{shown}</span>'


def surprisal_block(row, scale: float) -> str:
    spans = [span(shown_piece(piece, row.tokenizer), heat(bits, scale), f"{piece}: {bits:.2f} bits")
             for line in row.passage for piece, bits in line]
    return f'<h4>{html.escape(row.name)}</h4><p class="tokens">{"".join(spans)}</p>'


def difference_block(pair, scale: float) -> str:
    first, second = pair
    tokens = [token for line in differences(pair) for token in line]
    spans = [span(shown_piece(piece, first.tokenizer), diverging(delta, scale),
                  f"{piece}: {first.name} {a:.2f} bits, {second.name} {b:.2f} bits "
                  f"({first.name} {'better' if delta > 0 else 'worse'} by {abs(delta):.2f})")
             for piece, a, b, delta in tokens]
    return (f"<h3>{html.escape(first.name)} against {html.escape(second.name)}</h3>"
            f"<p>{html.escape(difference_summary(pair))} Green: {html.escape(first.name)} is less surprised; "
            f"purple: {html.escape(second.name)} is.</p>" f'<p class="tokens">{"".join(spans)}</p>')


def difference_summary(pair) -> str:
    first, second = pair
    deltas = [delta for line in differences(pair) for *_, delta in line]
    wins = sum(d > 0 for d in deltas)
    saved = sum(deltas)  # bits the second spends beyond the first: > 0 where the first spends fewer
    return (f"{first.name} gives {wins} of the {len(deltas)} tokens a higher probability than {second.name}, and over "
            f"the passage spends {abs(saved):.1f} bits {'fewer' if saved >= 0 else 'more'} than it.")


TOKENS_STYLE = """
p.tokens { font-family: ui-monospace, monospace; line-height: 1.9; white-space: pre-wrap; }
p.tokens span { padding: 0.1em 0; border-radius: 2px; }
p.tokens span.eol { color: #999; }
"""


def tokens_html(rows: list, pair) -> str:
    """The token view's section of report.html ('' when no model has a passage)."""
    shown = [r for r in rows if r.passage]
    if not shown:
        return ""
    scale = surprisal_scale(shown)
    parts = ["<h2>Where the models differ</h2>",
             f"<p>Each token of the start of the test text, coloured by the model's surprisal (-log<sub>2</sub> p, "
             f"white 0 bits to red {scale:.1f} bits or more); hover for the numbers.</p>"]
    parts += [surprisal_block(row, scale) for row in shown]
    if pair is not None:
        parts.append(difference_block(pair, scale / 2))
    return "\n".join(parts)
