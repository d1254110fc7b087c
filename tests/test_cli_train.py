"""`lmkit train` end to end on the tiny fixtures, in-process through click."""
import json

import pytest
import torch

from conftest import TINY, assert_one_line_error, requires_bf16

TINY_MODEL = ["--hidden-size", "16", "--emb-size", "8", "--layers", "1", "--batch-size", "4", "--bptt", "16",
              "--eval-every", "10", "--quiet"]


def train(cli, out, *extra, lang="en"):
    files = ["--train", TINY[lang]["train"], "--valid", TINY[lang]["valid"], "--test", TINY[lang]["test"]]
    return cli("train", *files, *TINY_MODEL, "--out", out, *extra)


def state(directory):
    return torch.load(directory / "last" / "trainer_state.pt", weights_only=True)


def test_train_writes_a_model_directory_and_prints_the_summary(cli, tmp_path):
    result = train(cli, tmp_path / "m", "--max-steps", "30", "--sample-tokens", "40", lang="zh")
    assert result.exit_code == 0, result.output
    assert "valid  ppl" in result.output and "bits/char" in result.output and "sample:" in result.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["kind"] == "lstm" and config["train"]["parameters"] > 0 and "valid_ppl" in config["valid"]
    curve = [json.loads(line)["valid_ppl"] for line in (tmp_path / "m" / "metrics.jsonl").read_text().splitlines()]
    assert len(curve) >= 3 and curve[-1] < curve[0]
    # --softmax auto chooses by the vocabulary's size, so the training line says what it chose
    assert f"training lstm ({config['train']['parameters']:,} parameters, {config['model']['softmax']} softmax) on" in result.output


@requires_bf16()
def test_bf16_precision_trains_and_saves_an_fp32_model_from_the_cli(cli, tmp_path):
    result = train(cli, tmp_path / "m", "--max-steps", "20", "--precision", "bf16", "--sample-tokens", "20", lang="zh")
    assert result.exit_code == 0, result.output
    assert "precision bf16;" in result.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["train"]["config"]["precision"] == "bf16" and config["runtime"]["precision"] == "bf16"
    from lmkit.checkpoint.save_load import load_model

    model, _, _ = load_model(tmp_path / "m")
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # autocast: the weights stay fp32


def test_resume_keeps_the_saved_settings(cli, tmp_path):
    assert train(cli, tmp_path / "m", "--max-steps", "6", "--batch-size", "2", "--sample-tokens", "0").exit_code == 0
    first = state(tmp_path / "m")["progress"]["tokens"]
    result = cli("train", "--resume", tmp_path / "m", "--max-steps", "12", "--sample-tokens", "0", "--quiet")
    assert result.exit_code == 0, result.output
    progress = state(tmp_path / "m")["progress"]
    assert progress["step"] == 12 and progress["tokens"] == 2 * first  # same batch and bptt as the first run


def test_a_run_stopped_on_the_last_window_of_an_epoch_resumes(cli, tmp_path):
    """The last window of an epoch is shorter than --bptt: the saved position is the epoch's end, not past it."""
    one = train(cli, tmp_path / "one", "--epochs", "1", "--sample-tokens", "0")
    assert one.exit_code == 0 and "stopped: done, 1 epoch (--epochs) after " in one.stdout  # which limit ended it
    windows = state(tmp_path / "one")["progress"]["step"]  # the windows of one epoch
    assert train(cli, tmp_path / "m", "--max-steps", str(windows), "--sample-tokens", "0").exit_code == 0
    result = cli("train", "--resume", tmp_path / "m", "--max-steps", str(windows + 3), "--sample-tokens", "0")
    assert result.exit_code == 0, result.output
    assert state(tmp_path / "m")["progress"]["step"] == windows + 3


def test_a_state_saved_with_the_last_window_past_the_epoch_end_still_resumes(cli, tmp_path):
    """Before the position was capped, the last window advanced a whole --bptt (16) past the epoch's end."""
    assert train(cli, tmp_path / "one", "--epochs", "1", "--sample-tokens", "0").exit_code == 0
    windows = state(tmp_path / "one")["progress"]["step"]
    assert train(cli, tmp_path / "m", "--max-steps", str(windows), "--sample-tokens", "0").exit_code == 0
    path = tmp_path / "m" / "last" / "trainer_state.pt"
    saved = torch.load(path, weights_only=True)
    saved["progress"]["column"] += 5  # as the old trainer saved it
    torch.save(saved, path)
    result = cli("train", "--resume", tmp_path / "m", "--max-steps", str(windows + 3), "--sample-tokens", "0")
    assert result.exit_code == 0, result.output


