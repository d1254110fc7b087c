"""The word tokenizer's punctuation splitting (lmkit.text.punctuation): splits, the joining rule, round trips,
and the old whitespace behaviour kept for --no-split-punct and for tokenizers saved before the option."""
from __future__ import annotations

import functools
import json

import pytest
from conftest import CHINESE, ENGLISH
from hypothesis import given, settings
from hypothesis import strategies as st

from lmkit.text.punctuation import join_marks, split_marks
from lmkit.text.tokenizer_cache import get_tokenizer, tokenizer_key, tokenizer_path
from lmkit.text.tokenizers import WordTokenizer, load_tokenizer, tokenizer_from_json


@pytest.mark.parametrize("word, pieces", [
    ("Hello,", ["Hello", ","]),
    ("(so)", ["(", "so", ")"]),
    ("don't", ["don't"]),
    ("o'er", ["o'er"]),
    ("l’homme", ["l’homme"]),
    ("'tis", ["'", "tis"]),
    ("kings'", ["kings", "'"]),
    ("「我的手机坏了，」", ["「", "我的手机坏了", "，", "」"]),
    ("ＡＢ！", ["ＡＢ", "！"]),
    ("$5", ["$", "5"]),
    ("...", [".", ".", "."]),
    ("plain", ["plain"]),
    ("好👨\u200d👩\u200d👧！", ["好", "👨\u200d👩\u200d👧", "！"]),  # a family emoji: five code points, one symbol
    ("👍🏽!", ["👍🏽", "!"]),           # a skin tone stays on its emoji
    ("🇨🇳🇺🇸", ["🇨🇳", "🇺🇸"]),         # regional indicators pair into flags
    ("❤\ufe0f,", ["❤\ufe0f", ","]),   # a variation selector stays on its symbol
    ("🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f!",  # a subdivision flag: its tag characters
     ["🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", "!"]),
    ("👍\u200da", ["👍", "\u200da"]),    # a joiner before a letter is not an emoji's
])
def test_split_marks(word, pieces):
    assert split_marks(word) == pieces


@pytest.mark.parametrize("text", [
    'Hello, world! Don\'t (go) o\'er "there" now.',
    "KING: O, what a rogue; and [exeunt] — ¿qué? ¡sí!",
    "我的手机坏了，他说。",
    "「我的手机坏了，」",
    "他问：“你好吗？”",
])
def test_usual_spacing_comes_back_as_written(text):
    tokenizer = WordTokenizer.fit([text])
    assert tokenizer.decode(tokenizer.encode(text)) == text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "don't", "我的", ",", ".", "(", ")", '"', "'", "，", "「", "」", "-", "$", "¿",
                                 "👨\u200d👧", "🇨🇳", "👍🏽", "🇨", "\u200d", "\u200da", "👍", "c"]),
                max_size=12))
def test_joined_tokens_split_back_into_the_same_tokens(tokens):
    text = " ".join(tokens)
    pieces = [p for word in text.split() for p in split_marks(word)]
    assert [p for word in join_marks(pieces).split() for p in split_marks(word)] == pieces


@pytest.mark.parametrize("path", [ENGLISH, CHINESE])
def test_round_trip_on_fixture_text(path):
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    tokenizer = WordTokenizer.fit(lines)
    text = "\n".join(lines[:200])
    ids = tokenizer.encode(text)
    assert tokenizer.encode(tokenizer.decode(ids)) == ids


def test_punctuation_shrinks_the_vocabulary_and_no_split_keeps_whitespace_words():
    lines = ["Hello, world.", "Hello world!", "world, hello."]
    split = WordTokenizer.fit(lines)
    whole = WordTokenizer.fit(lines, split_punct=False)
    assert set(split.vocab.itos[4:]) == {"Hello", "world", "hello", ",", ".", "!"}
    assert "Hello," in whole.vocab and whole.split("Hello, world.") == ["Hello,", "world."]
    assert whole.decode(whole.encode("Hello, world.")) == "Hello, world."


def test_min_freq_and_max_size_still_apply():
    lines = ["a, b, c.", "a, b.", "a."]
    assert set(WordTokenizer.fit(lines, min_freq=2).vocab.itos[4:]) == {"a", "b", ",", "."}
    assert len(WordTokenizer.fit(lines, max_size=6).vocab) == 6


