"""Time per token of a bidirectional model's LSTM at the row counts line batches give, before and after rounding.

    OMP_NUM_THREADS=1 python benchmarks/line_rows.py [--threads 1] [--tokens 1120] [--rounds 3]

A bidirectional model trains on batches of whole lines (lmkit.text.lines.line_batches): a batch of lines
framing into L ids each held --tokens // L of them; lmkit.text.lines.batch_rows now rounds that count to a
multiple of 8 where it is large enough. For each line width L below, this times one direction of the fill
benchmark's BiLSTM (nn.LSTM, 2 layers, 240 inputs, 256 units; forward and backward of a whole batch) at both
row counts, in a child process per instruction-set limit and precision as benchmarks/isa_speed.py sets them
(AVX2 fp32: an AVX2-only CPU; AVX512_CORE_BF16 bf16: bf16 units without AMX; this CPU as it is). Each setting
alternates the two shapes `--rounds` times, 8 batches each, and keeps each shape's best round. Prints the
machine and a markdown table of microseconds per token.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from machine import describe_machine, isa_env, runs_here

SETTINGS = [("AVX2", "fp32"), ("AVX512_CORE_BF16", "bf16"), (None, "fp32"), (None, "bf16")]
WIDTHS = (12, 14, 17, 18, 20, 24, 26, 28, 36, 40, 48, 58, 80, 96)  # framed line widths (ids), pku98's common ones


def child(precision: str, tokens: int, rounds: int, threads: int) -> dict:
    """{width: (rows before, rows after, us/token before, us/token after)}, timed in this process."""
    import torch

    from lmkit.text.lines import batch_rows

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(240, 256, 2, batch_first=True, dropout=0.1)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")

    def batch_seconds(x: torch.Tensor) -> float:
        start = time.perf_counter()
        for _ in range(8):
            with autocast:
                out, _ = lstm(x)                                      # (N, L, 256)
            out.float().sum().backward()
        return (time.perf_counter() - start) / 8

    results = {}
    for width in WIDTHS:
        before, after = max(1, tokens // width), batch_rows(width, tokens)
        shapes = {rows: torch.randn(rows, width, 240, requires_grad=True) for rows in {before, after}}
        best = {rows: float("inf") for rows in shapes}
        for x in shapes.values():
            batch_seconds(x)  # oneDNN builds its kernels for the shape
        for _ in range(rounds):
            for rows, x in shapes.items():
                best[rows] = min(best[rows], batch_seconds(x))
        results[width] = (before, after, *(best[rows] / (rows * width) * 1e6 for rows in (before, after)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=1120, help="ids a batch frames into (--batch-size x --bptt)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a precision: time it in this process
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.tokens, args.rounds, args.threads)))
        return
    info = describe_machine(dict(os.environ))
    print(json.dumps(info), flush=True)
    print("| setting | line width L | rows before -> after | us/token before | after | before / after |")
    print("|---|---|---|---|---|---|")
    for isa, precision in SETTINGS:
        if not runs_here(info, isa, precision):
            continue
        env = {**os.environ, **(isa_env(isa) if isa else {})}
        command = [sys.executable, __file__, "--child", precision, "--tokens", str(args.tokens),
                   "--rounds", str(args.rounds), "--threads", str(args.threads)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        for width, (before, after, slow, fast) in json.loads(done.stdout.splitlines()[-1]).items():
            print(f"| {isa or 'this CPU'} {precision} | {width} | {before} -> {after} | {slow:.1f} | {fast:.1f} | "
                  f"{slow / fast:.2f} |", flush=True)
    print(f"load average after: {[round(x, 2) for x in os.getloadavg()]}")


if __name__ == "__main__":
    main()
