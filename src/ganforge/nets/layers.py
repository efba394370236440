"""Layers the networks share.

Two compute a standard layer's exact function in a faster way on CPUs (same parameters, same
state dict), found with torch.profiler on dcgan-fmnist's step (docs/performance.md): oneDNN has no fast
kernel for a convolution with one output channel, and a Linear over channels_last feature maps
flattened in NCHW order sends an NCHW gradient into a channels_last LeakyReLU backward, which
then runs on mixed strides. ``ConvsThenLinear`` is the body of the discriminators that end
in one such Linear.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ImageOutputConv2d(nn.Conv2d):
    """``nn.Conv2d`` to image channels; to one channel it is computed as a depthwise conv and a sum.

    With one output channel the output is sum_i conv(x_i, w[0, i]): the depthwise conv makes
    every x_i * w[0, i] and the sum adds them, the same multiply-adds as the plain conv's. On
    this project's CPU that runs 1.6-2.8x faster than oneDNN's conv for 1 output channel
    (fwd+bwd, fp32 and bf16). For 3 output channels the depthwise conv would have 3 maps per
    group, which oneDNN has no fast kernel for either (7-10x slower than the plain conv), so
    every other case is the plain conv. Loads and saves as an ``nn.Conv2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.out_channels != 1 or self.groups != 1 or self.padding_mode != "zeros":
            return super().forward(x)
        w = self.weight.transpose(0, 1)  # (in, 1, kh, kw): one filter per input channel
        maps = F.conv2d(x, w, None, self.stride, self.padding, self.dilation, groups=self.in_channels)
        y = maps.sum(1, keepdim=True)
        return y if self.bias is None else y + self.bias.view(1, 1, 1, 1)


class MapsLinear(nn.Linear):
    """``nn.Linear`` over (B, C, H, W) feature maps: ``fc(h.flatten(1))``, flattening in h's own memory order.

    The weight keeps torch's NCHW feature order (checkpoints do not depend on the layout); for
    channels_last maps it is permuted to (H, W, C) order instead of copying h, so the gradient
    flowing back into h stays channels_last like the layers before it. Loads and saves as an
    ``nn.Linear``.
    """

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = h.shape
        if h.is_contiguous() or not h.is_contiguous(memory_format=torch.channels_last):
            return super().forward(h.flatten(1))
        w = self.weight.view(-1, c, hh, ww).permute(0, 2, 3, 1).reshape(self.out_features, -1)
        return F.linear(h.permute(0, 2, 3, 1).reshape(b, -1), w, self.bias)


class ConvsThenLinear(nn.Module):
    """A discriminator of convolutions then one linear layer: ``fc(convs(x))``, one score per image (B,).

    Args:
        convs: the layers from images to (C, s, s) feature maps.
        features: C * s * s, the linear layer's input size.
    """

    scores_each_image_alone = True  # unless a BatchNorm among the convs says otherwise (nets.scores_each_image_alone)

    def __init__(self, convs: nn.Sequential, features: int) -> None:
        super().__init__()
        self.convs = convs
        self.fc = MapsLinear(features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature maps the linear layer scores (a class-conditional D projects its classes onto them)."""
        return self.convs(x)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """One score per image (B,) from :meth:`features`."""
        return self.fc(h).view(-1)


def leaky_relu(slope: float) -> nn.LeakyReLU:
    """``nn.LeakyReLU(slope)``, in place where torch allows it: its in-place backward refuses a negative slope."""
    return nn.LeakyReLU(slope, inplace=slope >= 0)
