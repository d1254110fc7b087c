"""`lmkit fill --text-file F`: every line of F a sentence with a blank, filled with the models (and memories) read
once, each line's fillers the same as the one-sentence command's."""
import json
from pathlib import Path

import pytest
import torch

from conftest import assert_one_line_error
from lmkit.checkpoint.save_load import save_model
from lmkit.models.neural.cloze import ClozeConfig, ClozeRNN
from lmkit.text.tokenizers import CharTokenizer
from test_cli_generate import LINES, rnn_dir

SENTENCES = ["我打算_一部新手机", "他有一部_手机", "我打算去_京"]


@pytest.fixture
def pair(tmp_path):
    chars = CharTokenizer.fit(LINES)
    return rnn_dir(tmp_path / "fwd", chars), rnn_dir(tmp_path / "bwd", chars, direction="backward", seed=1)


@pytest.fixture
def bimodel(tmp_path):
    chars = CharTokenizer.fit(LINES)
    torch.manual_seed(0)
    model = ClozeRNN(chars.vocab, ClozeConfig(kind="bilstm", emb_size=8, hidden_size=12, layers=2)).eval()
    torch.nn.init.normal_(model.join.write.weight, std=0.5)  # a new join layer passes states through: give it weights
    return save_model(tmp_path / "bi", model, chars, {})


def models(form, pair, bimodel) -> tuple:
    return pair if form == "pair" else (bimodel,)


def sentences_file(tmp_path, text: str):
    path = tmp_path / "sentences.txt"
    path.write_bytes(text.encode("utf-8"))
    return path


def records(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("form", ["pair", "bimodel"])
def test_each_line_gets_the_fillers_the_sentence_alone_gets_under_its_line_number(cli, tmp_path, pair, bimodel, form):
    given = models(form, pair, bimodel)
    # empty and space-only lines part groups and are skipped; a CRLF file reads as an LF one
    path = sentences_file(tmp_path, f"{SENTENCES[0]}\r\n\r\n  \r\n{SENTENCES[1]}\r\n{SENTENCES[2]}")
    together = records(cli("fill", *given, "--text-file", path, "--top", "3", "--json"))
    assert sorted({row["line"] for row in together}) == [1, 4, 5]
    for line, sentence in zip([1, 4, 5], SENTENCES):
        alone = records(cli("fill", *given, sentence, "--top", "3", "--json"))
        assert [{k: v for k, v in row.items() if k != "line"} for row in together if row["line"] == line] == alone
        assert "line" not in alone[0]


@pytest.mark.parametrize("form", ["pair", "bimodel"])
def test_the_table_of_each_line_follows_a_heading_that_names_it(cli, tmp_path, pair, bimodel, form):
    given = models(form, pair, bimodel)
    path = sentences_file(tmp_path, f"{SENTENCES[0]}\n\n{SENTENCES[1]}\n")
    result = cli("fill", *given, "--text-file", path, "--top", "2")
    assert result.exit_code == 0, result.output
    blocks = result.stdout.split("\n\n")
    assert len(blocks) == 2
    for block, (line, sentence) in zip(blocks, [(1, SENTENCES[0]), (3, SENTENCES[1])]):
        heading, header, *rows = block.strip("\n").split("\n")
        assert heading == f"line {line}: {sentence}" and header.split()[0] == "rank" and len(rows) == 2
        assert rows == cli("fill", *given, sentence, "--top", "2").stdout.strip("\n").split("\n")[1:]


def test_a_memory_is_built_once_for_every_line(cli, tmp_path, bimodel):
    memory_text = tmp_path / "memory.txt"
    memory_text.write_text("我打算买一部新手机\n", encoding="utf-8")
    path = sentences_file(tmp_path, "\n".join(SENTENCES))
    result = cli("fill", bimodel, "--text-file", path, "--memory-file", memory_text, "--json")
    assert {row["line"] for row in records(result)} == {1, 2, 3}
    assert result.stderr.count("remembering ") == 1


@pytest.mark.parametrize("content, fragments", [
    ("我打算_一部\n\n他有一部手机\n", ("line 3:", "no blank in '他有一部手机'")),
    ("我_\n我_打_算\n", ("line 2:", "2 blanks '_' in '我_打_算'")),
    ("\n \n\u3000\n", ("has no sentence to fill",)),
    ("", ("has no sentence to fill",)),
])
@pytest.mark.parametrize("form", ["pair", "bimodel"])
def test_a_bad_line_is_refused_by_its_number_before_anything_is_printed(cli, tmp_path, pair, bimodel, form, content,
                                                                       fragments):
    path = sentences_file(tmp_path, content)
    result = cli("fill", *models(form, pair, bimodel), "--text-file", path)
    assert_one_line_error(result, f"--text-file {path}", *fragments)
    assert result.stdout == ""


def test_a_bad_file_is_refused_by_name(cli, tmp_path, bimodel):
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"caf\xe9 _\n")
    assert_one_line_error(cli("fill", bimodel, "--text-file", binary), f"--text-file {binary}", "not valid UTF-8")
    for encoding, said in (("utf-16", "is UTF-16 text (it begins with a UTF-16 byte-order mark)"),
                           ("utf-16-le", "looks like UTF-16LE text without a byte-order mark")):  # adversarial pass 64
        binary.write_bytes("我的手机坏了，我打算_一部新手机。\r\n".encode(encoding) * 4)
        assert_one_line_error(cli("fill", bimodel, "--text-file", binary), f"--text-file {binary}: {said}",
                              "save it as UTF-8")
    assert_one_line_error(cli("fill", bimodel, "--text-file", tmp_path / "none.txt"), "none.txt", "no such file")
    assert_one_line_error(cli("fill", bimodel, "--text-file", tmp_path), str(tmp_path), "is a directory")


