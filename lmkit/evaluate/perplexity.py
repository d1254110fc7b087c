"""One definition of perplexity for every model.

Total negative log-likelihood in nats over the predicted tokens (every
token of every line and each line's `</s>`; `<s>` is context, never
predicted), then

    perplexity      = exp(nll / tokens)
    bits per token  = nll / (tokens * ln 2)
    bits per char   = nll / (chars * ln 2)      chars of the original text, newlines counted

An out-of-vocabulary token is scored as `<unk>`. Like KenLM, the perplexity
"without OOVs" drops the predictions whose target is `<unk>` from both the
sum and the count; the OOV rate is OOV predictions / all predictions.

Two ways to run a split through a model, both batched:
- stream (default): the whole split in order, the state carried from line to
  line and window to window (`</s>` fed as input begins the next sentence);
- reset per line: every line scored on its own, from `<s>` and a fresh state.
Both give one log-probability per token of the id stream, in stream order,
from which totals and per-line scores are summed.
"""
from __future__ import annotations

import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable, Iterator

import numpy as np
import torch

from lmkit.text.batches import with_bos
from lmkit.errors import LmkitError, counted
from lmkit.text.vocab import BOS_ID, EOS_ID, UNK_ID

LN2 = math.log(2.0)
ROWS = 16      # pieces of a text read side by side, each with its state carried from its start (eval --rows)
WINDOW = 256   # tokens of each piece one forward call reads, the state carried to the next (eval --window)
MOSTLY_UNKNOWN = 0.2  # a share of <unk> tokens that says the text is read with the wrong tokenizer, or is not the model's


def mostly_unknown(tokens: int, oov_rate: float) -> bool:
    """So many of `tokens` outside the model's vocabulary (each scored as <unk>) that the figures mean little."""
    return tokens > 0 and oov_rate >= MOSTLY_UNKNOWN

# progress(done, total): tokens scored so far in this pass, of total; each pass starts again from 0.
# Library code only reports; the CLI draws (lmkit.commands.progress).
Progress = Callable[[int, int], None]


def tally(progress: Progress | None, total: int) -> Callable[[int], None]:
    """An `add(tokens)` that reports the running count of one pass to `progress` (nothing when it is None)."""
    done = 0

    def add(tokens: int) -> None:
        nonlocal done
        done += tokens
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    return add


def part_of(progress: Progress | None, part: int, parts: int) -> Progress | None:
    """The callback for a pass that is the `part`-th (from 0) of `parts` passes of equal length, reporting them to
    `progress` as one pass (the forward and the backward model's scoring of the same sentences)."""
    if progress is None:
        return None
    return lambda done, total: progress(part * total + done, parts * total)


LARGEST_EXPONENT = math.log(sys.float_info.max)  # exp of a larger mean NLL overflows a float


def perplexity_of(mean_nll: float) -> float:
    """exp(mean NLL), inf where a float cannot hold it (a diverged model): never a capped, untrue figure."""
    return math.exp(mean_nll) if mean_nll < LARGEST_EXPONENT else math.inf


def shown(figure: float, width: int = 12) -> str:
    """A perplexity for people: 4 decimals, or 4 significant digits with an exponent once it is huge."""
    return f"{figure:{width}.4f}" if figure < 1e9 else f"{figure:{width}.4e}"


@dataclass
class NLL:
    """Summed negative log-likelihood (nats) over `tokens` predictions."""

    nll: float
    tokens: int

    def __add__(self, other: "NLL") -> "NLL":
        return NLL(self.nll + other.nll, self.tokens + other.tokens)

    @property
    def mean(self) -> float:
        return self.nll / max(self.tokens, 1)

    @property
    def perplexity(self) -> float:
        return perplexity_of(self.mean)

    @property
    def bits_per_token(self) -> float:
        return self.mean / LN2

    def bits_per_char(self, chars: int) -> float:
        return self.nll / (max(chars, 1) * LN2)


@dataclass
class Evaluation:
    """Everything one evaluation measures; `known` leaves out predictions of `<unk>`."""

    total: NLL
    known: NLL
    chars: int | None = None
    lines: int = 0
    zero_probability: int = 0  # tokens given probability zero (a mixture's unsmoothed member): the totals are inf

    @property
    def oov(self) -> int:
        return self.total.tokens - self.known.tokens

    @property
    def oov_rate(self) -> float:
        return self.oov / max(self.total.tokens, 1)

    @property
    def mostly_unknown(self) -> bool:
        return mostly_unknown(self.total.tokens, self.oov_rate)

    @property
    def bits_per_char(self) -> float | None:
        return None if not self.chars else self.total.bits_per_char(self.chars)

    def to_dict(self) -> dict:
        return {
            "nll": self.total.nll, "tokens": self.total.tokens, "chars": self.chars, "lines": self.lines,
            "perplexity": self.total.perplexity, "bits_per_token": self.total.bits_per_token,
            "bits_per_char": self.bits_per_char, "oov": self.oov, "oov_rate": self.oov_rate,
            "perplexity_without_oov": self.known.perplexity, "tokens_without_oov": self.known.tokens,
            "zero_probability": self.zero_probability,
        }


