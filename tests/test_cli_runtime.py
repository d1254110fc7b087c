"""--precision and --threads through the CLI: what is chosen, printed, recorded, refused, and kept on --resume."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import TINY, assert_one_line_error, pretend_cpu_without_bf16

REPO = Path(__file__).resolve().parent.parent
TINY_MODEL = ["--hidden-size", "16", "--emb-size", "8", "--layers", "1", "--batch-size", "4", "--bptt", "16",
              "--eval-every", "2", "--sample-tokens", "0", "--quiet"]
FILES = ["--train", TINY["en"]["train"], "--valid", TINY["en"]["valid"], "--test", TINY["en"]["test"]]
# oneDNN and ATen limited to AVX2: in a child process, this CPU behaves like one without bf16 units
AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def train(cli, out, *extra):
    return cli("train", *FILES, *TINY_MODEL, "--max-steps", "4", "--out", out, *extra)


def records(directory: Path) -> tuple[dict, list[dict]]:
    metrics = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
    return json.loads((directory / "config.json").read_text()), metrics


def test_explicit_bf16_on_a_cpu_without_it_is_refused_before_anything_is_fetched(cli, tmp_path, corpora_root,
                                                                                 cpu_without_bf16):
    result = cli("train", "--corpus", "shakespeare", "--precision", "bf16", "--out", tmp_path / "m")
    assert_one_line_error(result, "--precision bf16: this CPU (test CPU with AVX2 only, torch CPU capability",
                          "has no bf16 units (AVX512_BF16 or AMX)", "use --precision auto or fp32")
    assert not (tmp_path / "m").exists() and not corpora_root.exists()  # no fetch, no tokenizer, no folder


def test_auto_trains_in_fp32_on_a_cpu_without_bf16_and_says_so(cli, tmp_path, cpu_without_bf16):
    result = train(cli, tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert "precision fp32 (auto: this CPU (test CPU with AVX2 only" in result.output
    config, metrics = records(tmp_path / "m")
    assert config["train"]["config"]["precision"] == "auto"  # as asked: a resume elsewhere chooses again
    assert config["runtime"]["precision"] == "fp32" and {r["precision"] for r in metrics} == {"fp32"}


def test_auto_is_the_default_and_follows_this_machine(cli, tmp_path):
    from lmkit.config.machine import bf16_support

    expected = "bf16" if bf16_support(torch.device("cpu")).native else "fp32"
    result = train(cli, tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert f"precision {expected} (auto: this CPU (" in result.output
    assert records(tmp_path / "m")[0]["runtime"]["precision"] == expected


def test_a_run_saved_with_auto_resumes_on_a_cpu_without_bf16_in_fp32(cli, tmp_path, monkeypatch):
    """Saved where the hardware decides (bf16 on a CPU with bf16 units), continued where it has none."""
    assert train(cli, tmp_path / "m").exit_code == 0
    pretend_cpu_without_bf16(monkeypatch)
    result = cli("train", "--resume", tmp_path / "m", "--max-steps", "8", "--sample-tokens", "0", "--quiet")
    assert result.exit_code == 0, result.output
    assert "precision fp32 (auto: this CPU (test CPU with AVX2 only" in result.output
    config, metrics = records(tmp_path / "m")
    assert config["train"]["config"]["precision"] == "auto" and metrics[-1]["precision"] == "fp32"
    assert metrics[-1]["step"] == 8


def saved_with_bf16(directory: Path) -> None:
    """Make the saved run one that asked for --precision bf16 (as if trained on a CPU with bf16 units)."""
    path = directory / "last" / "trainer_state.pt"
    state = torch.load(path, weights_only=True)
    state["train_config"]["precision"] = "bf16"
    torch.save(state, path)


def test_a_run_saved_with_bf16_is_refused_on_a_cpu_without_it_unless_told_otherwise(cli, tmp_path, cpu_without_bf16):
    assert train(cli, tmp_path / "m", "--precision", "fp32").exit_code == 0
    saved_with_bf16(tmp_path / "m")
    before = (tmp_path / "m" / "metrics.jsonl").read_text()
    resume = ["train", "--resume", tmp_path / "m", "--max-steps", "6", "--quiet"]
    assert_one_line_error(cli(*resume), f"--resume {tmp_path / 'm'} (saved with --precision bf16): this CPU (",
                          "has no bf16 units", "use --precision auto or fp32")
    assert (tmp_path / "m" / "metrics.jsonl").read_text() == before
    result = cli(*resume, "--precision", "auto", "--sample-tokens", "0")
    assert result.exit_code == 0, result.output
    assert records(tmp_path / "m")[1][-1]["precision"] == "fp32"


def test_threads_are_applied_printed_and_recorded(cli, tmp_path):
    result = train(cli, tmp_path / "m", "--threads", "1")
    assert result.exit_code == 0, result.output
    assert "; threads 1\n" in result.output
    config, metrics = records(tmp_path / "m")
    assert config["runtime"]["threads"] == 1 and {r["threads"] for r in metrics} == {1}
    evaluation = json.loads(cli("eval", tmp_path / "m", "--threads", "1", "--json").output)
    assert evaluation["threads"] == 1
    assert "(state carried; threads 1)" in cli("eval", tmp_path / "m", "--threads", "1", "--rows", "4").output


def test_the_default_thread_count_comes_from_the_environment(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(os.cpu_count() or 1)
    result = train(cli, tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert "; threads 1\n" in result.output and records(tmp_path / "m")[0]["runtime"]["threads"] == 1


@pytest.mark.parametrize("variable, value, words", [
    ("LMKIT_PROGRESS", "1", "the one value lmkit reads is 'always'"),
    ("LMKIT_PROGRESS", "Always", "the one value lmkit reads is 'always'"),
    ("LMKIT_PROGRESS_DELAY", "-1", "is not a number of seconds, 0 or more"),
    ("LMKIT_PROGRESS_DELAY", "nan", "is not a number of seconds, 0 or more"),
    ("LMKIT_PROGRESS_DELAY", "2s", "is not a number of seconds, 0 or more"),
])
def test_a_progress_variable_lmkit_would_not_read_is_one_line(cli, monkeypatch, variable, value, words):
    """pass 87: LMKIT_PROGRESS=1 drew no bars and said nothing; a bad delay fell back to the default unseen."""
    monkeypatch.setenv(variable, value)
    assert_one_line_error(cli("gradcheck"), f"{variable}={value!r}", words)


@pytest.mark.parametrize("settings", [{"LMKIT_PROGRESS": "", "LMKIT_PROGRESS_DELAY": ""},
                                      {"LMKIT_PROGRESS": "always", "LMKIT_PROGRESS_DELAY": "0.5"},
                                      {"LMKIT_PROGRESS_DELAY": "inf"}])
def test_progress_variables_lmkit_reads_run_the_command(cli, monkeypatch, settings):
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    assert cli("gradcheck").exit_code == 0


@pytest.mark.parametrize("variable, value", [("LMKIT_PROGRESS", "x"), ("LMKIT_PROGRESS_DELAY", "-1")])
@pytest.mark.parametrize("command", ["eval", "gradcheck"])
def test_a_bad_variable_does_not_hide_a_commands_help(cli, monkeypatch, variable, value, command):
    """pass 90: `lmkit eval --help` under a bad LMKIT_PROGRESS printed the error, not the help that names it."""
    monkeypatch.setenv(variable, value)
    shown = cli(command, "--help")
    assert shown.exit_code == 0 and shown.stdout.startswith(f"Usage: lmkit {command}")


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5", "1,x", "2,0", "1,", "99999999999999999999"])
def test_a_bad_omp_num_threads_is_one_line(cli, monkeypatch, value):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert_one_line_error(cli("gradcheck"), "OMP_NUM_THREADS=", "is not a positive whole number", "--threads N")


@pytest.mark.parametrize("value", ["abc", "0", "2,1"])
def test_a_bad_mkl_num_threads_is_one_line_and_spares_help(cli, monkeypatch, value):
    monkeypatch.setenv("MKL_NUM_THREADS", value)
    assert_one_line_error(cli("gradcheck"), "MKL_NUM_THREADS=", "is not a positive whole number", "--threads N")
    assert cli("gradcheck", "--help").exit_code == 0


def test_a_bad_omp_num_threads_is_refused_before_torch_loads_its_openmp_library(tmp_path):
    # in a fresh process: libgomp, loaded with torch, would print its own line about the value first
    env = {**os.environ, "OMP_NUM_THREADS": "abc"}
    done = subprocess.run([sys.executable, "-m", "lmkit", "train", *FILES, "--out", str(tmp_path / "m")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [done.stderr.strip()] and done.stderr.startswith("error: OMP_NUM_THREADS='abc'")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("command", [["train", *FILES], ["ngram", *FILES], ["eval", "m"], ["generate", "m"],
                                     ["fill", "a", "b", "x_y"], ["report", "m"], ["rescore", "m", "n"],
                                     ["gradcheck"]])
@pytest.mark.parametrize("threads, usage, message", [
    ("0", True, "--threads must be at least 1, got 0"),
    ("-1", True, "--threads must be at least 1, got -1"),
    (str((os.cpu_count() or 1) + 1), False, f"--threads {(os.cpu_count() or 1) + 1}: must be from 1 to the "
                                            f"{os.cpu_count()} logical CPUs"),
    ("100000", True, "--threads must be at most 4096, got 100000"),
])
def test_every_computing_command_refuses_bad_threads_at_parse_time(cli, tmp_path, monkeypatch, command, threads,
                                                                   usage, message):
    monkeypatch.chdir(tmp_path)
    result = cli(*command, "--threads", threads)
    assert_one_line_error(result, message, usage=usage)
    assert list(tmp_path.iterdir()) == []


def lmkit_on_avx2(*args, corpora: Path) -> subprocess.CompletedProcess:
    """`python -m lmkit ARGS` in a child whose oneDNN and ATen are limited to AVX2: not a fake, this CPU
    then refuses bf16 LSTM kernels as one without bf16 units does."""
    env = {**os.environ, **AVX2_ONLY, "PYTHONPATH": str(REPO), "LMKIT_CORPORA": str(corpora)}
    return subprocess.run([sys.executable, "-m", "lmkit", *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=300)


X86 = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="ONEDNN_MAX_CPU_ISA is x86's")


@X86
def test_an_avx2_only_cpu_refuses_bf16_in_one_line(tmp_path, corpora_root):
    refused = lmkit_on_avx2("train", *FILES, "--precision", "bf16", "--out", tmp_path / "b", corpora=corpora_root)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert refused.stderr.strip().splitlines() == [refused.stderr.strip()]
    assert refused.stderr.startswith("error: --precision bf16: this CPU (") and not (tmp_path / "b").exists()


@X86
def test_a_run_saved_here_resumes_on_an_avx2_only_cpu_in_fp32(cli, tmp_path, corpora_root):
    """Saved with auto (bf16 where this CPU has bf16 units, its hidden state bf16), continued without them."""
    assert train(cli, tmp_path / "m").exit_code == 0
    resumed = lmkit_on_avx2("train", "--resume", tmp_path / "m", "--max-steps", "8", "--quiet", "--sample-tokens", "0",
                            corpora=corpora_root)
    assert resumed.returncode == 0, resumed.stderr
    assert "precision fp32 (auto: this CPU (" in resumed.stdout
    assert records(tmp_path / "m")[1][-1]["precision"] == "fp32"


@pytest.mark.parametrize("threads,warned", [(1, False), (2, True)])
def test_threads_beyond_what_the_process_may_run_on_are_named(cli, monkeypatch, threads, warned):
    """Note 63: `taskset -c 0 lmkit ... --threads 2` ran two threads on one CPU without a word."""
    import lmkit.config.machine as machine

    monkeypatch.setattr(machine, "affinity_cpus", lambda: 1)
    monkeypatch.setattr(machine, "cgroup_cpu_quota", lambda root=None: None)
    result = cli("gradcheck", "--threads", str(threads))
    assert result.exit_code == 0, result.output
    warning = "warning: --threads 2: this process may run on 1 CPU at once"
    assert (warning in result.stderr) is warned
    assert result.stderr.count("warning:") == int(warned)
