"""Crafted or damaged files that loading accepts as the right format but whose contents are wrong, through the CLI.

config.json fields of the wrong type or asking for huge sizes, weights that are not finite, a
tokenizer.json from another model, a trainer_state.pt whose fields are wrong, a corpus cache whose
manifest or split is damaged: each is one line naming the file and the key, and nothing is allocated,
trained or scored from it. (ARPA numbers: tests/test_arpa_strict.py.)
"""
from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ENGLISH, TINY_TRAIN, assert_one_line_error, run_cli, train_tiny
from safetensors.torch import load_file, save_file

@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A resumable char LSTM, a char scratch-rnn and a char BiLSTM trained for 2 steps each (made once for the
    module)."""
    folder = tmp_path_factory.mktemp("crafted")
    train_tiny(folder, "lstm")
    train_tiny(folder, "scratch", "--model", "scratch-rnn")
    train_tiny(folder, "bilstm", "--model", "bilstm")
    return folder


@pytest.fixture
def copy(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("LMKIT_CORPORA", str(trained / "corpora"))
    return lambda name: Path(shutil.copytree(trained / name, tmp_path / name))


def edit_json(path: Path, change) -> None:
    obj = json.loads(path.read_text(encoding="utf-8"))
    change(obj)
    path.write_text(json.dumps(obj), encoding="utf-8")


def set_model_field(key, value):
    return lambda config: config["model"].__setitem__(key, value)


@pytest.mark.parametrize("key,value,words", [
    ("hidden_size", "32", 'model.hidden_size must be an integer, got "32"'),
    ("emb_size", True, "model.emb_size must be an integer, got true"),
    ("layers", None, "model.layers must be an integer, got null"),
    ("dropout", "0.1", 'model.dropout must be a number, got "0.1"'),
    ("tie_weights", 1, "model.tie_weights must be true or false, got 1"),
    ("softmax", ["full"], 'model.softmax must be a string, got ["full"]'),
])
def test_config_fields_of_the_wrong_type_are_named(cli, copy, key, value, words):
    model = copy("lstm")
    edit_json(model / "config.json", set_model_field(key, value))
    assert_one_line_error(cli("generate", model, "--max-tokens", "3"), f"{model}/config.json: invalid model settings: {words}")


@pytest.mark.parametrize("value,words", [
    ("1", '"format" must be a whole number, got "1" (this lmkit reads format 1)'),
    (1.0, '"format" must be a whole number, got 1.0 (this lmkit reads format 1)'),
    (True, '"format" must be a whole number, got true (this lmkit reads format 1)'),
    (7, "format 7 is not one this lmkit reads (1)"),
])
def test_a_config_format_of_another_type_or_number_is_named_as_such(cli, copy, value, words):
    """Pass 91: "format": "1" was refused as "format '1' is not one this lmkit reads (1)"."""
    model = copy("lstm")
    edit_json(model / "config.json", lambda config: config.__setitem__("format", value))
    assert_one_line_error(cli("eval", model), f"{model}/config.json: {words}")


def test_a_config_that_is_not_an_object_where_one_is_expected_is_named(cli, copy):
    model = copy("lstm")
    edit_json(model / "config.json", lambda config: config.__setitem__("model", [16]))
    assert_one_line_error(cli("generate", model), "config.json: model must be an object or null, got [16]")


@pytest.mark.parametrize("name,key,value,words", [
    ("lstm", "hidden_size", 10**12, 'invalid model settings: "hidden_size" must be at most 65536'),
    ("lstm", "hidden_size", 10**24, 'invalid model settings: "hidden_size" must be at most 65536'),
    ("lstm", "emb_size", 10**12, 'invalid model settings: "emb_size" must be at most 65536'),
    ("lstm", "hidden_size", 60_000, 'config.json: "hidden_size": 60000 does not fit model.safetensors, which holds the '
                                    'weights of "hidden_size": 16'),
    ("scratch", "hidden_size", 10**12, '"hidden_size" must be at most 65536'),
    ("scratch", "hidden_size", 60_000, '"hidden_size": 60000 does not fit model.safetensors, which holds the weights '
                                       'of "hidden_size": 16'),
    ("scratch", "emb_size", 60_000, '"emb_size": 60000 does not fit model.safetensors, which holds the weights of '
                                    '"emb_size": 8'),
    ("bilstm", "hidden_size", 10**12, 'invalid model settings: "hidden_size" must be at most 65536'),
    ("bilstm", "hidden_size", 60_000, '"hidden_size": 60000 does not fit model.safetensors, which holds the weights '
                                      'of "hidden_size": 16'),
    ("bilstm", "emb_size", 60_000, '"emb_size": 60000 does not fit model.safetensors, which holds the weights of '
                                   '"emb_size": 8'),
])
def test_huge_sizes_in_config_are_refused_before_the_model_is_built(cli, copy, name, key, value, words):
    model = copy(name)
    edit_json(model / "config.json", set_model_field(key, value))
    assert_one_line_error(cli("eval", model, "--file", ENGLISH), words)


@pytest.mark.parametrize("edit, words", [
    ({"kind": "gru"}, '"kind": "gru" does not fit "model": {"cell": "lstm"}'),
    ({"kind": "gru", "cell": "gru"}, '"kind": "gru" does not fit model.safetensors, which holds the weights of '
                                     '"kind": "lstm"'),
    ({"kind": "bilstm"}, '"kind": "bilstm" does not fit model.safetensors, which holds the weights of "kind": "lstm"'),
    ({"kind": "scratch-rnn"}, '"kind": "scratch-rnn" does not fit model.safetensors, which holds the weights of '
                              '"kind": "lstm"'),
])
def test_an_edited_kind_is_refused_not_run_under_another_name(cli, copy, edit, words):
    """The kind names the class and the label; the weights say which model they are: an LSTM relabelled gru had
    scored as the LSTM it was, under the name [gru]."""
    model = copy("lstm")

    def change(config):
        config["kind"] = edit["kind"]
        if "cell" in edit:
            config["model"]["cell"] = edit["cell"]

    edit_json(model / "config.json", change)
    assert_one_line_error(cli("eval", model, "--file", ENGLISH), f"{model}/config.json: {words}")


@pytest.mark.parametrize("key, value, option, words", [
    ("shared_embedding", "yes", ["--shared-embedding"], 'invalid model settings: "shared_embedding" must be true or '
                                                        "false, got 'yes'"),
    ("join", "sum", ["--join", "layer"], '"join": "sum" does not fit model.safetensors, which holds the weights of '
                                         '"join": "layer"'),
    ("hidden_size", "abc", ["--hidden-size", "16"], 'invalid model settings: "hidden_size" must be an integer'),
])
def test_resume_checks_an_edited_saved_config_before_comparing_options_with_it(cli, copy, key, value, option, words):
    """--resume compared the options given with last/config.json before checking it: a user's right --join layer was
    called wrong, and an invalid value was quoted back as the saved model's setting."""
    model = copy("bilstm")
    edit_json(model / "last" / "config.json", set_model_field(key, value))
    before = {p: p.read_bytes() for p in sorted(model.rglob("*")) if p.is_file()}
    assert_one_line_error(cli("train", "--resume", model, *option, "--max-steps", "4"),
                          f"{model}/last/config.json: {words}")
    assert {p: p.read_bytes() for p in sorted(model.rglob("*")) if p.is_file()} == before


