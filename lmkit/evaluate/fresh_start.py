"""Does a network read well from a fresh line start?

Every reading of a text from nothing (an evaluation's first row, `generate`, `fill`, `rescore`) starts a network
from its zero state on a line start, read as the `</s>` before it (lmkit.models.base). Training never starts
there unless told to (lmkit.train.hidden_state.fresh_at_line_starts, the default since pass 86): its windows
carry the state along each row. Trained without it, a short run may leave a network that, from that one start,
falls into a state it never leaves (pass 86: 10.3 nats a character for the rest of the text where the same
weights read it at 3.1 from its own first character; 1 of 12 runs of 50-150 steps). `fresh_start_cost`
measures it on the first tokens of a text, so that a run can say so instead of reporting a perplexity above the
vocabulary's size.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

import numpy as np
import torch

from lmkit.text.encode import encode_lines
from lmkit.text.vocab import BOS_ID

TOKENS = 2000       # how much of the text is read both ways
TROUBLE_NATS = 1.0  # a fresh start this much worse a token than the text's own start: a state training never reached


@dataclass(frozen=True)
class FreshStart:
    from_line_start: float  # mean NLL (nats) of tokens 2..n read from <s>, as lmkit reads a text
    from_text: float        # the same tokens read from the text's own first token

    @property
    def troubled(self) -> bool:
        return self.from_line_start - self.from_text > TROUBLE_NATS


@torch.no_grad()
def fresh_start_cost(model, stream: np.ndarray, device: str | torch.device = "cpu", tokens: int = TOKENS
                     ) -> FreshStart | None:
    """Both readings of the first `tokens` of `stream` (an id stream), on the same targets; None for a stream too
    short to tell."""
    ids = torch.as_tensor(np.asarray(stream[:tokens], dtype=np.int64), device=device)[None]  # (1, T)
    if ids.shape[1] < 3:
        return None
    start = torch.cat([torch.full((1, 1), BOS_ID, dtype=torch.long, device=device), ids], dim=1)  # (1, T + 1)
    from_line_start, _ = model.score_targets(start[:, :-1], start[:, 1:], model.init_state(1))  # predicts ids[0:]
    from_text, _ = model.score_targets(ids[:, :-1], ids[:, 1:], model.init_state(1))  # predicts ids[1:]
    return FreshStart(-float(from_line_start[0, 1:].mean()), -float(from_text[0].mean()))


def text_fresh_start(model, tokenizer, lines, reverse: bool = False, device: str | torch.device = "cpu"
                     ) -> FreshStart | None:
    """fresh_start_cost on the first lines of a text (as many as give TOKENS tokens, read as `model` reads them),
    for a network; None for a model that is not one (an N-gram counts its <s>)."""
    if not isinstance(model, torch.nn.Module):
        return None
    first, count = [], 0
    for line in islice(lines, TOKENS):
        first.append(line)
        count += len(line) + 1
        if count >= 4 * TOKENS:  # enough characters for TOKENS tokens of any tokenizer but long words
            break
    return fresh_start_cost(model, encode_lines(tokenizer, first, reverse=reverse), device)


def fresh_start_warning(found: FreshStart | None, what: str, who: str = "this model") -> str | None:
    """The warning line for a troubled fresh start of model `who` on `what` (a split, a file), or None."""
    if found is None or not found.troubled:
        return None
    return (f"warning: read from a line start, as eval, generate and fill read a text, {who} scores the first "
            f"{TOKENS:,} tokens of {what} at {found.from_line_start:.2f} nats each, and at {found.from_text:.2f} "
            "read from the text's own first token: from that start it falls into a state its training never "
            "reached, which inflates its perplexity and spoils its samples (seen after short runs); train it "
            "longer (--resume)")
