"""Encoding a split file too large for memory: a `datasets` map over byte ranges, streamed into a .npy.

    split file   |-- range 0 --|-- range 1 --|-- range 2 --| ...     cut just after a "\\n" byte
    datasets map (num_proc worker processes, results written to Arrow shard files on disk):
                 each range -> its lines -> encode_lines -> one int32 row (+ its length)
    pass 2       total = sum of the lengths; write the .npy header for (total,),
                 then append every row in order, under a temporary name; fsync; rename

A "\\n" byte never occurs inside a UTF-8 character, so a cut just after one
is always safe. Workers read their range with ordinary file reads and split
it on "\\n" exactly as Corpus.lines does, then encode it with the same
encode_lines as the in-memory path, so both paths give identical arrays.
(The `datasets` "text" builder is not used: it opens files with universal
newlines, so a lone "\\r" would end a line that Corpus.lines keeps whole, and
it keeps a memory-mapped Arrow copy of the whole text besides.)

Nothing here grows with the corpus: each process holds a few ranges at a
time, the Arrow shards are read back batch by batch with plain reads (not
memory-mapped), and the output is written sequentially rather than through
a writable memory map, whose dirty pages would count against the process.
The tokenizer reaches the workers as its JSON text and is rebuilt there once
per process.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from lmkit.errors import CorpusError
from lmkit.files.folder_markers import FolderMarker
from lmkit.files.writing import atomic_write
from lmkit.text.tokenizers import Tokenizer, tokenizer_from_json

CHUNK_BYTES = 1 << 20          # bytes of text per map row
WRITER_ROWS = 4                # rows a worker buffers before writing them to its shard
SEARCH_BYTES = 1 << 16         # read size while looking for the next line end
DEFAULT_NUM_PROC = 2
STREAM_DTYPE = np.dtype("<i4")
PR_SET_PDEATHSIG = 1           # prctl(2): the signal a process gets when its parent dies
WORK_NAME = re.compile(r"\.encode-[a-z]+(\.reversed)?-[a-z0-9_]{8}")  # encode_file's work folders (mkdtemp's names)
WORK_MARKER = FolderMarker(".lmkit-encoding", "lmkit encoding work folder\n")  # in each, written first: by it a
                                                 # killed encoding's folder is known as lmkit's, not by its name alone
MAP_FINGERPRINT_HEX = 24  # hex digits of map_fingerprint's digest: 37 characters in all
map_parent: int | None = None  # while encoded_rows maps: its process, which the forked workers see as their parent


def default_num_proc() -> int:
    """DEFAULT_NUM_PROC workers, or fewer where this process may use fewer CPUs."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(DEFAULT_NUM_PROC, usable))


def line_ranges(path: Path, chunk_bytes: int = CHUNK_BYTES) -> list[tuple[int, int]]:
    """Byte ranges [start, end) covering the file, each ending just after a "\\n" (or at the end of the file)."""
    size = Path(path).stat().st_size
    ranges, start = [], 0
    with open(path, "rb") as handle:
        while start < size:
            end = next_line_end(handle, start + chunk_bytes, size)
            ranges.append((start, end))
            start = end
    return ranges


def next_line_end(handle, offset: int, size: int) -> int:
    """The position just after the first "\\n" at or after `offset` (or `size` if there is none)."""
    if offset >= size:
        return size
    handle.seek(offset)
    while block := handle.read(SEARCH_BYTES):
        found = block.find(b"\n")
        if found >= 0:
            return offset + found + 1
        offset += len(block)
    return size


def read_lines(path: str, start: int, end: int) -> list[str]:
    """Lines in bytes [start, end) of a split file, without their "\\n" (as Corpus.lines yields them)."""
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not valid UTF-8 at byte offset {start + exc.start}") from exc
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


@functools.lru_cache(maxsize=2)
def tokenizer_for(tokenizer_json: str) -> Tokenizer:
    """The tokenizer rebuilt from its JSON text, once per worker process."""
    return tokenizer_from_json(json.loads(tokenizer_json))


def become_worker() -> None:
    """In each process the map forks (its pool workers and the manager serving their queue): die with lmkit,
    even on its kill -9 (Linux's parent-death signal; left alone they waited on their queue forever, holding
    the work folder's lock), and leave SIGTERM, SIGHUP and Ctrl-C to lmkit, which ends the pool on its way out (lmkit's
    own SIGTERM handler, inherited, printed a traceback per worker)."""
    parent = map_parent
    if parent is None:
        return  # a fork outside the map
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # lmkit died before the line above took effect
        os._exit(1)


os.register_at_fork(after_in_child=become_worker)


def encode_range(example: dict, tokenizer_json: str, path: str, reverse: bool) -> dict:
    """datasets map function: one byte range -> its int32 id stream and the stream's length."""
    from lmkit.text.encode import encode_lines

    lines = read_lines(path, example["start"], example["end"])
    ids = encode_lines(tokenizer_for(tokenizer_json), lines, reverse=reverse)
    return {"ids": ids, "length": len(ids)}


