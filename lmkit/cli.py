"""The `lmkit` command: a click group whose subcommands live in lmkit/commands/.

Subcommands are imported only when run, so `lmkit --help` answers at once
and a command that needs no torch does not load it. Every LmkitError becomes
one line on stderr and exit code 1, never a traceback.
"""
from __future__ import annotations

import contextlib
import fcntl
import importlib
import io
import os
import signal
import sys
import warnings
from pathlib import Path

import click

from lmkit.commands.usage import UsageGroup
from lmkit.commands.progress import check_progress_variables
from lmkit.config.machine import mkl_threads, omp_threads
from lmkit.errors import LmkitError, printable
from lmkit.stop_signals import Terminated, exit_code, ignored

PACKAGE = Path(__file__).resolve().parent  # whose warnings are lmkit's

# name -> (module under lmkit.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "corpus": ("corpus", "List, fetch and inspect corpora."),
    "vocab": ("vocab", "Build and show tokenizers and vocabularies."),
    "tokenize": ("tokenize", "Show how text is cut into tokens and ids."),
    "train": ("train", "Train a recurrent (or N-gram) language model."),
    "ngram": ("ngram", "Build an N-gram model (add-k, Kneser-Ney) and write ARPA."),
    "generate": ("generate", "Sample text from a model (directory or ARPA file)."),
    "fill": ("fill", "Fill a blank with a bidirectional model, or a forward and a backward one."),
    "eval": ("evaluate", "Perplexity, bits/token and bits/char of a model."),
    "rescore": ("rescore", "Rerank n-best lists (speech, OCR) with a model; tune its weight for WER/CER."),
    "report": ("report", "Compare models on one test set: tables and plots."),
    "gradcheck": ("gradcheck", "Check the hand-written BPTT against numerical gradients."),
}


