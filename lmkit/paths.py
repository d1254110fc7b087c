"""Where lmkit keeps its files: the one place the corpora and checkpoints folders are resolved.

    $LMKIT_CORPORA      the corpora folder (wins over the home for corpora)
    $LMKIT_HOME         a home folder: corpora/ and checkpoints/ under it
    neither             ./corpora and ./checkpoints in the current folder

Every command prints the folders it resolved (`folders_line`), so a run started
from another folder does not silently begin a second cache there.
"""
from __future__ import annotations

import os
from pathlib import Path

HOME_VARIABLE = "LMKIT_HOME"
CORPORA_VARIABLE = "LMKIT_CORPORA"


def lmkit_home() -> Path:
    """$LMKIT_HOME, else the current folder."""
    return Path(os.environ.get(HOME_VARIABLE) or ".")


def corpora_root(root: str | os.PathLike | None = None) -> Path:
    """The folder holding all corpora: `root`, else $LMKIT_CORPORA, else <home>/corpora."""
    return Path(root or os.environ.get(CORPORA_VARIABLE) or lmkit_home() / "corpora")


def checkpoints_root() -> Path:
    """The folder new model directories go into by default: <home>/checkpoints."""
    return lmkit_home() / "checkpoints"


def folders_line() -> str:
    """`folders: corpora ... checkpoints ...` with absolute paths, for a command's header."""
    return f"folders: corpora {corpora_root().absolute()}  checkpoints {checkpoints_root().absolute()}"
