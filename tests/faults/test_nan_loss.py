"""A NaN/inf loss in a real `lmkit train`: stop (or roll back, as --on-nan says), say so, keep the last good state.

The run first trains stably (SGD, lr 1) to a checkpoint at step 10, then is resumed with --lr 1e6,
which overflows the weights within a step or two on any machine.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

from faults.fault_helpers import run_lmkit, snapshot, train_args
from lmkit.train.resume_state import load_resume

STABLE = ["--model", "rnn_relu", "--optimizer", "sgd", "--lr", "1", "--clip", "0", "--max-steps", "10",
          "--save-every", "5", "--eval-every", "1000", "--epochs", "5"]


@pytest.fixture(scope="module")
def stable_run(tmp_path_factory, shared_corpora):
    folder = tmp_path_factory.mktemp("stable")
    code, _, stderr = run_lmkit(train_args(folder / "run", *STABLE), shared_corpora, folder)
    assert code == 0, stderr[-2000:]
    return folder / "run"


@pytest.fixture
def good_run(stable_run, tmp_path):
    return Path(shutil.copytree(stable_run, tmp_path / "run"))


def weights_are_finite(out) -> bool:
    model = load_resume(out)[0]
    return all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("mode", ["stop", "rollback"])
def test_nan_loss_stops_keeping_the_last_good_checkpoint(good_run, tmp_path, shared_corpora, mode):
    before = snapshot(good_run / "last")
    code, stdout, stderr = run_lmkit(train_args(good_run, "--lr", "1e6", "--max-steps", "40", "--on-nan", mode,
                                                fresh=False), shared_corpora, tmp_path)
    assert code == 1 and "Traceback" not in stderr, stderr[-2000:]
    error = re.search(r"error: step (\d+): training loss is (nan|inf); stopped, the last good checkpoint in "
                      rf"{re.escape(str(good_run / 'last'))} is kept\. Try a lower --lr", stderr)
    assert error and int(error.group(1)) > 10, stderr[-2000:]
    rollbacks = re.findall(r"rolled back to the last checkpoint \(step 10\) and halved the learning rate to (\S+)", stdout)
    if mode == "stop":
        assert rollbacks == []
    else:  # three tries, each with half the LR of the one before, then it gives up
        assert [float(lr) for lr in rollbacks] == [5e5, 2.5e5, 1.25e5], stdout[-2000:]
    assert load_resume(good_run)[3]["step"] == 10 and weights_are_finite(good_run)
    assert snapshot(good_run / "last") == before  # the NaN weights were never saved over it
