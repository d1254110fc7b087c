"""AdamW's fused kernel against its multi-tensor form: seconds per whole training step, side by side.

    python benchmarks/optimizer_kernel.py [--threads 1] [--steps 30] [--rounds 4]

Three shapes that lmkit trains (token ids drawn at random with Zipf's law, p(rank r) ~ 1/r, as words
fall in text, so that the adaptive softmax's clusters are used as often as on a real corpus; only the
time is measured):

    char-lstm   the default `lmkit train`: character LSTM 2 x 256, embedding 64, vocabulary 100, batch 16 x 128
    word-lstm   the fill benchmark's one-directional LSTM: 2 x 256, embedding 128, vocabulary 20,000,
                adaptive softmax, dropout 0.25, batch 32 x 35
    bilstm      the fill benchmark's BiLSTM: the same per direction, join layer, lines of 33 tokens, 34 a batch

A step is what the trainer does: forward (under bf16 autocast where the CPU has it, as --precision
auto), backward, gradient clipping, optimizer step. The two optimizers take turns, --rounds rounds of
--steps steps each after a warm-up, so a change of load touches both; the figure is the median
round. Figures: benchmarks/RESULTS.md, "AdamW's fused kernel".
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from machine import describe_machine

from lmkit.config.machine import apply_threads, resolve_precision
from lmkit.models.neural.cloze import ClozeConfig, ClozeRNN
from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.text.vocab import SPECIALS, Vocab
from lmkit.train.optimizers import make_optimizer


def vocab_of(size: int) -> Vocab:
    return Vocab([*SPECIALS, *(f"t{i}" for i in range(size - len(SPECIALS)))])


def zipf_ids(size: int, shape: tuple[int, int]) -> torch.Tensor:
    """Token ids of the non-special entries of a `size` vocabulary, the r-th with probability ~ 1/r."""
    weights = 1.0 / torch.arange(1, size - len(SPECIALS) + 1, dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    drawn = torch.multinomial(weights, shape[0] * shape[1], replacement=True, generator=generator)
    return (drawn + len(SPECIALS)).view(shape)


def shapes():
    """name -> (model, loss function of the model) for the three shapes of the docstring."""
    word = dict(emb_size=128, hidden_size=256, layers=2, dropout=0.25, out_dropout=0.25, softmax="adaptive")
    char = RNNLM(vocab_of(100), RNNConfig())
    lstm = RNNLM(vocab_of(20_000), RNNConfig(**word))
    bilstm = ClozeRNN(vocab_of(20_000), ClozeConfig(**word))

    def stream_loss(model, batch, bptt):
        ids = zipf_ids(len(model.vocab), (batch, bptt + 1))
        return lambda: -model(ids[:, :-1], ids[:, 1:], model.init_state(batch))[0].mean()

    def lines_loss(model, lines, length):
        ids = zipf_ids(len(model.vocab), (lines, length))
        return lambda: -model(ids, torch.full((lines,), length))[0].mean()

    return {"char-lstm": (char, stream_loss(char, 16, 128)), "word-lstm": (lstm, stream_loss(lstm, 32, 35)),
            "bilstm": (bilstm, lines_loss(bilstm, 34, 33))}


def round_seconds(model, loss_fn, optimizer, steps: int, bf16: bool) -> float:
    started = time.perf_counter()
    for _ in range(steps):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    threads = apply_threads(args.threads)
    bf16 = resolve_precision("auto", torch.device("cpu")).name == "bf16"
    print(describe_machine(dict(os.environ)), f"threads {threads}, {'bf16' if bf16 else 'fp32'}")
    print("| shape | weights | multi-tensor AdamW, ms/step | fused AdamW, ms/step | fused speed-up |")
    print("|---|---|---|---|---|")
    for name, (model, loss_fn) in shapes().items():
        model.train()
        arms = {"plain": torch.optim.AdamW(model.parameters(), lr=1e-4),  # torch's default form
                "fused": make_optimizer(model.parameters(), "adamw", lr=1e-4)}
        for optimizer in arms.values():
            round_seconds(model, loss_fn, optimizer, 3, bf16)  # warm-up: first-call allocations, state creation
        times = {arm: [] for arm in arms}
        for _ in range(args.rounds):
            for arm, optimizer in arms.items():
                times[arm].append(round_seconds(model, loss_fn, optimizer, args.steps, bf16))
        plain, fused = (1000 * statistics.median(times[arm]) for arm in arms)
        weights = sum(p.numel() for p in model.parameters())
        print(f"| {name} | {weights:,} | {plain:.1f} | {fused:.1f} | {plain / fused:.2f}x |", flush=True)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
