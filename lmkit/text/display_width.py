"""How many columns of a terminal (or of a monospaced grid) a piece of text takes.

Wide and full-width characters (CJK ideographs, kana, full-width punctuation) take two columns;
combining marks and format characters (a zero-width joiner) take none, as they sit on the
character before them; everything else takes one.
"""
from __future__ import annotations

import unicodedata


def char_width(char: str) -> int:
    if unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Columns `text` takes: display_width("我的 phone") == 10."""
    return sum(char_width(c) for c in text)
