"""Variable-length truncated BPTT (Merity et al. 2017): every window a slightly different length,
so that over the epochs every token is trained from many different positions of its window.

    mean   = bptt, or bptt / 2 with probability 0.05
    length = round(N(mean, 5)), kept within [min(5, bptt), bptt + 20]

The trainer scales the window's LR by length / bptt (a short window makes a smaller step). The
lengths come from their own generator, seeded from --seed and saved for --resume, so a resumed run
draws the same lengths, and every DDP rank draws the same ones.
"""
from __future__ import annotations

import torch

SPREAD = 5.0            # standard deviation of the length
SHORT_CHANCE = 0.05     # chance of a window around bptt / 2
SHORTEST = 5
LONGER_BY = 20          # cap: a long tail draw would cost memory and time


class WindowLengths:
    def __init__(self, bptt: int, seed: int):
        self.bptt = bptt
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> int:
        chance, noise = torch.rand(1, generator=self.generator), torch.randn(1, generator=self.generator)
        mean = self.bptt / 2 if float(chance) < SHORT_CHANCE else self.bptt
        length = round(mean + SPREAD * float(noise))
        return max(min(SHORTEST, self.bptt), min(length, self.bptt + LONGER_BY))

    def state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state.contiguous())
