"""N-best rescoring benchmark: how often does a language model pick the true sentence back out of a noisy n-best list?

    python benchmarks/rescore.py [--corpus shakespeare] [--tokenizer word] [--train-seconds 120] [--utterances 400]
    python benchmarks/rescore.py --corpus tang300 --tokenizer char --cer      # Chinese, character error rate

It builds a Kneser-Ney 3-gram and trains a small LSTM (--train-seconds) on the corpus's train split, then
turns test lines into n-best lists as a recogniser might: the original sentence among --nbest candidates,
the others 1-3 edits away from it — a unit swapped for a confusable one (same frequency band and sharing a
first or last letter, or for characters the same frequency band), a unit dropped, a frequent unit inserted —
and a first-pass score of -(edits) plus Gaussian noise (--noise), so the first pass is right only sometimes.
Each model rescores the lists through `lmkit rescore` (weight and bonus tuned on half of the utterances, by a
hash of their ids; the other half measured): the N-gram, the LSTM and their interpolation (EM weights on the
tuning half's references). Printed: error rate before and after, and how often the original is chosen.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lmkit.generate.nbest import read_tsv  # noqa: E402
from lmkit.generate.rescore import dev_rows  # noqa: E402


def lmkit(*args: str, quiet: bool = False) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "lmkit", *map(str, args)], env=env, text=True,
                          capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"lmkit {' '.join(map(str, args))} failed:\n{done.stderr}")
    return done.stdout


def split_units(line: str, chars: bool) -> list[str]:
    return [c for c in line if not c.isspace()] if chars else line.split()


def join_units(units: list[str], chars: bool) -> str:
    return "".join(units) if chars else " ".join(units)


class Confusions:
    """Units by training frequency: a confusable neighbour for substitutions, frequent units for insertions."""

    def __init__(self, counts: Counter, band: int = 60) -> None:
        self.ranked = [unit for unit, _ in counts.most_common()]
        self.rank = {unit: r for r, unit in enumerate(self.ranked)}
        self.band, self.frequent = band, self.ranked[:40]

    def confusable(self, unit: str, rng: random.Random, chars: bool) -> str:
        r = self.rank.get(unit, len(self.ranked) - 1)
        near = [u for u in self.ranked[max(0, r - self.band): r + self.band] if u != unit]
        alike = near if chars else [u for u in near if u[0].lower() == unit[0].lower() or u[-2:] == unit[-2:]]
        return rng.choice(alike or near)


def corrupt(units: list[str], confusions: Confusions, rng: random.Random, chars: bool) -> tuple[list[str], int]:
    out, edits = list(units), rng.choice([1, 1, 2, 2, 3])
    for _ in range(edits):
        kind = rng.choice(["sub", "sub", "sub", "del", "ins"])
        at = rng.randrange(len(out))
        if kind == "sub":
            out[at] = confusions.confusable(out[at], rng, chars)
        elif kind == "del" and len(out) > 1:
            del out[at]
        else:
            out.insert(at, rng.choice(confusions.frequent))
    return out, edits


def make_lists(lines: list[str], confusions: Confusions, args, rng: random.Random) -> tuple[list[str], list[str]]:
    """TSV rows of the n-best lists and `utt ref` rows."""
    rows, refs = [], []
    for i, line in enumerate(lines):
        units = split_units(line, args.cer)
        seen, candidates = {tuple(units)}, [(units, 0)]
        for _ in range(args.nbest * 20):
            if len(candidates) == args.nbest:
                break
            wrong, edits = corrupt(units, confusions, rng, args.cer)
            if tuple(wrong) not in seen:
                seen.add(tuple(wrong))
                candidates.append((wrong, edits))
        rng.shuffle(candidates)
        utt = f"utt{i:05d}"
        rows += [f"{utt}\t{join_units(c, args.cer)}\t{-edits + rng.gauss(0, args.noise):.4f}" for c, edits in candidates]
        refs.append(f"{utt} {join_units(units, args.cer)}")
    return rows, refs


def threads(args) -> list[str]:
    return ["--threads", str(args.threads)] if args.threads else []


def build_models(args, work: Path) -> dict[str, list[str]]:
    corpus = ["--corpus", args.corpus, "--tokenizer", args.tokenizer]
    if args.tokenizer == "word":
        corpus += ["--max-size", str(args.max_size)]
    if not (work / "ngram").exists():
        lmkit("ngram", *corpus, "--order", "3", *threads(args), "--out", work / "ngram")
    if not (work / "lstm").exists():
        lmkit("train", *corpus, "--model", "lstm", "--hidden-size", args.hidden_size, "--emb-size", args.hidden_size // 2,
              "--layers", "1", "--batch-size", "32", "--bptt", "32", "--max-time", args.train_seconds, "--sample-tokens", "0",
              "--quiet", *threads(args), "--out", work / "lstm")
    return {"3-gram KN": [work / "ngram"], "LSTM": [work / "lstm"],
            "LSTM + 3-gram": ["--mix", f"{work / 'lstm'},{work / 'ngram'}"]}


def restored(lists: dict, refs: dict[str, str], measured: set[str], chars: bool) -> float:
    """How often the top hypothesis of the measured utterances is the original sentence."""
    hits = sum(split_units(max(lists[u], key=lambda h: h.score).text, chars) == split_units(refs[u], chars)
               for u in measured)
    return hits / max(len(measured), 1)


def measure(name: str, model: list, nbest: Path, refs_file: Path, refs: dict, measured: set, args, work: Path) -> str:
    out = work / f"{re.sub(r'[^a-z0-9]+', '-', name.lower())}.tsv"
    said = lmkit("rescore", *model, nbest, "--refs", refs_file, "--out", out, *(["--cer"] if args.cer else []),
                 *threads(args))
    rate = re.search(r"first pass ([\d.]+)% -> rescored ([\d.]+)%", said)
    tuned = re.search(r"LM weight (\S+), length bonus (\S+)", said)
    first = restored(read_tsv(nbest), refs, measured, args.cer)
    after = restored(read_tsv(out), refs, measured, args.cer)
    return (f"| {name} | {rate[1]}% | {rate[2]}% | {100 * first:.1f}% | {100 * after:.1f}% | "
            f"{tuned[1]} | {tuned[2].rstrip(' (')} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="shakespeare")
    parser.add_argument("--tokenizer", default="word", choices=["word", "char"])
    parser.add_argument("--max-size", type=int, default=5000, help="word vocabulary size")
    parser.add_argument("--cer", action="store_true", help="corrupt and measure characters (for Chinese)")
    parser.add_argument("--train-seconds", type=float, default=120)
    parser.add_argument("--hidden-size", type=int, default=128, help="LSTM hidden units (embeddings half as many)")
    parser.add_argument("--utterances", type=int, default=400)
    parser.add_argument("--nbest", type=int, default=10)
    parser.add_argument("--noise", type=float, default=1.0, help="first-pass score noise (standard deviation)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of every lmkit command (default: lmkit's, which honours OMP_NUM_THREADS)")
    parser.add_argument("--work", type=Path, default=None, help="folder for models and lists (kept; reused)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="lmkit-rescore-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    from lmkit.corpus.catalog import get_corpus

    corpus = get_corpus(args.corpus)
    confusions = Confusions(Counter(u for line in corpus.lines("train") for u in split_units(line, args.cer)))
    rng = random.Random(args.seed)
    lines = [line for line in corpus.lines("test") if 4 <= len(split_units(line, args.cer)) <= 20]
    rows, ref_rows = make_lists(rng.sample(lines, min(args.utterances, len(lines))), confusions, args, rng)
    nbest, refs_file = work / "nbest.tsv", work / "refs.txt"
    nbest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    refs_file.write_text("\n".join(ref_rows) + "\n", encoding="utf-8")
    refs = dict(line.split(" ", 1) for line in ref_rows)
    utterances = list(refs)
    measured = {u for u, tunes in zip(utterances, dev_rows(utterances, 0.5)) if not tunes}
    what = "CER" if args.cer else "WER"
    print(f"{args.corpus} ({args.tokenizer}), {len(utterances)} utterances x {args.nbest} hypotheses, "
          f"noise {args.noise}; measured on {len(measured)} held-out utterances; models in {work}")
    print(f"| model | {what} first pass | {what} rescored | original chosen, first pass | original chosen, rescored "
          f"| LM weight | length bonus |\n| --- | --- | --- | --- | --- | --- | --- |")
    for name, model in build_models(args, work).items():
        print(measure(name, model, nbest, refs_file, refs, measured, args, work), flush=True)


if __name__ == "__main__":
    main()