@pytest.mark.parametrize("name, change, words", [
    ("lstm", lambda c: c.update(direction="backward"), '"direction": "backward" does not fit model.safetensors, which '
                                                        'holds the weights of "direction": "forward"'),
    ("scratch", lambda c: c.update(direction="backward"), '"direction": "backward" does not fit model.safetensors'),
    ("scratch", lambda c: c["model"].update(nonlinearity="relu"), '"nonlinearity": "relu" does not fit '
                                                                  'model.safetensors, which holds the weights of '
                                                                  '"nonlinearity": "tanh"'),
    ("scratch", lambda c: c.update(kind="lstm"), '"kind": "lstm" does not fit model.safetensors, which holds the '
                                                 'weights of "kind": "scratch-rnn"'),
    ("lstm", lambda c: c["model"].update(layers=2, hidden_size=32),
     '"hidden_size": 32, "layers": 2 do not fit model.safetensors, which holds the weights of "hidden_size": 16, '
     '"layers": 1'),
    ("lstm", lambda c: c["model"].pop("hidden_size"), 'no "hidden_size" (read as 256) does not fit '
                                                      'model.safetensors, which holds the weights of "hidden_size": 16'),
    ("lstm", lambda c: c.update(model=None), '"model" holds no settings, and the defaults do not fit model.safetensors'),
    ("bilstm", lambda c: c.update(direction="forward"), '"direction": "forward" does not fit model.safetensors, which '
                                                        'holds the weights of "direction": "both"'),
    ("ngram", lambda c: c.update(direction="backward"), '"direction": "backward" does not fit model.ngram.npz, which '
                                                        'holds the weights of "direction": "forward"'),
    ("ngram", lambda c: c.update(order=1), '"order": 1 does not fit model.ngram.npz, which holds the weights of '
                                           '"order": 2'),
    ("ngram", lambda c: c.pop("order"), 'no "order": an N-gram\'s config.json names its order'),
    ("lstm", lambda c: c.update(kind="ngram", order=3), '"kind": "ngram" does not fit model.safetensors, which holds '
                                                        'the weights of "kind": "lstm"'),
    ("ngram", lambda c: c.update(kind="lstm"), '"kind": "lstm" does not fit model.ngram.npz, which holds the weights '
                                               'of "kind": "ngram"'),
    ("lstm", lambda c: c.update(kind="interpolated"), '"kind": "interpolated" does not fit model.safetensors, which '
                                                      'holds the weights of "kind": "lstm", not an interpolation'),
], ids=["lstm direction", "scratch direction", "nonlinearity", "scratch relabelled", "two keys", "deleted key",
        "model null", "bilstm direction", "ngram direction", "ngram order", "ngram order deleted", "lstm to ngram",
        "ngram to lstm", "lstm to interpolated"])
def test_a_config_edited_against_its_weights_names_the_key(cli, copy, tmp_path, name, change, words):
    """config.json is held against what the weights file records of the model that saved it: an edited "direction"
    had run forward weights backward (and kept training them so on --resume), an edited nonlinearity had run tanh
    weights as relu, and an edited size was blamed on the weights file. In last/ too, for --resume."""
    if name == "ngram":
        model = tmp_path / "ngram"
        assert cli("ngram", "--train", ENGLISH, "--order", "2", "--out", model).exit_code == 0
    else:
        model = copy(name)
    edit_json(model / "config.json", change)
    assert_one_line_error(cli("eval", model, "--file", ENGLISH), f"{model}/config.json: {words}",
                          "(was config.json edited")
    if (model / "last").is_dir():
        edit_json(model / "last" / "config.json", change)
        before = {p: p.read_bytes() for p in sorted(model.rglob("*")) if p.is_file()}
        assert_one_line_error(cli("train", "--resume", model, "--max-steps", "4"), f"{model}/last/config.json: {words}")
        assert {p: p.read_bytes() for p in sorted(model.rglob("*")) if p.is_file()} == before


@pytest.mark.parametrize("change, words", [
    (lambda c: c.update(order=0), '"order" must be at least 1, got 0'),
    (lambda c: c.update(smoothing="xx"), '"smoothing" must be one of mle, add-k, kn'),
    (lambda c: c.update(k=-1), '"k" must be > 0, got -1.0'),
], ids=["order", "smoothing", "k"])
def test_an_edited_ngram_setting_is_named_by_its_key_not_by_the_option(cli, tmp_path, change, words):
    """A value read from config.json was blamed on --order, an option the user never gave: the file is what to fix."""
    model = tmp_path / "ngram"
    assert cli("ngram", "--train", ENGLISH, "--order", "2", "--out", model).exit_code == 0
    edit_json(model / "config.json", change)
    result = cli("eval", model, "--file", ENGLISH)
    assert_one_line_error(result, f"{model}/config.json: {words}")
    assert "--" not in result.output.replace(str(model), "")
    assert_one_line_error(cli("ngram", "--train", ENGLISH, "--order", "0", "--out", tmp_path / "x"),
                          "--order must be at least 1, got 0", usage=True)  # typed on the command line: the option


@pytest.mark.parametrize("record", ["[1", "[1, 2]", '{"a": ' * 100_000])
def test_a_damaged_record_in_a_weights_file_is_refused_naming_the_file(cli, copy, record):
    model = copy("lstm")
    tensors = load_file(model / "model.safetensors")
    save_file(tensors, model / "model.safetensors", metadata={"kind": "lstm", "architecture": record})
    assert_one_line_error(cli("eval", model, "--file", ENGLISH),
                          f"{model}/model.safetensors: its record of the model that saved it is damaged")


