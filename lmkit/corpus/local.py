"""Local corpora: text files or folders given with --train [--valid --test].

The corpus is named after the first --train path as given (a file's stem, a
folder's name) plus a short hash of every input's bytes and of how it is split,
so the same files always reuse one cache folder and changed files get a new one.
"""
from __future__ import annotations

import hashlib
import os
import re
import warnings
from itertools import chain
from pathlib import Path
from typing import Iterator

from lmkit.corpus.store import Corpus, inside_cached_corpus, install_corpus, is_corpus_folder
from lmkit.corpus.text_files import TextFile, iter_lines, list_text_files, scan_remembered
from lmkit.corpus.split import FRACTIONS, SHARES, SPLITS, block_chars_for, line_blocks, write_given_splits, write_split_units
from lmkit.errors import CorpusError

HF_CACHE = ".hf-cache"
SCANS = ".scans"


def as_paths(spec) -> list[Path]:
    """A path, a list of paths, or None -> list of paths."""
    if spec is None:
        return []
    if isinstance(spec, (str, Path)):
        return [Path(spec)]
    return [Path(p) for p in spec]


def scan_inputs(spec, errors: str, max_line_bytes: int, records: Path) -> list[TextFile]:
    """Every file behind one --train/--valid/--test option, scanned; an empty named file is an error, and so is one
    file reached twice (given twice, inside a folder also given, or through a link beside it): its text would
    count double."""
    scanned, seen = [], {}  # (device, inode) -> (the file, the path given that reached it)
    for path in as_paths(spec):
        refuse_corpus_folder(path)
        for file in list_text_files(path, is_corpus_folder):
            facts = file.stat()
            first, given = seen.setdefault((facts.st_dev, facts.st_ino), (file, path))
            if first is not file:
                raise CorpusError(f"{file}: {reached_twice(file, first, given, path)}, so its text would count twice; "
                                  "give each file once")
            text_file = scan_remembered(file, errors, max_line_bytes, records)
            if text_file.size == 0:
                raise CorpusError(f"{file}: file is empty")
            scanned.append(text_file)
    return scanned


def reached_twice(file: Path, first: Path, first_given: Path, given: Path) -> str:
    """How `file`, reached through the option path `given`, is a file already read (as `first`, through
    `first_given`): the same path again, or another name for the same file (a link)."""
    if first != file:
        return f"is the same file as {first}"
    if first_given == given:
        return "is given twice"

    def how(via: Path) -> str:
        return "by its name" if via == file else f"inside {via}"
    return f"is given twice ({how(first_given)}, and {how(given)})"


def warn_held_out_trained_on(inputs: dict[str, list[TextFile]]) -> None:
    """A warning for each --valid or --test file whose text (its sha256) is also a --train file's: its figures then
    measure text the model was trained on (an unsmoothed N-gram reads no unseen event, OOV 0%)."""
    trained = {f.sha256: f.path for f in inputs["train"]}
    for split in ("valid", "test"):
        for held_out in inputs[split]:
            if held_out.sha256 in trained:
                warnings.warn(f"--{split} {held_out.path}: has the same text as --train {trained[held_out.sha256]}, so "
                              f"the {split} figures measure text the model was trained on", stacklevel=2)


def refuse_corpus_folder(path: Path) -> None:
    """CorpusError when the folder `path` is, or lies inside, a cached corpus's folder: its splits, manifest and
    token-id caches together are not one text (a split file of it is, and passes)."""
    cached = inside_cached_corpus(path) if path.is_dir() else None
    if cached is not None:
        said, advice = cached
        raise CorpusError(f"{path}: {said} (its splits, manifest and token-id caches together are not one "
                          f"text): {advice}, or give one split file to --train")


def corpus_name(first: Path, inputs: dict[str, list[TextFile]], errors: str) -> str:
    """`first` (the first --train path) in a corpus name's characters, and the hash; "local" where none is left."""
    given = first.stem if first.is_file() else Path(os.path.abspath(first)).name  # a link's own name, '.' spelt out
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", given).strip("-._")[:40]
    hashes = {split: [f.sha256 for f in files] for split, files in inputs.items()}
    return f"{stem or 'local'}-{inputs_hash(hashes, errors, blind_deal='valid' not in inputs)}"


