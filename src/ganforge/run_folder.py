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
