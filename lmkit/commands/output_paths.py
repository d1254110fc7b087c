"""Click types for the paths a user names for lmkit to write, checked as the command line is read.

    --out DIR of train and ngram   ModelDirectory: new, empty, or a model directory lmkit made (never a user's folder,
                                   with or without --overwrite)
    --per-line FILE, --arpa FILE   OutputFile: a regular file or a symbolic link to one, in a folder that can be
                                   written (never a directory, device, FIFO or socket)

The same rules hold again where the writing happens (lmkit.checkpoint.claim_model_directory,
lmkit.fileio.atomic_write); these types only make a bad path fail before the work, naming its option.
"""
from __future__ import annotations

from pathlib import Path

import click

from lmkit.errors import ConfigError


class OutputFile(click.ParamType):
    name = "file"

    def convert(self, value, param, ctx) -> Path:
        from lmkit.fileio import WriteError, check_output_file

        path = Path(value)
        try:
            check_output_file(path)
        except WriteError as exc:
            message = str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc.reason}"
            raise ConfigError(f"{option_name(param)} {message}") from exc
        return path


class ModelDirectory(click.ParamType):
    name = "directory"

    def convert(self, value, param, ctx) -> Path:
        from lmkit.checkpoint import check_model_directory

        path = Path(value)
        check_model_directory(path, option_name(param))
        return path


def option_name(param) -> str:
    return param.opts[0] if param is not None and param.opts else "path"
