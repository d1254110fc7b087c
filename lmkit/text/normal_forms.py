"""Unicode's normal forms: lmkit reads text exactly as it is written, and says when another form would read better.

The same visible text may be written in several ways: é as one code point (NFC, as most text is) or as e and a
combining accent (NFD, as some macOS file names and copied text are); Ａ and ｈｅｌｌｏ in full width where a model
learnt A and hello (NFKC folds them). lmkit changes none of it: a model scores the characters it is given, as
its training text held them. Where the tokens a model does not know would be known in NFC or NFKC, the
messages about unknown tokens say so (`better_form`), and tokens are shown so that the forms can be told apart
(`escaped`).
"""
from __future__ import annotations

import unicodedata
from itertools import islice
from typing import Iterable

FORMS = ("NFC", "NFKC")  # tried in this order: NFC changes no character's meaning, NFKC folds width and ligatures
LINES_LOOKED_AT = 2000
HANGUL_JAMO = (0x1100, 0x11FF)  # NFD's pieces of a Korean syllable


def needs_escapes(token: str) -> bool:
    """Whether `token` would print as another token does: it is not in NFC (cafe + U+0301 prints as café), or it
    starts with a combining mark (which would sit on the character printed before it)."""
    return not unicodedata.is_normalized("NFC", token) or (bool(token) and unicodedata.category(token[0]).startswith("M"))


def escaped(token: str) -> str:
    """`token` quoted, with its combining marks and Hangul jamo as \\uXXXX: 'cafe\\u0301', told from 'café'."""
    return "'" + "".join(f"\\u{ord(c):04x}" if decomposed_piece(c) else c for c in token) + "'"


def decomposed_piece(char: str) -> bool:
    return unicodedata.category(char).startswith("M") or HANGUL_JAMO[0] <= ord(char) <= HANGUL_JAMO[1]


def better_form(tokenizer, lines: Iterable[str]) -> tuple[str, int, int] | None:
    """(form, unknown tokens as written, unknown tokens in that form) for the first of FORMS in which the first
    LINES_LOOKED_AT of `lines` hold fewer tokens outside `tokenizer`'s vocabulary, or None: text written as the
    model's training text was reads no better another way."""
    looked_at = list(islice(lines, LINES_LOOKED_AT))
    unk = tokenizer.vocab.unk_id

    def unknown(text_lines: list[str]) -> int:
        return sum(tokenizer.encode_line(line).count(unk) for line in text_lines)

    written = unknown(looked_at)
    if not written:
        return None
    for form in FORMS:
        normal = [unicodedata.normalize(form, line) for line in looked_at]
        if normal != looked_at and (fewer := unknown(normal)) < written:
            return form, written, fewer
    return None


def form_advice(found: tuple[str, int, int] | None) -> str:
    """'' or the clause that says a form reads better, for the end of a message about unknown tokens."""
    if found is None:
        return ""
    form, written, fewer = found
    known = ("it" if written == 1 else "all of them") if not fewer else f"{written - fewer:,} of these {written:,}"
    return (f"; in Unicode's {form} form {known} would be known (lmkit reads text exactly as written: normalize it "
            f"to {form} first, e.g. with Python's unicodedata.normalize)")
