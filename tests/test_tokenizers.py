"""Tokenizers: round trips, sentence ends, OOV, JSON, Chinese, and the cache beside a corpus."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CHINESE, ENGLISH
from hypothesis import given, settings
from hypothesis import strategies as st

from lmkit.errors import ConfigError, TokenizerError
from lmkit.text.tokenizer_cache import get_tokenizer, resolve_options, tokenizer_key, tokenizer_path
from lmkit.text.tokenizers import CharTokenizer, WordTokenizer, fit_tokenizer, load_tokenizer, tokenizer_from_json
from lmkit.text.vocab import BOS_ID, EOS_ID, UNK_ID


def fixture_lines(path):
    return path.read_text(encoding="utf-8").split("\n")[:-1]


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_char_round_trip_any_text(text):
    tokenizer = CharTokenizer.fit(text.split("\n") + ["x"])
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert ids.count(EOS_ID) == text.count("\n") and BOS_ID not in ids and UNK_ID not in ids


@pytest.mark.parametrize("text", [
    "春眠不觉晓，处处闻啼鸟。",
    "emoji 🙂👍🏽 and flags 🇫🇷",
    "combining: e\u0301 a\u0308 \u0915\u094d\u0937",  # é ä क्ष as base + combining marks
    "tabs\tand  double  spaces \n\nblank lines\n",
])
def test_char_code_points(text):
    tokenizer = CharTokenizer.fit(text.split("\n"))
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert len(tokenizer.encode_line(text.split("\n")[0])) == len(text.split("\n")[0])  # one id per code point


def test_encode_marks_line_ends_and_unknowns():
    tokenizer = CharTokenizer.fit(["ab"])
    a, b = tokenizer.vocab.id("a"), tokenizer.vocab.id("b")
    assert tokenizer.encode("ab\nba\n") == [a, b, EOS_ID, b, a, EOS_ID]
    assert tokenizer.encode("abz") == [a, b, UNK_ID]
    assert tokenizer.decode([BOS_ID, a, EOS_ID, b]) == "a\nb"  # <s> is context only, never text


def test_word_whitespace_and_lowercase():
    lines = ["The cat sat", "the  CAT\tran"]
    plain = WordTokenizer.fit(lines)
    assert plain.split("the  CAT\tran") == ["the", "CAT", "ran"]
    assert "The" in plain.vocab and "CAT" in plain.vocab
    lower = WordTokenizer.fit(lines, lowercase=True)
    assert "The" not in lower.vocab and lower.vocab.counts["cat"] == 2
    assert lower.decode(lower.encode("The cat ran\nthe dog")) == "the cat ran\nthe <unk>"


def test_word_literal_specials_are_unknown_words():
    tokenizer = WordTokenizer.fit(["a <s> b </s> c"], split_punct=False)
    assert tokenizer.encode_line("a <s> b </s> c") == [tokenizer.vocab.id("a"), UNK_ID, tokenizer.vocab.id("b"),
                                                       UNK_ID, tokenizer.vocab.id("c")]
    split = WordTokenizer.fit(["a <s> b </s> c"])  # punctuation split keeps a whole-word special whole
    assert split.encode_line("a <s> b </s> c") == tokenizer.encode_line("a <s> b </s> c")


@pytest.mark.parametrize("options", [{}, {"split_punct": False}, {"lowercase": True}, {"segment": "jieba"}])
def test_word_penn_treebank_unknown_marks_are_unknown_words(options):
    """Penn Treebank's text (and WikiText's) writes a rare word as `<unk>`: one unknown word, never `< unk >`."""
    lines = ["the <unk> said n shares", "<unk> <unk> rose , <unk>", "a cat"]
    tokenizer = WordTokenizer.fit(lines, **options)
    assert not {"<", ">", "unk"} & set(tokenizer.vocab.itos)
    word = tokenizer.vocab.id
    assert tokenizer.encode_line("the <unk> said n shares") == [word("the"), UNK_ID, word("said"), word("n"),
                                                                word("shares")]
    assert tokenizer.encode_line("<unk> <unk> rose , <unk>") == [UNK_ID, UNK_ID, word("rose"), word(","), UNK_ID]


def test_a_word_tokenizer_saved_before_whole_specials_loads_as_it_was_built():
    saved = WordTokenizer.fit(["the <unk> said , a"]).to_json()
    assert saved["options"]["whole_specials"] is True
    assert "whole_specials" not in WordTokenizer.fit(["a"], split_punct=False).to_json()["options"]  # nothing to cut
    del saved["options"]["whole_specials"]  # as an lmkit from before it wrote it: the marks of <unk> cut off
    assert tokenizer_from_json(saved).split("the <unk> said") == ["the", "<", "unk", ">", "said"]
    assert tokenizer_from_json({**saved, "options": {**saved["options"], "whole_specials": True}}).split(
        "the <unk> said") == ["the", "<unk>", "said"]


def test_word_special_glued_to_a_word_is_cut_at_its_marks():
    tokenizer = WordTokenizer.fit(["x<unk> (<s>) a"])
    assert tokenizer.split("x<unk> (<s>) a") == ["x", "<", "unk", ">", "(", "<", "s", ">", ")", "a"]
    assert WordTokenizer.fit(["a"], lowercase=True).split("<UNK> b") == ["<unk>", "b"]


def test_word_jieba_segments_chinese():
    lines = fixture_lines(CHINESE)
    tokenizer = WordTokenizer.fit(lines, segment="jieba")
    words = tokenizer.split("小男孩在河边看见了一封信。")
    assert len(words) > 3 and "".join(words) == "小男孩在河边看见了一封信。"
    line = "老船夫在车站找到了一个苹果。"
    assert tokenizer.decode(tokenizer.encode(line)) == line
    assert tokenizer.join(["hello", "world", "你好"]) == "hello world你好"


def test_unknown_segmenter():
    with pytest.raises(ConfigError, match="--segment must be one of jieba, got 'mecab'"):
        WordTokenizer.fit(["a"], segment="mecab")
    with pytest.raises(TokenizerError, match="unknown word segmenter 'mecab'"):  # as a tokenizer.json might say
        tokenizer_from_json({**WordTokenizer.fit(["a"]).to_json(), "options": {"segment": "mecab"}})


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_spm_round_trip_and_specials(model_type):
    lines = fixture_lines(ENGLISH)
    tokenizer = fit_tokenizer("spm", lines, vocab_size=200, model_type=model_type)
    assert 150 < len(tokenizer.vocab) <= 200  # a soft limit: unigram may stop a few pieces short
    assert tokenizer.vocab.itos[:4] == ["<pad>", "<unk>", "<s>", "</s>"]
    text = "\n".join(lines[:20]) + "\n"
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text and ids.count(EOS_ID) == 20 and UNK_ID not in ids


def test_spm_keeps_chinese_punctuation_and_spaces():
    lines = fixture_lines(CHINESE)
    tokenizer = fit_tokenizer("spm", lines, vocab_size=300)
    for line in lines[:30] + ["  两个空格，全角标点。"]:
        ids = tokenizer.encode_line(line)
        if UNK_ID not in ids:
            assert tokenizer.decode(ids) == line


def test_spm_bad_options():
    with pytest.raises(ConfigError, match="--spm-type must be one of bpe, unigram, got 'char'"):
        fit_tokenizer("spm", ["a b c"], model_type="char")
    with pytest.raises(TokenizerError, match="--vocab-size must exceed the 4 specials"):
        fit_tokenizer("spm", ["a b c"], vocab_size=4)
    with pytest.raises(TokenizerError, match="could not train with --vocab-size 10: Vocabulary size is smaller") as info:
        fit_tokenizer("spm", fixture_lines(CHINESE)[:5], vocab_size=10)
    assert "\n" not in str(info.value)
    assert "Increase --vocab-size." in str(info.value)  # its advice in lmkit's option names, and only lmkit's
    assert "character_coverage" not in str(info.value)


def test_spm_learns_from_paragraph_lines_and_refuses_a_text_mostly_in_lines_it_would_skip():
    paragraphs = [" ".join(fixture_lines(CHINESE)[i:i + 100]) for i in range(0, 400, 100)]
    assert min(len(p.encode("utf-8")) for p in paragraphs) > 4192  # past sentencepiece's own default limit
    tokenizer = fit_tokenizer("spm", paragraphs, vocab_size=300)
    assert UNK_ID not in tokenizer.encode_line(paragraphs[0][:40])
    with pytest.raises(TokenizerError, match=r"at most 65,536 bytes, and 2 of the 2 training lines \(100% of the "
                                             r"text\) are longer \(the longest: 120,000 bytes\)") as info:
        fit_tokenizer("spm", ["x" * 100_000, "句" * 40_000, ""], vocab_size=50)
    assert "\n" not in str(info.value)
    mostly_long = ["句" * 22_000] * 30 + paragraphs  # 30 lines of 66,000 bytes: read, sentencepiece would skip them
    with pytest.raises(TokenizerError, match=r"30 of the 34 training lines \(9\d% of the text\) are longer"):
        fit_tokenizer("spm", mostly_long, vocab_size=300)
    fit_tokenizer("spm", paragraphs * 8 + ["句" * 22_000], vocab_size=300)  # one long line among many: skipped
    with pytest.raises(TokenizerError, match=r"1 of the 5 training lines \(77% of the text\) is longer"):
        fit_tokenizer("spm", paragraphs + ["句" * 22_000], vocab_size=300)
    with pytest.raises(TokenizerError, match=r"1 of the 11 training lines \(just over 50% of the text\) is longer"):
        fit_tokenizer("spm", ["x" * 70_001] + ["y" * 7_000] * 10, vocab_size=50)  # 70,001 bytes skipped, 70,000 read


def test_a_vocab_size_the_text_cannot_fill_is_said(cli, tmp_path):
    from conftest import CHINESE

    result = cli("vocab", "build", "--train", CHINESE, "--tokenizer", "spm", "--vocab-size", "90000")
    assert result.exit_code == 0, result.output
    assert "warning: --vocab-size 90,000: the train split of" in result.stderr and "that is the vocabulary used" in result.stderr


@pytest.mark.parametrize("kind, options", [("char", {}), ("word", {"lowercase": True}), ("spm", {"vocab_size": 120})])
def test_json_round_trip(kind, options, tmp_path):
    lines = fixture_lines(ENGLISH)
    tokenizer = fit_tokenizer(kind, lines, **options)
    tokenizer.save(tmp_path / "tokenizer.json")
    again = load_tokenizer(tmp_path / "tokenizer.json")
    assert type(again) is type(tokenizer) and again.vocab == tokenizer.vocab
    text = "\n".join(lines[100:130])
    assert again.encode(text) == tokenizer.encode(text)
    assert tokenizer_from_json(tokenizer.to_json()).to_json() == tokenizer.to_json()


def test_tokenizer_from_json_rejects_unknown_kind():
    with pytest.raises(TokenizerError, match="not a tokenizer file: its kind is 'bytes'"):
        tokenizer_from_json({"kind": "bytes"})


@pytest.mark.parametrize("kind, options", [("char", {}), ("word", {}), ("spm", {"vocab_size": 120})])
def test_an_option_the_kind_does_not_take_is_named_with_those_it_takes(kind, options):
    """Adversarial pass 72: a hand-edited option was named through Python's "__init__() got an unexpected keyword
    argument"."""
    saved = fit_tokenizer(kind, fixture_lines(ENGLISH), **options).to_json()
    saved["options"] = {**saved["options"], "lowercase " if kind == "word" else "lowercase": True}
    takes = {"char": "segmented", "word": "lowercase, segment, split_punct, mend_segments, whole_words, whole_specials",
             "spm": "model, model_type"}[kind]
    with pytest.raises(TokenizerError) as error:
        tokenizer_from_json(saved)
    assert str(error.value).startswith(f"its options include ones the {kind!r} tokenizer does not take: ")
    assert str(error.value).endswith(f" (it takes {takes})") and "__init__" not in str(error.value)


