"""The LanguageModel protocol every model implements, and shared helpers.

Sampling, beam search, fill-in-the-blank, evaluation, interpolation and
reports are written once against this protocol:

    init_state(batch)                  -> state after seeing nothing
    step(ids (B,), state)              -> (log-probs (B, V), next state)
    score(ids (B, T))                  -> (B, T-1) log p(ids[:, t+1] | ids[:, :t+1])
    score_targets(inputs, targets, st) -> ((B, T) log p(targets | inputs so far), state)

All log-probabilities are natural logs. A sentence starts by feeding `<s>`;
`</s>` ends it. A left-to-right network trains on the stream of its lines, where
each line follows the `</s>` of the one before and `<s>` never comes, so it reads
a `<s>` as that `</s>` (line_start_read_as_end): the line start it has learnt.
`score_targets` is `score` with a state carried in and out, so a long stream can
be scored window by window (evaluation, TBPTT).

Optional capabilities are declared here too, as protocols a model either has or not
(`isinstance(model, ReordersStreams)`), so no caller probes a model with getattr:

    ReordersStreams   select_state(state, index (K,)) -> the state of streams `index`
                      (beam search and fill's beams keep, drop and copy streams)
    HandWrittenGradients  loss_and_grads(inputs, targets, state) -> (loss, state), filling
                      every parameter's .grad itself (the trainer then skips backward())
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import torch

from lmkit.text.vocab import BOS_ID, EOS_ID, Vocab

State = Any


@runtime_checkable
class LanguageModel(Protocol):
    vocab: Vocab
    kind: str

    def init_state(self, batch_size: int) -> State: ...

    def step(self, ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State]: ...

    def score(self, ids: torch.Tensor) -> torch.Tensor: ...

    def score_targets(self, inputs: torch.Tensor, targets: torch.Tensor, state: State) -> tuple[torch.Tensor, State]: ...


@runtime_checkable
class ReordersStreams(Protocol):
    def select_state(self, state: State, index: torch.Tensor) -> State:
        """The state of the streams `index` (K,), in that order (a stream may be repeated)."""
        ...


@runtime_checkable
class HandWrittenGradients(Protocol):
    def loss_and_grads(self, inputs: torch.Tensor, targets: torch.Tensor, state: State) -> tuple[float, State]:
        """Mean cross-entropy of targets given inputs, with every parameter's .grad filled by the model."""
        ...


class StepScoring:
    """Mixin: `score` and `score_targets` by stepping one token at a time.

    Correct for any model with `init_state` and `step`; models with a faster
    whole-sequence path override `score_targets`.
    """

    def score_targets(self, inputs: torch.Tensor, targets: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        # inputs, targets: (B, T) -> (B, T) log-probs
        columns = []
        for t in range(inputs.shape[1]):
            logp, state = self.step(inputs[:, t], state)  # (B, V)
            columns.append(logp.gather(1, targets[:, t : t + 1]))
        if not columns:
            return torch.zeros(inputs.shape[0], 0), state
        return torch.cat(columns, dim=1), state

    def score(self, ids: torch.Tensor) -> torch.Tensor:
        # ids: (B, T) -> (B, T-1)
        logp, _ = self.score_targets(ids[:, :-1], ids[:, 1:], self.init_state(ids.shape[0]))
        return logp


@runtime_checkable
class ClozeModel(Protocol):
    """A bidirectional (cloze) model: each token predicted from every other token of its line.

    Not a LanguageModel (no left-to-right `step`): it cannot generate, and its
    evaluation is a pseudo-perplexity, exp of the mean -log p(x_t | x_{!=t}).
    `ids` are framed lines `<s> x_1 .. x_n </s>` padded on the right (lmkit.text.lines).
    """

    vocab: Vocab
    kind: str
    cloze: bool  # True

    def cloze_logprobs(self, ids: torch.Tensor, lengths: torch.Tensor | None = None,
                       at: int | None = None) -> torch.Tensor: ...  # (N, L, V); with `at`, that position's (N, V)


def is_cloze(model) -> bool:
    """True for a bidirectional cloze model (the ClozeModel capability)."""
    return bool(getattr(model, "cloze", False))


@contextlib.contextmanager
def evaluating(model) -> Iterator[None]:
    """Eval mode (no dropout) and no autograd for the duration; the training flag is restored."""
    was_training = bool(getattr(model, "training", False))
    if was_training:
        model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        if was_training:
            model.train()


def line_start_read_as_end(inputs: torch.Tensor) -> torch.Tensor:
    """(B, T) input ids with `<s>` replaced by `</s>`, for a network trained on a stream of lines (TBPTT windows).

    Such a network has only ever read a line's start as the token after the `</s>` of the line before: `<s>` is
    in no training window, and its input vector is the one it was initialised with. Read as `<s>`, a prompt, a
    line scored alone (--reset-per-line, fill, rescore) or a sample began from that untrained vector: a word
    LSTM of Shakespeare scored its test lines one by one at perplexity 167.6, and at 85.8 reading `</s>`
    (benchmarks/RESULTS.md, "A line's start"). An N-gram model keeps `<s>`: it counts its lines from it."""
    return inputs.masked_fill(inputs == BOS_ID, EOS_ID)


def model_device(model) -> torch.device:
    """The device of the model's parameters (the CPU for a model without any: an N-gram model)."""
    parameters = getattr(model, "parameters", None)
    first = next(iter(parameters()), None) if callable(parameters) else None
    return first.device if first is not None else torch.device("cpu")