SMOOTHING_ADVICE = "an unsmoothed (mle) N-gram cannot score unseen events: use --smoothing kn or add-k"
MIXTURE_ADVICE = "every member given weight gives it none: give weight to a member that scores it (--weights)"
NO_MEMBER_ADVICE = "no member of the mixture scores it: add a smoothed model to --mix"


@dataclass(frozen=True)
class Unscorable:
    """Where a model first gives a token no finite log-probability: line `line` (1-based; None where `what` names the
    line itself) of `what`, the `column`-th token of that line (counted as the line is written, also for a backward
    model, which reads it from its end; 0: a backward model's `</s>`, at the line's start), `token` itself where the
    vocabulary is known, and `count` such tokens in all; `nan` when the model computes NaN (its numbers overflow)
    rather than probability zero (an unsmoothed N-gram's unseen event)."""

    line: int | None
    column: int
    token: str | None
    count: int
    nan: bool
    what: str | None = None
    model: str = "this model"
    consequence: str = "so its perplexity is infinite"
    advice: str = SMOOTHING_ADVICE  # lmkit ngram's; a caller that knows the model says what fits it (scored_by)
    written: str | None = None      # the token as the text writes it, where it is outside the vocabulary (`<unk>`)

    def message(self) -> str:
        where = self.what if self.line is None else f"{self.what} line {self.line}" if self.what else f"line {self.line}"
        place = "the line's start" if self.column == 0 else f"token {self.column}"  # a backward model's `</s>`
        said = [repr(self.token)] if self.token is not None else []
        said += [f"written {self.written!r}"] if self.written is not None else []
        token = place + (f" ({', '.join(said)})" if said else "")
        many = counted(self.count, "such token")
        if self.nan:
            return (f"{where}, {token}: gets no probability from {self.model}: it computes NaN ({many}), so its "
                    "numbers overflow; the model cannot be evaluated")
        return f"{where}, {token}: has probability zero under {self.model}, {self.consequence} ({many}); {self.advice}"


class UnscorableToken(LmkitError):
    """A token some model gives no finite log-probability (`where`, an Unscorable); the callers that know the model's
    name, or what the text's lines are, say so with `located`."""

    def __init__(self, where: Unscorable):
        super().__init__(where.message())
        self.where = where

    def located(self, **known) -> "UnscorableToken":
        """The same error with Unscorable's fields in `known` (model, what, line, consequence) filled in."""
        return UnscorableToken(replace(self.where, **known))


@contextmanager
def scored_by(model: str, advice: str | None = None) -> Iterator[None]:
    """An UnscorableToken raised inside names `model` (a model directory or ARPA file, as the user gave it), and
    gives `advice` (what would score the token) where given."""
    try:
        yield
    except UnscorableToken as exc:
        raise exc.located(model=model, **({"advice": advice} if advice else {})) from None


def check_scorable(stream: np.ndarray, logp: np.ndarray, vocab=None, what: str | None = None,
                   zero_allowed: bool = False, backward: bool = False) -> None:
    """UnscorableToken naming the first token of `stream` (N,) whose log-probability in `logp` (N,) is NaN, else
    the first that is -inf (unless `zero_allowed`); nothing when every one is finite. Its place is counted in the
    line as written, also where a `backward` model's stream holds each line reversed (its `</s>` still last)."""
    stream = np.asarray(stream)
    checks = [(True, np.flatnonzero(np.isnan(logp)))]
    if not zero_allowed:
        checks.append((False, np.flatnonzero(~np.isfinite(logp))))
    for nan, bad in checks:
        if len(bad):
            at = int(bad[0])
            ends = np.flatnonzero(stream[:at] == EOS_ID)
            start = int(ends[-1]) + 1 if len(ends) else 0
            column = at - start + 1
            if backward:  # its `</s>` comes after reading the line back to its start: the start is where it stands
                after = np.flatnonzero(stream[at:] == EOS_ID)
                words = (at + int(after[0]) if len(after) else len(stream)) - start  # the line's tokens, `</s>` apart
                column = words - column + 1 if column <= words else 0
            token = vocab.token(int(stream[at])) if vocab is not None else None
            raise UnscorableToken(Unscorable(len(ends) + 1, column, token, len(bad), nan, what))


