"""A user's own hooks: ``Hook`` subclasses a plugin registers in ``HOOKS`` and a config names in ``hooks``."""
from __future__ import annotations

from ...config import Config
from ...registry import HOOKS, require_built
from .base import Hook

# a user hook's state is stored in checkpoints under this prefix and its registered name, apart from the built-ins'
STATE_PREFIX = "user/"


def build_user_hooks(cfg: Config) -> list[Hook]:
    """The hooks ``cfg.hooks`` names, in its order; each built with its options (its options dataclass, or else its
    ``__init__``'s keyword arguments)."""
    hooks = []
    for entry in cfg.hooks:
        hook = require_built(HOOKS.build(entry.name, entry.options), Hook, f"hook '{entry.name}'",
                             "subclass ganforge.training.hooks.Hook and override the events it needs.")
        hook.name = STATE_PREFIX + entry.name
        hooks.append(hook)
    return hooks
