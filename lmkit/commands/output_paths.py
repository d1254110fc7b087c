"""Click types for the paths a user names, checked as the command line is read.

    any path                       PathGiven: click's Path, but never an empty string, which Path('') would
                                   quietly make '.', the current folder (`--train ""` trained on its files), nor
                                   `-`, which would be read as a file of that name where the user meant a pipe
    --prompt-file, --file,         PathOrStdin: a PathGiven, or `-` for standard input (./- names a file called '-');
    --text-file                    a pipe named as a file (the shell's <(...)) is pointed to `-`
    --out DIR of train and ngram   ModelDirectory: new, empty, or a model directory lmkit made (never a user's folder,
                                   with or without --overwrite), and not inside another one or a cached corpus
    --per-line FILE, --arpa FILE,  OutputFile: a regular file or a symbolic link to one, in a folder that can be
    rescore's --out FILE           written (never a directory, device, FIFO or socket), and not inside an lmkit
                                   model directory or a cached corpus's folder, whose files are lmkit's own (a
                                   model or corpus the file would break)

and, once every option is read, `check_output`: an output file is never one of the files the same
command reads (the same file, however it is reached), nor inside the model directory it writes, and a file
already there (or the file a link there leads to) is the user's until they say otherwise: it is replaced only
with the command's --overwrite, since lmkit cannot prove it wrote it.

The rules on what a path is hold again where the writing happens (lmkit.checkpoint.claim_model_directory,
lmkit.files.writing.atomic_write); these checks make a bad path fail before the work, naming its option.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import click

from lmkit.config.path_text import check_path_text
from lmkit.errors import ConfigError


class PathGiven(click.Path):
    """A path to read, or a folder: see the module docstring."""

    def __init__(self, writes: str | None = None):
        """`writes`: "a folder" where the path is one the command writes (report's --out)."""
        super().__init__(path_type=Path)
        self.writes = writes

    def convert(self, value, param, ctx) -> Path:
        check_path_text(option_name(param), value)
        if self.writes is not None:
            refuse_dash(option_name(param), value, self.writes)
        if value == STDIN:  # PathOrStdin takes it before this; anywhere else it would be a file called '-'
            raise ConfigError(f"{option_name(param)} -: takes a path here, not standard input; name the file or "
                              "folder (./- for one called '-')")
        refuse_detours_through_nothing(option_name(param), value)
        return super().convert(value, param, ctx)


STDIN = "-"


class PathOrStdin(PathGiven):
    """A path to read, or STDIN (the string "-", never a Path: ./- converts to Path("-"), a file called '-')."""

    def convert(self, value, param, ctx) -> Path | str:
        if value == STDIN:
            return STDIN
        from lmkit.files.reading import kind_of

        path = super().convert(value, param, ctx)
        mode = mode_of(path)  # refused again where any file is opened (lmkit.files.writing); here, naming the option
        option = option_name(param)
        if mode is not None and stat.S_ISFIFO(mode):  # and this option has a way to take a pipe
            raise ConfigError(f"{option} {value}: is a FIFO (named pipe, or the shell's <(...)), which lmkit does not "
                              f"read as a file; give {option} - and pipe the text to standard input instead")
        if mode is not None and not stat.S_ISREG(mode):
            raise ConfigError(f"{option} {value}: is {kind_of(mode)}, not a regular file; lmkit reads input only "
                              "from regular files")
        return path


def mode_of(path: Path) -> int | None:
    """The mode of what `path` leads to, or None where nothing is there (said where it is opened)."""
    try:
        return os.stat(path).st_mode
    except OSError:
        return None


class OutputFile(click.ParamType):
    name = "file"

    def convert(self, value, param, ctx) -> Path:
        from lmkit.checkpoint.ownership import refuse_inside_lmkit_folder
        from lmkit.files.writing import WriteError, check_output_file

        check_path_text(option_name(param), value)
        refuse_dash(option_name(param), value, "a file")
        refuse_detours_through_nothing(option_name(param), value)
        path = Path(value)
        try:
            target = check_output_file(path)
        except WriteError as exc:
            message = str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc.reason}"
            raise ConfigError(f"{option_name(param)} {message}") from exc
        refuse_inside_lmkit_folder(option_name(param), path, target)
        return path


