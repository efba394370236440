"""``ganforge runs``: the runs under a folder, one line each: what trained, how far, whether it finished or
can go on, and its figures.

Read from what each run folder already holds (config.json, the newest good checkpoint, metrics.jsonl,
sessions.jsonl, evaluate.json) and the lock a training process holds; nothing is written.
"""
from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.utils import disp_len

from .columns import clip, pad
from .config import Config, config_from_dict, flat_values, load_config, preset_names
from .errors import GanforgeError, did_you_mean_path
from .metrics.evaluate import HIGHER_IS_BETTER
from .training import checkpoint as ckpt
from .training.hooks.logger import read_records
from .training.lock import is_being_written
from .run_folder import is_ganforge_run
from .training.run import RUN_FILES, changes_training, reached_at_checkpoint
from .wording import say

# figures measured on the pixels, without a feature network
NO_FEATURES = ("swd", "psnr", "ssim")

MAX_DEPTH = 4  # run folders this deep under a given folder are found (runs/sweep/lr_1e-4/seed_0)

SET_COLUMN_WIDTH = 60  # the table's "set" column, cut at this many screen columns (the JSON has every key)


@dataclass
class RunSummary:
    """One run folder at a glance.

    Attributes:
        path: the run folder.
        config: its config's name (the preset it came from, or the file's).
        settings: the keys its config sets otherwise than that preset, by their dotted names, where they change
            how it trains (a sweep's learning rate, its data): not the bounds, logging, evaluation or the
            description; empty where the config is named for no preset.
        state: ``training`` (a live process holds it), ``finished`` (a bound reached), ``stopped`` (it can
            go on with a resume), ``no checkpoint`` (stopped before its first) or ``unreadable`` (its config.json
            is not JSON, or not a config this ganforge reads: edited by hand, or another version's).
        detail: the bound that ended it, or what stopped it (where sessions.jsonl says) and how to go on.
        step, images, seconds: where the newest good checkpoint is (0 with none).
        evaluation: the primary metric during training (``eval.every_kimg``): its name, ``last``, ``best``
            and ``best_step``, and the ``features`` and ``images`` it was measured with; empty without.
        evaluated: ``ganforge evaluate``'s figures in RUN/evaluate.json, with ``step``, ``features`` and
            ``images``; empty without. Figures compare only where the features and image counts match.
    """

    path: str
    config: str
    settings: dict[str, Any]
    state: str
    detail: str
    step: int = 0
    images: int = 0
    seconds: float = 0.0
    evaluation: dict = field(default_factory=dict)
    evaluated: dict = field(default_factory=dict)


def find_runs(folder: Path) -> list[Path]:
    """``folder`` if it is a run, and the runs under it (up to :data:`MAX_DEPTH` deep, a run's own among them:
    RUN/finetune), in path order."""
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise GanforgeError(f"'{folder}' {what}; give the folder your runs are in (the --out of ganforge train, "
                            f"or the folder above them).{did_you_mean_path(folder)}")
    found = []
    for here, subfolders, _ in os.walk(folder):
        here_path = Path(here)
        is_run = is_ganforge_run(here_path)
        if is_run:
            found.append(here_path)
        if len(here_path.relative_to(folder).parts) >= MAX_DEPTH:
            subfolders.clear()
        # a run's own folders (checkpoints, samples, tb) hold no runs: training refuses an --out inside them
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and not (is_run and d in RUN_FILES))
    return sorted(found)


