"""ganforge from Python: what the ``ganforge`` command does, for a notebook or a script.

    import ganforge
    run = ganforge.train("dcgan-fmnist", "runs/a", {"train.max_seconds": 60})
    images = ganforge.sample(run, 64)           # uint8 tensor (64, 1, 28, 28)
    walks = ganforge.interpolate(run, 8, 10)     # uint8 (8, 10, 1, 28, 28): 8 walks through the noise space
    ganforge.nearest(run, 8, 5).images          # uint8 (8, 6, 1, 28, 28): each sample, then its 5 nearest
    ganforge.grid(images)                       # a PIL image, shown inline in a notebook
    ganforge.evaluate(run, metrics="fid")       # the figures as a dict
    ganforge.upscale("runs/sr", photo)          # a super-resolution run's output for a PIL image or uint8 array
    ganforge.history(run)                       # metrics.jsonl's records, e.g. for pandas.DataFrame

The functions take the command's arguments and raise :class:`ganforge.errors.GanforgeError` where the
command exits 2. A network, loss or objective registered in the notebook itself trains as one from a plugin
file, but only that process can rebuild it; ``train`` says so, since ``ganforge sample`` and ``--resume``
from the command line will not find it.
"""
from __future__ import annotations

import functools
import inspect
import json
import math
import os
import signal
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar

import numpy as np
import torch

from .config import SEED_LIMIT
from .errors import GanforgeError, did_you_mean, did_you_mean_path, format_warning
from .files import json_name_problem
from .run_folder import missing_run
from .wording import python_call

F = TypeVar("F", bound=Callable[..., Any])


def _in_python(fn: F) -> F:
    """Speak Python during ``fn``'s call: messages name its arguments (``resume=True``, not ``--resume``; see
    ``wording.py``), and ganforge's own warnings print as the command prints them, one line each. Python's default
    form adds the file and line of ganforge's code that issued it, and that line of code. Other libraries'
    warnings (tqdm's, torch's) keep Python's form, which says whose they are.

    Its path arguments (those annotated with ``Path``) read a leading ``~`` as the home folder, as a shell
    would have: ``train(..., "~/runs/a")`` made a folder named '~' in the working directory. Its switches (those
    annotated ``bool``) take True or False only: ``ema="false"``, a true value, drew from the EMA copy."""
    signature = inspect.signature(fn)
    paths = [name for name, p in signature.parameters.items() if "Path" in str(p.annotation)]
    switches = [name for name, p in signature.parameters.items() if p.annotation == "bool"]

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:  # bind's message lacks the function's name, which Python's own call error gives
            raise TypeError(f"{fn.__name__}() {e}{_as_override(signature, kwargs)}") from None
        for name in paths:
            value = bound.arguments.get(name)
            if isinstance(value, (str, Path)) and str(value).startswith("~"):
                bound.arguments[name] = type(value)(os.path.expanduser(value))
        for name in switches:
            if name in bound.arguments:  # a default is left as it is
                bound.arguments[name] = _switch(name, bound.arguments[name])
        args, kwargs = bound.args, bound.kwargs
        previous = warnings.formatwarning

        def formatwarning(message, category, filename, lineno, line=None):
            mine = str(filename).startswith(str(Path(__file__).parent))
            return (format_warning if mine else previous)(message, category, filename, lineno, line)
        warnings.formatwarning = formatwarning
        try:
            with python_call():
                return fn(*args, **kwargs)
        finally:
            warnings.formatwarning = previous
    return call  # type: ignore[return-value]


def _as_override(signature: inspect.Signature, kwargs: dict) -> str:
    """For ``train(max_steps=3)`` (or a seed's ``epochs=3``): "; it is a config key: pass
    overrides={'train.max_steps': 3}", the way a setting reaches a function that takes ``overrides``; for another
    sampler's ``n=`` or ``num_samples=``, the argument here; for a near miss (``metric=``), the argument meant;
    '' for any other mistake."""
    from .cli import NUM_FLAGS
    from .config import settings_meant

    unknown = [name for name in kwargs if name not in signature.parameters]
    if not unknown:
        return ""
    name, params = unknown[0], list(signature.parameters)
    if name in NUM_FLAGS and "num" in params:
        return "; the number of images is num"
    keys = settings_meant(name) if "overrides" in params else []
    if not keys:
        return did_you_mean(name, params).replace(" Did", "; did", 1)
    first, *others = keys
    return (f"; it is a config key: pass overrides={{{first!r}: {kwargs[name]!r}}}"
            + (f" (or {', '.join(others)})" if others else ""))


