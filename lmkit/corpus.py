"""Corpora: named ones fetched and cached, local text files, deterministic splits.

A corpus lives in one folder under the corpora root ($LMKIT_CORPORA, else
./corpora):

    corpora/<name>/
      manifest.json                 source, input hashes and sizes, split sizes (lines, chars, bytes, sha256)
      train.txt valid.txt test.txt  UTF-8, "\\n" line ends, one sentence/line per line
      tokenizers/<key>.json         tokenizers built from train.txt (lmkit vocab build)
      ids/<fingerprint>/<split>.npy encoded splits (lmkit.data)

A corpus folder is built under a temporary name and renamed into place when
complete, so a failed fetch leaves nothing half-written and a second fetch
of a cached corpus does nothing.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from lmkit.corpus_io import MAX_LINE_BYTES, LARGE_FILE_BYTES, check_encoding_errors
from lmkit.corpus_split import SPLITS
from lmkit.errors import CorpusError, LmkitError
from lmkit.fileio import fsync_dir, read_json, read_text, write_json_atomic

MANIFEST = "manifest.json"
FORMAT = 1
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def corpora_root(root: str | os.PathLike | None = None) -> Path:
    """The folder holding all corpora: `root`, else $LMKIT_CORPORA, else ./corpora."""
    return Path(root or os.environ.get("LMKIT_CORPORA") or "corpora")


@dataclass
class Corpus:
    """A cached corpus: its folder, manifest and the three split files."""

    name: str
    directory: Path
    manifest: dict

    @classmethod
    def open(cls, directory: Path) -> "Corpus":
        try:
            manifest = read_json(directory / MANIFEST, "corpus manifest")
        except LmkitError as exc:
            raise CorpusError(str(exc)) from exc
        if manifest.get("format") != FORMAT:
            raise CorpusError(f"{directory / MANIFEST}: format {manifest.get('format')!r} is not {FORMAT}; fetch again")
        return cls(directory.name, directory, manifest)

    def path(self, split: str) -> Path:
        if split not in SPLITS:
            raise CorpusError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        return self.directory / f"{split}.txt"

    def lines(self, split: str) -> Iterator[str]:
        """Lines of a split without their "\\n", streamed from disk."""
        path = self.path(split)
        try:
            with open(path, encoding="utf-8", newline="\n") as handle:
                for line in handle:
                    yield line[:-1] if line.endswith("\n") else line
        except FileNotFoundError as exc:
            raise CorpusError(f"{path}: split file is missing; run `lmkit corpus fetch {self.name}` again") from exc

    def text(self, split: str) -> str:
        return read_text(self.path(split))

    def split_stats(self, split: str) -> dict:
        self.path(split)
        return self.manifest["splits"][split]

    def num_chars(self, split: str) -> int:
        """Characters in the split, newlines included."""
        return int(self.split_stats(split)["chars"])

    def num_lines(self, split: str) -> int:
        return int(self.split_stats(split)["lines"])

    @property
    def description(self) -> str:
        return str(self.manifest.get("description", ""))


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise CorpusError(f"corpus name {name!r} may use only letters, digits, '.', '_' and '-'")
    return name


def install_corpus(root: Path, name: str, build: Callable[[Path], dict]) -> Corpus:
    """Run `build(folder) -> manifest` in a temporary folder, then rename it to root/name in one step.

    If root/name already holds a complete corpus, nothing is built. On any
    failure the temporary folder is removed and root/name is untouched.
    """
    target = root / check_name(name)
    if (target / MANIFEST).exists():
        return Corpus.open(target)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    try:
        manifest = {"format": FORMAT, "name": name, **build(work)}
        write_json_atomic(work / MANIFEST, manifest)
        os.chmod(work, 0o755)  # mkdtemp made it private; a corpus folder is as readable as any other
        if (target / MANIFEST).exists():  # another process finished the same corpus first
            return Corpus.open(target)
        if target.exists():  # an incomplete folder left by hand or by an older lmkit
            shutil.rmtree(target)
        os.replace(work, target)
        fsync_dir(root)
    except OSError as exc:
        raise CorpusError(f"{target}: could not write the corpus ({exc.strerror or exc}); nothing was cached") from exc
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return Corpus.open(target)


def get_corpus(name: str | None = None, *, train=None, valid=None, test=None, root=None, fetch: bool = True,
               encoding_errors: str = "strict", max_line_bytes: int = MAX_LINE_BYTES,
               large_file_bytes: int = LARGE_FILE_BYTES) -> Corpus:
    """A named corpus (fetched unless cached), an `hf:NAME[:CONFIG]` dataset, or local text files.

    `train` (a path, list of paths or folder) makes a local corpus; with
    `valid` and `test` too, those are used as given, otherwise train is split
    deterministically. Local corpora are named after the input plus a short
    content hash, so the same files reuse the same cache.
    """
    from lmkit import corpus_local, corpus_sources

    root = corpora_root(root)
    check_encoding_errors(encoding_errors)
    if train is not None:
        if name is not None:
            raise CorpusError("give either --corpus or --train, not both")
        return corpus_local.local_corpus(root, train, valid, test, encoding_errors=encoding_errors,
                                         max_line_bytes=max_line_bytes, large_file_bytes=large_file_bytes)
    if valid is not None or test is not None:
        raise CorpusError("--valid and --test need --train")
    if name is None:
        raise CorpusError("no corpus given: pass --corpus NAME or --train PATH")
    return corpus_sources.named_corpus(root, name, fetch=fetch)


def cached_corpora(root=None) -> list[Corpus]:
    """Every complete corpus under the root, by name."""
    root = corpora_root(root)
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.name.startswith(".") and (folder / MANIFEST).exists():
            try:
                found.append(Corpus.open(folder))
            except CorpusError:
                continue
    return found


from lmkit.tokenizer_store import get_tokenizer  # noqa: E402  re-exported: lmkit.corpus.get_tokenizer
