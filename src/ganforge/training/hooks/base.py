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
