"""Deterministic train/valid/test splits by whole units (documents, poems or line blocks).

Units are dealt out online, in order, to the split that is furthest behind
its share of the characters seen so far (a largest-deficit rule, ties go to
train, then valid, then test), judged before the unit's own size is counted,
so that short and long units alike land in each split. The same input
therefore always gives the same split, valid and test are spread evenly
through the corpus, and no unit is ever cut in two. The rule needs no second
pass, so it streams.
"""
from __future__ import annotations

import hashlib
from contextlib import ExitStack
from pathlib import Path
from typing import Iterable, Iterator

from lmkit.corpus.segmented import plain_text
from lmkit.corpus.text_files import NO_TEXT, printed
from lmkit.errors import CorpusError, counted

SPLITS = ("train", "valid", "test")
FRACTIONS = {"train": 0.90, "valid": 0.05, "test": 0.05}
SHARES = ("each to the split furthest below its share of characters, judged before the unit's own size is known, "
          "unless it would take valid or test past twice its share (train/valid/test 90/5/5)")
TRAIN = SPLITS[0]
OVERSHOOT = 2.0  # a held-out split takes no unit that would make it hold more than twice its share so far
MAX_BLOCK_CHARS = 50_000
BLOCKS_WANTED = 400


class SplitAssigner:
    """Online largest-deficit assignment of unit sizes to splits."""

    def __init__(self, fractions: dict[str, float] = FRACTIONS):
        self.fractions = fractions
        self.filled = {split: 0 for split in fractions}
        self.total = 0
        self.units = 0

    def assign(self, size: int) -> str:
        """The split for a unit of `size` characters, chosen before its size is known to the rule: each split's
        deficit is judged as if the unit were of the mean size of those dealt so far. (Counted first, as before
        corpus format 2, a unit's own size chose its split: short units fitted the small splits' deficits and long ones
        went to train, so zh-reviews' valid and test reviews averaged 38 characters against train's 83.) Only a unit
        that would take a held-out split past OVERSHOOT times its share of the text so far goes to train instead: a
        61,000-character line dealt blind made valid 80% of its file."""
        expected = self.total + (self.total / self.units if self.units else 0)
        split = max(self.fractions, key=lambda s: self.fractions[s] * expected - self.filled[s])
        self.total += size
        self.units += 1
        if split != TRAIN and self.filled[split] + size > OVERSHOOT * self.fractions[split] * self.total:
            split = TRAIN
        self.filled[split] += size
        return split


