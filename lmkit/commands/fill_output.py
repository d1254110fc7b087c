"""What `lmkit fill` prints: for each sentence its best fillers, as a table (under a `line N:` heading for a line of
--text-file) or as one JSON object per filler, each filler shown in its sentence as it will read."""
from __future__ import annotations

import math

import click

from lmkit.commands.fill_texts import BlankText
from lmkit.files.json_text import json_text

MARK = "  *"  # after a sentence that, written out, reads as other tokens than those scored (footnote)
PAIR_COLUMNS = ("total", "forward", "backward")
CLOZE_COLUMNS = ("score", "own", "context")


class FillTables:
    """Prints the first `top` fillers of each sentence, in order, as tables or (as_json) JSON lines."""

    def __init__(self, top: int, as_json: bool):
        self.top, self.as_json = top, as_json
        self.tables = 0

    def pair(self, text: BlankText, fillers, tokenizer) -> None:
        """A forward/backward pair's fillers (lmkit.generate.fill.Filler): both directions' log p and their sum."""
        self._print(text, tokenizer, fillers, PAIR_COLUMNS,
                    lambda f: (f.total, f.forward, f.backward),
                    lambda f: {"total": round(f.total, 6), "forward": round(f.forward, 6),
                               "backward": round(f.backward, 6)})

    def cloze(self, text: BlankText, fillers, tokenizer) -> None:
        """A bidirectional model's fillers (lmkit.generate.cloze_fill): the re-ranked ones have a score and their
        context's log p; the others follow by their own pseudo-log-likelihood and show no score ("-")."""
        def cells(f):
            return (f.total, f.own, f.context) if f.context is not None else (None, f.own, None)

        def record(f):
            reranked = f.context is not None
            return {"score": round(f.total, 6) if reranked else None, "pseudo_loglik": round(f.own, 6),
                    "context_loglik": round(f.context, 6) if reranked else None}

        self._print(text, tokenizer, fillers, CLOZE_COLUMNS, cells, record)

    def _print(self, text: BlankText, tokenizer, fillers, columns, cells, record) -> None:
        if not self.as_json and text.file is not None:
            if self.tables:
                click.echo()  # a blank line between two sentences' tables
            click.echo(f"line {text.line}: {text.text}")
        self.tables += 1
        marked = False
        for rank, filler in enumerate(fillers[:self.top], start=1):
            word, (before, after), reads = shown_filler(tokenizer, text.left, filler.ids, text.right)
            sentence = text.left + before + word + after + text.right
            if self.as_json:
                where = {} if text.file is None else {"line": text.line}
                click.echo(json_text({**where, "rank": rank, "filler": word, "sentence": sentence,
                                      "reads_as_scored": reads, **record(filler), "ids": filler.ids}))
                continue
            if rank == 1:
                click.echo(f"{'rank':>4}  " + "  ".join(f"{name:>10}" for name in columns) + "  filler  sentence")
            shown = "  ".join(score_cell(x) for x in cells(filler))
            click.echo(f"{rank:>4}  {shown}  {word}  "
                       f"{text.left}{before}[{word}]{after}{text.right}{MARK * (not reads)}")
            marked |= not reads
        if marked:
            click.echo(f"{MARK.strip()} scored cut at the blank's edges: written out in one piece, this sentence "
                       "reads as other tokens (one runs across an edge)")
        if fillers and all(filler.total == -math.inf for filler in fillers):
            where = "" if text.file is None else f"line {text.line}: "
            click.echo(f"warning: {where}every filler has probability zero under these models (an unsmoothed "
                       "N-gram's unseen contexts), so their order means nothing; use smoothed models", err=True)


def shown_filler(tokenizer, left: str, ids: list[int], right: str) -> tuple[str, tuple[str, str], bool]:
    """A filler's text, what to show before and after it in the blank (lmkit.generate.fill.filler_gaps), and whether
    the sentence so shown reads as the tokens scored (if not, it is shown as typed)."""
    from lmkit.generate.fill import filler_gaps

    word = tokenizer.decode(ids)
    gaps = filler_gaps(tokenizer, left, word, ids, right)
    return word, gaps or ("", ""), gaps is not None


def score_cell(value: float | None) -> str:
    """A score as the table shows it, 10 wide: 3 decimals, '-' for none, and 0.000 for a value that rounds to
    it from below (not -0.000)."""
    if value is None:
        return f"{'-':>10}"
    return f"{value if round(value, 3) != 0 else 0.0:>10.3f}"
