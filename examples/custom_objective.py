"""Your own GAN algorithm, plugged into ganforge by name: a relativistic GAN.

Seed 004 writes ``class DCGAN(BaseGAN)`` with its own ``disc_loss`` and ``gen_loss``
and names it in a config. In ganforge an algorithm is a subclass of
:class:`ganforge.objective.GANObjective` registered in ``OBJECTIVES``; it
overrides ``d_loss`` and ``g_loss`` and keeps everything else (precision, gradient
accumulation, n_critic, gradient penalty, EMA, multi-process averaging):

    ganforge train dcgan-fmnist --out runs/ragan \\
        --set plugins='["examples/custom_objective.py"]' --set objective.name=example-relativistic
    ganforge train srgan-x4 ... (the same two --set)   # ESRGAN's adversarial loss on SRGAN

A loss registered in ``LOSSES`` is three functions of D's scores of one kind of image
each. A relativistic loss (Jolicoeur-Martineau 2018, "The relativistic discriminator:
a key element missing from standard GAN"; ESRGAN's adversarial loss) needs more: D
judges whether a real image is more realistic than a fake one, so each loss compares
the scores of reals with those of fakes, and G's loss needs D's scores of the real
batch too. That is what an objective subclass is for. (Under torchrun the means are over
each process's slice of the batch, not the global batch.)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganforge.objective import GANObjective
from ganforge.registry import OBJECTIVES


@dataclass(frozen=True)
class RelativisticOptions:
    """Args:
        average: compare each score with the mean score of the other kind (RaGAN, as in ESRGAN);
            false compares real and fake images pairwise (RSGAN).
    """

    average: bool = True


def relativistic_loss(winners: torch.Tensor, losers: torch.Tensor, average: bool) -> torch.Tensor:
    """How far the images that should look more realistic are from outscoring the others.

    RaGAN: -E[log sigmoid(C(winner) - E C(loser))] - E[log(1 - sigmoid(C(loser) - E C(winner)))];
    RSGAN: -E[log sigmoid(C(winner) - C(loser))]. softplus(-x) = -log sigmoid(x).
    """
    if average:
        return F.softplus(-(winners - losers.mean())).mean() + F.softplus(losers - winners.mean()).mean()
    return F.softplus(-(winners - losers)).mean()  # pairwise: needs one fake per real, as the batches give


@OBJECTIVES.register("example-relativistic", RelativisticOptions)
class RelativisticGAN(GANObjective):
    """D learns that reals outscore fakes; G learns to make its fakes outscore the reals."""

    def d_loss(self, real_scores, fake_scores, real, fake):
        loss = relativistic_loss(real_scores, fake_scores, self.options.average)
        return loss, {"d_margin": (real_scores - fake_scores).detach().mean()}

    def g_loss(self, fake_scores, real, fake):
        # D is frozen during G's step: only G learns from this; real_labels is None unless class-conditional
        real_scores = self.discriminate(real, self.real_labels).float()
        loss = relativistic_loss(fake_scores, real_scores, self.options.average)
        return loss, {"g_margin": (fake_scores - real_scores).detach().mean()}  # G's view: below 0 while D wins
