"""`lmkit train --preset NAME`: one table of named settings, printed, saved, and overridden by options given."""
import json

import pytest
import torch

from conftest import TINY, assert_one_line_error
from lmkit.commands.train_models import CPU_CHAR_MODEL_NOTE as NOTE
from lmkit.config.settings import knobs
from lmkit.models.neural.rnn import RNNConfig
from lmkit.train.config import DEFAULT_LR, TrainConfig
from lmkit.train.presets import PRESETS, preset_values

SMALL = ["--hidden-size", "16", "--emb-size", "16", "--layers", "2", "--batch-size", "4", "--bptt", "16",
         "--max-steps", "3", "--sample-tokens", "0", "--quiet"]


def train(cli, out, *extra):
    files = ["--train", TINY["en"]["train"], "--valid", TINY["en"]["valid"], "--test", TINY["en"]["test"]]
    return cli("train", *files, "--out", out, *extra)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_names_real_options_with_values_they_accept(name):
    cli_fields = {cls: {k.name for k in knobs(cls) if k.rules.cli} for cls in (TrainConfig, RNNConfig)}
    values = PRESETS[name]
    assert set(values) <= cli_fields[TrainConfig] | cli_fields[RNNConfig]
    TrainConfig(**{k: v for k, v in values.items() if k in cli_fields[TrainConfig]}).validate()
    RNNConfig(**{k: v for k, v in values.items() if k in cli_fields[RNNConfig]}).validate()


def test_options_given_override_the_preset_and_the_optimizer_takes_its_own_lr():
    values = preset_values("awd", {"dropout", "asgd"})
    assert "dropout" not in values and "asgd" not in values and values["lr"] == 30.0
    assert "lr" not in preset_values("awd", {"optimizer"}, "adamw")
    assert preset_values("awd", {"optimizer"}, "sgd")["lr"] == PRESETS["awd"]["lr"]  # its own optimizer, given again
    assert preset_values("awd-char", {"optimizer"}, "adamw")["lr"] == PRESETS["awd-char"]["lr"]
    assert preset_values("awd", {"optimizer", "lr"})["weight_drop"] == PRESETS["awd"]["weight_drop"] > 0


def test_preset_is_printed_saved_and_overridden_on_the_command_line(cli, tmp_path):
    result = train(cli, tmp_path / "m", "--preset", "awd", *SMALL, "--dropout", "0.1", "--no-asgd")
    assert result.exit_code == 0, result.output
    printed = next(line for line in result.output.splitlines() if line.startswith("preset awd:"))
    assert f"--weight-drop {PRESETS['awd']['weight_drop']:g}" in printed and "--locked-dropout" in printed
    assert "--dropout " not in printed
    assert "--nonmono" not in printed and "--asgd" not in printed  # --no-asgd: nothing for --nonmono to start
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["train"]["preset"]["name"] == "awd"
    assert "hidden_size" not in config["train"]["preset"]["settings"]  # given on the command line
    model, train_config = config["model"], config["train"]["config"]
    assert model["locked_dropout"] and model["weight_drop"] == PRESETS["awd"]["weight_drop"] and model["tie_weights"]
    assert model["dropout"] == 0.1 and model["hidden_size"] == 16 and model["layers"] == 2
    assert train_config["asgd"] is False and train_config["optimizer"] == "sgd" and train_config["lr"] == 30.0
    assert train_config["ar"] == 2.0 and train_config["variable_bptt"] and train_config["bptt"] == 16


def test_preset_with_another_optimizer_uses_that_optimizers_lr(cli, tmp_path):
    result = train(cli, tmp_path / "m", "--preset", "awd", *SMALL, "--optimizer", "adamw")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())["train"]["config"]
    assert config["optimizer"] == "adamw" and config["lr"] == DEFAULT_LR["adamw"]


@pytest.mark.parametrize("extra, lr, decay", [
    (["--tokenizer", "word"], 3e-3, 0.1), (["--tokenizer", "word", "--lr", "0.02"], 0.02, 0.1), ([], 1e-2, 0.1),
    (["--tokenizer", "word", "--weight-decay", "0"], 3e-3, 0.0),
    (["--weight-decay", "0"], 1e-2, 0.0), (["--optimizer", "sgd"], 20.0, 0.0),
    (["--tokenizer", "word", "--optimizer", "sgd"], 20.0, 0.0),
    (["--tokenizer", "word", "--weight-decay", "0.3"], 3e-3, 0.3),
    (["--preset", "small-corpus", "--layers", "1"], 6e-3, 0.0),
    (["--preset", "small-corpus", "--optimizer", "adamw"], 6e-3, 0.0)])
