"""``ganforge timelapse``: a run's sample grids as one animated GIF or WebP, G learning step by step (the PyTorch
DCGAN tutorial's animation of G's progression, from the grids every run writes anyway).

The grids are ``samples/step_XXXXXXX.png``, drawn from the same fixed noise, so a frame differs from the one
before only by what G learned. Each frame is labelled with its step. Grids written after the run's newest
checkpoint (a run killed after a grid, before its checkpoint, whose steps a resume trains again) are left out.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .errors import GanforgeError
from .files import check_output_file
from .images import ANIMATIONS, save_animation
from .training import checkpoint as ckpt
from .run_folder import is_ganforge_run, missing_run, when_saved
from .wording import say

LABEL_HEIGHT = 14  # the strip above each grid that says its step
LAST_FRAME_MS = 2000  # the final grid stays up a while before the loop starts again
# Browsers (Chromium, Firefox, WebKit) show a frame of 10 ms or less for 100 ms, so a faster --fps would play
# slower. A GIF's frames last whole hundredths of a second (Pillow rounds down), a WebP's whole milliseconds.
MAX_FPS = {".gif": 50, ".webp": 90}
TICK_MS = {".gif": 10, ".webp": 1}  # the unit a frame's duration is stored in


def grid_steps(run_dir: Path) -> list[tuple[int, Path]]:
    """The run's sample grids as (step, file), oldest first, up to its newest good checkpoint's step."""
    found = ckpt.load_latest(run_dir / "checkpoints", mmap=True)  # its step alone: the weights stay in the file
    newest = found[0]["state"]["step"] if found else -1  # no checkpoint: no grid belongs to a state that stays
    grids = ((ckpt.step_of(p), p) for p in (run_dir / "samples").glob("step_*.png"))
    return sorted((step, p) for step, p in grids if 0 <= step <= newest)


def pick_frames(count: int, most: int) -> list[int]:
    """``most`` indices into ``count`` frames, evenly spread, the first and the last always among them."""
    if count <= most:
        return list(range(count))
    return sorted(set(np.linspace(0, count - 1, most).round().astype(int).tolist()))


def frame_durations(count: int, fps: float, tick_ms: int) -> list[int]:
    """Each of ``count`` frames' duration in ms, whole ``tick_ms`` each, so that the animation keeps ``fps`` on
    average: frame i ends at i + 1 periods, rounded to a tick. A GIF at 40 fps alternates 20 and 30 ms frames,
    where 25 ms each would be stored as 20 and play 25 % fast. The last frame stays up ``LAST_FRAME_MS``."""
    ends = [round((i + 1) * 1000 / fps / tick_ms) * tick_ms for i in range(count)]
    durations = [end - start for start, end in zip([0, *ends], ends)]
    return durations[:-1] + [max(LAST_FRAME_MS, durations[-1])]


def _labelled(path: Path, step: int, size: tuple[int, int], mode: str) -> Image.Image:
    """The grid in ``path`` under a strip that says its step, on a canvas of ``size`` (grids of a run whose
    log.num_samples changed on a resume differ in size), in ``mode`` (L keeps a grey run's levels exact in
    a GIF's palette, where RGB is quantized to 256 colours per frame; a WebP keeps both exactly)."""
    frame = Image.new(mode, (size[0], size[1] + LABEL_HEIGHT))
    with Image.open(path) as grid:
        frame.paste(grid.convert(mode), (0, LABEL_HEIGHT))
    ImageDraw.Draw(frame).text((2, 1), f"step {step:,}", fill=255 if mode == "L" else (255, 255, 255))
    return frame


def write_timelapse(run: str | Path, out: str | Path, fps: float = 4.0, frames: int = 100) -> tuple[int, int, int]:
    """Write ``run``'s sample grids to ``out`` (a ``.gif``, or a lossless ``.webp``) at ``fps`` frames per second,
    at most ``frames`` of them. Returns (frames written, first step, last step)."""
    run_dir, out = Path(run), Path(out)
    if out.suffix.lower() not in ANIMATIONS:
        raise GanforgeError(f"{say('--out', 'out')} '{out}': a timelapse is an animated .gif (or a lossless .webp, "
                            f"for a colour run's exact colours); name it '{out.with_suffix('.gif').name}'.")
    if not fps > 0 or frames < 2:
        raise GanforgeError(f"{say('--fps', 'fps')} must be > 0 and {say('--frames', 'frames')} at least 2, got "
                            f"{fps:g} and {frames}.")
    fastest = MAX_FPS[out.suffix.lower()]
    if fps > fastest:
        raise GanforgeError(f"{say('--fps', 'fps')} {fps:g} is above {fastest} for a {out.suffix.lower()}: browsers "
                            "show a frame of 10 ms or less for 100 ms, so it would play at 10 frames a second; "
                            f"give {say('--fps', 'fps')} {fastest} or less"
                            + (f", or write a .webp (up to {MAX_FPS['.webp']})." if fastest < MAX_FPS[".webp"] else "."))
    if not run_dir.exists():
        raise missing_run(run)
    if not is_ganforge_run(run_dir):
        raise GanforgeError(f"'{run}' is not a run folder (the --out of ganforge train, with its config.json).")
    grids = grid_steps(run_dir)
    if not grids:
        raise GanforgeError(f"the run in '{run}' has no sample grids up to its checkpoint yet (samples/step_*.png, "
                            "written every log.sample_every_steps and when a run ends); train it first.")
    check_output_file(out)
    if len(grids) == 1:  # written all the same: a still of where the run is
        warnings.warn(f"'{run}' holds one sample grid (step {grids[0][0]:,}), so the timelapse is a still picture; "
                      f"the run saves a grid {when_saved(run_dir, 'sample')}when it stops. Train it on "
                      f"({say('--resume', 'resume=True')}, a bound raised) for more.")
    chosen = [grids[i] for i in pick_frames(len(grids), frames)]
    headers = []
    for _, path in chosen:
        with Image.open(path) as image:  # opening reads the header only
            headers.append((image.size, image.mode))
    size = (max(w for (w, _), _ in headers), max(h for (_, h), _ in headers))
    mode = "L" if all(m == "L" for _, m in headers) else "RGB"
    pictures = [_labelled(p, step, size, mode) for step, p in chosen]
    save_animation(pictures, out, frame_durations(len(pictures), fps, TICK_MS[out.suffix.lower()]))
    return len(pictures), chosen[0][0], chosen[-1][0]
