"""Scaling out: DDP processes, encoding a large text, adaptive softmax, N-gram counting on disk.

    python benchmarks/scale.py --ddp      [--ddp-steps 100]
    python benchmarks/scale.py --encode   [--sizes-mb 64,256,1024] [--in-memory-max-mb 256] [--workdir DIR]
    python benchmarks/scale.py --softmax  [--softmax-steps 200]
    python benchmarks/scale.py --ngram    [--ngram-order 5] [--ngram-memory-mb 32] [--ngram-repeat 8]
    (no part named: all four; --threads N sets torch's threads here, default what this process may use)

--ddp     `lmkit train` (character LSTM 2x256, batch 64, bptt 128, Shakespeare) as 1 process with 1 and
          2 threads and as 2 DDP processes (`--nproc 2`, gloo, 1 thread each): tokens/s and valid ppl.
--encode  Shakespeare's train split repeated to each size, made a local corpus (ingestion), then its
          train split encoded with the char tokenizer by the bounded multiprocess path and, up to
          --in-memory-max-mb, by the in-memory path; seconds, MB/s, peak memory, identical output.
--softmax word model on Shakespeare (every train word type, no --min-freq), 1-layer LSTM 256, full vs
          adaptive softmax, the same steps: tokens/s and validation perplexity.
--ngram   N-gram counts of Shakespeare's train words (repeated --ngram-repeat times) in memory
          (count_ngrams) vs on disk in sorted runs (count_ngrams_external): seconds, peak memory, and
          whether the counts are identical.

Each measured step that reports memory runs in its own child process: "max RSS" is the peak RSS (VmHWM)
of the largest single process (the child or one of its workers, file pages it mapped included); "tree anon"
is the peak of Pss_Anon summed over the child and its workers, sampled every 50 ms: the anonymous memory
the process tree really owns, each page shared after fork counted once. Work files go under --workdir
(default /tmp/lmkit-scale; the 1 GB encode needs ~10 GB free there) and are removed at the end.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

from child_memory import Measured, child_report, measure_child

REPO = Path(__file__).resolve().parent.parent
MB = 1 << 20
DDP_ARGS = ["--corpus", "shakespeare", "--tokenizer", "char", "--model", "lstm", "--layers", "2", "--hidden-size", "256",
            "--batch-size", "64", "--bptt", "128", "--dropout", "0", "--out-dropout", "0", "--sample-tokens", "0", "--quiet",
            "--seed", "0"]  # no dropout: the DDP run must then match one process


def measure(task: str, **kwargs) -> Measured:
    return measure_child(Path(__file__).resolve(), task, **kwargs)


# --- child tasks (run in their own process) ------------------------------------------------
def child_ingest(text: str, root: str) -> dict:
    from lmkit.corpus.catalog import get_corpus

    started = time.perf_counter()
    corpus = get_corpus(train=text, root=root)
    return {"seconds": time.perf_counter() - started, "directory": str(corpus.directory)}


def child_encode(directory: str, tokenizer: str, large: bool, num_proc: int) -> dict:
    from lmkit.corpus.catalog import Corpus
    from lmkit.text.id_cache import encoded_split
    from lmkit.text.tokenizers import load_tokenizer

    corpus, tok = Corpus.open(Path(directory)), load_tokenizer(tokenizer)
    shutil.rmtree(corpus.directory / "ids", ignore_errors=True)
    started = time.perf_counter()
    stream = encoded_split(corpus, tok, "train", large_bytes=0 if large else 1 << 62, num_proc=num_proc)
    seconds = time.perf_counter() - started
    npy = next((corpus.directory / "ids").glob("*/train.npy"))
    return {"seconds": seconds, "tokens": len(stream), "bytes": corpus.path("train").stat().st_size,
            "sha256": sha256_file(npy)}


def child_count(stream: str, vocab_size: int, order: int, memory: int | None, workdir: str) -> dict:
    import numpy as np

    from lmkit.models.ngram.count import count_ngrams

    ids = np.load(stream, mmap_mode="r")
    started = time.perf_counter()
    if memory is None:
        counts = count_ngrams(np.asarray(ids), vocab_size, order)
    else:
        from lmkit.models.ngram.external_count import count_ngrams_external

        counts = count_ngrams_external(ids, vocab_size, order, memory, workdir)
    seconds = time.perf_counter() - started
    digest = hashlib.sha256()
    for table in counts.orders:
        for f in fields(table):
            digest.update(np.ascontiguousarray(getattr(table, f.name)).tobytes())
    return {"seconds": seconds, "sizes": counts.sizes(), "sha256": digest.hexdigest()}


CHILD_TASKS = {"ingest": child_ingest, "encode": child_encode, "count": child_count}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(8 * MB):
            digest.update(block)
    return digest.hexdigest()


# --- the parts -------------------------------------------------------------------------------
def ddp_part(args, work: Path) -> None:
    rows = []
    for label, nproc, threads in (("1 process x 1 thread", 1, 1), ("1 process x 2 threads", 1, 2),
                                  ("2 DDP processes x 1 thread", 2, 1)):
        out = work / f"ddp-{nproc}x{threads}"
        command = [sys.executable, "-m", "lmkit", "train", *DDP_ARGS, "--max-steps", str(args.ddp_steps),
                   "--eval-every", str(args.ddp_steps + 1), "--out", str(out)] + (["--nproc", str(nproc)] if nproc > 1 else [])
        done = subprocess.run(command, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": str(threads)},
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{label} failed:\n{done.stderr[-3000:]}")
        record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
        rows.append([label, f"{record['tokens']:,}", f"{record['time']:.1f}", f"{record['tokens'] / record['time']:,.0f}",
                     f"{record['valid_ppl']:.6f}"])
    print_table(f"DDP: lmkit train, char LSTM 2x256, no dropout, batch 64 x bptt 128, {args.ddp_steps} steps",
                ["run", "tokens", "train s", "tokens/s", "valid ppl"], rows)


def make_text(path: Path, size_mb: int) -> None:
    """Shakespeare's train split repeated until the file reaches `size_mb` MB."""
    source = (REPO / "corpora" / "shakespeare" / "train.txt").read_bytes()
    with open(path, "wb") as handle:
        for _ in range(-(-size_mb * MB // len(source))):
            handle.write(source)


def encode_part(args, work: Path) -> None:
    from lmkit.corpus.catalog import get_corpus
    from lmkit.text.tokenizers import fit_tokenizer

    tokenizer = work / "char-tokenizer.json"
    fit_tokenizer("char", get_corpus("shakespeare").lines("train")).save(tokenizer)  # the repeats add no new characters
    rows = []
    for size in args.sizes_mb:
        text, root = work / f"text-{size}MB.txt", work / f"corpora-{size}MB"
        make_text(text, size)
        ingest = measure("ingest", text=str(text), root=str(root))
        rows.append([f"{size} MB", "ingest (local corpus)", *figures(ingest, text.stat().st_size), ""])
        text.unlink()
        directory = ingest.result["directory"]
        paths = [("bounded, 2 procs", True)] + ([("in memory", False)] if size <= args.in_memory_max_mb else [])
        digests = set()
        for label, large in paths:
            encoded = measure("encode", directory=directory, tokenizer=str(tokenizer), large=large, num_proc=2)
            digests.add(encoded.result["sha256"])
            rows.append([f"{size} MB", f"encode train, {label}", *figures(encoded, encoded.result["bytes"]),
                         f"{encoded.result['tokens'] / encoded.result['seconds'] / 1e6:.2f}M tok/s"])
        rows[-1][-1] += "; outputs identical" if len(paths) > 1 and len(digests) == 1 else ""
        if len(digests) > 1:
            raise SystemExit(f"{size} MB: the bounded and in-memory encodings differ")
        shutil.rmtree(root)
    print_table("Encoding a large text (char tokenizer)",
                ["text", "step", "work s", "MB/s", "max RSS MB", "tree anon MB", "notes"], rows)


def figures(m: Measured, size: int) -> list[str]:
    seconds = m.result["seconds"]
    return [f"{seconds:.1f}", f"{size / MB / seconds:.1f}", f"{m.max_rss_mb:,.0f}", f"{m.tree_anon_mb:,.0f}"]


def softmax_part(args, work: Path) -> None:
    import torch

    from lmkit.corpus.catalog import get_corpus
    from lmkit.text.id_cache import encoded_split
    from lmkit.models.neural.rnn import RNNConfig, RNNLM
    from lmkit.text.tokenizers import fit_tokenizer
    from lmkit.train.trainer import TrainCallbacks, Trainer
    from lmkit.train.config import TrainConfig

    class StepClock(TrainCallbacks):
        def __init__(self):
            self.times: list[float] = []

        def on_step(self, info: dict) -> None:
            self.times.append(time.perf_counter())

    corpus = get_corpus("shakespeare")
    tokenizer = fit_tokenizer("word", corpus.lines("train"))  # every train word type: no --min-freq
    train, valid = (encoded_split(corpus, tokenizer, split) for split in ("train", "valid"))
    rows, warm = [], 5
    for softmax in ("full", "adaptive"):
        torch.manual_seed(0)
        model = RNNLM(tokenizer.vocab, RNNConfig(cell="lstm", emb_size=256, hidden_size=256, layers=1, dropout=0.0,
                                                 out_dropout=0.2, softmax=softmax))
        config = TrainConfig(epochs=1, max_steps=args.softmax_steps, batch_size=32, bptt=35, lr=3e-3, clip=1.0,
                             eval_every=args.softmax_steps + 1, device="cpu", seed=0)
        clock = StepClock()
        result = Trainer(model, tokenizer, train, valid, config, work / f"softmax-{softmax}", callbacks=clock,
                         overwrite=True).run()  # the benchmark's own folder: a second run replaces the first
        rate = (len(clock.times) - 1 - warm) * 32 * 35 / (clock.times[-1] - clock.times[warm])
        record = result.progress.history[-1]
        rows.append([softmax, f"{model.num_parameters():,}", f"{rate:,.0f}", f"{record['tokens']:,}", f"{record['valid_ppl']:.1f}"])
    print_table(f"Softmax: word LSTM 1x256 on Shakespeare, vocabulary {len(tokenizer.vocab):,}, batch 32 x bptt 35, "
                f"{args.softmax_steps} steps", ["softmax", "parameters", "train tokens/s", "tokens seen", "valid ppl"], rows)


def ngram_part(args, work: Path) -> None:
    import numpy as np

    from lmkit.corpus.catalog import get_corpus
    from lmkit.text.id_cache import encoded_split
    from lmkit.text.tokenizers import fit_tokenizer

    corpus = get_corpus("shakespeare")
    tokenizer = fit_tokenizer("word", corpus.lines("train"))
    stream = work / "ngram-stream.npy"
    np.save(stream, np.tile(np.asarray(encoded_split(corpus, tokenizer, "train")), args.ngram_repeat))
    common = {"stream": str(stream), "vocab_size": len(tokenizer.vocab), "order": args.ngram_order, "workdir": str(work)}
    rows, digests = [], []
    for label, memory in (("in memory", None), (f"on disk, {args.ngram_memory_mb} MB budget", args.ngram_memory_mb * MB)):
        counted = measure("count", memory=memory, **common)
        digests.append(counted.result["sha256"])
        rows.append([label, f"{counted.result['seconds']:.1f}", f"{counted.max_rss_mb:,.0f}", f"{counted.tree_anon_mb:,.0f}",
                     " / ".join(f"{n:,}" for n in counted.result["sizes"])])
    print_table(f"N-gram counting, order {args.ngram_order}, Shakespeare's train words x {args.ngram_repeat} "
                f"({np.load(stream, mmap_mode='r').shape[0]:,} tokens); counts identical: {digests[0] == digests[1]}",
                ["counting", "seconds", "max RSS MB", "tree anon MB", "n-grams per order"], rows)


PARTS = {"ddp": ddp_part, "encode": encode_part, "softmax": softmax_part, "ngram": ngram_part}


# --- output and main -------------------------------------------------------------------------
def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    sys.stdout.flush()


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for part in PARTS:
        parser.add_argument(f"--{part}", action="store_true", help=f"run the {part} part")
    parser.add_argument("--ddp-steps", type=int, default=100)
    parser.add_argument("--sizes-mb", type=lambda s: [int(x) for x in s.split(",")], default=[64, 256, 1024])
    parser.add_argument("--in-memory-max-mb", type=int, default=256, help="largest text also encoded in memory")
    parser.add_argument("--softmax-steps", type=int, default=200)
    parser.add_argument("--ngram-order", type=int, default=5)
    parser.add_argument("--ngram-memory-mb", type=int, default=32, help="memory budget of on-disk counting")
    parser.add_argument("--ngram-repeat", type=int, default=8, help="copies of the training words to count")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "lmkit-scale")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the in-process parts [default: what this process may use]; "
                             "the --ddp rows set their own")
    return parser.parse_args()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        result = CHILD_TASKS[sys.argv[2]](**json.loads(sys.argv[3]))
        print(child_report(result))
        return
    import torch

    from lmkit.config.machine import apply_threads

    args = parse_args()
    threads = apply_threads(args.threads)
    parts = [p for p in PARTS if getattr(args, p)] or list(PARTS)
    print(f"command: {shlex.join(['python', 'benchmarks/scale.py', *sys.argv[1:]])}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{threads} torch threads, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
          f"load average before: {load_average()}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=args.workdir))
    os.chdir(REPO)  # `lmkit train` and the corpora root are relative to the checkout
    try:
        for part in parts:
            PARTS[part](args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nload average after: {load_average()}")


if __name__ == "__main__":
    main()