def _switch(name: str, value: Any) -> bool:
    """``value`` as a bool (numpy's too), refusing anything else: Python would read ``ema="false"`` or ``resume="no"``
    as true, and ``ema=0.999`` (a decay, not a switch) too."""
    if not isinstance(value, (bool, np.bool_)):
        raise GanforgeError(f"{name} must be True or False, got {value!r} ({type(value).__name__}).")
    return bool(value)


def _integers(**given: Any) -> tuple[int, ...]:
    """The values as Python ints (numpy's too, which torch's seeding refuses), refusing what the command's
    parser refuses before any work: a count or seed that is not an integer, a seed outside [0, 2**32). torch
    and numpy raised their own errors for them ("expected a long", an overflow); the ranges of counts are
    checked where the command checks them."""
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise GanforgeError(f"{name} must be an integer, got {value!r} ({type(value).__name__}).")
    if not 0 <= given.get("seed", 0) < SEED_LIMIT:
        raise GanforgeError(f"seed must be in [0, 2**32), got {given['seed']}.")
    return tuple(int(v) for v in given.values())


def _classes(**given: Any) -> tuple[str | None, ...]:
    """Each class argument (None: every class in turn) as the text ``--class`` takes: a name, or an index, which
    NumPy (np.int64) or a float column of a table (1.0) gives too; 1.0 read '1.0', which no class was called."""
    said = []
    for name, value in given.items():
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int, np.integer))):
            raise GanforgeError(f"{name} must be a class's index (an int) or name (a str), got {value!r} "
                                f"({type(value).__name__}).")
        said.append(None if value is None else str(value))
    return tuple(said)


def _numbers(**given: Any) -> tuple[float | None, ...]:
    """The values as Python floats (None stays None: an option left off), refusing what is no finite number
    before any work: a string compared with a number raised Python's TypeError, and a NaN passed every check."""
    for name, value in given.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise GanforgeError(f"{name} must be a number, got {value!r} ({type(value).__name__}).")
        if not math.isfinite(value):
            raise GanforgeError(f"{name} must be a finite number, got {value!r} ({type(value).__name__}).")
    return tuple(None if v is None else float(v) for v in given.values())


@_in_python
def train(config: str | Path = "dcgan-fmnist", out: str | Path | None = None,
          overrides: Mapping[str, Any] | Iterable[str] = (), *, resume: bool = False, force: bool = False) -> Path:
    """Train ``config`` (a preset's name or a TOML, YAML or JSON file) into ``out``; return the run folder.

    Args:
        out: the run folder (default ``runs/<config's name>``), as ``--out``.
        overrides: ``{"train.max_seconds": 60, "optim_g.betas": [0.0, 0.9]}``, or ``--set`` strings
            (``["train.max_seconds=60"]``).
        resume, force: as ``--resume`` (continue the run in ``out``) and ``--force`` (replace it).

    Raises:
        KeyboardInterrupt: after a Ctrl-C (a notebook's interrupt) saved the current step; ``resume=True``
            continues it.
        GanforgeError: bad input, or the health monitor stopped the run (NaN losses).
    """
    from .config import load_config
    from .plugins import outside_plugins
    from .training.run import train as train_run

    if isinstance(config, Mapping):  # the overrides given first, the preset left out
        raise GanforgeError(f"config is a dict; name a preset or a config file, and give the dict as the overrides: "
                            f"ganforge.train('dcgan-fmnist', out, {dict(config)!r}).")

    sets = as_overrides(overrides)
    run_dir = Path(out) if out is not None else Path("runs") / Path(str(config)).stem
    if not resume:  # a resumed run's config is its checkpoint's; its own check ran when it started
        only_here = outside_plugins(load_config(str(config), sets))
        if only_here:
            warnings.warn(f"{'; '.join(only_here)}: only this Python process can build "
                          f"{'it' if len(only_here) == 1 else 'them'}. ganforge sample, evaluate or train --resume "
                          f"on '{run_dir}' from the command line, or from a new kernel before the code runs again, "
                          "will not find it. To keep the run usable anywhere, put that code in a .py file and add it "
                          "to the config's plugins.")
    code = train_run(str(config), None if out is None else str(run_dir), sets, resume=resume, force=force)
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM):  # saved; stop the notebook's queue of cells too
        raise KeyboardInterrupt
    if code:
        raise GanforgeError(f"training in '{run_dir}' stopped early; the message above says why. Its last good "
                            "checkpoint is kept.")
    return run_dir


