"""Super-resolution pairs: HR images, their LR versions, patches and augmentation.

LR images are made as the SR literature makes them (and seed 004's DIV2K configs
read them): antialiased bicubic downsampling of the HR image, rounded to 8 bits as
a saved LR file would be. ``torch.nn.functional.interpolate(mode="bicubic",
antialias=True)`` is Pillow's bicubic resampling (a = -0.5, kernel widened by the
scale), the same filter as MATLAB's ``imresize``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..config import Config, DataConfig
from ..errors import GanforgeError
from .batches import InMemoryBatches
from .folder import first_few, list_images, load_folder_native


def bicubic_down(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Float images in [0, 255] (B, C, H, W) -> antialiased bicubic (B, C, H/scale, W/scale), 8-bit values."""
    h, w = hr.shape[-2] // scale, hr.shape[-1] // scale
    lr = F.interpolate(hr, size=(h, w), mode="bicubic", align_corners=False, antialias=True)
    return lr.round().clamp(0, 255)


def bicubic_up(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upsampling by ``scale`` (the baseline SR methods are compared with)."""
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)


def mod_crop(image: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop the bottom/right so both sides are multiples of ``scale`` (MMagic's modcrop)."""
    h, w = image.shape[-2] // scale * scale, image.shape[-1] // scale * scale
    return image[..., :h, :w]


def _as_list(images: torch.Tensor | list[torch.Tensor]) -> list[torch.Tensor]:
    return list(images) if isinstance(images, torch.Tensor) else images


def load_pairs(data: DataConfig, scale: int, lr_root: str = "", what: str = "data.root",
               lr_what: str = "sr.lr_root") -> tuple[torch.Tensor | list[torch.Tensor], list[torch.Tensor] | None]:
    """HR images of ``data`` (a folder at full size, or an IDX/CIFAR split) and, with ``lr_root``, their LR files.

    LR files are matched to HR files by path relative to their folders, with any image suffix, or
    as DIV2K names them (``0001.png``'s LR is ``0001x4.png`` at scale 4, MMagic's ``filename_tmpl``
    ``'{}x4'``); each HR image must be ``scale`` x its LR image (after cropping the HR to a multiple
    of ``scale``).
    """
    from . import load_images

    if data.name != "folder":
        if lr_root:
            raise GanforgeError(f"{lr_what} pairs LR files with a folder of HR files; set data.name=folder.")
        return load_images(data), None
    names, arrays = load_folder_native(data.root, data.channels, what)
    hr = [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
    if not lr_root:
        return hr, None
    lr_names, lr_arrays = load_folder_native(lr_root, data.channels, lr_what)
    by_name = {n.with_suffix(""): torch.from_numpy(np.ascontiguousarray(a)) for n, a in zip(lr_names, lr_arrays)}

    def lr_name(hr_name: Path) -> Path | None:  # the same name first, then DIV2K's
        same = hr_name.with_suffix("")
        return next((n for n in (same, same.with_name(f"{same.name}x{scale}")) if n in by_name), None)

    missing = [str(n) for n in names if lr_name(n) is None]
    if missing:
        raise GanforgeError(f"{len(missing)} HR images in {what} '{data.root}' have no LR image of the same name "
                            f"(or DIV2K's, NAMEx{scale}) in {lr_what} '{lr_root}': {first_few(missing)}.")
    lr = [by_name[lr_name(n)] for n in names]
    for n, h, low in zip(names, hr, lr):
        if (h.shape[-2] // scale, h.shape[-1] // scale) != tuple(low.shape[-2:]):
            raise GanforgeError(f"HR image '{n}' is {h.shape[-1]}x{h.shape[-2]} but its LR image is "
                                f"{low.shape[-1]}x{low.shape[-2]}; at sr.scale={scale} it must be "
                                f"{h.shape[-1] // scale}x{h.shape[-2] // scale}.")
    return hr, lr


def check_validation_source(cfg: Config) -> None:
    """Refuse held-out images that :func:`validation_pairs` could not read, without decoding any: a missing
    or empty ``sr.val_root`` / ``sr.val_lr_root``, or none set for an image folder. A run that evaluates
    as it trains calls it before its first step, where the first evaluation would find it an hour in."""
    sr = cfg.sr
    if sr.val_root:
        for key, root in (("sr.val_root", sr.val_root), ("sr.val_lr_root", sr.val_lr_root)):
            if root:
                list_images(Path(root).expanduser(), key)
    elif cfg.data.name == "folder":
        raise GanforgeError("evaluating a super-resolution run on an image folder needs held-out images: "
                            "set sr.val_root=FOLDER (in the config, or with ganforge evaluate --val FOLDER).")


def validation_pairs(cfg: Config, num: int = 0) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Held-out (LR, HR) uint8 pairs: ``sr.val_root`` (+ ``sr.val_lr_root``), else the dataset's test split.

    HR images are cropped to multiples of the scale; LR images without files are made by
    bicubic downsampling. ``num`` > 0 keeps the first ``num`` pairs.
    """
    sr = cfg.sr
    check_validation_source(cfg)
    if sr.val_root:
        data = dataclasses.replace(cfg.data, name="folder", root=sr.val_root)
        hr, lr = load_pairs(data, sr.scale, sr.val_lr_root, "sr.val_root", "sr.val_lr_root")
    else:
        hr, lr = load_pairs(dataclasses.replace(cfg.data, split="test"), sr.scale)
    hr = _as_list(hr)[:num or None]
    hr = [mod_crop(h, sr.scale) for h in hr]
    if lr is None:
        lr = [bicubic_down(h[None].float(), sr.scale)[0].to(torch.uint8) for h in hr]
    return lr[:len(hr)], hr


PATCH_EXAMPLE = 128  # the HR crop side that errors suggest where images allow it (seed 004's gt_patch_size)


class SRBatches(InMemoryBatches):
    """Training pairs: seeded crops of ``patch`` HR pixels, their LR versions, flips and transposes.

    The order, crop positions and flips of each global batch come from seeds of
    ``(train.seed, epoch, batch)``, so a resume or another world size sees the same pairs.

    Args:
        hr: HR images (uint8); lr: their LR files, or None to make LR by bicubic downsampling.
        scale: the SR factor; patch: HR patch side (0: whole images, which must share one size).
        augment: random horizontal and vertical flips and transposes (MMagic's Flip, RandomTransposeHW).
    """

    def __init__(self, hr, lr: list[torch.Tensor] | None, scale: int, patch: int, augment: bool,
                 batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        super().__init__(hr, batch_size, seed, rank, world_size)
        self.lr, self.scale, self.augment = lr, scale, augment
        sizes = {tuple(h.shape[-2:]) for h in _as_list(hr)}
        if patch == 0:
            if len(sizes) > 1:
                side = min(min(size) for size in sizes)
                fits = min(PATCH_EXAMPLE, side // scale * scale)  # MMagic's x4 configs crop 128 HR pixels
                raise GanforgeError(f"the HR images have {len(sizes)} different sizes; set sr.patch_size (a multiple "
                                    f"of sr.scale={scale}, at most the smallest image's side of {side} pixels) to "
                                    "train on crops" + (f", e.g. sr.patch_size={fits}." if fits else
                                                        f"; remove the images smaller than {scale} pixels first."))
            side = min(next(iter(sizes)))
            patch = side // scale * scale
        if patch % scale:
            raise GanforgeError(f"sr.patch_size={patch} must be a multiple of sr.scale={scale}.")
        small = min(sizes, key=min)
        if min(small) < patch:
            raise GanforgeError(f"an HR image is {small[1]}x{small[0]}, smaller than the {patch}-pixel patches; "
                                "lower sr.patch_size or remove the small images.")
        self.patch = patch

    def _room(self, i: int) -> tuple[int, int]:
        """How far an LR-grid crop corner can move in image ``i`` (rows, columns)."""
        h, w = self.images[i].shape[-2:]
        return h // self.scale - self.patch // self.scale, w // self.scale - self.patch // self.scale

    def _crops(self, picks: list[tuple[int, int, int]], device) -> tuple[torch.Tensor, torch.Tensor]:
        """(LR, HR) float batches in [0, 255] for picks (image index, LR-grid corner row, column).

        Corners on the LR grid keep LR and HR crops aligned when LR comes from files.
        """
        p, s = self.patch, self.scale
        hr = torch.stack([self.images[i][:, y * s:y * s + p, x * s:x * s + p] for i, y, x in picks]).to(device).float()
        if self.lr is None:
            return bicubic_down(hr, s), hr
        lr = torch.stack([self.lr[i][:, y:y + p // s, x:x + p // s] for i, y, x in picks]).to(device).float()
        return lr, hr

    def next(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's part of the next batch: (LR, HR) floats in [0, 1] (seed 004's mean 0, std 255)."""
        step = self.epoch * self.batches_per_epoch + self.start // self.batch_size  # the batch's number, for its seed
        idx = self.next_indices()
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + 7 + step)
        corners = torch.rand(len(idx), 2, generator=g)
        flips = torch.rand(len(idx), 3, generator=g) < 0.5 if self.augment else torch.zeros(len(idx), 3, dtype=bool)
        rows = self.my_rows(torch.arange(len(idx)))
        picks = []
        for r in rows.tolist():
            i = int(idx[r])
            room_y, room_x = self._room(i)
            picks.append((i, int(corners[r, 0] * (room_y + 1)), int(corners[r, 1] * (room_x + 1))))
        lr_b, hr_b = self._crops(picks, device)
        # flips and transposes commute with bicubic downsampling, so they apply to both afterwards
        hr_b, lr_b = _augment(hr_b, flips[rows]), _augment(lr_b, flips[rows])
        return lr_b.div_(255.0), hr_b.div_(255.0)

    def _centres(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The centre patches of the first ``n`` images as (LR, HR) floats in [0, 255]."""
        return self._crops([(i, *(room // 2 for room in self._room(i))) for i in range(min(n, len(self.images)))],
                           "cpu")

    def fixed_pairs(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The centre patches of the first ``n`` images as (LR, HR) in [0, 1], for sample grids."""
        lr_b, hr_b = self._centres(n)
        return lr_b / 255.0, hr_b / 255.0

    def first(self, n: int) -> torch.Tensor:
        """The centre HR patches of the first ``n`` images, uint8, as the sample grids show them: the images
        themselves may differ in size, and one grid of them could not be drawn."""
        return self._centres(n)[1].to(torch.uint8)  # crops of uint8 images: whole numbers, exact


def _augment(x: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Per image: horizontal flip, vertical flip, transpose (flags (B, 3))."""
    out = []
    for img, (h, v, t) in zip(x, flips.tolist()):
        if h:
            img = img.flip(-1)
        if v:
            img = img.flip(-2)
        if t:
            img = img.transpose(-1, -2)
        out.append(img)
    return torch.stack(out)

