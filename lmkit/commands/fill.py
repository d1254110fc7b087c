"""`lmkit fill FORWARD BACKWARD TEXT` or `lmkit fill BIMODEL TEXT`: rank fillers for the blank in TEXT
with a forward and a backward model, or with one bidirectional (cloze) model."""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import click

from lmkit.commands.common import TEXT, display_token, given, model_options, refuse_ignored, threads_option
from lmkit.commands.generate import warn_unknown
from lmkit.commands.options import config_from, number, options_from
from lmkit.commands.output_paths import STDIN, PathGiven, PathOrStdin
from lmkit.commands.fill_output import FillTables
from lmkit.commands.fill_texts import BlankText, UnfillableBlank, texts_to_fill
from lmkit.commands.progress import ALWAYS_VARIABLE, bars_cleared, pass_bars
from lmkit.config.path_text import check_path_text
from lmkit.config.settings import knobs
from lmkit.errors import ConfigError, counted, excerpt, printable
from lmkit.files.line_ends import holds_line_end
from lmkit.text.normal_forms import better_form, form_advice
from lmkit.generate.cloze_fill import CONTEXT_WEIGHT, RERANK
from lmkit.generate.fill import DEFAULT_MARKER, FULL_WIDTH_MARKER
from lmkit.evaluate.memory import MemorySettings, PairMemorySettings

CANDIDATE_SEPARATORS = ",，"  # the full-width comma too: what a Chinese input method types
MEMORY_SETTINGS = tuple(knob.name for knob in knobs(MemorySettings))  # --memory-neighbours, ..
LARGE_SEARCH_TOKENS = 5_000_000  # a search of the vocabulary reading more tokens than this is announced first


@click.command("fill")
@click.argument("forward_dir", metavar="FORWARD|BIMODEL", type=PathGiven())
@click.argument("backward_dir", metavar="BACKWARD|TEXT", type=TEXT, required=False)
@click.argument("text", type=TEXT, required=False)
@click.option("--candidates", type=TEXT, default=None,
              help="Fillers to rank, separated by commas (, or the full-width ，) [default: the vocabulary, "
                   "searched for fillers up to --max-len].")
@click.option("--max-len", type=number(int, low=1, high=64), default=1, show_default=True,
              help="Vocabulary fillers of up to this many tokens (longer ones proposed by beam search, then rescored).")
@click.option("--beam", type=number(int, low=1, high=4096), default=32, show_default=True, help="Width of the beams that propose longer fillers.")
@click.option("--top", type=number(int, low=1, high=2**20), default=10, show_default=True, help="How many fillers to print.")
@click.option("--blank", type=TEXT, default=DEFAULT_MARKER, show_default=True,
              help=f"The blank marker; a run of it is one blank. The default {DEFAULT_MARKER} also matches the "
                   f"full-width {FULL_WIDTH_MARKER}.")
@click.option("--rerank", type=number(int, low=0, high=2**20), default=RERANK, show_default=True,
              help="One bidirectional model: score its this many likeliest fillers again by the rest of their "
                   "filled sentence (0: by the filler's own tokens alone).")
@click.option("--context-weight", type=number(float, low=0, high=1e6), default=CONTEXT_WEIGHT, show_default=True,
              help="One bidirectional model: the weight of the rest of the sentence in --rerank's score.")
@click.option("--memory", is_flag=True,
              help="Read the filler's own places with a nearest-neighbour memory too: each model's of the train split "
                   "of the corpus it was trained on (fetched first if it is not cached, as lmkit eval does; built on "
                   "each call, held in RAM: about 1 GB a million tokens a model at --hidden-size 256, 2 GB for a "
                   "bidirectional one). Neural models only.")
@click.option("--memory-file", type=PathGiven(), default=None,
              help="A memory of this UTF-8 text file's lines instead of the model's train split (implies --memory).")
@click.option("--encoding-errors", type=click.Choice(["strict", "replace"]), default="strict", show_default=True,
              help="On bytes of --memory-file that are not UTF-8: stop with an error, or replace them with U+FFFD.")
