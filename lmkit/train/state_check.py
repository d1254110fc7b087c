"""What trainer_state.pt must hold, checked once when --resume loads it.

Loading with weights_only guarantees the file holds tensors and plain data,
not that they are the right ones: a missing key, `"lr": "fast"`, an RNG
state of the wrong size or optimizer moments shaped for another model would
otherwise fail later inside the optimizer or torch.set_rng_state with a
KeyError, TypeError or RuntimeError. `check_trainer_state` compares the
state with what the loaded model and a fresh optimizer for it expect, and
names the file and the key that is wrong.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from lmkit.checkpoint.saved_config import LONGEST_SECONDS, plausible_seconds
from lmkit.config.from_json import from_json, json_repr
from lmkit.config.settings import check_settings, read_from_file
from lmkit.errors import CheckpointError, ConfigError, counted, first_line
from lmkit.train.optimizers import KERNEL_KEYS, make_optimizer


REQUIRED_PROGRESS = ("step", "epoch", "column", "tokens", "lr")  # the position a resumed run continues from
REQUIRED_GROUP_KEYS = ("params", "lr")
# optimizer -> slot of a weight's state -> (required, shaped like the weight; else a scalar)
OPTIMIZER_SLOTS = {"adamw": {"step": (True, False), "exp_avg": (True, True), "exp_avg_sq": (True, True)},
                   "sgd": {"momentum_buffer": (False, True)}}  # other hyperparameters torch fills in when a state predates them
GROUP_RANGES = {  # hyperparameter -> (test of each value, what it must be); the type is checked first
    "lr": (lambda v: v >= 0, "at least 0"), "weight_decay": (lambda v: v >= 0, "at least 0"),
    "eps": (lambda v: v > 0, "positive"), "betas": (lambda v: 0 <= v < 1, "two numbers from 0 up to (not) 1"),
    "momentum": (lambda v: v >= 0, "at least 0"), "dampening": (lambda v: v >= 0, "at least 0")}
NON_NEGATIVE_SLOTS = {"step": "a count of steps", "exp_avg_sq": "a running mean of squares"}  # slot -> why


class StateProblem(Exception):
    """One wrong key of the state; check_trainer_state turns it into a CheckpointError naming the file."""


def check_trainer_state(path: Path, state, model) -> None:
    """CheckpointError naming `path` and the key unless `state` is one this model can resume from."""
    try:
        if not isinstance(state, dict):
            raise StateProblem(f"holds {type(state).__name__}, not a dictionary of training state")
        dense_tensors(state)
        settings = check_train_config(entry(state, "train_config", dict))
        check_progress(entry(state, "progress", dict))
        check_rng(entry(state, "rng", torch.Tensor))
        check_optimizer(entry(state, "optimizer", dict), model, settings.optimizer)
        check_hidden(state, model)
        check_window_rng(state.get("window_rng"))
        check_average(state.get("average"), model)
    except StateProblem as exc:
        raise CheckpointError(f"{path}: damaged trainer state: {exc}; resume from another copy, "
                              "or start a new run") from exc


def entry(container: dict, key: str, kind: type, where: str = ""):
    if key not in container:
        raise StateProblem(f"{where}{key} is missing")
    value = container[key]
    wrong_bool = isinstance(value, bool) and kind not in (bool, object)  # JSON-like data: true is not a number
    if not isinstance(value, kind) or wrong_bool:
        raise StateProblem(f"{where}{key} must be {kind.__name__}, got {described(value)}")
    return value


def check_train_config(saved: dict):
    from lmkit.train.config import TrainConfig

    try:
        settings = from_json(TrainConfig, saved, "train_config")
    except ConfigError as exc:
        raise StateProblem(str(exc)) from exc
    try:  # each setting alone: how they combine (lr x weight decay) is checked once the options given now replace them
        with read_from_file():  # named by its key: "bptt", not --bptt
            check_settings(settings)
    except ConfigError as exc:
        raise StateProblem(f"train_config: {exc}") from exc
    return settings


def check_progress(progress: dict) -> None:
    from lmkit.train.progress import Progress

    missing = [name for name in REQUIRED_PROGRESS if name not in progress]
    if missing:
        raise StateProblem(f"progress.{missing[0]} is missing")
    try:
        saved = from_json(Progress, progress, "progress")
    except ConfigError as exc:
        raise StateProblem(str(exc)) from exc
    for name in ("step", "epoch", "column", "tokens", "bad_evals", "stale_evals"):
        if getattr(saved, name) < 0:
            raise StateProblem(f"progress.{name} must be at least 0, got {getattr(saved, name)}")
    if not (math.isfinite(saved.lr) and saved.lr >= 0):  # 0: a budget schedule's warm-up start or end
        raise StateProblem(f"progress.lr must be a number at least 0, got {saved.lr}")
    if not (math.isfinite(saved.lr_scale) and saved.lr_scale > 0):
        raise StateProblem(f"progress.lr_scale must be a positive number, got {saved.lr_scale}")
    if not plausible_seconds(saved.elapsed):  # 1e300 seconds is not a time a run trained for
        raise StateProblem(f"progress.elapsed must be seconds from 0 to {LONGEST_SECONDS:.0e}, got {saved.elapsed}")
    if math.isnan(saved.best_valid) or saved.best_valid == -math.inf:  # +inf: nothing validated yet
        raise StateProblem(f"progress.best_valid must be a loss or inf, got {saved.best_valid}")
    if saved.averaging_since is not None and not 0 <= saved.averaging_since <= saved.step:
        raise StateProblem(f"progress.averaging_since must be between 0 and progress.step {saved.step}, "
                           f"got {saved.averaging_since}")
    if not all(isinstance(record, dict) and isinstance(record.get("step"), int) for record in saved.history):
        raise StateProblem("progress.history must list evaluation records, each with its step")


def check_rng(rng: torch.Tensor) -> None:
    expected = torch.get_rng_state()
    if rng.dtype != expected.dtype or rng.shape != expected.shape:
        raise StateProblem(f"rng must be a {tuple(expected.shape)} {expected.dtype} tensor (torch's CPU generator "
                           f"state), got a {tuple(rng.shape)} {rng.dtype} tensor")
    check_generator_state("rng", rng)


def check_generator_state(key: str, saved: torch.Tensor) -> None:
    """A generator's byte state of the right shape may still hold bytes no generator has (a block of zeros from a
    damaged disk): tried on a generator of its own, so the run's is never touched."""
    try:
        torch.Generator().set_state(saved.contiguous())
    except RuntimeError as exc:
        raise StateProblem(f"{key} is not a state torch's generator can take ({first_line(exc)})") from exc


