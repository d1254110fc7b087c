"""N-best rescoring: edit distance, the strict n-best readers, tuning, and `lmkit rescore` end to end."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

from conftest import TINY, assert_one_line_error
from lmkit.generate.error_rate import edit_distance, error_rate, errors
from lmkit.generate.nbest import NBestError, kaldi_utterance, read_kaldi, read_refs, read_tsv
from lmkit.generate.rescore import Candidates, RescoreConfig, dev_rows, error_table, tune
from test_errors_table import ARPA


@pytest.mark.parametrize("hyp, ref, distance", [
    ("", "", 0), ("a b c", "a b c", 0), ("", "a b c", 3), ("a b c", "", 3),
    ("a x c", "a b c", 1), ("a c", "a b c", 1), ("a b b c", "a b c", 1),
    ("kitten", "sitting", 1),                      # one word each: one substitution
    ("b c d e", "a b c d", 2),                     # a deletion at the start, an insertion at the end
])
def test_word_edit_distance(hyp, ref, distance):
    assert errors(hyp, ref) == distance
    assert errors(ref, hyp) == distance            # insertions and deletions cost the same: symmetric


def test_character_edit_distance_ignores_spaces():
    assert edit_distance("kitten", "sitting") == 3
    assert errors("床前 明月光", "床前明月光", cer=True) == 0
    assert errors("床前明日光", "床前明月光", cer=True) == 1
    assert error_rate([("疑是地上霜", "疑是地上霜"), ("举头望明", "举头望明月")], cer=True) == pytest.approx(1 / 10)


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("content, line, message", [
    ("u1\tthe cat\t-1\nu1\tthe cat\n", 2, "expected 3 tab-separated fields"),
    ("u1 the cat -1\n", 1, "expected 3 tab-separated fields"),
    ("u1\tthe cat\t-1\t0\n", 1, "expected 3 tab-separated fields"),
    ("\n\nu1\tthe\tminus one\n", 3, "the score must be a number, got 'minus one'"),
    ("u1\tthe\tnan\n", 1, "the score must be a finite number, got 'nan'"),
    ("u1\tthe\t1_000\n", 1, "the score must be a number, got '1_000'"),  # float() reads both; no recognizer writes them
    ("u1\tthe\t\uff15\n", 1, "the score must be a number, got '\uff15'"),
    ("u1\tthe\t-1\n\tthe\t-inf\n", 2, "the score must be a finite number"),
    ("u1\tthe\t-1\n \tthe\t-2\n", 2, "the utterance id is empty"),
])
def test_tsv_reader_names_file_and_line(tmp_path, content, line, message):
    path = write(tmp_path / "nbest.tsv", content)
    with pytest.raises(NBestError) as caught:
        read_tsv(path)
    assert str(caught.value).startswith(f"{path}:{line}: ") and message in str(caught.value)


def test_tsv_reader_groups_by_utterance_and_flips_costs(tmp_path):
    path = write(tmp_path / "nbest.tsv", "u2\tb\t-1\nu1\ta\t-2.5\n\nu2\tc\t3\n")
    lists = read_tsv(path, costs=True)
    assert list(lists) == ["u2", "u1"]
    assert [(h.text, h.score) for h in lists["u2"]] == [("b", 1.0), ("c", -3.0)]


@pytest.mark.parametrize("text, scores, message", [
    ("u1-1 a b\nu1-2 a\n", "u1-1 -1\n", "{text}:2: 'u1-2' has no score in {scores}"),
    ("u1-1 a b\n", "u1-1 -1\nu1-2 -3\n", "{scores}:2: this score's hypothesis is not in {text}"),
    ("u1-1 a b\n", "u1-1 -1\nu1-1 -3\n", "{scores}:2: 'u1-1' is scored twice"),
    ("u1-1 a b\nu1-1 a\n", "u1-1 -1\n", "{text}:2: hypothesis id 'u1-1' appears twice"),
    ("u1-1 a b\n", "u1-1\n", "{scores}:1: the score must be a number, got ''"),
    ("u1-1\ta b\t-1\n", "u1-1 -1\n", "{text}:1: three tab-separated fields, as in a TSV n-best list"),
])
def test_kaldi_reader_names_file_and_line(tmp_path, text, scores, message):
    paths = {"text": write(tmp_path / "text", text), "scores": write(tmp_path / "scores", scores)}
    with pytest.raises(NBestError) as caught:
        read_kaldi(paths["text"], paths["scores"])
    assert message.format(**paths) in str(caught.value)


def test_kaldi_ids_group_by_the_part_before_the_hypothesis_number(tmp_path):
    assert [kaldi_utterance(i) for i in ("spk-utt-3", "utt7-12", "utt", "utt-x", "-4")] == \
        ["spk-utt", "utt7", "utt", "utt-x", "-4"]
    lists = read_kaldi(write(tmp_path / "t", "a-1 x y\na-2 x\nb-1\n"), write(tmp_path / "s", "b-1 0\na-2 -1\na-1 -2\n"))
    assert {u: [(h.text, h.score) for h in hs] for u, hs in lists.items()} == \
        {"a": [("x y", -2.0), ("x", -1.0)], "b": [("", 0.0)]}


@pytest.mark.parametrize("content, message", [
    ("", "file is empty"), ("\n  \n", "no text, only blank or whitespace-only lines"),
    ("u1 a\nu1 b\n", "utterance 'u1' has two references"),
    ("u2 a\n", "utterance 'u1' has no reference"),
])
def test_reference_reader(tmp_path, content, message):
    lists = read_tsv(write(tmp_path / "nbest.tsv", "u1\ta\t0\n"))
    with pytest.raises(NBestError, match=message):
        read_refs(write(tmp_path / "refs", content), lists)


def table_of(first, lm, tokens=None) -> Candidates:
    """Candidates of texts 'h0', 'h1', ... per utterance from nested lists of first-pass and LM scores."""
    from lmkit.generate.nbest import Hypothesis

    lists = {f"u{u}": [Hypothesis(f"u{u}", f"h{k}", s, "x:1") for k, s in enumerate(row)] for u, row in enumerate(first)}
    flat = np.asarray([v for row in lm for v in row], dtype=float)
    tokens = np.zeros_like(flat) if tokens is None else np.asarray([v for row in tokens for v in row], dtype=float)
    return Candidates.build(lists, flat, tokens)


def test_best_takes_first_pass_at_weight_zero_and_lm_at_large_weight():
    table = table_of([[-1.0, -2.0], [-3.0, -1.0, -2.0]], [[-9.0, -1.0], [-1.0, -9.0, -9.0]])
    assert table.best(0.0, 0.0).tolist() == [0, 1]
    assert table.best(10.0, 0.0).tolist() == [1, 0]
    assert table.best(0.0, 5.0).tolist() == [0, 1]  # no tokens: a bonus changes nothing


def test_tuning_picks_a_weight_where_the_lm_fixes_errors_and_zero_where_it_only_hurts():
    table = table_of([[-1.0, -1.5]] * 4, [[-5.0, -1.0]] * 4)
    lm_right = np.asarray([[1.0, 0.0]] * 4)          # the LM's favourite is the reference
    weight, bonus = tune(table, lm_right, RescoreConfig())
    assert table.best(weight, bonus).tolist() == [1] * 4 and weight > 0
    weight, bonus = tune(table, 1 - lm_right, RescoreConfig())
    assert table.best(weight, bonus).tolist() == [0] * 4


def test_tuning_uses_the_length_bonus_against_deletions():
    # the LM prefers the shorter (a deletion); only a bonus per token brings back the longer reference
    table = table_of([[-0.1, 0.0]], [[-5.0, -4.0]], tokens=[[3, 2]])
    errors_ = np.asarray([[0.0, 1.0]])
    weight, bonus = tune(table, errors_, RescoreConfig())
    assert table.best(weight, bonus).tolist() == [0] and bonus > 0
    weight, bonus = tune(table, errors_, RescoreConfig(bonus_steps=1))
    assert bonus == 0 and table.best(weight, bonus).tolist() == [1]


def test_held_out_utterances_are_stable_and_near_the_fraction():
    names = [f"utt{i}" for i in range(2000)]
    chosen = dev_rows(names, 0.3)
    assert chosen.tolist() == dev_rows(list(reversed(names)), 0.3)[::-1].tolist()   # by id, not position
    assert 0.25 < chosen.mean() < 0.35


def test_error_table_counts_each_hypothesis_against_its_reference():
    table = table_of([[0.0, 0.0]], [[0.0, 0.0]])
    assert error_table(table, {"u0": "h1"}, errors).tolist() == [[1.0, 0.0]]


# --- through the CLI -----------------------------------------------------------------------------------
def word_lists(tmp_path):
    """Two utterances whose first pass prefers a wrong hypothesis the bigram ARPA model knows to be unlikely."""
    arpa = tmp_path / "lm.arpa"
    arpa.write_bytes(ARPA)
    nbest = write(tmp_path / "nbest.tsv", "u1\tthe the\t-1.0\nu1\tthe cat\t-1.2\n"
                                         "u2\tcat cat\t-0.5\nu2\tthe cat\t-0.9\nu2\tcat\t-3.0\n")
    refs = write(tmp_path / "refs", "u1 the cat\nu2 the cat\n")
    return arpa, nbest, refs


def test_rescore_with_fixed_weight_reranks_and_writes_a_list_it_can_read_back(cli, tmp_path):
    arpa, nbest, refs = word_lists(tmp_path)
    out = tmp_path / "out.tsv"
    result = cli("rescore", arpa, nbest, "--refs", refs, "--no-tune", "--lm-weight", "1", "--out", out)
    assert result.exit_code == 0, result.output
    assert "WER on 2 utterances: first pass 50.00% -> rescored 0.00%  (2 -> 0 errors in 4 words)" in result.output
    reranked = read_tsv(out)
    assert [hs[0].text for hs in reranked.values()] == ["the cat", "the cat"]
    assert all(a.score >= b.score for hs in reranked.values() for a, b in zip(hs, hs[1:]))
    assert len(reranked["u2"]) == 3
    result = cli("rescore", arpa, nbest, "--refs", refs, "--no-tune", "--lm-weight", "0")
    assert "first pass 50.00% -> rescored 50.00%" in result.output


def test_an_error_rate_over_empty_references_is_no_number(cli, tmp_path):
    """Every reference empty: the rate was shown over one phantom unit (500.00%, '5 errors in 1 character')."""
    arpa, nbest, _ = word_lists(tmp_path)
    refs = write(tmp_path / "empty-refs", "u1\nu2\n")
    result = cli("rescore", arpa, nbest, "--refs", refs, "--no-tune", "--lm-weight", "1")
    assert result.exit_code == 0, result.output
    assert "WER on 2 utterances: none (their references hold no word); 4 -> 4 errors" in result.output


def test_rescore_tunes_on_a_dev_list_in_kaldi_format_and_with_a_mix(cli, tmp_path):
    arpa, nbest, refs = word_lists(tmp_path)
    dev = write(tmp_path / "dev.txt", "d1-1 the the\nd1-2 the cat\n")
    dev_scores = write(tmp_path / "dev.scores", "d1-1 -1.0\nd1-2 -1.3\n")  # the wrong one first
    dev_refs = write(tmp_path / "dev.refs", "d1 the cat\n")
    for model in ([arpa], ["--mix", f"{arpa},{arpa}", "--weights", "0.3,0.7"]):
        result = cli("rescore", *model, nbest, "--refs", refs, "--dev-nbest", dev, "--dev-scores", dev_scores,
                     "--dev-refs", dev_refs)
        assert result.exit_code == 0, result.output
        assert f"(tuned on {dev})" in result.output and "rescored 0.00%" in result.output


def test_tuning_on_a_fraction_says_how_many_it_tuned_on_and_measured_on(cli, tmp_path):
    """First-hour pass: it said "tuned on 6 held-out utterances", of the ones it tuned on, which are the ones not
    held out from tuning."""
    arpa, _, _ = word_lists(tmp_path)
    ids = [f"u{i}" for i in range(12)]
    nbest = write(tmp_path / "many.tsv", "".join(f"{u}\tthe the\t-1.0\n{u}\tthe cat\t-1.2\n" for u in ids))
    refs = write(tmp_path / "many.refs", "".join(f"{u} the cat\n" for u in ids))
    tuned = int(dev_rows(ids, 0.5).sum())
    result = cli("rescore", arpa, nbest, "--refs", refs, "--dev-fraction", "0.5")
    assert result.exit_code == 0, result.output
    assert (f"(tuned on {tuned} of the 12 utterances (--dev-fraction 0.5); the error rate below is on the other "
            f"{12 - tuned})") in result.output
    assert f"WER on {12 - tuned} utterances" in result.output and "held-out" not in result.output


def test_rescore_a_model_directory_by_character_error_rate(cli, tmp_path):
    zh = TINY["zh"]
    model = tmp_path / "zh2"
    built = cli("ngram", "--train", zh["train"], "--valid", zh["valid"], "--test", zh["test"], "--order", "3",
                "--out", model)
    assert built.exit_code == 0, built.output
    lines = [line for line in zh["test"].read_text(encoding="utf-8").splitlines() if len(line) > 6][:8]
    rows, refs = [], []
    for i, line in enumerate(lines):
        swapped = line[:2] + line[3] + line[2] + line[4:]                        # two characters swapped
        rows += [f"s{i}\t{swapped}\t-1.0", f"s{i}\t{line}\t-1.1", f"s{i}\t{line[:-2]}\t-4.0"]
        refs.append(f"s{i} {line}")
    nbest, ref_file = write(tmp_path / "zh.tsv", "\n".join(rows) + "\n"), write(tmp_path / "zh.refs", "\n".join(refs))
    result = cli("rescore", model, nbest, "--refs", ref_file, "--cer", "--no-tune")
    assert result.exit_code == 0, result.output
    before, after = map(float, re.search(r"first pass ([\d.]+)% -> rescored ([\d.]+)%", result.output).groups())
    assert before > 0 and after < before / 2, result.output
    assert "without spaces" not in result.stderr
    as_words = cli("rescore", model, nbest, "--refs", ref_file, "--no-tune")  # pass 75: WER, each line one word
    assert as_words.exit_code == 0 and as_words.stderr.endswith(
        f"warning: {ref_file}: the references are Chinese or Japanese without spaces, so WER would count each line as "
        "one word; give --cer to count characters\n"), as_words.stderr


@pytest.mark.parametrize("arguments, message", [
    (["{nbest}"], "give the n-best list to rescore"),
    (["{arpa}", "{nbest}", "--mix", "{arpa},{arpa}"], "give one MODEL"),
    (["{arpa}", "{nbest}", "--dev-nbest", "{nbest}"], "--dev-nbest and --dev-refs go together"),
    (["{arpa}", "{nbest}", "--dev-scores", "{nbest}"], "--dev-scores is for a Kaldi --dev-nbest"),
    (["{arpa}", "{nbest}", "--refs", "{refs}", "--dev-fraction", "0.0001"], "leaves no utterance to tune on"),
    (["--mix", "{arpa},{arpa}", "{nbest}", "--weights", "0.2,0.2"], "--weights must sum to 1"),
    # an option this combination never reads is refused, not ignored
    (["{arpa}", "{nbest}", "--refs", "{refs}", "--lm-weight", "3"],
     "tuned on --refs (add --no-tune to use given values): --lm-weight would be ignored; drop it"),
    (["{arpa}", "{nbest}", "--dev-nbest", "{nbest}", "--dev-refs", "{refs}", "--length-bonus", "1"],
     "tuned on --dev-nbest (add --no-tune to use given values): --length-bonus would be ignored"),
    (["{arpa}", "{nbest}", "--refs", "{refs}", "--no-tune", "--max-weight", "5", "--bonus-steps", "3"],
     "--no-tune keeps --lm-weight and --length-bonus as given: --max-weight --bonus-steps would be ignored; drop them"),
    (["{arpa}", "{nbest}", "--refs", "{refs}", "--no-tune", "--dev-fraction", "0.3"], "--dev-fraction would be ignored"),
    (["{arpa}", "{nbest}", "--max-weight", "5"], "there are no references (--refs, or --dev-nbest with --dev-refs) "
                                                 "to tune on or measure against: --max-weight would be ignored"),
    (["{arpa}", "{nbest}", "--cer"], "to tune on or measure against: --cer would be ignored"),
    (["{arpa}", "{nbest}", "--dev-fraction", "0.3"], "to tune on or measure against: --dev-fraction would be ignored"),
    (["{arpa}", "{nbest}", "--no-tune"], "to tune on or measure against: --no-tune would be ignored"),  # as typed
    (["{arpa}", "{nbest}", "--weights", "0.3,0.7"], "there is no --mix to weigh: --weights would be ignored; drop it"),
    (["{arpa}", "{nbest}", "--refs", "{refs}", "--dev-nbest", "{nbest}", "--dev-refs", "{refs}", "--dev-fraction", "0.3"],
     "--dev-nbest is the tuning set: --dev-fraction would be ignored"),
    (["{arpa}", "{nbest}", "--refs", "{refs}", "--dev-nbest", "{nbest}", "--dev-refs", "{refs}", "--no-tune"],
     "--no-tune tunes nothing on a dev set: --dev-nbest --dev-refs would be ignored; drop them"),
])
def test_rescore_refuses_inconsistent_options(cli, tmp_path, arguments, message):
    arpa, nbest, refs = word_lists(tmp_path)
    paths = {"arpa": arpa, "nbest": nbest, "refs": refs}
    assert_one_line_error(cli("rescore", *[a.format(**paths) for a in arguments]), message)


def test_rescore_without_refs_or_out_prints_the_reranked_lists_and_out_dash_is_stdout(cli, tmp_path, monkeypatch):
    arpa, nbest, refs = word_lists(tmp_path)
    monkeypatch.chdir(tmp_path)
    for arguments in ([], ["--out", "-"], ["--refs", refs, "--no-tune", "--out", "-"]):
        with warnings.catch_warnings():  # standard output is written without Click's get_text_stream (deprecated)
            warnings.simplefilter("error", DeprecationWarning)
            result = cli("rescore", arpa, nbest, "--lm-weight", "1", *arguments)
        assert result.exit_code == 0, result.output
        rows = [line.split("\t") for line in result.stdout.splitlines()]     # only the reranked lists
        assert [(u, text) for u, text, _ in rows] == [("u1", "the cat"), ("u1", "the the"), ("u2", "the cat"),
                                                       ("u2", "cat cat"), ("u2", "cat")]
        assert "LM weight 1, length bonus 0" in result.stderr and "wrote" not in result.stderr
    assert "rescored 0.00%" in result.stderr
    assert not (tmp_path / "-").exists()
    result = cli("rescore", arpa, nbest, "--refs", refs, "--no-tune")             # measuring: no list unless --out
    assert "rescored 0.00%" in result.stdout and "\t" not in result.output


@pytest.mark.parametrize("environment", [{"LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"},
                                         {"PYTHONIOENCODING": "ascii"}], ids=["ascii locale", "ascii stdout"])
def test_chinese_reranked_lists_reach_standard_output_as_utf8_where_the_terminal_says_ascii(tmp_path, environment):
    """Written through sys.stdout they were a UnicodeEncodeError traceback in a real C locale, and \\uXXXX
    escapes under PYTHONIOENCODING=ascii (exit 0, the hypotheses changed); generate's text was UTF-8 in both."""
    arpa = tmp_path / "lm.arpa"
    arpa.write_bytes(ARPA)
    nbest = write(tmp_path / "nbest.tsv", "u1\t床前 明月光\t0\nu1\tthe cat\t-1\n")
    env = {**os.environ, **environment}
    done = subprocess.run([sys.executable, "-m", "lmkit", "rescore", str(arpa), str(nbest), "--lm-weight", "0"],
                          env=env, capture_output=True, timeout=120)
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    assert done.stdout.decode("utf-8").splitlines() == ["u1\t床前 明月光\t0.000000", "u1\tthe cat\t-1.000000"]