@pytest.mark.parametrize("record", [np.array(5), np.array(["a", "b"]), np.array("[1"), np.array('{"kind": 1}')])
def test_a_damaged_record_in_n_gram_tables_is_refused_naming_the_file(cli, tmp_path, record):
    model = tmp_path / "ngram"
    assert cli("ngram", "--train", ENGLISH, "--order", "2", "--out", model).exit_code == 0
    with np.load(model / "model.ngram.npz") as data:
        arrays = {name: data[name] for name in data.files}
    np.savez(model / "model.ngram.npz", **{**arrays, "record": record})
    assert_one_line_error(cli("eval", model, "--file", ENGLISH),
                          f"{model}/model.ngram.npz: its record of the model that saved it is damaged")


def test_weights_copied_in_from_another_direction_are_refused(cli, copy, tmp_path):
    """A backward model's weights copied into a forward model's directory had scored as forward (exit 0)."""
    backward = tmp_path / "backward"
    result = cli("train", "--train", ENGLISH, *TINY_TRAIN, "--direction", "backward", "--out", backward)
    assert result.exit_code == 0, result.output
    model = copy("lstm")
    shutil.copy(backward / "model.safetensors", model / "model.safetensors")
    assert_one_line_error(cli("eval", model, "--file", ENGLISH), f"{model}/config.json: \"direction\": \"forward\" "
                          'does not fit model.safetensors, which holds the weights of "direction": "backward"')
    edit_json(backward / "config.json", lambda config: config.pop("direction"))
    assert_one_line_error(cli("eval", backward, "--file", ENGLISH), f"{backward}/config.json: no \"direction\" (read "
                          'as "forward") does not fit model.safetensors, which holds the weights of "direction": "backward"')


def rewrite_metadata(path: Path, change) -> None:
    """Change a safetensors file's "__metadata__" as a crafted file would (any JSON, not only strings)."""
    data = path.read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    change(header["__metadata__"])
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + length :])


@pytest.mark.parametrize("change, what", [
    (lambda m: m.update(architecture=5), "'architecture' is not a string"),
    (lambda m: m.update(architecture={"hidden_size": 16}), "'architecture' is not a string"),
    (lambda m: m.update(direction=5), "'direction' is not a string"),
    (lambda m: m.update(architecture='{"hidden_size": 1e999}'), "'hidden_size' is Infinity"),
    (lambda m: m.update(architecture='{"hidden_size": NaN}'), "NaN is not a number lmkit saves"),
    (lambda m: m.update(architecture='{"hidden_size": "32"}'), "'hidden_size' is \"32\""),
])
def test_a_record_of_the_wrong_types_is_called_damaged_not_a_config_edit(cli, copy, change, what):
    model = copy("lstm")
    rewrite_metadata(model / "model.safetensors", change)
    assert_one_line_error(cli("eval", model, "--file", ENGLISH),
                          f"{model}/model.safetensors: its record of the model that saved it is damaged ({what}")


@pytest.fixture
def mixed(cli, copy, tmp_path):
    """An interpolation of the tiny LSTM and a character bigram of the same text (weights 0.5 each)."""
    from lmkit.checkpoint.save_load import load_model, save_model
    from lmkit.models.mix import Interpolated

    ngram = tmp_path / "ngram"
    assert cli("ngram", "--train", ENGLISH, "--order", "2", "--out", ngram).exit_code == 0
    (lstm, tokenizer, _), (counted, _, _) = load_model(copy("lstm")), load_model(ngram)
    save_model(tmp_path / "mix", Interpolated([lstm, counted], [0.5, 0.5]), tokenizer, {"direction": "forward"})
    return tmp_path / "mix"


@pytest.mark.parametrize("change, words", [
    (lambda c: c["members"][0]["model"].update(hidden_size=32),
     'members[0]: "hidden_size": 32 does not fit model.safetensors, which holds the weights of "hidden_size": 16'),
    (lambda c: c["members"][1].update(kind="lstm"),
     'members[1]: "kind": "lstm" does not fit model.ngram.npz, which holds the weights of "kind": "ngram"'),
    (lambda c: c["members"][0].update(kind="ngram"),
     'members[0]: "kind": "ngram" does not fit model.safetensors, which holds the weights of "kind": "lstm"'),
    (lambda c: c["members"].reverse(),
     'members[0]: "kind": "ngram" does not fit model.safetensors, which holds the weights of "kind": "lstm"'),
    (lambda c: c["members"][0].update(direction=5), 'members[0]: "direction" must be a string, got 5'),
    (lambda c: c["members"][0].update(kind=5), 'members[0]: "kind" must be a model kind (a string), got 5'),
    (lambda c: c["members"][1].update(kind="foo"), "members[1]: unknown model kind 'foo'"),
    (lambda c: c.update(weights=["a", 0.5]), '"weights" must be a list of numbers, got ["a", 0.5]'),
    (lambda c: c.update(weights=1), '"weights" must be a list of numbers, got 1'),
    (lambda c: c.update(weights=[True, False]), '"weights" must be a list of numbers, got [true, false]'),
    (lambda c: c.update(kind="lstm"), '"kind": "lstm" does not fit members/, which holds the members of an '
                                      'interpolated model'),
], ids=["size", "ngram relabelled", "lstm relabelled", "swapped", "direction", "kind a number", "unknown kind",
        "weight a string", "weights a number", "weights booleans", "mix relabelled"])
def test_an_interpolated_models_member_settings_are_named_in_its_own_config(cli, mixed, change, words):
    """A mix reads its members' settings from its config.json's "members" list: an edit there had been blamed on
    members/N/config.json (a file lmkit writes beside the weights but never reads) or on a missing weights file,
    a damaged record, and weights of the wrong type had raised a traceback."""
    edit_json(mixed / "config.json", change)
    assert_one_line_error(cli("eval", mixed, "--file", ENGLISH), f"{mixed}/config.json: {words}")


@pytest.mark.parametrize("name,weight", [("lstm", "head.linear.weight"), ("lstm", "rnn.weight_hh_l0"), ("scratch", "W")])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_weights_that_are_not_finite_are_refused_naming_the_weight(cli, copy, name, weight, bad):
    model = copy(name)
    tensors = load_file(model / "model.safetensors")
    tensors[weight].view(-1)[3] = bad
    save_file(tensors, model / "model.safetensors")
    assert_one_line_error(cli("eval", model, "--file", ENGLISH),
                          f"model.safetensors: weight {weight} holds 1 NaN or infinite values")


