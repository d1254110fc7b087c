"""A settings dataclass read back from JSON (config.json, a trainer state), every field's type checked.

JSON written by hand or damaged can hold `"hidden_size": "32"` or
`"lr": "fast"`; the dataclass's own `validate()` would then fail comparing
a string with a number. Reading goes through `from_json`, which checks each
value against the field's annotation and names the key that is wrong, so
`validate()` only ever sees values of the right type. A field without a
default must be present; unknown keys are ignored (newer or older versions
may add or drop settings).
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing

from lmkit.errors import ConfigError

# annotation -> (test, what a value must be, in words)
SCALARS = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
    list: (lambda v: isinstance(v, list), "a list"),
    dict: (lambda v: isinstance(v, dict), "an object"),
}


def expected_type(annotation) -> tuple[tuple, str]:
    """(accepted scalar types, words) for `int`, `float | None`, `list[...]`, ..."""
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or \
        typing.get_origin(annotation) is typing.Union else (annotation,)
    kinds = tuple(typing.get_origin(a) or a for a in options)
    words = " or ".join("null" if k is type(None) else SCALARS[k][1] for k in kinds)
    return kinds, words


def fits(value, kinds: tuple) -> bool:
    return any(value is None if k is type(None) else SCALARS[k][0](value) for k in kinds)


def from_json(cls, obj, where: str):
    """An instance of dataclass `cls` from JSON object `obj`; ConfigError naming `where` and the key otherwise."""
    if not isinstance(obj, dict):
        raise ConfigError(f"{where or 'the file'} must be a JSON object, got {json_repr(obj)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        if field.name not in obj:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key(where, field.name)} is missing")
            continue
        kinds, words = expected_type(hints[field.name])
        if not fits(obj[field.name], kinds):
            raise ConfigError(f"{key(where, field.name)} must be {words}, got {json_repr(obj[field.name])}")
        values[field.name] = obj[field.name]
    return cls(**values)


def key(where: str, name: str) -> str:
    """`name` inside `where` ("model.hidden_size"), or `name` alone at the top level (where = "")."""
    return f"{where}.{name}" if where else name


def json_repr(value, limit: int = 60) -> str:
    """A value as JSON would show it, cut short: "32" for a string, 32 for a number."""
    import json

    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def finite_number(value: int | float) -> bool:
    """A finite number that is a float too (JSON's 10**400 is an int that no float holds)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False
