"""Corpora from Debian's fortune-cookie packages (downloaded with `apt-get download`, never installed).

    fortunes     every cookie file of the package fortunes (computers, cookie, definitions, ...): English quips,
                 quotations and jokes, one fortune a unit
    tang300      usr/share/games/fortunes/tang300 of fortunes-zh: 300 Tang poems, one poem a unit
    song100      .../song100 of fortunes-zh: 100 Song poems

A cookie file holds texts separated by lines of `%`. fortunes-zh colours its titles and authors with ANSI
escapes; the English files stress words the way a teletype did, printing `_` or the letter again over a
letter after backspaces, and a few of their lines were UTF-8 encoded twice or thrice. All of it is cleaned
away here: lines are stripped, blank lines inside a text dropped, and each text ends with one blank line.
"""
from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from lmkit.corpus.fetch import apt_download_deb, deb_members, decode_member, sha256_file
from lmkit.errors import CorpusError
from lmkit.files.line_ends import text_lines

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf]")  # a UTF-8 lead byte and a continuation byte read as Latin-1
FORTUNE_FOLDER = PurePosixPath("usr/share/games/fortunes")
NOT_PROSE = frozenset({"ascii-art"})  # fortunes' pictures drawn in characters


def parse_fortunes(text: str) -> Iterator[list[str]]:
    """Poems of a fortune file: ANSI colours and `%` separators removed; title, author and verse lines kept."""
    poem: list[str] = []
    for line in text_lines(ANSI_ESCAPE.sub("", text)):
        line = line.strip()
        if line == "%":
            if poem:
                yield poem + [""]
            poem = []
        elif line:
            poem.append(line)
    if poem:
        yield poem + [""]


def package_path(name: PurePosixPath) -> PurePosixPath:
    """A .deb member's name without its leading `./`."""
    return PurePosixPath(*[part for part in name.parts if part != "."])


def fortunes_units(file_name: str) -> Callable[[Path], tuple[dict, Iterator[list[str]]]]:
    def units(downloads: Path) -> tuple[dict, Iterator[list[str]]]:
        deb = apt_download_deb("fortunes-zh", downloads)
        wanted = FORTUNE_FOLDER / file_name
        members = deb_members(deb, lambda name: package_path(name) == wanted)
        if not members:
            raise CorpusError(f"{deb}: holds no {wanted}")
        (name, data), = members.items()
        source = {"kind": "apt", "package": "fortunes-zh", "file": deb.name, "sha256": sha256_file(deb), "member": name}
        return source, parse_fortunes(decode_member(data, name))

    return units


def is_english_fortune_file(name: PurePosixPath) -> bool:
    """A cookie file of Debian's fortunes: not its index (.dat), not its .u8 links, not its pictures."""
    path = package_path(name)
    return (path.parent == FORTUNE_FOLDER and path.suffix not in (".dat", ".u8")
            and path.name not in NOT_PROSE)


def without_overstrikes(text: str) -> str:
    """Text as a teletype printed it, in one pass: a backspace moves back one column (never past a line's start),
    and a character printed over another keeps the one it stresses, so "___<BS><BS><BS>not" and "n<BS>_" (both
    underlined) read "not" and "n", and "x<BS>x" (bold) reads "x"."""
    if "\x08" not in text:
        return text
    printed_lines = []
    for line in text.split("\n"):
        columns: list[str] = []
        at = 0
        for char in line:
            if char == "\x08":
                at = max(at - 1, 0)
                continue
            if at == len(columns):
                columns.append(char)
            elif char not in "_ ":  # an underline or a space struck over a letter leaves the letter
                columns[at] = char
            at += 1
        printed_lines.append("".join(columns))
    return "\n".join(printed_lines)


def repaired_mojibake(line: str) -> str:
    """A line of UTF-8 that was read as Latin-1 and encoded again, once or more ("HereÃ¢Â\x80Â\x99s"), as it
    was written ("Here’s"); any other line as it is."""
    while MOJIBAKE.search(line):
        try:
            line = line.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            break
    return line


def english_fortunes_units(downloads: Path) -> tuple[dict, Iterator[list[str]]]:
    """Every fortune of every cookie file (computers, cookie, definitions, ...), one unit each, files in name order;
    teletype overstrikes and bells removed, and the few lines whose UTF-8 was encoded twice or thrice repaired."""
    deb = apt_download_deb("fortunes", downloads)
    files = deb_members(deb, is_english_fortune_file)
    if not files:
        raise CorpusError(f"{deb}: holds no cookie files under {FORTUNE_FOLDER}")
    by_file = {PurePosixPath(name).name: (name, data) for name, data in files.items()}  # computers, cookie, ...
    source = {"kind": "apt", "package": "fortunes", "file": deb.name, "sha256": sha256_file(deb),
              "members": sorted(by_file)}

    def units() -> Iterator[list[str]]:
        for _, (name, data) in sorted(by_file.items()):
            text = without_overstrikes(decode_member(data, name)).replace("\x07", "")
            yield from ([repaired_mojibake(line) for line in fortune] for fortune in parse_fortunes(text))

    return source, units()
