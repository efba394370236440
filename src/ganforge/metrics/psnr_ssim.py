"""PSNR and SSIM as the super-resolution literature computes them (and MMagic's evaluation does).

Images are compared as 8-bit values (0-255) after cropping ``crop_border`` pixels
(the scale) from each side. ``y_channel`` compares luma Y of ITU-R BT.601 in the
studio range [16, 235] (MATLAB's ``rgb2ycbcr``), the usual figure in SR papers;
otherwise all channels. A grayscale image is its own Y channel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# rgb2ycbcr's Y row for RGB in [0, 255]: 16 + (65.481 R + 128.553 G + 24.966 B) / 255
Y_WEIGHTS = (65.481 / 255, 128.553 / 255, 24.966 / 255)


def to_y(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 255] -> (B, 1, H, W) Y in [16, 235]; 1-channel images are returned as they are."""
    if images.shape[1] == 1:
        return images
    w = images.new_tensor(Y_WEIGHTS).view(1, 3, 1, 1)
    return (images * w).sum(1, keepdim=True) + 16.0


def _prepare(a: torch.Tensor, b: torch.Tensor, crop_border: int, y_channel: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if a.shape != b.shape:
        raise ValueError(f"images to compare differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    a, b = a.double(), b.double()
    if crop_border:
        a, b = a[..., crop_border:-crop_border, crop_border:-crop_border], b[..., crop_border:-crop_border,
                                                                             crop_border:-crop_border]
    if y_channel:
        a, b = to_y(a), to_y(b)
    return a, b


def psnr(a: torch.Tensor, b: torch.Tensor, crop_border: int = 0, y_channel: bool = False) -> torch.Tensor:
    """Per-image PSNR in dB of (B, C, H, W) images in [0, 255]: 10 log10(255^2 / MSE); inf for identical images."""
    a, b = _prepare(a, b, crop_border, y_channel)
    mse = (a - b).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(255.0 ** 2 / mse)  # mse 0 -> inf


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-x.pow(2) / (2 * sigma ** 2))
    return g / g.sum()


def ssim(a: torch.Tensor, b: torch.Tensor, crop_border: int = 0, y_channel: bool = False) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004) of (B, C, H, W) images in [0, 255], mean over channels.

    An 11x11 Gaussian window (sigma 1.5), C1 = (0.01 L)^2, C2 = (0.03 L)^2 with L = 255, and
    only windows that lie inside the image ("valid"), as in the paper's code and MMagic.
    """
    a, b = _prepare(a, b, crop_border, y_channel)
    if min(a.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels after cropping, got {tuple(a.shape[-2:])}")
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = _gaussian_window()
    channels = a.shape[1]
    # separable filtering, one group per channel
    kx = g.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    ky = g.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(x, kx, groups=channels), ky, groups=channels)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a.pow(2)
    var_b = blur(b * b) - mu_b.pow(2)
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a.pow(2) + mu_b.pow(2) + c1) * (var_a + var_b + c2))
    return ssim_map.flatten(1).mean(1)