@options_from(MemorySettings, PairMemorySettings, union=True)
@click.option("--text-file", type=PathOrStdin(), default=None,
              help=f"Fill the blank of each line of this UTF-8 file ({STDIN}: standard input) instead of TEXT (empty "
                   "lines are skipped): the "
                   "models, and their memories, are read once for all of them. Each line's fillers follow a "
                   "`line N: sentence` heading (with --json each object has \"line\": N).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per filler.")
@click.option("--quiet", is_flag=True, help="No progress bars for a long search (there are none either when stderr "
                                            "is not a terminal).")
@model_options
@threads_option
@click.pass_context
def command(ctx, forward_dir, backward_dir, text, candidates, max_len, beam, top, blank, rerank, context_weight,
            memory, memory_file, encoding_errors, neighbours, temperature, weight, text_file, as_json, quiet, opener):
    """Fill the one blank in TEXT, e.g. "我的手机坏了，我打算_一部新手机".

    With two models, every candidate is scored by the whole sentence: log p under the forward
    model plus log p of the reversed sentence under the backward model (one
    trained with `lmkit train --direction backward`, or an N-gram built on
    reversed lines). Both parts are printed. FORWARD and BACKWARD are model directories or
    ARPA files (an ARPA file beside a directory shares its tokenizer unless --tokenizer-from).
    The sentence is read as typed: with a sentencepiece model a filler after a space (or at the
    line's start) begins a word, and one with no space before it continues the word there
    ("the king _ to" has a word in the blank, "un_ed" part of one). A sentence marked * was
    scored cut at the blank's edges: written out in one piece, it reads as other tokens.

    With one bidirectional model (`lmkit train --model bilstm`, bigru or birnn),
    each filler is scored by its pseudo-log-likelihood: the sum over its tokens of
    log p(token | every other token of the filled sentence). A single token is read
    off one cloze prediction at the blank; a blank of up to --max-len tokens is
    filled by iterating the cloze prediction left to right (unfilled places hold
    <unk>, the --beam best partial fillers are kept at each place), then rescored.
    The --rerank best are then ranked first, by a score: their own plus --context-weight
    times the pseudo-log-likelihood of the sentence's other tokens (and of its end,
    </s>) with the filler in place, how well the rest of the line reads around it.
    The fillers after them keep the order of their own score and show no score ("-").

    With --memory (or --memory-file), a bidirectional model also remembers a text: the
    features its softmax reads at every place of it, and the token there. At each of a
    filler's places, the --memory-neighbours remembered places nearest in features vote for
    their tokens, and their distribution gets --memory-weight of the prediction there
    (Khandelwal et al.'s kNN-LM). The model's own text brings back the contexts of words
    too rare for the network to have learnt; another text adapts the filler to it. Two
    neural models each remember their own text the same way (a backward model its lines
    reversed) and read it where they predict the filler's tokens, each in its direction;
    the beams that propose longer fillers do not read it.

    With --text-file, each line of the file is a sentence with one blank (lmkit fill BIMODEL
    --text-file F, or FORWARD BACKWARD --text-file F): every line is checked first, then filled in
    turn with the models and memories read once.
    """
    from lmkit.generate.fill import check_pair, fill_blank, pair_search_size, vocabulary_fillers
    from lmkit.evaluate.memory import require_features

    if top < 1:
        raise ConfigError(f"--top must be at least 1, got {top}")
    refuse_unused_search(ctx, candidates, max_len, beam)
    if candidates is not None:
        candidate_words(candidates)  # the list's own slips, before any model or text is read
    if text_file is None:
        if backward_dir is None:
            raise click.UsageError("Missing argument 'BACKWARD|TEXT': give the sentence to fill (or --text-file F)")
        sentence, pair_dir = (backward_dir, None) if text is None else (text, backward_dir)
        refuse_path_as_text(sentence)
    else:
        sentence, pair_dir = text, backward_dir  # TEXT beside --text-file is refused by texts_to_fill
        if text is None and backward_dir is not None and path_kind(backward_dir) is None:
            raise ConfigError(f"BACKWARD {backward_dir!r}: no such model directory or ARPA file (with --text-file the "
                              "sentences come from the file: give BIMODEL or FORWARD BACKWARD, no TEXT)")
    if memory_file is None:
        refuse_ignored(ctx, ("encoding_errors",), "--encoding-errors says how --memory-file is read, and none is given")
    if not (memory or memory_file):
        refuse_ignored(ctx, MEMORY_SETTINGS, "neither --memory nor --memory-file is given, so no memory is read")
    form = MemorySettings if pair_dir is None else PairMemorySettings  # each form has its own defaults
    settings = config_from(form, ctx.params)
    remembered = (memory_file, encoding_errors, settings) if memory or memory_file else None
    tables = FillTables(top, as_json)
    if pair_dir is None:  # the one-model form: lmkit fill BIMODEL TEXT
        if rerank == 0:
            refuse_ignored(ctx, ("context_weight",), "--rerank 0 ranks each filler by its own tokens alone")
        return fill_with_cloze(forward_dir, texts_to_fill(sentence, text_file, blank), candidates, max_len, beam,
                               rerank, context_weight, remembered, tables, quiet, opener)
    check_path_text("BACKWARD", pair_dir)  # the two-model form: the second argument is a path after all
    refuse_ignored(ctx, ("rerank", "context_weight"), "two models score every filler by its whole sentence already")
    texts = texts_to_fill(sentence, text_file, blank)
    first, second = opener.open_shared([forward_dir, pair_dir])
    for member in (first, second):
        member.require_left_to_right("cannot be one of a FORWARD BACKWARD pair: give it alone, lmkit fill MODEL TEXT "
                                     "(or --text-file)")
    forward, backward, tokenizer = first.model, second.model, first.tokenizer
    check_pair(forward, backward)
    refuse_swapped_pair(forward_dir, pair_dir, first.config, second.config)
    warn_direction(forward_dir, first.config, "forward")
    warn_direction(pair_dir, second.config, "backward")
    memories = None
    if remembered is not None:
        for member in (first, second):  # both refused before either memory's text is fetched or read
            require_features(member.model, printable(str(member.path)))
        memories = tuple(build_memory(member, *remembered) for member in (first, second))
    announce = search_note(pair_search_size, len(forward.vocab), max_len, beam)
    def fill(text: BlankText):
        with pass_bars("proposing fillers", quiet, "step") as proposing, pass_bars("scoring fillers", quiet) as \
                scoring, pass_bars("reading memories", quiet, "search") as reading:
            def propose(left_ids, right_ids, starts):
                announce(left_ids, right_ids)
                return vocabulary_fillers(forward, backward, left_ids, right_ids, max_len, beam, starts, proposing)
            left_ids, to_rank, right_ids = blank_and_fillers(tokenizer, text.left, text.right, candidates, propose)
            return fill_blank(forward, backward, left_ids, right_ids, to_rank, max_len=max_len, beam=beam,
                              memories=memories, progress=scoring, memory_progress=reading)

    fill_each(texts, tokenizer, fill, tables.pair, quiet, member=first)


