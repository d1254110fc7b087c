"""`lmkit corpus`, `lmkit vocab`, `lmkit tokenize` through click's CliRunner, on our fixtures."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from conftest import CHINESE, ENGLISH, TINY, assert_one_line_error

import lmkit.corpus.fetch as corpus_fetch


def test_corpus_list_names_the_recipes(cli):
    result = cli("corpus", "list")
    assert result.exit_code == 0, result.output
    for name in ("shakespeare", "fortunes", "tang300", "song100", "pku98", "zh-reviews"):
        assert name in result.output
    assert "not fetched" in result.output


def test_corpus_list_shows_a_damaged_corpus_and_why(cli, corpora_root, tiny_en):
    """A corpus whose manifest no longer opens is listed as damaged, not left out or called not fetched."""
    (tiny_en.directory / "manifest.json").write_text("{broken")
    (corpora_root / "tang300").mkdir()
    (corpora_root / "tang300" / "manifest.json").write_text('{"format": 1}')
    result = cli("corpus", "list")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert "damaged, will not open" in lines[tiny_en.name] and "not valid JSON" in lines[tiny_en.name]
    assert "damaged, will not open" in lines["tang300"] and "not fetched" not in lines["tang300"]


@pytest.mark.parametrize("how", ["copy", "link"])
def test_corpus_list_calls_another_corpus_under_a_registered_name_damaged(cli, corpora_root, tiny_en, how):
    """Pass 91: tang300 and song100's folders swapped (or tang300 a link to another corpus) were listed as cached,
    each with the other's size, where every command that reads them refuses them."""
    import shutil

    folder = corpora_root / "tang300"
    if how == "copy":
        shutil.copytree(tiny_en.directory, folder)
    else:
        folder.symlink_to(tiny_en.directory, target_is_directory=True)
    result = cli("corpus", "list")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("tang300 "))
    assert f"damaged, will not open: {folder}: holds the corpus '{tiny_en.name}', not 'tang300'" in line
    assert "move it away" in line and "remove the folder" not in line
    assert_one_line_error(cli("corpus", "info", "tang300"), f"holds the corpus '{tiny_en.name}', not 'tang300'")
    assert tiny_en.text("train")  # nothing of the corpus it holds was touched


def test_a_manifest_lmkit_did_not_write_is_advised_away_not_removed(cli, corpora_root):
    """Pass 91: a folder whose manifest.json is another tool's ({"foo": 1}) was to be removed; lmkit did not make it."""
    folder = corpora_root / "song100"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text('{"foo": 1}')
    assert_one_line_error(cli("corpus", "info", "song100"), f"{folder}/manifest.json: has no \"format\"",
                          f"lmkit did not make {folder}; move it away")


def test_a_named_corpus_folder_without_its_manifest_is_named_not_called_unfetched(cli, corpora_root):
    """Pass 83: with its manifest.json removed, `corpus info song100` said 'not fetched yet; run lmkit corpus fetch
    song100', and that fetch refused the folder lmkit would not replace."""
    folder = corpora_root / "song100"
    folder.mkdir(parents=True)
    (folder / "train.txt").write_text("a poem\n", encoding="utf-8")
    for command in (["corpus", "info", "song100"], ["vocab", "show", "--corpus", "song100"]):
        assert_one_line_error(cli(*command), f"{folder}: already exists and is not a corpus lmkit fetched (no "
                                             "manifest.json)", "move it away")
    assert (folder / "train.txt").read_text(encoding="utf-8") == "a poem\n"


