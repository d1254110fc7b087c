"""lmkit's own caches (tokenizers and encoded splits beside a corpus) and locks: what stands there that lmkit did
not write is refused by name, never written through, and a damaged cache is named with what to do, not a
traceback. Standard input is read as a file is (a BOM dropped, a NUL byte refused)."""
from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from conftest import assert_one_line_error
from lm_fixtures import rnn_dir

from lmkit.errors import CheckpointError, CorpusError, TokenizerError


def plant(path, kind: str, outside):
    """Put something lmkit did not write at `path`: a link to a file of the user's, a dangling link, a folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    if kind == "link":
        path.symlink_to(outside)
    elif kind == "dangling":
        path.symlink_to(outside.parent / "made-through-the-link.json")
    else:
        path.mkdir()
    return {"link": "a symbolic link", "dangling": "a symbolic link", "folder": "a directory"}[kind]


@pytest.mark.parametrize("kind", ["link", "dangling", "folder"])
@pytest.mark.parametrize("rebuild", [False, True])
def test_a_cached_tokenizers_place_holding_what_lmkit_did_not_write_is_refused(tiny_en, tmp_path, kind, rebuild):
    from lmkit.text.tokenizer_cache import get_tokenizer, tokenizer_path

    outside = tmp_path / "mine.txt"
    outside.write_text("precious\n")
    path = tokenizer_path(tiny_en, "char", {})
    what = plant(path, kind, outside)
    with pytest.raises(TokenizerError, match=f"{path}: is {what} where lmkit caches this tokenizer, and not lmkit's; "
                                             "move it away"):
        get_tokenizer(tiny_en, "char", rebuild=rebuild)  # rebuild: what `vocab build --force` asks
    assert outside.read_text() == "precious\n" and not (tmp_path / "made-through-the-link.json").exists()


def test_vocab_build_force_never_writes_through_a_link_in_the_cache(cli, tiny_en, tmp_path):
    from conftest import TINY
    from lmkit.text.tokenizer_cache import tokenizer_path

    get_args = ["vocab", "build", "--train", TINY["en"]["train"], "--valid", TINY["en"]["valid"], "--test",
                TINY["en"]["test"]]
    assert cli(*get_args).exit_code == 0
    outside = tmp_path / "mine.txt"
    outside.write_text("precious\n")
    plant(tokenizer_path(tiny_en, "char", {}), "link", outside)
    assert_one_line_error(cli(*get_args, "--force"), "is a symbolic link where lmkit caches this tokenizer")
    assert outside.read_text() == "precious\n"


def save_array(array):
    return lambda path: np.save(path, array, allow_pickle=True)


DAMAGED_IDS = {
    "text": (lambda path: path.write_text("hello\n"), "This file contains pickled (object) data"),
    "cut short": (lambda path: path.write_bytes(path.read_bytes()[:100]), "EOF: reading array header"),
    "ids beyond the vocabulary": (save_array(np.full(100, 99_999, dtype=np.int32)), "ids outside the vocabulary"),
    "negative ids": (save_array(np.full(100, -1, dtype=np.int64)), "ids outside the vocabulary"),
    "floats": (save_array(np.array([[1.5, 2.5]])), "not a list of whole numbers"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGED_IDS))
def test_a_damaged_id_cache_is_named_with_what_to_do(tiny_en, damage):
    from lmkit.text.id_cache import encoded_split
    from lmkit.text.tokenizer_cache import get_tokenizer

    tokenizer = get_tokenizer(tiny_en, "char")
    good = np.array(encoded_split(tiny_en, tokenizer, "valid"))  # a copy: the damage below rewrites the mapped file
    cache = next(tiny_en.directory.glob("ids/*/valid.npy"))
    DAMAGED_IDS[damage][0](cache)
    with pytest.raises(CorpusError) as caught:
        encoded_split(tiny_en, tokenizer, "valid")
    message = str(caught.value)
    assert message.startswith(f"{cache}: the cached ids of the valid split are damaged (not the array lmkit wrote: ")
    assert message.endswith("delete the file, and lmkit encodes the split again") and "\n" not in message
    cache.unlink()
    assert np.array_equal(encoded_split(tiny_en, tokenizer, "valid"), good)  # as the message says


@pytest.mark.parametrize("damage", sorted(DAMAGED_IDS))
def test_an_array_too_large_to_hash_is_still_held_to_its_form(tiny_en, damage):
    """Above HASHED_IDS_BYTES only the array's size is recorded; what it holds is then checked at each use."""
    from lmkit.text.id_cache import encoded_split, load_ids
    from lmkit.text.tokenizer_cache import get_tokenizer

    tokenizer = get_tokenizer(tiny_en, "char")
    encoded_split(tiny_en, tokenizer, "valid")
    cache = next(tiny_en.directory.glob("ids/*/valid.npy"))
    make, says = DAMAGED_IDS[damage]
    make(cache)
    with pytest.raises(CorpusError) as caught:
        load_ids(cache, len(tokenizer.vocab), "valid")
    message = str(caught.value)
    assert message.startswith(f"{cache}: the cached ids of the valid split are damaged (") and says in message
    assert message.endswith("delete the file, and lmkit encodes the split again") and "\n" not in message


