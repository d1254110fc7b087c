"""`lmkit ngram` from the command line: a model directory `lmkit eval` reads, ARPA output, one-line errors."""
import json
import re

import numpy as np
import pytest

from conftest import TINY, assert_one_line_error
from lmkit.checkpoint.learning_curve import read_metrics
from lmkit.checkpoint.ownership import MARKER_FILE
from lmkit.checkpoint.save_load import claim_model_directory, load_model
from lmkit.files.temporary_names import temporary_name
from lmkit.models.ngram.arpa import read_arpa

pytestmark = pytest.mark.filterwarnings("ignore:Kneser-Ney discounts")  # tiny fixtures


def tiny_args(*extra):
    paths = TINY["en"]
    return ["ngram", "--train", paths["train"], "--valid", paths["valid"], "--test", paths["test"], *extra]


def test_ngram_builds_a_model_that_eval_scores_the_same(cli, tmp_path):
    out = tmp_path / "word3"
    result = cli(*tiny_args("--tokenizer", "word", "--order", "3", "--out", out, "--arpa", tmp_path / "m.arpa"))
    assert result.exit_code == 0, result.output
    assert "built 3-gram (kn)" in result.stdout and "test: perplexity" in result.stdout
    model, tokenizer, config = load_model(out)
    assert config["kind"] == "ngram" and config["order"] == 3 and config["corpus"]
    printed = float(result.stdout.split("test: perplexity ")[1].split()[0])
    evaluated = cli("eval", out, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["models"][0]["evaluation"]["perplexity"] == pytest.approx(printed, abs=6e-5)  # printed to 4 places
    assert read_metrics(out)[0]["test_ppl"] == pytest.approx(printed, abs=6e-5)
    assert read_arpa(tmp_path / "m.arpa", tokenizer.vocab).tables.sizes() == model.tables.sizes()


def test_on_disk_counting_gives_the_same_model(cli, tmp_path):
    for name, extra in (("memory", []), ("disk", ["--memory", "64KB"])):
        result = cli(*tiny_args("--tokenizer", "char", "--order", "4", "--out", tmp_path / name, *extra))
        assert result.exit_code == 0, result.output
    a, b = (np.load(tmp_path / name / "model.ngram.npz") for name in ("memory", "disk"))
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])


def test_mle_reports_why_perplexity_is_undefined(cli, tmp_path):
    result = cli(*tiny_args("--tokenizer", "word", "--order", "2", "--smoothing", "mle", "--out", tmp_path / "mle"))
    assert result.exit_code == 0, result.output
    said = re.search(r"^valid: line \d+, token \d+ \('.+'\): has probability zero under this model, so its perplexity is "
                     r"infinite \(\d+ such tokens?\); an unsmoothed \(mle\) N-gram cannot score unseen events: use "
                     r"--smoothing kn or add-k$", result.stdout, re.MULTILINE)
    assert said, result.stdout


def test_backward_models_say_so(cli, tmp_path):
    result = cli(*tiny_args("--order", "3", "--direction", "backward", "--out", tmp_path / "back"))
    assert result.exit_code == 0, result.output
    assert load_model(tmp_path / "back")[2]["direction"] == "backward"
    with_arpa = cli(*tiny_args("--tokenizer", "word", "--order", "3", "--direction", "backward", "--out", tmp_path / "b2",
                               "--arpa", tmp_path / "b2.arpa"))
    assert with_arpa.exit_code == 0, with_arpa.output
    assert f"warning: {tmp_path / 'b2.arpa'} holds a backward model" in with_arpa.stderr
    forward = cli(*tiny_args("--tokenizer", "word", "--order", "3", "--out", tmp_path / "f2", "--arpa", tmp_path / "f2.arpa"))
    assert forward.exit_code == 0 and "backward" not in forward.stderr


def test_kn_discount_fallback_is_one_warning_line(cli, tmp_path):
    result = cli(*tiny_args("--tokenizer", "char", "--order", "5", "--out", tmp_path / "c5"))
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings and all("Kneser-Ney discounts" in line for line in warnings)


