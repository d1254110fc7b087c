"""The bounded-memory encoder (lmkit.text.encode_large) writes exactly what the in-memory path writes."""
import hashlib
import io

import numpy as np
import pytest

from lmkit.corpus.catalog import Corpus
from lmkit.text.encode import encode_lines, tokenizer_fingerprint
from lmkit.text.id_cache import encoded_split
from lmkit.text import encode_large
from lmkit.text.encode_large import encode_file, line_ranges, map_fingerprint, read_lines
from lmkit.errors import CorpusError
from lmkit.files.temporary_names import temporary_name
from lmkit.text.tokenizers import CharTokenizer, WordTokenizer

# Lines that a careless reader would cut differently: "\r", form feed, U+2028, NEL, a BOM,
# blank lines, Chinese, an emoji, and no newline after the last line.
AWKWARD = ["\ufeffThe first line keeps its BOM", "tab\there\rcarriage return inside", "", "form\x0cfeed",
           "line\u2028separator and next\x85line", "春眠不觉晓，处处闻啼鸟。", "emoji 🙂 here", "", "  spaced  out  "]
TEXT = "\n".join(AWKWARD * 40) + "\nlast line without newline"


def make_corpus(folder, text=TEXT):
    """A Corpus over a hand-written train split (bytes exactly as given; nothing normalised)."""
    folder.mkdir(parents=True)
    data = text.encode("utf-8")
    (folder / "train.txt").write_bytes(data)
    lines = len(text.split("\n")) - text.endswith("\n") if text else 0  # what the manifest would record
    stats = {"lines": lines, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return Corpus(folder.name, folder, {"format": 1, "splits": {"train": stats}})


@pytest.fixture
def corpus(tmp_path):
    return make_corpus(tmp_path / "awkward")


@pytest.fixture(params=["char", "word"])
def tokenizer(request, corpus):
    lines = list(corpus.lines("train"))[:200]  # leave some tokens out of the vocabulary: <unk> too
    if request.param == "char":
        return CharTokenizer.fit(lines)
    return WordTokenizer.fit(lines, lowercase=True)  # an option that must reach the worker processes


def npy_bytes(stream):
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(stream), allow_pickle=False)
    return buffer.getvalue()


@pytest.mark.parametrize("reverse", [False, True])
def test_several_workers_write_the_in_memory_array_byte_for_byte(corpus, tokenizer, tmp_path, reverse):
    expected = encode_lines(tokenizer, corpus.lines("train"), reverse=reverse)
    target = tmp_path / "out" / "train.npy"
    encode_file(corpus.path("train"), tokenizer, target, reverse=reverse, num_proc=2, chunk_bytes=500)
    assert len(line_ranges(corpus.path("train"), 500)) > 10  # many rows, two shards: order matters
    assert target.read_bytes() == npy_bytes(expected)
    assert [p.name for p in target.parent.iterdir()] == ["train.npy"]  # the work folder is gone


@pytest.mark.parametrize("pid", [7, 4_194_304])  # Linux's largest pid_max: 7 digits
def test_the_maps_fingerprint_passes_datasets_own_check_for_any_process_and_split(tmp_path, monkeypatch, pid):
    """A 5-digit process id once made datasets refuse the backward train split's shards (65 characters of 64)."""
    from datasets.fingerprint import validate_fingerprint
    monkeypatch.setattr(encode_large.os, "getpid", lambda: pid)
    work = tmp_path / "ids" / "0123456789abcdef" / ".encode-train.reversed-abcd_123"
    fingerprint = map_fingerprint(work)
    validate_fingerprint(fingerprint + "_99999_of_99999")  # raises over 64 characters or with a '/'
    assert fingerprint != map_fingerprint(work.with_name(".encode-train-abcd_123"))  # each work folder its own


@pytest.mark.parametrize("reverse", [False, True])
def test_encoded_split_large_path_equals_small_path_and_is_memory_mapped(tmp_path, tokenizer, reverse):
    small = encoded_split(make_corpus(tmp_path / "small"), tokenizer, "train", reverse)
    large = encoded_split(make_corpus(tmp_path / "large"), tokenizer, "train", reverse, large_bytes=0, num_proc=2)
    assert isinstance(large, np.memmap) and large.dtype == np.int32
    np.testing.assert_array_equal(large, small)
    name = "train.reversed.npy" if reverse else "train.npy"
    folder = f"ids/{tokenizer_fingerprint(tokenizer)}/{name}"
    assert (tmp_path / "large" / folder).read_bytes() == (tmp_path / "small" / folder).read_bytes()


def test_reversed_stream_reverses_each_line_and_keeps_eos_last(tmp_path):
    corpus = make_corpus(tmp_path / "c", "ab\ncab\n")
    tokenizer = CharTokenizer.fit(["abc"])
    forward = encoded_split(corpus, tokenizer, "train", large_bytes=0)
    backward = encoded_split(corpus, tokenizer, "train", reverse=True, large_bytes=0)
    a, b, c = (tokenizer.vocab.stoi[ch] for ch in "abc")
    assert forward.tolist() == [a, b, 3, c, a, b, 3]
    assert backward.tolist() == [b, a, 3, b, a, c, 3]


def test_line_ranges_cover_the_file_and_end_at_line_ends(corpus):
    data = corpus.path("train").read_bytes()
    ranges = line_ranges(corpus.path("train"), 97)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(end == start for (_, end), (start, _) in zip(ranges, ranges[1:]))
    assert all(data[end - 1 : end] == b"\n" for _, end in ranges[:-1])
    lines = [line for start, end in ranges for line in read_lines(str(corpus.path("train")), start, end)]
    assert lines == list(corpus.lines("train"))


