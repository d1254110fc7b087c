"""What a model is evaluated on (a corpus split or a text file), and evaluating a model directory on it.

Every model encodes the text with its own tokenizer (reversing each line
for a backward model); the character count and the digest belong to the
text itself, so bits/char compares models with different tokenizers and the
digest tells whether two evaluations saw the same text. A word-segmented text
(a segmented corpus's split, or a file read as one: `segmented` of from_file)
counts the characters of its plain text, its spaces between words markup.
"""
from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from lmkit.text.encode import encode_lines

from lmkit.corpus.split import unit_chars
from lmkit.corpus.text_files import NO_TEXT, printed, scan_text_file, stream_lines
from lmkit.checkpoint.saved_config import changed_split
from lmkit.errors import CheckpointError, ConfigError, CorpusError
from lmkit.evaluate.perplexity import (ROWS, WINDOW, Evaluation, Progress, UnscorableToken, line_scores, perplexity_of, shown,
                                      summarize, token_logprobs)
from lmkit.files.reading import TEXT_IN_MEMORY_BYTES, read_standard_input
from lmkit.files.text_bytes import STDIN_NAME
from lmkit.files.writing import atomic_write
from lmkit.text.id_cache import encoded_split
from lmkit.text.vocab import UNK_ID


@dataclass
class EvalText:
    """A text to score: `label` for people, `digest` for machines, `chars` newlines included."""

    label: str
    digest: str
    chars: int
    corpus: object | None = None
    split: str | None = None
    file_path: Path | None = None
    file_lines: list[str] | None = field(default=None, repr=False)  # a text made in memory (n-best hypotheses)
    encoding_errors: str = "strict"  # how the bytes of file_path that are not UTF-8 are read

    @classmethod
    def from_split(cls, corpus, split: str) -> "EvalText":
        stats = corpus.split_stats(split)
        digest = stats.get("sha256") or f"{corpus.name}:{split}"
        return cls(f"{corpus.name} {split}", digest, corpus.num_chars(split), corpus=corpus, split=split)

    @classmethod
    def from_file(cls, path: str | Path, encoding_errors: str = "strict", segmented: bool = False) -> "EvalText":
        """A text file, checked and then read line by line (never whole), so its size is not bounded by memory;
        `segmented`: read as word-segmented text (text_digest)."""
        path = Path(path)
        scan_text_file(path, encoding_errors)  # a regular file of UTF-8 text, without a NUL byte or an endless line
        digest, chars = text_digest(stream_lines(path, encoding_errors), path, "file is empty", segmented)
        return cls(str(path), digest, chars, file_path=path, encoding_errors=encoding_errors)

    @classmethod
    def from_standard_input(cls, encoding_errors: str = "strict", segmented: bool = False) -> "EvalText":
        """Standard input (`--file -`), read whole into memory: at most TEXT_IN_MEMORY_BYTES, checked as for a file."""
        text = read_standard_input(TEXT_IN_MEMORY_BYTES, "as a text to score (save a larger one to a file)",
                                   encoding_errors)
        lines = text.split("\n")
        if lines and not lines[-1]:
            lines.pop()  # the final line end ends the last line; it starts no empty one
        digest, chars = text_digest(lines, STDIN_NAME, "is empty; pipe in the text to score", segmented)
        return cls(STDIN_NAME, digest, chars, file_lines=lines)

    def lines(self) -> Iterator[str]:
        if self.corpus is not None:
            return self.corpus.lines(self.split)
        if self.file_lines is not None:
            return iter(self.file_lines)
        return stream_lines(self.file_path, self.encoding_errors) if self.file_path is not None else iter(())

    def reader(self, tokenizer):
        """`tokenizer` as it reads this text (a segmented corpus is plain text to a character tokenizer)."""
        return tokenizer.reading(self.corpus) if self.corpus is not None else tokenizer

    def stream(self, tokenizer, reverse: bool = False) -> np.ndarray:
        """The text as the model sees it: ids of each line, then `</s>` (cached for corpus splits)."""
        if self.corpus is not None:
            return np.asarray(encoded_split(self.corpus, tokenizer, self.split, reverse))
        return encode_lines(tokenizer, self.lines(), reverse=reverse)


def text_digest(lines: Iterable[str], name: str | Path, empty: str, segmented: bool = False) -> tuple[str, int]:
    """(sha256, characters) of the `lines` of text `name`, each with its line end (a missing final newline still ends
    a line; `segmented`: word-segmented text, whose characters are those of its plain text, as a segmented corpus's
    splits count them); CorpusError naming it, saying `empty` where there are none, and where none holds text: a
    perplexity of line ends alone measures nothing, and `lmkit train` refuses such a text too."""
    digest, chars, count, shows = hashlib.sha256(), 0, 0, False
    for line in lines:
        digest.update((line + "\n").encode("utf-8"))
        chars += unit_chars([line], segmented)
        count += 1
        shows = shows or printed(line)
    if not count:
        raise CorpusError(f"{name}: {empty}")
    if not shows:
        raise CorpusError(f"{name}: {NO_TEXT}")
    return digest.hexdigest(), chars


def segmented_reading(config: dict, tokenizer) -> str | None:
    """Why a model reads the texts it scores as word-segmented text, the spaces between words markup and not
    characters (lmkit.corpus.segmented): it was trained on a segmented corpus (pku98), or its character tokenizer
    reads text so; None where neither holds."""
    from lmkit.corpus.sources import CORPORA

    named = CORPORA.get(config.get("corpus") or "")
    if named is not None and named.segmented:
        return f"the model was trained on {named.name}, word-segmented text"
    if getattr(tokenizer, "segmented", False):
        return "the model's character tokenizer reads it as the plain text its words spell"
    return None


