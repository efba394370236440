"""Sample grids from a fixed noise batch (GAN) or fixed LR images (SR): PNG files and TensorBoard images."""
from __future__ import annotations

import torch

from ...data.pairs import bicubic_up
from ...images import make_grid, save_png, to_uint8, unit_to_uint8
from ...nets.conditional import with_labels
from ...sampling import class_labels
from .base import Hook, Interval


class SampleGrids(Hook):
    """Every ``every`` steps, every ``every_epochs`` epochs and at the end, writes ``samples/step_XXXXXXX.png``.

    The noise is fixed for the whole run (its own seeded generator, so drawing it
    leaves the training RNG alone); the EMA generator is used when EMA is on.
    A class-conditional run's grid has one column per class (``num`` rounded down to whole rows).
    For super-resolution the grid has three rows over the centre patches of the first
    training images: bicubic upscaling, G's output, and the HR original.
    """

    name = "samples"

    def __init__(self, every: int, num: int, every_epochs: int = 0) -> None:
        self.interval = Interval(every, every_epochs)
        self.num = num
        self.last_written = -1

    def on_train_start(self, trainer) -> None:
        self.interval.start(trainer)
        self.sr = trainer.cfg.model.task == "sr"
        if self.sr:
            self.lr, self.hr = (t.to(trainer.device) for t in trainer.batches.fixed_pairs(min(self.num, 8)))
            return
        g = torch.Generator().manual_seed(trainer.cfg.train.seed + 7919)
        self.z = torch.randn(self.num, trainer.cfg.model.z_dim, generator=g).to(trainer.device)
        k = self.columns = trainer.cfg.model.num_classes
        self.labels = None
        if k:
            self.z = self.z[:max(self.num // k, 1) * k]
            self.labels = class_labels(0, len(self.z), k).to(trainer.device)

    def on_step_end(self, trainer, logs) -> None:
        if self.interval.due(trainer):
            self.write(trainer)

    def on_train_end(self, trainer) -> None:
        if trainer.abort is None and self.last_written != trainer.state.step:
            self.write(trainer)

    @torch.no_grad()
    def write(self, trainer) -> None:
        """Render the fixed noise with G_ema (or G) in eval mode."""
        G = trainer.sampling_generator
        was_training = G.training
        G.eval()
        if self.sr:
            scale = trainer.cfg.sr.scale
            rows = [bicubic_up(self.lr, scale), G(self.lr), self.hr]
            grid = make_grid(torch.cat([unit_to_uint8(r) for r in rows]).numpy(), nrow=len(self.lr))
        else:
            grid = make_grid(to_uint8(with_labels(G, self.z, self.labels)), nrow=self.columns or None)
        G.train(was_training)
        step = trainer.state.step
        save_png(grid, trainer.run_dir / "samples" / f"step_{step:07d}.png")
        if trainer.tb is not None:
            trainer.tb.add_image("fake", grid, step, dataformats="CHW")
        self.last_written = step
