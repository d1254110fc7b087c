"""Time and peak memory of a benchmark step run in its own child process.

"max RSS" is the peak RSS (VmHWM) of the largest single process (the child or one of its
workers); "tree anon" is the peak of Pss_Anon summed over the child and its workers, sampled every
50 ms: the anonymous memory the process tree really owns, each page shared after fork counted
once. The child prints its result as one JSON line, with its own VmHWM added (`child_report`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Measured:
    wall: float           # seconds, start to exit
    max_rss_mb: float     # largest single process's peak RSS (VmHWM)
    tree_anon_mb: float   # peak anonymous memory of the whole process tree
    result: dict          # the child's last stdout line, as JSON


def tree_pids(root: int) -> list[int]:
    pids, i = [root], 0
    while i < len(pids):
        for children in Path(f"/proc/{pids[i]}/task").glob("*/children"):
            try:
                pids += [int(p) for p in children.read_text().split()]
            except OSError:
                pass
        i += 1
    return pids


def status_kb(pid: int, fields: tuple[str, ...]) -> dict[str, int]:
    """Sizes in kB from /proc/PID/status or /proc/PID/smaps_rollup lines named in `fields` (0 once it is gone)."""
    found = dict.fromkeys(fields, 0)
    for name in ("status", "smaps_rollup"):
        try:
            for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
                key = line.split(":", 1)[0]
                if key in found:
                    found[key] = int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
    return found


def measure_child(script: Path, task: str, **kwargs) -> Measured:
    """Run `python SCRIPT --child TASK KWARGS` and measure its time and memory.

    Peak RSS comes from each process's VmHWM (rusage's ru_maxrss would also count the pages of the
    parent this child was forked from), the tree's anonymous memory from Pss_Anon (pages shared
    after fork counted once), both sampled every 50 ms and, for the child itself, read at its exit.
    """
    command = [sys.executable, str(script), "--child", task, json.dumps(kwargs)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=script.parent.parent)
    peak = {"hwm": 0, "anon": 0}
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            sizes = [status_kb(pid, ("VmHWM", "Pss_Anon")) for pid in tree_pids(process.pid)]
            peak["hwm"] = max([peak["hwm"]] + [s["VmHWM"] for s in sizes])
            peak["anon"] = max(peak["anon"], sum(s["Pss_Anon"] for s in sizes))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.stdout.read()
    process.wait()
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"child {task} failed with exit code {process.returncode}")
    result = json.loads(output.strip().splitlines()[-1])
    hwm = max(peak["hwm"], result.pop("own_hwm_kb"))
    return Measured(time.perf_counter() - started, hwm / 1024, peak["anon"] / 1024, result)


def child_report(result: dict) -> str:
    """The line a child prints: its result and its own peak RSS, read just before it exits."""
    return json.dumps({**result, "own_hwm_kb": status_kb(os.getpid(), ("VmHWM",))["VmHWM"]})