def test_an_empty_split_gives_an_empty_int32_array(tmp_path):
    corpus = make_corpus(tmp_path / "empty", "")
    stream = encoded_split(corpus, CharTokenizer.fit(["ab"]), "train", large_bytes=-1)
    assert stream.shape == (0,) and stream.dtype == np.int32


def test_invalid_utf8_is_a_corpus_error_naming_file_and_offset(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "train.txt").write_bytes(b"good line\nbad \xff byte\n")
    with pytest.raises(CorpusError, match=r"train\.txt: not valid UTF-8 at byte offset 14"):
        encode_file(folder / "train.txt", CharTokenizer.fit(["ab"]), tmp_path / "x.npy", num_proc=1)
    assert not (tmp_path / "x.npy").exists()


def test_an_encoding_killed_midway_leaves_what_the_next_one_removes(tmp_path, tiny_en):
    """A kill -9 left a work folder of Arrow shards (151 MB) or a half-written array (279 MB) that no run removed.
    The next encoding removes them where it encodes and in the corpus's other fingerprint folders nobody holds;
    a folder another process is encoding into, one never locked, one not named as a fingerprint, and look-alikes
    of the user's keep theirs (pass 21: a user's folder named as a work folder, or holding a `.lock`, was
    removed by its name alone; a work folder is now known by the marker lmkit writes first in it)."""
    import fcntl
    import os

    from lmkit.text.encode_large import WORK_MARKER
    from lmkit.text.id_cache import ENCODING_LOCK, encoded_split
    from lmkit.text.tokenizer_cache import get_tokenizer

    tokenizer = get_tokenizer(tiny_en, "char")
    encoded_split(tiny_en, tokenizer, "train")
    here = next(tiny_en.directory.glob("ids/*"))
    work = ".encode-valid-k1ll3d_a"
    killed = [f"{work}/ids_00000_of_00002.arrow", f"{work}/{WORK_MARKER.name}", temporary_name("valid.npy", "k1ll3dbx")]
    theirs = [".encode-valid-mine/notes.txt", ".encode-valid-userdat1/keep.txt", ".lmkit-tmp.notes.txt.abcdefgh",
              "notes.txt", ".lmkit-tmp.valid.npy.abcdefgh",  # an older lmkit's name, or a user's
              temporary_name("notes.npy", "abcdefgh")]  # lmkit's scheme, but no file lmkit writes there

    def plant(folder, names, lock=True):
        for name in names:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(WORK_MARKER.text.encode() if name.endswith(WORK_MARKER.name) else b"x" * 100)
        if lock:
            (folder / ENCODING_LOCK).write_text("")
        return folder

    plant(here, killed + theirs)
    free, busy = plant(here.parent / ("f" * 16), killed), plant(here.parent / ("b" * 16), killed)
    never = plant(here.parent / ("0" * 16), killed, lock=False)
    users = plant(here.parent / "userfolder", killed)
    held = os.open(busy / ENCODING_LOCK, os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)  # as a live encoding holds it
    try:
        encoded_split(tiny_en, tokenizer, "valid")
    finally:
        os.close(held)
    assert not any((folder / name).exists() for folder in (here, free) for name in killed)
    assert all((folder / name).exists() for folder in (busy, never, users) for name in killed)
    assert all((here / name).exists() for name in theirs)


def test_an_interruption_is_not_lost_behind_the_pools_own_error():
    """datasets' pool clean-up raised its TimeoutError while handling lmkit's SIGTERM (or Ctrl-C): the
    interruption is what lmkit must see, to end with one line and exit code 143 (130)."""
    from lmkit.text.encode_large import interruption_behind

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise TimeoutError("pool")  # noqa: B904 - as the pool's clean-up raises it
    except TimeoutError as exc:
        assert isinstance(interruption_behind(exc), KeyboardInterrupt)
    assert interruption_behind(ValueError("plain")) is None


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_process_the_map_forks_dies_with_lmkit_even_on_kill_9():
    """Pool workers and the queue's manager sat waiting forever once lmkit was killed."""
    import os
    import subprocess
    import sys
    import time

    script = """
import os, signal, sys, time
import lmkit.text.encode_large as large
large.map_parent = os.getpid()          # as encoded_rows sets it while the map forks
child = os.fork()
if child == 0:
    time.sleep(60)                      # a worker waiting on its queue
    os._exit(0)
print(child, signal.getsignal(signal.SIGTERM), flush=True)
time.sleep(0.5)
os.kill(os.getpid(), signal.SIGKILL)    # lmkit killed with -9
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    child = int(done.stdout.split()[0])
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{child}") and open(f"/proc/{child}/stat").read().split()[2] != "Z":
        assert time.monotonic() < deadline, "the forked process outlived its parent"
        time.sleep(0.1)


def test_an_encoding_waits_for_another_at_work_in_its_folder_and_says_so(tiny_en):
    import fcntl
    import os
    import threading

    from lmkit.text.id_cache import ENCODING_LOCK, encoded_split
    from lmkit.text.tokenizer_cache import get_tokenizer

    tokenizer = get_tokenizer(tiny_en, "char")
    encoded_split(tiny_en, tokenizer, "train")
    folder = next(tiny_en.directory.glob("ids/*"))
    held = os.open(folder / ENCODING_LOCK, os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)  # as another process encoding there
    threading.Timer(0.5, os.close, [held]).start()  # which finishes half a second later
    with pytest.warns(UserWarning, match="another lmkit process is encoding this corpus with this tokenizer"):
        assert len(encoded_split(tiny_en, tokenizer, "valid")) > 0
