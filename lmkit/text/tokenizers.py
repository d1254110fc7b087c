"""Tokenizers: text <-> ids, the only place text is cut into tokens.

Every tokenizer owns its Vocab. A newline in the text is the end of a
sentence: `encode` turns it into `</s>` and `decode` turns `</s>` back into
"\\n", so `decode(encode(s)) == s` whenever every token of `s` is known.
"""
from __future__ import annotations

import base64
import inspect
import json
import re
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterable

from lmkit.corpus.segmented import plain_text
from lmkit.errors import LmkitError, MissingPackageError, TokenizerError, first_line, printable
from lmkit.files.reading import read_json
from lmkit.files.temporary_names import held_folder
from lmkit.files.writing import write_json_atomic
from lmkit.text import jieba_words
from lmkit.text.punctuation import join_marks, split_marks, symbol_runs
from lmkit.text.spm_proto import NO_DUMMY_PREFIX, reading_part
from lmkit.text.tokenizer_options import checked_options, options_class
from lmkit.text.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, Vocab

SPECIAL_WORD = re.compile("(?<!\\S)(" + "|".join(map(re.escape, SPECIALS)) + ")(?!\\S)")  # a special as a whole word

Around = tuple[list[int], list[list[int]], list[int]]  # ids of the text before a gap, of each filler, of the text after


class Tokenizer:
    """Base class: subclasses define `kind`, `split(line)` and `join(pieces)`."""

    kind: ClassVar[str] = ""

    def __init__(self, vocab: Vocab):
        self.vocab = vocab

    # --- per line -------------------------------------------------------
    def split(self, line: str) -> list[str]:
        raise NotImplementedError

    def join(self, pieces: list[str]) -> str:
        raise NotImplementedError

    def encode_line(self, line: str) -> list[int]:
        return self.vocab.encode(self.split(line))

    def encode_around(self, left: str, right: str, fillers: Iterable[str] = ()) -> Around:
        """Ids of the text before and after a gap in one line, and of each of `fillers` put in it, each part as it
        reads in the filled line `left + filler + right` with no token across the gap's edges. Words and characters
        read the same wherever they stand: each part is encoded on its own."""
        return self.encode_line(left), [self.encode_line(filler) for filler in fillers], self.encode_line(right)

    def filler_starts(self, left: str) -> frozenset[int] | None:
        """The ids a filler may begin with in a gap after `left`, where its tokens must read as typed (None: any)."""
        return None

    def readable_fillers(self, left: str, right: str, fillers: list[list[int]]) -> list[list[int]]:
        """Those of `fillers` (ids) whose text, written in the gap between `left` and `right`, reads as their own
        tokens. Words and characters always do."""
        return fillers

    def space_at_edge(self, text: str) -> bool:
        """Whether this tokenizer reads `text` as beginning or ending with a space."""
        return text != text.strip()

    def reads_like(self, other: "Tokenizer") -> bool:
        """Whether `other` cuts every text into the same tokens (its vocabulary aside): the same kind and settings."""
        return type(other) is type(self) and other.options() == self.options()

    def reading(self, corpus) -> "Tokenizer":
        """This tokenizer as it reads the lines of `corpus` (a corpus split, not typed text)."""
        return self

    # --- whole texts ----------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Ids for `text`; each "\\n" becomes `</s>` (no `</s>` is added after a final unterminated line)."""
        ids: list[int] = []
        lines = text.split("\n")
        for i, line in enumerate(lines):
            ids.extend(self.encode_line(line))
            if i < len(lines) - 1:
                ids.append(EOS_ID)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        lines: list[list[str]] = [[]]
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                lines.append([])
            elif i in (PAD_ID, BOS_ID):
                continue
            else:
                lines[-1].append(self.vocab.token(i))
        return "\n".join(self.join(pieces) for pieces in lines)

    def count(self, lines: Iterable[str]) -> Counter:
        counts: Counter = Counter()
        for line in lines:
            counts.update(self.split(line))
        return counts

    # --- persistence ------------------------------------------------------
    def options(self) -> dict:
        return {}

    def to_json(self) -> dict:
        return {"kind": self.kind, "options": self.options(), "vocab": self.vocab.to_json()}

    @classmethod
    def from_json(cls, obj: dict) -> "Tokenizer":
        options = obj.get("options") or {}
        return cls(Vocab.from_json(obj.get("vocab")), **options)

    def save(self, path: str | Path) -> None:
        write_json_atomic(path, self.to_json())

    @classmethod
    def recorded_options(cls, **options: Any) -> dict:
        """The options() that a tokenizer fitted with `options` (as fit takes them) records, but for a trained
        model's file: what a cached tokenizer must record to cut text as one fitted now would."""
        raise NotImplementedError

    def describe(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.options().items() if k != "model")
        return f"{self.kind}({opts})" if opts else self.kind


