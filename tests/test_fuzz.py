"""Fuzzing the readers of untrusted text: ARPA files and corpus files.

Every input must end in a usable result (a model that scores a sentence, a corpus whose splits
hold exactly the input's lines) or an LmkitError: never another exception, a hang (each input
gets HANG_SECONDS) or memory out of proportion to the input (tracemalloc's peak, numpy included).

Two kinds of input: mutations of a valid file (bit flips, inserted keywords, numbers replaced by
nan/inf/garbage, lines duplicated or cut, truncation, gzip) for FUZZ_SECONDS each, from a fixed
seed; and whole files built by hypothesis from the format's grammar. A failing input is written
beside the test's tmp_path and named in the failure.
"""
from __future__ import annotations

import gzip
import os
import random
import shutil
import signal
import time
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from conftest import CHINESE, ENGLISH, TINY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmkit.corpus.catalog import get_corpus
from lmkit.text.encode import encode_lines
from lmkit.errors import LmkitError
from lmkit.files.reading import read_text
from lmkit.models.ngram.arpa import read_arpa
from lmkit.models.ngram.arpa_write import write_arpa
from lmkit.text.tokenizers import fit_tokenizer

FUZZ_SECONDS = float(os.environ.get("LMKIT_FUZZ_SECONDS", "5"))
HANG_SECONDS = 10
MEMORY_BASE, MEMORY_PER_BYTE = 48 << 20, 64  # allowed peak: a fixed 48 MB plus 64 bytes per input byte
ARPA_KEYWORDS = [b"nan", b"inf", b"-inf", b"-99", b"1e309", b"-1e-320", b"", b"\\data\\", b"\\end\\", b"\\2-grams:",
                 b"\\9-grams:", b"ngram 1=99999999999", b"ngram 2=0", b"ngram 9=1", b"<s>", b"</s>", b"<unk>", b"<pad>",
                 b"\t", b" ", b"\n", b"\r\n", b"\x00", b"\xff", "猫".encode(), b"0", b"-0.5", b"+1"]
TEXT_KEYWORDS = [b"\r", b"\r\n", b"\n\n\n", b"\xef\xbb\xbf", "\u2028".encode(), "\u0085".encode(), b"\x00", b"\xff",
                 b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"<s>", b"</s>", b"<unk>", b"\t",
                 "\U0001F600".encode(), "e\u0301".encode(), b"\x0c", b"\x1b[31m"]


class Hang(Exception):
    pass


