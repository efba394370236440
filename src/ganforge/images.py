"""Image helpers: tensors in [-1, 1] to uint8, grids, PNG files (Pillow)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from .errors import GanforgeError
from .files import write_atomic

# a grid of more than 100 x 100 images is too large to look at; .npy or a folder holds any number
MAX_GRID_IMAGES = 10_000
# the formats ganforge reads: those torchvision's ImageFolder lists, so a folder it reads is read here too
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".pgm"}
# image formats ganforge does not write: an --out named like one is a mistake, not a folder name
_OTHER_IMAGE_SUFFIXES = (IMAGE_SUFFIXES - {".png"}) | {".gif"}


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (B, C, H, W) -> uint8 [0, 255], rounding to nearest."""
    return x.detach().float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu()


def unit_to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] (super-resolution's range) -> uint8 [0, 255], rounding to nearest."""
    return x.detach().float().mul(255).round().clamp(0, 255).to(torch.uint8).cpu()


def conversion_words(tensor: bool) -> tuple[str, str]:
    """How a hint writes two conversions, in torch's words for a ``tensor`` and NumPy's otherwise: the method that
    reorders axes, and the ending that makes numbers in [0, 255] uint8 (``(x * 255).round()`` + it)."""
    if tensor:
        return "permute", ".clamp(0, 255).to(torch.uint8)"
    return "transpose", ".clip(0, 255).astype('uint8')"


def uint8_hint(shape: tuple[int, ...], dtype: np.dtype, verb: str = "save", tensor: bool = False) -> str:
    """How to turn the common near misses into uint8 (N, C, H, W): channels last, no channel axis, one image,
    floats; in torch's words for a ``tensor``, NumPy's otherwise. ``verb``: what to do with the result ("save",
    "pass")."""
    hints = []
    reorder, to_8_bit = conversion_words(tensor)
    if len(shape) == 4 and shape[-1] in (1, 3) and shape[1] not in (1, 3):
        hints.append(f"It looks channels-last (N, H, W, C): {verb} x.{reorder}(0, 3, 1, 2).")
    if len(shape) == 2:
        hints.append(f"For one grayscale image (H, W), {verb} x[None, None].")
    elif len(shape) == 3 and shape[0] not in (1, 3) and shape[-1] in (1, 3):  # not (N, H, W): W is never 1 or 3
        hints.append(f"For one image, channels-last (H, W, C), {verb} x.{reorder}(2, 0, 1)[None].")
    elif len(shape) == 3:
        if shape[0] in (1, 3):  # one image, or as many grayscale ones: both are said
            hints.append(f"For one image (C, H, W), {verb} x[None].")
        hints.append(f"For grayscale without a channel axis, {verb} x[:, None].")
    if dtype.kind == "f":
        hints.append(f"For floats in [-1, 1] (a tanh generator's output), {verb} ((x + 1) * 127.5).round()"
                     f"{to_8_bit}; for floats in [0, 1], (x * 255).round(){to_8_bit}.")
    return "".join(" " + h for h in hints)


def uint8_images(images: np.ndarray | torch.Tensor, must: str, hint: Callable[[tuple, np.dtype], str] | None = None
                 ) -> np.ndarray:
    """``images`` (an array or a tensor) as a NumPy array, if they are uint8 (N, C, H, W) with C 1 or 3; else an
    error that begins with ``must`` ("grid takes") and ends with ``hint(shape, dtype)``, how to convert them."""
    # detach: a generator's output in a notebook requires grad, which .numpy() refuses
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[1] not in (1, 3):
        raise GanforgeError(f"{must} uint8 images (N, C, H, W) with C 1 or 3, got {array.dtype} {array.shape}."
                            f"{hint(array.shape, array.dtype) if hint else ''}")
    return array


def make_grid(images: np.ndarray | torch.Tensor, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile uint8 images (N, C, H, W) into one (C, H', W') uint8 grid, ``nrow`` images per row."""
    images = np.asarray(images)
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = np.zeros((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, y:y + h, x:x + w] = images[i]
    return grid


def save_png(image: np.ndarray, path: str | Path) -> None:
    """Write a uint8 (C, H, W) image with C in {1, 3} as PNG, atomically."""
    pil = to_pil(image)
    write_atomic(Path(path), lambda f: pil.save(f, format="PNG"))


ANIMATIONS = (".gif", ".webp")


def save_animation(pictures: list[Image.Image], path: str | Path, durations: int | list[int]) -> None:
    """Write ``pictures`` as a looping animation, atomically: a ``.gif`` (256 colours a frame, which every viewer
    shows) or a ``.webp`` (lossless: a colour run's frames exactly; browsers show it). ``durations``: ms a frame."""
    path = Path(path)
    options = {"format": "WEBP", "lossless": True} if path.suffix.lower() == ".webp" else {"format": "GIF"}
    write_atomic(path, lambda f: pictures[0].save(f, save_all=True, append_images=pictures[1:], duration=durations,
                                                  loop=0, **options))


def to_pil(image: np.ndarray) -> Image.Image:
    """A uint8 (C, H, W) image with C in {1, 3} as a PIL image (mode L or RGB)."""
    image = np.asarray(image)
    return Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))


def refuse_other_image_formats(out: Path) -> None:
    """An ``--out`` ending in .jpg (or another image format but PNG) would become a folder of that
    name; say that ganforge writes PNGs instead."""
    if out.suffix.lower() in _OTHER_IMAGE_SUFFIXES:
        raise GanforgeError(f"--out '{out}': ganforge writes lossless PNG images; name the file .png "
                            f"(or give a folder for one PNG per image).")
