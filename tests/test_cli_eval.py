"""`lmkit eval` from the command line: numbers, per-line scores, files, mixes and one-line errors."""
import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY, assert_one_line_error
from lm_fixtures import ngram_dir, rnn_dir
from lmkit.checkpoint.save_load import load_model
from lmkit.evaluate.text import EvalText, score_text
from lmkit.text.tokenizer_cache import get_tokenizer

pytestmark = pytest.mark.filterwarnings("ignore:Kneser-Ney discounts")  # tiny fixtures, default discounts


@pytest.fixture
def models(tiny_en, tmp_path):
    chars = get_tokenizer(tiny_en, "char")
    words = get_tokenizer(tiny_en, "word")
    return {
        "lstm": rnn_dir(tmp_path / "lstm", tiny_en, chars),
        "kn": ngram_dir(tmp_path / "kn", tiny_en, chars),
        "word": ngram_dir(tmp_path / "word", tiny_en, words, order=2),
    }


def run_json(cli, *args):
    result = cli("eval", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_eval_prints_the_numbers_of_the_library(cli, models, tiny_en):
    out = run_json(cli, models["lstm"])
    model, tokenizer, config = load_model(models["lstm"])
    expected = score_text(model, tokenizer, config, EvalText.from_split(tiny_en, "test")).evaluation
    got = out["models"][0]["evaluation"]
    assert got["perplexity"] == pytest.approx(expected.total.perplexity)
    assert got["chars"] == tiny_en.num_chars("test") == got["tokens"]  # a char model predicts every character
    assert got["bits_per_char"] == pytest.approx(got["bits_per_token"])
    assert out["text"].endswith("test")


def test_eval_text_output_names_every_measure(cli, models):
    result = cli("eval", models["kn"], "--split", "valid")
    assert result.exit_code == 0, result.output
    for words in ("perplexity", "w/o OOV", "bits/token", "bits/char", "valid"):
        assert words in result.stdout


def test_an_ngram_is_said_to_read_each_line_from_its_start_however_the_stream_is_cut(cli, models):
    """pass 78: an N-gram's result said "state carried", yet its history begins at each line's <s>: its figures
    are the same with --reset-per-line, --rows 1 or --window 3, which the line and the options' help now say."""
    outputs = [cli("eval", models["kn"], *args, "--threads", "1")
               for args in ([], ["--reset-per-line"], ["--rows", "1"], ["--window", "3"])]
    assert len({out.stdout.split("text:")[0] for out in outputs}) == 1  # the same figures every way
    assert all("(each line from <s>, as an N-gram reads; threads 1)" in out.stdout for out in outputs)
    assert "(state carried; threads 1)" in cli("eval", models["lstm"], "--threads", "1", "--rows", "4").stdout
    mixed = cli("eval", "--mix", f"{models['lstm']},{models['kn']}", "--weights", "0.5,0.5", "--threads", "1",
                "--rows", "4")  # the split's 12 lines: 4 pieces carry the state (16 would read each alone)
    assert "(state carried; the N-gram reads each line from <s>; threads 1)" in mixed.stdout  # pass 80


def test_a_text_of_fewer_lines_than_rows_is_said_to_be_read_line_by_line(cli, models, tmp_path):
    """pass 89: a text of 3 lines at --rows 16 is cut into 3 pieces, each line read from a fresh state, yet was
    labelled "state carried"; --rows 1 does carry it, and the figures differ accordingly."""
    text = tmp_path / "three.txt"
    text.write_text("the cat sat.\nthe dog ran.\na bird sang.\n", encoding="utf-8")
    alone = cli("eval", models["lstm"], "--file", text, "--threads", "1")
    assert alone.exit_code == 0, alone.output
    assert "(each line alone: its 3 lines are 3 pieces (--rows); --rows 1 carries the state; threads 1)" in alone.stdout
    assert alone.stdout.split("text:")[0] == cli("eval", models["lstm"], "--file", text, "--threads", "1",
                                                   "--reset-per-line").stdout.split("text:")[0]
    carried = cli("eval", models["lstm"], "--file", text, "--threads", "1", "--rows", "1")
    assert "(state carried; threads 1)" in carried.stdout
    assert carried.stdout.split("text:")[0] != alone.stdout.split("text:")[0]

    def carries(model, *options) -> bool:  # pass 90: the JSON field means the same for every model and option
        return json.loads(cli("eval", model, "--file", text, "--json", *options).stdout)["state_carried"]

    assert [carries(models["lstm"]), carries(models["lstm"], "--rows", "1"), carries(models["lstm"], "--reset-per-line"),
            carries(models["kn"]), carries(models["kn"], "--rows", "1")] == [False, True, False, False, False]


def test_per_line_scores_add_up_to_the_total(cli, models, tmp_path):
    out = run_json(cli, models["kn"], "--per-line", tmp_path / "lines.tsv", "--reset-per-line")
    rows = [r.split("\t") for r in (tmp_path / "lines.tsv").read_text(encoding="utf-8").splitlines()]
    assert rows[0][:4] == ["line", "tokens", "oov", "logprob"]
    assert len(rows) - 1 == len(TINY["en"]["test"].read_text(encoding="utf-8").splitlines())
    evaluation = out["models"][0]["evaluation"]
    assert sum(int(r[1]) for r in rows[1:]) == evaluation["tokens"]
    assert -sum(float(r[3]) for r in rows[1:]) == pytest.approx(evaluation["nll"], abs=1e-3)


def test_file_evaluation_equals_the_same_text_as_a_split(cli, models):
    by_file = run_json(cli, models["lstm"], "--file", TINY["en"]["test"])
    by_split = run_json(cli, models["lstm"])
    assert by_file["models"][0]["evaluation"]["nll"] == pytest.approx(by_split["models"][0]["evaluation"]["nll"])
    assert by_file["text_sha256"] == by_split["text_sha256"]


def test_mix_with_weight_one_is_the_single_model(cli, models):
    alone = run_json(cli, models["kn"])["models"][0]["evaluation"]
    out = run_json(cli, "--mix", f"{models['kn']},{models['lstm']}", "--weights", "1,0")
    assert out["mixture"]["evaluation"]["perplexity"] == pytest.approx(alone["perplexity"])


def test_mix_auto_tunes_weights_on_validation_and_beats_the_worse_model(cli, models):
    out = run_json(cli, "--mix", f"{models['kn']},{models['lstm']}")
    assert out["mixture"]["tuned_on"].endswith("valid")
    assert sum(out["mixture"]["weights"]) == pytest.approx(1.0)
    worst = max(m["evaluation"]["perplexity"] for m in out["models"])
    assert out["mixture"]["evaluation"]["perplexity"] < worst


def test_an_unsmoothed_member_is_mixed_where_the_others_give_its_unseen_tokens_probability(cli, models, tiny_en,
                                                                                         tmp_path):
    """The interpolation of an mle N-gram with a smoothed model is finite (classic Jelinek-Mercer smoothing): the
    member alone has an infinite perplexity, said as such, and the mixture is each token's weighted sum."""
    mle = ngram_dir(tmp_path / "mle", tiny_en, get_tokenizer(tiny_en, "char"), order=4, smoothing="mle")
    out = run_json(cli, "--mix", f"{mle},{models['kn']}", "--weights", "0.3,0.7")
    unsmoothed, smoothed = (m["evaluation"] for m in out["models"])
    assert unsmoothed["perplexity"] is None and unsmoothed["nll"] is None  # infinite: JSON null
    assert 0 < unsmoothed["zero_probability"] < unsmoothed["tokens"] and smoothed["zero_probability"] == 0
    mixture = out["mixture"]["evaluation"]
    assert mixture["zero_probability"] == 0 and math.isfinite(mixture["perplexity"])
    text = EvalText.from_split(tiny_en, "test")
    members = [load_model(path) for path in (mle, models["kn"])]
    logps = [score_text(m, tok, cfg, text, zero_allowed=True).logp for m, tok, cfg in members]
    expected = -np.logaddexp(np.log(0.3) + logps[0], np.log(0.7) + logps[1]).sum()
    assert mixture["nll"] == pytest.approx(expected, rel=1e-6)
    tuned = run_json(cli, "--mix", f"{mle},{models['kn']}")["mixture"]  # EM over the tokens the mle model scores too
    assert 0 < tuned["weights"][0] < 1 and math.isfinite(tuned["evaluation"]["perplexity"])
    shown = cli("eval", "--mix", f"{mle},{models['kn']}", "--weights", "0.3,0.7")
    assert shown.exit_code == 0, shown.output
    assert f"  probability zero    {unsmoothed['zero_probability']:12,}   tokens" in shown.stdout


def test_a_mixture_that_gives_a_token_probability_zero_is_refused_naming_it(cli, models, tiny_en, tmp_path):
    mle = ngram_dir(tmp_path / "mle", tiny_en, get_tokenizer(tiny_en, "char"), order=4, smoothing="mle")
    result = cli("eval", "--mix", f"{mle},{models['kn']}", "--weights", "1,0")
    assert_one_line_error(result, " test line ", "): has probability zero under the mixture of ",
                          f"{mle}, {models['kn']} (weights 1, 0), so its perplexity is infinite (",
                          "every member given weight gives it none: give weight to a member that scores it (--weights)")
    mle2 = ngram_dir(tmp_path / "mle2", tiny_en, get_tokenizer(tiny_en, "char"), order=2, smoothing="mle")
    neither = cli("eval", "--mix", f"{mle},{mle2}")  # no weights could help: say what would
    assert_one_line_error(neither, "has probability zero under the mixture of ", "no member of the mixture scores it: "
                          "add a smoothed model to --mix")
    alone = cli("eval", mle)  # the advice fits the model: eval has no --smoothing
    assert_one_line_error(alone, "an unsmoothed (mle) N-gram cannot score unseen events: build it with `lmkit ngram "
                          "--smoothing kn` (or add-k), or mix a smoothed model in (--mix)")


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_a_token_of_probability_zero_is_placed_as_the_line_is_written_in_either_direction(cli, tmp_path, direction):
    """Adversarial pass 70: a backward model's zero-probability token was counted from the line's end (`X`, the
    13th character, was called token 1)."""
    en = TINY["en"]
    made = cli("ngram", "--train", en["train"], "--valid", en["valid"], "--test", en["test"], "--order", "2",
               "--smoothing", "mle", "--direction", direction, "--out", tmp_path / "mle")
    assert made.exit_code == 0, made.output
    seen = next(line for line in en["train"].read_text(encoding="utf-8").splitlines() if len(line) > 12)[:12]
    text = tmp_path / "one.txt"
    text.write_text(f"{seen}☃\n", encoding="utf-8")  # ☃ is outside the vocabulary: <unk>, never seen in training
    result = cli("eval", tmp_path / "mle", "--file", text)
    assert_one_line_error(result, f"{text} line 1, token 13 ('<unk>', written '☃'): has probability zero under "
                          f"{tmp_path / 'mle'}")


def test_fill_with_unsmoothed_models_that_score_every_filler_zero_says_the_order_means_nothing(cli, tmp_path):
    """Adversarial pass 70: every filler scored -inf, ranked in vocabulary order without a word, and --json wrote
    -Infinity, which JSON readers refuse."""
    en = TINY["en"]
    common = ["--train", en["train"], "--valid", en["valid"], "--test", en["test"], "--order", "2", "--smoothing", "mle"]
    for direction in ("forward", "backward"):
        made = cli("ngram", *common, "--direction", direction, "--out", tmp_path / direction)
        assert made.exit_code == 0, made.output
    text = "☃☃_☃☃"  # unknown characters around the blank: contexts an unsmoothed model never saw
    shown = cli("fill", tmp_path / "forward", tmp_path / "backward", text, "--top", "3")
    assert shown.exit_code == 0, shown.output
    assert ("warning: every filler has probability zero under these models (an unsmoothed N-gram's unseen contexts), "
            "so their order means nothing; use smoothed models") in shown.stderr
    as_json = cli("fill", tmp_path / "forward", tmp_path / "backward", text, "--top", "3", "--json")
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert len(rows) == 3 and all(row["total"] is None for row in rows) and "Infinity" not in as_json.stdout


def test_mixing_different_vocabularies_is_refused(cli, models):
    result = cli("eval", "--mix", f"{models['kn']},{models['word']}")
    assert_one_line_error(result, "different vocabulary")


@pytest.mark.parametrize("args, fragment", [
    ((), "give one MODEL"),
    (("nowhere",), "nowhere"),
    (("--mix", "a"), "at least two"),
    (("--mix", "a,b", "--weights", "x"), "--weights"),
    (("--mix", "a，b,c"), "--mix: a，b: no such model directory or ARPA file (separate them with ',', not the "
                         "full-width '，')"),
    (("a", "--weights", "0.3,0.7"), "there is no --mix to weigh: --weights would be ignored"),
])
def test_bad_invocations_give_one_line_errors(cli, models, args, fragment):
    assert_one_line_error(cli("eval", *args), fragment)


@pytest.mark.parametrize("command", ["eval", "report"])
@pytest.mark.parametrize("option", ["--valid", "--test"])
def test_valid_or_test_without_train_is_refused_not_replaced_by_the_models_corpus(cli, models, tmp_path, command,
                                                                                  option):
    """They were ignored: the model's own corpus was scored, and the table looked like the file's."""
    other = tmp_path / "other.txt"
    other.write_text("another text\n", encoding="utf-8")
    extra = ("--out", tmp_path / "report") if command == "report" else ()
    assert_one_line_error(cli(command, models["kn"], option, other, *extra), f"{option} needs --train: --valid and "
                          "--test are the held-out parts of a --train text")
    assert not (tmp_path / "report").exists()


def test_a_model_whose_local_corpus_is_not_in_the_corpora_folder_is_told_so(cli, models, tmp_path):
    """The name in config.json is lmkit's, never typed by the user: 'unknown corpus ...; choose one of' misled."""
    import shutil

    moved = tmp_path / "moved"
    shutil.copytree(models["lstm"], moved)
    config = json.loads((moved / "config.json").read_text())
    (moved / "config.json").write_text(json.dumps({**config, "corpus": "notes-0123abcd"}))
    assert_one_line_error(cli("eval", moved), f"{moved} was trained on the corpus 'notes-0123abcd', which is not in",
                          "pass --corpus NAME, --train PATH or --file PATH")
    text = tmp_path / "text.txt"
    text.write_text("the cat sat on the mat\n", encoding="utf-8")
    assert_one_line_error(cli("eval", moved, "--file", text, "--cache", "8"),
                          "the cache, dynamic evaluation and the memory tune on its valid split")


@pytest.mark.parametrize("command", ["eval", "report"])
def test_a_corpus_the_model_was_not_trained_on_is_refused_where_config_json_names_it(cli, models, tiny_en, tiny_zh,
                                                                                       tmp_path, command):
    """Pass 44: an edited "corpus" was taken at its word and the model scored on another corpus, though config.json
    keeps the sha256 of the texts it was trained on."""
    import shutil

    from lmkit.checkpoint.saved_config import text_record

    edited = tmp_path / "edited"
    shutil.copytree(models["lstm"], edited)
    config = json.loads((edited / "config.json").read_text())
    config["train"]["texts"] = text_record(tiny_en)
    (edited / "config.json").write_text(json.dumps(config))
    assert cli("eval", edited).exit_code == 0  # its own corpus, the texts recorded: scored
    (edited / "config.json").write_text(json.dumps({**config, "corpus": tiny_zh.name}))
    extra = ("--out", tmp_path / "report") if command == "report" else ()
    assert_one_line_error(cli(command, edited, *extra), f"{edited}/config.json: \"corpus\": '{tiny_zh.name}' is not the "
                          "text this model was trained on (the sha256 of its train split")
    assert not (tmp_path / "report").exists()


def test_an_ngram_built_from_a_corpus_records_its_texts_and_an_edited_corpus_is_refused(cli, tiny_en, tiny_zh, tmp_path):
    """Pass 45: `lmkit ngram` kept no record of the texts it counted, so an edited "corpus" was scored, exit 0."""
    built = tmp_path / "kn"
    assert cli("ngram", "--corpus", tiny_en.name, "--order", "2", "--out", built).exit_code == 0
    config = json.loads((built / "config.json").read_text())
    assert set(config["train"]["texts"]) == {"train", "valid"}
    (built / "config.json").write_text(json.dumps({**config, "corpus": tiny_zh.name}))
    assert_one_line_error(cli("eval", built), f"{built}/config.json: \"corpus\": '{tiny_zh.name}' is not the text")
    config["train"]["texts"]["train"] = None  # a damaged record is named as such, not as a changed text (pass 46)
    (built / "config.json").write_text(json.dumps(config))
    assert_one_line_error(cli("eval", built), f"{built}/config.json: train.texts.train must be a sha256 in hex (64 "
                          "digits 0-9a-f), got null")


def test_report_names_the_model_listed_twice(cli, models, tmp_path):
    assert_one_line_error(cli("report", models["kn"], models["lstm"], models["kn"], "--out", tmp_path / "r"),
                          f"{models['kn']} is listed twice; give each model once")


@pytest.mark.parametrize("spelling", ["absolute", "dots", "link"])
def test_report_refuses_one_model_spelled_twice(cli, models, tmp_path, spelling):
    """Pass 91: `m/gru /abs/m/gru` (or `m/../m/gru`, or a link to it) made two rows of one model, labelled alike."""
    model = Path(os.path.relpath(models["kn"]))
    other = {"absolute": model.absolute(), "dots": model / ".." / model.name, "link": tmp_path / "link"}[spelling]
    if spelling == "link":
        other.symlink_to(model.absolute(), target_is_directory=True)
    assert_one_line_error(cli("report", model, other, "--out", tmp_path / "r"),
                          f"{model} and {other} are one model (the same folder); give each model once")
    assert not (tmp_path / "r").exists()


def test_report_tells_apart_models_whose_folders_share_a_name(cli, models, tmp_path):
    import shutil

    for parent in ("run1", "run2"):
        shutil.copytree(models["kn"], tmp_path / parent / "kn")
    result = cli("report", tmp_path / "run1" / "kn", tmp_path / "run2" / "kn", "--out", tmp_path / "r",
                 "--sample-tokens", "0")
    assert result.exit_code == 0, result.output
    assert "run1/kn" in result.stdout and "run2/kn" in result.stdout


def test_distinct_labels_add_parent_folders_only_where_names_clash():
    from pathlib import Path

    from lmkit.commands.report_run import distinct_labels

    assert distinct_labels([Path("d1/m"), Path("d2/m"), Path("x/kn")]) == ["d1/m", "d2/m", "kn"]
    assert distinct_labels([Path("a/b/m"), Path("c/b/m")]) == ["a/b/m", "c/b/m"]
    assert distinct_labels([Path("x/lstm")], taken={"lstm"}) == ["x/lstm"]
    assert distinct_labels([Path("x/../d1/m"), Path("d2/m")]) == ["d1/m", "d2/m"]  # `..` read, not shown


def test_eval_file_takes_encoding_errors_as_its_advice_says(cli, models, tmp_path):
    text = tmp_path / "latin1.txt"
    text.write_bytes("caf\xe9 au lait\nthe cat\n".encode("latin-1"))
    refused = cli("eval", models["kn"], "--file", text)
    assert_one_line_error(refused, "not valid UTF-8", "--encoding-errors replace")
    replaced = cli("eval", models["kn"], "--file", text, "--encoding-errors", "replace", "--json")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads(replaced.stdout)["models"][0]["evaluation"]["tokens"] > 0


def test_standard_input_scores_as_the_same_text_in_a_file(cli, models):
    text = TINY["en"]["test"].read_bytes()
    for model in (models["lstm"], models["kn"]):
        by_file = run_json(cli, model, "--file", TINY["en"]["test"])
        result = cli("eval", model, "--file", "-", "--json", input=text)
        assert result.exit_code == 0, result.output
        piped = json.loads(result.stdout)
        assert piped["models"][0]["evaluation"] == by_file["models"][0]["evaluation"]
        assert (piped["text"], piped["text_sha256"]) == ("standard input", by_file["text_sha256"])


@pytest.mark.parametrize("content, fragment", [
    (b"", "standard input: is empty; pipe in the text to score"),
    (b"\n \n\t\n", "standard input: no text, only blank or whitespace-only lines"),
    (b"ab\xffcd\n", "standard input: not valid UTF-8"),
    (b"ab\x00cd\n", "standard input: looks like a binary file"),
])
def test_bad_standard_input_is_refused_in_one_line(cli, models, content, fragment):
    assert_one_line_error(cli("eval", models["lstm"], "--file", "-", input=content), fragment)


def test_standard_input_keeps_the_per_line_file_check(cli, models, tmp_path):
    out = tmp_path / "lines.tsv"
    result = cli("eval", models["kn"], "--file", "-", "--per-line", out, input=TINY["en"]["test"].read_bytes())
    assert result.exit_code == 0, result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) - 1 == len(TINY["en"]["test"].read_text(encoding="utf-8").splitlines())


