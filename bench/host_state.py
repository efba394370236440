#!/usr/bin/env python
"""What else changes when the shared host slows: a time series of measures that tell the causes apart.

    python bench/host_state.py [--seconds 300] [--preset PRESET [--steps 50] [--set key=value]]
        [--quiet-probe-ms MS] [--json OUT]

Every sample times, one after the other (about a second in all):

* ``probe_ms``: bench/host_probe.py's probe on two threads, the one the host-state scripts group by;
* ``probe_cpu<N>_ms``: the same probe on one thread pinned to each CPU the process may use;
* ``copy_ms``: a 64 MB tensor copy on two threads (memory bandwidth beyond the L3);
* ``matmul_gflops``: the 2048-cube matrix multiply in fp32, best of 3, on two threads;
* with ``--preset``: ganforge's step of that preset on two threads and on one (images/second).

The samples are grouped by ``probe_ms`` as bench/compare_by_host_state.py groups its rounds, and
the JSON holds each group's median of every measure. If a slow spell were other tenants
filling the shared L3 or memory, the one-thread probes and the copy would slow with it; if it
is the two virtual CPUs losing each other (placed apart, or one of them shared), only work
split finely between the two threads slows.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from ganforge.bench.measure import matmul_peak_gflops, mlp_probe
from ganforge.errors import run_script
from ganforge.files import write_json

from host_probe import group_by_probe, probe_ms_arg


def copy_ms(src: torch.Tensor, dst: torch.Tensor, repeats: int = 5) -> float:
    """Milliseconds per ``dst.copy_(src)``, the mean of ``repeats``."""
    t = time.perf_counter()
    for _ in range(repeats):
        dst.copy_(src)
    return (time.perf_counter() - t) / repeats * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=300, help="how long to sample")
    p.add_argument("--preset", default=None, help="also time this preset's ganforge step on two threads and on one")
    p.add_argument("--steps", type=int, default=50, help="steps per timing of the preset")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--quiet-probe-ms", type=probe_ms_arg, default=None,
                   help="the probe's time on a quiet host (default: the run's fastest probe)")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    cpus = sorted(os.sched_getaffinity(0))[:4]  # Linux; four are plenty to see one of them differ
    loop = None
    if args.preset:
        from ganforge.bench.train import GanforgeLoop
        from ganforge.config import load_config
        from ganforge.training.process import apply_process_settings

        cfg = load_config(args.preset, args.set)
        apply_process_settings(cfg.train)
        loop = GanforgeLoop(cfg, None, torch.device("cpu"))  # the host's CPUs are what is measured
        loop.run(max(10, loop.cycle))  # warm-up
        steps = -(-args.steps // loop.cycle) * loop.cycle
    threads = max(2, torch.get_num_threads())
    probe = mlp_probe()
    big, out_big = torch.randn(16 * 2 ** 20), torch.empty(16 * 2 ** 20)
    rows: list[dict] = []
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        torch.set_num_threads(threads)
        row = {"probe_ms": round(probe(50), 3), "copy_ms": round(copy_ms(big, out_big), 3),
               "matmul_gflops": round(matmul_peak_gflops(torch.device("cpu"), repeats=3), 1)}
        if loop is not None:
            for n in (threads, 1):
                torch.set_num_threads(n)
                t = time.perf_counter()
                loop.run(steps)
                row[f"step_{n}t_images_per_second"] = round(steps * cfg.train.batch_size / (time.perf_counter() - t), 1)
        torch.set_num_threads(1)
        for cpu in cpus:
            os.sched_setaffinity(0, {cpu})
            row[f"probe_cpu{cpu}_ms"] = round(probe(30), 3)
        os.sched_setaffinity(0, cpus)
        rows.append(row)
    torch.set_num_threads(threads)
    measures = list(rows[0])  # the probe first, then every other measure
    out = {"preset": args.preset or "host", "overrides": args.set, "threads": threads, "cpus": cpus,
           **group_by_probe(rows, measures, args.quiet_probe_ms), "per_sample": rows}
    for name in ("quiet", "contended"):
        print(f"{name} ({out[name]['rounds']} samples): "
              + ", ".join(f"{k} {out[name][f'median_{k}']}" for k in measures))
    if args.json:
        write_json(out, args.json)


if __name__ == "__main__":
    run_script(main)
