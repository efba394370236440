"""What makes a folder a ganforge run: its config.json. One test for every command that asks, from training's
"--out already holds a run" to the image-folder reader that leaves runs' sample grids out."""
from __future__ import annotations

import json
from pathlib import Path


def is_ganforge_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a ganforge run: its config.json, written before any other run file, is a
    ganforge config (a Hugging Face model folder has a config.json too). A run killed before its first
    checkpoint is one: it may already hold sample grids."""
    try:
        stored = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(stored, dict) and {"model", "train", "data"} <= stored.keys()
