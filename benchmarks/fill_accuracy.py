"""Fill-in-the-blank accuracy: two one-directional models against one bidirectional model.

    python benchmarks/fill_accuracy.py --corpus pku98 --tokenizer word --max-size 20000 --minutes 2.5 --bptt 128
    python benchmarks/fill_accuracy.py --corpus shakespeare --tokenizer word --max-size 10000 --minutes 2.5 --bptt 64
    python benchmarks/fill_accuracy.py --corpus shakespeare --tokenizer word --max-size 10000 --minutes 2.5 --bptt 64 --span-lengths 1,2,3,4
    python benchmarks/fill_accuracy.py --corpus tang300 --tokenizer char --minutes 10 --blanks 500

(figures: benchmarks/RESULTS.md, "Fill in the blank").

Trains (through the `lmkit` CLI, into --work, each command with --threads) a
forward and a backward 5-gram Kneser-Ney model, a forward and a backward LSTM,
and one BiLSTM. Then blanks out random runs of L consecutive tokens of random
test lines, for each L of --span-lengths (default 1: single tokens), and ranks
fillers of L tokens for each blank:

    (a) ngram     log p_fwd(sentence) + log p_bwd(reversed sentence), 5-grams
    (b) lstm      the same with the two LSTMs
    (c) bilstm    the BiLSTM's cloze prediction at the blank (for L > 1, the
                  pseudo-log-likelihood of the span's tokens), its 20 best
                  ranked again with the pseudo-log-likelihood of the rest of
                  the filled sentence at a weight chosen on --tune-blanks blanks
                  of the valid split (`cloze_fill`'s rerank); the row
                  "bilstm, no rerank" is the cloze prediction alone
    (d) bilstm + memory
                  (c) with the BiLSTM also reading a nearest-neighbour
                  memory of the train split at the filler's places
                  (lmkit.evaluate.memory, `lmkit fill --memory`): its
                  neighbours, temperature and weight chosen on the same
                  valid blanks over MEMORY_GRID (the cloze prediction
                  alone), then its rerank weight; --no-memory leaves it out
    (e) lstm + memory
                  (b) with each LSTM reading its own memory of the train
                  split (the backward one's lines reversed) where it
                  predicts the filler's tokens (`lmkit fill FWD BWD
                  --memory`, lmkit.generate.fill.memory_gains), and the
                  shortlist taken from those mixed predictions: the
                  settings, one for both memories, chosen over MEMORY_GRID on
                  the same valid blanks by the sum of the two mixed
                  predictions at the blank alone (forward after the left
                  side, backward after the right), as (d)'s are by the cloze
                  prediction alone; then its weight again, by the pair's
                  whole scoring on --pair-tune-blanks of them, as (d)'s rerank
                  weight is; --no-memory leaves it out too

A filler is right at top-k when the whole span, all L tokens in order, is
among its k best. The script prints top-1 and top-5 accuracy, one row per
span length and filler (a markdown table, with the share of blanks whose span
was among the filler's candidates at all, "proposed", and its scoring seconds
per blank), then each filler's top-1 by the frequency band of the span's
rarest token (`frequency_bands`: cut where the adaptive softmax cuts its head
and clusters, for vocabularies of 1,000 types and more), then the BiLSTM's
top-1 lead over each pair with the standard error of that paired difference
(`lead`; the memory filler's over the pairs and over (c)), with the CPU, torch, threads, the load average before training
and after scoring, and every model's parameter count.

The blanks of each length are drawn with their own generator seeded --seed, so
they do not depend on the other lengths asked for: the single-token rows of
--span-lengths 1,2,3,4 are those of a plain run. A blank is a run of L
tokens of a test line of at least L + 2 tokens, so at least two tokens of
context remain (on one side of it or split between both); no token of the run
is one the vocabulary maps to <unk> (the context may hold <unk>s).
--score-minutes bounds the scoring of each length's blanks.

What is held equal, so that the comparison is fair:

  tokens      all five models are built with the same tokenizer options
              (--tokenizer, --max-size, --min-freq), so they share one vocabulary.
  parameters  the BiLSTM's two readers have the two LSTMs' layers and sizes, and its
              softmax reads both (2H inputs where each LSTM's reads H): the same
              weights up to the softmax's one bias vector (with --softmax
              adaptive, the tail projections grow with their input), plus the
              join layer of the default --join layer (2 x 2H x H + H weights,
              262,400 at H = 256). Its one embedding (shared by both readers, the
              default) is 240 wide where each LSTM has its own of 128: V x 16
              fewer weights there, and 2 x 4H x 112 more in the readers' first
              input matrices. In all 2.5% more than the two LSTMs on pku98
              (vocabulary 20,000), 7.2% more on Shakespeare (10,000). The
              counts are printed.
  time        --minutes is each LSTM's training time; the BiLSTM, one model
              doing the work of both, gets their sum (2 x --minutes).
  batches     the same tokens per optimizer step, --batch-size x --bptt: the LSTMs
              read windows of --batch-size rows of --bptt tokens, the BiLSTM batches
              of whole lines of about as many tokens (lmkit.train.line_batches).
  dropout     the same --dropout between layers and before the softmax, for all three.

What is not: (d) holds a memory of the train split beside the BiLSTM's
weights (2H floats a training token, no training), as the 5-gram pair holds
its counts of that text; (e) gives the LSTM pair the same, each LSTM H floats
a training token (2H for the pair). (b) and (c) hold none.

--fillers runs some of the fillers only (the blanks do not depend on which);
--ranks writes each one's rank of every blank, so runs of different fillers
on the same blanks can be compared blank by blank afterwards
(benchmarks/fill_leads.py).

The two-model fillers score whole sentences, one per candidate, which over
a word vocabulary costs minutes per blank on one thread. With --shortlist K
they rescore exactly only the union of the K likeliest next tokens of the
forward model after the left side and of the backward model after the
reversed right side; a true answer outside that union counts as a miss.
This can only cost the two-model fillers accuracy, never the BiLSTM (which
ranks its whole vocabulary in one pass). --shortlist 0 ranks the whole
vocabulary for them too.

A span of L > 1 tokens is ranked among candidates of exactly L tokens, those
that `lmkit fill --max-len L --beam B` proposes, the shorter ones dropped:

    (a), (b)  a beam search of width --beam with the forward model from the
              left side and one with the backward model from the reversed
              right side (`vocabulary_fillers`, `grow_fillers`), each reading
              one side only; the union of their L-token spans, at most
              2 x --beam, is rescored by whole sentences in both directions
              (`fill_blank`).
    (c)       the BiLSTM fills the L places left to right, each prediction
              reading both sides (unfilled places hold <unk>), keeping the
              --beam best partial spans at each place (`grow_span`); those
              --beam spans are ranked by pseudo-log-likelihood (`cloze_fill`).

A true span the beams do not propose is a miss, for all three fillers, so at
L > 1 top-k measures proposing and ranking together (the "proposed" column
says how often the span was among the candidates at all); a wider --beam
trades time for recall. The two-model fillers get two beams' candidates (one
per model, as they have two models), the BiLSTM one beam; but its beam reads
both sides of the blank at every place, where each of theirs reads one side
only.

Models already in --work are reused, so a second run only scores.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch

from lmkit.checkpoint.save_load import load_model
from lmkit.corpus.catalog import get_corpus
from lmkit.generate.cloze_fill import CONTEXT_WEIGHT, RERANK, cloze_fill, framed, grow_span
from lmkit.generate.fill import (fill_blank, fillable_ids, next_token_rows, remembered_rows,
                                 vocabulary_fillers)
from lmkit.evaluate.memory import MemorySettings, NeighbourMemory, PairMemorySettings, blend
from lmkit.generate.sampling import prime
from lmkit.models.base import evaluating
from lmkit.models.neural.heads import MIN_ADAPTIVE_VOCAB, adaptive_cutoffs

SIZES = ["--layers", "2", "--hidden-size", "256"]
LSTM = ["--model", "lstm", *SIZES, "--emb-size", "128"]
# one shared embedding (see "parameters" above); --mask-rate: blanks of several tokens are filled from <unk>s
BILSTM = ["--model", "bilstm", *SIZES, "--emb-size", "240", "--mask-rate", "0.15"]
CONTEXT_WEIGHTS = (0.0, 0.25, 0.5, 1.0)  # tried on the valid split's blanks for the BiLSTM's rerank
MEMORY_FILLER, PAIR_MEMORY_FILLER = "bilstm + memory", "lstm + memory"
FILLERS = ("ngram", "lstm", "bilstm", "bilstm, no rerank", MEMORY_FILLER, PAIR_MEMORY_FILLER)
LEADS = (("bilstm", "ngram"), ("bilstm", "lstm"), (MEMORY_FILLER, "ngram"), (MEMORY_FILLER, "lstm"),
         (MEMORY_FILLER, "bilstm"), (MEMORY_FILLER, PAIR_MEMORY_FILLER), (PAIR_MEMORY_FILLER, "lstm"),
         (PAIR_MEMORY_FILLER, "ngram"))  # (filler, over): the leads printed, where both ran
MEMORY_GRID = {"neighbours": (16, 64, 256, 1024), "temperature": (1.0, 3.0, 10.0, 30.0, 100.0),
               "weight": (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)}  # tried on the valid split's blanks for the memory


def lmkit(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "lmkit", *args], check=True)


def training_commands(work: Path, args) -> dict[str, list[str]]:
    """The lmkit command line that trains each of the five models into work/NAME."""
    seconds = int(args.minutes * 60)
    tokens = ["--corpus", args.corpus, "--tokenizer", args.tokenizer, "--min-freq", str(args.min_freq),
              *(["--max-size", str(args.max_size)] if args.max_size else []), "--threads", str(args.threads)]
    neural = [*tokens, "--softmax", args.softmax, "--quiet", "--sample-tokens", "0",
              "--dropout", str(args.dropout), "--out-dropout", str(args.dropout),
              "--batch-size", str(args.batch_size), "--bptt", str(args.bptt),
              *[word for option in args.train_option for word in shlex.split(option)]]
    commands = {}
    for direction, short in (("forward", "fwd"), ("backward", "bwd")):
        commands[f"ngram-{short}"] = ["ngram", *tokens, "--order", "5", "--direction", direction]
        commands[f"lstm-{short}"] = ["train", *neural, *LSTM, "--direction", direction, "--max-time", str(seconds)]
    commands["bilstm"] = ["train", *neural, *BILSTM, "--max-time", str(2 * seconds)]  # the two LSTMs' time together
    return {name: [*command, "--out", str(work / name)] for name, command in commands.items()}


def train_all(work: Path, args) -> dict[str, Path]:
    """Train the models not trained yet (a rerun with the same --work reuses them); name -> directory."""
    for name, command in training_commands(work, args).items():
        if not (work / name / "config.json").exists():
            lmkit(*command)
    return {name: work / name for name in ("ngram-fwd", "ngram-bwd", "lstm-fwd", "lstm-bwd", "bilstm")}


Blank = tuple[list[int], list[int], list[int]]  # (left ids, the span's ids, right ids)


def encoded_test_split(corpus: str, tokenizer, split: str = "test") -> list[list[int]]:
    return [tokenizer.encode_line(line) for line in get_corpus(corpus).lines(split)]


def blanks(lines: list[list[int]], unk_id: int, length: int, count: int, seed: int) -> list[Blank]:
    """`count` random runs of `length` known tokens, each of a random line of at least length + 2 tokens."""
    rng = random.Random(seed)  # one generator per length: its blanks do not depend on the other lengths
    lines = [ids for ids in lines if len(ids) >= length + 2]
    if not any(unk_id not in ids[at : at + length] for ids in lines for at in range(len(ids) - length + 1)):
        raise SystemExit(f"--span-lengths {length}: no test line has {length} known tokens in a row and 2 more "
                         "beside them")
    chosen = []
    while len(chosen) < count:
        ids = rng.choice(lines)
        at = rng.randrange(len(ids) - length + 1)
        if unk_id not in ids[at : at + length]:
            chosen.append((ids[:at], ids[at : at + length], ids[at + length :]))
    return chosen


def shortlist(forward, backward, left: list[int], right: list[int], size: int,
              memories: tuple[NeighbourMemory, NeighbourMemory] | None = None) -> list[list[int]] | None:
    """The union of each direction's `size` likeliest tokens at the blank (each mixed with its memory, where given),
    or None (the whole vocabulary) for 0."""
    if size <= 0:
        return None
    allowed = torch.tensor(fillable_ids(forward.vocab))
    found: set[int] = set()
    for model, context, memory in ((forward, left, memories and memories[0]), (backward, right[::-1],
                                                                                memories and memories[1])):
        if memory is None:
            with evaluating(model):
                logp = prime(model, context, 1)[0][0].float().cpu()[allowed]
        else:
            logp = remembered_rows(model, memory, context, [()])[1][0][allowed]
        found.update(allowed[logp.topk(min(size, len(allowed))).indices].tolist())
    return [[i] for i in sorted(found)]


def pair_fillers(forward, backward, left: list[int], right: list[int], length: int, size: int, beam: int,
                 memories: tuple[NeighbourMemory, NeighbourMemory] | None = None) -> list[list[int]]:
    """A two-model filler's `length`-token fillers, best first: the single-token shortlist, or both beams' spans;
    each model reading its memory at the filler's places where `memories` are given."""
    if length == 1:
        candidates = shortlist(forward, backward, left, right, size, memories)
    else:  # the beams also propose the shorter spans and the vocabulary's single tokens: not this blank's length
        candidates = [c for c in vocabulary_fillers(forward, backward, left, right, length, beam) if len(c) == length]
    return [f.ids for f in fill_blank(forward, backward, left, right, candidates, memories=memories)]


