"""ganforge: train, evaluate and sample GANs on PyTorch.

From Python (a notebook, a script), the ``ganforge`` command's work is a few functions (api.py)::

    import ganforge
    run = ganforge.train("dcgan-fmnist", "runs/a", {"train.max_seconds": 60})
    images = ganforge.sample(run, 64)          # uint8 (N, C, H, W)
    ganforge.evaluate(run, metrics="fid")      # a dict of figures

Users extend it by registering networks and losses::

    from ganforge.registry import GENERATORS
    @GENERATORS.register("my-g", MyOptions)
    class MyG(torch.nn.Module): ...
"""
from .errors import GanforgeError  # what every function raises for bad input (errors.py imports no torch)

__version__ = "0.1.0"

# the Python API (api.py), imported on first use: `import ganforge` and the command's start stay free of torch
_API = ("train", "sample", "interpolate", "nearest", "evaluate", "upscale", "load_generator", "grid", "history",
        "runs", "export", "timelapse")
__all__ = [*_API, "GanforgeError", "__version__"]


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'ganforge' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
