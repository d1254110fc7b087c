"""What the gradient check and the --norms curves run on by default (lmkit.models.neural.gradcheck), in a module
without torch, so that `lmkit gradcheck`'s options read the same numbers without importing it."""
from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Instance:
    """A random Elman RNN and its batch: K tokens (specials included), H hidden units, B sequences."""
    vocab_size: int
    hidden_size: int
    batch_size: int


# small, since finite differences cost two losses a weight; T = CHECK_STEPS time steps
CHECK = Instance(vocab_size=7, hidden_size=5, batch_size=2)
CHECK_STEPS = 6
CHECK_EPS = 1e-5  # the centred difference's truncation (eps^2) and rounding (1e-16 / eps) errors both near 1e-11
CHECK_TOLERANCE = 1e-5  # the largest relative error that passes
SMALLEST_EPS = sys.float_info.epsilon  # float64's spacing near 1: a smaller step is lost added to the check's weights

# larger, to see the norms' trend over NORMS_DISTANCE steps for each spectral radius of W
NORMS = Instance(vocab_size=20, hidden_size=32, batch_size=16)
NORMS_DISTANCE = 30
NORMS_RADII = (0.5, 1.0, 1.5, 3.0)