def test_mix_weights_are_tuned_only_on_references_that_are_not_measured():
    from lmkit.commands.rescore_run import tuning_sentences

    lists = {f"u{i}": [] for i in range(50)}
    refs = {u: f"ref of {u}" for u in lists}
    config = RescoreConfig(dev_fraction=0.4)
    tunes = dev_rows(list(lists), 0.4)
    assert tuning_sentences(lists, refs, None, config) == [refs[u] for u, t in zip(lists, tunes) if t]
    assert 0 < len(tuning_sentences(lists, refs, None, config)) < 50
    assert tuning_sentences(lists, refs, {"d": "dev"}, config) == ["dev"]
    assert tuning_sentences(lists, refs, None, RescoreConfig(tune=False)) == []


def test_a_huge_first_pass_score_is_written_in_exponent_form():
    from lmkit.commands.rescore_run import score_text

    assert score_text(-12.25) == "-12.250000" and score_text(1e308) == "1.000000e+308"


def test_tuning_on_the_very_lists_being_measured_is_refused(cli, tmp_path):
    """--dev-nbest naming the n-best list itself reported 5.36% -> 0.00%: the test set's own best."""
    arpa, nbest, refs = word_lists(tmp_path)
    assert_one_line_error(cli("rescore", arpa, nbest, "--refs", refs, "--dev-nbest", nbest, "--dev-refs", refs),
                          f"--dev-nbest {nbest} holds", "of the lists being measured")
    copy = tmp_path / "copy.tsv"
    copy.write_bytes(nbest.read_bytes())
    assert_one_line_error(cli("rescore", arpa, nbest, "--refs", refs, "--dev-nbest", copy, "--dev-refs", refs),
                          f"--dev-nbest {copy} holds", "of the lists being measured")
    lines = nbest.read_text().splitlines()
    reordered = tmp_path / "reordered.tsv"  # the same utterances, lines in another order and CRLF ends
    reordered.write_bytes("".join(line + "\r\n" for line in reversed(lines)).encode())
    assert_one_line_error(cli("rescore", arpa, nbest, "--refs", refs, "--dev-nbest", reordered, "--dev-refs", refs),
                          f"--dev-nbest {reordered} holds", "of the lists being measured")


