"""Fill in the blank with one bidirectional (cloze) model.

A cloze model gives p(x_t | every other token of the line) directly, so one
pass over `<s> left _ right </s>` ranks every single-token filler: the token
at the blank is never read for its own prediction (any id can stand there).

A blank of k > 1 tokens is filled by iterating the cloze prediction left to
right: the unfilled positions hold `<unk>` ("some token"), the first is
predicted, the `beam` best are kept, each is written in and the next position
is predicted with it as context, and so on. Every filler found (and every
candidate given) is then scored by its pseudo-log-likelihood in the filled
sentence, sum over its positions i of log p(c_i | the sentence without c_i),
and ranked by it. Like a sentence's log-probability, a longer filler pays for
each of its tokens.

The cloze prediction at the blank reads the two sides as two summaries, the
states A_{t-1} and A'_{t+1}; it does not ask how well the rest of the line
reads with the filler in place. So the `rerank` likeliest fillers are scored
again in their filled sentences: each gains `context_weight` times the
pseudo-log-likelihood of the line's other tokens (every x_j outside the
filler, </s> too, each given the filled sentence without x_j), and these
come first, by that score; the rest follow by their own. At weight 1 the
score is the whole filled sentence's pseudo-log-likelihood (Salazar et al.
2020 score sentences with a masked LM this way); the default weight is the
one best on the fill benchmark's valid blanks of both its word corpora together
(pku98 +1.6 and Shakespeare +1.2 points of top-1, where 0.5 gave +2.0 and 0;
benchmarks/RESULTS.md).
`rerank=0` ranks by the filler's own tokens alone.
"""
from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
import torch

from lmkit.errors import ConfigError
from lmkit.evaluate.perplexity import Progress, tally
from lmkit.generate.fill import SearchSize, barred_ids, fillable_ids
from lmkit.generate.sampling import NEG_INF
from lmkit.models.base import evaluating, model_device
from lmkit.generate.beam import best_first
from lmkit.evaluate.memory import NeighbourMemory
from lmkit.text.lines import frame_lines

RERANK = 20            # the likeliest fillers scored again by the rest of their filled sentence
CONTEXT_WEIGHT = 0.25  # the weight of that rest's pseudo-log-likelihood (see the module docstring)


@dataclass
class ClozeFiller:
    ids: list[int]
    own: float                     # pseudo-log-likelihood of the filler's tokens in the filled sentence
    context: float | None = None   # ... of the line's other tokens, for a re-ranked filler
    weight: float = 0.0            # the context weight it was re-ranked with

    @property
    def total(self) -> float:
        """What the filler is ranked by among the re-ranked (own + weight x context), or its own score."""
        return self.own if self.context is None else self.own + self.weight * self.context


