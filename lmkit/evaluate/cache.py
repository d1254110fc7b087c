"""The neural cache (Grave et al. 2016): a pointer over the hidden states the model has just produced.

For the prediction at position t, with hidden state h_t, the cache holds the last
N pairs (h_i, y_i) of earlier positions i < t, y_i being the token that followed
h_i (already scored, so the cache only ever knows the past):

    p_cache(w | t) ∝ Σ_{i: y_i = w} exp(θ h_t · h_i)
    p(w | t)       = (1 - λ) p_model(w | t) + λ p_cache(w | t)

With an empty cache (the first token) p is p_model. Only the probability of the
token that actually came is needed, so nothing of vocabulary size is built.
The hidden states are those of the static scoring (rows and windows as in
lmkit.evaluate.perplexity), read in stream order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lmkit.errors import ConfigError
from lmkit.evaluate.perplexity import ROWS, WINDOW, stream_rows
from lmkit.text.batches import with_bos

QUERY_CHUNK = 512  # positions whose cache scores are computed together (memory: chunk x (chunk + N))


@dataclass
class Pointers:
    """What the cache needs from one static pass over a stream of N tokens."""

    hidden: torch.Tensor    # (N, H) top-layer state that predicted each token
    targets: torch.Tensor   # (N,) the token ids
    model_logp: np.ndarray  # (N,) log p_model of each token


def supports_cache(model) -> bool:
    return hasattr(model, "hidden_states") and hasattr(model, "head")


def require_cache_support(model, kind: str | None) -> None:
    if not supports_cache(model):
        raise ConfigError(f"--cache needs a torch recurrent model (lstm, gru, rnn_tanh, rnn_relu), whose hidden "
                          f"states it points over; this model's kind is {kind or type(model).__name__}")


@torch.inference_mode()
def read_pointers(model, stream: np.ndarray, rows: int = ROWS, window: int = WINDOW, device="cpu") -> Pointers:
    """One static pass: hidden states and model log-probabilities of every token, in stream order."""
    model.eval()
    inputs, targets, mask = (t.to(device) for t in stream_rows(with_bos(stream), rows))
    state = model.init_state(inputs.shape[0])
    hidden, logps = [], []
    for start in range(0, inputs.shape[1], window):
        part = slice(start, start + window)
        out, state = model.hidden_states(inputs[:, part], state)  # (R, W, H)
        logps.append(model.head.target_logprobs(out, targets[:, part]).double())
        hidden.append(out.float())
    hidden_all, logp_all = torch.cat(hidden, dim=1), torch.cat(logps, dim=1)
    return Pointers(hidden_all[mask].cpu(), targets[mask].cpu(), logp_all[mask].cpu().numpy())


def cache_probs(pointers: Pointers, theta: float, size: int) -> np.ndarray:
    """(N,) p_cache of each token from the `size` positions before it (0 where the cache is empty)."""
    hidden, targets = pointers.hidden, pointers.targets
    out = np.zeros(len(targets))
    for lo in range(1, len(targets), QUERY_CHUNK):
        hi = min(lo + QUERY_CHUNK, len(targets))
        first = max(0, lo - size)
        keys = hidden[first:hi - 1]                                        # (K, H) candidates i in [first, hi-1)
        scores = theta * (hidden[lo:hi] @ keys.T).double()                 # (Q, K)
        query_pos = torch.arange(lo, hi)[:, None]
        key_pos = torch.arange(first, hi - 1)[None, :]
        allowed = (key_pos < query_pos) & (key_pos >= query_pos - size)   # past only, at most `size` back
        weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=1)
        same = targets[first:hi - 1][None, :] == targets[lo:hi][:, None]  # (Q, K) y_i = w
        out[lo:hi] = (weights * same).sum(dim=1).numpy()
    return out


def mix_logp(model_logp: np.ndarray, p_cache: np.ndarray, lam: float) -> np.ndarray:
    """log((1-λ) p_model + λ p_cache) for 0 <= λ < 1; p_model alone where the cache is empty (the first token)."""
    with np.errstate(divide="ignore"):
        mixed = np.logaddexp(np.log1p(-lam) + model_logp, np.log(lam * p_cache))
    mixed[0:1] = model_logp[0:1]
    return mixed


def tune_cache(pointers: Pointers, size: int, thetas, lambdas) -> tuple[float, float]:
    """(θ, λ) of the grid with the lowest NLL on `pointers` (the valid text)."""
    best = (np.inf, thetas[0], lambdas[0])
    for theta in thetas:
        p_cache = cache_probs(pointers, theta, size)
        for lam in lambdas:
            nll = -float(mix_logp(pointers.model_logp, p_cache, lam).sum())
            best = min(best, (nll, theta, lam))
    return best[1], best[2]
