"""Bad input: each case is one CorpusError naming the file (and offset), and nothing cached is damaged."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import ENGLISH, assert_one_line_error

from lmkit.corpus.catalog import get_corpus
from lmkit.corpus.text_files import scan_text_file
from lmkit.errors import CorpusError
from lmkit.files.text_bytes import BINARY_SNIFF_BYTES, unmarked_wide_unicode


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_missing_path(corpora_root, tmp_path):
    with pytest.raises(CorpusError, match="nowhere.txt: no such file or directory"):
        get_corpus(train=tmp_path / "nowhere.txt")


def test_empty_file(corpora_root, tmp_path):
    path = write(tmp_path / "empty.txt", b"")
    with pytest.raises(CorpusError, match="empty.txt: file is empty"):
        get_corpus(train=path)


def test_directory_without_text(corpora_root, tmp_path):
    folder = tmp_path / "pictures"
    write(folder / "a.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    write(folder / "empty.txt", b"")
    write(folder / ".notes.txt", b"hidden\n")
    with pytest.raises(CorpusError, match="pictures: the directory holds no text files"):
        get_corpus(train=folder)


def test_a_folder_of_lmkits_corpora_alone_says_they_are_left_out(corpora_root, tmp_path):
    """Adversarial pass 70: `--train $LMKIT_CORPORA` said the folder "holds no text files" while it held many,
    inside the cached corpora lmkit leaves out."""
    get_corpus(train=ENGLISH)  # a cached corpus in the corpora folder
    with pytest.raises(CorpusError, match=re.escape(f"{corpora_root}: the directory holds no text files outside lmkit's "
                                                    "model directories, reports and cached corpora, which are left out")):
        get_corpus(train=corpora_root)


def test_a_file_reached_twice_is_refused_not_counted_double(corpora_root, tmp_path):
    """Adversarial pass 70: `--train zh.txt --train zh.txt` trained on the text twice, without a word."""
    with pytest.raises(CorpusError, match=re.escape(f"{ENGLISH}: is given twice, so its "
                                                    "text would count twice; give each file once")):
        get_corpus(train=[ENGLISH, ENGLISH])
    folder = tmp_path / "texts"
    text = write(folder / "a.txt", "一行中文\n".encode() * 50)
    (folder / "b.txt").symlink_to(text)
    with pytest.raises(CorpusError, match=re.escape(f"{folder / 'b.txt'}: is the same file as {text}")):
        get_corpus(train=folder)
    with pytest.raises(CorpusError, match=re.escape(f"a.txt: is given twice (by its name, and inside {folder})")):
        get_corpus(train=[folder / "a.txt", tmp_path / "texts"])
    assert not list(corpora_root.glob("*/manifest.json"))  # refused before a corpus was made


def test_held_out_text_that_is_also_trained_on_is_warned_of(corpora_root, tmp_path):
    """Adversarial pass 71: `--train a.txt --valid a.txt` reported OOV 0% and a flattering perplexity, silently. A
    copy under another name is the same text (its sha256)."""
    copy = write(tmp_path / "副本.txt", ENGLISH.read_bytes())
    other = write(tmp_path / "other.txt", "another text entirely\n".encode() * 20)
    with pytest.warns(UserWarning, match=re.escape(f"--valid {copy}: has the same text as --train {ENGLISH}, so the "
                                                   "valid figures measure text the model was trained on")):
        corpus = get_corpus(train=ENGLISH, valid=copy, test=other)
    assert corpus.num_chars("valid") > 0  # a warning, not a refusal: the user may mean it


def test_non_utf8_names_file_and_byte_offset(corpora_root, tmp_path):
    path = write(tmp_path / "latin1.txt", "naïve café\n".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin1.txt: not valid UTF-8 at byte offset 2;.*--encoding-errors replace"):
        get_corpus(train=path)


def test_bad_byte_offset_across_chunk_boundary(tmp_path, monkeypatch):
    import lmkit.corpus.text_files as corpus_io

    monkeypatch.setattr(corpus_io, "CHUNK_BYTES", 7)
    data = "abcde中文字".encode() + b"\xff" + b"tail\n"  # 5 + 9 bytes before the bad byte; chunks split "中"
    path = write(tmp_path / "split.txt", data)
    with pytest.raises(CorpusError, match="byte offset 14"):
        scan_text_file(path)
    truncated = write(tmp_path / "truncated.txt", "abc中".encode()[:-1])
    with pytest.raises(CorpusError, match="byte offset 3"):
        scan_text_file(truncated)


def test_replace_is_opt_in(corpora_root, tmp_path):
    lines = [f"line {i} caf\xe9".encode("latin-1") for i in range(40)]
    path = write(tmp_path / "mixed.txt", b"\n".join(lines) + b"\n")
    corpus = get_corpus(train=path, encoding_errors="replace")
    text = "".join(corpus.text(s) for s in ("train", "valid", "test"))
    assert text.count("\ufffd") == 40
    assert corpus.manifest["encoding_errors"] == "replace"


@pytest.mark.parametrize("encoding", ["UTF-16LE", "UTF-16BE", "UTF-32LE", "UTF-32BE"])
def test_unmarked_wide_unicode_is_named(encoding):
    text = "My phone broke; 我的手机坏了。\r\n" * 400  # beyond the 8 KB sniffed: a character cut at its end
    assert unmarked_wide_unicode(text.encode(encoding)[:BINARY_SNIFF_BYTES - 1]) == encoding


@pytest.mark.parametrize("data", [
    b"text\x00\x01\x02 more\n",              # reads as CJK letters and a space in UTF-16LE, but holds no line end
    b"text at first\n" + bytes(range(256)),    # control characters in every reading
    bytes(4096),                               # NULs in every reading
    bytes(range(256)) * 40,
    "one line, no end".encode("utf-16-le"),    # text, but nothing says it is: still called binary
    b"\x4e\x4b\x0a\x00\x30\x75",                 # adversarial pass 64: 3 letters and a line end in UTF-16LE,
    b"".join(v.to_bytes(2, "little") for v in [1000, 2000, 10, 3000, 20000]),  # too few to tell by
    ("\ue000\ue001 private use\n" * 4).encode("utf-16-le"),  # more than 1% private-use characters
])
def test_binary_data_is_not_taken_for_unmarked_wide_unicode(data):
    assert unmarked_wide_unicode(data) is None


@pytest.mark.parametrize("text", [
    "Family 👨\u200d👩\u200d👧, soft\u00adhyphen, \u200fright-to-left mark\n",  # format characters (Cf)
    "page one\fpage two\vtab\x85next line\r\n",                               # form feed, VT, NEL
    "中文" + "字" * 150 + "\ue000\n",                                           # a private-use character in 150
])
def test_text_with_format_characters_or_a_rare_private_use_one_is_named(text):
    """Adversarial pass 64: such UTF-16 text was called a binary file."""
    assert unmarked_wide_unicode((text * 3).encode("utf-16-le")) == "UTF-16LE"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_a_utf16_file_in_a_folder_of_texts_is_named_not_left_out_as_binary(cli, tmp_path, encoding):
    """Adversarial pass 64: it was left out with a warning that called it binary, and the rest trained on."""
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_bytes(ENGLISH.read_bytes())
    (folder / "b.txt").write_bytes("My phone broke.\r\n".encode(encoding) * 30)
    (folder / "c.bin").write_bytes(bytes(range(256)) * 4)  # binary data beside them is still left out
    result = cli("corpus", "info", "--train", folder)
    assert_one_line_error(result, f"{folder / 'b.txt'}: ", "UTF-16", "save it as UTF-8")


def test_wide_unicode_with_its_mark_and_no_nul_byte_is_named(cli, tmp_path):
    """Adversarial pass 64: Chinese UTF-16 holds no NUL byte, so its byte-order mark was read as bytes that are not
    UTF-8 ("not valid UTF-8 at byte offset 0")."""
    path = tmp_path / "zh.txt"
    path.write_bytes("今天天气很好".encode("utf-16"))
    assert b"\x00" not in path.read_bytes()
    said = f"{path}: is UTF-16 text (it begins with a UTF-16 byte-order mark), expected UTF-8: save it as UTF-8"
    assert_one_line_error(cli("train", "--train", path, "--out", tmp_path / "m"), said)
    assert_one_line_error(cli("corpus", "info", "--train", path), said)
    assert not (tmp_path / "m").exists()


def test_unknown_encoding_errors_value(corpora_root):
    with pytest.raises(CorpusError, match="--encoding-errors must be one of strict, replace, got 'ignore'"):
        get_corpus(train=ENGLISH, encoding_errors="ignore")


@pytest.mark.parametrize("offset", [9, BINARY_SNIFF_BYTES + 791])
def test_a_nul_anywhere_in_a_text_read_whole_is_refused(tmp_path, offset):
    """pass 78: the readers of whole texts (an n-best list, a prompt file) looked for a NUL in the first 8 KB only,
    so rescore scored one past it as part of a hypothesis, and generate read it as an unknown token."""
    from lmkit.files.reading import read_text

    data = (b"the boat " * 2000)[:offset] + b"\x00the boat\n"
    path = write(tmp_path / "nbest.tsv", data)
    where = "in the first 8192 bytes" if offset < BINARY_SNIFF_BYTES else f"at byte offset {offset}"
    with pytest.raises(CorpusError, match=re.escape(f"nbest.tsv: looks like a binary file (NUL byte {where})")):
        read_text(path)


def test_binary_file(corpora_root, tmp_path):
    path = write(tmp_path / "model.bin", b"text at first\n" + bytes(range(256)))
    with pytest.raises(CorpusError, match=r"model.bin: looks like a binary file \(NUL byte at byte offset 14\)"):
        get_corpus(train=path)


def test_overlong_line_fails_without_reading_it_all(tmp_path):
    path = write(tmp_path / "one_line.txt", b"short\n" + b"x" * 5000 + b"\nshort\n")
    with pytest.raises(CorpusError, match="one_line.txt: line 2 is longer than 1,000 bytes"):
        scan_text_file(path, max_line_bytes=1000)
    assert scan_text_file(path, max_line_bytes=5000).size == 5013
    crlf = write(tmp_path / "crlf.txt", b"a\r\nb\r\n" + b"x" * 50 + b"\r\n")
    with pytest.raises(CorpusError, match="crlf.txt: line 3 is longer than 10 bytes"):
        scan_text_file(crlf, max_line_bytes=10)


def test_100_mb_single_line(corpora_root, tmp_path):
    path = tmp_path / "huge.txt"
    with open(path, "wb") as handle:
        handle.truncate(100 << 20)  # sparse, then overwrite the NULs: 100 MB of 'a' without a newline
        handle.seek(0)
        block = b"a" * (1 << 20)
        for _ in range(100):
            handle.write(block)
    with pytest.raises(CorpusError, match=r"huge.txt: line 1 is longer than 4,194,304 bytes"):
        get_corpus(train=path)
    assert not any(corpora_root.glob("huge*"))


def test_corpus_too_small_to_split(corpora_root, tmp_path):
    path = write(tmp_path / "three.txt", b"one\ntwo\nthree\n")
    with pytest.raises(CorpusError, match="three.txt: too small to split into train/valid/test"):
        get_corpus(train=path)
    assert not corpora_root.exists() or not any(p.name.startswith("three") for p in corpora_root.iterdir())


@pytest.mark.parametrize("blank", [b"\n \n\t\n" * 50, "\u3000\u00a0\n".encode() * 50,
                                   "\u200b\n\u200d\ufeff\n".encode() * 50,  # zero-width: shows nothing either
                                   "\u0301\u0301\n\x01\x1b\x7f\n".encode() * 50,  # marks alone, controls
                                   "\u3164\uffa0\n\u115f\u1160\u2800\U0001d159\n".encode() * 50],  # drawn blank
                         ids=["spaces", "wide-spaces", "zero-width", "marks-and-controls", "blank-glyphs"])
@pytest.mark.filterwarnings("ignore:.*byte-order marks")  # said of the zero-width lines' U+FEFF, rightly
def test_only_blank_lines_is_no_text(corpora_root, tmp_path, blank):
    path = write(tmp_path / "blank.txt", blank)
    with pytest.raises(CorpusError, match="blank.txt: no text, only blank or whitespace-only lines$"):
        get_corpus(train=path)


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_a_given_split_of_whitespace_names_its_option_and_file(corpora_root, tmp_path, split):
    """Spaces are characters (the char tokenizer would train on them), but not text: each given split needs some."""
    files = {s: write(tmp_path / f"{s}.txt", b"one two\nthree\n") for s in ("train", "valid", "test")}
    files[split] = write(tmp_path / "spaces.txt", b"  \n\t\n\n" * 10)
    with pytest.raises(CorpusError, match=f"^--{split} {files[split]}: no text, only blank or whitespace-only lines "
                                          f"\\(the {split} split needs some\\)$"):
        get_corpus(**files)
    assert not corpora_root.exists() or not any(corpora_root.iterdir())


def test_unknown_corpus_name(corpora_root):
    with pytest.raises(CorpusError, match="unknown corpus 'shakespear'; choose one of shakespeare, fortunes, tang300, song100"):
        get_corpus("shakespear")


@pytest.mark.parametrize("absolute", [False, True])
def test_a_path_given_as_corpus_name(corpora_root, tmp_path, monkeypatch, absolute):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("text\n", encoding="utf-8")
    name = str(tmp_path / "notes.txt") if absolute else "notes.txt"  # root / an absolute path is that path
    with pytest.raises(CorpusError, match=f"for the text at {name} use --train {name}$"):
        get_corpus(name)


@pytest.mark.parametrize("name", ["../etc", "texts/notes.txt", "/nowhere/notes.txt"])
def test_a_missing_path_given_as_corpus_name_points_to_train(corpora_root, tmp_path, monkeypatch, name):
    """A user who types a file's path after --corpus hears that no file is there and that files go with --train,
    not the rules of a corpus name."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CorpusError, match=f"^--corpus '{name}': no such file, and a path is not a corpus name; "
                                          "choose one of shakespeare, .* or give a text file with --train PATH$"):
        get_corpus(name)


