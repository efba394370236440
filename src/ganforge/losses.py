"""Adversarial losses and regularizers.

Each loss is a pair of pure functions on D's raw scores (logits):
``d_loss(real, fake, reduction) -> (loss, logs)`` and ``g_loss(fake) -> loss``.
``reduction`` combines D's real and fake terms by ``sum`` (MMEngine, MMagic) or
``mean`` (``(r + f) / 2`` in HW6 and the PyTorch tutorial).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import GanforgeError, raised_at
from .registry import LOSSES


@dataclass(frozen=True)
class AdversarialLoss:
    """A registered adversarial loss: D's terms on real and fake scores, and G's loss.

    ``d_real_target``, for a loss that pulls D's real scores towards a target: its real term with the target
    lowered from 1 to ``1 - s`` (one-sided label smoothing, ``objective.label_smoothing``); None where the
    loss has no such target (hinge, wgan).
    """

    d_real: Callable[[torch.Tensor], torch.Tensor]
    d_fake: Callable[[torch.Tensor], torch.Tensor]
    g: Callable[[torch.Tensor], torch.Tensor]
    d_real_target: Callable[[torch.Tensor, float], torch.Tensor] | None = None

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor, reduction: str = "sum",
               smoothing: float = 0.0) -> tuple[torch.Tensor, dict]:
        """D's loss and its parts for logging; ``smoothing``: the real images' target is ``1 - smoothing``."""
        lr = self.d_real_target(real, 1.0 - smoothing) if smoothing else self.d_real(real)
        lf = self.d_fake(fake)
        return self.combine(lr, lf, reduction), {"loss_d_real": lr.detach(), "loss_d_fake": lf.detach()}

    @staticmethod
    def combine(real_term, fake_term, reduction: str):
        """D's two terms as its loss (tensors or numbers): their sum, or for ``mean`` their average
        (``objective.d_real_fake``)."""
        return real_term + fake_term if reduction == "sum" else (real_term + fake_term) / 2


def least_real_term(loss: AdversarialLoss, target: float) -> float:
    """The least value D's real term can take with the real images' target lowered to ``target`` (one-sided
    label smoothing): for BCE the entropy of ``target`` (0.325 at 0.9), not 0, so a D that wins outright keeps
    its loss above a floor meant for 0 (the health monitor's ``d_loss_floor`` adds it). Found on a grid of
    scores from -20 to 20, since a plugin loss's formula is not known."""
    return min(float(loss.d_real_target(s.view(1), target)) for s in torch.linspace(-20.0, 20.0, 801))


def register_loss(name: str, loss: AdversarialLoss) -> AdversarialLoss:
    """Register a loss object under ``name`` (users call this from a plugin)."""
    # every builder here is this lambda: the loss's first term says where the user defined it
    LOSSES.register(name, source=loss.d_real)(lambda: loss)
    return loss


# vanilla: log D(x) + log(1 - D(G(z))) for D, non-saturating -log D(G(z)) for G.
# BCE on logits is the seeds' Sigmoid + BCELoss without the overflow.
register_loss("vanilla", AdversarialLoss(
    d_real=lambda r: F.binary_cross_entropy_with_logits(r, torch.ones_like(r)),
    d_fake=lambda f: F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)),
    g=lambda f: F.binary_cross_entropy_with_logits(f, torch.ones_like(f)),
    d_real_target=lambda r, t: F.binary_cross_entropy_with_logits(r, torch.full_like(r, t)),
))
# wgan: D maximizes E[D(x)] - E[D(G(z))] (seed 002's -mean(r) + mean(f)); G minimizes -E[D(G(z))].
register_loss("wgan", AdversarialLoss(d_real=lambda r: -r.mean(), d_fake=lambda f: f.mean(), g=lambda f: -f.mean()))
# hinge (Lim & Ye 2017; SAGAN, BigGAN)
register_loss("hinge", AdversarialLoss(
    d_real=lambda r: F.relu(1 - r).mean(), d_fake=lambda f: F.relu(1 + f).mean(), g=lambda f: -f.mean()))
