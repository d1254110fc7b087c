"""`lmkit ngram`: count and smooth an N-gram model, save it as a model directory, report perplexity.

    lmkit ngram --corpus shakespeare --tokenizer word --order 3 --smoothing kn --arpa shakespeare.arpa
    lmkit eval checkpoints/shakespeare-word-3gram-kn

The model directory works with every command that takes one (eval, generate,
fill with --direction backward, report), and so does the ARPA file.
"""
from __future__ import annotations

import re
import shlex
import sys
import time
import warnings
from pathlib import Path

import click

from lmkit.commands.common import corpus_options, direction_option, threads_option, tokenizer_options
from lmkit.commands.options import config_from, given_options, options_from
from lmkit.commands.output_paths import ModelDirectory, OutputFile, check_output, corpus_files
from lmkit.config.folders import checkpoints_root, folders_line
from lmkit.errors import ConfigError, counted, printable
from lmkit.models.ngram.external_count import BYTES_PER_TOKEN, MIN_CHUNK_TOKENS
from lmkit.models.ngram.model import NGramConfig, refuse_unused_k

SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}  # a trailing B or iB: the same


def parse_memory(text: str | None) -> int | None:
    """'512MB', '2G', '64KiB', '1000000' -> bytes (K, M, G, T, P in 1,024s, as `free -h` and KenLM's -S read them);
    None stays None (count in memory)."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGTP]?)(I?B)?\s*", text.upper(), flags=re.ASCII)
    if not match or float(match.group(1)) <= 0 or (match.group(3) == "IB" and not match.group(2)):
        raise ConfigError(f"--memory must be a size such as 512MB, 2GB or 2GiB, got {text!r}")
    size = int(float(match.group(1)) * SIZE_UNITS[match.group(2)])
    smallest = MIN_CHUNK_TOKENS * BYTES_PER_TOKEN  # the counter's smallest sorted run
    if size < smallest:
        raise ConfigError(f"--memory {text}: at least {smallest // 1000}KB is needed to count a run of "
                          f"{MIN_CHUNK_TOKENS:,} tokens; give more (512MB is typical)")
    return size


def default_directory(corpus_name: str, tokenizer_kind: str, order: int, smoothing: str, direction: str) -> Path:
    suffix = "-backward" if direction == "backward" else ""
    return checkpoints_root() / f"{corpus_name}-{tokenizer_kind}-{order}gram-{smoothing}{suffix}"


def check_directory(directory: Path, corpus, tokenizer, config: NGramConfig, direction: str,
                    overwrite: bool = False) -> None:
    """The same N-gram (corpus, tokenizer, vocabulary, order, smoothing, direction) is rebuilt deterministically,
    so it may be replaced; another N-gram only with --overwrite, as `lmkit train` asks; another kind of model,
    or a folder lmkit did not make, never."""
    from lmkit.checkpoint.ownership import check_model_directory, stopped_run
    from lmkit.checkpoint.save_load import read_config

    check_model_directory(directory, "--out")
    if not (directory / "config.json").exists():
        left = stopped_run(directory)
        if left is not None:  # a neural run's, stopped before its first save: an N-gram beside it would mix with it
            raise ConfigError(f"--out {directory} holds a training run's resumable checkpoint ({left}/), not an "
                              "N-gram; choose another --out")
        return
    saved = read_config(directory)
    if saved.get("kind") != "ngram":
        raise ConfigError(f"--out {directory} holds a model of kind {saved.get('kind')}, not an N-gram; choose "
                          "another --out")
    if overwrite or same_ngram(saved, corpus, tokenizer, config, direction):
        return
    order, smoothing = saved.get("order"), saved.get("smoothing")
    raise ConfigError(f"--out {directory} holds another N-gram ({saved.get('corpus')}, {order}-gram {smoothing}, "
                      f"{saved.get('direction', 'forward')}); add --overwrite to replace it, or choose another --out")


def same_ngram(saved: dict, corpus, tokenizer, config: NGramConfig, direction: str) -> bool:
    """Whether config.json `saved` is of the N-gram this command builds (what a rebuild would make again)."""
    from lmkit.checkpoint.saved_config import tokenizer_difference, vocab_record

    return (saved.get("corpus") == corpus.name and saved.get("vocab") == vocab_record(tokenizer.vocab)
            and tokenizer_difference(saved, tokenizer) is None
            and saved.get("order") == config.order and saved.get("smoothing") == config.smoothing
            and (config.smoothing != "add-k" or saved.get("k") == config.k)
            and saved.get("direction", "forward") == direction)


def build_with_warnings(stream, vocab, config: NGramConfig, direction: str, memory: int | None):
    """Build the model; warnings (discount fallback) come back as one-line messages."""
    from lmkit.models.ngram.model import build_ngram

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        model = build_ngram(stream, vocab, order=config.order, smoothing=config.smoothing, k=config.k,
                            direction=direction, memory=memory)
        seconds = time.perf_counter() - started
    return model, seconds, [str(w.message) for w in caught]


def evaluate_split(model, corpus, tokenizer, split: str, reverse: bool) -> tuple[dict | None, str]:
    """(metrics or None, one line for the terminal)."""
    from lmkit.evaluate.perplexity import UnscorableToken, summarize
    from lmkit.text.id_cache import encoded_split

    stream = encoded_split(corpus, tokenizer, split, reverse)
    if len(stream) == 0:
        return None, f"{split}: empty"
    logp = model.score_stream(stream)
    try:
        result = summarize(stream, logp, corpus.num_chars(split), model.vocab, backward=reverse)
    except UnscorableToken as exc:
        return None, f"{split}: {exc}"
    metrics = {f"{split}_nll": result.total.mean, f"{split}_ppl": result.total.perplexity,
               f"{split}_tokens": result.total.tokens, f"{split}_oov_rate": result.oov_rate}
    line = f"{split}: perplexity {result.total.perplexity:.4f}"
    if result.bits_per_char is not None:
        metrics[f"{split}_bpc"] = result.bits_per_char
        line += f"  bits/char {result.bits_per_char:.4f}"
    return metrics, line + f"  ({counted(result.total.tokens, 'token')}, OOV {100 * result.oov_rate:.2f}%)"


def build_and_save(directory: Path, corpus, tokenizer, config: NGramConfig, direction: str, memory: int | None):
    """Count and smooth the train split, score valid and test, and save the model directory."""
    import torch

    from lmkit.checkpoint.learning_curve import curve_line
    from lmkit.checkpoint.ownership import METRICS_FILE
    from lmkit.checkpoint.save_load import save_model
    from lmkit.checkpoint.saved_config import text_record
    from lmkit.text.id_cache import encoded_split

    reverse = direction == "backward"
    stream = encoded_split(corpus, tokenizer, "train", reverse)
    model, seconds, messages = build_with_warnings(stream, tokenizer.vocab, config, direction, memory)
    for message in messages:
        click.echo(f"warning: {message}", err=True)
    sizes = model.ngram_counts()
    click.echo(folders_line())
    click.echo(f"built {config.order}-gram ({config.smoothing}) on {corpus.name} [{tokenizer.describe()}, vocab "
               f"{len(tokenizer.vocab):,}] from {counted(len(stream), 'token')} in {seconds:.2f}s: "
               + " / ".join(f"{n:,}" for n in sizes) + " n-grams")
    extra = {"corpus": corpus.name,
             "train": {"command": shlex.join(["lmkit", *sys.argv[1:]]), "tokens": int(len(stream)),
                       "build_seconds": round(seconds, 3), "texts": text_record(corpus)},
             "runtime": {"threads": torch.get_num_threads()}}
    record = {"step": 0, "tokens": int(len(stream)), "time": round(seconds, 3)}
    for split in ("valid", "test"):
        metrics, line = evaluate_split(model, corpus, tokenizer, split, reverse)
        click.echo(line)
        record.update(metrics or {})
    # the learning curve is saved with the model: the old model's line goes only now, with the old model
    save_model(directory, model, tokenizer, {**extra, "valid": record}, files={METRICS_FILE: curve_line(record)})
    weights = directory / "model.ngram.npz"
    click.echo(f"saved {directory} ({weights.stat().st_size / 2**20:.1f} MiB)")
    return model


@click.command(context_settings={"show_default": True})
@corpus_options
@tokenizer_options
@options_from(NGramConfig)
@direction_option
@click.option("--arpa", type=OutputFile(), default=None, help="Also write the model as an ARPA file (.gz, .bz2 or .xz to compress).")
@click.option("--memory", default=None, metavar="SIZE",
              help="Count on disk in sorted runs using about this much memory (e.g. 1GB or 512MiB: K, M, G, T, P "
                   "count in 1,024s, with or without B or iB), for corpora larger than RAM.")
@click.option("--out", type=ModelDirectory(), default=None,
              help="Model directory: a new or empty folder, or one lmkit made "
                   "[default: checkpoints/<corpus>-<tokenizer>-<order>gram-<smoothing>].")
@click.option("--overwrite", is_flag=True,
              help="Replace another N-gram saved in --out (the same N-gram is rebuilt without it; never another "
                   "kind of model, or a folder lmkit did not make), and the file at --arpa.")
@threads_option
@click.pass_context
def command(ctx, corpus_spec, tokenizer_spec, direction, arpa, memory, out, overwrite, **opts):
    """Build an N-gram model (add-k, Kneser-Ney) and write ARPA."""
    refuse_unused_k(given_options(ctx), opts["smoothing"], opts["k"])
    run_ngram(corpus_spec, tokenizer_spec, config_from(NGramConfig, opts), direction, out, arpa, parse_memory(memory),
              overwrite)


def run_ngram(corpus_spec, tokenizer_spec, config: NGramConfig, direction: str, out: Path | None,
              arpa: Path | None = None, memory: int | None = None, overwrite: bool = False) -> None:
    """Build, score and save an N-gram model directory (`lmkit ngram`, `lmkit train --model ngram`)."""
    from lmkit.train.resume_state import DirectoryLock, check_save_places

    corpus = corpus_spec.open()
    tokenizer = tokenizer_spec.load(corpus)
    directory = out or default_directory(corpus.name, tokenizer.kind, config.order, config.smoothing, direction)
    check_directory(directory, corpus, tokenizer, config, direction, overwrite)
    check_output("--arpa", arpa, corpus_files(corpus_spec), overwrite, writes_into=directory)
    if arpa is not None:
        from lmkit.models.ngram.arpa_write import check_writable

        check_writable(tokenizer.vocab, arpa)  # before the build, not after it
    with DirectoryLock(directory):  # one writer at a time; temporaries a killed build left behind are removed
        # again under the lock: another lmkit may have saved a model here while this one prepared
        check_directory(directory, corpus, tokenizer, config, direction, overwrite)
        check_save_places(directory)  # before the build: a user's folder, FIFO or link where a file of ours goes
        model = build_and_save(directory, corpus, tokenizer, config, direction, memory)
    if arpa is not None:
        from lmkit.models.ngram.arpa_write import write_arpa

        write_arpa(model, arpa, replace=overwrite)
        click.echo(f"wrote {arpa} ({Path(arpa).stat().st_size / 2**20:.1f} MiB)")
        if direction == "backward":  # the format has no place to say so
            click.echo(f"warning: {printable(str(arpa))} holds a backward model, its n-grams read right to left, and "
                       "an ARPA file cannot say so: other tools (and lmkit eval or generate) read it left to right; "
                       f"lmkit fill takes it as the backward model of a pair, and {printable(str(directory))} knows "
                       "its direction", err=True)
