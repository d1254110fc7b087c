"""`lmkit generate` and `lmkit fill` end to end on small model directories."""
import json
import re

from pathlib import Path

import pytest
import torch

from conftest import TINY, assert_one_line_error
from lmkit.checkpoint.save_load import save_model
from lmkit.commands.generate import continuation_text, echo_sample, sample_header
from lmkit.generate.fill import split_blank
from lmkit.generate.sampling import Sample, SamplingConfig
from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.text.tokenizers import CharTokenizer, WordTokenizer

LINES = ["我打算买一部新手机", "他有一部新手机", "我打算去北京", "the cat sat on the mat"]


def rnn_dir(path, tokenizer, direction="forward", seed=0):
    torch.manual_seed(seed)
    model = RNNLM(tokenizer.vocab, RNNConfig(cell="lstm", emb_size=8, hidden_size=16, layers=1))
    output_layer = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    output_layer.weight.data.mul_(20)  # peaked, so beams and samples differ
    return save_model(path, model, tokenizer, {"direction": direction})


@pytest.fixture
def chars():
    return CharTokenizer.fit(LINES)


@pytest.fixture
def forward_dir(tmp_path, chars):
    return rnn_dir(tmp_path / "fwd", chars)


@pytest.fixture
def backward_dir(tmp_path, chars):
    return rnn_dir(tmp_path / "bwd", chars, direction="backward", seed=1)


def records(result):
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_seeded_generation_repeats_and_starts_with_the_prompt(cli, forward_dir):
    args = ("generate", forward_dir, "--prompt", "我打算", "--seed", "3", "--sentences", "0", "--max-tokens", "30")
    first, second = cli(*args), cli(*args)
    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    assert first.stdout.startswith("我打算")
    assert cli(*args[:-4], "5", "--sentences", "0", "--max-tokens", "30").stdout != first.stdout


def test_json_gives_per_token_log_probs(cli, forward_dir):
    rows = records(cli("generate", forward_dir, "--json", "--num-samples", "3", "--max-tokens", "12", "--seed", "1"))
    assert len(rows) == 3
    for row in rows:
        assert len(row["tokens"]) == len(row["ids"]) == len(row["logprobs"]) <= 12
        assert row["total"] == pytest.approx(sum(row["logprobs"]), abs=1e-4)
        assert "<s>" not in row["tokens"] and "<pad>" not in row["tokens"] and "<unk>" not in row["tokens"]


def test_beam_1_equals_greedy_and_beams_come_best_first(cli, forward_dir):
    greedy = records(cli("generate", forward_dir, "--greedy", "--json", "--prompt", "他"))
    beam1 = records(cli("generate", forward_dir, "--beam", "1", "--json", "--prompt", "他"))
    assert beam1[0]["ids"] == greedy[0]["ids"]
    beams = records(cli("generate", forward_dir, "--beam", "4", "--json", "--max-tokens", "8", "--sentences", "0"))
    assert len(beams) == 4
    assert [b["score"] for b in beams] == sorted((b["score"] for b in beams), reverse=True)
    text = cli("generate", forward_dir, "--beam", "2", "--max-tokens", "8", "--sentences", "0").stdout
    assert text.count("# score") == 2


def test_unknown_prompt_characters_warn_once_and_go_on(cli, forward_dir):
    result = cli("generate", forward_dir, "--prompt", "我☃打算★", "--max-tokens", "5", "--seed", "0")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("\n") == 1 and "'☃', '★'" in result.stderr and "<unk>" in result.stderr
    assert result.stdout.startswith("我☃打算★")


def test_prompt_file(cli, forward_dir, tmp_path):
    (tmp_path / "prompt.txt").write_text("他有\n", encoding="utf-8")
    result = cli("generate", forward_dir, "--prompt-file", tmp_path / "prompt.txt", "--greedy", "--max-tokens", "3")
    assert result.exit_code == 0 and result.stdout.startswith("他有")
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    assert_one_line_error(cli("generate", forward_dir, "--prompt-file", tmp_path / "empty.txt"), "empty.txt is empty")


