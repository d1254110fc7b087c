"""Hugging Face datasets as corpora: `--corpus hf:NAME[:CONFIG]`.

The dataset is loaded through `datasets` (Arrow tables, memory-mapped) and
read in batches, so its size is bounded by disk, not memory. Each row is a
unit (a document); its text is cut at newlines. The dataset's own
validation/test splits are used when it has them, otherwise train is split
like any other corpus. NAME may also be a local folder of .txt files, which
`datasets` reads with its "text" builder without a network.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import warnings
from pathlib import Path
from typing import Iterator

from lmkit.config.path_text import check_path_text
from lmkit.corpus.store import MANIFEST, Corpus, check_source, inside_cached_corpus, install_corpus, is_corpus_folder
from lmkit.corpus.text_files import lmkit_folders, named_few, scan_text_file
from lmkit.corpus.split import SHARES, write_given_splits, write_split_units
from lmkit.errors import CorpusError, first_line
from lmkit.files.line_ends import text_lines

HF_CACHE = ".hf-cache"
SPLIT_ALIASES = {"train": ("train",), "valid": ("validation", "valid", "dev"), "test": ("test",)}
BATCH_ROWS = 10_000


def parse_hf_name(name: str) -> tuple[str, str | None]:
    """hf:NAME or hf:NAME:CONFIG -> (NAME, CONFIG or None); a NAME starting with '/' is a folder and takes no
    CONFIG, and a NAME that is a folder here becomes its absolute path. Anything else (an empty part, a second
    ':') is refused, not cut short."""
    spec = name[len("hf:"):]
    parts = [spec] if spec.startswith("/") else spec.split(":")
    if len(parts) > 2 or not all(parts):
        raise CorpusError(f"{name!r}: expected hf:NAME or hf:NAME:CONFIG, neither part empty nor holding ':' "
                          "(a NAME starting with '/' is a folder and takes no CONFIG)")
    dataset = parts[0]
    if dataset.startswith("/") or os.path.isdir(dataset):  # a local folder, as `datasets` takes it: one cache
        check_path_text(name, dataset)  # (os.path.isdir: a name too long for a file is no folder, not an error)
        dataset = str(Path(dataset).resolve())             # per folder, however the path was written
    else:  # a hub name: the hub's own rule, before anything is announced or fetched
        from huggingface_hub.utils import HFValidationError, validate_repo_id

        try:
            validate_repo_id(dataset)
        except HFValidationError as exc:
            raise CorpusError(f"{name!r}: not a Hugging Face dataset name ({first_line(exc)})") from None
    return dataset, (parts[1] if len(parts) == 2 else None)


def readable_part(dataset: str, config: str | None) -> str:
    """The dataset and config as folder-name characters: every other run of characters becomes '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{dataset}-{config}" if config else dataset).strip("-._")


def hf_folder_name(dataset: str, config: str | None) -> str:
    """hf-<readable part>-<hash>: the hash of the exact dataset and config keeps names that read alike
    (hf:a/b, hf:a-b, hf:a:b) in folders of their own. A local folder's hash covers its files too, so a
    folder whose files changed is fetched afresh, as --train PATH is keyed on its files' contents (the
    first cache was used for the edited folder, silently)."""
    key = [dataset, config] + ([folder_files(Path(dataset))] if dataset.startswith("/") else [])
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:10]
    return "-".join(part for part in ("hf", readable_part(dataset, config)[-60:].lstrip("-._"), digest) if part)


def folder_files(folder: Path) -> list[list]:
    """[relative path, bytes, modification time in ns] of every file under `folder`: what it holds, cheaply."""
    files = []
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        with contextlib.suppress(OSError):  # gone or unreadable meanwhile: loading the folder will say so
            info = path.stat()
            if stat.S_ISREG(info.st_mode):
                files.append([str(path.relative_to(folder)), info.st_size, info.st_mtime_ns])
    return files


def legacy_folder_name(dataset: str, config: str | None) -> str:
    """The folder name before the hash was added, which several datasets could share."""
    return f"hf-{readable_part(dataset, config)[-80:]}"


def hf_source(dataset: str, config: str | None) -> dict:
    """The fields of a cached manifest's source that say which dataset it holds."""
    return {"kind": "hf", "dataset": dataset, "config": config}


def hf_folder(root: Path, name: str) -> Path:
    """Where hf:NAME[:CONFIG] is cached: its own folder, or the one named the old way when that holds this
    very dataset (a corpus fetched before the hash was added keeps working, unfetched)."""
    dataset, config = parse_hf_name(name)
    folder = root / hf_folder_name(dataset, config)
    legacy = root / legacy_folder_name(dataset, config)
    if not (folder / MANIFEST).exists() and (legacy / MANIFEST).exists():
        try:
            return check_source(Corpus.open(legacy), hf_source(dataset, config)).directory
        except CorpusError:  # damaged, or another dataset's: not this dataset's cache
            pass
    return folder


