"""Corpora cached before corpus format 2, whose rule dealt the shorter units to valid and test: read as they were
dealt (models trained on them record their splits' hashes), named as biased, and never read as held-out text by a
model trained on the same text split otherwise."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import ENGLISH, TINY_TRAIN, assert_one_line_error

from lmkit.corpus.catalog import MANIFEST, Corpus, get_corpus
from lmkit.corpus.local import hash_before_format_2
from lmkit.corpus.split import SPLITS
from lmkit.errors import CorpusError


def write_manifest(folder, manifest: dict) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def old_copy(corpus, folder, **fields) -> dict:
    """A copy of `corpus` in `folder` with a format-1 manifest whose unit counts show the old rule's bias (long
    units in train, one-line units in valid and test); returns the manifest."""
    folder.mkdir()
    for split in SPLITS:
        folder.joinpath(f"{split}.txt").write_bytes(corpus.path(split).read_bytes())
    splits = {split: dict(stats) for split, stats in corpus.manifest["splits"].items()}
    splits["train"]["units"] = max(1, splits["train"]["lines"] // 20)
    for split in ("valid", "test"):
        splits[split]["units"] = splits[split]["lines"]
    manifest = dict(corpus.manifest, format=1, name=folder.name, splits=splits, **fields)
    write_manifest(folder, manifest)
    return manifest


def test_a_corpus_split_before_format_2_is_read_as_dealt_with_a_note_saying_so(corpora_root, cli):
    """Models trained on a format-1 corpus record its splits' hashes: it is read as it was dealt, and named as
    dealt by the size-biased rule wherever a command opens it by name, with the remedy."""
    corpus = get_corpus(train=ENGLISH)
    assert corpus.manifest["format"] == 2 and corpus.size_biased_split() is None
    old_folder = corpora_root / "english-old"
    old_manifest = old_copy(corpus, old_folder)
    old = Corpus.open(old_folder)
    assert list(old.lines("test")) == list(corpus.lines("test"))
    note = old.size_biased_split()
    assert note.startswith("english-old was split by an lmkit before corpus format 2, whose rule dealt the shorter "
                           "units to valid and test (their units average ")
    assert note.endswith("--train with the same files now splits them afresh, into a folder of another name")
    listed = {line.split()[0]: line for line in cli("corpus", "list").output.splitlines()}
    assert "split before format 2" in listed["english-old"] and "split before" not in listed[corpus.name]
    info = subprocess.run([sys.executable, "-m", "lmkit", "corpus", "info", "english-old"], capture_output=True,
                          text=True, timeout=120)  # a process of its own: Python shows a warning once a process
    assert info.returncode == 0 and info.stderr == f"warning: {note}\n"  # once, though the command opens it twice
    even = dict(old_manifest, splits=corpus.manifest["splits"])  # dealt so, but its blocks came out alike
    write_manifest(old_folder, even)
    assert Corpus.open(old_folder).size_biased_split() is None
    old_manifest["source"] = {"kind": "apt"}  # a named corpus keeps its folder's name: it is split afresh by hand
    write_manifest(old_folder, old_manifest)
    assert Corpus.open(old_folder).size_biased_split().endswith(
        f"to split it afresh, remove the folder {old_folder} and run again (models trained on this split then read "
        "it only through --file)")


def test_splits_lmkit_did_not_deal_are_never_named_as_biased(tiny_en, corpora_root):
    """Given splits, and (pass 88) a Hugging Face dataset's own splits, which the old note called biased."""
    write_manifest(tiny_en.directory, dict(tiny_en.manifest, format=1))
    assert Corpus.open(tiny_en.directory).size_biased_split() is None
    folder = corpora_root / "hf-own"
    old_copy(get_corpus(train=ENGLISH), folder, split_method="the dataset's own train/validation/test splits")
    assert Corpus.open(folder).size_biased_split() is None



@pytest.mark.parametrize("value, words", [
    (None, 'has no "format", so it is no corpus manifest lmkit wrote'),
    (True, '"format" must be a whole number, got true'),
    (1.0, '"format" must be a whole number, got 1.0'),
    ("1", '"format" must be a whole number, got "1"'),
    (0, "corpus format 0 is not one this lmkit reads (1 and 2)"),
    (3, "corpus format 3 was written by a newer lmkit (this one reads formats 1 and 2): use that lmkit, or remove"),
    (10**23, f"corpus format {10**23} was written by a newer lmkit"),
])
def test_a_format_this_lmkit_does_not_read_is_named(tiny_en, value, words):
    """Pass 88: true and 1.0 were read as format 1, "1" was called 'not 2' though 1 is read, and a missing or newer
    format was called 'not 2' too."""
    manifest = {key: item for key, item in tiny_en.manifest.items() if key != "format"}
    write_manifest(tiny_en.directory, manifest if value is None else dict(manifest, format=value))
    with pytest.raises(CorpusError) as caught:
        Corpus.open(tiny_en.directory)
    assert str(caught.value).startswith(f"{tiny_en.directory / MANIFEST}: ") and words in str(caught.value)


