"""The body of `lmkit rescore`: read the lists, score them, tune, rerank, write, say the error rates."""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable

import click
import numpy as np

from lmkit.commands.common import warn_if_mostly_unknown
from lmkit.errors import ConfigError, counted, printable
from lmkit.evaluate.perplexity import UnscorableToken
from lmkit.generate.error_rate import errors, units
from lmkit.generate.nbest import read_kaldi, read_refs, read_tsv
from lmkit.generate.rescore import (Candidates, RescoreConfig, all_hypotheses, all_texts, dev_rows, error_table,
                                   lm_scores, tune)


def read_lists(nbest: Path, scores: Path | None, costs: bool) -> dict:
    return read_kaldi(nbest, scores, costs) if scores is not None else read_tsv(nbest, costs)


def open_members(model, mix: str | None, opener) -> list:
    """MODEL, or --mix's members: left-to-right models (a bidirectional one gives no sentence probability)."""
    if mix is None:
        members = [opener.open(model)]
    else:
        from lmkit.evaluate.mix import load_members, mix_paths

        members = load_members(mix_paths(mix), opener.tokenizer(), opener.source)
    for member in members:
        member.require_left_to_right("cannot rescore: its pseudo-probabilities are not a sentence's probability")
    return members


def mix_weights(members: list, weights: str, refs: list[str], scoring: dict) -> list[float]:
    """Given numbers, or EM on the reference sentences (equal weights without references)."""
    from lmkit.evaluate.mix import parse_weights
    from lmkit.models.mix import check_weights, tune_weights

    chosen = parse_weights(weights)
    if len(members) == 1:
        return [1.0]
    if chosen != "auto":
        return list(check_weights(chosen, len(members)))
    if not refs:
        return [1.0 / len(members)] * len(members)
    from lmkit.evaluate.mix import member_scores
    from lmkit.evaluate.text import EvalText

    text = EvalText("references", "", sum(len(r) + 1 for r in refs), file_lines=refs)
    return list(tune_weights([s.logp for s in member_scores(members, text, reset_per_line=True, **scoring)]))


def tuning_sentences(lists: dict, refs: dict | None, dev_refs: dict | None, config: RescoreConfig) -> list[str]:
    """The references a mix's weights may be tuned on: the dev set's, never those the error rate is measured on."""
    if dev_refs is not None:
        return list(dev_refs.values())
    if refs is None or not config.tune:
        return []
    chosen = dev_rows(list(lists), config.dev_fraction)
    return [refs[u] for u, tunes in zip(lists, chosen) if tunes]


def scored(lists: dict, members: list, weights: list[float], scoring: dict, source: Path) -> Candidates:
    """The lists of `source` scored; a warning where a member reads them as mostly <unk> (a model of another text
    or tokenizer), counted as lmkit eval counts."""
    try:
        lm, tokens, evaluations = lm_scores(members, weights, all_texts(lists), **scoring)
    except UnscorableToken as exc:  # its line is the place of a hypothesis among all of them
        hypothesis = all_hypotheses(lists)[exc.where.line - 1]
        raise exc.located(what=f"{hypothesis.where} (utterance {hypothesis.utterance})", line=None,
                          consequence="so the hypothesis cannot be scored") from None
    for member, evaluation in zip(members, evaluations):
        warn_if_mostly_unknown(member, evaluation, f"the hypotheses of {source}", left_out_by=None)  # in its scores
    return Candidates.build(lists, lm, tokens)


def tune_and_measure(table, refs, dev, count, config: RescoreConfig):
    """(weight, bonus, the table to measure on, what tuned): the dev set's own table, or a held-out part."""
    if refs is None and dev is None or not config.tune:
        return config.lm_weight, config.length_bonus, table if refs is not None else None, None
    if dev is not None:
        dev_table, dev_refs, label = dev
        return (*tune(dev_table, error_table(dev_table, dev_refs, count), config), table if refs else None, label)
    chosen = dev_rows(table.utterances, config.dev_fraction)
    if chosen.all() or not chosen.any():
        raise ConfigError(f"--dev-fraction {config.dev_fraction} leaves no utterance to "
                          f"{'measure on' if chosen.all() else 'tune on'} among {len(chosen)}; "
                          "give another fraction or --dev-nbest/--dev-refs")
    tune_table = table.subset(np.flatnonzero(chosen))
    weight, bonus = tune(tune_table, error_table(tune_table, refs, count), config)
    tuned_on = (f"{int(chosen.sum()):,} of the {counted(len(chosen), 'utterance')} (--dev-fraction "
                f"{config.dev_fraction:g}); the error rate below is on the other {int((~chosen).sum()):,}")
    return weight, bonus, table.subset(np.flatnonzero(~chosen)), tuned_on


def rate_line(table: Candidates, refs: dict, count, cer: bool, weight: float, bonus: float) -> str:
    errs = error_table(table, refs, count)
    rows = np.arange(len(table.utterances))
    before, after = errs[rows, np.argmax(np.where(table.valid, table.first, -np.inf), axis=1)].sum(), \
        errs[rows, table.best(weight, bonus)].sum()
    total = sum(len(units(refs[u], cer)) for u in table.utterances)
    what, unit = ("CER", "character") if cer else ("WER", "word")
    if total == 0:  # a rate over no reference unit is no number (it was shown over a phantom one: 500.00%)
        return (f"{what} on {counted(len(rows), 'utterance')}: none (their references hold no {unit}); "
                f"{int(before)} -> {int(after)} errors")
    return (f"{what} on {counted(len(rows), 'utterance')}: first pass {100 * before / total:.2f}% -> rescored "
            f"{100 * after / total:.2f}%  ({int(before)} -> {int(after)} errors in {counted(total, unit)})")


