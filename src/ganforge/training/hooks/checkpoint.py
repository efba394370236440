"""Checkpoints every N steps or epochs and at the end: ``step_XXXXXXX.pt`` and ``last.pt``."""
from __future__ import annotations

from ..checkpoint import link_atomic, save_atomic, sidecar, step_of
from .base import Hook, Interval


class Checkpointer(Hook):
    """Writes the full training state atomically; ``last.pt`` is a link to the newest file."""

    name = "checkpoint"

    def __init__(self, every: int, every_epochs: int = 0, keep: int = 0) -> None:
        self.interval = Interval(every, every_epochs)
        self.keep = keep  # the newest step files to keep; 0: all
        self.last_written = -1

    def on_train_start(self, trainer) -> None:
        self.interval.start(trainer)
        folder = trainer.run_dir / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(".*.tmp"):  # left by a process killed mid-write
            stale.unlink()
        self.last_written = trainer.state.step if (folder / "last.pt").exists() else -1

    def on_step_end(self, trainer, logs) -> None:
        if self.interval.due(trainer):
            self.write(trainer, keep=True)

    def on_train_end(self, trainer) -> None:
        if trainer.abort is None and self.last_written != trainer.state.step:
            self.write(trainer, keep=False)

    def write(self, trainer, keep: bool) -> None:
        """Save the state; ``keep`` also leaves a ``step_XXXXXXX.pt`` file."""
        folder = trainer.run_dir / "checkpoints"
        payload = trainer.checkpoint_payload()
        if keep:
            path = folder / f"step_{trainer.state.step:07d}.pt"
            save_atomic(payload, path)
            link_atomic(path, folder / "last.pt")
            if self.keep:
                self._delete_older(trainer, folder)
        else:
            save_atomic(payload, folder / "last.pt")
        self.last_written = trainer.state.step

    def _delete_older(self, trainer, folder) -> None:
        """Delete the step files (and their sidecars) older than the newest ``keep``, after the new one is
        written and linked: a kill in between leaves one file too many, never one too few."""
        for old in sorted(folder.glob("step_*.pt"), key=step_of)[:-self.keep]:
            try:
                for path in (old, sidecar(old)):
                    path.unlink(missing_ok=True)
            except OSError as e:  # the run goes on; the disk fills more slowly than this says
                trainer.report(f"could not delete the old checkpoint {path} (log.keep_checkpoints={self.keep}): "
                               f"{e.strerror}.", kind="checkpoint")
