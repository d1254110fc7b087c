"""Settings: one default, help and check per knob, shared by the config classes and every command's options.

The class tests walk every command of `lmkit` and every numeric option it has, so an option added
later with a plain `type=float` (which accepts nan and inf) fails here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import click
import pytest

from lmkit.cli import COMMANDS, app
from lmkit.commands.options import SettingType, number
from lmkit.config.settings import check_settings, knobs, setting
from lmkit.errors import ConfigError
from conftest import assert_one_line_error


def all_commands() -> dict[str, click.Command]:
    """'train' -> its click command; group commands contribute their subcommands ('corpus fetch')."""
    found = {}
    for name in COMMANDS:
        command = app.get_command(None, name)
        if isinstance(command, click.Group):
            found.update({f"{name} {sub}": command.get_command(None, sub) for sub in command.list_commands(None)})
        else:
            found[name] = command
    return found


def numeric_options() -> list:
    cases = []
    for path, command in all_commands().items():
        for param in command.params:
            if isinstance(param, click.Option) and isinstance(param.type, (click.types.IntParamType,
                                                                           click.types.FloatParamType)):
                cases.append(pytest.param(path, param, id=f"{path} {param.opts[0]}"))
            elif isinstance(param, click.Option) and isinstance(param.type, SettingType) \
                    and param.type.knob.kind in (int, float):
                cases.append(pytest.param(path, param, id=f"{path} {param.opts[0]}"))
    return cases


def test_there_are_numeric_options_to_check():
    assert len(numeric_options()) > 40


@pytest.mark.parametrize("path, param", numeric_options())
def test_every_numeric_option_is_checked_while_parsing(path, param):
    assert isinstance(param.type, SettingType), f"{path} {param.opts[0]}: a plain int/float accepts nan, inf, 10**30"


BAD_NUMBERS = ["nan", "inf", "-inf", "1e400", "99999999999999999999999999", "-99999999999999999999999999", "x", "1_0", "３"]


@pytest.mark.parametrize("path, param", numeric_options())
def test_every_numeric_option_refuses_absurd_values_in_one_line(cli, tmp_path, path, param):
    arguments = [str(tmp_path / "arg")] * sum(isinstance(p, click.Argument) for p in all_commands()[path].params)
    for bad in BAD_NUMBERS:
        result = cli(*path.split(), *arguments, param.opts[0], bad)
        assert_one_line_error(result, param.opts[0], usage=True)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


@pytest.mark.parametrize("path, param", [p for p in numeric_options() if p.values[1].type.knob.kind is float])
def test_float_options_say_finite(cli, tmp_path, path, param):
    arguments = [str(tmp_path / "arg")] * sum(isinstance(p, click.Argument) for p in all_commands()[path].params)
    assert_one_line_error(cli(*path.split(), *arguments, param.opts[0], "nan"), "must be a finite number, got nan",
                          usage=True)
    assert_one_line_error(cli(*path.split(), *arguments, param.opts[0], "-1e400"),  # overflows: the text is named
                          "must be a finite number, got '-1e400', too large for a float", usage=True)
    assert_one_line_error(cli(*path.split(), *arguments, param.opts[0], "-1e-400"),  # underflows to -0.0
                          "must be a number a float can hold, got '-1e-400', which rounds to 0", usage=True)


def config_classes():
    from lmkit.generate.rescore import RescoreConfig
    from lmkit.generate.sampling import SamplingConfig
    from lmkit.models.neural.rnn import RNNConfig
    from lmkit.models.neural.scratch import ScratchConfig
    from lmkit.models.ngram.model import NGramConfig
    from lmkit.report.suite import SuiteConfig
    from lmkit.text.tokenizer_options import TOKENIZER_OPTIONS
    from lmkit.train.config import TrainConfig

    tokenizers = list(TOKENIZER_OPTIONS.values())
    return {"train": [TrainConfig, RNNConfig, ScratchConfig, NGramConfig, *tokenizers], "ngram": [NGramConfig, *tokenizers],
            "generate": [SamplingConfig], "report": [SuiteConfig, *tokenizers], "rescore": [RescoreConfig],
            "vocab build": tokenizers, "vocab show": tokenizers, "tokenize": tokenizers}


@pytest.mark.parametrize("path", ["train", "ngram", "generate", "report", "rescore", "vocab build", "vocab show", "tokenize"])
def test_cli_defaults_equal_the_config_classes_defaults(path):
    params = {p.name: p for p in all_commands()[path].params}
    classes = config_classes()[path]
    shown = {c: {k.name: k for k in knobs(c) if k.rules.cli} for c in classes}  # class -> its CLI knobs
    for cls in classes:
        for name, knob in shown[cls].items():
            option = params[name]
            owners = [c for c in classes if name in shown[c]]
            defaults = {repr(shown[c][name].default) for c in owners}
            expected = knob.default if len(defaults) == 1 else None  # shared option: each model's own default
            assert option.default == expected, (path, name, option.default, expected)


def tokenizer_numbers() -> list:
    from lmkit.text.tokenizer_options import TOKENIZER_OPTIONS

    return [pytest.param(kind, knob, id=f"{kind} {knob.name}")
            for kind, cls in TOKENIZER_OPTIONS.items() for knob in knobs(cls) if knob.kind in (int, float)]


@pytest.mark.parametrize("kind, knob", tokenizer_numbers())
def test_tokenizer_options_check_numbers_in_python_as_on_the_command_line(kind, knob):
    from lmkit.text.tokenizers import fit_tokenizer

    for bad in [math.nan, math.inf, -math.inf, 10**30, -10**30, 0, "3", True]:
        with pytest.raises(ConfigError) as caught:
            fit_tokenizer(kind, ["a b c"], **{knob.name: bad})
        assert str(caught.value).startswith(f"{knob.option} must be "), (bad, str(caught.value))
    for path in ["train", "ngram", "report", "vocab build", "vocab show", "tokenize"]:  # the same bounds there
        option = next(p for p in all_commands()[path].params if p.name == knob.name) if knob.rules.cli else None
        assert option is None or (option.type.knob.rules == knob.rules and option.opts[0] == knob.option), path


def test_trainer_default_config_is_the_cli_default(cli):
    from lmkit.train.config import (AMX_CHAR_BATCH_SIZE, CHAR_LEVEL_WEIGHT_DECAY, DEFAULT_LR, WIDE_BATCH_LR,
                                    WORD_LEVEL_LR, WORD_LEVEL_WEIGHT_DECAY, TrainConfig)

    params = {p.name: p for p in all_commands()["train"].params}
    config = TrainConfig()
    for knob in knobs(TrainConfig):
        if knob.rules.cli and knob.name != "lr":
            assert getattr(config, knob.name) == params[knob.name].default, knob.name
    assert config.lr is None  # resolved for the tokenizer the run trains on, as `lmkit train` does
    assert config.with_tokenizer_defaults("char").lr == DEFAULT_LR["adamw"] == 1e-2
    word, spm = config.with_tokenizer_defaults("word"), config.with_tokenizer_defaults("spm")
    assert word.lr == spm.lr == WORD_LEVEL_LR["adamw"] == 3e-3
    assert TrainConfig(optimizer="sgd").with_tokenizer_defaults("word").lr == DEFAULT_LR["sgd"]
    assert TrainConfig(lr=0.5).with_tokenizer_defaults("word").lr == 0.5
    wide = TrainConfig(batch_size=AMX_CHAR_BATCH_SIZE)  # lmkit train's batch for characters in bf16 on AMX
    assert wide.with_tokenizer_defaults("char").lr == WIDE_BATCH_LR["adamw"] == 2e-2
    assert wide.with_tokenizer_defaults("word").lr == WORD_LEVEL_LR["adamw"]
    assert config.weight_decay is None  # likewise
    assert config.with_tokenizer_defaults("char").weight_decay == CHAR_LEVEL_WEIGHT_DECAY["adamw"] == 0.1
    assert word.weight_decay == spm.weight_decay == WORD_LEVEL_WEIGHT_DECAY["adamw"] == 0.1
    assert TrainConfig(optimizer="sgd").with_tokenizer_defaults("word").weight_decay == 0
    assert TrainConfig(optimizer="sgd").with_tokenizer_defaults("char").weight_decay == 0  # L2 in SGD: not measured
    assert TrainConfig(weight_decay=0.0).with_tokenizer_defaults("char").weight_decay == 0


@dataclass
class Example:
    count: int = setting(3, "A count.", low=1, high=10)
    rate: float | None = setting(None, "A rate.", low=0, low_open=True, high=1, hint="try 0.5")
    name: str = setting("a", "A choice.", choices=("a", "b"))
    flag: bool = setting(False, "A flag.")


@pytest.mark.parametrize("field, value, message", [
    ("count", 0, "--count must be at least 1, got 0"),
    ("count", 11, "--count must be at most 10, got 11"),
    ("count", 2.0, "--count must be an integer, got 2.0"),
    ("count", True, "--count must be an integer, got True"),
    ("count", "3", "--count must be an integer, got '3'"),
    ("rate", 0.0, "--rate must be > 0, got 0.0; try 0.5"),
    ("rate", math.nan, "--rate must be a finite number, got nan"),
    ("rate", -math.inf, "--rate must be a finite number, got -inf"),
    ("name", "c", "--name must be one of a, b, got 'c'"),
    ("flag", "yes", "--flag must be true or false, got 'yes'"),
])
def test_check_settings_names_the_option_and_the_value(field, value, message):
    with pytest.raises(ConfigError) as caught:
        check_settings(Example(**{field: value}))
    assert str(caught.value) == message


def test_check_settings_accepts_good_values_and_makes_ints_floats():
    example = Example(count=10, rate=1, name="b", flag=True)
    check_settings(example)
    assert example.rate == 1.0 and isinstance(example.rate, float)


def test_number_type_uses_the_options_own_name(cli):
    @click.command()
    @click.option("--top", type=number(int, low=1))
    def command(top):
        click.echo(top)

    result = click.testing.CliRunner().invoke(command, ["--top", "0"])
    assert result.exit_code == 2 and "--top must be at least 1, got 0" in result.output
