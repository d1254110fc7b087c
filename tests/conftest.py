"""Shared test fixtures: an empty corpora root per test, the text fixtures in corpora/fixtures/, and a CLI runner.

    def test_x(tiny_en, cli):            # tiny_en: a Corpus built from corpora/fixtures/tiny-en
        result = cli("vocab", "build", "--train", str(FIXTURES / "english.txt"))
        assert result.exit_code == 0, result.output
"""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

FIXTURES = Path(__file__).resolve().parent.parent / "corpora" / "fixtures"
ENGLISH = FIXTURES / "english.txt"      # ~450 lines, paragraphs split by blank lines
CHINESE = FIXTURES / "chinese.txt"      # ~470 lines of simplified Chinese, same shape
TINY = {lang: {s: FIXTURES / f"tiny-{lang}" / f"{s}.txt" for s in ("train", "valid", "test")} for lang in ("en", "zh")}


@pytest.fixture
def corpora_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty corpora root for this test ($LMKIT_CORPORA points at it)."""
    root = tmp_path / "corpora"
    monkeypatch.setenv("LMKIT_CORPORA", str(root))
    return root


def _tiny(lang: str, root: Path):
    from lmkit.corpus.catalog import get_corpus

    paths = TINY[lang]
    return get_corpus(train=paths["train"], valid=paths["valid"], test=paths["test"], root=root)


@pytest.fixture
def tiny_en(corpora_root: Path):
    """Corpus of corpora/fixtures/tiny-en (60/12/12 English lines, given splits)."""
    return _tiny("en", corpora_root)


@pytest.fixture
def tiny_zh(corpora_root: Path):
    """Corpus of corpora/fixtures/tiny-zh (60/12/12 Chinese lines, given splits)."""
    return _tiny("zh", corpora_root)


def run_cli(*args, input: str | None = None) -> Result:
    """The click Result of `lmkit ARGS...`, run in-process in the environment as it is."""
    from lmkit.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], input=input, prog_name="lmkit")


@pytest.fixture
def cli(corpora_root: Path):
    """cli("corpus", "list", input=None) -> click Result of `lmkit ...`, run in-process."""
    return run_cli


TINY_TRAIN = ["--hidden-size", "16", "--emb-size", "8", "--layers", "1", "--batch-size", "4", "--bptt", "16",
              "--max-steps", "2", "--eval-every", "2", "--sample-tokens", "0", "--quiet"]


def train_tiny(folder: Path, name: str, *extra: str) -> Path:
    """folder/name: a resumable char model (LSTM unless `extra` says otherwise) trained for 2 steps on english.txt,
    its corpus cached under folder/corpora; for module-scoped fixtures, so it is made once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMKIT_CORPORA", str(folder / "corpora"))
        result = run_cli("train", "--train", ENGLISH, *TINY_TRAIN, *extra, "--out", folder / name)
    assert result.exit_code == 0, result.output
    return folder / name


def train_zh(out: Path, *options) -> Result:
    """`lmkit train` on the tiny Chinese fixture's three splits with `options` into `out`, its corpus cached beside it
    (out.parent/corpora); asserts that it succeeded. For module-scoped fixtures."""
    zh = TINY["zh"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMKIT_CORPORA", str(out.parent / "corpora"))
        result = run_cli("train", "--train", zh["train"], "--valid", zh["valid"], "--test", zh["test"], *options,
                         "--out", out)
    assert result.exit_code == 0, result.output
    return result


def assert_one_line_error(result: Result, *fragments: str, usage: bool = False) -> None:
    """A user error: exit code 1 (2 for a usage error: a bad option value, refused while the command line is
    parsed), stderr ending in one `error: ...` line naming every fragment, no traceback.

    Progress lines ("fetching ...") may come before the error line.
    """
    assert result.exit_code == (2 if usage else 1), (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error")]
    assert errors == lines[-1:] and lines[-1].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])


NO_BF16_CPU = {"cpu_name": "test CPU with AVX2 only", "avx2": True}  # what torch.cpu.get_capabilities says on one


@pytest.fixture
def cpu_without_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """This test runs as on a CPU without bf16 units (AVX2 only), whatever the machine has."""
    pretend_cpu_without_bf16(monkeypatch)


def pretend_cpu_without_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on torch's answers about the CPU are those of one with AVX2 and no bf16 units."""
    import torch

    import lmkit.config.machine

    monkeypatch.setattr(lmkit.config.machine, "cpu_flags", lambda: NO_BF16_CPU)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")


def requires_bf16():
    """Skip a test of bf16 training where this CPU has no bf16 units, saying what it has instead."""
    import torch

    from lmkit.config.machine import bf16_support

    support = bf16_support(torch.device("cpu"))
    return pytest.mark.skipif(not support.native, reason=f"bf16 needs bf16 units: {support.reason}")


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """Commands run in-process set torch's thread count (--threads); put it back for the next test."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
