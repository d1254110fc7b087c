"""kill -9 a real `lmkit ngram --arpa` while it writes: the ARPA file is absent or whole, the model directory loads.

Kills are aimed at the two writes (the model directory's staging folder, the ARPA file's temporary
name), a few random milliseconds after they are seen to start, and some at a random moment.
"""
from __future__ import annotations

import random
import time

import pytest

from faults.fault_helpers import CHINESE, LmkitProcess, kill_9, run_lmkit, temporaries, wait_until
from lmkit.checkpoint.save_load import load_model
from lmkit.models.ngram.arpa import read_arpa

AIMS = ["model", "arpa", "random", "arpa", "model", "arpa"]


def ngram_args(out, arpa) -> list[str]:
    """The same build each trial: --overwrite lets it replace the ARPA file an earlier trial finished."""
    return ["ngram", "--train", str(CHINESE), "--order", "6", "--out", str(out), "--arpa", str(arpa), "--overwrite"]


@pytest.mark.slow
def test_kill_9_never_leaves_half_an_arpa_file_or_model(tmp_path, shared_corpora):
    rng = random.Random(8)
    out, arpa = tmp_path / "ngram", tmp_path / "model.arpa"
    for trial, aim in enumerate(AIMS):
        process = LmkitProcess(ngram_args(out, arpa), shared_corpora, tmp_path)
        folder = {"model": out, "arpa": tmp_path}.get(aim)
        if folder is None:
            time.sleep(rng.uniform(1.0, 4.0))
        else:
            assert wait_until(lambda: temporaries(folder), process), f"trial {trial}: no {aim} write was seen"
            time.sleep(rng.uniform(0.0, 0.003))
        kill_9(process)
        if arpa.exists():
            read_arpa(arpa)  # a complete file, down to \end\
        if (out / "config.json").exists():
            load_model(out)
    code, _, stderr = run_lmkit(ngram_args(out, arpa), shared_corpora, tmp_path)
    assert code == 0, stderr[-2000:]
    assert read_arpa(arpa).order == 6 and load_model(out)[2]["kind"] == "ngram"
    # A killed write leaves its hidden .model.arpa.*.tmp behind (nothing runs after SIGKILL); never the file itself.