def test_an_id_cache_place_holding_a_link_is_refused_not_read(tiny_en, tmp_path):
    from lmkit.text.id_cache import encoded_split
    from lmkit.text.tokenizer_cache import get_tokenizer

    tokenizer = get_tokenizer(tiny_en, "char")
    encoded_split(tiny_en, tokenizer, "valid")
    cache = next(tiny_en.directory.glob("ids/*/valid.npy"))
    outside = tmp_path / "mine.npy"
    os.replace(cache, outside)
    cache.symlink_to(outside)
    with pytest.raises(CorpusError, match="is a symbolic link where lmkit caches the encoded valid split"):
        encoded_split(tiny_en, tokenizer, "valid")


def test_a_fifo_planted_as_a_lock_is_refused_without_waiting(tmp_path):
    from lmkit.train.resume_state import DirectoryLock

    os.mkfifo(tmp_path / ".lock")
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("opening the FIFO waited for a writer"))
    signal.alarm(10)
    try:
        says = r"\.lock: is a FIFO \(named pipe\), not a regular file; lmkit keeps its lock there"
        with pytest.raises(CheckpointError, match=says):
            DirectoryLock.refuse_if_held(tmp_path)  # what --resume and report --suite ask before anything else
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def model(tiny_en, tmp_path):
    from lmkit.text.tokenizer_cache import get_tokenizer

    return rnn_dir(tmp_path / "model", tiny_en, get_tokenizer(tiny_en, "char"))


def test_standard_input_is_read_as_a_file_is(cli, model):
    result = cli("tokenize", "--from", model, "--format", "json", input="\ufeffab\nab\n".encode())
    assert result.exit_code == 0, result.output
    assert [line.split('"tokens"')[0] for line in result.stdout.splitlines()] == ['{"text": "ab", '] * 2
    assert_one_line_error(cli("tokenize", "--from", model, input=b"a\x00b\n"),
                          "standard input: line 1 holds a NUL byte (byte offset 1)")
    lines = cli("tokenize", "--from", model, "--format", "json", input=b"ab\rcd\r\nef")  # a lone CR ends a line
    assert [line.split('"tokens"')[0] for line in lines.stdout.splitlines()] == [f'{{"text": "{t}", ' for t in
                                                                                ("ab", "cd", "ef")]


@pytest.mark.parametrize("name, content, says", [
    ("config.json", None, "is a file of the model directory {model}, not its tokenizer; give {model}"),  # pass 69
    ("other.json", '{"a": 1}', "not a tokenizer file: it names no kind"),
    ("half.json", '{"kind": "char"}', "vocabulary JSON must be an object"),
])
def test_tokenize_from_a_file_that_is_not_a_tokenizer_names_that_file(cli, model, tmp_path, name, content, says):
    path = model / name if content is None else tmp_path / name
    if content is not None:
        path.write_text(content)
    assert_one_line_error(cli("tokenize", "--from", path, "x"), f"{path}: {says.format(model=model)}")


