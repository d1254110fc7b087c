"""Issue 17: the README's tour runs, top to bottom, through the real CLI, as a new user would type it.

Every `lmkit ...` line of the README's bash blocks (test_readme.py checks that each parses) is run here in
README order by `python -m lmkit` in one folder that is both the working folder and $LMKIT_HOME, so a
line finds what the lines above it made (checkpoints/tang300-char-gru, shakespeare5.arpa, ...). Two things
differ from a user's run, and nothing else:

- no network: the named corpora the tour uses are built beforehand from this project's fixtures, through
  the same install as a fetch, under their catalog names (`fake_named_corpus`); the files the tour names
  (my.txt, kenlm.arpa.gz, nbest.tsv, ...) are made from the fixtures too (`make_tour_files`);
- small budgets: each line is rewritten by `small_budget`, which only swaps values for smaller ones or adds
  options, and checks that every option the README shows is still there.

Each line must exit 0 with no traceback; a few outputs are checked for what the README says they show.
The one-machine `--nproc` lines run too (Gloo on the CPU); the `torchrun` lines beside them
do not (NOT_LMKIT says why). The run is marked slow (about four minutes on a shared 2-core machine); the
checks of the rewriting and of which lines run are quick and run by default.
"""
from __future__ import annotations

import dataclasses
import gzip
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CHINESE, ENGLISH, FIXTURES, TINY
from readme_blocks import ROOT, lmkit_lines, parse, sectioned_blocks

from lmkit.models import CLOZE_KINDS

SKIPPED_SECTIONS = {
    "Two commands": "installs torch and lmkit with pip from the network, and its test command is the run this "
                    "test belongs to",
}
NOT_LMKIT = {  # the first word of the other lines in the blocks that are run, and why they are not run
    "torchrun": "one starts the same run as the `lmkit train ... --nproc 4` line (which runs), the other needs "
                "several machines and a rendezvous host",
}

# "COMMAND [OPTION...]": options set to these values on every line of COMMAND that gives each OPTION, replacing
# the README's value or added where it gives none (later keys win): budgets, and sizes that train in a second.
SMALL = {
    "train": {"--max-steps": "3", "--max-time": "60", "--hidden-size": "16", "--emb-size": "16",
              "--batch-size": "4", "--bptt": "80", "--eval-every": "2", "--sample-tokens": "40"},
    "train --resume": {"--max-steps": "6"},  # a resumed run continues past the 3 steps it has made
    "report --suite": {"--budget-minutes": "0.05"},
    **{f"{command} {regime}": {"--tune-tokens": "300"} for command in ("eval", "report")
       for regime in ("--cache", "--dynamic", "--memory")},
}
# Values replaced only where the README gives the option (adding it elsewhere would change the command).
SMALLER = {"--vocab-size": "300",
           "--softmax": "full"}  # the fixtures' vocabularies are below the 1,000 types an adaptive softmax needs


def small_budget(line: str) -> list[str]:
    """The arguments of README `line` (after `lmkit`) with small budgets: SMALL's options that apply to it, and
    `--threads 1` where the command takes it, set or added; SMALLER's values swapped in."""
    name, ctx = parse(line)
    args = shlex.split(line)[1:]
    always = {}
    for key, options in SMALL.items():
        command, *given = key.split()
        if command == name and all(option in args for option in given):
            always.update(options)
    if any(param.name == "threads" for param in ctx.command.params):
        always["--threads"] = "1"
    if name == "train" and (ctx.params.get("model") in CLOZE_KINDS or ctx.params.get("model") == "ngram"):
        always.pop("--sample-tokens", None)  # no sample to shorten: train refuses the option there
    wanted = {**SMALLER, **always}
    out = list(args)
    for option, value in wanted.items():
        if option in out:
            out[out.index(option) + 1] = value
        elif option in always:
            out += [option, value]
    swapped = [i for i, (before, after) in enumerate(zip(args, out)) if before != after]
    assert all(args[i - 1] in wanted for i in swapped), f"only values of {list(wanted)} may change: {args} -> {out}"
    return out


