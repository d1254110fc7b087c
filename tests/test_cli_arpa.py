"""ARPA files wherever a command takes a model: KenLM's own models score through `lmkit eval` exactly as
KenLM's `query` did, and an ARPA file lmkit wrote works like the model directory it came from."""
import bz2
import gzip
import json
import lzma
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, assert_one_line_error

from lmkit.text.tokenizers import WordTokenizer

KENLM = Path(__file__).resolve().parent / "data" / "kenlm"  # tests/data/README.md
PERPLEXITY = {2: 394.7269, 3: 373.2349}  # KenLM's query over the whole test text, OOVs included
WITHOUT_OOV = {3: 283.6422}  # kenlm.Model(order3.arpa.gz).full_scores with the OOV words left out


@pytest.fixture(scope="module")
def test_text(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kenlm") / "test.txt"
    path.write_bytes(gzip.decompress((KENLM / "test.txt.gz").read_bytes()))
    return path


def evaluate(cli, *args) -> dict:
    result = cli("eval", *map(str, args), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def read_tsv(path: Path) -> list[list[str]]:
    return [row.split("\t") for row in path.read_text(encoding="utf-8").splitlines()[1:]]


@pytest.mark.parametrize("order", [2, 3])
def test_eval_of_kenlm_arpa_gives_kenlm_query_scores(cli, test_text, tmp_path, order):
    lines = tmp_path / "lines.tsv"
    result = evaluate(cli, KENLM / f"order{order}.arpa.gz", "--file", test_text, "--per-line", lines)
    ours = result["models"][0]["evaluation"]
    assert ours["perplexity"] == pytest.approx(PERPLEXITY[order], abs=1e-3)
    assert ours["tokens"] == 52454 and ours["oov"] == 2150
    if order in WITHOUT_OOV:
        assert ours["perplexity_without_oov"] == pytest.approx(WITHOUT_OOV[order], abs=1e-3)
    rows, query = read_tsv(lines), read_tsv(KENLM / f"order{order}.test-scores.tsv")
    assert [(r[1], r[2]) for r in rows] == [(q[2], q[3]) for q in query]  # tokens and OOVs of every line
    np.testing.assert_allclose([float(r[4]) for r in rows], [float(q[1]) for q in query], rtol=0, atol=1e-3)


def test_eval_of_kenlm_arpa_agrees_with_the_kenlm_module(cli, test_text, tmp_path):
    kenlm = pytest.importorskip("kenlm", reason="the kenlm Python module (the test extra) is not installed")
    lines = tmp_path / "lines.tsv"
    evaluate(cli, KENLM / "order2.arpa.gz", "--file", test_text, "--per-line", lines)
    theirs = kenlm.Model(str(KENLM / "order2.arpa.gz"))
    expected = [theirs.score(line, bos=True, eos=True) for line in test_text.read_text(encoding="utf-8").splitlines()]
    np.testing.assert_allclose([float(r[4]) for r in read_tsv(lines)], expected, rtol=0, atol=1e-3)


@pytest.mark.parametrize("name,compress", [("plain.arpa", lambda b: b), ("model.arpa.bz2", bz2.compress),
                                           ("model.arpa.xz", lzma.compress), ("named-plain.gz", lambda b: b)])
def test_every_compression_reads_as_the_same_model(cli, test_text, tmp_path, name, compress):
    """Compression is told by the file's first bytes, not its name."""
    path = tmp_path / name
    path.write_bytes(compress(gzip.decompress((KENLM / "order2.arpa.gz").read_bytes())))
    ours = evaluate(cli, path, "--file", test_text)["models"][0]["evaluation"]
    assert ours["perplexity"] == pytest.approx(PERPLEXITY[2], abs=1e-3) and ours["oov"] == 2150


def test_a_given_tokenizer_fixes_the_ids_and_keeps_the_scores(cli, test_text, tmp_path):
    train = gzip.decompress((KENLM / "train.txt.gz").read_bytes()).decode("utf-8").splitlines()
    tokenizer = WordTokenizer.fit(train, split_punct=False)  # the same words as KenLM's vocabulary, in another order
    tokenizer.save(tmp_path / "tokenizer.json")
    lines = tmp_path / "lines.tsv"
    given = evaluate(cli, KENLM / "order2.arpa.gz", "--file", test_text, "--tokenizer-from", tmp_path / "tokenizer.json",
                     "--per-line", lines)
    assert given["models"][0]["evaluation"]["perplexity"] == pytest.approx(PERPLEXITY[2], abs=1e-3)
    query = read_tsv(KENLM / "order2.test-scores.tsv")
    np.testing.assert_allclose([float(r[4]) for r in read_tsv(lines)], [float(q[1]) for q in query], rtol=0, atol=1e-3)


def test_generated_tokens_and_log_probs_come_from_the_arpa_file(cli, tmp_path):
    from lmkit.models.ngram.arpa import read_arpa

    path = KENLM / "order2.arpa.gz"
    result = cli("generate", path, "--seed", "5", "--max-tokens", "30", "--json")
    assert result.exit_code == 0, result.output
    sample = json.loads(result.stdout)
    model = read_arpa(path)
    ids = [model.vocab.bos_id] + sample["ids"]
    import torch

    logp = model.score(torch.tensor([ids]))[0]  # (T,) natural-log p of each generated token
    np.testing.assert_allclose(logp.numpy(), sample["logprobs"], rtol=0, atol=1e-5)
    assert sample["tokens"] == [model.vocab.itos[i] for i in sample["ids"]]
    again = cli("generate", path, "--seed", "5", "--max-tokens", "30", "--json")
    assert json.loads(again.stdout) == sample


# --- an ARPA file lmkit wrote works like its model directory ----------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Word N-grams of tiny-en as model directories and as ARPA files, forward and backward; a Chinese char bigram."""
    from click.testing import CliRunner

    from lmkit.cli import app

    folder = tmp_path_factory.mktemp("arpa-models")
    en, zh = TINY["en"], TINY["zh"]
    corpus = ["--train", en["train"], "--valid", en["valid"], "--test", en["test"], "--tokenizer", "word",
              "--no-split-punct"]  # an ARPA file given alone is read as whitespace words
    runs = {
        "kn3": [*corpus, "--order", "3", "--arpa", folder / "kn3.arpa"],
        "addk2": [*corpus, "--order", "2", "--smoothing", "add-k", "--k", "0.1", "--arpa", folder / "addk2.arpa.gz"],
        "back3": [*corpus, "--order", "3", "--direction", "backward", "--arpa", folder / "back3.arpa.xz"],
        "zh2": ["--train", zh["train"], "--valid", zh["valid"], "--test", zh["test"], "--order", "2",
                "--arpa", folder / "zh2.arpa.bz2"],
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMKIT_CORPORA", str(folder / "corpora"))
        for name, args in runs.items():
            result = CliRunner().invoke(app, ["ngram", *map(str, args), "--out", str(folder / name)])
            assert result.exit_code == 0, result.output
    return folder


def same_numbers(a: dict, b: dict) -> None:
    for key in ("perplexity", "perplexity_without_oov", "nll", "tokens", "oov", "bits_per_char"):
        assert a[key] == pytest.approx(b[key], rel=1e-6), key


def test_eval_of_an_arpa_file_equals_eval_of_its_directory(cli, built):
    test = TINY["en"]["test"]
    directory = evaluate(cli, built / "kn3", "--file", test)["models"][0]["evaluation"]
    arpa = evaluate(cli, built / "kn3.arpa", "--file", test)["models"][0]["evaluation"]
    same_numbers(arpa, directory)


def test_the_counts_said_and_saved_are_those_the_arpa_file_lists(built):
    """Pass 80: config.json (and the build's summary line) counted <pad> among the 1-grams, one more than the file."""
    header = [line for line in (built / "kn3.arpa").read_text(encoding="utf-8").splitlines()[:5] if "=" in line]
    listed = [int(line.split("=")[1]) for line in header]
    assert json.loads((built / "kn3" / "config.json").read_text())["ngrams"] == listed


def test_a_char_arpa_file_scores_with_the_tokenizer_given(cli, built):
    test = TINY["zh"]["test"]
    directory = evaluate(cli, built / "zh2", "--file", test)["models"][0]["evaluation"]
    arpa = evaluate(cli, built / "zh2.arpa.bz2", "--file", test, "--tokenizer-from", built / "zh2")
    same_numbers(arpa["models"][0]["evaluation"], directory)


def test_mix_with_an_arpa_file_equals_the_mix_of_directories(cli, built):
    test = TINY["en"]["test"]
    directories = evaluate(cli, "--mix", f"{built / 'kn3'},{built / 'addk2'}", "--file", test, "--weights", "0.7,0.3")
    with_arpa = evaluate(cli, "--mix", f"{built / 'kn3'},{built / 'addk2.arpa.gz'}", "--file", test,
                         "--weights", "0.7,0.3")
    same_numbers(with_arpa["mixture"]["evaluation"], directories["mixture"]["evaluation"])
    assert math.isfinite(with_arpa["mixture"]["evaluation"]["perplexity"])


def test_a_mix_takes_its_corpus_from_whichever_member_names_one(cli, built, monkeypatch):
    """Adversarial pass 70: `--mix kn3,kn3.arpa` scored kn3's corpus and `--mix kn3.arpa,kn3` was refused: an ARPA
    file names no corpus, and only the first member was asked."""
    monkeypatch.setenv("LMKIT_CORPORA", str(built / "corpora"))
    first = evaluate(cli, "--mix", f"{built / 'kn3'},{built / 'addk2.arpa.gz'}", "--weights", "0.7,0.3")
    second = evaluate(cli, "--mix", f"{built / 'addk2.arpa.gz'},{built / 'kn3'}", "--weights", "0.3,0.7")
    assert second["text"] == first["text"] and second["text"].endswith("test")
    same_numbers(second["mixture"]["evaluation"], first["mixture"]["evaluation"])
    tuned = evaluate(cli, "--mix", f"{built / 'addk2.arpa.gz'},{built / 'kn3'}")
    assert tuned["mixture"]["tuned_on"].endswith("valid")


def test_an_unsmoothed_char_arpa_file_read_as_words_is_told_about_the_tokenizer_first(cli, tmp_path, monkeypatch):
    """Adversarial pass 71: a character mle model's ARPA file, given no tokenizer, read a Chinese line as one word,
    and the error advised smoothing; the kn file's --tokenizer-from warning was never reached."""
    zh = TINY["zh"]
    monkeypatch.setenv("LMKIT_CORPORA", str(tmp_path / "corpora"))
    made = cli("ngram", "--train", zh["train"], "--valid", zh["valid"], "--test", zh["test"], "--order", "2",
               "--smoothing", "mle", "--out", tmp_path / "m", "--arpa", tmp_path / "m.arpa")
    assert made.exit_code == 0, made.output
    result = cli("eval", tmp_path / "m.arpa", "--file", zh["test"])
    assert_one_line_error(result, "an ARPA file's text is read as whitespace-separated words: for a model of "
                          "characters, subword pieces or words split from their punctuation (lmkit's word default), "
                          "pass --tokenizer-from with its model directory or tokenizer.json (none was given); if it "
                          "is a word model, its ARPA file gives it")


def test_fill_with_arpa_files_ranks_as_with_directories(cli, built):
    text = "The village _ watched a paper kite"
    from_dirs = cli("fill", built / "kn3", built / "back3", text, "--json", "--top", "5")
    from_arpa = cli("fill", built / "kn3.arpa", built / "back3.arpa.xz", text, "--json", "--top", "5")
    mixed = cli("fill", built / "kn3.arpa", built / "back3", text, "--json", "--top", "5")
    assert from_dirs.exit_code == 0 and from_arpa.exit_code == 0 and mixed.exit_code == 0, from_arpa.output
    rows = [[json.loads(line) for line in r.stdout.splitlines()] for r in (from_dirs, from_arpa, mixed)]
    assert len(rows[0]) == 5
    for other in rows[1:]:
        assert [r["filler"] for r in other] == [r["filler"] for r in rows[0]]
        np.testing.assert_allclose([r["total"] for r in other], [r["total"] for r in rows[0]], rtol=0, atol=1e-4)
    assert from_arpa.stderr == ""  # an ARPA file does not say its direction: no warning that guesses one


def test_report_row_of_an_arpa_file_equals_its_directory_row(cli, built, tmp_path):
    en = TINY["en"]
    result = cli("report", built / "kn3", built / "kn3.arpa", "--train", en["train"], "--valid", en["valid"],
                 "--test", en["test"], "--out", tmp_path / "report", "--sample-tokens", "0", "--quiet")
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "report" / "report.json").read_text())["rows"]
    assert [r["name"] for r in rows] == ["kn3", "kn3.arpa"]
    same_numbers(rows[1]["test"], rows[0]["test"])
    assert rows[1]["disk_bytes"] == (built / "kn3.arpa").stat().st_size



def test_an_arpa_file_without_a_text_says_what_to_pass(cli):
    result = cli("eval", KENLM / "order2.arpa.gz")
    assert_one_line_error(result, "is an ARPA file, which names no corpus;", "--corpus NAME", "--file PATH")


def test_a_character_arpa_file_read_as_words_warns_that_the_text_is_mostly_unknown(cli, built):
    """First-hour pass, session 51: a Chinese character model's ARPA file scored its text as one word a line, at
    50% <unk>, with no word said."""
    test = TINY["zh"]["test"]
    words = cli("eval", built / "zh2.arpa.bz2", "--file", test)
    assert words.exit_code == 0, words.output
    assert "% of the " in words.stderr and "outside" in words.stderr and "--tokenizer-from" in words.stderr
    chars = cli("eval", built / "zh2.arpa.bz2", "--file", test, "--tokenizer-from", built / "zh2")
    assert chars.exit_code == 0 and "warning" not in chars.stderr
    en = cli("eval", built / "kn3.arpa", "--file", TINY["en"]["test"])
    assert en.exit_code == 0 and "warning" not in en.stderr
    mixed = cli("eval", "--mix", f"{built / 'zh2.arpa.bz2'},{built / 'zh2.arpa.bz2'}", "--weights", "0.5,0.5",
                "--file", test)  # adversarial pass 63: --mix said nothing
    assert mixed.exit_code == 0 and mixed.stderr.count("are outside") == 2 and "--tokenizer-from" in mixed.stderr


def test_a_closed_vocabulary_file_scores_as_kenlm_does_and_says_what_its_unknown_words_cost(cli, tmp_path):
    """pass 89: an ARPA file without <unk> (SRILM's default) was refused; KenLM loads it, giving each word outside
    it log10 -100. lmkit now scores it so, and warns, for the perplexity counts those words."""
    closed = tmp_path / "closed.arpa"
    closed.write_text("\\data\\\nngram 1=4\nngram 2=2\n\n\\1-grams:\n-0.5\t<s>\t-0.3\n-0.4\t</s>\n-0.3\ta\t-0.2\n"
                      "-0.6\tb\t-0.1\n\n\\2-grams:\n-0.2\t<s> a\n-0.1\ta b\n\n\\end\\\n", encoding="utf-8")
    text = tmp_path / "text.txt"
    text.write_text("a b\na zz\n", encoding="utf-8")
    result = cli("eval", closed, "--file", text, "--json")
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout)["models"][0]["evaluation"]
    # kenlm.Model(closed).score: "a b" -0.2 -0.1 -0.5 (bo(b) -0.1 + p(</s>) -0.4), "a zz" -0.2 -100.2 -0.4
    assert ours["tokens"] == 6 and ours["oov"] == 1
    assert ours["perplexity"] == pytest.approx(10 ** (101.6 / 6), rel=1e-4)
    assert ours["perplexity_without_oov"] == pytest.approx(10 ** (1.4 / 5), rel=1e-4)
    assert (f"warning: {closed} lists no <unk> (a closed vocabulary): 1 token of {text} is outside it, each "
            "given log10 probability -100 as KenLM gives it; the perplexity w/o OOV leaves it out") in result.stderr
    unknown = tmp_path / "unknown.txt"  # pass 90: mostly outside it, so the --tokenizer-from advice is due too
    unknown.write_text("zz yy\nxx\n", encoding="utf-8")
    warned = cli("eval", closed, "--file", unknown).stderr
    assert "3 tokens of" in warned and "are outside it" in warned and "pass --tokenizer-from" in warned
    nbest = tmp_path / "nbest.tsv"  # rescore prints no perplexity: its warning names none
    nbest.write_text("u1\ta zz\t-1\nu1\ta b\t-2\n", encoding="utf-8")
    rescored = cli("rescore", closed, nbest)
    assert rescored.exit_code == 0, rescored.output
    assert "1 token of the hypotheses of" in rescored.stderr and "w/o OOV" not in rescored.stderr
    report = cli("report", closed, "--train", text, "--valid", text, "--test", text, "--out", tmp_path / "rep")
    assert report.exit_code == 0, report.output
    notes = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert ("closed.arpa lists no <unk> (an ARPA file of a closed vocabulary): its 1 OOV test token costs log10 "
            "probability -100") in notes and "flatters" not in notes
    prompted = cli("generate", closed, "--prompt", "a zz", "--max-tokens", "3", "--seed", "1")
    assert prompted.exit_code == 0, prompted.output
    assert ("read as <unk>: 'zz'" in prompted.stderr
            and "closed.arpa lists no <unk> (a closed vocabulary): it gives <unk> log10 probability -100, as KenLM "
                "does" in prompted.stderr)
    known = tmp_path / "known.txt"
    known.write_text("a b\nb\n", encoding="utf-8")
    assert "warning" not in cli("eval", closed, "--file", known).stderr  # no word outside it: nothing to say


