"""Layers that compute a standard layer's exact function in a faster way on CPUs (same parameters, same state dict).

Found with torch.profiler on dcgan-fmnist's step (docs/performance.md): oneDNN has no fast
kernel for a convolution with one output channel, and a Linear over channels_last feature maps
flattened in NCHW order sends an NCHW gradient into a channels_last LeakyReLU backward, which
then runs on mixed strides.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ImageOutputConv2d(nn.Conv2d):
    """``nn.Conv2d`` to a few image channels, computed as a depthwise conv and a sum over input channels.

    Output channel j is sum_i conv(x_i, w[j, i]); the depthwise conv makes every x_i * w[j, i]
    (in * out maps) and the sum adds them. The multiply-adds are the same as the plain conv's;
    on this project's CPU the pair runs 1.6-2.8x faster than oneDNN's conv for 1 output
    channel (fwd+bwd, fp32 and bf16). Loads and saves as an ``nn.Conv2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.groups != 1 or self.padding_mode != "zeros":
            return super().forward(x)
        c, k = self.in_channels, self.out_channels
        w = self.weight.transpose(0, 1).reshape(c * k, 1, *self.kernel_size)  # row i*k+j = w[j, i]
        maps = F.conv2d(x, w, None, self.stride, self.padding, self.dilation, groups=c)
        y = maps.unflatten(1, (c, k)).sum(1)  # a view in NCHW and channels_last alike
        return y if self.bias is None else y + self.bias.view(1, k, 1, 1)


def linear_on_maps(fc: nn.Linear, h: torch.Tensor) -> torch.Tensor:
    """``fc(h.flatten(1))`` for (B, C, H, W) maps, flattening in h's own memory order.

    The weight keeps torch's NCHW feature order (checkpoints do not depend on the layout); for
    channels_last maps it is permuted to (H, W, C) order instead of copying h, so the gradient
    flowing back into h stays channels_last like the layers before it.
    """
    b, c, hh, ww = h.shape
    if h.is_contiguous() or not h.is_contiguous(memory_format=torch.channels_last):
        return fc(h.flatten(1))
    w = fc.weight.view(-1, c, hh, ww).permute(0, 2, 3, 1).reshape(fc.out_features, -1)
    return F.linear(h.permute(0, 2, 3, 1).reshape(b, -1), w, fc.bias)
