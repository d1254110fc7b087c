"""The README is the front door: its commands must stay true."""
import json

import pytest
from readme_blocks import ROOT, code_blocks, lmkit_lines, parse


def test_ci_runs_the_readme_test_command():
    test_command = next(line for block in code_blocks("bash") for line in block.splitlines() if "pytest" in line)
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command.strip() in ci_lines


def test_the_main_job_command_is_lmkit_train_with_no_options():
    first = code_blocks("bash")[0].strip()
    assert first.endswith("&& lmkit train") and "torch==2.13.0" in first


@pytest.mark.parametrize("line", lmkit_lines())
def test_every_tour_command_parses(line):
    """Each `lmkit ...` example names a real command whose options and arguments parse."""
    parse(line)


def test_python_api_example_runs(monkeypatch, tmp_path, tiny_zh):
    import lmkit.corpus.catalog

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(lmkit.corpus.catalog, "get_corpus", lambda name: tiny_zh)
    code = code_blocks("python")[0].replace("max_steps=200", "max_steps=5")
    printed = []
    weights = tmp_path / "checkpoints" / "tang-gru" / "model.safetensors"
    for _ in range(2):  # pass 75: run again, it replaced the model and appended a second curve to the first
        exec(compile(code, "README.md", "exec"), {"print": lambda *a: printed.append(" ".join(map(str, a)))})
        assert weights.exists()
    assert len(printed) == 2 and printed[0].startswith("春") and len(printed[0]) > 1  # the prompt, then its sample
    assert printed[0] == printed[1]  # seeded: the second run trains the same model
    steps = [json.loads(line)["step"] for line in (weights.parent / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))  # one run's curve
