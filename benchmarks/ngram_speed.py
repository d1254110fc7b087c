"""N-gram build and scoring speed on real, distinct text: a 5-gram modified Kneser-Ney model on the
GNU Collaborative International Dictionary of English (Debian's dict-gcide, ~40 MB, ~8.9M tokens).

    python benchmarks/ngram_speed.py [--order 5] [--lines N] [--memory 256MB] [--skip-external] [--threads N]

The dictionary is fetched with `apt-get download dict-gcide` into corpora/gcide-bench/ (cached) and
turned into plain text: one dictionary line per line, source tags such as "[1913 Webster]" dropped,
words and punctuation split apart. Every 20th block of 1,000 lines is held out for scoring.

Each measurement runs in a fresh child process so its peak memory (ru_maxrss) is its own:
  build     ids -> counts -> smoothed tables, in memory (and, unless --skip-external, on disk with --memory)
  score     NGramLM.score_stream over the held-out ids (batch scoring), and evaluate.stream_logprobs
Where `lmplz` (KenLM) is on PATH it builds the same model from the same text in the same run and the
ratios are printed; otherwise the figures from the issue are shown for scale.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CACHE = Path("corpora") / "gcide-bench"
SOURCE_TAG = re.compile(r"^\[[^\]]*(Webster|WordNet|PJC|Century|Dictionary)[^\]]*\]$")
TOKEN = re.compile(r"\w+|[^\w\s]")
KENLM_REFERENCE = "lmplz 5-gram on 8.4M tokens of this text: ~9 s build; query ~5M tokens/s from a binary model (issue 4)"


def fetch_dictionary(cache: Path) -> Path:
    """gcide.dict (plain) from the Debian package, downloaded and unpacked once."""
    plain = cache / "gcide.dict"
    if plain.exists():
        return plain
    cache.mkdir(parents=True, exist_ok=True)
    if not list(cache.glob("dict-gcide_*.deb")):
        download = ["apt-get", "download", "dict-gcide"]
        if subprocess.run(download, cwd=cache).returncode != 0:  # no package lists yet: update them once
            subprocess.run(["apt-get", "update"], check=True)
            subprocess.run(download, cwd=cache, check=True)
    deb = sorted(cache.glob("dict-gcide_*.deb"))[-1]
    unpacked = cache / "unpacked"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
    import gzip  # dictzip files are gzip files

    with gzip.open(unpacked / "usr/share/dictd/gcide.dict.dz", "rb") as source:
        plain.write_bytes(source.read())
    return plain


def derive_text(cache: Path, max_lines: int | None) -> tuple[Path, Path]:
    """train.txt / test.txt of whitespace-separated tokens, one dictionary line per line."""
    train, test = cache / f"train-{max_lines or 'all'}.txt", cache / f"test-{max_lines or 'all'}.txt"
    if train.exists() and test.exists():
        return train, test
    text = fetch_dictionary(cache).read_text(encoding="utf-8", errors="replace")
    lines = [" ".join(TOKEN.findall(line)) for line in (raw.strip() for raw in text.split("\n"))
             if line and not SOURCE_TAG.match(line)]
    lines = [line for line in lines if line][:max_lines]
    held_out = [(i // 1000) % 20 == 19 for i in range(len(lines))]
    train.write_text("".join(l + "\n" for l, h in zip(lines, held_out) if not h), encoding="utf-8")
    test.write_text("".join(l + "\n" for l, h in zip(lines, held_out) if h), encoding="utf-8")
    return train, test


def encode_files(train: Path, test: Path, cache: Path) -> tuple[Path, Path, dict]:
    """Word tokenizer from train, both files as id streams (.npy), and how long that took."""
    from lmkit.text.encode import encode_lines
    from lmkit.text.tokenizers import WordTokenizer

    started = time.perf_counter()
    train_lines = train.read_text(encoding="utf-8").splitlines()
    tokenizer = WordTokenizer.fit(train_lines)
    fitted = time.perf_counter()
    paths = []
    for name, lines in (("train", train_lines), ("test", test.read_text(encoding="utf-8").splitlines())):
        path = cache / f"{train.stem}.{name}.ids.npy"
        np.save(path, encode_lines(tokenizer, lines), allow_pickle=False)
        paths.append(path)
    done = time.perf_counter()
    tokenizer.save(cache / f"{train.stem}.tokenizer.json")
    return paths[0], paths[1], {"fit_vocab_s": fitted - started, "encode_s": done - fitted, "vocab": len(tokenizer.vocab)}


# --- child processes ---------------------------------------------------------------------------------
def child_build(args) -> dict:
    from lmkit.files.reading import read_json
    from lmkit.models.ngram.model import NGramLM
    from lmkit.text.tokenizers import tokenizer_from_json

    vocab = tokenizer_from_json(read_json(args.tokenizer)).vocab
    stream = np.load(args.ids, allow_pickle=False)
    before = peak_rss_mb()
    started = time.perf_counter()
    model = NGramLM(vocab, order=args.order, smoothing="kn").fit(stream, memory=args.memory)
    seconds = time.perf_counter() - started
    result = {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "rss_before_mb": before,
              "tokens": int(len(stream)), "ngrams": model.fitted().sizes()}
    if args.save:
        from lmkit.files.writing import write_json_atomic

        model.save(Path(args.save))
        write_json_atomic(Path(args.save) / "config.json", model.config())
    return result


def child_score(args) -> dict:
    from lmkit.evaluate.perplexity import stream_logprobs
    from lmkit.files.reading import read_json
    from lmkit.models.ngram.model import NGramLM
    from lmkit.text.tokenizers import tokenizer_from_json

    config = read_json(Path(args.save) / "config.json")
    vocab = tokenizer_from_json(read_json(args.tokenizer)).vocab
    model = NGramLM.load(Path(args.save), config, vocab)
    stream = np.load(args.ids, allow_pickle=False)
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        logp = model.score_stream(stream)
        timings.append(time.perf_counter() - started)
    started = time.perf_counter()
    via_evaluate = stream_logprobs(model, stream)
    evaluate_seconds = time.perf_counter() - started
    assert np.allclose(via_evaluate, logp, atol=1e-4)
    return {"tokens": int(len(stream)), "score_s": min(timings), "tokens_per_s": len(stream) / min(timings),
            "evaluate_tokens_per_s": len(stream) / evaluate_seconds,
            "perplexity": float(np.exp(-logp.mean())), "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(mode: str, **options) -> dict:
    command = [sys.executable, __file__, "--child", mode]
    for key, value in options.items():
        if value is not None:
            command += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{mode} child failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- KenLM, where installed ----------------------------------------------------------------------------
def run_lmplz(train: Path, test: Path, order: int) -> dict | None:
    if shutil.which("lmplz") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        arpa, binary = Path(tmp) / "model.arpa", Path(tmp) / "model.bin"
        started = time.perf_counter()
        subprocess.run(["lmplz", "-o", str(order), "--text", str(train), "--arpa", str(arpa)], check=True,
                       capture_output=True)
        build = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        result = {"build_s": build, "peak_rss_mb": peak}
        if shutil.which("build_binary") and shutil.which("query"):
            subprocess.run(["build_binary", str(arpa), str(binary)], check=True, capture_output=True)
            with test.open("rb") as text:
                started = time.perf_counter()
                subprocess.run(["query", "-n", str(binary)], stdin=text, check=True, capture_output=True)
            result["query_s"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--order", type=int, default=5)
    parser.add_argument("--lines", type=int, default=None, help="Use only the first N dictionary lines.")
    parser.add_argument("--memory", default="256MB", help="Memory budget of the on-disk counting run.")
    parser.add_argument("--skip-external", action="store_true", help="Do not time on-disk counting.")
    parser.add_argument("--cache", type=Path, default=CACHE, help="Where the dictionary and derived files are kept.")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of every child [default: what this process may use, as lmkit's commands choose]")
    parser.add_argument("--child", choices=["build", "score"], help=argparse.SUPPRESS)
    parser.add_argument("--ids", help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from lmkit.config.machine import apply_threads

    args.threads = apply_threads(args.threads)  # the children get the count chosen here
    if args.child:
        if args.child == "build":
            from lmkit.commands.ngram import parse_memory

            args.memory = None if args.memory == "none" else parse_memory(args.memory)
        print(json.dumps(child_build(args) if args.child == "build" else child_score(args)))
        return
    report(args)


def report(args) -> None:
    train, test = derive_text(args.cache, args.lines)
    train_ids, test_ids, encoding = encode_files(train, test, args.cache)
    tokenizer = args.cache / f"{train.stem}.tokenizer.json"
    with tempfile.TemporaryDirectory() as model_dir:
        built = run_child("build", ids=train_ids, tokenizer=tokenizer, order=args.order, save=model_dir, memory="none",
                          threads=args.threads)
        scored = run_child("score", ids=test_ids, tokenizer=tokenizer, save=model_dir, threads=args.threads)
    external = None if args.skip_external else run_child("build", ids=train_ids, tokenizer=tokenizer, order=args.order,
                                                          memory=args.memory, threads=args.threads)
    kenlm = run_lmplz(train, test, args.order)
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, {args.threads} torch threads, "
          f"Python {platform.python_version()}, numpy {np.__version__}")
    print(f"text: {train.name} {built['tokens']:,} train ids ({encoding['vocab']:,} word types), "
          f"{scored['tokens']:,} held-out ids")
    print(f"tokenize (Python, not part of build): fit vocab {encoding['fit_vocab_s']:.1f} s, encode {encoding['encode_s']:.1f} s")
    print(f"build {args.order}-gram KN in memory: {built['seconds']:.2f} s, peak RSS {built['peak_rss_mb']:,.0f} MB "
          f"(process before build {built['rss_before_mb']:,.0f} MB); n-grams {' / '.join(f'{n:,}' for n in built['ngrams'])}")
    if external is not None:
        print(f"build {args.order}-gram KN on disk (--memory {args.memory}): {external['seconds']:.2f} s, "
              f"peak RSS {external['peak_rss_mb']:,.0f} MB; same n-gram counts: {external['ngrams'] == built['ngrams']}")
    print(f"score held-out: {scored['tokens_per_s'] / 1e6:.2f} M tokens/s (score_stream), "
          f"{scored['evaluate_tokens_per_s'] / 1e6:.2f} M tokens/s (evaluate.stream_logprobs); perplexity {scored['perplexity']:.2f}")
    if kenlm is None:
        print(f"lmplz: not on PATH; for scale, {KENLM_REFERENCE}")
    else:
        print(f"lmplz: build {kenlm['build_s']:.2f} s, peak RSS {kenlm['peak_rss_mb']:,.0f} MB; "
              f"lmkit/lmplz build time ratio {built['seconds'] / kenlm['build_s']:.2f}")
        if "query_s" in kenlm:
            print(f"query: {scored['tokens'] / kenlm['query_s'] / 1e6:.2f} M tokens/s incl. loading")


if __name__ == "__main__":
    main()