def test_text_and_a_text_file_together_are_refused(cli, tmp_path, pair, bimodel):
    path = sentences_file(tmp_path, SENTENCES[0])
    assert_one_line_error(cli("fill", *pair, SENTENCES[1], "--text-file", path), "either TEXT or --text-file")
    # one model and a sentence: the sentence would be read as the pair's BACKWARD model
    assert_one_line_error(cli("fill", bimodel, SENTENCES[1], "--text-file", path),
                          f"BACKWARD {SENTENCES[1]!r}: no such model directory", "no TEXT")


def test_a_model_alone_without_text_is_a_usage_error(cli, bimodel):
    assert_one_line_error(cli("fill", bimodel), "Missing argument 'BACKWARD|TEXT'", "--text-file", usage=True)


def test_an_error_while_a_line_is_filled_and_a_warning_name_that_line(cli, tmp_path, pair):
    path = sentences_file(tmp_path, f"{SENTENCES[0]}\n我在_坐")
    warned = cli("fill", *pair, "--text-file", path, "--json")
    assert f"warning: --text-file {path} line 2: 2 context tokens not in the vocabulary" in warned.stderr
    assert "line 1:" not in warned.stderr and {row["line"] for row in records(warned)} == {1, 2}
    refused = cli("fill", *pair, "--text-file", path, "--candidates", "买,飞")
    assert_one_line_error(refused, f"--text-file {path} line 1: --candidates '飞': not in the vocabulary")


def test_a_line_no_vocabulary_filler_fits_is_skipped_and_counted_the_others_filled(cli, tmp_path, pair, monkeypatch):
    """Pass 60: such a line stopped the run, the lines after it never filled."""
    from lmkit.text.tokenizers import Tokenizer

    fits = Tokenizer.readable_fillers
    monkeypatch.setattr(Tokenizer, "readable_fillers",
                        lambda self, left, right, ids: [] if left.startswith("他") else fits(self, left, right, ids))
    path = sentences_file(tmp_path, "\n".join(SENTENCES))
    result = cli("fill", *pair, "--text-file", path, "--json")
    assert {json.loads(line)["line"] for line in result.stdout.splitlines()} == {1, 3}
    warning, = [line for line in result.stderr.splitlines() if line.startswith("warning")]
    assert warning.startswith(f"warning: --text-file {path} line 2: no filler in the vocabulary reads")
    assert warning.endswith("; line skipped")
    assert_one_line_error(result, f"--text-file {path}: 1 line of 3 could not be filled (each named above)")
    alone = cli("fill", *pair, SENTENCES[1])  # one sentence: the error itself, no count
    assert_one_line_error(alone, "no filler in the vocabulary reads")


@pytest.mark.parametrize("content, fragments", [
    (b"\xe6\x88\x91_\n\xe6\x88\xff_\n", ("line 2: not valid UTF-8 at byte offset 5 (byte 0xe6)",)),
    (b"\xe6\x88\x91_\n" * 3000 + b"a\x00_ b\n", ("line 3001: holds a NUL byte",)),
])
def test_bytes_that_are_not_text_are_refused_by_their_line_wherever_they_are(cli, tmp_path, bimodel, content,
                                                                             fragments):
    path = tmp_path / "sentences.txt"
    path.write_bytes(content)
    result = cli("fill", bimodel, "--text-file", path)
    assert_one_line_error(result, f"--text-file {path} ", *fragments)
    assert result.stdout == ""