def reranked_rows(table: Candidates, weight: float, bonus: float):
    """Every utterance's hypotheses, best first: utt-id, hypothesis, combined score (TSV that NBEST reads)."""
    totals = table.totals(weight, bonus)
    for u, (utterance, hypotheses) in enumerate(zip(table.utterances, table.hypotheses)):
        for k in sorted(range(len(hypotheses)), key=lambda k: -totals[u, k]):
            yield f"{utterance}\t{hypotheses[k].text}\t{score_text(totals[u, k])}\n"


def score_text(score: float) -> str:
    """Six decimals, as KenLM and Kaldi print scores; in exponent form beyond 1e15, where the decimals would run
    to hundreds of digits (a score of 1e308 read from a first pass)."""
    return f"{score:.6f}" if abs(score) < 1e15 else f"{score:.6e}"


def write_reranked(out: Path | Callable[[str], None], table: Candidates, weight: float, bonus: float,
                   replace: bool = True) -> None:
    """To the file --out names (whole or not at all; a file there kept without `replace`), or row by row to a
    writer (standard output's: click.echo, which writes UTF-8 where the locale says ASCII)."""
    from lmkit.files.writing import atomic_write

    if not isinstance(out, Path):
        for row in reranked_rows(table, weight, bonus):
            out(row)
        return
    with atomic_write(out, "w", encoding="utf-8", follow_link=True, replace=replace) as handle:
        handle.writelines(reranked_rows(table, weight, bonus))


def warn_if_words_are_lines(path: Path, refs: dict[str, str]) -> None:
    """A warning where the references are Chinese (or Japanese) written without spaces: WER counts words between
    spaces, so each whole line would be one word, and --cer is the measure there."""
    from lmkit.text.unsegmented import is_cjk

    text = "".join(refs.values())
    words = sum(len(line.split()) for line in refs.values())
    if sum(map(is_cjk, text)) * 2 > len(text) and words < 2 * len(refs):  # mostly CJK, under two words a line
        click.echo(f"warning: {printable(str(path))}: the references are Chinese or Japanese without spaces, so WER "
                   "would count each line as one word; give --cer to count characters", err=True)


def run_rescore(model, mix, nbest: Path, files: dict, flags: dict, config: RescoreConfig, opener) -> list[str]:
    """Lines for the terminal; writes the reranked lists to flags["out"] (a file, a writer, or None: nowhere)."""
    from lmkit.train.config import select_device

    lists = read_lists(nbest, files["scores"], files["costs"])
    refs = read_refs(files["refs"], lists) if files["refs"] is not None else None
    if refs is not None and not flags["cer"]:
        warn_if_words_are_lines(files["refs"], refs)
    dev_lists = read_lists(files["dev_nbest"], files["dev_scores"], files["costs"]) if files["dev_nbest"] else None
    dev_refs = read_refs(files["dev_refs"], dev_lists) if dev_lists is not None else None
    shared = sorted(u for u in set(dev_lists or ()) & set(lists) if refs is not None
                    and sorted(h.text for h in dev_lists[u]) == sorted(h.text for h in lists[u]))
    if shared:  # the same utterances (same id, same hypotheses): the list reordered, re-saved with CRLF, ...
        raise ConfigError(f"--dev-nbest {files['dev_nbest']} holds {counted(len(shared), 'utterance')} of the lists "
                          f"being measured ({', '.join(shared[:3])}{', ...' if len(shared) > 3 else ''}): tuned on "
                          "them, the error rate it reports says nothing; give a dev list of other utterances")
    members = open_members(model, mix, opener)
    scoring = {"device": select_device(flags["device"])}
    weights = mix_weights(members, flags["weights"], tuning_sentences(lists, refs, dev_refs, config), scoring)
    table = scored(lists, members, weights, scoring, nbest)
    dev = ((scored(dev_lists, members, weights, scoring, files["dev_nbest"]), dev_refs, str(files["dev_nbest"]))
           if dev_lists else None)
    count = partial(errors, cer=flags["cer"])
    weight, bonus, measure, tuned_on = tune_and_measure(table, refs, dev, count, config)
    from lmkit.evaluate.mix import shown_weight

    names = ", ".join(f"{m.name} x {shown_weight(w)}" for m, w in zip(members, weights)) if mix else members[0].name
    lines = [f"model: {names}", f"n-best: {counted(sum(len(h) for h in lists.values()), 'hypothesis', 'hypotheses')} of "
             f"{counted(len(lists), 'utterance')}",
             f"LM weight {weight:.4g}, length bonus {bonus:.4g}" + (f" (tuned on {tuned_on})" if tuned_on else "")]
    if measure is not None:
        lines.append(rate_line(measure, refs, count, flags["cer"], weight, bonus))
    if flags["out"] is not None:
        write_reranked(flags["out"], table, weight, bonus, replace=flags["overwrite"])
        if isinstance(flags["out"], Path):
            lines.append(f"wrote {flags['out']}")
    return lines