@_in_python
def load_generator(run: str | Path, ema: bool = True) -> torch.nn.Module:
    """The generator of a run folder or checkpoint file (its EMA copy when it has one, unless ``ema=False``),
    in eval mode, on the CPU. It maps noise (N, model.z_dim) to images in [-1, 1]."""
    from .sampling import load_generator as load

    return load(run, ema)[0]


@_in_python
def sample(run: str | Path, num: int = 64, *, seed: int = 0, class_: int | str | None = None,
           truncation: float | None = None, ema: bool = True) -> torch.Tensor:
    """``num`` images of a run as a uint8 tensor (N, C, H, W), the same images ``ganforge sample`` writes for
    the same ``seed``. A class-conditional run draws its classes in turn, or only ``class_`` (an index or a
    name); ``truncation`` draws the noise from [-T, T]."""
    from .sampling import generate_all, load_for_sampling

    num, seed = _integers(num=num, seed=seed)
    truncation, = _numbers(truncation=truncation)
    if num <= 0:
        raise GanforgeError(f"num must be > 0, got {num}.")
    G, cfg, label = load_for_sampling(run, ema, truncation, *_classes(class_=class_))
    return generate_all(G, cfg, num, seed, truncation, label)


@_in_python
def interpolate(run: str | Path, num: int = 8, steps: int = 10, *, seed: int = 0, class_: int | str | None = None,
                to_class: int | str | None = None, truncation: float | None = None, ema: bool = True) -> torch.Tensor:
    """``num`` walks through a run's latent space, ``steps`` frames each, as uint8 (num, steps, C, H, W): the
    frames ``ganforge sample --interpolate`` writes. Walk i starts at image i of ``sample(run, seed=seed)``;
    ``grid(walks)`` shows a walk per row. With ``to_class`` (and ``class_``), each walk keeps its noise and goes
    from ``class_`` to ``to_class``."""
    from .interpolation import interpolate as walk, load_for_walks

    num, steps, seed = _integers(num=num, steps=steps, seed=seed)
    truncation, = _numbers(truncation=truncation)
    G, cfg, label, to_label = load_for_walks(run, ema, truncation, *_classes(class_=class_, to_class=to_class))
    return walk(G, cfg.model.z_dim, num, steps, seed, truncation, cfg.model.num_classes, label, to_label)


@_in_python
def nearest(run: str | Path, num: int = 8, k: int = 5, *, seed: int = 0, class_: int | str | None = None,
            truncation: float | None = None, ema: bool = True, features: str | None = None):
    """``num`` samples of a run (``sample(run, num, seed=seed)``'s) with their ``k`` nearest training images in
    feature space (the run's ``eval.features`` unless ``features`` names another), as ``ganforge sample
    --nearest`` shows them: a :class:`ganforge.neighbours.Neighbours` with ``images`` uint8 (num, 1 + k, C, H, W),
    each sample first, the neighbours' ``indices`` in the training set (``files`` for an image folder) and
    ``distances``, and ``typical``, the median distance from a training image to its nearest other. A sample at
    distance near 0 copies a training image."""
    from .neighbours import nearest_neighbours

    num, k, seed = _integers(num=num, k=k, seed=seed)
    truncation, = _numbers(truncation=truncation)
    return nearest_neighbours(run, num, k, seed, ema, truncation, *_classes(class_=class_), features)


