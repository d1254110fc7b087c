"""Writing ARPA files: any NGramLM as a standard back-off file that KenLM, SRILM and lmkit read back.

Base-10 log probabilities and backoffs, the shortest strings that read back as the same float32,
`-99` for "never"; written to a temporary name and renamed, compressed when the name ends in .gz, .bz2 or .xz
(in any case); a name promising another compression (.zst, .lz4, ...) is refused, not written as plain text.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
from pathlib import Path

import numpy as np

from lmkit.errors import ArpaError, counted
from lmkit.files.writing import atomic_write, check_output_file
from lmkit.text.vocab import Vocab

SEPARATOR_CHARS = " \t\n\r\x0b\x0c\x00"  # characters a token written to ARPA must not hold
COMPRESSORS = {  # the file name's suffix -> a writer wrapping the raw file (gzip without a timestamp: same bytes each time)
    ".gz": lambda raw: gzip.GzipFile(fileobj=raw, mode="wb", mtime=0),
    ".bz2": lambda raw: bz2.BZ2File(raw, "wb"),
    ".xz": lambda raw: lzma.LZMAFile(raw, "wb"),
}
OTHER_COMPRESSIONS = {".zst", ".zstd", ".lz4", ".lz", ".lzip", ".lzma", ".lzo", ".lrz", ".z", ".zlib", ".zip",
                      ".7z", ".rar", ".br", ".sz", ".bz", ".bzip2", ".gzip", ".tar", ".tgz", ".tbz", ".tbz2", ".txz", ".taz",
                      ".tlz", ".tzst"}


def write_arpa(model, path: str | Path, replace: bool = True) -> Path:
    """Write `model` as an ARPA file (compressed when the name ends in .gz, .bz2 or .xz); returns the path.
    Without `replace`, a file there (made while the model was written) is kept and WriteError raised."""
    tables, path = model.fitted(), Path(path)
    tokens = model.vocab.itos
    check_writable(model.vocab, path)
    sizes = model.ngram_counts()  # <pad> is not a word of the model
    with atomic_write(path, "wb", follow_link=True, replace=replace) as raw:
        compress = COMPRESSORS.get(path.suffix.lower())
        out = compress(raw) if compress else raw
        text = io.TextIOWrapper(out, encoding="utf-8", newline="\n")
        text.write("\\data\\\n" + "".join(f"ngram {n}={size}\n" for n, size in enumerate(sizes, 1)))
        names = np.array(tokens, dtype=object)
        for n in range(1, tables.order + 1):
            text.write(f"\n\\{n}-grams:\n")
            names = write_section(text, tables, n, names, tokens)
        text.write("\n\\end\\\n")
        text.flush()
        text.detach()
        if out is not raw:
            out.close()
    return path


def check_writable(vocab: Vocab, path: Path) -> None:
    """WriteError unless a file can be written at `path`, ArpaError unless every token can stand in an ARPA file
    (no ASCII separator inside a word): checked before a long build, so a bad target fails before anything is written."""
    check_output_file(path)
    named = other_compression(path)
    if named:
        raise ArpaError(f"{path}: lmkit compresses ARPA files as .gz, .bz2 or .xz, not {named}; choose one of "
                        "those, or a name without a compression suffix for plain text")
    spaced = [t for t in vocab.itos[1:] if any(c in SEPARATOR_CHARS for c in t)]
    if spaced:
        raise ArpaError(f"{path}: token {spaced[0]!r} contains a space, tab or control character, which ARPA readers "
                        f"take for a separator ({counted(len(spaced), 'such token')}); keep the native format for "
                        "this model")


def other_compression(path: Path) -> str | None:
    """The suffix of `path` promising a compression or archive lmkit does not write (`.zst`, or `.tar.gz`: gzip it
    would be, a tar archive not), or None."""
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] in OTHER_COMPRESSIONS:
        return path.suffix
    if suffixes[-2:-1] == [".tar"]:
        return "".join(path.suffixes[-2:])
    return None


def write_section(text, tables, n: int, lower_names: np.ndarray, tokens: list[str]) -> np.ndarray:
    """Write order n's lines; returns the n-grams' names (for order n+1 to extend)."""
    if n == 1:
        names, keep = lower_names, np.arange(1, len(tokens))  # skip <pad>
    else:
        keys = tables.keys[n - 1]
        prefix, last = (keys // tables.vocab_size).tolist(), (keys % tables.vocab_size).tolist()
        names = np.array([lower_names[i] + " " + tokens[w] for i, w in zip(prefix, last)], dtype=object)
        keep = np.arange(len(keys))
    probs = number_strings(tables.logp[n - 1][keep])
    if n == tables.order:
        lines = [f"{p}\t{w}\n" for p, w in zip(probs, names[keep].tolist())]
    else:
        backoffs = number_strings(tables.logbo[n - 1][keep])
        lines = [f"{p}\t{w}\t{b}\n" for p, w, b in zip(probs, names[keep].tolist(), backoffs)]
    text.writelines(lines)
    return names


def number_strings(values: np.ndarray) -> list[str]:
    """Shortest strings that read back as the same float32; log10 of zero becomes -99."""
    return np.where(np.isneginf(values), "-99", values.astype(np.float32).astype(str)).tolist()
