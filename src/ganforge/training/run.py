"""``ganforge train``: resolve the config, prepare the run folder, resume, train."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from ..config import (Config, apply_overrides, config_from_dict, load_config, load_plugins, preset_names,
                      validate)
from ..errors import GanforgeError
from ..nets import build_networks, count_parameters
from . import checkpoint as ckpt

RUN_FILES = ("config.json", "metrics.jsonl", "checkpoints", "samples", "tb")


def config_for_resume(payload: dict, preset_or_file: str, overrides: list[str]) -> Config:
    """The checkpoint's config with new ``--set`` overrides (bounds, logging) on top."""
    stored = json.loads(payload["config"])
    if preset_or_file in preset_names() and preset_or_file != stored.get("name"):
        raise GanforgeError(
            f"the run folder holds a '{stored.get('name')}' run, not '{preset_or_file}'; "
            "resume it with its own preset, or pick another --out folder."
        )
    cfg = config_from_dict(apply_overrides(stored, overrides))
    load_plugins(cfg.plugins)
    validate(cfg)
    return cfg


def prepare_run_dir(run_dir: Path, resume: bool, force: bool) -> None:
    """Create the folder; refuse to mix two runs in one unless --resume or --force."""
    if run_dir.exists() and not run_dir.is_dir():
        raise GanforgeError(f"--out '{run_dir}' exists and is not a folder.")
    existing = [name for name in RUN_FILES if (run_dir / name).exists()]
    if existing and not resume:
        if not force:
            raise GanforgeError(
                f"--out '{run_dir}' already holds a run ({', '.join(existing)}). "
                "Add --resume to continue it, --force to replace it, or choose another --out."
            )
        for name in existing:
            path = run_dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=run_dir, prefix=".write-test-")
        probe.close()
    except OSError as e:
        raise GanforgeError(f"cannot write to --out '{run_dir}': {e.strerror}. Pick a writable folder.") from None


def describe(cfg: Config) -> str:
    """Resolved config as JSON plus the parameter counts of G and D (``--dry-run``)."""
    G, D = build_networks(cfg)
    return (json.dumps(cfg.to_dict(), indent=2) + "\n"
            f"G '{cfg.model.generator.name}': {count_parameters(G):,} parameters\n"
            f"D '{cfg.model.discriminator.name}': {count_parameters(D):,} parameters")


def train(preset_or_file: str, out: str | None, overrides: list[str], resume: bool = False,
          force: bool = False, dry_run: bool = False) -> int:
    """Run ``ganforge train``; returns the process exit code."""
    from .loop import Trainer

    run_dir = Path(out or Path("runs") / Path(preset_or_file).stem)
    payload = None
    last = run_dir / "checkpoints" / "last.pt"
    if resume and last.is_file():
        payload = ckpt.load(last)
        cfg = config_for_resume(payload, preset_or_file, overrides)
    else:
        if resume:
            print(f"ganforge: no checkpoint in '{run_dir}' yet; starting a new run there.", file=sys.stderr)
        cfg = load_config(preset_or_file, overrides)
    if dry_run:
        print(describe(cfg))
        return 0
    prepare_run_dir(run_dir, resume, force)
    fd, tmp = tempfile.mkstemp(dir=run_dir, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(cfg.to_dict(), f, indent=2)
    os.replace(tmp, run_dir / "config.json")
    try:
        trainer = Trainer(cfg, run_dir, payload)
    except RuntimeError as e:
        if payload is not None and "state_dict" in str(e):
            raise GanforgeError(f"checkpoint '{last}' does not fit this network: {str(e).splitlines()[0]}") from None
        raise
    state = trainer.fit()
    where = run_dir / "checkpoints" / "last.pt"
    if trainer.stop_signal is not None:
        name = signal.Signals(trainer.stop_signal).name
        print(f"ganforge: {name} received; saved step {state.step} to {where}. "
              f"Continue with: ganforge train {preset_or_file} --out {run_dir} --resume", file=sys.stderr)
        return 128 + trainer.stop_signal
    print(f"ganforge: finished at step {state.step} ({state.images_seen} images, {state.seconds:.0f} s). "
          f"Samples: {run_dir / 'samples'}  Checkpoint: {where}")
    return 0
