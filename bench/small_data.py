#!/usr/bin/env python
"""Augmentation on a small dataset: test-set fmnist-FID of dcgan-fmnist trained on the first N Fashion-MNIST
training images, without augmentation, with DiffAugment on every image, and with ADA's adaptive probability.

    python bench/small_data.py [--images 200] [--steps 3000] [--variant "NAME=KEY=V;KEY=V" ...] [--json OUT]

The N images are written as PNGs and trained on as an image folder (``data.name=folder``); each variant
trains the same number of steps from the same seed, then 5,000 of its samples (G_ema) are scored against
the Fashion-MNIST test split, which training never saw: a G that copies its N images scores badly there.
One run per variant: the spread between runs of one variant is a few FID points at these sizes.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

AUGMENT = "objective.diffaugment=color,translation,cutout"
VARIANTS = {"none": "", "diffaugment": AUGMENT, "ada": f"{AUGMENT};objective.ada_target=0.6;objective.ada_kimg=100"}


def ganforge(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "ganforge", *args], stdout=subprocess.DEVNULL)
    if done.returncode:  # the CLI has printed why; no traceback of ours on top
        sys.exit(done.returncode)


def write_images(n: int, folder: Path) -> None:
    """The first ``n`` Fashion-MNIST training images as PNGs in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ganforge("data", "fashion-mnist", "--num", str(n), "--out", str(folder / "images.npy"))
    for i, image in enumerate(np.load(folder / "images.npy")):
        Image.fromarray(image[0]).save(folder / f"{i:05d}.png")
    (folder / "images.npy").unlink()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--num", type=int, default=5000, help="samples scored against the test split")
    p.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=V;KEY=V",
                   help=f"repeatable; default: {', '.join(f'{k}={v}' for k, v in VARIANTS.items())}")
    p.add_argument("--out", default="runs/small_data")
    p.add_argument("--json", default="small_data.json")
    args = p.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant) if args.variant else VARIANTS
    out = Path(args.out)
    data = out / f"data_{args.images}"
    if not data.is_dir():
        write_images(args.images, data)
    results = {}
    for name, sets in variants.items():
        run = out / name
        overrides = [kv for kv in sets.split(";") if kv]  # a value may hold commas
        ganforge("train", "dcgan-fmnist", "--out", str(run), "--force", "--set", "data.name=folder",
                 "--set", f"data.root={data}", "--set", f"train.max_steps={args.steps}", "--set", "train.max_seconds=0",
                 "--set", "log.progress=false", *(a for kv in overrides for a in ("--set", kv)))
        ganforge("sample", str(run), "--num", str(args.num), "--out", str(run / "samples.npy"))
        ganforge("evaluate", str(run / "samples.npy"), "--metrics", "fid", "--ref", "test", "--num", str(args.num),
                 "--json", str(run / "fid_test.json"))
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        last = [r for r in records if "step" in r and "loss_d" in r][-1]
        fid = json.loads((run / "fid_test.json").read_text())["fid"]
        ps = [round(r["ada_p"], 3) for r in records if "ada_p" in r]
        results[name] = {"overrides": overrides, "fid_test": round(fid, 2), "seconds": last["seconds"],
                         "ada_p": ps[-10:]}
        print(f"{name:14s} test FID {results[name]['fid_test']:7.2f}  {last['seconds']:.0f} s"
              + (f"  final p {results[name]['ada_p'][-1]}" if results[name]["ada_p"] else ""), flush=True)
    Path(args.json).write_text(json.dumps({"images": args.images, "steps": args.steps, "num": args.num,
                                           "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