def test_penn_treebank_unknown_marks_read_alike_by_the_model_and_its_arpa_file(cli, tmp_path):
    """A text that writes rare words as `<unk>` (Penn Treebank, WikiText): the word tokenizer's default
    (punctuation split) and the ARPA file's whitespace words both read each as one unknown word."""
    import random

    chooser = random.Random(3)
    words = "the a cat dog sat ran on mat , . N shares rose fell <unk> <unk> <unk>".split()
    for split, count in (("train", 300), ("valid", 30), ("test", 30)):
        (tmp_path / f"{split}.txt").write_text("".join(
            " ".join(chooser.choice(words) for _ in range(chooser.randint(3, 12))) + "\n" for _ in range(count)))
    built = cli("ngram", "--train", tmp_path / "train.txt", "--valid", tmp_path / "valid.txt", "--test",
                tmp_path / "test.txt", "--tokenizer", "word", "--order", "3", "--out", tmp_path / "model",
                "--arpa", tmp_path / "model.arpa")
    assert built.exit_code == 0, built.output
    test = (tmp_path / "test.txt").read_text().splitlines()
    unknown = sum(line.split().count("<unk>") for line in test)
    for model in ("model", "model.arpa"):
        evaluation = evaluate(cli, tmp_path / model, "--file", tmp_path / "test.txt")["models"][0]["evaluation"]
        assert evaluation["tokens"] == sum(len(line.split()) + 1 for line in test)  # the words and each line's </s>
        assert evaluation["oov"] == unknown
        if model == "model":
            first = evaluation["perplexity"]
    assert evaluation["perplexity"] == pytest.approx(first, rel=1e-6)
