"""Which folders and files are lmkit's: what it may write into, replace or remove, and what it leaves alone.

A folder is an lmkit model directory when lmkit can prove it made it:

    DIR/.lmkit-model     the marker, written when lmkit claims a new or empty folder (lmkit.checkpoint.save_load)
    DIR/config.json      or an lmkit config.json at its top, or in last/ or last.old/ (a run from before the marker)

and where only last/ proves it, each file at its top under a name lmkit saves must read as lmkit wrote it
(`users_file_at_the_top`). Inside a model directory lmkit touches only the names it writes (`read_names`,
`model_names`), the temporaries it can prove it made (`lmkit_temporary`), and a lock that is its own
(`is_lock_file`); a claim that nothing came of is undone (`release_claim`). A user's file, folder, link or
device beside them is never replaced or removed: `first_foreign_entry` finds the first one.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import stat
import zipfile
from pathlib import Path

from lmkit.checkpoint.saved_config import CONFIG_FILE, TOKENIZER_FILE
from lmkit.errors import CheckpointError, ConfigError
from lmkit.files.folder_markers import MODEL_MARKER, is_lmkit_config
from lmkit.files.temporary_names import make_temporary, temporary_of
from lmkit.files.writing import not_a_file

MARKER_FILE = MODEL_MARKER.name
METRICS_FILE = "metrics.jsonl"  # one JSON line per evaluation, appended
MAX_METRICS_LINE_BYTES = 1 << 16  # one line of metrics.jsonl is far shorter
MAX_TOKENIZER_BYTES = 1 << 28  # a tokenizer.json (a sentencepiece model inside) is far smaller
LAST = "last"  # the resumable checkpoint of a training run (lmkit.train.resume_state)
SAVE_STAGING = "save"  # save_model's staging folders are .lmkit-tmp.save.<token>.<check> (make_staging_folder)
STAGING_KINDS = (SAVE_STAGING, LAST)  # a staging folder's kind: save_model's, and save_last's (.lmkit-tmp.last.*)
STATE_FILE = "trainer_state.pt"  # in it, beside the model's files
LOCK_FILE = ".lock"  # held while a process writes into the directory (lmkit.train.resume_state.DirectoryLock)
LOCK_BYTES = 24  # the most a process number and its newline take (Linux pids are at most 2**22)
MARKER_TEXT = MODEL_MARKER.text  # what the marker holds; any other content is not lmkit's marker


def is_model_directory(directory: str | Path) -> bool:
    """True when lmkit can prove it made `directory`: its marker, or (from before the marker) an lmkit config.json."""
    directory = Path(directory)
    return has_marker(directory) or any(is_lmkit_config(directory / sub / CONFIG_FILE)
                                        for sub in ("", LAST, f"{LAST}.old")
                                        if not (directory / sub).is_symlink())  # a link proves nothing of this folder


def stopped_run(directory: Path) -> str | None:
    """The resumable checkpoint a training run left in `directory` (last/, else last.old/: a folder, not a link,
    holding a trainer state), or None. A run stopped before its first validation leaves one and no model beside it,
    and still resumes from it."""
    return next((name for name in (LAST, f"{LAST}.old") if not (directory / name).is_symlink()
                 and (directory / name / STATE_FILE).is_file()), None)


def refuse_inside_lmkit_folder(option: str, path: Path, target: Path | None = None) -> None:
    """ConfigError when `path` (a file or folder to write; `target`, where its links lead) lies inside an lmkit
    model directory or cached corpus: lmkit would later replace or remove what it put there as its own."""
    owner = lmkit_folder_holding(target or path)
    if owner is not None:
        raise ConfigError(f"{option} {path}: is inside {owner}, whose files are lmkit's; write it somewhere else")


def lmkit_folder_holding(target: Path) -> str | None:
    """'the model directory D' or 'the corpus folder C' when `target` (a file to write) lies inside one (at any
    depth), else None."""
    from lmkit.config.folders import corpora_root
    from lmkit.corpus.store import MANIFEST

    cache = corpora_root().resolve()
    for folder in target.resolve().parents:
        if folder.parent == cache and (folder / MANIFEST).is_file():
            return f"the corpus folder {folder}"
        if is_model_directory(folder):
            return f"the model directory {folder}"
    return None


def has_marker(directory: Path) -> bool:
    return MODEL_MARKER.present(directory)


def check_model_directory(directory: str | Path, option: str = "") -> None:
    """CheckpointError unless lmkit may write a model into `directory`: absent, empty, or an lmkit model
    directory. A user's folder is refused whatever the options (--overwrite replaces only lmkit's own)."""
    directory = Path(directory)
    named = f"{option} {directory}" if option else str(directory)
    if directory.is_symlink() and not directory.exists():
        raise CheckpointError(f"{named}: is a symbolic link that leads nowhere; choose another {option or 'folder'}")
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"{named}: is {not_a_file(directory.resolve()) or 'a file'}, not a folder for the model "
                              f"directory; choose another {option or 'folder'}")
    if directory.is_dir() and any(directory.iterdir()) and not is_model_directory(directory):
        raise CheckpointError(f"{named}: holds files and is not an lmkit model directory (no {MARKER_FILE}, no lmkit "
                              f"{CONFIG_FILE}); lmkit writes only into a new or empty folder or a model directory it "
                              f"made: choose another {option or 'folder'}")
    mine = users_file_at_the_top(directory) if directory.is_dir() else None
    if mine is not None:
        raise CheckpointError(f"{mine}: is not lmkit's, and lmkit saves its model there ({directory} is lmkit's only "
                              f"by the {LAST}/ or {LAST}.old/ in it: it has no {MARKER_FILE} of lmkit's and no lmkit "
                              f"{CONFIG_FILE}); move it, or choose another {option or 'folder'}")


def users_file_at_the_top(directory: Path) -> Path | None:
    """In a folder taken as lmkit's by an lmkit config.json in its last/ alone (a run from before the marker, or a
    last/ copied into a folder of the user's), the first entry at its top under a name lmkit saves there: nothing
    proves it lmkit's, and a save would replace it (a learning curve would be appended to it). None when the top
    is proved lmkit's (its marker, or an lmkit config.json)."""
    if has_marker(directory) or is_lmkit_config(directory / CONFIG_FILE):
        return None
    for name in (MARKER_FILE, LOCK_FILE):  # not lmkit's marker (has_marker said), and a lock nothing proves lmkit's
        if (directory / name).exists() or (directory / name).is_symlink():
            return directory / name
    for name in sorted(model_names() | {METRICS_FILE}):
        path = directory / name
        if (path.exists() or path.is_symlink()) and not written_by_lmkit(path):
            return path
    return None