def swap_two_tokens(config):
    tokens = config["vocab"]["tokens"]
    tokens[10], tokens[11] = tokens[11], tokens[10]


def test_a_tokenizer_json_from_another_model_of_the_same_size_is_refused(cli, copy):
    model = copy("lstm")
    edit_json(model / "tokenizer.json", swap_two_tokens)
    edit_json(model / "last" / "tokenizer.json", swap_two_tokens)
    result = cli("eval", model, "--file", ENGLISH)
    assert_one_line_error(result, f"{model}/tokenizer.json: not the tokenizer these weights were trained with",
                          "45 tokens, fingerprint")
    for command in (["generate", model], ["fill", model, model, "a _ b"], ["train", "--resume", model]):
        assert_one_line_error(cli(*command), "not the tokenizer these weights were trained with")


def test_an_edited_vocabulary_size_in_config_json_blames_config_json(cli, copy):
    model = copy("lstm")
    edit_json(model / "config.json", lambda config: config["vocab"].__setitem__("size", 0))
    assert_one_line_error(cli("eval", model, "--file", ENGLISH), f"{model}/config.json: vocab.size is 0, but the "
                          "tokenizer.json whose vocabulary it fingerprints holds 45 tokens")


@pytest.mark.parametrize("edit,says", [
    (lambda tokenizer: tokenizer.__setitem__("kind", "word"), 'it is a word tokenizer, where config.json records "char"'),
    (lambda tokenizer: tokenizer.__setitem__("options", {"segmented": True}), "its options differ from those config.json records"),
])
def test_a_tokenizer_json_that_cuts_text_otherwise_is_refused(cli, copy, edit, says):
    """The same tokens cut otherwise (words where the model read characters): the vocabulary's fingerprint
    matches, and before the tokenizer was recorded every figure came out wrong (perplexity 957.7 over 263
    'tokens' where the model scores 1,491 characters)."""
    model = copy("lstm")
    edit_json(model / "tokenizer.json", edit)
    assert_one_line_error(cli("eval", model, "--file", ENGLISH),
                          f"{model}/tokenizer.json: not the tokenizer these weights were trained with: {says}")


def test_a_model_saved_before_the_tokenizer_was_recorded_still_loads(cli, copy):
    model = copy("lstm")
    edit_json(model / "config.json", lambda config: config.pop("tokenizer"))
    assert cli("eval", model, "--file", ENGLISH).exit_code == 0


@pytest.mark.parametrize("kind,record,says", [
    ("ngram", {"kind": "char", "describe": "characters"}, None),  # what `lmkit ngram` recorded before: kind only
    ("ngram", {"kind": "word", "describe": "words"}, 'it is a char tokenizer, where config.json records "word"'),
    ("lstm", {"kind": "char"}, "its options differ from those config.json records"),  # only N-grams had that form
    ("lstm", 5, "config.json: tokenizer must be an object or null, got 5"),
])
def test_the_tokenizer_record_of_an_older_n_gram_is_checked_by_its_kind(cli, copy, tmp_path, kind, record, says):
    if kind == "ngram":
        model = tmp_path / "ngram"
        assert cli("ngram", "--train", ENGLISH, "--order", "2", "--out", model).exit_code == 0
    else:
        model = copy("lstm")
    edit_json(model / "config.json", lambda config: config.__setitem__("tokenizer", record))
    result = cli("eval", model, "--file", ENGLISH)
    if says is None:
        assert result.exit_code == 0, result.output
    else:
        assert_one_line_error(result, says)


@pytest.mark.parametrize("key,record,says", [
    ("vocab", lambda vocab: {**vocab, "size": str(vocab["size"])}, 'vocab.size must be an integer, got "45"'),
    ("vocab", lambda vocab: {}, "vocab.size is missing"),  # said "(None tokens, fingerprint None)"
    ("vocab", lambda vocab: {**vocab, "note": 1}, None),  # keys lmkit does not read are left alone, as elsewhere
    ("tokenizer", lambda tokenizer: {}, "tokenizer.kind is missing"),  # said "config.json records null"
    ("tokenizer", lambda tokenizer: {"options": tokenizer["options"]}, "tokenizer.kind is missing"),
    ("tokenizer", lambda tokenizer: {**tokenizer, "kind": None}, "tokenizer.kind must be a string, got null"),
])
def test_a_damaged_vocabulary_or_tokenizer_record_in_config_json_is_named(cli, copy, key, record, says):
    """An extra key made the vocabulary check say 'vocab.size is 2505, but ... holds 2505 tokens'."""
    model = copy("lstm")
    edit_json(model / "config.json", lambda config: config.__setitem__(key, record(config[key])))
    result = cli("eval", model, "--file", ENGLISH)
    if says is None:
        assert result.exit_code == 0, result.output
    else:
        assert_one_line_error(result, f"{model}/config.json: {says}")


@pytest.mark.parametrize("corpus", ["../../etc", "/etc/passwd", "..", "a/b", "诗集"])
@pytest.mark.parametrize("command", [("eval",), ("train", "--max-steps", "4", "--quiet", "--resume")])
def test_a_corpus_in_config_json_that_is_no_corpus_name_is_refused_naming_the_file(cli, copy, corpus, command):
    """A path there was reported as a --corpus option the user never typed ('--corpus takes a corpus name; for
    the text at ... use --train'), with no word of the file it came from."""
    model = copy("lstm")
    for config in (model / "config.json", model / "last" / "config.json"):
        edit_json(config, lambda c: c.update(corpus=corpus))
    before = {p: p.read_bytes() for p in sorted(model.rglob("*")) if p.is_file()}
    result = cli(*command, model)
    assert_one_line_error(result, "config.json: \"corpus\": ", "is not a corpus name")
    assert "--corpus" not in result.output and "--train" not in result.output
    assert {p: p.read_bytes() for p in sorted(model.rglob("*")) if p.is_file()} == before


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json"])
def test_an_integer_of_thousands_of_digits_in_a_model_file_is_one_line(cli, copy, name):
    """Python refuses to read an integer of more than 4,300 digits with a ValueError that json.loads lets
    through: a traceback speaking of sys.set_int_max_str_digits."""
    model = copy("lstm")
    path = model / name
    path.write_text(path.read_text(encoding="utf-8").replace("{", '{"huge": ' + "9" * 5000 + ", ", 1), encoding="utf-8")
    assert_one_line_error(cli("eval", model, "--file", ENGLISH),
                          f"{path}: ", "is not valid JSON (it holds an integer of more than 4,300 digits)")