def test_corpus_list_and_info_see_an_edit_that_kept_the_size(cli, tiny_en):
    """Pass 20: one character changed for another of as many bytes; `corpus list` called the corpus cached and
    `corpus info` printed the manifest's sha256 as the file's, while `eval` refused it."""
    test = tiny_en.path("test")
    text = test.read_text(encoding="utf-8")
    test.write_text(text.replace("a", "e", 1), encoding="utf-8")
    assert test.stat().st_size == len(text.encode("utf-8"))
    lines = {line.split()[0]: line for line in cli("corpus", "list").output.splitlines()}
    assert "damaged, will not open" in lines[tiny_en.name], lines[tiny_en.name]
    assert "its sha256 is not the one the manifest records" in lines[tiny_en.name]
    assert_one_line_error(cli("corpus", "info", tiny_en.name), f"{test}: its sha256 is not the one the manifest records")


def test_corpus_info_of_local_text(cli):
    result = cli("corpus", "info", "--train", ENGLISH)
    assert result.exit_code == 0, result.output
    assert "english-" in result.output and "train" in result.output and "sha256" in result.output
    manifest = json.loads(cli("corpus", "info", "--train", ENGLISH, "--json").output)
    assert manifest["splits"]["valid"]["lines"] > 0


def test_corpus_info_of_unfetched_corpus(cli):
    assert_one_line_error(cli("corpus", "info", "tang300"), "lmkit corpus fetch tang300")


def test_fetch_unknown_corpus(cli):
    assert_one_line_error(cli("corpus", "fetch", "shakespear"), "unknown corpus 'shakespear'")


def test_fetch_without_apt(cli, monkeypatch, corpora_root):
    monkeypatch.setattr(corpus_fetch.shutil, "which", lambda tool: None)
    assert_one_line_error(cli("corpus", "fetch", "song100"), "apt-get is not available", "--train PATH")
    assert not (corpora_root / "song100").exists()


def test_vocab_build_and_show_char_chinese(cli):
    built = cli("vocab", "build", "--train", TINY["zh"]["train"], "--valid", TINY["zh"]["valid"],
                "--test", TINY["zh"]["test"], "--tokenizer", "char", "--top", "5")
    assert built.exit_code == 0, built.output
    shown = cli("vocab", "show", "--train", TINY["zh"]["train"], "--valid", TINY["zh"]["valid"],
                "--test", TINY["zh"]["test"], "--tokenizer", "char", "--top", "5")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == built.stdout  # built also said on stderr that it was building
    for fragment in ("vocab size", "<pad>=0 <unk>=1 <s>=2 </s>=3", "most frequent", "valid", "test", "OOV rate"):
        assert fragment in shown.output


@pytest.mark.parametrize("options", [["--tokenizer", "word", "--lowercase", "--min-freq", "2"],
                                     ["--tokenizer", "spm", "--vocab-size", "150"],
                                     ["--tokenizer", "spm", "--vocab-size", "150", "--spm-type", "unigram"],
                                     ["--tokenizer", "char", "--max-size", "30"]])
def test_vocab_build_kinds(cli, options):
    result = cli("vocab", "build", "--train", ENGLISH, *options)
    assert result.exit_code == 0, result.output
    assert "OOV rate" in result.output


@pytest.mark.parametrize("options, asked", [([], "--vocab-size 8,000 (the default)"),
                                            (["--vocab-size", "5000"], "--vocab-size 5,000:")])
def test_a_smaller_sentencepiece_vocabulary_than_asked_is_said(cli, options, asked):
    result = cli("vocab", "build", "--train", ENGLISH, "--tokenizer", "spm", *options)
    assert result.exit_code == 0, result.output
    size = int(re.search(r"vocab size +(\d+)", result.stdout).group(1))
    assert size < 5000 and result.stderr.count("warning") == 1
    assert f"warning: {asked}" in result.stderr and f"gave only {size} pieces (specials included)" in result.stderr
    assert "warning" not in cli("vocab", "build", "--train", ENGLISH, "--tokenizer", "spm", "--vocab-size", "150").stderr


def test_vocab_build_word_jieba(cli):
    result = cli("vocab", "build", "--train", CHINESE, "--tokenizer", "word", "--segment", "jieba")
    assert result.exit_code == 0, result.output
    assert "segment=jieba" in result.output


