"""Model directories: self-describing, safe to load, written atomically.

    DIR/config.json      {"format": 1, "lmkit": version, "kind": ..., hyperparameters, "train", "vocab" and
                         "tokenizer" records (lmkit.saved_config)}
    DIR/tokenizer.json   tokenizer kind, options and vocabulary
    DIR/<weights>        whatever the model's own `save` writes (model.safetensors, model.ngram.npz, ...)
    DIR/metrics.jsonl    one JSON line per evaluation: the learning curve (lmkit.learning_curve)
    DIR/last/            the latest state, with trainer_state.pt, for --resume (training only)
    DIR/.lmkit-model     the marker: lmkit made this folder, so it may write, clean up and replace here

config.json is written last: a directory with a config.json is complete.
lmkit writes only into a folder it can prove is its own model directory: one
with the marker, or one from before the marker existed (an lmkit config.json
at its top or in last/); a new or empty folder becomes one when claimed.
Nothing here unpickles code: weights come from safetensors or numpy files
without pickles, and torch files are read with weights_only=True.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from lmkit.config.from_json import from_json
from lmkit.errors import CheckpointError, ConfigError, TokenizerError
from lmkit.fileio import (MODEL_MARKER, TEMP_PREFIX, WriteError, fsync_dir, is_lmkit_config, not_a_file,
                          read_json, write_json_atomic, write_text_atomic)
from lmkit.models import model_class
from lmkit.models.weights_kind import check_weights_kind
from lmkit.saved_config import (CONFIG_FILE, TOKENIZER_FILE, SavedFields, check_saved_records,
                                 check_tokenizer_matches, tokenizer_record, vocab_record)
from lmkit.stop_signals import held_back
from lmkit.text.tokenizers import Tokenizer, load_tokenizer

FORMAT = 1
STAGING_PREFIX = f"{TEMP_PREFIX}save."  # save_model's staging folders inside the model directory
MARKER_FILE = MODEL_MARKER.name
METRICS_FILE = "metrics.jsonl"  # one JSON line per evaluation, appended
MAX_METRICS_LINE_BYTES = 1 << 16  # one line of metrics.jsonl is far shorter
MAX_TOKENIZER_BYTES = 1 << 28  # a tokenizer.json (a sentencepiece model inside) is far smaller
LAST = "last"  # the resumable checkpoint of a training run (lmkit.train.resume_state)
STATE_FILE = "trainer_state.pt"  # in it, beside the model's files
LOCK_FILE = ".lock"  # held while a process writes into the directory (lmkit.train.resume_state.DirectoryLock)
LOCK_BYTES = 24  # the most a process number and its newline take (Linux pids are at most 2**22)
MARKER_TEXT = MODEL_MARKER.text  # what the marker holds; any other content is not lmkit's marker


def lmkit_version() -> str:
    try:
        return version("lmkit")
    except PackageNotFoundError:
        return "0+checkout"


class ModelWriteError(CheckpointError):
    """The disk refused a model file (full, read-only, ...); what `directory` held before is intact."""

    def __init__(self, directory: Path, reason: str):
        super().__init__(f"could not save the model to {directory}: {reason}; the model saved there before, "
                         "if any, is intact")
        self.reason = reason


def save_model(directory: str | Path, model, tokenizer: Tokenizer, extra: dict | None = None,
               files: dict[str, str] | None = None) -> Path:
    """Write tokenizer, weights, `files` (name -> text: a model rebuilt whole brings its own metrics.jsonl) and
    config.json into a staging folder, then rename them into `directory`.

    All the slow writing (and any disk-full error) happens while staging, so a
    failure leaves the previous model whole; config.json is renamed in last,
    so its presence means 'complete', and a stop signal waits for the renames to
    end, so a stopped save leaves the old model or the new one, never a mix.
    `directory` must be new, empty or an lmkit model directory (CheckpointError
    otherwise); other files in it are kept.
    """
    directory = Path(directory)
    if tokenizer.vocab != model.vocab:
        raise CheckpointError(f"{directory}: the tokenizer's vocabulary differs from the model's")
    claim_model_directory(directory)
    try:
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=directory))
    except OSError as exc:
        raise ModelWriteError(directory, exc.strerror or str(exc)) from exc
    try:
        config = {"format": FORMAT, "lmkit": lmkit_version(), **model.config(), **(extra or {}),
                  "vocab": vocab_record(model.vocab), "tokenizer": tokenizer_record(tokenizer)}
        tokenizer.save(staging / TOKENIZER_FILE)
        model.save(staging, config.get("direction"))  # the weights record what config.json says (saved_record)
        for name, text in (files or {}).items():
            write_text_atomic(staging / name, text)
        write_json_atomic(staging / CONFIG_FILE, config)
        blocked = folder_in_the_way(staging, directory)
        if blocked is not None:  # before anything moves: a half-moved model would pair new weights with an old config
            raise ModelWriteError(directory, f"{blocked} is a directory where lmkit saves a file, and not lmkit's; move it")
        with held_back():
            move_into(staging, directory)
        fsync_dir(directory)
    except WriteError as exc:
        raise ModelWriteError(directory, exc.reason) from exc
    except OSError as exc:
        raise ModelWriteError(directory, exc.strerror or str(exc)) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def folder_in_the_way(source: Path, target: Path) -> Path | None:
    """The first folder under `target` standing where move_into would rename a file of `source`."""
    for entry in sorted(source.iterdir()):
        destination = target / entry.name
        if destination.is_dir() and not destination.is_symlink():
            found = folder_in_the_way(entry, destination) if entry.is_dir() else destination
            if found is not None:
                return found
    return None


def move_into(source: Path, target: Path) -> None:
    """Rename every file of `source` into `target` (merging subfolders), the config.json of each level last."""
    for entry in sorted(source.iterdir(), key=lambda e: (e.name == CONFIG_FILE, e.name)):
        destination = target / entry.name
        if entry.is_dir() and destination.is_dir() and not destination.is_symlink():
            move_into(entry, destination)
        else:
            os.replace(entry, destination)


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
    from lmkit.corpus.store import MANIFEST
    from lmkit.config.folders import corpora_root

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


def claim_model_directory(directory: str | Path, option: str = "") -> bool:
    """Make `directory` an lmkit model directory (create it, write the marker) or refuse as check_model_directory
    does; True when the marker was written now (the caller may then undo the claim with `release_claim`)."""
    directory = Path(directory)
    check_model_directory(directory, option)
    if has_marker(directory):
        return False
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return MODEL_MARKER.write(directory)
    except NotADirectoryError as exc:
        from lmkit.config.folders import first_non_folder

        blocking = first_non_folder(directory)
        raise ModelWriteError(directory, f"{blocking} is a file, not a folder" if blocking else exc.strerror) from exc
    except OSError as exc:
        raise ModelWriteError(directory, exc.strerror or str(exc)) from exc


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


def read_config(directory: str | Path) -> dict:
    """config.json of a model directory, its format and the types of SavedFields checked."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"{directory}: is a file, not a model directory")
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such model directory")
    if not (directory / CONFIG_FILE).exists():
        if lock_state(directory) == "held":
            raise CheckpointError(f"{directory}: another lmkit process is training into this directory and has not "
                                  "saved a model yet; wait for its first validation")
        raise CheckpointError(f"{directory}: not a model directory (no {CONFIG_FILE}; was training interrupted before the first save?)")
    config = read_json(directory / CONFIG_FILE, "model config", CheckpointError)
    if config.get("format") != FORMAT:
        raise CheckpointError(f"{directory / CONFIG_FILE}: format {config.get('format')!r} is not one this lmkit reads ({FORMAT})")
    try:
        fields = from_json(SavedFields, config, "")
        check_saved_records(fields)
    except ConfigError as exc:
        raise CheckpointError(f"{directory / CONFIG_FILE}: {exc}") from exc
    from lmkit.models import BOTH_WAYS, CLOZE_KINDS
    from lmkit.models.ngram.model import DIRECTIONS

    if config.get("kind") is None:  # what the model is comes first: the other fields are read by it
        raise CheckpointError(f"{directory / CONFIG_FILE}: it does not say which model it holds (no \"kind\")")
    try:
        model_class(config["kind"])
    except ConfigError as exc:
        raise CheckpointError(f"{directory / CONFIG_FILE}: {exc}") from exc
    cloze = config["kind"] in CLOZE_KINDS
    directions = (BOTH_WAYS, "forward") if cloze else DIRECTIONS  # a cloze model's "forward": saved before "both"
    if fields.direction == BOTH_WAYS and not cloze:
        raise CheckpointError(f"{directory / CONFIG_FILE}: \"kind\": {json.dumps(config['kind'])} does not fit "
                              f"\"direction\": \"both\", which only a bidirectional model ({', '.join(CLOZE_KINDS)}) "
                              "has (was config.json edited?)")
    if fields.direction not in directions:
        kind = f" for a {config['kind']} model" if cloze else ""
        raise CheckpointError(f"{directory / CONFIG_FILE}: direction must be one of {', '.join(directions)}{kind}, "
                              f"got {fields.direction!r}")
    return config