def tour_lines() -> list[str]:
    """The `lmkit` lines of every bash block outside SKIPPED_SECTIONS, in README order."""
    return lmkit_lines([block for title, block in sectioned_blocks("bash") if title not in SKIPPED_SECTIONS])


# --- the corpora and files the tour names, made from fixtures -------------------------------------------

TANG_POEMS = [  # two poems whose characters the tour's prompts use ("床前明月光", "春")
    ["静夜思", "作者：李白", "床前明月光，疑是地上霜。", "举头望明月，低头思故乡。", ""],
    ["春晓", "作者：孟浩然", "春眠不觉晓，处处闻啼鸟。", "夜来风雨声，花落知多少。", ""],
]


def paragraphs(path: Path) -> list[list[str]]:
    """The file's paragraphs (blocks ending in a blank line), each a unit for the splitter."""
    units, unit = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        unit.append(line)
        if not line.strip():
            units.append(unit)
            unit = []
    return units + [unit] if unit else units


def segmented(line: str) -> str:
    """Chinese cut into words of at most two characters, punctuation apart: a stand-in for pku98's gold
    segmentation, which only needs to be words separated by spaces."""
    return " ".join(re.findall(r"[，。！？、；：“”（）]|[^，。！？、；：“”（）\s]{1,2}", line))


FIXTURE_UNITS = {
    "shakespeare": lambda: paragraphs(ENGLISH),
    "fortunes": lambda: paragraphs(ENGLISH),
    "tang300": lambda: TANG_POEMS + paragraphs(CHINESE),
    "pku98": lambda: [[segmented(line) for line in unit] for unit in paragraphs(CHINESE)],
    "zh-reviews": lambda: [[line] for line in CHINESE.read_text(encoding="utf-8").splitlines() if line],
}


def fake_named_corpus(root: Path, name: str) -> None:
    """Cache corpus `name` under `root` as `lmkit corpus fetch` would, its text from FIXTURE_UNITS: the catalog
    entry's description, licence and segmentation are kept, only the source of its units is ours."""
    from lmkit.corpus.sources import CORPORA, DOWNLOADS, build_named
    from lmkit.corpus.store import install_corpus

    source = {"kind": "test fixture", "files": "corpora/fixtures"}
    entry = dataclasses.replace(CORPORA[name], units=lambda downloads: (source, FIXTURE_UNITS[name]()))
    install_corpus(root, name, lambda work: build_named(entry, root / DOWNLOADS, work))


def lmkit(args, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "LMKIT_CORPORA"}
    env.update(PYTHONPATH=str(ROOT), LMKIT_HOME=str(home), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "lmkit", *map(str, args)], cwd=cwd, env=env, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL)


def nbest_rows(references: list[str], chars: bool) -> list[tuple[str, str, float]]:
    """(utterance id, hypothesis, first-pass score): each reference with two corrupted neighbours (its last
    unit dropped, its first two swapped), the first pass preferring a wrong one every other utterance."""
    rows = []
    for i, reference in enumerate(references):
        units = list(reference) if chars else reference.split()
        join = "".join if chars else " ".join
        wrong = [join(units[:-1]), join([units[1], units[0], *units[2:]])]
        scores = [-2.0, -1.0, -3.0] if i % 2 else [-1.0, -2.0, -3.0]
        rows += [(f"utt{i:02d}", hypothesis, score) for hypothesis, score in zip([reference, *wrong], scores)]
    return rows


def write_nbest(folder: Path, stem: str, rows, refs_name: str) -> None:
    """STEM.tsv with `rows`, and REFS_NAME with each utterance's first hypothesis (nbest_rows puts it first)."""
    (folder / f"{stem}.tsv").write_text("".join(f"{u}\t{h}\t{s}\n" for u, h, s in rows), encoding="utf-8")
    references = {}
    for utterance, hypothesis, _ in rows:
        references.setdefault(utterance, hypothesis)
    (folder / refs_name).write_text("".join(f"{u} {h}\n" for u, h in references.items()), encoding="utf-8")