def test_unknown_kind():
    with pytest.raises(TokenizerError, match="unknown tokenizer 'bpe'; choose one of char, word, spm"):
        fit_tokenizer("bpe", ["a"])


def test_keys_name_only_changed_options():
    assert tokenizer_key("char", {}) == "char"
    assert tokenizer_key("char", {"min_freq": 1}) == "char"
    assert tokenizer_key("word", {"lowercase": True, "segment": "jieba"}) == "word-lowercase=true-segment=jieba"
    assert tokenizer_key("spm", {"vocab_size": 4000}) == "spm-vocab_size=4000"
    assert tokenizer_key("char", {"segmented": True}) == "char-segmented=true"
    assert resolve_options("char", {"max_size": 10}) == {"min_freq": 1, "max_size": 10, "segmented": False}


def test_option_for_another_kind():
    with pytest.raises(ConfigError, match="--lowercase does not apply to --tokenizer char"):
        resolve_options("char", {"lowercase": True})


def test_every_tokenizer_kind_has_its_options_class():
    from lmkit.text.tokenizer_options import TOKENIZER_OPTIONS
    from lmkit.text.tokenizers import TOKENIZERS

    assert list(TOKENIZER_OPTIONS) == list(TOKENIZERS)


def test_option_for_another_kind_names_the_command_line_options_the_kind_takes():
    with pytest.raises(ConfigError) as caught:
        resolve_options("char", {"vocab_size": 100})
    assert str(caught.value) == "--vocab-size does not apply to --tokenizer char (it takes --min-freq, --max-size)"
    with pytest.raises(ConfigError, match="^--max-size must be at least 5, got 4$"):  # room for a token beyond the specials
        WordTokenizer.fit(["a b"], max_size=4)


