"""The ceiling the kernels set: a training cycle's conv and linear calls, replayed one by one.

MFU compares a step with a large square matrix multiply. Small convolutions fall short of
that peak even with nothing around them (their GEMMs are small, and some backward kernels
are slower than the forward ones), so ``ganforge bench train`` also replays every conv and
linear call of one training cycle alone, on a copy of the module, with the same input shape,
strides, dtype, autocast precision and the same gradients asked for, and reports the GFLOP/s
those layers reach by themselves. The step's GFLOP/s over that figure is the share of the
kernels' own speed the step keeps; the rest goes to normalization, activations, the
optimizer and Python. ``passes_alone`` splits a call further, into its forward, input
gradient and weight gradient (``bench/layer_passes.py``), to find the slow kernel.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from .measure import best_seconds, count_flops

LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)


@dataclass(frozen=True)
class LayerCall:
    """One distinct call of a conv or linear layer during a training cycle."""

    module: nn.Module
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype
    autocast_dtype: torch.dtype | None  # None: autocast was off
    input_grad: bool  # the step asked for the gradient of the input (not for real images, D's first layer)
    weight_grad: bool  # false for D's layers in the G step (D is frozen there)


def record_layer_calls(modules: list[nn.Module], run: Callable[[], object],
                       device: torch.device) -> dict[LayerCall, int]:
    """Run ``run()`` with hooks on every conv and linear layer of ``modules``; distinct calls -> count."""
    calls: dict[LayerCall, int] = {}

    def hook(module: nn.Module, args: tuple) -> None:
        x = args[0]
        on = torch.is_autocast_enabled(device.type)
        key = LayerCall(module, tuple(x.shape), tuple(x.stride()), x.dtype,
                        torch.get_autocast_dtype(device.type) if on else None,
                        x.requires_grad, module.weight.requires_grad)
        calls[key] = calls.get(key, 0) + 1

    handles = [m.register_forward_pre_hook(hook) for net in modules for m in net.modules() if isinstance(m, LAYERS)]
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return calls


def _replica(call: LayerCall, device: torch.device) -> tuple[nn.Module, torch.Tensor]:
    """A copy of the call's module (the run's weights and grads stay as they are) and a random input
    with the call's shape, strides and dtype; both ask for the gradients the call asked for."""
    module = copy.deepcopy(call.module)
    for p in module.parameters():
        p.requires_grad_(call.weight_grad)
    x = torch.empty_strided(call.shape, call.stride, dtype=call.dtype, device=device).normal_()
    return module, x.requires_grad_(call.input_grad)


def _autocast_of(call: LayerCall, device: torch.device) -> torch.autocast:
    """The autocast context the call ran under (disabled if it ran without one)."""
    return torch.autocast(device.type, dtype=call.autocast_dtype or torch.float32,
                          enabled=call.autocast_dtype is not None)


def _replay(call: LayerCall, device: torch.device) -> Callable[[], None]:
    """Forward and backward of the call alone, on a copy of the module."""
    module, x = _replica(call, device)

    def step() -> None:
        with _autocast_of(call, device):
            y = module(x)
        if y.requires_grad:
            y.backward(torch.ones_like(y))  # ones_like keeps y's strides, as a real upstream gradient would
        module.zero_grad(set_to_none=True)
        x.grad = None

    return step


def layers_alone(calls: dict[LayerCall, int], device: torch.device, repeats: int = 10) -> tuple[int, float]:
    """(FLOPs, seconds) of one cycle's layer calls replayed alone: each call's best-of-``repeats``
    time, weighted by how often the cycle made it. FLOPs come from the step's own counter."""
    flops, seconds = 0, 0.0
    for call, n in calls.items():
        step = _replay(call, device)
        with count_flops() as counter:
            step()  # also the warm-up: oneDNN builds its kernels on the first call
        step()
        flops += n * counter.get_total_flops()
        seconds += n * best_seconds(step, device, repeats)
    return flops, seconds


def passes_alone(call: LayerCall, device: torch.device, repeats: int = 20) -> tuple[int, dict[str, float]]:
    """(FLOPs of the forward, seconds of each pass): best-of-``repeats`` seconds of the call's
    forward, input gradient and weight gradient, each apart (a gradient the call did not ask for
    is left out). A backward pass is timed as forward plus that one gradient, less the forward.
    Each pass does the forward's FLOPs."""
    module, x = _replica(call, device)
    x.requires_grad_(False)

    def forward() -> torch.Tensor:
        with _autocast_of(call, device):
            return module(x)

    def gradient_of(t: torch.Tensor) -> Callable[[], None]:
        def run() -> None:
            y = forward()
            torch.autograd.grad(y, t, torch.ones_like(y))  # only t's gradient: the other is not computed
        return run

    with count_flops() as counter:
        forward()  # also the warm-up: oneDNN builds its kernels on the first call
    seconds = {"forward": best_seconds(forward, device, repeats)}  # with the graph recorded, as below
    if call.input_grad:
        x.requires_grad_(True)
        gradient_of(x)()
        seconds["input_grad"] = best_seconds(gradient_of(x), device, repeats) - seconds["forward"]
        x.requires_grad_(False)
    if call.weight_grad:
        gradient_of(module.weight)()
        seconds["weight_grad"] = best_seconds(gradient_of(module.weight), device, repeats) - seconds["forward"]
    return counter.get_total_flops(), seconds
