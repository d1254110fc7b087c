"""The main job as a new user runs it: `lmkit train` with no options, timed from start to exit, beside the
character 5-gram Kneser-Ney baseline on the same split and dynamic evaluation of the model it saved.

    python benchmarks/main_job.py                 # this CPU as it is (bf16 where it has bf16 units)
    python benchmarks/main_job.py --isa AVX2      # oneDNN, ATen and MKL limited to AVX2: an AVX2-only CPU's
                                                  # instructions (and so fp32) on this CPU's clock and caches
    python benchmarks/main_job.py --isa AVX512_CORE_BF16   # bf16 units without AMX, as on the AMD EPYC
    python benchmarks/main_job.py --corpus fortunes        # the same job on a held-out corpus: `lmkit train
                                                  # --corpus fortunes` against that corpus's 5-gram

Runs in a fresh $LMKIT_HOME (so checkpoints/ starts empty) with the corpora of --corpora; the corpus is
fetched there first (`lmkit corpus fetch`, untimed) if it is not cached yet. Steps, each a real CLI process
run alone, with the load average before and after:

    1. `lmkit train`                                          (wall time: issue 14's "10 minutes in all")
    2. `lmkit ngram --corpus shakespeare --tokenizer char --order 5`   (the baseline: 2.18 test bits/char)
    3. `lmkit eval checkpoints/shakespeare-char-lstm --dynamic`       (static and dynamic test bits/char)

With --corpus NAME every step names that corpus (`lmkit train --corpus NAME`, its 5-gram, its model): a
check that the default recipe, chosen on Shakespeare, beats the N-gram on text it was never tuned on.

and prints the machine, every command and a markdown table for benchmarks/RESULTS.md. Nothing else
should run meanwhile (`uptime` first: a load average above ~0.5 on 2 cores costs the run steps).
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

from machine import ISA_LIMITS, describe_machine, isa_env

from lmkit.corpus.sources import DEFAULT_CORPUS

BITS_PER_CHAR = re.compile(r"^\s+(valid|test)\s+ppl\s+\S+\s+bits/token\s+\S+\s+bits/char\s+(\S+)", re.M)
STOPPED = re.compile(r"stopped: (\S+)(?: \(.*\))? after ([\d,]+) steps, ([\d,]+) tokens")  # early_stop says why
NGRAM_TEST = re.compile(r"^test: perplexity \S+\s+bits/char (\S+)", re.M)
EVAL_BPC = re.compile(r"^\s+bits/char\s+(\S+)", re.M)  # the static figure first, then the dynamic one
PRECISION = re.compile(r"^precision (.*)$", re.M)


def run(args: list[str], env: dict, cwd: Path) -> dict:
    """One `lmkit ...` process: its output, wall seconds and the 1-minute load average around it."""
    before = os.getloadavg()[0]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "lmkit", *args], env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode:
        sys.exit(f"`lmkit {shlex.join(args)}` failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    record = {"command": shlex.join(["lmkit", *args]), "wall_s": round(wall, 1), "load_before": round(before, 2),
              "load_after": round(os.getloadavg()[0], 2), "stdout": done.stdout}
    print(json.dumps({key: value for key, value in record.items() if key != "stdout"}), done.stdout, sep="\n", flush=True)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--isa", choices=tuple(ISA_LIMITS), default=None, help="emulate another CPU's instruction set (machine.ISA_LIMITS)")
    parser.add_argument("--corpora", type=Path, default=None,
                        help="corpora folder [default: $LMKIT_CORPORA, else ./corpora]; the corpus is fetched into it "
                             "first if it is not there, outside the timed steps")
    parser.add_argument("--corpus", default=None, metavar="NAME",
                        help="run the job on this corpus instead of the default one")
    parser.add_argument("--train-option", action="append", default=[], metavar="OPTION",
                        help="extra `lmkit train` option (repeatable), for trying the script quickly; the "
                             "recorded figures take none")
    parser.add_argument("--json", type=Path, default=None, help="write everything measured here too")
    args = parser.parse_args()
    corpora = args.corpora or Path(os.environ.get("LMKIT_CORPORA", "corpora"))
    with tempfile.TemporaryDirectory(prefix="lmkit-main-job-") as home:
        env = {**os.environ, **(isa_env(args.isa) if args.isa else {}), "LMKIT_HOME": home,
               "LMKIT_CORPORA": str(corpora.resolve())}
        info = describe_machine(env)
        print(json.dumps(info), flush=True)
        corpus = args.corpus or DEFAULT_CORPUS
        model = f"checkpoints/{corpus}-char-lstm"
        chosen = ["--corpus", corpus] if args.corpus else []  # the default job names no corpus
        extra = [word for option in args.train_option for word in shlex.split(option)]
        run(["corpus", "fetch", corpus], env, Path(home))  # a download is no part of the job's ten minutes
        train = run(["train", *chosen, *extra], env, Path(home))
        ngram = run(["ngram", "--corpus", corpus, "--tokenizer", "char", "--order", "5"], env, Path(home))
        dynamic = run(["eval", model, "--dynamic"], env, Path(home))
    figures = dict(BITS_PER_CHAR.findall(train["stdout"]))
    stopped = STOPPED.search(train["stdout"])
    static_bpc, dynamic_bpc = map(float, EVAL_BPC.findall(dynamic["stdout"])[:2])
    result = {
        "machine": info, "corpus": corpus, "precision": PRECISION.search(train["stdout"]).group(1),
        "stopped_by": stopped.group(1), "steps": int(stopped.group(2).replace(",", "")),
        "tokens": int(stopped.group(3).replace(",", "")),
        "valid_bpc": float(figures["valid"]), "test_bpc": float(figures["test"]),
        "kn5_test_bpc": float(NGRAM_TEST.search(ngram["stdout"]).group(1)),
        "static_test_bpc": static_bpc, "dynamic_test_bpc": dynamic_bpc,
        "runs": {"train": train, "ngram": ngram, "dynamic": dynamic},
    }
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


def table(r: dict) -> str:
    runs = r["runs"]
    lines = ["| measurement | figure | command | wall s | load before/after |", "|---|---|---|---|---|",
             f"| main job: test bits/char ({r['steps']:,} steps, {r['tokens']:,} characters, stopped by "
             f"{r['stopped_by']}; valid {r['valid_bpc']:.4f}) | **{r['test_bpc']:.4f}** | `{runs['train']['command']}` | "
             f"**{runs['train']['wall_s']:.0f}** | {runs['train']['load_before']}/{runs['train']['load_after']} |",
             f"| character 5-gram Kneser-Ney, test bits/char | {r['kn5_test_bpc']:.4f} (LSTM "
             f"{(r['test_bpc'] / r['kn5_test_bpc'] - 1) * 100:+.1f}%) | `{runs['ngram']['command']}` | "
             f"{runs['ngram']['wall_s']:.0f} | {runs['ngram']['load_before']}/{runs['ngram']['load_after']} |",
             f"| dynamic evaluation, test bits/char | {r['dynamic_test_bpc']:.4f} (static {r['static_test_bpc']:.4f}: "
             f"**{(r['dynamic_test_bpc'] / r['static_test_bpc'] - 1) * 100:+.1f}%**) | `{runs['dynamic']['command']}` | "
             f"{runs['dynamic']['wall_s']:.0f} | {runs['dynamic']['load_before']}/{runs['dynamic']['load_after']} |"]
    return f"corpus: {r['corpus']}; precision: {r['precision']}\n\n" + "\n".join(lines)


if __name__ == "__main__":
    main()
