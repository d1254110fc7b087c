"""`lmkit train --nproc N`: start N training processes on this machine, as `torchrun --standalone` would.

Each process runs the same command without --nproc, in the environment torch.distributed reads
(RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT; rank 0 hosts the
rendezvous on a free local port). Launching them here rather than through torchrun's elastic agent
keeps what the user sees lmkit's own:

  errors    a refused option or file is the processes' one-line error and exit code, said once
            (by rank 0), not the agent's traceback about a failed child. A rank that fails alone
            (rank 0 did not) has its stderr shown, since its error is the cause.
  signals   the processes sit in a process group of their own, so Ctrl-C (which the terminal
            sends to the launcher's group) and SIGTERM reach each of them exactly once, from the
            launcher: each saves its checkpoint at the next step, as a single process does. A
            second signal to a process means "out now" (lmkit.stop_signals), so two
            deliveries, the terminal's and a forwarded one, must not happen. A hangup (the
            terminal closed) is passed on as itself (each process takes it as it takes SIGTERM,
            and the job exits 129), SIGQUIT as SIGTERM, and on Linux a launcher killed
            outright takes its processes with it (PR_SET_PDEATHSIG), so none trains on orphaned;
            the next launch removes the folder of ranks' stderr such a launcher left behind.
            After a signal, a process still running 5 s after rank 0 (which saves) has ended, or 60 s
            after the signal (stuck in a collective with a stopped peer), is killed: one still joining
            the group when rank 0 left would otherwise wait for it in C++ for ever.
  failure   when one process fails on its own, the others would wait for it in their next
            collective: unless they fail too within a few seconds (every rank refuses a bad option),
            they are stopped (SIGTERM, then SIGKILL after a grace period).

The exit code is rank 0's when it failed on its own, else the first failing rank's, else 0; a
process ended by signal N counts as 128 + N, as a shell reports it, and is named in one line.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from lmkit.stop_signals import ignored

FORWARDED = {signal.SIGINT: signal.SIGINT, signal.SIGTERM: signal.SIGTERM,  # signal received -> signal passed on
             signal.SIGHUP: signal.SIGHUP, signal.SIGQUIT: signal.SIGTERM}
PR_SET_PDEATHSIG = 1
RANK_LOGS = "lmkit-ranks-"  # + the launcher's pid + "-": its temporary folder of the ranks' stderr

SETTLE_SECONDS = 5.0   # after one process fails, time for the others to fail on their own (a refused option)
GRACE_SECONDS = 60.0   # after SIGTERM, time for a process to save and leave before SIGKILL
POLL_SECONDS = 0.1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(nproc: int, args: list[str]) -> int:
    """Run `lmkit ARGS` as `nproc` processes of one DistributedDataParallel job; their exit code."""
    command = [sys.executable, "-m", "lmkit", *args]
    shared = process_environment(nproc)
    remove_stale_rank_logs(Path(tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix=f"{RANK_LOGS}{os.getpid()}-") as logs:
        processes, stderr_files = [], {}
        received: list[int] = []
        previous = {s: signal.signal(s, lambda signum, frame: received.append(signum))
                    for s in FORWARDED if not ignored(s)}  # one started ignored stays so here and in the processes
        try:
            for rank in range(nproc):
                errors = None
                if rank > 0:  # said again by every rank for a refused option: kept, shown if this rank alone failed
                    stderr_files[rank] = errors = open(Path(logs) / f"rank{rank}.err", "wb")
                processes.append(subprocess.Popen(
                    command, env={**shared, "RANK": str(rank), "LOCAL_RANK": str(rank)},
                    stdout=None if rank == 0 else subprocess.DEVNULL, stderr=errors, preexec_fn=own_group))
            failed = wait(processes, received)
        finally:
            for handle in stderr_files.values():
                handle.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        for rank, code in failed.items():
            if rank > 0 and code > 0 and 0 not in failed:  # the cause, in the failed rank's own words
                sys.stderr.write((Path(logs) / f"rank{rank}.err").read_text(errors="replace"))
        for rank, code in failed.items():
            if code < 0 and not received:  # a process killed (not one stopped by the signal the user sent)
                cause = " (out of memory?)" if -code == signal.SIGKILL else ""
                finished = all(p.returncode == 0 for other, p in enumerate(processes) if other != rank)
                click.echo(f"error: process {rank} of {nproc} was ended by {signal.Signals(-code).name}{cause}"
                           + ("" if finished else "; the others were stopped"), err=True)
        if received:
            return stopped_by_signal(processes, FORWARDED[received[0]])
        return shell_code(failed[0] if 0 in failed else next(iter(failed.values()), 0))


def check_job(nproc: int, device_name: str, batch_size: int | None) -> None:
    """What the options alone can refuse, before any process starts (each imports torch: --nproc 12 took 30 s and
    1.6 GB to say its batch did not divide): the device and a --batch-size given that the processes cannot
    share; and a warning for a CPU job of more processes than the CPUs it may use."""
    from lmkit.config.machine import default_threads
    from lmkit.train.config import select_device
    from lmkit.train.distributed import undividable_batch

    if select_device(device_name).type == "cpu":
        cpus = default_threads({})  # affinity and cgroup quota; OMP_NUM_THREADS is the threads of each process
        if nproc > cpus:
            click.echo(f"warning: --nproc {nproc}: this process may use {cpus} CPU{'s' if cpus > 1 else ''} (its "
                       "affinity and CPU quota); processes beyond them take turns on them, slower than "
                       f"--nproc {cpus}", err=True)
    if batch_size is not None and batch_size % nproc:
        raise undividable_batch(batch_size, nproc)


def process_environment(nproc: int) -> dict[str, str]:
    """The environment every process starts in (its RANK and LOCAL_RANK added): torch.distributed's variables, the
    cores this process may use shared out among them (OMP_NUM_THREADS, unless set: it was 1 for any --nproc, so
    --nproc 1 trained on half of a 2-core machine), and this lmkit first on PYTHONPATH."""
    from lmkit.config.machine import default_threads

    threads = os.environ.get("OMP_NUM_THREADS", str(max(1, default_threads() // nproc)))
    return {**os.environ, "OMP_NUM_THREADS": threads, "MASTER_ADDR": "127.0.0.1", "PYTHONPATH": own_path(),
            "MASTER_PORT": str(free_port()), "WORLD_SIZE": str(nproc), "LOCAL_WORLD_SIZE": str(nproc),
            LAUNCHED_AS: shlex.join(["lmkit", *sys.argv[1:]])}  # the command as typed, --nproc in it, for the record


LAUNCHED_AS = "LMKIT_LAUNCHED_AS"  # what the processes of --nproc record as the run's command


def own_path() -> str:
    """PYTHONPATH for the processes, the folder this lmkit is imported from first: `python cli.py` from a checkout
    started `python -m lmkit` processes that found no lmkit, or another installed version, from another folder."""
    import lmkit

    here = str(Path(lmkit.__file__).resolve().parent.parent)
    return os.pathsep.join([here, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != here)])


def remove_stale_rank_logs(folder: Path) -> None:
    """Remove the rank-log folders of launchers that were killed outright (SIGKILL: no `finally` ran): those
    named RANK_LOGS<pid>-... whose launcher process is gone, holding nothing but rankN.err files."""
    for stale in folder.glob(f"{RANK_LOGS}*-*"):
        pid = stale.name[len(RANK_LOGS):].split("-", 1)[0]
        if not pid.isdigit() or stale.is_symlink() or not stale.is_dir() or process_alive(int(pid)):
            continue
        files = list(stale.iterdir())
        if all(re.fullmatch(r"rank\d+\.err", f.name) and f.is_file() and not f.is_symlink() for f in files):
            for f in files:
                f.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                stale.rmdir()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def shell_code(returncode: int) -> int:
    """A process's exit code as a shell reports it: 128 + N for one ended by signal N (Popen's -N)."""
    return 128 - returncode if returncode < 0 else returncode


def stopped_by_signal(processes: list[subprocess.Popen], signum: int) -> int:
    """The exit code of a job the user stopped with `signum`: rank 0's (it saved and said so), or 128 + signum
    with one line when the launcher had to kill a process that did not stop."""
    killed = [rank for rank, p in enumerate(processes) if p.returncode == -signal.SIGKILL]
    if not killed:
        return shell_code(processes[0].returncode)
    ranks = ", ".join(map(str, killed))
    say_quietly(f"error: {signal.Signals(signum).name}: process{'es' if len(killed) > 1 else ''} {ranks} of "
                f"{len(processes)} did not stop and {'were' if len(killed) > 1 else 'was'} killed")
    return 128 + signum


def own_group() -> None:
    """In each new process before it starts: a process group of its own, and (Linux) SIGTERM when the
    launcher dies, however it dies."""
    os.setpgrp()
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: no such call
        pass


def wait(processes: list[subprocess.Popen], received: list[int]) -> dict[int, int]:
    """Wait for every process, forwarding the signals the launcher gets; {rank: exit code} of those that
    failed on their own (not stopped by the launcher), in the order they failed."""
    failures: dict[int, int] = {}
    forwarded, first_failure, stopping = 0, None, None
    signalled = main_gone = None  # when a signal was first passed on; when rank 0 then ended
    while any(p.poll() is None for p in processes):
        while forwarded < len(received):  # Ctrl-C / SIGTERM: each process saves and stops
            signalled = signalled or time.monotonic()
            got = received[forwarded]
            if FORWARDED[got] != got:  # the processes will say SIGTERM: say what the launcher got
                say_quietly(f"{signal.Signals(got).name} received: passed on to the processes as "
                            f"{signal.Signals(FORWARDED[got]).name}")
            for p in processes:
                if p.poll() is None:
                    p.send_signal(FORWARDED[got])
            forwarded += 1
        if not received and stopping is None:
            failures.update(own_failures(processes, failures))
        now = time.monotonic()
        if failures and first_failure is None:
            first_failure = now
        settled = first_failure is not None and (now - first_failure > SETTLE_SECONDS
                                                 or any(code < 0 for code in failures.values()))  # killed: no refusal
        if settled and stopping is None:
            stopping = now  # the rest would wait for the failed one in their next collective
            for p in processes:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
        if signalled is not None and main_gone is None and processes[0].poll() is not None:
            main_gone = now
        # after a signal: rank 0, which saves, is done (the rest have nothing to save, and one may be stuck
        # joining a group that is gone), or the grace period is over (a process is stuck in a collective)
        signal_overdue = signalled is not None and (now - signalled > GRACE_SECONDS or
                                                    (main_gone is not None and now - main_gone > SETTLE_SECONDS))
        if signal_overdue or (stopping is not None and now - stopping > GRACE_SECONDS):
            for p in processes:
                if p.poll() is None:
                    p.kill()
        time.sleep(POLL_SECONDS)
    if received:  # stopped by a signal: the exit code is the signal's (stopped_by_signal)
        return {}
    if stopping is None:  # failures seen only after the last poll
        failures.update(own_failures(processes, failures))
    return failures


def say_quietly(line: str) -> None:
    """One line on stderr, unless the terminal that would show it has gone (the hangup that closed it)."""
    try:
        click.echo(line, err=True)
    except OSError:
        pass


def own_failures(processes: list[subprocess.Popen], known: dict[int, int]) -> dict[int, int]:
    return {rank: p.returncode for rank, p in enumerate(processes)
            if rank not in known and p.poll() is not None and p.returncode != 0}
