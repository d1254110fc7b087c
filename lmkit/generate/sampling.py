"""Text generation written once against the LanguageModel protocol.

Only `init_state`, `step` and `score_targets` (to read a prompt in one pass)
are used, so the same code samples from an RNN, a GRU, an LSTM, the scratch
RNN and an N-gram model. Each generated token costs exactly one `step` over
the whole batch of streams; the prefix is never run again.

Strategies, picked by SamplingConfig:
    greedy           the most likely token each step
    ancestral        draw from softmax(log p / temperature), optionally cut to
                     the top-k tokens and/or the nucleus (smallest set whose
                     probability reaches top-p), in that order
    beam search      the `beam` best continuations by total log-prob divided by
                     length ** length_penalty (1 = mean log-prob per token); in lmkit/generate/beam.py,
                     reached through lmkit.generate.decode

Reported log-probs are always the model's own (temperature 1, nothing cut
away), so a sample's total equals what `model.score` gives the same tokens.
`<pad>` and `<s>` are never generated, `<unk>` only with allow_unk.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from lmkit.config.settings import LARGEST_SEED, check_settings, setting
from lmkit.errors import ConfigError
from lmkit.evaluate.perplexity import WINDOW
from lmkit.models.base import evaluating, model_device
from lmkit.text.vocab import Vocab

NEG_INF = float("-inf")
PER_TOKEN = 1.0  # the length penalty when none is given: beam hypotheses ranked by mean log-prob per token


LARGEST_LENGTH = 1_000_000   # tokens per sample: far beyond any use, small enough to refuse a typo early


@dataclass(frozen=True)
class SamplingConfig:
    max_tokens: int = setting(200, "Most tokens to generate per sample.", low=1, high=LARGEST_LENGTH)
    sentences: int = setting(1, "Stop after this many sentences the sample writes (a line end closing a line with "
                             "generated text; the end of the prompt's own line or an empty line does not count); "
                             "0 = keep going to --max-tokens.",
                             low=0, high=LARGEST_LENGTH)
    num_samples: int = setting(1, "Samples drawn together in one batch, each printed under a '# sample K of N' line.", low=1, high=4096)
    greedy: bool = setting(False, "Always take the most likely token; at a line's start, the most likely but the "
                           "line end (an empty line is read as a line start again, and repeats).")
    temperature: float | None = setting(None, "Divide log-probs by this before sampling [default: 1; 0.001 to "
                                        "1000]; near 0 nearly always the most likely token.", low=1e-3, high=1e3,
                                        hint="near 0, use --greedy for the most likely token; at 1000 the draw is "
                                             "already almost uniform")
    top_k: int | None = setting(None, "Sample only among the k most likely tokens.", low=1, high=2**31)
    top_p: float | None = setting(None, "Sample only from the smallest set of tokens whose probability reaches p.",
                                  low=0, low_open=True, high=1)
    beam: int | None = setting(None, "Beam search with N beams; prints the N best: those that reached --sentences, "
                               "best first, then any cut at --max-tokens. Like --greedy it writes no empty line.",
                               low=1, high=4096)
    length_penalty: float | None = setting(None, "Beam: rank by log-prob / length^this (0 = total log-prob, "
                                           "1 = per token) [default: 1].", low=0, high=100)
    allow_unk: bool = setting(False, "Let <unk> be generated.")
    seed: int | None = setting(None, "Seed for identical samples on the same machine [default: random]; "
                               "--greedy and --beam draw nothing.", low=0, high=LARGEST_SEED)

    @property
    def draws(self) -> bool:
        """Whether tokens are drawn at random (so a seed matters): not greedy, not beam search."""
        return self.beam is None and not self.greedy

    def validate(self, vocab: Vocab) -> "SamplingConfig":
        """Check every option against its range and the vocabulary; ConfigError names the option."""
        check_settings(self)
        self._validate_combination(vocab)
        return self

    def _validate_combination(self, vocab: Vocab) -> None:
        sampling = [f"--{n.replace('_', '-')}" for n in ("temperature", "top_k", "top_p", "seed")
                    if getattr(self, n) is not None]
        deterministic = "--beam" if self.beam is not None else "--greedy" if self.greedy else None
        if self.beam is not None and self.greedy:
            raise ConfigError("--greedy and --beam are two strategies: pick one (--beam 1 is greedy)")
        if deterministic and sampling:
            raise ConfigError(f"{deterministic} does not sample, so {', '.join(sampling)} would be ignored: drop one")
        if self.length_penalty is not None and self.beam is None:
            raise ConfigError(f"--length-penalty {self.length_penalty:g} ranks beam search's hypotheses, and there is no "
                              f"--beam: add --beam N, or drop --length-penalty")
        if deterministic and self.num_samples > 1:
            raise ConfigError(f"{deterministic} is deterministic: --num-samples {self.num_samples} would repeat one output")
        allowed = len(vocab) - len(banned_ids(vocab, self.allow_unk))
        if self.beam is not None and not 1 <= self.beam <= allowed:
            raise ConfigError(f"--beam must be between 1 and the {allowed} tokens the vocabulary can generate, got {self.beam}")


@dataclass
class Sample:
    """Generated ids (prompt excluded) with the model's log-prob of each; `score` ranks beam outputs."""

    ids: list[int]
    logprobs: list[float]
    score: float | None = None
    finished: bool = True          # False: max_tokens cut it before its last `</s>`

    @property
    def total(self) -> float:
        return float(sum(self.logprobs))


