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
from lmkit.fileio import open_regular
from lmkit.models import MODEL_KINDS
from lmkit.models.neural.weight_files import WEIGHTS_FILE
from lmkit.models.neural.weights import read_header
from lmkit.models.ngram.model import WEIGHTS_FILE as NGRAM_WEIGHTS_FILE, NGramLM
from lmkit.models.saved_record import EDITED


def check_weights_kind(directory: Path, kind: str) -> None:
    """CheckpointError naming config.json's "kind" when `directory` holds, instead of the weights file that kind
    reads, the other family's (a kind that is neither family's, an interpolation, is not checked here)."""
    neural = MODEL_KINDS.get(kind, "").startswith("lmkit.models.neural")
    if kind != NGramLM.kind and not neural:
        return
    own, other = (NGRAM_WEIGHTS_FILE, WEIGHTS_FILE) if kind == NGramLM.kind else (WEIGHTS_FILE, NGRAM_WEIGHTS_FILE)
    if (directory / own).exists() or not (directory / other).is_file():
        return
    saved = NGramLM.kind if other == NGRAM_WEIGHTS_FILE else None
    if saved is None:  # a neural model's weights record their kind
        try:
            with open_regular(directory / other, CheckpointError) as handle:
                saved = read_header(handle, directory / other)[1].get("kind")
        except CheckpointError:
            pass
    held = f"the weights of \"kind\": {json.dumps(saved)}" if isinstance(saved, str) else "a neural model's weights"
    raise CheckpointError(f"{Path(directory) / 'config.json'}: \"kind\": {json.dumps(kind)} does not fit {other}, "
                          f"which holds {held} {EDITED}")
