"""File names that are not UTF-8 or hold control characters, through the CLI: no UnicodeEncodeError, one line.

Python hands such names over as lone surrogates (os.fsdecode's surrogateescape). Errors show them with
lmkit.errors.printable (the byte as \\xNN); other output is backslash-escaped rather than crashing;
JSON files keep them as \\udcNN escapes, which read back as the same name.
"""
from __future__ import annotations

import json
import os
import shutil

import pytest
from conftest import ENGLISH, assert_one_line_error

from lmkit.errors import printable

ODD = os.fsdecode(b"caf\xe9-\xff")  # Latin-1 bytes in a UTF-8 world: not decodable
TINY_TRAIN = ["--hidden-size", "8", "--emb-size", "8", "--layers", "1", "--batch-size", "4", "--bptt", "8",
              "--max-steps", "2", "--eval-every", "2", "--sample-tokens", "5", "--quiet"]


def test_printable_shows_undecodable_bytes_and_control_characters_escaped():
    assert printable(os.fsdecode(b"/data/caf\xe9.txt")) == "/data/caf\\xe9.txt"
    assert printable("two\nlines\tand \x1b[31mred") == "two\\nlines\\tand \\x1b[31mred"
    assert printable("a\ud800b") == "a\\ud800b"
    assert printable("plain, 中文, café") == "plain, 中文, café"
    # adversarial pass 25: Unicode's line separators and direction overrides were printed as they are
    assert printable("x\u2028y\u2029z\x85") == "x\\u2028y\\u2029z\\x85"
    assert printable("a\u202egnp.exe\u2066\u200f\u061c") == "a\\u202egnp.exe\\u2066\\u200f\\u061c"


def test_training_with_undecodable_bytes_in_train_and_out_names(cli, tmp_path, corpora_root):
    train, out = tmp_path / f"{ODD}.txt", tmp_path / f"model-{ODD}"
    shutil.copy(ENGLISH, train)
    result = cli("train", "--train", train, *TINY_TRAIN, "--out", out)
    assert result.exit_code == 0, result.output
    assert "model-caf" in result.stdout
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    manifest = json.loads((corpora_root / config["corpus"] / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["source"]["inputs"]["train"][0]["path"] == str(train)  # \udcNN escapes: the same name
    evaluated = cli("eval", out, "--file", train, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["text"] == str(train)
    info = cli("corpus", "info", "--train", train)
    assert info.exit_code == 0, info.output


def test_the_lines_naming_a_model_folder_escape_line_separators_and_direction_overrides(cli, tmp_path, corpora_root):
    """Adversarial pass 26: the run's header, summary, 'nothing left to train' and fill's direction warnings
    printed a folder's U+2028 and U+202E raw, so one line showed as two, or read back to front."""
    out = tmp_path / "m\u2028x\u202ey"
    trained = cli("train", "--train", ENGLISH, *[a for a in TINY_TRAIN if a != "--quiet"], "--out", out)
    resumed = cli("train", "--resume", out, "--quiet")  # its --max-steps 2 is spent: a warning
    fill = cli("fill", out, out, "the _ end")  # a forward model as the backward one: a warning
    for result in (trained, resumed, fill):
        assert result.exit_code == 0, result.output
        assert "\u2028" not in result.output and "\u202e" not in result.output
    assert "m\\u2028x\\u202ey" in trained.stdout
    assert "nothing left to train" in resumed.stderr and "m\\u2028x\\u202ey" in resumed.stderr
    assert "but is used here as the backward model" in fill.stderr


COMMANDS = {
    "eval --file": lambda p, m: ["eval", m, "--file", p],
    "--prompt-file": lambda p, m: ["generate", m, "--prompt-file", p],
    "--train": lambda p, m: ["train", "--train", p, "--out", m],
    "MODEL_DIR": lambda p, m: ["generate", p],
    "tokenize --from": lambda p, m: ["tokenize", "--from", p, "x"],
}
NAMES = {"undecodable": ODD, "newline": "new\nline", "tab": "tab\there", "escape": "esc\x1b[2J"}


@pytest.mark.parametrize("option", COMMANDS)
@pytest.mark.parametrize("name", NAMES)
def test_errors_naming_an_odd_path_are_one_printable_line(cli, tmp_path, option, name):
    from lmkit.corpus.catalog import get_corpus
    from lmkit.text.tokenizer_cache import get_tokenizer
    from lm_fixtures import rnn_dir

    corpus = get_corpus(train=ENGLISH)
    model = rnn_dir(tmp_path / "model", corpus, get_tokenizer(corpus, "char"))
    missing = tmp_path / f"{NAMES[name]}.txt"
    result = cli(*COMMANDS[option](missing, model))
    assert_one_line_error(result, printable(str(missing)))
