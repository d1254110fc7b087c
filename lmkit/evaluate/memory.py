"""A nearest-neighbour memory of a text: Khandelwal et al.'s kNN-LM (2020), read where lmkit fill scores a filler's
tokens, and at every token of a text lmkit eval --memory scores.

A neural model's softmax reads one vector at each position of a line: for a left-to-right model the top layer's
output s_t after the tokens before it (RNNLM.hidden_states), for a cloze model the features of everything around
it (ClozeRNN.features, the join of A_{t-1} and A'_{t+1}). The memory keeps that vector for every position of a
text, with the token that stood there. Where it is read, the `neighbours` stored vectors nearest the model's
(squared Euclidean distance d) vote for their tokens, each with weight exp(-d / temperature), normalised to
p_memory, and the model's distribution there becomes

    p(w) = weight * p_memory(w) + (1 - weight) * p_model(w).

Where more places than fit are exactly as near as the k-th (to a left-to-right model every line's first place
looks the same: nothing is read yet), they all share the votes of the slots they tie for, evenly: the vote is
the text's (the share of lines that begin with w), not the search's choice among equals.

The network compresses its training text into its weights and forgets the exact contexts of rare words; the
memory keeps them, as an N-gram model's counts do, but finds them by what the network makes of the context,
not by its last few tokens. Built from the model's own training text it needs no training, and it never
changes the model. Filling a blank, it is read where the filler's own tokens are predicted: a cloze model's
prediction at the blank, or each model of a forward/backward pair at the filler's places in its direction
(lmkit.generate.fill.memory_gains); the rest of the line is scored by the model alone. Scoring a text, it is read
at every token, and its figures are a regime of their own (lmkit.evaluate.adaptive.run_memory).

It lives in memory: 4 x D bytes a position (D = 2H for a cloze model, H for a left-to-right one), about 2 GB
for pku98's million training words with a BiLSTM at H = 256, and each place it is read at costs a pass over
all of it (a float32 matrix product that finds candidates, then those measured exactly: NeighbourMemory.nearest).
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from lmkit.config.settings import check_settings, same_setting, setting
from lmkit.errors import ConfigError, human_bytes
from lmkit.evaluate.perplexity import Progress
from lmkit.models.base import evaluating, model_device
from lmkit.text.lines import frame_lines

QUERY_ROWS = 32  # places compared with the whole memory at once: a (QUERY_ROWS, positions) distance matrix
HELD_NEIGHBOURS = 1 << 24  # at most about this many neighbours (16 bytes each) held at once by target_prob_table


@dataclass(frozen=True)
class MemorySettings:
    """How the memory is read. The defaults are a BiLSTM's: the best of the fill benchmark's 140 settings on
    Shakespeare's valid blanks and within 0.1 point of the best on pku98's (benchmarks/RESULTS.md, "Fill in the
    blank", twenty-seventh session). A forward/backward pair has its own (PairMemorySettings)."""

    CLI_NAME: ClassVar[str] = "one bidirectional model"

    neighbours: int = setting(64, "How many remembered positions nearest the place read vote for their tokens.",
                              low=1, high=2**20, option="--memory-neighbours")
    temperature: float = setting(10.0, "Each neighbour's vote is exp(-squared distance / this): lower, and the "
                                 "nearest count for more.", low=1e-3, high=1e6,
                                 option="--memory-temperature")
    weight: float = setting(0.5, "The memory's share of the prediction where it is read (the model has the rest).",
                            low=0, high=1, low_open=True, high_open=True, option="--memory-weight")

    def __post_init__(self):
        check_settings(self)


@dataclass(frozen=True)
class PairMemorySettings(MemorySettings):
    """The defaults of a forward/backward pair's memories (`lmkit fill FWD BWD --memory`). An LSTM's output is
    half the BiLSTM's features' width, and its neighbours are nearer: at the BiLSTM's temperature 10 their votes
    are nearly even. Temperature 1 did best on both corpora of the fill benchmark, by the pair's two predictions
    at the blank (pku98 36.1-37.1% against 33.6% at the BiLSTM's defaults, 2,000 valid blanks) and by its whole
    scoring (pku98 45.6% against 43.2%, Shakespeare 34.8% against 33.6%, 500 of them); the pair's weight did best at
    0.6-0.8, 256 neighbours as well as 64 or 1024 (benchmarks/RESULTS.md, "Fill in the blank", twenty-eighth and
    twenty-ninth sessions)."""

    CLI_NAME: ClassVar[str] = "a FORWARD BACKWARD pair"
    neighbours: int = same_setting(MemorySettings, "neighbours", default=256)
    temperature: float = same_setting(MemorySettings, "temperature", default=1.0)
    weight: float = same_setting(MemorySettings, "weight", default=0.6)


class NeighbourMemory:
    """The features (M, D) a model's softmax reads at M positions of a text (line_features), and the tokens there
    (M,)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, vocab_size: int,
                 settings: MemorySettings = MemorySettings()):
        if keys.ndim != 2 or values.shape != keys.shape[:1]:
            raise ValueError(f"keys (M, D) and values (M,) expected, got {tuple(keys.shape)} and {tuple(values.shape)}")
        if len(values) == 0:
            raise ConfigError("the memory's text has no tokens to remember")
        self.keys = keys.float()                                  # (M, D)
        self.key_norms = torch.linalg.vector_norm(self.keys, dim=1).square()  # (M,) |k|^2: no (M, D) temporary
        # |q|^2 - 2 q.k + |k|^2 in float32 is off by at most about (D + 4) eps (|q| + |k|)^2 (it cancels for near
        # places); `nearest` takes every place within twice that of the k-th and measures those exactly
        self.rounding = (keys.shape[1] + 4) * torch.finfo(torch.float32).eps
        self.longest_key = float(self.key_norms.max().sqrt())
        self.values = values.long()                               # (M,)
        self.vocab_size = vocab_size
        self.settings = settings

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def build(cls, model, lines: Iterable[list[int]], settings: MemorySettings = MemorySettings(),
              batch_lines: int = 64) -> "NeighbourMemory":
        """Remember every position of `lines` (token ids, no `<s>`/`</s>`; a backward model's reversed, as it reads
        them): its features, and the token there (the line's `</s>` included, as the model predicts it too). An empty
        line has no token to remember and is left out."""
        require_features(model)
        eos = model.vocab.eos_id
        ordered = sorted((ids for ids in lines if ids), key=len)  # lines of like length share a batch: less padding
        keys, values = [], []
        with evaluating(model), torch.inference_mode():
            for first in range(0, len(ordered), batch_lines):
                rows = [np.asarray([*ids, eos], dtype=np.int64) for ids in ordered[first:first + batch_lines]]
                ids, lengths = frame_lines(rows, model_device(model))                 # (N, L) `<s> .. </s>`, (N,)
                feats = line_features(model, ids, lengths).float().cpu()             # (N, L-1, D)
                if not keys:  # the first batch shows the width D
                    check_room(sum(len(line) + 1 for line in ordered), feats.shape[-1])
                inside = torch.arange(ids.shape[1] - 1)[None, :] < (lengths.cpu() - 1)[:, None]
                keys.append(feats[inside])                                            # (n, D)
                values.append(ids.cpu()[:, 1:][inside])                               # (n,)
        if not keys:
            raise ConfigError("the memory's text has no tokens to remember")
        joined = torch.cat(keys)
        del keys[:]  # the pieces go before the norms are taken: two copies of the keys at most (check_room)
        return cls(joined, torch.cat(values), len(model.vocab), settings)

    def nearest(self, queries: torch.Tensor, neighbours: int | None = None, progress: Progress | None = None
                ) -> "Neighbours":
        """(B, D) features -> their k = min(neighbours, M) nearest stored features (`neighbours` None: the settings'),
        at their exact squared distances (float64), with every place tied with the k-th that did not fit
        (Neighbours.beyond). A fast float32 pass over all places finds the candidates: the k nearest by it, and every
        place its rounding could have put behind them. `progress(done, B)` after each block of queries."""
        k = min(neighbours or self.settings.neighbours, len(self))
        distances, positions, beyond = [], [], {}
        buffer = torch.empty(min(QUERY_ROWS, len(queries)), len(self))  # reused: a fresh one each time faults in pages
        for first in range(0, len(queries), QUERY_ROWS):
            q = queries[first:first + QUERY_ROWS].float().cpu()                        # (b, D)
            d = torch.addmm(self.key_norms[None, :], q, self.keys.T, alpha=-2, out=buffer[:len(q)])  # (b, M)
            d += (q * q).sum(1, keepdim=True)                                          # |q|^2 - 2 q.k + |k|^2
            reach = d.topk(k, largest=False).values[:, -1:]                            # (b, 1) the fast k-th distance
            reach += 2 * self.rounding * (q.norm(dim=1, keepdim=True) + self.longest_key) ** 2
            for row, candidates in enumerate(d <= reach):
                at = candidates.nonzero().flatten()                                    # (C,) C >= k, in place order
                exact = (self.keys[at].double() - q[row].double()).square().sum(1)     # (C,)
                order = exact.argsort(stable=True)
                last = exact[order[k - 1]]
                outside = at[order[k:]][exact[order[k:]] == last]
                if len(outside):
                    beyond[first + row] = outside
                distances.append(exact[order[:k]]); positions.append(at[order[:k]])
            if progress is not None:
                progress(first + len(q), len(queries))
        return Neighbours(torch.stack(distances), torch.stack(positions), beyond)

    def votes(self, distances: torch.Tensor, temperature: float) -> torch.Tensor:
        """(B, k) squared distances of neighbours -> each one's share of p_memory (B, k), each row summing to 1."""
        return torch.softmax(-distances.double() / temperature, dim=1)

    def tied_votes(self, near: "Neighbours", temperature: float) -> tuple[torch.Tensor, dict[int, tuple[torch.Tensor, float]]]:
        """Each neighbour's share (B, k), those tied at the k-th distance of a row with places beyond left out (0), and
        for such a row the tokens of all its places at that distance (n,) and the share each of them gets: the left
        out shares' sum, spread evenly (which of equally near places vote is nobody's choice)."""
        shares = self.votes(near.distances, temperature)
        spread = {}
        for row, outside in near.beyond.items():
            at_last = near.distances[row] == near.distances[row, -1]                   # (k,) the tied slots
            tokens = self.values[torch.cat([near.positions[row, at_last], outside])]
            spread[row] = (tokens, float(shares[row, at_last].sum()) / len(tokens))
            shares[row, at_last] = 0.0
        return shares, spread

    def probabilities(self, near: "Neighbours", temperature: float) -> torch.Tensor:
        """Neighbours (B rows) as `nearest` gives them -> p_memory (B, V): each token's share of their votes."""
        shares, spread = self.tied_votes(near, temperature)
        memory_p = torch.zeros(len(shares), self.vocab_size, dtype=torch.double)
        memory_p.scatter_add_(1, self.values[near.positions], shares)
        for row, (tokens, share) in spread.items():
            memory_p[row].index_add_(0, tokens, torch.full((len(tokens),), share, dtype=torch.double))
        return memory_p

    def mix(self, queries: torch.Tensor, model_logp: torch.Tensor) -> torch.Tensor:
        """(B, D) features and the model's (B, V) log-probabilities there -> (B, V) log p of the mixture."""
        memory_p = self.probabilities(self.nearest(queries), self.settings.temperature)
        return blend(memory_p, model_logp.double().cpu(), self.settings.weight)

    def mix_targets(self, queries: torch.Tensor, model_logp: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(B, D) features, the model's (B,) log p of the (B,) target tokens -> (B,) log p of the mixture."""
        memory_p = self.target_probs(self.nearest(queries), targets, self.settings.temperature)
        return blend(memory_p, model_logp.double().cpu(), self.settings.weight)

    def target_prob_table(self, queries: torch.Tensor, targets: torch.Tensor, settings: list[tuple[int, float]],
                          progress: Progress | None = None) -> dict[tuple[int, float], torch.Tensor]:
        """(B, D) features and the (B,) tokens that came there -> for each (neighbours, temperature) of `settings`, the
        (B,) p_memory of each token: one search at the most neighbours asked for, block by block, so that about
        HELD_NEIGHBOURS neighbours are held at once however long the text and however many the neighbours."""
        largest = min(max(neighbours for neighbours, _ in settings), len(self))
        block = max(1, HELD_NEIGHBOURS // largest)
        table = {setting: torch.empty(len(queries), dtype=torch.double) for setting in settings}
        for first in range(0, len(queries), block):
            rows = slice(first, first + block)
            near = self.nearest(queries[rows], largest)
            for neighbours, temperature in settings:
                table[neighbours, temperature][rows] = self.target_probs(
                    near.first(min(neighbours, largest)), targets[rows], temperature)
            if progress is not None:
                progress(min(first + block, len(queries)), len(queries))
        return table

    def target_probs(self, near: "Neighbours", targets: torch.Tensor, temperature: float) -> torch.Tensor:
        """Neighbours of B places and the (B,) tokens that came there -> (B,) p_memory of each (0 where no
        neighbour holds it): nothing of vocabulary size is built."""
        targets = targets.cpu()
        shares, spread = self.tied_votes(near, temperature)                           # (B, k)
        memory_p = (shares * (self.values[near.positions] == targets[:, None])).sum(1)  # (B,)
        for row, (tokens, share) in spread.items():
            memory_p[row] += share * int((tokens == targets[row]).sum())
        return memory_p


@dataclass
class Neighbours:
    """The k nearest stored places of B queries: squared distances (B, k), nearest first, and positions (B, k). Where
    more places than fit are at a row's k-th distance, exactly (the first place of every line, for a left-to-right
    model: nothing read yet), `beyond` holds that row's others, and they share the votes of the tied slots
    (NeighbourMemory.tied_votes), so the memory's vote does not depend on which of them the search returned."""

    distances: torch.Tensor
    positions: torch.Tensor
    beyond: dict[int, torch.Tensor]

    def first(self, k: int) -> "Neighbours":
        """The k nearest of these (k at most their number), with the places tied at the new k-th distance beyond it:
        all of them are among these, or beyond these (where the k-th distance is also the last)."""
        distances, positions = self.distances[:, :k], self.positions[:, :k]
        last = distances[:, -1:]
        beyond = {}
        for row in ((self.distances[:, k:] == last).any(1) | (last[:, 0] == self.distances[:, -1])).nonzero().flatten().tolist():
            outside = self.positions[row, k:][self.distances[row, k:] == last[row]]
            if row in self.beyond and bool(last[row] == self.distances[row, -1]):
                outside = torch.cat([outside, self.beyond[row]])
            if len(outside):
                beyond[row] = outside
        return Neighbours(distances, positions, beyond)


def blend(memory_p: torch.Tensor, model_logp: torch.Tensor, weight: float) -> torch.Tensor:
    """log(weight x p_memory + (1 - weight) x p_model), from p_memory and log p_model of the same shape."""
    return torch.logaddexp(memory_p.log() + math.log(weight), model_logp + math.log1p(-weight))


def check_room(positions: int, width: int) -> None:
    """ConfigError before a memory of `positions` features `width` wide is built in more RAM than is free (where the
    system says how much is: Linux)."""
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return
    needed = positions * (4 * width + 4 + 8) * 2  # fp32 keys and norms, int64 values; x2: the pieces before joining
    if needed > free:
        raise ConfigError(f"a memory of {positions:,} positions needs about {human_bytes(needed)}, and "
                          f"{human_bytes(free)} is free: remember a shorter text")


def feature_width(model) -> int:
    """D, the width of what the model's softmax reads (line_features), from one place of an empty line."""
    ids = torch.tensor([[model.vocab.bos_id, model.vocab.eos_id]], device=model_device(model))
    with evaluating(model):
        return int(line_features(model, ids, torch.tensor([2], device=ids.device)).shape[-1])


def line_features(model, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Framed lines (N, L) `<s> .. </s> <pad>..` and their lengths (N,) -> what the softmax reads (N, L-1, D) where it
    predicts ids[:, 1:]: a cloze model's features of both sides, a left-to-right model's top-layer outputs after the
    tokens before (padding comes after a line's end, so it changes none of them)."""
    if hasattr(model, "features"):
        return model.features(ids, lengths)
    return model.hidden_states(ids[:, :-1], model.init_state(len(ids)))[0]


def require_features(model, name: str = "the model") -> None:
    """The memory stores what the softmax reads: a model without features (an N-gram model's counts, the scratch
    RNN) has nothing to store. `name` says which model in the error."""
    if not ((hasattr(model, "features") or hasattr(model, "hidden_states")) and hasattr(model, "head")):
        raise ConfigError(f"{name} ({type(model).__name__}) does not expose the features its softmax reads: a memory "
                          "needs a neural model trained by lmkit train (--model lstm, gru, rnn, bilstm, bigru or birnn)")
