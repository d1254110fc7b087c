"""Choosing the default `lmkit train` recipe by measurement: candidate configurations side by side.

Every candidate is run as a real `python -m lmkit train --corpus shakespeare OPTIONS` in a subprocess,
one after the other (never two at once: they would share the cores), with the options that differ from
the defaults of the checkout it runs in. Two ways to give each the same compute:

    python benchmarks/default_recipe.py --seconds 120 [--only A B ...]
        each trains for --max-time 120: simple, but on a shared machine the load decides as much as the
        recipe does.
    python benchmarks/default_recipe.py --budget-steps 800 [--only A B ...]
        first the cost of a step of each candidate relative to the reference (`cosine-2x256`), timed in
        short runs (--timing-steps), each next to a run of the reference so that the load cancels; then
        each trains for --max-steps = budget-steps / that ratio and --max-time 0. The quality figures no
        longer depend on the load (the run is deterministic); only the ratios do, and they are printed.
        800 reference steps is about what a 2-core AVX2 CPU does in the default 420 s (issue 14: 774
        steps); the project's AVX-512 machine does about 2,300.
    python benchmarks/default_recipe.py --costs-only [--only A B ...]
        only the step costs relative to the reference.

Printed for each: steps, best validation bits/char, the saved model's valid and test bits/char,
parameters, wall seconds and the 1-minute load average before and after. First the machine: CPU model,
the flags that matter (avx2, avx512f, avx512_bf16, amx_bf16), torch's version and threads,
OMP_NUM_THREADS and the instruction-set limits (--isa AVX2: oneDNN, ATen and MKL then use what an AVX2-only CPU has).
Every run gets --precision fp32 unless --precision says otherwise (an AVX2 CPU has no bf16 units, and
--precision auto would pick bf16 on one that has them). The corpus is shakespeare under $LMKIT_CORPORA
(fetched there on first use).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lmkit.train.presets import option_names
from lmkit.train.trainer import TrainCallbacks
from machine import ISA_LIMITS, describe_machine, isa_env

REFERENCE = "cosine-2x256"
BASE = dict(hidden_size=256, layers=2, emb_size=64, batch_size=64, bptt=128, dropout=0.1, out_dropout=0.1)
# name -> settings (TrainConfig / RNNConfig fields); each states all it depends on, so a later change of the
# checkout's defaults does not change what a name means
CANDIDATES: dict[str, dict] = {
    "old-default": {**BASE, "lr": 3e-3, "schedule": "plateau"},          # the recipe before issue 14
    REFERENCE: {**BASE, "lr": 3e-3, "schedule": "cosine"},
    "lr6e-3": {**BASE, "lr": 6e-3, "schedule": "cosine"},
    "lr1e-2": {**BASE, "lr": 1e-2, "schedule": "cosine"},
    "lr2e-2": {**BASE, "lr": 2e-2, "schedule": "cosine"},
    "lr3e-2": {**BASE, "lr": 3e-2, "schedule": "cosine"},
    "lr2e-2-warmup0.1": {**BASE, "lr": 2e-2, "schedule": "cosine", "warmup": 0.1},
    "lr1e-2-no-dropout": {**BASE, "lr": 1e-2, "schedule": "cosine", "dropout": 0.0, "out_dropout": 0.0},
    "lr1e-2-batch32": {**BASE, "lr": 1e-2, "schedule": "cosine", "batch_size": 32},
    "lr2e-2-batch32": {**BASE, "lr": 2e-2, "schedule": "cosine", "batch_size": 32},
    "lr2e-2-batch32-no-dropout": {**BASE, "lr": 2e-2, "schedule": "cosine", "batch_size": 32, "dropout": 0.0,
                                  "out_dropout": 0.0},
    "lr5e-3-batch32": {**BASE, "lr": 5e-3, "schedule": "cosine", "batch_size": 32},
    "lr1e-2-batch16": {**BASE, "lr": 1e-2, "schedule": "cosine", "batch_size": 16},
    "lr1e-2-bptt64": {**BASE, "lr": 1e-2, "schedule": "cosine", "batch_size": 128, "bptt": 64},
    "lr1e-2-bptt32": {**BASE, "lr": 1e-2, "schedule": "cosine", "batch_size": 256, "bptt": 32},
    "lr1e-2-2x384-bptt64": {**BASE, "lr": 1e-2, "schedule": "cosine", "hidden_size": 384, "batch_size": 128, "bptt": 64},
    "lr1e-2-1x512": {**BASE, "lr": 1e-2, "schedule": "cosine", "hidden_size": 512, "layers": 1},
    "lr1e-2-1x384": {**BASE, "lr": 1e-2, "schedule": "cosine", "hidden_size": 384, "layers": 1},
    "lr1e-2-2x192": {**BASE, "lr": 1e-2, "schedule": "cosine", "hidden_size": 192},
    "lr1e-2-2x384": {**BASE, "lr": 1e-2, "schedule": "cosine", "hidden_size": 384},
    "lr1e-2-3x256": {**BASE, "lr": 1e-2, "schedule": "cosine", "layers": 3},
    "lr1e-2-gru": {**BASE, "lr": 1e-2, "schedule": "cosine"},
    "lr1e-2-linear": {**BASE, "lr": 1e-2, "schedule": "linear"},
    "lr1e-2-plateau": {**BASE, "lr": 1e-2, "schedule": "plateau"},
}
MODEL_OF = {"lr1e-2-gru": "gru"}
SUMMARY = re.compile(r"^\s+(valid|test)\s+ppl\s+\S+\s+bits/token\s+\S+\s+bits/char\s+(\S+)", re.M)
STOPPED = re.compile(r"stopped: \S+ after (\d+) steps")


def options(name: str, precision: str, threads: int | None) -> list[str]:
    chosen = ["--model", MODEL_OF.get(name, "lstm"), *shlex.split(option_names(CANDIDATES[name])), "--precision", precision]
    return chosen + (["--threads", str(threads)] if threads else [])


def train(name: str, budget: list[str], precision: str, threads: int | None, env: dict, folder: Path) -> dict:
    """One `lmkit train` run; its figures from the printed summary and metrics.jsonl."""
    out = folder / f"{name}-{len(list(folder.iterdir()))}"
    command = [sys.executable, "-m", "lmkit", "train", "--corpus", "shakespeare", *options(name, precision, threads), *budget,
               "--out", str(out), "--quiet", "--sample-tokens", "0"]
    row = {"name": name, "command": shlex.join(["lmkit", *command[3:-5]]), "load_before": os.getloadavg()[0]}
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    row.update(wall_s=round(time.monotonic() - started, 1), load_after=os.getloadavg()[0], exit=done.returncode)
    if done.returncode:
        row["error"] = (done.stderr or done.stdout).strip().splitlines()[-1:]
        return row
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    figures = dict(SUMMARY.findall(done.stdout))
    row.update(steps=int(STOPPED.search(done.stdout).group(1)), train_s=history[-1]["time"],
               best_valid_bpc=min(r["valid_bpc"] for r in history),
               valid_bpc=float(figures["valid"]), test_bpc=float(figures["test"]),
               parameters=json.loads((out / "config.json").read_text())["train"]["parameters"])
    return row


def step_seconds(name: str, steps: int, precision: str, env: dict) -> float:
    """Seconds per training step of a candidate, timed in a fresh process (`--time-one`)."""
    command = [sys.executable, __file__, "--time-one", name, "--timing-steps", str(steps), "--precision", precision]
    return float(subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.split()[-1])


class StepClock(TrainCallbacks):
    """The time of every step; stops the run after `steps` (as SIGINT would: no final evaluation)."""

    def __init__(self, steps: int):
        self.steps, self.times, self.trainer = steps, [], None

    def on_step(self, info):
        self.times.append(info["elapsed"])
        if info["step"] == self.steps:
            self.trainer.stop.received = "SIGINT"


def time_one(name: str, steps: int, precision: str) -> float:
    """Seconds per step of `name` on the shakespeare train split, steps 6 to `steps` (the first ones warm up)."""
    from lmkit.commands.train_models import MODEL_FAMILIES
    from lmkit.corpus.catalog import get_corpus
    from lmkit.models.neural.rnn import RNNConfig, RNNLM
    from lmkit.config.settings import settings_dict
    from lmkit.text.id_cache import encoded_split
    from lmkit.text.tokenizers import fit_tokenizer
    from lmkit.train.config import TrainConfig
    from lmkit.train.trainer import Trainer

    corpus = get_corpus("shakespeare")
    tokenizer = fit_tokenizer("char", corpus.lines("train"))
    settings, cell = CANDIDATES[name], MODEL_OF.get(name, "lstm")
    assert MODEL_FAMILIES[cell] is RNNConfig
    model = RNNLM(tokenizer.vocab, RNNConfig(cell=cell, **settings_dict(RNNConfig, settings)))
    config = TrainConfig(**{**settings_dict(TrainConfig, settings), "max_time": 0, "eval_every": None,
                            "precision": precision})
    clock = StepClock(steps)
    with tempfile.TemporaryDirectory(prefix="lmkit-recipe-time-") as folder:
        train_stream = encoded_split(corpus, tokenizer, "train")
        clock.trainer = Trainer(model, tokenizer, train_stream, train_stream[:5000], config, folder, callbacks=clock)
        clock.trainer.run()
    return (clock.times[-1] - clock.times[4]) / (len(clock.times) - 5)


def step_cost(name: str, steps: int, precision: str, env: dict) -> float:
    """Seconds per step of `name` over the reference's, each timed right after the other."""
    if name == REFERENCE:
        return 1.0
    reference = step_seconds(REFERENCE, steps, precision, env)
    return step_seconds(name, steps, precision, env) / reference


