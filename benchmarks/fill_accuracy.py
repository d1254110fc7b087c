"""Fill-in-the-blank accuracy: two one-directional models against one bidirectional model.

    python benchmarks/fill_accuracy.py --corpus pku98 --tokenizer word --max-size 20000 --minutes 2.5 --bptt 128
    python benchmarks/fill_accuracy.py --corpus shakespeare --tokenizer word --max-size 10000 --minutes 2.5 --bptt 64
    python benchmarks/fill_accuracy.py --corpus tang300 --tokenizer char --minutes 10 --blanks 500

(figures: benchmarks/RESULTS.md, "Fill in the blank").

Trains (through the `lmkit` CLI, into --work, each command with --threads) a
forward and a backward 5-gram Kneser-Ney model, a forward and a backward LSTM,
and one BiLSTM. Then blanks out random single tokens of random test lines
(seeded; never a token the vocabulary maps to <unk>) and ranks fillers for each:

    (a) ngram     log p_fwd(sentence) + log p_bwd(reversed sentence), 5-grams
    (b) lstm      the same with the two LSTMs
    (c) bilstm    the BiLSTM's cloze prediction at the blank

and prints top-1 and top-5 accuracy (a markdown table) with the CPU, torch,
threads, the load average before training and after scoring, and every
model's parameter count.

What is held equal, so that the comparison is fair:

  tokens      all five models are built with the same tokenizer options
              (--tokenizer, --max-size, --min-freq), so they share one vocabulary.
  parameters  the BiLSTM's two readers have the two LSTMs' layers and sizes, one
              embedding each, and its softmax reads both (2H inputs where each
              LSTM's reads H): the same weights up to the softmax's one bias
              vector (with --softmax adaptive, the tail projections grow with
              their input; the counts are printed).
  time        --minutes is each LSTM's training time; the BiLSTM, one model
              doing the work of both, gets their sum (2 x --minutes).
  batches     the same --batch-size rows for all three; the LSTMs read
              --lstm-bptt tokens per row, the BiLSTM --bptt (whole lines only).

The two-model fillers score whole sentences, one per candidate, which over
a word vocabulary costs minutes per blank on one thread. With --shortlist K
they rescore exactly only the union of the K likeliest next tokens of the
forward model after the left side and of the backward model after the
reversed right side; a true answer outside that union counts as a miss.
This can only cost the two-model fillers accuracy, never the BiLSTM (which
ranks its whole vocabulary in one pass). --shortlist 0 ranks the whole
vocabulary for them too.

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
from lmkit.generate.fill import fill_blank, fillable_ids
from lmkit.generate.sampling import evaluating, prime

SIZES = ["--layers", "2", "--hidden-size", "256", "--emb-size", "128"]
LSTM = ["--model", "lstm", *SIZES]
BILSTM = ["--model", "bilstm", *SIZES]  # see "parameters" above


def lmkit(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "lmkit", *args], check=True)


def train_all(work: Path, args) -> dict[str, Path]:
    seconds = int(args.minutes * 60)
    tokens = ["--corpus", args.corpus, "--tokenizer", args.tokenizer, "--min-freq", str(args.min_freq),
              *(["--max-size", str(args.max_size)] if args.max_size else []), "--threads", str(args.threads)]
    neural = [*tokens, "--softmax", args.softmax, "--batch-size", str(args.batch_size), "--quiet", "--sample-tokens", "0"]
    paths = {name: work / name for name in ("ngram-fwd", "ngram-bwd", "lstm-fwd", "lstm-bwd", "bilstm")}
    for direction, short in (("forward", "fwd"), ("backward", "bwd")):
        if not (paths[f"ngram-{short}"] / "config.json").exists():
            lmkit("ngram", *tokens, "--order", "5", "--direction", direction, "--out", str(paths[f"ngram-{short}"]))
        if not (paths[f"lstm-{short}"] / "config.json").exists():
            lmkit("train", *neural, *LSTM, "--direction", direction, "--bptt", str(args.lstm_bptt), "--max-time", str(seconds),
                  "--out", str(paths[f"lstm-{short}"]))
    if not (paths["bilstm"] / "config.json").exists():  # the two LSTMs' time together
        lmkit("train", *neural, *BILSTM, "--bptt", str(args.bptt), "--max-time", str(2 * seconds),
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


def shortlist(forward, backward, left: list[int], right: list[int], size: int) -> list[list[int]] | None:
    """The union of each direction's `size` likeliest tokens at the blank, or None (the whole vocabulary) for 0."""
    if size <= 0:
        return None
    allowed = torch.tensor(fillable_ids(forward.vocab))
    found: set[int] = set()
    for model, context in ((forward, left), (backward, right[::-1])):
        with evaluating(model):
            logp = prime(model, context, 1)[0][0].float().cpu()[allowed]
        found.update(allowed[logp.topk(min(size, len(allowed))).indices].tolist())
    return [[i] for i in sorted(found)]


