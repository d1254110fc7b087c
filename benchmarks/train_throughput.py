"""Training throughput: lmkit's Trainer against a textbook TBPTT loop on the same token stream.

Model (the classic medium-small word LM): 2-layer LSTM, 200 embedding / 200 hidden, vocabulary 10,000,
bptt 35, batch 20, dropout 0.2, SGD lr 20, gradient clipping 0.25.

    python benchmarks/train_throughput.py [--steps 700] [--rounds 3] [--corpus shakespeare] [--threads N] [--awd]

Each run trains --steps steps in a fresh process, so none inherits another's allocator or oneDNN state, and the
runs take turns: every round runs each loop once, each round starting one loop later, since a machine's own speed
drifts (a shared cloud CPU's fp32 matmul rate moved from 124 to 176 GFLOP/s within 40 minutes) and a figure near
1.0x is otherwise decided by when each loop ran. The loops: (a) the reference fp32, (b) the reference again with
the allocator setting lmkit's trainer makes (glibc keeps freed memory: lmkit/train/cpu_memory.py), to show what
share of any gain is that setting alone, (c) lmkit fp32, (d) lmkit bf16 (only where the CPU has bf16 units), and
with --awd lmkit with the AWD-LSTM regularisers. Printed: each round's tokens/s and ratios, the median ratio over
the rounds, the validation perplexity of each loop after its steps (seeded: the same in every round), and the
machine's fp32/bf16 matmul GFLOP/s.

After 300 steps the perplexity of one run still moves by +-10% with the smallest numeric change, so comparing
precisions within 2% needs about an epoch of Shakespeare (--steps 1400, 980k tokens); the default 700 times the
loops, not the precisions.
"""
from __future__ import annotations

import argparse
import multiprocessing
import platform
import statistics
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from lmkit.config.machine import DEFAULT_THREADS, apply_threads, bf16_support
from lmkit.corpus.catalog import get_corpus
from lmkit.evaluate.perplexity import stream_nll
from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.text.id_cache import encoded_split
from lmkit.text.tokenizers import fit_tokenizer
from lmkit.train.config import TrainConfig
from lmkit.train.cpu_memory import keep_freed_memory
from lmkit.train.trainer import TrainCallbacks, Trainer

VOCAB, EMB, HIDDEN, LAYERS, BPTT, BATCH, DROPOUT, LR, CLIP = 10_000, 200, 200, 2, 35, 20, 0.2, 20.0, 0.25


def matmul_gflops(dtype: torch.dtype, n: int = 1024, repeat: int = 30) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return 2 * n**3 * repeat / (time.perf_counter() - start) / 1e9


class Reference(nn.Module):
    """The textbook model: embedding -> nn.LSTM -> linear, written out with nothing of lmkit's."""

    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(DROPOUT)
        self.encoder = nn.Embedding(VOCAB, EMB)
        self.rnn = nn.LSTM(EMB, HIDDEN, LAYERS, dropout=DROPOUT, batch_first=True)
        self.decoder = nn.Linear(HIDDEN, VOCAB)

    def forward(self, x, hidden):
        out, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(out)), hidden


def as_rnnlm(reference: Reference, vocab) -> RNNLM:
    """The reference's weights in an RNNLM of the same shape, so one evaluation scores all three runs."""
    model = RNNLM(vocab, lmkit_config())
    names = {"encoder.": "embedding.", "decoder.": "head.linear.", "rnn.": "rnn."}
    model.load_state_dict({next(new + k[len(old):] for old, new in names.items() if k.startswith(old)): v
                           for k, v in reference.state_dict().items()})
    return model


