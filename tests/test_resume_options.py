"""`lmkit train --resume DIR` with options that contradict the saved model: refused, naming the saved value.

Without the check such options were ignored without a word (--model gru on a saved LSTM), or trained the
saved weights on another text (--train); the same options repeated as first given still resume.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from conftest import CHINESE, ENGLISH, TINY_TRAIN, assert_one_line_error, train_tiny

RESUME = ["--max-steps", "3", "--quiet", "--sample-tokens", "0"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("resume"), "lstm")


@pytest.fixture
def model(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("LMKIT_CORPORA", str(trained.parent / "corpora"))
    return Path(shutil.copytree(trained, tmp_path / "lstm"))


def files(directory: Path) -> dict:
    return {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()}


CONTRADICTIONS = {
    "cell": (["--model", "gru"], "the saved model has --model lstm, not gru; leave --model out"),
    "ngram": (["--model", "ngram"], "the saved model has --model lstm, not ngram"),
    "hidden": (["--hidden-size", "32"], "the saved model has --hidden-size 16, not 32"),
    "emb": (["--emb-size", "4"], "the saved model has --emb-size 8, not 4"),
    "layers": (["--layers", "2"], "the saved model has --layers 1, not 2"),
    "direction": (["--direction", "backward"], "the saved model has --direction forward, not backward"),
    "tied": (["--tie-weights"], "the saved model has --no-tie-weights, not --tie-weights; leave --tie-weights out"),
    "dropout": (["--dropout", "0.5"], "the saved model has --dropout 0.0, not 0.5"),
    "softmax": (["--softmax", "adaptive"], "the saved model has --softmax full, not adaptive"),
    "order": (["--order", "3"], "--order does not apply to the saved lstm model"),
    "nonlinearity": (["--nonlinearity", "relu"], "--nonlinearity does not apply to the saved lstm model"),
    "train": (["--train", CHINESE], "the saved model was trained on corpus 'english-"),
    "corpus": (["--corpus", "tang300"], "trained on corpus 'english-"),
    "max-size": (["--max-size", "10"], "the saved tokenizer, char, has 45 tokens, and --max-size with --min-freq and "
                                       "--max-size as given or at their defaults builds 10"),
    "out": (["--out", "elsewhere"], "continues the run in"),
    "overwrite": (["--overwrite"], "--overwrite starts a new run and --resume continues one"),
}


@pytest.mark.parametrize("case", CONTRADICTIONS)
def test_an_option_contradicting_the_saved_model_is_refused(cli, model, case):
    args, words = CONTRADICTIONS[case]
    before = files(model)
    assert_one_line_error(cli("train", "--resume", model, *args, *RESUME), f"--resume {model}" if case != "overwrite"
                          else "--overwrite", words)
    assert files(model) == before


def test_the_options_first_given_may_be_repeated_with_resume(cli, model):
    result = cli("train", "--resume", model, "--train", ENGLISH, *TINY_TRAIN[:8], "--model", "lstm",
                 "--direction", "forward", "--min-freq", "1", *RESUME)
    assert result.exit_code == 0, result.output


def test_a_tokenizer_option_the_saved_tokenizer_does_not_take_is_refused(cli, model):
    before = files(model)  # --no-split-punct was once left out of the options compared, and silently ignored
    assert_one_line_error(cli("train", "--resume", model, "--no-split-punct", *RESUME),
                          "--no-split-punct does not apply to --tokenizer char")
    assert files(model) == before


@pytest.mark.parametrize("args, words", [
    (["--max-steps", "1"], "--max-steps 1 counts the whole run, and it is at step 2; give more to train on"),
    (["--max-time", "1e-6"], "--max-time 1e-06 counts the whole run, and it has trained"),
    (["--seed", "3", "--max-steps", "3"], "continues the saved random state: --seed would be ignored; drop it"),
])
def test_a_budget_already_used_up_or_a_seed_is_refused_on_resume(cli, model, args, words):
    before = files(model)
    assert_one_line_error(cli("train", "--resume", model, *args, "--quiet", "--sample-tokens", "0"),
                          f"--resume {model}", words)
    assert files(model) == before


def test_resuming_a_run_at_its_saved_budget_says_nothing_is_left_to_train(cli, model):
    result = cli("train", "--resume", model, "--quiet", "--sample-tokens", "0")  # saved: --max-steps 2, at step 2
    assert result.exit_code == 0, result.output
    assert (f"warning: --resume {model}: nothing left to train (it is at step 2, its --max-steps 2); "
            "give a larger --max-steps to train on") in result.stderr


def test_the_runs_own_seed_may_be_repeated_on_resume(cli, model):
    result = cli("train", "--resume", model, "--seed", "1234", "--max-steps", "3", "--quiet", "--sample-tokens", "0")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("args, decay", [([], 0.1), (["--weight-decay", "0.3"], 0.3), (["--weight-decay", "0"], 0.0)])
def test_weight_decay_given_on_resume_is_the_one_trained_with_and_recorded(cli, model, args, decay):
    """--weight-decay again on --resume was recorded in config.json while the optimizer kept the saved run's."""
    result = cli("train", "--resume", model, *args, *RESUME)
    assert result.exit_code == 0, result.output
    assert json.loads((model / "config.json").read_text())["train"]["config"]["weight_decay"] == decay
    state = torch.load(model / "last" / "trainer_state.pt", weights_only=True)
    assert state["train_config"]["weight_decay"] == decay
    assert {group["weight_decay"] for group in state["optimizer"]["param_groups"]} == {decay}


