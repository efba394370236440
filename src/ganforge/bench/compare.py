"""``ganforge bench compare PRESET``: ganforge's training step against the seed's own loop, side by side.

Both train the same networks (same init), with the same batch size, data and
thread count, in one process. They take turns, ``rounds`` times
``steps`` steps each after a warm-up, in the order ganforge/reference then
reference/ganforge (ABBA), so that drift of the shared machine hits both alike
and neither always runs first; an even number of rounds balances the order.
"""
from __future__ import annotations

import json

import torch

from ..config import Config, load_config
from ..data import load_images
from ..errors import GanforgeError
from ..files import write_json
from ..nets import build_networks
from ..provenance import machine
from ..training.process import apply_process_settings
from .measure import thread_speedup
from .reference import REFERENCES
from .train import GanforgeLoop, time_rounds


def build_loops(preset: str, overrides: list[str] | None = None, warmup: int = 10) -> tuple[Config, dict]:
    """The preset's config and its two loops, ``{"ganforge": ..., "reference": ...}``, warmed up.

    Both train the same networks from the same init on the same images, on the CPU, with the
    process settings (threads, malloc) of the preset applied to both.
    """
    cfg = load_config(preset, list(overrides or []))
    if cfg.name not in REFERENCES:
        raise GanforgeError(f"no reference loop for preset '{cfg.name}'; bench compare knows "
                            f"{', '.join(REFERENCES)}.")
    apply_process_settings(cfg.train)
    images = load_images(cfg.data)
    ours = GanforgeLoop(cfg, images, torch.device("cpu"))
    torch.manual_seed(cfg.train.seed)
    reference = REFERENCES[cfg.name](cfg, *build_networks(cfg), images)
    ours.run(warmup)
    reference.run(warmup)
    return cfg, {"ganforge": ours, "reference": reference}


def bench_compare(preset: str, steps: int = 50, rounds: int = 4, warmup: int = 10,
                  overrides: list[str] | None = None, json_out: str | None = None) -> dict:
    """Measure, print the ratio and (optionally) write JSON.

    Keys: preset, overrides (the ``--set`` values; they change ganforge's side only),
    precision (what ganforge's step computes in; the reference loop is always fp32, as
    the seeds are), batch_size, threads, keep_freed_memory (both loops share the process's
    settings), steps, rounds, ganforge_images_per_second,
    reference_images_per_second, speedup (their ratio), the per-round figures, host_threads
    (``bench.measure.thread_speedup`` before and after the rounds: whether the host's second core
    was paying off), and machine (``bench.measure.machine``).
    """
    cfg, loops = build_loops(preset, overrides, warmup)
    ours = loops["ganforge"]
    host = {"before": thread_speedup()}
    seconds = time_rounds(loops, steps, rounds, reverse_odd_rounds=True)
    host["after"] = thread_speedup()
    per_round = {k: [round(steps * cfg.train.batch_size / s, 1) for s in v] for k, v in seconds.items()}
    ips = {k: rounds * steps * cfg.train.batch_size / sum(v) for k, v in seconds.items()}
    out = {"preset": cfg.name, "overrides": list(overrides or []), "precision": ours.objective.precision,
           "batch_size": cfg.train.batch_size, "threads": torch.get_num_threads(),
           "keep_freed_memory": cfg.train.keep_freed_memory, "steps": steps, "rounds": rounds,
           "ganforge_images_per_second": round(ips["ganforge"], 1),
           "reference_images_per_second": round(ips["reference"], 1),
           "speedup": round(ips["ganforge"] / ips["reference"], 3),
           "per_round_images_per_second": per_round, "host_threads": host, "machine": machine(torch.device("cpu"))}
    print(json.dumps(out, indent=2))
    changed = f" (ganforge with {', '.join(out['overrides'])})" if out["overrides"] else ""
    print(f"ganforge is {out['speedup']:.2f}x the reference loop on {cfg.name}{changed}")
    if json_out:
        write_json(out, json_out)
    return out