def is_backward(config: dict) -> bool:
    return config.get("direction") == "backward"


SPLIT_ADVICE = "pass --corpus NAME or --train PATH"  # what names a text where no --file is taken (lmkit report)


def default_text(config: dict, source: Path, split: str, advice: str = SPLIT_ADVICE) -> EvalText:
    """The split of the corpus a model was trained on (config.json's "corpus"; an ARPA file names none);
    `advice` ends the error when that corpus is not there."""
    from lmkit.corpus.catalog import get_corpus, missing_local_corpus

    name = config.get("corpus")
    if not name:
        what = f"{source}/config.json names" if Path(source).is_dir() else f"{source} is an ARPA file, which names"
        raise ConfigError(f"{what} no corpus; {advice}")
    try:
        corpus = get_corpus(name)
    except CorpusError as exc:
        missing = missing_local_corpus(name)
        if missing is None:
            raise  # fetchable, or there and damaged: the corpus's own error says what is wrong
        raise CorpusError(f"{source} was trained on the corpus {missing}; {advice}") from exc
    return model_split_text(config, source, corpus, split)


def model_split_text(config: dict, source: Path, corpus, split: str) -> EvalText:
    """`split` of `corpus`, to score the model of `config` (at `source`) on; CheckpointError where `corpus` is the
    one the model was trained on (by name, or its --train files as split before corpus format 2) but a split it
    read in training is not the text it read (config.json keeps their hashes): split afresh since, or edited, its
    held-out splits may hold text the model was trained on (pass 88: a 3-gram's test perplexity 156.7 read 13.9)."""
    from lmkit.corpus.local import split_before_format_2

    name = config.get("corpus")
    if name and (name == corpus.name or split_before_format_2(name, corpus)):
        changed = changed_split(config, corpus) if name == corpus.name else "train"
        if changed is not None:
            again = "" if name == corpus.name else f" in {corpus.name!r}, the same files split afresh,"
            raise CheckpointError(f"{source}/config.json: \"corpus\": {name!r} is not the text this model was "
                                  f"trained on (the sha256 of its {changed} split{again} is not the one \"train\" "
                                  "records: was config.json edited, or the corpus split afresh or changed since?), "
                                  "and its held-out text may be text the model was trained on; score other text "
                                  "with --file")
    return EvalText.from_split(corpus, split)


@dataclass
class ModelScores:
    """One model's evaluation on one text, with the per-token detail needed for per-line output and mixing."""

    evaluation: Evaluation
    stream: np.ndarray      # (N,) token ids, as the model's tokenizer encoded the text
    logp: np.ndarray        # (N,) natural-log probability of each
    backward: bool = False  # the stream holds each line reversed (a backward model's)


def score_text(model, tokenizer, config: dict, text: EvalText, reset_per_line: bool = False,
               rows: int = ROWS, window: int = WINDOW, device: str | torch.device = "cpu",
               progress: Progress | None = None, zero_allowed: bool = False) -> ModelScores:
    """Evaluate a loaded model on `text` (the whole text in order, state carried, unless reset_per_line); tokens of
    probability zero refused unless `zero_allowed` (a member of a mixture: summarize)."""
    backward = is_backward(config)
    stream = text.stream(tokenizer, reverse=backward)
    if isinstance(model, torch.nn.Module):
        model.to(device)
    logp = token_logprobs(model, stream, reset_per_line=reset_per_line, rows=rows, window=window, device=device,
                          progress=progress)
    try:
        evaluation = summarize(stream, logp, text.chars, tokenizer.vocab, text.label, zero_allowed, backward)
    except UnscorableToken as exc:
        raise with_written_token(exc, text, tokenizer) from None
    return ModelScores(evaluation, stream, logp, backward)


def with_written_token(exc: UnscorableToken, text: EvalText, tokenizer) -> UnscorableToken:
    """`exc` with the token as `text` writes it where the model read `<unk>` (a character outside the vocabulary
    could not be found by that name); unchanged where the line's pieces are not its ids one for one."""
    where = exc.where
    if where.token != tokenizer.vocab.token(UNK_ID) or where.line is None or where.column < 1:
        return exc
    line = next(itertools.islice(text.lines(), where.line - 1, None), None)
    if line is None:
        return exc
    reader = text.reader(tokenizer)
    pieces = reader.split(line)
    if len(pieces) != len(reader.encode_line(line)) or where.column > len(pieces):
        return exc
    return exc.located(written=pieces[where.column - 1])


PER_LINE_HEADER = "line\ttokens\toov\tlogprob\tlog10prob\tperplexity\n"


def write_line_scores(path: str | Path, scores: ModelScores, replace: bool = True) -> int:
    """One TSV row per line of the text: 1-based line number, predicted tokens (`</s>` included), OOVs,
    log-probability in nats and in log10 (KenLM's unit), and the line's own perplexity. Returns the rows.
    Without `replace`, a file there (made while the text was scored) is kept and WriteError raised."""
    lines = line_scores(scores.stream, scores.logp)
    with atomic_write(path, "w", encoding="utf-8", follow_link=True, replace=replace) as handle:
        handle.write(PER_LINE_HEADER)
        for number, (logprob, tokens, oov) in enumerate(zip(lines.logprob, lines.tokens, lines.oov), start=1):
            perplexity = perplexity_of(-logprob / max(tokens, 1))
            handle.write(f"{number}\t{tokens}\t{oov}\t{logprob:.6f}\t{logprob / np.log(10):.6f}\t{shown(perplexity, 0)}\n")
    return len(lines.tokens)
