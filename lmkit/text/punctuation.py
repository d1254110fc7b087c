"""Words and punctuation: cutting a whitespace word into word pieces and punctuation marks, and joining them back.

Splitting. A character whose Unicode category is punctuation (P*) or a symbol (S*)
is a token of its own; the runs of other characters between them are words. So
"Hello," is `Hello ,`, "(so)" is `( so )`, and unsegmented Chinese
"我的手机坏了，" is `我的手机坏了 ，` (full-width marks are punctuation too).
An apostrophe between two letters stays inside its word: "don't", "o'er",
"l’homme" are one token each.

Joining (the detokenization rule). Tokens are joined with one space, except:
- no space before a closing mark (categories Pe, Pf, and Po such as , . ! ? ; :)
  and none after an opening mark (Ps, Pi, and ¿ ¡);
- a straight quote (" or ') opens at its odd occurrences in the line and closes at
  its even ones;
- no space on either side of a full-width or wide mark (East Asian width W or F),
  as Chinese and Japanese are written ("坏了，他说。").
Two word tokens always keep their space, and a mark never touches words on both
sides, so the joined text splits back into the same tokens:
encode(decode(encode(s))) == encode(s), and text spaced the usual way comes back
as written.
"""
from __future__ import annotations

import unicodedata

APOSTROPHES = frozenset("'’ʼ")
STRAIGHT_QUOTES = frozenset("\"'")
OPENING_PO = frozenset("¿¡")


def is_mark(char: str) -> bool:
    """Punctuation or symbol, by Unicode category."""
    return unicodedata.category(char)[0] in "PS"


def split_marks(word: str) -> list[str]:
    """One whitespace-free word -> its word pieces and single-character marks, in order."""
    pieces: list[str] = []
    start = 0
    for i, char in enumerate(word):
        if not is_mark(char) or _inner_apostrophe(word, i):
            continue
        if start < i:
            pieces.append(word[start:i])
        pieces.append(char)
        start = i + 1
    if start < len(word):
        pieces.append(word[start:])
    return pieces


def _inner_apostrophe(word: str, i: int) -> bool:
    return (word[i] in APOSTROPHES and 0 < i < len(word) - 1
            and word[i - 1].isalpha() and word[i + 1].isalpha())


def join_marks(tokens: list[str]) -> str:
    """Tokens -> text by the joining rule above."""
    out: list[str] = []
    quotes_seen: dict[str, int] = {}
    glue_next = False
    for token in tokens:
        role = _role(token, quotes_seen)
        if out and not glue_next and role not in ("close", "wide"):
            out.append(" ")
        out.append(token)
        glue_next = role in ("open", "wide")
    return "".join(out)


def _role(token: str, quotes_seen: dict[str, int]) -> str:
    """'word', 'open', 'close' or 'wide' (a mark written without spaces either side)."""
    if len(token) != 1 or not is_mark(token):
        return "word"
    if unicodedata.east_asian_width(token) in ("W", "F"):
        return "wide"
    if token in STRAIGHT_QUOTES:
        quotes_seen[token] = quotes_seen.get(token, 0) + 1
        return "open" if quotes_seen[token] % 2 else "close"
    category = unicodedata.category(token)
    if category in ("Ps", "Pi") or token in OPENING_PO:
        return "open"
    if category in ("Pe", "Pf", "Po"):
        return "close"
    return "word"  # dashes, connectors and symbols stand apart with spaces
