"""Is this text written without spaces between words (Chinese, Japanese; Thai, Lao, Khmer, Burmese)?

Whitespace word tokens on such text are whole lines: every line its own
"word", a vocabulary of sentences. `unspaced_script` lets the CLI say so
and suggest `--segment jieba` (for Chinese) or a character or subword
tokenizer before anything is trained on it.
"""
from __future__ import annotations

from itertools import islice
from typing import Iterable

LINES_LOOKED_AT = 2000
LONG_TOKEN = 8  # characters: few real Chinese words are this long
CHINESE = "Chinese (or Japanese)"
SOUTHEAST_ASIAN = "Thai, Lao, Khmer or Burmese"
SOUTHEAST_ASIAN_RANGES = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF))  # Thai and Lao, Myanmar, Khmer


def is_cjk(char: str) -> bool:
    """A CJK ideograph, kana or CJK punctuation."""
    code = ord(char)
    return 0x3000 <= code <= 0x30FF or 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF or 0xFF00 <= code <= 0xFFEF


def is_southeast_asian(char: str) -> bool:
    """A letter or mark of Thai, Lao, Khmer or Burmese, scripts also written without spaces between words."""
    return any(low <= ord(char) <= high for low, high in SOUTHEAST_ASIAN_RANGES)


SCRIPTS = ((CHINESE, is_cjk), (SOUTHEAST_ASIAN, is_southeast_asian))


def long_run_script(token: str) -> str | None:
    """The script of `token` where it is a long run of a script written without spaces, else None."""
    if len(token) < LONG_TOKEN:
        return None
    return next((name for name, belongs in SCRIPTS if sum(map(belongs, token)) * 2 > len(token)), None)


def unspaced_script(lines: Iterable[str]) -> str | None:
    """CHINESE or SOUTHEAST_ASIAN when most non-empty lines (of the first LINES_LOOKED_AT) hold a long run of that
    script with no spaces (the one most lines hold), else None."""
    seen, found = 0, {name: 0 for name, _ in SCRIPTS}
    for line in islice(lines, LINES_LOOKED_AT):
        tokens = line.split()
        if not tokens:
            continue
        seen += 1
        for name in {script for script in map(long_run_script, tokens) if script is not None}:
            found[name] += 1
    name, lines_with_runs = max(found.items(), key=lambda item: item[1])
    return name if seen and lines_with_runs * 2 > seen else None


def looks_unsegmented(lines: Iterable[str]) -> bool:
    """True when most non-empty lines (of the first LINES_LOOKED_AT) hold a long run of Chinese or Japanese with
    no spaces."""
    return unspaced_script(lines) == CHINESE
