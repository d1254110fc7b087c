"""Chinese word segmentation with jieba, kept to the Chinese: `--tokenizer word --segment jieba`.

jieba cuts Chinese text into words, but any letter outside ASCII it returns on
its own ("привет" comes back as six pieces, "naïve" as three, Korean and
full-width digits one character at a time: "１９９８年" as `１ ９ ９ ８ 年`), a combining
accent (e + U+0301) or a keycap's U+FE0F U+20E3 it cuts off the character they
are drawn on, and a run of ASCII it sometimes cuts at a hyphen or dot ("a--b"
is `a -- b`). `mend` glues such pieces back, so that jieba segments only the
Chinese and a word is otherwise what it is between spaces (with --split-punct,
lmkit.text.punctuation then cuts the punctuation off it, as for any word). Two
pieces that touch in the text are one word when the characters either side of
the cut are both word characters of a script that is not Chinese (a letter,
digit or mark other than a Chinese character or Japanese kana), or both of the
ASCII that jieba keeps in one run (letters, digits and + # & . _ % -, or their
full-width forms, as Chinese text writes "３．５％"), or when
the second piece is drawn on the first (lmkit.text.punctuation.draws_on).
jieba's cuts among Chinese characters stand, and so do its cuts among kana,
which no segmenter here knows better.

A tokenizer fitted now reads whole words (`whole_words`): every run of text outside Chinese and Japanese
(`touch_outside_chinese`) is glued back as it stood, so "It's", "don't" and, under --no-split-punct, "phone,"
are what the whitespace tokenizer makes of them, and `join_whole_words` writes such runs back as it writes
words. The narrower rule above, which left jieba's cuts at an apostrophe or a comma, is kept for a
tokenizer.json saved before whole words (its options have no "whole_words"), which reads as it was built.

`join` writes segmented words back as Chinese is written, with no space, except
where the touching characters are such a pair: after `mend` that cut is never
jieba's, so a space stood there ("Windows 98", "naïve idea"), and without it
the two words would come back as one (with --split-punct only letters and
digits count: "3 . 5 %" is written "3.5%", which is cut the same way again).
Between two Chinese words it writes no
space, so text cut other than jieba would cut it ("江 泽民" read from segmented
text) joins as "江泽民" and reads back as one word: the join is for reading.
"""
from __future__ import annotations

import unicodedata
from typing import Callable

from lmkit.errors import MissingPackageError
from lmkit.text.punctuation import draws_on

ASCII_RUN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+#&._%-"  # ASCII jieba reads as words
JIEBA_RUN = frozenset(ASCII_RUN + "".join(chr(ord(c) + 0xFEE0) for c in ASCII_RUN))  # and their full-width forms


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


UNSPACED_SCRIPTS = ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F),  # kana, half-width katakana
                    (0x3005, 0x3007), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),  # 々〆〇, Han
                    (0x20000, 0x3FFFF))  # Han beyond the basic plane


def is_word_char_of_another_script(char: str) -> bool:
    """A letter, digit or mark that is neither a Chinese character nor Japanese kana (Latin, Cyrillic, Hangul,
    full-width digits, ...)."""
    code = ord(char)
    return ((char.isalnum() or unicodedata.category(char)[0] == "M")
            and not any(low <= code <= high for low, high in UNSPACED_SCRIPTS))


def touch_inside_a_word(left: str, right: str, marks_cut: bool = False) -> bool:
    """Whether `left` and `right`, written together, are one word that no segmenter of Chinese should cut.
    `marks_cut`: punctuation is cut off words afterwards anyway (--split-punct), so jieba's ASCII runs ("3.5%")
    need not stay whole."""
    return (draws_on(right) or (is_word_char_of_another_script(left[-1]) and is_word_char_of_another_script(right[0]))
            or (not marks_cut and left[-1] in JIEBA_RUN and right[0] in JIEBA_RUN))


def touch_outside_chinese(left: str, right: str) -> bool:
    """Whether `left` and `right`, written together, are one run of text outside Chinese and Japanese (or a mark
    drawn on the character before it): a whole-words tokenizer leaves such a run as it is between spaces."""
    return draws_on(right) or (not is_unspaced(left[-1]) and not is_unspaced(right[0]))


def is_unspaced(char: str) -> bool:
    """A Chinese character or Japanese kana: the scripts jieba's cuts stand in."""
    return any(low <= ord(char) <= high for low, high in UNSPACED_SCRIPTS)


def mend(pieces: list[str], touch: Callable[[str, str], bool] = touch_inside_a_word) -> list[str]:
    """jieba's pieces of one text with its cuts undone where `touch` says two pieces are one word (see the module's
    docstring); whitespace pieces stay where they are, so words on either side of a space are never glued."""
    words: list[str] = []
    for piece in pieces:
        if words and piece and not words[-1][-1].isspace() and not piece[0].isspace() and touch(words[-1], piece):
            words[-1] += piece
        else:
            words.append(piece)
    return words


def join_whole_words(words: list[str], join_spaced: Callable[[list[str]], str]) -> str:
    """Words of a whole-words tokenizer -> text: those that touch outside Chinese (touch_outside_chinese) joined
    as the whitespace tokenizer joins words (`join_spaced`), and those groups written against the Chinese either
    side without a space."""
    groups: list[list[str]] = []
    for word in words:
        if groups and touch_outside_chinese(groups[-1][-1], word):
            groups[-1].append(word)
        else:
            groups.append([word])
    return "".join(join_spaced(group) for group in groups)


def join(words: list[str], marks_cut: bool) -> str:
    """Segmented words -> text, as Chinese is written (see the module's docstring); `marks_cut` as the words were
    made (--split-punct: "3 . 5 %" is written "3.5%", since it is cut the same way again)."""
    out: list[str] = []
    for word in words:
        if out and touch_inside_a_word(out[-1], word, marks_cut):
            out.append(" ")
        out.append(word)
    return "".join(out)
