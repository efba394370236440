#!/usr/bin/env python
"""fmnist-FID after 2, 5 and 10 minutes of training, for the default and the two seed MLP presets.

    python bench/quality_vs_time.py [--budgets 2,5,10] [--presets dcgan-fmnist,...] [--json OUT]

Each preset trains in its own run folder with ``train.max_seconds`` set to the
first budget, is evaluated (10,000 samples of the sampling generator vs 10,000
Fashion-MNIST train images, fmnist features), then resumes to the next budget.
A resume continues the exact same run, so the figures are those of one
uninterrupted run read at each budget; evaluation time is not training time.
Run it on an otherwise idle machine: the budgets are wall-clock seconds.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

PRESETS = ("dcgan-fmnist", "mlp-gan-fmnist", "mmengine-gan-fmnist")


def ganforge(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "ganforge", *args], stdout=subprocess.DEVNULL)
    if done.returncode:  # the CLI has printed why (a bad preset or --set exits 2); no traceback of ours on top
        sys.exit(done.returncode)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budgets", default="2,5,10", help="minutes, ascending")
    p.add_argument("--presets", default=",".join(PRESETS))
    p.add_argument("--out", default="runs/quality_vs_time")
    p.add_argument("--num", type=int, default=10000)
    p.add_argument("--json", default="quality_vs_time.json")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="overrides for every preset")
    args = p.parse_args()
    budgets = [float(b) for b in args.budgets.split(",")]
    results: dict[str, dict[str, float]] = {}
    for preset in args.presets.split(","):
        run = Path(args.out) / preset
        results[preset] = {}
        for i, minutes in enumerate(budgets):
            ganforge("train", preset, "--out", str(run), "--resume" if i else "--force",
                     "--set", f"train.max_seconds={minutes * 60:g}", "--set", "train.max_steps=0",
                     "--set", "train.max_epochs=0", "--set", "log.progress=false",
                     *(a for kv in args.set for a in ("--set", kv)))
            out = run / f"eval_{minutes:g}min.json"
            ganforge("evaluate", str(run), "--metrics", "fid", "--num", str(args.num), "--json", str(out))
            fid = json.loads(out.read_text())["fid"]
            results[preset][f"{minutes:g}"] = round(fid, 2)
            print(f"{preset:22s} {minutes:4g} min  FID {fid:8.2f}", flush=True)
    Path(args.json).write_text(json.dumps({"metric": "fmnist-FID, 10k samples vs train", "minutes": budgets,
                                           "fid": results}, indent=2) + "\n")
    print("| preset | " + " | ".join(f"{b:g} min" for b in budgets) + " |")
    print("|---|" + "---|" * len(budgets))
    for preset, row in results.items():
        print(f"| {preset} | " + " | ".join(f"{row[f'{b:g}']:.2f}" for b in budgets) + " |")


if __name__ == "__main__":
    main()
