"""Chinese word segmentation with jieba, kept to the Chinese: `--tokenizer word --segment jieba`.

jieba cuts Chinese text into words, but any letter outside ASCII it returns on
its own ("привет" comes back as six pieces, "naïve" as three), a combining
accent (e + U+0301) or a keycap's U+FE0F U+20E3 it cuts off the character they
are drawn on, and a run of ASCII it sometimes cuts at a hyphen or dot ("a--b"
is `a -- b`). `mend` glues such pieces back, so that jieba segments only the
Chinese and a word is otherwise what it is between spaces (with --split-punct,
lmkit.text.punctuation then cuts the punctuation off it, as for any word). Two
pieces that touch in the text are one word when the characters either side of
the cut are both narrow word characters (a letter, digit or mark whose East
Asian width is not W or F), or both of the ASCII that jieba keeps in one run
(letters, digits and + # & . _ % -), or when the second piece is drawn on the
first (lmkit.text.punctuation.draws_on). Chinese, Japanese and Korean
characters are wide, so jieba's cuts among them stand.

`join` writes segmented words back as Chinese is written, with no space, except
where the touching characters are such a pair: after `mend` that cut is never
jieba's, so a space stood there ("Windows 98", "naïve idea"), and without it
the two words would come back as one.
"""
from __future__ import annotations

import unicodedata
from typing import Callable

from lmkit.errors import MissingPackageError
from lmkit.text.punctuation import draws_on

JIEBA_RUN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+#&._%-")  # jieba never cuts these apart


def jieba_cut() -> Callable[[str], list[str]]:
    """jieba.lcut, quiet; MissingPackageError saying how to install jieba when it is absent."""
    try:
        import jieba
    except ImportError as exc:
        raise MissingPackageError("--segment jieba needs the jieba package, which is not installed: pip install jieba "
                                  "(or the 'zh' extra: pip install 'lmkit[zh]', in a checkout pip install -e '.[zh]')"
                                  ) from exc
    jieba.setLogLevel(60)
    return jieba.lcut


def is_narrow_word_char(char: str) -> bool:
    """A letter, digit or mark of a script written with spaces between words (not CJK's wide characters)."""
    return ((char.isalnum() or unicodedata.category(char)[0] == "M")
            and unicodedata.east_asian_width(char) not in ("W", "F"))


def touch_inside_a_word(left: str, right: str) -> bool:
    """Whether `left` and `right`, written together, are one word that no segmenter of Chinese should cut."""
    return (draws_on(right) or (is_narrow_word_char(left[-1]) and is_narrow_word_char(right[0]))
            or (left[-1] in JIEBA_RUN and right[0] in JIEBA_RUN))


def mend(pieces: list[str]) -> list[str]:
    """jieba's pieces of one text with its cuts inside non-Chinese words undone (see the module's docstring);
    whitespace pieces stay where they are, so words on either side of a space are never glued."""
    words: list[str] = []
    for piece in pieces:
        if words and piece and not words[-1][-1].isspace() and not piece[0].isspace() \
                and touch_inside_a_word(words[-1], piece):
            words[-1] += piece
        else:
            words.append(piece)
    return words


def join(words: list[str]) -> str:
    """Segmented words -> text, as Chinese is written (see the module's docstring)."""
    out: list[str] = []
    for word in words:
        if out and touch_inside_a_word(out[-1], word):
            out.append(" ")
        out.append(word)
    return "".join(out)
