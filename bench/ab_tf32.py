#!/usr/bin/env python
"""What TF32 buys on a GPU: one preset's training step under three TF32 settings, taking turns.

    python bench/ab_tf32.py PRESET [--set key=value ...] [--steps 200] [--rounds 6] [--json OUT]

The settings are torch's process-wide flags, switched before each turn of the same loop:
``ieee`` (no TF32 anywhere: true fp32, as StyleGAN2-ADA trains by default), ``torch``
(torch's defaults: cuDNN convolutions in TF32, matrix multiplies in fp32; what ganforge
trains with) and ``tf32`` (matrix multiplies in TF32 too). Only meaningful on an Ampere or
newer GPU in ``train.precision=fp32``.
"""
from __future__ import annotations

import argparse
import statistics

import torch

from ganforge.bench.train import GanforgeLoop, time_rounds
from ganforge.config import load_config
from ganforge.data import load_images
from ganforge.errors import run_script
from ganforge.files import write_json
from ganforge.training.loop import pick_device
from ganforge.training.process import apply_process_settings

# (cuDNN convolutions in TF32, matrix multiplies in TF32)
SETTINGS = {"ieee": (False, False), "torch": (True, False), "tf32": (True, True)}


class Flagged:
    """The same loop, run with one TF32 setting."""

    def __init__(self, loop: GanforgeLoop, conv: bool, matmul: bool) -> None:
        self.loop, self.conv, self.matmul = loop, conv, matmul

    def run(self, n: int) -> float:
        torch.backends.cudnn.allow_tf32 = self.conv
        torch.backends.cuda.matmul.allow_tf32 = self.matmul
        return self.loop.run(n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    print("torch defaults: cudnn.allow_tf32", torch.backends.cudnn.allow_tf32,
          "matmul.allow_tf32", torch.backends.cuda.matmul.allow_tf32)
    cfg = load_config(args.preset, args.set)
    apply_process_settings(cfg.train)  # threads and malloc, as training sets them
    device = pick_device(cfg.train.device)
    loop = GanforgeLoop(cfg, load_images(cfg.data), device)
    loops = {name: Flagged(loop, *flags) for name, flags in SETTINGS.items()}
    for flagged in loops.values():
        flagged.run(10)  # warm-up: cuDNN picks its algorithms per setting
    seconds = time_rounds(loops, args.steps, args.rounds, reverse_odd_rounds=True)
    med = {name: statistics.median(args.steps * cfg.train.batch_size / s for s in v) for name, v in seconds.items()}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    result = {"preset": args.preset, "overrides": args.set, "device": name,
              "median_images_per_second": {k: round(v, 1) for k, v in med.items()},
              "ratio_over_ieee": {k: round(v / med["ieee"], 3) for k, v in med.items()}}
    print(result)
    if args.json:
        write_json(result, args.json)


if __name__ == "__main__":
    run_script(main)