@_in_python
def upscale(run: str | Path, images, *, tile: int = 128, overlap: int = 16, ema: bool = True) -> torch.Tensor:
    """LR images upscaled by a super-resolution run, as ``ganforge upscale`` does (tiled, so memory stays bounded).

    ``images``: an image file's path, a PIL image, or uint8 (C, h, w) or (N, C, h, w) in an array or tensor, with
    the run's channels. Returns uint8 of the same rank, ``sr.scale`` times the side.
    """
    from PIL import Image

    from .data.folder import decoded_pil
    from .images import conversion_words, unit_to_uint8
    from .upscaling import check_tiling, decoded_input, load_sr_generator, upscale_tensor, warn_of_changes

    tile, overlap = _integers(tile=tile, overlap=overlap)
    check_tiling(tile, overlap)
    G, cfg = load_sr_generator(run, ema)
    channels = cfg.data.channels
    if isinstance(images, (list, tuple)):  # of PIL images, most often, perhaps of several sizes
        raise GanforgeError(f"upscale takes one image or one batch (N, C, h, w), got a {type(images).__name__} of "
                            f"{len(images)}; upscale each: [ganforge.upscale(run, image) for image in images].")
    if isinstance(images, (str, Path)):  # read as `ganforge upscale FILE` reads it
        path = Path(images).expanduser()
        if path.is_dir():
            raise GanforgeError(f"upscale takes one image, but '{path}' is a folder; upscale a folder with the "
                                f"command: ganforge upscale RUN '{path}' --out FOLDER.")
        if not path.is_file():
            raise GanforgeError(f"'{path}' does not exist; give an image file.{did_you_mean_path(path)}")
        decoded, named = decoded_input(path, channels, f"'{path}'"), f"'{path}'"
    elif isinstance(images, Image.Image):  # read as `ganforge upscale` reads a file (16-bit, float, transparency)
        try:
            decoded, named = decoded_pil(images, 0, channels), "the image"
        except ValueError as e:
            raise GanforgeError(f"upscale cannot read this image: {e}.") from None
    else:
        decoded = None
    if decoded is not None:  # the command's warnings: from here, this call's caller is 3 frames up (_in_python's)
        warn_of_changes(decoded, channels, named, stacklevel=3)
        images = decoded.image
    # a read-only array (np.asarray of a PIL image, np.load(mmap_mode='r')) is copied: torch warns about
    # tensors over memory it cannot write
    x = torch.as_tensor(np.require(images, requirements=["C", "W"]) if isinstance(images, np.ndarray) else images)
    if x.dtype != torch.uint8 or x.ndim not in (3, 4) or x.shape[-3] != channels:
        hint, (reorder, to_8_bit) = "", conversion_words(isinstance(images, torch.Tensor))
        if x.ndim in (3, 4) and x.shape[-1] == channels and x.shape[-3] != channels:
            axes = "(2, 0, 1)" if x.ndim == 3 else "(0, 3, 1, 2)"
            hint += f" It looks channels-last ({'N, ' * (x.ndim == 4)}h, w, C): pass x.{reorder}{axes}."
        if x.is_floating_point():
            hint += f" For floats in [0, 1] (super-resolution's range), pass (x * 255).round(){to_8_bit}."
        raise GanforgeError(f"upscale takes uint8 images (C, h, w) or (N, C, h, w) with C {channels}, as the run "
                            f"was trained, got {x.dtype} {tuple(x.shape)}.{hint}")
    lr = (x[None] if x.ndim == 3 else x).to(next(G.parameters()).device).float() / 255.0
    out = upscale_tensor(G, lr, cfg.sr.scale, tile, overlap, convert=unit_to_uint8)
    return out[0] if x.ndim == 3 else out