def test_rescore_warns_when_the_hypotheses_are_mostly_outside_the_vocabulary(cli, tmp_path):
    """First-hour pass, session 51: a model of another text scored the lists almost all as <unk>, silently."""
    arpa, nbest, refs = word_lists(tmp_path)
    known = cli("rescore", arpa, nbest, "--refs", refs, "--no-tune", "--lm-weight", "1")
    assert known.exit_code == 0 and "warning" not in known.stderr
    strange = write(tmp_path / "strange.tsv", "u1\tdog runs\t-1.0\nu1\tdog ran\t-1.2\nu2\tcat sat\t-0.5\n")
    result = cli("rescore", arpa, strange, "--lm-weight", "1")
    assert result.exit_code == 0, result.output
    assert f"of the 9 tokens of the hypotheses of {strange} are outside" in result.stderr  # each </s> counted, as eval counts
    assert "--tokenizer-from" in result.stderr  # an ARPA file: read as whitespace words


@pytest.fixture
def word_bigrams(cli, tmp_path):
    """A word bigram model directory of the tiny English text and its ARPA file; an mle one beside them."""
    en = TINY["en"]
    common = ["--train", en["train"], "--valid", en["valid"], "--test", en["test"], "--tokenizer", "word", "--order", "2"]
    made = cli("ngram", *common, "--out", tmp_path / "kn", "--arpa", tmp_path / "kn.arpa")
    assert made.exit_code == 0, made.output
    made = cli("ngram", *common, "--smoothing", "mle", "--out", tmp_path / "mle")
    assert made.exit_code == 0, made.output
    return tmp_path / "kn", tmp_path / "kn.arpa", tmp_path / "mle"


