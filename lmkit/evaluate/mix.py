"""Evaluate an interpolation of models (directories or ARPA files), tuning the weights on held-out text first.

Each member scores the tuning text and the test text once; the mixture's
per-token log-probabilities are then exact combinations of the members'
(p = sum_i w_i p_i), the same numbers `Interpolated` gives token by token.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from lmkit.checkpoint.model_source import GIVEN, LoadedModel, open_models
from lmkit.config.path_text import check_path_text
from lmkit.errors import ConfigError
from lmkit.evaluate.perplexity import MIXTURE_ADVICE, NO_MEMBER_ADVICE, scored_by, summarize
from lmkit.evaluate.text import EvalText, ModelScores, is_backward, score_text
from lmkit.models.mix import check_same_vocab, check_weights, mix_logprobs, tune_weights


@dataclass
class MixResult:
    names: list[str]
    weights: np.ndarray
    tuned_on: str | None            # label of the text the weights were tuned on (None: weights given)
    members: list[ModelScores]      # each member alone on the test text
    mixture: ModelScores


def load_members(paths: Sequence[str | Path], tokenizer=None, tokenizer_source: str = GIVEN) -> list[LoadedModel]:
    """The models to mix (directories or ARPA files; `tokenizer` for the ARPA files), checked to fit together."""
    if len(paths) < 2:
        raise ConfigError(f"--mix needs at least two models separated by commas, got {len(paths)}")
    members = open_models(paths, tokenizer, tokenizer_source)
    check_same_vocab([m.model for m in members], [m.name for m in members])
    if len({is_backward(m.config) for m in members}) > 1:
        raise ConfigError("--mix: forward and backward models read the text in different orders and cannot be mixed")
    return members


def member_scores(members: list[LoadedModel], text: EvalText, **scoring) -> list[ModelScores]:
    """Each member's scores on `text`. Of several, one may give a token probability zero (an unsmoothed N-gram):
    the mixture is refused only where every member weighed does (`mixed`)."""
    scores = []
    for m in members:
        with scored_by(m.name, m.zero_probability_advice):
            scores.append(score_text(m.model, m.tokenizer, m.config, text, zero_allowed=len(members) > 1, **scoring))
    for member, score in zip(members[1:], scores[1:]):
        if not np.array_equal(score.stream, scores[0].stream):
            raise ConfigError(f"--mix: {member.name} tokenizes {text.label} differently from {members[0].name} "
                              "although the vocabularies match; their tokenizers' options differ")
    return scores


def evaluate_mix(members: Sequence[LoadedModel], weights: str | Sequence[float], text: EvalText,
                 tune_text: EvalText | None = None, **scoring) -> MixResult:
    """Mix `members` (from load_members) with `weights` (or "auto": EM on `tune_text`) and score `text`."""
    if weights == "auto":
        if tune_text is None:
            raise ConfigError("--weights auto needs validation text to tune on")
        tuned = member_scores(members, tune_text, **scoring)
        chosen = tune_weights([s.logp for s in tuned])
        tuned_on = tune_text.label
    else:
        chosen, tuned_on = check_weights(weights, len(members)), None
    scores = member_scores(members, text, **scoring)
    names = [m.name for m in members]
    return MixResult(names, chosen, tuned_on, scores, mixed(scores, chosen, text, names, members[0].tokenizer.vocab))


def mixed(scores: list[ModelScores], weights: Sequence[float], text: EvalText, names: Sequence[str],
          vocab=None) -> ModelScores:
    """The mixture's scores on `text`, from its members' scores on the same text (members `names`, their one
    `vocab`): a token every member of positive weight gives probability zero is refused, naming the mixture."""
    logp = mix_logprobs([s.logp for s in scores], weights)
    zero = np.flatnonzero(np.isneginf(logp))
    none_scores = len(zero) and all(np.isneginf(s.logp[zero[0]]) for s in scores)  # weights cannot help there
    with scored_by(f"the mixture of {', '.join(names)} (weights {', '.join(map(shown_weight, weights))})",
                   NO_MEMBER_ADVICE if none_scores else MIXTURE_ADVICE):
        summary = summarize(scores[0].stream, logp, text.chars, vocab, text.label, backward=scores[0].backward)
    return ModelScores(summary, scores[0].stream, logp, scores[0].backward)


FULL_WIDTH_COMMA = "，"


def comma_hint(value: str) -> str:
    """What to add to a refusal of a comma-separated option value typed with full-width commas."""
    return f" (separate them with ',', not the full-width '{FULL_WIDTH_COMMA}')" if FULL_WIDTH_COMMA in value else ""


def shown_weight(weight: float) -> str:
    """A mixture weight for people: 6 significant digits, so that a small weight never reads as 0 (1e-06)."""
    return f"{weight:.6g}"


def mix_paths(mix: str) -> list[Path]:
    """--mix's model paths: two or more, separated by commas, none empty."""
    parts = [part.strip() for part in mix.split(",")]
    paths = [Path(part) for part in parts if part]
    if len(paths) >= 2 and "" in parts:  # `a,,b` was read as `a,b`: an item left out, or a typo
        raise ConfigError(f"--mix {mix!r}: an empty model path among its commas; name every model")
    if len(paths) < 2:
        raise ConfigError(f"--mix needs at least two models separated by commas, got {mix!r}{comma_hint(mix)}")
    for path in paths:
        check_path_text("--mix", str(path))  # as every path option's text is checked (lmkit.commands.output_paths)
        if FULL_WIDTH_COMMA in str(path) and not path.exists():
            raise ConfigError(f"--mix: {path}: no such model directory or ARPA file{comma_hint(str(path))}")
    return paths


def parse_weights(value: str) -> str | list[float]:
    """'auto' or comma-separated numbers: plain ASCII ones (Python's float() also takes '1_0' for 10, and other
    scripts' digits, which nobody types as a weight)."""
    if value.strip() == "auto":
        return "auto"
    refused = ConfigError(f"--weights must be 'auto' or numbers separated by commas, got {value!r}{comma_hint(value)}")
    if not value.isascii() or "_" in value:
        raise refused
    try:
        return [float(part) for part in value.split(",")]
    except ValueError as exc:
        raise refused from exc
