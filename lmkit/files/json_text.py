"""JSON as lmkit writes it, to files and to standard output: readable non-ASCII text, numbers JSON can hold.

Python's json.dumps writes an infinite perplexity as `Infinity`, which other JSON readers refuse, and a file
name's undecodable bytes (lone surrogates, as os.fsdecode gives them) as characters UTF-8 cannot encode;
here the first becomes null and the second a \\udcNN escape that reads back as the same string.
"""
from __future__ import annotations

import json
import math
import re

LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def finite(obj):
    """`obj` with every infinite or NaN float replaced by None: JSON has no such numbers, and Python's
    `Infinity` makes the file unreadable to other JSON readers (an infinite perplexity is written as null)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(value) for value in obj]
    return obj


def json_text(obj, **options) -> str:
    """json.dumps keeping non-ASCII text readable, except lone surrogates (a file name's undecodable bytes,
    as os.fsdecode gives them), which UTF-8 cannot hold: those become \\udcNN escapes, which read back as
    the same string, so a path recorded in JSON names the same file. Non-finite numbers become null."""
    text = json.dumps(finite(obj), ensure_ascii=False, allow_nan=False, **options)
    return LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def json_file_text(obj) -> str:
    """A JSON file's text as lmkit writes them all: indented, keys sorted."""
    return json_text(obj, indent=2, sort_keys=True) + "\n"

