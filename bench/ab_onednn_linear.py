#!/usr/bin/env python
"""Experiment: an MLP preset's Linear layers with oneDNN's matmul instead of MKL's, side by side.

    python bench/ab_onednn_linear.py PRESET [--steps 200] [--rounds 10] [--min-size 0] [--json OUT]

torch sends fp32 ``mm``/``addmm`` on the CPU to MKL. oneDNN's matmul is reachable only
through the private op ``torch.ops.mkldnn._linear_pointwise``; here a Linear computes its
forward and its input gradient with it and leaves the weight gradient to MKL (where MKL
was faster alone). Two copies of the preset's loop, identically seeded, take turns as in
``bench/ab_step.py``; B has every ``nn.Linear`` with in*out >= ``--min-size`` switched.
First the switched layer's outputs and gradients are checked against ``F.linear``'s.
"""
from __future__ import annotations

import argparse
import statistics

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ganforge.bench.train import GanforgeLoop, time_rounds
from ganforge.config import load_config
from ganforge.data import load_images
from ganforge.files import write_json
from ganforge.training.process import apply_process_settings


def _onednn(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """x @ w.T (+ b) by oneDNN; w may be a transposed view."""
    return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")


class _OneDNNLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        return _onednn(x, w, b)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        dx = _onednn(dy, w.t(), None) if need_x else None  # dy @ w
        dw = dy.t().mm(x) if need_w else None  # MKL: faster than oneDNN for these
        db = dy.sum(0) if ctx.has_bias and need_b else None
        return dx, dw, db


class OneDNNLinear(nn.Linear):
    """nn.Linear; 2-D fp32 inputs outside autocast go through oneDNN."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2 and x.dtype == torch.float32 and not torch.is_autocast_enabled("cpu"):
            return _OneDNNLinear.apply(x, self.weight, self.bias)
        return F.linear(x, self.weight, self.bias)


def switch(module: nn.Module, min_size: int) -> int:
    """Make the plain nn.Linear layers of ``module`` OneDNNLinear in place; returns how many."""
    n = 0
    for m in module.modules():
        if type(m) is nn.Linear and m.in_features * m.out_features >= min_size:
            m.__class__ = OneDNNLinear
            n += 1
    return n


def check() -> float:
    """Largest relative difference of output and gradients against F.linear (fp32)."""
    torch.manual_seed(0)
    lin = nn.Linear(784, 512)
    x = torch.randn(64, 784, requires_grad=True)
    grads = []
    for cls in (nn.Linear, OneDNNLinear):
        lin.__class__ = cls
        lin.zero_grad()
        x.grad = None
        y = lin(x)
        y.backward(torch.ones_like(y))
        grads.append([y.detach(), x.grad.clone(), lin.weight.grad.clone(), lin.bias.grad.clone()])
    return max(((a - b).abs().max() / a.abs().max()).item() for a, b in zip(*grads))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--min-size", type=int, default=0, help="switch only layers with in*out >= this")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    err = check()
    print(f"oneDNN Linear against F.linear: largest relative difference {err:.1e}")
    cfg = load_config(args.preset, [])
    apply_process_settings(cfg.train)
    images = load_images(cfg.data)
    loops = {}
    for name in ("a", "b"):
        torch.manual_seed(cfg.train.seed)
        loops[name] = GanforgeLoop(cfg, images, torch.device("cpu"))
    switched = sum(switch(m, args.min_size) for m in (loops["b"].objective.G, loops["b"].objective.D))
    for loop in loops.values():
        loop.run(10)  # warm-up
    seconds = time_rounds(loops, args.steps, args.rounds, reverse_odd_rounds=True)
    speeds = {k: [args.steps * cfg.train.batch_size / s for s in v] for k, v in seconds.items()}
    med = {k: statistics.median(v) for k, v in speeds.items()}
    result = {"preset": cfg.name, "switched_layers": switched, "relative_difference": err,
              "images_per_second": speeds, "median_mkl": round(med["a"], 1), "median_onednn": round(med["b"], 1),
              "ratio_onednn_over_mkl": round(med["b"] / med["a"], 3)}
    print(f"MKL {med['a']:.0f} img/s   oneDNN ({switched} layers) {med['b']:.0f} img/s   "
          f"ratio {result['ratio_onednn_over_mkl']}")
    if args.json:
        write_json(result, args.json)


if __name__ == "__main__":
    main()