def summarize(run_dir: Path) -> RunSummary:
    """What :class:`RunSummary` says about ``run_dir`` (a ganforge run folder)."""
    stored, cfg, unreadable = _read_config(run_dir)
    try:
        found = ckpt.load_latest(run_dir / "checkpoints", mmap=True)  # None for a run without the folder
    except GanforgeError:  # every checkpoint damaged: as good as none for going on
        found = None
    payload = found[0] if found else None
    state = payload["state"] if payload else {"step": 0, "images_seen": 0, "seconds": 0.0}
    records = read_records(run_dir / "metrics.jsonl")
    # the checkpoint's copy of the config names a run whose config.json no longer does
    name = cfg.name if cfg else str(stored.get("name")
                                    or (payload and json.loads(payload["config"]).get("name")) or "?")
    summary = RunSummary(str(run_dir), name, set_otherwise(cfg) if cfg else {}, "", "", state["step"],
                         state["images_seen"], state["seconds"],
                         _evaluation(records, cfg, state["step"]) if cfg else {}, _evaluated(run_dir))
    resume = say("--resume continues it", "resume=True continues it")
    if cfg is None:
        summary.state, summary.detail = "unreadable", unreadable
    elif is_being_written(run_dir):
        logged = [r["step"] for r in records if "step" in r]
        now = f", at step {logged[-1]:,} by its log" if logged else ""  # the checkpoint's step lags behind
        summary.state, summary.detail = "training", f"a live process is writing it{now}"
    elif payload is None:
        # a session that ended before its first checkpoint (an error, a NaN stop) still says why
        why = _stopped_by(run_dir)
        stopped = f"stopped before its first, {why}" if why else "stopped before its first"
        summary.state, summary.detail = "no checkpoint", f"{stopped}; it trains again from step 0"
    elif bounds := reached_at_checkpoint(cfg, payload):
        summary.state, summary.detail = "finished", bounds[0].split(" (")[0]
    else:
        summary.state, summary.detail = "stopped", "; ".join(part for part in (_stopped_by(run_dir), resume) if part)
    return summary


@functools.cache
def _preset_values(name: str) -> dict[str, Any] | None:
    """Preset ``name``'s values by their dotted keys; None where no preset has that name (a config file's own)."""
    return flat_values(load_config(name).to_dict()) if name in preset_names() else None


def set_otherwise(cfg: Config) -> dict[str, Any]:
    """The keys that change how a run trains which ``cfg`` sets otherwise than the preset it is named for
    (:attr:`RunSummary.settings`)."""
    preset = _preset_values(cfg.name)
    if preset is None:
        return {}
    return {k: v for k, v in flat_values(cfg.to_dict()).items() if changes_training(k) and preset.get(k) != v}


def _settings_cell(settings: dict[str, Any]) -> str:
    """'optim_g.lr=0.001 data.root=…/faces': a path by its last name, cut to :data:`SET_COLUMN_WIDTH`."""
    said = []
    for key, value in settings.items():
        shown = value if isinstance(value, str) else json.dumps(value)
        if isinstance(value, str) and os.sep in value:
            shown = f"…{os.sep}{Path(value).name}"
        said.append(f"{key}={shown}")
    cell = " ".join(said) or "-"
    return cell if disp_len(cell) <= SET_COLUMN_WIDTH else clip(cell, SET_COLUMN_WIDTH - 1) + "…"


def _read_config(run_dir: Path) -> tuple[dict, Config | None, str]:
    """The run's config.json as stored, the config it makes (None where it makes none) and, then, why not.
    A config.json edited by hand, or written by another ganforge version, is said on its run's row, and the
    other runs are listed."""
    try:
        stored = json.loads((run_dir / "config.json").read_text())
    except ValueError as e:  # a run by its sessions.jsonl (is_ganforge_run), its config.json broken by hand
        where = f"line {e.lineno}, column {e.colno}: {e.msg}" if isinstance(e, json.JSONDecodeError) else str(e)
        return {}, None, f"its config.json is not JSON ({where})"
    try:
        return stored, config_from_dict(stored), ""
    except GanforgeError as e:
        first = re.split(r"(?<=\.)\s+(?=[A-Z])", str(e))[0]  # the key and what is wrong, not the valid keys after
        return stored, None, f"its config.json: {first.rstrip('.')}"


def _stopped_by(run_dir: Path) -> str:
    """What ended a stopped run's last session, from its record in sessions.jsonl, in words ("by SIGINT");
    '' where the record does not say (a run written before sessions recorded their end)."""
    sessions = read_records(run_dir / "sessions.jsonl")
    if not sessions or "end" not in sessions[-1]:
        return ""
    end = sessions[-1]["end"]
    if end is None:  # a live process is reported as training before this is asked
        return "its process ended without a word (killed, or the machine went down)"
    if not isinstance(end, dict):
        return ""
    detail = str(end.get("detail", ""))
    return {"signal": f"by {detail}", "stopped": "by the health check (NaN/Inf)",
            "error": f"by an error ({detail.split(':')[0]})",
            "interrupted": "by a second Ctrl-C, before saving"}.get(end.get("how"), "")


