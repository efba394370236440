"""Differentiable augmentation (DiffAugment, Zhao et al. 2020, "Differentiable Augmentation for
Data-Efficient GAN Training").

D sees every image, real or fake, through the same random transforms, and G's gradient flows
back through them, so D cannot memorize a small dataset and G is not taught to make augmented
images. The three transforms are the paper's:

* ``color``: brightness + U(-0.5, 0.5); saturation (distance from the pixel's channel mean) x U(0, 2);
  contrast (distance from the image's mean) x U(0.5, 1.5);
* ``translation``: a shift of up to 1/8 of the side in each direction, zeros shifted in;
* ``cutout``: a square of half the side, at a random centre, set to 0.

With ``objective.ada_target`` each transform is applied to each image with a probability p that
:class:`AdaptiveProbability` tunes as training goes, by the rule of ADA (Karras et al. 2020,
"Training Generative Adversarial Networks with Limited Data"): p rises while D is sure of the real
images and falls while it is not. The transforms stay DiffAugment's three, not ADA's own pipeline.

Every random number is drawn for the whole global batch from torch's global RNG and this rank
takes its rows, as the noise is: a run resumes bitwise and W ranks compute what one does.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F

from .errors import GanforgeError

Rows = Callable[[torch.Tensor], torch.Tensor]  # this rank's rows of a tensor drawn for the global batch


def _uniform(x: torch.Tensor, rows: Rows, world: int, low: float, high: float) -> torch.Tensor:
    """One U(low, high) number per image, shaped to broadcast over (C, H, W)."""
    u = rows(torch.rand(x.shape[0] * world, 1, 1, 1, device=x.device, dtype=x.dtype))
    return low + (high - low) * u


def color(x: torch.Tensor, rows: Rows, world: int) -> torch.Tensor:
    """Brightness, saturation and contrast, each scaled by one random number per image."""
    x = x + _uniform(x, rows, world, -0.5, 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * _uniform(x, rows, world, 0.0, 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, rows, world, 0.5, 1.5) + mean


def _offsets(x: torch.Tensor, rows: Rows, world: int, low: int, high: int) -> torch.Tensor:
    """Random integers in [low, high], one per image and axis: (B, 2, 1, 1)."""
    return rows(torch.randint(low, high + 1, (x.shape[0] * world, 2, 1, 1), device=x.device))


def translation(x: torch.Tensor, rows: Rows, world: int, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its side along each axis; zeros fill what is uncovered."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    shift = _offsets(x, rows, world, -max(sy, sx), max(sy, sx))
    dy, dx = shift[:, 0].clamp(-sy, sy), shift[:, 1].clamp(-sx, sx)  # (B, 1, 1) each
    ys = torch.arange(h, device=x.device).view(1, h, 1) + dy + sy  # rows of the padded image to read
    xs = torch.arange(w, device=x.device).view(1, 1, w) + dx + sx
    padded = F.pad(x, (sx, sx, sy, sy))
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, ys, xs].permute(0, 3, 1, 2)  # (B, H, W, C) gathered, back to NCHW


def cutout(x: torch.Tensor, rows: Rows, world: int, ratio: float = 0.5) -> torch.Tensor:
    """Zero a square of ``ratio`` of the side, centred anywhere in the image (it may stick out)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    centre = _offsets(x, rows, world, 0, max(h, w) - 1)
    cy, cx = centre[:, 0] % h, centre[:, 1] % w  # (B, 1, 1) each
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((ys - cy).abs() <= ch // 2) & ((xs - cx).abs() <= cw // 2)
    return x * (~inside).unsqueeze(1).to(x.dtype)


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(policy: str, key: str = "objective.diffaugment") -> tuple[str, ...]:
    """The transforms named in a comma-separated ``policy`` ("" for none), in the order given."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    for name in names:
        if name not in TRANSFORMS:
            raise GanforgeError(f"config key '{key}' names '{name}', which is not a DiffAugment transform; "
                                f"use a comma-separated list of {', '.join(TRANSFORMS)} (or \"\" for none).")
    return names


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], rows: Rows = lambda t: t, world: int = 1,
                 p: float = 1.0) -> torch.Tensor:
    """``x`` (B, C, H, W) in [-1, 1] through the ``policy``'s transforms, differentiably.

    Args:
        rows: this rank's rows of a tensor drawn for the whole global batch.
        world: the number of ranks (the global batch is ``world`` x B).
        p: the probability that a transform changes an image, drawn per transform and image (ADA's p);
            1 changes every image, as DiffAugment does, and 0 none, without drawing a number.
    """
    if p <= 0:
        return x
    for name in policy:
        changed = TRANSFORMS[name](x, rows, world)
        if p < 1:
            keep = rows(torch.rand(x.shape[0] * world, 1, 1, 1, device=x.device)) >= p
            changed = torch.where(keep, x, changed)
        x = changed
    return x


class AdaptiveProbability:
    """ADA's augmentation probability p: every ``interval`` steps, ``r_t`` = the mean sign of D's scores of
    the real images it saw since the last adjustment (1: D calls them all real, a sign of it memorizing
    them), and p moves by ``images / (kimg * 1000)`` towards more augmentation when ``r_t`` is above
    ``target`` and towards less when it is below, within [0, 1]: from 0 to 1 in ``kimg`` thousand images.

    Its state (p and the signs counted so far) goes into checkpoints, so a resume continues it exactly;
    under torchrun the signs are summed over the ranks, so every rank keeps the same p.
    """

    def __init__(self, target: float, kimg: float, interval: int, device: torch.device) -> None:
        self.target, self.kimg, self.interval = target, kimg, interval
        self.p = 0.0
        self.signs = torch.zeros(2, device=device)  # the sum of sign(D(real)) and the count, since the last adjustment

    def observe(self, real_scores: torch.Tensor, distributed: bool = False) -> None:
        """Count the signs of D's scores (B,) of this step's real images, over all ranks under torchrun (each
        step, so that the counts rank 0 saves mid-interval are everyone's)."""
        signs = torch.stack([real_scores.detach().float().sign().sum(),
                             torch.tensor(float(real_scores.numel()), device=self.signs.device)])
        if distributed:
            dist.all_reduce(signs)
        self.signs += signs

    def after_step(self, step: int) -> dict[str, torch.Tensor]:
        """Adjust p after every ``interval``-th step; the values to log (``ada_p``; ``ada_rt`` when adjusted)."""
        logs = {}
        if (step + 1) % self.interval == 0:
            total, count = self.signs.tolist()
            rt = total / count
            step_size = count / (self.kimg * 1000)
            self.p = min(max(self.p + step_size * ((rt > self.target) - (rt < self.target)), 0.0), 1.0)
            self.signs.zero_()
            logs["ada_rt"] = torch.tensor(rt, device=self.signs.device)
        logs["ada_p"] = torch.tensor(self.p, device=self.signs.device)  # beside the losses, for torchrun
        return logs

    def state_dict(self) -> dict:
        """p and the signs counted since the last adjustment."""
        total, count = self.signs.tolist()
        return {"p": self.p, "sign_sum": total, "count": count}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s values."""
        self.p = float(state["p"])
        self.signs = torch.tensor([state["sign_sum"], state["count"]], device=self.signs.device)