def fill_with_cloze(model_dir: Path, texts: list[BlankText], candidates, max_len: int, beam: int, rerank: int,
                    context_weight: float, remembered: tuple[Path | None, str, MemorySettings] | None,
                    tables: FillTables, quiet: bool, opener) -> None:
    from lmkit.generate.cloze_fill import cloze_candidates, cloze_fill, cloze_search_size
    from lmkit.models.base import is_cloze

    member = opener.open(model_dir)
    if not is_cloze(member.model):
        raise ConfigError(f"{model_dir} is a left-to-right model ({member.config.get('kind')}); fill with one model "
                          "needs a bidirectional one (--model bilstm, bigru or birnn), or give FORWARD BACKWARD TEXT (or --text-file)")
    tokenizer = member.tokenizer
    memory = None if remembered is None else build_memory(member, *remembered)
    announce = search_note(cloze_search_size, len(member.model.vocab), max_len, beam)
    def fill(text: BlankText):
        with pass_bars("proposing fillers", quiet, "step") as proposing, pass_bars("scoring fillers", quiet, "filler") \
                as scoring, pass_bars("re-ranking", quiet, "filler") as again:
            def propose(left_ids, right_ids, starts):
                announce(left_ids, right_ids)
                return cloze_candidates(member.model, left_ids, right_ids, max_len, beam, starts, memory, proposing)
            left_ids, to_rank, right_ids = blank_and_fillers(tokenizer, text.left, text.right, candidates, propose)
            return cloze_fill(member.model, left_ids, right_ids, to_rank, max_len=max_len, beam=beam, rerank=rerank,
                              context_weight=context_weight, memory=memory, progress=scoring, rerank_progress=again)

    fill_each(texts, tokenizer, fill, tables.cloze, quiet)