def summarize(stream: np.ndarray, logp: np.ndarray, chars: int | None = None, vocab=None,
              what: str | None = None, zero_allowed: bool = False, backward: bool = False) -> Evaluation:
    """Totals from a stream's ids (N,) and the log-probability of each (N,).

    A token the model gives probability zero makes perplexity infinite: refused, naming where (check_scorable;
    `vocab` and `what`, the text's label, name the token and the text), unless `zero_allowed` (a member of a
    mixture, whose other members may give the token probability): then such tokens are counted and the totals are
    infinite. NaN is refused either way. `backward`: the stream is a backward model's (check_scorable).
    """
    stream = np.asarray(stream)
    check_scorable(stream, logp, vocab, what, zero_allowed, backward)
    known = stream != UNK_ID
    return Evaluation(
        total=NLL(-float(logp.sum()), len(stream)),
        known=NLL(-float(logp[known].sum()), int(known.sum())),
        chars=chars,
        lines=int((stream == EOS_ID).sum()),
        zero_probability=int(np.isneginf(logp).sum()),
    )


@dataclass
class LineScores:
    """Per-line totals: log-probability (nats), predicted tokens (`</s>` included) and OOVs."""

    logprob: np.ndarray
    tokens: np.ndarray
    oov: np.ndarray


