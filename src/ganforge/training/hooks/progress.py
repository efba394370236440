"""Progress: a tqdm bar on a terminal; one plain line every half minute in a log file or CI."""
from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm

from ...progress import stderr_draws_bars
from .base import Hook


class ProgressBar(Hook):
    """Shows step, losses and images/s; refreshes the numbers every ``every`` steps.

    On a terminal or in a notebook this is a tqdm bar. When stderr is a file or a pipe (``> train.log``, nohup,
    CI), a bar would write a carriage-return update twice a second, all on one line that grows
    for the whole run; there it prints a whole line at the first update and then every
    ``line_seconds``.
    """

    name = "progress"

    def __init__(self, every: int = 10, line_seconds: float = 30.0) -> None:
        self.every = every
        self.line_seconds = line_seconds
        self.bar = None

    def on_train_start(self, trainer) -> None:
        self._t, self._images = time.perf_counter(), trainer.state.images_seen
        self._last_line = None  # when the last plain line was printed
        if stderr_draws_bars():
            self.bar = tqdm(total=trainer.cfg.train.max_steps or None, initial=trainer.state.step, unit="step",
                            dynamic_ncols=True, desc=trainer.cfg.name, mininterval=0.5)

    def on_step_end(self, trainer, logs) -> None:
        if self.bar is not None:
            self.bar.update(1)
        if trainer.state.step % self.every:
            return
        now = time.perf_counter()
        ips = (trainer.state.images_seen - self._images) / max(now - self._t, 1e-9)
        self._t, self._images = now, trainer.state.images_seen
        post = {k: f"{float(logs[k]):.3f}" for k in ("loss_d", "loss_g") if k in logs}
        post["img/s"] = f"{ips:.0f}"
        if self.bar is not None:
            self.bar.set_postfix(post, refresh=False)
        elif self._last_line is None or now - self._last_line >= self.line_seconds:
            self._last_line = now
            tr = trainer.cfg.train  # "of" the bounds that are set, so the line says how far along it is
            steps = f"{trainer.state.step}" + (f"/{tr.max_steps}" if tr.max_steps else "")
            seconds = f"{trainer.state.seconds:.0f}" + (f"/{tr.max_seconds:g}" if tr.max_seconds else "")
            numbers = ", ".join(f"{k}={v}" for k, v in post.items())
            print(f"{trainer.cfg.name}: step {steps}, {seconds} s, {numbers}", file=sys.stderr, flush=True)

    def on_train_end(self, trainer) -> None:
        if self.bar is not None:
            self.bar.close()
