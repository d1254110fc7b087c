"""Options that the rest of the command line makes meaningless are refused, not ignored without a word."""
from __future__ import annotations

import json

import pytest
import torch
from conftest import ENGLISH, assert_one_line_error
from lm_fixtures import rnn_dir


@pytest.fixture
def model(tmp_path, tiny_en):
    from lmkit.text.tokenizer_cache import get_tokenizer

    return rnn_dir(tmp_path / "model", tiny_en, get_tokenizer(tiny_en, "char"))


@pytest.mark.parametrize("model_kind,args,ignored", [
    ("ngram", ["--hidden-size", "32"], "--hidden-size"),
    ("ngram", ["--layers", "3", "--tie-weights"], "--layers --tie-weights"),
    ("ngram", ["--max-time", "5", "--lr", "0.1"], "--lr --max-time"),
    ("ngram", ["--seed", "3"], "--seed"),
    ("ngram", ["--rare-unk", "0.5", "--precision", "fp32"], "--precision --rare-unk"),
    ("lstm", ["--order", "3"], "--order"),
    ("gru", ["--nonlinearity", "relu", "--bptt-truncate", "4"], "--nonlinearity --bptt-truncate"),
    ("scratch-rnn", ["--dropout", "0.2", "--softmax", "adaptive"], "--dropout --softmax"),
    ("scratch-rnn", ["--smoothing", "mle"], "--smoothing"),
])
def test_train_refuses_options_the_chosen_model_does_not_read(cli, tmp_path, model_kind, args, ignored):
    result = cli("train", "--train", ENGLISH, "--model", model_kind, *args, "--out", tmp_path / "out")
    first = sorted(ignored.split(), key=lambda option: option.lstrip("-").replace("-", "_"))[0]
    assert_one_line_error(result, f"{first} does not apply to --model {model_kind} (it is for ")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option", [["--sample-tokens", "20"], ["--quiet"]])
def test_train_model_ngram_refuses_the_run_options_of_a_trained_model(cli, tmp_path, option):
    """pass 75: accepted and dropped without a word; `lmkit ngram` has neither, and an N-gram prints no sample."""
    result = cli("train", "--train", ENGLISH, "--model", "ngram", "--order", "2", *option, "--out", tmp_path / "out")
    assert_one_line_error(result, f"{option[0]} does not apply to --model ngram (an N-gram model is counted, with no "
                                  "progress bar and no sample at the end)")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args,ignored", [
    (["--tokenizer", "word"], "--tokenizer"),
    (["--min-freq", "2", "--lowercase"], "--min-freq --lowercase"),
    (["--train", ENGLISH], "--train"),
    (["--corpus", "shakespeare"], "--corpus"),
])
def test_tokenize_from_a_model_refuses_options_that_would_build_another_tokenizer(cli, model, args, ignored):
    result = cli("tokenize", "--from", model, *args, "hello")
    assert_one_line_error(result, f"--from {model} gives the tokenizer: {ignored} would be ignored")


def test_vocab_show_of_a_model_refuses_tokenizer_options(cli, model):
    assert_one_line_error(cli("vocab", "show", model, "--tokenizer", "word", "--vocab-size", "100"),
                          f"{model} gives the tokenizer: --tokenizer --vocab-size would be ignored; drop them")


@pytest.mark.parametrize("split", ["valid", "test"])
def test_eval_file_refuses_a_split(cli, model, split):
    assert_one_line_error(cli("eval", model, "--file", ENGLISH, "--split", split),
                          f"--split {split} chooses a split of a corpus; --file {ENGLISH} is scored whole")


