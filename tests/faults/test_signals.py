"""SIGINT, SIGTERM and SIGHUP to a real `lmkit train`: a clean resumable checkpoint, exit code 130 / 143 / 129,
one message."""
from __future__ import annotations

import signal
import time

import pytest

from faults.fault_helpers import LmkitProcess, temporaries, train_args, wait_for_saving, wait_until
from lmkit.checkpoint.save_load import load_model
from lmkit.train.resume_state import load_resume


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_signal_saves_the_current_step_and_exits_with_a_message(tmp_path, shared_corpora, signum, code):
    out = tmp_path / "run"
    process = LmkitProcess(train_args(out, "--epochs", "30", "--eval-every", "40", "--save-every", "1000"),
                           shared_corpora, tmp_path)
    process.wait_for_step()
    process.signal(signum)
    exit_code, stdout, stderr = process.finish()
    name = signal.Signals(signum).name
    assert exit_code == code, stderr[-2000:]
    assert "Traceback" not in stderr
    _, _, _, state = load_resume(out)
    assert state["step"] >= process.last_step  # the step in progress was finished and saved: nothing lost
    assert f"{name}: saved a resumable checkpoint at step {state['step']}; continue with: lmkit train --resume {out}" in stderr
    assert temporaries(out) == []


def test_sigterm_during_a_checkpoint_write_ends_cleanly_and_resumes(tmp_path, shared_corpora):
    out = tmp_path / "run"
    process = LmkitProcess(train_args(out, "--epochs", "30", "--eval-every", "1000", "--save-every", "1"),
                           shared_corpora, tmp_path)
    process.wait_for_step()
    assert wait_for_saving(out, process)
    process.signal(signal.SIGTERM)
    exit_code, _, stderr = process.finish()
    assert exit_code == 143, stderr[-2000:]
    saved = load_resume(out)[3]["step"]
    assert saved >= process.last_step
    assert temporaries(out) == [] and not (out / "last.old").exists()
    resumed = LmkitProcess(train_args(out, "--max-steps", str(saved + 5), fresh=False), shared_corpora, tmp_path)
    exit_code, stdout, stderr = resumed.finish()
    assert exit_code == 0, stderr[-2000:]
    assert resumed.first_step == saved + 1 and resumed.last_step == saved + 5  # on from exactly where it stopped
    assert f"stopped: max_steps after {saved + 5} steps" in stdout


def test_second_sigint_aborts_at_once_and_leaves_a_loadable_directory(tmp_path, shared_corpora):
    out = tmp_path / "run"
    process = LmkitProcess(train_args(out, "--epochs", "30", "--eval-every", "20", "--save-every", "1"),
                           shared_corpora, tmp_path)
    process.wait_for_step()
    assert wait_until((out / "last").exists, process)  # a checkpoint to keep; then interrupt the next save
    assert wait_for_saving(out, process)
    process.signal(signal.SIGINT)
    time.sleep(0.05)  # two signals sent at once may reach Python as one
    process.signal(signal.SIGINT)
    exit_code, _, stderr = process.finish()
    assert "Traceback" not in stderr, stderr[-2000:]
    # 130: the first SIGINT's save finished and the run ended before the second arrived, or the second one
    # interrupted the save ("error: interrupted (Ctrl-C)"); -SIGINT: it landed while the interpreter was
    # already exiting after a clean save.
    assert exit_code in (130, -signal.SIGINT), (exit_code, stderr[-2000:])
    load_resume(out)
    if (out / "config.json").exists():
        load_model(out)
    assert temporaries(out) == []
