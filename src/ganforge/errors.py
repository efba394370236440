"""The one error type for problems in what the user gave us.

The CLI prints a :class:`GanforgeError` without a traceback and exits 2; any
other exception is a bug in ganforge and exits 1 with its traceback.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class GanforgeError(Exception):
    """A problem with user input (config, data, paths, checkpoints)."""


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest valid name, or ''."""
    close = difflib.get_close_matches(name, list(valid), n=1)  # difflib's cutoff, 0.6: 0.5 offered 'compile' for 'nope'
    return f" Did you mean '{close[0]}'?" if close else ""
