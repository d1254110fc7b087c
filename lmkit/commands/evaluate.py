"""`lmkit eval`: perplexity, bits/token, bits/char and OOVs of a model (directory or ARPA file), or a mix of several."""
from __future__ import annotations


import click
from click.core import ParameterSource

from lmkit.commands.common import corpus_options, flag, given, model_options, refuse_ignored, threads_option
from lmkit.commands.options import config_from, number, options_from
from lmkit.evaluate.adaptive_config import REGIMES, AdaptiveConfig
from lmkit.commands.output_paths import STDIN, OutputFile, PathGiven, PathOrStdin, check_output, corpus_files
from lmkit.errors import ConfigError, counted
from lmkit.evaluate.perplexity import ROWS, WINDOW
from lmkit.files.json_text import json_text


STREAM_OPTIONS = ("reset_per_line", "rows", "window")  # how a left-to-right model reads the text as one stream


def scoring_options(f):
    options = [
        click.option("--reset-per-line", is_flag=True,
                     help="Score every line on its own from <s> and a fresh state (sentence-level scoring; an "
                          "N-gram reads each line from <s> either way, so its figures do not change)."),
        click.option("--rows", type=number(int, low=1, high=2**20), default=ROWS, show_default=True,
                     help="Pieces of the text scored in parallel (state carried within each; each piece begins at a line "
                          "start with nothing read, so on a short text more pieces cost a little context: --rows 1 "
                          "reads it as one stream; an N-gram's figures are the same at any --rows or --window)."),
        click.option("--window", type=number(int, low=1, high=2**24), default=WINDOW, show_default=True, help="Tokens per forward call."),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.command()
@click.argument("model_dir", metavar="[MODEL]", required=False, type=PathGiven())
@click.option("--split", type=click.Choice(["train", "valid", "test"]), default="test", show_default=True,
              help="Which split of the corpus to score.")
@click.option("--file", "file", type=PathOrStdin(), default=None,
              help=f"Score this UTF-8 text file instead ({STDIN}: standard input, read whole).")
@corpus_options(default=None)
@click.option("--mix", default=None, metavar="A,B",
              help="Interpolate these models (directories or ARPA files; same vocabulary) instead of scoring MODEL.")
@click.option("--weights", default="auto", show_default=True,
              help="--mix weights: 'auto' tunes them by EM on the validation split, or numbers like 0.3,0.7.")
@scoring_options
@options_from(AdaptiveConfig)
@model_options
@click.option("--per-line", type=OutputFile(), default=None, metavar="OUT.tsv",
              help="Write each line's log-probability, token and OOV counts to this TSV file (the static scores, "
                   "also under --cache, --dynamic or --memory).")
@click.option("--overwrite", is_flag=True, help="Replace the file --per-line names, if there is one.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the numbers as JSON. Its text_sha256 is the SHA-256 of the text as lmkit read it, in UTF-8, "
                   "every line ended by \\n (a BOM, CRLF, CR and a missing last newline read as lmkit reads them), not of "
                   "the file's bytes; "
                   "state_carried is false where every line was read from a fresh state: under --reset-per-line, by "
                   "an N-gram, or where each line of a short text is a piece of its own (--rows).")
@click.option("--quiet", is_flag=True, help="No progress bar (there is none either when stderr is not a terminal).")
@threads_option
@click.pass_context
def command(ctx, model_dir, split, file, corpus_spec, mix, weights, opener, per_line, overwrite, as_json, quiet,
            **opts):
    """Evaluate MODEL on its corpus's test split (or --split, --corpus, --file).

    MODEL is a model directory or an ARPA file (KenLM's, SRILM's or lmkit's; plain,
    .gz, .bz2 or .xz), which names no corpus: give it --file or --corpus.

    Perplexity = exp(NLL / predicted tokens), each line's </s> predicted and <s> never;
    bits/char divides the NLL in bits by the text's characters (one newline counted for
    every line, the last one's too where the file has no final newline, as its </s> is
    predicted), so char, word and subword models compare on the same text. Unknown tokens score as <unk>;
    the perplexity without OOVs leaves them out, as KenLM does.

    --cache N and --dynamic add evaluations in a separate regime that adapts to the
    test text it has already read (never to text ahead): the neural cache and
    dynamic evaluation, tuned on the valid split, reported apart from the above.
    --memory adds another, the kNN-LM: at each prediction the places of the train
    split nearest in the model's features vote for the tokens that came there
    (settings tuned on valid; it holds 4 x H bytes per train token in RAM and
    searches all of them per test token: half an hour on one core for a word
    model's million-token train split and 50,000 test tokens). With --file, the
    regimes tune on (and the memory reads) the model's corpus, or the one
    --corpus or --train names.
    """
    import torch

    from lmkit.commands.evaluate_run import run_eval, run_mix
    from lmkit.commands.progress import pass_bars

    if (model_dir is None) == (mix is None):
        raise ConfigError("give one MODEL (a model directory or an ARPA file), or --mix A,B (not both)")
    if file is not None and ctx.get_parameter_source("split") is not ParameterSource.DEFAULT:
        raise ConfigError(f"--split {split} chooses a split of a corpus; --file {file} is scored whole: drop one")
    read_file = None if file == STDIN else file
    from lmkit.evaluate.mix import mix_paths  # its paths' text checked as every path option's is

    check_output("--per-line", per_line,
                 [model_dir, read_file, *(mix_paths(mix) if mix else ()), *corpus_files(corpus_spec),
                  opener.tokenizer_from],
                 overwrite)
    if mix is None:
        refuse_ignored(ctx, ("weights",), "there is no --mix to weigh")
    if per_line is None:
        refuse_ignored(ctx, ("overwrite",), "there is no --per-line file to replace")
    adaptive = config_from(AdaptiveConfig, opts)
    if file is not None and corpus_spec.given and not adaptive.any:
        raise ConfigError("give --file or a corpus (--corpus/--train), not both (a corpus goes with --file only for "
                          "--cache, --dynamic or --memory, which tune on its valid split and read its train split)")
    refuse_unused_adaptive(ctx, adaptive)
    scoring = resolve_scoring({k: v for k, v in opts.items() if k not in vars(adaptive)})
    check_adaptive(adaptive, mix, scoring)
    with pass_bars("scoring", quiet) as bars:
        scoring["progress"] = bars
        if mix is not None:
            result = run_mix(mix, weights, split, file, corpus_spec, opener, per_line, scoring, overwrite)
        else:
            stream_options = [flag(ctx, name) for name in STREAM_OPTIONS if given(ctx, name)]
            result = run_eval(model_dir, split, file, corpus_spec, opener, per_line, scoring, adaptive, stream_options,
                              overwrite)
    result["threads"] = torch.get_num_threads()  # as --threads set them: timings depend on it
    click.echo(json_text(result, indent=2) if as_json else format_result(result))  # an infinite perplexity: null


def check_adaptive(adaptive: AdaptiveConfig, mix, scoring: dict) -> None:
    """The adaptive regimes read one model's text in order: refused with --mix and --reset-per-line."""
    if not adaptive.any:
        return
    wanted = " and ".join(REGIMES[regime][0] for regime in adaptive.asked())
    if mix is not None:
        raise ConfigError(f"{wanted} evaluates one MODEL, not a --mix")
    if scoring["reset_per_line"]:
        raise ConfigError(f"{wanted} reads the text in order as one stream; it cannot be combined "
                          "with --reset-per-line")


def refuse_unused_adaptive(ctx: click.Context, adaptive: AdaptiveConfig) -> None:
    """A tuning option of a regime that is not asked for would be ignored: refused, naming it (eval and report)."""
    if adaptive.cache is None:
        refuse_ignored(ctx, ("cache_theta", "cache_lambda"), "there is no --cache N")
    if not adaptive.dynamic:
        refuse_ignored(ctx, ("dynamic_lr", "dynamic_decay", "dynamic_segment"), "there is no --dynamic")
    if not adaptive.memory:
        refuse_ignored(ctx, ("memory_neighbours", "memory_temperature", "memory_weight"), "there is no --memory")
    if not adaptive.any:
        refuse_ignored(ctx, ("tune_tokens",), "there is no --cache N, --dynamic or --memory to tune")
    elif not adaptive.dynamic and not adaptive.needs_tuning():  # dynamic evaluation reads it for its gradients too
        wanted = " and ".join(REGIMES[regime][0] for regime in adaptive.asked())
        refuse_ignored(ctx, ("tune_tokens",), f"every setting of {wanted} is given, so nothing is tuned")


def resolve_scoring(scoring: dict) -> dict:
    from lmkit.train.config import select_device

    for name in ("rows", "window"):
        if scoring[name] < 1:
            raise ConfigError(f"--{name} must be at least 1, got {scoring[name]}")
    return {**scoring, "device": select_device(scoring["device"])}


def format_result(result: dict) -> str:
    lines = []
    for entry in result["models"]:
        lines += [f"{entry['name']}  [{entry['kind']}]"] + metric_lines(entry["evaluation"])
    if "mixture" in result:
        from lmkit.evaluate.mix import shown_weight

        weights = ", ".join(map(shown_weight, result["mixture"]["weights"]))
        tuned = f" (tuned by EM on {result['mixture']['tuned_on']})" if result["mixture"]["tuned_on"] else ""
        lines += [f"interpolated, weights {weights}{tuned}"] + metric_lines(result["mixture"]["evaluation"])
    for regime in result.get("adaptive", {}).values():
        lines += adaptive_lines(regime)
    ngrams = [entry["kind"] == "ngram" for entry in result["models"]]  # an N-gram's history begins at each line's <s>
    if all(ngrams):
        carried = "each line from <s>, as an N-gram reads"
    elif result["reset_per_line"]:
        carried = "each line alone"
    elif result.get("state_carried") is False:  # a short text: each of its lines a piece of --rows
        count = result["models"][0]["evaluation"]["lines"]
        carried = f"each line alone: its {count:,} lines are {count:,} pieces (--rows); --rows 1 carries the state"
    else:
        carried = "state carried" + ("; the N-gram reads each line from <s>" if any(ngrams) else "")
    lines.append(f"text: {result['text']}  ({carried}; threads {result['threads']})")
    if result.get("per_line"):
        lines.append(f"per-line scores: {result['per_line']}")
    return "\n".join(lines)


def adaptive_lines(regime: dict) -> list[str]:
    """A regime's own block, apart from the static figures, with the settings it chose and where it tuned them."""
    from lmkit.evaluate.adaptive import chosen_settings, tuning_source
    from lmkit.evaluate.perplexity import shown

    chosen = chosen_settings(regime)
    sources = [source for source in (tuning_source(regime),) if source]
    if regime.get("mean_squares_from"):
        sources.append(f"gradient RMS from {regime['mean_squares_from']}")
    if regime.get("remembered"):
        sources.append(f"remembers {regime['remembered']}: {regime['places']:,} places")
    tuned = f" ({'; '.join(sources)})" if sources else ""
    ev, static = regime["evaluation"], regime["static"]
    bpc = f"{ev['bits_per_char']:.4f}" if ev["bits_per_char"] is not None else "n/a"
    change = 100 * (ev["bits_per_token"] / static["bits_per_token"] - 1) if static["bits_per_token"] else 0.0
    return [f"{regime['label']}: {chosen}{tuned}",
            f"  perplexity          {shown(ev['perplexity'])}   (static, read as one stream as this regime reads "
            f"it: {shown(static['perplexity'], 0)})",
            f"  bits/token          {ev['bits_per_token']:12.4f}   ({change:+.1f}% against that static reading)",
            f"  bits/char           {bpc:>12}"]


def metric_lines(ev: dict) -> list[str]:
    from lmkit.evaluate.perplexity import shown

    if ev.get("measure") == "pseudo-perplexity":
        return pseudo_metric_lines(ev)
    bpc = f"{ev['bits_per_char']:.4f}" if ev["bits_per_char"] is not None else "n/a"
    return [
        f"  perplexity          {shown(ev['perplexity'])}   ({counted(ev['tokens'], 'token')}, "
        f"{counted(ev['lines'], 'line')})",
        f"  perplexity w/o OOV  {shown(ev['perplexity_without_oov'])}   (OOV {ev['oov']:,} = {100 * ev['oov_rate']:.2f}%)",
        f"  bits/token          {ev['bits_per_token']:12.4f}",
        f"  bits/char           {bpc:>12}   ({ev['chars']:,} chars)" if ev["chars"] else f"  bits/char  {bpc}",
        f"  NLL (nats)          {ev['nll']:12.2f}",
    ] + ([f"  probability zero    {ev['zero_probability']:12,}   tokens (an unsmoothed model's unseen events; "
          "the mixture scores them)"] if ev.get("zero_probability") else [])


def pseudo_metric_lines(ev: dict) -> list[str]:
    """A cloze model's figures, named so that nobody reads them as a perplexity."""
    from lmkit.evaluate.perplexity import shown

    return [
        f"  pseudo-perplexity   {shown(ev['pseudo_perplexity'])}   ({counted(ev['tokens'], 'token')}, "
        f"{counted(ev['lines'], 'line')})",
        "    (bidirectional model: exp of the mean -log p(token | every other token of its line);",
        "     not comparable with the perplexity of a left-to-right model)",
        f"  pseudo bits/token   {ev['pseudo_bits_per_token']:12.4f}",
        f"  pseudo NLL (nats)   {ev['pseudo_nll']:12.2f}",
    ]
