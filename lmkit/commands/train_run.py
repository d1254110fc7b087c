"""The body of `lmkit train`: resolve the run, train under a directory lock, print the summary."""
from __future__ import annotations

import contextlib
import os
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable

import click
import torch

from lmkit.checkpoint.ownership import check_model_directory, stopped_run
from lmkit.checkpoint.save_load import check_links_inside, load_model
from lmkit.checkpoint.saved_config import CONFIG_FILE, text_record
from lmkit.commands.options import config_from, given_options
from lmkit.commands.progress import bars_wanted
from lmkit.commands.resume_checks import (budget_left, check_best_model, check_resume_corpus, check_resume_options,
                                          check_resume_texts, check_resume_tokenizer, saved_reading, stopped_early,
                                          tokenizer_options_given)
from lmkit.commands.train_launch import LAUNCHED_AS
from lmkit.commands.train_fit import (default_run_shape, fit_shape_to_text, note_kept_batch, warn_if_nothing_is_rare,
                                      warn_if_valid_is_mostly_unknown, warn_if_valid_is_train)
from lmkit.commands.train_models import (MODEL_FAMILIES, build_model, check_model_options, refuse_idle_locked_dropout,
                                         with_cpu_char_model, with_word_level_dropout)
from lmkit.commands.train_output import ProgressPrinter
from lmkit.commands.train_summary import print_summary
from lmkit.commands.train_unread import refuse_unread_options
from lmkit.config.folders import checkpoints_root, folders_line
from lmkit.config.machine import bf16_on_amx, resolve_precision
from lmkit.errors import CheckpointError, ConfigError, CorpusError, counted, printable
from lmkit.models import BOTH_WAYS
from lmkit.models.base import is_cloze
from lmkit.models.neural.rnn import RNNConfig
from lmkit.stop_signals import exit_code
from lmkit.text.id_cache import encoded_split
from lmkit.train.config import TrainConfig, training_precision
from lmkit.train.folder_lock import refuse_if_held
from lmkit.train.presets import large_vocabulary_values, option_names, preset_values
from lmkit.train.resume_state import (LAST, STATE_FILE, DirectoryLock, busy, check_save_places, load_resume,
                                      refuse_state_name, refuse_working_directory_inside, resume_dir)
from lmkit.train.trainer import Trainer


def softmax_words(model) -> str:
    """", adaptive softmax" or ", full softmax" for a model with a softmax head (--softmax auto chooses by the
    vocabulary's size, so the training line says what it chose); "" for one without."""
    softmax = getattr(getattr(model, "cfg", None), "softmax", None)
    return f", {softmax} softmax" if softmax in ("full", "adaptive") else ""


def run_training(ctx: click.Context, corpus_spec, tokenizer_spec, opts: dict) -> int:
    saved = None
    if opts["resume"]:
        directory = resumed_directory(opts)
        DirectoryLock.refuse_if_held(directory, "--resume")
        saved = saved_config(directory)
        check_resume_options(ctx, directory, saved)
    else:
        check_model_options(opts["model"], opts, given_options(ctx))
    preset = apply_preset(opts, given_options(ctx))
    if opts["model"] != "ngram":
        refuse_unread_options(ctx, opts, saved)
    if opts["model"] == "ngram":
        from lmkit.commands.ngram import run_ngram
        from lmkit.models.ngram.model import NGramConfig

        run_ngram(corpus_spec, tokenizer_spec, config_from(NGramConfig, opts), opts["direction"], opts["out"],
                  overwrite=opts["overwrite"])
        return 0
    from lmkit.train.config import select_device
    from lmkit.train.distributed import World

    device = select_device(opts["device"])
    resolve_precision(opts["precision"], device)  # refuse bf16 without bf16 units before fetching or building anything
    world = World.from_env(device.type)
    with world.peers_watched():  # a collective failing for a process gone (before training too: DDP's checks)
        return train_in_world(ctx, world, device, corpus_spec, tokenizer_spec, opts, preset)


