#!/usr/bin/env python
"""Side-by-side speed of one preset under two sets of overrides: training steps of A and B alternate.

    python bench/ab_step.py PRESET --a key=value[,key=value] --b key=value[,...] [--steps 30] [--rounds 6]
        [--b-batches-in-host-memory] [--b-two-d-calls]

Both loops live in one process on the same data and threads, and take turns
(A B, B A, ...) so that the shared machine's drift hits both alike; the ratio of
the medians is the figure to quote. Nothing else should run meanwhile.
"""
from __future__ import annotations

import argparse
import statistics

from ganforge.bench.train import GanforgeLoop, time_rounds
from ganforge.config import load_config
from ganforge.data import load_images
from ganforge.errors import run_script
from ganforge.files import write_json
from ganforge.training.loop import pick_device
from ganforge.training.process import apply_process_settings


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset")
    p.add_argument("--a", default="", help="comma-separated overrides of A (empty: the preset as it is)")
    p.add_argument("--b", default="", help="comma-separated overrides of B")
    p.add_argument("--steps", type=int, default=30, help="steps per turn")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--b-batches-in-host-memory", action="store_true",
                   help="B's training images stay in host memory on a GPU (A's are held on the GPU, as training does)")
    p.add_argument("--b-two-d-calls", action="store_true",
                   help="B's D step calls D on the real and the fake batch apart, as it does for a D that may mix "
                        "the batch (A calls it once on both where D scores each image alone)")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    sets = {name: [kv for kv in text.split(",") if kv] for name, text in (("a", args.a), ("b", args.b))}
    cfgs = {name: load_config(args.preset, kv) for name, kv in sets.items()}
    apply_process_settings(cfgs["a"].train)  # threads and malloc are per process: A's apply to both
    images = load_images(cfgs["a"].data)
    device = pick_device(cfgs["a"].train.device)  # the GPU where there is one, as training picks
    loops = {name: GanforgeLoop(cfg, images, device, hold_on_gpu=name == "a" or not args.b_batches_in_host_memory)
             for name, cfg in cfgs.items()}
    if args.b_two_d_calls:
        loops["b"].objective.one_d_call = False
        sets["b"].append("(two D calls)")
    for loop in loops.values():
        loop.run(10)  # warm-up
    seconds = time_rounds(loops, args.steps, args.rounds, reverse_odd_rounds=True)
    speeds = {name: [args.steps * cfgs[name].train.batch_size / s for s in v] for name, v in seconds.items()}
    med = {name: statistics.median(v) for name, v in speeds.items()}
    if args.b_batches_in_host_memory:
        sets["b"].append("(batches in host memory)")
    result = {"preset": args.preset, "a": sets["a"], "b": sets["b"], "images_per_second": speeds,
              "median_a": round(med["a"], 1), "median_b": round(med["b"], 1), "ratio_b_over_a": round(med["b"] / med["a"], 3)}
    print(f"A {sets['a']}: {med['a']:.1f} img/s   B {sets['b']}: {med['b']:.1f} img/s   B/A = {result['ratio_b_over_a']}")
    if args.json:
        write_json(result, args.json)


if __name__ == "__main__":
    run_script(main)
