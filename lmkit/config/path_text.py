"""What the text of a path given to lmkit may hold: checked once, where the path comes in (lmkit.commands.output_paths
for options and arguments, lmkit.config.folders for the environment's folders)."""
from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from lmkit.errors import ConfigError

BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")  # Hangul fillers and the blank Braille cell: drawn as nothing


def check_path_text(option: str, value) -> None:
    """A path that is empty, has a name in it that draws as nothing, or holds a control character (a newline,
    a tab) is a slip: it would make or read a file nobody can see or type (`--out ' '`, `--per-line 'pl/ '`, a
    pasted U+200B, `x` and a newline). `option` names where the path came from: an option, an argument, a
    variable of the environment."""
    if not isinstance(value, str):
        return
    if not value:
        raise ConfigError(f"{option}: the path is empty (it would mean the current folder); name a file or folder")
    for name in filter(None, value.split("/")):
        which = "the path" if name == value else f"the name {name!r} in the path"
        if not name.strip():
            raise ConfigError(f"{option} {value!r}: {which} is only spaces; name a file or folder")
        if all(map(draws_nothing, name)):
            raise ConfigError(f"{option} {value!r}: {which} has no visible character; name a file or folder")
    control = next((char for char in value if unicodedata.category(char) == "Cc"), None)
    if control is not None:
        raise ConfigError(f"{option} {value!r}: the path holds a control character ({control!r}); name a file or "
                          "folder without one")
    where = nearest_folder(value)
    # else open(2)'s bare "File name too long", naming the path but not the option; measured as given, as open(2)
    # measures the text it is passed
    whole, longest = len(os.fsencode(value)), limit_at(where, "PC_PATH_MAX", 4096)
    if whole >= longest:
        raise ConfigError(f"{option}: the path is {whole:,} bytes long, more than the {longest - 1:,} a path may have "
                          "here; choose a shorter one")
    limit = limit_at(where, "PC_NAME_MAX", 255)  # 255: the limit of Linux's file systems
    too_long = next(((name, size) for name, size in name_sizes(value) if size > limit), None)
    if too_long is not None:
        name, size = too_long
        shown = name if len(name) <= 24 else f"{name[:20]}..."
        raise ConfigError(f"{option}: the name {shown!r} in the path is {size:,} bytes long, more than the "
                          f"{limit:,} a file name may have here; choose a shorter one")


def name_sizes(value: str) -> list[tuple[str, int]]:
    """Each name in the path and its length in bytes as the file system stores it."""
    return [(name, len(os.fsencode(name))) for name in value.split("/") if name]


def nearest_folder(value: str) -> Path:
    """The nearest of the path and the folders above it that exists: the file system it leads into."""
    where = Path(value).absolute()
    while not os.path.exists(where) and where != where.parent:  # (False for a name too long, where Path raises)
        where = where.parent
    return where


def limit_at(where: Path, name: str, otherwise: int) -> int:
    """os.pathconf's `name` (PC_PATH_MAX: a whole path's bytes, its closing NUL counted; PC_NAME_MAX: a file
    name's) at `where`, or `otherwise` where it cannot say."""
    try:
        return os.pathconf(where, name)
    except (OSError, ValueError):
        return otherwise


def draws_nothing(char: str) -> bool:
    """A space, control or format character (U+200B), a mark with nothing to sit on, or a blank filler letter."""
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zs", "Mn", "Me") or char in BLANK_LETTERS