def test_a_link_at_a_cache_folder_is_refused_not_written_into(tiny_en, tmp_path):
    from lmkit.text.id_cache import encoded_split
    from lmkit.text.tokenizer_cache import get_tokenizer

    tokenizer = get_tokenizer(tiny_en, "char")
    encoded_split(tiny_en, tokenizer, "valid")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "char.json").write_text('{"my": "settings"}')
    for folder in (tiny_en.directory / "tokenizers", next(tiny_en.directory.glob("ids/*"))):
        os.replace(folder, tmp_path / f"{folder.name}.moved")
        folder.symlink_to(theirs)
    with pytest.raises(TokenizerError, match=f"{tiny_en.directory / 'tokenizers'}: is a symbolic link where lmkit "
                                             "caches this tokenizer"):
        get_tokenizer(tiny_en, "char", rebuild=True)
    with pytest.raises(CorpusError, match="is a symbolic link where lmkit caches the encoded valid split"):
        encoded_split(tiny_en, tokenizer, "valid")
    assert [p.name for p in theirs.iterdir()] == ["char.json"] and "settings" in (theirs / "char.json").read_text()


def test_a_file_in_place_of_a_cache_folder_is_named_so(tiny_en):
    from lmkit.text.tokenizer_cache import get_tokenizer

    get_tokenizer(tiny_en, "char")
    folder = tiny_en.directory / "tokenizers"
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()
    folder.write_text("mine\n")
    with pytest.raises(TokenizerError) as error:
        get_tokenizer(tiny_en, "char")
    assert str(error.value) == (f"{folder}: is a file in place of a folder where lmkit caches this tokenizer, and "
                                "not lmkit's; move it away")
    assert folder.read_text() == "mine\n"


@pytest.mark.parametrize("kind", ["link", "folder"])
def test_a_stranger_at_the_tokenizers_coverage_stats_is_refused_by_name(tiny_en, tmp_path, kind):
    from lmkit.text.tokenizer_cache import get_tokenizer, stats_path, tokenizer_path

    outside = tmp_path / "mine.txt"
    outside.write_text("precious\n")
    stats = stats_path(tokenizer_path(tiny_en, "char", {}))
    what = plant(stats, kind, outside)
    with pytest.raises(TokenizerError, match=f"{stats}: is {what} where lmkit caches this tokenizer"):
        get_tokenizer(tiny_en, "char", rebuild=True)
    assert outside.read_text() == "precious\n"


@pytest.mark.parametrize("kind", ["link", "folder"])
def test_a_stranger_at_an_ids_folders_lock_is_refused_by_name(tiny_en, tmp_path, kind):
    from lmkit.text.id_cache import ENCODING_LOCK, encoded_split
    from lmkit.text.tokenizer_cache import get_tokenizer

    tokenizer = get_tokenizer(tiny_en, "char")
    encoded_split(tiny_en, tokenizer, "train")
    folder = next(tiny_en.directory.glob("ids/*"))
    what = plant(folder / ENCODING_LOCK, kind, tmp_path / "mine.txt")
    with pytest.raises(CorpusError, match=f"{folder / ENCODING_LOCK}: is {what} where lmkit keeps this folder's "
                                          "encoding lock"):
        encoded_split(tiny_en, tokenizer, "valid")


@pytest.mark.parametrize("damage", [
    {"train": {"tokens": 5, "unk": 9, "oov_rate": 7.5, "top": [["x", -4]]}},  # printed as 750.000% and 'x -4'
    {"train": "x"},  # a traceback ('str' object has no attribute 'get')
    {"test": {}},  # KeyError: 'tokens'
    {"train": {"tokens": 10, "unk": 1, "oov_rate": 0.1, "top": 5}},  # TypeError: 'int' object is not subscriptable
])
def test_an_edited_coverage_cache_is_counted_again(tiny_en, damage):
    from lmkit.text.tokenizer_cache import coverage, get_tokenizer, stats_path, tokenizer_path

    tokenizer = get_tokenizer(tiny_en, "char")
    cache = stats_path(tokenizer_path(tiny_en, "char", {}))
    counted = coverage(tiny_en, tokenizer, tokenizer_path(tiny_en, "char", {}))
    cache.write_text(json.dumps({**counted, **damage}))
    assert coverage(tiny_en, tokenizer, tokenizer_path(tiny_en, "char", {})) == counted
    assert json.loads(cache.read_text()) == counted  # and the cache rewritten


