"""Weight initializations the seeds use."""
from __future__ import annotations

import torch.nn as nn


def dcgan_init(module: nn.Module, bn_weight_mean: float = 1.0, bn_weight_std: float = 0.02) -> None:
    """DCGAN's N(0, 0.02) for conv weights and N(mean, std) for BatchNorm scales, zero BN biases.

    HW6 (seed 002) uses BN weights N(1, 0.02); MMagic (seed 004) calls
    ``nn.init.normal_`` on them, which is N(0, 1).
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.normal_(m.weight, bn_weight_mean, bn_weight_std)
            nn.init.zeros_(m.bias)
