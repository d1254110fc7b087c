"""N-best lists and references as files hold them, read strictly: a bad line is named as FILE:LINE.

    lists = read_tsv("nbest.tsv")                        # utt-id <TAB> hypothesis <TAB> first-pass score
    lists = read_kaldi("nbest.txt", "nbest.scores")      # Kaldi: "utt-id-N hyp ..." and "utt-id-N score"
    refs = read_refs("text", lists)                      # "utt-id reference ...", one for every utterance

A first-pass score is a log-score, higher is better (a log-probability); the
Kaldi hypothesis ids `UTT-1`, `UTT-2`, ... are grouped by the part before
the last `-N`. Blank lines are skipped. Utterances keep the order in which
they first appear, hypotheses the order of the file.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from lmkit.corpus.text_files import NO_TEXT
from lmkit.errors import LmkitError
from lmkit.files.reading import read_text


class NBestError(LmkitError):
    """An n-best list, score file or reference file is malformed; the message names file and line."""


@dataclass(frozen=True)
class Hypothesis:
    utterance: str
    text: str
    score: float        # first-pass log-score, higher is better
    where: str          # "FILE:LINE", for messages


NBest = dict  # utterance id -> list[Hypothesis], in file order


def numbered_lines(path: Path) -> list[tuple[int, str]]:
    """The file's non-blank lines with their 1-based numbers; a file without one is refused."""
    text = read_text(path)
    lines = [(n, line) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    if not lines:
        raise NBestError(f"{path}: {NO_TEXT if text else 'file is empty'}")
    return lines


def parse_score(text: str, where: str) -> float:
    """A first-pass score: a plain ASCII number (Python's float() also reads '1_000' and full-width digits,
    which no recognizer writes), finite."""
    try:
        if not text.isascii() or "_" in text:
            raise ValueError(text)
        value = float(text)
    except ValueError:
        raise NBestError(f"{where}: the score must be a number, got {text.strip()!r}") from None
    if not math.isfinite(value):
        raise NBestError(f"{where}: the score must be a finite number, got {text.strip()!r}")
    return value


def read_tsv(path: str | Path, costs: bool = False) -> NBest:
    """utt-id, hypothesis and first-pass score separated by tabs (`costs`: scores are costs, lower is better)."""
    path = Path(path)
    lists: NBest = {}
    for number, line in numbered_lines(path):
        fields = line.split("\t")
        where = f"{path}:{number}"
        if len(fields) != 3:
            raise NBestError(f"{where}: expected 3 tab-separated fields (utterance id, hypothesis, score), "
                             f"got {len(fields)}")
        utterance, text, score = fields[0].strip(), fields[1].strip(), parse_score(fields[2], where)
        if not utterance:
            raise NBestError(f"{where}: the utterance id is empty")
        lists.setdefault(utterance, []).append(Hypothesis(utterance, text, -score if costs else score, where))
    return lists


def id_and_rest(line: str) -> tuple[str, str]:
    """'utt-1 the cat' -> ('utt-1', 'the cat'); the id ends at the first space or tab."""
    parts = line.strip().split(maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def kaldi_utterance(hypothesis_id: str) -> str:
    """'utt7-3' -> 'utt7' (Kaldi numbers the hypotheses of an utterance UTT-1, UTT-2, ...)."""
    stem, dash, number = hypothesis_id.rpartition("-")
    return stem if dash and stem and number.isdigit() else hypothesis_id


def read_scores(path: Path) -> dict[str, tuple[float, str]]:
    """'hypothesis-id score' lines -> id -> (score, FILE:LINE)."""
    scores: dict[str, tuple[float, str]] = {}
    for number, line in numbered_lines(path):
        key, rest = id_and_rest(line)
        where = f"{path}:{number}"
        if key in scores:
            raise NBestError(f"{where}: {key!r} is scored twice (first at {scores[key][1]})")
        scores[key] = (parse_score(rest, where), where)
    return scores


def read_kaldi(path: str | Path, scores_path: str | Path, costs: bool = False) -> NBest:
    """Kaldi's n-best text (`UTT-N hyp ...`) with a score file (`UTT-N score`) beside it."""
    path, scores_path = Path(path), Path(scores_path)
    scores = read_scores(scores_path)
    lists: NBest = {}
    seen: set[str] = set()
    for number, line in numbered_lines(path):
        where = f"{path}:{number}"
        if line.count("\t") == 2:  # utt-id, hypothesis, score: a list that carries its own scores
            raise NBestError(f"{where}: three tab-separated fields, as in a TSV n-best list, which carries its own "
                             f"scores; a scores file ({scores_path}) goes only with Kaldi's `UTT-N hyp ...` text")
        key, text = id_and_rest(line)
        if key in seen:
            raise NBestError(f"{where}: hypothesis id {key!r} appears twice")
        if key not in scores:
            raise NBestError(f"{where}: {key!r} has no score in {scores_path}")
        seen.add(key)
        score = scores[key][0]
        lists.setdefault(kaldi_utterance(key), []).append(
            Hypothesis(kaldi_utterance(key), text, -score if costs else score, where))
    extra = [entry for key, entry in scores.items() if key not in seen]
    if extra:
        raise NBestError(f"{extra[0][1]}: this score's hypothesis is not in {path}")
    return lists


def read_refs(path: str | Path, lists: NBest) -> dict[str, str]:
    """'utt-id reference' lines; every utterance of `lists` must have one."""
    path = Path(path)
    refs: dict[str, str] = {}
    for number, line in numbered_lines(path):
        key, text = id_and_rest(line)
        if key in refs:
            raise NBestError(f"{path}:{number}: utterance {key!r} has two references")
        refs[key] = text
    for utterance, hypotheses in lists.items():
        if utterance not in refs:
            raise NBestError(f"{hypotheses[0].where}: utterance {utterance!r} has no reference in {path}")
    return refs