def without_setting(path: Path, name: str, edit: str) -> dict:
    """The trainer state at `path` with train_config's `name` made null or removed (as by a hand edit)."""
    state = torch.load(path, weights_only=True)
    if edit == "null":
        state["train_config"][name] = None
    else:
        del state["train_config"][name]
    return state


@pytest.mark.parametrize("edit", ["null", "missing"])
def test_a_saved_config_without_its_decay_resumes_with_the_decay_its_optimizer_used(cli, model, edit):
    """Filled in by today's character default (0.1) instead, without a word, before the fix."""
    path = model / "last" / "trainer_state.pt"
    state = without_setting(path, "weight_decay", edit)
    for group in state["optimizer"]["param_groups"]:
        group["weight_decay"] = 0.05
    torch.save(state, path)
    result = cli("train", "--resume", model, *RESUME)
    assert result.exit_code == 0, result.output
    state = torch.load(path, weights_only=True)
    assert state["train_config"]["weight_decay"] == 0.05
    assert {group["weight_decay"] for group in state["optimizer"]["param_groups"]} == {0.05}
    assert json.loads((model / "config.json").read_text())["train"]["config"]["weight_decay"] == 0.05


@pytest.mark.parametrize("edit", ["null", "missing"])
def test_a_saved_config_without_its_lr_asks_for_it(cli, model, edit):
    """Pass 24: resumed at today's default LR without a word; the saved state holds only the LR of the moment."""
    path = model / "last" / "trainer_state.pt"
    torch.save(without_setting(path, "lr", edit), path)
    before = files(model)
    assert_one_line_error(cli("train", "--resume", model, *RESUME), f"--resume {model}",
                          "learning rate is missing", "give the --lr it was trained with")
    assert files(model) == before
    result = cli("train", "--resume", model, "--lr", "0.004", *RESUME)
    assert result.exit_code == 0, result.output
    assert json.loads((model / "config.json").read_text())["train"]["config"]["lr"] == 0.004


def saved_with_lr_and_decay(model: Path, lr: float, decay: float) -> None:
    """A run saved before lr x weight decay had to stay below 1 (the product was then accepted)."""
    path = model / "last" / "trainer_state.pt"
    state = torch.load(path, weights_only=True)
    state["train_config"].update(lr=lr, weight_decay=decay)
    for group in state["optimizer"]["param_groups"]:
        group["weight_decay"] = decay
    torch.save(state, path)
    for config_path in (model / "config.json", model / "last" / "config.json"):
        config = json.loads(config_path.read_text())
        config["train"]["config"].update(lr=lr, weight_decay=decay)
        config_path.write_text(json.dumps(config))


@pytest.mark.parametrize("args", [["--weight-decay", "0.1"], ["--lr", "0.001"]])
def test_an_old_run_whose_lr_times_decay_is_1_resumes_with_a_smaller_one_given(cli, model, args):
    """Pass 24: the saved pair was checked before the options given again replaced it, so the state was called
    damaged and no option could resume it."""
    saved_with_lr_and_decay(model, 0.5, 2.0)
    result = cli("train", "--resume", model, *args, *RESUME)
    assert result.exit_code == 0, result.output
    saved = json.loads((model / "config.json").read_text())["train"]["config"]
    assert saved["lr"] * saved["weight_decay"] < 1


