"""Typed errors. Every failure a user can cause is an LmkitError whose message
is one line naming the bad file, option or value; the CLI prints it (through
`printable`) and exits 1. `counted` words every count a message states, so that
none says '1 tokens'."""
import re

# A file name's bytes that are not UTF-8 reach Python as lone surrogates U+DC80..U+DCFF (os.fsdecode's
# surrogateescape); no other lone surrogate is valid text either. Control characters (a newline in a
# file name) would break the one line a message is, as would Unicode's line and paragraph separators; its
# direction marks and overrides would make the rest of the line read in another order than it is written.
UNPRINTABLE = re.compile("[\ud800-\udfff\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
NAMED_CONTROLS = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def human_bytes(n: int) -> str:
    """A size as people read it: 3.61 KiB, 2.02 GiB, 512 B."""
    for size, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= size:
            return f"{n / size:.3g} {suffix}"
    return f"{n} B"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`counted(1, "token")` is '1 token', `counted(2048, "token")` '2,048 tokens'; `plural` where adding an s
    is wrong."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def printable(text: str) -> str:
    """`text` as one printable line: each undecodable byte of a file name as \\xNN (the byte itself), other
    lone surrogates as \\uXXXX and control characters as \\n, \\t, \\r or \\xNN; the CLI shows every
    error message through this, so a message naming such a path prints instead of raising UnicodeEncodeError."""
    def escape(match: re.Match) -> str:
        char = match.group()
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            return f"\\x{code - 0xDC00:02x}"
        return NAMED_CONTROLS.get(char) or (f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}")

    return UNPRINTABLE.sub(escape, text)


def excerpt(text: str, longest: int = 120) -> str:
    """`text` cut in the middle to at most about `longest` characters, for a message that quotes a line read from a
    file (which, unlike an argument, may run to megabytes)."""
    if len(text) <= longest:
        return text
    half = longest // 2
    return f"{text[:half]} ... [{len(text) - 2 * half:,} characters] ... {text[-half:]}"


TORCH_PLEA = "(Could this error message be improved?"  # torch asks users to report its messages to it


def first_line(exc: BaseException, longest: int = 160) -> str:
    """What another library's exception says, in one line for lmkit's message: its first line that is not blank
    (or its type's name when it says nothing: torch's EOFError on an empty file), without torch's plea to report
    the message to it, and only its first sentence when the line runs on (torch's paragraphs of advice)."""
    line = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    line = line.split(TORCH_PLEA)[0].strip() or type(exc).__name__
    if len(line) > longest and ". " in line[:longest]:
        line = line[: line.index(". ") + 1]
    return line


class LmkitError(Exception):
    """Base class: the CLI turns these into `error: <message>` and exit code 1."""


class CorpusError(LmkitError):
    """A corpus cannot be fetched, read or split."""


class TokenizerError(LmkitError):
    """A tokenizer cannot be built, loaded or applied."""


class VocabError(LmkitError):
    """A vocabulary is invalid or cannot be built with the given cutoffs."""


class ConfigError(LmkitError):
    """An option or hyperparameter is out of range or inconsistent."""


class CheckpointError(LmkitError):
    """A model directory is missing files, incompatible or unsafe."""


class ArpaError(LmkitError):
    """An ARPA file is malformed; the message names the line."""


class TrainingError(LmkitError):
    """Training cannot continue (NaN loss, data too small, ...)."""


class MissingPackageError(LmkitError):
    """An optional package that a feature needs (jieba for --segment jieba) is not installed; the message says
    how to install it."""
