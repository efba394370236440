#!/usr/bin/env python
"""A transposed conv (k4 s2 p1) computed as one 2x2 conv with four output phases, against torch's ConvTranspose2d.

    python bench/ab_convt_phases.py [--batch 64] [--rounds 5] [--json OUT]

Output pixel (2m+a, 2n+b) of a k4 s2 p1 transposed conv reads a 2x2 window of the input,
with taps (3, 1) for phase 0 and (2, 0) for phase 1. So one ordinary 2x2 conv on the input
padded by 1, with 4 x Cout output channels (the four phases' weights), computes every phase
on an (H+1) x (W+1) grid, and each phase is a shifted H x W crop of it. The GEMMs get 4x the
output channels, the idea for the narrow layers of the width-16 default. Timed forward and
backward (input and weight gradients) in channels_last, on G's two layers of dcgan-fmnist.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganforge.files import write_json

TAPS = ((3, 1), (2, 0))  # kernel rows (or columns) that phase 0 / 1 applies to inputs m-1+p, p = 0, 1


def convt_as_phases(x: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
    """ConvTranspose2d(k4, s2, p1, no bias) with weight ``wt`` (Cin, Cout, 4, 4), via one 2x2 conv."""
    cout, (h, w) = wt.shape[1], x.shape[2:]
    w4 = torch.cat([wt[:, :, TAPS[a]][:, :, :, TAPS[b]].transpose(0, 1) for a in range(2) for b in range(2)])
    y = F.conv2d(x, w4, padding=1).view(x.shape[0], 2, 2, cout, h + 1, w + 1)
    rows = [torch.stack([y[:, a, b, :, a:a + h, b:b + w] for b in range(2)], -1) for a in range(2)]
    return torch.stack(rows, -3).reshape(x.shape[0], cout, 2 * h, 2 * w)


def time_pass(fn, x, weight, grad, rounds: int, reps: int = 20) -> float:
    """Median ms of forward + backward of ``fn``."""
    def once():
        x.grad = weight.grad = None
        fn().backward(grad)
    for _ in range(5):
        once()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            once()
        times.append((time.perf_counter() - t) / reps * 1e3)
    return sorted(times)[len(times) // 2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    rows = []
    for cin, cout, side in ((64, 32, 7), (32, 16, 14)):  # dcgan-fmnist's G at base width 16
        x = torch.randn(args.batch, cin, side, side).contiguous(memory_format=torch.channels_last).requires_grad_()
        layer = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
        ref = layer(x)
        err = (ref - convt_as_phases(x, layer.weight)).abs().max().item()
        grad = torch.randn_like(ref).contiguous(memory_format=torch.channels_last)
        torch_ms = time_pass(lambda: layer(x), x, layer.weight, grad, args.rounds)
        phases_ms = time_pass(lambda: convt_as_phases(x, layer.weight), x, layer.weight, grad, args.rounds)
        rows.append({"layer": f"{cin}->{cout} at {side}x{side}", "max_abs_difference": err,
                     "conv_transpose_ms": round(torch_ms, 3), "phases_ms": round(phases_ms, 3),
                     "speedup": round(torch_ms / phases_ms, 3)})
        print(f"{rows[-1]['layer']}: ConvTranspose2d {torch_ms:.2f} ms, phases {phases_ms:.2f} ms "
              f"({torch_ms / phases_ms:.2f}x), max difference {err:.1e}")
    if args.json:
        write_json({"batch": args.batch, "threads": torch.get_num_threads(), "layers": rows}, args.json)


if __name__ == "__main__":
    main()
