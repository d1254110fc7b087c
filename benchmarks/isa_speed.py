"""Characters per second of a character LSTM's training step under each instruction-set limit and precision.

    OMP_NUM_THREADS=1 python benchmarks/isa_speed.py [--threads 1] [--steps 30] [--batches 16 32]
                                                     [--layers 2] [--hidden-size 256]

A character LSTM (embedding 64, vocabulary 86, bptt 128; 2 x 256 unless --layers and --hidden-size say otherwise;
`lmkit train`'s default model on each kind of CPU is in lmkit.commands.train_models) trains whole
steps (forward, under bf16 autocast for bf16; backward; clipping; fused AdamW) on random characters, in a child
process per setting, with oneDNN, ATen and MKL held to each limit of machine.ISA_LIMITS and with none:

    AVX2              fp32          an AVX2-only CPU
    AVX512_CORE       fp32          AVX-512 without bf16 units
    AVX512_CORE_BF16  fp32, bf16    AVX-512 with bf16 units but no AMX
    none              fp32, bf16    this CPU as it is (AMX where it has it)

Settings the CPU lacks are skipped. The limits emulate the instructions, on this CPU's clock, caches and
execution units: they say which kernels run, not how fast another CPU runs them (benchmarks/RESULTS.md, "bf16
without AMX"). Prints the machine and a markdown table, the steps timed after 5 of warm-up.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from machine import describe_machine, isa_env, runs_here

from lmkit.models.neural.rnn import RNNConfig

SETTINGS = [("AVX2", "fp32"), ("AVX512_CORE", "fp32"), ("AVX512_CORE_BF16", "fp32"), ("AVX512_CORE_BF16", "bf16"),
            (None, "fp32"), (None, "bf16")]
VOCAB, BPTT, WARMUP = 86, 128, 5


def child(batch: int, steps: int, threads: int, bf16: bool, layers: int, hidden_size: int) -> float:
    """Characters per second of `steps` training steps of a `layers` x `hidden_size` model at `batch` x BPTT."""
    import torch

    from optimizer_kernel import vocab_of

    from lmkit.models.neural.rnn import RNNLM
    from lmkit.text.vocab import SPECIALS

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = RNNLM(vocab_of(VOCAB), RNNConfig(layers=layers, hidden_size=hidden_size))
    ids = torch.randint(len(SPECIALS), VOCAB, (batch, BPTT + 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1, fused=True)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = -model(ids[:, :-1], ids[:, 1:], model.init_state(batch))[0].mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        optimizer.step()

    for _ in range(WARMUP):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch * BPTT / (time.perf_counter() - start)


def measure(isa: str | None, precision: str, batch: int, args) -> float:
    env = dict(os.environ)
    if isa is not None:
        env.update(isa_env(isa))
    command = [sys.executable, __file__, "--child", json.dumps([batch, args.steps, args.threads, precision == "bf16", args.layers, args.hidden_size])]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per setting and batch")
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--layers", type=int, default=RNNConfig.layers, help="the model's stacked layers")
    parser.add_argument("--hidden-size", type=int, default=RNNConfig.hidden_size, help="the model's state width")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(child(*json.loads(args.child)))
        return
    info = describe_machine(dict(os.environ))
    print(json.dumps(info), flush=True)
    print(f"model: {args.layers} x {args.hidden_size} character LSTM, {args.threads} thread(s), {args.steps} steps timed")
    print(f"| oneDNN held to | precision | {' | '.join(f'batch {b} x {BPTT}, characters/s' for b in args.batches)} |")
    print("|---|---|" + "---|" * len(args.batches))
    for isa, precision in SETTINGS:
        if not runs_here(info, isa, precision):
            continue
        speeds = [measure(isa, precision, batch, args) for batch in args.batches]
        print(f"| {isa or 'none'} | {precision} | {' | '.join(f'{speed:,.0f}' for speed in speeds)} |", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
