"""benchmarks/machine.py: what a benchmark records about the load it shares the machine with."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path


def load_machine():
    """The benchmarks' machine module (benchmarks/ is no package)."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "machine.py"
    spec = importlib.util.spec_from_file_location("benchmark_machine", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cores_another_process_keeps_busy_are_counted():
    """A process spinning beside the benchmark shows at once (the load average would take a minute)."""
    machine = load_machine()
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 30\nwhile time.time() < end: pass"])
    try:
        assert machine.cores_busy_elsewhere(0.5) >= 0.3
    finally:
        spinner.kill()
        spinner.wait()