def train_in_world(ctx: click.Context, world, device, corpus_spec, tokenizer_spec, opts: dict,
                   preset: dict | None) -> int:
    """run_training's part in the job's process group: prepare, train, save, and (process 0) test and print."""
    say = (lambda text: click.echo(text, err=True)) if world.is_main else (lambda text: None)
    cpu_without_amx = device.type == "cpu" and not bf16_on_amx(device, resolve_precision(opts["precision"], device))
    with world.main_first():
        chosen = given_options(ctx) | set(preset["settings"] if preset else ())  # a preset's settings are choices too
        directory, corpus, tokenizer, model, state, extra = prepare_run(ctx, corpus_spec, tokenizer_spec, opts, chosen,
                                                                        cpu_without_amx, say, preset)
        if state is not None:  # in rank 0's turn: the others, waiting for it, learn it is gone and say nothing
            refuse_unshared_saved_batch(train_config(ctx, opts, state).batch_size, world.size, given_options(ctx),
                                        directory)
        reverse = extra.get("direction") == "backward"
        train_stream = encoded_split(corpus, tokenizer, "train", reverse)
        valid_stream = encoded_split(corpus, tokenizer, "valid", reverse)
    directory = world.broadcast(directory)  # rank 0 named it; the others must agree even if the folder now exists
    config = train_config(ctx, opts, state)
    nothing_left = (budget_left(ctx, directory, state.get("progress") or {}, config)
                    or stopped_early(ctx, directory, state)) if state else None
    if state and "precision" not in given_options(ctx):  # a saved auto chooses again here; a saved bf16 needs bf16
        resolve_precision(config.precision, device, asked_by=f"--resume {directory} (saved with --precision bf16)")
    on_amx = bf16_on_amx(device, training_precision(config.precision, device, model))  # the scratch RNN's is fp32
    if state is not None:  # a resumed run keeps its shape (its hidden state is laid out by it)
        note_kept_batch(config, tokenizer.kind, on_amx, given_options(ctx), say)
    else:
        config = default_run_shape(config, tokenizer.kind, on_amx, chosen, say)
        config = fit_shape_to_text(config, len(train_stream), chosen, say, whole_lines=is_cloze(model),
                                   processes=world.size)
        warn_if_valid_is_train(corpus, say)
        warn_if_nothing_is_rare(config, tokenizer, say)
        warn_if_valid_is_mostly_unknown(valid_stream, tokenizer, say)
    config = config.with_tokenizer_defaults(tokenizer.kind)  # the LR follows the batch the run trains with
    typed = os.environ.get(LAUNCHED_AS) or shlex.join(["lmkit", *sys.argv[1:]])  # --nproc's processes: as typed
    extra["train"] = {**extra.get("train", {}), "command": typed,
                      "tokenizer": tokenizer.describe(), "config": config.to_dict(),
                      "parameters": count_parameters(model), "texts": text_record(corpus)}
    if preset is not None:
        extra["train"]["preset"] = preset
    printer = ProgressPrinter(enabled=not opts["quiet"] and world.is_main, pseudo=is_cloze(model),
                              bars=bars_wanted(opts["quiet"]) and world.is_main,
                              max_time=config.time_limit, max_steps=config.max_steps)
    named_by = "--resume" if opts["resume"] else "--out"
    with DirectoryLock(directory, named_by) if world.is_main else contextlib.nullcontext():
        if world.is_main:  # before training, not at the first save: last/ and last.old/ are replaced whole
            if state is None:
                refuse_to_replace(directory, opts["overwrite"])  # saved into by another lmkit while this one prepared
            check_save_places(directory)
        trainer = Trainer(model, tokenizer, train_stream, valid_stream, config, directory, extra=extra,
                          callbacks=printer, valid_chars=corpus.num_chars("valid"), world=world,
                          overwrite=opts["overwrite"] and state is None)  # a bad option deletes nothing: run() clears
        if trainer.lines is not None and trainer.lines.cut and world.is_main:
            warn_cut_lines(trainer.lines.cut, trainer.lines.longest, config)
        if state is not None:
            new_lr = lr_replaced(ctx, state, config, say)
            trainer.restore(state, lr=new_lr, source=str(resume_dir(directory) / STATE_FILE))
        if world.is_main and preset is not None:
            click.echo(f"preset {preset['name']}: {option_names(preset['settings'])}")
        if world.is_main:
            click.echo(f"training {model.kind} ({extra['train']['parameters']:,} parameters{softmax_words(model)}) on "
                       f"{corpus.name} [{tokenizer.describe()}, vocab {len(tokenizer.vocab)}] on {trainer.device} -> "
                       f"{printable(str(directory))}")
            processes = f"; {world.size} processes (--nproc or torchrun)" if world.distributed else ""
            click.echo(f"precision {trainer.precision.describe()}; threads {trainer.runtime()['threads']}{processes}")
            click.echo(folders_line())
            if state is not None:
                click.echo(resume_line(directory, trainer))
            if nothing_left:
                click.echo(nothing_left, err=True)
        try:
            result = trainer.run()
        finally:
            printer.close()
    trainer = None  # its DDP wrapper is released while the process group it uses is still up
    world.close()
    if not world.is_main:  # its part is done: process 0 saves, tests and prints
        leave_without_teardown(0)
    if result.stopped.startswith("SIG"):
        click.echo(f"{result.stopped}: saved a resumable checkpoint at step {result.progress.step}; "
                   f"continue with: {resume_command(directory)}", err=True)
        return exit_code(result.stopped)
    reasons = {"done": f"done, {counted(config.epochs, 'epoch')} (--epochs)",
               "early_stop": f"early_stop (--patience {config.patience} ran out: "
                             f"{counted(config.patience, 'counted evaluation')} without a new best)"}
    reason = reasons.get(result.stopped, result.stopped)
    click.echo(f"stopped: {reason} after {counted(result.progress.step, 'step')}, "
               f"{counted(result.progress.tokens, 'token')}, {result.progress.elapsed:.0f}s")
    print_summary(directory, corpus, opts["sample_tokens"], opts["seed"], quiet=opts["quiet"])
    return 0


