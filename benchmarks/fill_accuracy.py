"""Fill-in-the-blank accuracy: two one-directional models against one bidirectional model.

    python benchmarks/fill_accuracy.py --corpus pku98 --tokenizer word --minutes 15
    python benchmarks/fill_accuracy.py --corpus tang300 --tokenizer char --minutes 10 --blanks 500

Trains (through the `lmkit` CLI, into --work) a forward and a backward 5-gram
Kneser-Ney model, a forward and a backward LSTM, and one BiLSTM with as many
parameters as the two LSTMs together; each
neural model gets --minutes of training. Then blanks out random single
tokens of random test lines (seeded) and ranks the whole vocabulary for each:

    (a) ngram     log p_fwd(sentence) + log p_bwd(reversed sentence), 5-grams
    (b) lstm      the same with the two LSTMs
    (c) bilstm    the BiLSTM's cloze prediction at the blank

and prints top-1 and top-5 accuracy (a markdown table) with the CPU and load.
Models already in --work are reused, so a second run only scores.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

import torch

from lmkit.checkpoint import load_model
from lmkit.corpus.catalog import get_corpus
from lmkit.generate.cloze_fill import cloze_fill
from lmkit.generate.fill import fill_blank

LSTM = ["--model", "lstm", "--layers", "2", "--hidden-size", "256", "--emb-size", "128"]
# Equal parameters: the BiLSTM's two readers hold what the two LSTMs hold, and its softmax reads 2H where
# each LSTM's reads H (the same number of weights; one bias vector fewer).
BILSTM = ["--model", "bilstm", "--layers", "2", "--hidden-size", "256", "--emb-size", "128"]


def lmkit(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "lmkit", *args], check=True)


def train_all(work: Path, corpus: str, tokenizer: str, seconds: int, bptt: int) -> dict[str, Path]:
    common = ["--corpus", corpus, "--tokenizer", tokenizer]
    paths = {name: work / name for name in ("ngram-fwd", "ngram-bwd", "lstm-fwd", "lstm-bwd", "bilstm")}
    for direction, short in (("forward", "fwd"), ("backward", "bwd")):
        if not (paths[f"ngram-{short}"] / "config.json").exists():
            lmkit("ngram", *common, "--order", "5", "--direction", direction, "--out", str(paths[f"ngram-{short}"]))
        if not (paths[f"lstm-{short}"] / "config.json").exists():
            lmkit("train", *common, *LSTM, "--direction", direction, "--max-time", str(seconds), "--quiet",
                  "--sample-tokens", "0", "--out", str(paths[f"lstm-{short}"]))
    if not (paths["bilstm"] / "config.json").exists():
        lmkit("train", *common, *BILSTM, "--bptt", str(bptt), "--max-time", str(seconds), "--quiet", "--sample-tokens", "0",
              "--out", str(paths["bilstm"]))
    return paths


def blanks(corpus: str, tokenizer, count: int, seed: int) -> list[tuple[list[int], int, list[int]]]:
    """(left ids, answer id, right ids) for `count` random tokens of random test lines (known tokens only)."""
    rng = random.Random(seed)
    lines = [tokenizer.encode_line(line) for line in get_corpus(corpus).lines("test")]
    lines = [ids for ids in lines if len(ids) >= 3]
    chosen = []
    while len(chosen) < count:
        ids = rng.choice(lines)
        at = rng.randrange(len(ids))
        if ids[at] != tokenizer.vocab.unk_id:
            chosen.append((ids[:at], ids[at], ids[at + 1 :]))
    return chosen


def rank_of(answer: int, ranked: list[list[int]]) -> int:
    for rank, ids in enumerate(ranked):
        if ids == [answer]:
            return rank
    return len(ranked)


def score(paths: dict[str, Path], cases, deadline: float) -> dict[str, list[int]]:
    models = {name: load_model(path)[0] for name, path in paths.items()}  # fill and cloze_fill switch to eval mode
    ranks: dict[str, list[int]] = {"ngram": [], "lstm": [], "bilstm": []}
    for left, answer, right in cases:
        if time.monotonic() > deadline:
            break
        with torch.inference_mode():
            for name in ("ngram", "lstm"):
                fillers = fill_blank(models[f"{name}-fwd"], models[f"{name}-bwd"], left, right)
                ranks[name].append(rank_of(answer, [f.ids for f in fillers]))
            fillers = cloze_fill(models["bilstm"], left, right)
            ranks["bilstm"].append(rank_of(answer, [f.ids for f in fillers]))
    return ranks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="tang300")
    parser.add_argument("--tokenizer", default="char", choices=("char", "word"))
    parser.add_argument("--minutes", type=float, default=10.0, help="Training time of each neural model.")
    parser.add_argument("--score-minutes", type=float, default=10.0, help="Most time spent scoring blanks.")
    parser.add_argument("--blanks", type=int, default=300)
    parser.add_argument("--bptt", type=int, default=256, help="BiLSTM window: longer than the corpus's lines.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("checkpoints/fill-benchmark"))
    args = parser.parse_args()
    work = args.work / f"{args.corpus}-{args.tokenizer}"
    paths = train_all(work, args.corpus, args.tokenizer, int(args.minutes * 60), args.bptt)
    tokenizer = load_model(paths["bilstm"])[1]
    cases = blanks(args.corpus, tokenizer, args.blanks, args.seed)
    ranks = score(paths, cases, time.monotonic() + args.score_minutes * 60)
    print(f"{args.corpus} {args.tokenizer}: {len(ranks['bilstm'])} single-token blanks, seed {args.seed}; "
          f"{platform.processor() or platform.machine()}, load {os.getloadavg()[0]:.2f}")
    print("| filler | top-1 | top-5 |\n|---|---|---|")
    for name, found in ranks.items():
        n = max(len(found), 1)
        print(f"| {name} | {100 * sum(r < 1 for r in found) / n:.1f}% | {100 * sum(r < 5 for r in found) / n:.1f}% |")


if __name__ == "__main__":
    main()