def test_a_model_saved_before_the_vocabulary_was_recorded_still_loads(cli, copy):
    model = copy("lstm")
    edit_json(model / "config.json", lambda config: config.pop("vocab"))
    result = cli("eval", model, "--file", ENGLISH)
    assert result.exit_code == 0, result.output


def state_change(change):
    def apply(model: Path) -> None:
        path = model / "last" / "trainer_state.pt"
        state = torch.load(path, weights_only=True)
        change(state)
        torch.save(state, path)
    return apply


TRAINER_STATES = {
    "no optimizer": (lambda s: s.pop("optimizer"), "optimizer is missing"),
    "no progress column": (lambda s: s["progress"].pop("column"), "progress.column is missing"),
    "lr fast": (lambda s: s["progress"].__setitem__("lr", "fast"), 'progress.lr must be a number, got "fast"'),
    "negative lr": (lambda s: s["progress"].__setitem__("lr", -1.0), "progress.lr must be a number at least 0, got -1.0"),
    "zero lr scale": (lambda s: s["progress"].__setitem__("lr_scale", 0.0),
                      "progress.lr_scale must be a positive number, got 0.0"),
    "window rng": (lambda s: s.__setitem__("window_rng", torch.zeros(3)), "window_rng must be a (5056,) torch.uint8"),
    "average": (lambda s: s.__setitem__("average", {"n_averaged": torch.tensor(3)}),
                "average.module.embedding.weight must be a tensor of shape (45, 8), got null"),
    "config lr fast": (lambda s: s["train_config"].__setitem__("lr", "fast"), 'train_config.lr must be a number or null, got "fast"'),
    "group lr fast": (lambda s: s["optimizer"]["param_groups"][0].__setitem__("lr", "fast"),
                      'optimizer.param_groups[0].lr must be like 1.0, got "fast"'),
    "short rng": (lambda s: s.__setitem__("rng", torch.zeros(10, dtype=torch.uint8)), "rng must be a (5056,) torch.uint8"),
    "float rng": (lambda s: s.__setitem__("rng", torch.zeros(5056)), "rng must be a (5056,) torch.uint8"),
    "moments": (lambda s: s["optimizer"]["state"][0].__setitem__("exp_avg", torch.zeros(3)),
                "optimizer.state[0].exp_avg has shape (3,), the weight's is (45, 8)"),
    "step text": (lambda s: s["optimizer"]["state"][0].__setitem__("step", "x"),
                  'optimizer.state[0].step must be a floating-point tensor, got "x"'),
    "bool moments": (lambda s: s["optimizer"]["state"][2].__setitem__("exp_avg", torch.zeros(64, 16, dtype=torch.bool)),
                     "optimizer.state[2].exp_avg must be a floating-point tensor, got a (64, 16) torch.bool tensor"),
    "no second moment": (lambda s: s["optimizer"]["state"][1].pop("exp_avg_sq"), "optimizer.state[1].exp_avg_sq is missing"),
    "negative second moment": (lambda s: s["optimizer"]["state"][1]["exp_avg_sq"].fill_(-1.0),
                               "optimizer.state[1].exp_avg_sq holds negative values (a running mean of squares)"),
    "nan moment": (lambda s: s["optimizer"]["state"][0]["exp_avg"].fill_(float("nan")),
                   "optimizer.state[0].exp_avg holds NaN or infinite values"),
    "negative step": (lambda s: s["optimizer"]["state"][0]["step"].fill_(-5.0),
                      "optimizer.state[0].step holds negative values (a count of steps)"),
    "elapsed inf": (lambda s: s["progress"].__setitem__("elapsed", float("inf")),
                    "progress.elapsed must be seconds from 0 to 1e+09, got inf"),
    "elapsed 1e300": (lambda s: s["progress"].__setitem__("elapsed", 1e300),
                      "progress.elapsed must be seconds from 0 to 1e+09, got 1e+300"),
    "best valid nan": (lambda s: s["progress"].__setitem__("best_valid", float("nan")),
                       "progress.best_valid must be a loss or inf, got nan"),
    "negative eps": (lambda s: s["optimizer"]["param_groups"][0].__setitem__("eps", -1.0),
                     "optimizer.param_groups[0].eps must be positive, got -1.0"),
    "beta past 1": (lambda s: s["optimizer"]["param_groups"][0].__setitem__("betas", (1.5, 0.999)),
                    "optimizer.param_groups[0].betas must be two numbers from 0 up to (not) 1, got [1.5, 0.999]"),
    "hidden nan": (lambda s: s["hidden"][0].fill_(float("nan")), "hidden holds NaN or infinite values"),
    "kernel yes": (lambda s: s["optimizer"]["param_groups"][0].__setitem__("fused", "yes"),
                   'optimizer.param_groups[0].fused must be true, false or null, got "yes"'),
    "groups": (lambda s: s["optimizer"]["param_groups"][0].__setitem__("params", [0]),
               "optimizer.param_groups[0].params must number the model's 7 weights"),
    "hidden": (lambda s: s.__setitem__("hidden", [torch.zeros(2)]), "hidden must hold 2 tensors shaped"),
    "history": (lambda s: s["progress"].__setitem__("history", ["x"]), "progress.history must list evaluation records"),
    "not a dict": (lambda s: s["progress"].clear() or s.__setitem__("progress", [1]), "progress must be dict, got [1]"),
    "column past the data": (lambda s: s["progress"].__setitem__("column", 10**12),
                             "progress.column 1000000000000 is past the 4759 columns of an epoch of this training "
                             "split at a batch size of 4"),
    "rng zeroed": (lambda s: s["rng"].zero_(), "rng is not a state torch's generator can take (Invalid mt19937 state)"),
    "sparse moments": (lambda s: s["optimizer"]["state"][0].__setitem__("exp_avg", s["optimizer"]["state"][0]["exp_avg"].to_sparse()),
                       "optimizer.state[0].exp_avg must be a dense CPU tensor, got a torch.sparse_coo tensor on cpu"),
    "meta hidden": (lambda s: s["hidden"].__setitem__(0, torch.empty(s["hidden"][0].shape, device="meta")),
                    "hidden[0] must be a dense CPU tensor, got a torch.strided tensor on meta"),
    "averaging before it began": (lambda s: s["progress"].__setitem__("averaging_since", 10**9),
                                  "progress.averaging_since must be between 0 and progress.step"),
}


