#!/usr/bin/env python
"""What the step spends outside its conv and linear layers: the step timed with pieces made no-ops.

    python bench/step_overhead.py PRESET [--set key=value ...] [--steps 40] [--rounds 5] [--json OUT]

Four copies of the step, taking turns: as it is, with BatchNorm as the identity, with
BatchNorm and the activations (ReLU, LeakyReLU, Tanh) as the identity, and with the
optimizers' ``step`` doing nothing. The math changes, so this is for timing only: each
difference from the first is what that piece costs per step. torch.profiler cannot say
this on a CPU step (it overstates BatchNorm and ReLU; docs/performance.md).
"""
from __future__ import annotations

import argparse

import torch
import torch.nn as nn

from ganforge.bench.train import GanforgeLoop, time_rounds
from ganforge.config import load_config
from ganforge.data import load_images
from ganforge.errors import run_script
from ganforge.files import write_json
from ganforge.training.process import apply_process_settings

NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Tanh)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def make_loop(cfg, images, variant: str) -> GanforgeLoop:
    """A step with ``variant``'s pieces made no-ops: base, no_batchnorm, no_batchnorm_or_activations, no_optimizer."""
    loop = GanforgeLoop(cfg, images, torch.device("cpu"))
    o = loop.objective
    gone = {"base": (), "no_batchnorm": NORMS, "no_batchnorm_or_activations": NORMS + ACTIVATIONS}.get(variant, ())
    for net in (o.G, o.D):
        for m in net.modules():
            if gone and isinstance(m, gone):
                m.forward = _identity
    if variant == "no_optimizer":
        for opt in (o.opt_g, o.opt_d):
            opt.step = lambda *a, **k: None
    return loop


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    cfg = load_config(args.preset, args.set)
    apply_process_settings(cfg.train)
    images = load_images(cfg.data)
    variants = ("base", "no_batchnorm", "no_batchnorm_or_activations", "no_optimizer")
    loops = {v: make_loop(cfg, images, v) for v in variants}
    for loop in loops.values():
        loop.run(20)  # warm-up
    seconds = time_rounds(loops, args.steps, args.rounds)  # the variants take turns, in the same order each round
    ms = {v: [s / args.steps * 1e3 for s in v_seconds] for v, v_seconds in seconds.items()}
    median = {v: sorted(t)[len(t) // 2] for v, t in ms.items()}
    for v in variants:
        print(f"{v:28s} {median[v]:6.2f} ms/step  ({median['base'] - median[v]:+.2f} ms against base)")
    if args.json:
        write_json({"preset": args.preset, "overrides": args.set, "steps": args.steps, "rounds": args.rounds,
                    "ms_per_step": {v: round(t, 3) for v, t in median.items()}, "rounds_ms": ms}, args.json)


if __name__ == "__main__":
    run_script(main)