def test_vocab_show_builds_the_tokenizer_it_needs(cli):
    """The README's order: spm built, then word shown; show builds the word tokenizer rather than failing."""
    assert cli("vocab", "build", "--train", ENGLISH, "--tokenizer", "spm", "--vocab-size", "150").exit_code == 0
    first = cli("vocab", "show", "--train", ENGLISH, "--tokenizer", "word")
    assert first.exit_code == 0, first.output
    assert "building the word tokenizer" in first.stderr and "OOV rate" in first.stdout
    again = cli("vocab", "show", "--train", ENGLISH, "--tokenizer", "word")
    assert again.exit_code == 0 and again.stderr == "" and again.stdout == first.stdout


@pytest.mark.parametrize("command", [["vocab", "show"], ["vocab", "build"], ["tokenize", "你好"]])
def test_a_missing_jieba_is_named_not_called_a_damaged_cache(cli, monkeypatch, command):
    args = ["--train", CHINESE, "--tokenizer", "word", "--segment", "jieba"]
    assert cli("vocab", "build", *args).exit_code == 0  # cached while jieba was there
    monkeypatch.setitem(sys.modules, "jieba", None)  # now `import jieba` fails, as after pip uninstall
    result = cli(*command, *args)
    assert_one_line_error(result, "jieba package, which is not installed", "pip install jieba", "pip install -e '.[zh]'")
    assert "damaged" not in result.output


def test_vocab_show_a_tokenizer_file(cli, tiny_en):
    from lmkit.text.tokenizer_cache import get_tokenizer, tokenizer_path

    get_tokenizer(tiny_en, "word")
    result = cli("vocab", "show", tokenizer_path(tiny_en, "word", {}))
    assert result.exit_code == 0, result.output
    assert "word(" in result.output and "most frequent" in result.output
    path = tokenizer_path(tiny_en, "word", {})
    other = cli("vocab", "show", path, "--train", TINY["zh"]["train"], "--valid", TINY["zh"]["valid"],
                "--test", TINY["zh"]["test"])
    assert other.exit_code == 0, other.output
    assert f"(coverage only: the tokenizer is {path}'s)" in other.output and "built from train only" not in other.output


def test_option_for_wrong_tokenizer(cli):
    assert_one_line_error(cli("vocab", "build", "--train", ENGLISH, "--tokenizer", "char", "--vocab-size", "100"),
                          "--vocab-size does not apply to --tokenizer char")


def test_tokenize_text_and_stdin(cli):
    args = ["tokenize", "--train", TINY["zh"]["train"], "--valid", TINY["zh"]["valid"], "--test", TINY["zh"]["test"]]
    result = cli(*args, "老船夫问：“你要去哪里？”")
    assert result.exit_code == 0, result.output
    tokens, ids = result.output.splitlines()
    assert tokens.split()[:3] == ["老", "船", "夫"] and tokens.split()[-1] == "</s>" and ids.split()[-1] == "3"
    piped = cli(*args, "--format", "json", input="老船夫\n龙虎\n")
    rows = [json.loads(line) for line in piped.output.splitlines()]
    assert [row["text"] for row in rows] == ["老船夫", "龙虎"]
    assert rows[1]["tokens"] == ["<unk>", "<unk>", "</s>"] and rows[1]["ids"] == [1, 1, 3]
    dashed = cli(*args, "--format", "json", "老", "-", "龙", input="老船夫\n")  # adversarial pass 72: "-" was a text
    assert [json.loads(line)["text"] for line in dashed.output.splitlines()] == ["老", "老船夫", "龙"]


@pytest.mark.parametrize("encoding, said", [
    ("utf-16", "standard input: is UTF-16 text (it begins with a UTF-16 byte-order mark)"),
    ("utf-16-le", "standard input: looks like UTF-16LE text without a byte-order mark"),
    ("utf-16-be", "standard input: looks like UTF-16BE text without a byte-order mark")])