OnToken = Callable[[torch.Tensor, torch.Tensor], None]  # (ids (B,), active (B,) bool) per step


def banned_ids(vocab: Vocab, allow_unk: bool = False, device=None) -> torch.Tensor:
    """Ids never generated: `<pad>`, `<s>` (never predicted) and, unless asked, `<unk>`."""
    return torch.tensor([vocab.pad_id, vocab.bos_id] + ([] if allow_unk else [vocab.unk_id]), device=device)


# Below this many streams, stepping an RNN on CPU is faster without oneDNN and on one thread:
# oneDNN's RNN kernels cost ~0.5 ms of setup per call, several times a whole 2x256 LSTM step on
# the plain kernels at batch 1, and a second thread only adds waiting to such small products
# (5-10x slower when the cores are busy). See "Generation speed" in benchmarks/RESULTS.md.
SMALL_BATCH = 16


@contextlib.contextmanager
def step_kernels(model, batch_size: int) -> Iterator[None]:
    """The faster CPU settings for stepping `batch_size` streams (process-wide while it lasts)."""
    small = batch_size < SMALL_BATCH and model_device(model).type == "cpu"
    onednn, threads = torch.backends.mkldnn.enabled, torch.get_num_threads()
    if small:
        torch.backends.mkldnn.enabled = False
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small:
            torch.backends.mkldnn.enabled = onednn
            torch.set_num_threads(threads)


def prime(model, prompt_ids: list[int], batch_size: int):
    """Feed `<s> prompt` once -> (log-probs (B, V) of the next token, state), copied to `batch_size` identical
    streams: all but the last token through `score_targets`, WINDOW at a time (as eval reads a text) with the state carried, the
    last through `step`. So its memory grows with neither the prompt's length times the streams nor the prompt."""
    device = model_device(model)
    ids = torch.tensor([model.vocab.bos_id, *prompt_ids], device=device)[None]  # (1, T)
    state = model.init_state(1)
    for start in range(0, ids.shape[1] - 1, WINDOW):
        stop = min(start + WINDOW, ids.shape[1] - 1)
        _, state = model.score_targets(ids[:, start:stop], ids[:, start + 1 : stop + 1], state)
    logp, state = model.step(ids[:, -1], state)                                 # (1, V)
    copies = torch.zeros(batch_size, dtype=torch.long, device=device)
    return logp.expand(batch_size, -1).contiguous(), model.select_state(state, copies)


def starts_line(prompt_ids: list[int], eos: int) -> bool:
    """Whether the first generated token begins a line: no prompt, or one that ends with a line end."""
    return not prompt_ids or prompt_ids[-1] == eos


def no_empty_line(scores: torch.Tensor, line_start: torch.Tensor, eos: int) -> torch.Tensor:
    """(B, V) scores with `</s>` out of reach in the rows at a line's start (`line_start`, (B,)) that can take
    another token. For the decoders that take the best token (--greedy, --beam): after an empty line the model
    reads a line's start again and prefers `</s>` again, so a model of text with blank lines (a play) wrote
    nothing but line ends up to --max-tokens. Sampling draws, and keeps the model's choice."""
    if not bool(line_start.any()):  # most steps: nothing to do, no copy of the scores
        return scores
    finite = torch.isfinite(scores)                                                    # (B, V)
    ban = line_start & (finite.sum(dim=1) > finite[:, eos].long())  # (B,): a token other than </s> can follow
    scores = scores.clone()
    scores[:, eos] = scores[:, eos].masked_fill(ban, NEG_INF)
    return scores


def keep_top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """(B, V) scores with all but the k highest of each row set to -inf (ties with the k-th kept)."""
    if k >= scores.shape[-1]:
        return scores
    kth = scores.topk(k, dim=-1).values[:, -1:]  # (B, 1)
    return scores.masked_fill(scores < kth, NEG_INF)


def keep_top_p(scores: torch.Tensor, p: float) -> torch.Tensor:
    """(B, V) scores cut to the nucleus: the smallest set of most likely tokens whose probability reaches p."""
    if p >= 1.0:
        return scores
    ordered, order = scores.sort(dim=-1, descending=True)         # (B, V)
    probs = ordered.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs                     # probability of the tokens ranked higher
    drop_sorted = mass_before >= p
    drop_sorted[:, 0] = False                                      # the top token always stays, however small p is
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return scores.masked_fill(drop, NEG_INF)


