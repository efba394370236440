"""``ganforge bench train PRESET``: the steady-state training step, its FLOPs and the machine's matmul peak.

The step measured is the real one (``GANObjective.train_step`` on batches from
``InMemoryBatches``), with no hooks: logging, samples and checkpoints are not part
of the step. Under torchrun every rank trains its slice of the global batch and
rank 0 reports for the job.
"""
from __future__ import annotations

import json
import math
import resource
import time
from typing import Callable

import torch
import torch.distributed as tdist

from .. import distributed as dist
from ..config import Config
from ..data import InMemoryBatches
from ..files import write_json
from ..provenance import machine
from ..training.loop import build_objective, make_batches, pick_device
from ..training.process import apply_process_settings
from ..training.run import load_config_on_each_rank
from .ceiling import layers_alone, record_layer_calls
from .measure import PeakTimings, count_flops, sync, thread_speedup


class GanforgeLoop:
    """ganforge's training step without hooks: in-memory batches and ``GANObjective.train_step``."""

    def __init__(self, cfg: Config, images: torch.Tensor | None, device: torch.device,
                 env: dist.DistEnv = dist.DistEnv(), hold_on_gpu: bool = True) -> None:
        """``images``: the training images already loaded (shared with a reference loop), or None
        to load the config's data as training does (real images, or SR pairs). An SR config always
        loads its LR-HR pairs so: a bench script's images are a GAN's. ``hold_on_gpu=False``
        keeps given images in host memory, as training did before ``InMemoryBatches.hold_on``."""
        self.device = device
        if images is not None and cfg.model.task != "sr":
            self.batches = InMemoryBatches(images, cfg.train.batch_size, cfg.train.seed, env.rank, env.world_size)
            if hold_on_gpu:
                self.batches.hold_on(device)
        else:
            self.batches = dist.agreed(lambda: make_batches(cfg, env, device), env)  # a data error said once
        self.objective = build_objective(cfg, device, env)
        # train_step calls that repeat: n_critic D steps per G update, times lazy R1's period where it is on
        ob = cfg.objective
        self.cycle = math.lcm(ob.n_critic * ob.accumulate, ob.r1_every if ob.r1_gamma > 0 else 1)
        self.step = 0

    def run(self, n: int) -> float:
        """Train ``n`` steps and wait for the device to finish them; returns the seconds spent getting data.

        On a GPU that is the host's time in ``next``: the batch's gather and conversion are queued
        like the step's kernels, and a host that waits for them (a copy from pageable memory
        waits for the GPU's queue) queues nothing else meanwhile. No sync around it: one would
        also count the previous step's queued kernels as waiting for data.
        """
        wait = 0.0
        for _ in range(n):
            t = time.perf_counter()
            real = self.batches.next(self.device)
            wait += time.perf_counter() - t
            self.objective.train_step(real, self.step)
            self.step += 1
        sync(self.device)
        return wait


def time_rounds(loops: dict[str, "GanforgeLoop"], steps: int, rounds: int, reverse_odd_rounds: bool = False,
                before_turn: Callable[[str], object] | None = None) -> dict[str, list[float]]:
    """Seconds each loop (anything with ``run(n)``) takes for ``steps`` steps, ``rounds`` times, taking turns.

    Turns alternate so drift of the shared machine hits every loop alike; with
    ``reverse_odd_rounds`` every other round runs them in reverse order (A B, B A, ...).
    ``before_turn(name)`` runs before each turn, outside its timing (bench/host_probe.py's probe).
    """
    seconds: dict[str, list[float]] = {name: [] for name in loops}
    for r in range(rounds):
        order = list(loops.items())
        for name, loop in order[::-1] if reverse_odd_rounds and r % 2 else order:
            if before_turn is not None:
                before_turn(name)
            t = time.perf_counter()
            loop.run(steps)
            seconds[name].append(time.perf_counter() - t)
    return seconds