def framed(model, sentences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    eos = model.vocab.eos_id
    return frame_lines([np.asarray([*s, eos], dtype=np.int64) for s in sentences], model_device(model))


def blank_logprobs(model, sentences: list[list[int]], position: int, memory: NeighbourMemory | None = None
                   ) -> torch.Tensor:
    """(N, V) log p(token at `position` of each sentence | the rest of it), mixed with `memory`'s where given."""
    ids, lengths = framed(model, sentences)
    with evaluating(model):
        if memory is None:
            return model.cloze_logprobs(ids, lengths, at=position + 1).float()  # +1: `<s>` comes first
        feats = model.features(ids, lengths)[:, position]                        # (N, D): predicts position + 1
        return memory.mix(feats, model.head.log_probs(feats)).float()


def filled_loglik(model, left: list[int], right: list[int], fillers: list[tuple[int, ...]],
                  batch_size: int = 256, memory: NeighbourMemory | None = None,
                  progress: Progress | None = None) -> list[tuple[float, float]]:
    """Each filler's (own, context) in its filled sentence: the sums of log p(x_j | the sentence without x_j)
    over the filler's positions, and over the line's other tokens (`</s>` included, `<s>` is never predicted).
    With a `memory`, the filler's positions are read with it too (lmkit.evaluate.memory), the others not.
    `progress(done, total)`: the fillers scored."""
    sums: list[tuple[float, float]] = []
    scored = tally(progress, len(fillers))
    for first in range(0, len(fillers), batch_size):
        chunk = fillers[first : first + batch_size]
        ids, lengths = framed(model, [[*left, *c, *right] for c in chunk])
        with evaluating(model):
            if memory is None:
                logp = model.cloze_targets(ids, lengths).double()                # (N, L-1): position t at t-1
            else:
                logp = remembered_targets(model, memory, ids, lengths, len(left), [len(c) for c in chunk])
        for row, c in enumerate(chunk):
            line = logp[row, : int(lengths[row]) - 1]                            # this sentence's predictions
            own = float(line[len(left) : len(left) + len(c)].sum())
            sums.append((own, float(line.sum()) - own))
        scored(len(chunk))
    return sums


def remembered_targets(model, memory: NeighbourMemory, ids: torch.Tensor, lengths: torch.Tensor, start: int,
                       spans: list[int]) -> torch.Tensor:
    """cloze_targets (N, L-1) of framed lines, the `spans[i]` places of line i from token `start` on mixed with
    `memory`'s prediction there."""
    feats = model.features(ids, lengths)                                         # (N, L-1, D)
    logp = model.head.target_logprobs(feats, ids[:, 1:]).double().cpu()          # (N, L-1)
    rows = torch.tensor([row for row, span in enumerate(spans) for _ in range(span)], dtype=torch.long)
    places = torch.tensor([start + i for span in spans for i in range(span)], dtype=torch.long)
    if len(rows):
        logp[rows, places] = memory.mix_targets(feats[rows, places], logp[rows, places], ids[rows, places + 1])
    return logp


def pseudo_loglik(model, left: list[int], right: list[int], fillers: list[tuple[int, ...]]) -> list[float]:
    """Sum over each filler's positions of log p(c_i | the filled sentence without c_i)."""
    return [own for own, _ in filled_loglik(model, left, right, fillers)]


def grow_span(model, left: list[int], right: list[int], length: int, width: int,
              starts: Collection[int] | None = None, memory: NeighbourMemory | None = None,
              step_done: Callable[[int], None] | None = None) -> list[list[int]]:
    """The `width` best fillers of exactly `length` tokens, chosen position by position left to right, the first
    one of `starts` (None: any); each prediction mixed with `memory`'s where given. `step_done(1)` after each
    position (tally's counter)."""
    banned, banned_first = barred_ids(model.vocab), barred_ids(model.vocab, starts)
    unknown = model.vocab.unk_id
    hyps, scores = [[]], torch.zeros(1)
    for i in range(length):
        sentences = [[*left, *h, *[unknown] * (length - i), *right] for h in hyps]
        logp = blank_logprobs(model, sentences, len(left) + i, memory).cpu()          # (K, V)
        totals = scores[:, None] + logp.index_fill(1, banned_first if i == 0 else banned, NEG_INF)
        flat = best_first(totals.view(-1), min(width, int(torch.isfinite(totals).sum())))
        scores = totals.view(-1)[flat]
        hyps = [[*hyps[int(k)], int(v)] for k, v in zip(flat // len(model.vocab), flat % len(model.vocab))]
        if step_done is not None:
            step_done(1)
    return hyps


def cloze_candidates(model, left: list[int], right: list[int], max_len: int = 1, beam: int = 32,
                     starts: Collection[int] | None = None, memory: NeighbourMemory | None = None,
                     progress: Progress | None = None) -> list[list[int]]:
    """The vocabulary's fillers for the blank: every single token, and the --beam best spans of each length up to
    max_len (grow_span); each begins with one of `starts` (None: any; a tokenizer's filler_starts).
    `progress(done, total)`: the cloze predictions made, one a place of each span length."""
    candidates = [[i] for i in fillable_ids(model.vocab, starts)]
    step_done = tally(progress, sum(range(2, max_len + 1)))
    for length in range(2, max_len + 1):
        candidates += grow_span(model, left, right, length, beam, starts, memory, step_done)
    return candidates


def cloze_search_size(vocab_size: int, context: int, max_len: int, beam: int) -> SearchSize:
    """The size of cloze_candidates then cloze_fill for a blank between `context` tokens (both sides together): a
    span of k tokens takes k predictions, each over `beam` filled sentences of context + k + 2 tokens (`<s>`,
    `</s>`), and each of its `beam` fillers is then read once more in its sentence to score it; the single tokens
    all come off one prediction."""
    sentence = lambda k: context + k + 2
    proposing = sum(k * beam * sentence(k) for k in range(2, max_len + 1))
    scoring = sentence(1) + sum(beam * sentence(k) for k in range(2, max_len + 1))
    return SearchSize(vocab_size - 4 + beam * (max_len - 1), proposing + scoring)


def cloze_fill(model, left: list[int], right: list[int], candidates: list[list[int]] | None = None,
               max_len: int = 1, beam: int = 32, rerank: int = RERANK,
               context_weight: float = CONTEXT_WEIGHT, memory: NeighbourMemory | None = None,
               progress: Progress | None = None, rerank_progress: Progress | None = None) -> list[ClozeFiller]:
    """Candidates (or the vocabulary's: cloze_candidates) for the blank, best first: the `rerank` best by their own
    pseudo-log-likelihood ranked again with their sentence's (the module docstring), then the rest. A `memory`
    is read at the filler's own places (lmkit.evaluate.memory). `progress(done, total)`: the fillers of more than
    one token scored (the single tokens all come off one prediction); `rerank_progress`: the fillers whose
    sentences the re-ranking reads."""
    if max_len < 1 or beam < 1 or rerank < 0 or not 0 <= context_weight < float("inf"):
        raise ConfigError(f"--max-len and --beam must be at least 1, --rerank at least 0 and --context-weight a "
                          f"finite number >= 0, got {max_len}, {beam}, {rerank} and {context_weight}")
    if candidates is None:
        candidates = cloze_candidates(model, left, right, max_len, beam, memory=memory)
    unique = list(dict.fromkeys(tuple(c) for c in candidates if c))
    if not unique:
        raise ConfigError("no candidate fillers to score")
    scores = filler_scores(model, left, right, unique, memory, progress)
    fillers = sorted((ClozeFiller(list(c), scores[c][0]) for c in unique), key=lambda f: f.own, reverse=True)
    best, rest = fillers[:rerank], fillers[rerank:]
    unread = [tuple(f.ids) for f in best if scores[tuple(f.ids)][1] is None]  # a longer filler's came with its own
    for filler, (_, context) in zip(unread, filled_loglik(model, left, right, unread, progress=rerank_progress)):
        scores[filler] = (scores[filler][0], context)  # the own score read off the blank's row (with any memory)
    for filler in best:
        filler.context, filler.weight = scores[tuple(filler.ids)][1], context_weight
    best.sort(key=lambda f: f.total, reverse=True)
    return best + rest


def filler_scores(model, left: list[int], right: list[int], fillers: list[tuple[int, ...]],
                  memory: NeighbourMemory | None = None, progress: Progress | None = None
                  ) -> dict[tuple[int, ...], tuple[float, float | None]]:
    """Each filler's (own, context) as filled_loglik gives them, the context left None where it was not read:
    the single-token fillers' own scores all come off one cloze prediction at the blank.

    A one-token filler's pseudo-log-likelihood is log p(c | left, right): its own token is never read for its
    own prediction, so the whole vocabulary costs one pass, not one sentence per token."""
    singles = [c for c in fillers if len(c) == 1]
    scores: dict[tuple[int, ...], tuple[float, float | None]] = {}
    if singles:
        row = blank_logprobs(model, [[*left, model.vocab.unk_id, *right]], len(left), memory)[0].double().cpu()
        scores = {c: (float(row[c[0]]), None) for c in singles}
    longer = [c for c in fillers if len(c) > 1]
    scores.update(zip(longer, filled_loglik(model, left, right, longer, memory=memory, progress=progress)))
    return scores
