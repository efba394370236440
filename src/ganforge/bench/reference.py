"""Reference loops for ``ganforge bench compare``: the seeds' training loops, written the way the seeds write them.

Each loop uses the preset's networks (built by ganforge, so the network is the
same), the seed's loss, optimizers and batch size, and a ``DataLoader`` over a
dataset whose ``__getitem__`` turns one uint8 image into a PIL image and then
into a normalized tensor (torchvision's ``ToTensor`` + ``Normalize(0.5, 0.5)``,
written out because torchvision is not installed). The seeds' D ends in a
Sigmoid and their loss is ``BCELoss``; ganforge's D returns a logit, so the
loops append the Sigmoid.

* seed 001 (PyTorch MLP tutorial): ``fake = G(z)`` is not detached for the D
  step (``lossD.backward(retain_graph=True)``), and the G step scores the same
  ``fake`` again.
* seed 000 (MMEngine ``train_step``): D step with ``torch.no_grad()`` fakes, a
  per-batch data preprocessor, D frozen by ``set_requires_grad`` for the G step;
  ``num_workers = cpu_count / 2`` with persistent workers.
* seed 002 (HW6 TrainerGAN): D step on a G forward with gradients, a fresh G
  forward for the G step; ``num_workers=2``.
"""
from __future__ import annotations

import os
import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ..config import Config


class PerSampleDataset(Dataset):
    """One uint8 image -> PIL -> float tensor in [-1, 1], per sample (the seeds' transform pipeline)."""

    def __init__(self, images: torch.Tensor, normalize: bool = True) -> None:
        self.images = images.numpy()
        self.normalize = normalize

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        arr = self.images[i]
        pil = Image.fromarray(arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0))  # ToPILImage
        x = torch.from_numpy(np.array(pil, dtype=np.uint8))
        x = (x[None] if x.ndim == 2 else x.permute(2, 0, 1)).float().div(255)  # ToTensor
        if not self.normalize:  # seed 000 hands uint8-range tensors to its data preprocessor
            return x.mul(255)
        return (x - 0.5) / 0.5  # Normalize(mean=0.5, std=0.5)


def _adam(params, opt_cfg) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=opt_cfg.lr, betas=tuple(opt_cfg.betas))


def _endless(loader: DataLoader):
    while True:
        yield from loader


class ReferenceLoop:
    """A seed's loop over ``images``; :meth:`run` trains ``n`` batches."""

    num_workers = 0
    normalize = True

    def __init__(self, cfg: Config, G: nn.Module, D: nn.Module, images: torch.Tensor) -> None:
        self.cfg, self.G, self.D = cfg, G, nn.Sequential(D, nn.Sigmoid())
        self.z_dim = cfg.model.z_dim
        self.opt_g, self.opt_d = _adam(G.parameters(), cfg.optim_g), _adam(D.parameters(), cfg.optim_d)
        self.criterion = nn.BCELoss()
        loader = DataLoader(PerSampleDataset(images, self.normalize), batch_size=cfg.train.batch_size, shuffle=True,
                            num_workers=self.num_workers, persistent_workers=self.num_workers > 0, drop_last=True)
        self.batches = _endless(loader)

    def run(self, n: int) -> None:
        """Train ``n`` steps."""
        for _ in range(n):
            self.step(next(self.batches))

    def step(self, real: torch.Tensor) -> None:
        raise NotImplementedError


class Seed001Loop(ReferenceLoop):
    """PyTorch MLP tutorial (seed 001)."""

    def step(self, real: torch.Tensor) -> None:
        bs = real.shape[0]
        noise = torch.randn(bs, self.z_dim)
        fake = self.G(noise)
        disc_real = self.D(real).view(-1)
        loss_d_real = self.criterion(disc_real, torch.ones_like(disc_real))
        disc_fake = self.D(fake).view(-1)
        loss_d_fake = self.criterion(disc_fake, torch.zeros_like(disc_fake))
        loss_d = (loss_d_real + loss_d_fake) / 2
        self.D.zero_grad()
        loss_d.backward(retain_graph=True)
        self.opt_d.step()
        output = self.D(fake).view(-1)
        loss_g = self.criterion(output, torch.ones_like(output))
        self.G.zero_grad()
        loss_g.backward()
        self.opt_g.step()


def _set_requires_grad(net: nn.Module, flag: bool) -> None:
    for p in net.parameters():
        p.requires_grad = flag


class Seed000Loop(ReferenceLoop):
    """MMEngine's GAN tutorial (seed 000): ``train_step`` with a data preprocessor and two optimizer wrappers."""

    num_workers = max(1, (os.cpu_count() or 2) // 2)
    normalize = False

    def step(self, data: torch.Tensor) -> None:
        real = (data - 127.5) / 127.5  # ImgDataPreprocessor(mean=127.5, std=127.5)
        z = torch.randn(real.shape[0], self.z_dim).type_as(real)
        with torch.no_grad():
            fake = self.G(z)
        pred_fake, pred_real = self.D(fake), self.D(real)
        loss_d = (nn.functional.binary_cross_entropy(pred_fake, torch.zeros_like(pred_fake))
                  + nn.functional.binary_cross_entropy(pred_real, torch.ones_like(pred_real)))
        loss_d.backward()  # OptimWrapper.update_params: backward, step, zero_grad
        self.opt_d.step()
        self.opt_d.zero_grad()
        _set_requires_grad(self.D, False)
        z = torch.randn(real.shape[0], self.z_dim).type_as(real)
        pred_fake = self.D(self.G(z))
        loss_g = nn.functional.binary_cross_entropy(pred_fake, torch.ones_like(pred_fake))
        loss_g.backward()
        self.opt_g.step()
        self.opt_g.zero_grad()
        _set_requires_grad(self.D, True)


class Seed002Loop(ReferenceLoop):
    """HW6 TrainerGAN (seed 002), model_type GAN, n_critic 1."""

    num_workers = 2

    def step(self, imgs: torch.Tensor) -> None:
        bs = imgs.size(0)
        z = torch.randn(bs, self.z_dim)
        f_imgs = self.G(z)
        r_label, f_label = torch.ones(bs), torch.zeros(bs)
        r_logit, f_logit = self.D(imgs), self.D(f_imgs)
        loss_d = (self.criterion(r_logit, r_label) + self.criterion(f_logit, f_label)) / 2
        self.D.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        z = torch.randn(bs, self.z_dim)
        f_imgs = self.G(z)
        loss_g = self.criterion(self.D(f_imgs), r_label)
        self.G.zero_grad()
        loss_g.backward()
        self.opt_g.step()


REFERENCES: dict[str, type[ReferenceLoop]] = {
    "mlp-gan-fmnist": Seed001Loop,
    "mmengine-gan-fmnist": Seed000Loop,
    "hw6-dcgan-64": Seed002Loop,
}
