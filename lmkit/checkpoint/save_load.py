"""Model directories: self-describing, safe to load, written atomically.

    DIR/config.json      {"format": 1, "lmkit": version, "kind": ..., hyperparameters, "train", "vocab" and
                         "tokenizer" records (lmkit.checkpoint.saved_config)}
    DIR/tokenizer.json   tokenizer kind, options and vocabulary
    DIR/<weights>        whatever the model's own `save` writes (model.safetensors, model.ngram.npz, ...)
    DIR/metrics.jsonl    one JSON line per evaluation: the learning curve (lmkit.checkpoint.learning_curve)
    DIR/last/            the latest state, with trainer_state.pt, for --resume (training only)
    DIR/.lmkit-model     the marker: lmkit made this folder, so it may write, clean up and replace here

config.json is written last: a directory with a config.json is complete.
lmkit writes only into a folder it can prove is its own model directory
(lmkit.checkpoint.ownership: the marker, or an lmkit config.json from before the
marker existed); a new or empty folder becomes one when claimed here.
Nothing here unpickles code: weights come from safetensors or numpy files
without pickles, and torch files are read with weights_only=True.
"""
from __future__ import annotations

import json
import os
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from lmkit.checkpoint.ownership import (LOCK_FILE, SAVE_STAGING, check_model_directory, has_marker, lock_state,
                                        make_staging_folder, model_names, read_names)
from lmkit.checkpoint.saved_config import (CONFIG_FILE, TOKENIZER_FILE, SavedFields, check_saved_records,
                                           check_tokenizer_matches, tokenizer_record, vocab_record)
from lmkit.config.from_json import from_json
from lmkit.config.settings import read_from_file
from lmkit.errors import CheckpointError, ConfigError, TokenizerError
from lmkit.files.json_text import json_text
from lmkit.files.reading import read_json
from lmkit.files.writing import WriteError, fsync_dir, path_identity, write_json_atomic, write_text_atomic
from lmkit.files.folder_markers import MODEL_MARKER, REPORT_MARKER
from lmkit.models import model_class
from lmkit.models.weights_kind import check_weights_kind
from lmkit.stop_signals import held_back
from lmkit.text.tokenizers import Tokenizer, load_tokenizer
from lmkit.config.folders import home_hint

FORMAT = 1


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
        staging = make_staging_folder(directory, SAVE_STAGING)
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
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, NotADirectoryError):
            from lmkit.config.folders import first_non_folder

            blocking = first_non_folder(directory)
            reason = f"{blocking} is a file, not a folder" if blocking else reason
        if option:  # named by the user before any work: nothing was saved, so what to give instead
            raise CheckpointError(f"{option} {directory}: {reason}; choose another {option}") from exc
        raise ModelWriteError(directory, reason) from exc


def read_config(directory: str | Path) -> dict:
    """config.json of a model directory, its format and the types of SavedFields checked."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"{directory}: is a file, not a model directory")
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such model directory{home_hint(directory)}")
    if not (directory / CONFIG_FILE).exists():
        if lock_state(directory) == "held":
            raise CheckpointError(f"{directory}: another lmkit process is training into this directory and has not "
                                  "saved a model yet; wait for its first validation")
        if REPORT_MARKER.present(directory):
            raise CheckpointError(f"{directory}: is an lmkit report folder, not a model directory (its models are in "
                                  f"{directory / 'models'} when a --suite trained them)")
        raise CheckpointError(f"{directory}: not a model directory (no {CONFIG_FILE}; was training interrupted before the first save?)")
    config = read_json(directory / CONFIG_FILE, "model config", CheckpointError)
    found = config.get("format")
    if type(found) is not int:  # "1", 1.0 and true are no format, though "1" looks like this lmkit's
        raise CheckpointError(f"{directory / CONFIG_FILE}: \"format\" must be a whole number, got "
                              f"{json_text(found).strip()[:40]} (this lmkit reads format {FORMAT})")
    if found != FORMAT:
        raise CheckpointError(f"{directory / CONFIG_FILE}: format {found} is not one this lmkit reads ({FORMAT})")
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
        raise CheckpointError(f"{directory / CONFIG_FILE}: \"direction\" must be one of {', '.join(directions)}{kind}, "
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
    before = file_identities(directory)
    config = read_config(directory)  # its own word for a folder a run holds before its first save
    check_links_inside(directory)
    try:
        return read_model(directory, config)
    except CheckpointError as exc:
        # a run replacing the model (--overwrite) may have renamed its new files in among the old while they were read
        if lock_state(directory) == "held":
            raise CheckpointError(f"{directory}: another lmkit process is writing this model (it holds {LOCK_FILE}), "
                                  f"and its files did not fit together as read ({exc}); read it again once that run "
                                  "is done") from exc
        if file_identities(directory) != before:  # ... and be done by now, its lock let go
            raise CheckpointError(f"{directory}: its files were replaced while they were read, by another lmkit "
                                  f"process saving a model there, and did not fit together as read ({exc}); read it "
                                  "again") from exc
        raise


def file_identities(directory: Path) -> dict[str, tuple | None]:
    """path_identity of each of the model's own entries (model_names): a save renames new files into place, so a
    model replaced while it was read shows a change here."""
    return {name: path_identity(directory / name) for name in sorted(model_names())}


def read_model(directory: Path, config: dict):
    """load_model's reading of the tokenizer and the weights `config` (as read_config checked it) describes."""
    tokenizer = load_tokenizer_from(directory)
    check_tokenizer_matches(directory, config, tokenizer)
    check_weights_kind(directory, config["kind"])
    with read_from_file():  # a bad setting is named by its key in config.json ("hidden_size"), not by --hidden-size
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


def model_bytes(directory: Path) -> int:
    """Bytes of the model's own files in `directory` (model_names; not last/, kept only for --resume, nor a
    file of the user's beside them, nor what a link out of the directory leads to)."""
    root = Path(directory).resolve()
    paths = [Path(directory) / name for name in model_names()]
    paths += [Path(folder) / name for path in paths if path.is_dir() and not path.is_symlink()
              for folder, _, files in os.walk(path) for name in files]
    return sum(p.stat().st_size for p in paths
               if p.is_file() and (not p.is_symlink() or root in p.resolve().parents))
