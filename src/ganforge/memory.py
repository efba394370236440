"""Does it fit in memory? Checked before a large allocation, so a setting that is too large is a
one-line error naming it, not an allocator traceback or, worse, the kernel's OOM killer mid-run.

psutil reads the OS's own estimate of available memory (Linux's MemAvailable, which counts the
page cache that can be dropped; macOS and Windows alike), which "free" memory underestimates.
"""
from __future__ import annotations

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