@pytest.mark.parametrize("args, key", [
    ([], "word"),
    (["--split-punct", "--no-lowercase", "--min-freq", "1"], "word"),  # given, but each the default
    (["--lowercase", "--no-split-punct"], "word-lowercase=true-split_punct=false"),
    (["--max-size", "20"], "word-max_size=20"),
])
def test_cli_options_find_the_cache_file_the_python_api_names(cli, tmp_path, args, key):
    train = tmp_path / "train.txt"
    train.write_text("A b, c.\n" * 60, encoding="utf-8")
    result = cli("vocab", "build", "--train", train, "--tokenizer", "word", *args)
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.glob("**/tokenizers/*.json") if not p.name.endswith(".stats.json")] == [f"{key}.json"]


def test_get_tokenizer_builds_from_train_once(tiny_en):
    first = get_tokenizer(tiny_en, "word")
    path = tokenizer_path(tiny_en, "word", {})
    stamp = path.stat().st_mtime_ns
    again = get_tokenizer(tiny_en, "word")
    assert again.vocab == first.vocab and path.stat().st_mtime_ns == stamp
    assert get_tokenizer(tiny_en, "word", min_freq=2).vocab != first.vocab
    train_words = {w for line in tiny_en.lines("train") for w in first.split(line)}
    assert set(first.vocab.itos[4:]) == train_words


