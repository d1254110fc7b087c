"""Top-1 leads between fillers ranked in different runs of fill_accuracy.py on the same blanks.

    python benchmarks/fill_leads.py RANKS.json [RANKS.json ...]

Each file is what `fill_accuracy.py --ranks` wrote: by span length, each filler's rank of every blank's span
(null: not among its candidates). The blanks depend only on the corpus, the models' vocabulary, --seed and
--blanks, not on which --fillers ran, so a slow filler can be run on its own later and compared blank by
blank with the others. The runs must have drawn the same blanks: a filler found in two files must rank
every blank both scored alike, or the files are refused. Only the blanks every filler reached are compared
(a run bounded by --score-minutes stops early), and the script prints, for each span length, each filler's
top-1 and top-5 there and the leads of fill_accuracy.LEADS whose two fillers are present, with the standard
error of each paired difference.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from fill_accuracy import LEADS, Tally, lead


def merged(paths: list[Path]) -> dict[str, dict[str, list[float]]]:
    """Span length -> filler -> ranks, from all files; SystemExit where two files disagree on a filler's ranks."""
    found: dict[str, dict[str, list[float]]] = {}
    seen_in: dict[tuple[str, str], Path] = {}
    for path in paths:
        try:
            runs = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SystemExit(f"{path}: not a ranks file of fill_accuracy.py ({exc})") from None
        if not isinstance(runs, dict):
            raise SystemExit(f"{path}: not a ranks file of fill_accuracy.py (no span lengths)")
        for length, fillers in runs.items():
            for name, ranks in fillers.items():
                ranks = [math.inf if r is None else r for r in ranks]
                earlier = found.setdefault(length, {}).get(name)
                if earlier is not None:
                    common = min(len(earlier), len(ranks))
                    if earlier[:common] != ranks[:common]:
                        raise SystemExit(f"{path} and {seen_in[length, name]}: the filler {name!r} ranks span "
                                         f"length {length}'s blanks differently: they are not the same blanks "
                                         "(or not the same models)")
                    ranks = max(earlier, ranks, key=len)
                found[length][name] = ranks
                seen_in.setdefault((length, name), path)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ranks", type=Path, nargs="+", help="Files written by fill_accuracy.py --ranks.")
    args = parser.parse_args()
    for length, fillers in merged(args.ranks).items():
        blanks = min(len(ranks) for ranks in fillers.values())
        tallies = {name: Tally(ranks[:blanks]) for name, ranks in fillers.items()}
        print(f"span {length}: the first {blanks} blanks, which every filler ranked\n")
        print("| filler | top-1 | top-5 |\n|---|---|---|")
        for name, tally in tallies.items():
            print(f"| {name} | {tally.share(1)} | {tally.share(5)} |")
        print("\n| filler | over | top-1 lead, points | standard error |\n|---|---|---|---|")
        for ours, theirs in LEADS:
            if ours in tallies and theirs in tallies and blanks:
                points, error = lead(tallies[ours], tallies[theirs])
                print(f"| {ours} | {theirs} | {points:+.1f} | {error:.1f} |")
        print()


if __name__ == "__main__":
    main()
