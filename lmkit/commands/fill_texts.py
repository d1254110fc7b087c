"""The sentences `lmkit fill` fills: TEXT, or each line of --text-file, every one checked for its one blank before
any model is read (a slip on line 900 costs no model load and prints no answer)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lmkit.commands.output_paths import STDIN
from lmkit.errors import ConfigError, LmkitError, printable
from lmkit.files.line_ends import unix_newlines
from lmkit.files.reading import read_bounded, standard_input_bytes
from lmkit.files.text_bytes import BINARY_SNIFF_BYTES, STDIN_NAME, wide_unicode_error
from lmkit.generate.fill import check_marker, split_blank

TEXT_FILE_MAX_BYTES = 16 << 20  # --text-file is read whole: sentences to fill, each one searched and scored in turn


class UnfillableBlank(ConfigError):
    """No filler of the vocabulary reads, in this sentence's blank, as the tokens it is made of. A line of
    --text-file that raises it is skipped, and the others are filled."""


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
        return "" if self.file is None else file_line(self.file, self.line)

    @contextmanager
    def naming(self) -> Iterator[None]:
        """A ConfigError raised while this sentence is filled names its line of --text-file (and keeps its kind)."""
        try:
            yield
        except ConfigError as error:
            if self.file is None:
                raise
            raise type(error)(f"{self.where}{error}") from None


def file_line(file: Path, line: int) -> str:
    return f"--text-file {printable(str(file))} line {line}: "


def texts_to_fill(text: str | None, text_file: Path | None, marker: str) -> list[BlankText]:
    """TEXT as one sentence, or the lines of --text-file that are not blank (a file's empty lines part groups of
    sentences; they hold nothing to fill), each split at its blank (split_blank); a bad line raises naming it."""
    if text_file is None:
        return [BlankText(text, *split_blank(text, marker))]
    if text is not None:
        raise ConfigError("give either TEXT or --text-file, not both")
    check_marker(marker)
    texts = []
    for number, line in enumerate(text_file_lines(text_file), start=1):
        if line.strip():
            try:
                texts.append(BlankText(line, *split_blank(line, marker), text_file, number))
            except ConfigError as error:
                raise ConfigError(f"{file_line(text_file, number)}{error}") from None
    if not texts:
        raise ConfigError(f"--text-file {printable(str(text_file))} has no sentence to fill: give one sentence with "
                          "a blank on each line")
    return texts


def text_file_lines(path: Path | str) -> list[str]:
    """The lines of --text-file (or of standard input, for STDIN), read whole (at most TEXT_FILE_MAX_BYTES): UTF-8
    (a BOM dropped), any line end; bytes that are not UTF-8 and NUL bytes (binary data, wherever they are) are refused
    naming their line."""
    from_stdin = path == STDIN
    option = f"--text-file {STDIN}:" if from_stdin else "--text-file"  # a file's messages begin with its name
    try:
        bound = {"max_bytes": TEXT_FILE_MAX_BYTES, "error": ConfigError, "purpose": "as sentences to fill"}
        data = standard_input_bytes(**bound) if from_stdin else read_bounded(path, **bound)
    except LmkitError as error:
        raise ConfigError(f"{option} {error}") from None
    wide = wide_unicode_error(STDIN_NAME if from_stdin else path, data[:BINARY_SNIFF_BYTES],
                              f"in the first {BINARY_SNIFF_BYTES} bytes")
    if wide is not None:  # Windows' "Unicode"
        raise ConfigError(f"{option} {wide}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        advice = "give UTF-8 text" if from_stdin else "save the file as UTF-8"
        raise ConfigError(f"{file_line(path, line)}not valid UTF-8 at byte offset {exc.start} (byte "
                          f"0x{data[exc.start]:02x}); {advice}") from None
    lines = unix_newlines(text.removeprefix("\ufeff")).split("\n")
    nul = next((number for number, line in enumerate(lines, start=1) if "\0" in line), None)
    if nul is not None:
        raise ConfigError(f"{file_line(path, nul)}holds a NUL byte: the {'input' if from_stdin else 'file'} looks "
                          "binary, expected UTF-8 text")
    return lines
