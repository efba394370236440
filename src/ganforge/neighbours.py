"""``ganforge sample --nearest K``: each sample beside the K training images nearest to it.

The check for memorisation that GAN papers print (DCGAN, BigGAN): a G that copies its training set draws
samples whose nearest training image is the same picture. Nearness is measured in the run's evaluation
features (``eval.features``, or ``--features``), not in pixels, where a garment moved by two pixels is far
from itself and a blank image near every dark one.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from .data.folder import loaded_files
from .errors import GanforgeError
from .files import check_output_file
from .images import MAX_GRID_IMAGES, make_grid, save_png
from .sampling import generate_all, load_for_sampling
from .wording import say

# training images whose own nearest neighbour sets the scale of distances
TYPICAL_OF = 1000


@dataclasses.dataclass
class Neighbours:
    """Samples and their nearest training images.

    Attributes:
        images: uint8 (N, 1 + K, C, H, W): each sample, then its K nearest training images, nearest first.
        indices: (N, K) the neighbours' places in the training set (the order the run's data loads in).
        distances: (N, K) their Euclidean distances in feature space.
        features: the extractor's name.
        typical: the median distance from a training image to its nearest other one (of up to 1,000 drawn with
            the seed): the scale that says whether a sample's nearest is close.
        files: (N, K) the neighbours' files, relative to ``data.root``, for an image folder; else None.
    """

    images: torch.Tensor
    indices: torch.Tensor
    distances: torch.Tensor
    features: str
    typical: float
    files: list[list[str]] | None = None


def nearest_neighbours(source: str | Path, num: int, k: int, seed: int = 0, use_ema: bool = True,
                       truncation: float | None = None, class_: str | None = None,
                       features: str | None = None) -> Neighbours:
    """``num`` samples of a run (those ``ganforge sample --seed`` draws) with their ``k`` nearest images of the
    run's training data, in the features ``features`` (default: the run's ``eval.features``)."""
    from .data import load_images
    from .metrics.evaluate import array_batches, cached_features, extract, seeded_subset, warn_of_foreign_features
    from .metrics.features import build_features
    from .plugins import check_run_components

    if k < 1:
        raise GanforgeError(f"{say('--nearest', 'k')} must be at least 1, got {k}.")
    if num <= 0:
        raise GanforgeError(f"{say('--num', 'num')} must be > 0, got {num}.")
    G, cfg, label = load_for_sampling(source, use_ema, truncation, class_)
    if features is None:
        check_run_components(cfg, Path(source), ("eval.features",))
    extractor = build_features(features or cfg.eval.features)
    warn_of_foreign_features(extractor, cfg.data.name, "a copy still lies at 0 from its training image, but "
                                                       "which other images come nearest says little")
    train = load_images(cfg.data)  # all of it, in its own order
    if k > len(train):
        raise GanforgeError(f"{say('--nearest', 'k')} {k} is more than the {len(train)} training images.")
    real = torch.from_numpy(cached_features(extractor, train, cfg.data.cache_dir)[0].features)
    samples = generate_all(G, cfg, num, seed, truncation, label)
    fake = torch.from_numpy(extract(extractor, array_batches(samples), num, want_swd=False).features)
    distances, indices = _nearest(fake, real, k)
    # each of up to 1,000 training images against the others: its own distance 0 comes first, its nearest second
    own = real[seeded_subset(len(real), min(TYPICAL_OF, len(real)), seed)]
    typical = float(_nearest(own, real, 2)[0][:, -1].median()) if len(real) > 1 else float("nan")
    names = _file_names(cfg.data, len(train))
    files = None if names is None else [[names[i] for i in row] for row in indices.tolist()]
    return Neighbours(torch.cat([samples[:, None], train[indices]], dim=1), indices, distances, extractor.name,
                      typical, files)


def _nearest(queries: torch.Tensor, points: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The distances and indices of each query's ``k`` nearest points, nearest first. A few queries at a time:
    all distances at once would be queries x points floats, GBs for a large training set."""
    nearest = [torch.cdist(part, points).topk(k, dim=1, largest=False) for part in queries.split(64)]
    return torch.cat([d for d, _ in nearest]), torch.cat([i for _, i in nearest])


def _file_names(data, count: int) -> list[str] | None:
    """Each of the ``count`` training images' file relative to ``data.root``, for an image folder, as its cache
    recorded them when it was loaded; None for another dataset (or a cache written before files were recorded)."""
    if data.name != "folder":
        return None
    names = loaded_files(data.root, data.resolution, data.channels, data.cache_dir)
    return names if names is not None and len(names) == count else None


def format_neighbours(found: Neighbours) -> str:
    """Each sample's nearest training image and distance, one line each, and the scale to read them by."""
    lines = [f"{'sample':>6}  {'distance':>8}  nearest training image"]
    for i, (d, j) in enumerate(zip(found.distances[:, 0].tolist(), found.indices[:, 0].tolist())):
        lines.append(f"{i:>6}  {d:>8.3f}  {found.files[i][0] if found.files else j}")
    lines.append(f"(in '{found.features}' features; a training image's own nearest other lies at a median "
                 f"{found.typical:.3f}, and a copy at 0)")
    return "\n".join(lines)


def write_nearest(source: str, num: int, k: int, out: str, **options) -> Neighbours:
    """Write a ``.png`` grid of ``num`` rows: a sample, then its ``k`` nearest training images. ``options``: those
    of :func:`nearest_neighbours`."""
    out_path = Path(out)
    if out_path.suffix.lower() != ".png":
        raise GanforgeError(f"--out '{out_path}': --nearest writes a .png grid (a sample and its neighbours per "
                            "row); name the file .png.")
    if num * (k + 1) > MAX_GRID_IMAGES:
        raise GanforgeError(f"--num {num} rows of {k + 1} images are {num * (k + 1):,}, too many for one grid "
                            f"(at most {MAX_GRID_IMAGES:,}); lower --num or --nearest.")
    check_output_file(out_path)
    found = nearest_neighbours(source, num, k, **options)
    save_png(make_grid(found.images.flatten(0, 1).numpy(), nrow=k + 1), out_path)
    return found
