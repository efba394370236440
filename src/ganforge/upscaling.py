"""Super-resolution inference: ``ganforge upscale`` and the tiled forward pass that evaluation shares."""
from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .config import Config
from .data.folder import DataWarning, Decoded, decode_image, list_images, read_header, warn_decoded
from .errors import GanforgeError, Interrupted, did_you_mean_path
from .files import check_output_file, signals_held
from .images import refuse_other_image_formats, save_png, unit_to_uint8
from .memory import check_fits
from .progress import reporting
from .sampling import load_generator
from .wording import say


def load_sr_generator(source: str | Path, use_ema: bool = True) -> tuple[torch.nn.Module, Config]:
    """The generator of a super-resolution run or checkpoint, in eval mode; an error for a GAN run."""
    G, cfg = load_generator(source, use_ema)
    if cfg.model.task != "sr":
        raise GanforgeError(f"'{source}' is a '{cfg.name}' GAN run, not a super-resolution run; "
                            f"use {say('ganforge sample', 'ganforge.sample')} for it.")
    return G, cfg


def check_tiling(tile: int, overlap: int) -> None:
    """Refuse a negative tile side or overlap, named as the caller gave them (the command's flags or Python's)."""
    if tile < 0 or overlap < 0:
        raise GanforgeError(f"{say('--tile', 'tile')} and {say('--overlap', 'overlap')} must be >= 0, got {tile} "
                            f"and {overlap}.")