def test_an_existing_model_is_not_overwritten(cli, tmp_path):
    assert train(cli, tmp_path / "m", "--max-steps", "2", "--sample-tokens", "0").exit_code == 0
    before = (tmp_path / "m" / "model.safetensors").read_bytes()
    assert_one_line_error(train(cli, tmp_path / "m", "--max-steps", "2"), "already holds a model", "--resume")
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == before


def files_in(folder) -> dict:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_run_stopped_before_its_first_save_is_not_replaced(cli, tmp_path):
    """Adversarial pass 25: a run stopped before its first validation leaves its marker and last/ but no model, and
    a new `train` into the same --out replaced it without --overwrite (an `ngram` saved beside it, and the run's
    --resume then mixed both models' files and learning curves)."""
    import shutil

    from lmkit.checkpoint.ownership import MARKER_FILE

    out = tmp_path / "m"
    assert train(cli, out, "--max-steps", "2", "--sample-tokens", "0").exit_code == 0
    for entry in out.iterdir():  # as SIGTERM before the first validation leaves it
        if entry.name not in (MARKER_FILE, "last"):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    before = files_in(out)
    assert_one_line_error(train(cli, out, "--max-steps", "2"), f"--out {out} holds a stopped run (last/",
                          f"pass --resume {out} to continue it, --overwrite to replace it")
    paths = TINY["en"]
    assert_one_line_error(cli("ngram", "--train", paths["train"], "--valid", paths["valid"], "--test", paths["test"],
                              "--order", "2", "--out", out), f"--out {out} holds a training run's resumable "
                          "checkpoint (last/), not an N-gram")
    assert files_in(out) == before
    resumed = cli("train", "--resume", out, "--max-steps", "3", "--sample-tokens", "0", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert state(out)["progress"]["step"] == 3
    assert train(cli, out, "--max-steps", "1", "--sample-tokens", "0", "--overwrite").exit_code == 0
    assert state(out)["progress"]["step"] == 1


def test_a_users_folder_holding_a_link_named_last_is_not_taken_for_a_run(cli, tmp_path):
    """Adversarial pass 26: a link `last` to another run's checkpoint made the user's folder look like lmkit's, and
    a failed --overwrite left lmkit's marker in it (after which lmkit trained into it, beside the user's files)."""
    from lmkit.checkpoint.ownership import is_model_directory

    run = tmp_path / "run"
    assert train(cli, run, "--max-steps", "2", "--sample-tokens", "0").exit_code == 0
    users = tmp_path / "mine"
    users.mkdir()
    (users / "last").symlink_to(run / "last")
    assert not is_model_directory(users)
    for extra in ([], ["--overwrite"]):
        assert_one_line_error(train(cli, users, "--max-steps", "2", *extra), f"--out {users}",
                              "is not an lmkit model directory")
        assert sorted(p.name for p in users.iterdir()) == ["last"]


def test_a_failed_first_save_does_not_promise_an_earlier_checkpoint(cli, tmp_path, monkeypatch):
    """Adversarial pass 26: a disk-full first save said 'the previous checkpoint is intact' where there was none."""
    import lmkit.train.resume_state as resume_state

    def full(path, state):
        raise OSError(27, "File too large")

    out = tmp_path / "m"
    monkeypatch.setattr(resume_state, "write_trainer_state", full)
    result = train(cli, out, "--max-steps", "2", "--sample-tokens", "0")
    assert_one_line_error(result, f"could not save the resumable checkpoint {out / 'last'}: File too large",
                          "there is no earlier checkpoint to resume from")
    assert "intact" not in result.stderr
    assert_one_line_error(train(cli, out, "--max-steps", "2"), f"--out {out} already holds a model; --overwrite")
    monkeypatch.undo()
    assert train(cli, out, "--max-steps", "2", "--sample-tokens", "0", "--overwrite").exit_code == 0
    monkeypatch.setattr(resume_state, "write_trainer_state", full)
    resumed = cli("train", "--resume", out, "--max-steps", "4", "--sample-tokens", "0", "--quiet")
    assert_one_line_error(resumed, "File too large", "the previous checkpoint is intact")
    assert state(out)["progress"]["step"] == 2


def test_a_failed_overwrite_says_the_old_run_can_no_longer_be_resumed(cli, tmp_path, monkeypatch):
    """Adversarial pass 27: a disk-full save of the best model in an --overwrite run said only that the model saved
    before was intact, while --overwrite had already cleared that run's checkpoint and learning curve."""
    import lmkit.checkpoint.save_load as checkpoint

    out = tmp_path / "m"
    assert train(cli, out, "--max-steps", "2", "--sample-tokens", "0").exit_code == 0
    weights = (out / "model.safetensors").read_bytes()

    def full(*args, **kwargs):
        raise checkpoint.ModelWriteError(out, "File too large")

    monkeypatch.setattr("lmkit.train.trainer.save_model", full)
    result = train(cli, out, "--max-steps", "2", "--sample-tokens", "0", "--overwrite")
    assert_one_line_error(result, f"could not save the model to {out}: File too large",
                          "the model saved there before, if any, is intact; there is no earlier checkpoint to resume "
                          "from")
    assert (out / "model.safetensors").read_bytes() == weights


def test_an_out_below_a_file_is_refused_before_training_as_an_out_to_choose_again(cli, tmp_path):
    """Adversarial pass 70: `--out pf/sub`, pf a file, said "could not save the model to pf/sub: ...; the model
    saved there before, if any, is intact", as if a run had trained and failed at its save."""
    (tmp_path / "pf").write_text("the user's file\n")
    result = train(cli, tmp_path / "pf" / "sub", "--max-steps", "2")
    assert_one_line_error(result, f"--out {tmp_path / 'pf' / 'sub'}: {tmp_path / 'pf'} is a file, not a folder; "
                          "choose another --out")
    assert "saved there before" not in result.output and (tmp_path / "pf").read_text() == "the user's file\n"


def test_an_out_folder_that_cannot_be_made_lmkits_is_refused_as_an_out_to_choose_again(cli, tmp_path, monkeypatch):
    """pass 77: an existing folder nothing may be written in (chattr +i) said "could not save the model to imm:
    Operation not permitted; the model saved there before, if any, is intact" before anything was trained."""
    import errno

    from lmkit.checkpoint.ownership import MODEL_MARKER

    def refused(directory):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(type(MODEL_MARKER), "write", lambda self, directory: refused(directory))
    (tmp_path / "imm").mkdir()
    result = train(cli, tmp_path / "imm", "--max-steps", "2")
    assert_one_line_error(result, f"--out {tmp_path / 'imm'}: Operation not permitted; choose another --out")
    assert "saved there before" not in result.output and list((tmp_path / "imm").iterdir()) == []


@pytest.mark.parametrize("args,fragments,usage", [
    (["--tie-weights", "--emb-size", "8", "--hidden-size", "16"], ["--tie-weights needs --emb-size equal to --hidden-size"], False),
    (["--bptt", "0"], ["--bptt must be at least 1"], True),
    (["--batch-size", "5000"], ["too few for --batch-size 5000"], False),
    (["--model", "scratch-rnn", "--layers", "2"], ["--layers must be at most 1", "one layer"], False),
    (["--model", "lstm", "--nonlinearity", "relu"], ["--nonlinearity does not apply to --model lstm"], False),
    (["--min-freq", "100000"], ["--min-freq 100000: no token of the training text occurs that often"], False),
])
def test_bad_training_options(cli, tmp_path, args, fragments, usage):
    assert_one_line_error(train(cli, tmp_path / "m", "--max-steps", "2", *args), *fragments, usage=usage)
    assert not (tmp_path / "m" / "config.json").exists()


def test_unknown_cell_is_a_usage_error(cli, tmp_path):
    result = train(cli, tmp_path / "m", "--model", "transformer")
    assert result.exit_code == 2 and "'transformer' is not one of" in result.output


def test_resume_refuses_a_directory_without_state_or_with_another_tokenizer(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli("train", "--resume", tmp_path / "empty"), "no resumable state")
    assert train(cli, tmp_path / "m", "--max-steps", "2", "--sample-tokens", "0").exit_code == 0
    assert_one_line_error(cli("train", "--resume", tmp_path / "m", "--tokenizer", "word"),
                          "trained with the 'char' tokenizer")


def test_resume_of_a_file_or_an_ngram_says_what_it_is_not_that_files_are_missing(cli, tmp_path):
    """pass 75: both said "no resumable state (last/trainer_state.pt and last/config.json are missing)"."""
    files = ["--train", TINY["en"]["train"], "--valid", TINY["en"]["valid"], "--test", TINY["en"]["test"]]
    built = cli("ngram", *files, "--order", "2", "--out", tmp_path / "ng")
    assert built.exit_code == 0, built.output
    (tmp_path / "ng.arpa").write_text("\\data\\\nngram 1=1\n\n\\1-grams:\n-1.0\t<unk>\n\n\\end\\\n")
    assert_one_line_error(cli("train", "--resume", tmp_path / "ng.arpa"), "is a file, not a model directory")
    assert_one_line_error(cli("train", "--resume", tmp_path / "ng"), "holds an N-gram model or an interpolation, "
                          "which is counted or mixed, not trained step by step, so there is no run to continue")


def test_scratch_rnn_and_backward_direction_train_from_the_cli(cli, tmp_path):
    result = train(cli, tmp_path / "s", "--model", "scratch-rnn", "--direction", "backward",
                   "--max-steps", "20", "--sample-tokens", "20")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "s" / "config.json").read_text())
    assert config["kind"] == "scratch-rnn" and config["direction"] == "backward"


