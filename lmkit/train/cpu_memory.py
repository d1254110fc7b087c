"""Keep freed CPU memory for reuse instead of handing it back to the operating system.

glibc serves blocks above an adaptive threshold (128 KiB up to 32 MiB) with mmap
and gives them back on free, and it trims the heap when its free top passes twice
that threshold. A training step allocates its (tokens x vocabulary) buffers afresh
each time, so each step touched fresh pages and paid a page fault per 4 KiB:
500 bf16 steps of benchmarks/train_throughput.py took 8.8M minor faults and 20 s
of system time in 42 s, and ran at 11k tokens/s instead of 16k.

PyTorch's CPU tuning guide suggests preloading jemalloc or tcmalloc for this;
mallopt gets the same effect from inside the process. The price is that the
process keeps its peak heap until it exits, which is what a training run wants.
"""
from __future__ import annotations

import ctypes
import platform
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
KEEP_BYTES = 1 << 30  # blocks up to this size come from the heap, and up to this much freed heap is kept

_kept = False


def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed memory rather than unmap it (once per process); False where that is not possible."""
    global _kept
    if _kept:
        return True
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        _kept = bool(libc.mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(libc.mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))
    except (OSError, AttributeError):
        return False
    return _kept
