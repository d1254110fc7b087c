"""keep_freed_memory: after it, a training step's big buffers reuse pages instead of faulting fresh ones."""
import platform
import resource
import subprocess
import sys

import pytest

from lmkit.text.encode import encode_lines
from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.text.tokenizers import fit_tokenizer
from lmkit.train.trainer import Trainer
from lmkit.train.config import TrainConfig

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


FAULTS_PROGRAM = """
import resource, sys, torch
from lmkit.train.cpu_memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def faults(times):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(times):
        torch.empty(48 << 18).fill_(1.0)  # 48 MiB of float32, above glibc's largest adaptive mmap threshold
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults(20)  # the heap settles into its size over the first few rounds
print(faults(10))
"""


def page_faults(mode: str) -> int:
    """Minor page faults of ten 48 MiB allocations in a fresh interpreter (this one's heap is fragmented by other tests)."""
    done = subprocess.run([sys.executable, "-c", FAULTS_PROGRAM, mode], capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_freed_blocks_are_reused_without_page_faults():
    pages_touched = 10 * (48 << 20) // resource.getpagesize()
    assert page_faults("default") > pages_touched * 0.9  # one fault per page, every time
    assert page_faults("keep") < pages_touched * 0.1


def test_trainer_asks_for_it_on_cpu_unless_told_not_to(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr("lmkit.train.trainer.keep_freed_memory", lambda: calls.append(1))
    tokenizer = fit_tokenizer("char", ["abcabc", "cab"] * 20)
    stream = encode_lines(tokenizer, ["abcabc", "cab"] * 20)
    for keep in (True, False):
        model = RNNLM(tokenizer.vocab, RNNConfig(emb_size=4, hidden_size=4, layers=1))
        Trainer(model, tokenizer, stream, stream, TrainConfig(batch_size=2, bptt=4, device="cpu", keep_freed_memory=keep),
                tmp_path / str(keep))
    assert TrainConfig().keep_freed_memory
    assert calls == [1]
