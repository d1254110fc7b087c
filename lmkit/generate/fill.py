"""Fill in the blank with a forward and a backward model.

A blank is decided by the words on both sides of it: in 「我打算____一部新手机」 the
right side ("a new phone") matters as much as the left. Each candidate filler
c is scored by the whole sentence under both directions,

    forward   log p_fwd(<s> left c right </s>)
    backward  log p_bwd(<s> reversed(left c right) </s>)
    total     forward + backward

A backward model is the same code trained on each line's tokens reversed, so
an N-gram built on reversed text serves as well as a backward LSTM.

Candidates come from the caller, or from the vocabulary: every single token
(all scored, in batches), plus longer fillers up to max_len found by two beam
searches over the blank, one with the forward model reading the left context
and one with the backward model reading the right context; the union is then
rescored with both models on the complete sentence. The beams only propose,
so a filler that both directions like but neither beam reaches is missed;
widening `beam` trades time for recall.

With a memory for each model (lmkit.evaluate.memory, the kNN-LM proper), each
direction's prediction of the filler's own tokens, log p(c_i | what comes
before it in that direction), is mixed with its memory's (memory_gains); the
rest of each sentence, and the beams, are the models' alone. A single-token
filler's place is the same for every candidate (after `<s> left` forward,
after `<s> reversed(right)` backward), so the whole vocabulary costs one
search of each memory.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
import torch

from lmkit.errors import ConfigError, excerpt
from lmkit.files.line_ends import holds_line_end
from lmkit.evaluate.perplexity import Progress, line_logprobs, part_of, tally
from lmkit.generate.beam import best_first, state_selector
from lmkit.evaluate.memory import NeighbourMemory, line_features
from lmkit.generate.sampling import NEG_INF, prime
from lmkit.models.base import evaluating, model_device
from lmkit.text.lines import frame_lines

DEFAULT_MARKER = "_"
FULL_WIDTH_MARKER = "＿"  # what a Chinese input method types for _: the default marker stands for either


@dataclass
class Filler:
    ids: list[int]
    forward: float   # log p of the filled sentence under the forward model (its memory read at the filler's places)
    backward: float  # ... and of its reversal under the backward model

    @property
    def total(self) -> float:
        return self.forward + self.backward


def split_blank(text: str, marker: str = DEFAULT_MARKER) -> tuple[str, str]:
    """(left, right) of the one blank in `text`; a run of markers (`____`) counts as one blank.

    The default marker `_` also matches the full-width `＿`. A marker whose occurrences overlap in the text
    (`--blank __` in `a___b`) is refused: the blank would leave part of a marker behind as text."""
    check_marker(marker)
    if holds_line_end(text):  # a training text would be two lines there (U+2028 and the like stay in a line)
        raise ConfigError(f"{excerpt(text)!r} holds a line break: give one sentence on one line (lmkit reads each line "
                          "as a sentence of its own)")
    markers = (DEFAULT_MARKER, FULL_WIDTH_MARKER) if marker == DEFAULT_MARKER else (marker,)
    one = "|".join(map(re.escape, markers))
    runs = list(re.finditer(f"(?:{one})+", text))
    if not runs:
        named = f"{marker!r} (or {FULL_WIDTH_MARKER!r})" if marker == DEFAULT_MARKER else repr(marker)
        raise ConfigError(f"no blank in {excerpt(text)!r}: mark the gap to fill with {named}")
    if len(runs) > 1:
        raise ConfigError(f"{len(runs)} blanks {marker!r} in {excerpt(text)!r}: mark exactly one gap (or choose another marker with --blank)")
    run = runs[0]
    # the run ends inside another occurrence of the marker (`__` in `___`): that occurrence's tail would stay as text
    crossing = [m.start() for m in re.finditer(f"(?={re.escape(marker)})", text)
                if m.start() < run.end() < m.start() + len(marker)]
    if crossing:
        left_over = text[run.end() : crossing[0] + len(marker)]
        raise ConfigError(f"--blank {marker!r} in {excerpt(text)!r}: the blank would be {run.group()!r} and leave "
                          f"{left_over!r} behind as text; mark the gap with whole markers, or choose another marker "
                          "with --blank")
    return text[: run.start()], text[run.end() :]


def check_marker(marker: str) -> None:
    """--blank must be something to find on a line."""
    if not marker or holds_line_end(marker):
        raise ConfigError(f"--blank must be a non-empty marker on one line, such as _, got {marker!r}")


def filler_gaps(tokenizer, left: str, filler: str, ids: list[int], right: str) -> tuple[str, str] | None:
    """What to show before and after `filler` (the text of `ids`) put in the blank between `left` and `right`, so
    that the shown sentence reads, to the model's own tokenizer, as the one scored: `left`'s tokens, then `ids`,
    then `right`'s (each as it reads beside the filler: Tokenizer.encode_around). Nothing where the text reads so
    as typed; otherwise a space where the blank touches the text, on the side or sides that make it read so (`the
    king_to` is scored, and shown, as `the king of to`; jieba's `春风明_` filled with 月 as `春风明 月`, three words,
    not 春风 明月). None where no spacing reads as scored: written out, the sentence would be cut into other tokens
    across the blank's edges (a sentencepiece `白日依山 | 尽` that reads as one piece `白日依山尽`)."""
    left_ids, _, right_ids = tokenizer.encode_around(left, right)
    scored = [*left_ids, *ids, *right_ids]
    touching_left = bool(left) and not left[-1].isspace() and not filler[:1].isspace()
    touching_right = bool(right) and not right[0].isspace() and not filler[-1:].isspace()
    tries = [("", ""), (" " * touching_left, ""), ("", " " * touching_right), (" " * touching_left, " " * touching_right)]
    for before, after in dict.fromkeys(tries):  # in order, each once
        if tokenizer.encode_line(left + before + filler + after + right) == scored:
            return before, after
    return None


