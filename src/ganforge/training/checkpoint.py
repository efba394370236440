"""Checkpoint files: atomic writes, verified loads, and finding the one to resume.

A checkpoint is a plain dict of tensors, numbers and strings, so it loads with
``torch.load(weights_only=True)``: opening a stranger's file cannot run code.

Every checkpoint ``X.pt`` gets a sidecar ``X.pt.sum`` with its size and SHA-256.
Both are written to temp files, fsynced and renamed, so a crash leaves either
the old pair or the new one. A file whose sidecar disagrees is damaged; resuming
then falls back to the newest checkpoint that verifies, and says so.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from ..errors import GanforgeError
from ..files import WriteFailed, temp_name_beside, write_atomic
from ..images import IMAGE_SUFFIXES
from ..run_folder import is_ganforge_run, missing_run, when_saved
from .lock import is_being_written

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


def sidecar(path: Path) -> Path:
    """The ``.sum`` file next to a checkpoint."""
    return path.with_name(path.name + ".sum")


def _digest(path: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"size": path.stat().st_size, "sha256": h.hexdigest()}


def _write_sidecar(text: str, path: Path) -> None:
    write_atomic(sidecar(path), lambda f: f.write(text.encode()))


def save_atomic(payload: dict[str, Any], path: Path) -> None:
    """Write ``payload`` to ``path`` and its sidecar: temp file, fsync, rename. Readers see old or new, never half.

    A full disk (or any other OSError) removes the temp file, leaves the last good
    checkpoint as it was, and raises a :class:`GanforgeError` that says so.
    """
    try:
        write_atomic(path, lambda f: torch.save(payload, f))
        _write_sidecar(json.dumps(_digest(path)), path)
    except WriteFailed as e:
        kept = (f"The previous checkpoint in {path.parent} is intact" if (path.parent / "last.pt").exists()
                else "No checkpoint was saved before it")
        raise GanforgeError(f"could not write checkpoint '{path}': {e.reason}. {kept}; free space "
                            "(or fix the folder) and continue with --resume.") from None
    _fsync_dir(path.parent)


def link_atomic(src: Path, dst: Path) -> None:
    """Make ``dst`` another name for ``src`` (hard link, else copy), atomically, with its sidecar."""
    tmp = temp_name_beside(dst, ".tmp")  # a name no file has: os.link makes the file
    try:
        os.link(src, tmp)
    except OSError:  # filesystems without hard links
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    _write_sidecar(sidecar(src).read_text(), dst)
    _fsync_dir(dst.parent)


def verify(path: Path) -> str | None:
    """None when ``path`` matches its sidecar (or has none); else what is wrong."""
    if not path.is_file():
        return "missing"
    if path.stat().st_size == 0:
        return "empty (0 bytes)"
    side = sidecar(path)
    if not side.is_file():
        return None
    try:
        want = json.loads(side.read_text())
    except (OSError, ValueError):
        return f"its checksum file {side.name} is unreadable"
    if path.stat().st_size != want["size"]:
        return f"size {path.stat().st_size} bytes, expected {want['size']} (truncated or overwritten)"
    if _digest(path)["sha256"] != want["sha256"]:
        return "SHA-256 differs from the one recorded when it was written (corrupted)"
    return None


def load(path: Path, mmap: bool = False) -> dict[str, Any]:
    """Load a ganforge checkpoint safely (weights only, checksum verified); errors name the file and the fix.
    ``mmap``: the tensors stay in the file, read only where used, for a caller that wants the step and config
    alone (``ganforge runs`` of large runs: the memory and half the time of reading every weight)."""
    problem = verify(path)
    if problem == "missing":
        raise GanforgeError(f"checkpoint '{path}' does not exist.")
    if problem:
        raise GanforgeError(f"checkpoint '{path}' is damaged: {problem}.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        # torch's first lines say how to load it unsafely; the useful part is what it refused
        unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if unsafe:
            raise GanforgeError(
                f"checkpoint '{path}' holds objects other than tensors and plain values ({unsafe.group(1)}), so it "
                "was not loaded (loading it could run code). Only ganforge checkpoints are accepted.") from None
        raise GanforgeError(f"checkpoint '{path}' is damaged, truncated or not a checkpoint "
                            "(it is not a PyTorch file).") from None
    except Exception as e:  # any file torch cannot read (a text file named .pt raises KeyError)
        raise GanforgeError(f"checkpoint '{path}' is damaged, truncated or not a checkpoint "
                            f"({type(e).__name__}: {e}).") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise GanforgeError(f"'{path}' is not a ganforge checkpoint.")
    return payload


def step_of(path: Path) -> int:
    """The step in a ``step_XXXXXXX.pt`` name; -1 for another name."""
    try:
        return int(path.stem.split("_")[1])
    except (IndexError, ValueError):
        return -1


def load_latest(folder: Path, mmap: bool = False) -> tuple[dict[str, Any], Path, list[str]] | None:
    """The newest loadable checkpoint in ``folder``: ``last.pt``, else the newest good ``step_*.pt``.

    A ``step_*.pt`` newer than ``last.pt`` wins (a kill between writing it and relinking
    ``last.pt`` leaves ``last.pt`` one interval behind).

    Returns (payload, path, notes about skipped damaged files), or None when the
    folder holds no checkpoint at all.
    """
    last = folder / "last.pt"
    steps = sorted(folder.glob("step_*.pt"), reverse=True)  # zero-padded names: newest first
    if not last.exists() and not steps:
        return None
    notes: list[str] = []

    def good(path: Path) -> dict[str, Any] | None:
        try:
            return load(path, mmap)
        except GanforgeError as e:
            notes.append(str(e))
            return None

    last_payload = good(last) if last.exists() else None
    for path in steps:
        if last_payload is not None and step_of(path) <= last_payload["state"]["step"]:
            break
        payload = good(path)
        if payload is not None:
            return payload, path, notes
    if last_payload is not None:
        return last_payload, last, notes
    raise GanforgeError("no checkpoint in '" + str(folder) + "' could be loaded: " + " | ".join(notes))


def checkpoints_folder(path: Path) -> Path | None:
    """Where a folder's checkpoints are: RUN/checkpoints, or the folder itself when it holds .pt
    files (``ganforge sample RUN/checkpoints`` means the run); None for any other folder."""
    if (path / "checkpoints").is_dir():
        return path / "checkpoints"
    return path if any(path.glob("*.pt")) else None


def run_dir_of(checkpoint: Path) -> Path:
    """The run folder a checkpoint file belongs to: RUN for RUN/checkpoints/x.pt, else the file's own folder
    (a checkpoint copied out on its own)."""
    folder = checkpoint.parent
    return folder.parent if folder.name == "checkpoints" else folder


def resolve(source: str | Path) -> tuple[dict[str, Any], Path]:
    """Load a checkpoint file, or the newest good checkpoint of a run folder (saying which ones it skipped)."""
    import sys

    p = Path(source)
    if p.is_file():
        kind = _other_kind(p)
        if kind:  # torch's reading of it said "damaged, truncated or not a checkpoint", as of a checkpoint gone bad
            run = next((d for d in (p.parent, p.parent.parent) if is_ganforge_run(d)), None)  # RUN/samples/x.png
            give = (f"give its run folder, '{run}'" if run else "give a run folder (the --out of ganforge train) or a "
                    "checkpoint file (RUN/checkpoints/last.pt)")
            raise GanforgeError(f"'{p}' is {kind}, not a checkpoint; {give}.")
        return load(p), p
    if p.is_dir():
        folder = checkpoints_folder(p)
        found = load_latest(folder) if folder is not None else None
        if found is None:
            raise GanforgeError(_without_checkpoints(p))
        payload, path, skipped = found
        for note in skipped:
            print(f"ganforge: warning: {note} Using {path} instead.", file=sys.stderr)
        return payload, path
    if not p.exists():
        raise missing_run(p, " or a checkpoint file")
    raise GanforgeError(f"'{p}' is neither a run folder nor a checkpoint file.")


def _other_kind(path: Path) -> str | None:
    """What a file that a run holds beside its checkpoints, or that ganforge writes, is, by its name (a grid, a
    .npy of samples, a config, an export); None for anything that may be a checkpoint."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES or suffix == ".gif":
        return "an image"
    kinds = {".npy": "an array of images", ".npz": "an array of images", ".json": "a JSON file", ".toml": "a config",
             ".yaml": "a config", ".yml": "a config", ".pt2": "a generator exported by ganforge export (plain PyTorch "
             "reads it: torch.export.load(path).module())",
             ".onnx": "a generator exported by ganforge export (ONNX runtimes read it: "
                      "onnxruntime.InferenceSession(path))"}
    return kinds.get(suffix)


