"""Model directories: self-describing, safe to load, written atomically.

    DIR/config.json      {"format": 1, "lmkit": version, "kind": ..., hyperparameters, "train": {...}}
    DIR/tokenizer.json   tokenizer kind, options and vocabulary
    DIR/<weights>        whatever the model's own `save` writes (model.safetensors, model.ngram.npz, ...)
    DIR/metrics.jsonl    one JSON line per evaluation (training only)
    DIR/last/            the latest state, with trainer_state.pt, for --resume (training only)

config.json is written last: a directory with a config.json is complete.
Nothing here unpickles code: weights come from safetensors or numpy files
without pickles, and torch files are read with weights_only=True.
"""
from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from lmkit.errors import CheckpointError, LmkitError
from lmkit.fileio import read_json, write_json_atomic
from lmkit.models import model_class
from lmkit.tokenizers import Tokenizer, tokenizer_from_json

FORMAT = 1
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"


def lmkit_version() -> str:
    try:
        return version("lmkit")
    except PackageNotFoundError:
        return "0+checkout"


def save_model(directory: str | Path, model, tokenizer: Tokenizer, extra: dict | None = None) -> Path:
    """Write tokenizer, weights, then config.json (last, so its presence means 'complete')."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if tokenizer.vocab != model.vocab:
        raise CheckpointError(f"{directory}: the tokenizer's vocabulary differs from the model's")
    tokenizer.save(directory / TOKENIZER_FILE)
    model.save(directory)
    config = {"format": FORMAT, "lmkit": lmkit_version(), **model.config(), **(extra or {})}
    write_json_atomic(directory / CONFIG_FILE, config)
    return directory


def read_config(directory: str | Path) -> dict:
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such model directory")
    if not (directory / CONFIG_FILE).exists():
        raise CheckpointError(f"{directory}: not a model directory (no {CONFIG_FILE}; was training interrupted before the first save?)")
    try:
        config = read_json(directory / CONFIG_FILE, "model config")
    except LmkitError as exc:
        raise CheckpointError(str(exc)) from exc
    if config.get("format") != FORMAT:
        raise CheckpointError(f"{directory / CONFIG_FILE}: format {config.get('format')!r} is not one this lmkit reads ({FORMAT})")
    return config


def load_tokenizer_from(directory: str | Path) -> Tokenizer:
    path = Path(directory) / TOKENIZER_FILE
    try:
        return tokenizer_from_json(read_json(path, "tokenizer file"))
    except LmkitError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc


def load_model(directory: str | Path):
    """(model, tokenizer, config) from a model directory; CheckpointError on anything missing or unsafe."""
    directory = Path(directory)
    config = read_config(directory)
    tokenizer = load_tokenizer_from(directory)
    cls = model_class(str(config.get("kind")))
    model = cls.load(directory, config, tokenizer.vocab)
    return model, tokenizer, config


def inside(directory: Path, name: str) -> Path:
    """`directory / name`, refusing names from a config file that would escape the directory."""
    path = (directory / name).resolve()
    if directory.resolve() not in path.parents:
        raise CheckpointError(f"{directory}: file name {name!r} in config.json points outside the model directory")
    return path


def append_metrics(directory: str | Path, record: dict) -> None:
    """Append one JSON line to metrics.jsonl (append-only, so a crash loses at most this line)."""
    path = Path(directory) / "metrics.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_metrics(directory: str | Path) -> list[dict]:
    path = Path(directory) / "metrics.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
    return records