def test_prompt_file_dash_reads_standard_input(cli, forward_dir, tmp_path, monkeypatch):
    args = ("--greedy", "--max-tokens", "4", "--json")
    (tmp_path / "prompt.txt").write_text("他有\n", encoding="utf-8")
    from_file = records(cli("generate", forward_dir, "--prompt-file", tmp_path / "prompt.txt", *args))
    assert records(cli("generate", forward_dir, "--prompt-file", "-", *args, input="他有\n")) == from_file
    monkeypatch.chdir(tmp_path)
    Path("-").write_text("他有\n", encoding="utf-8")  # ./- is a file called '-', not standard input
    assert records(cli("generate", forward_dir, "--prompt-file", "./-", *args, input="我")) == from_file


@pytest.mark.parametrize("data, message", [
    (b"", "standard input (--prompt-file -) is empty; leave the option out"),
    (b"\n", "standard input (--prompt-file -) is empty"),
    ("caf\u00e9\n".encode("latin-1"), "standard input: not valid UTF-8 at byte offset 3 (byte 0xe9); give UTF-8 text"),
    ("他有\n".encode("utf-16-le") * 8, "standard input: looks like UTF-16LE text without a byte-order mark"),
    ("今天天气很好".encode("utf-16"), "standard input: is UTF-16 text (it begins with a UTF-16 byte-order mark)"),
    (b"\x00" * 10, "standard input: looks like a binary file"),
    ("他".encode() * 30, "standard input: holds more than 64 bytes, the most lmkit reads as a prompt"),
], ids=["empty", "newline", "latin1", "utf16le", "utf16 no nul", "nul", "large"])
def test_bad_standard_input_prompt(cli, forward_dir, monkeypatch, data, message):
    monkeypatch.setattr("lmkit.commands.generate.PROMPT_MAX_BYTES", 64)
    assert_one_line_error(cli("generate", forward_dir, "--prompt-file", "-", input=data), message)


def test_a_closed_standard_input_is_said_in_one_line(forward_dir, corpora_root):
    """Adversarial pass 64: `--prompt-file - <&-` (and tokenize reading standard input) ended in a traceback."""
    import subprocess
    import sys

    for args in (["generate", str(forward_dir), "--prompt-file", "-"], ["tokenize", "--from", str(forward_dir)]):
        command = " ".join(f"'{a}'" for a in [sys.executable, "-m", "lmkit", *args]) + " <&-"
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.strip() == "error: standard input is closed; give the text through a pipe or a file"


def test_backward_model_writes_the_line_ending_in_the_prompt(cli, backward_dir):
    args = ("--prompt", "新手机", "--json", "--greedy", "--sentences", "0", "--max-tokens", "6")
    (row,) = records(cli("generate", backward_dir, *args))
    assert row["text"].split("\n")[0].endswith("新手机")  # the model wrote what comes before the prompt
    assert len(row["text"].replace("\n", "")) == len("新手机") + len([t for t in row["tokens"] if t != "</s>"])


@pytest.mark.parametrize("args, fragments, usage", [
    (("--top-p", "1.5"), ("--top-p must be at most 1, got 1.5",), True),
    (("--top-k", "0"), ("--top-k must be at least 1",), True),
    (("--temperature", "0"), ("--temperature", "--greedy"), True),
    (("--beam", "1000"), ("--beam", "1000"), False),
    (("--prompt", ""), ("--prompt is empty",), False),
    (("--prompt", "a", "--prompt-file", "x.txt"), ("--prompt or --prompt-file",), False),
])
def test_bad_generate_options(cli, forward_dir, args, fragments, usage):
    assert_one_line_error(cli("generate", forward_dir, *args), *fragments, usage=usage)


def test_missing_model_directory(cli, tmp_path):
    assert_one_line_error(cli("generate", tmp_path / "nope"), "no such model directory")


def test_streamed_text_equals_decoding_the_whole_line():
    words = WordTokenizer.fit(["the cat sat on the mat", "a dog"])
    primed = words.encode("a dog\nthe cat")
    ids = words.encode("sat on\nthe mat")
    assert "the cat" + continuation_text(words, primed, ids) == "the cat sat on\nthe mat"