def require_flags(**flags) -> None:
    """TokenizerError naming an on/off option that is not true or false (tokenizer.json's "lowercase": "false" read
    as truthy lowercased every text)."""
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise TokenizerError(f"{name} must be true or false, got {printable(json.dumps(value, ensure_ascii=False))}")


class CharTokenizer(Tokenizer):
    """One token per Unicode code point (Chinese characters, emoji, combining marks alike).

    `segmented=True` reads word-segmented text as the plain text it segments (lmkit.corpus.segmented):
    "我 昨天" is the three characters 我 昨 天, with no space among them. A segmented corpus gives it by default.
    """

    kind = "char"

    def __init__(self, vocab: Vocab, segmented: bool = False):
        super().__init__(vocab)
        require_flags(segmented=segmented)
        self.segmented = segmented

    def split(self, line: str) -> list[str]:
        return list(plain_text(line) if self.segmented else line)

    def join(self, pieces: list[str]) -> str:
        return "".join(pieces)

    def options(self) -> dict:
        return {"segmented": True} if self.segmented else {}

    def reading(self, corpus) -> "CharTokenizer":
        """This tokenizer as it reads `corpus`: one built on other text reads a word-segmented corpus (pku98) as
        its plain text, as the corpus's own character tokenizer does (its spaces are markup, not characters);
        the vocabulary and ids are this one's."""
        if self.segmented or not getattr(corpus, "segmented", False):
            return self
        return CharTokenizer(self.vocab, segmented=True)

    @classmethod
    def recorded_options(cls, **options: Any) -> dict:
        return cls(_EMPTY, checked_options(cls.kind, options).segmented).options()

    @classmethod
    def fit(cls, lines: Iterable[str], **options: Any) -> "CharTokenizer":
        """Characters of `lines`; `options` are fields of CharOptions (lmkit.text.tokenizer_options), checked."""
        chosen = checked_options(cls.kind, options)
        counts = cls(_EMPTY, chosen.segmented).count(lines)
        return cls(Vocab.build(counts, chosen.min_freq, chosen.max_size), chosen.segmented)


