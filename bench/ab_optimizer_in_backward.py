#!/usr/bin/env python
"""Experiment: Adam applied inside backward against ganforge's step as it is.

    python bench/ab_optimizer_in_backward.py PRESET [--steps 200] [--rounds 8] [--min-numel 65536]

B steps each weight of at least ``--min-numel`` elements as soon as its gradient is
accumulated (``Tensor.register_post_accumulate_grad_hook``, one fused Adam per weight),
while the gradient is still in cache; the small tensors keep one fused Adam step at the
end. Same arithmetic as A. The two loops alternate in one process (A B, B A, ...);
the ratio of the medians is the figure to quote.
"""
from __future__ import annotations

import argparse
import statistics

import torch

from ganforge.bench.train import GanforgeLoop, time_rounds
from ganforge.config import OptimizerConfig, load_config
from ganforge.data import load_images
from ganforge.objective import build_optimizer
from ganforge.training.process import apply_process_settings


def step_in_backward(module: torch.nn.Module, cfg: OptimizerConfig, min_numel: int) -> torch.optim.Optimizer:
    """Hook a per-weight Adam onto the large weights; return the optimizer for the rest."""
    for p in (p for p in module.parameters() if p.numel() >= min_numel):
        opt = build_optimizer([p], cfg)

        def hook(_: torch.Tensor, opt: torch.optim.Optimizer = opt) -> None:
            opt.step()
            opt.zero_grad(set_to_none=True)

        p.register_post_accumulate_grad_hook(hook)
    return build_optimizer([p for p in module.parameters() if p.numel() < min_numel], cfg)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--min-numel", type=int, default=65536)
    args = p.parse_args()
    cfg = load_config(args.preset, [])
    apply_process_settings(cfg.train)
    images = load_images(cfg.data)
    loops = {name: GanforgeLoop(cfg, images, torch.device("cpu")) for name in "ab"}
    ob = loops["b"].objective
    ob.opt_g = step_in_backward(ob.G, cfg.optim_g, args.min_numel)
    ob.opt_d = step_in_backward(ob.D, cfg.optim_d, args.min_numel)
    for loop in loops.values():
        loop.run(20)  # warm-up
    seconds = time_rounds(loops, args.steps, args.rounds, reverse_odd_rounds=True)
    speeds = {name: [args.steps * cfg.train.batch_size / s for s in v] for name, v in seconds.items()}
    med = {name: statistics.median(v) for name, v in speeds.items()}
    print({name: [round(s) for s in v] for name, v in speeds.items()})
    print(f"A (as is) {med['a']:.0f} img/s   B (Adam in backward) {med['b']:.0f} img/s   B/A = {med['b'] / med['a']:.3f}")


if __name__ == "__main__":
    main()
