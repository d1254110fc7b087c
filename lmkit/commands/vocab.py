"""`lmkit vocab build | show`: tokenizers built from a corpus's train split, and their coverage."""
from __future__ import annotations

from pathlib import Path

import click

from lmkit.commands.common import corpus_options, display_token, refuse_ignored, tokenizer_from_path, tokenizer_options
from lmkit.commands.options import number
from lmkit.commands.usage import UsageGroup
from lmkit.commands.output_paths import PathGiven
from lmkit.corpus.split import SPLITS
from lmkit.text.tokenizer_options import tokenizer_knobs
from lmkit.text.vocab import SPECIALS

TOP_SHOWN = 20


@click.group("vocab", cls=UsageGroup)
def command():
    """Build and show tokenizers and vocabularies (always from the train split only)."""


@command.command("build")
@corpus_options
@tokenizer_options
@click.option("--force", is_flag=True, help="Rebuild even if this tokenizer is already cached.")
@click.option("--top", type=number(int, low=0, high=2**31), default=TOP_SHOWN, show_default=True, help="How many frequent tokens to show (0: none).")
def build(corpus_spec, tokenizer_spec, force, top):
    """Build (or reuse) the tokenizer for a corpus and print its summary."""
    corpus = corpus_spec.open()
    tokenizer, path = load_or_build(corpus, tokenizer_spec, rebuild=force)
    click.echo("\n".join(summary_lines(tokenizer, path, corpus, top)))


@command.command("show")
@click.argument("path", required=False, type=PathGiven())
@corpus_options
@tokenizer_options
@click.option("--top", type=number(int, low=0, high=2**31), default=TOP_SHOWN, show_default=True, help="How many frequent tokens to show (0: none).")
@click.pass_context
def show(ctx, path, corpus_spec, tokenizer_spec, top):
    """Size, specials, most frequent tokens and valid/test OOV rate of a corpus's tokenizer (built from the
    train split first if it is not built yet, as `lmkit vocab build` would).

    PATH (a tokenizer.json or a model directory) shows that tokenizer instead;
    its coverage is shown when --corpus or --train is given too.
    """
    if path is not None:
        refuse_ignored(ctx, ("tokenizer", *tokenizer_knobs()), f"{path} gives the tokenizer")
        tokenizer = tokenizer_from_path(path)
        corpus = corpus_spec.open(fetch=False) if corpus_spec.given else None
        click.echo("\n".join(summary_lines(tokenizer, None, corpus, top, built_from=str(path))))
        return
    corpus = corpus_spec.open(fetch=False)
    tokenizer, file = load_or_build(corpus, tokenizer_spec)
    click.echo("\n".join(summary_lines(tokenizer, file, corpus, top)))


def load_or_build(corpus, tokenizer_spec, rebuild: bool = False):
    """(tokenizer, its cache file): the cached one, or built from the train split now, saying so on stderr."""
    from lmkit.text.tokenizer_cache import tokenizer_path

    file = tokenizer_path(corpus, tokenizer_spec.kind, tokenizer_spec.options)
    if rebuild or not file.exists():
        click.echo(f"building the {tokenizer_spec.kind} tokenizer of {corpus.name} from its train split ...", err=True)
    return tokenizer_spec.load(corpus, rebuild=rebuild), file


def summary_lines(tokenizer, file: Path | None, corpus, top: int, built_from: str | None = None) -> list[str]:
    """What `vocab show` prints; `built_from` names where a tokenizer given as PATH came from (its counts are not
    this corpus's)."""
    from lmkit.text.tokenizer_cache import TOP_TOKENS, coverage, split_coverage

    vocab = tokenizer.vocab
    specials = " ".join(f"{token}={vocab.id(token)}" for token in SPECIALS)
    lines = [f"tokenizer   {tokenizer.describe()}" + (f"  ({file})" if file else ""),
             f"vocab size  {len(vocab):,}  (specials {specials})"]
    if corpus is None:
        frequent = sorted(vocab.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        if frequent:
            lines.append("most frequent  " + "  ".join(f"{display_token(t)} {n:,}" for t, n in frequent))
        return lines
    stats = coverage(corpus, tokenizer, file)
    frequent = stats["train"].get("top", [])[:top]
    if top > TOP_TOKENS:  # more than the cached stats keep: counted again
        frequent = split_coverage(tokenizer.reading(corpus), corpus.lines("train"), top)["top"]
    origin = f"coverage only: the tokenizer is {built_from}'s" if built_from else "built from train only"
    lines.append(f"corpus      {corpus.name} ({origin})")
    if frequent:
        lines.append("most frequent in train  " + "  ".join(f"{display_token(t)} {n:,}" for t, n in frequent))
    lines.append(f"{'split':<6} {'tokens':>12} {'<unk>':>10} {'OOV rate':>9}")
    for split in SPLITS:
        s = stats[split]
        lines.append(f"{split:<6} {s['tokens']:>12,} {s['unk']:>10,} {s['oov_rate']:>8.3%}")
    return lines