def cloze_fillers(model, left: list[int], right: list[int], length: int, beam: int, rerank: int = RERANK,
                  context_weight: float = CONTEXT_WEIGHT, memory: NeighbourMemory | None = None) -> list[list[int]]:
    """The BiLSTM's `length`-token fillers, best first: its whole vocabulary, or its beam's spans."""
    candidates = None if length == 1 else grow_span(model, left, right, length, beam, memory=memory)
    return [f.ids for f in cloze_fill(model, left, right, candidates, rerank=rerank, context_weight=context_weight,
                                      memory=memory)]


def tune_context_weight(model, cases: list[Blank], memory: NeighbourMemory | None = None) -> dict[float, float]:
    """Single-token top-1 of the BiLSTM's rerank at each of CONTEXT_WEIGHTS on `cases` (blanks of the valid split):
    one pass, as each of the RERANK best keeps its own and its context's pseudo-log-likelihood."""
    hits = dict.fromkeys(CONTEXT_WEIGHTS, 0)
    with torch.inference_mode():
        for left, span, right in cases:
            best = cloze_fill(model, left, right, rerank=RERANK, memory=memory)[:RERANK]
            for weight in CONTEXT_WEIGHTS:
                hits[weight] += max(best, key=lambda f: f.own + weight * f.context).ids == span
    return {weight: hit / max(len(cases), 1) for weight, hit in hits.items()}