@pytest.mark.parametrize("spelling", ["absolute", "absolute/", "relative"])
def test_a_cached_corpus_folder_given_as_corpus_is_named_by_its_name(corpora_root, tmp_path, monkeypatch, spelling):
    """root / an absolute path is that path: the folder of a cached corpus, given as a path, is told by its manifest,
    never reported as missing."""
    cached = get_corpus(train=ENGLISH)
    folder = corpora_root / cached.name
    monkeypatch.chdir(corpora_root.parent)
    given = {"absolute": str(folder), "absolute/": f"{folder}/", "relative": f"{corpora_root.name}/{cached.name}"}[spelling]
    with pytest.raises(CorpusError, match=f"^--corpus takes a corpus name; {given} is the folder of a cached corpus: "
                                          f"give --corpus {cached.name} with LMKIT_CORPORA="):
        get_corpus(given)


@pytest.mark.parametrize("command", ["fetch", "info"])
@pytest.mark.parametrize("kind", ["file", "missing", "cached folder"])
def test_a_path_given_as_the_corpus_commands_name_is_told_as_their_name(cli, corpora_root, tmp_path, monkeypatch,
                                                                         command, kind):
    """`lmkit corpus fetch|info NAME` take the name as an argument, not as --corpus: a path there is answered in
    NAME's words, and fetch is never told to use an option it does not have."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("text\n", encoding="utf-8")
    cached = get_corpus(train=ENGLISH)
    name = {"file": "./notes.txt", "missing": "./nowhere.txt", "cached folder": str(corpora_root / cached.name)}[kind]
    expected = {"file": "NAME takes a corpus name, and ./notes.txt is a path: a text file needs no fetching, give it "
                        "to --train",
                "missing": "NAME './nowhere.txt': no such file, and a path is not a corpus name",
                "cached folder": f"NAME takes a corpus name; {name} is the folder of a cached corpus: give "
                                 f"{cached.name} with LMKIT_CORPORA={corpora_root}"}[kind]
    assert_one_line_error(cli("corpus", command, name), expected)


def test_a_cached_corpus_folder_whose_name_is_no_corpus_name_is_not_advised_by_that_name(corpora_root, tmp_path,
                                                                                         monkeypatch):
    """A copy of a corpus folder renamed 唐诗: --corpus 唐诗 would be refused, so the advice is to rename it."""
    cached = get_corpus(train=ENGLISH)
    copy = tmp_path / "copies" / "唐诗"
    shutil.copytree(corpora_root / cached.name, copy)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CorpusError, match="^--corpus takes a corpus name; copies/唐诗 is the folder of a cached corpus: "
                                          "its folder name '唐诗' is not a corpus name .*: rename the folder, or give "
                                          "its train.txt to --train$"):
        get_corpus("copies/唐诗")


@pytest.mark.parametrize("where", ["the corpus folder", "a folder above it", "a model directory"])
def test_hf_given_a_folder_of_lmkits_is_refused_not_read_as_text(cli, corpora_root, tmp_path, where):
    """`datasets` reads whatever a folder holds: a cached corpus's token-id sidecars became a corpus of hashes."""
    cached = get_corpus(train=ENGLISH)
    copies = tmp_path / "copies"
    shutil.copytree(corpora_root / cached.name, copies / "poems")
    folder = {"the corpus folder": copies / "poems", "a folder above it": copies, "a model directory": copies / "model"}
    given = folder[where]
    if where == "a model directory":
        shutil.rmtree(copies / "poems")
        (copies / "model").mkdir()
        (copies / "model" / ".lmkit-model").write_text("lmkit model directory\n")
    before = sorted(p.name for p in corpora_root.iterdir())
    expected = {"the corpus folder": f"{given} is the folder of a corpus lmkit cached, not a folder of text files: "
                                     f"give --corpus poems with LMKIT_CORPORA={copies}",
                "a folder above it": f"{copies / 'poems'} is a folder of lmkit's (a cached corpus or a model directory)",
                "a model directory": f"{copies / 'model'} is a folder of lmkit's"}[where]
    assert_one_line_error(cli("corpus", "fetch", f"hf:{given}"), expected)
    with pytest.raises(CorpusError, match=re.escape(expected)):
        get_corpus(f"hf:{given}")
    assert sorted(p.name for p in corpora_root.iterdir()) == before  # nothing fetched, nothing cached


