"""What `--resume` needs, saved beside the model: DIR/last/ and DIR/.lock.

DIR/last/ is a complete model directory plus trainer_state.pt (optimizer,
schedule, RNG, data position, carried hidden state). It is written into a
fresh temporary folder and swapped in with renames, so a crash leaves either
the previous last/ or the new one (or, between the two renames, last.old/,
which load_resume falls back to).

Both folders are replaced whole, so lmkit first proves they hold only what
save_last writes there (LAST_FILES, and its own temporaries): a file of the
user's put inside is refused by name, never removed with the folder.
"""
from __future__ import annotations

import io
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import torch

from lmkit.checkpoint.ownership import (LAST, LOCK_FILE, MARKER_FILE, METRICS_FILE, STATE_FILE, check_model_directory,
                                        entry_stamps, first_foreign_entry, folder_times, lmkit_temporary,
                                        make_staging_folder, model_names, read_names, release_claim, stopped_run)
from lmkit.checkpoint.save_load import (CONFIG_FILE, TOKENIZER_FILE, ModelWriteError, check_links_inside,
                                        claim_model_directory, load_model, save_model)
from lmkit.errors import CheckpointError, ConfigError, first_line
from lmkit.files.reading import open_regular
from lmkit.files.writing import fsync_dir, make_folders, not_a_file, remove_made_folders
from lmkit.models.neural.weight_files import WEIGHTS_FILE
from lmkit.models.weights_kind import MEMBERS_DIR, NGRAM_WEIGHTS_FILE
from lmkit.train.folder_lock import FolderLock, refuse_if_held
from lmkit.train.state_check import check_trainer_state
from lmkit.config.folders import home_hint

LAST_FILES = frozenset({CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE, STATE_FILE, MARKER_FILE})  # what save_last writes


