"""Super-resolution evaluation: PSNR/SSIM of G's output and of bicubic upscaling on held-out images."""
from __future__ import annotations

import torch

from ..config import Config
from ..data.pairs import bicubic_up, validation_pairs
from ..errors import GanforgeError
from ..images import unit_to_uint8
from .psnr_ssim import psnr, ssim

SR_METRICS = ("psnr", "ssim")
EVAL_TILE = 256  # LR pixels per tile: bounds memory on large validation photos


def parse_sr_metrics(text: str) -> tuple[str, ...]:
    """``eval.metrics`` of an SR run, e.g. ``"psnr,ssim"``: a non-empty subset of psnr and ssim."""
    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())  # PSNR, as papers write it, too
    if not names or any(n not in SR_METRICS for n in names):
        raise GanforgeError(f"config key 'eval.metrics' of a super-resolution run must name psnr and/or ssim, "
                            f"got '{text}'.")
    return names


def _batches(lr: list[torch.Tensor], hr: list[torch.Tensor], size: int = 256):
    """Consecutive pairs of one image size, up to ``size`` per batch (a folder mixes sizes)."""
    start = 0
    while start < len(lr):
        end = start + 1
        while end < len(lr) and end - start < size and lr[end].shape == lr[start].shape \
                and hr[end].shape == hr[start].shape:
            end += 1
        yield torch.stack(lr[start:end]), torch.stack(hr[start:end])
        start = end


@torch.no_grad()
def evaluate_sr(G: torch.nn.Module, cfg: Config, num: int = 0) -> dict:
    """PSNR and SSIM of ``G`` and of bicubic upscaling against the HR validation images.

    ``psnr`` and ``ssim`` are on the Y channel, ``*_rgb`` on all channels; ``*_bicubic`` are
    the baseline. ``scale`` pixels are cropped from each border; outputs are rounded to
    8 bits first, as a saved image would be. ``num`` > 0 evaluates the first ``num`` images.
    """
    from ..upscaling import upscale_tensor

    scale = cfg.sr.scale
    lr_all, hr_all = validation_pairs(cfg, num)
    device = next(G.parameters()).device
    sums: dict[str, float] = {}
    for lr, hr in _batches(lr_all, hr_all):
        hr = hr.double()
        outputs = {"": upscale_tensor(G, lr.to(device).float() / 255, scale, EVAL_TILE, convert=unit_to_uint8),
                   "_bicubic": bicubic_up(lr.double(), scale).round().clamp(0, 255)}
        for suffix, out in outputs.items():
            out = out.double()
            for y, tag in ((True, ""), (False, "_rgb")):
                for name, fn in (("psnr", psnr), ("ssim", ssim)):
                    key = f"{name}{suffix}{tag}"
                    sums[key] = sums.get(key, 0.0) + float(fn(out, hr, scale, y_channel=y).sum())
    n = len(hr_all)
    order = [f"{m}{s}{t}" for t in ("", "_rgb") for s in ("", "_bicubic") for m in SR_METRICS]
    result: dict = {k: sums[k] / n for k in order}
    result["protocol"] = {
        "images": n, "scale": scale,
        "validation": cfg.sr.val_root or f"{cfg.data.name}:test",
        "lr": "files in sr.val_lr_root" if cfg.sr.val_lr_root else "bicubic downsampling, antialiased, 8-bit",
        "crop_border": scale, "y_channel": "BT.601 studio range (rgb2ycbcr) for psnr/ssim; *_rgb: all channels",
        "ssim": "11x11 Gaussian window, sigma 1.5, valid windows", "output": "rounded to 8 bits",
    }
    return result