def test_the_default_lr_and_decay_follow_the_tokenizer_and_config_json_records_them(cli, tmp_path, extra, lr, decay):
    result = train(cli, tmp_path / "m", *SMALL, *extra)
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())["train"]["config"]
    assert (config["lr"], config["weight_decay"]) == (lr, decay)
    last = torch.load(tmp_path / "m" / "last" / "trainer_state.pt", weights_only=True)  # what the optimizer used
    assert {group["weight_decay"] for group in last["optimizer"]["param_groups"]} == {decay}


NO_BATCH = [arg for arg in SMALL if arg not in ("--batch-size", "4")]


@pytest.mark.parametrize("on_amx, extra, batch, lr", [
    (True, [], 32, 2e-2), (False, [], 16, 1e-2),  # characters: the AMX batch, and the LR that goes with it
    (True, ["--batch-size", "8"], 8, 1e-2), (True, ["--lr", "0.005"], 32, 0.005),
    (True, ["--tokenizer", "word"], 32, 3e-3), (False, ["--tokenizer", "word"], 32, 3e-3),  # words: 32 everywhere
    (True, ["--batch-size", "64", "--tokenizer", "word"], 64, 3e-3),
    (False, ["--batch-size", "32"], 32, 2e-2),  # the LR follows the batch on any CPU
    (True, ["--preset", "small-corpus", "--layers", "1"], 16, 6e-3)])  # a preset's batch is its own
def test_the_default_batch_follows_the_machine_and_the_lr_follows_the_batch(cli, tmp_path, monkeypatch, on_amx, extra,
                                                                            batch, lr):
    import lmkit.commands.train_run

    monkeypatch.setattr(lmkit.commands.train_run, "bf16_on_amx", lambda device, precision: on_amx)
    result = train(cli, tmp_path / "m", *NO_BATCH, *extra)
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())["train"]["config"]
    assert (config["batch_size"], config["lr"]) == (batch, lr)
    last = torch.load(tmp_path / "m" / "last" / "trainer_state.pt", weights_only=True)
    assert last["world"]["batch_size"] == batch and last["train_config"]["lr"] == lr
    said = "note: using --batch-size 32, the default for characters in bf16 on AMX" in result.stderr
    assert said is (on_amx and batch == 32 and "--batch-size" not in extra and "word" not in extra)
    assert last["train_config"]["bptt"] == 16  # SMALL's, given


def test_the_scratch_rnn_takes_no_amx_batch_since_it_trains_in_fp32(cli, tmp_path, monkeypatch):
    """Note 60: on AMX `--precision auto` gave the scratch RNN the bf16 character batch (32), read before the
    Trainer turned its precision to fp32; its batch is the fp32 one (16), as on any CPU."""
    import lmkit.commands.train_run
    import lmkit.train.config
    from lmkit.config.machine import Precision

    monkeypatch.setattr(lmkit.train.config, "resolve_precision",  # a CPU with bf16 units, whatever this one has
                        lambda requested, device, **kw: Precision("bf16" if requested != "fp32" else "fp32", requested))
    monkeypatch.setattr(lmkit.commands.train_run, "bf16_on_amx", lambda device, precision: precision.name == "bf16")
    result = cli("train", "--train", TINY["en"]["train"], "--model", "scratch-rnn", "--hidden-size", "8",
                 "--max-steps", "2", "--quiet", "--sample-tokens", "0", "--out", tmp_path / "m", "--bptt", "8")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())["train"]["config"]
    assert config["batch_size"] == 16 and "note: using --batch-size 32" not in result.stderr