@pytest.mark.parametrize("content, words", [
    (b"", "unreadable trainer state: not the zip file torch.save writes"),  # torch's EOFError says nothing
    (b"garbage!!", "unreadable trainer state: not the zip file torch.save writes"),
    (b"[1, 2]", "unreadable trainer state: not the zip file torch.save writes"),
    (None, "unreadable trainer state: not the zip file torch.save writes"),  # cut short: its zip directory lost
])
def test_a_trainer_state_that_is_no_torch_file_is_called_damaged(cli, copy, content, words):
    model = copy("lstm")
    state = model / "last" / "trainer_state.pt"
    state.write_bytes(state.read_bytes()[:300] if content is None else content)
    result = cli("train", "--resume", model, "--max-steps", "4", "--quiet", "--sample-tokens", "0")
    assert_one_line_error(result, f"{state}: {words}")
    assert "possibly code" not in result.output


def test_a_damaged_pickle_inside_a_trainer_state_is_not_called_code(cli, copy):
    import zipfile

    model = copy("lstm")
    state = model / "last" / "trainer_state.pt"
    with zipfile.ZipFile(state) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(state, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, b"\x80\x02garbage" if name.endswith("data.pkl") else data)
    result = cli("train", "--resume", model, "--max-steps", "4", "--quiet", "--sample-tokens", "0")
    assert_one_line_error(result, f"{state}: unreadable trainer state, cut short or damaged (its pickle stream is "
                                  "not one torch.save writes)")


def test_an_empty_zip_for_a_trainer_state_is_called_damaged_in_torchs_words(cli, copy):
    """A zip that torch cannot read (its EOFError or RuntimeError may say nothing): one line all the same."""
    import zipfile

    model = copy("lstm")
    state = model / "last" / "trainer_state.pt"
    with zipfile.ZipFile(state, "w") as archive:
        archive.writestr("x/data.pkl", b"")
    result = cli("train", "--resume", model, "--max-steps", "4", "--quiet", "--sample-tokens", "0")
    assert_one_line_error(result, f"{state}: unreadable trainer state, cut short or damaged (")


@pytest.mark.parametrize("missing", [["trainer_state.pt"], ["config.json"], ["trainer_state.pt", "config.json"]])
def test_a_resume_names_the_files_its_last_folder_lacks(cli, copy, missing):
    model = copy("lstm")
    for name in missing:
        (model / "last" / name).unlink()
    result = cli("train", "--resume", model, "--max-steps", "4", "--quiet", "--sample-tokens", "0")
    listed = " and ".join(f"last/{name}" for name in missing)
    assert_one_line_error(result, f"no resumable state ({listed} {'is' if len(missing) == 1 else 'are'} missing)")


