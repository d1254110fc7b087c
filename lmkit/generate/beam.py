"""Beam search, and the two things it needs: a model that reorders its state's streams
(lmkit.models.base.ReordersStreams), and a best-first ranking whose ties match argmax (so
beam 1 is exactly greedy).

Written against the LanguageModel protocol like lmkit.generate.sampling, whose SamplingConfig,
Sample and priming it shares; lmkit.generate.decode hands configs with `beam` set here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from lmkit.errors import ConfigError
from lmkit.generate.sampling import (NEG_INF, PER_TOKEN, Sample, SamplingConfig, banned_ids, no_empty_line, prime,
                                     starts_line, step_kernels)
from lmkit.models.base import ReordersStreams, evaluating, model_device


def state_selector(model) -> Callable:
    """`model.select_state`: every model that beam search runs on declares how its state's streams are
    reordered (lmkit.models.base.ReordersStreams); guessing the batch dimension from shapes is not safe."""
    if not isinstance(model, ReordersStreams):
        raise ConfigError(f"a {getattr(model, 'kind', type(model).__name__)} model cannot reorder its streams "
                          "(it has no select_state), so beam search cannot run on it")
    return model.select_state


@dataclass
class Beams:
    """Hypotheses of a beam search, one row each (K rows)."""

    scores: torch.Tensor     # (K,) total log-prob; -inf marks an empty row
    ids: torch.Tensor        # (K, t) generated ids
    logprobs: torch.Tensor   # (K, t) the model's log-prob of each
    sentences: torch.Tensor  # (K,) sentences written so far: `</s>` closing a line with generated text
    parents: torch.Tensor    # (K,) the row of the previous step each one extends

    @classmethod
    def start(cls, width: int, device) -> "Beams":
        scores = torch.full((width,), NEG_INF, device=device)
        scores[0] = 0.0  # all rows start identical: expand only the first
        empty = torch.zeros(width, 0, device=device)
        rows = torch.arange(width, device=device)
        return cls(scores, empty.long(), empty, torch.zeros_like(rows), rows)

    def extend(self, parents: torch.Tensor, ids: torch.Tensor, logp: torch.Tensor, eos: int) -> "Beams":
        """Candidates: row parents[i] followed by ids[i]; logp (K, V) is the model's last output.

        A `</s>` counts as a sentence only after generated text, as in sampling: the first one may
        close the prompt's own line, and one after another `</s>` is an empty line."""
        step_logp = logp[parents, ids]
        previous = self.ids[parents, -1] if self.ids.shape[1] else torch.full_like(ids, eos)
        return Beams(self.scores[parents] + step_logp,
                     torch.cat([self.ids[parents], ids[:, None]], dim=1),
                     torch.cat([self.logprobs[parents], step_logp[:, None]], dim=1),
                     self.sentences[parents] + ((ids == eos) & (previous != eos)), parents)

    def take(self, rows: torch.Tensor, width: int) -> "Beams":
        """Rows `rows`, padded to `width` with empty copies of the first."""
        empty = width - len(rows)
        rows = torch.cat([rows, rows[:1].expand(empty)])
        scores = self.scores[rows].clone()
        scores[width - empty :] = NEG_INF
        return Beams(scores, self.ids[rows], self.logprobs[rows], self.sentences[rows], self.parents[rows])

    def samples(self, rows: torch.Tensor, complete: torch.Tensor, alpha: float) -> list[Sample]:
        out = []
        for r in rows.tolist():
            ids, logprobs = self.ids[r].tolist(), self.logprobs[r].tolist()
            score = float(self.scores[r]) / max(len(ids), 1) ** alpha
            out.append(Sample(ids, logprobs, score, finished=bool(complete[r])))
        return out


def best_first(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Indexes of the `count` highest of a 1-D tensor, best first; ties go to the lower index, as in argmax."""
    if count == 0:
        return torch.zeros(0, dtype=torch.long, device=scores.device)
    threshold = scores.topk(count).values[-1]
    chosen = torch.cat([(scores > threshold).nonzero()[:, 0], (scores == threshold).nonzero()[:, 0]])[:count]
    return chosen[scores[chosen].sort(descending=True, stable=True).indices]


def still_in_reach(totals: torch.Tensor, length: int, finished: list[Sample], width: int, alpha: float) -> bool:
    """Whether a hypothesis still going, with these (n,) total log-probs over `length` tokens, may yet be among the
    `width` best: fewer than `width` have ended (one cut at max_tokens has not), or one scores above the width-th
    of them as far as it has gone (total / length ** alpha). More tokens only lower a total, so at alpha 0 this is
    exact: no hypothesis that stops is better than the complete ones. At alpha > 0 a very likely ending could
    still raise a mean, which this does not wait for (as the usual early stop of beam search). Stopping at the
    K-th completion instead returned worse text than greedy: short, unlikely lines complete first while the
    likely one is still going. (A wider beam can still prune greedy's path before it ends: beam search is not
    monotone in its width.)"""
    ended = sorted((sample.score for sample in finished if sample.finished), reverse=True)
    if len(ended) < width:
        return True
    kth = ended[width - 1]
    return bool(totals.max() / length ** alpha > kth)


def beam_search(model, prompt_ids: list[int], config: SamplingConfig) -> list[Sample]:
    """The `config.beam` best continuations, best first, by total log-prob / length ** length_penalty.

    A hypothesis is complete when it emits the `</s>` ending its config.sentences-th sentence (a
    line of generated text, as in sampling) or at max_tokens. Of each step's 2K best candidates,
    those ranked within the top K may complete and the best K others go on (so beam 1 is exactly
    greedy); the search stops once K have ended and no hypothesis still going scores, as far as it
    has gone, above the K-th of them (still_in_reach). Ended hypotheses come first, best first, then
    any cut at max_tokens. As greedy decoding, it writes no empty line (sampling.no_empty_line).
    """
    config.validate(model.vocab)
    width, eos, size = config.beam, model.vocab.eos_id, len(model.vocab)
    penalty = PER_TOKEN if config.length_penalty is None else config.length_penalty
    banned = banned_ids(model.vocab, config.allow_unk, model_device(model))
    select_state = state_selector(model)
    finished: list[Sample] = []
    with evaluating(model), step_kernels(model, width):
        logp, state = prime(model, prompt_ids, width)
        beams = Beams.start(width, logp.device)
        for step in range(config.max_tokens):
            line_start = (beams.ids[:, -1] == eos if beams.ids.shape[1] else
                          torch.full((width,), starts_line(prompt_ids, eos), device=logp.device))  # (K,)
            totals = beams.scores[:, None] + no_empty_line(logp.index_fill(1, banned, NEG_INF), line_start, eos)
            count = min(2 * width, int(torch.isfinite(totals).sum()))
            flat = best_first(totals.view(-1), count)           # (2K,)
            candidates = beams.extend(flat // size, flat % size, logp, eos)
            ends = (candidates.sentences >= config.sentences) & (config.sentences > 0)  # reached just now
            complete = ends | (step == config.max_tokens - 1)
            rank = torch.arange(count, device=flat.device)
            finished += candidates.samples(rank[(rank < width) & complete], ends, penalty)
            going = rank[~complete][:width]
            if len(going) == 0 or not still_in_reach(candidates.scores[going], step + 1, finished, width, penalty):
                break
            beams = candidates.take(going, width)
            state = select_state(state, beams.parents)
            logp, state = model.step(beams.ids[:, -1], state)
    finished.sort(key=lambda s: (s.finished, s.score), reverse=True)  # cut at max_tokens: after every ended one
    return finished[:width]
