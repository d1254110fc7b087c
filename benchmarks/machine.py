"""What every benchmark records about the machine it ran on, and the instruction-set emulation some of them offer.

    from machine import describe_machine, isa_env     # benchmarks run as scripts: benchmarks/ is on sys.path
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")  # the ones that decide lmkit's kernels and precision
# --isa's choices: oneDNN's name for the limit -> (ATen's CPU capability, MKL's instruction set) under it
ISA_LIMITS = {
    "AVX2": ("avx2", "AVX2"),                      # an AVX2-only CPU: no bf16 units, so lmkit trains in fp32
    "AVX512_CORE": ("avx512", "AVX512"),           # AVX-512 without bf16 units: fp32 too
    "AVX512_CORE_BF16": ("avx512", "AVX512"),      # AVX-512 with bf16 units but no AMX (the AMD EPYC kind)
}


NEEDS = {"AVX512_CORE": "avx512f", "AVX512_CORE_BF16": "avx512_bf16"}  # the CPU flag a limit needs to mean anything


def runs_here(info: dict, isa: str | None, precision: str) -> bool:
    """Whether this CPU (describe_machine's `info`) has what the limit `isa` (None: none) and `precision` need."""
    flags = info.get("flags", {})
    has_bf16 = flags.get("avx512_bf16") or flags.get("amx_bf16")
    return not (isa in NEEDS and not flags.get(NEEDS[isa]) or precision == "bf16" and not has_bf16)


def isa_env(isa: str) -> dict[str, str]:
    """Environment that keeps torch's three kernel sources to `isa` (a key of ISA_LIMITS): oneDNN (LSTM,
    matmuls), ATen's own vectorised kernels, and MKL's BLAS. Clock and caches stay this CPU's, so it
    emulates the instruction set, not another machine."""
    aten, mkl = ISA_LIMITS[isa]
    return {"ONEDNN_MAX_CPU_ISA": isa, "ATEN_CPU_CAPABILITY": aten, "MKL_ENABLE_INSTRUCTIONS": mkl}


def cores_busy_elsewhere(seconds: float = 1.0) -> float:
    """How many cores' worth of CPU the machine's other processes used over the last `seconds`: load a benchmark
    will share, which the load average shows late. `nice` does not keep it off: where the kernel groups
    processes by session (/proc/sys/kernel/sched_autogroup_enabled), a tester's `nice -n 19` commands in another
    session took 62% of a core from a training at nice 0 (thirty-seventh session)."""
    def cpu_ticks() -> dict[int, int]:
        ticks = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()  # from field 3 (state) on
                    ticks[int(entry.name)] = int(fields[11]) + int(fields[12])       # utime + stime
                except (OSError, IndexError, ValueError):
                    continue
        return ticks
    before = cpu_ticks()
    time.sleep(seconds)
    after = cpu_ticks()
    used = sum(ticks - before.get(pid, 0) for pid, ticks in after.items())  # a process begun meanwhile: all of it
    return round(used / os.sysconf("SC_CLK_TCK") / seconds, 2)


def describe_machine(env: dict) -> dict:
    """CPU model and flags, cores, Python, torch's version, threads and CPU capability as a child process with
    `env` sees them, the instruction-set limits in `env`, the 1/5/15-minute load averages, and the cores other
    processes keep busy now (cores_busy_elsewhere)."""
    info = {"python": sys.version.split()[0], "load_average": [round(x, 2) for x in os.getloadavg()],
            "cores_busy_elsewhere": cores_busy_elsewhere(),
            "cores": os.cpu_count(), "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS"),
            **{key: env.get(key) for key in isa_env("AVX2")}}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = re.search(r"model name\s*:\s*(.*)", cpuinfo).group(1)
        flags = set(re.search(r"flags\s*:\s*(.*)", cpuinfo).group(1).split())
        info["flags"] = {flag: flag in flags for flag in CPU_FLAGS}
    except (OSError, AttributeError):
        info["cpu"] = "unknown"
    probe = "import torch; print(torch.__version__, torch.get_num_threads(), torch.backends.cpu.get_cpu_capability())"
    version, threads, capability = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                                                  text=True, check=True).stdout.split()
    info.update(torch=version, torch_threads=int(threads), torch_cpu_capability=capability)
    return info
