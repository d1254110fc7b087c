"""The sentences `lmkit fill` fills: TEXT, or each line of --text-file, every one checked for its one blank before
any model is read (so a slip on line 900 costs no model load and prints no part of the answers)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lmkit.errors import ConfigError, LmkitError, printable
from lmkit.fileio import read_text
from lmkit.generate.fill import check_marker, split_blank

TEXT_FILE_MAX_BYTES = 16 << 20  # --text-file is read whole: sentences to fill, each one searched and scored in turn


@dataclass(frozen=True)
class BlankText:
    """One sentence with its blank: the text either side of it, and where it came from: TEXT (file None), or a line
    of --text-file."""

    text: str
    left: str
    right: str
    file: Path | None = None
    line: int = 0

    @property
    def where(self) -> str:
        """What an error or warning about this sentence begins with: nothing for TEXT, its file and line else."""
        return "" if self.file is None else f"--text-file {printable(str(self.file))} line {self.line}: "

    @contextmanager
    def naming(self) -> Iterator[None]:
        """A ConfigError raised while this sentence is filled names its line of --text-file."""
        try:
            yield
        except ConfigError as error:
            if self.file is None:
                raise
            raise ConfigError(f"{self.where}{error}") from None


def texts_to_fill(text: str | None, text_file: Path | None, marker: str) -> list[BlankText]:
    """TEXT as one sentence, or the lines of --text-file that are not blank (a file's empty lines part groups of
    sentences; they hold nothing to fill), each split at its blank (split_blank); a bad line raises naming it."""
    if text_file is None:
        return [BlankText(text, *split_blank(text, marker))]
    if text is not None:
        raise ConfigError("give either TEXT or --text-file, not both")
    check_marker(marker)
    try:
        lines = read_text(text_file, max_bytes=TEXT_FILE_MAX_BYTES, purpose="as sentences to fill").split("\n")
    except LmkitError as error:
        raise ConfigError(f"--text-file {error}") from None
    texts = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            with BlankText(line, "", "", text_file, number).naming():
                texts.append(BlankText(line, *split_blank(line, marker), text_file, number))
    if not texts:
        raise ConfigError(f"--text-file {printable(str(text_file))} has no sentence to fill: give one sentence with "
                          "a blank on each line")
    return texts