def test_a_run_resumed_on_a_cpu_with_amx_keeps_the_batch_it_started_with(cli, tmp_path, monkeypatch):
    import lmkit.commands.train_run

    monkeypatch.setattr(lmkit.commands.train_run, "bf16_on_amx", lambda device, precision: False)
    assert train(cli, tmp_path / "m", *NO_BATCH).exit_code == 0
    monkeypatch.setattr(lmkit.commands.train_run, "bf16_on_amx", lambda device, precision: True)
    result = cli("train", "--resume", tmp_path / "m", "--max-steps", "5", "--quiet", "--sample-tokens", "0")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())["train"]["config"]
    assert (config["batch_size"], config["lr"]) == (16, 1e-2) and "note: using --batch-size" not in result.stderr
    # adversarial pass 27: and it says so, once, where the machine's default differs
    assert result.stderr.count("note: keeping --batch-size 16 and --lr 0.01, which this run began with (a new run "
                               "here would take batch 32") == 1
    again = cli("train", "--resume", tmp_path / "m", "--max-steps", "6", "--lr", "0.01", "--quiet", "--sample-tokens",
                "0")
    assert "note: keeping --batch-size 16, which" in again.stderr  # an LR given is not said to be kept
    monkeypatch.setattr(lmkit.commands.train_run, "bf16_on_amx", lambda device, precision: False)
    same = cli("train", "--resume", tmp_path / "m", "--max-steps", "7", "--quiet", "--sample-tokens", "0")
    assert same.exit_code == 0 and "note: keeping" not in same.stderr  # this machine's default: nothing to say


@pytest.mark.parametrize("model", ["scratch-rnn", "ngram"])
def test_preset_is_refused_for_models_it_does_not_fit(cli, tmp_path, model):
    result = train(cli, tmp_path / "m", "--preset", "awd", "--model", model)  # refused before any training
    assert_one_line_error(result, "--preset awd is for the lstm, gru, rnn_tanh and rnn_relu models", f"--model {model}")
    assert not (tmp_path / "m").exists()


def test_preset_is_refused_on_resume(cli, tmp_path):
    assert train(cli, tmp_path / "m", *SMALL).exit_code == 0
    before = (tmp_path / "m" / "last" / "trainer_state.pt").read_bytes()
    result = cli("train", "--resume", tmp_path / "m", "--preset", "awd-char", "--quiet")
    assert_one_line_error(result, "--preset awd-char: --resume continues with the settings the run was started with")
    assert (tmp_path / "m" / "last" / "trainer_state.pt").read_bytes() == before


@pytest.mark.parametrize("kind, on_amx, chosen, shape, noted", [
    ("word", False, set(), (32, 35), False), ("spm", True, set(), (32, 35), False),   # --help names it
    ("word", False, {"bptt"}, (32, 128), False), ("word", True, {"batch_size", "bptt"}, (16, 128), False),
    ("char", True, set(), (32, 128), True), ("char", False, set(), (16, 128), False),  # the machine chose: said
    ("char", True, {"batch_size"}, (16, 128), False)])
def test_the_default_shape_follows_the_tokenizer_and_the_machine(kind, on_amx, chosen, shape, noted):
    from lmkit.commands.train_fit import default_run_shape
    from lmkit.train.config import TrainConfig

    said = []
    config = default_run_shape(TrainConfig(), kind, on_amx, chosen, said.append)
    assert (config.batch_size, config.bptt) == shape and bool(said) is noted


@pytest.mark.parametrize("extra, dropout, out_dropout", [
    (["--tokenizer", "word"], 0.1, 0.1), (["--tokenizer", "spm", "--vocab-size", "300"], 0.1, 0.1),
    ([], 0.0, 0.0),                                                     # characters: the main job's recipe, none
    (["--tokenizer", "word", "--dropout", "0.3"], 0.3, 0.1),            # given: as given
    (["--tokenizer", "word", "--out-dropout", "0"], 0.1, 0.0),
    (["--tokenizer", "word", "--layers", "1"], 0.0, 0.1),               # nothing stacked to drop between
    (["--tokenizer", "word", "--model", "bilstm"], 0.1, 0.1),
    (["--tokenizer", "word", "--preset", "small-corpus", "--layers", "2"], 0.1, 0.6)])  # its out-dropout: the preset's
def test_words_and_subwords_train_with_dropout_by_default(cli, tmp_path, extra, dropout, out_dropout):
    result = train(cli, tmp_path / "m", *SMALL, *extra)
    assert result.exit_code == 0, result.output
    model = json.loads((tmp_path / "m" / "config.json").read_text())["model"]
    assert (model["dropout"], model["out_dropout"]) == (dropout, out_dropout)


RUN = ["--batch-size", "4", "--bptt", "16", "--max-steps", "2", "--sample-tokens", "0", "--device", "cpu"]