class WordTokenizer(Tokenizer):
    """Words, optionally lowercased; `segment="jieba"` cuts Chinese into words first.

    `split_punct=True` (the default when fitting) cuts punctuation off words
    (lmkit.text.punctuation: "Hello," is `Hello ,`) and joins tokens back by that
    module's detokenization rule. `split_punct=False` keeps whitespace words; a
    tokenizer.json saved before the option existed loads that way, as it was built.
    `whole_specials=True` (the default when fitting) keeps a whitespace word spelled like a special whole where
    jieba or the punctuation split would cut it: Penn Treebank's and WikiText's `<unk>` is one unknown word.
    """

    kind = "word"

    def __init__(self, vocab: Vocab, lowercase: bool = False, segment: str | None = None, split_punct: bool = False,
                 mend_segments: bool = False, whole_words: bool = False, whole_specials: bool = False):
        super().__init__(vocab)
        if segment not in (None, "jieba"):
            raise TokenizerError(f"unknown word segmenter {segment!r}; choose 'jieba', or none (null in tokenizer.json)")
        require_flags(lowercase=lowercase, split_punct=split_punct, mend_segments=mend_segments,
                      whole_words=whole_words, whole_specials=whole_specials)
        self.lowercase = lowercase
        self.segment = segment
        self.split_punct = split_punct
        self.mend_segments = mend_segments
        self.whole_words = whole_words
        self.whole_specials = whole_specials
        self._cut = jieba_words.jieba_cut() if segment == "jieba" else None

    def split(self, line: str) -> list[str]:
        """The words of `line`. Under whole_specials a whitespace word spelled like a special ("<unk>", as Penn
        Treebank's text marks a rare word) is kept whole, never cut by jieba or at its marks."""
        if self.lowercase:
            line = line.lower()
        if not self.whole_specials:
            return self._words(line)
        parts = SPECIAL_WORD.split(line)  # [text, special, text, special, ..., text]
        return [word for i, part in enumerate(parts) for word in ([part] if i % 2 else self._words(part))]

    def _words(self, text: str) -> list[str]:
        words = text.split() if self._cut is None else [
            word for piece, symbol in symbol_runs(text)  # jieba would cut an emoji sequence apart
            for word in ([piece] if symbol else self._segment(piece)) if not word.isspace()]
        if not self.split_punct:
            return words
        return [piece for word in words for piece in split_marks(word.strip())]

    def _segment(self, text: str) -> list[str]:
        pieces = self._cut(text)
        if self.whole_words:
            return jieba_words.mend(pieces, jieba_words.touch_outside_chinese)
        return jieba_words.mend(pieces) if self.mend_segments else pieces

    def encode_line(self, line: str) -> list[int]:
        """A word spelled like a special ("<s>" in the text) is an ordinary unknown word, never a boundary."""
        get = self.vocab.stoi.get
        return [UNK_ID if word in SPECIALS else get(word, UNK_ID) for word in self.split(line)]

    def join(self, pieces: list[str]) -> str:
        if self.segment is not None and self.whole_words:  # Chinese as it is written, the rest as between spaces
            return jieba_words.join_whole_words(pieces, join_marks if self.split_punct else " ".join)
        if self.segment is not None:  # jieba's words join as Chinese is written
            return jieba_words.join(pieces, self.split_punct) if self.mend_segments else plain_text(" ".join(pieces))
        return join_marks(pieces) if self.split_punct else " ".join(pieces)

    def options(self) -> dict:
        mended = ({"mend_segments": self.mend_segments, "whole_words": self.whole_words}  # only jieba's are mended
                  if self.segment is not None else {})
        cut = {"whole_specials": True} if self.whole_specials and (self.split_punct or self.segment is not None) else {}
        return {"lowercase": self.lowercase, "segment": self.segment, "split_punct": self.split_punct, **mended, **cut}

    @classmethod
    def recorded_options(cls, **options: Any) -> dict:
        return cls.cutting(checked_options(cls.kind, options)).options()

    @classmethod
    def cutting(cls, chosen, vocab: Vocab | None = None) -> "WordTokenizer":
        """A tokenizer that cuts text as `chosen` (WordOptions) says, over `vocab` (none: only for cutting)."""
        return cls(_EMPTY if vocab is None else vocab, lowercase=chosen.lowercase, segment=chosen.segment,
                   split_punct=chosen.split_punct, mend_segments=chosen.mend_segments, whole_words=chosen.whole_words,
                   whole_specials=chosen.whole_specials)

    @classmethod
    def fit(cls, lines: Iterable[str], **options: Any) -> "WordTokenizer":
        """Words of `lines`; `options` are fields of WordOptions (lmkit.text.tokenizer_options), checked."""
        chosen = checked_options(cls.kind, options)
        return cls.cutting(chosen, Vocab.build(cls.cutting(chosen).count(lines), chosen.min_freq, chosen.max_size))


UNK_PIECE = "<unk>"
SPM_UNK_SURFACE = " \u2047 "  # how sentencepiece writes an unknown piece (its trainer's unk_surface, never set here)
SPM_FOLDER = "spm-train"  # the temporary folder sentencepiece trains in (lmkit.files.temporary_names.held_folder)


