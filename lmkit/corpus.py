"""Corpora: named ones fetched and cached, local text files, deterministic splits.

A corpus lives in one folder under the corpora root ($LMKIT_CORPORA, else
./corpora):

    corpora/<name>/
      manifest.json                 source, input hashes and sizes, split sizes (lines, chars, bytes, sha256)
      train.txt valid.txt test.txt  UTF-8, "\\n" line ends, one sentence/line per line
      tokenizers/<key>.json         tokenizers built from train.txt (lmkit vocab build)
      ids/<fingerprint>/<split>.npy encoded splits (lmkit.data)

Where each part lives: corpus_store (the folder, atomic install), corpus_io
(reading and checking input), corpus_split (deterministic splits),
corpus_local (--train PATH), corpus_sources + corpus_fetch (named corpora
via pip/apt), corpus_hf (hf:NAME datasets), tokenizer_store (tokenizers).
"""
from __future__ import annotations

from lmkit.corpus_io import LARGE_FILE_BYTES, MAX_LINE_BYTES, check_encoding_errors
from lmkit.corpus_local import local_corpus
from lmkit.corpus_sources import CORPORA, DEFAULT_CORPUS, named_corpus
from lmkit.corpus_split import SPLITS
from lmkit.corpus_store import MANIFEST, Corpus, corpora_root, install_corpus
from lmkit.errors import CorpusError
from lmkit.tokenizer_store import get_tokenizer

__all__ = ["CORPORA", "DEFAULT_CORPUS", "MANIFEST", "SPLITS", "Corpus", "cached_corpora", "corpora_root",
           "get_corpus", "get_tokenizer", "install_corpus"]


def get_corpus(name: str | None = None, *, train=None, valid=None, test=None, root=None, fetch: bool = True,
               encoding_errors: str = "strict", max_line_bytes: int = MAX_LINE_BYTES,
               large_file_bytes: int = LARGE_FILE_BYTES) -> Corpus:
    """A named corpus (fetched unless cached), an `hf:NAME[:CONFIG]` dataset, or local text files.

    `train` (a path, list of paths or folder) makes a local corpus; with
    `valid` and `test` too, those are used as given, otherwise train is split
    deterministically. Local corpora are named after the input plus a short
    content hash, so the same files reuse the same cache.
    """
    root = corpora_root(root)
    check_encoding_errors(encoding_errors)
    if train is not None:
        if name is not None:
            raise CorpusError("give either --corpus or --train, not both")
        return local_corpus(root, train, valid, test, encoding_errors=encoding_errors,
                           max_line_bytes=max_line_bytes, large_file_bytes=large_file_bytes)
    if valid is not None or test is not None:
        raise CorpusError("--valid and --test need --train")
    if name is None:
        raise CorpusError("no corpus given: pass --corpus NAME or --train PATH")
    return named_corpus(root, name, fetch=fetch)


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