def bench_train(preset: str, steps: int = 50, warmup: int = 10, overrides: list[str] | None = None,
                json_out: str | None = None) -> dict:
    """Measure ``steps`` training steps of ``preset`` after ``warmup`` steps; print and write JSON.

    Keys: preset, overrides (the ``--set`` values), batch_size (global), world_size, threads,
    images_per_second (global), flops_per_image (forward and backward of D and G per real
    image, from ``torch.utils.flop_counter``), achieved_gflops, matmul_peak_gflops (the best of
    matmul_peak_samples_gflops, timed before the steps, after them and after the layers alone),
    mfu (their ratio), layers_alone_gflops and layers_alone_mfu (the cycle's conv and linear calls
    replayed one by one, ``bench.ceiling``: the most the step could reach with these
    kernels), data_wait_fraction (share of step time spent getting the batch),
    page_faults_per_step (rank 0's minor page faults: memory the kernel had to hand
    back to the step; see ``training.process.keep_freed_memory``),
    peak_rss_mb (rank 0's resident set), host_threads (on a CPU, ``bench.measure.thread_speedup``
    just before and just after the timed steps: how much the threads paid off on the host at
    the time; null on a GPU), machine (``bench.measure.machine``: CPU, its vector ISA and bf16
    support, GPU).
    """
    env = dist.from_env()
    cfg = load_config_on_each_rank(preset, list(overrides or []), env)
    apply_process_settings(cfg.train)
    device = pick_device(cfg.train.device, env)
    dist.init(env, device)
    finished = False
    try:
        loop = GanforgeLoop(cfg, None, device, env)
        cycle = loop.cycle
        loop.run(max(warmup, cycle))
        nets = [m for m in (loop.objective.G, loop.objective.D) if m is not None]
        with count_flops() as counter:  # one full cycle: n_critic D steps and the G step (and lazy R1's)
            calls = record_layer_calls(nets, lambda: loop.run(cycle), device)  # and its conv/linear calls
        flops_per_image = counter.get_total_flops() / (cycle * cfg.train.batch_size / env.world_size)
        steps = max(cycle, steps // cycle * cycle)
        # the matmul peak in the precision the step computes in (bf16 matmuls run faster than fp32 ones),
        # timed before the steps, after them and after the layers alone
        peaks = PeakTimings(device, loop.objective.amp_dtype or torch.float32)
        peaks.time()
        # whether the CPU threads paid off around the timed steps (a shared host's slow spells; a GPU step has no say)
        host = {"before": thread_speedup()} if device.type == "cpu" else None
        if env.enabled:
            tdist.barrier()
        sync(device)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t = time.perf_counter()
        wait = loop.run(steps)
        sync(device)
        if env.enabled:
            tdist.barrier()
        seconds = time.perf_counter() - t
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        if host is not None:
            host["after"] = thread_speedup()
        peaks.time()
        layer_flops, layer_seconds = layers_alone(calls, device)
        peaks.time()
        finished = True
    finally:
        dist.shutdown(wait_for_others=finished)
    images_per_second = steps * cfg.train.batch_size / seconds
    achieved = flops_per_image * images_per_second / 1e9
    # the peak and the layers' speed of one process's share of the machine, times the processes;
    # None (JSON null) for a network without conv or linear layers: nothing to replay
    peak = peaks.best * env.world_size
    alone = layer_flops * env.world_size / layer_seconds / 1e9 if layer_seconds else None
    out = {"preset": cfg.name, "overrides": list(overrides or []),
           "batch_size": cfg.train.batch_size, "world_size": env.world_size,
           "precision": loop.objective.precision, "channels_last": cfg.train.channels_last,
           "compile": cfg.train.compile and cfg.train.compile_mode,  # false, or torch.compile's mode
           "threads": torch.get_num_threads(), "device": str(device), "steps": steps,
           "images_per_second": round(images_per_second, 1), "flops_per_image": int(flops_per_image),
           "achieved_gflops": round(achieved, 2), "matmul_peak_gflops": round(peak, 2),
           "matmul_peak_samples_gflops": [round(p * env.world_size, 2) for p in peaks.samples],
           "mfu": round(achieved / peak, 4),
           "layers_alone_gflops": None if alone is None else round(alone, 2),
           "layers_alone_mfu": None if alone is None else round(alone / peak, 4),
           "data_wait_fraction": round(wait / seconds, 5),
           "page_faults_per_step": round(faults / steps, 1), "keep_freed_memory": cfg.train.keep_freed_memory,
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "host_threads": host, "machine": machine(device)}
    if env.is_main:
        print(json.dumps(out, indent=2))
        if json_out:
            write_json(out, json_out)
    return out