class SentencePieceTokenizer(Tokenizer):
    """SentencePiece BPE or unigram pieces; the trained model travels inside tokenizer.json."""

    kind = "spm"

    def __init__(self, model_proto: bytes, model_type: str = "bpe"):
        import sentencepiece as spm

        self.model_proto = model_proto
        self.model_type = model_type
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
        self._continuing = None  # the same model without its dummy prefix, built when first needed
        self._word_starts = self._inside_words = None  # the pieces that begin with `▁`, and the others (ids)
        pieces = [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())]
        super().__init__(Vocab(pieces))

    def split(self, line: str) -> list[str]:
        return self.sp.encode(line, out_type=str)

    def encode_line(self, line: str) -> list[int]:
        return self.sp.encode(line)

    def encode_around(self, left: str, right: str, fillers: Iterable[str] = ()) -> Around:
        """Sentencepiece writes a space as `▁` at the start of the piece after it, and starts a line with one (its
        dummy prefix). So a filler after a space, or at the line's start, begins a word: that `▁` is its first
        piece's, not the text's before it. Elsewhere a filler continues the word before it, and only the part
        that starts the line gets the prefix: `the king _ to` is `▁the ▁king | ▁of | ▁to`, `白日依山_，黄河` is
        `▁ 白 日 依 山 | 尽 | ， 黄 河` (encoded apart, each part would add a `▁` of its own). What is a space, and
        how many `▁` it leaves, is the model's own normalizer's to say: each side is read beside a probe letter
        standing for the filler, as the whole line reads, and the probe's pieces are then cut off."""
        probe_pieces = len(self.encode_line(PROBE))  # `▁x`: what the probe is at the start of a word
        if self.starts_word(left):  # no piece crosses the `▁` before the probe: the line's pieces up to it are left's
            left_ids, start = self.encode_line(left + PROBE)[:-probe_pieces], self.encode_line
        else:
            left_ids, start = self.encode_line(left), self._continued
        if self.sp.normalize(PROBE + right).startswith(WORD_MARK + PROBE + WORD_MARK):  # `right` begins a word
            right_ids = self.encode_line(PROBE + right)[probe_pieces:]
        else:
            right_ids = self._continued(right)
        return left_ids, [start(filler) for filler in fillers], right_ids

    def starts_word(self, left: str) -> bool:
        """Whether a filler after `left` begins a word: the model reads the line up to it as ending in a space (or
        the line starts there)."""
        return self.sp.normalize(left + PROBE).endswith(WORD_MARK + PROBE)

    def filler_starts(self, left: str) -> frozenset[int]:
        """The pieces a filler's first may be: those starting with `▁` where it begins a word, the others where it
        continues one (`the king _` is filled by `▁of`, never by `s`, which would be scored as `kings`)."""
        if self._word_starts is None:
            pieces = enumerate(self.vocab.itos)
            self._word_starts = frozenset(i for i, piece in pieces if piece.startswith(WORD_MARK))
            self._inside_words = frozenset(range(len(self.vocab))) - self._word_starts
        return self._word_starts if self.starts_word(left) else self._inside_words

    def space_at_edge(self, text: str) -> bool:
        """Also a typed `▁`, and what the model's normalizer reads as a space (NFKC: a no-break space)."""
        probed = self.sp.normalize(PROBE + text + PROBE)
        return probed.startswith(WORD_MARK + PROBE + WORD_MARK) or probed.endswith(WORD_MARK + PROBE)

    def reads_like(self, other: Tokenizer) -> bool:
        """The same pieces, normalizer and encoding settings: how each model was trained aside (spm_proto)."""
        if type(other) is not type(self) or other.model_type != self.model_type:
            return False
        try:
            return reading_part(other.model_proto) == reading_part(self.model_proto)
        except ValueError:  # a part sentencepiece skips and lmkit cannot read: only the same bytes are the same
            return other.model_proto == self.model_proto

    def readable_fillers(self, left: str, right: str, fillers: list[list[int]]) -> list[list[int]]:
        """Pieces can spell one text in several ways, and a filler's text reads as one of them: `▁ k` is written
        `k`, read `▁k`; a bare `▁` after a space writes nothing. Only the fillers spelt as their text reads stay."""
        _, readings, _ = self.encode_around(left, right, [self.decode(ids) for ids in fillers])
        return [ids for ids, reading in zip(fillers, readings) if list(ids) == reading]

    def _continued(self, text: str) -> list[int]:
        """Ids of `text` where it continues a line: without the `▁` that would start one."""
        if self._continuing is None:
            import sentencepiece as spm

            self._continuing = spm.SentencePieceProcessor(model_proto=self.model_proto + NO_DUMMY_PREFIX)
        return self._continuing.encode(text)

    def join(self, pieces: list[str]) -> str:
        """The text of `pieces`; <unk> written so, as the other tokenizers write it, where sentencepiece writes
        " ⁇ " (unless a piece of the text itself holds a ⁇, which could then not be told from it)."""
        text = self.sp.decode_pieces(pieces)
        if UNK_PIECE in pieces and not any(SPM_UNK_SURFACE.strip() in piece for piece in pieces if piece != UNK_PIECE):
            text = text.replace(SPM_UNK_SURFACE, UNK_PIECE)
        return text

    def options(self) -> dict:
        return {"model_type": self.model_type, "model": base64.b64encode(self.model_proto).decode("ascii")}

    @classmethod
    def from_json(cls, obj: dict) -> "SentencePieceTokenizer":
        options = obj.get("options") or {}
        try:
            proto = base64.b64decode(options["model"], validate=True)
        except (KeyError, ValueError, TypeError) as exc:
            raise TokenizerError("the spm model is missing or not base64") from exc
        if not proto:  # refused before sentencepiece logs its own complaint to stderr
            raise TokenizerError("the spm model is empty")
        try:
            tokenizer = cls(proto, options.get("model_type", "bpe"))
        except (RuntimeError, UnicodeDecodeError) as exc:  # sentencepiece's parse failure; a piece that is not UTF-8
            raise TokenizerError(f"the spm model is not a valid sentencepiece model ({first_line(exc)})") from exc
        vocab = obj.get("vocab")
        listed = vocab.get("tokens") if isinstance(vocab, dict) else None
        if listed is not None and listed != tokenizer.vocab.itos:  # one was changed without the other
            raise TokenizerError(f"its vocabulary ({len(listed):,} tokens) is not its spm model's pieces "
                                 f"({len(tokenizer.vocab):,}): the file was edited or damaged")
        return tokenizer

    def describe(self) -> str:
        return f"spm({self.model_type}, vocab_size={len(self.vocab)})"

    @classmethod
    def recorded_options(cls, **options: Any) -> dict:
        return {"model_type": checked_options(cls.kind, options).model_type}  # and the trained model, its own

    @classmethod
    def fit(cls, lines: Iterable[str], **options: Any) -> "SentencePieceTokenizer":
        """Pieces trained on `lines`; `options` are fields of SpmOptions (lmkit.text.tokenizer_options), checked."""
        import sentencepiece as spm

        chosen = checked_options(cls.kind, options)
        vocab_size, model_type = chosen.vocab_size, chosen.model_type
        if vocab_size <= len(SPECIALS):
            raise TokenizerError(f"--vocab-size must exceed the {len(SPECIALS)} specials, got {vocab_size}")
        # held while sentencepiece trains, so a later fit removes the copy of the text a killed one left
        with held_folder(Path(tempfile.gettempdir()), SPM_FOLDER) as tmp:
            text_path = tmp / "train.txt"
            read, skipped = LineTally(), LineTally()  # lines sentencepiece reads, and those it skips unsaid
            try:
                with open(text_path, "wb") as handle:
                    for line in lines:
                        if line.strip():
                            data = line.encode("utf-8")
                            handle.write(data + b"\n")
                            (read if len(data) <= SPM_MAX_LINE_BYTES else skipped).add(len(data))
            except OSError as exc:
                raise TokenizerError(f"{tmp.parent}: could not write the copy of the training text sentencepiece "
                                     f"reads: {exc.strerror or exc}; point TMPDIR at a folder with room") from exc
            if skipped.bytes > read.bytes:  # it would learn from less than half of the text, or fail on none of it
                share, verb = 100 * skipped.bytes / (skipped.bytes + read.bytes), "is" if skipped.lines == 1 else "are"
                part = f"{share:.0f}%" if round(share) > 50 else "just over 50%"  # exactly half is accepted
                raise TokenizerError(f"sentencepiece learns from lines of at most {SPM_MAX_LINE_BYTES:,} bytes, and "
                                     f"{skipped.lines:,} of the {skipped.lines + read.lines:,} training lines "
                                     f"({part} of the text) {verb} longer (the longest: {skipped.longest:,} "
                                     "bytes): break the text into lines")
            prefix = str(Path(tmp) / "spm")
            try:
                spm.SentencePieceTrainer.train(
                    input=str(text_path), model_prefix=prefix, vocab_size=vocab_size,
                    model_type=model_type, character_coverage=chosen.character_coverage,
                    pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
                    pad_piece="<pad>", unk_piece="<unk>", bos_piece="<s>", eos_piece="</s>",
                    hard_vocab_limit=False, minloglevel=2, num_threads=2,
                    # keep the text exactly as written, so decode(encode(s)) == s: no NFKC, no space collapsing
                    normalization_rule_name="identity", remove_extra_whitespaces=False,
                    input_sentence_size=2_000_000, shuffle_input_sentence=True,
                    max_sentence_length=SPM_MAX_LINE_BYTES,
                )
            except RuntimeError as exc:
                reason = first_line(exc).rsplit("] ", 1)[-1]
                for theirs, ours in SPM_OPTION_NAMES:  # its advice in the names of lmkit's options
                    reason = reason.replace(theirs, ours)
                raise TokenizerError(f"sentencepiece could not train with --vocab-size {vocab_size}: {reason}") from exc
            return cls(Path(prefix + ".model").read_bytes(), model_type)