def runs_inside(folder: Path) -> str:
    """For a folder that holds run folders rather than being one (``ganforge sample runs``), a sentence that names
    them, up to three, so the user can pick one; '' for any other folder."""
    from ..listing import find_runs  # listing reads runs through this module

    runs = [run for run in find_runs(folder) if run != folder]
    if not runs:
        return ""
    named = ", ".join(f"'{run}'" for run in runs[:3]) + (f" and {len(runs) - 3} more" if len(runs) > 3 else "")
    return f"'{folder}' holds run folders rather than being one: {named}; give one of them."


def _without_checkpoints(folder: Path) -> str:
    """Why a folder without a checkpoint gives no generator: a run not trained yet, a folder of runs, or neither
    (it said "run folder 'F' has no checkpoints yet; train it first" of all three)."""
    if is_ganforge_run(folder):
        if is_being_written(folder):  # sampled from a second terminal while it trains: "train it first" misled
            return (f"run folder '{folder}' has no checkpoints yet: a live process is training it, and saves one "
                    f"{when_saved(folder, 'checkpoint')}when it stops (Ctrl-C saves one). Try again then.")
        return f"run folder '{folder}' has no checkpoints yet; train it first."
    return runs_inside(folder) or (f"'{folder}' is not a run folder: it holds neither a ganforge config.json nor "
                                   "checkpoints; give a run folder (the --out of ganforge train) or a checkpoint file.")


def misfit_detail(error: RuntimeError) -> str:
    """The first specific line of torch's ``load_state_dict`` error (its first line only names the module class)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else lines[0]
