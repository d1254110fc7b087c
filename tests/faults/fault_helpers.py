"""Real `lmkit train` processes for the fault tests: start, watch the steps go by, hurt, inspect.

Each process is `python -m lmkit train` on corpora/fixtures/english.txt with a
tiny LSTM (a few ms per step). tqdm is told (TQDM_MININTERVAL=0, TQDM_MINITERS=1)
to draw every step, so the test knows the last step the process finished;
after a kill the rest of stderr is drained, so nothing printed is missed.
"""
from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENGLISH = REPO / "corpora" / "fixtures" / "english.txt"
CHINESE = REPO / "corpora" / "fixtures" / "chinese.txt"
TINY_MODEL = ["--hidden-size", "16", "--emb-size", "8", "--layers", "1", "--batch-size", "4", "--bptt", "16"]
STEP_LINE = re.compile(r"epoch (\d+):.*?\|\s*(\d+)/(\d+) \[.*loss ")  # a tqdm line drawn after a finished step
START_TIMEOUT = 120.0  # seconds to the first step (Python + torch start-up on a busy machine)
TEMPORARY = re.compile(r"^\.lmkit-tmp\.")  # staging folders and temporary files (lmkit.files.temporary_names.TEMP_PREFIX)


def train_args(out: Path, *extra: str, fresh: bool = True) -> list[str]:
    """`lmkit train` arguments for a tiny run into `out` (or resuming it when fresh is False)."""
    if not fresh:
        return ["train", "--resume", str(out), "--sample-tokens", "0", *extra]
    return ["train", "--train", str(ENGLISH), *TINY_MODEL, "--out", str(out), "--sample-tokens", "0", "--seed", "1", *extra]


def process_env(corpora: Path) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "LMKIT_CORPORA": str(corpora), "PYTHONUNBUFFERED": "1",
            "TQDM_MININTERVAL": "0", "TQDM_MINITERS": "1", "COLUMNS": "200",
            "LMKIT_PROGRESS": "always"}  # the bars are read here although stderr is a pipe


def interruptible(then=None):
    """A Popen preexec_fn for a child that a test sends SIGINT or SIGHUP: both at their defaults, as a terminal
    starts a command. A suite started by a script's `... &` inherits SIGINT ignored, and under nohup SIGHUP
    ignored; lmkit keeps an ignored signal ignored, so the child would train on. `then` runs after (another
    preexec_fn)."""
    def prepare():
        for signum in (signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        if then is not None:
            then()
    return prepare


class LmkitProcess:
    """`python -m lmkit ARGS` with stdout and stderr collected by threads, and the steps it reports."""

    def __init__(self, args: list[str], corpora: Path, cwd: Path, preexec_fn=None):
        self.popen = subprocess.Popen([sys.executable, "-m", "lmkit", *args], cwd=cwd, env=process_env(corpora),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      preexec_fn=interruptible(preexec_fn))
        self.out: list[str] = []
        self.err: list[str] = []
        self.steps: list[int] = []
        self.stepped = threading.Event()
        self.readers = [threading.Thread(target=self._read, args=(self.popen.stdout, self.out), daemon=True),
                        threading.Thread(target=self._read, args=(self.popen.stderr, self.err), daemon=True)]
        for reader in self.readers:
            reader.start()

    def _read(self, stream, sink: list[str]) -> None:
        pending = ""  # a line cut by the pipe's chunking waits for its end
        for raw in iter(lambda: stream.read1(1 << 16), b""):
            text = raw.decode("utf-8", "replace")
            sink.append(text)
            *complete, pending = re.split(r"[\r\n]", pending + text)
            self._parse(complete)
        self._parse([pending])

    def _parse(self, lines: list[str]) -> None:
        for line in lines:
            match = STEP_LINE.search(line)
            if match:
                epoch, done, total = (int(g) for g in match.groups())
                self.steps.append((epoch - 1) * total + done)
                self.stepped.set()

    def wait_for_step(self) -> None:
        """Until the first training step is reported; AssertionError with the process's output if it exits
        without one (a crash at start shows its traceback at once) or none comes within START_TIMEOUT."""
        deadline = time.monotonic() + START_TIMEOUT
        while not self.stepped.wait(0.2):
            exited = self.popen.poll() is not None
            if exited or time.monotonic() > deadline:
                self.popen.kill()
                code, out, err = self.finish()  # drains the output: a step printed just before the exit counts
                if self.stepped.is_set():
                    return
                why = f"it exited with {code}" if exited else f"none within {START_TIMEOUT}s"
                raise AssertionError(f"no training step ({why}): {(out + err)[-2000:]}")

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def finish(self, timeout: float = 300.0) -> tuple[int, str, str]:
        """Wait for the exit (killing it after `timeout`); (exit code, stdout, stderr) with everything drained."""
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            code = self.popen.wait()
        for reader in self.readers:
            reader.join()
        return code, "".join(self.out), "".join(self.err)

    @property
    def last_step(self) -> int:
        return max(self.steps, default=0)

    @property
    def first_step(self) -> int | None:
        return min(self.steps, default=None)


def run_lmkit(args: list[str], corpora: Path, cwd: Path, timeout: float = 300.0, preexec_fn=None):
    return LmkitProcess(args, corpora, cwd, preexec_fn).finish(timeout)


def wait_until(condition, process: LmkitProcess, deadline: float = START_TIMEOUT) -> bool:
    """Poll `condition()` until it holds (True), the process exits or the deadline passes (False)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end and process.popen.poll() is None:
        try:
            if condition():
                return True
        except FileNotFoundError:
            pass
        time.sleep(0.0005)
    return False


def wait_for_saving(directory: Path, process: LmkitProcess) -> bool:
    """Poll until a staging folder or temporary file appears in `directory` (a save is under way)."""
    return wait_until(lambda: any(TEMPORARY.match(name) for name in os.listdir(directory)), process)


def temporaries(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if TEMPORARY.match(name)) if directory.exists() else []


def snapshot(directory: Path) -> dict[str, tuple]:
    """Every file under `directory`: relative name -> (size, mtime_ns, sha256)."""
    files = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            stat = path.stat()
            files[str(path.relative_to(directory))] = (stat.st_size, stat.st_mtime_ns,
                                                       hashlib.sha256(path.read_bytes()).hexdigest())
    return files


def kill_9(process: LmkitProcess) -> tuple[int, str, str]:
    process.signal(signal.SIGKILL)
    return process.finish()
