"""Words and punctuation: cutting a whitespace word into word pieces and punctuation marks, and joining them back.

Splitting. A character whose Unicode category is punctuation (P*) or a symbol (S*)
is a token of its own; the runs of other characters between them are words. So
"Hello," is `Hello ,`, "(so)" is `( so )`, and unsegmented Chinese
"我的手机坏了，" is `我的手机坏了 ，` (full-width marks are punctuation too).
An apostrophe between two letters stays inside its word: "don't", "o'er",
"l’homme" are one token each. A mark keeps what draws it as one symbol: its
combining marks and variation selectors, an emoji's skin tone, a flag's second
regional indicator or its tag characters, and a zero-width joiner with the emoji
it joins ("👨‍👩‍👧" and "🇨🇳" are one token each, not five and two).

Joining (the detokenization rule). Tokens are joined with one space, but for these:
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
ZERO_WIDTH_JOINER = "\u200d"
SKIN_TONES = range(0x1F3FB, 0x1F400)           # emoji modifiers (category Sk), drawn on the emoji before them
REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)  # two of them are one flag
TAGS = range(0xE0020, 0xE0080)                 # tag characters spelling a subdivision flag after 🏴
STRAIGHT_QUOTES = frozenset("\"'")
OPENING_PO = frozenset("¿¡")


def is_mark(char: str) -> bool:
    """Punctuation or symbol, by Unicode category."""
    return unicodedata.category(char)[0] in "PS"


def split_marks(word: str) -> list[str]:
    """One whitespace-free word -> its word pieces and marks (one symbol each, see mark_end), in order."""
    pieces: list[str] = []
    start = i = 0
    while i < len(word):
        if not is_mark(word[i]) or _inner_apostrophe(word, i):
            i += 1
            continue
        end = mark_end(word, i)
        if start < i:
            pieces.append(word[start:i])
        pieces.append(word[i:end])
        start = i = end
    if start < len(word):
        pieces.append(word[start:])
    return pieces


def mark_end(text: str, i: int) -> int:
    """Where the mark starting at text[i] ends: after the characters that draw it as one symbol."""
    end = i + 1
    if ord(text[i]) in REGIONAL_INDICATORS and end < len(text) and ord(text[end]) in REGIONAL_INDICATORS:
        end += 1
    while end < len(text):
        if text[end] == ZERO_WIDTH_JOINER and end + 1 < len(text) and unicodedata.category(text[end + 1]) == "So":
            end += 2  # joins two emoji; before a letter a joiner is the word's
        elif unicodedata.category(text[end])[0] == "M" or ord(text[end]) in SKIN_TONES or ord(text[end]) in TAGS:
            end += 1
        else:
            break
    return end


def symbol_runs(text: str) -> list[tuple[str, bool]]:
    """`text` cut around its symbols of several code points (an emoji sequence, a flag): (piece, True) for each
    such symbol, (piece, False) for the text between, so that a segmenter never sees a symbol's parts."""
    runs: list[tuple[str, bool]] = []
    start = i = 0
    while i < len(text):
        end = mark_end(text, i) if is_mark(text[i]) else i + 1
        if end - i > 1:
            if start < i:
                runs.append((text[start:i], False))
            runs.append((text[i:end], True))
            start = end
        i = end
    if start < len(text):
        runs.append((text[start:], False))
    return runs


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
        if out and (not glue_next and role not in ("close", "wide") or draws_on(token)):
            out.append(" ")
        out.append(token)
        glue_next = role in ("open", "wide")
    return "".join(out)


def draws_on(token: str) -> bool:
    """Whether `token` starts with what mark_end would join to a mark written right before it (so it keeps its
    space: `( \u200d` must not come back as one token)."""
    return bool(token) and (token[0] == ZERO_WIDTH_JOINER or unicodedata.category(token[0])[0] == "M"
                            or ord(token[0]) in SKIN_TONES or ord(token[0]) in TAGS)


def _role(token: str, quotes_seen: dict[str, int]) -> str:
    """'word', 'open', 'close' or 'wide' (a mark written without spaces either side)."""
    if not token or not is_mark(token[0]) or mark_end(token, 0) != len(token):
        return "word"
    if unicodedata.east_asian_width(token[0]) in ("W", "F"):
        return "wide"
    if token in STRAIGHT_QUOTES:
        quotes_seen[token] = quotes_seen.get(token, 0) + 1
        return "open" if quotes_seen[token] % 2 else "close"
    category = unicodedata.category(token[0])
    if category in ("Ps", "Pi") or token in OPENING_PO:
        return "open"
    if category in ("Pe", "Pf", "Po"):
        return "close"
    return "word"  # dashes, connectors and symbols stand apart with spaces