def line_bounds(stream: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of each line of a stream; a line ends with its `</s>`."""
    stream = np.asarray(stream)
    ends = np.flatnonzero(stream == EOS_ID) + 1
    if len(stream) and (not len(ends) or ends[-1] != len(stream)):
        ends = np.append(ends, len(stream))  # a last line without `</s>`
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    return starts, ends


def line_scores(stream: np.ndarray, logp: np.ndarray) -> LineScores:
    starts, ends = line_bounds(stream)
    if not len(starts):
        empty = np.zeros(0)
        return LineScores(empty, empty.astype(np.int64), empty.astype(np.int64))
    oov = (np.asarray(stream) == UNK_ID).astype(np.int64)
    return LineScores(np.add.reduceat(logp, starts), ends - starts, np.add.reduceat(oov, starts))


# --- scoring ---------------------------------------------------------------------------
def row_cuts(stream: np.ndarray, rows: int) -> list[int]:
    """Start positions of up to `rows` pieces of a stream, each at a line start: fewer pieces where the text has
    fewer lines (one for a text of one line, however long).

    A piece starting right after a `</s>` (or at the leading `<s>`) begins a sentence,
    so an N-gram scores it exactly as in one long pass, and a network as it reads a line alone.
    A piece cut inside a line would begin mid-sentence from nothing read: a one-line text scored
    otherwise at --rows 16 than at --rows 1, and otherwise than fill and rescore score it.
    """
    predictions = len(stream) - 1
    wanted = [k * predictions // rows for k in range(1, rows)]
    ends = np.flatnonzero(np.asarray(stream[:-1]) == EOS_ID)
    if not len(ends):
        return [0]
    picks = ends[np.clip(np.searchsorted(ends, wanted), 0, len(ends) - 1)]
    return sorted({0, *(int(p) for p in picks if 0 < p < predictions)})


def each_line_alone(stream: np.ndarray, rows: int) -> bool:
    """Whether `rows` pieces of an id stream (`</s>`-ended, no `<s>`) read each of its lines (two or more) from a
    fresh state, the pieces being as many as the lines (a short text); else the state is carried along each piece,
    across its line ends."""
    lines = int(np.count_nonzero(np.asarray(stream) == EOS_ID))
    return lines > 1 and len(row_cuts(with_bos(stream), max(1, rows))) == lines


def stream_rows(stream: np.ndarray, rows: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cut a `<s>`-prefixed stream into contiguous pieces that together predict every token once.

    Returns inputs (R, L), targets (R, L) and a mask (R, L) of real (non-padding) predictions.
    """
    predictions = len(stream) - 1
    cuts = row_cuts(stream, max(1, rows)) + [predictions]
    length = max(hi - lo for lo, hi in zip(cuts, cuts[1:]))
    inputs = torch.zeros(len(cuts) - 1, length, dtype=torch.long)
    targets = torch.zeros_like(inputs)
    mask = torch.zeros(inputs.shape, dtype=torch.bool)
    source = torch.from_numpy(np.asarray(stream, dtype=np.int64))
    for r, (lo, hi) in enumerate(zip(cuts, cuts[1:])):
        inputs[r, : hi - lo] = source[lo:hi]
        targets[r, : hi - lo] = source[lo + 1 : hi + 1]
        mask[r, : hi - lo] = True
    return inputs, targets, mask


@torch.inference_mode()
def score_padded(model, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, window: int,
                 scored: Callable[[int], None] | None = None) -> torch.Tensor:
    """(R, L) float64 log p(targets), zero where `mask` is False; each row starts from
    `init_state` and carries its state from window to window. `scored(n)` hears of each window's tokens."""
    state = model.init_state(inputs.shape[0])
    pieces = [torch.zeros(inputs.shape[0], 0, dtype=torch.float64, device=inputs.device)]
    for start in range(0, inputs.shape[1], window):
        part = slice(start, start + window)
        logp, state = model.score_targets(inputs[:, part], targets[:, part], state)  # (R, W)
        # an N-gram computes on the CPU whatever device the ids came from
        pieces.append(logp.to(mask.device, torch.float64).masked_fill(~mask[:, part], 0.0))
        if scored is not None:
            scored(int(mask[:, part].sum()))
    return torch.cat(pieces, dim=1)


def stream_nll(model, stream: np.ndarray, rows: int = ROWS, window: int = WINDOW, device: str | torch.device = "cpu",
               progress: Progress | None = None) -> NLL:
    """NLL of a split's id stream, state carried from window to window along each of `rows` pieces."""
    stream = with_bos(stream)
    inputs, targets, mask = (t.to(device) for t in stream_rows(stream, rows))
    logp = score_padded(model, inputs, targets, mask, window, tally(progress, int(mask.sum())))
    return NLL(-float(logp.sum()), int(mask.sum()))


def stream_logprobs(model, stream: np.ndarray, rows: int = ROWS, window: int = WINDOW,
                    device: str | torch.device = "cpu", progress: Progress | None = None) -> np.ndarray:
    """(N,) log-probability of each token of the stream, scored in order with the state carried."""
    if len(stream) == 0:
        return np.zeros(0)
    inputs, targets, mask = (t.to(device) for t in stream_rows(with_bos(stream), rows))
    logp = score_padded(model, inputs, targets, mask, window, tally(progress, int(mask.sum())))  # (R, L) in order
    return logp[mask].cpu().numpy()


def line_batches(stream: np.ndarray, batch_lines: int):
    """Lines of a stream, shortest first, `batch_lines` at a time: (positions (B,), inputs, targets, mask).

    Each line is `<s> w1 .. wn` predicting `w1 .. wn </s>`; padding is `</s>`, masked out.
    """
    starts, ends = line_bounds(stream)
    order = np.argsort(ends - starts, kind="stable")
    source = np.asarray(stream, dtype=np.int64)
    for first in range(0, len(order), batch_lines):
        chosen = order[first : first + batch_lines]
        width = int((ends[chosen] - starts[chosen]).max())
        inputs = torch.full((len(chosen), width), EOS_ID, dtype=torch.long)
        targets = torch.full_like(inputs, EOS_ID)
        mask = torch.zeros(inputs.shape, dtype=torch.bool)
        for r, line in enumerate(chosen):
            ids = torch.from_numpy(source[starts[line] : ends[line]])
            inputs[r, 0] = BOS_ID
            inputs[r, 1 : len(ids)] = ids[:-1]
            targets[r, : len(ids)] = ids
            mask[r, : len(ids)] = True
        positions = np.concatenate([np.arange(starts[i], ends[i]) for i in chosen])
        yield positions, inputs, targets, mask


def line_logprobs(model, stream: np.ndarray, batch_lines: int = 64, window: int = WINDOW,
                  device: str | torch.device = "cpu", progress: Progress | None = None) -> np.ndarray:
    """(N,) log-probability of each token, every line scored on its own from `<s>` and a fresh state."""
    out = np.zeros(len(stream))
    scored = tally(progress, len(stream))
    for positions, inputs, targets, mask in line_batches(stream, batch_lines):
        inputs, targets, mask = inputs.to(device), targets.to(device), mask.to(device)
        logp = score_padded(model, inputs, targets, mask, window, scored)  # (B, L)
        out[positions] = logp[mask].cpu().numpy()
    return out


def token_logprobs(model, stream: np.ndarray, reset_per_line: bool = False, rows: int = ROWS, window: int = WINDOW,
                   device: str | torch.device = "cpu", progress: Progress | None = None) -> np.ndarray:
    """(N,) log-probabilities of a stream's tokens, in evaluation mode (no dropout)."""
    if hasattr(model, "eval"):
        model.eval()
    if reset_per_line:
        return line_logprobs(model, stream, batch_lines=max(rows, 64), window=window, device=device, progress=progress)
    return stream_logprobs(model, stream, rows=rows, window=window, device=device, progress=progress)