def check_pair(forward, backward) -> None:
    """Both directions must share one vocabulary, or their ids mean different tokens."""
    if forward.vocab != backward.vocab:
        raise ConfigError(
            f"the forward and backward models have different vocabularies ({len(forward.vocab)} tokens, "
            f"fingerprint {forward.vocab.fingerprint()} vs {len(backward.vocab)}, {backward.vocab.fingerprint()}): "
            "train both with the same tokenizer"
        )


def fill_blank(forward, backward, left: list[int], right: list[int], candidates: list[list[int]] | None = None,
               max_len: int = 1, beam: int = 32, batch_size: int = 256,
               memories: tuple[NeighbourMemory, NeighbourMemory] | None = None,
               progress: Progress | None = None, memory_progress: Progress | None = None) -> list[Filler]:
    """Candidates (or the vocabulary's: vocabulary_fillers) for the blank between `left` and `right` ids, best
    total first; with `memories` (the forward model's, the backward model's), each model reads its own at the
    filler's places (memory_gains). `progress(done, total)`: the tokens of the sentences scored, both directions
    as one pass; `memory_progress`: the memories' searches, both as one pass."""
    check_pair(forward, backward)
    if max_len < 1:
        raise ConfigError(f"--max-len must be at least 1, got {max_len}")
    if beam < 1:
        raise ConfigError(f"--beam must be at least 1, got {beam}")
    if candidates is None:
        candidates = vocabulary_fillers(forward, backward, left, right, max_len, beam)
    candidates = list(dict.fromkeys(tuple(c) for c in candidates if c))  # unique, order kept
    if not candidates:
        raise ConfigError("no candidate fillers to score")
    sentences = [[*left, *c, *right] for c in candidates]
    ahead = sentence_logprobs(forward, sentences, batch_size, part_of(progress, 0, 2))
    behind = sentence_logprobs(backward, [s[::-1] for s in sentences], batch_size, part_of(progress, 1, 2))
    if memories is not None:
        reversed_fillers = [c[::-1] for c in candidates]
        searched = tally(memory_progress, len(distinct_prefixes(candidates)) + len(distinct_prefixes(reversed_fillers)))
        ahead = [a + g for a, g in zip(ahead, memory_gains(forward, memories[0], left, candidates, searched=searched))]
        behind = [b + g for b, g in zip(behind, memory_gains(backward, memories[1], right[::-1], reversed_fillers,
                                                              searched=searched))]
    fillers = [Filler(list(c), f, b) for c, f, b in zip(candidates, ahead, behind)]
    fillers.sort(key=lambda f: (f.total, f.forward), reverse=True)
    return fillers


