"""Process-wide speed settings, applied once per process: by training and the benchmarks from ``train``'s
config (``apply_process_settings``), and by ``evaluate`` and ``upscale`` (``keep_freed_memory`` alone)."""
from __future__ import annotations

import ctypes
import os
import platform
import sys

import torch

from ..config import TrainConfig

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit
_TRIM_THRESHOLD = 1 << 30


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask; all of the machine's where there is none)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def apply_process_settings(train: TrainConfig) -> None:
    """Apply ``train.threads``, ``train.keep_freed_memory`` and ``train.deterministic`` to this process.

    ``train.threads`` above the CPUs the process may use is lowered to them, with a warning:
    OpenMP threads beyond the cores wait on each other at every parallel region (20 steps of
    dcgan-fmnist took 295 s with 999 threads on 2 cores instead of 1 s), and a config written
    on a larger machine should still train here.
    """
    threads, cpus = train.threads, usable_cpus()
    if threads > cpus:
        print(f"ganforge: warning: train.threads={threads} is more than the {cpus} CPUs this process "
              f"can use; using {cpus}.", file=sys.stderr)
        threads = cpus
    if threads:
        torch.set_num_threads(threads)
    if train.keep_freed_memory:
        keep_freed_memory()
    if train.deterministic:
        # cuBLAS needs a fixed workspace for reproducible GEMMs; it reads this when it makes its handle
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # set either way: the setting is process-wide, and one process (a test, a notebook) may train twice.
    # warn_only: an op with no deterministic kernel (a user's network may have one) warns, not stops the run
    torch.use_deterministic_algorithms(train.deterministic, warn_only=True)


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep the memory torch frees for reuse; True if it took effect.

    Why: torch allocates a step's activations and gradients afresh every step and frees
    them at its end. By default glibc hands blocks above a moving threshold (128 KiB at
    first) straight back to the kernel with munmap, and trims the heap's free top, so the
    next step faults the same megabytes in again, page by page, each one zero-filled by the
    kernel. On dcgan-fmnist that was 5,000-9,700 page faults per step (``ganforge bench
    train``) and up to a tenth of the CPU time as system time, invisible to torch.profiler
    (docs/performance.md). Fixing the mmap threshold at its maximum (32 MiB) and the trim
    threshold at 1 GiB keeps those blocks in the heap: the process holds on to memory up to
    the peak it already reached, instead of returning it between steps. A no-op (False)
    where the C library is not glibc.
    """
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