def test_fill_prints_both_scores(cli, forward_dir, backward_dir):
    rows = records(cli("fill", forward_dir, backward_dir, "我打算___一部新手机", "--candidates", "买,去,北京", "--json"))
    assert sorted(r["filler"] for r in rows) == sorted(["北京", "去", "买"])
    for row in rows:
        assert row["total"] == pytest.approx(row["forward"] + row["backward"], abs=1e-5)
        assert row["sentence"] == f"我打算{row['filler']}一部新手机"
    table = cli("fill", forward_dir, backward_dir, "我打算_一部新手机", "--max-len", "2", "--top", "5")
    assert table.exit_code == 0, table.output
    assert len(table.stdout.splitlines()) == 6 and table.stdout.startswith("rank")


def spm_pair(tmp_path):
    from lmkit.text.tokenizers import SentencePieceTokenizer

    lines = ["白日依山尽，黄河入海流。", "欲穷千里目，更上一层楼。", "the king went to the castle", "a queen said"] * 30
    pieces = SentencePieceTokenizer.fit(lines, vocab_size=60)
    return pieces, rnn_dir(tmp_path / "f", pieces), rnn_dir(tmp_path / "b", pieces, direction="backward")


def scored_as_shown(forward, pieces, rows) -> None:
    """Each row that reads as scored: its forward score is that of its sentence encoded as one line."""
    from lmkit.checkpoint.save_load import load_model
    from lmkit.generate.fill import sentence_logprobs

    model = load_model(forward)[0]
    read = [row for row in rows if row["reads_as_scored"]]
    expected = sentence_logprobs(model, [pieces.encode_line(row["sentence"]) for row in read])
    assert [row["forward"] for row in read] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("text, candidate, sentence", [
    ("白日依山_，黄河入海流。", "尽", "白日依山尽，黄河入海流。"),
    ("the king _ to the castle", "went", "the king went to the castle"),
    ("the king  _ to the castle", "went", "the king  went to the castle"),  # pass 48: shown with four spaces
    (" _ king", "the", " the king"),
    ("the king \u2581_ to", "went", "the king \u2581went to"),  # a typed ▁ reads as a space
])
def test_fill_with_sentencepiece_scores_the_sentence_as_it_reads(cli, tmp_path, text, candidate, sentence):
    """Pass 46: each side of the blank was encoded as a line of its own, so sentencepiece's line-start `▁` was
    scored where the sentence has none (`... 山 | 尽 | ▁ ， 黄 河`). The forward score is now that of the whole
    filled sentence's pieces, shown as typed."""
    pieces, forward, backward = spm_pair(tmp_path)
    row, = records(cli("fill", forward, backward, text, "--candidates", candidate, "--json"))
    assert row["sentence"] == sentence and row["reads_as_scored"]
    assert row["ids"] == pieces.encode_around(*split_blank(text), [candidate])[1][0]
    scored_as_shown(forward, pieces, [row])


def spm_bilstm(tmp_path, pieces):
    from lmkit.models.neural.cloze import ClozeConfig, ClozeRNN

    torch.manual_seed(0)
    model = ClozeRNN(pieces.vocab, ClozeConfig(emb_size=8, hidden_size=12, layers=1, dropout=0.0, out_dropout=0.0))
    return save_model(tmp_path / "bi", model, pieces, {})


@pytest.mark.parametrize("text", ["the king _ to the castle", "_ king went", "the king  _", "白日依山_，黄河入海流。"])
def test_fill_with_one_sentencepiece_bilstm_proposes_what_reads(cli, tmp_path, text):
    """The one-model form proposes the vocabulary's fillers by the same rules: each begins a word where the text
    has a space before the blank, and reads as its own pieces."""
    pieces, _, _ = spm_pair(tmp_path)
    rows = records(cli("fill", spm_bilstm(tmp_path, pieces), text, "--top", "40", "--max-len", "2", "--json"))
    assert len(rows) == 40 and all(row["filler"].strip() and row["reads_as_scored"] for row in rows)
    starts_word = text.startswith("_") or " _" in text
    assert all(pieces.vocab.token(row["ids"][0]).startswith("\u2581") == starts_word for row in rows)
    left, right = split_blank(text)
    for row in rows:
        assert pieces.encode_around(left, right, [row["filler"]])[1][0] == row["ids"]


