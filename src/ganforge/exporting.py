"""``ganforge export``: a run's generator as one file that runs without ganforge or the network's code: a
``.pt2`` for plain PyTorch, or a ``.onnx`` for ONNX runtimes.

A checkpoint holds weights, which need ganforge (and a plugin's file) to rebuild the network around them.
``torch.export`` records the network's computation itself (PyTorch's format for deploying a model), so
``torch.export.load("g.pt2").module()(z)`` is the generator anywhere torch runs. ``torch.onnx`` records the
generator the same way and translates the program to ONNX, which onnxruntime, TensorRT, OpenCV's dnn module
and browsers (onnxruntime-web) run without torch. The batch is left free (and an SR generator's height and width); the
file carries ``ganforge.json``, which says what goes in and what comes out. The exported program is checked
against the generator before it is written (an ONNX file by ONNX's own reference implementation).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path
from typing import Iterator

import torch

from . import __version__
from .errors import GanforgeError
from .files import check_output_file, write_atomic
from .sampling import load_generator
from .wording import say

MAX_BATCH = 1 << 16  # the free batch dimension's upper bound (torch.export asks for one)
MAX_SIDE = 1 << 13  # an SR input's largest height and width


def _inputs(cfg, batch: int) -> tuple[tuple[torch.Tensor, ...], tuple[dict, ...], dict[str, str]]:
    """Example inputs, which of their dimensions are free, and each input's name (an ONNX runtime takes them by
    name) with what it is, in words. ``batch`` 0 leaves the batch free; another value fixes it."""
    from torch.export import Dim

    free = {0: Dim("batch", min=1, max=MAX_BATCH)} if not batch else {}
    n, size = batch or 2, str(batch or "N")
    probe = torch.Generator().manual_seed(0)  # not the global RNG: exporting draws nothing a user's seed set
    if cfg.model.task == "sr":
        side = {2: Dim("height", min=4, max=MAX_SIDE), 3: Dim("width", min=4, max=MAX_SIDE)}
        lr = torch.rand(n, cfg.data.channels, 12, 16, generator=probe)
        return (lr,), ({**free, **side},), {"lr": f"an LR image batch, float32 ({size}, {cfg.data.channels}, h, w) "
                                                  "in [0, 1]"}
    z = torch.randn(n, cfg.model.z_dim, generator=probe)
    noise = {"z": f"noise float32 ({size}, {cfg.model.z_dim}) from N(0, 1)"}
    if cfg.model.num_classes:
        labels = torch.arange(n) % cfg.model.num_classes
        return (z, labels), (free, free), {**noise, "classes": f"classes int64 ({size},) in "
                                                               f"[0, {cfg.model.num_classes})"}
    return (z,), (free,), noise


@contextlib.contextmanager
def _torch_logs_quiet() -> Iterator[None]:
    """torch.export logs a failed trace's whole graph (warnings, and a print to stderr) before it raises; the
    error says enough."""
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict) if name.startswith("torch")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _onnx_packages() -> None:
    """Import what writing and checking a .onnx file needs (ganforge's ``onnx`` extra), or say how to get it."""
    try:
        import onnx  # noqa: F401  the format itself, and its reference runtime for the check
        import onnxscript  # noqa: F401  torch.onnx's translator to ONNX operators
    except ImportError as e:
        raise GanforgeError(f"writing a .onnx file needs the packages onnx and onnxscript ({e.name} is not installed): "
                            "pip install onnx onnxscript (ganforge's onnx extra). A .pt2 file needs neither.") from None


def export_generator(source: str | Path, out: str | Path, use_ema: bool = True, batch: int = 0,
                     opset: int = 0) -> dict:
    """Export the generator of ``source`` (a run folder or checkpoint) to ``out`` (a ``.pt2`` file, or a ``.onnx``
    file) and return the description stored in it as ``ganforge.json``. ``batch`` 0 exports for any batch size;
    another value for that one alone (for a network whose forward turns the batch size into a Python number).
    ``opset``: the ONNX operator set of a ``.onnx`` file (0: torch.onnx's default), for a runtime that reads
    opsets up to it."""
    out = Path(out)
    if out.suffix not in (".pt2", ".onnx"):
        raise GanforgeError(f"{say('--out', 'out')} '{out}': an exported generator is a .pt2 file (torch.export's, "
                            "for PyTorch) or a .onnx file (for onnxruntime and other ONNX runtimes); name it "
                            f"'{out.with_suffix('.pt2').name}' or '{out.with_suffix('.onnx').name}'.")
    if batch < 0:
        raise GanforgeError(f"{say('--batch', 'batch')} must be >= 0 (0: any batch size), got {batch}.")
    if opset < 0:
        raise GanforgeError(f"{say('--opset', 'opset')} must be > 0 (leave it out for torch.onnx's default), "
                            f"got {opset}.")
    if opset and out.suffix != ".onnx":
        raise GanforgeError(f"{say('--opset', 'opset')} is an ONNX operator set; a .pt2 file (torch.export's) has "
                            f"none. Name the file '{out.with_suffix('.onnx').name}' to write ONNX.")
    if out.suffix == ".onnx":
        _onnx_packages()
    check_output_file(out)  # before the trace, which takes seconds, so a bad --out fails at once
    G, cfg = load_generator(source, use_ema)
    args, dynamic, takes = _inputs(cfg, batch)
    try:
        with _torch_logs_quiet():
            program = torch.export.export(G, args, dynamic_shapes=dynamic)
    except Exception as e:  # torch's errors here run to pages; the first line names the cause
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "Constraints violated (batch)" in first:  # the free batch was fixed by the code: len(z), int(shape[0])
            raise GanforgeError(f"generator '{cfg.model.generator.name}' of '{source}' turns the batch size into a "
                                "Python number in its forward (len(z), int(z.shape[0]), a size from .tolist()), which "
                                "fixes it, so it cannot be exported for any batch size. Use z.shape[0] or "
                                f".view(-1, ...) there, or export one batch size: {say('--batch N', 'batch=N')}.") \
                from None
        raise GanforgeError(f"generator '{cfg.model.generator.name}' of '{source}' cannot be exported: "
                            f"{type(e).__name__}: {first[:300]}. torch.export follows one path through forward(): "
                            "a branch or loop that depends on the input's values cannot be recorded. Rewrite it with "
                            "tensor ops (torch.where), or use the weights: torch.load(checkpoint)['G_ema'].") from None
    check = args if batch else tuple(a[:1] for a in args)  # another batch than the example's: really free
    with torch.no_grad():
        want = G(*check)  # what each exported form must reproduce
        if not torch.allclose(program.module()(*check), want, rtol=1e-4, atol=1e-5):
            raise GanforgeError(f"the exported program of '{source}' does not reproduce its generator's output; "
                                "it was not written. Report this with the run's config.")
    n, c, r, scale = batch or "N", cfg.data.channels, cfg.data.resolution, cfg.sr.scale
    output = (f"float32 ({n}, {c}, {scale}h, {scale}w) in [0, 1]" if cfg.model.task == "sr" else
              f"float32 ({n}, {c}, {r}, {r}) in [-1, 1]; as 8-bit images: ((x + 1) * 127.5).round().clamp(0, 255)")
    names = tuple(takes)
    if out.suffix == ".onnx":  # an ONNX runtime takes its inputs by name
        takes = {name: f"{what} named '{name}'" for name, what in takes.items()}
    info = {"ganforge": __version__, "torch": str(torch.__version__), "source": G.source, "task": cfg.model.task,
            "batch": batch or None, "inputs": ", and ".join(takes.values()), "output": output, "channels": c,
            **({"scale": cfg.sr.scale} if cfg.model.task == "sr" else
               {"z_dim": cfg.model.z_dim, "resolution": cfg.data.resolution, "num_classes": cfg.model.num_classes,
                "class_names": list(G.class_names)})}
    if out.suffix == ".onnx":
        model = _onnx_model(G, args, dynamic, names, info, source, cfg.model.generator.name, opset)
        _check_onnx(model, dict(zip(names, check)), want, source)
        write_atomic(out, lambda f: f.write(model.SerializeToString()))
    else:
        write_atomic(out, lambda f: _save(program, f, info))
    return info


def _onnx_model(G, args: tuple, dynamic: tuple, names: tuple[str, ...], info: dict, source: str | Path,
                generator: str, opset: int = 0):
    """``G`` as an ONNX model (``onnx.ModelProto``) whose inputs are ``names`` and whose output is ``images``, at
    operator set ``opset`` (0: torch.onnx's default), with ``info`` as its ``ganforge.json`` metadata, to which
    the opset is added.

    torch.onnx traces ``G`` with torch.export again, which ``export_generator`` has just done: from the exported
    program it names the free dimensions by torch's symbols (``s68``), from ``G`` and ``dynamic`` by their own
    names (``batch``, ``4*height``), which a runtime's errors and a model viewer show."""
    import onnx

    try:
        with _torch_logs_quiet(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.onnx's progress lines and its own deprecation warnings
            model = torch.onnx.export(G, args, dynamo=True, dynamic_shapes=dynamic, input_names=list(names),
                                      output_names=["images"], opset_version=opset or None,
                                      verbose=False).model_proto
    except Exception as e:  # an operator that torch.onnx has no ONNX translation for
        while e.__cause__ is not None:  # torch.onnx's own error is a page of next steps; its cause names the operator
            e = e.__cause__
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GanforgeError(f"generator '{generator}' of '{source}' cannot be written as ONNX: {type(e).__name__}: "
                            f"{first[:300].rstrip('.')}. A .pt2 file (torch.export's) takes every operator torch "
                            "has.") from None
    info["opset"] = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset and info["opset"] != opset:  # torch.onnx keeps its own opset, unsaid, where it cannot convert
        lower = opset < info["opset"]
        raise GanforgeError(f"torch.onnx wrote generator '{generator}' of '{source}' at opset {info['opset']}, not at "
                            f"the {opset} asked (its converter could not take it {'down' if lower else 'up'}); it "
                            f"was not written. Choose a{' later' if lower else 'n earlier'} {say('--opset', 'opset')}.")
    onnx.helper.set_model_props(model, {"ganforge.json": json.dumps(info)})
    return model


def _check_onnx(model, inputs: dict[str, torch.Tensor], want: torch.Tensor, source: str | Path) -> None:
    """Run ``model`` on ``inputs`` with ONNX's reference implementation (the operators as the ONNX standard
    defines them, in NumPy: no runtime's own kernels) and compare with ``want``, the generator's output."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    onnx.checker.check_model(model)
    got = ReferenceEvaluator(model).run(None, {name: t.numpy() for name, t in inputs.items()})[0]
    if not torch.allclose(torch.from_numpy(got), want, rtol=1e-4, atol=1e-5):
        raise GanforgeError(f"the ONNX model of '{source}' does not reproduce its generator's output; it was not "
                            "written. A .pt2 file (torch.export's) may; report this with the run's config.")


def _save(program, f, info: dict) -> None:
    """``torch.export.save`` without its warning about channels_last weights.

    A channels_last run's G keeps its conv weights so (``load_generator``), and ``torch.export.load`` restores
    them so, where CPU sampling is faster (5,000 dcgan-fmnist samples in 0.47 against 0.66 s). torch's
    weight packer calls a tensor that is not contiguous "not complete" and warns that it may cause issues
    for weights not on the CPU; ours are on the CPU and each owns its storage whole, so it is stored as it is.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No complete tensor found in the group")
        torch.export.save(program, f, extra_files={"ganforge.json": json.dumps(info)})