@pytest.mark.parametrize("model_kind", ["lstm", "bilstm"])
def test_dropout_between_layers_is_refused_for_a_single_layer(cli, tmp_path, model_kind):
    args = ["train", "--train", ENGLISH, "--model", model_kind, "--layers", "1", "--out", tmp_path / "out"]
    result = cli(*args, "--dropout", "0.25")
    assert_one_line_error(result, "--dropout 0.25 would be ignored: it drops between stacked layers and --layers is 1")
    assert not (tmp_path / "out").exists()
    kept = cli(*args, "--dropout", "0", "--out-dropout", "0.25", "--max-steps", "1", "--sample-tokens", "0",
               "--hidden-size", "8", "--emb-size", "4", "--quiet")
    assert kept.exit_code == 0, kept.output


def test_an_on_off_flag_given_off_is_named_as_typed(cli, model):
    assert_one_line_error(cli("vocab", "build", "--train", ENGLISH, "--tokenizer", "char", "--no-lowercase"),
                          "--no-lowercase does not apply to --tokenizer char")
    assert_one_line_error(cli("tokenize", "--from", model, "--no-lowercase", "abc"),
                          "--no-lowercase would be ignored")
    assert_one_line_error(cli("tokenize", "--from", model, "--lowercase", "abc"), "--lowercase would be ignored")


def test_locked_dropout_with_nothing_to_shape_is_refused(cli, tmp_path):
    args = ["train", "--train", ENGLISH, "--model", "lstm", "--out", tmp_path / "out", "--locked-dropout"]
    for extra in ([], ["--emb-dropout", "0", "--out-dropout", "0"], ["--layers", "2", "--dropout", "0"]):
        assert_one_line_error(cli(*args, *extra), "--locked-dropout would change nothing: it makes --emb-dropout, "
                                                  "--dropout (between stacked layers) and --out-dropout draw one mask")
        assert not (tmp_path / "out").exists()
    words = cli(*args, "--tokenizer", "word", "--emb-dropout", "0", "--out-dropout", "0", "--layers", "1")
    assert_one_line_error(words, "--locked-dropout would change nothing")
    assert words.stderr.count("\n") == 1  # refused before any tokenizer is trained or note printed
    tiny = ["--max-steps", "1", "--sample-tokens", "0", "--hidden-size", "8", "--emb-size", "4", "--quiet"]
    for shaped in (["--emb-dropout", "0.1"], ["--layers", "2", "--dropout", "0.2"], ["--out-dropout", "0.3"],
                   ["--tokenizer", "word"]):  # words drop between layers and before the softmax by default
        kept = cli(*args, *shaped, *tiny, "--overwrite")
        assert kept.exit_code == 0, kept.output


@pytest.mark.parametrize("args, name", [(["eval", "-"], "MODEL"), (["eval", "M", "--tokenizer-from", "-"], "--tokenizer-from"),
                                        (["train", "--train", "-"], "--train"),
                                        (["fill", "M", "--memory-file", "-", "a_b"], "--memory-file")])
def test_a_dash_where_a_path_is_read_is_not_taken_for_a_file_called_dash(cli, tmp_path, args, name):
    assert_one_line_error(cli(*args), f"{name} -: takes a path here, not standard input; name the file or folder "
                                      "(./- for one called '-')")


TINY_RUN = ["--hidden-size", "16", "--emb-size", "8", "--layers", "1", "--batch-size", "4", "--bptt", "16", "--quiet"]


def train(cli, out, *extra):
    return cli("train", "--train", ENGLISH, *TINY_RUN, "--out", out, *extra)


@pytest.mark.parametrize("args,fragments", [
    (["--lr-decay", "2"], ["the LR schedule is cosine", "--lr-decay would be ignored; drop it"]),
    (["--schedule", "linear", "--lr-decay", "2"], ["the LR schedule is linear", "--lr-decay would be ignored"]),
    (["--schedule", "plateau", "--warmup", "0.1"], ["--schedule plateau has no warm-up", "--warmup would be ignored"]),
    (["--nonmono", "3"], ["there is no --asgd", "--nonmono would be ignored; drop it"]),
    (["--model", "bilstm", "--sample-tokens", "20"], ["--model bilstm is bidirectional and cannot write text left to "
                                                     "right", "--sample-tokens would be ignored"]),
])
def test_a_training_option_the_run_would_never_read_is_refused_before_any_work(cli, tmp_path, args, fragments):
    assert_one_line_error(train(cli, tmp_path / "m", "--max-steps", "2", *args), *fragments)
    assert not (tmp_path / "m").exists()