def reference_run(stream: np.ndarray, steps: int) -> tuple[float, nn.Module]:
    torch.manual_seed(0)
    model = Reference()
    columns = len(stream) // BATCH
    data = torch.from_numpy(np.asarray(stream[: columns * BATCH], dtype=np.int64)).view(BATCH, columns)
    hidden = None
    done, start = 0, None
    for i in range(0, columns - 1, BPTT):
        if done == 5:
            start = time.perf_counter()  # skip warm-up steps, as for lmkit
        x, y = data[:, i : i + BPTT], data[:, i + 1 : i + 1 + BPTT]
        x = x[:, : y.shape[1]]
        if hidden is not None:
            hidden = tuple(h.detach() for h in hidden)  # repackage_hidden
        model.zero_grad()
        logits, hidden = model(x, hidden)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-LR)
        done += 1
        if done == steps:
            break
    return (done - 5) * BATCH * BPTT / (time.perf_counter() - start), model


class StepClock(TrainCallbacks):
    def __init__(self):
        self.times: list[float] = []

    def on_step(self, info: dict) -> None:
        self.times.append(time.perf_counter())


# The AWD-LSTM regularisers whose cost --awd measures (Merity et al. 2017's word-level values). Variable-length
# BPTT and NT-ASGD are left out: the first changes the tokens per step, the second only starts when validation
# stalls; both cost next to nothing per token.
AWD_MODEL = dict(locked_dropout=True, weight_drop=0.5, word_dropout=0.1)
AWD_TRAIN = dict(ar=2.0, tar=1.0)


def lmkit_config(awd: bool = False) -> RNNConfig:
    """The reference's model in lmkit: its full softmax too (--softmax auto would choose the adaptive one for 10,000
    words, a different model with a fraction of the work)."""
    return RNNConfig(cell="lstm", emb_size=EMB, hidden_size=HIDDEN, layers=LAYERS, softmax="full",
                     dropout=DROPOUT, emb_dropout=DROPOUT, out_dropout=DROPOUT, **(AWD_MODEL if awd else {}))


def lmkit_run(tokenizer, stream, valid, steps: int, precision: str, awd: bool = False):
    torch.manual_seed(0)
    model = RNNLM(tokenizer.vocab, lmkit_config(awd))
    config = TrainConfig(epochs=1, max_steps=steps, batch_size=BATCH, bptt=BPTT, optimizer="sgd", lr=LR, clip=CLIP,
                         schedule="plateau",  # a constant LR, as the textbook loop's (the cosine would decay it)
                         precision=precision, device="cpu", seed=0, **(AWD_TRAIN if awd else {}))
    clock = StepClock()
    with tempfile.TemporaryDirectory() as out:
        Trainer(model, tokenizer, stream, valid, config, out, callbacks=clock).run()
    rate = (len(clock.times) - 6) * BATCH * BPTT / (clock.times[-1] - clock.times[5])
    return rate, model


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=700, help="training steps of each run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of runs, each loop once a round")
    parser.add_argument("--corpus", default="shakespeare")
    parser.add_argument("--awd", action="store_true",
                        help="also train with the AWD-LSTM regularisers (weight drop, locked and word dropout, AR/TAR) "
                             "and print what they cost in throughput")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help="torch threads [default: what this process may use, as lmkit's commands choose]")
    args = parser.parse_args()
    if args.steps < 20 or args.rounds < 1:
        parser.error(f"--steps must be at least 20 (the first 5 are not timed) and --rounds at least 1, "
                     f"got {args.steps} and {args.rounds}")
    return args


def print_machine(threads: int, bf16) -> None:
    """The machine's context: threads, bf16 units, matmul rates (bf16 briefly where it is emulated: ~100x slower)."""
    print(f"machine: {platform.processor() or platform.machine()}, {threads} threads, torch {torch.__version__}")
    print(f"bf16: {bf16.reason}")
    bf16_rate = matmul_gflops(torch.bfloat16, repeat=30 if bf16.native else 2)
    print(f"matmul 1024^3: fp32 {matmul_gflops(torch.float32):.0f} GFLOP/s, bf16 {bf16_rate:.1f} GFLOP/s")


