#!/usr/bin/env python
"""`ganforge bench train`'s MFU, per round of steps, with each round tagged by how fast the shared host was.

    python bench/mfu_by_host_state.py PRESET [--steps 15] [--rounds 50] [--set key=value]
        [--quiet-probe-ms MS] [--json OUT]

The preset's training step runs on the CPU in rounds of ``--steps`` steps, each after the fixed
probe of bench/host_probe.py. A round's MFU is its images/second times the step's FLOPs per
image (counted over one cycle with ``torch.utils.flop_counter``, as ``bench train`` counts
them) over the matmul peak timed in the step's precision in the same process: the best of the
peaks timed before each round, since one timed in a slow spell reads low. Rounds are grouped
by the probe into "quiet" and "contended", and each group's figure is the median of its
rounds' MFU.
"""
from __future__ import annotations

import argparse

import torch

from ganforge.bench.measure import PeakTimings, count_flops, mlp_probe
from ganforge.bench.train import GanforgeLoop, time_rounds
from ganforge.config import load_config
from ganforge.errors import run_script
from ganforge.training.process import apply_process_settings

from host_probe import group_by_probe, probe_ms_arg, report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset")
    p.add_argument("--steps", type=int, default=15, help="steps per round (rounded up to whole D/G cycles)")
    p.add_argument("--rounds", type=int, default=50)
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--quiet-probe-ms", type=probe_ms_arg, default=None,
                   help="the probe's time on a quiet host (default: the run's fastest probe)")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    cfg = load_config(args.preset, args.set)
    apply_process_settings(cfg.train)
    cpu = torch.device("cpu")  # the probe measures the host's CPU share, so the step runs there too
    loop = GanforgeLoop(cfg, None, cpu)
    cycle = loop.cycle
    loop.run(max(10, cycle))  # warm-up
    with count_flops() as counter:
        loop.run(cycle)
    flops_per_image = counter.get_total_flops() / (cycle * cfg.train.batch_size)
    steps = -(-args.steps // cycle) * cycle
    probe = mlp_probe()
    probes: list[float] = []
    peaks = PeakTimings(cpu, loop.objective.amp_dtype or torch.float32, repeats=2)

    def before_round(_) -> None:
        probes.append(probe())
        peaks.time()

    seconds = time_rounds({"step": loop}, steps, args.rounds, before_turn=before_round)["step"]
    peak = peaks.best
    rows = []
    for probe_ms, s in zip(probes, seconds):
        ips = steps * cfg.train.batch_size / s
        rows.append({"probe_ms": round(probe_ms, 3), "images_per_second": round(ips, 1),
                     "mfu": round(flops_per_image * ips / 1e9 / peak, 4)})
    out = {"preset": cfg.name, "overrides": args.set, "precision": loop.objective.precision, "steps": steps,
           "rounds": args.rounds, "flops_per_image": int(flops_per_image), "matmul_peak_gflops": round(peak, 2),
           **group_by_probe(rows, ["mfu"], args.quiet_probe_ms), "per_round": rows}
    report(out, "mfu", "MFU", args.json)


if __name__ == "__main__":
    run_script(main)