def table(rows: list[dict]) -> str:
    lines = ["| candidate | params | step cost | steps | best valid bpc | valid bpc | test bpc | load before/after | wall s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["exit"]:
            lines.append(f"| {r['name']} | failed: {r.get('error')} ||||||||")
            continue
        lines.append(f"| {r['name']} | {r['parameters']:,} | {r.get('cost', float('nan')):.2f} | {r['steps']} | "
                     f"{r['best_valid_bpc']:.4f} | {r['valid_bpc']:.4f} | {r['test_bpc']:.4f} | "
                     f"{r['load_before']:.1f}/{r['load_after']:.1f} | {r['wall_s']:.0f} |")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {r['name']}: `{r['command']}`" for r in rows)


def run_all(names: list[str], args, env: dict, folder: Path) -> list[dict]:
    rows, known = [], {name: float(ratio) for name, ratio in (item.split("=") for item in args.cost)}
    for name in names:
        if args.budget_steps:
            cost = known[name] if name in known else step_cost(name, args.timing_steps, args.precision, env)
            steps = ["--max-steps", str(round(args.budget_steps / cost)), "--max-time", "0"]
            row = train(name, steps, args.precision, args.threads, env, folder)
            row["cost"] = round(cost, 3)
        else:
            row = train(name, ["--max-time", f"{args.seconds:g}"], args.precision, args.threads, env, folder)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--time-one", choices=sorted(CANDIDATES), help=argparse.SUPPRESS)  # used by step_seconds
    budget.add_argument("--seconds", type=float, help="--max-time of each run")
    budget.add_argument("--budget-steps", type=int, help="steps of the reference; the others get as much compute")
    budget.add_argument("--costs-only", action="store_true", help="only time each candidate's step against the reference")
    parser.add_argument("--timing-steps", type=int, default=40, help="steps of each timing run (--budget-steps)")
    parser.add_argument("--cost", action="append", default=[], metavar="NAME=RATIO",
                        help="a step cost measured before (--costs-only): that candidate is not timed again")
    parser.add_argument("--only", nargs="*", choices=sorted(CANDIDATES), help="candidates to run (default: all)")
    parser.add_argument("--isa", default=None, choices=tuple(ISA_LIMITS),
                        help="limit oneDNN, ATen and MKL to this instruction set (an AVX2-only CPU on this one)")
    parser.add_argument("--threads", type=int, default=None, help="--threads of every run (and OMP_NUM_THREADS)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"),
                        help="--precision of every run (fp32: as on an AVX2 CPU, the common case)")
    parser.add_argument("--json", type=Path, default=None, help="write the machine and the rows here too")
    args = parser.parse_args()
    if args.time_one:
        print(time_one(args.time_one, args.timing_steps, args.precision))
        return
    env = {**os.environ, **isa_env(args.isa)} if args.isa else dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)  # the timing runs (in-process Trainer) follow it too
    info = describe_machine(env)
    print(json.dumps(info), flush=True)
    if args.costs_only:
        for name in args.only or list(CANDIDATES):
            load = os.getloadavg()[0]
            print(json.dumps({"name": name, "cost": round(step_cost(name, args.timing_steps, args.precision, env), 3),
                              "load_before": load, "load_after": os.getloadavg()[0]}), flush=True)
        return
    with tempfile.TemporaryDirectory(prefix="lmkit-recipe-") as folder:
        rows = run_all(args.only or list(CANDIDATES), args, env, Path(folder))
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "args": vars(args), "rows": rows}, indent=1, default=str))


if __name__ == "__main__":
    main()
