"""What the benchmarks measure with: a groups-aware FLOP counter, best-of-N timing, the matmul peak,
how much the CPU threads pay off right now (the machine itself: :func:`ganforge.provenance.machine`)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count


def conv_backward_flops(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
                        _output_padding, _groups, output_mask, out_shape=None) -> int:
    """FLOPs of a convolution's backward: the forward's multiply-adds once per gradient asked for.

    Each product x*w of the forward appears once in the input gradient and once in the weight
    gradient. torch's own formula ignores ``groups`` for the weight gradient and counts a
    depthwise conv's (``nets.layers.ImageOutputConv2d``) ``groups`` times over.
    """
    fwd = conv_flop_count(x_shape, w_shape, grad_out_shape, transposed)
    return fwd * (int(output_mask[0]) + int(output_mask[1]))


class _GlobalTotalOnly:
    """Stands in for FlopCounterMode's module tracker: every FLOP counts toward "Global" alone.

    The tracker puts backward hooks on each module's inputs to split the count by module, and in torch 2.13
    those hooks raise inside ``autograd.grad`` ("A leaf node was passed to _will_engine_execute_node"), which
    a gradient penalty (WGAN-GP, R1) calls in every D step: ``bench train hw6-wgan-gp-64`` failed so. The
    benchmarks read the total only.
    """

    parents = {"Global"}

    def __enter__(self) -> "_GlobalTotalOnly":
        return self

    def __exit__(self, *args) -> None:
        return None


def count_flops() -> FlopCounterMode:
    """A FlopCounterMode with the groups-aware convolution backward above, counting the total only."""
    counter = FlopCounterMode(display=False,
                              custom_mapping={torch.ops.aten.convolution_backward: conv_backward_flops})
    counter.mod_tracker = _GlobalTotalOnly()
    return counter


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously; the CPU needs nothing)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """The fastest of ``repeats`` timed calls of ``fn`` (the least disturbed by a shared machine)."""
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def mlp_probe() -> Callable[[], float]:
    """A fixed probe of how fast the host runs small, finely split work right now.

    The returned function runs ``n`` (default 100) forwards of a 64-row MLP through fixed random
    weights (100-128-256-512-1024-784, about 6 MB in fp32) on the process's threads and returns
    milliseconds per forward. The work is the same every time, so the time changes only with
    the host: bench/host_probe.py groups benchmark rounds by it.
    """
    gen = torch.Generator().manual_seed(0)
    dims = [100, 128, 256, 512, 1024, 784]
    weights = [torch.randn(o, i, generator=gen) * 0.05 for i, o in zip(dims, dims[1:])]
    x = torch.randn(64, dims[0], generator=gen)

    def probe(n: int = 100) -> float:
        t = time.perf_counter()
        for _ in range(n):
            h = x
            for w in weights:
                h = torch.tanh(h @ w.T)
        return (time.perf_counter() - t) / n * 1e3

    probe(20)  # warm-up
    return probe


def thread_speedup() -> dict:
    """How much the process's CPU threads are paying off right now: the probe on all of them and on one.

    On a shared virtual machine the second core can stop paying for minutes at a time, when the
    hypervisor places the guest's CPUs apart (docs/performance.md, "What a slow spell is"):
    work split finely between threads then runs barely faster than on one thread, while
    one-thread work keeps its speed. A benchmark figure taken while ``thread_speedup`` sits
    well below its usual value on that host was taken in such a spell.
    """
    probe, threads = mlp_probe(), torch.get_num_threads()
    all_ms = probe()
    torch.set_num_threads(1)
    try:
        one_ms = probe()
    finally:
        torch.set_num_threads(threads)
    return {"threads": threads, "probe_ms": round(all_ms, 3), "probe_one_thread_ms": round(one_ms, 3),
            "thread_speedup": round(one_ms / all_ms, 3)}


def matmul_peak_gflops(device: torch.device, n: int | None = None, repeats: int = 5,
                       dtype: torch.dtype = torch.float32) -> float:
    """Best-of-``repeats`` GFLOP/s of an n x n matrix multiply in ``dtype`` on this device and thread count.

    ``n`` defaults to 2048 on the CPU and 8192 on a GPU, whose peak a smaller product does not reach
    (an H200 finishes a 2048-cube bf16 product in tens of microseconds, near the launch and sync times).
    """
    n = n or (8192 if device.type == "cuda" else 2048)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b  # warm-up
    return 2 * n ** 3 / best_seconds(lambda: a @ b, device, repeats) / 1e9


@dataclass
class PeakTimings:
    """The matmul peak (:func:`matmul_peak_gflops`) timed at several moments of one run; :attr:`best` is
    the machine's peak. On a shared host a timing taken in a slow spell reads low (once 0.55x this
    host's usual fp32 peak), and an MFU measured against it reads high (a width-24 fp32 step read 1.25).
    """

    device: torch.device
    dtype: torch.dtype = torch.float32  # the precision the measured step computes in
    repeats: int = 5
    samples: list[float] = field(default_factory=list)  # GFLOP/s, one per timing

    def time(self) -> None:
        """Time the peak once more."""
        self.samples.append(matmul_peak_gflops(self.device, repeats=self.repeats, dtype=self.dtype))

    @property
    def best(self) -> float:
        """The fastest timing so far, GFLOP/s (call :meth:`time` at least once first)."""
        return max(self.samples)