def test_the_scratch_rnn_refuses_bf16_and_trains_and_records_fp32_under_auto(cli, tmp_path, monkeypatch):
    """Pass 76: its hand-written BPTT ran in fp32 while the run, config.json and metrics.jsonl said bf16."""
    from lmkit.config.machine import Precision
    from lmkit.errors import ConfigError
    from lmkit.models.neural.scratch import ScratchConfig, ScratchRNN
    from lmkit.text.vocab import Vocab
    from lmkit.train import config as train_config

    scratch = ["--train", ENGLISH, "--model", "scratch-rnn", "--hidden-size", "8", "--batch-size", "4", "--bptt", "8",
               "--max-steps", "2", "--sample-tokens", "0", "--quiet"]
    assert_one_line_error(cli("train", *scratch, "--precision", "bf16", "--out", tmp_path / "b"),
                          "--model scratch-rnn computes its hand-written BPTT in fp32 under any --precision",
                          "--precision would be ignored")
    assert not (tmp_path / "b").exists()
    monkeypatch.setattr(train_config, "resolve_precision",
                        lambda requested, device: Precision("bf16", requested, "bf16 units"))
    assert cli("train", *scratch, "--out", tmp_path / "a").exit_code == 0  # auto, on a CPU that "has bf16 units"
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["runtime"]["precision"] == "fp32"
    model = ScratchRNN(Vocab.build({"a": 1, "b": 1}), ScratchConfig(hidden_size=4))
    chosen = train_config.training_precision("auto", torch.device("cpu"), model)
    assert chosen.name == "fp32" and "hand-written BPTT" in chosen.describe()
    with pytest.raises(ConfigError, match="the scratch RNN cannot train in bf16"):
        train_config.training_precision("bf16", torch.device("cpu"), model)


@pytest.mark.parametrize("args", [
    ["--schedule", "plateau", "--lr-decay", "2"], ["--schedule", "plateau", "--warmup", "0"],
    ["--asgd", "--nonmono", "3"], ["--model", "bilstm", "--sample-tokens", "0"], ["--schedule", "linear", "--warmup", "0.1"],
])
def test_the_same_options_where_the_run_reads_them_are_taken(cli, tmp_path, args):
    assert train(cli, tmp_path / "m", "--max-steps", "2", "--sample-tokens", "0", *args).exit_code == 0


def test_a_resume_reads_the_saved_schedule_and_asgd_where_none_is_given_again(cli, tmp_path):
    plateau, cosine = tmp_path / "plateau", tmp_path / "cosine"
    assert train(cli, plateau, "--max-steps", "2", "--sample-tokens", "0", "--schedule", "plateau").exit_code == 0
    assert train(cli, cosine, "--max-steps", "2", "--sample-tokens", "0", "--asgd").exit_code == 0
    # the saved plateau reads --lr-decay; the saved cosine does not, nor --warmup under a plateau given now
    assert cli("train", "--resume", plateau, "--lr-decay", "2", "--max-steps", "3", "--quiet").exit_code == 0
    assert_one_line_error(cli("train", "--resume", cosine, "--lr-decay", "2", "--max-steps", "3"),
                          "the LR schedule is cosine", "--lr-decay would be ignored")
    assert_one_line_error(cli("train", "--resume", plateau, "--warmup", "0.1", "--max-steps", "4"),
                          "--schedule plateau has no warm-up")
    assert cli("train", "--resume", cosine, "--nonmono", "2", "--max-steps", "3", "--quiet").exit_code == 0  # saved --asgd
    assert_one_line_error(cli("train", "--resume", plateau, "--nonmono", "2", "--max-steps", "4"), "there is no --asgd")
