"""`lmkit rescore MODEL NBEST`: rerank n-best lists with a language model, tuning its weight for error rate."""
from __future__ import annotations


from functools import partial

import click

from lmkit.commands.common import model_options, refuse_ignored, threads_option
from lmkit.commands.options import config_from, options_from
from lmkit.commands.output_paths import OutputFile, PathGiven, check_output
from lmkit.errors import ConfigError
from lmkit.generate.rescore import RescoreConfig

path = PathGiven()
STDOUT = "-"  # --out -: the reranked lists go to standard output (a str: no Path, not even Path("./-"), equals it)
TUNING = ("max_weight", "weight_steps", "max_bonus", "bonus_steps")  # the grid search's settings


class OutputOrStdout(OutputFile):
    """--out FILE, or `-` for standard output."""

    def convert(self, value, param, ctx):
        return STDOUT if value == STDOUT else super().convert(value, param, ctx)


@click.command("rescore")
@click.argument("model", metavar="[MODEL]", required=False, type=path)
@click.argument("nbest", metavar="NBEST", required=False, type=path)
@click.option("--scores", type=path, default=None, metavar="FILE",
              help="NBEST is Kaldi text (`UTT-N hyp ...`) and FILE its first-pass scores (`UTT-N score`).")
@click.option("--costs", is_flag=True, help="First-pass scores are costs (lower is better), not log-scores.")
@click.option("--refs", type=path, default=None, metavar="FILE", help="References, `utt-id text` per line.")
@click.option("--dev-nbest", type=path, default=None, metavar="FILE", help="Tune on this n-best list (with --dev-refs).")
@click.option("--dev-scores", type=path, default=None, metavar="FILE", help="First-pass scores of a Kaldi --dev-nbest.")
@click.option("--dev-refs", type=path, default=None, metavar="FILE", help="References of --dev-nbest.")
@click.option("--cer", is_flag=True, help="Character error rate (spaces ignored; the measure for Chinese) instead of WER.")
@click.option("--out", type=OutputOrStdout(), default=None, metavar="FILE",
              help="Write the reranked lists here (utt-id, hypothesis, combined score; best first); '-': "
                   "standard output [default: standard output without --refs, else not written].")
@click.option("--overwrite", is_flag=True, help="Replace the file --out names, if there is one.")
@click.option("--mix", default=None, metavar="A,B", help="Rescore with the interpolation of these models instead of MODEL.")
@click.option("--weights", default="auto", show_default=True,
              help="--mix weights: numbers like 0.3,0.7, or 'auto': EM on the dev references (equal without them).")
@options_from(RescoreConfig)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@model_options
@threads_option
@click.pass_context
def command(ctx, model, nbest, mix, device, opener, **options):
    """Rerank the hypotheses of NBEST with MODEL (a model directory, an ARPA file) or a --mix.

    NBEST is a TSV file (utterance id, hypothesis, first-pass log-score) or, with --scores,
    Kaldi's n-best text. Each hypothesis gets first-pass score + weight x LM log-probability
    (nats, scored as a sentence) + bonus x its LM tokens (its </s> not counted). With --refs the weight and bonus
    are tuned for the lowest error rate: on --dev-nbest/--dev-refs when given, else on a
    --dev-fraction of the utterances (by a hash of their ids), the error rate before/after
    being reported on the others. The reranked lists go to --out, or to standard output
    when there is no --refs (the summary lines then go to stderr).
    """
    from lmkit.commands.rescore_run import run_rescore

    if nbest is None and mix is not None:  # `lmkit rescore --mix A,B NBEST`: the one argument is the list
        model, nbest = None, model
    if nbest is None:
        raise ConfigError("give the n-best list to rescore: lmkit rescore MODEL NBEST (or --mix A,B NBEST)")
    if (model is None) == (mix is None):
        raise ConfigError("give one MODEL (a model directory or an ARPA file), or --mix A,B (not both)")
    files = {name: options.pop(name) for name in ("scores", "costs", "refs", "dev_nbest", "dev_scores", "dev_refs")}
    check_dev_files(files)
    refuse_unused(ctx, files, mix, options["weights"], options["tune"])
    out, overwrite = options.pop("out"), options.pop("overwrite")
    if out is None and files["refs"] is None:  # nothing to measure: the reranked lists are the result
        out = STDOUT
    to_stdout = out == STDOUT
    if to_stdout:
        refuse_ignored(ctx, ("overwrite",), "the reranked lists go to standard output, not to a file")
    from lmkit.evaluate.mix import mix_paths  # its paths' text checked as every path option's is

    check_output("--out", None if to_stdout else out,
                 [model, nbest, *(mix_paths(mix) if mix else ()), opener.tokenizer_from,
                  *(path for name, path in files.items() if name != "costs")], overwrite)
    flags = {"cer": options.pop("cer"), "out": partial(click.echo, nl=False) if to_stdout else out,
             "overwrite": overwrite, "weights": options.pop("weights"), "device": device}
    config = config_from(RescoreConfig, options)
    for line in run_rescore(model, mix, nbest, files, flags, config, opener):
        click.echo(line, err=to_stdout)  # stdout then carries only the reranked lists


def check_dev_files(files: dict) -> None:
    if (files["dev_nbest"] is None) != (files["dev_refs"] is None):
        raise ConfigError("--dev-nbest and --dev-refs go together: give both, or neither")
    if files["dev_scores"] is not None and files["dev_nbest"] is None:
        raise ConfigError("--dev-scores is for a Kaldi --dev-nbest; give --dev-nbest too")


def refuse_unused(ctx: click.Context, files: dict, mix: str | None, weights: str, tune: bool) -> None:
    """An option that this combination never reads would be ignored: refused, naming it, before any work."""
    dev = files["dev_nbest"] is not None
    if mix is None:
        refuse_ignored(ctx, ("weights",), "there is no --mix to weigh")
    if files["refs"] is None and not dev:
        reason = "there are no references (--refs, or --dev-nbest with --dev-refs) to tune on or measure against"
        refuse_ignored(ctx, ("cer", *TUNING, "dev_fraction", "tune"), reason)
        return
    if not tune:
        refuse_ignored(ctx, (*TUNING, "dev_fraction"), "--no-tune keeps --lm-weight and --length-bonus as given")
        if mix is None or weights != "auto":  # a mix's weights are still tuned by EM on --dev-refs
            refuse_ignored(ctx, ("dev_nbest", "dev_scores", "dev_refs"), "--no-tune tunes nothing on a dev set")
        return
    refuse_ignored(ctx, ("lm_weight", "length_bonus"),
                   f"the LM weight and length bonus are tuned on {'--dev-nbest' if dev else '--refs'} "
                   "(add --no-tune to use given values)")
    if dev:
        refuse_ignored(ctx, ("dev_fraction",), "--dev-nbest is the tuning set")
