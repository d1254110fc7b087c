"""What ends a line of text, for every reader and every piece of typed text alike.

A file, standard input, a corpus fetched from a registry, a `--prompt`, the
sentence given to `lmkit fill`: each is cut into lines at "\\n", "\\r\\n" and a
lone "\\r", and nowhere else. U+2028, U+0085, "\\v" and "\\f" stay inside a line
(the character tokenizer keeps them as tokens, the word tokenizer as spaces),
so training and every command read one text as the same lines.
"""
from __future__ import annotations

LINE_ENDS = "\r\n"  # "\n", "\r", and "\r\n" as one


def unix_newlines(text: str) -> str:
    """`text` with each line ended by "\\n" alone."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def text_lines(text: str) -> list[str]:
    """The lines of `text`, without their ends."""
    return unix_newlines(text).split("\n")


def holds_line_end(text: str) -> bool:
    """Whether `text` would be read as more than one line."""
    return any(end in text for end in LINE_ENDS)
