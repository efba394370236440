"""``ganforge sample``: images from a trained generator, as .npy, a PNG grid or a folder of PNGs."""
from __future__ import annotations

import itertools
import json
import shlex
import shutil
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from .config import Config, config_naming_source
from .data.folder import image_files
from .errors import GanforgeError, Interrupted, did_you_mean
from .files import (OTHER_ARRAY_SUFFIXES, check_output_file, format_bytes, make_dir, nearest_existing, signals_held,
                    write_atomic)
from .images import ANIMATIONS, MAX_GRID_IMAGES, make_grid, refuse_other_image_formats, save_png, to_uint8
from .nets import build_generator
from .nets.conditional import with_labels
from .plugins import check_run_components, load_plugins
from .progress import reporting
from .training import checkpoint as ckpt
from .wording import say


def load_generator(source: str | Path, use_ema: bool = True) -> tuple[torch.nn.Module, Config]:
    """G (or G_ema) from a run folder or checkpoint file, in eval mode, and its config.

    A class-conditional run's G has ``class_names``: the names of its classes, as the checkpoint saved them.
    Every G has ``source``: its checkpoint file, step, and ``G_ema`` or ``G``.
    """
    payload, path = ckpt.resolve(source)
    # a checkpoint of another ganforge version may hold a key this one lacks: its error names the file
    cfg = config_naming_source(json.loads(payload["config"]), [], f"the config stored in checkpoint '{path}'")
    run_dir = ckpt.run_dir_of(path)
    load_plugins(cfg.plugins, run_dir=run_dir)
    check_run_components(cfg, run_dir, ("model.generator.name",))
    G = build_generator(cfg)
    key = "G_ema" if use_ema and "G_ema" in payload else "G"
    try:
        G.load_state_dict(payload[key])
    except RuntimeError as e:
        raise GanforgeError(f"checkpoint '{path}' does not fit generator '{cfg.model.generator.name}' "
                            f"({ckpt.misfit_detail(e)}); its code changed since the checkpoint was written "
                            "(a plugin?). Restore that code to sample this run.") from None
    G.class_names = tuple(payload.get("classes", ()))
    # which weights these are, for what is measured or drawn from them (evaluate.json's protocol)
    G.source = {"checkpoint": str(path), "step": int(payload["state"]["step"]), "weights": key}
    if cfg.train.channels_last:
        # computed as in training, whose evaluations and sample grids ran G so; and oneDNN's convolutions are
        # faster so: 10,000 dcgan-fmnist samples in 0.69 against 1.04 s (docs/performance.md)
        G.to(memory_format=torch.channels_last)
    return G.eval().requires_grad_(False), cfg


def class_labels(start: int, stop: int, num_classes: int, label: int | None = None) -> torch.Tensor:
    """The classes of images [start, stop) of a class-conditional sample: ``label`` for all, or else
    image i of class i mod num_classes, so every class gets an equal share and a grid of
    ``num_classes`` columns shows one class per column."""
    if label is not None:
        return torch.full((stop - start,), label, dtype=torch.long)
    return torch.arange(start, stop) % num_classes


# images drawn per forward: memory stays bounded for any --num, and the noise is drawn in these batches, so
# image i is the same for every consumer of the draw (sample, evaluate's shards, interpolation's starts)
NOISE_BATCH = 500


def draw_noise(g: torch.Generator, num: int, z_dim: int, truncation: float | None = None) -> torch.Tensor:
    """The next ``num`` noise vectors (num, z_dim) of ``g``: N(0, 1), or truncated to [-T, T] (the truncation
    trick), batch by batch as :func:`generate` draws them."""
    batches = []
    for start in range(0, num, NOISE_BATCH):
        z = torch.empty(min(NOISE_BATCH, num - start), z_dim)
        if truncation is not None:
            torch.nn.init.trunc_normal_(z, 0.0, 1.0, -truncation, truncation, generator=g)
        else:
            z.normal_(generator=g)
        batches.append(z)
    return torch.cat(batches)


@torch.no_grad()
def generate(G: torch.nn.Module, z_dim: int, num: int, seed: int = 0, truncation: float | None = None,
             batch_size: int = NOISE_BATCH, shard: tuple[int, int] | None = None, num_classes: int = 0,
             label: int | None = None):
    """Yield uint8 batches (B, C, H, W) of ``num`` images from seeded noise.

    Args:
        truncation: if set, z is drawn from N(0, 1) truncated to [-T, T] (the truncation trick).
        shard: only images [start, stop) of the ``num`` (one rank's part of a sharded
            evaluation); the noise of the others is drawn and skipped, so image i is the
            same for any sharding.
        num_classes: a class-conditional G's classes (0: unconditional); see :func:`class_labels`.
        label: draw every image of this class.
    """
    lo, hi = shard if shard is not None else (0, num)
    g = torch.Generator().manual_seed(seed)
    device = next(G.parameters()).device
    for start in range(0, min(num, hi), batch_size):
        z = draw_noise(g, min(batch_size, num - start), z_dim, truncation)
        first = max(lo - start, 0)
        z = z[first:hi - start]
        if not len(z):
            continue
        y = class_labels(start + first, start + first + len(z), num_classes, label).to(device) if num_classes else None
        yield to_uint8(with_labels(G, z.to(device), y))


