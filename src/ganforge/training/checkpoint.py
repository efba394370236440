"""Checkpoint files: atomic writes, safe loads, and finding the one to resume.

A checkpoint is a plain dict of tensors, numbers and strings, so it loads with
``torch.load(weights_only=True)``: opening a stranger's file cannot run code.
"""
from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..errors import GanforgeError

FORMAT = "ganforge-checkpoint"
VERSION = 1


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_atomic(payload: dict[str, Any], path: Path) -> None:
    """Write ``payload`` to ``path`` via a temp file, fsync and rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def link_atomic(src: Path, dst: Path) -> None:
    """Make ``dst`` another name for ``src`` (hard link, else copy), atomically."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:  # filesystems without hard links
        import shutil

        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    _fsync_dir(dst.parent)


def load(path: Path) -> dict[str, Any]:
    """Load a ganforge checkpoint safely (weights only); errors name the file and the fix."""
    if not path.is_file():
        raise GanforgeError(f"checkpoint '{path}' does not exist.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise GanforgeError(
            f"checkpoint '{path}' holds objects other than tensors and plain values, so it was not loaded "
            f"(loading it could run code). Only ganforge checkpoints are accepted. Detail: {str(e).splitlines()[0]}"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise GanforgeError(f"checkpoint '{path}' is damaged or truncated ({type(e).__name__}: {e}).") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise GanforgeError(f"'{path}' is not a ganforge checkpoint.")
    return payload


def find(run_dir_or_file: str | Path) -> Path:
    """A checkpoint file, or ``RUN_DIR/checkpoints/last.pt``."""
    p = Path(run_dir_or_file)
    if p.is_file():
        return p
    if p.is_dir():
        last = p / "checkpoints" / "last.pt"
        if last.is_file():
            return last
        raise GanforgeError(f"run folder '{p}' has no checkpoints/last.pt; train it first.")
    raise GanforgeError(f"'{p}' is neither a run folder nor a checkpoint file.")