def test_saved_tokenizer_records_the_choice_and_old_files_keep_whitespace_words(tmp_path):
    tokenizer = WordTokenizer.fit(["Hello, world."])
    tokenizer.save(tmp_path / "tokenizer.json")
    saved = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    assert saved["options"]["split_punct"] is True
    assert load_tokenizer(tmp_path / "tokenizer.json").split("Hi, you.") == ["Hi", ",", "you", "."]
    del saved["options"]["split_punct"]  # as lmkit wrote it before the option existed
    assert tokenizer_from_json(saved).split("Hi, you.") == ["Hi,", "you."]


def test_cache_keys_and_a_stale_cache_is_rebuilt(tiny_en):
    assert tokenizer_key("word", {}) == "word"
    assert tokenizer_key("word", {"split_punct": False}) == "word-split_punct=false"
    path = tokenizer_path(tiny_en, "word", {})
    old = get_tokenizer(tiny_en, "word", split_punct=False).to_json()
    del old["options"]["split_punct"]
    path.write_text(json.dumps(old), encoding="utf-8")  # a cache file from before punctuation splitting
    assert get_tokenizer(tiny_en, "word").split_punct is True
    assert load_tokenizer(path).split_punct is True


def test_a_cache_from_before_whole_specials_is_rebuilt_and_a_whitespace_one_kept(tiny_en):
    path = tokenizer_path(tiny_en, "word", {})
    old = get_tokenizer(tiny_en, "word").to_json()
    del old["options"]["whole_specials"]
    path.write_text(json.dumps(old), encoding="utf-8")  # a cache file from before whole-word specials
    assert get_tokenizer(tiny_en, "word").whole_specials is True
    assert load_tokenizer(path).whole_specials is True
    plain = tokenizer_path(tiny_en, "word", {"split_punct": False})
    kept = get_tokenizer(tiny_en, "word", split_punct=False).to_json()
    assert "whole_specials" not in kept["options"]  # whitespace words: nothing cuts a special
    plain.write_text(json.dumps({**kept, "vocab": {**kept["vocab"], "counts": {}}}), encoding="utf-8")
    assert get_tokenizer(tiny_en, "word", split_punct=False).vocab.counts == {}  # the cache file, not rebuilt


def test_a_model_saved_before_whole_specials_still_matches_its_config_record():
    """Pass 91: config.json fingerprints the tokenizer's options; a word model saved by the lmkit before
    whole_specials (options without the key) was refused as "not the tokenizer these weights were trained with"."""
    import hashlib

    from lmkit.checkpoint.saved_config import tokenizer_record

    old = WordTokenizer.fit(["Hi, you."]).to_json()
    del old["options"]["whole_specials"]
    before = json.dumps({"lowercase": False, "segment": None, "split_punct": True}, sort_keys=True)
    assert tokenizer_record(tokenizer_from_json(old))["options"] == hashlib.sha256(before.encode()).hexdigest()[:16]


