"""Settings: config dataclass fields that carry their own default, help text and bounds.

Every knob a user can turn lives once, as a field of the config dataclass that owns it:

    @dataclass
    class TrainConfig:
        lr: float = setting(3e-3, "Learning rate.", low=0, low_open=True)

    config = TrainConfig(lr=float("nan"))
    check_settings(config)      # ConfigError: --lr must be > 0, got nan

The command line's options are generated from these fields (lmkit.commands.options), so
the CLI, the Python API, the baseline suite and --resume share one default, one help
text and one check: a NaN, an infinity, a negative count, an absurd size or a value of
the wrong type is refused with a message naming the option, however it came in. While
a saved config.json is read back (`read_from_file`), the message names the file's key
instead ("hidden_size", not --hidden-size): the user then has a file to fix, not a
command line.
"""
from __future__ import annotations

import json
import math
import numbers
import typing
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from lmkit.errors import ConfigError

SETTING = "lmkit.setting"
LARGEST_SEED = 2**63 - 1
FROM_FILE = ContextVar("lmkit_settings_from_file", default=False)  # set by read_from_file


@contextmanager
def read_from_file():
    """Within: settings come from a saved file, so a bad one's message names its key (`named`)."""
    token = FROM_FILE.set(True)
    try:
        yield
    finally:
        FROM_FILE.reset(token)


def named(option: str, key: str | None = None) -> str:
    """How a message names a setting: its option (--max-size) on the command line; within `read_from_file`, its
    JSON key in quotes ("max_size"; `key`, or the option's name with '_' for '-')."""
    return json.dumps(key or option.removeprefix("--").replace("-", "_")) if FROM_FILE.get() else option


@dataclass(frozen=True)
class Setting:
    """What a field accepts and how the command line presents it."""

    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False             # `low` itself is refused (x > low)
    high_open: bool = False            # `high` itself is refused (x < high)
    choices: tuple[str, ...] | None = None
    option: str | None = None          # the CLI name when it is not --field-name
    cli: bool = True                   # False: Python API and config.json only
    hint: str | None = None            # added to the message when the value is out of range


def setting(default: Any, help: str, **rules: Any) -> Any:
    """A dataclass field with a default and a Setting (see the module docstring)."""
    return field(default=default, metadata={SETTING: Setting(help, **rules)})


def same_setting(owner: type, name: str, default: Any = MISSING) -> Any:
    """A field declared like `owner`'s field `name` (its default, help and bounds), for a config that shares it;
    `default` given: the same setting with another default, for a config used where that one does better."""
    source = owner.__dataclass_fields__[name]
    return field(default=source.default if default is MISSING else default, metadata=dict(source.metadata))


@dataclass(frozen=True)
class Knob:
    """One setting of one config class, with its Python type resolved."""

    name: str
    kind: type                         # int, float, bool or str
    optional: bool                     # None is allowed (it means "off" or "chosen elsewhere")
    default: Any
    rules: Setting

    @property
    def option(self) -> str:
        return self.rules.option or "--" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        """The option, or the config.json key while a file is read (`named`)."""
        return named(self.option, self.name)

    def spelled(self, value: Any) -> str:
        """The option as typed for `value`: an on/off flag set off reads --no-NAME."""
        return f"--no-{self.option[2:]}" if self.kind is bool and value is False else self.option


def knobs(cls: type) -> list[Knob]:
    """The Setting fields of a config dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        rules = f.metadata.get(SETTING)
        if rules is None:
            continue
        kind, optional = base_type(hints[f.name])
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        out.append(Knob(f.name, kind, optional, default, rules))
    return out


def base_type(hint: Any) -> tuple[type, bool]:
    """int | None -> (int, True); float -> (float, False)."""
    args = typing.get_args(hint)
    if args:
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) != 1:
            raise TypeError(f"a setting must have one type (optionally | None), got {hint}")
        return kinds[0], type(None) in args
    return hint, False


def shown(number: float) -> str:
    """1048576 for an integral bound (not 1.04858e+06), 0.001 for a fractional one."""
    if isinstance(number, int) or (float(number).is_integer() and abs(number) < 1e15):
        return str(int(number))
    return f"{number:g}"


def violated_bound(value: float, rules: Setting) -> str | None:
    """The bound a value breaks, as it must be ('at least 1', '> 0', '< 1'), or None when it breaks none."""
    low, high = rules.low, rules.high
    too_low = low is not None and (value < low or (rules.low_open and value == low))
    too_high = high is not None and (value > high or (rules.high_open and value == high))
    if not (too_low or too_high):
        return None
    if too_low:
        return f"> {shown(low)}" if rules.low_open else f"at least {shown(low)}"
    return f"< {shown(high)}" if rules.high_open else f"at most {shown(high)}"


def check_value(knob: Knob, value: Any) -> Any:
    """The value as the knob's type, or ConfigError naming the option and the value."""
    if value is None:
        if knob.optional:
            return None
        raise ConfigError(f"{knob.label} needs a value, got None")
    if knob.kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{knob.label} must be true or false, got {value!r}")
        return value
    if knob.kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{knob.label} must be text, got {value!r}")
        if knob.rules.choices is not None and value not in knob.rules.choices:
            raise ConfigError(f"{knob.label} must be one of {', '.join(knob.rules.choices)}, got {value!r}")
        return value
    return check_number(knob, value)


def check_number(knob: Knob, value: Any) -> int | float:
    if isinstance(value, numbers.Integral) and not isinstance(value, (int, bool)):
        value = int(value)  # numpy's integers and floats (np.int64(3), np.float32(0.5)) as Python's
    elif isinstance(value, numbers.Real) and not isinstance(value, (int, float)):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{knob.label} must be {'an integer' if knob.kind is int else 'a number'}, got {value!r}")
    if knob.kind is int and not isinstance(value, int):
        raise ConfigError(f"{knob.label} must be an integer, got {value!r}")
    if knob.kind is float:
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{knob.label} must be a finite number, got {value!r}")
    bound = violated_bound(value, knob.rules)
    if bound is not None:
        hint = f"; {knob.rules.hint}" if knob.rules.hint else ""
        raise ConfigError(f"{knob.label} must be {bound}, got {value!r}{hint}")
    return value


def check_settings(config: Any) -> None:
    """Check every Setting field of a config dataclass instance (ConfigError on the first bad one)."""
    for knob in knobs(type(config)):
        object.__setattr__(config, knob.name, check_value(knob, getattr(config, knob.name)))


def settings_dict(cls: type, values: dict) -> dict:
    """The entries of `values` that are settings of `cls` (unknown keys, e.g. from an older config.json, dropped)."""
    names = {knob.name for knob in knobs(cls)}
    return {k: v for k, v in values.items() if k in names}


def changed_flags(classes: tuple[type, ...], values: dict) -> list[str]:
    """Command-line flags that set `values` (field -> value) of these config classes: ['--layers', '1', ...]."""
    options = {knob.name: knob for cls in classes for knob in knobs(cls) if knob.rules.cli}
    flags: list[str] = []
    for name, value in values.items():
        knob = options[name]
        if knob.kind is bool:
            flags += [knob.option] if value else [f"--no-{knob.option[2:]}"]
        else:
            flags += [knob.option, f"{value:g}" if isinstance(value, float) else str(value)]
    return flags
