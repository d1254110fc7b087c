"""ARPA back-off files: write any NGramLM, read any valid ARPA file (KenLM's, SRILM's, ours) into one.

    \\data\\
    ngram 1=13779                   how many n-grams each section lists
    ngram 2=96257

    \\1-grams:
    -4.936198\t<unk>\t0             log10 p, the n-gram, log10 backoff (orders below the top)
    ...
    \\end\\

Reading is strict: a truncated file, counts that disagree with \\data\\,
non-numeric fields, a missing `<s>`/`</s>` or a duplicate n-gram is an
ArpaError naming the file and line, never a silently different model (writing:
lmkit/models/ngram/arpa_write.py). A
log10 probability of -99 or less means "never": SRILM writes log10 0 so, and lmkit
writes -inf so. KenLM reads such an entry as the finite number written (pass 90): where
a text needs one, KenLM scores it near -100 and lmkit refuses the probability zero,
naming the token; every other score is the same. A file
without `<unk>` has a closed vocabulary (SRILM writes one unless told -unk): it is
read with `<unk>` at log10 probability -100, the value KenLM substitutes, so it
scores every text, its own words or not, as KenLM does.
Files compressed with gzip, bzip2 or xz are read as such, told apart by their
first bytes (not their names); writing compresses by the name's suffix.
"""
from __future__ import annotations

import bz2
import gc
import gzip
import lzma
import re
import zlib
from pathlib import Path

import numpy as np

from lmkit.errors import ArpaError
from lmkit.files.reading import open_regular
from lmkit.files.text_bytes import wide_unicode_error
from lmkit.models.ngram.listed import tables_from_entries
from lmkit.text.vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocab

LOG_ZERO = -99.0
UNKNOWN_MISSING = -100.0  # log10 p of the <unk> a closed-vocabulary file lacks: KenLM's substitute, kept finite
LOG_MAX = float(np.log10(np.finfo(np.float64).max))  # 10**value must be a number: ~308 (sums stay finite in float32)
SEPARATORS = re.compile(r"[ \t]+")
OTHER_WHITESPACE = re.compile(r"[^\S \t]")  # whitespace that str.split() cuts at but ARPA does not
REQUIRED = (BOS, EOS)  # <unk> may be missing: a closed vocabulary (close_vocabulary)
COMPRESSED = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))  # magic bytes -> opener
DECOMPRESS_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)
KENLM_BINARY = b"mmap lm "  # how KenLM's build_binary output begins


# ARPA numbers are ASCII: Python's int() and float() also take "1_000", "٣" and "５", which no ARPA writer makes
ASCII_COUNT = re.compile(r"[0-9]+")
ARPA_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
NOT_NUMERIC = re.compile(r"[^0-9.eE+-]")
MAX_LINE_BYTES = 1 << 20  # an ARPA line is a number, n words and a number: a longer one means another kind of file


class VocabMismatch(ArpaError):
    """The ARPA file's words are not those of the vocabulary it was given."""


