"""kill -9 a real `lmkit train` at random moments, 20 times: the model directory always loads, --resume
continues exactly where the saved state says, and at most one checkpoint interval of steps is lost.

Each chain trains into one directory: a fresh run, killed; `--resume`, killed; ... five kills, then a
resume that runs to --max-steps. Half the chains kill at a random moment, half the moment a
checkpoint write is under way (a staging folder or temporary file has appeared), after a random
few milliseconds more.
"""
from __future__ import annotations

import random
import time

import pytest

from faults.fault_helpers import LmkitProcess, kill_9, run_lmkit, temporaries, train_args, wait_for_saving
from lmkit.checkpoint.save_load import load_model
from lmkit.errors import CheckpointError
from lmkit.train.resume_state import load_resume

KILLS_PER_CHAIN = 5
CHAINS = [  # --save-every, --eval-every, where the kill is aimed
    (1, 45, "in-save"),
    (5, 40, "random"),
    (3, 30, "in-save"),
    (25, 80, "random"),
]


def check_after_kill(out, printed: int, save_every: int, eval_every: int) -> int | None:
    """The directory's invariants after a kill; returns the saved step (None when nothing was saved yet)."""
    if (out / "config.json").exists():
        load_model(out)  # config.json, tokenizer.json and the weights all whole
    else:
        assert printed <= eval_every, f"step {printed} was reached but the best model of step {eval_every} is missing"
    try:
        state = load_resume(out)[3]
    except CheckpointError as exc:
        assert printed <= save_every and "no resumable state" in str(exc), (printed, str(exc))
        return None
    assert printed - save_every <= state["step"] <= printed, (printed, state["step"])
    return state["step"]


def start_trial(out, saved: int | None, options: list[str], corpora, cwd) -> LmkitProcess:
    if saved is not None:
        return LmkitProcess(train_args(out, fresh=False), corpora, cwd)  # the saved settings come back too
    fresh = options + (["--overwrite"] if (out / "config.json").exists() else [])  # killed before any last/
    return LmkitProcess(train_args(out, *fresh), corpora, cwd)


@pytest.mark.slow
@pytest.mark.parametrize("save_every,eval_every,aim", CHAINS)
def test_kill_9_loses_at_most_one_checkpoint_interval(tmp_path, shared_corpora, save_every, eval_every, aim):
    rng = random.Random(f"{save_every}-{aim}")
    out = tmp_path / "run"
    options = ["--epochs", "20", "--save-every", str(save_every), "--eval-every", str(eval_every)]
    saved, kills_in_writes = None, 0
    for trial in range(KILLS_PER_CHAIN):
        process = start_trial(out, saved, options, shared_corpora, tmp_path)
        process.wait_for_step()
        if aim == "in-save":
            assert wait_for_saving(out, process), "no checkpoint write was seen"
            time.sleep(rng.uniform(0.0, 0.005))
        else:
            time.sleep(rng.uniform(0.0, 1.5))
        code, _, stderr = kill_9(process)
        assert code == -9, f"trial {trial}: the run ended by itself ({code}): {stderr[-1500:]}"
        if saved is not None:
            assert process.first_step == saved + 1, f"trial {trial}: --resume began at {process.first_step}, saved {saved}"
        kills_in_writes += bool(temporaries(out) or (out / "last.old").exists())
        saved = check_after_kill(out, process.last_step, save_every, eval_every)
    code, stdout, stderr = run_lmkit(train_args(out, "--max-steps", str((saved or 0) + 3), fresh=saved is None), shared_corpora, tmp_path)
    assert code == 0 and "Traceback" not in stderr, stderr[-2000:]
    assert load_resume(out)[3]["step"] == (saved or 0) + 3
    load_model(out)
    assert temporaries(out) == [] and not (out / ".lock").exists()  # what the kills left was cleaned up
    print(f"save-every {save_every}, {aim}: {kills_in_writes} of {KILLS_PER_CHAIN} kills left a write unfinished")
