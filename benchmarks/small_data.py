"""Small data, character level: the best recurrent model against the best Kneser-Ney model (issue 14, figure 4).

    python benchmarks/small_data.py [--corpora tang300 song100] [--held-out pku98 zh-reviews shakespeare]
                                    [--slice-chars 26000] [--threads 1]

For each text: Kneser-Ney of orders 2-5 (`lmkit ngram --tokenizer char --order N`, the best by valid
bits/char is the baseline), then three LSTMs, each a real `lmkit train` in a subprocess, one after the
other: the plain recipe (the default LSTM with the preset's budget: --epochs 80 --eval-every 50
--patience 6), `--preset small-corpus` without its `--rare-unk 0.5`, and the preset. The preset was chosen on
the valid splits of tang300 and song100; --held-out corpora are the check that it is not tuned to them:
the first --slice-chars characters of their train, and a tenth as many of their valid and test splits,
written to files (pku98 as plain text, its segmentation undone, as its character tokenizer sees it).

Printed: the machine (CPU flags, load average), each run's command, valid and test bits/char, the test
perplexity over the tokens in the model's vocabulary (`lmkit eval`'s "w/o OOV": where a gain comes from
unknown tokens, this shows it), and per text whether each LSTM beats the best N-gram on valid and test. Budgets are in passes, so load
changes only the wall time. Corpora come from $LMKIT_CORPORA (fetched there on first use).
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
from pathlib import Path

from lmkit.corpus.catalog import get_corpus
from lmkit.corpus.segmented import plain_text
from machine import describe_machine

ORDERS = (2, 3, 4, 5)
PASSES = ["--epochs", "80", "--eval-every", "50", "--patience", "6"]  # the preset's budget, given to the plain run too
LSTMS = {"plain lstm": PASSES, "small-corpus --rare-unk 0": ["--preset", "small-corpus", "--rare-unk", "0"],
         "preset small-corpus": ["--preset", "small-corpus"]}
FIGURES = re.compile(r"^\s*(valid|test)\b.*?bits/char\s+(\S+)", re.M)
KNOWN = re.compile(r"perplexity w/o OOV\s+(\S+)")  # `lmkit eval`: perplexity over the tokens in the vocabulary


def lmkit(command: list[str]) -> str:
    """What `python -m lmkit COMMAND` printed (the benchmark stops on a failure)."""
    done = subprocess.run([sys.executable, "-m", "lmkit", *command], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"lmkit {shlex.join(command)} failed: {(done.stderr or done.stdout).strip()[-400:]}")
    return done.stdout


def run(command: list[str], out: Path) -> dict[str, float]:
    """Build or train the model `out`: its valid and test bits/char, and the test perplexity over the tokens
    in its vocabulary ("known"; a model that learnt how often unknown tokens come gains on the others)."""
    figures = {split: float(value) for split, value in FIGURES.findall(lmkit(command))}
    test = ["--file", command[command.index("--test") + 1]] if "--test" in command else ["--split", "test"]
    evaluated = lmkit(["eval", str(out), *test])
    return {**figures, "test_known_ppl": float(KNOWN.search(evaluated).group(1))}


def slice_files(name: str, chars: int, folder: Path) -> list[str]:
    """--train/--valid/--test files: the first `chars` characters of the train split, chars/10 of the others."""
    corpus = get_corpus(name)
    plain = plain_text if corpus.segmented else (lambda line: line)
    options = []
    for split, budget in (("train", chars), ("valid", chars // 10), ("test", chars // 10)):
        lines, total = [], 0
        for line in corpus.lines(split):
            lines.append(plain(line))
            total += len(lines[-1]) + 1
            if total >= budget:
                break
        path = folder / f"{name}-{split}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        options += [f"--{split}", str(path)]
    return options


def compare(label: str, text: list[str], threads: int, folder: Path) -> dict:
    rows = []
    for order in ORDERS:
        out = folder / f"kn{order}"
        command = ["ngram", *text, "--tokenizer", "char", "--order", str(order), "--out", str(out)]
        rows.append({"model": f"kn {order}-gram", "command": command, **run(command, out)})
    best_ngram = min(rows, key=lambda row: row["valid"])
    for name, options in LSTMS.items():
        out = folder / name.replace(" ", "-")
        command = ["train", *text, "--tokenizer", "char", *options, "--threads", str(threads), "--out", str(out),
                   "--quiet", "--sample-tokens", "0"]
        rows.append({"model": name, "command": command, **run(command, out)})
    verdict = {row["model"]: {split: row[split] < best_ngram[split] for split in ("valid", "test")}
               for row in rows[len(ORDERS):]}
    return {"text": label, "rows": rows, "best_ngram": best_ngram["model"], "beats_best_ngram": verdict}


def print_table(result: dict) -> None:
    print(f"\n## {result['text']}  (best N-gram by valid: {result['best_ngram']})")
    print("| model | valid bits/char | test bits/char | test ppl w/o OOV | command |\n|---|---|---|---|---|")
    for row in result["rows"]:
        print(f"| {row['model']} | {row['valid']:.4f} | {row['test']:.4f} | {row['test_known_ppl']:.2f} "
              f"| `lmkit {shlex.join(row['command'])}` |")
    print(f"beats the best N-gram: {result['beats_best_ngram']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", nargs="*", default=["tang300", "song100"])
    parser.add_argument("--held-out", nargs="*", default=["pku98", "zh-reviews", "shakespeare"])
    parser.add_argument("--slice-chars", type=int, default=26_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = parser.parse_args()
    print(json.dumps(describe_machine(dict(os.environ)), indent=1))
    results = []
    with tempfile.TemporaryDirectory(prefix="lmkit-small-data-") as scratch:
        for name in args.corpora + args.held_out:
            folder = Path(scratch) / name
            folder.mkdir()
            held_out = name in args.held_out
            text = slice_files(name, args.slice_chars, folder) if held_out else ["--corpus", name]
            label = f"{name}, first {args.slice_chars:,} train characters (held out)" if held_out else name
            results.append(compare(label, text, args.threads, folder))
            print_table(results[-1])
    print(f"\nload average after: {[round(x, 2) for x in os.getloadavg()]}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