@pytest.mark.parametrize("text", ["the king _ to the castle", "_ king went", "the king  _", "白日依山_，黄河入海流。"])
def test_fill_from_the_vocabulary_with_sentencepiece_scores_what_it_shows(cli, tmp_path, text):
    """Pass 48: after a typed space, pieces that continue a word (`s`) were scored glued to the word before
    (`the kings to`) and shown apart (`the king s to`), and crowded the top of the list. A filler now begins a
    word exactly where the text has a space before the blank or the line starts there, and a filler of several
    pieces is kept only where its text reads as them (`▁ k` is written `k`, which reads `▁k`)."""
    pieces, forward, backward = spm_pair(tmp_path)
    rows = records(cli("fill", forward, backward, text, "--top", "40", "--max-len", "2", "--json"))
    assert len(rows) == 40 and all(row["reads_as_scored"] for row in rows)
    assert all(row["filler"].strip() for row in rows)  # a bare ▁ after a space writes nothing: not a filler
    starts_word = text.startswith("_") or " _" in text
    assert all(pieces.vocab.token(row["ids"][0]).startswith("\u2581") == starts_word for row in rows)
    scored_as_shown(forward, pieces, rows)


def test_fill_marks_a_sentence_that_reads_as_other_pieces_than_those_scored(cli, tmp_path):
    """`the ki_g` filled with `n` is scored `▁k i | n | g`; written out, `king` reads `▁k in g`. Shown as typed,
    marked, with a footnote (the pair may be right, but the sentence cannot say what was scored)."""
    _, forward, backward = spm_pair(tmp_path)
    row, = records(cli("fill", forward, backward, "the ki_g went", "--candidates", "n", "--json"))
    assert row["sentence"] == "the king went" and row["reads_as_scored"] is False
    table = cli("fill", forward, backward, "the ki_g went", "--candidates", "n,in")
    lines = table.stdout.splitlines()
    assert table.exit_code == 0 and len(lines) == 4 and lines[-1].startswith("* scored cut at the blank's edges")
    assert sum(line.endswith("  *") for line in lines) == 1


@pytest.mark.parametrize("text, extra, fragments", [
    ("我打算一部新手机", (), ("no blank",)),
    ("我_算_一部", (), ("2 blanks",)),
    ("我打算_一部", ("--candidates", "买,,去"), ("empty entry",)),
    ("我打算_一部", ("--candidates", "买\n去"), ("'买\\n去' holds a line break: give the fillers on one line",)),
])
def test_bad_fill_input(cli, forward_dir, backward_dir, text, extra, fragments):
    assert_one_line_error(cli("fill", forward_dir, backward_dir, text, *extra), *fragments)


def test_bad_fill_numbers_are_refused_while_parsing(cli, forward_dir, backward_dir):
    result = cli("fill", forward_dir, backward_dir, "我打算_一部", "--max-len", "0")
    assert_one_line_error(result, "--max-len must be at least 1", usage=True)


@pytest.mark.parametrize("candidates, unknown, one", [
    ("猫,狗", "'猫', '狗'", False),        # two unknown words would have been one <unk> row, ranked first
    ("买,猫", "'猫'", True),
    ("买猫,去", "'买猫' (its '猫')", True),  # one unknown character makes the candidate unknown, and is named
    ("猫狗,去", "'猫狗' (its '猫', '狗')", True),
    ("去,<unk>", "'<unk>' (its '<', 'u', 'k', '>')", True),  # characters, as this model reads it
])
def test_fill_refuses_candidates_outside_the_vocabulary_naming_them(cli, forward_dir, backward_dir, candidates, unknown,
                                                                     one):
    result = cli("fill", forward_dir, backward_dir, "我打算_一部", "--candidates", candidates)
    assert_one_line_error(result, f"--candidates {unknown}: not in the vocabulary "
                          + ("(it would be scored as <unk>); drop it" if one else "(each would be scored as <unk>, alike)"))


def test_fill_refuses_two_candidates_that_are_the_same_tokens(cli, tmp_path):
    words = WordTokenizer.fit(["the cat sat", "a dog sat"], lowercase=True)
    forward, backward = rnn_dir(tmp_path / "f", words), rnn_dir(tmp_path / "b", words, direction="backward")
    result = cli("fill", forward, backward, "the _ sat", "--candidates", "Cat,cat,dog")
    assert_one_line_error(result, "--candidates 'Cat' and 'cat' are the same tokens in this vocabulary")


