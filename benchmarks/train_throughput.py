"""Training throughput: lmkit's Trainer against a textbook TBPTT loop on the same token stream.

Model (the classic medium-small word LM): 2-layer LSTM, 200 embedding / 200 hidden, vocabulary 10,000,
bptt 35, batch 20, dropout 0.2, SGD lr 20, gradient clipping 0.25.

    python benchmarks/train_throughput.py [--steps 1400] [--corpus shakespeare] [--threads N] [--awd]

Prints the threads used, tokens/s for (a) the reference loop fp32, (b) lmkit fp32, (c) lmkit bf16 (only
where the CPU has bf16 units), their ratios, the validation perplexity of each after the same tokens,
and the machine's fp32/bf16 matmul GFLOP/s.
lmkit's trainer tells glibc to keep freed memory (lmkit/train/cpu_memory.py), which the textbook loop
does not do. The reference runs first, in the process as Python starts it; at the end it runs
again for --recheck steps in the process lmkit has tuned, so the share of the gain that comes from
the allocator alone is printed too.

The default 1,400 steps (980k tokens) is about one epoch of Shakespeare: after 300 steps the
perplexity of one run still moves by +-10% with the smallest numeric change, too much to compare
precisions within 2%.
"""
from __future__ import annotations

import argparse
import platform
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
    parser.add_argument("--steps", type=int, default=1400)
    parser.add_argument("--corpus", default="shakespeare")
    parser.add_argument("--recheck", type=int, default=400, help="steps of the reference re-run after lmkit's runs")
    parser.add_argument("--awd", action="store_true",
                        help="also train with the AWD-LSTM regularisers (weight drop, locked and word dropout, AR/TAR) "
                             "and print what they cost in throughput")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help="torch threads [default: what this process may use, as lmkit's commands choose]")
    return parser.parse_args()


def print_machine(threads: int, bf16) -> None:
    """The machine's context: threads, bf16 units, matmul rates (bf16 briefly where it is emulated: ~100x slower)."""
    print(f"machine: {platform.processor() or platform.machine()}, {threads} threads, torch {torch.__version__}")
    print(f"bf16: {bf16.reason}")
    bf16_rate = matmul_gflops(torch.bfloat16, repeat=30 if bf16.native else 2)
    print(f"matmul 1024^3: fp32 {matmul_gflops(torch.float32):.0f} GFLOP/s, bf16 {bf16_rate:.1f} GFLOP/s")


def main() -> None:
    args = parse_args()
    threads = apply_threads(args.threads)
    bf16 = bf16_support(torch.device("cpu"))
    corpus = get_corpus(args.corpus)
    tokenizer = fit_tokenizer("word", corpus.lines("train"), max_size=VOCAB)
    stream = encoded_split(corpus, tokenizer, "train")
    valid = np.asarray(encoded_split(corpus, tokenizer, "valid"))[:100_000]
    print_machine(threads, bf16)
    print(f"stream: {args.corpus} words, vocabulary {len(tokenizer.vocab)}, {len(stream):,} tokens; {args.steps} steps each")

    ref_rate, ref_model = reference_run(stream, args.steps)
    runs = {p: lmkit_run(tokenizer, stream, valid, args.steps, p) for p in ("fp32", "bf16") if p == "fp32" or bf16.native}
    awd_runs = {p: lmkit_run(tokenizer, stream, valid, args.steps, p, awd=True)[0] for p in runs if args.awd}
    tuned_rate, _ = reference_run(stream, min(args.recheck, args.steps))
    models = {"reference": as_rnnlm(ref_model, tokenizer.vocab), **{p: model for p, (_, model) in runs.items()}}
    with torch.no_grad():
        ppl = {name: stream_nll(m.eval(), valid).perplexity for name, m in models.items()}
    print(f"reference fp32 : {ref_rate:9,.0f} tokens/s                              valid ppl {ppl['reference']:.2f}")
    for p, (rate, _) in runs.items():
        versus = f"  ({100 * (ppl[p] / ppl['fp32'] - 1):+.2f}% vs fp32)" if p != "fp32" else ""
        print(f"lmkit {p}     : {rate:9,.0f} tokens/s   ratio to reference {rate / ref_rate:.2f}x   valid ppl {ppl[p]:.2f}{versus}")
    if not bf16.native:
        print("lmkit bf16     : not run: bf16 is not native here (see the bf16 line above)")
    for p, rate in awd_runs.items():
        print(f"lmkit {p} + AWD regularisers ({', '.join(f'{k}={v}' for k, v in {**AWD_MODEL, **AWD_TRAIN}.items())}): "
              f"{rate:,.0f} tokens/s, {rate / runs[p][0]:.2f}x of lmkit {p} (cost {100 * (1 - rate / runs[p][0]):.1f}%)")
    print(f"reference fp32, re-run after lmkit set the allocator ({min(args.recheck, args.steps)} steps): {tuned_rate:,.0f} tokens/s;"
          + ",".join(f" lmkit {p} {rate / tuned_rate:.2f}x" for p, (rate, _) in runs.items()) + " of it")


if __name__ == "__main__":
    main()
