"""`lmkit tokenize [TEXT...]`: how text is cut into tokens and ids."""
from __future__ import annotations

import json

import click

from lmkit.commands.common import (CORPUS_PARAMS, TEXT, corpus_options, display_token, refuse_ignored,
                                   tokenizer_from_path, tokenizer_options)
from lmkit.commands.output_paths import PathGiven
from lmkit.corpus.text_files import MAX_LINE_BYTES
from lmkit.errors import CorpusError
from lmkit.files.line_ends import text_lines
from lmkit.files.reading import standard_input
from lmkit.files.text_bytes import STDIN_NAME, wide_unicode_error
from lmkit.text.display_width import display_width
from lmkit.text.tokenizer_options import tokenizer_knobs
from lmkit.text.vocab import EOS_ID


@click.command("tokenize")
@click.argument("texts", nargs=-1, type=TEXT)
@click.option("--from", "source", type=PathGiven(), default=None,
              help="Use the tokenizer of this model directory or tokenizer.json instead of building one.")
@corpus_options
@tokenizer_options
@click.option("--format", "fmt", type=click.Choice(["both", "tokens", "ids", "json"]), default="both", show_default=True)
@click.pass_context
def command(ctx, texts, source, corpus_spec, tokenizer_spec, fmt):
    """Print the tokens and ids of each line of TEXT (-, or no TEXT: standard input); each line ends in </s>.

    Tokens shown as <unk> are not in the vocabulary. A text that is only "-" is piped in: `echo - | lmkit tokenize`.
    """
    if source:
        refuse_ignored(ctx, (*CORPUS_PARAMS, "tokenizer", *tokenizer_knobs()), f"--from {source} gives the tokenizer")
    tokenizer = tokenizer_from_path(source) if source else tokenizer_spec.load(corpus_spec.open())
    for line in given_lines(texts or ("-",)):
        ids = tokenizer.encode_line(line) + [EOS_ID]
        tokens = [tokenizer.vocab.token(i) for i in ids]
        if fmt == "json":
            click.echo(json.dumps({"text": line, "tokens": tokens, "ids": ids}, ensure_ascii=False))
            continue
        shown, numbers = [display_token(t) for t in tokens], [str(i) for i in ids]
        if fmt == "both":  # each id under its token
            shown, numbers = aligned(shown, numbers)
        if fmt in ("both", "tokens"):
            click.echo(" ".join(shown).rstrip())
        if fmt in ("both", "ids"):
            click.echo(" ".join(numbers).rstrip())


def aligned(tokens: list[str], ids: list[str]) -> tuple[list[str], list[str]]:
    """Tokens and ids each padded to the wider of the two, in terminal columns (a Chinese character takes two),
    so that joined by spaces each id stands under its token."""
    widths = [max(display_width(token), len(number)) for token, number in zip(tokens, ids)]
    return ([token + " " * (width - display_width(token)) for token, width in zip(tokens, widths)],
            [number.ljust(width) for number, width in zip(ids, widths)])


def given_lines(texts):
    """The lines of each TEXT argument, standard input's in place of a "-" (as every command that reads text reads
    it: eval --file -, fill --text-file -)."""
    for text in texts:
        yield from _stdin_lines() if text == "-" else text_lines(text)


def _stdin_lines(limit: int = MAX_LINE_BYTES):
    """Lines of standard input, read as bytes up to `limit` at a time and decoded as UTF-8 here (whatever the
    stream's own error handler): input without newlines (`< /dev/zero`) is refused at the bound instead of
    filling memory, and bytes that are not UTF-8 (or a NUL byte) are refused, a BOM dropped and a lone CR read
    as a line end, as in files."""
    stdin = standard_input()
    number = 0
    while data := stdin.readline(limit + 1):
        number += 1
        if len(data) > limit:
            raise CorpusError(f"standard input: line {number} is longer than {limit:,} bytes; "
                              "lmkit reads text line by line, so break the text into lines")
        whole_end = data + b"\x00" if data.endswith(b"\n") else data  # UTF-16LE's "\n\0": the 0 began line 2
        wide = number == 1 and wide_unicode_error(STDIN_NAME, whole_end, f"at byte offset {data.find(0)}")
        if wide:  # Windows' "Unicode" piped in, named as a file of it is
            raise CorpusError(wide)
        if b"\x00" in data:  # as a file with a NUL byte is refused
            raise CorpusError(f"standard input: line {number} holds a NUL byte (byte offset {data.index(0)}): it "
                              "looks like binary data, expected UTF-8 text")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusError(f"standard input: line {number} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at "
                              f"byte offset {exc.start})") from exc
        text = text[1:] if number == 1 and text.startswith("\ufeff") else text  # a BOM is dropped, as from a file
        text = text.removesuffix("\n").removesuffix("\r")
        yield from text.split("\r")  # a lone CR ends a line too, as in files
