"""Pseudo-perplexity of a bidirectional (cloze) model: a different measure from perplexity.

Each token of each line (and its `</s>`) is predicted from every other token of
the line, and

    pseudo-perplexity = exp(-(1/N) sum_t log p(x_t | x_{!=t}))

It is not comparable with a left-to-right model's perplexity (which predicts x_t
from x_{<t} only, and whose log-probabilities sum to the log-probability of the
text): it is reported under its own name, never in a perplexity column.
"""
from __future__ import annotations

import numpy as np
import torch

from lmkit.evaluate.perplexity import NLL
from lmkit.text.lines import frame_lines, stream_lines


@torch.inference_mode()
def cloze_token_logprobs(model, stream: np.ndarray, batch_lines: int = 64, device: str | torch.device = "cpu"
                         ) -> np.ndarray:
    """(N,) log p(x_t | the rest of its line) of each token of the stream, in stream order."""
    if hasattr(model, "eval"):
        model.eval()
    lines = stream_lines(stream)
    order = np.argsort([len(line) for line in lines], kind="stable")  # similar lengths share a batch
    starts = np.concatenate([[0], np.cumsum([len(line) for line in lines])]).astype(np.int64)
    out = np.zeros(int(starts[-1]))
    for first in range(0, len(order), batch_lines):
        chosen = order[first : first + batch_lines]
        ids, lengths = frame_lines([lines[i] for i in chosen], device)
        logp = model.cloze_targets(ids, lengths).double().cpu().numpy()          # (B, L-1)
        for r, line in enumerate(chosen):
            out[starts[line] : starts[line + 1]] = logp[r, : len(lines[line])]
    return out[: len(stream)]


def pseudo_nll(model, stream: np.ndarray, batch_lines: int = 64, device: str | torch.device = "cpu") -> NLL:
    """Summed -log p(x_t | x_{!=t}) over the stream's tokens: `.perplexity` is the pseudo-perplexity."""
    logp = cloze_token_logprobs(model, stream, batch_lines, device)
    return NLL(-float(logp.sum()), len(logp))


def cloze_evaluation(model, stream: np.ndarray, chars: int | None, device: str | torch.device = "cpu") -> dict:
    """What `lmkit eval` reports for a cloze model: pseudo-measures only, under their own names."""
    stream = np.asarray(stream)
    if isinstance(model, torch.nn.Module):
        model.to(device)
    total = pseudo_nll(model, stream, device=device)
    return {"measure": "pseudo-perplexity", "pseudo_nll": total.nll, "tokens": total.tokens, "chars": chars,
            "lines": len(stream_lines(stream)) if len(stream) else 0,
            "pseudo_perplexity": total.perplexity, "pseudo_bits_per_token": total.bits_per_token}


PSEUDO_KEYS = {"valid_nll": "valid_pseudo_nll", "valid_ppl": "valid_pseudo_ppl", "valid_bpc": "valid_pseudo_bpc"}


def pseudo_record(record: dict) -> dict:
    """A validation record of a cloze model, its measures renamed so that no perplexity column holds them."""
    return {PSEUDO_KEYS.get(key, key): value for key, value in record.items()}
