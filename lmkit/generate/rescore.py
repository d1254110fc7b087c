"""N-best rescoring: first-pass score + weight x LM log-probability + bonus x tokens, the weights tuned for error rate.

    config = RescoreConfig()
    lm, tokens, _ = lm_scores(members, mix_weights, texts)                      # (H,) each
    table = Candidates.build(lists, lm, tokens)                                 # (U, K) arrays, padded
    weight, bonus = tune(table, refs_errors, config)                            # grid search on a dev set
    best = table.best(weight, bonus)                                            # (U,) index of each winner

The LM log-probability is in nats, each hypothesis scored as a sentence of
its own (from `<s>` to `</s>`); tokens are the LM's tokens of the hypothesis
(`</s>` not counted). Tuning searches weights 0 and a geometric grid up to
--max-weight, and per-token bonuses of weight x t for t evenly from
-max_bonus to +max_bonus nats, minimising the total errors on the dev set;
among equal grid points it takes the middle one (smaller bonuses first).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from lmkit.config.settings import setting
from lmkit.evaluate.mix import mixed, member_scores
from lmkit.evaluate.perplexity import Evaluation, line_scores
from lmkit.evaluate.text import EvalText


@dataclass(frozen=True)
class RescoreConfig:
    lm_weight: float = setting(1.0, "Weight of the LM log-probability (nats) when not tuned.", low=0, high=1e6)
    length_bonus: float = setting(0.0, "Score added per LM token (a sentence's </s> not counted) when not tuned.", low=-1e6, high=1e6)
    tune: bool = setting(True, "With references: tune the weight and bonus on the dev set for the lowest error rate.")
    max_weight: float = setting(20.0, "Tuning: the largest LM weight tried.", low=0, low_open=True, high=1e6)
    weight_steps: int = setting(31, "Tuning: LM weights tried (0 and a geometric grid up to --max-weight).",
                                low=2, high=1000)
    max_bonus: float = setting(2.0, "Tuning: largest per-token bonus tried, in nats of LM score, so in the total "
                               "score up to this times the LM weight (the length bonus printed is that product).",
                               low=0, high=100)
    bonus_steps: int = setting(9, "Tuning: bonuses tried, evenly from -max to +max nats of LM score (1: no bonus).",
                               low=1, high=1000)
    dev_fraction: float = setting(0.5, "Without --dev-nbest: this fraction of the utterances (chosen by a hash of "
                                  "their ids) tunes, the rest measure.", low=0, low_open=True, high=1, high_open=True)


@dataclass
class Candidates:
    """Every hypothesis of every utterance as (U, K) arrays, padded with `valid` False."""

    utterances: list[str]
    hypotheses: list[list]          # [u][k] Hypothesis
    first: np.ndarray               # (U, K) first-pass log-score
    lm: np.ndarray                  # (U, K) LM log-probability, nats
    tokens: np.ndarray              # (U, K) LM tokens
    valid: np.ndarray               # (U, K) bool

    @classmethod
    def build(cls, lists: dict, lm: np.ndarray, tokens: np.ndarray) -> "Candidates":
        """`lists` utterance -> hypotheses; `lm`, `tokens` (H,) for the hypotheses in that order."""
        utterances = list(lists)
        width = max(len(h) for h in lists.values())
        shape = (len(utterances), width)
        first, lm_table, token_table = np.zeros(shape), np.zeros(shape), np.zeros(shape)
        valid = np.zeros(shape, dtype=bool)
        at = 0
        for u, utterance in enumerate(utterances):
            count = len(lists[utterance])
            first[u, :count] = [h.score for h in lists[utterance]]
            lm_table[u, :count], token_table[u, :count] = lm[at:at + count], tokens[at:at + count]
            valid[u, :count] = True
            at += count
        return cls(utterances, [lists[u] for u in utterances], first, lm_table, token_table, valid)

    def totals(self, weight: float, bonus: float) -> np.ndarray:
        """(U, K) combined scores, -inf where there is no hypothesis."""
        total = self.first + weight * self.lm + bonus * self.tokens
        return np.where(self.valid, total, -np.inf)

    def best(self, weight: float, bonus: float) -> np.ndarray:
        """(U,) index of each utterance's winner (the earlier hypothesis on a tie)."""
        return np.argmax(self.totals(weight, bonus), axis=1)

    def subset(self, rows: np.ndarray) -> "Candidates":
        return Candidates([self.utterances[i] for i in rows], [self.hypotheses[i] for i in rows], self.first[rows],
                          self.lm[rows], self.tokens[rows], self.valid[rows])


