"""Training options that the run being started would never read, refused before any work.

An option given is a choice the user expects to matter. Under the settings
the run trains with (a preset's among them, and on --resume the saved run's
for every option not given again), five never do: --lr-decay outside
--schedule plateau, --warmup under it, --nonmono without --asgd, a sample
(--sample-tokens) from a bidirectional model, which cannot write text left
to right, and --precision bf16 for the scratch RNN, whose hand-written BPTT
computes in fp32. Each is refused as every other command refuses an option it
would ignore (lmkit.commands.common.ignored_options).
"""
from __future__ import annotations

import click

from lmkit.commands.common import flag, given, ignored_options
from lmkit.errors import LmkitError
from lmkit.models import CLOZE_KINDS
from lmkit.train.config import TrainConfig


def refuse_unread_options(ctx: click.Context, opts: dict, saved: dict | None = None) -> None:
    """ConfigError naming a training option given in `ctx` that the run would not read; `opts`: the options with
    any preset applied; `saved`: the config.json of the run --resume continues, whose settings hold where no
    option is given now."""
    kept = saved_settings(saved)

    def setting(name: str):
        return kept[name] if kept is not None and not given(ctx, name) else opts[name]

    def refuse(name: str, reason: str) -> None:
        raise ignored_options([flag(ctx, name)], reason)

    schedule = setting("schedule")
    if schedule != "plateau" and given(ctx, "lr_decay"):
        refuse("lr_decay", f"the LR schedule is {schedule}, which decays to 0 at the budget's end by itself "
                           "(--lr-decay divides the LR only under --schedule plateau)")
    if schedule == "plateau" and given(ctx, "warmup") and opts["warmup"] > 0:
        refuse("warmup", "--schedule plateau has no warm-up (--warmup is for cosine and linear)")
    if not setting("asgd") and given(ctx, "nonmono"):
        refuse("nonmono", "there is no --asgd (--nonmono counts the evaluations before averaging starts)")
    kind = saved.get("kind") if saved is not None else opts["model"]
    if kind in CLOZE_KINDS and given(ctx, "sample_tokens") and opts["sample_tokens"] > 0:
        refuse("sample_tokens", f"--model {kind} is bidirectional and cannot write text left to right, so no sample "
                                "is printed")
    if kind == "scratch-rnn" and given(ctx, "precision") and opts["precision"] == "bf16":
        refuse("precision", "--model scratch-rnn computes its hand-written BPTT in fp32 under any --precision")


def saved_settings(saved: dict | None) -> dict | None:
    """The saved run's training settings (TrainConfig's, as it reads them), or None for a new run or a config.json
    whose record is damaged: resume_run names that damage once the run's state is read."""
    if saved is None:
        return None
    record = (saved.get("train") or {}).get("config") if isinstance(saved.get("train"), dict) else None
    try:
        return TrainConfig.from_dict(record or {}).to_dict()
    except (LmkitError, TypeError, ValueError):
        return None