def _evaluation(records: list[dict], cfg, step: int) -> dict:
    """The primary metric of the evaluations during training in metrics.jsonl's ``records``, up to the
    checkpoint's step (a resume drops the later ones): its last value and its best."""
    metric = cfg.eval.metrics.split(",")[0].strip()
    key = f"eval/{metric}"
    points = [(r["step"], r[key]) for r in records if key in r and r.get("step", 0) <= step]
    if not points:
        return {}
    pick = max if metric in HIGHER_IS_BETTER else min
    best_step, best = pick(points, key=lambda p: p[1])
    protocol = {} if metric in NO_FEATURES else {"features": cfg.eval.features, "images": cfg.eval.num_samples}
    return {"metric": metric, "last": points[-1][1], "best": best, "best_step": best_step, **protocol}


def _evaluated(run_dir: Path) -> dict:
    """The figures ``ganforge evaluate RUN`` kept in RUN/evaluate.json, with the step they measured."""
    try:
        result = json.loads((run_dir / "evaluate.json").read_text())
    except (OSError, ValueError):
        return {}
    figures = {k: v for k, v in result.items() if isinstance(v, (int, float))}
    if not figures:
        return {}
    protocol = result.get("protocol", {})
    step = protocol.get("generator", {}).get("step")  # None: written before it was recorded
    measured = {"features": protocol.get("features") if next(iter(figures)) not in NO_FEATURES else None,
                "images": protocol.get("num_fake")}
    return {**figures, "step": step, **{k: v for k, v in measured.items() if v is not None}}


def _duration(seconds: float) -> str:
    minutes, s = divmod(int(round(seconds)), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}h {m:02d}m" if hours else f"{m}m {s:02d}s"


def _measured_by(figures: dict) -> str:
    """'fmnist, 5,000 images': what a figure was measured with, which two runs' figures must share to compare
    (FID from 200 images is far above FID from 10,000 of the same G; fmnist's and inception's differ in scale)."""
    said = [figures["features"]] if "features" in figures else []
    said += [f"{figures['images']:,} images"] if "images" in figures else []
    return ", ".join(said)


def _figures(s: RunSummary) -> str:
    parts = []
    if s.evaluation:
        e = s.evaluation
        by = f"; {by}" if (by := _measured_by(e)) else ""
        parts.append(f"{e['metric']} {e['last']:.4g} (best {e['best']:.4g} at {e['best_step']:,}{by})")
    if s.evaluated:
        first = next(iter(s.evaluated))  # the first figure evaluate wrote
        at = f" at {s.evaluated['step']:,}" if s.evaluated["step"] is not None else ""
        by = f" ({by})" if (by := _measured_by(s.evaluated)) else ""
        parts.append(f"evaluate: {first} {s.evaluated[first]:.4g}{at}{by}")
    return "; ".join(parts) or "-"


def format_runs(summaries: list[RunSummary]) -> str:
    """The summaries as an aligned table, a run per line."""
    header = ("run", "config", "set", "step", "images", "trained", "state", "figures")
    rows = [(s.path, s.config, _settings_cell(s.settings), f"{s.step:,}", f"{s.images:,}", _duration(s.seconds),
             f"{s.state}: {s.detail}", _figures(s)) for s in summaries]
    widths = [max(disp_len(r[i]) for r in (header, *rows)) for i in range(len(header))]  # columns on the screen
    right = {3, 4, 5}  # numbers
    return "\n".join("  ".join(pad(c, w, i in right) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
                     for r in (header, *rows))


def summarize_all(folders: list[str | Path]) -> list[RunSummary]:
    """The runs under each of ``folders`` (or each folder itself), summarized, folder by folder; a run found
    under two of them (``ganforge runs runs runs/a``) once, where it is first found."""
    seen, runs = set(), []
    for folder in folders:
        for run in find_runs(Path(folder)):
            key = run.resolve()
            if key not in seen:
                seen.add(key)
                runs.append(run)
    return [summarize(run) for run in runs]


def list_runs(folder: str | Path = "runs") -> list[dict]:
    """The runs under ``folder`` (or ``folder`` itself), each as :class:`RunSummary`'s fields."""
    return [asdict(s) for s in summarize_all([folder])]