def apply_preset(opts: dict, given: set[str]) -> dict | None:
    """Put --preset's values into `opts` where the user gave no option; {"name", "settings"} applied, or None."""
    name = opts.get("preset")
    if name is None:
        return None
    if opts["resume"]:
        raise ConfigError(f"--preset {name}: --resume continues with the settings the run was started with; "
                          "give --preset only to a new run")
    if MODEL_FAMILIES[opts["model"]] is not RNNConfig:
        raise ConfigError(f"--preset {name} is for the lstm, gru, rnn_tanh and rnn_relu models, not --model {opts['model']}")
    values = preset_values(name, given, opts.get("optimizer"))
    if values.get("tie_weights") and opts.get("softmax") == "adaptive":  # asked for: it has no one matrix to tie
        values["tie_weights"] = False
    if "asgd" in given and not opts.get("asgd"):  # --no-asgd: no averaging for --nonmono to start (note 63)
        values.pop("nonmono", None)
    opts.update(values)
    return {"name": name, "settings": values}


def refuse_preset_tie(opts: dict, preset: dict | None) -> None:
    """ConfigError where the preset ties the embedding to the softmax (its setting, not an option typed, and kept
    for this vocabulary: with_preset_vocabulary) and the sizes given differ."""
    if preset is None or not preset["settings"].get("tie_weights"):
        return
    config = config_from(RNNConfig, opts)
    if config.emb_size != config.hidden_size:
        raise ConfigError(f"--preset {preset['name']} ties the embedding to the softmax (--tie-weights), which needs "
                          f"--emb-size equal to --hidden-size (got {config.emb_size} and {config.hidden_size}); give "
                          "equal sizes, or --no-tie-weights")