def test_an_old_run_whose_lr_times_decay_is_1_names_the_product_not_damage(cli, model):
    saved_with_lr_and_decay(model, 0.5, 2.0)
    before = files(model)
    result = cli("train", "--resume", model, *RESUME)  # neither option typed: both are named as saved (pass 40)
    assert_one_line_error(result, f"--resume {model} (its trainer_state.pt): the saved \"weight_decay\" 2 with the "
                                  "saved \"lr\" 0.5", "keep lr x weight decay below 1", "give --lr or --weight-decay")
    assert "damaged" not in result.output
    result = cli("train", "--resume", model, "--weight-decay", "4", *RESUME)
    assert_one_line_error(result, "--weight-decay 4 with the saved \"lr\" 0.5", "keep lr x weight decay below 1")
    assert files(model) == before


def test_a_saved_training_setting_out_of_range_is_named_by_its_key(cli, model):
    path = model / "last" / "trainer_state.pt"
    state = torch.load(path, weights_only=True)
    state["train_config"]["bptt"] = 0
    torch.save(state, path)
    assert_one_line_error(cli("train", "--resume", model, *RESUME), f"{path}: damaged trainer state: train_config: "
                          "\"bptt\" must be at least 1, got 0")


@pytest.mark.parametrize("split", ["train", "valid"])
def test_a_run_is_not_resumed_on_a_split_changed_since(cli, model, tmp_path, monkeypatch, split):
    """Pass 21: train.txt cut short, with the manifest made to match, was resumed from the saved place in the old
    text without a word (and a changed valid split would compare validations of two texts)."""
    import hashlib
    import json

    corpora = Path(shutil.copytree(os.environ["LMKIT_CORPORA"], tmp_path / "corpora"))
    monkeypatch.setenv("LMKIT_CORPORA", str(corpora))
    folder = corpora / json.loads((model / "config.json").read_text())["corpus"]  # others may lie beside it
    text = (folder / f"{split}.txt").read_bytes().replace(b"e", b"a", 1)
    (folder / f"{split}.txt").write_bytes(text)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["splits"][split]["sha256"] = hashlib.sha256(text).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    before = files(model)
    assert_one_line_error(cli("train", "--resume", model, *RESUME), f"--resume {model}: the {split} split of corpus",
                          "is not the text this run was trained on")
    assert files(model) == before


@pytest.mark.parametrize("name, value", [("join", "sum"), ("shared_embedding", False)])
def test_a_cloze_model_saved_before_an_option_is_compared_as_it_was_built(name, value):
    """A resume compares a given --join or --(no-)shared-embedding with what the model was built with when its
    config.json predates the option, instead of calling the option foreign to the model."""
    from lmkit.commands.resume_checks import saved_value

    assert saved_value({"kind": "bilstm", "model": {}}, name) == value
    assert saved_value({"kind": "lstm", "model": {}}, name) is not value  # not a cloze model: absent


@pytest.mark.parametrize("device, words", [("tpu", "is not a device name"),
                                           ("cuda:9", "CUDA is not available on this machine")])
def test_a_saved_device_this_machine_lacks_is_named_as_saved_and_another_resumes(cli, model, device, words):
    """A run saved on a GPU and resumed without one was told '--device cuda:9: ...', an option nobody typed."""
    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    path = model / "last" / "trainer_state.pt"
    state = torch.load(path, weights_only=True)
    state["train_config"]["device"] = device
    torch.save(state, path)
    before = files(model)
    assert_one_line_error(cli("train", "--resume", model, *RESUME), f"--resume {model} (its trainer_state.pt): the "
                          f"saved \"device\" '{device}'", words, "give --device to resume on another")
    assert files(model) == before
    result = cli("train", "--resume", model, "--device", "cpu", *RESUME)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("corpus, words", [(None, "names no corpus to resume on; give --corpus NAME or --train PATH"),
                                           ("", "names no corpus to resume on"),
                                           ("TANG300", "names the corpus it was trained on, 'TANG300', which is not in ")])