@pytest.mark.parametrize("case", TRAINER_STATES)
def test_a_trainer_state_with_wrong_fields_is_refused_naming_the_key(cli, copy, case):
    change, words = TRAINER_STATES[case]
    model = copy("lstm")
    state_change(change)(model)
    before = {p: p.read_bytes() for p in model.rglob("*") if p.is_file()}
    result = cli("train", "--resume", model, "--max-steps", "4", "--quiet", "--sample-tokens", "0")
    assert_one_line_error(result, f"{model}/last/trainer_state.pt: damaged trainer state: {words}")
    assert {p: p.read_bytes() for p in model.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("damage, words", [
    (lambda average: average.__setitem__("n_averaged", torch.tensor(0)), "average.n_averaged must count at least 1"),
    (lambda average: average["module.embedding.weight"].fill_(float("nan")),
     "average.module.embedding.weight holds NaN or infinite values"),
])
def test_a_damaged_running_average_is_refused(cli, copy, damage, words):
    from lmkit.checkpoint.save_load import load_model

    model = copy("lstm")
    weights = load_model(model / "last")[0].state_dict()
    average = {"n_averaged": torch.tensor(3), **{f"module.{k}": v.clone() for k, v in weights.items()}}
    damage(average)
    state_change(lambda s: s.__setitem__("average", average))(model)
    result = cli("train", "--resume", model, "--max-steps", "4", "--quiet", "--sample-tokens", "0")
    assert_one_line_error(result, f"{model}/last/trainer_state.pt: damaged trainer state: {words}")


def test_a_generator_state_saved_as_a_strided_view_resumes(cli, copy):
    """The same bytes, not laid out contiguously (torch.save keeps a view's strides): they are the state all the same."""
    model = copy("lstm")
    state_change(lambda s: s.__setitem__("rng", torch.stack([s["rng"], s["rng"]], 1)[:, 0]))(model)
    result = cli("train", "--resume", model, "--max-steps", "3", "--quiet", "--sample-tokens", "0")
    assert result.exit_code == 0, result.output


def test_the_untouched_trainer_state_resumes(cli, copy):
    model = copy("lstm")
    result = cli("train", "--resume", model, "--max-steps", "3", "--quiet", "--sample-tokens", "0")
    assert result.exit_code == 0, result.output


def test_a_state_saved_by_the_multi_tensor_adamw_resumes_on_the_fused_kernel(cli, copy):
    model = copy("lstm")
    state_change(lambda s: s["optimizer"]["param_groups"][0].update(fused=None, foreach=None))(model)  # before it
    result = cli("train", "--resume", model, "--max-steps", "5", "--quiet", "--sample-tokens", "0")
    assert result.exit_code == 0, result.output
    saved = torch.load(model / "last" / "trainer_state.pt", weights_only=True)["optimizer"]["param_groups"][0]
    assert saved["fused"] is True


def corpus_of(model: Path, root: Path) -> Path:
    return root / json.loads((model / "config.json").read_text())["corpus"]


MANIFESTS = {
    "no chars": (lambda m: m["splits"]["valid"].pop("chars"), "splits.valid.chars is missing"),
    "no test": (lambda m: m["splits"].pop("test"), "splits.test must be a JSON object, got null"),
    "text lines": (lambda m: m["splits"]["train"].__setitem__("lines", "many"), 'splits.train.lines must be an integer, got "many"'),
    "no splits": (lambda m: m.pop("splits"), "splits must be an object, got null"),
    "list description": (lambda m: m.__setitem__("description", ["x"]), 'description must be a string, got ["x"]'),
}


@pytest.mark.parametrize("case", MANIFESTS)
def test_a_damaged_corpus_manifest_is_named_by_corpus_info(copy, trained, monkeypatch, case):
    change, words = MANIFESTS[case]
    corpus = Path(shutil.copytree(corpus_of(trained / "lstm", trained / "corpora"), copy("lstm").parent / "corpora" / "c"))
    edit_json(corpus / "manifest.json", change)
    monkeypatch.setenv("LMKIT_CORPORA", str(corpus.parent))
    result = run_cli("corpus", "info", "c")
    assert_one_line_error(result, f"{corpus}/manifest.json: damaged corpus manifest: {words}",
                          f"remove the folder {corpus} and run again")


@pytest.mark.parametrize("damage,words", [
    # the same size: its sha256 tells it, checked before a tokenizer is built from it (pass 83)
    (lambda data: data[:100] + b"\xff" + data[101:], "its sha256 is not the one the manifest records (its text was "
                                                     "changed): the corpus cache is damaged"),
    (lambda data: data[:-10], "bytes, but the manifest records"),
    (lambda data: data + b"more text\n", "bytes, but the manifest records"),
])
def test_a_damaged_split_file_is_refused_when_read(copy, trained, monkeypatch, damage, words):
    corpus = Path(shutil.copytree(corpus_of(trained / "lstm", trained / "corpora"), copy("lstm").parent / "corpora" / "c",
                                  ignore=shutil.ignore_patterns("ids", "tokenizers")))
    split = corpus / "train.txt"
    split.write_bytes(damage(split.read_bytes()))
    monkeypatch.setenv("LMKIT_CORPORA", str(corpus.parent))
    result = run_cli("vocab", "build", "--corpus", "c")
    assert_one_line_error(result, f"{split}: ", words)


@pytest.mark.parametrize("key,what,value", [("chars", "characters", 100), ("chars", "characters", -5),
                                            ("chars", "characters", 10**15), ("lines", "lines", 40)])
def test_a_manifests_count_that_is_not_its_texts_is_refused(copy, trained, monkeypatch, key, what, value):
    """bits/char divides by the manifest's count: an edited 100 printed 29.9 bits/char for 6.7 (and -5, 2989.7);
    corpus info showed an edited line count as it found it. (A count no text can have, -5 characters, is refused
    as soon as the manifest is read.)"""
    model = copy("lstm")
    corpus = Path(shutil.copytree(corpus_of(trained / "lstm", trained / "corpora"), model.parent / "corpora" / "c"))
    actual = json.loads((corpus / "manifest.json").read_text())["splits"]["valid"][key]
    edit_json(corpus / "manifest.json", lambda manifest: manifest["splits"]["valid"].__setitem__(key, value))
    monkeypatch.setenv("LMKIT_CORPORA", str(corpus.parent))
    says = (f"{corpus}/manifest.json: records {value:,} {what} for the valid split, but its text has {actual:,}: "
            "the corpus cache is damaged")
    if value < 0:
        says = f"{corpus}/manifest.json: damaged corpus manifest: splits.valid.{key} must be 0 or more, got {value}"
    assert_one_line_error(run_cli("corpus", "info", "c"), says)
    # eval, with the split's ids already cached (it read the record unchecked); ngram
    assert_one_line_error(run_cli("eval", model, "--corpus", "c", "--split", "valid"), says)
    assert_one_line_error(run_cli("ngram", "--corpus", "c", "--order", "2", "--out", corpus.parent.parent / "n"), says)


def test_a_split_whose_text_changed_is_not_scored_from_its_old_ids(copy, trained, monkeypatch):
    """A valid split edited without changing its size was scored from the ids cached before the edit."""
    model = copy("lstm")
    corpus = Path(shutil.copytree(corpus_of(trained / "lstm", trained / "corpora"), model.parent / "corpora" / "c"))
    monkeypatch.setenv("LMKIT_CORPORA", str(corpus.parent))
    assert run_cli("eval", model, "--corpus", "c", "--split", "valid").exit_code == 0  # its ids cached now
    text = (corpus / "valid.txt").read_text(encoding="utf-8")
    swapped = text.translate(str.maketrans("ae", "ea"))
    assert swapped != text and len(swapped.encode()) == len(text.encode())
    (corpus / "valid.txt").write_text(swapped, encoding="utf-8")
    assert_one_line_error(run_cli("eval", model, "--corpus", "c", "--split", "valid"),
                          f"{corpus}/valid.txt: its sha256 is not the one the manifest records (its text was changed)")


@pytest.mark.parametrize("key,value,words", [
    ("corpus", 123, "config.json: corpus must be a string or null, got 123"),
    ("direction", "sideways", 'config.json: "direction" must be one of forward, backward, got \'sideways\''),
    ("train", "fast", 'config.json: train must be an object or null, got "fast"'),
    ("vocab", 45, "config.json: vocab must be an object or null, got 45"),
])
def test_config_fields_every_command_reads_are_checked(cli, copy, key, value, words):
    model = copy("lstm")
    edit_json(model / "config.json", lambda config: config.__setitem__(key, value))
    assert_one_line_error(cli("eval", model), f"{model}/{words}")


@pytest.mark.parametrize("change,words", [
    (lambda t: t["vocab"].__setitem__("counts", ["many"] * len(t["vocab"]["tokens"])), "'counts' must list a count"),
    (lambda t: t["vocab"].__setitem__("counts", 5), "'counts' must list a count"),
    (lambda t: t["vocab"].__setitem__("counts", [1, 2]), "for each of the 45 tokens"),
    (lambda t: t.__setitem__("options", [1]), "tokenizer options must be an object, got [1]"),
    (lambda t: t.__setitem__("options", []), "tokenizer options must be an object, got []"),  # was read as none
    (lambda t: t.__setitem__("options", None), "tokenizer options must be an object, got null"),
    (lambda t: t.__setitem__("options", "床前"), 'tokenizer options must be an object, got "床前"'),  # not \u5e8a
    (lambda t: t.__setitem__("options", {"segmented": "false"}), 'segmented must be true or false, got "false"'),
    (lambda t: t.__setitem__("options", {"segmented": 1}), "segmented must be true or false, got 1"),
])
def test_tokenizer_json_fields_of_the_wrong_type_are_named(cli, copy, change, words):
    model = copy("lstm")
    edit_json(model / "tokenizer.json", change)
    assert_one_line_error(cli("generate", model), f"{model}/tokenizer.json: ", words)


def test_interpolated_members_that_are_not_settings_are_named(cli, copy):
    model = copy("lstm")
    (model / "members").mkdir()  # else the kind is what does not fit (an LSTM's weights, no members/)
    edit_json(model / "config.json", lambda config: config.update(kind="interpolated", members=[1], weights=[1.0]))
    assert_one_line_error(cli("generate", model), "config.json: members[0] must be a model's settings (an object), got 1")


def test_a_model_directory_that_is_a_file_is_named_as_one(cli, tmp_path):
    assert_one_line_error(cli("generate", ENGLISH), f"{ENGLISH}: no \\data\\ header: not an ARPA file")


def test_a_weights_file_longer_than_its_header_says_is_refused_before_it_is_read(cli, copy):
    model = copy("lstm")
    weights = model / "model.safetensors"
    size = weights.stat().st_size
    os.truncate(weights, 64 << 20)  # sparse: a regression would read 64 MiB before safetensors objected
    assert_one_line_error(cli("generate", model), f"{weights}: not a valid safetensors file (the header describes "
                                                  f"{size:,} bytes, the file has {64 << 20:,})")


def npy(shape, dtype="<i8", data=b"") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + data


@pytest.mark.parametrize("member,compression,words", [
    pytest.param(npy((10**15,), data=b"\0" * 64), zipfile.ZIP_STORED,
                 "keys1.npy declares 8,000,000,000,000,000 bytes of data in", id="huge shape"),
    pytest.param(npy((4,), data=b"\0" * 32), zipfile.ZIP_DEFLATED,
                 "keys1.npy is compressed; lmkit writes its tables uncompressed", id="compressed"),
])
def test_ngram_tables_that_declare_more_than_they_hold_are_refused(cli, tmp_path, tiny_en, member, compression, words):
    from lm_fixtures import ngram_dir

    from lmkit.text.tokenizer_cache import get_tokenizer

    model = ngram_dir(tmp_path / "ngram", tiny_en, get_tokenizer(tiny_en, "char"), order=1)
    with zipfile.ZipFile(model / "model.ngram.npz", "w") as archive:
        archive.writestr(zipfile.ZipInfo("keys1.npy"), member, compress_type=compression)
        for name in ("logp1", "logbo1"):
            archive.writestr(f"{name}.npy", npy((0,), "<f4"))
    assert_one_line_error(cli("generate", model), "model.ngram.npz: not a readable N-gram weights file", words)


def test_lines_of_metrics_jsonl_that_are_not_evaluation_records_are_skipped_with_a_warning(tmp_path):
    """A report drew an edited or damaged learning curve as it found it: {"step": "x"} as a point, a
    perplexity of -3, and the model's train time from the garbage."""
    from lmkit.checkpoint.learning_curve import read_metrics

    good = {"step": 20, "tokens": 640, "time": 1.5, "valid_ppl": 40.2, "valid_bpc": 5.3, "train_loss": 3.9}
    diverged = {"step": 40, "tokens": 1280, "time": 3.0, "valid_ppl": None}  # json_text's null for inf
    cloze = {"step": 60, "valid_pseudo_ppl": 12.5}
    lines = [json.dumps(good), "garbage", json.dumps({"step": "x"}), "[1, 2]", "\udcff\udcfe",
             json.dumps({"step": 5, "valid_ppl": -3}), json.dumps({"step": True}), json.dumps({"time": 2.0}),
             json.dumps({"step": 7, "tokens": 1.5}), json.dumps({"step": 8, "tokens": 10**400}),
             json.dumps({"step": 9, "time": 10**400}), json.dumps(diverged), json.dumps(cloze),
             json.dumps({"step": 10, "time": 1e308}),  # a train time of 10**300 years in the report
             json.dumps({"step": 11, "valid_oov_rate": 1.5}), '{"step": ' + "9" * 5000 + "}"]  # a traceback
    # (Python's limit on the digits of an integer string, a ValueError json.loads lets through)
    (tmp_path / "metrics.jsonl").write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
    with pytest.warns(UserWarning, match=r"metrics.jsonl: skipped 13 of 16 lines that are not evaluation records "
                                         r"\(the first: line 2\)"):
        assert read_metrics(tmp_path) == [good, diverged, cloze]


@pytest.mark.parametrize("train,says", [({"seconds": "abc"}, 'train.seconds must be a number or null, got "abc"'),
                                        ({"seconds": -1}, "train.seconds must be a number of seconds from 0 to 1e+09, got -1"),
                                        ({"seconds": 1e308}, "train.seconds must be a number of seconds from 0 to 1e+09"),
                                        ({"command": 5}, "train.command must be a string or null, got 5"),
                                        ({"config": "x"}, 'train.config must be an object or null, got "x"'),
                                        ([1], "train must be an object or null, got [1]")])
def test_a_damaged_training_record_in_config_json_is_named(cli, copy, tmp_path, train, says):
    """eval and generate took these; report crashed on them (float('abc'), ' '.join of a number)."""
    model = copy("lstm")
    edit_json(model / "config.json", lambda config: config.__setitem__("train", train))
    for command in (["eval", model, "--file", ENGLISH], ["report", model, "--out", tmp_path / "r"]):
        assert_one_line_error(cli(*command), f"{model}/config.json: {says}")


def test_a_damaged_training_record_of_the_run_to_resume_is_named(cli, copy):
    """last/config.json's train.config as a string: --resume crashed reading the saved seed from it."""
    model = copy("lstm")
    edit_json(model / "last" / "config.json", lambda config: config["train"].__setitem__("config", "x"))
    assert_one_line_error(cli("train", "--resume", model, "--max-steps", "3"),
                          f"{model}/last/config.json: train.config must be an object or null, got \"x\"")


def test_a_deeply_nested_config_json_in_an_out_folder_is_one_line(cli, tmp_path):
    """Telling whether --out is lmkit's read its config.json with a RecursionError let through: a traceback."""
    out = tmp_path / "deep"
    out.mkdir()
    (out / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    result = cli("ngram", "--train", ENGLISH, "--order", "2", "--out", out)
    assert_one_line_error(result, f"{out}")
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]