@pytest.mark.parametrize("extra, shape, noted", [
    ([], (1, 384), "--layers 1 --hidden-size 384"),                    # the machine chose: said
    (["--hidden-size", "32"], (1, 32), "--layers 1"), (["--layers", "3"], (3, 384), "--hidden-size 384"),
    (["--emb-size", "384", "--tie-weights"], (1, 384), "--layers 1 --hidden-size 384"),
    (["--dropout", "0.2"], (2, 384), "--hidden-size 384"),             # a dropout between layers keeps two
    (["--dropout", "0", "--softmax", "auto", "--emb-size", "64"], (1, 384), "--layers 1 --hidden-size 384"),
    (["--layers", "2", "--hidden-size", "256"], (2, 256), None),
    (["--model", "gru"], (2, 256), None),                              # measured on the LSTM only
    (["--tokenizer", "word"], (2, 256), None),
    (["--preset", "small-corpus"], (1, 192), None)])                   # a preset's model is its own
def test_a_character_lstm_on_a_cpu_without_amx_is_one_layer_of_384(cli, tmp_path, extra, shape, noted):
    result = train(cli, tmp_path / "m", *RUN, "--precision", "fp32", *extra)
    assert result.exit_code == 0, result.output
    model = json.loads((tmp_path / "m" / "config.json").read_text())["model"]
    assert (model["layers"], model["hidden_size"]) == shape
    assert (f"note: using {noted}, {NOTE}" in result.stderr) if noted else NOTE not in result.stderr


@pytest.mark.parametrize("on_amx, shape", [(False, (1, 384)), (True, (2, 256))])
def test_bf16_keeps_two_layers_of_256_only_on_amx(cli, tmp_path, monkeypatch, on_amx, shape):
    """The machine's answer reaches the model: bf16 on AVX512_BF16 alone trains one layer of 384 (measured on an AMD
    EPYC), on AMX two of 256. bf16_on_amx itself is tested in test_machine."""
    import lmkit.commands.train_run as train_run

    monkeypatch.setattr(train_run, "bf16_on_amx", lambda device, precision: on_amx)
    result = train(cli, tmp_path / "m", *RUN)
    assert result.exit_code == 0, result.output
    model = json.loads((tmp_path / "m" / "config.json").read_text())["model"]
    assert (model["layers"], model["hidden_size"]) == shape
    assert (NOTE in result.stderr) is not on_amx


def test_a_refused_output_folder_says_nothing_of_the_model(cli, tmp_path):
    assert train(cli, tmp_path / "m", *RUN, "--precision", "fp32").exit_code == 0
    result = train(cli, tmp_path / "m", *RUN, "--precision", "fp32")  # adversarial pass 65: the note came first
    assert_one_line_error(result, f"--out {tmp_path / 'm'} already holds a model")


@pytest.mark.parametrize("kind, cpu_without_amx, extra, chosen, changes", [
    ("char", True, {}, set(), {"layers": 1, "hidden_size": 384}),
    ("char", False, {}, set(), {}),                                            # bf16 on AMX keeps 2 x 256
    ("char", True, {}, {"lr", "batch_size", "softmax"}, {"layers": 1, "hidden_size": 384}),
    ("char", True, {"dropout": 0.1}, {"dropout"}, {"hidden_size": 384}),
    ("char", True, {"preset": "awd-char"}, set(), {}),
    ("spm", True, {}, set(), {}), ("char", True, {"model": "rnn_tanh"}, set(), {})])
def test_the_cpu_character_model_fills_in_what_the_user_left_out(kind, cpu_without_amx, extra, chosen, changes):
    from lmkit.commands.train_models import with_cpu_char_model

    said = []
    opts = {"model": "lstm", "layers": 2, "hidden_size": 256, "dropout": 0.0, "preset": None, **extra}
    assert with_cpu_char_model(opts, kind, cpu_without_amx, chosen, said.append) == {**opts, **changes}
    assert len(said) == bool(changes)


