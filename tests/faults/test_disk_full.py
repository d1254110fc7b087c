"""A full disk (a small tmpfs) or a file-size limit while `lmkit train` saves: the previous checkpoint
survives byte for byte, and the error says what happened in one line.

The tmpfs is mounted in a private mount namespace (`unshare -rm`, no root needed where user
namespaces are allowed); the test is skipped where they are not. The file-size limit
(RLIMIT_FSIZE, the kernel refuses writes past it with EFBIG) needs no privileges and always runs.
"""
from __future__ import annotations

import re
import resource
import shlex
import shutil
import subprocess
import sys

import pytest

from faults.fault_helpers import process_env, run_lmkit, snapshot, temporaries, train_args
from lmkit.checkpoint.save_load import load_model
from lmkit.train.resume_state import load_resume

FIRST = ["--max-steps", "20", "--save-every", "5", "--eval-every", "10", "--epochs", "5"]
SAVE_FAILED = (r"error: could not save (the model to|the resumable checkpoint) \S+: {reason}; "
               r"the (model saved there before, if any,|previous checkpoint) is intact")

SCRIPT = """
set -u
mount -t tmpfs -o size=1m tmpfs "$MNT" || exit 90
lmkit() {{ "$PYTHON" -m lmkit "$@"; }}
lmkit {first} > "$OUT/first.out" 2> "$OUT/first.err" || exit 91
cp -a "$MNT/run" "$OUT/before"
for free in {frees}; do
    avail=$(df --output=avail -B1 "$MNT" | tail -1)
    fallocate -l $((avail - free)) "$MNT/ballast" || exit 92
    lmkit {resume} > "$OUT/full-$free.out" 2> "$OUT/full-$free.err"; echo $? > "$OUT/full-$free.rc"
    cp -a "$MNT/run" "$OUT/after-$free"
    rm "$MNT/ballast"
done
lmkit {resume} > "$OUT/freed.out" 2> "$OUT/freed.err"; echo $? > "$OUT/freed.rc"
"""
FREE = {  # bytes left free -> the part of the directory that must not change
    8 << 10: ".",      # room for the lock only: the best model's save fails, nothing changes
    40 << 10: "last",  # room for a new best model, which is saved whole, but not for the resume state
}


def can_mount_tmpfs(tmp_path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {shlex.quote(str(tmp_path))}"],
                           capture_output=True)
    return probe.returncode == 0


def test_disk_full_while_saving_keeps_the_previous_checkpoint(tmp_path, shared_corpora):
    if not can_mount_tmpfs(tmp_path):
        pytest.skip("cannot mount a tmpfs here (unshare -rm refused: no user namespaces)")
    mnt, out = tmp_path / "mnt", tmp_path / "out"
    mnt.mkdir(), out.mkdir()
    first = shlex.join(train_args(mnt / "run", *FIRST))
    resume = shlex.join(train_args(mnt / "run", "--max-steps", "40", "--eval-every", "1", fresh=False))
    script = SCRIPT.format(first=first, resume=resume, frees=" ".join(map(str, FREE)))
    env = {**process_env(shared_corpora), "MNT": str(mnt), "OUT": str(out), "PYTHON": sys.executable}
    done = subprocess.run(["unshare", "-rm", "bash", "-c", script], env=env, cwd=tmp_path, capture_output=True, timeout=600)
    first_err = (out / "first.err").read_text()[-2000:] if (out / "first.err").exists() else ""
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:], first_err)
    for free, untouched in FREE.items():
        stderr = (out / f"full-{free}.err").read_text()
        assert (out / f"full-{free}.rc").read_text().strip() == "1" and "Traceback" not in stderr, stderr[-2000:]
        assert re.search(SAVE_FAILED.format(reason="No space left on device"), stderr), stderr[-2000:]
        after = out / f"after-{free}"
        assert snapshot(after / untouched) == snapshot(out / "before" / untouched)  # names, sizes, mtimes, bytes
        assert temporaries(after) == []
        load_model(after)
        assert load_resume(after)[3]["step"] == 20
    assert (out / "freed.rc").read_text().strip() == "0", (out / "freed.err").read_text()[-2000:]  # space back: on it goes


def limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_file_size_limit_while_saving_keeps_the_previous_checkpoint(tmp_path, shared_corpora):
    out = tmp_path / "run"
    code, _, stderr = run_lmkit(train_args(out, *FIRST), shared_corpora, tmp_path)
    assert code == 0, stderr[-2000:]
    before = snapshot(out)
    state_bytes = (out / "last" / "trainer_state.pt").stat().st_size
    code, _, stderr = run_lmkit(train_args(out, "--max-steps", "40", fresh=False), shared_corpora, tmp_path,
                                preexec_fn=limit_file_size(state_bytes // 2))  # the weights fit, the state does not
    assert code == 1 and "Traceback" not in stderr, stderr[-2000:]
    assert re.search(SAVE_FAILED.format(reason="File too large"), stderr), stderr[-2000:]
    assert snapshot(out) == before and temporaries(out) == []
    assert load_resume(out)[3]["step"] == 20
