"""lmkit.config.machine: the precision a device computes in, and the CPU threads a process may use."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from lmkit.config import machine
from lmkit.config.machine import Bf16Support, default_threads, resolve_precision
from lmkit.errors import ConfigError

CPU = torch.device("cpu")


def fake_hardware(monkeypatch, native: bool, reason: str = "the fake CPU") -> list:
    """Make bf16_support answer `native`; returns the list of devices it was asked about."""
    asked = []

    def support(device):
        asked.append(device)
        return Bf16Support(native, reason)

    monkeypatch.setattr(machine, "bf16_support", support)
    return asked


@pytest.mark.parametrize("native,chosen", [(True, "bf16"), (False, "fp32")])
def test_auto_follows_the_hardware_and_says_why(monkeypatch, native, chosen):
    fake_hardware(monkeypatch, native, "this CPU (x) has a reason")
    precision = resolve_precision("auto", CPU)
    assert precision.name == chosen
    assert precision.describe() == f"{chosen} (auto: this CPU (x) has a reason)"


def test_fp32_never_asks_the_hardware(monkeypatch):
    asked = fake_hardware(monkeypatch, False)
    assert resolve_precision("fp32", CPU).describe() == "fp32" and asked == []


def test_explicit_bf16_runs_where_the_hardware_has_it(monkeypatch):
    fake_hardware(monkeypatch, True)
    assert resolve_precision("bf16", CPU).describe() == "bf16"


@pytest.mark.parametrize("asked_by", ["--precision bf16", "--resume m (saved with --precision bf16)"])
def test_explicit_bf16_without_the_hardware_is_refused_naming_it(monkeypatch, asked_by):
    fake_hardware(monkeypatch, False, "this CPU (EPYC, torch CPU capability AVX2) has no bf16 units")
    with pytest.raises(ConfigError) as caught:
        resolve_precision("bf16", CPU, asked_by=asked_by)
    message = str(caught.value)
    assert message.startswith(f"{asked_by}: this CPU (EPYC, torch CPU capability AVX2) has no bf16 units")
    assert "--precision auto or fp32" in message and "\n" not in message


@pytest.mark.parametrize("name", ["fp16", "BF16", "", "auto "])
def test_unknown_precisions_are_refused(name):
    with pytest.raises(ConfigError, match="--precision must be one of auto, fp32, bf16"):
        resolve_precision(name, CPU)


@pytest.mark.parametrize("flags,onednn,native,words", [
    ({"avx2": True}, True, False, "has no bf16 units (AVX512_BF16 or AMX)"),
    ({"avx512_f": True, "avx512_bw": True}, True, False, "has no bf16 units"),  # AVX-512 without its bf16 part
    ({"avx512_bf16": True}, True, True, "has AVX512_BF16"),
    ({"amx_bf16": True, "amx_tile": True}, True, True, "has AMX"),
    ({"avx512_bf16": True, "amx_bf16": True}, True, True, "has AVX512_BF16+AMX"),
    ({"avx512_bf16": True}, False, False, "has AVX512_BF16 but oneDNN will not use it"),
    ({"avx512_bf16": True, "amx_bf16": True, "limit": "AVX512_CORE_BF16"}, True, True,
     "has AVX512_BF16+AMX, but oneDNN will not use AMX (ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16)"),
    ({"avx512_bf16": True, "amx_bf16": True, "limit": "BOGUS"}, True, True, "has AVX512_BF16+AMX"),  # ignored
    # pass 27: under these torch calls bf16 supported, but oneDNN emulates it, twice as slow as fp32
    ({"avx512_bf16": True, "amx_bf16": True, "limit": "AVX512_CORE"}, True, False,
     "has AVX512_BF16+AMX but oneDNN will not use it (ONEDNN_MAX_CPU_ISA=AVX512_CORE)"),
    ({"avx512_bf16": True, "limit": "avx512_core_vnni"}, True, False, "has AVX512_BF16 but oneDNN will not use it"),
])
def test_a_cpu_has_bf16_when_it_has_the_units_and_onednn_uses_them(monkeypatch, flags, onednn, native, words):
    """The line also says when oneDNN is held below AMX, which the AMX batch default depends on."""
    flags = dict(flags)
    limit = flags.pop("limit", None)
    monkeypatch.setattr(machine, "cpu_flags", lambda: {"cpu_name": "Test CPU", **flags})
    monkeypatch.setattr(machine, "onednn_bf16", lambda: onednn)
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(name, raising=False)
    if limit:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", limit)
    support = machine.bf16_support(CPU)
    assert support.native is native
    assert support.reason.startswith("this CPU (Test CPU, torch CPU capability ") and words in support.reason
    assert ("will not use AMX" in support.reason) is ("will not use AMX" in words)


@pytest.mark.parametrize("native", [True, False])
def test_a_cuda_device_has_bf16_when_torch_says_it_is_native(monkeypatch, native):
    asked = {}

    def is_bf16_supported(including_emulation=True):
        asked["emulation"] = including_emulation
        return native

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "Test GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    support = machine.bf16_support(torch.device("cuda"))
    assert support.native is native and asked == {"emulation": False}  # emulated bf16 does not count
    assert support.reason == f"CUDA device Test GPU has {'native' if native else 'no native'} bf16"


def test_other_devices_stay_in_fp32_under_auto():
    assert resolve_precision("auto", torch.device("mps")).name == "fp32"


def test_the_real_cpu_query_answers_in_words():
    support = machine.bf16_support(CPU)
    assert support.reason.startswith("this CPU (") and torch.backends.cpu.get_cpu_capability() in support.reason


# --- threads ---------------------------------------------------------------------------------

def fake_cgroup(root: Path, proc_line: str, files: dict[str, str]) -> Path:
    """A fake filesystem root: /proc/self/cgroup holding `proc_line`, and `files` under /sys/fs/cgroup."""
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "self" / "cgroup").write_text(proc_line + "\n")
    for name, text in files.items():
        path = root / "sys" / "fs" / "cgroup" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


@pytest.fixture
def eight_cpus(monkeypatch):
    """The scheduler lets this process run on 8 CPUs."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)


