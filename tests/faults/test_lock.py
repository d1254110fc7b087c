"""Two `lmkit train` processes on one output directory: the second refuses (DIR/.lock) and writes nothing."""
from __future__ import annotations

import json
import signal

from faults.fault_helpers import LmkitProcess, run_lmkit, train_args, wait_until
from lmkit.train.resume_state import load_resume

REFUSAL = "is training into this directory (it holds .lock); "
INSTEAD = {"--out": "choose another --out or wait for it", "--resume": "wait for it to stop, then resume"}  # pass 74


def test_a_second_run_into_a_busy_directory_is_refused(tmp_path, shared_corpora):
    out = tmp_path / "run"
    first = LmkitProcess(train_args(out, "--epochs", "50", "--eval-every", "20", "--save-every", "5"),
                         shared_corpora, tmp_path)
    first.wait_for_step()
    assert wait_until((out / "metrics.jsonl").exists, first)
    for option, second in (("--out", train_args(out, "--epochs", "50", "--overwrite")),
                           ("--resume", train_args(out, fresh=False))):
        code, stdout, stderr = run_lmkit(second, shared_corpora, tmp_path)
        said = f"error: {out}: another lmkit process {REFUSAL}{INSTEAD[option]}\n"
        assert code == 1 and stderr.endswith(said), (code, stderr[-1500:])
        assert "Traceback" not in stderr and "training lstm" not in stdout
        assert first.popen.poll() is None, "the first run must still be going"
    first.signal(signal.SIGTERM)
    code, _, stderr = first.finish()
    assert code == 143, stderr[-2000:]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records]  # one run's curve: --overwrite in the refused run cleared nothing
    assert steps[0] == 20 and steps == sorted(set(steps))
    assert load_resume(out)[3]["step"] >= first.last_step
    assert not (out / ".lock").exists()