def test_cached_ids_edited_to_other_tokens_are_refused(tiny_en):
    """Every id of the cached test split set to one token (its type and shape kept) was scored as it was:
    perplexity 1761 where the text gives 98. Above HASHED_IDS_BYTES the form is all that is checked."""
    from lmkit.text.id_cache import encoded_split, load_ids
    from lmkit.text.tokenizer_cache import get_tokenizer

    tokenizer = get_tokenizer(tiny_en, "char")
    ids = encoded_split(tiny_en, tokenizer, "test")
    cache = next(tiny_en.directory.glob("ids/*/test.npy"))
    edited = np.array(ids)
    edited[:] = 5
    np.save(cache, edited)
    with pytest.raises(CorpusError, match=f"{cache}: the cached ids of the test split are damaged \\(not one end of "
                                          "line for each of its"):
        load_ids(cache, len(tokenizer.vocab), "test", lines=len(list(tiny_en.lines("test"))))


def other_token(ids: np.ndarray) -> np.ndarray:
    """Every id but the ends of lines set to the split's commonest other token: its shape, dtype and `</s>`s kept."""
    from lmkit.text.vocab import EOS_ID

    edited = np.array(ids)
    values, counts = np.unique(edited[edited != EOS_ID], return_counts=True)
    edited[edited != EOS_ID] = values[counts.argmax()]
    return edited


@pytest.mark.parametrize("edit", ["other tokens, ends of lines kept", "the backward stream", "shifted"])
def test_cached_ids_are_used_only_as_lmkit_wrote_them(tiny_en, edit):
    """Pass 20: ids edited keeping one `</s>` per line gave perplexity 130 for 635; a backward model's stream
    copied over the forward one was scored as it."""
    from lmkit.text.id_cache import encoded_split
    from lmkit.text.tokenizer_cache import get_tokenizer
    from lmkit.text.vocab import EOS_ID

    tokenizer = get_tokenizer(tiny_en, "char")
    good = np.array(encoded_split(tiny_en, tokenizer, "test"))
    backward = np.array(encoded_split(tiny_en, tokenizer, "test", reverse=True))
    cache = next(tiny_en.directory.glob("ids/*/test.npy"))
    shifted = np.array(good)
    shifted[good != EOS_ID] = np.roll(good[good != EOS_ID], 1)
    np.save(cache, {"other tokens, ends of lines kept": other_token(good), "the backward stream": backward,
                    "shifted": shifted}[edit])
    with pytest.raises(CorpusError, match=f"{cache}: the cached ids of the test split are damaged \\(not the array "
                                          "lmkit wrote: its sha256 is not the one test.npy.json records\\)"):
        encoded_split(tiny_en, tokenizer, "test")


def test_ids_cached_from_a_text_since_changed_with_its_manifest_are_encoded_again(tiny_en):
    """Pass 20: a split's text and the manifest's record of it changed together; the ids of the old text were
    scored as the new one's."""
    from lmkit.corpus.catalog import MANIFEST
    from lmkit.corpus.fetch import sha256_file
    from lmkit.corpus.store import Corpus
    from lmkit.text.id_cache import encoded_split
    from lmkit.text.tokenizer_cache import get_tokenizer

    tokenizer = get_tokenizer(tiny_en, "char")
    before = np.array(encoded_split(tiny_en, tokenizer, "test"))
    path = tiny_en.path("test")
    path.write_text(path.read_text(encoding="utf-8").replace("a", "b"), encoding="utf-8")
    manifest = json.loads((tiny_en.directory / MANIFEST).read_text())
    manifest["splits"]["test"]["sha256"] = sha256_file(path)
    (tiny_en.directory / MANIFEST).write_text(json.dumps(manifest))
    changed = Corpus.open(tiny_en.directory)
    after = np.array(encoded_split(changed, tokenizer, "test"))
    assert not np.array_equal(after, before)
    expected = np.concatenate([np.array(tokenizer.encode_line(line) + [tokenizer.vocab.eos_id])
                               for line in changed.lines("test")])
    assert np.array_equal(after, expected)