@pytest.mark.parametrize("split, key, value, words", [
    ("valid", "units", 0, "splits.valid.units must be from 1 to its 12 lines, got 0"),
    ("valid", "units", 10**30, f"splits.valid.units must be from 1 to its 12 lines, got {10**30}"),
    ("train", "units", -5, "splits.train.units must be from 1 to its 60 lines, got -5"),
    ("test", "chars", -2, "splits.test.chars must be 0 or more, got -2"),
])
def test_counts_no_text_can_have_are_damage(tiny_en, split, key, value, words):
    """Pass 88: an edited unit count made the note say 'average 0 characters', or left it out, and a negative
    character count was averaged before the cache was called damaged."""
    splits = {name: dict(stats) for name, stats in tiny_en.manifest["splits"].items()}
    splits[split][key] = value
    write_manifest(tiny_en.directory, dict(tiny_en.manifest, splits=splits))
    with pytest.raises(CorpusError, match="damaged corpus manifest: " + words.replace("(", r"\(").replace(")", r"\)")):
        Corpus.open(tiny_en.directory)


@pytest.fixture
def ngram_model(cli, tmp_path):
    model = tmp_path / "bigram"
    assert cli("ngram", "--train", ENGLISH, "--order", "2", "--out", model).exit_code == 0
    return model


def set_config(model, **fields) -> None:
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    config.update(fields)
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")


def test_a_model_is_not_scored_on_its_corpus_split_afresh(cli, ngram_model):
    """Pass 88: after its corpus was split afresh, `eval MODEL --corpus NAME` (and report, and eval --mix) scored a
    model on held-out text it had trained on, a 3-gram's test perplexity 156.7 reading 13.9, without a word."""
    config = json.loads((ngram_model / "config.json").read_text(encoding="utf-8"))
    corpus = get_corpus(train=ENGLISH)
    assert config["corpus"] == corpus.name and cli("eval", ngram_model, "--train", ENGLISH).exit_code == 0
    set_config(ngram_model, train=dict(config["train"], texts={"train": "0" * 64, "valid": "0" * 64}))
    words = (f"{ngram_model}/config.json: \"corpus\": {corpus.name!r} is not the text this model was trained on "
             "(the sha256 of its train split is not the one \"train\" records: was config.json edited, or the corpus "
             "split afresh or changed since?), and its held-out text may be text the model was trained on")
    for command in (["eval", ngram_model, "--train", ENGLISH], ["eval", ngram_model],
                    ["eval", "--mix", f"{ngram_model},{ngram_model}", "--train", ENGLISH, "--weights", "0.5,0.5"],
                    ["report", ngram_model, "--train", ENGLISH, "--out", ngram_model.parent / "report"]):
        assert_one_line_error(cli(*command), words)
    assert not (ngram_model.parent / "report").exists()


def test_a_model_of_the_same_files_split_before_format_2_is_not_scored_on_their_new_split(cli, ngram_model):
    """The same --train files now make a corpus of another name: a model trained on their old split names the old
    one, which the hash of the files under the old rule finds."""
    corpus = get_corpus(train=ENGLISH)
    old_name = f"english-{hash_before_format_2(corpus)}"
    set_config(ngram_model, corpus=old_name)
    assert_one_line_error(cli("eval", ngram_model, "--train", ENGLISH),
                          f"{ngram_model}/config.json: \"corpus\": {old_name!r} is not the text this model was trained "
                          f"on (the sha256 of its train split in {corpus.name!r}, the same files split afresh, is not the one")


def test_a_run_on_files_split_before_format_2_says_how_it_resumes(cli, corpora_root, tmp_path):
    """Pass 88: with the old folder gone, --resume said to give --train the same files, which then said the same."""
    model = tmp_path / "lstm"
    assert cli("train", "--train", ENGLISH, *TINY_TRAIN, "--out", model).exit_code == 0
    corpus = get_corpus(train=ENGLISH)
    old_name = f"english-{hash_before_format_2(corpus)}"
    for config in (model, model / "last"):
        set_config(config, corpus=old_name)
    before = {path: path.read_bytes() for path in sorted(model.rglob("*")) if path.is_file()}
    assert_one_line_error(cli("train", "--resume", model, "--train", ENGLISH, "--max-steps", "4"),
                          f"{old_name!r} held these files as split before corpus format 2, which this lmkit splits "
                          "otherwise, and it is no longer in the corpora folder: put that folder back")
    assert {path: path.read_bytes() for path in sorted(model.rglob("*")) if path.is_file()} == before
    shutil.copytree(corpus.directory, corpora_root / old_name)  # the folder put back: it resumes on it
    assert cli("train", "--resume", model, "--max-steps", "4").exit_code == 0