def check_local_folder(name: str, dataset: str) -> None:
    """For hf:/PATH (a `dataset` starting with '/'): CorpusError unless PATH is a folder holding no folder of lmkit's.
    `datasets` would read a cached corpus's token-id sidecars (JSON) or a model directory's files as the
    dataset's text, and train on hashes."""
    if not dataset.startswith("/"):
        return
    folder = Path(dataset)
    if not folder.is_dir():
        raise CorpusError(f"{name!r}: {dataset} is not a folder (hf:/PATH reads a local folder of text files)")
    if folder == Path(folder.anchor):  # it walked the whole file system for 14 s, then named a /proc entry
        raise CorpusError(f"{name!r}: {dataset} is the root of the file system: name the folder of your text")
    cached = inside_cached_corpus(folder)
    if cached is not None:
        said, advice = cached
        raise CorpusError(f"{name!r}: {dataset} {said}, not a folder of text files: {advice}")
    lmkits = lmkit_folders(sorted(folder.rglob("*")), is_corpus_folder)  # as --train FOLDER tells them
    if lmkits:
        raise CorpusError(f"{name!r}: {lmkits[0]} is a folder of lmkit's (a cached corpus or a model directory), "
                          "whose files are not text: give hf:/PATH a folder of text files only")


def check_text_files(name: str, folder: Path) -> None:
    """The files `datasets` reads in a local folder are its .txt files (its text loader): CorpusError where there is
    none (`datasets` chose another loader for a folder of .md files and said 'No task.toml or instruction.md files
    found') or where one is not UTF-8 text (it said only 'An error occurred while generating the dataset'), naming
    the file and the byte as --train does. (pass 83)"""
    visible = [p for p in sorted(folder.rglob("*"))
               if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    texts = [p for p in visible if p.suffix == ".txt"]
    if not texts:
        raise CorpusError(f"{name!r}: {folder} holds no .txt file, and hf:/PATH reads a folder's .txt files "
                          f"(Hugging Face's text loader); give --train {folder} for text files of other names")
    for path in texts:
        try:
            scan_text_file(path)
        except CorpusError as exc:
            problem = str(exc).split("; ")[0]  # its advice names --encoding-errors, which hf:/PATH does not take
            raise CorpusError(f"{name!r}: {problem}; fix the file, or give --train {folder} with --encoding-errors "
                              "replace (hf:/PATH reads UTF-8 text only)") from None
    others = [p for p in visible if p.suffix != ".txt"]
    if others:
        warnings.warn(f"{name}: reads the folder's .txt files only, and leaves out {len(others):,} other "
                      f"file{'' if len(others) == 1 else 's'}: {named_few(others, folder)} (--train {folder} reads "
                      "every text file)", stacklevel=2)


def hf_corpus(root: Path, name: str, fetch: bool = True) -> Corpus:
    dataset, config = parse_hf_name(name)
    check_local_folder(name, dataset)
    folder = hf_folder(root, name)
    if not (folder / MANIFEST).exists() and not fetch:
        raise CorpusError(f"corpus {name!r} is not fetched yet; run `lmkit corpus fetch {name}`")
    return install_corpus(root, folder.name, lambda work: build_hf(dataset, config, root / HF_CACHE, work, name),
                          source=hf_source(dataset, config))


def load_hf(dataset: str, config: str | None, cache_dir: Path):
    import datasets
    from datasets.utils import logging as ds_logging
    from huggingface_hub.utils import logging as hub_logging

    bars_were_on = not datasets.utils.are_progress_bars_disabled()
    datasets.utils.disable_progress_bars()  # no "Generating train split" bars: `lmkit corpus fetch` says what it does
    ds_logging.set_verbosity_error()
    hub_logging.set_verbosity_error()  # its retries' "... thrown while requesting HEAD ...": the one error line says it
    try:
        return datasets.load_dataset(dataset, config, cache_dir=str(cache_dir))
    except Exception as exc:  # network, missing dataset, bad config: datasets raises many types
        raise CorpusError(f"could not load Hugging Face dataset {dataset!r}: {first_line(exc)}") from exc
    finally:
        if bars_were_on:
            datasets.utils.enable_progress_bars()


def text_column(table, name: str) -> str:
    if "text" in table.column_names:
        return "text"
    for column, feature in table.features.items():
        if getattr(feature, "dtype", None) in ("string", "large_string"):
            return column
    raise CorpusError(f"{name}: the dataset has no text column (columns: {', '.join(table.column_names)})")


def row_units(table, column: str) -> Iterator[list[str]]:
    """Each row's text as one unit, cut at newlines, read BATCH_ROWS rows at a time."""
    for batch in table.iter(batch_size=BATCH_ROWS):
        for text in batch[column]:
            yield text_lines(text or "")


def build_hf(dataset: str, config: str | None, cache_dir: Path, work: Path, name: str) -> dict:
    if dataset.startswith("/"):  # a local folder, read once here: what `datasets` would make of it
        check_text_files(name, Path(dataset))
    tables = load_hf(dataset, config, cache_dir)
    found = {split: next((tables[a] for a in aliases if a in tables), None) for split, aliases in SPLIT_ALIASES.items()}
    if found["train"] is None:
        raise CorpusError(f"{name}: the dataset has no 'train' split (it has {', '.join(tables)})")
    column = text_column(found["train"], name)
    if found["valid"] is not None and found["test"] is not None:
        names = {s: f"{name}: its {s} split" for s in found}
        splits = write_given_splits({s: row_units(t, column) for s, t in found.items()}, work, names)
        method = "the dataset's own train/validation/test splits"
    else:
        splits = write_split_units(row_units(found["train"], column), work, name)
        method = f"rows, {SHARES}"
    source = {"kind": "hf", "dataset": dataset, "config": config, "column": column,
              "rows": {s: (t.num_rows if t is not None else None) for s, t in found.items()}}
    return {"description": f"Hugging Face dataset {dataset}" + (f" ({config})" if config else ""),
            "source": source, "split_method": method, "splits": splits}
