#!/usr/bin/env python
"""Where a training step's time goes: torch.profiler over ganforge's step and the seed's reference loop.

    python bench/profile_train.py PRESET [--steps 20] [--set key=value ...]

Prints the top operators by self CPU time for each loop (the reference loop only
for presets that have one).
"""
from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from ganforge.bench.reference import REFERENCES
from ganforge.bench.train import GanforgeLoop
from ganforge.config import load_config
from ganforge.data import load_images
from ganforge.errors import run_script
from ganforge.nets import build_networks


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--rows", type=int, default=15)
    args = p.parse_args()
    cfg = load_config(args.preset, args.set)
    images = load_images(cfg.data)
    loops = {"ganforge": GanforgeLoop(cfg, images, torch.device("cpu"))}
    if cfg.name in REFERENCES:
        loops["reference"] = REFERENCES[cfg.name](cfg, *build_networks(cfg), images)
    for name, loop in loops.items():
        loop.run(5)  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            loop.run(args.steps)
        print(f"\n=== {name}: {cfg.name}, {args.steps} steps ===")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    run_script(main)
