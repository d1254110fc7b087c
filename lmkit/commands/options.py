"""Click options generated from config dataclasses (lmkit.config.settings): one default, help and check each.

    @click.command()
    @options_from(TrainConfig)                 # --epochs --max-steps --lr ... as TrainConfig declares them
    @options_from(*MODEL_CONFIGS.values(), union=True)
    def command(**opts): ...
        config = config_from(TrainConfig, opts)

A value is checked while click parses it, by the same `check_value` the dataclass uses, so
`--lr nan` or `--batch-size 0` stops before anything is read or written. With `union=True`
several configs share one option per field name; where their defaults differ the option's
default is None ("the chosen model's default") and the help lists each.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import click

from lmkit.config.settings import Knob, Setting, check_value, knobs
from lmkit.errors import ConfigError

TRUE_WORDS = {"true", "yes", "on", "1"}
FALSE_WORDS = {"false", "no", "off", "0"}


class SettingError(click.BadParameter):
    """A value a setting refuses, said as the Python API says it: `--lr must be > 0, got -1.0`."""

    def format_message(self) -> str:
        return self.message


class SettingType(click.ParamType):
    """Parses a command-line string as the knob's type and applies the knob's check."""

    def __init__(self, knob: Knob) -> None:
        self.knob = knob
        self.name = knob.kind.__name__

    def convert(self, value: Any, param, ctx) -> Any:
        option = param.opts[0] if param is not None and param.opts else self.knob.option
        if isinstance(value, str):
            value = parse_text(self.knob, value, lambda reason: self.refuse(f"{option} {reason}", param, ctx))
        try:
            return check_value(self.knob, value)
        except ConfigError as exc:
            self.refuse(option + str(exc).removeprefix(self.knob.option), param, ctx)

    @staticmethod
    def refuse(message: str, param, ctx) -> None:
        raise SettingError(message, ctx=ctx, param=param)


def parse_text(knob: Knob, text: str, fail: Callable) -> Any:
    """'3e-3' -> 0.003 for a float knob. Plain ASCII only: Python's int() and float() also take
    '1_000' and non-ASCII digits ('٣'), which no user means as a number on a command line."""
    if knob.kind is str:
        return text
    what = "an integer" if knob.kind is int else "a number"
    if not text.isascii() or "_" in text:
        fail(f"must be {what}, got {text!r}")
    try:
        value = int(text) if knob.kind is int else float(text)
    except ValueError:
        fail(f"must be {what}, got {text!r}")
    if isinstance(value, float) and math.isinf(value) and "inf" not in text.lower():  # 1e400 overflows to inf
        fail(f"must be a finite number, got {text!r}, too large for a float")
    if value == 0 and any(digit in text.lower().partition("e")[0] for digit in "123456789"):  # 1e-400 -> 0.0
        fail(f"must be a number a float can hold, got {text!r}, which rounds to 0")
    return value


def number(kind: type, **rules: Any) -> SettingType:
    """A checked click type for a command's own numeric option (not a config field): number(int, low=0, high=100)."""
    return SettingType(Knob("value", kind, True, None, Setting("", **rules)))


def click_option(knob: Knob, default: Any, help_text: str) -> Callable:
    """One click option for a knob: a flag for booleans, a choice for choices, a checked value otherwise."""
    if knob.kind is bool:  # --x/--no-x: either side can override a value that came from elsewhere (a preset)
        decl = f"{knob.option}/--no-{knob.option[2:]}"
        return click.option(decl, knob.name, is_flag=True, default=bool(default), help=help_text,
                            show_default=bool(default))  # "[default: split-punct]"; off needs no saying
    kind = click.Choice(knob.rules.choices) if knob.rules.choices else SettingType(knob)
    return click.option(knob.option, knob.name, type=kind, default=default, help=help_text,
                        show_default=default is not None)


def options_from(*classes: type, union: bool = False, exclude: tuple[str, ...] = ()) -> Callable:
    """Decorator adding one click option per CLI setting of `classes` (see the module docstring)."""
    grouped: dict[str, list[tuple[type, Knob]]] = {}
    for cls in classes:
        for knob in knobs(cls):
            if knob.rules.cli and knob.name not in exclude:
                grouped.setdefault(knob.name, []).append((cls, knob))
    if not union and any(len(owners) > 1 for owners in grouped.values()):
        raise TypeError(f"options_from: fields declared twice: {[n for n, o in grouped.items() if len(o) > 1]}")

    def decorate(function: Callable) -> Callable:
        for owners in reversed(list(grouped.values())):
            function = click_option(*shared_knob(owners, union))(function)
        return function

    return decorate


def shared_knob(owners: list[tuple[type, Knob]], union: bool) -> tuple[Knob, Any, str]:
    """(knob, default, help) for a field that one or several configs declare."""
    cls, knob = owners[0]
    defaults = {repr(k.default) for _, k in owners}
    help_text = knob.rules.help
    if len(owners) > 1 or union:
        users = ", ".join(getattr(c, "CLI_NAME", c.__name__) for c, _ in owners)
        if len(defaults) == 1:
            return knob, knob.default, f"{help_text.rstrip('.')} ({users})." if union else help_text
        each = "; ".join(f"{getattr(c, 'CLI_NAME', c.__name__)}: {'none' if k.default is None else k.default}"
                         for c, k in owners)
        return Knob(knob.name, knob.kind, True, None, knob.rules), None, f"{help_text} [default: {each}]"
    return knob, knob.default, help_text


def given_options(ctx: click.Context) -> set[str]:
    """Parameter names the user typed (or set through the environment), not left at their defaults."""
    from click.core import ParameterSource

    return {name for name in ctx.params if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)}


def config_from(cls: type, opts: dict, only_given: set[str] | None = None, **fixed: Any) -> Any:
    """An instance of `cls` from parsed options: its CLI settings (all, or those in only_given) plus `fixed`."""
    values = {knob.name: opts[knob.name] for knob in knobs(cls)
              if knob.rules.cli and knob.name in opts and opts[knob.name] is not None
              and (only_given is None or knob.name in only_given)}
    return cls(**{**values, **fixed})


def options_for_other_models(cls: type, opts: dict, given: set[str], families: dict[str, type], chosen: str) -> None:
    """Refuse a model option the user gave that the chosen model does not have (--nonlinearity with lstm)."""
    def cli_knobs(config: type) -> dict[str, Knob]:
        return {knob.name: knob for knob in knobs(config) if knob.rules.cli}

    own = cli_knobs(cls)
    for name in sorted(given - set(own)):
        owners = [family for family, other in families.items() if name in cli_knobs(other)]
        if owners:
            option = cli_knobs(families[owners[0]])[name].spelled(opts.get(name))
            raise ConfigError(f"{option} does not apply to --model {chosen} (it is for {', '.join(owners)})")