def test_a_resumed_runs_corpus_missing_or_unknown_is_named_as_its_config_says(cli, model, corpus, words):
    """null or "" fell back to shakespeare (then called 'changed since'), an unknown name read as a --corpus."""
    for path in (model / "last" / "config.json", model / "config.json"):  # the run's two config.json agree
        edit = json.loads(path.read_text())
        path.write_text(json.dumps({**edit, "corpus": corpus}))
    before = files(model)
    result = cli("train", "--resume", model, *RESUME)
    assert_one_line_error(result, f"--resume {model}: its config.json {words}")
    assert "changed since" not in result.output and files(model) == before


def test_a_run_whose_local_corpus_left_the_corpora_folder_is_told_to_give_its_text_again(cli, model, tmp_path,
                                                                                        monkeypatch):
    """Adversarial pass 70: the error named the corpus 'english-...' unknown and listed the named corpora to choose
    from; choosing one was then refused as not the run's corpus. Giving --train the same text resumes, under any
    file name (a local corpus is named after its first file, but only its text and split make it the same)."""
    monkeypatch.setenv("LMKIT_CORPORA", str(tmp_path / "elsewhere"))  # the cache moved, or another corpora folder
    before = files(model)
    result = cli("train", "--resume", model, *RESUME)
    assert_one_line_error(result, f"--resume {model}: its config.json names the corpus it was trained on, 'english-",
                          "which is not in "
                          f"{tmp_path / 'elsewhere'} (a corpus made by --train lives in the corpora folder it was "
                          "trained with); give --train with the same text again, or set LMKIT_CORPORA to that folder")
    assert "choose one of" not in result.output and files(model) == before
    other = tmp_path / "other.txt"
    other.write_bytes(ENGLISH.read_bytes() + b"one more line\n")  # other text: another corpus
    result = cli("train", "--resume", model, "--train", other, *RESUME)
    assert_one_line_error(result, "that one is no longer in the corpora folder: give --train the file(s) it was made "
                          "from (the same text, split the same way)")
    assert "leave --train" not in result.output and files(model) == before
    saved_corpus = json.loads((model / "config.json").read_text())["corpus"]
    renamed = tmp_path / "same.txt"
    renamed.write_bytes(ENGLISH.read_bytes())  # the same text under another name: another corpus name, same text
    resumed = cli("train", "--resume", model, "--train", renamed, *RESUME)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((model / "config.json").read_text())["corpus"] == saved_corpus  # the run keeps its name
    assert json.loads((model / "last" / "config.json").read_text())["corpus"] == saved_corpus
    resumed = cli("train", "--resume", model, "--train", ENGLISH, "--max-steps", "4", *RESUME[2:])
    assert resumed.exit_code == 0, resumed.output


@pytest.fixture(scope="module")
def trained_cloze(tmp_path_factory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("resume-cloze"), "bilstm", "--model", "bilstm")


def edited_best(model: Path, edit) -> None:
    """The top-level config.json (the best model's) edited; last/, the resumable state, left as saved."""
    config = json.loads((model / "config.json").read_text())
    edit(config)
    (model / "config.json").write_text(json.dumps(config))


BEST_MODEL_EDITS = {  # what is edited in the best model's config.json: the file named, and the words
    "direction": (lambda c: c.update(direction="backward"), "config.json", "\"direction\": \"backward\" does not fit"),
    "corpus": (lambda c: c.update(corpus="tang300"), "config.json", "\"corpus\" is \"tang300\", but"),
    "texts": (lambda c: c["train"]["texts"].update(train="0" * 64), "config.json", "\"train.texts.train\" is \"000"),
    "seed": (lambda c: c["train"]["config"].update(seed=7), "config.json", "\"train.config.seed\" is 7, but"),
    "setting": (lambda c: c["model"].update(word_dropout=0.3), "config.json",
                "\"model.word_dropout\" is 0.3, but"),
    "hidden size": (lambda c: c["model"].update(hidden_size=64), "config.json", "does not fit model.safetensors"),
    "kind": (lambda c: c.update(kind="gru"), "config.json", "\"kind\": \"gru\""),
    "tokenizer": (lambda c: c["tokenizer"].update(kind="word"), "tokenizer.json", "not the tokenizer these weights"),
}