def test_fill_refuses_a_candidate_that_is_only_space_to_the_tokenizer(cli, tmp_path):
    """Pass 49: `--candidates ▁` (a typed sentencepiece space) was ranked as a filler that writes nothing, and on a
    model that collapses spaces it encoded to no token and ended in "no candidate fillers to score"."""
    _, forward, backward = spm_pair(tmp_path)
    for candidates in ("\u2581", "king,\u2581\u2581"):
        blank = candidates.split(",")[-1]
        assert_one_line_error(cli("fill", forward, backward, "the _ went", "--candidates", candidates),
                              f"--candidates {blank!r} is only space to this model's tokenizer")


@pytest.mark.parametrize("candidate", ["\u2581went", "went\u2581", "went,king\u2581"])
def test_fill_refuses_a_candidate_with_a_space_at_its_edge_to_the_tokenizer(cli, tmp_path, candidate):
    """Pass 50: `of▁` before a glued `to` was scored `▁of ▁ | to`, though typed it reads `▁of | ▁to`: a space at a
    filler's edge decides how the text beside it reads, so it goes in TEXT, around the blank."""
    _, forward, backward = spm_pair(tmp_path)
    spaced = candidate.split(",")[-1]
    assert_one_line_error(cli("fill", forward, backward, "the king _to", "--candidates", candidate),
                          f"--candidates {spaced!r} begins or ends with a space to this model's tokenizer")


def test_fill_refuses_two_models_that_read_text_differently(cli, tmp_path):
    """Pass 49: a pair whose tokenizers share a vocabulary but not their settings was accepted, and the first one's
    reading was used for both."""
    words = WordTokenizer.fit(["the cat sat", "a dog sat"])
    lowered = WordTokenizer(words.vocab, lowercase=True)
    forward, backward = rnn_dir(tmp_path / "f", words), rnn_dir(tmp_path / "b", lowered, direction="backward")
    assert_one_line_error(cli("fill", forward, backward, "the _ sat"), "have one vocabulary but read text differently",
                          "lowercase=True")
    from lmkit.checkpoint.model_source import open_models
    from lmkit.errors import ConfigError

    from lmkit.models.ngram.arpa_write import write_arpa
    from lmkit.models.ngram.model import build_ngram
    from lmkit.text.encode import encode_lines

    arpa = write_arpa(build_ngram(encode_lines(words, ["the cat sat"] * 3), words.vocab, order=2, smoothing="add-k"),
                      tmp_path / "n.arpa")
    with pytest.raises(ConfigError, match="f and --tokenizer-from b have one vocabulary but read text differently"):
        open_models([forward, arpa], lowered, "--tokenizer-from b")  # pass 50: a tokenizer given for ARPA files too


def test_sentencepiece_models_trained_apart_on_one_text_read_alike(cli, tmp_path):
    """Pass 50: two trainings of one tokenizer differ in the file names sentencepiece records, not in reading."""
    from lmkit.text.tokenizers import SentencePieceTokenizer

    lines = ["the king went to the castle", "a queen said"] * 40
    first, second = (SentencePieceTokenizer.fit(lines, vocab_size=40) for _ in range(2))
    assert first.model_proto != second.model_proto and first.reads_like(second)
    forward, backward = rnn_dir(tmp_path / "f", first), rnn_dir(tmp_path / "b", second, direction="backward")
    assert cli("fill", forward, backward, "the _ went", "--candidates", "king").exit_code == 0


def test_fill_refuses_models_with_different_vocabularies(cli, forward_dir, tmp_path):
    other = rnn_dir(tmp_path / "other", CharTokenizer.fit(["完全不同的字"]), direction="backward")
    assert_one_line_error(cli("fill", forward_dir, other, "我打算_一部"), "different vocabularies")


def ngram_dirs(tmp_path, lines):
    from lmkit.models.ngram.model import build_ngram
    from lmkit.text.encode import encode_lines

    tokenizer = CharTokenizer.fit(lines)
    options = {"order": 3, "smoothing": "add-k", "k": 0.1}
    forward = build_ngram(encode_lines(tokenizer, lines), tokenizer.vocab, **options)
    backward = build_ngram(encode_lines(tokenizer, lines, reverse=True), tokenizer.vocab, direction="backward", **options)
    return save_model(tmp_path / "ng-fwd", forward, tokenizer), save_model(tmp_path / "ng-bwd", backward, tokenizer)


