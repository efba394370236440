"""Your own super-resolution network and pixel loss, plugged into ganforge by name.

Seed 004's first example writes an SR network, registers it and names it in a
config. This file does the same for ESPCN (Shi et al. 2016, "Real-Time Single
Image and Video Super-Resolution Using an Efficient Sub-Pixel Convolutional
Neural Network"), which none of the presets use, and for a pixel loss of its own:

    ganforge train examples/custom_sr.toml --out runs/espcn
    ganforge evaluate runs/espcn                 # PSNR/SSIM beside bicubic
    ganforge upscale runs/espcn photo.png --out photo_x4.png

An SR generator is registered in the same ``GENERATORS`` registry as a GAN's.
It gets ``channels`` and ``scale`` from the config (and ``z_dim`` and
``resolution``, which it may ignore) and maps a low-resolution batch
(B, C, h, w) in [0, 1] to (B, C, h * scale, w * scale). The config's
``model.task = "sr"`` is what makes ganforge feed it LR images instead of noise.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganforge.registry import GENERATORS, PIXEL_LOSSES


@dataclass(frozen=True)
class ESPCNOptions:
    """Args:
        widths: channels of the two hidden convs (the paper: 64 and 32).
    """

    widths: tuple[int, int] = (64, 32)


@GENERATORS.register("example-espcn", ESPCNOptions)
class ESPCN(nn.Module):
    """ESPCN: every conv runs at the LR size; the last makes ``scale**2`` sub-pixels per channel,
    and PixelShuffle rearranges them into the HR image. SRCNN instead upsamples first and
    convolves at the HR size, about ``scale**2`` times the work for the same widths."""

    def __init__(self, opts: ESPCNOptions, *, channels: int, scale: int, **_: int) -> None:
        super().__init__()
        w1, w2 = opts.widths
        self.body = nn.Sequential(
            nn.Conv2d(channels, w1, 5, padding=2), nn.Tanh(),
            nn.Conv2d(w1, w2, 3, padding=1), nn.Tanh(),
            nn.Conv2d(w2, channels * scale ** 2, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.body(lr)


def l1_with_edges(out: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """L1 on the pixels plus L1 on their horizontal and vertical differences, so a misplaced or
    blurred edge costs more than in plain L1."""
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
    return F.l1_loss(out, hr) + F.l1_loss(dx(out), dx(hr)) + F.l1_loss(dy(out), dy(hr))


# A pixel loss is registered as a builder that returns loss(output, hr) -> scalar; name it in
# the config's sr.pixel_loss.
PIXEL_LOSSES.register("example-l1-edges")(lambda: l1_with_edges)
