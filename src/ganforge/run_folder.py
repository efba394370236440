"""What makes a folder a ganforge run: its config.json. One test for every command that asks, from training's
"--out already holds a run" to the image-folder reader that leaves runs' sample grids out."""
from __future__ import annotations

import json
from pathlib import Path

from .errors import GanforgeError, did_you_mean_path


def is_ganforge_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a ganforge run: its config.json, written before any other run file, is a
    ganforge config (a Hugging Face model folder has a config.json too). A run killed before its first
    checkpoint is one: it may already hold sample grids. So is a run whose config.json a hand edit left
    unreadable as JSON, by the sessions.jsonl beside it, which only ganforge writes (``ganforge runs`` says
    where the file breaks)."""
    try:
        stored = json.loads((run_dir / "config.json").read_text())
    except OSError:
        return False
    except ValueError:
        return (run_dir / "sessions.jsonl").is_file()
    return isinstance(stored, dict) and {"model", "train", "data"} <= stored.keys()


def missing_run(path: str | Path, or_else: str = "") -> GanforgeError:
    """The error for a run that ``path`` does not lead to: it does not exist (a typo, the usual slip: the name
    beside it is offered), or it is a file where a folder is wanted. ``or_else`` names what else the command
    takes (" or a checkpoint file")."""
    what = "is not a folder" if Path(path).exists() else "does not exist"
    return GanforgeError(f"'{path}' {what}; give a run folder (the --out of ganforge train){or_else}."
                         f"{did_you_mean_path(Path(path))}")


def when_saved(run_dir: Path, what: str) -> str:
    """When the run's config.json has it save a ``what`` (``checkpoint`` or ``sample``, as its log keys name
    them), as 'every 1,000 steps (log.checkpoint_every_steps) and ', to go before "when it stops"; '' where it
    sets no interval or cannot be read."""
    try:
        log = json.loads((run_dir / "config.json").read_text())["log"]
        intervals = [(key, log[key], unit) for key, unit in
                     ((f"{what}_every_steps", "step"), (f"{what}_every_epochs", "epoch")) if log.get(key)]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return "".join(f"every {unit if n == 1 else f'{n:,} {unit}s'} (log.{key}) and " for key, n, unit in intervals)