def all_hypotheses(lists: dict) -> list:
    """Every utterance's hypotheses, in the lists' order: the order lm_scores scores `all_texts` in."""
    return [h for hypotheses in lists.values() for h in hypotheses]


def all_texts(lists: dict) -> list[str]:
    return [h.text for h in all_hypotheses(lists)]


def lm_scores(members: Sequence, weights: Sequence[float], texts: list[str], **scoring
              ) -> tuple[np.ndarray, np.ndarray, list[Evaluation]]:
    """(H,) log-probability in nats and (H,) tokens of each text as a sentence of its own, under one model
    (`members` of one) or the interpolation of several with `weights`; and each member's Evaluation of the texts
    (its OOVs counted as lmkit eval counts them)."""
    digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()
    text = EvalText("n-best hypotheses", digest, sum(len(t) + 1 for t in texts), file_lines=texts)
    scores = member_scores(list(members), text, reset_per_line=True, **scoring)
    chosen = scores[0] if len(scores) == 1 else mixed(scores, weights, text, [m.name for m in members],
                                                     members[0].tokenizer.vocab)
    lines = line_scores(chosen.stream, chosen.logp)
    return (np.asarray(lines.logprob, dtype=np.float64), np.asarray(lines.tokens, dtype=np.float64) - 1,
            [member.evaluation for member in scores])


def dev_rows(utterances: list[str], fraction: float) -> np.ndarray:
    """Which utterances tune when no dev set is given: a stable hash of the id below `fraction` (bool (U,))."""
    def position(name: str) -> float:
        return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") / 2**64

    return np.asarray([position(u) < fraction for u in utterances], dtype=bool)


def error_table(table: Candidates, refs: dict, count) -> np.ndarray:
    """(U, K) errors of each hypothesis against its utterance's reference (`count(hyp, ref)`)."""
    errors = np.zeros(table.first.shape)
    for u, (utterance, hypotheses) in enumerate(zip(table.utterances, table.hypotheses)):
        errors[u, : len(hypotheses)] = [count(h.text, refs[utterance]) for h in hypotheses]
    return errors


def grid(config: RescoreConfig) -> list[tuple[float, float]]:
    """(weight, per-token t) points, smaller |t| first; the bonus is weight x t."""
    weights = [0.0, *np.geomspace(config.max_weight / 1000, config.max_weight, config.weight_steps - 1)]
    spread = np.linspace(-config.max_bonus, config.max_bonus, config.bonus_steps) if config.bonus_steps > 1 else [0.0]
    bonuses = sorted(spread, key=abs)
    return [(float(w), float(t)) for t in bonuses for w in weights]


def tune(table: Candidates, errors: np.ndarray, config: RescoreConfig) -> tuple[float, float]:
    """The (weight, bonus) of the grid with the fewest errors on `table`: of equal points, those with the
    smallest bonus, then the middle weight of those (a plateau's centre generalises better than its edge)."""
    rows = np.arange(len(table.utterances))
    totals = [(errors[rows, table.best(w, w * t)].sum(), w, t) for w, t in grid(config)]
    fewest = min(total for total, _, _ in totals)
    tied = [(w, t) for total, w, t in totals if total == fewest]
    same_bonus = [w for w, t in tied if t == tied[0][1]]
    weight = same_bonus[(len(same_bonus) - 1) // 2]
    return weight, weight * tied[0][1]