@dataclass
class LineTally:
    """Lines counted with their UTF-8 bytes: how many, how many bytes in all, the longest."""
    lines: int = 0
    bytes: int = 0
    longest: int = 0

    def add(self, size: int) -> None:
        self.lines, self.bytes, self.longest = self.lines + 1, self.bytes + size, max(self.longest, size)


WORD_MARK = "\u2581"  # ▁: how sentencepiece writes a space, at the start of the piece after it
PROBE = "x"  # a letter every normalizer keeps as it is, standing for a filler while its neighbours are read
SPM_MAX_LINE_BYTES = 65_536  # sentencepiece's default is 4,192: a paragraph per line would be skipped whole
SPM_OPTION_NAMES = ((" or decrease character_coverage with --character_coverage option", ""),  # not an lmkit option
                    ("vocab_size", "--vocab-size"))

_EMPTY = Vocab(list(SPECIALS) + ["<placeholder>"])

TOKENIZERS: dict[str, type[Tokenizer]] = {
    CharTokenizer.kind: CharTokenizer,
    WordTokenizer.kind: WordTokenizer,
    SentencePieceTokenizer.kind: SentencePieceTokenizer,
}


def fit_tokenizer(kind: str, lines: Iterable[str], **options) -> Tokenizer:
    """Build tokenizer `kind` and its vocabulary from training lines only; `options` as its fit takes them
    (fit_tokenizer("word", lines, max_size=10000))."""
    options_class(kind)  # an unknown kind is refused, naming the known ones
    return TOKENIZERS[kind].fit(lines, **options)


