"""Super-resolution networks (seed 004): SRCNN, MSRResNet, and an SRGAN discriminator.

SR generators map a low-resolution image (B, C, h, w) in [0, 1] to (B, C, h*scale, w*scale),
the range of seed 004's data preprocessor (mean 0, std 255). They are registered in the same
GENERATORS registry as the GAN generators and get ``scale`` beside ``channels``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import GanforgeError
from ..registry import DISCRIMINATORS, GENERATORS


def scaled_kaiming_(module: nn.Module, scale: float) -> None:
    """MMagic's ``default_init_weights``: Kaiming-normal conv weights times ``scale``, zero biases.

    The 0.1 scale keeps each residual branch small at the start, so a deep residual
    network without BatchNorm starts close to its identity/bilinear path.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            m.weight.data.mul_(scale)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


# ------------------------------------------------------------------ SRCNN

@dataclass(frozen=True)
class SRCNNOptions:
    """Args:
        channels: (image, hidden 1, hidden 2, image) widths; the image entries follow
            ``data.channels`` (seed 004: (3, 64, 32, 3)), so only the hidden ones are read.
        kernel_sizes: the three kernel sizes (seed 004: (9, 1, 5)).
    """

    channels: tuple[int, int, int, int] = (3, 64, 32, 3)
    kernel_sizes: tuple[int, int, int] = (9, 1, 5)


class SRCNN(nn.Module):
    """SRCNN (Dong et al. 2014), MMagic's SRCNNNet: bicubic upsampling, then conv-ReLU-conv-ReLU-conv."""

    def __init__(self, opts: SRCNNOptions, *, channels: int, scale: int, **_: int) -> None:
        super().__init__()
        _, c1, c2, _ = opts.channels
        k1, k2, k3 = opts.kernel_sizes
        self.scale = scale
        self.conv1 = nn.Conv2d(channels, c1, k1, padding=k1 // 2)
        self.conv2 = nn.Conv2d(c1, c2, k2, padding=k2 // 2)
        self.conv3 = nn.Conv2d(c2, channels, k3, padding=k3 // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return self.conv3(F.relu(self.conv2(F.relu(self.conv1(x)))))


# ------------------------------------------------------------------ MSRResNet

@dataclass(frozen=True)
class MSRResNetOptions:
    """Args:
        mid_channels: width of the trunk (seed 004: 64).
        num_blocks: residual blocks without BatchNorm (seed 004: 16).
    """

    mid_channels: int = 64
    num_blocks: int = 16


class ResidualBlockNoBN(nn.Module):
    """x + conv(ReLU(conv(x))): EDSR's block, no BatchNorm (it hurts SR's per-pixel range)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        scaled_kaiming_(self, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x), inplace=True))


class PixelShufflePack(nn.Module):
    """A conv to ``channels * factor^2`` maps, then PixelShuffle: learned x``factor`` upsampling."""

    def __init__(self, channels: int, factor: int, kernel: int = 3) -> None:
        super().__init__()
        self.factor = factor
        self.conv = nn.Conv2d(channels, channels * factor * factor, kernel, 1, kernel // 2)
        scaled_kaiming_(self, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), self.factor)


class MSRResNet(nn.Module):
    """Modified SRResNet (seed 004): conv, residual trunk, PixelShuffle x2/x3/x4, conv, conv, plus a
    bilinear upsampling of the input as a global skip, so the network learns the residual detail."""

    supported_scales = (2, 3, 4)

    def __init__(self, opts: MSRResNetOptions, *, channels: int, scale: int, **_: int) -> None:
        super().__init__()
        if scale not in self.supported_scales:  # the seed's ValueError, as a user-facing error
            raise GanforgeError(f"Unsupported scale factor {scale}. Currently supported ones are "
                                f"{list(self.supported_scales)} (set sr.scale).")
        c = opts.mid_channels
        self.scale = scale
        self.conv_first = nn.Conv2d(channels, c, 3, 1, 1)
        self.trunk = nn.Sequential(*(ResidualBlockNoBN(c) for _ in range(opts.num_blocks)))
        # x4 is two x2 steps (fewer parameters than one x16-channel conv); x2/x3 one step
        self.upsample = nn.Sequential(*([PixelShufflePack(c, 2), PixelShufflePack(c, 2)] if scale == 4
                                        else [PixelShufflePack(c, scale)]))
        self.conv_hr = nn.Conv2d(c, c, 3, 1, 1)
        self.conv_last = nn.Conv2d(c, channels, 3, 1, 1)
        for m in (self.conv_first, self.conv_hr, self.conv_last):
            scaled_kaiming_(m, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = F.leaky_relu(self.conv_first(x), 0.1)
        # the seed's forward: no activation between the two PixelShuffle steps
        out = self.upsample(self.trunk(feat))
        out = self.conv_last(F.leaky_relu(self.conv_hr(out), 0.1))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


# ------------------------------------------------------------------ SRGAN discriminator

@dataclass(frozen=True)
class SRGANDiscriminatorOptions:
    """Args:
        mid_channels: width of the first level, doubled per level up to 8x (MMagic's ModifiedVGG: 64).
    """

    mid_channels: int = 64


class SRGANDiscriminator(nn.Module):
    """MMagic's ModifiedVGG for SRGAN. Level i: conv3x3 (+BN from level 1) + LReLU(.2), then
    conv4x4 stride 2 + BN + LReLU(.2); widths mid x (1, 2, 4, 8, 8, ...). Then Linear(100) +
    LReLU + Linear(1). The number of levels follows the HR patch size (128 -> 4x4 after five,
    as in MMagic; 28 -> 7x7 after two)."""

    def __init__(self, opts: SRGANDiscriminatorOptions, *, channels: int, resolution: int, **_: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        side, cin, i = resolution, channels, 0
        while side % 2 == 0 and side > 4:
            cout = opts.mid_channels * min(2 ** i, 8)
            layers += [nn.Conv2d(cin, cout, 3, 1, 1, bias=i == 0), *([nn.BatchNorm2d(cout)] if i else []),
                       nn.LeakyReLU(0.2, True),
                       nn.Conv2d(cout, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
            side, cin, i = side // 2, cout, i + 1
        if i == 0:
            raise GanforgeError(f"discriminator 'srgan' needs an HR patch side divisible by 2 and above 4, got "
                                f"{resolution} (sr.patch_size, or with sr.patch_size=0 data.resolution cut to a multiple "
                                "of sr.scale); set sr.patch_size to a multiple of 2 and of sr.scale.")
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * side * side, 100), nn.LeakyReLU(0.2, True),
                                  nn.Linear(100, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).view(-1)


GENERATORS.register("srcnn", SRCNNOptions)(SRCNN)
GENERATORS.register("msrresnet", MSRResNetOptions)(MSRResNet)
DISCRIMINATORS.register("srgan", SRGANDiscriminatorOptions)(SRGANDiscriminator)
GENERATORS.known_as("srcnn", SRCNNNet="MMagic's")  # seed 004's config
GENERATORS.known_as("msrresnet", MSRResNet="MMagic's")
DISCRIMINATORS.known_as("srgan", ModifiedVGG="MMagic's")