@_in_python
def evaluate(source: str | Path | np.ndarray | torch.Tensor, metrics: str | Iterable[str] | None = None,
             num: int | None = None, *, features: str | None = None, ref: str | Path = "train", seed: int = 0,
             dataset: str | None = None, data_root: str | Path = "", ema: bool = True,
             json_out: str | Path | None = None, val: str | Path = "", mirror: str = "") -> dict:
    """Score ``source`` as ``ganforge evaluate`` does and return the figures (with their protocol) as a dict.

    ``source`` is a run folder, a checkpoint, a .npy, a folder of images, or uint8 images (N, C, H, W) in an
    array or tensor (``ganforge.sample``'s, say). ``metrics``: "fid,kid" or ["fid", "kid"] (default: all).
    ``ref``: the reference dataset's split, "train" or "test", or images of your own (a .npy or a folder).
    The other arguments are the command's options; a file source writes its JSON where the command would,
    an array only to ``json_out``.
    """
    from .metrics.run import evaluate_source

    seed, = _integers(seed=seed)
    if num is not None:
        num, = _integers(num=num)
    if metrics is not None and not isinstance(metrics, str):
        metrics = ",".join(metrics)
    if json_out is not None and (problem := json_name_problem(json_out)):
        raise GanforgeError(f"json_out {problem}.")
    if not isinstance(source, (str, Path, np.ndarray, torch.Tensor)):  # a list was read as the path '[1, 2, 3]'
        raise GanforgeError(f"source is {type(source).__name__}; give a run folder, a checkpoint, a .npy or a folder "
                            "of images (a str or Path), or uint8 images (N, C, H, W) as a numpy array or torch tensor.")
    return evaluate_source(source if isinstance(source, (np.ndarray, torch.Tensor)) else str(source), metrics, num,
                           features, ref, None if json_out is None else str(json_out), seed, dataset, str(data_root),
                           ema, str(val), mirror)


@_in_python
def history(run: str | Path) -> list[dict]:
    """The records of a run's ``metrics.jsonl``, oldest first: one per log interval (``step``, the losses,
    ``images_per_second``, ...), one per evaluation (``eval/fid``, ...) and one per health warning.
    ``pandas.DataFrame(history(run))`` makes them columns to plot; a key a record lacks is NaN there."""
    from .training.hooks.logger import read_records

    path = Path(run) / "metrics.jsonl"
    if not Path(run).is_dir():
        raise missing_run(run)
    if not path.is_file():
        raise GanforgeError(f"'{run}' has no metrics.jsonl; give a run folder (the --out of ganforge train).")
    return read_records(path)


@_in_python
def export(run: str | Path, out: str | Path, *, ema: bool = True, batch: int = 0, opset: int = 0) -> dict:
    """Write ``run``'s generator (its EMA copy unless ``ema=False``) to ``out``, a ``.pt2`` file that plain
    PyTorch loads without ganforge: ``torch.export.load(out).module()(z)``, or a ``.onnx`` file for ONNX
    runtimes (``onnxruntime.InferenceSession(out).run(None, {"z": z})``; needs the ``onnx`` extra), for any batch
    size (``batch`` 0) or one, at ONNX operator set ``opset`` (0: torch.onnx's default). Returns what the file says
    of itself (its ``ganforge.json``): the inputs, the output and its range, the checkpoint and step, a .onnx
    file's opset."""
    from .exporting import export_generator

    batch, opset = _integers(batch=batch, opset=opset)
    return export_generator(str(run), out, use_ema=ema, batch=batch, opset=opset)


@_in_python
def timelapse(run: str | Path, out: str | Path, *, fps: float = 4.0, frames: int = 100) -> tuple[int, int, int]:
    """Write ``run``'s sample grids (``samples/step_*.png``, from one fixed noise batch) to ``out``, an animated
    ``.gif`` (or a lossless ``.webp``), each labelled with its step: G's progress over the run. At most ``frames``
    grids, evenly spread.
    Returns (grids written, first step, last step)."""
    from .animation import write_timelapse

    fps, = _numbers(fps=fps)
    frames, = _integers(frames=frames)
    return write_timelapse(run, out, fps=fps, frames=frames)


