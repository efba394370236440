#!/usr/bin/env python
"""`ganforge bench compare`, with each round tagged by how fast the shared host was at the time.

    python bench/compare_by_host_state.py PRESET [--steps 100] [--rounds 30] [--set key=value]
        [--quiet-probe-ms MS] [--json OUT]

Before each turn the fixed probe of bench/host_probe.py runs (the same work every time; its
time says how busy the shared host was just then), and rounds are grouped by it into "quiet"
and "contended". The ratio of each group is the median of its rounds' ratios (ganforge's
images/second over the reference's, in the same round). The turns alternate ABBA as in
`ganforge bench compare`.
"""
from __future__ import annotations

import argparse
import statistics

from ganforge.bench.compare import build_loops
from ganforge.bench.measure import mlp_probe
from ganforge.bench.train import time_rounds
from ganforge.errors import run_script

from host_probe import group_by_probe, probe_ms_arg, report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset")
    p.add_argument("--steps", type=int, default=100, help="steps per turn")
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--set", action="append", default=[], help="override for ganforge's side, as in bench compare")
    p.add_argument("--quiet-probe-ms", type=probe_ms_arg, default=None,
                   help="the probe's time on a quiet host (default: the run's fastest probe)")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    cfg, loops = build_loops(args.preset, args.set)
    probe = mlp_probe()
    probes: dict[str, list[float]] = {name: [] for name in loops}
    seconds = time_rounds(loops, args.steps, args.rounds, reverse_odd_rounds=True,
                          before_turn=lambda name: probes[name].append(probe()))
    rows = []
    for r in range(args.rounds):
        ips = {name: args.steps * cfg.train.batch_size / s[r] for name, s in seconds.items()}
        rows.append({"probe_ms": round(statistics.mean(v[r] for v in probes.values()), 3),
                     "ganforge_images_per_second": round(ips["ganforge"], 1),
                     "reference_images_per_second": round(ips["reference"], 1),
                     "speedup": round(ips["ganforge"] / ips["reference"], 3)})
    out = {"preset": cfg.name, "overrides": args.set, "steps": args.steps, "rounds": args.rounds,
           **group_by_probe(rows, ["speedup"], args.quiet_probe_ms), "per_round": rows}
    report(out, "speedup", "speedup", args.json)


if __name__ == "__main__":
    run_script(main)