def test_cli_tokenize_splits_punctuation_unless_told_not_to(cli, tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("Hello, world. Don't go!\n我的手机坏了，他说。\n" * 30, encoding="utf-8")
    split = cli("tokenize", "--tokenizer", "word", "--train", train, "--format", "tokens", "Hello, world.", "「我的手机坏了，」")
    assert split.exit_code == 0, split.output
    assert split.stdout.splitlines() == ["Hello , world . </s>", "<unk> 我的手机坏了 ， <unk> </s>"]
    whole = cli("tokenize", "--tokenizer", "word", "--no-split-punct", "--train", train, "--format", "tokens",
                "Hello, world.")
    assert whole.exit_code == 0, whole.output
    assert whole.stdout.splitlines() == ["Hello, world. </s>"]


def test_cli_option_is_refused_for_other_tokenizers(cli, tmp_path):
    from conftest import assert_one_line_error

    train = tmp_path / "train.txt"
    train.write_text("a b\n" * 60, encoding="utf-8")
    for kind in ("char", "spm"):
        result = cli("vocab", "build", "--tokenizer", kind, "--split-punct", "--train", train)
        assert_one_line_error(result, f"--split-punct does not apply to --tokenizer {kind}")


def test_jieba_never_cuts_a_symbol_apart():
    pytest.importorskip("jieba")
    tokenizer = WordTokenizer.fit(["x"], segment="jieba", split_punct=True)
    assert tokenizer.split("我们喜欢👨\u200d👩\u200d👧和🇨🇳，好👍🏽") == [
        "我们", "喜欢", "👨\u200d👩\u200d👧", "和", "🇨🇳", "，", "好", "👍🏽"]


MIXED_SCRIPTS = {  # text -> the words jieba's cuts are mended into (it cut every letter outside ASCII apart)
    "привет мир": ["привет", "мир"],
    "naïve idea": ["naïve", "idea"],
    "cafe\u0301很好": ["cafe\u0301", "很", "好"],            # a combining accent stays on its letter
    "坏了1\ufe0f\u20e3号": ["坏", "了", "1\ufe0f\u20e3", "号"],  # a keycap is one symbol
    "iPhone手机 Windows 98": ["iPhone", "手机", "Windows", "98"],
    "東京タワー": ["東京", "タ", "ワ", "ー"],                   # kana: jieba's cuts stand
    "한국어English 좋아요": ["한국어English", "좋아요"],             # Korean is written with spaces
    "１９９８年１月": ["１９９８", "年", "１", "月"],                 # full-width digits
    "增长３．５％": ["增长", "３．５％"],                            # a full-width number, as 3.5% stays whole
}


@pytest.mark.parametrize("text", sorted(MIXED_SCRIPTS))
def test_jieba_cuts_inside_words_of_other_scripts_are_mended(text):
    pytest.importorskip("jieba")
    tokenizer = WordTokenizer.fit(["x"], segment="jieba", split_punct=False)
    words = tokenizer.split(text)
    assert words == MIXED_SCRIPTS[text]
    assert tokenizer.split(tokenizer.join(words)) == words
    assert tokenizer.join(words) == text.replace("手机 ", "手机")  # spaced where a space is needed, as Chinese elsewhere


def test_a_jieba_tokenizer_saved_before_mending_loads_as_it_was_built():
    pytest.importorskip("jieba")
    saved = WordTokenizer.fit(["привет 你好"], segment="jieba").to_json()
    assert saved["options"]["mend_segments"] is True and saved["options"]["whole_words"] is True
    del saved["options"]["whole_words"]  # as an lmkit from before whole words wrote it: mended, It's cut
    mended = tokenizer_from_json(saved)
    assert mended.split("привет It's") == ["привет", "It", "'", "s"]
    del saved["options"]["mend_segments"]  # as an lmkit from before mending wrote it
    old = tokenizer_from_json(saved)
    assert old.split("привет") == list("привет") and old.join(["a", "b"]) == "a b"


@pytest.mark.parametrize("split_punct", [True, False])
def test_jieba_leaves_text_outside_chinese_as_the_whitespace_tokenizer_reads_it(split_punct):
    """Pass 85: jieba cut It's and don't apart, and cut the comma off phone, under --no-split-punct, where the docs
    promise that a word outside Chinese is what it is between spaces."""
    pytest.importorskip("jieba")
    spaced = WordTokenizer.fit(["x"], split_punct=split_punct)
    jieba = jieba_tokenizer(split_punct)
    for text in ("It's my phone, don't touch it.", "l’homme (naïve) “quoted” e-mail U.S. 3.5%"):
        assert jieba.split(text) == spaced.split(text)
        assert jieba.join(jieba.split(text)) == spaced.join(spaced.split(text))
    assert jieba.split("手机坏了，It's broken") == ["手机", "坏", "了", "，", "It's", "broken"] if split_punct else \
        ["手机", "坏", "了", "，It's", "broken"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["привет", "naïve", "cafe\u0301", "1\ufe0f\u20e3", "\u0301", "我的", "手机", "iPhone",
                                 "98", "，", ",", "東京", "タ", "👍🏽", "-", "a", "한국어", "１９９８", "3.5%"]),
                max_size=10),
       st.lists(st.sampled_from(["", " "]), min_size=10, max_size=10), st.booleans())
def test_jieba_words_joined_split_back_into_the_same_words(parts, spaces, split_punct):
    """Wherever a space decides (not between two Chinese words: see the next test)."""
    pytest.importorskip("jieba")
    tokenizer = jieba_tokenizer(split_punct)
    words = tokenizer.split("".join(part + space for part, space in zip(parts, spaces)))
    assert tokenizer.split(tokenizer.join(words)) == words


@functools.cache
def jieba_tokenizer(split_punct: bool) -> WordTokenizer:
    return WordTokenizer.fit(["x"], segment="jieba", split_punct=split_punct)


def test_two_chinese_words_join_as_chinese_is_written_and_read_back_as_jieba_cuts_them():
    """The join is for reading: no space between Chinese words, so words cut other than jieba would cut them
    come back as jieba's ("江 泽民" from segmented text is one word to jieba)."""
    pytest.importorskip("jieba")
    tokenizer = jieba_tokenizer(True)
    assert tokenizer.join(["江", "泽民"]) == "江泽民" and tokenizer.split("江泽民") == ["江泽民"]
