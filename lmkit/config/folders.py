"""Where lmkit keeps its files: the one place the corpora and checkpoints folders are resolved.

    $LMKIT_CORPORA      the corpora folder (wins over the home for corpora)
    $LMKIT_HOME         a home folder: corpora/ and checkpoints/ under it
    neither             ./corpora and ./checkpoints in the current folder

A leading `~` in either variable is the user's home, as a shell expands it (a
quoted '~/lmk' would otherwise make a folder named `~`). A variable naming a
file, or a path through one, is refused naming the variable: the folders are
made on first use, and mkdir's "File exists" would not say which setting is wrong.

`lmkit train`, `lmkit ngram` and `lmkit corpus list` print the folders they
resolved (`folders_line`), and a fetch names the folder it fetches into, so a
command started from another folder does not silently begin a second cache there.
"""
from __future__ import annotations

import os
from pathlib import Path

from lmkit.config.path_text import check_path_text
from lmkit.errors import ConfigError, printable

HOME_VARIABLE = "LMKIT_HOME"
CORPORA_VARIABLE = "LMKIT_CORPORA"


def first_non_folder(path: Path) -> Path | None:
    """The nearest of `path` and the folders above it that exists, when it is not a folder (a file, a device,
    a link to nothing: mkdir would fail there with "File exists" or "Not a directory"); else None."""
    for existing in (path.absolute(), *path.absolute().parents):
        if existing.is_symlink() and not existing.exists():
            return existing
        if existing.exists():
            return None if existing.is_dir() else existing
    return None


def checked_folder(path: Path, setting: str | None = None, named: Path | None = None) -> Path:
    """`path` unless it, or a folder above it, exists and is not a folder: then ConfigError naming `setting`
    ("LMKIT_CORPORA=/x/file"), the setting it came from, which names the folder `named` (default `path`)."""
    blocking = first_non_folder(path)
    if blocking is None:
        return path
    if blocking.is_symlink() and not blocking.exists():
        where = f"{blocking} is a link to nothing"
        raise ConfigError(where if setting is None else f"{setting}: {where}")
    if setting is None:
        raise ConfigError(f"{blocking} is not a folder")
    raise ConfigError(f"{setting} is not a folder" if blocking == (named or path).absolute()
                      else f"{setting}: {blocking} is not a folder")


def setting_folder(variable: str) -> Path | None:
    """The folder environment variable `variable` names, `~` expanded, or None when it is unset or empty."""
    value = os.environ.get(variable)
    if not value:
        return None
    check_path_text(variable, value)
    return checked_folder(Path(os.path.expanduser(value)), f"{variable}={value}")


def lmkit_home() -> Path:
    """$LMKIT_HOME, else the current folder."""
    return setting_folder(HOME_VARIABLE) or Path(".")


def home_folder(name: str) -> Path:
    """<home>/name, refused naming $LMKIT_HOME (when set) if it is not a folder."""
    home, value = lmkit_home(), os.environ.get(HOME_VARIABLE)
    return checked_folder(home / name, f"{HOME_VARIABLE}={value}" if value else None, home)


def home_hint(path: str | os.PathLike) -> str:
    """Where a relative model path given is missing here but there under $LMKIT_HOME (the README's
    checkpoints/NAME, run from another folder): ' (but $LMKIT_HOME/... is there: ...)', else ''."""
    path, value = Path(path), os.environ.get(HOME_VARIABLE)
    if not value or path.is_absolute():
        return ""
    there = Path(value) / path
    if not there.exists():
        return ""
    return (f" (but {printable(str(there))} is there: $LMKIT_HOME moves where lmkit writes and finds by name, "
            "while a path given is read from the current folder; give that one)")


def corpora_root(root: str | os.PathLike | None = None) -> Path:
    """The folder holding all corpora: `root`, else $LMKIT_CORPORA, else <home>/corpora."""
    if root:
        return checked_folder(Path(root), f"root={root}")
    return setting_folder(CORPORA_VARIABLE) or home_folder("corpora")


def checkpoints_root() -> Path:
    """The folder new model directories go into by default: <home>/checkpoints."""
    return home_folder("checkpoints")


def folders_line() -> str:
    """`folders: corpora ... checkpoints ...` with absolute paths, for a command's header."""
    return printable(f"folders: corpora {corpora_root().absolute()}  checkpoints {checkpoints_root().absolute()}")
