#!/usr/bin/env python
"""Calibration table for docs/metrics.md: how each metric reacts to known failures, with fmnist features.

    python scripts/calibrate_metrics.py [--num 10000] [--features fmnist]

Reference: the 10,000 Fashion-MNIST test images. Every case is built from the
train split, so no case shares images with the reference:
  floor        10,000 real train images (what a perfect generator would score)
  noise        uniform noise
  blur         real train images, Gaussian blur (sigma 1.5 px)
  3 classes    real train images of classes 0-2 only (mode collapse)
  10 images    10 real train images, each repeated 1,000 times (memorization / collapse)
Prints a markdown table.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.config import DataConfig
from ganforge.data import load_images
from ganforge.data.idx import IDX_SETS, read_idx
from ganforge.metrics.evaluate import METRICS, array_batches, evaluate_images


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = int(3 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = (k / k.sum())
    x = images.float()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1))
    return x.round().clamp(0, 255).to(torch.uint8)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num", type=int, default=10000)
    p.add_argument("--features", default="fmnist")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    n = args.num
    g = torch.Generator().manual_seed(args.seed)
    train = load_images(DataConfig(name="fashion-mnist"))
    labels_file = Path(IDX_SETS["fashion-mnist"]["debian"]) / "train-labels-idx1-ubyte.gz"
    labels = torch.from_numpy(read_idx(labels_file).astype(np.int64))
    pick = torch.randperm(len(train), generator=g)
    three = pick[(labels[pick] < 3)][:n]
    cases = {
        "floor: real train vs real test": train[pick[:n]],
        "uniform noise": torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8),
        "blurred real (sigma 1.5 px)": gaussian_blur(train[pick[:n]], 1.5),
        "3 classes only (mode collapse)": train[three],
        "10 images x 1,000 copies": train[pick[:10]].repeat(n // 10, 1, 1, 1),  # tiled, as samples come
    }
    ref = DataConfig(name="fashion-mnist", split="test")
    header = "| case | FID | KID x1e3 | IS | precision | recall | density | coverage | SWD x1e3 |"
    print(header + "\n|" + "---|" * 9)
    for name, images in cases.items():
        r = evaluate_images(array_batches(images), len(images), ref, METRICS, args.features, seed=args.seed)
        print(f"| {name} | {r['fid']:.3f} | {1e3 * r['kid']:.3f} | {r['is']:.2f} | {r['precision']:.3f} | "
              f"{r['recall']:.3f} | {r['density']:.3f} | {r['coverage']:.3f} | {r['swd']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
