"""What a file's bytes are as text: UTF-8 (decoded strictly, a BOM dropped, line ends made "\\n"), UTF-16 or
UTF-32 with or without a byte-order mark (Windows Notepad's "Unicode", named so the user can save it as UTF-8), or
binary data (a NUL byte, as git and grep tell). lmkit.files.reading reads the bytes; this module says what they are.
"""
from __future__ import annotations

import unicodedata

from lmkit.errors import CorpusError
from lmkit.files.line_ends import unix_newlines

BINARY_SNIFF_BYTES = 8192
STDIN_NAME = "standard input"   # how messages name it, where they would name a file


def looks_binary(head: bytes) -> bool:
    """A NUL byte in the first few KB marks a file as binary (as git and grep do)."""
    return b"\x00" in head


# the byte-order marks of UTF-32 and UTF-16 (the longer first: UTF-32LE's begins as UTF-16LE's does)
WIDE_UNICODE_MARKS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                      (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


def marked_wide_unicode(path, head: bytes) -> str | None:
    """Why a file beginning with `head` is not read as UTF-8 where it begins with a UTF-16 or UTF-32 byte-order mark
    (Windows Notepad's "Unicode"), with what to do; None otherwise. Said wherever such a file is refused: for a NUL
    byte (English text) or for bytes that are not UTF-8 (Chinese text may hold no NUL)."""
    for mark, encoding in WIDE_UNICODE_MARKS:
        if head.startswith(mark):
            return f"{path}: is {encoding} text (it begins with a {encoding} byte-order mark), expected UTF-8: save it as UTF-8"
    return None


def wide_unicode_error(path, head: bytes, nul_at: str) -> str | None:
    """Why a file beginning with `head` is not read as UTF-8 where it is UTF-16 or UTF-32 text: with its byte-order
    mark, or without one where `head` holds a NUL byte (`nul_at`: where) and reads as lines of text in one of them;
    None otherwise. The one test every reader applies, whatever else it refuses the bytes for."""
    marked = marked_wide_unicode(path, head)
    if marked is not None or not looks_binary(head):
        return marked
    encoding = unmarked_wide_unicode(head[:BINARY_SNIFF_BYTES])
    if encoding is None:
        return None
    return (f"{path}: looks like {encoding} text without a byte-order mark (NUL byte {nul_at}), expected UTF-8: "
            "save it as UTF-8")


def binary_file_error(path, head: bytes, nul_at: str) -> str:
    """Why a file with a NUL byte (`nul_at`: where) is not read as text: UTF-16 or UTF-32 text, with or without its
    byte-order mark, is said to be that, with what to do; anything else looks binary."""
    wide = wide_unicode_error(path, head, nul_at)
    if wide is not None:
        return wide
    return f"{path}: looks like a binary file (NUL byte {nul_at}), expected UTF-8 text"


# what text holds besides letters, marks, numbers, punctuation, symbols, spaces and format characters (a zero-width
# joiner, a soft hyphen): tab, the line ends, vertical tab and form feed
TEXT_CONTROLS = frozenset("\t\n\r\v\f\x85")
WIDE_TEXT_UNITS = 16       # fewer characters than this are too few to tell text from binary data by
ODD_CHARACTER_SHARE = 0.01  # private-use or unassigned characters (or other controls) text may hold, at most
# Unicode's general categories of text: letters, marks, numbers, punctuation, symbols, separators, and format (Cf)
TEXT_CATEGORIES = frozenset(f"{major}{minor}" for major, minors in (("L", "ultmo"), ("M", "nce"), ("N", "dlo"),
                                                                     ("P", "cdseifo"), ("S", "mcko"), ("Z", "slp"))
                            for minor in minors) | {"Cf"}


def unmarked_wide_unicode(head: bytes) -> str | None:
    """"UTF-16LE" (or BE, UTF-32LE, BE) where the bytes read in that encoding as lines of text: at least
    WIDE_TEXT_UNITS characters, a line end, no NUL, and at most ODD_CHARACTER_SHARE of them private-use, unassigned
    or control characters. Latin text in UTF-16 has a NUL in every other byte; binary data with NULs in it reads
    as NULs (two zero bytes) or controls, and a few bytes of it that happen to read as letters hold no line end."""
    for encoding, unit in (("UTF-32LE", 4), ("UTF-32BE", 4), ("UTF-16LE", 2), ("UTF-16BE", 2)):
        whole = head[: len(head) - len(head) % unit]
        try:
            text = whole.decode(encoding.lower(), errors="strict")
        except UnicodeDecodeError as exc:
            if exc.start < len(whole) - 2 * unit:  # not just a character cut at the sniff's end
                continue
            text = whole[: exc.start].decode(encoding.lower())
        if len(text) < WIDE_TEXT_UNITS or "\x00" in text or not ("\n" in text or "\r" in text):
            continue
        odd = sum(1 for c in text if c not in TEXT_CONTROLS and unicodedata.category(c) not in TEXT_CATEGORIES)
        if odd <= ODD_CHARACTER_SHARE * len(text):
            return encoding
    return None


def decode_text(data: bytes, name, errors: str = "strict") -> str:
    """The UTF-8 text of `data`, read from `name` (a path, "standard input"), a BOM dropped and line ends made "\\n";
    CorpusError naming it where the bytes look binary or (with `errors="strict"`) are not UTF-8."""
    nul = data.find(b"\x00")  # anywhere: the whole text is here, and a NUL past a sniff's end is no character either
    if nul >= 0:
        where = f"in the first {BINARY_SNIFF_BYTES} bytes" if nul < BINARY_SNIFF_BYTES else f"at byte offset {nul}"
        raise CorpusError(binary_file_error(name, data[:BINARY_SNIFF_BYTES], where))
    try:
        text = data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as exc:
        raise CorpusError(marked_wide_unicode(name, data) or
                          f"{name}: not valid UTF-8 at byte offset {exc.start} (byte 0x{data[exc.start]:02x}); "
                          + ("give UTF-8 text" if name == STDIN_NAME else "save the file as UTF-8")) from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    return unix_newlines(text)
