"""Progress of long work besides training's steps (downloads, features, decoding, writing many images): a tqdm
bar on a terminal or in a notebook; in a log file or CI, a plain line every ``LINE_SECONDS``, where a bar's
carriage-return updates would pile up on one line."""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator

from tqdm.auto import tqdm

from .files import format_bytes

# how often work that writes to a log file (no terminal for a bar) says how far it has got
LINE_SECONDS = 30.0


def stderr_draws_bars() -> bool:
    """Whether stderr shows a tqdm bar: a terminal does, and so does a notebook (a Jupyter kernel's stderr is
    no terminal, but the notebook draws tqdm's bar, as a widget or as text)."""
    return sys.stderr.isatty() or "ipykernel" in sys.modules


def say(line: str) -> None:
    """Print ``line`` on stderr, above any bar being drawn there (a print broke a bar's line in two)."""
    tqdm.write(line, file=sys.stderr)


@contextlib.contextmanager
def reporting(what: str, total: int | None, unit: str) -> Iterator[Callable[[int], int]]:
    """Within this block, ``advance(n)`` says that ``n`` more units of ``total`` (None: not known) of the work on
    ``what`` are done, and returns how many are done in all. On a terminal a bar shows it (and goes as the block
    ends); elsewhere a line every ``LINE_SECONDS``, none for work done sooner: ``ganforge: cifar-10-python.tar.gz:
    77.6 MB of 170.5 MB (45 %)``.
    ``unit`` "B" counts bytes; another unit is named as it is (``2,000 of 10,000 images``)."""
    on_terminal = stderr_draws_bars()
    done, said_at = 0, time.monotonic()

    def so_far() -> str:
        if unit == "B":
            return format_bytes(done) + (f" of {format_bytes(total)}" if total else "")
        return f"{done:,}" + (f" of {total:,}" if total else "") + f" {unit}"

    # the bar's rate reads "12.5MB/s" for bytes, "190.00 images/s" otherwise
    with tqdm(total=total, desc=what, unit=unit if unit == "B" else f" {unit}", unit_scale=unit == "B",
              disable=not on_terminal, leave=False, dynamic_ncols=True, mininterval=0.5) as bar:
        def advance(n: int) -> int:
            nonlocal done, said_at
            done += n
            bar.update(n)
            if not on_terminal and time.monotonic() - said_at >= LINE_SECONDS:
                said_at = time.monotonic()
                share = f" ({100 * done // total} %)" if total else ""
                print(f"ganforge: {what}: {so_far()}{share}", file=sys.stderr, flush=True)
            return done

        yield advance
