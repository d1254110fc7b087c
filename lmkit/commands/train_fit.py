"""The run's shape for this machine, and checks of the training text against it, said before training starts.

- --batch-size's and --bptt's defaults for the tokenizer's kind and the machine (lmkit.train.config.default_shape:
  characters in bf16 on AMX, words and subwords), each where neither the user nor a --preset set it;
- on --resume, that the run keeps the batch (and LR) it began with where this machine's default differs;
- a text too short for --batch-size x --bptt (a step or two per epoch): the shape is made to fit
  when neither the user nor a --preset set either, otherwise a smaller one is suggested;
- a default --batch-size the --nproc processes cannot share evenly: the nearest multiple below is used;
- --valid with the same text as --train: validation cannot show overfitting;
- --rare-unk with no token seen once in the vocabulary (--min-freq 2 and up, or sentencepiece): it has
  nothing to replace.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from lmkit.corpus.fetch import sha256_file
from lmkit.train.config import default_shape
from lmkit.train.rare_tokens import once_seen
from lmkit.train.small_data import MIN_STEPS_PER_EPOCH, fitted_shape, steps_per_epoch
from lmkit.errors import counted


def default_run_shape(config, tokenizer_kind: str, on_amx: bool, chosen: set[str], say: Callable[[str], None]):
    """`config` with the --batch-size and --bptt defaults for the tokenizer's kind on this machine, each unless the
    user or the preset set it (`chosen`); `say` so where the machine chose (characters on AMX): --help names the
    words' and subwords' shape, but cannot know the machine."""
    batch_size, bptt = default_shape(tokenizer_kind, on_amx)
    changes = {name: value for name, value in (("batch_size", batch_size), ("bptt", bptt))
               if name not in chosen and getattr(config, name) != value}
    if changes and tokenizer_kind == "char":
        say(f"note: using --batch-size {batch_size}, the default for characters in bf16 on AMX (give it to choose "
            "yourself)")
    return dataclasses.replace(config, **changes)


def note_kept_batch(config, tokenizer_kind: str, on_amx: bool, given: set[str], say: Callable[[str], None]) -> None:
    """On --resume: `say` so when the run keeps a batch (and its LR) that this machine's default would not choose
    for a new run (begun on AMX, resumed where bf16 does not run on it, or the other way round)."""
    batch_size = default_shape(tokenizer_kind, on_amx)[0]
    machine_defaults = {default_shape(tokenizer_kind, amx)[0] for amx in (False, True)}
    if "batch_size" in given or batch_size == config.batch_size or config.batch_size not in machine_defaults:
        return  # a batch fitted to a short text, or chosen, is no machine's default
    lr = "" if "lr" in given else f" and --lr {config.lr:g}"
    say(f"note: keeping --batch-size {config.batch_size}{lr}, which this run began with (a new run here would take "
        f"batch {batch_size}; give the options to change them)")


def fit_shape_to_text(config, tokens: int, chosen: set[str], say: Callable[[str], None], whole_lines: bool = False,
                      processes: int = 1):
    """`config` with a batch and window that fit `tokens` training tokens (and `say` which), or as it is.

    `chosen`: the fields the user or the preset set; a shape set there is only warned about. `whole_lines`:
    the model trains on whole lines; `processes`: DistributedDataParallel processes sharing each batch
    (lmkit.train.small_data.fitted_shape)."""
    if config.batch_size % processes and "batch_size" not in chosen:  # the processes split each batch evenly
        batch_size = max(processes, config.batch_size // processes * processes)
        say(f"note: the {processes} processes share each batch evenly: using --batch-size {batch_size} instead of "
            f"{config.batch_size} (give it to choose yourself)")
        config = dataclasses.replace(config, batch_size=batch_size)
    steps = steps_per_epoch(tokens, config.batch_size, config.bptt)
    if steps >= MIN_STEPS_PER_EPOCH or config.batch_size % processes:  # the processes refuse that batch next
        return config
    batch_size, bptt = fitted_shape(tokens, config.batch_size, config.bptt, whole_lines, processes)
    if (batch_size, bptt) == (config.batch_size, config.bptt):
        return config
    fitted_steps = steps_per_epoch(tokens, batch_size, bptt)
    if fitted_steps == 0:  # too short for any shape: the error that follows says so
        return config if chosen & {"batch_size", "bptt"} else dataclasses.replace(config, batch_size=batch_size,
                                                                                 bptt=bptt)
    if fitted_steps <= steps:  # nothing smaller makes more steps: no shape to suggest
        return config
    what = (f"the training text has {counted(tokens, 'token')}: --batch-size {config.batch_size} x --bptt "
            f"{config.bptt} makes {counted(steps, 'step')} per epoch")
    if chosen & {"batch_size", "bptt"}:
        say(f"warning: {what}; try --batch-size {batch_size} --bptt {bptt} ({counted(fitted_steps, 'step')} per epoch)")
        return config
    say(f"note: {what}; using --batch-size {batch_size} --bptt {bptt} instead "
        f"({counted(fitted_steps, 'step')} per epoch; give either option to choose yourself)")
    return dataclasses.replace(config, batch_size=batch_size, bptt=bptt)


def warn_if_valid_is_train(corpus, say: Callable[[str], None]) -> None:
    """The validation split with the same content as the training split (same path or same bytes) deserves a word."""
    train, valid = corpus.path("train"), corpus.path("valid")
    if train.stat().st_size != valid.stat().st_size or sha256_file(train) != sha256_file(valid):
        return
    say("warning: the validation text is the same as the training text: validation perplexity will not "
        "show overfitting, and early stopping cannot work; give --valid other text (or leave it out to "
        "split --train)")


def warn_if_valid_is_mostly_unknown(valid_stream, tokenizer, say: Callable[[str], None]) -> None:
    """A warning when so much of the valid split is outside the vocabulary (capped by --max-size or --min-freq)
    that its figures measure <unk> more than the text: a 10-word vocabulary trained to perplexity 6.2 on a valid
    split two thirds <unk>, and nothing said so (eval of the same model did)."""
    import numpy as np

    from lmkit.evaluate.perplexity import mostly_unknown
    from lmkit.text.vocab import UNK_ID

    tokens = len(valid_stream)
    share = float(np.count_nonzero(np.asarray(valid_stream) == UNK_ID)) / tokens if tokens else 0.0
    if mostly_unknown(tokens, share):
        say(f"warning: {100 * share:.1f}% of the {tokens:,} tokens of the valid split are outside the vocabulary "
            f"({tokenizer.describe()}, {len(tokenizer.vocab):,} tokens) and read as <unk>, so its figures measure "
            "little (a larger --max-size or a smaller --min-freq keeps more of the text)")


def warn_if_nothing_is_rare(config, tokenizer, say: Callable[[str], None]) -> None:
    if config.rare_unk and not once_seen(tokenizer.vocab).any():
        why = ("a sentencepiece vocabulary records no counts" if tokenizer.kind == "spm"
               else "every token the vocabulary keeps was seen at least twice: the text repeats itself, or --min-freq "
                    "above 1 already trains the rarest as <unk>")
        say(f"warning: --rare-unk {config.rare_unk:g} has nothing to replace: no token of the vocabulary was seen "
            f"exactly once in the training text ({why})")