def with_preset_vocabulary(opts: dict, preset: dict | None, vocab_size: int, given: set[str],
                           say: Callable[[str], None]) -> dict:
    """`opts` with the preset's settings for a vocabulary of `vocab_size` types (LARGE_VOCABULARY), added to the
    preset's record too, so that the preset line and config.json show what was trained; `say` why."""
    if preset is None:
        return opts
    config = config_from(RNNConfig, opts)
    chose = given if config.softmax != "auto" else given - {"softmax"}  # --softmax auto, said aloud, chooses nothing
    values = large_vocabulary_values(preset["name"], vocab_size, config.hidden_size, chose)
    if not values:
        return opts
    preset["settings"].update(values)
    say(f"note: --preset {preset['name']} on a vocabulary of {vocab_size:,} types trains {option_names(values)}: a "
        "tied full softmax over so many is most of each step (give --tie-weights or --softmax to choose yourself)")
    return {**opts, **values}


def warn_cut_lines(cut: int, longest: int, config) -> None:
    """A bidirectional model's step holds at most --batch-size x --bptt ids, `<s>` included: longer lines are cut."""
    lines = f"{cut:,} line of the training text is" if cut == 1 else f"{cut:,} lines of the training text are"
    click.echo(f"warning: {lines} longer than {counted(longest, 'token')}, the most a step of --batch-size "
               f"{config.batch_size} x --bptt {config.bptt} holds, and trained in pieces of that length; raise either "
               "to read them whole",
               err=True)


def prepare_run(ctx: click.Context, corpus_spec, tokenizer_spec, opts: dict, chosen: set[str],
                cpu_without_amx: bool, say: Callable[[str], None], preset: dict | None = None):
    """(directory, corpus, tokenizer, model, trainer state or None, config extras) for a new or resumed run;
    `chosen`: the options the user or the preset set; `cpu_without_amx`: whether a new run trains on a CPU and not
    in bf16 on AMX (the machine's default model, said by `say`); `preset`: apply_preset's record, whose settings gain
    those it has for a large vocabulary."""
    if opts["resume"]:
        return resume_run(ctx, corpus_spec, tokenizer_spec, opts)
    given = given_options(ctx)
    opts = with_word_level_dropout(opts, tokenizer_spec.kind, chosen)  # the kind alone decides them
    refuse_idle_locked_dropout(opts, given)  # before any text is read or tokenizer trained
    corpus = corpus_spec.open()
    tokenizer = tokenizer_spec.load(corpus)
    torch.manual_seed(opts["seed"])  # the initial weights follow --seed too
    directory = output_directory(opts, corpus.name, tokenizer.kind)  # refused there before any note on the model
    opts = with_preset_vocabulary(opts, preset, len(tokenizer.vocab), given, say)
    refuse_preset_tie(opts, preset)
    opts = with_cpu_char_model(opts, tokenizer.kind, cpu_without_amx, chosen, say)
    model = build_model(opts["model"], tokenizer.vocab, opts, seed=opts["seed"])
    extra = {"corpus": corpus.name, "direction": BOTH_WAYS if is_cloze(model) else opts["direction"], "train": {}}
    return directory, corpus, tokenizer, model, None, extra


def refuse_unshared_saved_batch(batch_size: int, processes: int, given: set[str], directory: Path) -> None:
    """ConfigError where a resumed run's saved batch, which the user did not give now, cannot be shared by this
    job's processes; it names the saved batch and the process counts that share it (pass 87 F8: a batch lmkit chose
    for 3 processes, resumed with --nproc 2, was refused as a '--batch-size 15' never typed)."""
    from lmkit.config.machine import default_threads
    from lmkit.train.distributed import shared_sizes

    if "batch_size" in given or batch_size % processes == 0:
        return
    cpus = default_threads({})  # affinity and CPU quota: a process's OMP_NUM_THREADS is its share of them
    counts = [n for n in range(1, min(batch_size, cpus) + 1) if batch_size % n == 0]  # 1 always
    raise ConfigError(f"--resume {directory}: the run trains batches of {batch_size} rows, which {processes} processes "
                      f"cannot share evenly: resume with --nproc {', '.join(map(str, counts))} (a count that divides "
                      f"it, of the {counted(cpus, 'CPU')} here), or give --batch-size "
                      f"{shared_sizes(batch_size, processes)}")