def written_by_lmkit(path: Path) -> bool:
    """Whether the file at `path`, under one of the names lmkit saves at a model directory's top, reads as lmkit
    wrote it (a run killed inside its first save leaves these without a config.json): a learning curve's first
    evaluation record, a tokenizer's kind and vocabulary, weights recording their kind, N-gram tables."""
    from lmkit.models.neural.weight_files import WEIGHTS_FILE
    from lmkit.models.neural.weights import read_header
    from lmkit.models.ngram.model import WEIGHTS_FILE as NGRAM_WEIGHTS_FILE

    try:
        if not_a_file(path) is not None or not path.exists():
            return False
        with open(path, "rb") as handle:
            if path.name == METRICS_FILE:
                record = json.loads(handle.readline(MAX_METRICS_LINE_BYTES))
                return isinstance(record, dict) and type(record.get("step")) is int
            if path.name == TOKENIZER_FILE:
                saved = json.loads(handle.read(MAX_TOKENIZER_BYTES))
                return isinstance(saved, dict) and isinstance(saved.get("kind"), str) and "vocab" in saved
            if path.name == WEIGHTS_FILE:
                return isinstance(read_header(handle, path)[1].get("kind"), str)
            if path.name == NGRAM_WEIGHTS_FILE:
                with zipfile.ZipFile(handle) as archive:
                    return "keys1.npy" in archive.namelist()
    except (OSError, ValueError, RecursionError, CheckpointError, zipfile.BadZipFile):
        pass
    return False


def entry_stamps(directory: Path) -> dict[str, tuple[int, int]]:
    """Each entry at the top of `directory` but the marker: its (inode, modification time). A run that writes
    anything there changes them (a save renames its files and last/ into place, metrics.jsonl grows)."""
    stamps = {}
    try:
        for entry in directory.iterdir():
            if entry.name != MARKER_FILE:
                info = entry.lstat()
                stamps[entry.name] = (info.st_ino, info.st_mtime_ns)
    except OSError:
        pass
    return stamps


def folder_times(directory: Path) -> tuple[int, int] | None:
    """`directory`'s own (access, modification) times in ns, for release_claim to put back; None if unreadable."""
    try:
        info = directory.stat()
    except OSError:
        return None
    return info.st_atime_ns, info.st_mtime_ns


def release_claim(directory: Path, before: dict[str, tuple[int, int]], times: tuple[int, int] | None = None) -> None:
    """Undo a claim that nothing came of: remove the marker when `directory` holds what it held when it was
    claimed (`before`, its entry_stamps then), and nothing more, and give the folder back its times then
    (`times`, folder_times). A folder taken as lmkit's by an lmkit config.json in it (a run from before the
    marker, or a last/ copied there) keeps no trace of a command that failed, not even a newer mtime."""
    try:
        if (directory / MARKER_FILE).is_file() and entry_stamps(directory) == before:
            (directory / MARKER_FILE).unlink()
            if times is not None:
                os.utime(directory, ns=times, follow_symlinks=False)
    except OSError:
        pass  # something appeared meanwhile: then it is in use, and stays


def read_names() -> frozenset[str]:
    """The names of a model directory's entries that lmkit reads (the folders among them read whole: the two
    resumable checkpoints and an interpolation's members)."""
    return model_names() | {MARKER_FILE, METRICS_FILE, STATE_FILE, LAST, f"{LAST}.old"}


