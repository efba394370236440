"""``ganforge sample --interpolate STEPS``: walks through a generator's latent space.

Each walk goes from one noise vector to another in ``STEPS`` frames, ends included, along the great circle
between them (spherical interpolation): a straight line between two Gaussian vectors passes near the origin,
where the norm is far below the norms G was trained on, and its middle frames come out faded (White, "Sampling
Generative Networks", 2016). A smooth walk says G learned a continuous space; a sudden jump, or the same image
all the way, says it memorised or collapsed.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch

from .errors import GanforgeError
from .files import check_output_file, write_atomic
from .images import MAX_GRID_IMAGES, make_grid, save_animation, save_png, to_pil, to_uint8
from .memory import check_fits
from .nets.conditional import takes_class_mixtures, with_labels
from .sampling import NOISE_BATCH, class_labels, draw_noise, load_for_sampling, pick_class
from .wording import say

# a walk's outputs: a grid (a walk per row), an animation (every walk at once, frame by frame), or the array
SUFFIXES = (".png", ".gif", ".webp", ".npy")
FRAME_MS = 80


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of ``a`` and ``b`` (N, D) at fractions ``t`` (S,): (N, S, D).
    Where two vectors are (nearly) parallel the great circle is undefined, and it is the straight line."""
    cos = torch.nn.functional.cosine_similarity(a, b, dim=1).clamp(-1.0, 1.0)[:, None, None]
    omega = torch.arccos(cos)
    t = t[None, :, None]
    sin = torch.sin(omega)
    parallel = sin.abs() < 1e-6
    safe = torch.where(parallel, torch.ones_like(sin), sin)
    wa = torch.where(parallel, 1 - t, torch.sin((1 - t) * omega) / safe)
    wb = torch.where(parallel, t, torch.sin(t * omega) / safe)
    return wa * a[:, None] + wb * b[:, None]


@torch.no_grad()
def interpolate(G: torch.nn.Module, z_dim: int, num: int, steps: int, seed: int = 0,
                truncation: float | None = None, num_classes: int = 0, label: int | None = None,
                to_label: int | None = None) -> torch.Tensor:
    """``num`` walks of ``steps`` frames each, as uint8 (num, steps, C, H, W).

    Walk i starts at image i of ``ganforge sample --seed`` (the same noise vector) and ends at a vector drawn
    after those ``num``. A class-conditional G keeps walk i's class (see
    :func:`~ganforge.sampling.class_labels`) all the way, so only the noise moves. With ``to_label``, the noise
    stays (walk i's is image i's) and the class moves instead, from ``label`` to ``to_label``: the class
    tables' rows are mixed in the walk's proportions (StudioGAN's interpolation with z fixed).
    """
    if steps < 2:
        raise GanforgeError(f"{say('--interpolate', 'steps')} must be at least 2 (a walk's two ends), got {steps}.")
    if num <= 0:
        raise GanforgeError(f"{say('--num', 'num')} must be > 0, got {num}.")
    g = torch.Generator().manual_seed(seed)
    starts = draw_noise(g, num, z_dim, truncation)  # generate's draw: walk i starts at sample's image i
    ends = starts if to_label is not None else draw_noise(g, num, z_dim, truncation)
    device = next(G.parameters()).device
    labels = class_labels(0, num, num_classes, label).to(device) if num_classes else None  # a walk's all the way
    # one frame tells the size of all: refuse walks whose noise, labels and frames will not fit, before making them
    frame = with_labels(G, starts[:1].to(device), None if labels is None else labels[:1])[0]
    # per frame: its noise (float32), its class (int64) or, on a walk between classes, its class weights (float32)
    label_bytes = 4 * num_classes if to_label is not None else 8 * bool(num_classes)
    check_fits(num * steps * (4 * z_dim + label_bytes + 2 * frame.numel()), f"{num:,} walks of {steps:,} "
               f"frames of {'x'.join(map(str, frame.shape))}", f"lower {say('--num', 'num')} or "
               f"{say('--interpolate', 'steps')}")
    if to_label is not None:  # each frame's class weights: 1 - t of the first class, t of the other
        t = torch.linspace(0.0, 1.0, steps, device=device)
        eye = torch.eye(num_classes, device=device)
        y = ((1 - t)[:, None] * eye[label] + t[:, None] * eye[to_label]).repeat(num, 1)
    else:
        y = None if labels is None else labels.repeat_interleave(steps)
    z = slerp(starts, ends, torch.linspace(0.0, 1.0, steps)).reshape(-1, z_dim)
    frames = [to_uint8(with_labels(G, z[i:i + NOISE_BATCH].to(device), None if y is None else y[i:i + NOISE_BATCH]))
              for i in range(0, len(z), NOISE_BATCH)]  # a batch at a time, as sample's
    return torch.cat(frames).reshape(num, steps, *frames[0].shape[1:])