@torch.no_grad()
def upscale_tensor(G: torch.nn.Module, lr: torch.Tensor, scale: int, tile: int = 0, overlap: int = 16,
                   convert: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """G(lr) for LR images in [0, 1] (B, C, h, w), ``tile`` x ``tile`` LR pixels at a time (0: all at once).

    Each tile is run with ``overlap`` extra LR pixels of context on every side and only
    its own part of the output is kept, so memory is bounded by the tile size and the
    seams vanish once ``overlap`` covers the network's receptive field. ``convert``
    (e.g. ``images.unit_to_uint8``) is applied to each tile as it comes out, so the whole
    output is only ever held in its final form (uint8: a quarter of float32's memory).
    """
    convert = convert or (lambda t: t)
    h, w = lr.shape[-2:]
    if not tile or (h <= tile and w <= tile):
        return convert(G(lr))
    out = None
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            y0, x0 = max(y - overlap, 0), max(x - overlap, 0)
            y1, x1 = min(y + tile + overlap, h), min(x + tile + overlap, w)
            ty, tx = (y - y0) * scale, (x - x0) * scale
            th, tw = (min(y + tile, h) - y) * scale, (min(x + tile, w) - x) * scale
            part = convert(G(lr[..., y0:y1, x0:x1])[..., ty:ty + th, tx:tx + tw])
            if out is None:
                out = part.new_zeros(lr.shape[0], lr.shape[1], h * scale, w * scale)
            out[..., y * scale:y * scale + th, x * scale:x * scale + tw] = part
    return out


def _png_names(names: list[Path]) -> list[Path]:
    """Output names: each input's name as .png; where two inputs would share one (a.jpg, a.png), the
    one that is not a PNG keeps its whole name (a.jpg.png), so neither output replaces the other."""
    stems = Counter(name.with_suffix(".png") for name in names)
    return [name.with_suffix(".png") if stems[name.with_suffix(".png")] == 1 or name.suffix.lower() == ".png"
            else name.with_name(name.name + ".png") for name in names]


def _check_fits(given: Path, channels: int, scale: int) -> None:
    """Before decoding ``given``: do it, its float copy, the uint8 output and Pillow's copy of that
    (while writing) fit in memory? Tiles bound the network's own memory (with --tile 0 it is not counted)."""
    header = read_header(given)
    if header:
        w, h = header.width, header.height
        check_fits(channels * w * h * (5 + 2 * scale ** 2), f"upscaling '{given}' ({w}x{h}) x{scale} to "
                   f"{w * scale}x{h * scale}", "crop it into parts and upscale those")


def _upscaled(G: torch.nn.Module, image: np.ndarray, scale: int, tile: int, overlap: int) -> np.ndarray:
    """One uint8 (C, h, w) image upscaled, as uint8 (C, scale*h, scale*w)."""
    lr = torch.tensor(image)[None].to(next(G.parameters()).device).float() / 255.0  # a copy: decoded images can be read-only
    return upscale_tensor(G, lr, scale, tile, overlap, convert=unit_to_uint8)[0].numpy()


def decoded_input(path: Path, channels: int, named: str) -> Decoded:
    """The image file ``path`` decoded at its own size with ``channels``, as every upscaling reads one; a file that
    is no image is an error beginning with ``named`` (how the command or the caller names it)."""
    decoded = decode_image(path, 0, channels)
    if isinstance(decoded, str):
        raise GanforgeError(f"{named} could not be read as an image: {decoded.rstrip('.')}.")
    return decoded


def warn_of_changes(decoded: Decoded, channels: int, named: str, stacklevel: int) -> None:
    """Warn where the upscaled image of one input (``named``) will differ from it in more than size: transparent
    pixels put on white, colour made gray for a grayscale run. A folder's images say so in warn_decoded's warning.
    ``stacklevel`` is warnings.warn's, counted from this function's caller."""
    if decoded.flattened:
        warnings.warn(f"{named} has transparent pixels, which were put on a white background "
                      "(the upscaled image has no transparency).", DataWarning, stacklevel=stacklevel + 1)
    if decoded.converted and channels == 1:
        warnings.warn(f"{named} has colour, but the run was trained on grayscale images (data.channels=1), "
                      "so it was converted to grayscale and so is the upscaled image.", DataWarning,
                      stacklevel=stacklevel + 1)


def _refuse_overwriting_inputs(paths: list[Path], inputs: list[Path]) -> None:
    for path, given in zip(paths, inputs):  # checked before any write, so no input is replaced
        if path.resolve() == given.resolve():
            raise GanforgeError(f"--out would write '{path}' over the input image of the same name; "
                                "choose another --out.")


def upscale(source: str, input_path: str, out: str, tile: int = 128, overlap: int = 16,
            use_ema: bool = True) -> list[Path]:
    """Upscale an image file or a folder of images with a trained SR generator; write PNGs.

    A folder is read, upscaled and written one image at a time, so memory holds one image and
    its output however many there are, and the first outputs appear at once.

    Args:
        source: SR run folder or checkpoint.
        input_path: an image file, or a folder (searched recursively).
        out: for one image, a ``.png`` path or a folder; for a folder, a folder (same relative paths).
        tile, overlap: LR tile side and context (see :func:`upscale_tensor`); ``tile`` 0 disables tiling.
    """
    check_tiling(tile, overlap)
    refuse_other_image_formats(Path(out))
    G, cfg = load_sr_generator(source, use_ema)
    src, channels, scale = Path(input_path), cfg.data.channels, cfg.sr.scale
    if src.is_file():
        path = Path(out) if Path(out).suffix.lower() == ".png" else Path(out) / src.with_suffix(".png").name
        _refuse_overwriting_inputs([path], [src])
        check_output_file(path)  # before a large image's upscaling, which can take minutes on a CPU
        _check_fits(src, channels, scale)
        decoded = decoded_input(src, channels, f"INPUT '{src}'")
        warn_of_changes(decoded, channels, f"INPUT '{src}'", stacklevel=2)
        save_png(_upscaled(G, decoded.image, scale, tile, overlap), path)
        return [path]
    if not src.is_dir():
        raise GanforgeError(f"INPUT '{src}' does not exist; give an image file or a folder of images."
                            f"{did_you_mean_path(src)}")
    if Path(out).suffix.lower() == ".png":  # it would become a folder named like a file
        raise GanforgeError(f"INPUT '{src}' is a folder, so --out must be a folder too, not '{out}'.")
    files = list_images(src, "INPUT")
    out_dir = Path(out).resolve()
    if src.resolve() in out_dir.parents:  # upscale photos --out photos/x4: the outputs are not inputs next time
        files = [f for f in files if out_dir not in f.resolve().parents]
        if not files:
            raise GanforgeError(f"INPUT '{src}' holds no images outside --out '{out}'.")
    paths = [Path(out) / name for name in _png_names([f.relative_to(src) for f in files])]
    _refuse_overwriting_inputs(paths, files)
    check_output_file(paths[0])  # an --out that cannot be made or written: said before the first upscaling
    for given in files:  # all before the first is written, so a run does not stop halfway
        _check_fits(given, channels, scale)
    outcomes: list[Decoded | str] = []
    written = []
    try:
        with reporting("upscaling", len(files), "images") as advance:
            for path, given in zip(paths, files):
                decoded = decode_image(given, 0, channels)
                if not isinstance(decoded, str):
                    image = _upscaled(G, decoded.image, scale, tile, overlap)
                    with signals_held():  # the image and its count together
                        save_png(image, path)
                        written.append(path)
                        outcomes.append(decoded._replace(image=None))  # written: keep only what the warnings need
                    del image  # not held beside the next one while it is upscaled
                else:
                    outcomes.append(decoded)
                advance(1)
    except KeyboardInterrupt as stopped:  # each PNG whole (written atomically), but not all of them
        raise Interrupted(stopped, f"'{out}' holds the upscaled images of the first {len(outcomes):,} of the "
                                   f"{len(files):,} files, each whole; the same command upscales them all.") from None
    warn_decoded(src, files, outcomes, 0, channels)
    return written
