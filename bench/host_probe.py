"""Benchmark rounds grouped by how fast the shared host was at the time, by a fixed probe.

The probe, ``ganforge.bench.measure.mlp_probe``, is 100 forwards of a 64-row MLP with fixed
random weights (100-128-256-512-1024-784, about 6 MB of fp32 weights: more than the L2 caches
hold, less than the L3), on the process's threads. It does the same work every time, so its
time says how much of the machine the process had just then. On this project's shared hosts it
slows when the guest's two CPUs are placed apart (bench/host_state.py; docs/performance.md,
"What a slow spell is"): work split finely between threads slows then, and one-thread work
does not.
A round is "quiet" when its probe is within 10 % of the quiet host's probe time, "contended"
when it is at least 25 % slower. That time is the run's fastest probe unless the caller gives
it (a run that was contended throughout has no quiet round to measure it by).

Used by bench/compare_by_host_state.py, bench/mfu_by_host_state.py and bench/host_state.py.
"""
from __future__ import annotations

import argparse
import statistics

from ganforge.files import write_json

QUIET, CONTENDED = 1.10, 1.25  # probe time over the quiet host's probe time


def probe_ms_arg(text: str) -> float:
    """argparse type of ``--quiet-probe-ms``: a time in milliseconds, above zero."""
    try:
        ms = float(text)
    except ValueError:
        ms = float("nan")
    if not ms > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time: give the probe's milliseconds on a quiet host, "
                                         "e.g. 1.51")
    return ms


def group_by_probe(rows: list[dict], values: list[str], quiet_probe_ms: float | None = None) -> dict:
    """Add ``probe_over_quiet`` to each row (each has ``probe_ms``) and summarise ``values`` per group.

    Returns quiet_probe_ms, fastest_probe_ms, and for "quiet", "contended" and "all": how many
    rows, and for each of ``values`` the median over them (None for an empty group).
    """
    fastest = min(r["probe_ms"] for r in rows)
    quiet_ms = quiet_probe_ms or fastest
    for row in rows:
        row["probe_over_quiet"] = round(row["probe_ms"] / quiet_ms, 3)
    groups = {"quiet": lambda q: q <= QUIET, "contended": lambda q: q >= CONTENDED, "all": lambda q: True}
    out: dict = {"quiet_probe_ms": quiet_ms, "fastest_probe_ms": fastest}
    for name, keep in groups.items():
        picked = [r for r in rows if keep(r["probe_over_quiet"])]
        out[name] = {"rounds": len(picked)}
        for value in values:
            out[name][f"median_{value}"] = round(statistics.median(r[value] for r in picked), 3) if picked else None
    return out


def report(out: dict, value: str, label: str, json_out: str | None) -> None:
    """Print one line with the groups' medians of ``value`` (``label`` names it) and write ``out`` as JSON."""
    groups = {name: out[name] for name in ("all", "quiet", "contended")}
    print(f"{out['preset']}: median {label} {groups['all'][f'median_{value}']} over {groups['all']['rounds']} rounds; "
          + ", ".join(f"{'quiet host' if name == 'quiet' else name} {g[f'median_{value}']} ({g['rounds']} rounds)"
                      for name, g in groups.items() if name != "all"))
    if json_out:
        write_json(out, json_out)