def train_config(ctx: click.Context, opts: dict, state: dict | None = None) -> TrainConfig:
    """Options as given; on --resume (the saved trainer `state`), the saved run's settings for every option not
    given now."""
    config = config_from(TrainConfig, opts)
    saved = state.get("train_config") if state else None
    if not saved:
        return config
    given = given_options(ctx)
    if "optimizer" in given and config.optimizer != saved.get("optimizer"):
        raise ConfigError(f"--optimizer {config.optimizer}: the run being resumed used {saved.get('optimizer')}")
    if "asgd" in given and config.asgd != bool(saved.get("asgd")):  # its average is part of the saved state
        had, now = ("--asgd", "--no-asgd") if saved.get("asgd") else ("--no-asgd", "--asgd")
        raise ConfigError(f"--resume {opts['resume']}: the run was started with {had} (the weights it averages, or "
                          f"not, are part of its saved state), not {now}; leave {now} out to continue it, or train "
                          "a new model into another --out")
    kept = {name: value for name, value in TrainConfig.from_dict(saved).to_dict().items() if name not in given}
    config = TrainConfig(**{**config.to_dict(), **kept})
    if config.weight_decay is None:  # a saved config without its decay (edited): not today's default, but the decay
        group = state["optimizer"]["param_groups"][0]  # the saved optimizer trained with (state_check: one group)
        config = replace(config, weight_decay=float(group.get("weight_decay", 0.0)))
    if config.lr is None:  # edited out too, but the state keeps only the scheduled LR of the moment, not its peak
        raise ConfigError(f"--resume {opts['resume']}: the saved run's learning rate is missing (its {STATE_FILE} "
                          "has no train_config.lr); give the --lr it was trained with")
    saved_in = f"--resume {opts['resume']} (its {STATE_FILE})"
    problem = config.decay_problem()
    if problem is not None and not {"lr", "weight_decay"} <= given:  # one of them, or both, as the run saved them
        said = {name: f"--{name.replace('_', '-')} {getattr(config, name):g}" if name in given else
                f"the saved \"{name}\" {getattr(config, name):g}" for name in ("lr", "weight_decay")}
        raise ConfigError(f"{saved_in}: {said['weight_decay']} with {said['lr']}: {problem}; give --lr or "
                          "--weight-decay")
    if "device" not in given:  # a run saved on a GPU, resumed on a machine without one
        from lmkit.train.config import select_device

        try:
            select_device(config.device, said=f"{saved_in}: the saved \"device\" {config.device!r}")
        except ConfigError as exc:
            raise ConfigError(f"{exc}; give --device to resume on another") from exc
    return config


def lr_replaced(ctx: click.Context, state: dict, config: TrainConfig, say: Callable[[str], None]) -> float | None:
    """The --lr a resumed run starts again from, or None where it goes on with the saved run's (a repeated --lr
    equal to the saved one included: repeating the first command must not undo the plateau rule's decays). A new
    --lr under --schedule plateau forgets those decays, and a note says from what LR."""
    saved = (state.get("train_config") or {}).get("lr")
    if "lr" not in given_options(ctx) or config.lr == saved:
        return None
    scale = (state.get("progress") or {}).get("lr_scale", 1.0)
    if config.schedule == "plateau" and isinstance(saved, (int, float)) and isinstance(scale, (int, float)) \
            and scale != 1.0:
        say(f"note: --lr {config.lr:g} starts the plateau rule again from that LR; the run had decayed its --lr "
            f"{saved:g} to {saved * scale:.3g} (leave --lr out to go on from there)")
    return config.lr