# --- reading -----------------------------------------------------------------------
class ArpaLines:
    """Decoded lines of an ARPA file (plain, gzip, bzip2 or xz), read in blocks of bytes; errors name file and line."""

    BLOCK_BYTES = 1 << 18

    def __init__(self, path: Path):
        self.path = path
        self.lines: list[str] = []
        self.pos = 0
        self.first = 1       # line number of self.lines[0]
        self.number = 0      # line number of the line most recently taken
        self.pending: str | None = None  # a line read ahead: the one that ended the last part
        self.partial = bytearray()  # the start of a line whose end is not read yet
        raw = open_regular(path, ArpaError)  # a FIFO or a device could block or never end
        try:
            head = raw.read(8)
            raw.seek(0)
            opener = next((opener for magic, opener in COMPRESSED if head.startswith(magic)), None)
            self.handle = opener(raw, "rb") if opener else raw
        except (*DECOMPRESS_ERRORS, OSError) as exc:
            raw.close()
            raise ArpaError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from exc
        self.raw = raw
        if head.startswith(KENLM_BINARY):
            raw.close()
            raise ArpaError(f"{path}: a KenLM binary model, which lmkit does not read; give the ARPA file it was built from")

    def error(self, message: str, line: int | None = None) -> ArpaError:
        return ArpaError(f"{self.path}:{self.number if line is None else line}: {message}")

    def fill(self) -> bool:
        """Read the next block of whole lines; False at the end of the file."""
        block = self.read_block()
        if block is None:
            return False
        self.first += self.pos
        self.lines = self.lines[self.pos :] + self.decode(block, self.first + len(self.lines) - self.pos)
        self.pos = 0
        return True

    def read_block(self) -> bytes | None:
        """Bytes up to the last newline of the next block (the file's last line without one); None at the end."""
        while True:
            try:
                data = self.handle.read(self.BLOCK_BYTES)
            except DECOMPRESS_ERRORS as exc:
                where = f" after line {self.first + len(self.lines) - 1}" if self.lines else ""
                raise ArpaError(f"{self.path}: the compressed file is damaged{where} ({exc})") from exc
            if not data:
                block, self.partial = bytes(self.partial), bytearray()
                return block or None
            cut = data.rfind(b"\n") + 1
            if cut:
                block = bytes(self.partial) + data[: cut - 1]
                self.partial = bytearray(data[cut:])
                return block
            self.partial += data  # a line longer than a block: read on
            if len(self.partial) > MAX_LINE_BYTES:  # lines first .. first + len(lines) - 1 are read: this is the next
                raise self.error(f"line longer than {MAX_LINE_BYTES:,} bytes: not an ARPA file",
                                 self.first + len(self.lines))

    def decode(self, block: bytes, number: int) -> list[str]:
        """The lines of `block` (newline-separated bytes), the first being line `number`."""
        wide = number == 1 and wide_unicode_error(self.path, block, f"at byte offset {block.find(0)}")
        if wide:  # UTF-16 (Windows' "Unicode") or UTF-32 text, named as every other reader names it
            raise ArpaError(wide)
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError as exc:
            start = block.rfind(b"\n", 0, exc.start) + 1
            raise self.error(f"not valid UTF-8 (byte {exc.start - start} of the line)",
                             number + block.count(b"\n", 0, exc.start)) from exc
        if number == 1:  # a BOM (an editor's "UTF-8 with signature") is not text, as in every text file lmkit reads
            text = text.removeprefix("\ufeff")
        lines = text.split("\n")
        return [line.rstrip("\r") for line in lines] if "\r" in text else lines

    def next(self) -> str | None:
        """The next line; None at the end of the file."""
        if self.pos >= len(self.lines) and not self.fill():
            return None
        self.pos += 1
        self.number = self.first + self.pos - 1
        return self.lines[self.pos - 1]

    def take_entries(self, count: int) -> list[str]:
        """Up to `count` next lines, fewer where a blank or `\\` line (left unread) or the end of the file
        comes first; each block is checked as it arrives, so memory follows the file, not `count`."""
        taken: list[str] = []
        while len(taken) < count and (self.pos < len(self.lines) or self.fill()):
            chunk = self.lines[self.pos : self.pos + count - len(taken)]
            entries = next((i for i, line in enumerate(chunk) if ends_section(line)), len(chunk))
            taken += chunk[:entries]
            self.pos += entries
            if entries < len(chunk):
                break
        self.number = self.first + self.pos - 1
        return taken

    def next_nonblank(self) -> str | None:
        line = self.next()
        while line is not None and not line.strip():
            line = self.next()
        return line


def ends_section(line: str) -> bool:
    return not line.strip() or line.startswith("\\")


