"""The end of `lmkit train`: best model's valid/test figures, a baseline beside them, a sample."""
from __future__ import annotations

from pathlib import Path

import click

from lmkit.checkpoint.save_load import load_model, read_config
from lmkit.commands.progress import pass_bars
from lmkit.commands.train_output import summary_lines
from lmkit.config.folders import checkpoints_root
from lmkit.errors import LmkitError, printable
from lmkit.evaluate.fresh_start import fresh_start_cost, fresh_start_warning
from lmkit.evaluate.perplexity import NLL, stream_nll
from lmkit.generate.sampling import sample_text
from lmkit.models.base import is_cloze
from lmkit.text.id_cache import encoded_split


def evaluate_splits(model, tokenizer, corpus, reverse: bool, splits=("valid", "test"),
                    quiet: bool = False) -> dict[str, NLL]:
    device = next(iter(model.parameters()), None)
    device = device.device if device is not None else "cpu"
    results = {}
    for split in splits:
        with pass_bars(f"final {split} pass", quiet) as bars:
            results[split] = stream_nll(model, encoded_split(corpus, tokenizer, split, reverse), device=device,
                                        progress=bars)
    return results


def find_baselines(corpus_name: str, tokenizer_kind: str, root: Path | None = None) -> list[Path]:
    """The character 5-grams `lmkit ngram` built on the same corpus and tokenizer kind, in name order."""
    root = checkpoints_root() if root is None else root
    if not root.is_dir():
        return []
    found = []
    for config_path in sorted(root.glob("*/config.json")):
        try:
            config = read_config(config_path.parent)
        except LmkitError:
            continue
        if (config.get("kind") == "ngram" and config.get("corpus") == corpus_name and config.get("order") == 5
                and config.get("direction", "forward") == "forward"
                and (config.get("tokenizer") or {}).get("kind", tokenizer_kind) == tokenizer_kind):
            found.append(config_path.parent)
    return found


def baseline_figure(corpus, tokenizer, roots: list[Path]) -> tuple[str, float] | None:
    """(where, valid bits/char) of the first of find_baselines in `roots` with this model's vocabulary that loads;
    one that is damaged or has another vocabulary is passed over (it is not this run's to report on)."""
    for where in (found for root in roots for found in find_baselines(corpus.name, tokenizer.kind, root)):
        try:
            model, base_tokenizer, _ = load_model(where)
        except LmkitError:
            continue
        if base_tokenizer.vocab == tokenizer.vocab:
            result = stream_nll(model, encoded_split(corpus, base_tokenizer, "valid"))
            return str(where), result.bits_per_char(corpus.num_chars("valid"))
    return None


def print_summary(directory: Path, corpus, sample_tokens: int, seed: int, quiet: bool = False) -> None:
    model, tokenizer, config = load_model(directory)
    if is_cloze(model):
        return print_cloze_summary(directory, model.eval(), tokenizer, corpus)
    reverse = config.get("direction") == "backward"
    results = evaluate_splits(model.eval(), tokenizer, corpus, reverse, quiet=quiet)
    chars = {split: corpus.num_chars(split) for split in results}
    # beside the model (its --out's folder) and in the checkpoints folder, where `lmkit ngram` saves by default
    roots = list(dict.fromkeys([Path(directory).absolute().parent, checkpoints_root().absolute()]))
    baseline = baseline_figure(corpus, tokenizer, roots) if tokenizer.kind == "char" and not reverse else None
    for line in summary_lines(str(directory), results, chars, baseline):
        click.echo(line)
    said = fresh_start_warning(fresh_start_cost(model, encoded_split(corpus, tokenizer, "valid", reverse)),
                               "the valid split")
    if said is not None:
        click.echo(said, err=True)
    if baseline is None and tokenizer.kind == "char" and not reverse:
        where = " or ".join(str(root) for root in roots)
        click.echo(f"  (no character 5-gram baseline with this vocabulary in {where} yet: `lmkit ngram "
                   f"--corpus {corpus.name} --tokenizer char --order 5`, with this run's tokenizer options, builds one)")
    if sample_tokens > 0:
        click.echo("sample:")
        click.echo(sample_text(model, tokenizer, sample_tokens, seed, reverse))


def print_cloze_summary(directory: Path, model, tokenizer, corpus) -> None:
    """A bidirectional model's valid/test pseudo-perplexity (no sample: it cannot generate left to right)."""
    from lmkit.evaluate.cloze import pseudo_nll

    click.echo(f"model: {printable(str(directory))}  (bidirectional: pseudo-perplexity, exp of mean -log p(token | "
               "the rest of its line))")
    for split in ("valid", "test"):
        result = pseudo_nll(model, encoded_split(corpus, tokenizer, split), device=next(model.parameters()).device)
        click.echo(f"  {split:<5}  pseudo-ppl {result.perplexity:10.3f}  pseudo bits/token {result.bits_per_token:.4f}")