def score(paths: dict[str, Path], cases, deadline: float, size: int) -> dict[str, list[int]]:
    models = {name: load_model(path)[0] for name, path in paths.items()}  # fill and cloze_fill switch to eval mode
    ranks: dict[str, list[int]] = {"ngram": [], "lstm": [], "bilstm": []}
    for left, answer, right in cases:
        if time.monotonic() > deadline:
            break
        with torch.inference_mode():
            for name in ("ngram", "lstm"):
                forward, backward = models[f"{name}-fwd"], models[f"{name}-bwd"]
                fillers = fill_blank(forward, backward, left, right, shortlist(forward, backward, left, right, size))
                ranks[name].append(rank_of(answer, [f.ids for f in fillers]))
            fillers = cloze_fill(models["bilstm"], left, right)
            ranks["bilstm"].append(rank_of(answer, [f.ids for f in fillers]))
    return ranks


def cpu_line() -> str:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("", platform.machine()):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    shown = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model} ({' '.join(shown) or 'flags unknown'}), {os.cpu_count()} CPUs"


def parameters(path: Path) -> str:
    model = load_model(path)[0]
    return f"{sum(p.numel() for p in model.parameters()):,}" if isinstance(model, torch.nn.Module) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="tang300")
    parser.add_argument("--tokenizer", default="char", choices=("char", "word"))
    parser.add_argument("--max-size", type=int, default=0, help="Vocabulary cap, specials included (0: none).")
    parser.add_argument("--min-freq", type=int, default=1, help="Keep tokens seen at least this often.")
    parser.add_argument("--softmax", default="adaptive", choices=("full", "adaptive"))
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="Training time of each LSTM; the BiLSTM gets twice this (the two LSTMs' sum).")
    parser.add_argument("--score-minutes", type=float, default=10.0, help="Most time spent scoring blanks.")
    parser.add_argument("--blanks", type=int, default=300)
    parser.add_argument("--shortlist", type=int, default=200,
                        help="Two-model fillers rescore each direction's this many likeliest tokens (0: all).")
    parser.add_argument("--batch-size", type=int, default=32, help="Rows of every neural model's batches.")
    parser.add_argument("--lstm-bptt", type=int, default=35, help="The LSTMs' truncated-BPTT window.")
    parser.add_argument("--bptt", type=int, default=128,
                        help="BiLSTM window: it trains only on lines lying whole inside one, so longer than most lines.")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of every lmkit command and the scoring.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("checkpoints/fill-benchmark"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    work = args.work / f"{args.corpus}-{args.tokenizer}"
    paths = train_all(work, args)
    tokenizer = load_model(paths["bilstm"])[1]
    cases = blanks(args.corpus, tokenizer, args.blanks, args.seed)
    ranks = score(paths, cases, time.monotonic() + args.score_minutes * 60, args.shortlist)
    load_after = os.getloadavg()
    print(f"{args.corpus} {args.tokenizer} (vocabulary {len(tokenizer.vocab)}): {len(ranks['bilstm'])} single-token "
          f"blanks, seed {args.seed}, shortlist {args.shortlist or 'none'}; LSTMs {args.minutes:g} min each, "
          f"BiLSTM {2 * args.minutes:g} min")
    print(f"{cpu_line()}; torch {torch.__version__}; threads {args.threads}; load average (1/5/15 min) before "
          f"{' '.join(f'{x:.2f}' for x in load_before)}, after {' '.join(f'{x:.2f}' for x in load_after)}")
    print("parameters: " + ", ".join(f"{name} {parameters(path)}" for name, path in paths.items() if "ngram" not in name))
    print("| filler | top-1 | top-5 |\n|---|---|---|")
    for name, found in ranks.items():
        n = max(len(found), 1)
        print(f"| {name} | {100 * sum(r < 1 for r in found) / n:.1f}% | {100 * sum(r < 5 for r in found) / n:.1f}% |")


if __name__ == "__main__":
    main()