def load_for_walks(source: str, use_ema: bool, truncation: float | None, class_: str | None,
                   to_class: str | None) -> tuple[torch.nn.Module, object, int | None, int | None]:
    """G, its config, and the indices of ``class_`` and ``to_class`` (None where not given), for walks; a walk
    between classes needs both classes and a G that takes mixtures of them."""
    G, cfg, label = load_for_sampling(source, use_ema, truncation, class_)
    if to_class is None:
        return G, cfg, label, None
    if not cfg.model.num_classes:  # said first: adding --class would only meet this
        raise GanforgeError(f"{say('--to-class', 'to_class')} walks between classes, but '{source}' was trained "
                            "without classes (model.num_classes = 0).")
    if class_ is None:
        raise GanforgeError(f"{say('--to-class', 'to_class')} walks from {say('--class', 'class_')} to it, with each "
                            f"walk's noise fixed; give {say('--class', 'class_')} too.")
    to_label = pick_class(to_class, cfg.model.num_classes, G.class_names, str(source), ("--to-class", "to_class"))
    if not takes_class_mixtures(G):
        raise GanforgeError(f"generator '{cfg.model.generator.name}' of '{source}' takes its classes itself, as whole "
                            "classes; a walk between classes mixes the rows of ganforge's class tables "
                            "(model.class_conditioning), which it does not use.")
    if to_label == label:  # drawn all the same (a still per walk), as asked, but not without a word
        named = f" {G.class_names[label]}" if G.class_names else ""
        warnings.warn(f"{say('--to-class', 'to_class')} names {say('--class', 'class_')}'s own class ({label}{named}), "
                      "and each walk keeps its noise: its frames are one image repeated. Name another class, or leave "
                      f"{say('--to-class', 'to_class')} out for walks between noise vectors in this class.")
    return G, cfg, label, to_label


def write_interpolation(source: str, num: int, steps: int, out: str, seed: int = 0, use_ema: bool = True,
                        truncation: float | None = None, class_: str | None = None,
                        to_class: str | None = None) -> Path:
    """Write ``num`` walks of ``steps`` frames to ``out``: a ``.png`` grid (a walk per row), an animated ``.gif``
    or lossless ``.webp`` (all walks side by side, moving forth and back), or a ``.npy`` of uint8
    (num * steps, C, H, W), walk by walk.
    With ``to_class`` each walk keeps its noise and goes from ``class_`` to ``to_class``."""
    out_path = Path(out)
    kind = out_path.suffix.lower()
    if kind not in SUFFIXES:
        raise GanforgeError(f"--out '{out_path}': --interpolate writes a .png grid (a walk per row), an animated "
                            ".gif or .webp, or a .npy of uint8 frames; name the file so.")
    if kind == ".png" and num * steps > MAX_GRID_IMAGES:
        raise GanforgeError(f"--num {num} walks of {steps} frames are {num * steps:,} images, too many for one grid "
                            f"(at most {MAX_GRID_IMAGES:,}); write a .npy, or fewer walks.")
    check_output_file(out_path)
    G, cfg, label, to_label = load_for_walks(source, use_ema, truncation, class_, to_class)
    walks = interpolate(G, cfg.model.z_dim, num, steps, seed, truncation, cfg.model.num_classes, label,
                        to_label).numpy()
    frames = walks.reshape(-1, *walks.shape[2:])  # walk by walk: (num * steps, C, H, W)
    if kind == ".png":
        save_png(make_grid(frames, nrow=steps), out_path)
    elif kind == ".npy":
        write_atomic(out_path, lambda f: np.save(f, frames))
    else:
        per_row = math.ceil(math.sqrt(num))
        pictures = [to_pil(make_grid(walks[:, j], nrow=per_row)) for j in range(steps)]
        pictures += pictures[-2:0:-1]  # and back, so the loop has no jump from the last picture to the first
        save_animation(pictures, out_path, FRAME_MS)
    return out_path
