#!/usr/bin/env python
"""Which pass of which layer falls short of the matmul peak: forward, input and weight gradient timed apart.

    python bench/layer_passes.py PRESET [--set key=value ...] [--repeats 20] [--json OUT]

Records one training cycle's conv and linear calls (as ``ganforge bench train``'s
``layers_alone`` does), then times each distinct call's forward, input gradient and weight
gradient alone, each against the matmul peak measured in the precision the step computes in
(the best of a timing before the passes and one after).
Every pass does the forward's FLOPs, so a pass far below its siblings points at a slow kernel.
"""
from __future__ import annotations

import argparse

import torch

from ganforge.bench.ceiling import passes_alone, record_layer_calls
from ganforge.bench.measure import PeakTimings
from ganforge.bench.train import GanforgeLoop
from ganforge.config import load_config
from ganforge.data import load_images
from ganforge.errors import run_script
from ganforge.files import write_json
from ganforge.training.process import apply_process_settings


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    cfg = load_config(args.preset, args.set)
    apply_process_settings(cfg.train)
    device = torch.device("cpu")
    loop = GanforgeLoop(cfg, load_images(cfg.data), device)
    loop.run(max(2, loop.cycle))
    G, D = loop.objective.G, loop.objective.D
    calls = record_layer_calls([G, D], lambda: loop.run(loop.cycle), device)
    names = {m: f"{net_name}.{n}" for net_name, net in (("G", G), ("D", D)) for n, m in net.named_modules()}
    peaks = PeakTimings(device, loop.objective.amp_dtype or torch.float32)
    peaks.time()
    timed = [(call, count, *passes_alone(call, device, args.repeats)) for call, count in calls.items()]
    peaks.time()
    peak = peaks.best
    print(f"{args.preset}: matmul peak {peak:.0f} GFLOP/s (best of {', '.join(f'{p:.0f}' for p in peaks.samples)}); "
          "each pass as ms and fraction of the peak")
    rows = []
    for call, count, flops, seconds in timed:
        row = {"layer": names[call.module], "input": list(call.shape), "calls_per_cycle": count, "mflops": flops / 1e6,
               **{f"{k}_ms": round(s * 1e3, 3) for k, s in seconds.items()},
               **{f"{k}_of_peak": round(flops / max(s, 1e-9) / 1e9 / peak, 3) for k, s in seconds.items()}}
        rows.append(row)
        passes = "  ".join(f"{k} {s * 1e3:6.2f} ms {row[f'{k}_of_peak']:5.2f}" for k, s in seconds.items())
        print(f"{row['layer']:14s} {str(tuple(call.shape)):20s} x{count}  {flops / 1e6:7.1f} MFLOP  {passes}")
    if args.json:
        write_json({"preset": args.preset, "overrides": args.set, "matmul_peak_gflops": round(peak, 2),
                    "matmul_peak_samples_gflops": [round(p, 2) for p in peaks.samples],
                    "layers": rows}, args.json)


if __name__ == "__main__":
    run_script(main)