@pytest.mark.parametrize("given", ["the corpus folder", "its ids folder"])
def test_train_given_a_cached_corpus_folder_is_refused_not_read_as_one_text(corpora_root, tmp_path, given):
    """Its three splits, its manifest and its token-id sidecars, read together as one text, had been trained on."""
    cached = get_corpus(train=ENGLISH)
    copy = Path(shutil.copytree(corpora_root / cached.name, tmp_path / "copies" / "poems"))
    (copy / "ids").mkdir(exist_ok=True)
    folder = copy if given == "the corpus folder" else copy / "ids"
    where = "is" if folder == copy else f"lies inside {copy},"
    with pytest.raises(CorpusError, match=re.escape(f"{folder}: {where} the folder of a corpus lmkit cached") +
                       ".*" + re.escape(f"give --corpus poems with LMKIT_CORPORA={copy.parent}, or give one split "
                                        "file to --train")):
        get_corpus(train=folder)
    assert get_corpus(train=copy / "train.txt").num_chars("train") > 0  # one split is a text like any other


def test_a_cached_corpus_inside_a_folder_of_texts_is_left_out_and_a_users_manifest_is_not(corpora_root, tmp_path):
    from lmkit.corpus.store import is_corpus_folder
    from lmkit.corpus.text_files import list_text_files

    cached = get_corpus(train=ENGLISH)
    folder = tmp_path / "texts"
    shutil.copytree(corpora_root / cached.name, folder / "poems")
    (folder / "mine").mkdir()
    (folder / "mine" / "manifest.json").write_text('{"my": "list"}\n')  # the user's: not a corpus manifest
    (folder / "a.txt").write_text("some text\n")
    assert [p.relative_to(folder).as_posix() for p in list_text_files(folder, is_corpus_folder)] == [
        "a.txt", "mine/manifest.json"]  # as --train reads a folder (lmkit.corpus.local)