def load_tokenizer_from(directory: str | Path) -> Tokenizer:
    try:
        return load_tokenizer(Path(directory) / TOKENIZER_FILE)
    except TokenizerError as exc:  # named by its file; a missing package (not a TokenizerError) passes as it is
        raise CheckpointError(str(exc)) from exc


def load_model(directory: str | Path):
    """(model, tokenizer, config) from a model directory; CheckpointError on anything missing or unsafe."""
    directory = Path(directory)
    config = read_config(directory)  # its own word for a folder a run holds before its first save
    check_links_inside(directory)
    try:
        return read_model(directory, config)
    except CheckpointError as exc:
        if lock_state(directory) != "held":
            raise
        # a run replacing the model (--overwrite) may have renamed its new files in among the old while they were read
        raise CheckpointError(f"{directory}: another lmkit process is writing this model (it holds {LOCK_FILE}), and "
                              f"its files did not fit together as read ({exc}); read it again once that run is "
                              "done") from exc


def read_model(directory: Path, config: dict):
    """load_model's reading of the tokenizer and the weights `config` (as read_config checked it) describes."""
    tokenizer = load_tokenizer_from(directory)
    check_tokenizer_matches(directory, config, tokenizer)
    check_weights_kind(directory, config["kind"])
    model = model_class(config["kind"]).load(directory, config, tokenizer.vocab)  # the kind: checked by read_config
    return model, tokenizer, config


