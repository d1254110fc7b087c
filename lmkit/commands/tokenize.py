"""`lmkit tokenize [TEXT...]`: how text is cut into tokens and ids."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from lmkit.commands.common import corpus_options, display_token, tokenizer_from_path, tokenizer_options
from lmkit.text.vocab import EOS_ID


@click.command("tokenize")
@click.argument("texts", nargs=-1)
@click.option("--from", "source", type=click.Path(path_type=Path), default=None,
              help="Use the tokenizer of this model directory or tokenizer.json instead of building one.")
@corpus_options
@tokenizer_options
@click.option("--format", "fmt", type=click.Choice(["both", "tokens", "ids", "json"]), default="both", show_default=True)
def command(texts, source, corpus_spec, tokenizer_spec, fmt):
    """Print the tokens and ids of each line of TEXT (or of standard input); each line ends in </s>.

    Tokens shown as <unk> are not in the vocabulary.
    """
    tokenizer = tokenizer_from_path(source) if source else tokenizer_spec.load(corpus_spec.open())
    lines = [line for text in texts for line in text.split("\n")] if texts else _stdin_lines()
    for line in lines:
        ids = tokenizer.encode_line(line) + [EOS_ID]
        tokens = [tokenizer.vocab.token(i) for i in ids]
        if fmt == "json":
            click.echo(json.dumps({"text": line, "tokens": tokens, "ids": ids}, ensure_ascii=False))
            continue
        if fmt in ("both", "tokens"):
            click.echo(" ".join(display_token(t) for t in tokens))
        if fmt in ("both", "ids"):
            click.echo(" ".join(str(i) for i in ids))


def _stdin_lines():
    for line in sys.stdin:
        yield line.rstrip("\r\n")
