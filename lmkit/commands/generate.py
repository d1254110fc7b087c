"""`lmkit generate MODEL`: options -> SamplingConfig -> lmkit.generate.decode -> text on stdout.

One stream is printed token by token as it is made; several samples or beam
hypotheses are printed each when complete; --json prints one object per
sample with per-token log-probs. A backward model (trained on reversed
lines) is primed with the prompt as the END of a line and its output is
turned around for reading.
"""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
from pathlib import Path

import click

from lmkit.commands.common import TEXT, display_token, model_options, threads_option
from lmkit.commands.options import options_from
from lmkit.commands.output_paths import STDIN, PathGiven, PathOrStdin
from lmkit.errors import ConfigError, counted
from lmkit.files.line_ends import unix_newlines
from lmkit.files.reading import read_standard_input, read_text
from lmkit.generate.sampling import SamplingConfig
from lmkit.text.normal_forms import better_form, form_advice

PROMPT_MAX_BYTES = 1 << 20  # --prompt-file is read whole and fed through the model token by token


@click.command("generate")
@click.argument("model_dir", metavar="MODEL", type=PathGiven())
@click.option("--prompt", type=TEXT, default=None, help="Text the continuation follows (newlines end sentences).")
@click.option("--prompt-file", type=PathOrStdin(), default=None,
              help=f"Read the prompt from a UTF-8 file ({STDIN}: from standard input).")
@options_from(SamplingConfig)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per sample: text (prompt included), generated tokens, ids, log-probs, total.")
@model_options
@threads_option
def command(model_dir, prompt, prompt_file, as_json, opener, **options):
    """Generate text from MODEL, a model directory or an ARPA file (greedy, sampling with
    temperature/top-k/top-p, or beam search)."""
    from lmkit.generate.decode import decode

    text = read_prompt(prompt, prompt_file)
    member = opener.open(model_dir)
    member.require_left_to_right("cannot generate left to right (lmkit fill MODEL TEXT fills blanks with it)")
    model, tokenizer, model_config = member.model, member.tokenizer, member.config
    config = SamplingConfig(**options).validate(model.vocab)
    if config.draws and config.seed is None:  # drawn here, so --json can report the seed that repeats the samples
        config = dataclasses.replace(config, seed=secrets.randbelow(2**31))
    backward = model_config.get("direction", "forward") == "backward"
    warn_unknown(tokenizer, [text or ""], "prompt", member=member)
    primed = prompt_ids(tokenizer, text or "", backward)
    streaming = not (as_json or backward or config.beam or config.num_samples > 1)
    writer = TextStream(tokenizer, primed, write=lambda piece: click.echo(piece, nl=False)) if streaming else None
    if writer is not None:
        writer.begin(text or "")
    samples = decode(model, primed, config, on_token=writer.on_token if writer else None)
    if writer is not None:
        writer.end()
        return
    for index, out in enumerate(samples):
        shown = display_text(tokenizer, text or "", primed, out.ids, backward)
        if as_json:
            click.echo(json.dumps(sample_record(tokenizer, text, shown, out, config.seed), ensure_ascii=False))
        else:
            echo_sample(shown, out, header=sample_header(out, index, config), gap=index > 0 and config.sentences != 1,
                        textless=all(i == tokenizer.vocab.eos_id for i in out.ids))


def read_prompt(prompt: str | None, prompt_file: Path | str | None) -> str | None:
    """The prompt text, or None to start a fresh sentence; empty prompts are refused rather than ignored."""
    if prompt is not None and prompt_file is not None:
        raise ConfigError("give either --prompt or --prompt-file, not both")
    if prompt_file is not None:
        from_stdin = prompt_file == STDIN
        prompt = (read_standard_input(PROMPT_MAX_BYTES, "as a prompt") if from_stdin
                  else read_text(prompt_file, max_bytes=PROMPT_MAX_BYTES, purpose="as a prompt"))
        prompt = prompt[:-1] if prompt.endswith("\n") else prompt
        if not prompt:
            where = "standard input (--prompt-file -)" if from_stdin else f"--prompt-file {prompt_file}"
            raise ConfigError(f"{where} is empty; leave the option out to start a fresh sentence")
    elif prompt is not None and not prompt:
        raise ConfigError("--prompt is empty; give some text, or leave --prompt out to start a fresh sentence")
    return None if prompt is None else unix_newlines(prompt)  # a lone "\r" ends a line, as in a --prompt-file


