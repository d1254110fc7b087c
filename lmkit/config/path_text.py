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
    whole, longest = len(os.fsencode(value)), path_limit(value)  # as given: open(2) measures the text it is passed
    if whole >= longest:  # else open(2)'s bare "File name too long" again, for a path of many short names
        raise ConfigError(f"{option}: the path is {whole:,} bytes long, more than the {longest - 1:,} a path may have "
                          "here; choose a shorter one")
    limit = name_limit(value)
    too_long = next(((name, size) for name, size in name_sizes(value) if size > limit), None)
    if too_long is not None:  # else open(2)'s bare "File name too long", naming the path but not the option
        name, size = too_long
        shown = name if len(name) <= 24 else f"{name[:20]}..."
        raise ConfigError(f"{option}: the name {shown!r} in the path is {size:,} bytes long, more than the "
                          f"{limit:,} a file name may have here; choose a shorter one")


def name_sizes(value: str) -> list[tuple[str, int]]:
    """Each name in the path and its length in bytes as the file system stores it."""
    return [(name, len(os.fsencode(name))) for name in value.split("/") if name]


def path_limit(value: str) -> int:
    """PATH_MAX of the file system the path leads into: the bytes of a whole path, its closing NUL counted (4096
    where it cannot be asked)."""
    return limit_here(value, "PC_PATH_MAX", 4096)


def name_limit(value: str) -> int:
    """The longest file name, in bytes, that the file system the path leads into takes (255 where it cannot be
    asked: the limit of Linux's file systems)."""
    return limit_here(value, "PC_NAME_MAX", 255)


def limit_here(value: str, name: str, otherwise: int) -> int:
    """os.pathconf's `name` for the nearest folder of the path that exists (`otherwise` where it cannot say)."""
    where = Path(value).absolute()
    while not os.path.exists(where) and where != where.parent:  # (False for a name too long, where Path raises)
        where = where.parent
    try:
        return os.pathconf(where, name)
    except (OSError, ValueError):
        return otherwise


def draws_nothing(char: str) -> bool:
    """A space, control or format character (U+200B), a mark with nothing to sit on, or a blank filler letter."""
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zs", "Mn", "Me") or char in BLANK_LETTERS