@pytest.mark.parametrize("extra, fragments, usage", [
    (["--order", "0"], ["--order", "got 0"], True),
    (["--order", "40"], ["--order", "got 40"], True),
    (["--smoothing", "add-k", "--k", "0"], ["--k must be > 0"], True),
    (["--memory", "lots"], ["--memory", "'lots'"], False),
    (["--memory", "1"], ["--memory 1: at least 64KB is needed to count a run of 1,000 tokens"], False),
    (["--memory", "2XB"], ["--memory must be a size such as 512MB, 2GB or 2GiB, got '2XB'"], False),
    (["--memory", "６４MiB"], ["--memory must be a size such as 512MB, 2GB or 2GiB, got '６４MiB'"], False),
    (["--k", "0.5"], ["--k 0.5 does not apply to --smoothing kn"], False),
])
def test_bad_options_are_one_line_errors(cli, tmp_path, extra, fragments, usage):
    assert_one_line_error(cli(*tiny_args(*extra, "--out", tmp_path / "bad")), *fragments, usage=usage)


def test_arpa_for_a_model_with_a_space_token_is_refused_before_building(cli, tmp_path):
    result = cli(*tiny_args("--tokenizer", "char", "--out", tmp_path / "c", "--arpa", tmp_path / "c.arpa"))
    assert_one_line_error(result, "token ' ' contains a space")
    assert not (tmp_path / "c").exists()


def test_an_output_directory_holding_another_model_is_refused(cli, tmp_path):
    (tmp_path / "rnn").mkdir()
    (tmp_path / "rnn" / "config.json").write_text(json.dumps({"format": 1, "lmkit": "0.1", "kind": "lstm"}), encoding="utf-8")
    assert_one_line_error(cli(*tiny_args("--out", tmp_path / "rnn")), "holds a model of kind lstm, not an N-gram")


def test_train_model_ngram_runs_the_same_build(cli, tmp_path):
    paths = TINY["en"]
    result = cli("train", "--model", "ngram", "--train", paths["train"], "--valid", paths["valid"],
                 "--test", paths["test"], "--order", "2", "--smoothing", "add-k", "--out", tmp_path / "t")
    assert result.exit_code == 0, result.output
    assert load_model(tmp_path / "t")[2]["smoothing"] == "add-k"


def test_a_second_writer_is_refused_and_a_killed_builds_leftovers_are_removed(cli, tmp_path):
    from lmkit.train.resume_state import DirectoryLock

    out = tmp_path / "char3"
    with DirectoryLock(out):  # another lmkit process writing there
        busy = cli(*tiny_args("--tokenizer", "char", "--order", "3", "--out", out))
    assert_one_line_error(busy, str(out), "another lmkit process")
    claim_model_directory(out)  # a build killed while saving leaves its claimed directory, with its temporaries
    staging = out / temporary_name("save", "k1ll3dax")  # make_staging_folder's name
    staging.mkdir()
    (staging / "model.ngram.npz").write_bytes(b"half")
    (out / temporary_name("config.json", "k1ll3dbx")).write_text("{")  # atomic_write's
    result = cli(*tiny_args("--tokenizer", "char", "--order", "3", "--out", out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [MARKER_FILE, "config.json", "metrics.jsonl", "model.ngram.npz",
                                                     "tokenizer.json"]


@pytest.mark.parametrize("text, size", [("512MB", 512 << 20), ("2G", 2 << 30), ("64KiB", 64 << 10), ("64kib", 64 << 10),
                                        (".5G", 512 << 20), ("0.5GiB", 512 << 20), ("1PiB", 1 << 50),
                                        (" 3 mb ", 3 << 20), ("1000000", 1000000)])
def test_memory_sizes_count_in_1024s_with_or_without_b_or_ib(text, size):
    """Adversarial passes 72 and 73: 64KiB, .5G and 1P were refused as no size at all."""
    from lmkit.commands.ngram import parse_memory

    assert parse_memory(text) == size
