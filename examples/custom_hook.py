"""Your own hook, run by the training loop beside ganforge's: the norms of G's and D's weights in TensorBoard.

MMEngine's tutorial (seed 000) and MMagic (seed 004) extend the loop with hooks (``custom_hooks = [dict(type=...)]``).
In ganforge a hook is a subclass of :class:`ganforge.training.hooks.Hook` registered in ``HOOKS`` and named in
a config's ``hooks`` list, with options checked like a network's:

    ganforge train dcgan-fmnist --out runs/norms --set plugins='["examples/custom_hook.py"]' \\
        --set hooks='[{name = "example-weight-norms", options = {every = 50}}]'
    tensorboard --logdir runs/norms/tb        # weights/G and weights/D

In a TOML config the same is ``[[hooks]]`` with ``name = "example-weight-norms"`` and ``options = {every = 50}``.

Events: ``on_train_start``, ``on_step_end(trainer, logs)`` (after each step, with its losses) and
``on_train_end``. The trainer gives ``trainer.state`` (step, images_seen, seconds, lr_scale),
``trainer.objective`` (``G``, ``D``, ``G_ema``, the optimizers), ``trainer.tb`` (TensorBoard's writer on rank 0,
else None), ``trainer.run_dir`` and ``trainer.env`` (``is_main`` under torchrun); ``trainer.set_lr_scale(x)``
multiplies the config's (scheduled) learning rates by ``x``, and the checkpoint keeps it. Hooks run on every
process, so one that changes training acts alike everywhere; one that writes files does so where
``trainer.env.is_main``. What ``state_dict`` returns (tensors and plain values) is saved in every checkpoint and
given back to ``load_state_dict`` on ``--resume``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ganforge.registry import HOOKS
from ganforge.training.hooks import Hook


@dataclass(frozen=True)
class WeightNormsOptions:
    """Args:
        every: write the norms every this many steps.
    """

    every: int = 100

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")


@HOOKS.register("example-weight-norms", WeightNormsOptions)
class WeightNorms(Hook):
    """The L2 norm of all of G's weights and of all of D's, every ``every`` steps: D's growing without bound
    is an early sign that it is overpowering G (what spectral normalization or R1 hold back)."""

    def __init__(self, options: WeightNormsOptions) -> None:
        self.every = options.every

    def on_step_end(self, trainer, logs) -> None:
        step = trainer.state.step
        if step % self.every or trainer.tb is None:  # tb: rank 0, with log.tensorboard on
            return
        for name in ("G", "D"):
            net = getattr(trainer.objective, name)
            if net is not None:  # a super-resolution run may have no D
                with torch.no_grad():
                    norm = torch.linalg.vector_norm(torch.cat([p.flatten().float() for p in net.parameters()]))
                trainer.tb.add_scalar(f"weights/{name}", norm.item(), step)