class LmkitFailure(click.ClickException):
    """An LmkitError on its way out: one line, exit code 1."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"error: {printable(self.message)}", err=True)


@contextlib.contextmanager
def unencodable_escaped():
    """While a command runs, text that stdout or stderr cannot encode (the undecodable bytes of a file name
    echoed with its path, as os.fsdecode's lone surrogates) is written backslash-escaped, never an error."""
    streams = [s for s in (sys.stdout, sys.stderr) if isinstance(s, io.TextIOWrapper) and s.errors == "strict"]
    for stream in streams:
        stream.reconfigure(errors="backslashreplace")
    try:
        yield
    finally:
        for stream in streams:
            if not stream.closed:
                stream.reconfigure(errors="strict")


class Interrupted(LmkitFailure):
    """Ctrl-C, SIGTERM or SIGHUP: one line and exit code 130, 143 or 129 (128 + the signal), as a shell reports
    a command it stopped."""

    exit_code = 130

    def __init__(self, message: str, exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# signal raised as Terminated -> what the one line says
TERMINATING = {signal.SIGINT: "interrupted (Ctrl-C)", signal.SIGTERM: "terminated (SIGTERM)",
               signal.SIGHUP: "hung up (SIGHUP: the terminal closed)"}


# modules whose import runs C code that can swallow the exception a handler raises (torch's C start-up imports
# numpy) and leave a module half-loaded for the command to trip over later
SWALLOWING_IMPORTS = ("torch", "numpy")


class CommandStops:
    """The handler of the stop signals around one command (training installs its own at its safe points).

    The first raises Terminated. Any later one is only recorded: the first's clean-up, already under way,
    runs to its end, and the one line and exit code are the first's. Once the command is `over`, a signal
    is only recorded too, and `main` ends the process with it, as its default would, after the exit."""

    def __init__(self) -> None:
        self.first: signal.Signals | None = None
        self.later: list[signal.Signals] = []
        self.over = False

    def __call__(self, signum, frame) -> None:
        if self.first is not None or self.over:
            self.later.append(signal.Signals(signum))
            return
        self.first = signal.Signals(signum)
        if importing(SWALLOWING_IMPORTS):  # there, end as the signal's default does: at once, silently
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        raise Terminated(signum)


def importing(names: tuple[str, ...]) -> bool:
    """Whether one of the modules `names` is being imported right now (its spec marked as initialising)."""
    return any(getattr(getattr(sys.modules.get(name), "__spec__", None), "_initializing", False) for name in names)


def asks_for_help(ctx: click.Context) -> bool:
    """Whether the command line after `lmkit` holds a help option (`lmkit train --help`): the group sees it
    before the command parses it, and the command then prints its help and exits, running nothing."""
    protected = ctx._protected_args if hasattr(ctx, "_protected_args") else ctx.protected_args  # click 8.2 renamed it
    words = [*protected, *ctx.args]
    return any(word in ctx.help_option_names for word in words)


class LazyGroup(UsageGroup):
    def invoke(self, ctx):
        try:
            with unencodable_escaped():
                # before any command imports torch, whose OpenMP library prints its own line about a bad value;
                # not for a command's --help, which reads neither (pass 90: a bad value hid the help that names them)
                if not asks_for_help(ctx):
                    omp_threads(os.environ)
                    mkl_threads(os.environ)
                    check_progress_variables(os.environ)
                return super().invoke(ctx)  # usage errors: one line (lmkit.commands.usage)
        except KeyboardInterrupt as exc:  # a second Ctrl-C while training saves (lmkit.stop_signals.StopSignals)
            raise Interrupted(TERMINATING[signal.SIGINT]) from exc
        except Terminated as exc:  # a stop where no command saves first: 128 + 2, 128 + 15, 128 + 1
            raise Interrupted(TERMINATING[exc.signum], exit_code=exit_code(exc.signum.name)) from exc
        except LmkitError as exc:
            raise LmkitFailure(str(exc)) from exc
        except BrokenPipeError:  # `lmkit generate ... | head`: the reader has gone, so stop quietly
            sys.stderr.close()
            raise SystemExit(0)
        except OSError as exc:  # a disk or permission problem outside our own checks
            # lmkit's own file writes name their file (WriteError), and standard output's name it (WholeWrites)
            where = f"{exc.filename}: " if exc.filename else ""
            raise LmkitFailure(f"{where}{exc.strerror or exc}") from exc

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"lmkit.commands.{COMMANDS[name][0]}")
        return module.command

    def format_commands(self, ctx, formatter):
        rows = [(name, help_text) for name, (_, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="lmkit")
def app():
    """lmkit: train, sample and compare recurrent and N-gram language models."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point (`lmkit`, `python -m lmkit`, `python cli.py`)."""
    stops = CommandStops()
    handled = [signum for signum in TERMINATING if not ignored(signum)]  # one started ignored (nohup, &) stays so
    for signum in handled:
        signal.signal(signum, stops)
    ended = None  # the command's exit code, when it ended on its own
    try:
        try:
            run_app(argv)
        except SystemExit as exc:
            ended = exc.code
            raise
        finally:
            stops.over = True  # from here, and through the exit, a stop signal is only recorded
    except (Terminated, KeyboardInterrupt) as exc:  # one that landed as click unwound, before the line above
        signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
        stopped(TERMINATING[signum], exit_code(signum.name))
    finally:
        stopped_by_a_signal = stops.first is not None or ended in {exit_code(s.name) for s in TERMINATING}
        if stopped_by_a_signal:  # its line and exit code stand: a later signal is ignored, through the shutdown too
            for signum in handled:  # (which restores the default of a signal Python handles, not of one ignored)
                signal.signal(signum, signal.SIG_IGN)
        elif stops.later:  # one came as the command ended: it ends the process now, as its default would
            signal.signal(stops.later[0], signal.SIG_DFL)  # (so a chain `lmkit ... && ...` stops there)
            os.kill(os.getpid(), stops.later[0])


def stopped(message: str, code: int) -> None:
    with contextlib.suppress(OSError):  # a reader gone from stderr takes nothing from the exit code
        sys.stderr.write(f"error: {message}\n")
    raise SystemExit(code)


def show_lmkit_warnings(message, category, filename, lineno, file=None, line=None,
                        library_show=warnings.showwarning) -> None:
    """lmkit's own warnings (warnings.warn anywhere in lmkit, deep in a report or a suite) as one line
    `warning: ...` on stderr, as the commands print theirs, escaped as errors are (a file name's newline would
    break the line); a library's keep Python's form."""
    if Path(filename).resolve().is_relative_to(PACKAGE):
        click.echo(f"warning: {printable(str(message))}", err=True)
    else:
        library_show(message, category, filename, lineno, file, line)


def writable(fd: int) -> bool:
    """Whether descriptor `fd` is open for writing (`>&-` closes it; a launcher may leave a read-only file there)."""
    try:
        return fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY
    except OSError:
        return False


def guard_closed_streams() -> bool:
    """Whether standard output is missing (`lmkit ... >&-`: Python leaves sys.stdout None, and every print would
    vanish with exit code 0). A missing standard error (`2>&-`) becomes /dev/null: progress, warnings and errors
    go nowhere, and the exit code still tells how the command ended. A closed descriptor is taken by /dev/null at
    once, so that no file lmkit opens later (a checkpoint) lands on descriptor 1 or 2, where a library's stray
    print would write into it."""
    closed = {fd: not writable(fd) for fd in (1, 2)}
    for fd in (fd for fd, gone in closed.items() if gone):
        try:
            os.fstat(fd)  # open, but read-only: not ours to replace
        except OSError:
            null = os.open(os.devnull, os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if closed[2]:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # the process's stderr until it ends
    return closed[1]


class WholeWrites(io.RawIOBase):
    """Descriptor 1 written to the last byte. Where the disk fills or a file-size limit (`ulimit -f`) is reached in
    the middle of a write, the kernel writes a part and says so; Python's buffered stream then went on as if all
    had been written (`generate --json > out` left 4,096 bytes of a 41,010-byte line and exited 0). Here a short
    write is followed by another of the rest, whose error is raised, naming standard output. Once one write has
    failed (and been said), later ones are dropped: the flush at the process's exit would fail again."""

    def __init__(self, fd: int):
        super().__init__()
        self._fd = fd
        self._failed = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view) and not self._failed:
            try:
                done += os.write(self._fd, view[done:])
            except OSError as exc:
                self._failed = True
                if isinstance(exc, BrokenPipeError):  # the reader has gone: stopped quietly where it is caught
                    raise
                raise OSError(exc.errno, exc.strerror, STANDARD_OUTPUT) from exc
        return len(view)


STANDARD_OUTPUT = "standard output"


def whole_standard_output() -> None:
    """sys.stdout, where it is the process's own, rebuilt over WholeWrites, its encoding and buffering kept."""
    stream = sys.stdout
    if stream is not sys.__stdout__ or not isinstance(stream, io.TextIOWrapper):
        return  # a test's captured output, or a caller's own stream
    try:
        if stream.fileno() != 1:
            return
    except (OSError, ValueError):
        return
    stream.flush()
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(WholeWrites(1)), encoding=stream.encoding, errors=stream.errors,
                                  line_buffering=stream.line_buffering, write_through=stream.write_through)


def run_app(argv: list[str] | None) -> None:
    """The click app; output that fails outside a command (`lmkit --help > /dev/full`) is one line too."""
    warnings.showwarning = show_lmkit_warnings
    if guard_closed_streams():  # refused before any work: a command that writes files first would write them, then fail
        click.echo("error: standard output: closed (the shell's >&-), so nothing could be printed", err=True)
        raise SystemExit(1)
    whole_standard_output()
    try:
        app.main(args=argv, prog_name="lmkit")
    except BrokenPipeError:  # `lmkit --help | head`: the reader has gone
        sys.stderr.close()
        raise SystemExit(0)
    except OSError as exc:
        click.echo(f"error: standard output: {exc.strerror or exc}", err=True)
        raise SystemExit(1)