def test_damaged_cache_is_reported(tiny_en):
    get_tokenizer(tiny_en, "char")
    tokenizer_path(tiny_en, "char", {}).write_text("{not json", encoding="utf-8")
    with pytest.raises(TokenizerError, match="cached tokenizer is damaged"):
        get_tokenizer(tiny_en, "char")
    assert len(get_tokenizer(tiny_en, "char", rebuild=True).vocab) > 4


def test_a_damaged_cache_names_the_command_that_rebuilds_it(cli, tiny_en):
    """Pass 91: the advice was `lmkit vocab build --force`, which builds the default corpus's default tokenizer."""
    options = {"min_freq": 2, "split_punct": False}
    get_tokenizer(tiny_en, "word", **options)
    tokenizer_path(tiny_en, "word", options).write_text("{not json", encoding="utf-8")
    with pytest.raises(TokenizerError) as error:
        get_tokenizer(tiny_en, "word", **options)
    advice = f"lmkit vocab build --corpus {tiny_en.name} --tokenizer word --min-freq 2 --no-split-punct --force"
    assert str(error.value).endswith(f"rebuild it with `{advice}`")
    rebuilt = cli(*advice.split()[1:])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert get_tokenizer(tiny_en, "word", **options).vocab.counts


def test_tokenize_follows_a_link_to_a_tokenizer_file_and_names_a_loop(cli, tmp_path):
    from conftest import ENGLISH, assert_one_line_error

    built = cli("vocab", "build", "--train", ENGLISH, "--tokenizer", "char")
    assert built.exit_code == 0, built.output
    saved = next(Path(line.split("(")[-1].rstrip(")")) for line in built.output.splitlines() if line.startswith("tokenizer"))
    (tmp_path / "link.json").symlink_to(saved)
    assert cli("tokenize", "--from", tmp_path / "link.json", "abc").output.split("\n")[0].split() == ["a", "b", "c", "</s>"]
    (tmp_path / "loop.json").symlink_to("loop.json")
    assert_one_line_error(cli("tokenize", "--from", tmp_path / "loop.json", "abc"),
                          f"{tmp_path / 'loop.json'}: tokenizer file is a symbolic link that cannot be followed (a loop)")
    (tmp_path / "gone.json").symlink_to("nowhere.json")
    assert_one_line_error(cli("tokenize", "--from", tmp_path / "gone.json", "abc"),
                          f"{tmp_path / 'gone.json'}: tokenizer file is a symbolic link that leads nowhere")


def test_tokens_are_shown_so_that_marks_and_spaces_stay_visible():
    from lmkit.commands.common import display_token

    assert [display_token(t) for t in ("中", "e\u0301", "\u0301", "a b", "\u200b")] == \
        ["中", "'e\\u0301'", "'\\u0301'", "'a b'", "'\\u200b'"]  # e + U+0301 printed as é: pass 85
    assert display_token("中", quoted=True) == "'中'" and display_token("\u0301x", quoted=True) == "'\\u0301x'"


def test_tokenize_from_a_model_directory_refuses_a_tokenizer_linked_from_outside(cli, tmp_path):
    """As loading the model would: a shared model folder must not make lmkit read a file from elsewhere."""
    from conftest import ENGLISH, assert_one_line_error

    built = cli("train", "--train", ENGLISH, "--hidden-size", "8", "--emb-size", "4", "--layers", "1", "--max-steps",
                "1", "--sample-tokens", "0", "--quiet", "--out", tmp_path / "model")
    assert built.exit_code == 0, built.output
    (tmp_path / "model" / "tokenizer.json").rename(tmp_path / "elsewhere.json")
    (tmp_path / "model" / "tokenizer.json").symlink_to(tmp_path / "elsewhere.json")
    assert_one_line_error(cli("tokenize", "--from", tmp_path / "model", "abc"),
                          "tokenizer.json: a symbolic link to", "outside the model directory")
