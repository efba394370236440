#!/usr/bin/env python
"""`ganforge bench compare`, with each round tagged by how fast the shared host was at the time.

    python bench/compare_by_host_state.py PRESET [--steps 100] [--rounds 30] [--set key=value] [--json OUT]

Before each turn a fixed probe runs: 100 forwards of a 64-row MLP with fixed random
weights (100-128-256-512-1024-784, about 6 MB of fp32 weights: more than the L2 caches
hold, less than the L3). It does the same work every time, so its time says how much of the
machine the process had just then: on a guest that shares its L3 and memory with other tenants,
the probe slows when they are busy. Rounds are then grouped by the probe: "quiet" within 10 %
of the fastest probe of the run, "contended" at least 25 % slower than it. The ratio of each
group is the median of its rounds' ratios (ganforge's images/second over the reference's, in
the same round). The turns alternate ABBA as in `ganforge bench compare`.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from ganforge.bench.compare import build_loops
from ganforge.files import write_json

QUIET, CONTENDED = 1.10, 1.25  # probe time over the run's fastest probe


def make_probe():
    """A function that times the fixed MLP forwards and returns milliseconds per forward."""
    gen = torch.Generator().manual_seed(0)
    dims = [100, 128, 256, 512, 1024, 784]
    weights = [torch.randn(o, i, generator=gen) * 0.05 for i, o in zip(dims, dims[1:])]
    x = torch.randn(64, dims[0], generator=gen)

    def probe(n: int = 100) -> float:
        t = time.perf_counter()
        for _ in range(n):
            h = x
            for w in weights:
                h = torch.tanh(h @ w.T)
        return (time.perf_counter() - t) / n * 1e3

    probe(20)  # warm-up
    return probe


def group_ratio(rows: list[dict], keep) -> dict:
    """Rounds whose probe ratio passes ``keep``: how many, and the median of their speedups."""
    picked = [r["speedup"] for r in rows if keep(r["probe_over_fastest"])]
    return {"rounds": len(picked), "median_speedup": round(statistics.median(picked), 3) if picked else None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset")
    p.add_argument("--steps", type=int, default=100, help="steps per turn")
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--set", action="append", default=[], help="override for ganforge's side, as in bench compare")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    cfg, loops = build_loops(args.preset, args.set)
    probe = make_probe()
    rows = []
    for r in range(args.rounds):
        order = list(loops.items())
        ips, probes = {}, []
        for name, loop in order[::-1] if r % 2 else order:
            probes.append(probe())
            t = time.perf_counter()
            loop.run(args.steps)
            ips[name] = args.steps * cfg.train.batch_size / (time.perf_counter() - t)
        rows.append({"probe_ms": round(statistics.mean(probes), 3),
                     "ganforge_images_per_second": round(ips["ganforge"], 1),
                     "reference_images_per_second": round(ips["reference"], 1),
                     "speedup": round(ips["ganforge"] / ips["reference"], 3)})
        print(rows[-1], flush=True)
    fastest = min(r["probe_ms"] for r in rows)
    for row in rows:
        row["probe_over_fastest"] = round(row["probe_ms"] / fastest, 3)
    out = {"preset": cfg.name, "overrides": args.set, "steps": args.steps, "rounds": args.rounds,
           "fastest_probe_ms": fastest,
           "quiet": group_ratio(rows, lambda q: q <= QUIET),
           "contended": group_ratio(rows, lambda q: q >= CONTENDED),
           "all": group_ratio(rows, lambda q: True),
           "per_round": rows}
    print(f"{cfg.name}: median speedup {out['all']['median_speedup']} over {args.rounds} rounds; "
          f"quiet host {out['quiet']['median_speedup']} ({out['quiet']['rounds']} rounds), "
          f"contended {out['contended']['median_speedup']} ({out['contended']['rounds']} rounds)")
    if args.json:
        write_json(out, args.json)


if __name__ == "__main__":
    main()
