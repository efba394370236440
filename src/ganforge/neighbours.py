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

from .errors import GanforgeError
from .files import check_output_file
from .images import MAX_GRID_IMAGES, make_grid, save_png
from .sampling import generate, load_for_sampling
from .wording import say


@dataclasses.dataclass
class Neighbours:
    """Samples and their nearest training images.

    Attributes:
        images: uint8 (N, 1 + K, C, H, W): each sample, then its K nearest training images, nearest first.
        indices: (N, K) the neighbours' places in the training set (the order the run's data loads in).
        distances: (N, K) their Euclidean distances in feature space.
        features: the extractor's name.
    """

    images: torch.Tensor
    indices: torch.Tensor
    distances: torch.Tensor
    features: str


def nearest_neighbours(source: str | Path, num: int, k: int, seed: int = 0, use_ema: bool = True,
                       truncation: float | None = None, class_: str | None = None,
                       features: str | None = None) -> Neighbours:
    """``num`` samples of a run (those ``ganforge sample --seed`` draws) with their ``k`` nearest images of the
    run's training data, in the features ``features`` (default: the run's ``eval.features``)."""
    from .data import load_images
    from .metrics.evaluate import array_batches, cached_features, extract
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
    train = load_images(cfg.data)  # all of it, in its own order
    if k > len(train):
        raise GanforgeError(f"{say('--nearest', 'k')} {k} is more than the {len(train)} training images.")
    real = torch.from_numpy(cached_features(extractor, train, cfg.data.cache_dir)[0].features)
    samples = torch.cat(list(generate(G, cfg.model.z_dim, num, seed, truncation,
                                      num_classes=cfg.model.num_classes, label=label)))
    fake = torch.from_numpy(extract(extractor, array_batches(samples), num, want_swd=False).features)
    # a few samples at a time: all distances at once would be num x (training images) floats, GBs for a large set
    nearest = [torch.cdist(part, real).topk(k, dim=1, largest=False) for part in fake.split(64)]  # nearest first
    distances, indices = torch.cat([d for d, _ in nearest]), torch.cat([i for _, i in nearest])
    images = torch.cat([samples[:, None], train[indices]], dim=1)
    return Neighbours(images, indices, distances, extractor.name)


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
