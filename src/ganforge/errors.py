"""The one error type for problems in what the user gave us.

The CLI prints a :class:`GanforgeError` without a traceback and exits 2; any
other exception is a bug in ganforge and exits 1 with its traceback.
"""
from __future__ import annotations

import difflib
import os
import re
import sys
from pathlib import Path
from typing import Callable, Iterable, NoReturn


class GanforgeError(Exception):
    """A problem with user input (config, data, paths, checkpoints)."""


class AlreadyReported(GanforgeError):
    """Under torchrun, an error another process of the job prints: rank 0's, which it sends the others, or
    a bad config, which the first process on each machine reads from the same files. The CLI exits 2 on it
    without printing it once more per process."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM in a command that had written part of a folder of outputs, image by image: ``said``
    names what the folder holds, for the command's last line. Python's caller gets the KeyboardInterrupt it is.
    """

    def __init__(self, stopped: KeyboardInterrupt, said: str) -> None:
        super().__init__(*stopped.args)  # the signal's number, where the CLI's handler raised it
        self.said = said

    def __str__(self) -> str:  # what a notebook shows after the class's name
        return self.said


def format_warning(message, category, *args, **kwargs) -> str:
    """A warning as ganforge prints it (``warnings.formatwarning``): one line, without the file and line of
    ganforge's code that issued it, which say nothing to the user who can fix the cause."""
    return f"ganforge: warning: {message}\n"


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest valid name, or ''. Case does not count ('DCGAN-fmnist'); a
    valid name that begins with ``name`` is close too ('dcgan' for 'dcgan-fmnist'), and several such are listed;
    a hyphenated name shortened to its first parts' initials is meant before any spelling ('fmnist')."""
    folded = {v.casefold(): v for v in valid}
    key = name.casefold()
    # 'fmnist' (the presets' suffix, the features' name) is fashion-mnist: difflib offered 'mnist', another dataset
    close = [v for f, v in folded.items() if "-" in f and _initials(f) == key]
    # difflib's cutoff, 0.6: 0.5 offered 'compile' for 'nope'
    close = close or [folded[c] for c in difflib.get_close_matches(key, list(folded), n=1)]
    if not close and len(key) >= 3:  # an abbreviation: 'hw6' begins three presets
        close = sorted(v for f, v in folded.items() if f.startswith(key))
    if len(close) > 1:
        return f" Did you mean one of {', '.join(map(repr, close))}?"
    return f" Did you mean '{close[0]}'?" if close else ""


def _initials(name: str) -> str:
    """A hyphenated name by the initials of its parts but the last, which stays whole: 'fashion-mnist' -> 'fmnist'."""
    *first, last = name.split("-")
    return "".join(part[:1] for part in first) + last


def did_you_mean_path(path: Path) -> str:
    """' Did you mean 'runs/demo'?' for the closest name beside a path that does not exist, or ''.

    A typo in a run or file name is the usual reason a path is missing; only the last part is
    matched, against the entries of the folder it names (the first 1,000, so a huge folder stays quick).
    A path that names an environment variable not set (``$SCRATCH/faces``, kept as written) says so instead.
    """
    unset = [name for name in re.findall(r"\$\{?(\w+)", str(path)) if name not in os.environ]
    if unset:
        return f" The environment variable {unset[0]} in it is not set."
    try:
        names = [entry.name for _, entry in zip(range(1000), os.scandir(path.parent)) if entry.name != path.name]
    except OSError:  # the folder itself is missing or unreadable: nothing to offer
        return ""
    close = difflib.get_close_matches(path.name, names, n=5)
    # two letters swapped (runs/demo72 for demo27) keeps every letter; difflib's ratio would
    # rank a name with one letter fewer (demo2) above it
    swapped = [c for c in close if sorted(c) == sorted(path.name)]
    best = (swapped or close or [None])[0]
    return f" Did you mean '{path.parent / best}'?" if best else ""


def raised_at(e: BaseException) -> str:
    """``file:line`` where a user's code raised ``e``: the innermost frame outside torch and importlib.

    Used to report an exception from a user's plugin or network in one line instead of a traceback.
    """
    if isinstance(e, SyntaxError):  # raised by the parser: no frame of the bad file is on the traceback
        return f"{e.filename}:{e.lineno}"
    import traceback

    import torch

    torch_dir = os.path.dirname(torch.__file__)
    frames = traceback.extract_tb(e.__traceback__)
    # torch's modules and importlib's frozen frames are where the error surfaced, not its cause
    user = [f for f in frames if not f.filename.startswith((torch_dir, "<frozen"))]
    frame = (user or frames)[-1]
    return f"{frame.filename}:{frame.lineno}"


def run_script(main: Callable[[], object]) -> NoReturn:
    """Run a script's ``main()`` as the CLI runs a command, then exit.

    For the scripts under bench/: a :class:`GanforgeError` (an unknown preset, a bad ``--set``)
    prints ``SCRIPT: error: MESSAGE`` on one line and exits 2, like the CLI and argparse do;
    anything else is a bug and keeps its traceback.
    """
    try:
        main()
    except GanforgeError as e:
        print(f"{os.path.basename(sys.argv[0])}: error: {e}", file=sys.stderr)
        sys.exit(2)
    sys.exit(0)


def say_error(message: str) -> None:
    """Print ``ganforge: error: MESSAGE`` to stderr in one write: under torchrun every rank that meets an error of its
    own says it into the same pipe, unbuffered (PYTHONUNBUFFERED), and print's two writes, the text and then its
    newline, let two ranks' lines run together on one."""
    sys.stderr.write(f"ganforge: error: {message}\n")
    sys.stderr.flush()
