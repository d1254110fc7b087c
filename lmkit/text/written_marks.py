"""Lines that spell out their own start or end, as the tutorials write a sentence: 「我 昨天 上学 迟到 了 </s>」.

lmkit begins every line at `<s>` and ends it at `</s>` itself; a `<s>` or `</s>` typed into the text is read as
text (a word tokenizer's unknown word, a character tokenizer's four or five characters), never as the line's start
or end. A text written that way scores one more token on each such line, and nothing else would say why.
"""
from __future__ import annotations

from itertools import islice
from typing import Iterable

from lmkit.text.normal_forms import LINES_LOOKED_AT
from lmkit.text.vocab import BOS, EOS


def written_line_marks(lines: Iterable[str]) -> tuple[int, int]:
    """(lines looked at, those of them that begin with the word <s> or end with the word </s>), over the first
    LINES_LOOKED_AT of `lines`."""
    looked_at = list(islice(lines, LINES_LOOKED_AT))
    marked = sum(1 for line in looked_at if (words := line.split()) and (words[0] == BOS or words[-1] == EOS))
    return len(looked_at), marked