def lines_of(path: Path, count: int) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if len(line.split()) > 2][:count]


def make_tour_files(folder: Path) -> None:
    """The files the tour's commands name, in `folder`, made from the fixtures."""
    shutil.copytree(FIXTURES, folder / "corpora" / "fixtures")  # the Where-models-differ block reads it there
    shutil.copy(ENGLISH, folder / "my.txt")
    shutil.copy(TINY["en"]["test"], folder / "test.txt")
    (folder / "blanks.txt").write_text("床前明_光\n\n疑是地上_\n", encoding="utf-8")
    prepare = folder.parent / "prepare"  # a KenLM stand-in: whitespace words, so `eval --file` reads them
    prepare.mkdir()
    done = lmkit(["ngram", "--train", TINY["en"]["train"], "--tokenizer", "word", "--no-split-punct", "--order", "3",
                  "--arpa", prepare / "kenlm.arpa", "--out", prepare / "kenlm"], prepare, prepare)
    assert done.returncode == 0, done.stderr
    with open(prepare / "kenlm.arpa", "rb") as plain, gzip.open(folder / "kenlm.arpa.gz", "wb") as packed:
        shutil.copyfileobj(plain, packed)

    english = lines_of(TINY["en"]["test"], 8)
    chinese = [line for line in TINY["zh"]["test"].read_text(encoding="utf-8").splitlines() if line][:8]
    rows = nbest_rows(english, chars=False) + [(f"zh-{u}", h, s) for u, h, s in nbest_rows(chinese, chars=True)]
    write_nbest(folder, "nbest", rows, "refs.txt")  # for the word 5-gram and, with --cer, for the Tang models
    kaldi = {}
    for utterance, hypothesis, score in rows:
        kaldi.setdefault(utterance, []).append((hypothesis, score))
    hypotheses = [(f"{u}-{n}", h, s) for u, hs in kaldi.items() for n, (h, s) in enumerate(hs, start=1)]
    (folder / "nbest.txt").write_text("".join(f"{k} {h}\n" for k, h, _ in hypotheses), encoding="utf-8")
    (folder / "nbest.scores").write_text("".join(f"{k} {-s}\n" for k, _, s in hypotheses), encoding="utf-8")
    shutil.copy(folder / "refs.txt", folder / "text")
    write_nbest(folder, "test", nbest_rows(english, chars=False), "test.refs")
    write_nbest(folder, "dev", nbest_rows(lines_of(TINY["en"]["valid"], 8), chars=False), "dev.refs")


# --- what a few lines must show ----------------------------------------------------------------------------

def shows(*fragments: str):
    def check(output: str, folder: Path) -> None:
        for fragment in fragments:
            assert fragment in output, f"expected {fragment!r} in:\n{output}"
    return check


def tokens_shown(*tokens: str):
    """`lmkit tokenize`'s first line holds these tokens (spaced so that each id stands under its token)."""
    def check(output: str, folder: Path) -> None:
        assert output.splitlines()[0].split() == list(tokens), f"expected the tokens {tokens} in:\n{output}"
    return check


def made(*paths: str):
    def check(output: str, folder: Path) -> None:
        for path in paths:
            assert (folder / path).is_file(), f"{path} was not written; output:\n{output}"
    return check


