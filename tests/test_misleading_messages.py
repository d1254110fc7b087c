"""Errors that used to name the wrong cause, through the CLI: each now says what is really wrong."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, assert_one_line_error

from lmkit.errors import LmkitError
from lmkit.evaluate.perplexity import summarize


TOO_FEW_LINES = {
    "3 MB line": (b"a" * 3_000_000 + b"\n", "a single line (3,000,000 characters) cannot be split into "
                  "train/valid/test: lmkit splits between lines, never inside one; break the text into lines, or pass --valid"),
    "no final newline": (b"word " * 100_000, "a single line (500,000 characters) cannot be split"),
    "two long lines": (b"x" * 100_000 + b"\n" + b"y" * 100_000 + b"\n", "too small to split into train/valid/test "
                       "(the valid split would be empty: 2 lines, 200,000 characters"),
}


@pytest.mark.parametrize("case", TOO_FEW_LINES)
def test_text_with_too_few_lines_says_so_instead_of_too_small(cli, tmp_path, case):
    text, words = TOO_FEW_LINES[case]
    path = tmp_path / "long-lines.txt"
    path.write_bytes(text)
    assert_one_line_error(cli("train", "--train", path, "--out", tmp_path / "out"), f"{path}: {words}")
    assert not (tmp_path / "out").exists()


def test_a_nan_score_is_not_blamed_on_unsmoothed_ngrams():
    stream = np.array([5, 6, 3, 7, 3])
    logp = np.array([-1.0, -2.0, np.nan, -1.0, -0.5])
    with pytest.raises(LmkitError, match=r"^line 1, token 3: gets no probability from this model: it computes NaN") as info:
        summarize(stream, logp)
    assert "mle" not in str(info.value)
    with pytest.raises(LmkitError, match="has probability zero under this model.*mle"):
        summarize(stream, np.array([-1.0, -np.inf, -1.0, -1.0, -1.0]))


@pytest.fixture
def jieba_tokenizer(cli, tmp_path):
    """A word tokenizer cut by jieba, cached for tiny-zh; then jieba 'uninstalled' (its import fails)."""
    pytest.importorskip("jieba")
    zh = TINY["zh"]
    corpus = ["--train", zh["train"], "--valid", zh["valid"], "--test", zh["test"]]
    built = cli("vocab", "build", *corpus, *JIEBA)
    assert built.exit_code == 0, built.output
    return corpus


JIEBA = ["--tokenizer", "word", "--segment", "jieba"]
JIEBA_COMMANDS = {
    "vocab show": lambda corpus, out: ["vocab", "show", *corpus, *JIEBA],
    "tokenize": lambda corpus, out: ["tokenize", *corpus, *JIEBA, "我打算"],
    "ngram": lambda corpus, out: ["ngram", *corpus, *JIEBA, "--order", "2", "--out", out],
}


@pytest.mark.parametrize("command", JIEBA_COMMANDS)
def test_a_cached_jieba_tokenizer_without_jieba_says_jieba_is_missing(cli, jieba_tokenizer, monkeypatch, tmp_path, command):
    monkeypatch.setitem(sys.modules, "jieba", None)  # `import jieba` now raises ImportError
    result = cli(*JIEBA_COMMANDS[command](jieba_tokenizer, tmp_path / "out"))
    assert_one_line_error(result, "--segment jieba needs the jieba package, which is not installed: pip install jieba",
                          "pip install -e '.[zh]'")
    assert "damaged" not in result.output


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_full_disk_under_standard_output_is_named_as_such(tmp_path):
    import subprocess

    for args in (["corpus", "list"], ["--help"], ["--version"]):  # in a command, and outside any
        with open("/dev/full", "w") as full:
            done = subprocess.run([sys.executable, "-m", "lmkit", *args], stdout=full, stderr=subprocess.PIPE,
                                  text=True, env={**os.environ, "LMKIT_CORPORA": str(tmp_path)})
        assert done.returncode == 1 and done.stderr == "error: standard output: No space left on device\n", args


def test_output_cut_short_by_a_file_size_limit_is_an_error(tmp_path):
    """Pass 84: where a long line's write stopped part-way (a disk filling, `ulimit -f`), Python's stream went on
    as if all were written: `generate --json > out` left 4,096 bytes of a 41,010-byte line and exited 0."""
    import resource
    import subprocess

    text = tmp_path / "zh.txt"
    text.write_text("我 昨天 上学 迟到 了\n" * 200, encoding="utf-8")
    out = tmp_path / "out.txt"
    limit = 4096

    def file_size_limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    line = "我昨天上学迟到了" * 2000  # one write of about 50 KB
    command = [sys.executable, "-m", "lmkit", "tokenize", "--train", str(text), "--tokenizer", "char", line]
    env = {**os.environ, "LMKIT_CORPORA": str(tmp_path)}
    subprocess.run(command, stdout=subprocess.DEVNULL, env=env, check=True)  # the split cached, under no limit
    with open(out, "w") as stdout:
        done = subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, text=True, preexec_fn=file_size_limit,
                              env=env)
    assert out.stat().st_size == limit
    assert done.returncode == 1 and done.stderr == "error: standard output: File too large\n"


def test_a_closed_standard_output_is_an_error_not_lost_output(tmp_path):
    """`lmkit ... >&-`: Python starts with sys.stdout None, and every print vanished with exit code 0."""
    import subprocess

    text = tmp_path / "zh.txt"
    text.write_text("我 昨天 上学 迟到 了\n" * 200, encoding="utf-8")
    arpa = tmp_path / "m.arpa"  # pass 75: a command that writes its file before it prints wrote it, then failed
    for args in (["corpus", "list"], ["--help"], ["tokenize", "--train", str(text), "--tokenizer", "char", "我 昨天"],
                 ["ngram", "--train", str(text), "--order", "2", "--out", str(tmp_path / "m"), "--arpa", str(arpa)]):
        done = subprocess.run([sys.executable, "-m", "lmkit", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "LMKIT_CORPORA": str(tmp_path)},
                              preexec_fn=lambda: os.close(1))
        assert done.returncode == 1, args
        assert done.stderr == "error: standard output: closed (the shell's >&-), so nothing could be printed\n", args
    assert not arpa.exists() and not (tmp_path / "m").exists()


def test_a_closed_standard_error_loses_the_progress_not_the_run(tmp_path):
    """pass 75: under `2>&-` train, eval and fill asked sys.stderr (None) for its terminal and ended with exit code 1
    and no word; the run now trains and saves, its notes and bars going nowhere."""
    import subprocess

    text = tmp_path / "zh.txt"
    text.write_text("我 昨天 上学 迟到 了\n" * 200, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "lmkit", "train", "--train", str(text), "--hidden-size", "8",
                           "--emb-size", "4", "--max-steps", "2", "--sample-tokens", "0", "--out", str(tmp_path / "m")],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          env={**os.environ, "LMKIT_CORPORA": str(tmp_path / "corpora"), "LMKIT_PROGRESS": "always"},
                          preexec_fn=lambda: os.close(2))
    assert done.returncode == 0 and "stopped: max_steps after 2 steps" in done.stdout
    assert (tmp_path / "m" / "model.safetensors").is_file()


def test_lmkits_own_python_warnings_are_one_warning_line_and_a_librarys_keep_their_form(capsys):
    """`report --suite` builds N-grams deep inside the report: their Kneser-Ney warning printed Python's
    source path and code line; it is `warning: ...` as `lmkit ngram` prints it."""
    from lmkit.cli import PACKAGE, show_lmkit_warnings

    shown_before = []
    show_lmkit_warnings("Kneser-Ney discounts fell back", UserWarning, str(PACKAGE / "models/ngram/smoothing.py"), 82,
                        library_show=lambda *args: shown_before.append(args))
    assert capsys.readouterr().err == "warning: Kneser-Ney discounts fell back\n" and not shown_before
    show_lmkit_warnings("deprecated", DeprecationWarning, "/usr/lib/python3/site-packages/torch/x.py", 1,
                        library_show=lambda *args: shown_before.append(args))
    assert capsys.readouterr().err == "" and shown_before[0][0] == "deprecated"


@pytest.mark.parametrize("raised, said", [
    (EOFError(), "EOFError"),  # torch on an empty file: nothing to quote
    (RuntimeError("\n  \nfirst\nsecond"), "first"),
    (RuntimeError('Expected hasRecord("version") to be true, but got false.  (Could this error message be improved?  '
                  "If so, please report an enhancement request to PyTorch.)"), 'Expected hasRecord("version") to be true, but got false.'),
    (RuntimeError("PytorchStreamReader failed locating file data/3: file not found. This is an internal miniz error. "
                  "If you are seeing this error, there is a high likelihood that your checkpoint file is corrupted."),
     "PytorchStreamReader failed locating file data/3: file not found."),
])
def test_another_librarys_exception_is_quoted_in_one_short_line(raised, said):
    from lmkit.errors import first_line

    assert first_line(raised) == said
