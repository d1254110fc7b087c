"""What a cloze (bidirectional) model trains on: every line of the training stream, whole, in batches.

A left-to-right model walks TBPTT windows of a stream (lmkit.text.batches). A cloze model reads each line
in both directions, so it needs lines whole, and a window grid cuts them: trained on the lines lying whole
inside its windows, a BiLSTM saw about 71% of pku98's words (newspaper lines run to hundreds of words).
Here instead every line is trained on once an epoch:

    lines    cut into pieces of at most B x T - 1 tokens (a step's memory stays bounded)
    batches  lines of similar length together, each framing into about B x T ids (--batch-size x --bptt),
             in multiples of 8 rows from 24 on (lmkit.text.lines.batch_rows)
    order    the batches shuffled afresh each epoch, from --seed and the epoch number (a resumed run
             and every DDP rank draw the same order)
    ranks    under DDP each rank takes every size-th line of a batch

The trainer's position inside an epoch is the batch index.
"""
from __future__ import annotations

import numpy as np
import torch

from lmkit.errors import TrainingError
from lmkit.text.lines import cut_long_lines, frame_lines, line_batches, stream_lines


class LineBatches:
    """The line batches of one training split for `ranks` processes, as seen by process `rank`."""

    def __init__(self, stream: np.ndarray, tokens: int, seed: int, rank: int = 0, ranks: int = 1):
        whole, self.longest = stream_lines(stream), max(1, tokens - 1)
        self.cut = sum(len(line) > self.longest for line in whole)  # lines cut into pieces
        self.lines = cut_long_lines(whole, self.longest)
        if not self.lines:
            raise TrainingError("the training split has no lines to train a bidirectional model on")
        self.batches = line_batches(self.lines, tokens)
        self.seed, self.rank, self.ranks = seed, rank, ranks
        self._order: tuple[int, torch.Tensor] | None = None  # (epoch, its order): drawn once an epoch

    def __len__(self) -> int:
        return len(self.batches)

    def order(self, epoch: int) -> torch.Tensor:
        """(batches,) the order epoch `epoch` takes the batches in."""
        if self._order is None or self._order[0] != epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._order = (epoch, torch.randperm(len(self.batches), generator=generator))
        return self._order[1]

    def take(self, epoch: int, index: int, device: torch.device | str = "cpu"
             ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """This rank's share of batch `index` of epoch `epoch`: ids (N, L) `<s> line <pad>..`, lengths (N,),
        and the tokens the whole batch predicts over all ranks. N may be 0 under DDP when a batch has
        fewer lines than there are ranks."""
        batch = self.batches[int(self.order(epoch)[index])]
        ids, lengths = frame_lines([self.lines[i] for i in batch[self.rank :: self.ranks]], device)
        return ids, lengths, sum(len(self.lines[i]) for i in batch)