@pytest.mark.parametrize("name", ["", " ", "\t"])
def test_an_empty_corpus_name_is_named_empty(corpora_root, tmp_path, monkeypatch, name):
    """Path("") is the working folder: an empty name must not be taken for a path there."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CorpusError, match="the name is empty"):
        get_corpus(name)


@pytest.mark.parametrize("name", [".hidden", "a b", "sha\x01ke", "x" * 101])
def test_unsafe_corpus_name(corpora_root, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CorpusError, match="1 to 100 ASCII letters, digits"):
        get_corpus(name)


@pytest.mark.parametrize("kwargs, message", [
    ({"train": ENGLISH, "valid": ENGLISH}, "--valid and --test go together"),
    ({"valid": ENGLISH, "test": ENGLISH}, "--valid and --test need --train"),
    ({"name": "shakespeare", "train": ENGLISH}, "either --corpus or --train"),
    ({}, "no corpus given"),
])
def test_inconsistent_options(corpora_root, kwargs, message):
    with pytest.raises(CorpusError, match=message):
        get_corpus(**kwargs)


def test_bad_input_does_not_damage_cached_corpora(corpora_root, tiny_en, tmp_path):
    before = {p: p.read_bytes() for p in sorted(corpora_root.rglob("*")) if p.is_file()}
    for data in (b"", b"\xff\xfe", b"\x00\x01", b"a\nb\n"):
        with pytest.raises(CorpusError):
            get_corpus(train=write(tmp_path / "bad.txt", data))
    after = {p: p.read_bytes() for p in sorted(corpora_root.rglob("*")) if p.is_file()}
    assert after == before


def test_a_split_dealt_only_blank_lines_says_so_rather_than_too_small(tmp_path):
    from lmkit.corpus.split import SplitFiles

    with SplitFiles(tmp_path / "splits") as files:
        files.write_unit("train", ["one two three"] * 50)
        files.write_unit("valid", ["\u3164", " "])  # blank-looking: no text
        files.write_unit("test", ["four five"])
        with pytest.raises(CorpusError, match=r"^t.txt: the valid split would get only blank or whitespace-only lines "
                                              r"\(2 of 53\); give more text, or pass --valid and --test$"):
            files.finish("t.txt")


def test_a_corpus_folder_that_cannot_be_made_is_named_with_the_remedy(tmp_path, monkeypatch):
    """Pass 87: in a folder that cannot be written, the default ./corpora failed as 'corpora: Operation not
    permitted', naming neither where nor what to set."""
    from lmkit.corpus.store import install_corpus

    root = tmp_path / "corpora"
    real_mkdir = Path.mkdir

    def refused(self, *args, **kwargs):
        if self == root:
            raise PermissionError(1, "Operation not permitted", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refused)
    with pytest.raises(CorpusError, match=rf"^{root}: cannot make the corpus folder \(Operation not permitted\); "
                                          "set LMKIT_CORPORA \\(or LMKIT_HOME\\) to a folder that can be written$"):
        install_corpus(root, "name", lambda work: pytest.fail("built"))
