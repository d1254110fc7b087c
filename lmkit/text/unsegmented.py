"""Is this Chinese (or Japanese) text without spaces between words?

Whitespace word tokens on such text are whole lines: every line its own
"word", a vocabulary of sentences. `looks_unsegmented` lets the CLI say so
and suggest `--segment jieba` before anything is trained on it.
"""
from __future__ import annotations

from itertools import islice
from typing import Iterable

LINES_LOOKED_AT = 2000
LONG_TOKEN = 8  # characters: few real Chinese words are this long


def is_cjk(char: str) -> bool:
    """A CJK ideograph, kana or CJK punctuation."""
    code = ord(char)
    return 0x3000 <= code <= 0x30FF or 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF or 0xFF00 <= code <= 0xFFEF


def is_long_cjk_run(token: str) -> bool:
    return len(token) >= LONG_TOKEN and sum(map(is_cjk, token)) * 2 > len(token)


def looks_unsegmented(lines: Iterable[str]) -> bool:
    """True when most non-empty lines (of the first LINES_LOOKED_AT) hold a long run of CJK text with no spaces."""
    seen = unsegmented = 0
    for line in islice(lines, LINES_LOOKED_AT):
        tokens = line.split()
        if not tokens:
            continue
        seen += 1
        unsegmented += any(is_long_cjk_run(token) for token in tokens)
    return seen > 0 and unsegmented * 2 > seen