def loops(bf16_native: bool, awd: bool) -> list[str]:
    """The loops each round runs: 'reference', 'reference+allocator', then lmkit's as 'PRECISION[+awd]'."""
    precisions = ["fp32", "bf16"] if bf16_native else ["fp32"]
    return ["reference", "reference+allocator", *precisions, *(f"{p}+awd" for p in precisions if awd)]


def load_stream(corpus_name: str):
    corpus = get_corpus(corpus_name)
    tokenizer = fit_tokenizer("word", corpus.lines("train"), max_size=VOCAB)
    stream = encoded_split(corpus, tokenizer, "train")
    valid = np.asarray(encoded_split(corpus, tokenizer, "valid"))[:100_000]
    return tokenizer, stream, valid


def one_run(loop: str, corpus_name: str, steps: int, threads: int) -> tuple[float, float]:
    """(tokens/s, valid perplexity) of one loop, run in a process of its own (the pool's fresh worker)."""
    apply_threads(threads)
    tokenizer, stream, valid = load_stream(corpus_name)
    if loop.startswith("reference"):
        if loop == "reference+allocator":
            keep_freed_memory()
        rate, reference = reference_run(stream, steps)
        model = as_rnnlm(reference, tokenizer.vocab)
    else:
        precision, _, extra = loop.partition("+")
        rate, model = lmkit_run(tokenizer, stream, valid, steps, precision, awd=extra == "awd")
    with torch.no_grad():
        return rate, stream_nll(model.eval(), valid).perplexity


def fresh_run(loop: str, args: argparse.Namespace, threads: int) -> tuple[float, float]:
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(one_run, (loop, args.corpus, args.steps, threads))


def main() -> None:
    args = parse_args()
    threads = apply_threads(args.threads)
    bf16 = bf16_support(torch.device("cpu"))
    tokenizer, stream, _ = load_stream(args.corpus)
    print_machine(threads, bf16)
    print(f"stream: {args.corpus} words, vocabulary {len(tokenizer.vocab)}, {len(stream):,} tokens; "
          f"{args.steps} steps a run, {args.rounds} rounds, each run in a fresh process")
    names = loops(bf16.native, args.awd)
    rates: dict[str, list[float]] = {name: [] for name in names}
    ppl: dict[str, set[float]] = {name: set() for name in names}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            rate, perplexity = fresh_run(name, args, threads)
            rates[name].append(rate)
            ppl[name].add(round(perplexity, 2))
        print(f"round {r + 1} ({' -> '.join(order)}): "
              + ", ".join(f"{name} {rates[name][-1]:,.0f}" for name in names) + " tokens/s; "
              + ", ".join(f"{name} {rates[name][-1] / rates['reference'][-1]:.2f}x" for name in names[1:]))
        if not bf16.native and r == 0:
            print("lmkit bf16: not run: bf16 is not native here (see the bf16 line above)")

    def median_ratio(name: str, over: str) -> float:
        return statistics.median(a / b for a, b in zip(rates[name], rates[over]))

    print(f"median over {args.rounds} rounds of each round's ratio to the reference (same round):")
    for name in names:
        seen = ", ".join(f"{value:.2f}" for value in sorted(ppl[name]))
        print(f"  {name:20s} {statistics.median(rates[name]):9,.0f} tokens/s (median)   "
              f"{median_ratio(name, 'reference'):.2f}x   valid ppl {seen}"
              + ("   (differs between rounds)" if len(ppl[name]) > 1 else ""))
    for name in names:
        if name.endswith("+awd"):
            plain = name.removesuffix("+awd")
            ratio = median_ratio(name, plain)
            print(f"AWD regularisers ({', '.join(f'{k}={v}' for k, v in {**AWD_MODEL, **AWD_TRAIN}.items())}) on lmkit "
                  f"{plain}: {ratio:.2f}x of it, a cost of {100 * (1 - ratio):.1f}% (median of the rounds)")
    for name in names:
        if not name.startswith("reference"):
            print(f"lmkit {name} against the reference with lmkit's allocator setting: "
                  f"{median_ratio(name, 'reference+allocator'):.2f}x")


if __name__ == "__main__":
    main()
