"""Which family's weights file a model directory holds, held against the kind its config.json names.

A neural model reads model.safetensors and an N-gram model.ngram.npz. A
config.json relabelled to the other family would otherwise be refused for
the file it lacks or for a setting that family needs (an N-gram's order),
never for the "kind" that was edited.
"""
from __future__ import annotations

import json
from pathlib import Path

from lmkit.errors import CheckpointError
from lmkit.files.reading import open_regular
from lmkit.models import MODEL_KINDS
from lmkit.models.neural.weight_files import WEIGHTS_FILE
from lmkit.models.neural.weights import read_header
from lmkit.models.ngram.model import WEIGHTS_FILE as NGRAM_WEIGHTS_FILE, NGramLM
from lmkit.models.saved_record import EDITED


MEMBERS_DIR = "members"  # an interpolated model's members, one folder each (lmkit.models.mix)
INTERPOLATED = "interpolated"


def check_weights_kind(directory: Path, kind: str) -> None:
    """CheckpointError naming config.json's "kind" when `directory` holds, instead of what that kind reads (its
    weights file, or an interpolation's members/), another family's."""
    where = Path(directory) / "config.json"
    holds = {name: (directory / name).exists() for name in (WEIGHTS_FILE, NGRAM_WEIGHTS_FILE, MEMBERS_DIR)}
    if kind == INTERPOLATED:
        if not holds[MEMBERS_DIR] and (holds[WEIGHTS_FILE] or holds[NGRAM_WEIGHTS_FILE]):
            other = WEIGHTS_FILE if holds[WEIGHTS_FILE] else NGRAM_WEIGHTS_FILE
            raise CheckpointError(f"{where}: \"kind\": {json.dumps(kind)} does not fit {other}, which holds "
                                  f"{held(directory, other)}, not an interpolation's {MEMBERS_DIR}/ {EDITED}")
        return
    if kind != NGramLM.kind and not MODEL_KINDS.get(kind, "").startswith("lmkit.models.neural"):
        return
    own, other = (NGRAM_WEIGHTS_FILE, WEIGHTS_FILE) if kind == NGramLM.kind else (WEIGHTS_FILE, NGRAM_WEIGHTS_FILE)
    if holds[own]:
        return
    if not (directory / other).is_file():
        if holds[MEMBERS_DIR]:
            raise CheckpointError(f"{where}: \"kind\": {json.dumps(kind)} does not fit {MEMBERS_DIR}/, which holds "
                                  f"the members of an interpolated model {EDITED}")
        return
    raise CheckpointError(f"{where}: \"kind\": {json.dumps(kind)} does not fit {other}, which holds "
                          f"{held(directory, other)} {EDITED}")


def held(directory: Path, name: str) -> str:
    """What weights file `name` in `directory` holds, as its record says: 'the weights of "kind": ...'."""
    saved = NGramLM.kind if name == NGRAM_WEIGHTS_FILE else None
    if saved is None:  # a neural model's weights record their kind
        try:
            with open_regular(directory / name, CheckpointError) as handle:
                saved = read_header(handle, directory / name)[1].get("kind")
        except CheckpointError:
            pass
    return f"the weights of \"kind\": {json.dumps(saved)}" if isinstance(saved, str) else "a neural model's weights"
