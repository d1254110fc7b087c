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
from pathlib import Path

from lmkit.errors import CheckpointError

EDITED = "(was config.json edited, or the weights file replaced?)"  # what a config and its weights at odds suggest
TOP_LEVEL = ("kind", "direction")  # weights_record's keys that config.json holds at its top level, not in "model"


def weights_record(kind: str, direction: str, settings) -> dict[str, str]:
    """What a weights file's header records of the model that saved it (safetensors metadata holds strings only):
    its kind, its direction, and the settings its weights were made for (the names in settings.ARCHITECTURE)."""
    return {"kind": kind, "direction": direction,
            "architecture": json.dumps({name: getattr(settings, name) for name in settings.ARCHITECTURE}, sort_keys=True)}


def check_record(path: Path, record: dict[str, str], metadata: dict, written: dict) -> None:
    """CheckpointError naming each key of config.json whose value differs from what the weights file at `path`
    says its model was saved with. `record`: weights_record of what config.json says; `metadata`: the file's
    record; `written`: the config.json object holding the settings, to tell a deleted key from an edited one."""
    ours, saved = recorded(record, path), recorded(metadata, path)
    keys = [key for key in ours if key in saved and saved[key] != ours[key]]
    if not keys:
        return
    held = ", ".join(f"\"{key}\": {json.dumps(saved[key])}" for key in keys)
    if not written and any(key not in TOP_LEVEL for key in keys):  # "model": null or {}: every setting its default
        said, verb = "\"model\" holds no settings, and the defaults", "do"
    else:
        said = ", ".join(f"\"{key}\": {json.dumps(ours[key])}" if key in TOP_LEVEL or key in written else
                         f"no \"{key}\" (read as {json.dumps(ours[key])})" for key in keys)
        verb = "does" if len(keys) == 1 else "do"
    raise CheckpointError(f"{path.parent / 'config.json'}: {said} {verb} not fit {path.name}, which holds the "
                          f"weights of {held} {EDITED}")


def recorded(metadata: dict, path: Path) -> dict:
    """A weights record (or a header's metadata) as one flat dict of the values it holds."""
    values = {key: metadata[key] for key in TOP_LEVEL if key in metadata}
    try:
        architecture = json.loads(metadata.get("architecture") or "{}")
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path}: its record of the model that saved it is damaged ({exc})") from exc
    if not isinstance(architecture, dict):
        raise CheckpointError(f"{path}: its record of the model that saved it is damaged (\"architecture\" is not an object)")
    return {**values, **architecture}