def cloze_rows(model, cases: list[Blank], batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """The BiLSTM's features at each blank (N, D) and its log-probabilities there (N, V)."""
    feats, logps = [], []
    with evaluating(model), torch.inference_mode():
        for first in range(0, len(cases), batch):
            chunk = cases[first:first + batch]
            ids, lengths = framed(model, [[*left, model.vocab.unk_id, *right] for left, _, right in chunk])
            at = torch.tensor([len(left) for left, _, _ in chunk])
            blank = model.features(ids, lengths)[torch.arange(len(chunk)), at]                  # (b, D)
            feats.append(blank.float()); logps.append(model.head.log_probs(blank).double())     # (b, V)
    return torch.cat(feats), torch.cat(logps)


def next_rows(model, contexts: list[list[int]], batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """A left-to-right model's output after `<s> context` (N, D) and its log-probabilities of the next token (N, V)."""
    rows = [next_token_rows(model, contexts[first:first + batch]) for first in range(0, len(contexts), batch)]
    return torch.cat([feats.float() for feats, _ in rows]), torch.cat([logp for _, logp in rows])


def grid_top1(readings: list[tuple[NeighbourMemory, torch.Tensor, torch.Tensor]], truth: torch.Tensor,
              fillable: list[int]) -> tuple[float, dict[MemorySettings, float]]:
    """Top-1 over the fillable ids of the sum of the readings' (memory, features (N, D), model log-probabilities
    (N, V)) model log-probabilities alone, and of their mixtures at every setting of MEMORY_GRID; the neighbours are
    searched once, at the grid's most."""
    searched = [(memory, memory.nearest(feats, max(MEMORY_GRID["neighbours"])), logp)
                for memory, feats, logp in readings]
    barred = torch.ones(readings[0][2].shape[1], dtype=torch.bool)
    barred[torch.tensor(fillable)] = False
    alone = sum(logp for *_, logp in readings).masked_fill(barred, -math.inf).argmax(1)
    shares = {}
    for neighbours in MEMORY_GRID["neighbours"]:
        for temperature in MEMORY_GRID["temperature"]:
            memory_ps = [memory.probabilities(near.first(neighbours), temperature) for memory, near, _ in searched]
            for weight in MEMORY_GRID["weight"]:
                total = sum(blend(memory_p, logp, weight) for memory_p, (*_, logp) in zip(memory_ps, searched))
                best = total.masked_fill(barred, -math.inf).argmax(1)
                shares[MemorySettings(neighbours, temperature, weight)] = float((best == truth).double().mean())
    return float((alone == truth).double().mean()), shares


def tune_memory(model, memory: NeighbourMemory, cases: list[Blank]) -> dict[MemorySettings, float]:
    """Single-token top-1 of the BiLSTM's cloze prediction mixed with `memory` (no rerank) on `cases` (blanks of the
    valid split) at every setting of MEMORY_GRID."""
    truth = torch.tensor([span[0] for _, span, _ in cases])
    return grid_top1([(memory, *cloze_rows(model, cases))], truth, fillable_ids(model.vocab))[1]


def tune_pair_memory(forward, backward, memories: tuple[NeighbourMemory, NeighbourMemory],
                     cases: list[Blank]) -> tuple[float, dict[MemorySettings, float]]:
    """Single-token top-1 on `cases` (blanks of the valid split) of the two LSTMs' predictions at the blank alone,
    log p_fwd(c | <s> left) + log p_bwd(c | <s> reversed right): without their memories, and with each mixed with its
    own at every setting of MEMORY_GRID (one for both), what the pair's memories change of its scores."""
    truth = torch.tensor([span[0] for _, span, _ in cases])
    readings = [(memories[0], *next_rows(forward, [left for left, _, _ in cases])),
                (memories[1], *next_rows(backward, [right[::-1] for _, _, right in cases]))]
    return grid_top1(readings, truth, fillable_ids(forward.vocab))


@dataclass
class Tally:
    """One filler's rank of the true span of each blank of one length (inf: not among its candidates), and its time."""
    ranks: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def share(self, k: float) -> str:
        """Of the blanks, the share whose span ranked in the top k (k = inf: among the candidates at all)."""
        return f"{100 * sum(r < k for r in self.ranks) / max(len(self.ranks), 1):.1f}%"


def lead(ours: Tally, theirs: Tally, k: int = 1) -> tuple[float, float]:
    """Points by which `ours` top-k share exceeds `theirs` over the same blanks, and that difference's standard
    error: both fillers ranked each blank, so the error is that of the mean of the per-blank differences
    (-1, 0 or +1), far smaller than two shares' errors added."""
    diffs = [(a < k) - (b < k) for a, b in zip(ours.ranks, theirs.ranks, strict=True)]
    mean = sum(diffs) / len(diffs)
    variance = sum((d - mean) ** 2 for d in diffs) / max(len(diffs) - 1, 1)
    return 100 * mean, 100 * math.sqrt(variance / len(diffs))


def score(models: dict, cases: list[Blank], deadline: float, size: int, beam: int, fillers: list[str],
          context_weight: float = CONTEXT_WEIGHT, memory: NeighbourMemory | None = None,
          memory_context_weight: float = CONTEXT_WEIGHT,
          pair_memories: tuple[NeighbourMemory, NeighbourMemory] | None = None) -> dict[str, Tally]:
    """The Tally of each of `fillers` (FILLERS' names) over `cases` (all of one length), blank by blank until
    `deadline`; the BiLSTM's `memory` read re-ranked at `memory_context_weight`, the LSTMs' `pair_memories`."""
    rankers = {"ngram": partial(pair_fillers, models["ngram-fwd"], models["ngram-bwd"], size=size, beam=beam),
               "lstm": partial(pair_fillers, models["lstm-fwd"], models["lstm-bwd"], size=size, beam=beam),
               "bilstm": partial(cloze_fillers, models["bilstm"], beam=beam, context_weight=context_weight),
               "bilstm, no rerank": partial(cloze_fillers, models["bilstm"], beam=beam, rerank=0),
               MEMORY_FILLER: partial(cloze_fillers, models["bilstm"], beam=beam,
                                      context_weight=memory_context_weight, memory=memory),
               PAIR_MEMORY_FILLER: partial(pair_fillers, models["lstm-fwd"], models["lstm-bwd"], size=size, beam=beam,
                                           memories=pair_memories)}
    rankers = {name: ranker for name, ranker in rankers.items() if name in fillers}
    tallies = {name: Tally() for name in rankers}
    for left, span, right in cases:
        if time.monotonic() > deadline:
            break
        for name, ranker in rankers.items():
            start = time.perf_counter()
            with torch.inference_mode():
                ranked = ranker(left, right, len(span))
            tallies[name].seconds += time.perf_counter() - start
            tallies[name].ranks.append(ranked.index(span) if span in ranked else math.inf)
    return tallies


def frequency_bands(vocab_size: int) -> list[tuple[str, int, int]]:
    """(name, first id, end id) of bands of frequent to rare words (the vocabulary is sorted by frequency), cut where
    the adaptive softmax cuts its head and clusters: under --softmax adaptive the neural fillers' softmax treats each
    band apart, under full they are frequency bands all the same. None below MIN_ADAPTIVE_VOCAB types."""
    if vocab_size < MIN_ADAPTIVE_VOCAB:
        return []
    bounds = [0, *adaptive_cutoffs(vocab_size), vocab_size]
    names = ["head", *(f"cluster {c}" for c in range(1, len(bounds) - 1))]
    return [(f"{name}, ids {lo:,}-{end - 1:,}", lo, end) for name, lo, end in zip(names, bounds, bounds[1:])]


def band_shares(tally: Tally, cases: list[Blank], bands: list[tuple[str, int, int]]) -> list[str]:
    """The filler's top-1 share among the scored blanks whose span's rarest token (its highest id) is in each band."""
    shares = []
    for _, lo, end in bands:
        ranks = [rank for rank, (_, span, _) in zip(tally.ranks, cases) if lo <= max(span) < end]
        shares.append(f"{Tally(ranks).share(1)} of {len(ranks)}" if ranks else "-")
    return shares


def cpu_line() -> str:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("", platform.machine()):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    shown = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model} ({' '.join(shown) or 'flags unknown'}), {os.cpu_count()} CPUs"


def parameters(model) -> str:
    return f"{sum(p.numel() for p in model.parameters()):,}" if isinstance(model, torch.nn.Module) else "-"


def span_lengths(text: str) -> list[int]:
    """--span-lengths: comma-separated blank lengths, each at least 1 (sorted, repeats dropped)."""
    try:
        lengths = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers (1,2,3,4), got {text!r}") from None
    if min(lengths) < 1:
        raise argparse.ArgumentTypeError(f"each span length must be at least 1, got {text!r}")
    return sorted(set(lengths))


def at_least_one(text: str) -> int:
    if int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return int(text)


def tuned_memory(model, args, tokenizer, valid: list[Blank]) -> tuple[NeighbourMemory, float, str]:
    """The BiLSTM's memory of the train split, read as is best on the valid blanks (tune_memory), the rerank weight
    best with it (tune_context_weight), and a line saying what was chosen from what."""
    start = time.perf_counter()
    memory = NeighbourMemory.build(model, encoded_test_split(args.corpus, tokenizer, "train"))
    grid = tune_memory(model, memory, valid)
    memory.settings = max(grid, key=grid.get)  # ties: the first in MEMORY_GRID's order
    tuned = tune_context_weight(model, valid, memory)
    weight = max(tuned, key=lambda w: (tuned[w], -w))
    chosen, default = memory.settings, MemorySettings()
    at_default = f"{100 * grid[default]:.1f}%" if default in grid else "not tried"
    report = (f"memory of the train split: {len(memory):,} places; valid top-1 of the cloze prediction with it "
              f"({len(valid)} blanks): {100 * grid[chosen]:.1f}% at the best of {len(grid)} settings (neighbours "
              f"{chosen.neighbours}, temperature {chosen.temperature:g}, weight {chosen.weight:g}), {at_default} "
              f"at lmkit's defaults ({default.neighbours}, {default.temperature:g}, {default.weight:g}); rerank with it, by "
              "context weight: " + ", ".join(f"{w:g}: {100 * share:.1f}%" for w, share in tuned.items())
              + f"; chosen {weight:g} ({time.perf_counter() - start:.0f} s in all)")
    return memory, weight, report


def tune_pair_weight(forward, backward, memories: tuple[NeighbourMemory, NeighbourMemory], cases: list[Blank],
                     size: int) -> dict[float, float]:
    """Single-token top-1 on `cases` of the pair's whole scoring with its memories (pair_fillers: the shortlist of
    `size` from the mixed predictions, the sentences, the fillers' places mixed) at each of MEMORY_GRID's weights,
    the memories' other settings as they are: each blank's sentences are scored once, for the union of the weights'
    shortlists, and each weight ranks its own shortlist."""
    allowed = torch.tensor(fillable_ids(forward.vocab))
    hits = dict.fromkeys(MEMORY_GRID["weight"], 0)
    for left, span, right in cases:
        rows = []
        for model, memory, context in ((forward, memories[0], left), (backward, memories[1], right[::-1])):
            feats, logp = next_rows(model, [context])                                        # (1, D), (1, V)
            rows.append((memory, memory.nearest(feats), logp))
        mixed = {}  # weight -> (V,) log p_fwd + log p_bwd at the blank, each mixed; and its shortlist
        for weight in MEMORY_GRID["weight"]:
            gains, listed = torch.zeros(len(forward.vocab), dtype=torch.double), set()
            for memory, near, logp in rows:
                blended = blend(memory.probabilities(near, memory.settings.temperature), logp, weight)[0]
                gains += blended - logp[0]
                listed.update(allowed[blended[allowed].topk(min(size, len(allowed))).indices].tolist())
            mixed[weight] = (gains, sorted(listed))
        union = sorted(set().union(*(listed for _, listed in mixed.values())))
        base = {f.ids[0]: f.total for f in fill_blank(forward, backward, left, right, [[c] for c in union])}
        for weight, (gains, listed) in mixed.items():
            hits[weight] += max(listed, key=lambda c: base[c] + float(gains[c])) == span[0]
    return {weight: hit / max(len(cases), 1) for weight, hit in hits.items()}


def tuned_pair_memories(forward, backward, args, tokenizer, valid: list[Blank]
                        ) -> tuple[tuple[NeighbourMemory, NeighbourMemory], str]:
    """Each LSTM's memory of the train split (the backward one's lines reversed), read as is best on the valid blanks
    (tune_pair_memory), and a line saying what was chosen from what."""
    start = time.perf_counter()
    train = encoded_test_split(args.corpus, tokenizer, "train")
    memories = (NeighbourMemory.build(forward, train), NeighbourMemory.build(backward, [ids[::-1] for ids in train]))
    alone, grid = tune_pair_memory(forward, backward, memories, valid)
    chosen = max(grid, key=grid.get)  # ties: the first in MEMORY_GRID's order
    default = MemorySettings(**asdict(PairMemorySettings()))  # the grid's keys are plain MemorySettings
    for memory in memories:
        memory.settings = chosen
    weights = tune_pair_weight(forward, backward, memories, valid[:args.pair_tune_blanks], args.shortlist)
    weight = max(weights, key=lambda w: (weights[w], -w))  # ties: the smaller weight
    for memory in memories:
        memory.settings = MemorySettings(chosen.neighbours, chosen.temperature, weight)
    report = (f"the LSTMs' memories of the train split: {len(memories[0]):,} places each; valid top-1 of their two "
              f"predictions at the blank ({len(valid)} blanks): {100 * alone:.1f}% without, "
              f"{100 * grid[chosen]:.1f}% with them at the best of {len(grid)} settings (neighbours {chosen.neighbours}, "
              f"temperature {chosen.temperature:g}, weight {chosen.weight:g}), "
              f"{100 * grid[default]:.1f}% at lmkit's defaults; the pair's whole scoring with them, by weight "
              f"({min(len(valid), args.pair_tune_blanks)} blanks): "
              + ", ".join(f"{w:g}: {100 * share:.1f}%" for w, share in weights.items())
              + f"; chosen {weight:g} ({time.perf_counter() - start:.0f} s in all)")
    return memories, report


def chosen_fillers(text: str) -> list[str]:
    """--fillers: comma-separated names of FILLERS ("bilstm, no rerank" holds a comma of its own)."""
    names: list[str] = []
    for piece in (piece.strip() for piece in text.split(",")):
        if names and f"{names[-1]}, {piece}" in FILLERS:
            names[-1] = f"{names[-1]}, {piece}"
        elif piece:
            names.append(piece)
    unknown = [name for name in names if name not in FILLERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected names among {', '.join(FILLERS)}, got {text!r}")
    return [name for name in FILLERS if name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="tang300")
    parser.add_argument("--tokenizer", default="char", choices=("char", "word"))
    parser.add_argument("--max-size", type=int, default=0, help="Vocabulary cap, specials included (0: none).")
    parser.add_argument("--min-freq", type=int, default=1, help="Keep tokens seen at least this often.")
    parser.add_argument("--softmax", default="adaptive", choices=("full", "adaptive"))
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="Training time of each LSTM; the BiLSTM gets twice this (the two LSTMs' sum).")
    parser.add_argument("--score-minutes", type=float, default=15.0,
                        help="Most time spent scoring the blanks of each span length.")
    parser.add_argument("--blanks", type=int, default=1000,
                        help="Blanks of each span length. At 300 a top-1 share near 25%% is known to about +-2.5 "
                             "points, and the Shakespeare 5-gram pair read 21.0%% on 300 against 26.4%% on 1000.")
    parser.add_argument("--shortlist", type=int, default=200,
                        help="Two-model fillers rescore each direction's this many likeliest tokens (0: all).")
    parser.add_argument("--span-lengths", type=span_lengths, default=[1],
                        help="Comma-separated blank lengths in tokens, each scored apart (e.g. 1,2,3,4).")
    parser.add_argument("--beam", type=at_least_one, default=32,
                        help="Width of the beams that propose the fillers of blanks of 2 or more tokens.")
    parser.add_argument("--batch-size", type=int, default=32, help="Rows of the LSTMs' windows.")
    parser.add_argument("--bptt", type=int, default=35,
                        help="The LSTMs' truncated-BPTT window; every model's step holds --batch-size x --bptt tokens.")
    parser.add_argument("--dropout", type=float, default=0.1,  # benchmarks/RESULTS.md, eighteenth session
                        help="Every neural model's dropout between layers and before the softmax (--dropout, --out-dropout).")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of every lmkit command and the scoring.")
    parser.add_argument("--train-option", action="append", default=[], metavar="OPTION",
                        help="Another `lmkit train` option for all three neural models (repeatable), e.g. "
                             "--train-option='--epochs 400' where a small text's pass budget ends training first.")
    parser.add_argument("--tune-blanks", type=int, default=2000,  # benchmarks/RESULTS.md, twenty-sixth session
                        help="Single-token blanks of the valid split that choose the BiLSTM's rerank weight. 500 chose "
                             "another weight than 2,000 on pku98, one 0.7 points worse on the test blanks.")
    parser.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True,
                        help="Also rank with the BiLSTM and with the LSTM pair reading nearest-neighbour memories of the "
                             "train split (%%(default)s; about 2 GB a million tokens for each), their settings chosen on "
                             "the valid blanks.")
    parser.add_argument("--pair-tune-blanks", type=int, default=2000,
                        help="Of the --tune-blanks, how many choose the LSTM pair's memory weight by its whole scoring.")
    parser.add_argument("--fillers", type=chosen_fillers, default=list(FILLERS),
                        help="Comma-separated fillers to run, of: " + ", ".join(FILLERS) + " (default: all).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ranks", type=Path, help="Also write each filler's rank of every blank's span to this JSON "
                                                   "file (null: not among its candidates), by span length.")
    parser.add_argument("--work", type=Path, default=Path("checkpoints/fill-benchmark"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    work = args.work / f"{args.corpus}-{args.tokenizer}"
    paths = train_all(work, args)
    loaded = {name: load_model(path) for name, path in paths.items()}  # the fillers switch to eval mode themselves
    models, tokenizer = {name: model for name, (model, _, _) in loaded.items()}, loaded["bilstm"][1]
    valid = blanks(encoded_test_split(args.corpus, tokenizer, "valid"), tokenizer.vocab.unk_id, 1, args.tune_blanks,
                   args.seed)
    fillers = [name for name in args.fillers if args.memory or name not in (MEMORY_FILLER, PAIR_MEMORY_FILLER)]
    tune_start = time.perf_counter()
    tuned = tune_context_weight(models["bilstm"], valid) if "bilstm" in fillers else {}
    tune_seconds = time.perf_counter() - tune_start
    weight = max(tuned, key=lambda w: (tuned[w], -w)) if tuned else CONTEXT_WEIGHT  # ties: the smaller weight
    memory, memory_weight, memory_report = (tuned_memory(models["bilstm"], args, tokenizer, valid)
                                            if MEMORY_FILLER in fillers else (None, CONTEXT_WEIGHT, None))
    pair_memories, pair_report = (tuned_pair_memories(models["lstm-fwd"], models["lstm-bwd"], args, tokenizer, valid)
                                  if PAIR_MEMORY_FILLER in fillers else (None, None))
    lines = encoded_test_split(args.corpus, tokenizer)
    tallies, cases = {}, {}
    for length in args.span_lengths:
        cases[length] = blanks(lines, tokenizer.vocab.unk_id, length, args.blanks, args.seed)
        tallies[length] = score(models, cases[length], time.monotonic() + args.score_minutes * 60, args.shortlist,
                                args.beam, fillers, weight, memory, memory_weight, pair_memories)
    load_after = os.getloadavg()
    print(f"{args.corpus} {args.tokenizer} (vocabulary {len(tokenizer.vocab)}): up to {args.blanks} blanks of each "
          f"span length, seed {args.seed}, shortlist {args.shortlist or 'none'} (one token), beam {args.beam} "
          f"(spans); LSTMs {args.minutes:g} min each, BiLSTM {2 * args.minutes:g} min ({args.batch_size} x "
          f"{args.bptt} tokens a step); dropout {args.dropout:g}"
          + "".join(f"; {option}" for option in args.train_option))
    print(f"{cpu_line()}; torch {torch.__version__}; threads {args.threads}; load average (1/5/15 min) before "
          f"{' '.join(f'{x:.2f}' for x in load_before)}, after {' '.join(f'{x:.2f}' for x in load_after)}")
    print("parameters: " + ", ".join(f"{name} {parameters(model)}" for name, model in models.items() if "ngram" not in name))
    if tuned:
        print(f"BiLSTM rerank ({RERANK} best), valid top-1 by context weight ({len(valid)} blanks): "
              + ", ".join(f"{w:g}: {100 * share:.1f}%" for w, share in tuned.items())
              + f"; chosen {weight:g} ({tune_seconds:.0f} s)")
    for report in (memory_report, pair_report):
        if report:
            print(report)
    print("| span | filler | blanks | proposed | top-1 | top-5 | s / blank |\n|---|---|---|---|---|---|---|")
    for length, by_filler in tallies.items():
        for name, tally in by_filler.items():
            shares = " | ".join(tally.share(k) for k in (math.inf, 1, 5))
            per_blank = tally.seconds / max(len(tally.ranks), 1)
            print(f"| {length} | {name} | {len(tally.ranks)} | {shares} | {per_blank:.2f} |")
    bands = frequency_bands(len(tokenizer.vocab))
    if bands:
        print("\n| span | filler | " + " | ".join(f"top-1, {name}" for name, _, _ in bands) + " |\n|---|---|"
              + "---|" * len(bands))
        for length, by_filler in tallies.items():
            for name, tally in by_filler.items():
                print(f"| {length} | {name} | " + " | ".join(band_shares(tally, cases[length], bands)) + " |")
    print("\n| span | filler | over | blanks | top-1 lead, points | standard error |\n|---|---|---|---|---|---|")
    for length, by_filler in tallies.items():
        for ours, theirs in LEADS:
            if ours in by_filler and theirs in by_filler and by_filler[ours].ranks:
                points, error = lead(by_filler[ours], by_filler[theirs])
                print(f"| {length} | {ours} | {theirs} | {len(by_filler[theirs].ranks)} | {points:+.1f} | {error:.1f} |")
    if args.ranks:
        args.ranks.write_text(json.dumps({length: {name: [None if math.isinf(r) else r for r in tally.ranks]
                                                   for name, tally in by_filler.items()}
                                          for length, by_filler in tallies.items()}))


if __name__ == "__main__":
    main()