def test_an_edited_array_is_refused_though_its_record_says_no_sha256(tiny_en):
    """Pass 21: an edited array whose record's sha256 was set to null was held to its size alone (perplexity 190
    for 624); below HASHED_IDS_BYTES a record without one is not lmkit's, and the split is encoded again."""
    from lmkit.text.id_cache import encoded_split, record_path
    from lmkit.text.tokenizer_cache import get_tokenizer

    tokenizer = get_tokenizer(tiny_en, "char")
    good = np.array(encoded_split(tiny_en, tokenizer, "test"))
    cache = next(tiny_en.directory.glob("ids/*/test.npy"))
    np.save(cache, other_token(good))
    record = json.loads(record_path(cache).read_text())
    record_path(cache).write_text(json.dumps({**record, "ids_sha256": None}))
    assert np.array_equal(encoded_split(tiny_en, tokenizer, "test"), good)
    assert json.loads(record_path(cache).read_text()) == record


@pytest.mark.parametrize("source", ["the backward stream", "another split", "another tokenizer"])
def test_an_array_copied_with_its_record_is_encoded_again(tiny_en, source):
    """Pass 21: the backward stream, or another tokenizer's array, copied over the forward one together with its
    record was scored as the split (perplexity 633 and 767 for 624): the record names its split, direction and
    tokenizer."""
    import shutil

    from lmkit.text.id_cache import encoded_split, record_path
    from lmkit.text.tokenizer_cache import get_tokenizer

    tokenizer = get_tokenizer(tiny_en, "char")
    good = np.array(encoded_split(tiny_en, tokenizer, "test"))
    cache = next(tiny_en.directory.glob("ids/*/test.npy"))
    if source == "the backward stream":
        encoded_split(tiny_en, tokenizer, "test", reverse=True)
        copied = cache.with_name("test.reversed.npy")
    elif source == "another split":
        encoded_split(tiny_en, tokenizer, "valid")
        copied = cache.with_name("valid.npy")
    else:
        other = get_tokenizer(tiny_en, "char", max_size=8)
        encoded_split(tiny_en, other, "test")
        copied = next(p for p in tiny_en.directory.glob("ids/*/test.npy") if p != cache)
    shutil.copyfile(copied, cache)
    shutil.copyfile(record_path(copied), record_path(cache))
    assert np.array_equal(encoded_split(tiny_en, tokenizer, "test"), good)


@pytest.mark.parametrize("record", ["missing", "not JSON", "a field of the wrong type"])
def test_an_array_without_a_readable_record_is_encoded_again(tiny_en, record):
    """An array whose record is gone (written by an lmkit before records, or killed between the two writes) or
    damaged is encoded again, and its record written."""
    from lmkit.text.id_cache import encoded_split, record_path
    from lmkit.text.tokenizer_cache import get_tokenizer

    tokenizer = get_tokenizer(tiny_en, "char")
    good = np.array(encoded_split(tiny_en, tokenizer, "valid"))
    cache = next(tiny_en.directory.glob("ids/*/valid.npy"))
    written = record_path(cache).read_text()
    if record == "missing":
        record_path(cache).unlink()
    else:
        record_path(cache).write_text("{" if record == "not JSON" else written.replace('"ids_bytes": ', '"ids_bytes": "'
                                                                                         ).replace(",\n", '",\n', 1))
    np.save(cache, other_token(good))  # what it held is not trusted without its record
    assert np.array_equal(encoded_split(tiny_en, tokenizer, "valid"), good)
    assert record_path(cache).read_text() == written


@pytest.mark.parametrize("kind", ["link", "folder"])
def test_a_stranger_at_an_ids_record_is_refused_by_name(tiny_en, tmp_path, kind):
    from lmkit.text.id_cache import encoded_split, record_path
    from lmkit.text.tokenizer_cache import get_tokenizer

    tokenizer = get_tokenizer(tiny_en, "char")
    encoded_split(tiny_en, tokenizer, "valid")
    record = record_path(next(tiny_en.directory.glob("ids/*/valid.npy")))
    outside = tmp_path / "mine.txt"
    outside.write_text("precious\n")
    what = plant(record, kind, outside)
    with pytest.raises(CorpusError, match=f"{record}: is {what} where lmkit caches the encoded valid split"):
        encoded_split(tiny_en, tokenizer, "valid")
    assert outside.read_text() == "precious\n"