def test_the_text_hash_is_of_the_text_as_read_not_of_the_file_bytes(cli, models, tmp_path):
    """pass 89: eval --json's text_sha256, now documented in --help: the SHA-256 of the lines as read, each ended
    by \\n, so a file with a BOM, CRLF line ends and no last newline hashes as the plain one does."""
    plain, windows = tmp_path / "plain.txt", tmp_path / "windows.txt"
    plain.write_bytes("the cat sat.\nthe dog ran.\n".encode("utf-8"))
    windows.write_bytes("\ufeffthe cat sat.\r\nthe dog ran.".encode("utf-8"))
    digests = {json.loads(cli("eval", models["kn"], "--file", path, "--json").stdout)["text_sha256"]
               for path in (plain, windows)}
    assert digests == {hashlib.sha256(plain.read_bytes()).hexdigest()}
    assert "text_sha256 is the SHA-256 of the text as lmkit read it" in " ".join(cli("eval", "--help").stdout.split())


@pytest.mark.parametrize("model", ["word", "kn"])
def test_lines_that_spell_their_own_start_or_end_are_warned_about_once(cli, models, tmp_path, model):
    """The tutorials write a sentence as 「我 昨天 上学 迟到 了 </s>」; lmkit ends every line itself, so a typed </s>
    is read as text. Said once, for a model of words or of characters, with the figures still given."""
    typed, plain = tmp_path / "typed.txt", tmp_path / "plain.txt"
    typed.write_text("the cat sat </s>\n<s> a dog ran\nno marks here\n", encoding="utf-8")
    plain.write_text("the cat sat\na </s> inside a line is no mark\n", encoding="utf-8")
    result = cli("eval", models[model], "--file", typed, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("begin with <s> or end with </s>") == 1
    assert f"{typed}: 2 of its 3 lines begin with <s> or end with </s> as typed" in result.stderr
    assert json.loads(result.stdout)["models"][0]["evaluation"]["perplexity"] > 0
    quiet = cli("eval", models[model], "--file", plain)
    assert quiet.exit_code == 0 and "as typed" not in quiet.stderr
