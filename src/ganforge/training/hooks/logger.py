"""metrics.jsonl and TensorBoard scalars, plus a grid of real images at the start."""
from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import torch

from ...files import write_atomic
from ...images import make_grid
from .base import Hook


class MetricsLogger(Hook):
    """Every ``every`` steps: mean of each logged value over the interval, images/s and timing.

    One JSON object per line in ``metrics.jsonl``; the same scalars in TensorBoard.
    """

    name = "metrics"

    def __init__(self, every: int) -> None:
        self.every = every
        self.sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros(()))
        self.counts: dict[str, int] = defaultdict(int)

    def on_train_start(self, trainer) -> None:
        self.path = trainer.run_dir / "metrics.jsonl"
        if self.path.exists():  # a resumed run: drop records logged after the checkpoint it resumes from
            keep = [line for line in self.path.read_text().splitlines()
                    if (step := _step_of(line)) is not None and step <= trainer.state.step]
            text = "".join(line + "\n" for line in keep)
            write_atomic(self.path, lambda f: f.write(text.encode()))  # a kill now must not lose the history
        self._t, self._images = time.perf_counter(), trainer.state.images_seen
        if trainer.tb is not None:
            real = trainer.batches.first(trainer.cfg.log.num_samples)  # uint8 already
            trainer.tb.add_image("real", make_grid(real), trainer.state.step, dataformats="CHW")

    def on_step_end(self, trainer, logs) -> None:
        for k, v in logs.items():
            self.sums[k] = self.sums[k] + v.detach().float().cpu()
            self.counts[k] += 1
        if trainer.state.step % self.every == 0:
            self.flush(trainer)

    def flush(self, trainer) -> None:
        """Write one record for the steps since the last one."""
        if not self.counts:
            return
        now = time.perf_counter()
        st = trainer.state
        record = {"step": st.step, "images_seen": st.images_seen, "seconds": round(st.seconds, 3),
                  "epoch": round(trainer.batches.epochs_done, 4),
                  "images_per_second": round((st.images_seen - self._images) / max(now - self._t, 1e-9), 2)}
        record.update({k: float(self.sums[k]) / self.counts[k] for k in sorted(self.sums)})
        record.update(trainer.learning_rates())  # the current ones, as MMEngine's logger shows
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if trainer.tb is not None:
            for k, v in record.items():
                if k != "step":
                    trainer.tb.add_scalar(f"train/{k}", v, st.step)
        self.sums.clear()
        self.counts.clear()
        self._t, self._images = now, st.images_seen

    def on_train_end(self, trainer) -> None:
        self.flush(trainer)


def read_records(path: Path) -> list[dict]:
    """The records of a metrics.jsonl, oldest first ([] where there is none); a line torn by a kill mid-write
    is skipped, as a resume drops it."""
    records = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def _step_of(line: str) -> int | None:
    """The step of one metrics.jsonl record; None for a blank line or one torn by a kill mid-write."""
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None