def read_header(lines: ArpaLines) -> list[int]:
    line = lines.next()
    while line is not None and line.strip() != "\\data\\":
        line = lines.next()
    if line is None:
        raise ArpaError(f"{lines.path}: no \\data\\ header: not an ARPA file")  # the last line's number would mislead
    counts = []
    line = lines.next_nonblank()
    while line is not None and line.startswith("ngram "):
        order, _, value = line[6:].partition("=")
        if order.strip() != str(len(counts) + 1) or not ASCII_COUNT.fullmatch(value.strip()):
            raise lines.error(f"expected 'ngram {len(counts) + 1}=<count>' in \\data\\, got {line!r}")
        counts.append(int(value))
        line = lines.next_nonblank()
    if not counts:
        raise lines.error("\\data\\ lists no 'ngram N=count' lines")
    lines.pending = line
    return counts


def read_section(lines: ArpaLines, n: int, expected: int) -> tuple[list, list, list, list]:
    """(words, log10 p, log10 backoff, line numbers) of the n-gram section."""
    header = lines.pending
    if header is None or header.strip() != f"\\{n}-grams:":
        raise lines.error(f"expected the section header \\{n}-grams:, got {header!r}" if header is not None
                          else f"file ends before the \\{n}-grams: section (truncated?)")
    first = lines.number + 1
    body = lines.take_entries(expected)
    after = lines.next()
    if len(body) < expected:
        count = len(body)
        if after is not None and not after.strip():  # a blank line inside the section? (KenLM reads past one)
            resumed = lines.next_nonblank()
            if resumed is not None and not resumed.startswith("\\"):
                raise lines.error(f"\\{n}-grams: a blank line after {count:,} of its {expected:,} entries, and more "
                                  "entries after it: lmkit reads a blank line as a section's end; remove it",
                                  first + count)
        where = f"line {first + count} ends the section" if after is not None else "the file ends"
        raise lines.error(f"\\{n}-grams: lists {count:,} entries but \\data\\ says {expected:,} ({where}; truncated?)",
                          first + count)
    if after is not None and after.strip() and not after.startswith("\\"):
        raise lines.error(f"\\{n}-grams: lists more entries than the {expected:,} \\data\\ says")
    lines.pending = after if after is None or after.strip() else lines.next_nonblank()
    return parse_entries(lines, body, n, first)


def parse_entries(lines: ArpaLines, body: list[str], n: int, first: int) -> tuple[list, list, list, list]:
    # ARPA separates fields with spaces and tabs only: a word may hold other whitespace (U+00A0, U+3000),
    # which str.split() would cut at; one search over the section decides if the fast split is safe
    if OTHER_WHITESPACE.search("".join(body)) is None:
        fields = [line.split() for line in body]
    else:
        fields = [SEPARATORS.split(line.strip(" \t")) for line in body]
    wrong = next((i for i, f in enumerate(fields) if len(f) != n + 1 and len(f) != n + 2), None)
    if wrong is not None:
        raise lines.error(f"a {n}-gram line needs log10 p, {n} words and an optional backoff; "
                          f"got {len(fields[wrong])} fields", first + wrong)
    probs = numbers(lines, [f[0] for f in fields], "probability", first)
    backoffs = numbers(lines, [f[n + 1] if len(f) == n + 2 else "0" for f in fields], "backoff", first)
    words = [f[1 : n + 1] for f in fields]
    return words, probs, backoffs, list(range(first, first + len(body)))


def numbers(lines: ArpaLines, texts: list[str], what: str, first: int) -> list[float]:
    """The fields as floats; one pass with float() where every character is an ASCII number's, else field by field."""
    values = None
    if NOT_NUMERIC.search("".join(texts)) is None:  # float() alone would take "1_0" and non-ASCII digits
        try:
            values = np.array(list(map(float, texts)), dtype=np.float64)
        except ValueError:
            values = None
    top = 0.0 if what == "probability" else LOG_MAX  # the largest value that needs no closer look
    if values is None or not (values[values != -np.inf] <= top).all():
        checked = []
        for i, text in enumerate(texts):
            lines.number = first + i
            checked.append(number(lines, text, what))
        values = np.array(checked, dtype=np.float64)
    values[values <= LOG_ZERO] = -np.inf
    return values.tolist()