def test_fill_with_ngram_directories_ranks_the_planted_answer_first(cli, tmp_path):
    lines = ["我打算去北京"] * 5 + ["他有一部新手机"] * 5 + ["我打算买一部新手机"] * 2 + ["我打算睡觉"] * 2
    forward, backward = ngram_dirs(tmp_path, lines)
    result = cli("fill", forward, backward, "我的手机坏了，我打算____一部新手机", "--json")
    rows = records(result)
    assert rows[0]["filler"] == "买" and len(rows) == 10
    assert result.stderr.startswith("warning: 4 context tokens")  # 的 坏 了 ， are not in this corpus
    sampled = cli("generate", forward, "--prompt", "我打算", "--seed", "1", "--max-tokens", "20")
    assert sampled.exit_code == 0 and sampled.stdout.startswith("我打算")



@pytest.mark.parametrize("strategy", [("--greedy",), ("--beam", "2")])
def test_seed_is_refused_where_nothing_is_drawn_and_json_reports_none(cli, forward_dir, strategy):
    assert_one_line_error(cli("generate", forward_dir, *strategy, "--seed", "3"),
                          f"{strategy[0]} does not sample, so --seed would be ignored: drop one")
    rows = records(cli("generate", forward_dir, *strategy, "--json", "--max-tokens", "4"))
    assert rows and all("seed" not in row for row in rows)
    (drawn,) = records(cli("generate", forward_dir, "--json", "--max-tokens", "4"))
    assert isinstance(drawn["seed"], int)  # a sample reports the seed that repeats it


def test_high_temperature_is_not_told_to_use_greedy(cli, forward_dir):
    assert_one_line_error(cli("generate", forward_dir, "--temperature", "1001"),
                          "--temperature must be at most 1000, got 1001.0; near 0, use --greedy for the most likely "
                          "token; at 1000 the draw is already almost uniform", usage=True)


def test_a_hypothesis_of_line_ends_alone_says_so(capsys):
    beam = SamplingConfig(beam=2)
    for index, (shown, out) in enumerate([("", Sample([3], [-2.5], score=-2.5, finished=False)),
                                          ("ab", Sample([4, 5], [-1.0, -1.0], score=-1.0))]):
        echo_sample(shown, out, header=sample_header(out, index, beam), gap=False, textless=not shown)
    assert capsys.readouterr().out.splitlines() == [
        "# score -2.5000  log p -2.5000  tokens 1  (no text: 1 line end only)", "",
        "# score -1.0000  log p -2.0000  tokens 2", "ab"]


@pytest.mark.parametrize("extra, fragments", [
    (("--candidates", "买,去", "--max-len", "3"), ("--candidates are ranked as given", "--max-len would be ignored")),
    (("--candidates", "买,去", "--beam", "4"), ("--candidates are ranked as given", "--beam would be ignored")),
    (("--candidates", "买", "--max-len", "2", "--beam", "4"), ("--max-len --beam would be ignored; drop them",)),
    (("--beam", "4"), ("--beam 4 proposes fillers longer than one token, and --max-len is 1",
                       "add --max-len N, or drop --beam")),
])
def test_fill_refuses_search_options_that_search_nothing(cli, forward_dir, backward_dir, extra, fragments):
    assert_one_line_error(cli("fill", forward_dir, backward_dir, "我打算_一部", *extra), *fragments)


def test_fill_beam_with_longer_fillers_is_kept(cli, forward_dir, backward_dir):
    result = cli("fill", forward_dir, backward_dir, "我打算_一部", "--beam", "4", "--max-len", "2", "--top", "2")
    assert result.exit_code == 0, result.output