def save_last(directory: Path, model, tokenizer, trainer_state: dict, extra: dict) -> Path:
    """Write model + trainer state to DIR/last/ all-or-nothing."""
    directory = Path(directory)
    last, old = directory / LAST, directory / f"{LAST}.old"
    claim_model_directory(directory)
    try:
        staging = make_staging_folder(directory, LAST, mode=0o777)  # shared like the rest, as mkdir makes folders
    except OSError as exc:
        raise CheckpointError(f"could not save the resumable checkpoint {last}: {exc.strerror or exc}"
                              f"{what_is_left(directory)}") from exc
    try:
        save_model(staging, model, tokenizer, extra)
        write_trainer_state(staging / STATE_FILE, trainer_state)
        fsync_dir(staging)
        check_last_folders(directory, saving=True)  # a file put there during the run is the user's too
        if last.exists():  # only a complete last/ may push last.old/ out: it is the fallback while last/ is absent
            shutil.rmtree(old, ignore_errors=True)
            os.replace(last, old)
        os.replace(staging, last)
        fsync_dir(directory)
        shutil.rmtree(old, ignore_errors=True)
    except (ModelWriteError, OSError) as exc:
        reason = exc.reason if isinstance(exc, ModelWriteError) else exc.strerror or str(exc)
        raise CheckpointError(f"could not save the resumable checkpoint {last}: {reason}"
                              f"{what_is_left(directory)}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return last


def what_is_left(directory: Path) -> str:
    """The end of a failed save's message: whether an earlier resumable checkpoint is there to resume from (none
    before the first save, or after --overwrite cleared the old run's)."""
    if stopped_run(directory) is None:
        return "; there is no earlier checkpoint to resume from"
    return "; the previous checkpoint is intact"


def holds_previous_run(directory: Path) -> bool:
    """Whether DIR holds what an earlier run saved: a model (config.json), a learning curve or a resumable state."""
    directory = Path(directory)
    return (directory / CONFIG_FILE).exists() or (directory / METRICS_FILE).exists() or stopped_run(directory) is not None


def clear_previous_run(directory: Path) -> None:
    """A fresh run replacing an earlier one (--overwrite, Trainer(overwrite=True)): the old learning curve and resume
    state must not mix with the new run's (last.old/ too, which --resume would fall back to); the model's own files
    are replaced by its first save. check_save_places proves first that both hold only lmkit's files."""
    check_save_places(directory)
    (Path(directory) / METRICS_FILE).unlink(missing_ok=True)
    for folder in (LAST, f"{LAST}.old"):
        shutil.rmtree(Path(directory) / folder, ignore_errors=True)


def check_save_places(directory: Path) -> None:
    """Before training or building into DIR: CheckpointError naming a folder, FIFO or link of the user's where
    the best model's files go (an LSTM's or an N-gram's), or anything of the user's in last/ or last.old/
    (check_last_folders)."""
    from lmkit.models.mix import MEMBERS_DIR  # a folder, and only an interpolation's: training writes none

    for name in sorted(model_names() - {MEMBERS_DIR} | {MARKER_FILE, METRICS_FILE}):
        path = Path(directory) / name
        if path.is_symlink():  # lmkit's saves make no links: this one is the user's
            if name == METRICS_FILE:
                raise CheckpointError(f"{path}: is a symbolic link, and lmkit appends its learning curve there "
                                      "(it would write into the file the link names); move it")
            raise CheckpointError(f"{path}: is a symbolic link where lmkit saves a file, and not lmkit's (a save "
                                  "would replace the link); move it")
        if name == METRICS_FILE and path.is_file() and path.stat().st_nlink > 1:
            raise CheckpointError(f"{path}: is hard-linked to another name too, and lmkit appends its learning "
                                  "curve there (it would write into that file as well); move it")
        what = not_a_file(path)
        if what is not None:  # a folder, FIFO or device of the user's
            raise CheckpointError(f"{path}: is {what} where lmkit saves a file, and not lmkit's; move it")
    check_last_folders(directory)


def check_last_folders(directory: Path, saving: bool = False) -> None:
    """CheckpointError naming the first entry of DIR/last/ or DIR/last.old/ that lmkit did not write there: the
    next save (or --overwrite) replaces both folders whole."""
    for folder in (Path(directory) / LAST, Path(directory) / f"{LAST}.old"):
        entry = not_lmkits(folder)
        if entry is not None:
            left = what_is_left(directory) if saving else ""
            raise CheckpointError(f"{entry}: is not lmkit's, and lmkit replaces {folder} whole when it saves the "
                                  f"resumable checkpoint; move it out of there{left}")


def not_lmkits(folder: Path) -> Path | None:
    """The first entry of `folder` that save_last did not write (lmkit.checkpoint.ownership.first_foreign_entry with
    LAST_FILES: no folder and no other name), or `folder` itself when it is a link or not a folder; None when lmkit
    may replace `folder` whole."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        return folder
    return first_foreign_entry(folder, LAST_FILES) if folder.exists() else None


def write_trainer_state(path: Path, trainer_state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(trainer_state, buffer)
    with open(path, "wb") as handle:
        handle.write(buffer.getvalue())
        handle.flush()
        os.fsync(handle.fileno())


def refuse_working_directory_inside(directory: Path, named: str) -> None:
    """ConfigError when the working directory is inside DIR/last or DIR/last.old (`named`: the option and path
    that named DIR): each save of the run, and --overwrite, replaces those folders whole, and the run would lose
    its working directory midway (having removed the old state, and before saving a new one)."""
    here = Path.cwd()
    for folder in (Path(directory) / LAST, Path(directory) / f"{LAST}.old"):
        if here == folder.resolve() or folder.resolve() in here.parents:
            raise ConfigError(f"{named}: the working directory is inside {folder}, which each save of the run "
                              f"replaces whole; run lmkit from outside it (the run: {Path(directory).resolve()})")


def refuse_state_name(directory: Path, named: str) -> None:
    """ConfigError when a new run's directory would be named like a run's resumable state (last, last.old): a
    --resume of it would be read as one of its parent folder's."""
    name = Path(directory).resolve().name if Path(directory).name in ("", ".", "..") else Path(directory).name
    if name in (LAST, f"{LAST}.old"):
        raise ConfigError(f"{named}: {LAST}/ and {LAST}.old/ are the names of a run's resumable state inside its "
                          f"directory, and --resume would read this run as its parent folder's; name the run's "
                          "directory otherwise")


def resume_dir(directory: Path) -> Path:
    """The folder holding the resumable state for DIR: DIR/last, else DIR/last.old (a run killed between the two
    renames of a save)."""
    directory = Path(directory)
    for candidate in (directory / LAST, directory / f"{LAST}.old"):
        if (candidate / STATE_FILE).exists() and (candidate / CONFIG_FILE).exists():
            return candidate
    if not directory.exists():
        raise CheckpointError(f"--resume {directory}: no such directory{home_hint(directory)}")
    if not directory.is_dir():  # an ARPA file, a model's weights: pass 75 read it as a folder whose last/ was lost
        raise CheckpointError(f"--resume {directory}: is a file, not a model directory; give the folder a training "
                              "run saved into")
    if (directory / NGRAM_WEIGHTS_FILE).exists() or (directory / MEMBERS_DIR).is_dir():
        raise CheckpointError(f"--resume {directory}: holds an N-gram model or an interpolation, which is counted or "
                              "mixed, not trained step by step, so there is no run to continue")
    if (directory / STATE_FILE).exists():  # a last/ under another name: the run's best model would be saved over it
        raise CheckpointError(f"--resume {directory}: holds a resumable state itself ({STATE_FILE}), as a run's "
                              f"{LAST}/ does; lmkit saves the run's best model beside {LAST}/, and here would save "
                              f"it over the state: give the run's directory, the folder that holds {LAST}/")
    missing = [f"{LAST}/{name}" for name in (STATE_FILE, CONFIG_FILE) if not (directory / LAST / name).exists()]
    raise CheckpointError(f"--resume {directory}: no resumable state ({' and '.join(missing)} "
                          f"{'is' if len(missing) == 1 else 'are'} missing)")


def load_resume(directory: Path):
    """(model, tokenizer, config, trainer_state) from DIR's resumable checkpoint; never unpickles code."""
    where = resume_dir(directory)
    check_links_inside(Path(directory))  # DIR/last itself may not be a link out of DIR
    model, tokenizer, config = load_model(where)
    state = load_trainer_state(where / STATE_FILE)
    check_trainer_state(where / STATE_FILE, state, model)
    return model, tokenizer, config, state


def load_trainer_state(path: Path) -> dict:
    damaged = f"{path}: unreadable trainer state, cut short or damaged"
    try:
        with open_regular(path, CheckpointError) as handle:
            if not zipfile.is_zipfile(handle):  # torch.save's format; a file cut short has lost its zip directory
                raise CheckpointError(f"{path}: unreadable trainer state: not the zip file torch.save writes (cut "
                                      "short, damaged, or written by something else)")
            handle.seek(0)
            state = torch.load(handle, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "GLOBAL" not in str(exc):  # weights_only names the import it refuses; any other failure is damage
            raise CheckpointError(f"{damaged} (its pickle stream is not one torch.save writes)") from exc
        raise CheckpointError(f"{path}: refused to load: it holds objects other than tensors and plain data "
                              "(possibly code); only weights_only files are accepted") from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{damaged} ({first_line(exc)})") from exc
    if not isinstance(state, dict) or "step" not in state:
        raise CheckpointError(f"{path}: not an lmkit trainer state")
    return state


def busy(directory: Path, option: str = "--out") -> ConfigError:
    """The error for a directory another process trains into, with what to do for the option that named it."""
    instead = "wait for it to stop, then resume" if option == "--resume" else f"choose another {option} or wait for it"
    return ConfigError(f"{directory}: another lmkit process is training into this directory (it holds {LOCK_FILE}); "
                       f"{instead}")


class DirectoryLock(FolderLock):
    """The lock on DIR/.lock held while training writes into DIR (lmkit.train.folder_lock.FolderLock).

    DIR is first claimed as a model directory (a user's folder is refused
    before anything is written). On release the claim is undone too (the
    marker, and the folders this lock made) when nothing else was written, so a
    run that fails before training leaves no trace. While held, temporaries that a
    killed run left behind are removed.
    """

    def __init__(self, directory: Path, option: str = "--out"):
        super().__init__(directory, lambda folder: busy(folder, option or "--out"))
        self.directory = Path(directory)
        self.option = option  # the option that named the directory, for the messages that refuse it
        self.made: list[Path] = []  # the folders this lock made (lmkit.files.writing.make_folders)
        self.claimed = False
        self.before: dict[str, tuple[int, int]] = {}  # the directory's entries when claimed (entry_stamps)
        self.times: tuple[int, int] | None = None  # and its own times then (folder_times)

    def __enter__(self) -> "DirectoryLock":
        check_model_directory(self.directory, self.option)  # a user's folder is refused before a folder is made
        try:
            self.made = make_folders(self.directory)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if self.option:  # before any work, nothing saved: what to give instead, not what was kept
                raise CheckpointError(f"{self.option} {self.directory}: {reason}; choose another {self.option}") from exc
            raise ModelWriteError(self.directory, reason) from exc
        try:
            self.before, self.times = entry_stamps(self.directory), folder_times(self.directory)
            self.claimed = claim_model_directory(self.directory, self.option)
            super().__enter__()
        except BaseException:
            self._release_claim()
            raise
        remove_stale_temporaries(self.directory)
        return self

    @staticmethod
    def refuse_if_held(directory: Path, option: str = "--out") -> None:
        """The busy-directory error now, if a process holds DIR/.lock: before a resume reads the files that
        process is rewriting (it saw a checkpoint half-replaced and blamed the files). Creates nothing."""
        refuse_if_held(directory, lambda folder: busy(folder, option))

    def __exit__(self, *exc) -> None:
        super().__exit__(*exc)
        self._release_claim()

    def _release_claim(self) -> None:
        if self.claimed:
            release_claim(self.directory, self.before, self.times)
        remove_made_folders(self.made, self.directory)  # those this lock made, if nothing was written into them


def remove_stale_temporaries(directory: Path) -> None:
    """Staging folders and temporary files of a process killed while saving, known by name and kind
    (lmkit.checkpoint.ownership.lmkit_temporary; only the lock holder of a claimed model directory may call this)."""
    names = read_names()
    for entry in directory.iterdir():
        if not lmkit_temporary(entry, names):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
