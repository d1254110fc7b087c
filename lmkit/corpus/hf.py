"""Hugging Face datasets as corpora: `--corpus hf:NAME[:CONFIG]`.

The dataset is loaded through `datasets` (Arrow tables, memory-mapped) and
read in batches, so its size is bounded by disk, not memory. Each row is a
unit (a document); its text is cut at newlines. The dataset's own
validation/test splits are used when it has them, otherwise train is split
like any other corpus. NAME may also be a local folder of .txt files, which
`datasets` reads with its "text" builder without a network.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from lmkit.corpus.store import MANIFEST, Corpus, install_corpus
from lmkit.corpus.split import SHARES, write_given_splits, write_split_units
from lmkit.errors import CorpusError

HF_CACHE = ".hf-cache"
SPLIT_ALIASES = {"train": ("train",), "valid": ("validation", "valid", "dev"), "test": ("test",)}
BATCH_ROWS = 10_000


def parse_hf_name(name: str) -> tuple[str, str | None]:
    spec = name[len("hf:"):]
    dataset, _, config = spec.partition(":") if not spec.startswith("/") else (spec, "", "")
    if not dataset:
        raise CorpusError(f"--corpus {name!r}: expected hf:NAME or hf:NAME:CONFIG")
    return dataset, config or None


def hf_folder_name(dataset: str, config: str | None) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{dataset}-{config}" if config else dataset).strip("-._")
    return f"hf-{slug[-80:]}"


def hf_corpus(root: Path, name: str, fetch: bool = True) -> Corpus:
    dataset, config = parse_hf_name(name)
    folder = hf_folder_name(dataset, config)
    if not (root / folder / MANIFEST).exists() and not fetch:
        raise CorpusError(f"corpus {name!r} is not fetched yet; run `lmkit corpus fetch {name}`")
    return install_corpus(root, folder, lambda work: build_hf(dataset, config, root / HF_CACHE, work, name))


def load_hf(dataset: str, config: str | None, cache_dir: Path):
    import datasets
    from datasets.utils import logging as ds_logging

    ds_logging.set_verbosity_error()
    try:
        return datasets.load_dataset(dataset, config, cache_dir=str(cache_dir))
    except Exception as exc:  # network, missing dataset, bad config: datasets raises many types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorpusError(f"could not load Hugging Face dataset {dataset!r}: {first_line}") from exc


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
            yield (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")


def build_hf(dataset: str, config: str | None, cache_dir: Path, work: Path, name: str) -> dict:
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