@pytest.mark.parametrize("case", BEST_MODEL_EDITS)
@pytest.mark.parametrize("cloze", [False, True], ids=["lstm", "bilstm"])
def test_a_best_model_that_is_not_the_resumed_runs_is_refused_before_training(cli, trained, trained_cloze, tmp_path,
                                                                               monkeypatch, case, cloze):
    """Pass 44: a resume trained, rewrote last/ and metrics.jsonl, then refused the edited top-level config.json (or,
    for a left-to-right model, replaced it without a word); fill and eval refuse it at once."""
    source = trained_cloze if cloze else trained
    monkeypatch.setenv("LMKIT_CORPORA", str(source.parent / "corpora"))
    model = Path(shutil.copytree(source, tmp_path / "run"))
    edit, named, words = BEST_MODEL_EDITS[case]
    if cloze and case == "direction":  # the weights say which way a cloze model reads
        edit, words = (lambda c: c.update(direction="forward")), "\"direction\": \"forward\" does not fit"
    edited_best(model, edit)
    before = files(model)
    assert_one_line_error(cli("train", "--resume", model, *RESUME), str(model / named), words)
    assert files(model) == before


def test_a_record_the_resumable_state_lacks_and_the_best_model_has_is_refused(cli, model):
    """Pass 45: train.texts deleted from last/config.json alone let a resume train on a corpus changed since, and
    the best model's record of the old text was then replaced. The state is saved at least as late as the best
    model, so it records all the best model records."""
    path = model / "last" / "config.json"
    config = json.loads(path.read_text())
    del config["train"]["texts"]
    path.write_text(json.dumps(config))
    before = files(model)
    assert_one_line_error(cli("train", "--resume", model, *RESUME), f"{model / 'config.json'}: \"train.texts.train\" "
                          f"is \"", f"but {path} (the same run's resumable state) has none")
    assert files(model) == before


def test_a_best_model_of_the_same_run_saved_before_a_setting_was_recorded_resumes(cli, model):
    """The "model" objects are compared on the settings both record: a later lmkit may record more."""
    edited_best(model, lambda c: c["model"].pop("word_dropout"))
    result = cli("train", "--resume", model, *RESUME)
    assert result.exit_code == 0, result.output


def test_resuming_last_old_while_last_holds_a_later_state_is_refused(cli, model):
    """Pass 45: `--resume DIR/last.old` resumed DIR/last without a word, and the save then removed last.old/."""
    shutil.copytree(model / "last", model / "last.old")
    before = files(model)
    assert_one_line_error(cli("train", "--resume", model / "last.old", *RESUME), f"--resume {model / 'last.old'}: "
                          f"{model / 'last'} holds a later resumable state of the same run", f"give --resume {model}")
    assert files(model) == before
    shutil.rmtree(model / "last")  # as a run killed between its two renames leaves it
    result = cli("train", "--resume", model / "last.old", *RESUME)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("how", ["dot", "link", "copy"])
def test_a_resumable_state_named_otherwise_than_last_is_never_taken_for_a_whole_run(cli, model, tmp_path, monkeypatch,
                                                                                     how):
    """Pass 46: `cd DIR/last && lmkit train --resume .` (or a link to DIR/last) read last/ as a run directory of its
    own, saved the best model over the state's weights and config.json, and nested a last/ inside it."""
    if how == "dot":
        monkeypatch.chdir(model / "last")
        named = "."
    elif how == "link":
        named = tmp_path / "alias"
        named.symlink_to(model / "last", target_is_directory=True)
    else:  # a last/ copied out of its run: nothing else to resume it by
        named = Path(shutil.copytree(model / "last", tmp_path / "copied"))
    before = files(model)
    result = cli("train", "--resume", named, *RESUME)
    if how == "dot":  # the folder a save replaces whole would be the working directory
        assert_one_line_error(result, "--resume .: the working directory is inside", "run lmkit from outside it")
        assert_one_line_error(cli("train", "--resume", "..", *RESUME), "--resume ..: the working directory is inside")
        assert files(model) == before
        return
    if how == "copy":
        assert_one_line_error(result, f"--resume {named}: holds a resumable state itself (trainer_state.pt)",
                              "give the run's directory, the folder that holds last/")
        assert files(model) == before and sorted(p.name for p in named.iterdir()) == sorted(
            p.name for p in (model / "last").iterdir())
        return
    assert result.exit_code == 0, result.output  # read as the run it belongs to
    assert not (model / "last" / "last").exists() and (model / "config.json").exists()
    assert cli("train", "--resume", model, "--max-steps", "4", "--quiet", "--sample-tokens", "0").exit_code == 0