def search_note(size_of: Callable, vocab_size: int, max_len: int, beam: int) -> Callable[[list[int], list[int]], None]:
    """`note(left_ids, right_ids)`, called before each search of the vocabulary: the first search whose size
    (`size_of(vocab_size, context, max_len, beam)`, a SearchSize) reads more than LARGE_SEARCH_TOKENS tokens is
    announced on stderr with what it costs, once a run, so that a wide search is not a silent wait off a terminal."""
    said = False

    def note(left_ids: list[int], right_ids: list[int]) -> None:
        nonlocal said
        size = size_of(vocab_size, len(left_ids) + len(right_ids), max_len, beam)
        if said or size.tokens <= LARGE_SEARCH_TOKENS:
            return
        said = True
        with bars_cleared():
            click.echo(f"note: --max-len {max_len} --beam {beam} ranks up to {size.fillers:,} fillers for a blank, "
                       f"reading about {size.tokens / 1e6:,.1f} million tokens to propose and score them: this can "
                       "take many minutes (a narrower --beam or a shorter --max-len is quicker; progress shows on a "
                       f"terminal, or in a log with {ALWAYS_VARIABLE}=always)", err=True)
    return note


def fill_each(texts: list[BlankText], tokenizer, fill: Callable[[BlankText], list], show, quiet: bool,
              member=None) -> None:
    """Fill the sentences in turn (`fill(text)` -> its fillers, best first) and show each one's fillers as soon as
    they are ranked (`show(text, fillers, tokenizer)`), with a bar over the sentences where there are several
    (--text-file), wiped while anything is written. A line of --text-file that no vocabulary filler fits is skipped
    with a warning, and the run ends in an error that counts them; any other error stops it, naming its line."""
    skipped, advised = 0, False
    with pass_bars("sentences", quiet or len(texts) == 1, "sentence") as sentences:
        for done, text in enumerate(texts):
            sentences(done, len(texts))
            try:
                with text.naming():
                    with bars_cleared():  # the advice on an ARPA file read as words once, not on every line
                        advised |= warn_unknown(tokenizer, [text.left, text.right], "context", where=text.where,
                                                member=None if advised else member)
                    fillers = fill(text)
            except UnfillableBlank as error:
                if text.file is None:
                    raise
                with bars_cleared():
                    click.echo(f"warning: {error}; line skipped", err=True)
                skipped += 1
                continue
            with bars_cleared():
                show(text, fillers, tokenizer)
        sentences(len(texts), len(texts))
    if skipped:
        raise ConfigError(f"--text-file {printable(str(texts[0].file))}: {counted(skipped, 'line')} of {len(texts):,} "
                          "could not be filled (each named above); the others were")