def fillable_ids(vocab, starts: Collection[int] | None = None) -> list[int]:
    """Every id but the four specials: a filler is made of ordinary tokens; with `starts`, only those in it."""
    specials = {vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id}
    return [i for i in range(len(vocab)) if i not in specials and (starts is None or i in starts)]


def barred_ids(vocab, starts: Collection[int] | None = None) -> torch.Tensor:
    """(n,) the ids that fillable_ids leaves out, for a search to bar."""
    return torch.tensor(sorted(set(range(len(vocab))) - set(fillable_ids(vocab, starts))), dtype=torch.long)


def vocabulary_fillers(forward, backward, left, right, max_len: int, beam: int,
                       starts: Collection[int] | None = None, progress: Progress | None = None) -> list[list[int]]:
    """All single tokens, plus 2..max_len-token fillers proposed by a beam from each side; each begins with one
    of `starts` (None: any). `progress(done, total)`: the beams' steps, both sides as one pass."""
    fillers = [[i] for i in fillable_ids(forward.vocab, starts)]
    if max_len > 1:
        fillers += grow_fillers(forward, left, max_len, beam, starts, part_of(progress, 0, 2))
        backward_grown = (f[::-1] for f in grow_fillers(backward, right[::-1], max_len, beam,  # ends with its first
                                                        progress=part_of(progress, 1, 2)))
        fillers += [f for f in backward_grown if starts is None or f[0] in starts]
    return fillers


@dataclass(frozen=True)
class SearchSize:
    """What a search of the vocabulary for fillers costs, known before it runs: at most `fillers` fillers ranked,
    and about `tokens` tokens the models read to propose and score them (the bound a wide --beam over a long
    --max-len makes large: each of its fillers is scored in a whole sentence)."""

    fillers: int
    tokens: int


def pair_search_size(vocab_size: int, context: int, max_len: int, beam: int) -> SearchSize:
    """The size of vocabulary_fillers then fill_blank for a blank between `context` tokens (both sides together):
    each beam reads its side and one token per place for each of its `beam` rows; every filler of k tokens is then
    read in its sentence (context + k + `</s>`) by both models."""
    singles = vocab_size - 4  # fillable_ids: every id but the four specials
    lengths = range(2, max_len + 1)  # each side's beam keeps `beam` fillers of each
    proposing = 2 * (context + beam * len(lengths)) if lengths else 0
    scoring = 2 * (singles * (context + 2) + 2 * beam * sum(context + k + 1 for k in lengths))
    return SearchSize(singles + 2 * beam * len(lengths), proposing + scoring)


def grow_fillers(model, context: list[int], max_len: int, width: int,
                 starts: Collection[int] | None = None, progress: Progress | None = None) -> list[list[int]]:
    """The `width` likeliest continuations of `<s> context` of each length 2..max_len (a beam search), their first
    token one of `starts` (None: any); `progress(done, max_len)` from 0, and after each length."""
    vocab = model.vocab
    banned, banned_first = barred_ids(vocab), barred_ids(vocab, starts)
    select_state = state_selector(model)
    found: list[list[int]] = []
    step_done = tally(progress, max_len)
    with evaluating(model):
        logp, state = prime(model, context, 1)                          # (1, V)
        scores = torch.zeros(1, device=logp.device)
        fillers = torch.zeros(1, 0, dtype=torch.long, device=logp.device)
        for length in range(1, max_len + 1):
            barred = banned_first if length == 1 else banned
            totals = scores[:, None] + logp.index_fill(1, barred.to(logp.device), NEG_INF)  # (K, V)
            count = min(width, int(torch.isfinite(totals).sum()))
            flat = best_first(totals.view(-1), count)
            scores = totals.view(-1)[flat]
            parents, ids = flat // len(vocab), flat % len(vocab)
            fillers = torch.cat([fillers[parents], ids[:, None]], dim=1)
            if length > 1:
                found += fillers.tolist()
            if length < max_len and count:
                logp, state = model.step(ids, select_state(state, parents))
            step_done(1)
    return found


