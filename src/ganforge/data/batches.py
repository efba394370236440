"""In-memory training batches: a seeded per-epoch shuffle over a uint8 tensor."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from ..distributed import rank_rows
from ..errors import GanforgeError
from .folder import DataWarning


def epochs_at(position: dict[str, int], batch_size: int) -> float:
    """Fractional epochs at a data position (an :meth:`InMemoryBatches.state_dict`), at ``batch_size``.

    Counted out of the images an epoch uses (the partial batch is dropped), so an epoch ends
    at exactly 1.0. A resume reads it from a checkpoint before loading any data.
    """
    used = position["images"] // batch_size * batch_size
    return position["epoch"] + (min(1.0, position["start"] / used) if used else 0.0)


@dataclass(frozen=True)
class LabeledBatch:
    """This rank's part of a batch of real images with their classes (a class-conditional GAN's input)."""

    images: torch.Tensor  # (B / W, C, H, W) in [-1, 1]
    labels: torch.Tensor  # (B / W,) int64 class indices


class InMemoryBatches:
    """Draws batches of real images from a uint8 tensor held in memory.

    Every epoch is a permutation seeded by ``(seed, epoch)``, so the data order
    is a pure function of the position ``(epoch, start)``, ``start`` counting the
    images of the epoch already drawn; that position is all a checkpoint needs to
    resume the exact same order. Counting images rather than batches lets a resume
    with another ``train.batch_size`` go on from the next unseen image. The last
    partial batch of an epoch is dropped so every step sees ``batch_size`` images.

    Under torchrun, ``batch_size`` is the global batch and rank ``r`` of ``W``
    takes the r-th of W equal slices of it: the global order is the same for any
    world size, so a checkpoint resumes on any number of processes.

    Args:
        images: uint8 (N, C, H, W); subclasses may pass a list of uint8 (C, H, W) images of
            different sizes (super-resolution's :class:`~ganforge.data.pairs.SRBatches`).
        batch_size: images per global batch.
        seed: shuffle seed.
        rank, world_size: this process's slice of each batch.
        labels: each image's class (int64 (N,)) for a class-conditional GAN: :meth:`next` then
            returns a :class:`LabeledBatch`.
    """

    def __init__(self, images: torch.Tensor | list[torch.Tensor], batch_size: int, seed: int, rank: int = 0,
                 world_size: int = 1, labels: torch.Tensor | None = None) -> None:
        if isinstance(images, torch.Tensor) and (images.dtype != torch.uint8 or images.ndim != 4):
            raise GanforgeError(f"training images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}.")
        if len(images) < batch_size:
            raise GanforgeError(
                f"the dataset has {len(images)} image{'s' * (len(images) != 1)}, fewer than one batch "
                f"(train.batch_size={batch_size}); "
                "lower train.batch_size or add images."
            )
        if batch_size % world_size:
            raise GanforgeError(f"train.batch_size={batch_size} is the global batch and must split evenly over "
                                f"{world_size} processes; use a multiple of {world_size}.")
        self.images = images
        self.labels = labels
        self.class_names: tuple[str, ...] = ()  # the names of the labels' classes, where the data has them
        self.rank, self.world_size = rank, world_size
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self.start = 0  # images of this epoch already drawn
        self._order = self._permutation(0)

    @property
    def batches_per_epoch(self) -> int:
        """Full batches in one epoch."""
        return len(self.images) // self.batch_size

    def hold_on(self, device: torch.device) -> None:
        """Keep the images (and labels) on ``device`` when it is a GPU with room for them.

        Why: a batch gathered on the CPU reaches the GPU through a copy from pageable memory,
        which waits for the GPU's queue to drain, so the host stops queueing work every step.
        On the GPU, the gather and the conversion to float are queued like the step's own
        kernels (data wait 1.5-1.9 % of the step on an H200). The gain is small there: batches
        from host memory were 0.98-0.99x as fast, side by side (docs/performance.md "On a GPU").
        Fashion-MNIST is 47 MB; a dataset larger than a quarter of the GPU's free memory stays
        on the CPU.
        """
        if device.type != "cuda" or not isinstance(self.images, torch.Tensor) or self.images.is_cuda:
            return
        free, _ = torch.cuda.mem_get_info(device)
        if self.images.nbytes > free // 4:
            return
        self.images = self.images.to(device)
        self.labels = self.labels.to(device) if self.labels is not None else None
        self._order = self._order.to(device)

    def first(self, n: int) -> torch.Tensor:
        """The dataset's first ``n`` uint8 images on the CPU, wherever the set is held (for grids and
        checks). Super-resolution's batches give crops of one size instead."""
        return self.images[:n].cpu()

    def _permutation(self, epoch: int) -> torch.Tensor:
        # drawn on the CPU with a CPU generator (the same order on any device), then put beside the images
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.images), generator=g)
        return order.to(self.images.device) if isinstance(self.images, torch.Tensor) else order

    def next_indices(self) -> torch.Tensor:
        """Advance one batch; the dataset indices of the whole global batch, in order."""
        if self.start + self.batch_size > len(self.images):
            self.epoch += 1
            self.start = 0
            self._order = self._permutation(self.epoch)
        start = self.start
        self.start += self.batch_size
        return self._order[start:start + self.batch_size]

    def my_rows(self, full: torch.Tensor) -> torch.Tensor:
        """This rank's slice of something made for the whole global batch."""
        return rank_rows(full, self.rank, self.world_size)

    def next(self, device: torch.device | str = "cpu") -> torch.Tensor | LabeledBatch:
        """This rank's part of the next batch as float in [-1, 1], shape (B / W, C, H, W); with
        ``labels``, a :class:`LabeledBatch` of those images and their classes."""
        idx = self.my_rows(self.next_indices())
        batch = self.images[idx].to(device, non_blocking=True)
        # uint8 -> [-1, 1] in one fused pass, matching ToTensor + Normalize(0.5, 0.5)
        images = batch.float().mul_(2.0 / 255.0).sub_(1.0)
        if self.labels is None:
            return images
        return LabeledBatch(images, self.labels[idx].to(device, non_blocking=True))

    @property
    def epochs_done(self) -> float:
        """Fractional epochs consumed so far."""
        return epochs_at(self.state_dict(), self.batch_size)

    def state_dict(self) -> dict[str, int]:
        """Data-order position for checkpoints."""
        return {"epoch": self.epoch, "start": self.start, "seed": self.seed, "images": len(self.images)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume the data order at a saved position."""
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])
        # checkpoints before 2026-11-24 counted batches ("index"), at the batch size they were made with
        self.start = int(state["start"]) if "start" in state else int(state["index"]) * self.batch_size
        self._order = self._permutation(self.epoch)
        saved = int(state.get("images", len(self.images)))  # checkpoints before 2026-11-24 did not say
        if saved != len(self.images):
            # mid-epoch, the permutation is now over the new count, so the rest of the epoch is not the
            # rest of the order the run began
            midway = (f"; this epoch ({self.epoch + 1}) is reshuffled, so some of its images may be seen twice "
                      "or not at all") if self.start else ""
            warnings.warn(f"the data now has {len(self.images):,} images, but the run's checkpoint was made with "
                          f"{saved:,}; training goes on with the data as it is now{midway}.", DataWarning, stacklevel=2)