# lsgan (Mao et al. 2017) with targets a=0, b=c=1 and the 1/2 factors of the paper
register_loss("lsgan", AdversarialLoss(
    d_real=lambda r: 0.5 * (r - 1).pow(2).mean(), d_fake=lambda f: 0.5 * f.pow(2).mean(),
    g=lambda f: 0.5 * (f - 1).pow(2).mean(), d_real_target=lambda r, t: 0.5 * (r - t).pow(2).mean()))
# the seeds' nn.Sigmoid + nn.BCELoss (000, 001), and LSGAN's MSE
LOSSES.known_as("vanilla", BCELoss="torch's", BCEWithLogitsLoss="torch's")
LOSSES.known_as("lsgan", MSELoss="torch's", least_square="StudioGAN's")
# StudioGAN's adv_loss names, MMagic's GANLoss gan_type for the non-saturating logistic loss, and pix2pix's
# --gan_mode wgangp, which is a loss and a penalty
LOSSES.known_as("vanilla", **{"wgan-logistic-ns": "MMagic's"}, BCE="The seeds'",
                **dict.fromkeys(("bce_with_logits", "nsgan", "non-saturating", "non_saturating", "standard"), ""))
LOSSES.known_as("lsgan", **dict.fromkeys(("mse", "least-squares", "least_squares", "ls"), ""))
LOSSES.known_as("wgan", wasserstein="StudioGAN's")
LOSSES.known_as("wgan", also=", with objective.gp_weight=10 (hw6-wgan-gp-64 sets both, and objective.n_critic=5)",
                wgangp="pix2pix's", **dict.fromkeys(("wgan-gp", "wgan_gp"), "A GAN script's"))


# the losses above take D's raw scores; a loss a plugin registers may take something else
BUILT_IN_LOSSES = frozenset(LOSSES.names())


def build_loss(name: str) -> AdversarialLoss:
    """The registered loss ``name``, each of its three terms tried on two scores first: a plugin's
    term that raises, or returns a float or one value per image, is a one-line error naming it,
    not a traceback from deep in a training step."""
    loss = LOSSES.build(name)
    what = f"loss '{name}' (objective.loss)"
    if not isinstance(loss, AdversarialLoss):
        raise GanforgeError(f"{what} is a '{type(loss).__name__}', not an AdversarialLoss; register it with "
                            "register_loss(name, AdversarialLoss(d_real=..., d_fake=..., g=...)).")
    scores = torch.zeros(2, requires_grad=True)
    for term in ("d_real", "d_fake", "g"):
        try:
            out = getattr(loss, term)(scores)
        except Exception as e:
            raise GanforgeError(f"{what}: its {term} failed on D's scores of shape (2,): {type(e).__name__}: {e} "
                                f"({raised_at(e)})") from None
        if not (isinstance(out, torch.Tensor) and out.ndim == 0):
            got = f"a tensor of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else f"a '{type(out).__name__}'"
            raise GanforgeError(f"{what}: its {term} must return a scalar tensor computed from D's scores (average "
                                f"over the batch with .mean()), got {got}.")
    return loss


def gradient_penalty(D: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     alpha: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad D(x_hat)||_2 - 1)^2], x_hat on real-fake lines.

    ``D`` is the discriminator, or any function of images to scores (a class-conditional D with its labels).

    ``alpha`` (B, 1, ..., 1), the position on each line, is drawn uniformly when not given.
    """
    if alpha is None:
        alpha = torch.rand(real.shape[0], *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def r1_penalty(real_scores: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real images (``real`` must require grad)."""
    (grad,) = torch.autograd.grad(real_scores.sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


@torch.no_grad()
def clip_weights(module: nn.Module, clip_value: float) -> None:
    """WGAN weight clipping: clamp every parameter of D to [-c, c] (seed 002)."""
    for p in module.parameters():
        p.clamp_(-clip_value, clip_value)