def choose_next(logp: torch.Tensor, config: SamplingConfig, banned: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B, V) log-probs -> (B,) next ids by the configured strategy; `banned` ids are never chosen."""
    scores = logp.index_fill(1, banned, NEG_INF)
    if config.greedy:
        return scores.argmax(dim=-1)
    if config.temperature is not None:  # shifted so the best token is 0: a small temperature cannot overflow
        scores = (scores - scores.max(dim=-1, keepdim=True).values) / config.temperature
    if config.top_k is not None:
        scores = keep_top_k(scores, config.top_k)
    if config.top_p is not None:
        scores = keep_top_p(scores, config.top_p)
    probs = scores.softmax(dim=-1)  # (B, V)
    # one categorical draw per row: argmax of p / E with E ~ Exp(1) is token i with probability p_i
    # (the Gumbel-max trick; a third of torch.multinomial's time for one stream)
    noise = torch.empty_like(probs).exponential_(generator=generator).clamp_(min=torch.finfo(probs.dtype).tiny)
    return (probs / noise).argmax(dim=-1)


def make_generator(seed: int | None, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def sample(model, prompt_ids: list[int], config: SamplingConfig, on_token: OnToken | None = None) -> list[Sample]:
    """`config.num_samples` continuations of `<s> prompt`, drawn in one batch (greedy when config.greedy).

    `on_token(ids, active)` is called after each step, so a caller can print text as it is made.
    """
    config.validate(model.vocab)
    if config.beam is not None:
        raise ConfigError("beam search is not sampling: call lmkit.generate.decode.decode (or beam_search) with --beam set")
    count, eos = config.num_samples, model.vocab.eos_id
    banned = banned_ids(model.vocab, config.allow_unk, model_device(model))
    with evaluating(model), step_kernels(model, count):
        logp, state = prime(model, prompt_ids, count)
        generator = make_generator(config.seed, logp.device)
        done = torch.zeros(count, dtype=torch.bool, device=logp.device)
        sentences = torch.zeros(count, dtype=torch.long, device=logp.device)
        wrote = torch.zeros(count, dtype=torch.bool, device=logp.device)  # generated text on the current line
        columns, logp_columns, active_columns = [], [], []
        line_start = torch.full((count,), starts_line(prompt_ids, eos), device=logp.device)
        for position in range(config.max_tokens):
            if position:
                logp, state = model.step(ids, state)  # the one step each new token costs
            ids = choose_next(no_empty_line(logp, line_start, eos) if config.greedy else logp, config, banned,
                              generator)  # (B,)
            line_start = ids == eos
            active = ~done
            columns.append(ids)
            logp_columns.append(logp.gather(1, ids[:, None])[:, 0])
            active_columns.append(active)
            if on_token is not None:
                on_token(ids, active)
            if config.sentences:  # `ROMEO.` + line end is the prompt's line, not a sentence the model wrote
                ends = ids == eos
                sentences += ends & wrote & active
                wrote = ~ends
                done = sentences >= config.sentences
                if bool(done.all()):
                    break
    return collect_samples(columns, logp_columns, active_columns, done)


def collect_samples(columns, logp_columns, active_columns, done) -> list[Sample]:
    """Per-stream Samples from per-step (B,) columns, each stream cut where it stopped."""
    ids = torch.stack(columns, dim=1).tolist()              # (B, T)
    logps = torch.stack(logp_columns, dim=1).tolist()
    lengths = torch.stack(active_columns, dim=1).sum(dim=1).tolist()
    return [Sample(ids[b][:n], logps[b][:n], finished=bool(done[b])) for b, n in enumerate(lengths)]


def sample_text(model, tokenizer, tokens: int, seed: int, reverse: bool) -> str:
    """`tokens` tokens sampled at temperature 0.8 from nothing, decoded; a backward model's lines turned around."""
    config = SamplingConfig(max_tokens=tokens, sentences=0, temperature=0.8, seed=seed)
    ids = sample(model, [], config)[0].ids
    if not reverse:
        return tokenizer.decode(ids)
    # a backward model writes each line back to front: turned around by its ids, not by cutting the decoded text
    # again (a segmenter may cut "江泽民" other than the model's 江 泽民)
    return "\n".join(tokenizer.decode(line[::-1]) for line in id_lines(ids, tokenizer.vocab.eos_id))


def id_lines(ids: list[int], eos: int) -> list[list[int]]:
    """Ids cut at each `eos` (dropped): [5, 6, eos, 7] -> [[5, 6], [7]]; a trailing eos leaves a last empty line."""
    lines: list[list[int]] = [[]]
    for i in ids:
        if i == eos:
            lines.append([])
        else:
            lines[-1].append(i)
    return lines