@pytest.mark.parametrize("overwrite", [(), ("--overwrite",)])
def test_a_new_run_from_inside_a_runs_last_folder_is_refused_before_anything_is_removed(cli, model, monkeypatch,
                                                                                        overwrite):
    """Pass 47: `cd R/last && lmkit train --out .. --overwrite` removed R's last/ and metrics.jsonl (the working
    directory with them), then failed with 'No such file or directory' and saved nothing."""
    monkeypatch.chdir(model / "last")
    before = files(model)
    assert_one_line_error(cli("train", "--train", ENGLISH, *TINY_TRAIN, "--out", "..", *overwrite),
                          "--out ..: the working directory is inside", "run lmkit from outside it")
    assert files(model) == before


@pytest.mark.parametrize("name", ["last", "last.old", "last/"])
def test_a_run_directory_named_like_a_resumable_state_is_refused(cli, tmp_path, name):
    """Pass 47: a run trained into proj/last could not be resumed by any of its names (each read as proj's)."""
    out = tmp_path / "proj" / name
    assert_one_line_error(cli("train", "--train", ENGLISH, *TINY_TRAIN, "--out", out), "are the names of a run's "
                          "resumable state inside its directory", "name the run's directory otherwise")
    assert not (tmp_path / "proj").exists()


@pytest.mark.parametrize("progress, saved, given, warned", [
    ({"stale_evals": 3}, {"patience": 3}, None, True),                   # its patience used up: it stopped early
    ({"stale_evals": 3}, {"patience": 3}, 5, False),                     # a larger --patience given now: trains on
    ({"stale_evals": 3}, {"patience": 3}, 2, True),                      # a smaller one: it may stop again
    ({"stale_evals": 2}, {"patience": 4}, 2, False),                     # pass 75: its budget ended it, not patience
    ({"bad_evals": 3}, {"patience": 3}, None, True),                     # saved before stale_evals: every one counted
    ({"stale_evals": 4, "averaging_since": None}, {"patience": 3, "asgd": True}, None, False),  # no stop before
    ({"stale_evals": 4, "averaging_since": 120}, {"patience": 3, "asgd": True}, None, True),    # averaging starts
])
def test_a_resumed_run_that_stopped_early_is_told_it_may_stop_again(progress, saved, given, warned):
    """pass 74: resuming an early-stopped run trained to its next evaluation and stopped again, without a word."""
    import click

    from lmkit.commands.resume_checks import stopped_early
    from lmkit.commands.train import command

    args = ["--resume", "run"] + (["--patience", str(given)] if given is not None else [])
    with click.Context(command) as ctx:
        command.parse_args(ctx, args)
        said = stopped_early(ctx, Path("run"), {"progress": progress, "train_config": saved})
    assert (said is not None) == warned
    if warned:
        stale = progress.get("stale_evals", progress.get("bad_evals"))
        assert said == (f"warning: --resume run: the run stopped early, its validation no better in its last {stale} "
                        f"evaluations (--patience {saved['patience']}); resumed as it is, it may stop again at its next "
                        "evaluation: give a larger --patience to train on")


@pytest.mark.parametrize("batch_size", ["8", "2"])
def test_another_batch_size_on_resume_goes_on_from_the_same_share_of_the_epoch(cli, model, batch_size):
    """Pass 81: a larger batch was refused as a 'damaged trainer state' (its column past the new rows' end), and a
    smaller one went on from a third of the epoch where two thirds had been read, both without a word."""
    state = torch.load(model / "last" / "trainer_state.pt", weights_only=False)
    column, saved_batch = state["progress"]["column"], state["world"]["batch_size"]
    result = cli("train", "--resume", model, "--batch-size", batch_size, "--max-steps", "3")
    assert result.exit_code == 0, result.output
    assert f"--batch-size {batch_size} where the run had {saved_batch}: the text is laid out in {batch_size} rows" \
           in result.output and "with the hidden state started afresh" in result.output
    resumed = torch.load(model / "last" / "trainer_state.pt", weights_only=False)["progress"]
    read_before, read_after = column * saved_batch, resumed["column"] * int(batch_size)
    assert resumed["epoch"] == state["progress"]["epoch"] and read_after >= read_before  # on from where it was


