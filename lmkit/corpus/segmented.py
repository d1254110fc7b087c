"""Word-segmented text: words separated by spaces, as in a corpus with gold segmentation (pku98).

Chinese is written without spaces, so the spaces of segmented Chinese are
markup, not characters of the text. `plain_text` undoes the segmentation:
words are joined directly, except that two Latin or digit words keep one
space between them ("Windows 98"), as they would have had in the original.

A corpus whose manifest says `"segmented": true` stores its text segmented
(so a word tokenizer needs no segmenter), counts the characters of its plain
text in its split statistics (so bits per character mean the same for word
and character models), and gives the character tokenizer `segmented=True`
(so a character model sees the plain text, and so do its prompts).
"""
from __future__ import annotations


def plain_text(line: str) -> str:
    """The line with its segmentation removed: "我 昨天 买 了 Windows 98" -> "我昨天买了Windows 98"."""
    out: list[str] = []
    for word in line.split():
        if out and _is_latin(out[-1][-1]) and _is_latin(word[0]):
            out.append(" ")
        out.append(word)
    return "".join(out)


def _is_latin(char: str) -> bool:
    return char.isascii() and char.isalnum()