def inside(directory: Path, name: str) -> Path:
    """`directory / name`, refusing names from a config file that would escape the directory."""
    path = (directory / name).resolve()
    if directory.resolve() not in path.parents:
        raise CheckpointError(f"{directory}: file name {name!r} in config.json points outside the model directory")
    return path


def check_links_inside(directory: Path) -> None:
    """Refuse a model directory where what lmkit reads (read_names, and everything in last/ and last.old/)
    holds a symbolic link leading out of it: a shared folder must not make lmkit read, say, ~/.ssh/id_rsa as
    weights. A link of the user's under another name is never read, and is left alone."""
    root, names = directory.resolve(), read_names()
    for entry in sorted(directory.iterdir()):
        if entry.name not in names:
            continue
        inside = os.walk(entry) if entry.is_dir() and not entry.is_symlink() else ()
        for path in [entry, *(Path(folder) / name for folder, subfolders, files in inside for name in subfolders + files)]:
            if path.is_symlink() and root not in path.resolve().parents:
                raise CheckpointError(f"{path}: a symbolic link to {os.readlink(path)!r}, outside the model directory; "
                                      "refusing to load it")


def read_names() -> frozenset[str]:
    """The names of a model directory's entries that lmkit reads (the folders among them read whole: the two
    resumable checkpoints and an interpolation's members)."""
    return model_names() | {MARKER_FILE, METRICS_FILE, STATE_FILE, LAST, f"{LAST}.old"}


TEMPORARY_NAME = re.compile(re.escape(TEMP_PREFIX) + r"(.+)\.[a-z0-9_]{8}")  # mkstemp's and mkdtemp's 8 characters


def lmkit_temporary(entry: Path, names: frozenset[str]) -> bool:
    """Whether `entry` is a temporary lmkit makes in a model directory, by name, kind and content: a staging
    folder (.lmkit-tmp.save.XXXXXXXX, .lmkit-tmp.last.XXXXXXXX) holding only staged files, or the temporary file of
    one of `names` being written whole (.lmkit-tmp.<name>.XXXXXXXX, written_whole). Anything else under the prefix
    is not provably lmkit's, and is left alone."""
    match = TEMPORARY_NAME.fullmatch(entry.name)
    if match is None or entry.is_symlink():
        return False
    if match.group(1) in ("save", LAST):
        return entry.is_dir() and only_staged_files(entry)
    return match.group(1) in names and match.group(1) in written_whole() and entry.is_file()


def written_whole() -> frozenset[str]:
    """The files lmkit writes under a temporary name and renames into place (lmkit.fileio.atomic_write): the model's
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


def model_bytes(directory: Path) -> int:
    """Bytes of the model's own files in `directory` (model_names; not last/, kept only for --resume, nor a
    file of the user's beside them, nor what a link out of the directory leads to)."""
    root = Path(directory).resolve()
    paths = [Path(directory) / name for name in model_names()]
    paths += [Path(folder) / name for path in paths if path.is_dir() and not path.is_symlink()
              for folder, _, files in os.walk(path) for name in files]
    return sum(p.stat().st_size for p in paths
               if p.is_file() and (not p.is_symlink() or root in p.resolve().parents))
