"""The hook interface: three events and a state that goes into every checkpoint."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..loop import Trainer


class Hook:
    """Something that runs beside the loop. Override what you need.

    Events: ``on_train_start`` (after resume, before the first step),
    ``on_step_end`` (after each step, with the step's detached logs) and
    ``on_train_end`` (always, also after Ctrl-C or SIGTERM).
    """

    name = "hook"

    def on_train_start(self, trainer: "Trainer") -> None:
        """Called once before the first step."""

    def on_step_end(self, trainer: "Trainer", logs: dict[str, Any]) -> None:
        """Called after every step."""

    def on_train_end(self, trainer: "Trainer") -> None:
        """Called once when the loop ends, however it ends."""

    def state_dict(self) -> dict[str, Any]:
        """What this hook must remember across a resume."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


class Interval:
    """When a hook writes: every ``steps`` steps, and at the end of every ``epochs``-th epoch (0: not by that count).

    Epochs are read from the batches after each step rather than computed from the step, so a
    resume with another ``train.batch_size`` (another number of steps per epoch) still writes at
    the ends of epochs.
    """

    def __init__(self, steps: int, epochs: int = 0) -> None:
        self.steps = steps
        self.epochs = epochs
        self.epochs_done = 0

    def start(self, trainer: "Trainer") -> None:
        """Count epochs from where the run is (a resumed run does not write for epochs already past)."""
        self.epochs_done = int(trainer.batches.epochs_done)

    def due(self, trainer: "Trainer") -> bool:
        """Whether the step just taken ends an interval; call once per step."""
        done, before = int(trainer.batches.epochs_done), self.epochs_done
        self.epochs_done = done
        by_epoch = self.epochs > 0 and done // self.epochs > before // self.epochs
        return by_epoch or (self.steps > 0 and trainer.state.step % self.steps == 0)