@_in_python
def runs(folder: str | Path = "runs") -> list[dict]:
    """The runs in ``folder`` (a run folder, or a folder of them searched 4 deep), as ``ganforge runs`` lists
    them: each a dict of ``path``, ``config``, ``settings`` (the keys that change how it trains which its config
    sets otherwise than its preset, ``{"optim_g.lr": 0.001}``), ``state`` (training, finished, stopped, no checkpoint),
    ``detail``, ``step``, ``images``, ``seconds``, ``evaluation`` (the primary metric during training: last,
    best, best_step) and ``evaluated`` (RUN/evaluate.json's figures and their step).
    ``pandas.DataFrame(runs())`` makes a table of them."""
    from .listing import list_runs

    return list_runs(folder)


def grid(images: np.ndarray | torch.Tensor, nrow: int | None = None):
    """uint8 images (N, C, H, W) tiled into one PIL image, ``nrow`` per row (default: a square); a notebook
    shows it inline, and ``.save("grid.png")`` writes it. Rows of images (R, S, C, H, W), as ``interpolate``'s
    walks and ``nearest``'s images are, keep a row each by default."""
    from .images import make_grid, to_pil, uint8_hint, uint8_images

    if getattr(images, "ndim", None) == 5:
        nrow = images.shape[1] if nrow is None else nrow
        images = images.reshape(-1, *images.shape[2:])
    if nrow is not None:
        nrow, = _integers(nrow=nrow)
        if nrow < 1:  # 0 took the default silently, and below it NumPy said "negative dimensions"
            raise GanforgeError(f"nrow must be at least 1, got {nrow}.")
    tensor = isinstance(images, torch.Tensor)
    array = uint8_images(images, "grid takes", lambda shape, dtype: uint8_hint(shape, dtype, "pass", tensor))
    if not len(array):
        raise GanforgeError(f"grid takes at least one image, got none (shape {array.shape}).")
    return to_pil(make_grid(array, nrow))


def _toml(value: Any, where: str) -> str:
    """``value`` as the TOML that --set reads: tables and lists inline (hooks = [{name = "x"}]); a scalar as a TOML
    writer writes it, so it reads back as itself."""
    import tomli_w

    if value is None:
        raise GanforgeError(f"{where} is None, which a config cannot hold; leave the key out for its default.")
    if isinstance(value, (np.generic, np.ndarray, torch.Tensor)):  # a sweep's np.logspace(...)[i], a tensor's value
        value = value.tolist()  # a scalar's is a Python number or bool
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v, f'{where}[{k!r}]')}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v, f"{where}[{i}]") for i, v in enumerate(value)) + "]"
    if not isinstance(value, (str, Path, bool, int, float)):
        raise GanforgeError(f"{where} is a {type(value).__name__}, which a config cannot hold; give a number, a "
                            "string, a bool, a list or a dict.")
    return tomli_w.dumps({"v": str(value) if isinstance(value, Path) else value}).split("=", 1)[1].strip()


def as_overrides(overrides: Mapping[str, Any] | Iterable[str]) -> list[str]:
    """``{"train.max_steps": 50, "model.generator.options": {"hidden": 256}}`` as ``--set`` strings; a nested
    dict sets each of its keys, and a list of dicts is a list of tables (``{"hooks": [{"name": "x"}]}``).
    Strings pass through."""
    if isinstance(overrides, str):
        raise GanforgeError(f"overrides is one string, '{overrides}'; give a dict {{'key': value}} or a list of "
                            "'key=value' strings.")
    if not isinstance(overrides, Mapping):
        sets = list(overrides)
        for i, item in enumerate(sets):
            if not isinstance(item, str):  # a (key, value) pair, as dict() takes them
                pair = dict([item]) if isinstance(item, (tuple, list)) and len(item) == 2 else None
                raise GanforgeError(f"overrides[{i}] is a {type(item).__name__}, {item!r}; give a dict "
                                    f"{pair or {'key': 'value'}!r} or 'key=value' strings.")
            if item == "--set":  # a command line split into a list
                raise GanforgeError(f"overrides[{i}] is '--set', the command's flag; give the 'key=value' strings "
                                    f"alone: {[s for s in sets if s != '--set']!r}.")
        return sets
    sets = []
    for key, value in overrides.items():
        if isinstance(value, Mapping) and value:
            sets += [f"{key}.{s}" for s in as_overrides(value)]
        else:
            sets.append(f"{key}={_toml(value, f'overrides[{key!r}]')}")
    return sets
