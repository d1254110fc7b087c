"""What this machine gives a run: the precision of its matmuls and the CPU threads it may use.

Both are resolved here and nowhere else, so every command and the Python API agree:

    resolve_precision("auto", device)  -> Precision bf16 where the device has bf16 units, else fp32
    resolve_precision("bf16", device)  -> Precision bf16, or a one-line ConfigError on hardware without it
    default_threads()                  -> CPUs this process may really use (affinity, cgroup quota, OMP_/MKL_NUM_THREADS)
    apply_threads(None or N)           -> sets torch's intra-op threads and returns the count
    keep_compiled_kernels()            -> lets oneDNN keep KERNEL_CACHE compiled kernels (once, at `import lmkit`)

bf16 without bf16 units is emulated: on an AVX2 CPU its matmuls ran at 0.7 GFLOP/s against 100 for fp32,
and oneDNN's LSTM refused bf16 outright. `bf16_support` is the one hardware query (tests monkeypatch it).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, MutableMapping

from lmkit.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16")
DEFAULT_PRECISION = "auto"
DEFAULT_THREADS = None          # None: what the machine gives this process (default_threads)
BF16_CPU_FLAGS = {"avx512_bf16": "AVX512_BF16", "amx_bf16": "AMX", "bf16": "BF16"}  # x86, x86, arm64
CGROUP_ROOT = Path("/")


@dataclass(frozen=True)
class Bf16Support:
    """Whether a device computes bf16 natively, and a clause that says why ("... has AVX512_BF16")."""

    native: bool
    reason: str


@dataclass(frozen=True)
class Precision:
    """The precision a run computes in, as it was asked for and why."""

    name: str           # "fp32" or "bf16": what runs
    requested: str      # "auto", "fp32" or "bf16"
    reason: str = ""

    def describe(self) -> str:
        """'bf16', or 'bf16 (auto: this CPU ... has AVX512_BF16)' when auto chose it."""
        return self.name if self.requested == self.name else f"{self.name} ({self.requested}: {self.reason})"


def bf16_support(device) -> Bf16Support:
    """The one hardware query behind --precision: CUDA's own answer, a CPU's bf16 units, else none."""
    import torch

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        try:
            native = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch before 2.5 did not count emulation
            native = torch.cuda.is_bf16_supported()
        return Bf16Support(native, f"CUDA device {name} has {'native' if native else 'no native'} bf16")
    if device.type == "cpu":
        return cpu_bf16_support()
    return Bf16Support(False, f"lmkit uses bf16 only on CPUs and CUDA devices, not {device.type}")


def cpu_bf16_support() -> Bf16Support:
    """Native bf16 on this CPU: a bf16 unit (AVX512_BF16, AMX, arm64 BF16) that oneDNN will use."""
    import platform

    import torch

    flags = cpu_flags()
    name = flags.get("cpu_name") or platform.processor() or platform.machine()
    cpu = f"this CPU ({name}, torch CPU capability {torch.backends.cpu.get_cpu_capability()})"
    units = "+".join(label for key, label in BF16_CPU_FLAGS.items() if flags.get(key))
    if not units:
        return Bf16Support(False, f"{cpu} has no bf16 units (AVX512_BF16 or AMX)")
    limit = onednn_isa_limit()
    held = f" ({limit[0]}={limit[1]})" if limit else ""
    if not onednn_bf16() or held_below(limit, ISAS_WITHOUT_BF16):
        return Bf16Support(False, f"{cpu} has {units} but oneDNN will not use it{held}")
    if flags.get("amx_bf16") and held_below(limit, ISAS_BELOW_AMX):
        return Bf16Support(True, f"{cpu} has {units}, but oneDNN will not use AMX{held}")
    return Bf16Support(True, f"{cpu} has {units}")


# oneDNN's instruction-set limits (its cpu_isa names) without bf16 dot products: under them oneDNN still takes bf16
# (torch says it is supported) but emulates it, about twice as slow as fp32 (adversarial pass 27)
ISAS_WITHOUT_BF16 = frozenset({"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"})
# the limits below AMX; any other value, or one oneDNN does not know (which it ignores), leaves AMX in use
ISAS_BELOW_AMX = ISAS_WITHOUT_BF16 | {"AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512", "AVX10_2_512"}


def onednn_isa_limit() -> tuple[str, str] | None:
    """(variable, value) of the instruction-set limit oneDNN reads: ONEDNN_MAX_CPU_ISA, else its older name
    DNNL_MAX_CPU_ISA; None where neither is set."""
    return next(((name, os.environ[name]) for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
                 if os.environ.get(name)), None)


def bf16_on_amx(device, precision: Precision) -> bool:
    """Whether a run's matmuls go to AMX tiles: bf16 on a CPU with AMX that oneDNN is not held below it."""
    if device.type != "cpu" or precision.name != "bf16" or not cpu_flags().get("amx_bf16"):
        return False
    return not held_below(onednn_isa_limit(), ISAS_BELOW_AMX)


