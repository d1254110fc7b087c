"""What a model's weights file records of the model that saved it, held against its config.json.

config.json is a text file a user may edit; the weights are what the model
is. So each weights file also records (weights_record) the model's kind, its
direction and the settings its weights were made for, and loading refuses a
config.json that says otherwise, naming the key (check_record): an edited
"direction" would run a forward model backward, an edited size or cell would
be blamed on the weights. Files saved before a key was recorded are not held
to it.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from lmkit.errors import CheckpointError

EDITED = "(was config.json edited, or the weights file replaced?)"  # what a config and its weights at odds suggest
TOP_LEVEL = ("kind", "direction")  # weights_record's keys that config.json holds at its top level, not in "model"


def weights_record(kind: str, direction: str, settings) -> dict[str, str]:
    """What a weights file's header records of the model that saved it (safetensors metadata holds strings only):
    its kind, its direction, and the settings its weights were made for (the names in settings.ARCHITECTURE)."""
    return {"kind": kind, "direction": direction,
            "architecture": json.dumps({name: getattr(settings, name) for name in settings.ARCHITECTURE}, sort_keys=True)}


def check_record(path: Path, record: dict[str, str], metadata: dict, config: dict, settings: str | None = "model"
                 ) -> None:
    """CheckpointError naming each key of config.json whose value differs from what the weights file at `path`
    says its model was saved with (a file saved before a key was recorded is not held to it). `record`:
    weights_record of what config.json says; `metadata`: the file's record; `config`: config.json as read, whose
    `settings` key holds the model's settings (None: they sit at its top, as an N-gram's do), to quote what it
    says and tell a deleted key from an edited one."""
    for key in TOP_LEVEL:  # what config.json says must be a string: read_config checks a model's, not a mix member's
        if not isinstance(record.get(key, ""), str):
            raise CheckpointError(f"{path.parent / 'config.json'}: \"{key}\" must be a string, got "
                                  f"{json.dumps(record[key], default=str)}")
    ours, saved = recorded(record, path), recorded(metadata, path)
    keys = [key for key in ours if key in saved and saved[key] != ours[key]]
    if not keys:
        return
    for key in keys:  # a value of another type than any lmkit saves there: the file's record, not config.json, is off
        if not same_type(saved[key], ours[key]):
            raise damaged(path, f"{key!r} is {json.dumps(saved[key])}")
    held = ", ".join(f"\"{key}\": {json.dumps(saved[key])}" for key in keys)
    written = config.get(settings) if settings is not None else config
    written = written if isinstance(written, dict) else {}
    if settings is not None and not written and any(key not in TOP_LEVEL for key in keys):
        said, verb = f"\"{settings}\" holds no settings, and the defaults", "do"  # "model": null or {}
    else:
        def quoted(key):
            source = config if key in TOP_LEVEL else written
            if key in source:
                return f"\"{key}\": {json.dumps(source[key])}"
            return f"no \"{key}\" (read as {json.dumps(ours[key])})"
        said, verb = ", ".join(quoted(key) for key in keys), "does" if len(keys) == 1 else "do"
    raise CheckpointError(f"{path.parent / 'config.json'}: {said} {verb} not fit {path.name}, which holds the "
                          f"weights of {held} {EDITED}")


def same_type(saved, ours) -> bool:
    """Values of one JSON type (null fits any: a setting may be unset on one side; ints and floats are numbers)."""
    if saved is None or ours is None:
        return True
    if isinstance(saved, bool) or isinstance(ours, bool):
        return isinstance(saved, bool) and isinstance(ours, bool)
    numbers = (int, float)
    return isinstance(saved, numbers) and isinstance(ours, numbers) or type(saved) is type(ours)


def recorded(metadata: dict, path: Path) -> dict:
    """A weights record (or a file's copy of one) as one flat dict of the values it holds; CheckpointError when
    the file's is not as lmkit writes it: strings at its top, "architecture" the JSON of an object of plain values."""
    values = {key: metadata[key] for key in TOP_LEVEL if key in metadata}
    for key, value in values.items():
        if not isinstance(value, str):
            raise damaged(path, f"{key!r} is not a string")
    text = metadata.get("architecture", "{}")
    if not isinstance(text, str):
        raise damaged(path, "'architecture' is not a string")
    try:
        architecture = json.loads(text, parse_constant=refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise damaged(path, str(exc)) from exc
    if not isinstance(architecture, dict):
        raise damaged(path, "'architecture' is not an object")
    for key, value in architecture.items():
        if not (value is None or isinstance(value, (bool, int, str)) or isinstance(value, float) and math.isfinite(value)):
            raise damaged(path, f"{key!r} is {json.dumps(value)}")
    return {**values, **architecture}


def refuse_constant(name: str):
    raise ValueError(f"{name} is not a number lmkit saves")


def damaged(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"{path}: its record of the model that saved it is damaged ({what})")