def output_directory(opts: dict, corpus_name: str, tokenizer_kind: str) -> Path:
    """--out as given (refusing to replace a model unless --overwrite), else a fresh checkpoints/<name>[-N]."""
    if opts["out"] is not None:
        out = Path(opts["out"])
        refuse_state_name(out, f"--out {out}")
        refuse_working_directory_inside(out, f"--out {out}")
        refuse_if_held(out, busy)  # before refuse_to_replace's "pass --resume", which that run's lock refuses too
        refuse_to_replace(out, opts["overwrite"])
        return out
    suffix = "-backward" if opts["direction"] == "backward" else ""
    base = checkpoints_root() / f"{corpus_name}-{tokenizer_kind}-{opts['model']}{suffix}"
    candidate, n = base, 1
    while candidate.exists() and any(candidate.iterdir()):
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def refuse_to_replace(directory: Path, overwrite: bool) -> None:
    """ConfigError if `directory` holds a model or a stopped run and --overwrite was not given: checked when the
    run's folder is chosen, and again once its lock is held, since another lmkit may have saved there meanwhile."""
    check_model_directory(directory, "--out")  # a folder of the user's, or a file of the user's where a model goes
    if overwrite:
        refuse_other_family(directory)
        return
    left = stopped_run(directory)
    if (directory / "config.json").exists():
        resume = f"pass --resume {directory} to continue it, " if left is not None else ""
        raise ConfigError(f"--out {directory} already holds a model; {resume}--overwrite to replace it, or another "
                          "--out")
    if left is not None:
        raise ConfigError(f"--out {directory} holds a stopped run ({left}/, stopped before it saved a model); pass "
                          f"--resume {directory} to continue it, --overwrite to replace it, or another --out")


def refuse_other_family(directory: Path) -> None:
    """ConfigError if `directory` holds an N-gram or an interpolation: a recurrent model's save replaces its own
    files, and would leave model.ngram.npz or members/ beside them (`lmkit ngram --overwrite` refuses a recurrent
    model's folder likewise)."""
    from lmkit.checkpoint.save_load import read_config
    from lmkit.models.ngram.model import NGramLM
    from lmkit.models.weights_kind import INTERPOLATED

    if not (directory / CONFIG_FILE).exists():
        return
    try:
        kind = read_config(directory).get("kind")
    except CheckpointError:  # unreadable: the save replaces it, and --overwrite asked for that
        return
    if kind in (NGramLM.kind, INTERPOLATED):
        raise ConfigError(f"--out {directory} holds a model of kind {kind}, not a recurrent one, and --overwrite "
                          "replaces only a model of the same family; choose another --out")


def saved_config(directory: Path) -> dict:
    """config.json of the run --resume continues (links out of the directory refused before reading it), once the
    model it describes has loaded: the options are compared with settings known to be the saved model's, never
    with a hand-edited value that its weights would refuse."""
    where = resume_dir(directory)
    check_links_inside(directory)
    config = load_model(where)[2]
    check_best_model(directory, where, config)
    return config


def resumed_directory(opts: dict) -> Path:
    """The model directory --resume names (given as DIR, DIR/last or DIR/last.old, by any name: `.` or a link may
    name last/ too). A resume continues the latest state of DIR: DIR/last.old while DIR/last holds one, later, is
    refused rather than passed over; so is a working directory inside the folders each save replaces whole."""
    given = Path(opts["resume"])
    named = given if given.name in (LAST, f"{LAST}.old") else given.resolve()
    directory = named.parent if named.name in (LAST, f"{LAST}.old") else given
    if named.name == f"{LAST}.old" and all((directory / LAST / name).is_file() for name in (STATE_FILE, CONFIG_FILE)):
        raise ConfigError(f"--resume {named}: {directory / LAST} holds a later resumable state of the same run, and "
                          f"--resume continues the latest; give --resume {directory}")
    refuse_working_directory_inside(directory, f"--resume {given}")
    return directory