def held_below(limit: tuple[str, str] | None, names: frozenset[str]) -> bool:
    """Whether onednn_isa_limit's (variable, value) is one of `names` in any letter case, read as oneDNN reads it
    (spaces make a name it ignores)."""
    return limit is not None and limit[1].upper() in names


def onednn_bf16() -> bool:
    """Whether oneDNN will run bf16 here (onednn_isa_limit can forbid it); True where torch has no oneDNN."""
    import torch

    query = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if not torch.backends.mkldnn.is_available() or query is None:
        return True
    return bool(query())


def cpu_flags() -> Mapping:
    """The CPU's feature flags as torch reads them (torch.cpu.get_capabilities, or older torch's probes)."""
    import torch

    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    if get_capabilities is not None:
        return get_capabilities()
    probes = {"avx512_bf16": "_is_avx512_bf16_supported", "amx_bf16": "_is_amx_tile_supported"}
    return {key: bool(getattr(torch.cpu, probe, lambda: False)()) for key, probe in probes.items()}


def resolve_precision(requested: str, device, asked_by: str = "--precision bf16") -> Precision:
    """'auto' -> bf16 where `device` has native bf16, else fp32; an explicit bf16 must have it.

    `asked_by` names where an explicit bf16 came from in the refusal (a resumed run's saved setting, say).
    """
    if requested not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested == "fp32":
        return Precision("fp32", requested)
    support = bf16_support(device)
    if requested == "bf16" and not support.native:
        raise ConfigError(f"{asked_by}: {support.reason}, so bf16 would be emulated (about 100x slower, "
                          "or refused by oneDNN); use --precision auto or fp32")
    return Precision("bf16" if support.native else "fp32", requested, support.reason)


# oneDNN (torch's CPU kernels for bf16 matmuls and every LSTM) compiles a kernel for each shape it meets and
# keeps the last 1,024. A bidirectional model trains on batches of whole lines: on pku98 about 130 batch shapes and
# a thousand row counts at the softmax, 2,800 kernels an epoch. With 1,024 kept, each epoch compiled them all
# again, and its second epoch ran 1.29x slower than with all kept (benchmarks/RESULTS.md, "oneDNN's kernel
# cache"). Kept kernels are small: 2,800 of them added 12 MB to a 2.9 GB process.
KERNEL_CACHE = 16384
KERNEL_CACHE_VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "DNNL_PRIMITIVE_CACHE_CAPACITY")  # and its older name


def keep_compiled_kernels(environ: MutableMapping[str, str] = os.environ) -> None:
    """Let oneDNN keep KERNEL_CACHE compiled kernels, unless the environment already says how many under either
    of oneDNN's names (a value set under the older one would lose to ours). oneDNN reads the variable when it
    compiles its first kernel, so `import lmkit` sets it, before lmkit runs any."""
    if not any(name in environ for name in KERNEL_CACHE_VARIABLES):
        environ[KERNEL_CACHE_VARIABLES[0]] = str(KERNEL_CACHE)


def apply_threads(requested: int | None = DEFAULT_THREADS) -> int:
    """Set torch's intra-op threads to `requested`, or to default_threads(); returns the count set."""
    import torch

    threads = default_threads() if requested is None else check_threads(requested)
    torch.set_num_threads(threads)
    return threads


LARGEST_OMP_THREADS = 1 << 20  # far beyond any machine's CPUs; libgomp itself refuses 2**64


def check_threads(threads: int) -> int:
    """A thread count must be from 1 to the machine's logical CPUs (more only makes threads wait on each other)."""
    cpus = os.cpu_count() or 1
    if not 1 <= threads <= cpus:
        raise ConfigError(f"--threads {threads}: must be from 1 to the {cpus} logical CPUs of this machine")
    return threads