def inputs_hash(hashes: dict[str, list[str]], errors: str, blind_deal: bool) -> str:
    """corpus_name's tail: 8 hex digits of the inputs' sha256 by split, the encoding errors, and for a text lmkit
    splits, the rule it deals units by (SplitAssigner's since corpus format 2: the same files split by the rule
    before are another corpus, whose folder the models trained on it name)."""
    dealt = " dealt blind to size" if blind_deal else ""
    digest = hashlib.sha256(f"local-v1 {errors} {sorted(FRACTIONS.items())}{dealt}".encode())
    for split, files in hashes.items():
        digest.update(split.encode() + "".join(files).encode())
    return digest.hexdigest()[:8]


LOCAL_NAME = re.compile(r"-(?P<text>[0-9a-f]{8})$")  # corpus_name's tail: the hash of the inputs' bytes and split


def hash_before_format_2(corpus: Corpus) -> str | None:
    """The name tail that `corpus`, split by lmkit from --train files, had when the rule before corpus format 2
    dealt them (inputs_hash); None for any other corpus, or a manifest without what the hash needs."""
    source, errors = corpus.manifest.get("source", {}), corpus.manifest.get("encoding_errors", "strict")
    inputs = source.get("inputs") if source.get("kind") == "local" else None
    if not isinstance(inputs, dict) or set(inputs) != {"train"} or not isinstance(errors, str):
        return None
    try:
        return inputs_hash({"train": [str(f["sha256"]) for f in inputs["train"]]}, errors, blind_deal=False)
    except (TypeError, KeyError):
        return None


def split_before_format_2(saved: str, corpus: Corpus) -> bool:
    """Whether the local corpus named `saved` (a model's config.json's) held the --train files of `corpus`, split
    by the rule before corpus format 2: the same text, other splits."""
    held = LOCAL_NAME.search(saved)
    return held is not None and held["text"] == hash_before_format_2(corpus)


def same_text_renamed(saved: str, corpus: Corpus) -> bool:
    """Whether `corpus`, made by --train, holds the text of the local corpus named `saved` under another first
    file's name: the two names differ only in the stem (corpus_name hashes the bytes and the split, never a name)."""
    held, now = LOCAL_NAME.search(saved), LOCAL_NAME.search(corpus.name)
    return (corpus.manifest.get("source", {}).get("kind") == "local" and held is not None and now is not None
            and held["text"] == now["text"])


def local_corpus(root: Path, train, valid=None, test=None, *, encoding_errors: str = "strict",
                 max_line_bytes: int, large_file_bytes: int) -> Corpus:
    if (valid is None) != (test is None):
        raise CorpusError("--valid and --test go together: give both, or neither to split --train")
    records = root / SCANS
    inputs = {"train": scan_inputs(train, encoding_errors, max_line_bytes, records)}
    if not inputs["train"]:
        raise CorpusError("--train names no files")
    if valid is not None:
        inputs["valid"] = scan_inputs(valid, encoding_errors, max_line_bytes, records)
        inputs["test"] = scan_inputs(test, encoding_errors, max_line_bytes, records)
        warn_held_out_trained_on(inputs)
    name = corpus_name(as_paths(train)[0], inputs, encoding_errors)
    cache_dir = root / HF_CACHE

    def blocks(files: list[TextFile], block_chars: int) -> Iterator[list[str]]:
        per_file = (line_blocks(iter_lines(f, encoding_errors, large_file_bytes, cache_dir), block_chars) for f in files)
        return chain.from_iterable(per_file)

    def build(work: Path) -> dict:
        what = ", ".join(str(p) for p in as_paths(train))
        if valid is None:
            units = blocks(inputs["train"], block_chars_for(sum(f.size for f in inputs["train"])))
            splits = write_split_units(units, work, what)
            method = f"blocks of lines, {SHARES}"
        else:
            given = {"train": train, "valid": valid, "test": test}
            names = {s: f"--{s} " + ", ".join(str(p) for p in as_paths(given[s])) for s in SPLITS}
            splits = write_given_splits({s: blocks(inputs[s], 1 << 16) for s in SPLITS}, work, names)
            method = "as given by --train/--valid/--test"
        return {
            "description": "local text: " + ", ".join(str(p.absolute()) for p in as_paths(train)),  # from anywhere
            "source": {"kind": "local", "inputs": {s: [f.describe() for f in fs] for s, fs in inputs.items()}},
            "split_method": method,
            "encoding_errors": encoding_errors,
            "splits": splits,
        }

    return install_corpus(root, name, build)