CHECKS = {
    "lmkit corpus fetch tang300": shows("tang300: already cached"),
    "lmkit corpus fetch fortunes": shows("fortunes: already cached"),
    "lmkit corpus fetch pku98 zh-reviews": shows("pku98: already cached", "zh-reviews: already cached"),
    "lmkit corpus info shakespeare": shows("shakespeare", "test fixture"),
    "lmkit vocab show --corpus shakespeare --tokenizer word":
        shows("vocab size", "most frequent in train  the ", " , "),
    'lmkit tokenize --corpus tang300 "床前明月光"': tokens_shown("床", "前", "明", "月", "光", "</s>"),
    "lmkit train --resume checkpoints/tang300-char-gru": shows("resuming checkpoints/tang300-char-gru at step 3:"),
    "lmkit ngram --corpus shakespeare --tokenizer word --order 5 --smoothing kn --arpa shakespeare5.arpa":
        made("shakespeare5.arpa", "checkpoints/shakespeare-word-5gram-kn/config.json"),
    'lmkit fill checkpoints/tang300-char-bilstm "床前明_光"': shows("床前明["),
    "lmkit fill checkpoints/tang300-char-bilstm --text-file blanks.txt --memory": shows(
        "line 1: 床前明_光", "床前明[", "line 3: 疑是地上_", "疑是地上["),
    "lmkit eval checkpoints/tang300-char-bilstm": shows("pseudo-perplexity"),
    "lmkit eval kenlm.arpa.gz --file test.txt": shows("bits/token", "text: test.txt"),
    "lmkit rescore checkpoints/shakespeare-word-5gram-kn nbest.tsv --refs refs.txt --out reranked.tsv":
        made("reranked.tsv"),
    "lmkit rescore checkpoints/shakespeare-word-lstm test.tsv --refs test.refs --dev-nbest dev.tsv --dev-refs dev.refs":
        shows("first pass", "-> rescored"),
    "lmkit report --corpus tang300 --tokenizer char --suite baseline": made("reports/tang300-char/report.html"),
    "lmkit report checkpoints/english-char-lstm checkpoints/english-char-kn --sample-tokens 0 --out reports/english":
        made("reports/english/report.html", "reports/english/report.md"),
    "lmkit train --resume checkpoints/shakespeare-ddp --nproc 2": shows("resuming checkpoints/shakespeare-ddp"),
    "lmkit gradcheck": shows("ok: all"),
}


def test_the_checks_name_lines_of_the_tour():
    assert set(CHECKS) <= set(tour_lines())


def test_every_line_of_the_tour_is_run_or_said_why_not():
    for title, block in sectioned_blocks("bash"):
        if title in SKIPPED_SECTIONS:
            continue
        commands = [line.strip() for line in block.replace("\\\n", " ").splitlines()]
        for command in commands:
            if command and not command.startswith("#") and not command.startswith("lmkit "):
                assert command.split()[0] in NOT_LMKIT, f"section {title!r}: {command!r} is neither run nor skipped"


def test_small_budget_keeps_every_option_and_argument():
    line = "lmkit train --train my.txt --tokenizer word --preset awd --max-time 1800"
    assert small_budget(line)[:8] == ["train", "--train", "my.txt", "--tokenizer", "word", "--preset", "awd",
                                      "--max-time"]
    assert small_budget(line)[8] == "60" and "--max-steps" in small_budget(line)
    assert small_budget("lmkit vocab build --corpus shakespeare --tokenizer spm --vocab-size 4000")[-1] == "300"
    assert "--vocab-size" not in small_budget("lmkit vocab build --corpus tang300 --tokenizer char")
    assert small_budget("lmkit gradcheck")[-2:] == ["--threads", "1"]
    resumed = small_budget("lmkit train --resume m")
    assert resumed[:3] == ["train", "--resume", "m"] and resumed[resumed.index("--max-steps") + 1] == "6"
    assert "--budget-minutes" not in small_budget("lmkit report m")
    assert "--tune-tokens" not in small_budget("lmkit eval m")


@pytest.mark.slow
def test_the_readme_tour_runs_top_to_bottom(tmp_path):
    home = tmp_path / "tour"
    home.mkdir()
    for name in FIXTURE_UNITS:
        fake_named_corpus(home / "corpora", name)
    make_tour_files(home)
    lines = tour_lines()
    assert len(lines) > 40 and lines[0] == "lmkit corpus list"
    for line in lines:
        done = lmkit(small_budget(line), home, home)
        output = done.stdout + done.stderr
        assert done.returncode == 0 and "Traceback" not in output, f"{line}\nexit {done.returncode}:\n{output}"
        if line in CHECKS:
            CHECKS[line](output, home)