def make_staging_folder(directory: Path, kind: str, mode: int = 0o700) -> Path:
    """A new empty folder `directory`/.lmkit-tmp.<kind>.<token>.<check> (kind: one of STAGING_KINDS) where a save
    writes its files before renaming them into place; private unless `mode` says otherwise. Its name proves it
    lmkit's (lmkit.files.temporary_names.make_temporary)."""
    def make_folder(path: Path) -> Path:
        os.mkdir(path, mode)
        return path

    return make_temporary(Path(directory), kind, make_folder)


def is_staging_name(name: str) -> bool:
    """Whether `name` is one make_staging_folder gives: a staging kind, its token, and the check that fits them."""
    return temporary_of(name) in STAGING_KINDS


def lmkit_temporary(entry: Path, names: frozenset[str]) -> bool:
    """Whether `entry` is a temporary lmkit makes in a model directory, by name, kind and content: a staging
    folder (`make_staging_folder`) holding only staged files, or the temporary file of one of `names` being
    written whole (written_whole), each named as lmkit.files.temporary_names.make_temporary names them: the name proves it.
    Anything else under the prefix is not provably lmkit's, and is left alone: a user's .lmkit-tmp.save.mybackup
    holding a copy of the model's files, or their .lmkit-tmp.config.json.abcdefgh, say."""
    if entry.is_symlink():
        return False
    what = temporary_of(entry.name)
    if what in STAGING_KINDS:
        return entry.is_dir() and only_staged_files(entry)
    return what is not None and what in names and what in written_whole() and entry.is_file()


def written_whole() -> frozenset[str]:
    """The files lmkit writes under a temporary name and renames into place (lmkit.files.writing.atomic_write): the model's
    own files, never metrics.jsonl (appended to), the marker (one write) or trainer_state.pt (inside staging)."""
    from lmkit.models.mix import MEMBERS_DIR

    return model_names() - {MEMBERS_DIR}


def only_staged_files(folder: Path) -> bool:
    """Whether `folder` holds nothing but what a save writes into its staging folder: a model directory's files
    (and their temporaries), an interpolation's members/<i>/ holding the same, a trainer state. A folder of the
    user's named like a staging folder (.lmkit-tmp.save.mybackup) holds something else, and is left alone."""
    from lmkit.models.mix import MEMBERS_DIR

    names = read_names()
    for entry in folder.iterdir():
        if entry.is_symlink():
            return False
        if entry.name == MEMBERS_DIR and folder.name != MEMBERS_DIR and entry.is_dir():
            if not all(member.name.isdigit() and member.is_dir() and not member.is_symlink()
                       and only_staged_files(member) for member in entry.iterdir()):
                return False
        elif not (lmkit_temporary(entry, names) or (entry.is_file() and entry.name in names)):
            return False  # (save_last stages save_model, whose own staging folder a kill may leave inside)
    return True


def first_foreign_entry(directory: Path, names: frozenset[str]) -> Path | None:
    """The first entry at the top of a model directory that lmkit cannot prove it made there: a name outside
    `names` (its temporaries aside), a link, a folder where lmkit writes a file or the reverse, or a .lock that
    is not lmkit's. Replacing the directory whole would lose it."""
    from lmkit.models.mix import MEMBERS_DIR

    for entry in sorted(Path(directory).iterdir()):
        if lmkit_temporary(entry, names):
            continue
        folder = entry.name in (LAST, f"{LAST}.old", MEMBERS_DIR)
        if (entry.name not in names or entry.is_symlink() or entry.is_dir() != folder
                or (not folder and not entry.is_file())
                or (entry.name == LOCK_FILE and not is_lock_file(entry))):
            return entry
    return None


def lock_state(folder: Path) -> str:
    """Whether a process writes into `folder` now: "held" (FOLDER/.lock locked: lmkit.train.folder_lock),
    "free" (no lock file, or one nobody holds; a link there counts as none, as taking the lock refuses it), or
    "planted" (a FIFO, folder or device stands there). Never waits, creates nothing."""
    try:  # never waiting: opening a FIFO planted there would block until somebody wrote to it
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return "free"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "planted"
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return "free"
    except BlockingIOError:
        return "held"
    finally:
        os.close(fd)


def is_lock_file(path: Path) -> bool:
    """A lock lmkit wrote: empty (just created) or a process number, and no other name links to it."""
    try:
        info = os.lstat(path)
        held = path.read_bytes()[:LOCK_BYTES + 1] if stat.S_ISREG(info.st_mode) else b"x"
    except OSError:
        return False
    return info.st_nlink == 1 and (not held or re.fullmatch(rb"\d{1,%d}\n?" % (LOCK_BYTES - 1), held) is not None)


def model_names() -> frozenset[str]:
    """The names of the entries that hold the model itself (what `report` counts as its size on disk)."""
    from lmkit.models.mix import MEMBERS_DIR
    from lmkit.models.neural.weight_files import WEIGHTS_FILE
    from lmkit.models.ngram.model import WEIGHTS_FILE as NGRAM_WEIGHTS_FILE

    return frozenset({CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE, NGRAM_WEIGHTS_FILE, MEMBERS_DIR})
