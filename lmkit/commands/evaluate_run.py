"""The body of `lmkit eval`: choose the text, score, write per-line scores, return plain numbers."""
from __future__ import annotations

from pathlib import Path

import click

from lmkit.commands.common import ignored_options, warn_if_mostly_unknown
from lmkit.commands.output_paths import STDIN
from lmkit.errors import ConfigError, counted, printable
from lmkit.evaluate.adaptive import check_support, evaluate_adaptive
from lmkit.evaluate.perplexity import scored_by
from lmkit.evaluate.fresh_start import fresh_start_warning, text_fresh_start
from lmkit.models.base import is_cloze
from lmkit.text.normal_forms import LINES_LOOKED_AT, better_form, form_advice
from lmkit.evaluate.text import (SPLIT_ADVICE, EvalText, default_text, is_backward, model_split_text, score_text,
                                 segmented_reading, write_line_scores)


EVAL_ADVICE = "pass --corpus NAME, --train PATH or --file PATH"  # lmkit eval's ways to name the text it scores
MIX_TUNING_ADVICE = f"--weights auto tunes the weights on its valid split: {SPLIT_ADVICE}, or give --weights"


def choose_text(corpus_spec, member, split: str, file: Path | str | None, advice: str = EVAL_ADVICE) -> EvalText:
    """--file (STDIN: standard input), else the split of --corpus/--train, else the split of the corpus the model
    was trained on."""
    if file is not None:
        label = "standard input" if file == STDIN else str(file)
        segmented = reads_segmented(member, label)
        text = (EvalText.from_standard_input(corpus_spec.encoding_errors, segmented) if file == STDIN else
                EvalText.from_file(file, corpus_spec.encoding_errors, segmented))
        if segmented:
            warn_if_not_segmented(member, text, label)
        warn_if_another_form_reads_better(member, text, label)
        warn_if_lines_spell_their_marks(text, label)
        return text
    if corpus_spec.given:
        return model_split_text(member.config, member.path, corpus_spec.open(), split)
    return default_text(member.config, member.path, split, advice)


def reads_segmented(member, label: str) -> bool:
    """Whether a file or standard input (`label`) scored by `member` is read as word-segmented text, its characters
    counted as a segmented corpus's split counts them, its spaces between words left out (segmented_reading), so
    that the same text given as pku98's test split and as a file has one bits/char; a note says so."""
    why = segmented_reading(member.config, member.tokenizer)
    if why is not None:
        click.echo(f"note: {printable(label)} is read as word-segmented text ({why}): bits/char counts the characters "
                   "of its plain text, not the spaces between its words, as for a segmented corpus's splits", err=True)
    return why is not None


def warn_if_not_segmented(member, text: EvalText, label: str) -> None:
    """A word model of a segmented corpus reads a Chinese text without spaces as whole clauses, mostly <unk>: a
    pku98 word 3-gram scored 2.38 bits/char there against 5.32 on the same text segmented (pass 85). Say so."""
    from lmkit.text.unsegmented import looks_unsegmented

    tokenizer = member.tokenizer
    if tokenizer.kind == "word" and getattr(tokenizer, "segment", None) is None and looks_unsegmented(text.lines()):
        click.echo(f"warning: most lines of {printable(label)} are long runs of Chinese (or Japanese) with no "
                   "spaces, which this word model reads as one token each (its corpus parts words by spaces), mostly "
                   "<unk>: these figures cannot be compared with its corpus's; give the text segmented, words "
                   "parted by spaces", err=True)


def warn_if_another_form_reads_better(member, text: EvalText, label: str) -> None:
    """A text written in another Unicode form than the model's training text (é as e + U+0301) reads some
    characters as <unk>, at a cost to its figures nothing else names (pass 85: 9.4% unknown, 19% more bits/char
    than the same text in NFC). Where NFC or NFKC would read fewer of them, say so."""
    found = better_form(member.tokenizer, text.lines())
    if found is not None:
        click.echo(f"warning: {printable(label)}: {counted(found[1], 'token')} of its first lines read as "
                   f"<unk>{form_advice(found)}", err=True)


def warn_if_lines_spell_their_marks(text: EvalText, label: str) -> None:
    """Lines typed as the tutorials write them, ending in </s> (or beginning with <s>): read as text, said once."""
    from lmkit.text.written_marks import written_line_marks

    looked_at, marked = written_line_marks(text.lines())
    if marked:
        lines = counted(looked_at, "line") if looked_at < LINES_LOOKED_AT else f"first {looked_at:,} lines"
        verbs = "begins with <s> or ends" if marked == 1 else "begin with <s> or end"
        click.echo(f"warning: {printable(label)}: {marked:,} of its {lines} {verbs} with </s> as typed; lmkit "
                   f"begins and ends every line itself and reads {'it' if marked == 1 else 'these'} as text (a word "
                   "model's <unk>), not as a line's start or end: remove them", err=True)


def warn_if_fresh_start_latches(member, text: EvalText) -> None:
    """A network that falls into a state its training never reached when read from a line start (lmkit.evaluate.
    fresh_start), named with the text's first tokens it was measured on."""
    found = text_fresh_start(member.model, text.reader(member.tokenizer), text.lines(), is_backward(member.config))
    said = fresh_start_warning(found, printable(text.label), printable(member.name))
    if said is not None:
        click.echo(said, err=True)