def block_chars_for(total_bytes: int) -> int:
    """Unit size for line blocks: about BLOCKS_WANTED blocks, never above MAX_BLOCK_CHARS characters."""
    return max(1, min(MAX_BLOCK_CHARS, total_bytes // BLOCKS_WANTED))


def line_blocks(lines: Iterable[str], block_chars: int) -> Iterator[list[str]]:
    """Cut lines into blocks that end once they reach `block_chars` characters, or at a blank line once they reach
    half that. (Ended at every blank line, a text of short paragraphs gave blocks of a few lines each, and the
    deal sends small units to the small splits: valid and test came out 78% blank lines, train 27%.)"""
    block: list[str] = []
    size = 0
    for line in lines:
        block.append(line)
        size += len(line) + 1
        if size >= block_chars or (not line.strip() and 2 * size >= block_chars):
            yield block
            block, size = [], 0
    if block:
        yield block


def unit_chars(lines: Iterable[str], segmented: bool = False) -> int:
    """Characters of a unit, one newline per line; a segmented unit counts its plain text (lmkit.corpus.segmented)."""
    return sum(len(plain_text(line) if segmented else line) + 1 for line in lines)


class SplitFiles:
    """Writes train/valid/test .txt files into a folder and keeps their statistics for the manifest."""

    def __init__(self, directory: Path, segmented: bool = False):
        self.directory = Path(directory)
        self.segmented = segmented
        self.stats = {s: {"lines": 0, "chars": 0, "bytes": 0, "units": 0} for s in SPLITS}
        self._digests = {s: hashlib.sha256() for s in SPLITS}
        self._printed = {s: False for s in SPLITS}  # holds a line that shows something (text_files.printed)
        self._stack = ExitStack()
        self._handles = {}

    def __enter__(self) -> "SplitFiles":
        self.directory.mkdir(parents=True, exist_ok=True)
        for split in SPLITS:
            path = self.directory / f"{split}.txt"
            self._handles[split] = self._stack.enter_context(open(path, "wb"))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def write_unit(self, split: str, lines: list[str]) -> None:
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        self._handles[split].write(data)
        self._digests[split].update(data)
        stats = self.stats[split]
        stats["lines"] += len(lines)
        stats["chars"] += unit_chars(lines, self.segmented)
        stats["bytes"] += len(data)
        stats["units"] += 1
        self._printed[split] = self._printed[split] or any(map(printed, lines))

    def finish(self, what: str) -> dict:
        """Split statistics with sha256; CorpusError if any split holds no text."""
        if not any(self._printed.values()):
            raise CorpusError(f"{what}: {NO_TEXT}")
        for split in SPLITS:
            if self.empty(split):
                raise CorpusError(self.cannot_split(what, split))
        return self.statistics()

    def finish_given(self, sources: dict[str, str]) -> dict:
        """finish() for splits given as they are: an empty one is its source's fault, not the split's."""
        for split in SPLITS:
            if self.empty(split):
                raise CorpusError(f"{sources[split]}: {NO_TEXT} (the {split} split needs some)")
        return self.statistics()

    def empty(self, split: str) -> bool:
        return not self._printed[split]

    def statistics(self) -> dict:
        return {s: {**self.stats[s], "sha256": self._digests[s].hexdigest()} for s in SPLITS}

    def cannot_split(self, what: str, split: str) -> str:
        """Why `split` came out empty: one line (which is never cut), too few lines for three splits, or only
        blank lines dealt to it."""
        lines = sum(stats["lines"] for stats in self.stats.values())
        chars = sum(stats["chars"] for stats in self.stats.values()) - lines  # newlines not counted
        if lines == 1:
            return (f"{what}: a single line ({counted(chars, 'character')}) cannot be split into train/valid/test: "
                    "lmkit splits between lines, never inside one; break the text into lines, or pass --valid and "
                    "--test")
        if self.stats[split]["lines"]:  # lines enough, but those dealt to this split show nothing
            return (f"{what}: the {split} split would get only blank or whitespace-only lines "
                    f"({self.stats[split]['lines']:,} of {lines:,}); give more text, or pass --valid and --test")
        return (f"{what}: too small to split into train/valid/test (the {split} split would be empty: {lines:,} "
                f"lines, {chars:,} characters, and lmkit splits between lines); give more text, or pass --valid "
                "and --test")


def write_split_units(units: Iterable[list[str]], directory: Path, what: str,
                      fractions: dict[str, float] = FRACTIONS, segmented: bool = False) -> dict:
    """Deal `units` out to train/valid/test files in `directory`; returns the split statistics. A unit of blank
    lines alone (a blank line between two blocks of lines, an empty row) goes with the next unit that has text.

    `segmented`: the lines are word-segmented text, whose characters are those of its plain text.
    """
    assigner = SplitAssigner(fractions)
    with SplitFiles(directory, segmented) as files:
        blank: list[str] = []  # units of blank lines alone, held for the next unit with text
        split = "train"
        for number, unit in enumerate(units, start=1):
            refuse_nul(unit, what, number)
            if not any(map(printed, unit)):  # dealt alone, a blank line's one character goes where a split is
                blank += unit                # furthest behind: valid and test came out 78% blank lines (pass 83)
                continue
            unit, blank = blank + unit, []
            split = assigner.assign(unit_chars(unit, segmented))
            files.write_unit(split, unit)
        if blank:  # blank lines after the last text: with the unit before them
            files.write_unit(split, blank)
        return files.finish(what)


def refuse_nul(unit: list[str], what: str, number: int) -> None:
    """CorpusError if a line of the source's unit `number` holds a NUL character: text files never do (a --train
    file with one is refused as binary), and a package or dataset whose text does is not one to train on."""
    for line_number, line in enumerate(unit, start=1):
        if "\x00" in line:
            raise CorpusError(f"{what}: unit {number:,} (line {line_number:,} of it) holds a NUL character, so its "
                              "source is not plain text; nothing was cached")


def write_given_splits(sources: dict[str, Iterable[list[str]]], directory: Path, names: dict[str, str]) -> dict:
    """Copy units that already belong to a split (--train/--valid/--test given) into `directory`;
    `names` says where each split came from, for the error when one holds no text."""
    with SplitFiles(directory) as files:
        for split in SPLITS:
            for unit in sources[split]:
                files.write_unit(split, unit)
        return files.finish_given(names)