def test_tokenize_names_utf16_piped_in(cli, encoding, said):
    """Adversarial pass 64: UTF-16 piped into tokenize was called binary data."""
    piped = ("My phone broke, so I plan to buy a new one.\n" * 3).encode(encoding)
    assert_one_line_error(cli("tokenize", "--train", ENGLISH, input=piped), said, "save it as UTF-8")


def test_tokenize_puts_each_id_under_its_token(cli):
    """First-hour pass: tokens and ids were joined by single spaces, so on Chinese text (two columns a character)
    and past the first id of two digits, an id stood under another token."""
    from lmkit.text.display_width import display_width

    result = cli("tokenize", "--train", TINY["zh"]["train"], "老船夫问：“你要去哪里？”")
    assert result.exit_code == 0, result.output
    tokens, ids = result.output.splitlines()

    def starts(line: str) -> list[int]:  # the terminal column at which each field begins
        columns, column, previous = [], 0, " "
        for char in line:
            if char != " " and previous == " ":
                columns.append(column)
            column, previous = column + display_width(char), char
        return columns

    assert len(tokens.split()) == len(ids.split()) == 14 and starts(tokens) == starts(ids)
    assert tokens == tokens.rstrip() and ids == ids.rstrip()


@pytest.mark.parametrize("make, fragments", [
    (lambda d: d / "missing.txt", ["missing.txt: no such file"]),
    (lambda d: write(d / "empty.txt", b""), ["empty.txt: file is empty"]),
    (lambda d: write(d / "bin" / "x.png", b"\x00PNG").parent, ["bin: the directory holds no text files"]),
    (lambda d: write(d / "latin.txt", "caf\xe9\n".encode("latin-1")), ["latin.txt", "byte offset 3"]),
    (lambda d: write(d / "blob.txt", b"abc\x00def"), ["blob.txt: looks like a binary file"]),
    (lambda d: write(d / "small.txt", b"one\ntwo\n"), ["small.txt: too small to split"]),
])
def test_bad_inputs_through_the_cli(cli, tmp_path, make, fragments):
    path = make(tmp_path)
    assert_one_line_error(cli("corpus", "info", "--train", path), *fragments)
    assert_one_line_error(cli("vocab", "build", "--train", path), *fragments)


def test_100_mb_line_through_the_cli(cli, tmp_path):
    path = tmp_path / "one_line.txt"
    with open(path, "wb") as handle:
        for _ in range(100):
            handle.write(b"z" * (1 << 20))
    assert_one_line_error(cli("corpus", "info", "--train", path), "one_line.txt: line 1 is longer than")


def test_encoding_errors_replace_through_the_cli(cli, tmp_path):
    path = write(tmp_path / "latin.txt", b"".join(f"line {i} caf\xe9\n".encode("latin-1") for i in range(30)))
    assert_one_line_error(cli("corpus", "info", "--train", path), "byte offset")
    result = cli("corpus", "info", "--train", path, "--encoding-errors", "replace")
    assert result.exit_code == 0, result.output


def write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_corpus_info_refuses_options_its_name_makes_meaningless(cli):
    """NAME names the corpus: --corpus, --train or --encoding-errors beside it would be dropped silently."""
    assert_one_line_error(cli("corpus", "info", "pku98", "--corpus", "shakespeare"), "NAME pku98", "--corpus")
    assert_one_line_error(cli("corpus", "info", "pku98", "--encoding-errors", "replace"), "--encoding-errors")
    assert_one_line_error(cli("corpus", "info", "pku98", "--train", ENGLISH), "--train")
    for command in (("corpus", "info"), ("vocab", "show"), ("train",), ("tokenize",)):  # no --file to name
        result = cli(*command, "--corpus", "pku98", "--encoding-errors", "replace")
        assert_one_line_error(result, "--encoding-errors replace applies only to files read with --train (a named")
    assert_one_line_error(cli("eval", "model", "--corpus", "pku98", "--encoding-errors", "replace"),
                          "--encoding-errors replace applies only to files read with --train or --file")