@pytest.mark.parametrize("given, lr, said", [([], 0.25, False), (["--lr", "0.01"], 0.25, False),
                                             (["--lr", "0.004"], 1.0, True)])
def test_a_repeated_lr_keeps_the_plateau_rules_decays_and_a_new_one_says_it_restarts(cli, tmp_path, monkeypatch,
                                                                                     given, lr, said):
    """Pass 81: repeating the first command's --lr on resume set the LR back to it, throwing the plateau rule's
    decays away without a word."""
    folder = train_tiny(tmp_path, "plateau", "--schedule", "plateau", "--lr", "0.01", "--eval-every", "1")
    monkeypatch.setenv("LMKIT_CORPORA", str(tmp_path / "corpora"))
    path = folder / "last" / "trainer_state.pt"
    state = torch.load(path, weights_only=False)
    state["progress"]["lr_scale"] = 0.25  # as two halvings would leave it
    torch.save(state, path)
    result = cli("train", "--resume", folder, *given, "--max-steps", "3", "--eval-every", "1")
    assert result.exit_code == 0, result.output
    last = json.loads((folder / "metrics.jsonl").read_text().splitlines()[-1])
    peak = 0.004 if given[-1:] == ["0.004"] else 0.01
    assert last["step"] == 3 and last["lr"] == pytest.approx(peak * lr)
    assert ("note: --lr 0.004 starts the plateau rule again from that LR; the run had decayed its --lr 0.01 to "
            "0.0025" in result.stderr) == said


@pytest.mark.parametrize("started, given", [([], "--asgd"), (["--asgd"], "--no-asgd")])
def test_averaging_cannot_be_switched_on_resume(cli, tmp_path, monkeypatch, started, given):
    """Pass 81: --no-asgd on resume was accepted, averaging went on, and config.json said it was off."""
    folder = train_tiny(tmp_path, "m", "--optimizer", "sgd", *started)
    monkeypatch.setenv("LMKIT_CORPORA", str(tmp_path / "corpora"))
    before = files(folder)
    had = "--asgd" if started else "--no-asgd"
    assert_one_line_error(cli("train", "--resume", folder, given, *RESUME), f"the run was started with {had}",
                          f"not {given}; leave {given} out to continue it")
    assert files(folder) == before
    assert cli("train", "--resume", folder, had, *RESUME).exit_code == 0  # the same again is fine


def test_tokenizer_options_on_resume_are_compared_with_the_saved_tokenizer_not_the_default_kind(cli, tmp_path,
                                                                                                monkeypatch):
    """Pass 81: with a saved word tokenizer, a repeated --lowercase was refused as not applying to --tokenizer char,
    a repeated --min-freq was compared with a character tokenizer, and `--tokenizer word --min-freq 2` blamed
    --min-freq where --lowercase was the option left out."""
    folder = train_tiny(tmp_path, "w", "--tokenizer", "word", "--lowercase", "--min-freq", "5")  # 149 words, not 152
    monkeypatch.setenv("LMKIT_CORPORA", str(tmp_path / "corpora"))
    repeats = (["--min-freq", "5"], ["--tokenizer", "word", "--min-freq", "5"], ["--lowercase", "--min-freq", "5"])
    for steps, repeated in enumerate(repeats, start=3):
        resumed = cli("train", "--resume", folder, *repeated, "--max-steps", str(steps), "--quiet",
                      "--sample-tokens", "0")
        assert resumed.exit_code == 0, (repeated, resumed.output)
    assert_one_line_error(cli("train", "--resume", folder, "--lowercase", "--max-steps", "9"),
                          "--lowercase with --min-freq and --max-size as given or at their defaults builds",
                          "give the --min-freq and --max-size the run was trained with")
    assert_one_line_error(cli("train", "--resume", folder, "--no-lowercase", "--min-freq", "5", "--max-steps", "9"),
                          "not word(lowercase=False", "(--no-lowercase); leave --no-lowercase out")