class ModelDirectory(click.ParamType):
    name = "directory"

    def convert(self, value, param, ctx) -> Path:
        from lmkit.checkpoint.ownership import check_model_directory, refuse_inside_lmkit_folder

        check_path_text(option_name(param), value)
        refuse_dash(option_name(param), value, "a folder")
        refuse_detours_through_nothing(option_name(param), value)
        path = Path(value)
        check_model_directory(path, option_name(param))
        refuse_inside_lmkit_folder(option_name(param), path)
        return path


def refuse_detours_through_nothing(option: str, value) -> None:
    """`NAME/..` where NAME is not a folder (missing, a file, a link that leads nowhere) is refused: the kernel
    cannot resolve it, so every check saw nothing there, while a run that made NAME wrote past it (`--out
    ghost/../keep` trained over the model in keep without --overwrite), and a typo (`dta/../test.txt`) would
    quietly name another file. Where NAME is a folder, or a link to one, `..` is the kernel's to resolve."""
    if not isinstance(value, (str, os.PathLike)):
        return
    path = Path(value)
    for depth, part in enumerate(path.parts):
        if part != ".." or depth == 0:
            continue
        before = Path(*path.parts[:depth])
        if path.parts[depth - 1] not in ("..", path.anchor) and not before.is_dir():
            what = ("does not exist" if not os.path.lexists(before) else
                    "is a symbolic link that leads nowhere" if before.is_symlink() else "is a file, not a folder")
            raise ConfigError(f"{option} {value}: {before} {what}, so the {before}/.. in the path names nothing; "
                              "write the path without it")


def refuse_dash(option: str, value, writes: str) -> None:
    """`-` is a standard stream elsewhere; as a path lmkit writes it would quietly be a file or folder named '-'."""
    if str(value) == "-":
        raise ConfigError(f"{option} -: this option writes {writes}, not standard output; name the {writes[2:]} "
                          "(./- for one called '-')")


def option_name(param) -> str:
    """--option as typed first in its declaration, or an argument's name as the usage line shows it (MODEL)."""
    if isinstance(param, click.Argument):
        return param.human_readable_name.strip("[].")  # [MODEL]... -> MODEL
    return param.opts[0] if param is not None and param.opts else "path"


def corpus_files(corpus_spec) -> list[Path]:
    """The local files a CorpusSpec names (--train, --valid, --test)."""
    return [*corpus_spec.train, *corpus_spec.valid, *corpus_spec.test]


def check_output(option: str, output: Path | None, reads, overwrite: bool, writes_into: Path | None = None) -> None:
    """ConfigError when the file `option` names is one the command reads (`reads`: paths, None skipped; the
    same file however reached: links, hard links), lies inside `writes_into`, the model directory the
    command is writing, or already exists and `overwrite` was not given."""
    if output is None:
        return
    from lmkit.files.writing import write_target

    target = write_target(output).resolve()
    refuse_overlap(option, output, target, reads, writes_into)
    if target.exists() and not overwrite:
        through = f" (the file {target} the link leads to)" if Path(output).is_symlink() else ""
        raise ConfigError(f"{option} {output}: the file exists{through}; give --overwrite to replace it, or name "
                          "a new file")


def refuse_overlap(option: str, output: Path, target: Path, reads, writes_into: Path | None) -> None:
    """check_output's part about the command's own files; `target` is the file a write to `output` replaces."""
    for read in (Path(r) for r in reads if r is not None):
        if read.is_dir() and read.resolve() in target.parents:  # --train FOLDER reads every file in it
            raise ConfigError(f"{option} {output}: is inside {read}, which this command reads; write it somewhere else")
        if target.exists() and read.exists() and os.path.samefile(read, target):
            raise ConfigError(f"{option} {output}: is {read}, which this command reads; write it somewhere else")
    if writes_into is not None and Path(writes_into).resolve() in (target, *target.parents):
        raise ConfigError(f"{option} {output}: is {'inside ' if Path(writes_into).resolve() != target else ''}"
                          f"{writes_into}, the model directory this command writes; write it somewhere else")