def test_fill_warns_about_exactly_the_context_tokens_scored_as_unk(cli, tmp_path):
    words = WordTokenizer.fit(["the cat sat", "a dog sat"])
    forward, backward = rnn_dir(tmp_path / "f", words), rnn_dir(tmp_path / "b", words, direction="backward")
    # each side is encoded alone: `ca` and `t` are scored as <unk>; joined they would read as `cat`
    result = cli("fill", forward, backward, "the ca_t sat", "--candidates", "dog")
    assert result.exit_code == 0, result.output
    assert result.stderr == "warning: 2 context tokens not in the vocabulary read as <unk>: 'ca', 't'\n"
    twice = cli("fill", forward, backward, "the ca_ca sat", "--candidates", "dog")  # one token, read twice
    assert twice.stderr == "warning: 1 context token not in the vocabulary read as <unk> (2 times): 'ca'\n"


def test_unknown_context_of_a_character_arpa_file_read_as_words_names_tokenizer_from(cli, tmp_path):
    """pass 74: a character model's ARPA pair read 床前 as one unknown word and filled the blank from <unk>."""
    zh = TINY["zh"]
    files = ["--train", zh["train"], "--valid", zh["valid"], "--test", zh["test"], "--tokenizer", "char", "--order", "3"]
    for direction in ("forward", "backward"):
        built = cli("ngram", *files, "--direction", direction, "--out", tmp_path / direction,
                    "--arpa", tmp_path / f"{direction}.arpa")
        assert built.exit_code == 0, built.output
    advice = ("(an ARPA file's text is read as whitespace-separated words: for a model of characters, subword "
              "pieces or words split from their punctuation (lmkit's word default), pass --tokenizer-from with its "
              "model directory or tokenizer.json)")
    arpa_pair = [tmp_path / "forward.arpa", tmp_path / "backward.arpa"]
    filled = cli("fill", *arpa_pair, "我的_子", "--candidates", "帽")
    assert filled.exit_code == 0 and filled.stderr.endswith(f"1 context token not in the vocabulary read as <unk>: '我的' {advice}\n"), filled.stderr
    generated = cli("generate", arpa_pair[0], "--prompt", "我的", "--max-tokens", "2")
    assert generated.exit_code == 0 and generated.stderr.endswith(f"read as <unk>: '我的' {advice}\n"), generated.stderr
    told = cli("fill", *arpa_pair, "我的_子", "--candidates", "帽", "--tokenizer-from", tmp_path / "forward")
    assert told.exit_code == 0 and "<unk>" not in told.stderr, told.stderr
    (tmp_path / "blanks.txt").write_text("我的_子\n你的_子\n", encoding="utf-8")
    lines = cli("fill", *arpa_pair, "--text-file", tmp_path / "blanks.txt", "--candidates", "帽")
    assert lines.exit_code == 0 and lines.stderr.count("<unk>") == 2, lines.stderr  # each line's unknown tokens,
    assert lines.stderr.count("--tokenizer-from") == 1, lines.stderr                  # the advice once (pass 75)


def test_fill_reads_full_width_commas_and_blanks(cli, forward_dir, backward_dir):
    rows = records(cli("fill", forward_dir, backward_dir, "我打算＿一部新手机", "--candidates", "买，去,北京", "--json"))
    assert sorted(r["filler"] for r in rows) == sorted(["买", "去", "北京"])
    assert all(r["sentence"] == f"我打算{r['filler']}一部新手机" for r in rows)


def test_fill_refuses_a_model_directory_given_as_the_text(cli, forward_dir, chars, tmp_path, monkeypatch):
    rnn_dir(tmp_path / "m_zh", chars)
    monkeypatch.chdir(tmp_path)  # `m_zh` holds the blank marker: it used to be filled as `m[...]zh`
    for args in (("fill", forward_dir, "m_zh"), ("fill", forward_dir, forward_dir, "m_zh")):
        assert_one_line_error(cli(*args), "TEXT 'm_zh' names an existing directory, not a sentence with a blank",
                              "lmkit fill BIMODEL TEXT", "lmkit fill FORWARD BACKWARD TEXT")


def test_fill_text_too_long_for_a_path_is_still_a_sentence(cli, forward_dir, backward_dir):
    result = cli("fill", forward_dir, backward_dir, "我打算_一部" + "新手机" * 200, "--candidates", "买")
    assert result.exit_code == 0, result.output


WORD_LINES = ["the king of the land", "go to the king", "the king sat on the mat"] * 3


