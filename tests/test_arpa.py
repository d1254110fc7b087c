"""ARPA files: round trips, foreign conventions (missing prefixes, -99), and one clear error per kind of damage."""
import math
import warnings

import numpy as np
import pytest
import torch

from lmkit.text.encode import encode_lines
from lmkit.errors import ArpaError
from lmkit.models.ngram.arpa import read_arpa
from lmkit.models.ngram.arpa_write import write_arpa
from lmkit.models.ngram.model import build_ngram
from lmkit.text.tokenizers import CharTokenizer, WordTokenizer
from lmkit.text.vocab import BOS_ID, Vocab

LINES = ["the cat sat", "the dog sat", "a cat and a dog", "the end", "sat on a mat", "the cat ran"]

PRUNED = """\\data\\
ngram 1=4
ngram 2=2
ngram 3=1

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.5
-0.5\t</s>\t0
-0.4\ta\t-0.2

\\2-grams:
-0.3\t<s> a\t-0.1
-0.2\ta </s>

\\3-grams:
-0.01\ta a </s>

\\end\\
"""


def write(tmp_path, text: str, name: str = "model.arpa"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def log10_sentence(model, words: list[str]) -> float:
    ids = torch.tensor([[BOS_ID, *model.vocab.encode(words), model.vocab.eos_id]])
    return float(model.score(ids).sum()) / math.log(10)


@pytest.fixture(scope="module")
def word_data():
    tokenizer = WordTokenizer.fit(LINES)
    return tokenizer, encode_lines(tokenizer, LINES)


MAGIC = {"model.arpa": b"\\data\\", "model.arpa.gz": b"\x1f\x8b", "model.arpa.bz2": b"BZh", "model.arpa.xz": b"\xfd7zXZ",
         "MODEL.ARPA.GZ": b"\x1f\x8b", "model.arpa.Xz": b"\xfd7zXZ"}  # the suffix in any case


@pytest.mark.parametrize("smoothing", ["mle", "add-k", "kn"])
@pytest.mark.parametrize("name", list(MAGIC))
def test_written_arpa_reads_back_to_the_same_scores(word_data, tmp_path, smoothing, name):
    tokenizer, stream = word_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny data: KN discounts fall back
        model = build_ngram(stream, tokenizer.vocab, 3, smoothing=smoothing, k=0.5)
    path = write_arpa(model, tmp_path / name)
    assert path.read_bytes().startswith(MAGIC[name])  # compressed as the name says
    again = read_arpa(path)
    assert again.vocab == tokenizer.vocab and again.tables.sizes() == model.tables.sizes()
    test = encode_lines(tokenizer, LINES + ["a dog ran on the mat", "zebra"])
    np.testing.assert_array_equal(again.score_stream(test), model.score_stream(test))  # -inf (MLE zeros) included


def test_arpa_header_counts_every_section(word_data, tmp_path):
    tokenizer, stream = word_data
    model = build_ngram(stream, tokenizer.vocab, 2, smoothing="add-k")
    text = write_arpa(model, tmp_path / "m.arpa").read_text(encoding="utf-8")
    assert f"ngram 1={len(tokenizer.vocab) - 1}\n" in text  # every word but <pad>
    assert f"ngram 2={model.tables.sizes()[1]}\n" in text and text.endswith("\\end\\\n")


def test_a_missing_prefix_is_added_with_the_probability_the_file_implies(tmp_path):
    model = read_arpa(write(tmp_path, PRUNED))
    assert model.tables.sizes() == [5, 3, 1]  # "a a" added to the 2-grams
    # p(a | <s>) = -0.3; p(a | <s> a) = bo(<s> a) + bo(a) + p(a) = -0.7; p(</s> | a a) = -0.01
    assert log10_sentence(model, ["a", "a"]) == pytest.approx(-1.01, abs=1e-6)
    # p(a | <s> a a...) backs off through the added prefix exactly as through its absence
    assert log10_sentence(model, ["a", "a", "a"]) == pytest.approx(-0.3 - 0.7 - 0.6 - 0.01, abs=1e-6)  # the added "a a": bo 0, p -0.6
    # KenLM's hashed loader refuses the pruned file ("the context of every 3-gram should appear");
    # the file we write lists the prefix, so it loads and scores the same
    kenlm = pytest.importorskip("kenlm", reason="the kenlm Python module is not installed")
    complete = kenlm.Model(str(write_arpa(model, tmp_path / "complete.arpa")))
    assert complete.score("a a a", bos=True, eos=True) == pytest.approx(-1.61, abs=1e-5)


def test_minus_99_means_never_and_the_next_distribution_still_sums_to_one(tmp_path):
    model = read_arpa(write(tmp_path, PRUNED))
    logp, _ = model.step(torch.tensor([BOS_ID]), model.init_state(1))
    assert torch.isneginf(logp[0, BOS_ID])
    assert model.vocab.itos == ["<pad>", "<unk>", "<s>", "</s>", "a"]


def test_tokens_with_spaces_cannot_be_written(tmp_path):
    tokenizer = CharTokenizer.fit(["ab c", "ca b"])
    model = build_ngram(encode_lines(tokenizer, ["ab c", "ca b"]), tokenizer.vocab, 2, smoothing="add-k")
    with pytest.raises(ArpaError, match="token ' ' contains a space"):
        write_arpa(model, tmp_path / "char.arpa")
    assert not (tmp_path / "char.arpa").exists()


def test_chinese_characters_and_ideographic_spaces_round_trip(tmp_path):
    lines = ["春眠不觉晓", "处处闻啼鸟", "夜来风雨声\u3000花落知多少"]
    tokenizer = CharTokenizer.fit(lines)
    model = build_ngram(encode_lines(tokenizer, lines), tokenizer.vocab, 3, smoothing="add-k")
    again = read_arpa(write_arpa(model, tmp_path / "tang.arpa"))
    assert again.vocab == tokenizer.vocab
    test = encode_lines(tokenizer, ["春风\u3000花落", "处处"])
    np.testing.assert_array_equal(again.score_stream(test), model.score_stream(test))


def test_words_may_hold_whitespace_other_than_spaces_and_tabs(tmp_path):
    word = "a\u3000b"  # an ideographic space inside a word
    text = PRUNED.replace("a a </s>", f"{word} {word} </s>").replace("\ta </s>", f"\t{word} </s>")
    text = text.replace("-0.4\ta\t-0.2", f"-0.4\t{word}\t-0.2").replace("<s> a\t", f"<s> {word}\t")
    model = read_arpa(write(tmp_path, text))
    assert model.vocab.itos[-1] == "a\u3000b"
    assert log10_sentence(model, ["a\u3000b"]) == pytest.approx(-0.3 - 0.1 - 0.2, abs=1e-6)


CLOSED = PRUNED.replace("-1.0\t<unk>\t0\n", "").replace("ngram 1=4", "ngram 1=3")  # SRILM's default: no <unk>


def test_a_closed_vocabulary_reads_with_the_unk_kenlm_substitutes(tmp_path):
    """pass 89: a file without <unk> was refused where KenLM loads it, giving <unk> log10 -100 (its
    'Substituting log10 probability -100'); lmkit now reads it so, and scores every sentence as KenLM does."""
    model = read_arpa(write(tmp_path, CLOSED))
    assert model.vocab.itos == ["<pad>", "<unk>", "<s>", "</s>", "a"]
    assert model.details["closed_vocabulary"] is True
    assert log10_sentence(model, ["a", "a"]) == pytest.approx(-1.01, abs=1e-6)  # its own words: as before
    # "a zebra": p(a | <s>) -0.3, p(<unk> | <s> a) = bo(<s> a) -0.1 + bo(a) -0.2 + -100, p(</s> | <unk>) = -0.5:
    # kenlm.Model(CLOSED).score("a zebra") gave -101.1 (0.3.0)
    assert log10_sentence(model, ["a", "zebra"]) == pytest.approx(-101.1, abs=1e-5)
    assert "closed_vocabulary" not in read_arpa(write(tmp_path, PRUNED)).details
    # KenLM refuses the pruned 3-gram; its 2-grams alone it loads: p(<unk> | a) = bo(a) -0.2 + -100
    bigram = write(tmp_path, CLOSED.replace("ngram 3=1\n", "").replace("\\3-grams:\n-0.01\ta a </s>\n\n", "").replace("a\t-0.1", "a"), "2.arpa")
    assert log10_sentence(read_arpa(bigram), ["a", "zebra"]) == pytest.approx(-101.0, abs=1e-5)
    kenlm = pytest.importorskip("kenlm", reason="the kenlm Python module is not installed")
    assert kenlm.Model(str(bigram)).score("a zebra", bos=True, eos=True) == pytest.approx(-101.0, abs=1e-5)


def test_a_given_vocabulary_must_match_the_file(tmp_path):
    path = write(tmp_path, PRUNED)
    with pytest.raises(ArpaError, match="'b' is not a 1-gram"):
        read_arpa(path, Vocab(["<pad>", "<unk>", "<s>", "</s>", "a", "b"]))
    assert read_arpa(path, Vocab(["<pad>", "<unk>", "<s>", "</s>", "a"])).tables.sizes() == [5, 3, 1]


BAD = {
    "truncated": (lambda t: t[: t.index("-0.2\ta </s>")], r":14: .*2-grams: lists 1 entries but .*says 2.*file ends"),
    "count too high": (lambda t: t.replace("ngram 2=2", "ngram 2=3"), r":15: .*2-grams: lists 2 entries but .*says 3 \(line 15 ends"),
    "count too low": (lambda t: t.replace("ngram 2=2", "ngram 2=1"), r":14: .*lists more entries than the 1"),
    "probability": (lambda t: t.replace("-0.4\ta", "-0.4x\ta"), r":10: probability '-0.4x' is not a number"),
    "backoff": (lambda t: t.replace("a\t-0.2", "a\tnan"), r":10: backoff 'nan' is not a finite"),
    "positive": (lambda t: t.replace("-0.5\t</s>", "0.5\t</s>"), r":9: log10 probability 0.5 is above 0"),
    "fields": (lambda t: t.replace("-0.2\ta </s>", "-0.2\ta </s> x y"), r":14: a 2-gram line needs"),
    "blank line inside": (lambda t: t.replace("-0.5\t</s>\t0\n", "-0.5\t</s>\t0\n\n"),  # pass 90: said "truncated?"
                          r":10: \\1-grams: a blank line after 3 of its 4 entries, and more entries after it"),
    "no eos": (lambda t: t.replace("-0.5\t</s>\t0\n", "-0.5\tb\t0\n"), r"1-grams lack </s>"),
    "duplicate 1-gram": (lambda t: t.replace("-0.5\t</s>\t0", "-0.5\ta\t0"), r":10: duplicate 1-gram 'a' \(first at line 9\)"),
    "duplicate 2-gram": (lambda t: t.replace("-0.2\ta </s>", "-0.2\t<s> a"), r":14: duplicate 2-gram \(first listed at line 13\)"),
    "unknown word": (lambda t: t.replace("a a </s>", "a zebra </s>"), r":17: word 'zebra' of this 3-gram is not among the 1-grams"),
    "no data": (lambda t: t.replace("\\data\\", "\\date\\"), r"no \\data\\ header"),
    "no end": (lambda t: t.replace("\\end\\\n", ""), r"without \\end\\"),
    "section": (lambda t: t.replace("\\2-grams:", "\\3-grams:"), r":12: expected the section header \\2-grams:"),
    "header": (lambda t: t.replace("ngram 2=2", "ngram two=2"), r":3: expected 'ngram 2=<count>'"),
    "binary": (lambda t: t.replace("-0.4\ta", "-0.4\t\udcff"), r":10: not valid UTF-8"),
}


@pytest.mark.parametrize("kind", BAD)
def test_a_damaged_file_is_one_error_naming_the_line(tmp_path, kind):
    damage, message = BAD[kind]
    path = tmp_path / "bad.arpa"
    path.write_bytes(damage(PRUNED).encode("utf-8", errors="surrogateescape"))
    with pytest.raises(ArpaError, match=message):
        read_arpa(path)


def test_a_missing_file_is_an_arpa_error(tmp_path):
    with pytest.raises(ArpaError, match="nothing.arpa: no such file"):
        read_arpa(tmp_path / "nothing.arpa")


@pytest.mark.parametrize("name", ["model.arpa.zst", "model.arpa.lz4", "model.ARPA.ZIP", "model.arpa.bzip2", "model.arpa.tar.gz"])
def test_a_name_promising_a_compression_lmkit_does_not_write_is_refused(word_data, tmp_path, name):
    tokenizer, stream = word_data
    model = build_ngram(stream, tokenizer.vocab, 2, smoothing="add-k", k=0.5)
    with pytest.raises(ArpaError, match=f"{name}: lmkit compresses ARPA files as .gz, .bz2 or .xz, not "):
        write_arpa(model, tmp_path / name)
    assert list(tmp_path.iterdir()) == []
