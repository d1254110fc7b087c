"""Text to one int32 id stream: every line's ids followed by `</s>`, and the tokenizer's fingerprint.

The stream is what every model trains and is scored on; a backward model's
stream has each line's tokens reversed, `</s>` still last.
"""
from __future__ import annotations

import hashlib
import json
from typing import Iterable

import numpy as np

from lmkit.text.tokenizers import Tokenizer
from lmkit.text.vocab import EOS_ID


def tokenizer_fingerprint(tokenizer: Tokenizer) -> str:
    blob = json.dumps(tokenizer.to_json(), sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def encode_lines(tokenizer: Tokenizer, lines: Iterable[str], reverse: bool = False) -> np.ndarray:
    """(N,) int32 stream: each line's ids (reversed for a backward model) then `</s>`."""
    chunks: list[np.ndarray] = []
    buffer: list[int] = []
    for line in lines:
        ids = tokenizer.encode_line(line)
        buffer.extend(reversed(ids) if reverse else ids)
        buffer.append(EOS_ID)
        if len(buffer) >= 1 << 20:  # keep Python lists small: flush to numpy every ~1M ids
            chunks.append(np.asarray(buffer, dtype=np.int32))
            buffer = []
    chunks.append(np.asarray(buffer, dtype=np.int32))
    return np.concatenate(chunks)
