"""Are valid and test a fair sample of a corpus's units? Mean characters a unit per split, under corpus format 2's
rule (lmkit.corpus.split.SplitAssigner) and under format 1's, which counted a unit's size before choosing its split.

    python benchmarks/split_units.py [--corpora shakespeare zh-reviews pku98 tang300 song100 fortunes]
                                     [--shuffles 20]

Each named corpus is built afresh in a temporary folder from the downloads cached in $LMKIT_CORPORA (copied, so
nothing there changes), with the assigner wrapped to record every unit's size in order. Both rules then deal those
sizes: once in the corpus's order (format 2's deal is the corpus lmkit now builds) and over --shuffles random
orders, where a rule blind to size gives held-out units as long as train's on average (ratio 1). Printed per corpus
and rule: mean characters a unit in train/valid/test in corpus order, valid's and test's shares of the
characters, and over the shuffles the mean ratio of a held-out unit to a train unit and the largest miss of a
held-out share from its 5%. The deals are arithmetic on the sizes, the same on any machine.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from lmkit.corpus.split import FRACTIONS, SPLITS, SplitAssigner

HELD_OUT = ("valid", "test")


def deal_counted_first(sizes: list[int]) -> list[str]:
    """Format 1's rule, kept here as the reference: the unit's size is added to the total before the split furthest
    below its share is chosen, so a short unit fits a small split's deficit."""
    filled, total, splits = {s: 0 for s in FRACTIONS}, 0, []
    for size in sizes:
        total += size
        split = max(FRACTIONS, key=lambda s: FRACTIONS[s] * total - filled[s])
        filled[split] += size
        splits.append(split)
    return splits


def deal_format_2(sizes: list[int]) -> list[str]:
    assigner = SplitAssigner()
    return [assigner.assign(size) for size in sizes]


RULES = {"format 1 (counted first)": deal_counted_first, "format 2": deal_format_2}

RECORD = """
import json, os
from lmkit.corpus import split
sizes = []
assign = split.SplitAssigner.assign
def recorded(self, size):
    sizes.append(size)
    return assign(self, size)
split.SplitAssigner.assign = recorded
from lmkit.cli import main
try:
    main()
finally:
    json.dump(sizes, open(os.environ["UNIT_SIZES_FILE"], "w"))
"""


def unit_sizes(name: str, downloads: Path, work: Path) -> list[int]:
    """Every unit's size in characters, in the order the corpus `name` deals them, from a fresh build."""
    root = work / name
    root.mkdir()
    if downloads.is_dir():
        shutil.copytree(downloads, root / ".downloads")
    sizes_file = work / f"{name}.json"
    env = dict(os.environ, LMKIT_CORPORA=str(root), UNIT_SIZES_FILE=str(sizes_file))
    done = subprocess.run([sys.executable, "-c", RECORD, "corpus", "fetch", name], env=env,
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"`lmkit corpus fetch {name}` failed: {done.stderr.strip()[-500:]}")
    return json.loads(sizes_file.read_text())


def summary(sizes: list[int], splits: list[str]) -> tuple[dict, dict]:
    mean = {s: statistics.mean([x for x, t in zip(sizes, splits) if t == s] or [0]) for s in SPLITS}
    share = {s: sum(x for x, t in zip(sizes, splits) if t == s) / sum(sizes) for s in SPLITS}
    return mean, share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", nargs="+", default=["shakespeare", "zh-reviews", "pku98", "tang300", "song100",
                                                         "fortunes"])
    parser.add_argument("--shuffles", type=int, default=20)
    args = parser.parse_args()
    downloads = Path(os.environ.get("LMKIT_CORPORA", "corpora")) / ".downloads"
    print("| corpus | units | rule | mean chars a unit: train / valid / test | valid, test share | held-out/train "
          f"unit, {args.shuffles} shuffles | largest share miss |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for name in args.corpora:
            sizes = unit_sizes(name, downloads, Path(work))
            rng = random.Random(0)
            orders = [rng.sample(sizes, len(sizes)) for _ in range(args.shuffles)]
            for rule, deal in RULES.items():
                mean, share = summary(sizes, deal(sizes))
                ratios, miss = [], 0.0
                for order in orders:
                    m, sh = summary(order, deal(order))
                    ratios.append((m["valid"] + m["test"]) / 2 / m["train"])
                    miss = max(miss, *(abs(sh[s] - FRACTIONS[s]) for s in HELD_OUT))
                print(f"| {name} | {len(sizes):,} | {rule} | {mean['train']:,.1f} / {mean['valid']:,.1f} / "
                      f"{mean['test']:,.1f} | {share['valid']:.3f}, {share['test']:.3f} | "
                      f"{statistics.mean(ratios):.3f} | {miss:.3f} |", flush=True)


if __name__ == "__main__":
    main()