def encode_file(path: Path, tokenizer: Tokenizer, target: Path, reverse: bool = False,
                num_proc: int | None = None, chunk_bytes: int = CHUNK_BYTES) -> None:
    """Encode the split file `path` into the .npy `target` (int32) in bounded memory."""
    path, target = Path(path), Path(target)
    ranges = line_ranges(path, chunk_bytes)
    num_proc = min(num_proc or default_num_proc(), max(1, len(ranges)))
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".encode-{target.stem}-", dir=target.parent))  # WORK_NAME
    WORK_MARKER.write(work)
    try:
        if not ranges:  # an empty split: an empty stream
            write_npy(target, 0, [])
            return
        lengths, shard_files = encoded_rows(path, tokenizer, ranges, reverse, num_proc, work)
        write_npy(target, int(sum(lengths)), arrow_rows(shard_files))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def encoded_rows(path: Path, tokenizer: Tokenizer, ranges: list[tuple[int, int]], reverse: bool,
                 num_proc: int, work: Path) -> tuple[list[int], list[str]]:
    """Pass 1, the map: (each row's length, the Arrow shard files holding the rows, in row order)."""
    import datasets

    features = datasets.Features({"ids": datasets.List(datasets.Value("int32")), "length": datasets.Value("int64")})
    table = datasets.Dataset.from_dict({"start": [r[0] for r in ranges], "end": [r[1] for r in ranges]})
    tokenizer_json = json.dumps(tokenizer.to_json(), sort_keys=True, ensure_ascii=False)
    global map_parent
    map_parent = os.getpid()
    try:
        with quiet_datasets():
            encoded = table.map(
                encode_range, fn_kwargs={"tokenizer_json": tokenizer_json, "path": str(path), "reverse": reverse},
                remove_columns=["start", "end"], features=features, num_proc=num_proc if num_proc > 1 else None,
                writer_batch_size=WRITER_ROWS, cache_file_name=str(work / "ids.arrow"),
                load_from_cache_file=False, new_fingerprint=map_fingerprint(work),
            )
    except Exception as exc:
        interruption = interruption_behind(exc)
        if interruption is not None:  # datasets' pool clean-up replaced Ctrl-C or SIGTERM by its own TimeoutError
            raise interruption from None
        raise
    finally:
        map_parent = None
    lengths = encoded.data.column("length").to_pylist()
    return lengths, [entry["filename"] for entry in encoded.cache_files]


def map_fingerprint(work: Path) -> str:
    """The fingerprint `datasets` keeps for the map into `work`: this process's and folder's own, and of one length
    (datasets refuses a shard's fingerprint, this one plus "_00000_of_00002", over 64 characters)."""
    digest = hashlib.sha256(f"{os.getpid()}:{work}".encode()).hexdigest()
    return f"lmkit-encode-{digest[:MAP_FINGERPRINT_HEX]}"


def interruption_behind(exc: BaseException) -> BaseException | None:
    """The KeyboardInterrupt (or lmkit's Terminated: any BaseException that is not an Exception) that `exc` was
    raised while handling, if any."""
    seen = exc.__context__
    while seen is not None:
        if not isinstance(seen, Exception):
            return seen
        seen = seen.__context__
    return None


def arrow_rows(shard_files: Iterable[str]) -> Iterator[np.ndarray]:
    """Every row's ids, in order, read record batch by record batch with plain (not memory-mapped) reads."""
    import pyarrow as pa

    for name in shard_files:
        with pa.OSFile(name, "rb") as source:
            for batch in pa.ipc.open_stream(source):
                ids = batch.column(batch.schema.get_field_index("ids")).flatten()  # flatten honours slicing
                yield ids.to_numpy(zero_copy_only=False).astype(STREAM_DTYPE, copy=False)


def write_npy(target: Path, total: int, chunks: Iterable[np.ndarray]) -> None:
    """Write a (total,) int32 .npy from chunks, atomically; the file is what np.save would write."""
    from numpy.lib import format as npy

    header = {"descr": npy.dtype_to_descr(STREAM_DTYPE), "fortran_order": False, "shape": (total,)}
    written = 0
    with atomic_write(target, "wb") as handle:
        npy.write_array_header_1_0(handle, header)
        for chunk in chunks:
            handle.write(np.ascontiguousarray(chunk, dtype=STREAM_DTYPE).tobytes())
            written += len(chunk)
        if written != total:  # an internal inconsistency, never user input
            raise RuntimeError(f"{target}: wrote {written} ids, the lengths promised {total}")


@contextlib.contextmanager
def quiet_datasets():
    """No progress bars or info logging from `datasets` (library code prints nothing); restored after."""
    import datasets
    from datasets.utils import logging as ds_logging

    bars_were_on = not datasets.utils.are_progress_bars_disabled()
    verbosity = ds_logging.get_verbosity()
    datasets.utils.disable_progress_bars()
    ds_logging.set_verbosity_error()
    try:
        yield
    finally:
        ds_logging.set_verbosity(verbosity)
        if bars_were_on:
            datasets.utils.enable_progress_bars()