def sentence_logprobs(model, sentences: list[list[int]], batch_size: int = 256,
                      progress: Progress | None = None) -> list[float]:
    """log p(<s> s </s>) of each sentence: the lines of one stream, scored `batch_size` lines at a time
    (`progress(done, total)`: their tokens)."""
    eos = model.vocab.eos_id
    stream = np.asarray([t for s in sentences for t in (*s, eos)], dtype=np.int64)
    starts = np.cumsum([0] + [len(s) + 1 for s in sentences[:-1]])
    with evaluating(model):
        logp = line_logprobs(model, stream, batch_lines=batch_size, device=model_device(model),
                             progress=progress)  # (N,)
    return np.add.reduceat(logp, starts).tolist()


def memory_gains(model, memory: NeighbourMemory, context: list[int], fillers: list[tuple[int, ...]],
                 rows: int = 64, searched: Callable[[int], None] | None = None) -> list[float]:
    """What reading `memory` adds to each filler's sentence log p under a left-to-right `model` that reads
    `<s> context` first: the sum over the filler's places i of log p_mixed(c_i | <s> context c_<i) minus the
    model's own log p there. Fillers that begin alike share the places they agree on: one search of the memory
    for each distinct prefix c_<i (one for all single tokens; distinct_prefixes), `rows` prefixes at a time, and
    `searched(n)` after each n."""
    prefixes = distinct_prefixes(fillers)
    wanted: dict[tuple[int, ...], set[int]] = {prefix: set() for prefix in prefixes}
    for f in fillers:
        for i in range(len(f)):
            wanted[f[:i]].add(f[i])
    gain: dict[tuple[tuple[int, ...], int], float] = {}
    for first in range(0, len(prefixes), rows):
        chunk = prefixes[first : first + rows]
        model_logp, mixed = remembered_rows(model, memory, context, chunk)              # (b, V) each
        for row, prefix in enumerate(chunk):
            for token in wanted[prefix]:
                gain[prefix, token] = float(mixed[row, token] - model_logp[row, token])
        if searched is not None:
            searched(len(chunk))
    return [sum(gain[f[:i], f[i]] for i in range(len(f))) for f in fillers]


def distinct_prefixes(fillers: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Each context a filler's tokens are predicted after, c_<i for every place i of every filler, once."""
    return list(dict.fromkeys(f[:i] for f in fillers for i in range(len(f))))


def remembered_rows(model, memory: NeighbourMemory, context: list[int], prefixes: list[tuple[int, ...]]
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(U, V) log p of the token after `<s> context prefix` for each of U prefixes: the left-to-right model's own,
    and its mixture with `memory`'s prediction there (lmkit.evaluate.memory)."""
    feats, model_logp = next_token_rows(model, [[*context, *prefix] for prefix in prefixes])
    return model_logp, memory.mix(feats, model_logp)


def next_token_rows(model, contexts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """A left-to-right model's output after `<s> context` for each of N contexts (N, D), what its softmax reads
    there, and its log-probabilities of the next token (N, V)."""
    eos = model.vocab.eos_id  # a stand-in for the token predicted: the output before it does not read it
    ids, lengths = frame_lines([np.asarray([*context, eos], dtype=np.int64) for context in contexts],
                               model_device(model))                                         # (N, L), (N,)
    with evaluating(model), torch.inference_mode():
        places = torch.tensor([len(context) for context in contexts], device=ids.device)
        feats = line_features(model, ids, lengths)[torch.arange(len(contexts), device=ids.device), places]  # (N, D)
        return feats, model.head.log_probs(feats).double().cpu()