def test_train_model_ngram_builds_the_same_model_as_lmkit_ngram(cli, tmp_path):
    files = ["--train", TINY["en"]["train"], "--valid", TINY["en"]["valid"], "--test", TINY["en"]["test"]]
    assert cli("train", "--model", "ngram", "--order", "3", *files, "--out", tmp_path / "a").exit_code == 0
    assert cli("ngram", "--order", "3", *files, "--out", tmp_path / "b").exit_code == 0
    a, b = (json.loads((tmp_path / d / "config.json").read_text()) for d in "ab")
    assert a["kind"] == b["kind"] == "ngram" and a["valid"]["valid_ppl"] == b["valid"]["valid_ppl"]


def saved_meanwhile(monkeypatch, module, name, source, out):
    """Patch `module.name` (a step between the folder's first check and its lock) to copy the model `source` into
    `out` first, as another lmkit saving there while this one prepared would."""
    import shutil

    real = getattr(module, name)

    def copy_then_call(*args, **kwargs):
        if not (out / "config.json").exists():
            shutil.copytree(source, out, dirs_exist_ok=True)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, copy_then_call)


def test_a_model_saved_into_out_while_train_prepares_is_not_overwritten(cli, tmp_path, monkeypatch):
    import lmkit.commands.train_run as train_run

    assert train(cli, tmp_path / "other", "--max-steps", "2", "--sample-tokens", "0").exit_code == 0
    saved_meanwhile(monkeypatch, train_run, "encoded_split", tmp_path / "other", tmp_path / "m")
    assert_one_line_error(train(cli, tmp_path / "m", "--max-steps", "2"), "already holds a model", "--resume")
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == (tmp_path / "other" / "model.safetensors").read_bytes()
    assert (tmp_path / "m" / "metrics.jsonl").read_bytes() == (tmp_path / "other" / "metrics.jsonl").read_bytes()