def generate_all(G: torch.nn.Module, cfg: Config, num: int, seed: int = 0, truncation: float | None = None,
                 label: int | None = None) -> torch.Tensor:
    """The ``num`` images ``ganforge sample --seed`` draws from ``G`` of the run ``cfg``, as one uint8 tensor
    (N, C, H, W)."""
    return torch.cat(list(generate(G, cfg.model.z_dim, num, seed, truncation, num_classes=cfg.model.num_classes,
                                   label=label)))


# the disk a small PNG takes at least: one filesystem block
MIN_PNG_BYTES = 4096


def load_for_sampling(source: str | Path, use_ema: bool = True, truncation: float | None = None,
                      class_: str | None = None) -> tuple[torch.nn.Module, Config, int | None]:
    """G and its config for drawing samples, and the index of ``class_`` (a class's index or name; None: every
    class in turn); refuses a super-resolution run, whose G needs an image, not noise."""
    if truncation is not None and not truncation > 0:  # not <= 0: nan must fail too
        raise GanforgeError(f"{say('--truncation', 'truncation')} must be > 0, got {truncation}.")
    G, cfg = load_generator(source, use_ema)
    if cfg.model.task == "sr":
        raise GanforgeError(f"'{source}' is a super-resolution run: its generator needs an image, not noise. "
                            + say(f"Use: ganforge upscale {shlex.quote(str(source))} INPUT --out OUTPUT.",
                                  f"Use: ganforge.upscale({str(source)!r}, image)."))
    label = pick_class(class_, cfg.model.num_classes, G.class_names, str(source)) if class_ is not None else None
    return G, cfg, label


def sample(source: str, num: int, out: str, seed: int = 0, use_ema: bool = True,
           truncation: float | None = None, class_: str | None = None) -> Path:
    """Write ``num`` samples to ``out``: ``.npy`` (uint8 N,C,H,W), ``.png`` grid, or a folder of PNGs.

    A class-conditional run draws every class in turn (a grid shows one class per column), or
    only ``class_``, a class's index or name. Its folder has one subfolder per class (the layout
    ``data.name = "folder"`` reads classes from), so the samples keep their labels.

    The .npy file and the folder are written batch by batch, so memory does not grow with
    ``num``; the free disk space is checked before the first image is made.
    """
    out_path = Path(out)
    kind = out_path.suffix.lower()  # samples.NPY and grid.PNG are files too, not folders of that name
    if num <= 0:
        raise GanforgeError(f"--num must be > 0, got {num}.")
    if num > MAX_GRID_IMAGES and kind == ".png":
        raise GanforgeError(f"--num {num} is too many for one grid image (at most {MAX_GRID_IMAGES:,}); "
                            "write them to a .npy file or a folder of PNGs instead.")
    if kind in ANIMATIONS:  # the animations sample writes are --interpolate's walks
        raise GanforgeError(f"--out '{out_path}': an animation is of walks through the noise space: add "
                            f"--interpolate STEPS (ganforge timelapse RUN --out {out_path.name} animates the run's "
                            "sample grids); samples go to a .png grid, a .npy or a folder.")
    refuse_other_image_formats(out_path)
    if kind in OTHER_ARRAY_SUFFIXES:  # it would be a folder of PNGs named so
        raise GanforgeError(f"--out '{out_path}': sample writes a .npy of uint8 images (N, C, H, W), a .png grid "
                            "or a folder of PNGs; name the file .npy.")
    if kind in (".npy", ".png"):
        check_output_file(out_path)
    G, cfg, label = load_for_sampling(source, use_ema, truncation, class_)
    k = cfg.model.num_classes
    image_bytes = cfg.data.channels * cfg.data.resolution ** 2
    if kind != ".png":
        _check_free_space(out_path, num * (image_bytes if kind == ".npy" else max(image_bytes, MIN_PNG_BYTES)))
    if kind not in (".npy", ".png"):
        folders = class_folders(G.class_names, k) if k else []

        def path_of(i: int) -> Path:
            """Where image i goes: its class's subfolder in a class-conditional run."""
            return out_path / (folders[i % k if label is None else label] if k else "") / _png_name(i, num)
        _refuse_stale_images(out_path, num, path_of, {folders[label]} if label is not None else None)
    batches = generate(G, cfg.model.z_dim, num, seed, truncation, num_classes=k, label=label)
    if kind == ".npy":
        write_atomic(out_path, lambda f: _write_npy(f, batches, num))
    elif kind == ".png":
        columns = k if k and label is None and k <= num else None  # one class per column
        save_png(make_grid(np.concatenate([b.numpy() for b in batches]), nrow=columns), out_path)
    else:
        for i in range(min(num, k or 1)):  # the first k images' folders are every folder the images go to
            make_dir(path_of(i).parent)
        written = 0  # image i goes to path_of(i): the count is the index of the next
        try:
            with reporting("samples", num, "images") as advance:  # 50,000 took 37 s at 28x28, minutes at 64x64
                for img in (img for b in batches for img in b.numpy()):
                    with signals_held():  # the image and its count together
                        save_png(img, path_of(written))
                        written += 1
                    advance(1)
        except KeyboardInterrupt as stopped:  # each PNG whole (written atomically), but not all of them
            raise Interrupted(stopped, f"'{out_path}' holds the first {written:,} of the {num:,} images, each "
                                       "whole; the same command writes them all.") from None
    return out_path