def tokenizer_from_json(obj: dict) -> Tokenizer:
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if kind not in TOKENIZERS:
        named = f"its kind is {printable(repr(kind))}" if kind is not None else "it names no kind"
        raise TokenizerError(f"not a tokenizer file: {named} (a tokenizer's is one of {', '.join(TOKENIZERS)})")
    options = obj.get("options", {})  # left out: no options; present, it must be an object (not [], "", null)
    if not isinstance(options, dict):
        raise TokenizerError(f"tokenizer options must be an object, got "
                             f"{printable(json.dumps(options, ensure_ascii=False))}")
    parameters = inspect.signature(TOKENIZERS[kind].__init__).parameters  # spm's model_proto is saved as "model"
    taken = ["model" if name == "model_proto" else name for name in parameters if name not in ("self", "vocab")]
    unknown = [name for name in options if name not in taken]
    if unknown:  # named here: the constructor's TypeError would speak of Python's keyword arguments
        raise TokenizerError(f"its options include ones the {kind!r} tokenizer does not take: "
                             f"{', '.join(printable(repr(name)) for name in unknown)} (it takes "
                             f"{', '.join(taken) or 'none'})")
    try:
        return TOKENIZERS[kind].from_json(obj)
    except TypeError as exc:
        raise TokenizerError(f"tokenizer.json has options that {kind!r} does not take: {exc}") from exc


def load_tokenizer(path: str | Path) -> Tokenizer:
    """The tokenizer saved in `path` (a tokenizer.json); TokenizerError naming the file when it is not one."""
    try:
        return tokenizer_from_json(read_json(path, "tokenizer file"))
    except MissingPackageError:
        raise  # the file is fine; what it needs is not installed
    except LmkitError as exc:
        message = str(exc)
        raise TokenizerError(message if message.startswith(str(path)) else f"{path}: {message}") from exc
