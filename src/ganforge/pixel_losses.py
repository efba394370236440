"""Super-resolution losses on G's output: pixel losses and a perceptual (feature) loss.

Both compare G's output with the HR image, in [0, 1]. The adversarial part of SRGAN
is not here: it is the GAN objective's own loss (``objective.loss``), applied by
:class:`ganforge.objective.GANObjective` exactly as for a noise-to-image GAN.
"""
from __future__ import annotations

import collections.abc
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import GanforgeError, raised_at
from .nets import require_module
from .registry import PERCEPTUAL_NETS, PIXEL_LOSSES, require_built

CHARBONNIER_EPS = 1e-6  # keeps the gradient finite where output == target (LapSRN uses 1e-3, MMagic 1e-12)


def charbonnier(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """mean(sqrt((x - y)^2 + eps^2)): a smooth L1 (Charbonnier penalty)."""
    return torch.sqrt((x - y).pow(2) + CHARBONNIER_EPS ** 2).mean()


PIXEL_LOSSES.register("l1")(lambda: F.l1_loss)
PIXEL_LOSSES.register("mse")(lambda: F.mse_loss)
PIXEL_LOSSES.register("charbonnier")(lambda: charbonnier)
# seed 004's pixel_loss=dict(type='L1Loss'), and torch's nn losses of the same names
PIXEL_LOSSES.known_as("l1", L1Loss="MMagic's and torch's")
PIXEL_LOSSES.known_as("mse", MSELoss="MMagic's and torch's")
PIXEL_LOSSES.known_as("charbonnier", CharbonnierLoss="MMagic's")


class FashionPerceptual(nn.Module):
    """Perceptual features from the shipped ``fmnist`` network: its two conv blocks (64 x 7 x 7 at 28 px).

    Takes images in [0, 1]; RGB becomes luma and other sizes are resized to 28x28, as for
    the fmnist metric features, but differentiably. Frozen, in eval mode, so its BatchNorms are folded
    into their convs and it runs channels_last, as the metric's copy does: the same loss to float
    rounding, its forward and backward 2.3x faster (docs/performance.md, "SRGAN's perceptual network").
    """

    def __init__(self) -> None:
        super().__init__()
        from .metrics.fmnist_net import MEAN, STD, for_inference, load_fmnist_net

        self.body = for_inference(load_fmnist_net()).body
        self.mean, self.std = MEAN, STD

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 3:
            x = (x * x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        if x.shape[-2:] != (28, 28):
            x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
        return self.body(((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last))


PERCEPTUAL_NETS.register("fmnist")(FashionPerceptual)


class PerceptualLoss(nn.Module):
    """L1 distance between a frozen network's features of G's output and of the HR image.

    Args:
        net: a module mapping images in [0, 1] (B, C, H, W) to a feature tensor or a list of
            them; register your own with ``@PERCEPTUAL_NETS.register("name")`` in a plugin.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> "PerceptualLoss":
        return super().train(False)  # the feature network stays in eval mode (BatchNorm statistics)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fo, ft = self.net(output), self.net(target)
        if isinstance(fo, torch.Tensor):
            fo, ft = [fo], [ft]
        return sum(F.l1_loss(a, b.detach()) for a, b in zip(fo, ft)) / len(fo)


def build_pixel_loss(name: str, probe: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The registered pixel loss ``name``, tried on ``probe`` (HR-shaped images) against itself first: a
    plugin's loss that raises, or a builder that returns no function, is a one-line error naming it, as
    a network's forward is, rather than a traceback at the first step. (Its value is checked at every
    step, where it must be a scalar G's output reaches.)"""
    what = f"pixel loss '{name}' (sr.pixel_loss)"
    loss = require_built(PIXEL_LOSSES.build(name), collections.abc.Callable, what,
                         "register a builder that returns loss(output, hr), a scalar tensor.", "a function")
    try:
        loss(probe.clone().requires_grad_(True), probe)
    except Exception as e:
        raise GanforgeError(f"{what} failed on a probe pair of shape {tuple(probe.shape)}: {type(e).__name__}: {e} "
                            f"({raised_at(e)})") from None
    return loss


def build_perceptual_loss(name: str, probe: torch.Tensor) -> PerceptualLoss:
    """The perceptual loss on the registered network ``name``, tried on ``probe`` (HR-shaped images, as
    G's output and the HR batch are). A network that fails on them, returns something other than
    features, or returns features G's output does not reach (made under torch.no_grad: the loss would
    teach G nothing, without a word) is a one-line error naming it."""
    what = f"perceptual network '{name}' (sr.perceptual_net)"
    loss = PerceptualLoss(require_module(PERCEPTUAL_NETS.build(name), what))
    out = probe.clone().requires_grad_(True)
    try:
        features = loss.net(out)
    except Exception as e:
        raise GanforgeError(f"{what} failed on a probe batch of shape {tuple(probe.shape)} (images in [0, 1], "
                            f"data.channels of them): {type(e).__name__}: {e} ({raised_at(e)})") from None
    listed = features if isinstance(features, (list, tuple)) else [features]
    if not listed or not all(isinstance(f, torch.Tensor) for f in listed):
        raise GanforgeError(f"{what} must return a tensor of features or a list of them, got "
                            f"'{type(features).__name__}'.")
    if not loss(out, probe).requires_grad:
        raise GanforgeError(f"{what} returns features that its input does not reach (made under torch.no_grad, "
                            "or detached), so the perceptual loss would teach G nothing; compute them from the "
                            "input with torch operations (ganforge freezes the network's weights itself).")
    return loss