def test_awd_on_a_large_vocabulary_takes_the_adaptive_softmax_untied_unless_the_head_is_chosen():
    from lmkit.models.neural.heads import AUTO_ADAPTIVE_VOCAB
    from lmkit.train.presets import LARGE_VOCABULARY_TYPES, large_vocabulary_values

    untied = {"tie_weights": False, "softmax": "adaptive"}
    assert large_vocabulary_values("awd", 30_876, 400, set()) == untied
    assert large_vocabulary_values("awd", LARGE_VOCABULARY_TYPES, 16, {"dropout"}) == untied
    assert large_vocabulary_values("awd", LARGE_VOCABULARY_TYPES - 1, 400, set()) == {}  # its tied softmax is cheap there
    assert AUTO_ADAPTIVE_VOCAB < LARGE_VOCABULARY_TYPES  # where auto goes adaptive, the preset may still tie
    assert large_vocabulary_values("awd", 30_876, 8, set()) == {}  # too few features for its last cluster
    for given in ({"tie_weights"}, {"softmax"}):
        assert large_vocabulary_values("awd", 30_876, 400, given) == {}
    for name in ("awd-paper", "awd-char", "small-corpus", None):
        assert large_vocabulary_values(name, 30_876, 400, set()) == {}


@pytest.fixture(scope="module")
def many_words(tmp_path_factory):
    """A text of 10,400 word types (each twice), enough for --softmax auto to choose the adaptive softmax."""
    folder = tmp_path_factory.mktemp("many_words")
    words = [f"w{n}" for n in range(10_400)]
    lines = [" ".join(words[i:i + 13]) for i in range(0, len(words), 13)]
    (folder / "train.txt").write_text("\n".join(lines * 2) + "\n", encoding="utf-8")
    (folder / "valid.txt").write_text("\n".join(lines[:5]) + "\n", encoding="utf-8")
    return folder


WORD_SMALL = ["--tokenizer", "word", "--hidden-size", "16", "--emb-size", "16", "--layers", "1", "--batch-size", "4",
              "--bptt", "8", "--max-steps", "2", "--sample-tokens", "0", "--quiet", "--preset", "awd"]


@pytest.mark.parametrize("given, tied, softmax", [([], False, "adaptive"), (["--tie-weights"], True, "full"),
                                                  (["--softmax", "full"], True, "full"),
                                                  (["--softmax", "auto"], False, "adaptive"),  # the default, said
                                                  (["--emb-size", "8"], False, "adaptive")])  # no tie: sizes free
def test_awd_preset_line_note_and_config_show_the_head_a_large_vocabulary_trains(cli, tmp_path, many_words, given,
                                                                                 tied, softmax):
    result = cli("train", "--train", many_words / "train.txt", "--valid", many_words / "valid.txt",
                 "--test", many_words / "valid.txt", "--out", tmp_path / "m", *WORD_SMALL, *given)
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert (config["model"]["tie_weights"], config["model"]["softmax"]) == (tied, softmax)
    preset_line = next(line for line in result.stdout.splitlines() if line.startswith("preset awd:"))
    noted = "note: --preset awd on a vocabulary of 10,404 types trains --no-tie-weights --softmax adaptive"
    if given[:1] == ["--emb-size"]:
        assert config["model"]["emb_size"] == 8
    assert (noted in result.stderr) == (not tied)
    assert ("--no-tie-weights" in preset_line and "--softmax adaptive" in preset_line) == (not tied)
    assert (config["train"]["preset"]["settings"].get("softmax") == "adaptive") == (not tied)


def test_awd_preset_with_the_adaptive_softmax_asked_for_unties_it(cli, tmp_path, many_words):
    result = cli("train", "--train", many_words / "train.txt", "--out", tmp_path / "m", *WORD_SMALL, "--max-size", "2000",
                 "--softmax", "adaptive")  # 2,004 types: --softmax auto would keep the full one, and the tie
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert (config["model"]["tie_weights"], config["model"]["softmax"]) == (False, "adaptive")
    assert config["train"]["preset"]["settings"]["tie_weights"] is False and "note:" not in result.stderr


def test_awd_preset_tie_with_unequal_sizes_is_refused_where_it_ties(cli, tmp_path, many_words):
    result = cli("train", "--train", many_words / "train.txt", "--out", tmp_path / "m", *WORD_SMALL, "--max-size", "2000",
                 "--emb-size", "8")
    assert_one_line_error(result, "--preset awd ties the embedding to the softmax (--tie-weights), which needs --emb-size "
                                  "equal to --hidden-size (got 8 and 16)")
    assert not (tmp_path / "m").exists()
