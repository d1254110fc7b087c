"""`lmkit rescore MODEL NBEST`: rerank n-best lists with a language model, tuning its weight for error rate."""
from __future__ import annotations

from pathlib import Path

import click

from lmkit.commands.common import model_options, threads_option
from lmkit.commands.options import config_from, options_from
from lmkit.commands.output_paths import OutputFile, refuse_overlap
from lmkit.errors import ConfigError
from lmkit.generate.rescore import RescoreConfig

path = click.Path(path_type=Path)


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
@click.option("--out", type=OutputFile(), default=None, metavar="FILE",
              help="Write the reranked lists here (utt-id, hypothesis, combined score; best first).")
@click.option("--mix", default=None, metavar="A,B", help="Rescore with the interpolation of these models instead of MODEL.")
@click.option("--weights", default="auto", show_default=True,
              help="--mix weights: numbers like 0.3,0.7, or 'auto': EM on the dev references (equal without them).")
@options_from(RescoreConfig)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@model_options
@threads_option
def command(model, nbest, mix, device, opener, **options):
    """Rerank the hypotheses of NBEST with MODEL (a model directory, an ARPA file) or a --mix.

    NBEST is a TSV file (utterance id, hypothesis, first-pass log-score) or, with --scores,
    Kaldi's n-best text. Each hypothesis gets first-pass score + weight x LM log-probability
    (nats, scored as a sentence) + bonus x its LM tokens. With --refs the weight and bonus
    are tuned for the lowest error rate: on --dev-nbest/--dev-refs when given, else on a
    --dev-fraction of the utterances (by a hash of their ids), the error rate before/after
    being reported on the others.
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
    refuse_overlap("--out", options["out"], [model, nbest, *(mix.split(",") if mix else ()), opener.tokenizer_from,
                                             *(path for name, path in files.items() if name != "costs")])
    flags = {"cer": options.pop("cer"), "out": options.pop("out"), "weights": options.pop("weights"), "device": device}
    config = config_from(RescoreConfig, options)
    for line in run_rescore(model, mix, nbest, files, flags, config, opener):
        click.echo(line)


def check_dev_files(files: dict) -> None:
    if (files["dev_nbest"] is None) != (files["dev_refs"] is None):
        raise ConfigError("--dev-nbest and --dev-refs go together: give both, or neither")
    if files["dev_scores"] is not None and files["dev_nbest"] is None:
        raise ConfigError("--dev-scores is for a Kaldi --dev-nbest; give --dev-nbest too")