@contextmanager
def bounded(data: bytes, keep: Path):
    """Fail on a hang or on memory out of proportion to `data`; keep the input for a rerun if anything fails."""
    def alarm(signum, frame):
        raise Hang(f"no answer within {HANG_SECONDS}s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
        assert peak <= MEMORY_BASE + MEMORY_PER_BYTE * len(data), f"peak memory {peak:,} bytes for {len(data):,} bytes"
    except BaseException as exc:
        keep.write_bytes(data)
        raise AssertionError(f"input kept in {keep} ({data[:120]!r}...): {type(exc).__name__}: {exc}") from exc
    finally:
        tracemalloc.stop()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def mutate(data: bytes, rng: random.Random, keywords: list[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op, pos = rng.randrange(6), rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif op == 1:
            out[pos:pos] = rng.choice(keywords) * rng.randint(1, 3)
        elif op == 2:
            del out[pos : pos + rng.randint(1, 300)]
        elif op == 3:  # a line repeated elsewhere
            lines = bytes(out).split(b"\n")
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(lines))
            out = bytearray(b"\n".join(lines))
        elif op == 4:  # one field of one line replaced
            lines = bytes(out).split(b"\n")
            i = rng.randrange(len(lines))
            fields = lines[i].split(b"\t")
            fields[rng.randrange(len(fields))] = rng.choice(keywords)
            lines[i] = b"\t".join(fields)
            out = bytearray(b"\n".join(lines))
        else:
            del out[pos:]
    return bytes(out)


def for_a_while(seconds: float):
    end = time.monotonic() + seconds
    count = 0
    while time.monotonic() < end or count < 20:
        yield count
        count += 1


# --- ARPA ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def arpa_seed(tmp_path_factory):
    """A valid word trigram ARPA file of tiny-en, and the tokenizer to score sentences with."""
    from lmkit.models.ngram.model import build_ngram

    lines = TINY["en"]["train"].read_text(encoding="utf-8").splitlines()
    tokenizer = fit_tokenizer("word", lines)
    model = build_ngram(encode_lines(tokenizer, lines), tokenizer.vocab, order=3)
    return write_arpa(model, tmp_path_factory.mktemp("arpa") / "seed.arpa").read_bytes(), tokenizer


def check_arpa(data: bytes, folder: Path, tokenizer) -> str:
    path = folder / ("input.arpa.gz" if data[:2] == b"\x1f\x8b" else "input.arpa")
    path.write_bytes(data)
    with bounded(data, folder / "failing-input.arpa"):
        try:
            model = read_arpa(path)
        except LmkitError:
            return "error"
        ids = torch.tensor([[model.vocab.bos_id, *model.vocab.encode(["the", "cat"]), model.vocab.eos_id]])
        logp = model.score(ids)  # (1, 3)
        assert logp.shape == (1, 3) and not torch.isnan(logp).any()
    return "model"


def test_arpa_reader_on_mutated_files(arpa_seed, tmp_path):
    seed, tokenizer = arpa_seed
    rng = random.Random(8)
    outcomes = {"model": 0, "error": 0}
    for _ in for_a_while(FUZZ_SECONDS):
        data = mutate(seed, rng, ARPA_KEYWORDS)
        if rng.random() < 0.1:
            data = gzip.compress(data)
        outcomes[check_arpa(data, tmp_path, tokenizer)] += 1
    assert outcomes["error"] > 0  # the mutations do reach the checks


def mostly(good, bad):
    """`good` nine times in ten, else `bad`: most files get deep into the reader before something is wrong."""
    return st.integers(0, 9).flatmap(lambda k: good if k else bad)


NUMBERS = mostly(st.floats(-12, 0).map(lambda x: f"{x:.6g}"),
                 st.one_of(st.floats().map(repr), st.sampled_from(["-99", "-1e400", "1e-400", "nan", "abc", "", "--1"])))
PLAIN_WORDS = ["the", "cat", "猫", "sat", "\u3000"]
WORDS = mostly(st.sampled_from(["<s>", "</s>", "<unk>", *PLAIN_WORDS]),
               st.sampled_from(["<pad>", "new", "a b", "\\1-grams:", "\\end\\"]))


@st.composite
def arpa_texts(draw) -> bytes:
    order = draw(st.integers(1, 4))
    unigrams = ["<s>", "</s>", "<unk>", *draw(st.lists(st.sampled_from(PLAIN_WORDS), unique=True))]
    sections = [[[draw(NUMBERS), word, *draw(st.lists(NUMBERS, max_size=1))] for word in unigrams]]
    for n in range(2, order + 1):
        grams = draw(st.lists(st.lists(WORDS, min_size=n, max_size=n), max_size=8))
        sections.append([[draw(NUMBERS), *gram, *draw(st.lists(NUMBERS, max_size=1))] for gram in grams])
    out = ["\\data\\"] + [f"ngram {n}={draw(mostly(st.just(len(sec)), st.integers(0, 9)))}"
                            for n, sec in enumerate(sections, 1)] + [""]
    for n, section in enumerate(sections, 1):
        out += [f"\\{n}-grams:"] + [draw(mostly(st.just("\t"), st.just(" "))).join(line) for line in section] + [""]
    out += draw(mostly(st.just(["\\end\\"]), st.just([])))
    return "\n".join(out).encode("utf-8")


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=arpa_texts())
def test_arpa_reader_on_generated_files(arpa_seed, tmp_path, data):
    check_arpa(data, tmp_path, arpa_seed[1])


def test_a_backoff_beyond_float32_is_refused_not_turned_into_infinity(tmp_path):
    """Found by the generated files: log10 backoff 1e300 became +inf, and log p(</s> | <s>) = +inf."""
    path = tmp_path / "huge.arpa"
    path.write_text("\\data\\\nngram 1=3\n\n\\1-grams:\n-1\t<s>\t1e300\n-1\t</s>\n-1\t<unk>\n\n\\end\\\n")
    with pytest.raises(LmkitError, match="1e300"):
        read_arpa(path)


def test_a_small_gzip_file_cannot_claim_unbounded_memory(tmp_path):
    """2 KB of gzip that inflates to a million blank lines under a header promising 10^8 1-grams."""
    data = gzip.compress(b"\\data\\\nngram 1=100000000\n\n\\1-grams:\n" + b"\n" * 1_000_000, 9)
    path = tmp_path / "bomb.arpa.gz"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(LmkitError, match="lists 0 entries"):
            read_arpa(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"peak {peak:,} bytes for a {len(data):,}-byte file"


# --- corpus files -----------------------------------------------------------------------------------------------

def check_corpus(data: bytes, folder: Path, errors: str) -> str:
    """Corpus from one local file: exactly the input's lines across the splits, a char tokenizer over them."""
    path, root = folder / "input.txt", folder / "corpora"
    path.write_bytes(data)
    shutil.rmtree(root, ignore_errors=True)
    with bounded(data, folder / "failing-input.txt"):
        try:
            corpus = get_corpus(train=path, root=root, encoding_errors=errors)
        except LmkitError:
            return "error"
        lines = [line for split in ("train", "valid", "test") for line in corpus.lines(split)]
        source = read_text(path, errors=errors).split("\n")
        assert sorted(lines) == sorted(source[:-1] if source[-1:] == [""] else source)
        train = list(corpus.lines("train"))
        tokenizer = fit_tokenizer("char", train)
        assert tokenizer.decode(encode_lines(tokenizer, train).tolist()) == "".join(line + "\n" for line in train)
    return "corpus"


@pytest.mark.filterwarnings("ignore:.*byte-order marks? \\(U\\+FEFF\\) inside the text")  # a mutation may insert one
def test_corpus_reader_on_mutated_files(tmp_path):
    seeds = [ENGLISH.read_bytes()[:4000], CHINESE.read_bytes()[:4000]]
    rng = random.Random(8)
    outcomes = {"corpus": 0, "error": 0}
    for _ in for_a_while(FUZZ_SECONDS):
        if rng.random() < 0.9:
            data = mutate(rng.choice(seeds), rng, TEXT_KEYWORDS)
        else:
            data = rng.randbytes(rng.randint(0, 400))
        outcomes[check_corpus(data, tmp_path, rng.choice(["strict", "replace"]))] += 1
    assert outcomes["corpus"] > 0 and outcomes["error"] > 0


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600) | st.text(max_size=400).map(lambda s: s.encode("utf-8", "surrogatepass")),
       errors=st.sampled_from(["strict", "replace"]))
def test_corpus_reader_on_generated_files(tmp_path, data, errors):
    check_corpus(data, tmp_path, errors)