def test_the_arpa_hint_is_given_only_where_no_tokenizer_was(cli, tmp_path, word_bigrams):
    """Adversarial pass 69: `--tokenizer-from` was advised to a user who had given it."""
    directory, arpa, _ = word_bigrams
    strange = write(tmp_path / "strange.tsv", "u1\tzzz qqq\t-1.0\nu1\tqqq zzz\t-1.2\n")
    given = cli("rescore", arpa, strange, "--lm-weight", "1", "--tokenizer-from", directory)
    assert given.exit_code == 0, given.output
    assert f"are outside {arpa}'s vocabulary and scored as <unk>\n" in given.stderr and "--tokenizer-from" not in given.stderr
    alone = cli("rescore", arpa, strange, "--lm-weight", "1")
    assert "--tokenizer-from" in alone.stderr


def test_a_mix_rescores_with_an_mle_member_and_names_the_hypothesis_no_member_scores(cli, tmp_path, word_bigrams):
    """The mle model's unseen bigrams get the KN member's probability; a hypothesis of a word outside both is
    still <unk>, which both score; with the KN member weighed zero the mle one's unseen bigram is named."""
    kn, _, mle = word_bigrams
    seen = next(line for line in TINY["en"]["train"].read_text(encoding="utf-8").splitlines() if line.strip())
    word = seen.split()[0]
    nbest = write(tmp_path / "nbest.tsv", f"u1\t{seen.strip()}\t-1.0\nu2\t{word} {word} {word}\t-2.0\n")
    mixed = cli("rescore", "--mix", f"{mle},{kn}", "--weights", "0.5,0.5", nbest, "--lm-weight", "1")
    assert mixed.exit_code == 0, mixed.output
    assert [line.split("\t")[0] for line in mixed.stdout.splitlines()] == ["u1", "u2"]
    alone = cli("rescore", "--mix", f"{mle},{kn}", "--weights", "1,0", nbest, "--lm-weight", "1")
    assert_one_line_error(alone, f"{nbest}:2 (utterance u2), token ", f": has probability zero under the mixture of "
                          f"{mle}, {kn} (weights 1, 0), so the hypothesis cannot be scored (")


def test_a_hypothesis_an_mle_model_cannot_score_is_named_by_its_line(cli, tmp_path, word_bigrams):
    """Adversarial pass 69: the error said "token 1 (line 1) ... perplexity is infinite", naming neither the file,
    the hypothesis, the token nor the model, and rescoring has no perplexity."""
    _, _, mle = word_bigrams
    seen = next(line for line in TINY["en"]["train"].read_text(encoding="utf-8").splitlines() if line.strip())
    word = seen.split()[0]
    nbest = write(tmp_path / "nbest.tsv", f"u1\t{seen.strip()}\t-1.0\nu2\t{word} {word} {word}\t-2.0\n")
    result = cli("rescore", mle, nbest, "--lm-weight", "1")
    assert_one_line_error(result, f"{nbest}:2 (utterance u2), token ", f": has probability zero under {mle}, so the "
                          "hypothesis cannot be scored (", "an unsmoothed (mle) N-gram cannot score unseen events")