def build_memory(member, file: Path | None, encoding_errors: str, settings: MemorySettings):
    """The model's memory of --memory-file (read with --encoding-errors), else of the train split of the corpus it
    was trained on, each line reversed for a backward model; stderr says what it reads and how large it came out.
    The caller has refused a model without features (require_features) before any text is read."""
    from lmkit.evaluate.text import EvalText, default_text, is_backward
    from lmkit.evaluate.memory import NeighbourMemory

    text = (EvalText.from_file(file, encoding_errors) if file is not None else
            default_text(member.config, member.path, "train", "give --memory-file PATH"))
    click.echo(f"remembering {printable(text.label)} for {printable(str(member.path))} ...", err=True)
    step = -1 if is_backward(member.config) else 1  # the model reads each line in its direction
    lines = (member.tokenizer.encode_line(line)[::step] for line in text.lines())
    memory = NeighbourMemory.build(member.model, lines, settings)
    click.echo(f"remembered {len(memory):,} places", err=True)
    return memory


def blank_and_fillers(tokenizer, left: str, right: str, candidates: str | None, propose
                      ) -> tuple[list[int], list[list[int]], list[int]]:
    """(ids of the text before the blank, the fillers to rank, ids of the text after it): --candidates as typed, else
    those `propose(left_ids, right_ids, starts)` finds in the vocabulary (each beginning with one of the tokenizer's
    filler_starts) that read, written in the blank, as their own tokens (Tokenizer.readable_fillers)."""
    left_ids, given_ids, right_ids = context_and_candidates(tokenizer, left, right, candidates)
    if given_ids is not None:
        return left_ids, given_ids, right_ids
    kept = tokenizer.readable_fillers(left, right, propose(left_ids, right_ids, tokenizer.filler_starts(left)))
    if not kept:
        raise UnfillableBlank(f"no filler in the vocabulary reads, written between {excerpt(left, 60)!r} and "
                              f"{excerpt(right, 60)!r}, as the tokens it is made of; give --candidates")
    return left_ids, kept, right_ids


def refuse_unused_search(ctx: click.Context, candidates: str | None, max_len: int, beam: int) -> None:
    """--max-len and --beam shape the search for fillers in the vocabulary: refused where nothing is searched."""
    if candidates is not None:
        refuse_ignored(ctx, ("max_len", "beam"), "--candidates are ranked as given, nothing is searched")
    elif max_len == 1 and given(ctx, "beam"):
        raise ConfigError(f"--beam {beam} proposes fillers longer than one token, and --max-len is 1 (every one-token "
                          "filler is scored, no search): add --max-len N, or drop --beam")


def refuse_path_as_text(text: str) -> None:
    """TEXT that names a file or directory here is a model given where the sentence goes (`lmkit fill BIMODEL FWD`
    would fill `FWD`'s name), not a sentence to fill."""
    kind = path_kind(text)
    if kind is not None:
        raise ConfigError(f"TEXT {text!r} names an existing {kind}, not a sentence with a blank: a bidirectional model "
                          "fills alone (lmkit fill BIMODEL TEXT), two left-to-right models need the sentence after "
                          "them (lmkit fill FORWARD BACKWARD TEXT), or give the sentences with --text-file F")


def path_kind(text: str) -> str | None:
    """"directory" or "file" where `text` names an existing one here, else None (a name too long for a path, a NUL,
    the empty text: a sentence, not a path)."""
    if not text:  # Path("") is the current directory
        return None
    try:
        return "directory" if Path(text).is_dir() else "file" if Path(text).exists() else None
    except (OSError, ValueError):
        return None


def candidate_words(candidates: str) -> list[str]:
    """The fillers --candidates lists, as typed: refused (before any model is read) where one is empty or only space,
    or where the list runs over a line break."""
    if holds_line_end(candidates):  # a filler is a piece of one line, as the text is
        raise ConfigError(f"--candidates {candidates!r} holds a line break: give the fillers on one line, separated "
                          f"by {' or '.join(map(repr, CANDIDATE_SEPARATORS))}")
    entries = re.split(f"[{CANDIDATE_SEPARATORS}]", candidates)
    words = [entry.strip() for entry in entries]
    spaces = [entry for entry, word in zip(entries, words) if entry and not word]
    if spaces:  # a space, a tab, a full-width space typed as a filler
        raise ConfigError(f"--candidates {spaces[0]!r} is only space (no text to put in the blank); drop it")
    if not all(words):
        raise ConfigError(f"--candidates {candidates!r} has an empty entry; separate fillers with single commas "
                          f"({' or '.join(map(repr, CANDIDATE_SEPARATORS))}; neither can be a filler itself)")
    return words


