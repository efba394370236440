"""tqdm progress bar with losses and images/second."""
from __future__ import annotations

import time

from tqdm.auto import tqdm

from .base import Hook


class ProgressBar(Hook):
    """Shows step, losses and images/s; refreshes the numbers every ``every`` steps."""

    name = "progress"

    def __init__(self, every: int = 10) -> None:
        self.every = every
        self.bar = None

    def on_train_start(self, trainer) -> None:
        total = trainer.cfg.train.max_steps or None
        self.bar = tqdm(total=total, initial=trainer.state.step, unit="step", dynamic_ncols=True,
                        desc=trainer.cfg.name, mininterval=0.5)
        self._t, self._images = time.perf_counter(), trainer.state.images_seen

    def on_step_end(self, trainer, logs) -> None:
        self.bar.update(1)
        if trainer.state.step % self.every == 0:
            now = time.perf_counter()
            ips = (trainer.state.images_seen - self._images) / max(now - self._t, 1e-9)
            self._t, self._images = now, trainer.state.images_seen
            post = {k: f"{float(logs[k]):.3f}" for k in ("loss_d", "loss_g") if k in logs}
            post["img/s"] = f"{ips:.0f}"
            self.bar.set_postfix(post, refresh=False)

    def on_train_end(self, trainer) -> None:
        if self.bar is not None:
            self.bar.close()
