"""Corpora: named ones fetched and cached, local text files, deterministic splits.

A corpus lives in one folder under the corpora root ($LMKIT_CORPORA, else
./corpora):

    corpora/<name>/
      manifest.json                 source, input hashes and sizes, split sizes (lines, chars, bytes, sha256)
      train.txt valid.txt test.txt  UTF-8, "\\n" line ends, one sentence/line per line
      tokenizers/<key>.json         tokenizers built from train.txt (lmkit vocab build)
      ids/<fingerprint>/<split>.npy encoded splits (lmkit.text.id_cache)

Where each part lives: store (the folder, atomic install), text_files
(reading and checking input), split (deterministic splits), local
(--train PATH), sources + fetch (named corpora via pip/apt), hf (hf:NAME
datasets). Tokenizers cached in the folder belong to lmkit.text.tokenizer_cache.
"""
from __future__ import annotations

from lmkit.corpus.text_files import LARGE_FILE_BYTES, MAX_LINE_BYTES, check_encoding_errors
from lmkit.corpus.local import local_corpus
from lmkit.corpus.sources import CORPORA, DEFAULT_CORPUS, named_corpus
from lmkit.corpus.split import SPLITS
from lmkit.corpus.store import MANIFEST, Corpus, check_named, corpora_root, install_corpus
from lmkit.errors import CorpusError

__all__ = ["CORPORA", "DEFAULT_CORPUS", "MANIFEST", "SPLITS", "Corpus", "cached_corpora", "corpora_root", "scan_corpora",
           "get_corpus", "install_corpus"]


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


def missing_local_corpus(name: str, root=None) -> str | None:
    """Why the corpus `name`, which a model's config.json names, cannot be had ("'NAME', which is not in ..."): a
    local one (made by --train) that is not in the corpora folder, and which no fetch brings back; None for a
    named or hf: corpus, or one that is there (whose own errors say what is wrong with it)."""
    root = corpora_root(root)
    if name in CORPORA or name.startswith("hf:") or (root / name).exists():
        return None
    return (f"{name!r}, which is not in {root.absolute()} (a corpus made by --train lives in the corpora folder it "
            "was trained with)")


def cached_corpora(root=None) -> list[Corpus]:
    """Every complete corpus under the root, by name."""
    return scan_corpora(root)[0]


def scan_corpora(root=None) -> tuple[list[Corpus], dict[str, str]]:
    """The corpora under the root that open, by name, and the folders with a manifest that do not: name -> why.
    A folder under a registered corpus's name that holds another corpus (swapped, copied, a link) does not open:
    every command that reads it by that name refuses it."""
    root = corpora_root(root)
    if not root.is_dir():
        return [], {}
    found, damaged = [], {}
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.name.startswith(".") and (folder / MANIFEST).exists():
            try:
                corpus = Corpus.open(folder)
                found.append(check_named(corpus, folder.name) if folder.name in CORPORA else corpus)
            except CorpusError as error:
                damaged[folder.name] = str(error)
    return found, damaged

