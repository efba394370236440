#!/usr/bin/env python
"""EXPERIMENT (not adopted): dcgan-fmnist's step with oneDNN's conv weight gradients against one GEMM over patches.

    python bench/ab_patch_gemm.py [--steps 30] [--rounds 10] [--json OUT]

Two loops of the default preset in one process, the second with its convs (all but D's
one-channel input conv) swapped for ``nets.patch_gemm``'s classes; they take turns A B, B A,
... and the ratio of the medians is the figure. Also checks the swapped layers' gradients
against torch's in float64 first.
"""
from __future__ import annotations

import argparse
import statistics

import torch
import torch.nn as nn

from ganforge.bench.train import GanforgeLoop, time_rounds
from ganforge.config import load_config
from ganforge.data import load_images
from ganforge.files import write_json
from ganforge.nets.patch_gemm import PatchGemmConv2d, PatchGemmConvTranspose2d, _PatchGemmConv
from ganforge.training.process import apply_process_settings


def check_gradients() -> float:
    """Largest relative error of the GEMM path's gradients against torch's, in float64."""
    torch.manual_seed(0)
    worst = 0.0
    for layer, shape, transposed in ((nn.Conv2d(6, 8, 4, 2, 1), (2, 6, 10, 10), False),
                                     (nn.ConvTranspose2d(8, 6, 4, 2, 1), (2, 8, 5, 5), True),
                                     (nn.ConvTranspose2d(8, 3, 5, 2, 2, output_padding=1), (2, 8, 4, 4), True)):
        layer = layer.double()
        x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
        y = layer(x)
        g = torch.randn_like(y)
        params = [x, layer.weight, layer.bias]
        ref = torch.autograd.grad(y, params, g)
        out = _PatchGemmConv.apply(x, layer.weight, layer.bias, layer.stride, layer.padding,
                                   layer.output_padding if transposed else (0, 0), transposed)
        got = torch.autograd.grad(out, params, g)
        worst = max(worst, *(float((a - b).abs().max() / b.abs().max()) for a, b in zip(got, ref)))
    return worst


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    error = check_gradients()
    cfg = load_config("dcgan-fmnist", [])
    apply_process_settings(cfg.train)
    images = load_images(cfg.data)
    loops = {"onednn": GanforgeLoop(cfg, images, torch.device("cpu")),
             "patch_gemm": GanforgeLoop(cfg, images, torch.device("cpu"))}
    for net in (loops["patch_gemm"].objective.G, loops["patch_gemm"].objective.D):
        for m in net.modules():
            if type(m) is nn.Conv2d and m.in_channels > 1:
                m.__class__ = PatchGemmConv2d
            elif type(m) is nn.ConvTranspose2d:
                m.__class__ = PatchGemmConvTranspose2d
    for loop in loops.values():
        loop.run(10)  # warm-up
    seconds = time_rounds(loops, args.steps, args.rounds, reverse_odd_rounds=True)
    speeds = {k: [round(args.steps * cfg.train.batch_size / s, 1) for s in v] for k, v in seconds.items()}
    ratio = statistics.median(speeds["patch_gemm"]) / statistics.median(speeds["onednn"])
    result = {"gradient_relative_error_float64": error, "images_per_second": speeds, "ratio": round(ratio, 3)}
    print(result)
    if args.json:
        write_json(result, args.json)


if __name__ == "__main__":
    main()