def default_threads(environ: Mapping[str, str] | None = None, root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may really use: its CPU affinity, capped by the cgroup's CPU quota, OMP_NUM_THREADS and
    MKL_NUM_THREADS."""
    environ = os.environ if environ is None else environ
    caps = [cap for cap in (omp_threads(environ), mkl_threads(environ)) if cap is not None]
    return min([usable_cpus(root), *caps])


def usable_cpus(root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may run on at once: its CPU affinity, capped by the cgroup's CPU quota."""
    limits = [affinity_cpus()]
    quota = cgroup_cpu_quota(root)
    if quota is not None:
        limits.append(max(1, math.floor(quota)))  # 1.5 CPUs of time: a second thread would wait half the time
    return min(limits)


def affinity_cpus() -> int:
    """CPUs the scheduler lets this process run on (all of them where affinity is unknown)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def omp_threads(environ: Mapping[str, str]) -> int | None:
    """OMP_NUM_THREADS's thread count (its first level), None when unset. A bad value is refused: every level of
    the comma-separated list, as the OpenMP library reads them all (and prints its own line about any one)."""
    value = environ.get("OMP_NUM_THREADS")
    if value is None:
        return None
    levels = [level.strip() for level in value.split(",")]
    if not all(level.isascii() and level.isdigit() and 1 <= int(level) <= LARGEST_OMP_THREADS for level in levels):
        raise ConfigError(f"OMP_NUM_THREADS={value!r} is not a positive whole number (or a comma-separated list of "
                          f"them, each at most {LARGEST_OMP_THREADS:,}); set it to one or unset it (--threads N "
                          "chooses lmkit's threads, but the OpenMP library reads it too)")
    return int(levels[0])


def mkl_threads(environ: Mapping[str, str]) -> int | None:
    """MKL_NUM_THREADS's thread count, None when unset or empty. torch starts with as many threads as MKL would
    use, so the default honours it as it honours OMP_NUM_THREADS. A value MKL would misread is refused: MKL reads
    "abc", " " and "2,1" as 1 and "0" as unset, without a word."""
    value = environ.get("MKL_NUM_THREADS")
    if not value:
        return None
    if not (value.strip().isascii() and value.strip().isdigit() and 1 <= int(value) <= LARGEST_OMP_THREADS):
        raise ConfigError(f"MKL_NUM_THREADS={value!r} is not a positive whole number (at most "
                          f"{LARGEST_OMP_THREADS:,}); set it to one or unset it (--threads N chooses lmkit's threads, "
                          "but the MKL library reads it too)")
    return int(value)


def cgroup_cpu_quota(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs' worth of time the process's cgroups allow (the smallest quota on the way up), None when unlimited."""
    quotas = [q for folder in cgroup_cpu_folders(root) if (q := folder_cpu_quota(folder)) is not None]
    return min(quotas, default=None)


def cgroup_cpu_folders(root: Path) -> list[Path]:
    """The cpu controller's folders of this process's cgroup and of its ancestors, for cgroup v2 and v1."""
    try:
        lines = (root / "proc" / "self" / "cgroup").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    base = root / "sys" / "fs" / "cgroup"
    folders: list[Path] = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":
            mounts = [base]  # v2: one unified hierarchy
        elif "cpu" in controllers.split(","):
            mounts = [base / controllers, base / "cpu"]  # v1: cpu,cpuacct (often linked as cpu)
        else:
            continue
        parts = [p for p in path.split("/") if p not in ("", ".", "..")]
        for mount in mounts:
            folders += [mount.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]
    return list(dict.fromkeys(folders))


def folder_cpu_quota(folder: Path) -> float | None:
    """One cgroup folder's CPU quota in CPUs: v2 cpu.max ("max 100000", "150000 100000"), or v1 cfs_quota/period."""
    v2 = read_words(folder / "cpu.max")
    if v2 is not None:
        return quota_ratio(*v2[:2]) if len(v2) >= 2 else None
    quota, period = read_words(folder / "cpu.cfs_quota_us"), read_words(folder / "cpu.cfs_period_us")
    if quota and period:
        return quota_ratio(quota[0], period[0])
    return None


def quota_ratio(quota: str, period: str) -> float | None:
    """quota / period, or None for no limit ("max", -1) or a value that is not a count of microseconds."""
    if not (quota.isascii() and quota.isdigit() and period.isascii() and period.isdigit()) or int(period) == 0:
        return None
    return int(quota) / int(period) if int(quota) > 0 else None


def read_words(path: Path) -> list[str] | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").split()
    except OSError:
        return None
