"""Networks. Importing this package registers the built-in generators and discriminators."""
from __future__ import annotations

import torch.nn as nn

from ..config import Config
from ..errors import GanforgeError
from ..registry import DISCRIMINATORS, GENERATORS
from . import dcgan, mlp  # noqa: F401  (registration)


def _shape(cfg: Config) -> dict[str, int]:
    return dict(z_dim=cfg.model.z_dim, channels=cfg.data.channels, resolution=cfg.data.resolution)


def build_generator(cfg: Config) -> nn.Module:
    """Build G alone (for sampling)."""
    return GENERATORS.build(cfg.model.generator.name, cfg.model.generator.options, **_shape(cfg))


def build_networks(cfg: Config) -> tuple[nn.Module, nn.Module]:
    """Build G and D from the config and check G makes images of the data's shape."""
    import torch

    G = build_generator(cfg)
    D = DISCRIMINATORS.build(cfg.model.discriminator.name, cfg.model.discriminator.options, **_shape(cfg))
    want = (cfg.data.channels, cfg.data.resolution, cfg.data.resolution)
    G.eval(), D.eval()  # eval: the shape check must not touch BatchNorm running stats
    with torch.no_grad():
        out = G(torch.zeros(2, cfg.model.z_dim))
        score = D(out)
    G.train(), D.train()
    if tuple(out.shape[1:]) != want:
        raise GanforgeError(
            f"generator '{cfg.model.generator.name}' makes images of shape {tuple(out.shape[1:])}, "
            f"but the data is {want} (data.channels, data.resolution); change one of them."
        )
    if tuple(score.shape) != (2,):
        raise GanforgeError(
            f"discriminator '{cfg.model.discriminator.name}' must return one score per image (B,), "
            f"got shape {tuple(score.shape)}."
        )
    return G, D


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of a module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