def unknown_parts(tokenizer, word: str) -> str:
    """`word` quoted, and where it is several tokens those of them outside the vocabulary: "'old man' (its 'man')"."""
    pieces = tokenizer.split(word)
    outside = [piece for piece in pieces if piece not in tokenizer.vocab.stoi]
    return display_token(word, quoted=True) + (f" (its {', '.join(display_token(p, quoted=True) for p in outside)})"
                                               if len(pieces) > 1 and outside else "")


def context_and_candidates(tokenizer, left: str, right: str, candidates: str | None
                           ) -> tuple[list[int], list[list[int]] | None, list[int]]:
    """Ids of the text before the blank, of each candidate (separated by `,` or `，`; None for the vocabulary) and of
    the text after it, each as it reads in the filled sentence (Tokenizer.encode_around).

    A candidate with a token outside the vocabulary is refused: it would be scored as <unk>, so two unknown
    words would become one row (and <unk>, standing for every unknown word, often ranks first).
    """
    if candidates is None:
        left_ids, _, right_ids = tokenizer.encode_around(left, right)
        return left_ids, None, right_ids
    words = candidate_words(candidates)
    left_ids, ids, right_ids = tokenizer.encode_around(left, right, words)
    unknown = [word for word, word_ids in zip(words, ids) if tokenizer.vocab.unk_id in word_ids]
    if unknown:
        one = len(unknown) == 1
        raise ConfigError(f"--candidates {', '.join(unknown_parts(tokenizer, word) for word in unknown)}: not in the vocabulary ("
                          f"{'it' if one else 'each'} would be scored as <unk>{'' if one else ', alike'}); drop "
                          f"{'it' if one else 'them'}, or use a model trained on text that has {'it' if one else 'them'}"
                          f"{form_advice(better_form(tokenizer, unknown))}")
    blank = [word for word, word_ids in zip(words, ids) if not tokenizer.decode(word_ids).strip()]
    if blank:  # a typed `▁` is a space to sentencepiece; a model that collapses spaces reads it as nothing
        raise ConfigError(f"--candidates {blank[0]!r} is only space to this model's tokenizer (no text to put in the "
                          "blank); drop it")
    spaced = [word for word in words if tokenizer.space_at_edge(word)]
    if spaced:  # a space at a filler's edge is the blank's: where it goes decides how both sides read
        raise ConfigError(f"--candidates {spaced[0]!r} begins or ends with a space to this model's tokenizer "
                          "(sentencepiece writes one as \u2581): put the spaces in TEXT, around the blank")
    first = {}
    for word, word_ids in zip(words, ids):
        twin = first.setdefault(tuple(word_ids), word)
        if twin != word:
            raise ConfigError(f"--candidates {twin!r} and {word!r} are the same tokens in this vocabulary; give one of them")
    return left_ids, ids, right_ids


def refuse_swapped_pair(forward_dir: Path, backward_dir: Path, forward_config: dict, backward_config: dict) -> None:
    """ConfigError when FORWARD was trained backward and BACKWARD forward: the pair given the other way round, whose
    every sentence would be scored backwards by each (one model used the other way alone is only warned of)."""
    if forward_config.get("direction") == "backward" and backward_config.get("direction", "forward") == "forward":
        raise ConfigError(f"FORWARD {printable(str(forward_dir))} was trained backward and BACKWARD "
                          f"{printable(str(backward_dir))} forward: give them the other way round, the forward model "
                          "first")


def warn_direction(directory: Path, config: dict, expected: str) -> None:
    """A model trained the other way round is likely a mistake; an ARPA file does not say (direction None)."""
    direction = config.get("direction", "forward")
    if direction not in (expected, None):
        click.echo(f"warning: {printable(str(directory))} was trained {direction}, but is used here as the {expected} "
                   "model", err=True)
