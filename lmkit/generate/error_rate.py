"""Word and character error rate: Levenshtein distance between a hypothesis and its reference.

    errors("the cat sat", "the bat sat on")          # 2: one substitution, one insertion
    error_rate([(hyp, ref), ...], cer=True)         # errors / reference units, over all pairs

Words are the text's whitespace-separated pieces; characters are the text's
characters other than whitespace (so CER on Chinese ignores any spaces a
segmenter left). Substitutions, deletions and insertions each cost one.
"""
from __future__ import annotations

from typing import Iterable, Sequence


def units(text: str, cer: bool = False) -> list[str]:
    """What the error rate counts: words, or non-space characters."""
    return [c for c in text if not c.isspace()] if cer else text.split()


def edit_distance(hypothesis: Sequence, reference: Sequence) -> int:
    """Fewest substitutions, deletions and insertions turning `hypothesis` into `reference` (two rows, O(len))."""
    previous = list(range(len(reference) + 1))  # turning an empty hypothesis into reference[:j]: j insertions
    for i, unit in enumerate(hypothesis, start=1):
        current = [i]
        for j, wanted in enumerate(reference, start=1):
            current.append(min(previous[j] + 1,                        # drop hypothesis[i-1]
                               current[j - 1] + 1,                     # insert reference[j-1]
                               previous[j - 1] + (unit != wanted)))    # keep or substitute
        previous = current
    return previous[-1]


def errors(hypothesis: str, reference: str, cer: bool = False) -> int:
    return edit_distance(units(hypothesis, cer), units(reference, cer))


def error_rate(pairs: Iterable[tuple[str, str]], cer: bool = False) -> float:
    """Total errors over total reference units of (hypothesis, reference) pairs (0 for empty references)."""
    wrong = total = 0
    for hypothesis, reference in pairs:
        wrong += errors(hypothesis, reference, cer)
        total += len(units(reference, cer))
    return wrong / total if total else 0.0