def dense_tensors(value, where: str = "") -> None:
    """Every tensor anywhere in the state on the CPU and dense, as torch.save wrote lmkit's: a sparse or meta
    tensor (an edited file) would fail in the checks' arithmetic, not in a message."""
    if isinstance(value, torch.Tensor):
        if value.layout != torch.strided or value.device.type != "cpu":
            raise StateProblem(f"{where or 'the state'} must be a dense CPU tensor, got a {value.layout} tensor on "
                               f"{value.device}")
    elif isinstance(value, dict):
        for key, item in value.items():
            dense_tensors(item, f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            dense_tensors(item, f"{where}[{index}]")


def unique_parameters(model) -> list[torch.nn.Parameter]:
    return list({id(p): p for p in model.parameters()}.values())


def check_optimizer(saved: dict, model, optimizer: str) -> None:
    """Groups with the hyperparameters a fresh optimizer has, each of the same type; moments shaped as the weights."""
    parameters = unique_parameters(model)
    template = make_optimizer(parameters, optimizer, lr=1.0).state_dict()["param_groups"][0]
    groups = entry(saved, "param_groups", list, "optimizer.")
    moments = entry(saved, "state", dict, "optimizer.")
    if len(groups) != 1 or not isinstance(groups[0], dict):
        raise StateProblem(f"optimizer.param_groups must hold one group, got {json_repr(groups)}")
    for key, value in template.items():
        if key not in groups[0] and key not in REQUIRED_GROUP_KEYS:
            continue
        found = entry(groups[0], key, object, "optimizer.param_groups[0].")
        if key in KERNEL_KEYS:  # which kernel the saved run used: replaced by this run's (load_optimizer_state)
            if found is not None and not isinstance(found, bool):
                raise StateProblem(f"optimizer.param_groups[0].{key} must be true, false or null, got {json_repr(found)}")
            continue
        if key != "params" and not same_kind(found, value):
            raise StateProblem(f"optimizer.param_groups[0].{key} must be like {json_repr(value)}, got {json_repr(found)}")
        if key in GROUP_RANGES and not all(GROUP_RANGES[key][0](v) for v in (found if isinstance(found, (list, tuple))
                                                                             else [found])):
            raise StateProblem(f"optimizer.param_groups[0].{key} must be {GROUP_RANGES[key][1]}, got {json_repr(found)}")
    if groups[0]["params"] != list(range(len(parameters))):
        raise StateProblem(f"optimizer.param_groups[0].params must number the model's {len(parameters)} weights")
    for index, slots in moments.items():
        if not isinstance(index, int) or not 0 <= index < len(parameters) or not isinstance(slots, dict):
            raise StateProblem(f"optimizer.state has an entry {json_repr(index)} that is not a weight's")
        check_slots(index, slots, parameters[index], optimizer)


def check_slots(index: int, slots: dict, weight: torch.Tensor, optimizer: str) -> None:
    """The per-weight state the optimizer reads: float tensors shaped like the weight (AdamW's step a scalar)."""
    for name, (required, shaped) in OPTIMIZER_SLOTS[optimizer].items():
        where = f"optimizer.state[{index}].{name}"
        if name not in slots:
            if required:
                raise StateProblem(f"{where} is missing")
            continue
        value = slots[name]
        if value is None and not required:
            continue
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise StateProblem(f"{where} must be a floating-point tensor, got {described(value)}")
        shape = tuple(weight.shape) if shaped else ()
        if tuple(value.shape) != shape:
            raise StateProblem(f"{where} has shape {tuple(value.shape)}, the weight's {'is' if shaped else 'step is'} {shape}")
        if not bool(torch.isfinite(value).all()):
            raise StateProblem(f"{where} holds NaN or infinite values")
        if name in NON_NEGATIVE_SLOTS and bool((value < 0).any()):
            raise StateProblem(f"{where} holds negative values ({NON_NEGATIVE_SLOTS[name]})")


def described(value) -> str:
    """A value as a message shows it: a tensor by its shape and type, anything else as JSON."""
    if isinstance(value, torch.Tensor):
        return f"a {tuple(value.shape)} {value.dtype} tensor"
    return json_repr(value)


def same_kind(found, expected) -> bool:
    if isinstance(expected, bool) or expected is None:
        return type(found) is type(expected) or expected is None and (found is None or isinstance(found, bool))
    if isinstance(expected, (int, float)):
        return isinstance(found, (int, float)) and not isinstance(found, bool) and math.isfinite(found)
    if isinstance(expected, (tuple, list)):
        return isinstance(found, (tuple, list)) and len(found) == len(expected) and \
            all(same_kind(f, e) for f, e in zip(found, expected))
    return isinstance(found, type(expected))


def check_hidden(state: dict, model) -> None:
    """The carried hidden state, when saved, must be shaped as the model's state for the saved batch size."""
    hidden = state.get("hidden")
    if hidden is None:
        return
    world = entry(state, "world", dict)
    batch = entry(world, "batch_size", int, "world.")
    one = model.init_state(1)  # (layers, B, H) each, here for B = 1: nothing the size of `batch` is allocated
    shapes = [(e.shape[0], batch, *e.shape[2:]) for e in ([one] if isinstance(one, torch.Tensor) else one)]
    if not isinstance(hidden, list) or len(hidden) != len(shapes) or \
            any(not isinstance(h, torch.Tensor) or tuple(h.shape) != s for h, s in zip(hidden, shapes)):
        raise StateProblem(f"hidden must hold {counted(len(shapes), 'tensor')} shaped {shapes} for batch size {batch}")
    if not all(bool(torch.isfinite(h).all()) for h in hidden):
        raise StateProblem("hidden holds NaN or infinite values")


def check_window_rng(saved) -> None:
    """--variable-bptt's generator state, when saved: a torch.Generator's byte state."""
    if saved is None:
        return
    expected = torch.Generator().get_state()
    if not isinstance(saved, torch.Tensor) or saved.dtype != expected.dtype or saved.shape != expected.shape:
        raise StateProblem(f"window_rng must be a {tuple(expected.shape)} {expected.dtype} tensor (a generator's "
                           f"state), got {described(saved)}")
    check_generator_state("window_rng", saved)


def check_average(saved, model) -> None:
    """--asgd's running mean, when saved: the model's weights (as AveragedModel names them) and their count."""
    if saved is None:
        return
    if not isinstance(saved, dict):
        raise StateProblem(f"average must be a dictionary of tensors, got {described(saved)}")
    expected = {"n_averaged": ()} | {f"module.{name}": tuple(t.shape) for name, t in model.state_dict().items()}
    for name, shape in expected.items():
        tensor = saved.get(name)
        if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != shape:
            raise StateProblem(f"average.{name} must be a tensor of shape {shape}, got {described(tensor)}")
    unknown = sorted(set(saved) - set(expected))
    if unknown:
        raise StateProblem(f"average has an entry {unknown[0]!r} that is not one of the model's weights")
    if not int(saved["n_averaged"]) >= 1:
        raise StateProblem(f"average.n_averaged must count at least 1 model, got {int(saved['n_averaged'])}")
    broken = next((name for name in expected if saved[name].is_floating_point()
                   and not bool(torch.isfinite(saved[name]).all())), None)
    if broken is not None:
        raise StateProblem(f"average.{broken} holds NaN or infinite values")
