"""metrics.jsonl: a model directory's learning curve, one JSON line per evaluation.

Training appends a line at each validation (append-only, so a crash loses at
most the line being written, and the next line starts after a line cut short); a resumed run first drops the lines of steps after
the state it resumes, which a run killed before saving that state wrote from a
timeline now discarded (drop_metrics_after); `lmkit ngram` saves its one line with the model
(save_load.save_model's `files`), so a rebuilt model never shows the old one's
curve. Readers (`lmkit report`) take only lines that are evaluation records: a
JSON object with a step, its counts integers that int64 holds, its measures
finite numbers (or null, what a diverged run writes) in their range. A line cut
short by a crash, damaged or edited, is skipped with one warning, so a bad line
never becomes a point of the curve or a figure of the report.
"""
from __future__ import annotations

import json
import math
import os
import stat
import warnings
from pathlib import Path

from lmkit.checkpoint.ownership import METRICS_FILE
from lmkit.checkpoint.save_load import claim_model_directory
from lmkit.checkpoint.saved_config import LONGEST_SECONDS
from lmkit.config.from_json import finite_number
from lmkit.errors import CheckpointError
from lmkit.files.json_text import json_text
from lmkit.files.reading import JSON_MAX_BYTES, read_bounded
from lmkit.files.writing import write_bytes_atomic


def append_metrics(directory: str | Path, record: dict) -> None:
    """Append one JSON line to metrics.jsonl (append-only, so a crash loses at most this line)."""
    path = Path(directory) / METRICS_FILE
    claim_model_directory(directory)
    try:  # never through a link, nor waiting on a FIFO: appending would write into what they lead to
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise CheckpointError(f"{path}: could not append to the learning curve: {exc.strerror or exc}") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:  # a hard link's other name is someone's file
        os.close(fd)
        raise CheckpointError(f"{path}: is not lmkit's learning curve (not a regular file of its own); move it")
    with open(fd, "ab") as handle:  # read-write: pread sees how the curve ends
        try:  # a record cut short (a full disk, a kill) stays a line of its own, which readers skip, and this
            cut = info.st_size > 0 and os.pread(fd, 1, info.st_size - 1) != b"\n"  # one starts on the next
            handle.write((("\n" if cut else "") + curve_line(record)).encode("utf-8"))
            handle.flush()
        except OSError as exc:
            raise CheckpointError(f"{path}: could not append to the learning curve: {exc.strerror or exc}") from exc


def drop_metrics_after(directory: str | Path, step: int) -> int:
    """Drop the learning curve's records of steps after `step`, the step a resumed run's saved state was taken at:
    a run killed later (kill -9, a power cut) appended them from a timeline the resume discards and trains again,
    so the curve shows one run. Lines that are not evaluation records stay as they are. Returns how many went."""
    path = Path(directory) / METRICS_FILE
    if not path.exists():
        return 0
    lines = read_bounded(path, JSON_MAX_BYTES, CheckpointError).splitlines(keepends=True)
    kept = [line for line in lines if (record := metrics_record(line.decode("utf-8", "replace"))) is None
            or record["step"] <= step]
    if len(kept) == len(lines):
        return 0
    # read_bounded reads a regular file only, and write_bytes_atomic refuses a link there (OwnPathLinkError) and
    # renames a new file into place, so another name of a hard-linked curve keeps its bytes
    write_bytes_atomic(path, b"".join(kept))  # a WriteError names the file, and the curve stays as it was
    return len(lines) - len(kept)


def curve_line(record: dict) -> str:
    """One evaluation record as its line of metrics.jsonl."""
    return json_text(record) + "\n"


# a metrics.jsonl key -> the least value a record may hold there (counts), or the range it must lie in
# (measures): counts are integers, the measures finite numbers or null (json_text writes a diverged run's
# infinite perplexity so); a cloze model's measures are named valid_pseudo_*
COUNTS = {"step": 0, "epoch": 0, "tokens": 0, "valid_tokens": 0, "test_tokens": 0}
MEASURES = {"time": (0.0, LONGEST_SECONDS), "train_loss": (0.0, math.inf), "lr": (0.0, math.inf),
            "valid_oov_rate": (0.0, 1.0), "test_oov_rate": (0.0, 1.0),
            **{f"{split}{kind}_{name}": (floor, math.inf) for split in ("valid", "test") for kind in ("", "_pseudo")
               for name, floor in (("nll", 0.0), ("ppl", 1.0), ("bpc", 0.0))}}
LARGEST_COUNT = 2**63  # a step or token count beyond int64 is not one a run made (nor one numpy can plot)


def metrics_record(line: str) -> dict | None:
    """The evaluation record on one line of metrics.jsonl, or None for a line that is not one."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # not JSON, nested too deeply, an integer of thousands of digits
        return None
    if not isinstance(record, dict) or "step" not in record:
        return None
    for key, value in record.items():
        if key in COUNTS:
            if isinstance(value, bool) or not isinstance(value, int) or not COUNTS[key] <= value < LARGEST_COUNT:
                return None
        elif key in MEASURES and value is not None:
            low, high = MEASURES[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not finite_number(value) \
                    or not low <= value <= high:
                return None
    return record


def read_metrics(directory: str | Path) -> list[dict]:
    """The evaluation records of metrics.jsonl. A line that is not one (cut short by a crash, damaged or edited:
    not a JSON object with a step, or a number of the wrong kind or out of range) is skipped, with a warning."""
    path = Path(directory) / METRICS_FILE
    if not path.exists():
        return []
    lines = read_bounded(path, JSON_MAX_BYTES, CheckpointError).decode("utf-8", "replace").splitlines()
    records = [metrics_record(line) for line in lines]
    skipped = [number for number, record in enumerate(records, 1) if record is None]
    if skipped:
        warnings.warn(f"{path}: skipped {len(skipped):,} of {len(lines):,} lines that are not evaluation records "
                      f"(the first: line {skipped[0]:,}); the learning curve shows the rest")
    return [record for record in records if record is not None]