def test_corpus_info_with_train_still_takes_encoding_errors(cli):
    result = cli("corpus", "info", "--train", ENGLISH, "--encoding-errors", "replace")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", [".hidden", ".", "中文", "_x"])
def test_corpus_name_rule_is_stated_as_enforced(cli, name, corpora_root):
    """The message said 'only letters, digits, '.', '_' and '-'', true of '.hidden' and of '中文' (letters) too."""
    corpora_root.mkdir()
    assert_one_line_error(cli("corpus", "info", name), repr(name), "ASCII letters", "starting with a letter or digit")


MALFORMED = "expected hf:NAME or hf:NAME:CONFIG"
NOT_ON_THE_HUB = "not a Hugging Face dataset name"  # well formed for lmkit, but no name the hub has


@pytest.mark.parametrize("name, words", [*[(name, MALFORMED) for name in ("hf:a:b:c", "hf:x:", "hf:", "hf::c")],
                                         *[(name, NOT_ON_THE_HUB) for name in ("hf:唐诗", "hf:-a", "hf:a..b", "hf:a b")]])
@pytest.mark.parametrize("command", [("corpus", "fetch"), ("train", "--max-steps", "1", "--corpus")])
def test_malformed_hf_name_is_refused(cli, name, words, corpora_root, command):
    """One line, and no "fetching hf: ..." announced before it."""
    result = cli(*command, name)
    assert_one_line_error(result, repr(name), words)
    assert "fetching" not in result.stderr
    assert not corpora_root.exists()


def test_fetch_checks_every_name_before_fetching_any(cli, monkeypatch, corpora_root):
    import lmkit.corpus.sources as sources

    fetched = []
    monkeypatch.setattr(sources, "build_named", lambda corpus, downloads, work: fetched.append(corpus.name))
    assert_one_line_error(cli("corpus", "fetch", "shakespeare", "nosuch"), "unknown corpus 'nosuch'")
    assert_one_line_error(cli("corpus", "fetch", "shakespeare", "hf:a:b:c"), "'hf:a:b:c'")
    assert fetched == [] and not corpora_root.exists()


def hf_folder_of(tmp_path, relative: str, lines: list[str]):
    folder = tmp_path / "ds" / relative
    folder.mkdir(parents=True)
    for split in ("train", "validation", "test"):
        (folder / f"{split}.txt").write_text("".join(f"{line} {split}\n" for line in lines), encoding="utf-8")
    return folder


def test_hf_datasets_whose_names_read_alike_get_their_own_folders(cli, tmp_path, monkeypatch):
    """hf:.../x/y and hf:.../x-y made the same folder name: the second fetch said 'fetched' and was the first."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    english = hf_folder_of(tmp_path, "x/y", ["the cat sat", "on the mat"])
    chinese = hf_folder_of(tmp_path, "x-y", ["床前明月光", "疑是地上霜"])
    first = cli("corpus", "fetch", f"hf:{english}")
    second = cli("corpus", "fetch", f"hf:{chinese}")
    assert first.exit_code == 0 and second.exit_code == 0, (first.output, second.output)
    assert "fetched" in second.stdout
    info = cli("corpus", "info", f"hf:{chinese}")
    assert f"Hugging Face dataset {chinese}" in info.output
    assert f"Hugging Face dataset {english}" not in info.output


def test_hf_fetch_shows_no_datasets_progress_and_knows_what_is_cached(cli, tmp_path, monkeypatch):
    """datasets' 'Generating train split' bars were printed, and every hf: fetch said 'fetched'."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    dataset = hf_folder_of(tmp_path, "plain", ["the cat sat", "on the mat"])
    first = cli("corpus", "fetch", f"hf:{dataset}")
    assert first.exit_code == 0 and "fetched" in first.stdout, first.output
    assert "Generating" not in first.stderr and "examples/s" not in first.stderr, first.stderr
    again = cli("corpus", "fetch", f"hf:{dataset}")
    assert "already cached" in again.stdout and "fetched" not in again.stdout, again.output