def number(lines: ArpaLines, field: str, what: str) -> float:
    if not ARPA_NUMBER.fullmatch(field):
        raise lines.error(f"{what} {field!r} is not a number")
    value = float(field)
    if value != value or value == float("inf"):
        raise lines.error(f"{what} {field!r} is not a finite log10 value")
    if what == "probability" and value > 0:
        raise lines.error(f"log10 probability {field} is above 0 (a probability above 1)")
    if value > LOG_MAX:
        raise lines.error(f"{what} {field!r} is out of range for a log10 value")
    return -np.inf if value <= LOG_ZERO else value


def read_arpa(path: str | Path, vocab: Vocab | None = None):
    """An NGramLM scoring exactly as the ARPA file says; `vocab` (optional) must list the same words."""
    from lmkit.models.ngram.model import NGramLM

    path = Path(path)
    lines = ArpaLines(path)
    collecting = gc.isenabled()
    gc.disable()  # millions of small lists: the cycle collector would dominate the parse
    try:
        with lines.raw, lines.handle:
            counts = read_header(lines)
            sections = [read_section(lines, n, expected) for n, expected in enumerate(counts, 1)]
            if lines.pending is None or lines.pending.strip() != "\\end\\":
                raise lines.error("expected \\end\\ after the last section" if lines.pending is not None
                                  else "file ends without \\end\\ (truncated?)")
    finally:
        if collecting:
            gc.enable()
    closed = close_vocabulary(sections[0])
    vocab = vocab_for(path, sections[0], vocab)
    tables = tables_from_entries(path, sections, vocab)
    return NGramLM.from_tables(vocab, tables, source=str(path), **({"closed_vocabulary": True} if closed else {}))


def close_vocabulary(unigrams: tuple) -> bool:
    """Give 1-grams that lack `<unk>` one at log10 UNKNOWN_MISSING (finite: not read as "never", it bypasses
    the parser's LOG_ZERO rule), no backoff, listed where the section begins; True when they lacked it. KenLM
    reads such a file the same way."""
    words, probs, backoffs, numbers = unigrams
    if any(word == UNK for (word,) in words):
        return False
    words.append([UNK])
    probs.append(UNKNOWN_MISSING)
    backoffs.append(0.0)
    numbers.append(numbers[0] - 1 if numbers else 1)
    return True


def vocab_for(path: Path, unigrams: tuple, vocab: Vocab | None) -> Vocab:
    """The model's vocabulary: the given one (checked against the 1-grams) or one built from them."""
    words, _, _, numbers = unigrams
    seen: dict[str, int] = {}
    for (word,), line in zip(words, numbers):
        if word in seen:
            raise ArpaError(f"{path}:{line}: duplicate 1-gram {word!r} (first at line {seen[word]})")
        if word == PAD:
            raise ArpaError(f"{path}:{line}: the word {PAD} is reserved by lmkit for padding")
        seen[word] = line
    missing = [w for w in REQUIRED if w not in seen]
    if missing:
        raise ArpaError(f"{path}:{numbers[0] - 1 if numbers else 1}: the 1-grams lack {', '.join(missing)} "
                        "(every ARPA model needs <s> and </s>)")
    if vocab is None:
        return Vocab(list(SPECIALS) + [w for w in seen if w not in SPECIALS])
    foreign = [w for w in seen if w not in vocab.stoi]
    absent = [w for w in vocab.itos if w != PAD and w not in seen]
    if foreign or absent:
        detail = f"{foreign[0]!r} (line {seen[foreign[0]]}) is not in the vocabulary" if foreign else \
            f"the vocabulary's {absent[0]!r} is not a 1-gram"
        raise VocabMismatch(f"{path}: the ARPA words and the vocabulary differ: {detail}")
    return vocab
