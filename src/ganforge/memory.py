"""Does it fit in memory? Checked before a large allocation, so a setting that is too large is a
one-line error naming it, not an allocator traceback or, worse, the kernel's OOM killer mid-run.

psutil reads the OS's own estimate of available memory (Linux's MemAvailable, which counts the
page cache that can be dropped; macOS and Windows alike), which "free" memory underestimates.
"""
from __future__ import annotations

import re

import psutil

from .errors import GanforgeError
from .files import format_bytes


def check_fits(need: int, what: str, fix: str) -> None:
    """Raise if ``need`` bytes are more than the memory available now.

    Args:
        what: the thing that needs it, e.g. "60,000 images of 1x7168x7168".
        fix: how to need less, e.g. "lower data.resolution".
    """
    available = psutil.virtual_memory().available
    if need > available:
        raise GanforgeError(f"{what} would need about {format_bytes(need)} of memory, but {format_bytes(available)} "
                            f"is available; {fix}.")


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation that failed: a GPU's (torch.OutOfMemoryError), the CPU allocator's
    (a RuntimeError from torch's DefaultCPUAllocator) or Python's own MemoryError."""
    import torch

    return (isinstance(error, (torch.OutOfMemoryError, MemoryError))
            or (isinstance(error, RuntimeError) and "DefaultCPUAllocator" in str(error)))


def failed_allocation(error: BaseException) -> str:
    """What ``error`` (:func:`is_out_of_memory`) could not allocate, for a message: 'torch could not allocate
    134.2 MB more' from the CPU's or a GPU's wording; its first line where it says no size."""
    if cpu := re.search(r"allocate (\d+) bytes", str(error)):
        return f"torch could not allocate {format_bytes(int(cpu.group(1)))} more"
    if gpu := re.search(r"Tried to allocate ([\d.]+ [KMGT]?i?B)", str(error)):
        return f"torch could not allocate {gpu.group(1)} more on the GPU"
    return (str(error).splitlines() or [type(error).__name__])[0][:200]