def test_a_model_saved_into_out_while_ngram_prepares_is_not_replaced(cli, tmp_path, monkeypatch):
    import lmkit.commands.ngram as ngram

    assert train(cli, tmp_path / "other", "--max-steps", "2", "--sample-tokens", "0").exit_code == 0
    saved_meanwhile(monkeypatch, ngram, "check_output", tmp_path / "other", tmp_path / "m")
    files = ["--train", TINY["en"]["train"], "--valid", TINY["en"]["valid"], "--test", TINY["en"]["test"]]
    assert_one_line_error(cli("ngram", *files, "--order", "2", "--out", tmp_path / "m"), "holds a model of kind lstm")
    assert not (tmp_path / "m" / "model.ngram.npz").exists()
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == (tmp_path / "other" / "model.safetensors").read_bytes()



def test_an_early_stop_names_the_patience_that_ran_out(cli, tmp_path):
    """Pass 81: 'stopped: early_stop after 416 steps' did not say that --patience ended it, as 'done' names
    --epochs. An LR of 1e-30 leaves every validation where the first was: no new best."""
    result = train(cli, tmp_path / "m", "--schedule", "plateau", "--patience", "1", "--eval-every", "1", "--lr",
                   "1e-30", "--precision", "fp32", "--sample-tokens", "0")
    assert result.exit_code == 0, result.output
    assert "stopped: early_stop (--patience 1 ran out: 1 counted evaluation without a new best) after 2 steps" \
           in result.stdout


def test_a_validation_on_an_epochs_last_window_counts_that_epoch_done(cli, tmp_path):
    """Pass 81: metrics.jsonl said "epoch": 1 after two whole epochs when an --eval-every validation fell on the
    last window (the epoch's end then validates no more). "epoch" counts the epochs read whole."""
    one = train(cli, tmp_path / "one", "--epochs", "1", "--sample-tokens", "0", "--quiet")
    assert one.exit_code == 0, one.output
    windows = state(tmp_path / "one")["progress"]["step"]
    two = train(cli, tmp_path / "two", "--epochs", "2", "--eval-every", str(windows), "--sample-tokens", "0", "--quiet")
    assert two.exit_code == 0, two.output
    records = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["epoch"]) for r in records] == [(windows, 1), (2 * windows, 2)]