def warn_unknown(tokenizer, texts: list[str], what: str, where: str = "", member=None) -> bool:
    """One line on stderr naming the tokens of `texts` that are not in the vocabulary (they read as <unk>), after
    `where` (which line of a file they are on); for an ARPA file read as whitespace words (`member`, the model
    opened), the likely cause and its option: a character model's file reads 床前 as one unknown word. Whether
    that advice was given (a caller warning line after line gives it once).

    Each text, and each line of it, is tokenized on its own, as it is encoded for the model: fill's two sides
    of the blank are two texts (joined, `ba_ker` would read as one word that is never scored)."""
    unknown: list[str] = []
    for line in (line for text in texts for line in text.split("\n")):
        pieces, ids = tokenizer.split(line), tokenizer.encode_line(line)
        if len(pieces) != len(ids):
            pieces = ["?"] * len(ids)
        unknown += [piece for piece, i in zip(pieces, ids) if i == tokenizer.vocab.unk_id]
    if unknown:
        distinct = dict.fromkeys(unknown)
        shown = ", ".join(display_token(t, quoted=True) for t in distinct)
        times = f" ({len(unknown):,} times)" if len(unknown) > len(distinct) else ""
        from lmkit.checkpoint.model_source import ARPA_WORDS_ADVICE

        advice = f" ({ARPA_WORDS_ADVICE})" if member is not None and member.reads_arpa_words else ""
        form = form_advice(better_form(tokenizer, [line for text in texts for line in text.split("\n")]))
        closed = ""
        if member is not None and member.closed_vocabulary:  # pass 90
            from lmkit.models.ngram.arpa import UNKNOWN_MISSING

            closed = (f"; {member.name} lists no <unk> (a closed vocabulary): it gives <unk> log10 probability "
                      f"{UNKNOWN_MISSING:g}, as KenLM does")
        click.echo(f"warning: {where}{counted(len(distinct), what + ' token')} not in the vocabulary read as <unk>{times}: "
                   f"{shown}{advice}{form}{closed}", err=True)
        return bool(advice)
    return False


def prompt_ids(tokenizer, text: str, backward: bool) -> list[int]:
    """Ids that prime the model; each line turned around for a backward model."""
    if not backward:
        return tokenizer.encode(text)
    lines = [tokenizer.encode_line(line)[::-1] for line in text.split("\n")]
    return [i for k, line in enumerate(lines) for i in ([tokenizer.vocab.eos_id] if k else []) + line]


def display_text(tokenizer, text: str, primed: list[int], ids: list[int], backward: bool) -> str:
    """What the reader sees: prompt then continuation, or for a backward model each line turned back around."""
    if not backward:
        return text + continuation_text(tokenizer, primed, ids)
    from lmkit.generate.sampling import id_lines

    return "\n".join(tokenizer.decode(line[::-1]) for line in id_lines([*primed, *ids], tokenizer.vocab.eos_id))


def continuation_text(tokenizer, primed: list[int], ids: list[int]) -> str:
    pieces: list[str] = []
    stream = TextStream(tokenizer, primed, pieces.append)
    for i in ids:
        stream.add(i)
    return "".join(pieces)


class TextStream:
    """Writes generated tokens as text the moment they arrive.

    The current line is decoded again at each token and only what it adds is
    written, so tokenizers that put spaces between words (or join pieces)
    come out exactly as `decode` of the whole text would.
    """

    def __init__(self, tokenizer, primed: list[int], write):
        eos = tokenizer.vocab.eos_id
        last_eos = max((k for k, i in enumerate(primed) if i == eos), default=-1)
        self.tokenizer, self.write = tokenizer, write  # click.echo flushes each piece
        self.line = list(primed[last_eos + 1 :])  # the prompt's unfinished line
        self.shown = tokenizer.decode(self.line)

    def begin(self, prompt: str) -> None:
        self.write(prompt)

    def on_token(self, ids, active) -> None:
        if bool(active[0]):
            self.add(int(ids[0]))

    def add(self, token_id: int) -> None:
        if token_id == self.tokenizer.vocab.eos_id:
            self.line, self.shown = [], ""
            self.write("\n")
            return
        self.line.append(token_id)
        text = self.tokenizer.decode(self.line)
        self.write(text[len(os.path.commonprefix([self.shown, text])) :])
        self.shown = text

    def end(self) -> None:
        if self.line:
            self.write("\n")


def sample_header(out, index: int, config) -> str | None:
    """The line above a beam hypothesis, or above each of several samples: a sample may hold blank lines of its own,
    so without it the printed samples could not be told apart. One sample alone is printed bare."""
    if config.beam is not None:
        return f"# score {out.score:.4f}  log p {out.total:.4f}  tokens {len(out.ids)}"
    if config.num_samples > 1:
        return f"# sample {index + 1} of {config.num_samples}  log p {out.total:.4f}  tokens {len(out.ids)}"
    return None


def echo_sample(shown: str, out, header: str | None, gap: bool, textless: bool) -> None:
    """One sample or hypothesis under its header; one of line ends alone says so, or it would read as a stray blank
    line."""
    if gap:
        click.echo()
    if header is not None:
        note = f"  (no text: {counted(len(out.ids), 'line end')} only)" if textless else ""
        click.echo(header + note)
    click.echo(shown[:-1] if shown.endswith("\n") else shown)


def sample_record(tokenizer, prompt: str | None, shown: str, out, seed: int | None) -> dict:
    """The --json object of one sample; "seed" only where tokens were drawn (greedy and beam search draw none)."""
    record = {"prompt": prompt or "", "text": shown, "tokens": tokenizer.vocab.decode(out.ids), "ids": out.ids,
              "logprobs": [round(p, 6) for p in out.logprobs], "total": round(out.total, 6),
              "finished": out.finished}
    if seed is not None:
        record["seed"] = seed
    if out.score is not None:
        record["score"] = round(out.score, 6)
    return record