def test_an_hf_folder_whose_files_changed_is_fetched_afresh(cli, tmp_path, monkeypatch):
    """The cache was keyed on the folder's path alone: after its files were edited every command still read
    the text first fetched, and `corpus fetch` said 'already cached'."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    dataset = hf_folder_of(tmp_path, "edited", ["the cat sat", "on the mat"])
    assert cli("corpus", "fetch", f"hf:{dataset}").exit_code == 0
    for path in dataset.iterdir():
        path.write_text("床前明月光\n疑是地上霜\n举头望明月\n低头思故乡\n" * 3, encoding="utf-8")
    again = cli("corpus", "fetch", f"hf:{dataset}")
    assert "fetched" in again.stdout and "already cached" not in again.stdout, again.output
    info = cli("corpus", "info", f"hf:{dataset}")
    assert info.exit_code == 0 and "cat" not in cli("vocab", "show", "--corpus", f"hf:{dataset}").output, info.output


def test_hf_folder_holding_another_dataset_is_refused(cli, tmp_path, monkeypatch, corpora_root):
    """A cached manifest whose source is another dataset does not stand in for the one asked for."""
    from lmkit.corpus.hf import hf_folder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    first = hf_folder_of(tmp_path, "first", ["one line", "another"])
    second = hf_folder_of(tmp_path, "second", ["third line", "fourth"])
    assert cli("corpus", "fetch", f"hf:{first}").exit_code == 0
    hf_folder(corpora_root, f"hf:{first}").rename(hf_folder(corpora_root, f"hf:{second}"))
    assert_one_line_error(cli("corpus", "info", f"hf:{second}"), f"dataset {str(first)!r}, not dataset {str(second)!r}")


def test_hf_corpus_cached_under_its_old_folder_name_still_opens(cli, tmp_path, monkeypatch, corpora_root):
    """Fetched before folder names had a hash: the old folder is used when its manifest is this dataset."""
    from lmkit.corpus.hf import hf_folder, legacy_folder_name

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    dataset = hf_folder_of(tmp_path, "old", ["one line", "another"])
    assert cli("corpus", "fetch", f"hf:{dataset}").exit_code == 0
    legacy = corpora_root / legacy_folder_name(str(dataset), None)
    hf_folder(corpora_root, f"hf:{dataset}").rename(legacy)
    again = cli("corpus", "fetch", f"hf:{dataset}")
    assert "already cached" in again.stdout and str(legacy) in again.stdout, again.output
    assert [p.name for p in corpora_root.iterdir() if p.name.startswith("hf-")] == [legacy.name]


@pytest.mark.parametrize("variable", ["LMKIT_CORPORA", "LMKIT_HOME"])
@pytest.mark.parametrize("command", [("corpus", "list"), ("vocab", "build", "--train", ENGLISH)])
def test_a_folder_variable_naming_a_file_is_refused_by_name(cli, tmp_path, monkeypatch, variable, command):
    """It was 'File exists', 'Not a directory', or a listing of nothing fetched, none naming the variable."""
    a_file = tmp_path / "cfile"
    a_file.write_text("x\n")
    monkeypatch.delenv("LMKIT_CORPORA")
    monkeypatch.setenv(variable, str(a_file))
    assert_one_line_error(cli(*command), f"{variable}={a_file} is not a folder")
    monkeypatch.setenv(variable, str(a_file / "below"))
    assert_one_line_error(cli(*command), f"{variable}={a_file / 'below'}: {a_file} is not a folder")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "gone")
    monkeypatch.setenv(variable, str(dangling / "sub"))
    assert_one_line_error(cli(*command), f"{variable}={dangling / 'sub'}: {dangling} is a link to nothing")
    assert not (tmp_path / "gone").exists()


@pytest.mark.parametrize("variable", ["LMKIT_CORPORA", "LMKIT_HOME"])
@pytest.mark.parametrize("name,says", [("c\nd", "the path holds a control character ('\\n')"),
                                       ("\u200b", "the path has no visible character"),
                                       ("c/ /d", "the name ' ' in the path is only spaces")])
def test_a_folder_variable_holding_an_unseen_name_is_refused_as_an_option_is(cli, tmp_path, monkeypatch, variable,
                                                                           name, says):
    """A newline in LMKIT_CORPORA was accepted: every header printed the folder over two lines, and the folder
    was made with the newline in its name."""
    monkeypatch.delenv("LMKIT_CORPORA")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, name)
    assert_one_line_error(cli("corpus", "list"), f"{variable} {name!r}: {says}")
    assert list(tmp_path.iterdir()) == []


def test_corpora_folder_under_home_that_is_a_file_names_home(cli, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "corpora").write_text("x\n")
    monkeypatch.delenv("LMKIT_CORPORA")
    monkeypatch.setenv("LMKIT_HOME", str(home))
    assert_one_line_error(cli("corpus", "list"), f"LMKIT_HOME={home}: {home / 'corpora'} is not a folder")


def test_dev_null_is_not_a_corpora_folder(cli, monkeypatch):
    monkeypatch.setenv("LMKIT_CORPORA", "/dev/null")
    assert_one_line_error(cli("corpus", "list"), "LMKIT_CORPORA=/dev/null is not a folder")


@pytest.mark.parametrize("variable", ["LMKIT_CORPORA", "LMKIT_HOME"])
def test_a_quoted_tilde_is_the_home_folder(cli, tmp_path, monkeypatch, variable):
    """LMKIT_HOME='~/lmk' made a folder named '~' in the current folder; it means $HOME/lmk, as a shell reads it."""
    from lmkit.config.folders import corpora_root

    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LMKIT_CORPORA")
    monkeypatch.setenv(variable, "~/lmk")
    lmk = tmp_path / "user" / "lmk"
    assert corpora_root() == (lmk / "corpora" if variable == "LMKIT_HOME" else lmk)
    result = cli("vocab", "build", "--train", ENGLISH)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "~").exists() and any(corpora_root().iterdir())


def test_hf_relative_folders_are_their_absolute_paths_and_a_missing_folder_is_refused_first(cli, tmp_path,
                                                                                          monkeypatch):
    """hf:hfd from two working folders was one cache (the second got the first's text); hf:/x and hf:/x/ two."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    english = hf_folder_of(tmp_path / "a", "hfd", ["the cat sat", "on the mat"])
    chinese = hf_folder_of(tmp_path / "b", "hfd", ["床前明月光", "疑是地上霜"])
    monkeypatch.chdir(english.parent)
    assert cli("corpus", "fetch", "hf:hfd").exit_code == 0
    again = cli("corpus", "fetch", f"hf:{english}/")  # the same folder, written another way: the same cache
    assert "already cached" in again.stdout, again.output
    monkeypatch.chdir(chinese.parent)
    second = cli("corpus", "fetch", "hf:hfd")
    assert second.exit_code == 0 and "fetched" in second.stdout and "already" not in second.stdout, second.output
    assert f"Hugging Face dataset {chinese}" in cli("corpus", "info", "hf:hfd").output
    third, missing = hf_folder_of(tmp_path / "c", "hfd", ["a b c", "d e f"]), tmp_path / "nowhere"
    result = cli("corpus", "fetch", f"hf:{third}", f"hf:{missing}")
    assert_one_line_error(result, f"'hf:{missing}': {missing} is not a folder")
    assert "already cached" not in cli("corpus", "fetch", f"hf:{third}").stdout  # nothing was fetched before it


def test_vocab_show_top_shows_as_many_as_asked_and_none_for_zero(cli, tmp_path):
    """The cached coverage keeps the 50 most frequent tokens; --top 60 showed 50, --top 0 an empty line."""
    from conftest import ENGLISH

    text = tmp_path / "english.txt"
    text.write_text(ENGLISH.read_text(encoding="utf-8") * 3, encoding="utf-8")
    shown = cli("vocab", "show", "--train", text, "--tokenizer", "word", "--top", "60")
    assert shown.exit_code == 0, shown.output
    line = next(line for line in shown.stdout.splitlines() if line.startswith("most frequent in train"))
    assert len(line.split("  ")[1:]) == 60
    none = cli("vocab", "show", "--train", text, "--tokenizer", "word", "--top", "0")
    assert none.exit_code == 0 and "most frequent" not in none.stdout


@pytest.mark.parametrize("damage", ["missing", "link", "shorter", "changed"])
def test_fetch_of_a_cached_corpus_it_cannot_read_says_so(cli, tmp_path, monkeypatch, damage):
    """A cache whose train.txt was gone (or a link, or cut short) was reported as "already cached"."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    dataset = hf_folder_of(tmp_path, "plain", ["the cat sat", "on the mat"] * 20)
    fetched = cli("corpus", "fetch", f"hf:{dataset}")
    assert fetched.exit_code == 0, fetched.output
    train = next(p for p in (tmp_path / "corpora").rglob("train.txt"))
    if damage == "link":
        (tmp_path / "mine.txt").write_text("the cat\n")
        train.unlink()
        train.symlink_to(tmp_path / "mine.txt")
    elif damage == "shorter":
        train.write_bytes(train.read_bytes()[:-3])
    elif damage == "changed":  # the same size, other text
        train.write_bytes(train.read_bytes().replace(b"cat", b"dog"))
    else:
        train.unlink()
    says = {"missing": "is missing", "link": "is a symbolic link", "shorter": "bytes, but the manifest records",
            "changed": "its sha256 is not the one the manifest records"}
    assert_one_line_error(cli("corpus", "fetch", f"hf:{dataset}"), f"{train}: ", says[damage],
                          "the corpus cache is damaged")


def test_a_hub_unreachable_is_the_one_error_line_without_the_librarys_retry_lines(tmp_path):
    """Offline, huggingface_hub logged "'[Errno -2] ...' thrown while requesting HEAD ..." and "Retrying in 1s"
    five times before lmkit's own line."""
    probe = ("import datasets\n"
             "from huggingface_hub.utils import logging as hub_logging\n"
             "def unreachable(*args, **kwargs):\n"
             "    hub_logging.get_logger('huggingface_hub.utils._http').warning(\n"
             "        \"'[Errno -2] Name or service not known' thrown while requesting HEAD https://example.invalid/\")\n"
             "    raise ConnectionError(\"Couldn't reach 'someone/texts' on the Hub (LocalEntryNotFoundError)\")\n"
             "datasets.load_dataset = unreachable\n"
             "from lmkit.cli import main\n"
             "main(['corpus', 'fetch', 'hf:someone/texts'])\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "LMKIT_CORPORA": str(tmp_path)})
    assert result.returncode == 1 and "thrown while requesting" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1] == ("error: could not load Hugging Face dataset 'someone/texts': Couldn't "
                                              "reach 'someone/texts' on the Hub (LocalEntryNotFoundError)")


def test_corpus_info_without_a_corpus_and_vocab_show_of_a_corpus_folder_say_what_to_give(cli, corpora_root, tiny_en):
    """Pass 83: `corpus info` alone named only --corpus and --train, not its NAME; `vocab show CORPUS_FOLDER` said only
    that the folder's tokenizer.json was missing."""
    assert_one_line_error(cli("corpus", "info"), "no corpus given: name one (lmkit corpus info NAME, or --corpus "
                                                 "NAME) or pass --train PATH")
    assert_one_line_error(cli("vocab", "show", tiny_en.directory), f"{tiny_en.directory}: is the folder of a cached "
                          f"corpus, not a tokenizer or a model directory; give --corpus {tiny_en.name}")