TUNING_ADVICE = ("the cache, dynamic evaluation and the memory tune on its valid split, dynamic evaluation measures "
                 "gradients on its train split and the memory remembers it: pass --corpus NAME or --train PATH (the "
                 "cache alone: or give --cache-theta and --cache-lambda); with --file, --corpus or --train names it")


def run_eval(model: Path, split: str, file: Path | None, corpus_spec, opener, per_line: Path | None,
             scoring: dict, adaptive=None, stream_options: list[str] = (), replace_per_line: bool = True) -> dict:
    """`stream_options`: the options given (as typed) that shape how a left-to-right model reads its stream;
    `replace_per_line`: --overwrite (without it a file that appears at --per-line meanwhile is kept)."""
    member = opener.open(model)
    if adaptive is not None and adaptive.any:
        check_support(member.model, member.config.get("kind"), adaptive)
    if is_cloze(member.model) and stream_options:
        raise ignored_options(stream_options, f"{model} is a bidirectional model ({member.config.get('kind')}), which "
                                              "reads every line whole")
    text = choose_text(corpus_spec, member, split, file)
    if is_cloze(member.model):
        return run_cloze_eval(member, text, per_line, scoring)
    with scored_by(member.name, member.zero_probability_advice):
        scores = score_text(member.model, member.tokenizer, member.config, text, **scoring)
    warn_if_mostly_unknown(member, scores.evaluation, text.label)
    warn_if_fresh_start_latches(member, text)
    if per_line is not None:
        write_line_scores(per_line, scores, replace_per_line)
    entry = {"name": member.name, "kind": member.config.get("kind"), "evaluation": scores.evaluation.to_dict()}
    result = {"models": [entry], "text": text.label, "text_sha256": text.digest,
              "reset_per_line": scoring["reset_per_line"],
              "state_carried": state_carried([member], scores.stream, scoring),
              "per_line": str(per_line) if per_line else None}
    if adaptive is not None and adaptive.any:
        result["adaptive"] = evaluate_adaptive(member, text, lambda split: choose_text(corpus_spec, member, split, None, TUNING_ADVICE),
                                               adaptive, scoring["rows"], scoring["window"], scoring["device"],
                                               scoring.get("progress"))
    return result


def run_cloze_eval(member, text, per_line: Path | None, scoring: dict) -> dict:
    """A bidirectional model's pseudo-perplexity: every line read whole, so the state is never carried."""
    from lmkit.evaluate.cloze import cloze_evaluation

    if per_line is not None:
        raise ConfigError(f"--per-line writes log-probabilities, which {member.name}, a bidirectional cloze model, "
                          "does not give (only pseudo ones, each token given the rest of its line)")
    evaluation = cloze_evaluation(member.model, text.stream(member.tokenizer), text.chars, scoring["device"])
    entry = {"name": member.name, "kind": member.config.get("kind"), "evaluation": evaluation}
    return {"models": [entry], "text": text.label, "text_sha256": text.digest, "reset_per_line": True,
            "per_line": None}


def run_mix(mix: str, weights: str, split: str, file: Path | None, corpus_spec, opener, per_line: Path | None,
            scoring: dict, replace_per_line: bool = True) -> dict:
    from lmkit.evaluate.mix import evaluate_mix, load_members, mix_paths, parse_weights

    paths = mix_paths(mix)
    chosen = parse_weights(weights)
    members = load_members(paths, opener.tokenizer(), opener.source)
    for member in members:
        member.require_left_to_right("cannot be interpolated: its pseudo-probabilities do not form a language model")
    named = next((m for m in members if m.config.get("corpus")), members[0])  # an ARPA file names none: any order
    text = choose_text(corpus_spec, named, split, file)
    tune_text = choose_text(corpus_spec, named, "valid", None, MIX_TUNING_ADVICE) if chosen == "auto" else None
    result = evaluate_mix(members, chosen, text, tune_text, **scoring)
    for member, scores in zip(members, result.members):  # one vocabulary: each says so for its own files
        warn_if_mostly_unknown(member, scores.evaluation, text.label)
        warn_if_fresh_start_latches(member, text)
    if per_line is not None:
        write_line_scores(per_line, result.mixture, replace_per_line)
    entries = [{"name": m.name, "kind": m.config.get("kind"), "evaluation": s.evaluation.to_dict()}
               for m, s in zip(members, result.members)]
    mixture = {"weights": [float(w) for w in result.weights], "tuned_on": result.tuned_on,
               "evaluation": result.mixture.evaluation.to_dict()}
    return {"models": entries, "mixture": mixture, "text": text.label, "text_sha256": text.digest,
            "reset_per_line": scoring["reset_per_line"],
            "state_carried": state_carried(members, result.members[0].stream, scoring),
            "per_line": str(per_line) if per_line else None}


def state_carried(members, stream, scoring: dict) -> bool:
    """Whether a network among `members` read the text with its state carried across a line end: not under
    --reset-per-line, not where the text's pieces (--rows) are its lines, each read from a fresh state (a short
    text: pass 89 found 3 lines at --rows 16 labelled "state carried"), and never for N-grams alone, whose history
    begins at each line's <s>."""
    from lmkit.evaluate.perplexity import each_line_alone

    if scoring["reset_per_line"] or all(m.config.get("kind") == "ngram" for m in members):
        return False
    return not each_line_alone(stream, scoring["rows"])