@pytest.mark.parametrize("form", ["pair", "cloze"])
def test_fill_shows_a_blank_touching_words_as_the_sentence_it_scored(cli, tmp_path, form):
    """Pass 44: `the king_to` was scored as `the king X to` and shown as `the kingXto` (one unknown word to lmkit)."""
    from lmkit.models.neural.cloze import ClozeConfig, ClozeRNN
    from lmkit.models.ngram.model import build_ngram
    from lmkit.text.encode import encode_lines

    tokenizer = WordTokenizer.fit(WORD_LINES)
    if form == "pair":
        options = {"order": 3, "smoothing": "add-k", "k": 0.1}
        models = [save_model(tmp_path / name, build_ngram(encode_lines(tokenizer, WORD_LINES, reverse=name == "bwd"),
                                                          tokenizer.vocab, direction=direction, **options), tokenizer)
                  for name, direction in (("fwd", "forward"), ("bwd", "backward"))]
    else:
        torch.manual_seed(0)
        models = [save_model(tmp_path / "bi", ClozeRNN(tokenizer.vocab, ClozeConfig(emb_size=8, hidden_size=8, layers=1)),
                             tokenizer, {"direction": "both"})]
    glued, spaced = (records(cli("fill", *models, text, "--json", "--top", "3")) for text in ("the king_to", "the king _ to"))
    assert [row["sentence"] for row in glued] == [f"the king {row['filler']} to" for row in glued]
    assert [(row["sentence"], row["ids"]) for row in glued] == [(row["sentence"], row["ids"]) for row in spaced]
    table = cli("fill", *models, "the king_to", "--top", "1")
    assert table.stdout.splitlines()[1].endswith(f"the king [{glued[0]['filler']}] to"), table.stdout


def test_a_lone_carriage_return_ends_a_line_of_a_prompt_as_in_a_file(cli, forward_dir, tmp_path):
    """Pass 45: `--prompt` and `lmkit tokenize TEXT` read "a\\rb" as one line, files and stdin as two."""
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_bytes("我打算\r去".encode())
    runs = [records(cli("generate", forward_dir, *source, "--greedy", "--max-tokens", "2", "--json"))
            for source in (("--prompt", "我打算\r去"), ("--prompt", "我打算\n去"), ("--prompt-file", prompt_file))]
    assert runs[0] == runs[1] == runs[2]
    assert cli("tokenize", "--from", forward_dir, "我打算\r去").stdout == cli("tokenize", "--from", forward_dir,
                                                                         input="我打算\r去").stdout


def test_fill_refuses_a_pair_given_the_other_way_round(cli, forward_dir, backward_dir):
    """First-hour pass, session 51: BACKWARD FORWARD in that order only warned, twice, and ranked fillers anyway."""
    result = cli("fill", backward_dir, forward_dir, "我打算_一部新手机")
    assert_one_line_error(result, f"FORWARD {backward_dir} was trained backward and BACKWARD {forward_dir} forward: "
                                  "give them the other way round")
    one_way = cli("fill", forward_dir, forward_dir, "我打算_一部新手机", "--candidates", "买,去")  # one used the other way
    assert one_way.exit_code == 0 and "but is used here as the backward model" in one_way.stderr


def test_several_samples_can_be_told_apart_though_one_holds_blank_lines(cli, forward_dir):
    """Adversarial pass 80: samples were parted by a blank line alone, which a sample of several lines may hold."""
    options = ("--prompt", "他\n\n我", "--num-samples", "4", "--sentences", "3", "--max-tokens", "30", "--seed", "5")
    shown = cli("generate", forward_dir, *options).stdout
    rows = records(cli("generate", forward_dir, *options, "--json"))
    assert all("\n\n" in row["text"] for row in rows)  # the prompt's blank line is in each
    headers = [line for line in shown.splitlines() if line.startswith("# sample")]
    assert headers == [f"# sample {k} of 4  log p {row['total']:.4f}  tokens {len(row['ids'])}"
                       for k, row in enumerate(rows, start=1)]
    bodies = re.split(r"(?:\n\n)?# sample \d of 4 [^\n]*\n", shown)[1:]
    assert [body.rstrip("\n") for body in bodies] == [row["text"].rstrip("\n") for row in rows]
    single = cli("generate", forward_dir, "--max-tokens", "10", "--seed", "5").stdout
    assert "# sample" not in single