@pytest.mark.parametrize("proc_line,files,expected", [
    ("0::/", {}, 8),                                                          # no cgroup limit
    ("0::/", {"cpu.max": "max 100000"}, 8),                                   # v2, unlimited
    ("0::/", {"cpu.max": "200000 100000"}, 2),                                # v2, 2 CPUs of time
    ("0::/", {"cpu.max": "150000 100000"}, 1),                                # 1.5 CPUs: one thread
    ("0::/", {"cpu.max": "50000 100000"}, 1),                                 # half a CPU: still one thread
    ("0::/job/step", {"job/cpu.max": "300000 100000", "job/step/cpu.max": "max 100000"}, 3),  # a parent's quota
    ("0::/job", {"cpu.max": "400000 100000", "job/cpu.max": "600000 100000"}, 4),             # the smallest wins
    ("0::/gone", {"cpu.max": "200000 100000"}, 2),                            # path not mounted here: the mount root
    ("4:cpu,cpuacct:/", {"cpu,cpuacct/cpu.cfs_quota_us": "300000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 3),
    ("4:cpu,cpuacct:/", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, 8),  # v1, unlimited
    ("4:memory:/x", {"memory/cpu.cfs_quota_us": "100000", "memory/cpu.cfs_period_us": "100000"}, 8),  # not cpu
    ("0::/", {"cpu.max": "garbage"}, 8),                                      # unreadable: no limit assumed
])
def test_default_threads_follow_affinity_and_cgroup_quota(tmp_path, eight_cpus, proc_line, files, expected):
    assert default_threads(environ={}, root=fake_cgroup(tmp_path, proc_line, files)) == expected


@pytest.mark.parametrize("omp,expected", [("1", 1), ("3", 3), ("16", 4), ("2,1", 2), (" 2 ", 2)])
def test_omp_num_threads_caps_the_default(tmp_path, eight_cpus, omp, expected):
    root = fake_cgroup(tmp_path, "0::/", {"cpu.max": "400000 100000"})
    assert default_threads(environ={"OMP_NUM_THREADS": omp}, root=root) == expected


@pytest.mark.parametrize("mkl,omp,expected", [("1", None, 1), (" 3 ", None, 3), ("16", None, 4), ("", None, 4),
                                              ("3", "2", 2), ("2", "3", 2)])
def test_mkl_num_threads_caps_the_default_as_torch_reads_it(tmp_path, eight_cpus, mkl, omp, expected):
    """torch starts with MKL's thread count (MKL_NUM_THREADS=1: one thread); lmkit's default set it back to all."""
    root = fake_cgroup(tmp_path, "0::/", {"cpu.max": "400000 100000"})
    environ = {"MKL_NUM_THREADS": mkl, **({"OMP_NUM_THREADS": omp} if omp else {})}
    assert default_threads(environ=environ, root=root) == expected


@pytest.mark.parametrize("mkl", ["0", "-1", "abc", " ", "2,1", "1.5", "٣", "99999999999999999999"])
def test_a_value_mkl_would_misread_is_refused_in_one_line(tmp_path, mkl):
    with pytest.raises(ConfigError, match="MKL_NUM_THREADS=.* is not a positive whole number"):
        default_threads(environ={"MKL_NUM_THREADS": mkl}, root=tmp_path)


def test_affinity_alone_sets_the_default_without_cgroups(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3, 5}, raising=False)
    assert default_threads(environ={}, root=tmp_path) == 2  # no /proc here: no cgroup limit read


@pytest.mark.parametrize("omp", ["0", "-1", "abc", "1.5", "٣", "two,1", "", "  "])  # empty: libgomp says invalid too
def test_a_bad_omp_num_threads_is_refused_in_one_line(tmp_path, omp):
    with pytest.raises(ConfigError, match="OMP_NUM_THREADS=.* is not a positive whole number"):
        default_threads(environ={"OMP_NUM_THREADS": omp}, root=tmp_path)


@pytest.mark.parametrize("threads", [0, -3, (os.cpu_count() or 1) + 1, 10**6])
def test_thread_counts_outside_the_machine_are_refused(threads):
    with pytest.raises(ConfigError, match=rf"^--threads {threads}: must be from 1 to the \d+ logical CPUs"):
        machine.apply_threads(threads)


def test_apply_threads_sets_torch(monkeypatch):
    assert machine.apply_threads(1) == 1 and torch.get_num_threads() == 1
    monkeypatch.setattr(machine, "default_threads", lambda: 1)
    torch.set_num_threads(os.cpu_count() or 1)
    assert machine.apply_threads() == 1 and torch.get_num_threads() == 1


@pytest.mark.parametrize("flags, isa_limit, precision, on_amx", [
    ({"avx512_bf16": True, "amx_bf16": True}, None, "bf16", True),
    ({"avx512_bf16": True, "amx_bf16": True}, "AVX512_CORE_AMX", "bf16", True),
    ({"avx512_bf16": True, "amx_bf16": True}, "AVX512_CORE_BF16", "bf16", False),  # oneDNN held below AMX
    ({"avx512_bf16": True, "amx_bf16": True}, "AVX10_2_512", "bf16", False),  # pass 27: AVX 10.2 without AMX
    ({"avx512_bf16": True, "amx_bf16": True}, "AVX10_2_512_AMX_2", "bf16", True),
    ({"avx512_bf16": True, "amx_bf16": True}, "avx512_core_bf16", "bf16", False),  # its names in any case
    ({"avx512_bf16": True, "amx_bf16": True}, "DNNL:AVX512_CORE_BF16", "bf16", False),  # the older variable
    ({"avx512_bf16": True, "amx_bf16": True}, "BOGUS", "bf16", True),  # a name oneDNN ignores: AMX still runs
    ({"avx512_bf16": True, "amx_bf16": True}, " AVX2", "bf16", True),  # so is one with spaces (pass 26)
    ({"avx512_bf16": True, "amx_bf16": True}, None, "fp32", False),               # --precision fp32
    ({"avx512_bf16": True}, None, "bf16", False),                                  # bf16 units without AMX
])
def test_bf16_goes_to_amx_only_where_the_cpu_has_it_and_onednn_may_use_it(monkeypatch, flags, isa_limit, precision,
                                                                          on_amx):
    """Adversarial pass 25: DNNL_MAX_CPU_ISA, oneDNN's older name for the limit, was not read, and a value oneDNN
    ignores was taken as a limit below AMX."""
    monkeypatch.setattr(machine, "cpu_flags", lambda: flags)
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(name, raising=False)
    if isa_limit is not None:
        name, value = isa_limit.split(":") if isa_limit.startswith("DNNL:") else ("ONEDNN", isa_limit)
        monkeypatch.setenv(f"{name}_MAX_CPU_ISA", value)
    assert machine.bf16_on_amx(CPU, machine.Precision(precision, "auto")) is on_amx
    assert machine.bf16_on_amx(torch.device("cuda"), machine.Precision(precision, "auto")) is False


@pytest.mark.parametrize("name", machine.KERNEL_CACHE_VARIABLES)
def test_onednn_keeps_many_compiled_kernels_unless_the_environment_says_how_many(name):
    environ: dict[str, str] = {}
    machine.keep_compiled_kernels(environ)
    assert environ == {machine.KERNEL_CACHE_VARIABLES[0]: str(machine.KERNEL_CACHE)}
    environ = {name: "0"}  # the user's own setting stands, under oneDNN's older name too (ours would override it)
    machine.keep_compiled_kernels(environ)
    assert environ == {name: "0"}


@pytest.mark.parametrize("given, kept", [(None, str(machine.KERNEL_CACHE)), ("64", "64")])
def test_importing_lmkit_sets_the_kernel_cache_before_torch_is_loaded(given, kept):
    import subprocess
    import sys

    variable = machine.KERNEL_CACHE_VARIABLES[0]
    env = {k: v for k, v in os.environ.items() if k not in machine.KERNEL_CACHE_VARIABLES}
    if given is not None:
        env[variable] = given
    probe = f"import os, sys, lmkit; print(os.environ.get({variable!r}), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [kept, "False"]


@pytest.mark.parametrize("name", ["meta", "xla", "xla:0", "xpu", "hpu", "lazy", "mkldnn", "privateuseone"])
def test_a_device_type_lmkit_does_not_run_on_is_one_line(name):
    """Pass 87: torch knows these names, so they passed, and failed later with a traceback (autocast's 'unknown
    device type', 'Torch not compiled with XPU enabled', a dispatcher dump for lazy)."""
    from lmkit.errors import ConfigError
    from lmkit.train.config import select_device

    with pytest.raises(ConfigError, match=rf"^--device {name}: lmkit runs on cpu, cuda, mps \(or auto, which picks "
                                          rf"one\); not on {name.split(':')[0]}$"):
        select_device(name)
    with pytest.raises(ConfigError, match=r"^--device cpu:1: the CPU takes no index"):
        select_device("cpu:1")  # torch ignores the index, and the records said cpu:1
