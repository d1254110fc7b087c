"""Usage errors as one line naming the command run, for lmkit and for its command groups (`corpus`, `vocab`)."""
from __future__ import annotations

import difflib

import click

TAKES_TRAIN = ("train", "ngram", "report")  # the commands whose text to learn from is --train PATH, not an argument
HELP_FOR_NO_ARGUMENTS = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click 8.2 on; 8.1 exits instead


class OneLineUsageError(click.ClickException):
    """A usage error (bad option value, unknown option) as one line, exit code 2 like click's own."""

    exit_code = 2

    def __init__(self, error: click.UsageError, command_path: str = "lmkit") -> None:
        super().__init__(error.format_message())
        # click's parser leaves the context out of some errors (an option missing its value): then the command run
        self.command_path = error.ctx.command_path if error.ctx is not None else command_path

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}{self.hint()} (see '{self.command_path} --help')", err=True)

    def hint(self) -> str:
        """A newcomer's likely meaning: `lmkit train my.txt` names its text as an argument, where --train takes it."""
        if "unexpected extra argument" in self.message and self.command_path.split()[-1] in TAKES_TRAIN:
            return "; a text file to train on is given as --train PATH"
        return ""


class UsageGroup(click.Group):
    """A group whose own options' and subcommands' usage errors are one line, naming the subcommand run (the
    group alone, such as `lmkit corpus`, shows its help, as click does)."""

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except HELP_FOR_NO_ARGUMENTS:
            raise
        except click.UsageError as exc:  # `lmkit --nosuch`: before any command runs
            raise OneLineUsageError(exc, ctx.command_path) from exc

    def resolve_command(self, ctx, args):
        """click's "No such command", with the closest command named as click names the closest option."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            typed = args[0] if args else ""
            close = difflib.get_close_matches(typed.lower(), self.list_commands(ctx), n=1, cutoff=0.6)
            if not close or not exc.message.startswith("No such command"):
                raise
            raise click.UsageError(f"{exc.message} Did you mean {close[0]!r}?", ctx) from exc

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except HELP_FOR_NO_ARGUMENTS:
            raise
        except click.UsageError as exc:
            running = " ".join([ctx.command_path, *([ctx.invoked_subcommand] if ctx.invoked_subcommand else [])])
            raise OneLineUsageError(exc, running) from exc