def class_folders(class_names: tuple[str, ...], num_classes: int) -> list[str]:
    """A folder name per class: the class's name with path separators replaced (Fashion-MNIST's
    'T-shirt/top' becomes 'T-shirt_top'); the index where names are missing or collide after that."""
    names = [n.replace("/", "_").replace("\\", "_").strip() for n in class_names]
    if len(names) != num_classes or len(set(n.casefold() for n in names)) != num_classes \
            or any(n in ("", ".", "..") for n in names):
        width = len(str(num_classes - 1))  # zero-padded, so the folders sort in class order
        return [f"{i:0{width}d}" for i in range(num_classes)]
    return names


def pick_class(name: str, num_classes: int, class_names: tuple[str, ...], source: str,
               flag: tuple[str, str] = ("--class", "class_")) -> int:
    """The index of ``--class name``: a class's name (case-insensitive), else its index. The name comes
    first: a folder of classes named 1 to 10 sorts as 1, 10, 2, ..., so class '2' is index 2 but '10' is 1.
    ``flag``: the option that gave it, as the command and as Python name it (``--to-class`` gives one too)."""
    if not num_classes:
        raise GanforgeError(f"{say('--class', 'class_')} needs a class-conditional run, but '{source}' was trained "
                            "without classes (model.num_classes = 0).")
    folded = [c.casefold() for c in class_names]
    if name.casefold() in folded:
        return folded.index(name.casefold())
    folders = [f.casefold() for f in class_folders(class_names, num_classes)]  # the name of its folder of samples
    if name.casefold() in folders:  # ('T-shirt_top', as `ganforge sample --out FOLDER` wrote it)
        return folders.index(name.casefold())
    if name.isdigit() and int(name) < num_classes:
        return int(name)
    named = f": {', '.join(f'{i} {c}' for i, c in enumerate(class_names))}" if class_names else ""
    # a misspelt name ('Sneakr'), or the start of one: 't-shirt' means 'T-shirt/top', though 'Shirt' is closer
    starts = [c for c in class_names if c.casefold().startswith(name.casefold())]
    hint = "" if name.isdigit() else did_you_mean(name, starts if len(starts) == 1 else class_names)
    raise GanforgeError(f"{say(*flag)} '{name}' is not a class of '{source}'.{hint} Give an index from 0 "
                        f"to {num_classes - 1} or a name{named}.")


def _png_name(i: int, num: int) -> str:
    """Image ``i`` of ``num`` in a folder: zero-padded (at least 6 digits), so sorted names are in order."""
    return f"{i:0{max(6, len(str(num - 1)))}d}.png"


def _refuse_stale_images(folder: Path, num: int, path_of: Callable[[int], Path], only: set[str] | None) -> None:
    """Refuse a folder holding images that the ``num`` new ones (image i goes to ``path_of(i)``) would
    not replace: the folder would mix old samples with new ones, and ``evaluate FOLDER`` would score
    them together.

    ``only``: the class subfolders being written (``--class``); the other classes' folders are left
    as they are, so a labelled set can be written one class at a time.
    """
    if not folder.is_dir():
        return

    def replaced(p: Path) -> bool:
        return p.stem.isdigit() and int(p.stem) < num and path_of(int(p.stem)) == p

    stale = [p for p in image_files(folder) if not replaced(p)
             and (only is None or p.parent == folder or p.relative_to(folder).parts[0] in only)]
    if stale:
        n, more = len(stale), ", ..." if len(stale) > 1 else ""
        raise GanforgeError(f"--out '{folder}' already holds {n} image{'s' * (n != 1)} that {num} "
                            f"sample{'s' * (num != 1)} would not replace ({stale[0].relative_to(folder)}{more}), "
                            f"so old and new samples would mix. Choose a new or empty folder, or remove "
                            f"{'them' if n != 1 else 'it'}.")


def _check_free_space(out: Path, need: int) -> None:
    """Refuse, before generating, an output larger than the free space where it will go."""
    folder = nearest_existing(out.absolute())
    free = shutil.disk_usage(folder).free
    if need > free:
        raise GanforgeError(f"the samples need about {format_bytes(need)} but '{folder}' has "
                            f"{format_bytes(free)} free; lower --num or choose an --out on a larger disk.")


def _write_npy(f, batches: Iterator[torch.Tensor], num: int) -> None:
    """Write uint8 batches as one .npy array of ``num`` images: the header, then each batch's bytes."""
    first = next(batches)
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False,
              "shape": (num, *first.shape[1:])}
    np.lib.format.write_array_header_1_0(f, header)
    for b in itertools.chain([first], batches):
        f.write(b.numpy().tobytes())  # C order, as the header says