def resume_run(ctx: click.Context, corpus_spec, tokenizer_spec, opts: dict):
    directory = resumed_directory(opts)
    model, tokenizer, config, state = load_resume(directory)
    if tokenizer_spec.kind != tokenizer.kind and "tokenizer" in given_options(ctx):
        raise CheckpointError(f"--resume {directory}: it was trained with the {tokenizer.kind!r} tokenizer, "
                              f"not --tokenizer {tokenizer_spec.kind}")
    if corpus_spec.given:
        corpus = check_resume_corpus(ctx, directory, config, corpus_spec.open)
    else:
        corpus = reopen_corpus(directory, config.get("corpus"))
    check_resume_texts(directory, config, corpus)
    if tokenizer_options_given(ctx):
        check_resume_tokenizer(ctx, directory, tokenizer, saved_reading(tokenizer, tokenizer_spec).load(corpus))
    extra = {k: config[k] for k in ("corpus", "direction", "train") if k in config}
    if is_cloze(model):
        extra["direction"] = BOTH_WAYS  # saved as "forward" before bidirectional models said so
    return directory, corpus, tokenizer, model, state, extra


def reopen_corpus(directory: Path, name: str | None):
    """The corpus the run in `directory` was trained on (its config.json's "corpus", `name`): its cached folder,
    or a named corpus fetched again; CorpusError naming the run where there is none."""
    from lmkit.corpus.catalog import Corpus, corpora_root, get_corpus, missing_local_corpus

    if not name:
        raise CorpusError(f"--resume {directory}: its config.json names no corpus to resume on; give --corpus NAME "
                          "or --train PATH")
    cached = corpora_root() / name
    if (cached / "manifest.json").exists():
        return Corpus.open(cached)
    missing = missing_local_corpus(name)
    if missing is not None:  # no fetch brings it back, and no other corpus will do (check_resume_corpus)
        raise CorpusError(f"--resume {directory}: its config.json names the corpus it was trained on, {missing}; give "
                          "--train with the same text again, or set LMKIT_CORPORA to that folder")
    try:
        return get_corpus(name, fetch=True)
    except CorpusError as exc:
        raise CorpusError(f"--resume {directory}: its config.json names the corpus it was trained on: {exc}") from exc


def resume_line(directory: Path, trainer) -> str:
    """Where a resumed run picks up: step, epoch (and how far into it), tokens seen, time spent."""
    p = trainer.progress
    if p.epoch >= trainer.cfg.epochs:  # a finished run: there is no next epoch to be in
        where = f"epoch {p.epoch:,} of {trainer.cfg.epochs:,} done"
    else:
        unit = "line batch" if trainer.lines is not None else "window"  # what a bidirectional model's epoch counts
        where = f"epoch {p.epoch + 1}, {unit} {trainer.windows_done():,} of {trainer.windows:,}"
    return (f"resuming {printable(str(directory))} at step {p.step:,}: {where}, {counted(p.tokens, 'token')} and "
            f"{p.elapsed:.0f}s trained so far")


def count_parameters(model) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def leave_without_teardown(code: int) -> None:
    """Exit a finished process of a multi-process job at once with `code`, output flushed, skipping the
    interpreter's teardown: there gloo's threads can still abort it ("terminate called without an active
    exception", SIGABRT) after the process group was left, and the launcher reports the job as failed
    (twice in three runs of the slow suite's README tour, `--nproc 4` on 2 cores)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def resume_command(directory: Path) -> str:
    """The command that continues a run in `directory`, quoted as a shell reads it (a path with spaces is one
    argument), printable whatever bytes the name holds."""
    return printable(shlex.join(["lmkit", "train", "--resume", str(directory)]))