def test_an_error_quotes_a_long_line_cut_short(cli, tmp_path, bimodel):
    path = sentences_file(tmp_path, "我打算_一部\n" + "很" * 200_000 + "\n")
    result = cli("fill", bimodel, "--text-file", path)
    assert_one_line_error(result, "line 2: no blank in '很很", "[199,880 characters]")
    assert len(result.stderr) < 400


def test_slips_in_the_candidates_list_are_refused_before_any_model_is_read(cli, tmp_path):
    path = sentences_file(tmp_path, SENTENCES[0])
    missing = tmp_path / "no-such-model"
    for candidates in ("买,,去", "买, ,去"):
        result = cli("fill", missing, "--text-file", path, "--candidates", candidates)
        assert_one_line_error(result, "--candidates")
        assert "line 1" not in result.stderr and "no-such-model" not in result.stderr


def test_a_score_that_rounds_to_zero_is_shown_without_a_sign():
    """First-hour pass, session 51: fill printed -0.000 beside 0.000."""
    from lmkit.commands.fill_output import score_cell

    assert score_cell(-0.0001) == score_cell(0.0) == score_cell(-0.0) == "     0.000"
    assert score_cell(-1.23456) == "    -1.235" and score_cell(None) == "         -"


@pytest.mark.parametrize("form", ["pair", "bimodel"])
def test_standard_input_is_read_as_a_text_file_is(cli, tmp_path, pair, bimodel, form):
    given = models(form, pair, bimodel)
    text = f"{SENTENCES[0]}\n\n{SENTENCES[2]}\r\n"
    from_file = records(cli("fill", *given, "--text-file", sentences_file(tmp_path, text), "--top", "2", "--json"))
    assert records(cli("fill", *given, "--text-file", "-", "--top", "2", "--json", input=text.encode())) == from_file
    assert {row["line"] for row in from_file} == {1, 3}


@pytest.mark.parametrize("content, fragments", [
    (b"", ("--text-file - has no sentence to fill",)),
    ("我打算一部\n".encode(), ("--text-file - line 1: no blank in '我打算一部'",)),
    (b"\xe6\x88\x91_\n\xe6\x88\xff_\n", ("--text-file - line 2: not valid UTF-8 at byte offset 5", "give UTF-8 text")),
    ("\ufeff我_".encode("utf-16-le"), ("--text-file -: standard input: is UTF-16 text",)),
])
def test_bad_standard_input_is_refused_in_one_line(cli, bimodel, content, fragments):
    result = cli("fill", bimodel, "--text-file", "-", input=content)
    assert_one_line_error(result, *fragments)
    assert result.stdout == ""


def test_standard_input_larger_than_the_bound_is_refused_as_it_is_read(cli, bimodel, monkeypatch):
    monkeypatch.setattr("lmkit.commands.fill_texts.TEXT_FILE_MAX_BYTES", 10)
    assert_one_line_error(cli("fill", bimodel, "--text-file", "-", input="我打算_一部新手机\n".encode()),
                          "--text-file -: standard input: holds more than 10 bytes, the most lmkit reads as sentences")


@pytest.mark.parametrize("form", ["pair", "bimodel"])
def test_a_large_search_is_announced_once_before_it_runs_and_a_small_one_not(cli, tmp_path, pair, bimodel, form,
                                                                           monkeypatch):
    """A wide --beam over a long --max-len is a long wait with no bar off a terminal: stderr says its size first,
    once for the whole --text-file; a search below LARGE_SEARCH_TOKENS says nothing."""
    given, path = models(form, pair, bimodel), sentences_file(tmp_path, "\n".join(SENTENCES))
    search = ("--text-file", path, "--max-len", "3", "--beam", "2", "--top", "1")
    assert "note:" not in cli("fill", *given, *search).stderr
    monkeypatch.setattr("lmkit.commands.fill.LARGE_SEARCH_TOKENS", 10)
    notes = [line for line in cli("fill", *given, *search).stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "--max-len 3 --beam 2 ranks up to" in notes[0] and "million tokens" in notes[0]


def test_the_readme_gives_the_size_of_search_that_is_announced():
    from lmkit.commands.fill import LARGE_SEARCH_TOKENS

    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8").split())
    assert f"a search that will read more than {LARGE_SEARCH_TOKENS / 1e6:g} million tokens says so" in readme
