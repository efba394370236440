"""Datasets: every loader returns uint8 images (N, C, H, W) held in memory."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..config import DataConfig
from ..errors import GanforgeError, did_you_mean
from ..memory import check_fits
from ..progress import reporting
from ..wording import setting
from .batches import InMemoryBatches
from .cifar import CLASSES as CIFAR10_CLASSES
from .cifar import load_cifar10
from .folder import DataWarning, load_folder, load_folder_classes
from .idx import IDX_SETS, load_idx_images, load_idx_labels
from .npy import NO_CLASSES, NO_TEST_SPLIT, load_npy

DATASET_NAMES = ("fashion-mnist", "mnist", "cifar10", "folder", "npy")
CHUNK_BYTES = 1 << 28  # float32 images resized at a time (256 MB)

__all__ = ["DATASET_NAMES", "DataWarning", "InMemoryBatches", "check_dataset", "load_images", "load_labeled"]


def _fit(images: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """Convert a fixed-size dataset to the config's channels and resolution."""
    # grey made RGB is resized first and repeated after: the three channels would be resized alike, at 3x the work
    # and float memory (`ganforge data fashion-mnist --resolution 64 --channels 3`: 6.7-7.3 s, against 13.9-16.6 s)
    grey_to_rgb = images.shape[1] == 1 and cfg.channels == 3
    if images.shape[1] != cfg.channels and not grey_to_rgb:  # ITU-R 601 luma, as Pillow's convert("L")
        w = np.array([0.299, 0.587, 0.114], dtype=np.float32)[None, :, None, None]
        images = np.clip((images * w).sum(1, keepdims=True) + 0.5, 0, 255).astype(np.uint8)
    if images.shape[-1] != cfg.resolution:
        # e.g. 28 -> 32 for networks that want powers of two; bilinear with antialiasing when shrinking
        n, c, r = len(images), images.shape[1], cfg.resolution
        resolution_key = setting("data.resolution")  # ganforge data's --resolution
        step = max(1, CHUNK_BYTES // (4 * c * r * r))  # float32 in chunks: the whole set would be 4x the uint8 result
        # the uint8 result, and beside it one chunk resized in float32 (a single huge image is 4x its own result);
        # then, for grey made RGB, the repeated result beside the resized grey
        check_fits(n * c * r * r + max(4 * min(step, n) * c * r * r, 3 * n * r * r * grey_to_rgb),
                   f"{n:,} image{'s' * (n != 1)} of {cfg.channels}x{r}x{r} ({resolution_key}={r})",
                   f"lower {resolution_key}")
        out = np.empty((n, c, r, r), np.uint8)
        side = images.shape[-1]
        # Fashion-MNIST's 60,000 at 64x64 take seconds, at 256x256 minutes: a bar, or a line every 30 s in a log
        with reporting(f"resizing {side}x{side} to {r}x{r}", n, "images") as advance:
            for i in range(0, n, step):
                t = torch.from_numpy(images[i:i + step]).float()
                t = F.interpolate(t, size=(r, r), mode="bilinear", align_corners=False, antialias=r < side)
                out[i:i + step] = t.round_().clamp_(0, 255).to(torch.uint8).numpy()  # in place: no second float chunk
                advance(len(t))
        images = out
    if grey_to_rgb:
        images = np.repeat(images, 3, axis=1)
    return images


# the datasets of one set of images: what each holds, and how evaluate is given held-out images of its kind
ONE_SET = {"folder": ("an image folder has one set of images and no test split", "their folder",
                      "--data-root HELD_OUT_FOLDER"),
           "npy": (NO_TEST_SPLIT, "their .npy", "--ref HELD_OUT.npy")}


def load_images(cfg: DataConfig, first: int | None = None) -> torch.Tensor:
    """Load the configured dataset as a uint8 tensor (N, C, resolution, resolution).

    ``first`` keeps only the first N images, before they are resized. Errors name the data settings
    as the running command does (:func:`ganforge.wording.settings_named`).
    """
    images = _load(cfg, with_labels=False)[0]
    return torch.from_numpy(np.ascontiguousarray(_fit(images[:first], cfg)))


def load_labeled(cfg: DataConfig) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """The dataset of :func:`load_images`, each image's class as int64 (N,), and the class names:
    the datasets' own ten classes, or an image folder's subfolders (see :func:`load_folder_classes`)."""
    images, labels, classes = _load(cfg, with_labels=True)
    return torch.from_numpy(np.ascontiguousarray(_fit(images, cfg))), torch.from_numpy(labels), classes


def check_dataset(cfg: DataConfig) -> None:
    """Refuse a dataset name ganforge does not read, and a folder's test split, which it does not have; before
    any work, as evaluate asks it before it warns of the features' domain and makes its samples."""
    if cfg.name not in DATASET_NAMES:
        raise GanforgeError(f"unknown dataset '{cfg.name}'.{did_you_mean(cfg.name, DATASET_NAMES)} Valid datasets: "
                            f"{', '.join(DATASET_NAMES)}.")
    if cfg.name in ONE_SET and cfg.split == "test":  # a folder's loader would return its images as 'folder:test'
        holds, theirs, flag = ONE_SET[cfg.name]
        raise GanforgeError(f"{holds}. To compare with held-out images, pass {theirs} as the reference: ganforge "
                            f"evaluate RUN {flag}.")


def _load(cfg: DataConfig, with_labels: bool) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    check_dataset(cfg)
    labels, classes = None, ()
    if cfg.name in ("mnist", "fashion-mnist"):
        where = (cfg.split, cfg.root, cfg.download, cfg.mirror, cfg.cache_dir)
        images = load_idx_images(cfg.name, *where)
        if with_labels:
            labels, classes = load_idx_labels(cfg.name, *where), IDX_SETS[cfg.name]["classes"]
            if len(labels) != len(images):
                raise GanforgeError(f"{cfg.name} {cfg.split}: {len(images):,} images but {len(labels):,} labels; "
                                    "the IDX files do not belong together (re-download or fix "
                                    f"{setting('data.root')}).")
    elif cfg.name == "cifar10":
        images, labels = load_cifar10(cfg.split, cfg.root, cfg.download, cfg.mirror, cfg.cache_dir)
        classes = CIFAR10_CLASSES
    elif cfg.name == "npy":
        if with_labels:
            raise GanforgeError(NO_CLASSES)
        images = load_npy(cfg.root)
    elif with_labels:  # a folder (check_dataset refused any other name)
        images, labels, classes = load_folder_classes(cfg.root, cfg.resolution, cfg.channels, cfg.cache_dir)
    else:
        images = load_folder(cfg.root, cfg.resolution, cfg.channels, cfg.cache_dir)
    return images, labels, classes
