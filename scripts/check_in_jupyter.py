"""Drive ganforge's Python API in a real Jupyter kernel, as a notebook's cells would, and check what the
notebook shows: the progress bar, grids inline (from a hook the notebook registers, and from ganforge.grid of
samples, walks and nearest neighbours), messages in Python's words, an interrupt that saves and stops the cell,
a resume, the notebook's own network exported and run elsewhere, and a bad value as one GanforgeError.

Needs a kernel and its client, which ganforge itself does not (install them beside it for this check):

    pip install ipykernel jupyter_client
    python scripts/check_in_jupyter.py --out /tmp/jupyter-check

Exit status 0 when every check holds; each failed check is printed.
"""
from __future__ import annotations

import argparse
import queue
import sys
import time

from jupyter_client.manager import start_new_kernel

NETWORK_CELL = '''
import dataclasses, torch
from torch import nn
import ganforge
from ganforge.registry import GENERATORS

@dataclasses.dataclass(frozen=True)
class Options:
    hidden: int = 256

@GENERATORS.register("notebook-g", Options)
class NotebookG(nn.Module):
    def __init__(self, options, z_dim, channels, resolution, **kwargs):
        super().__init__()
        self.shape = (channels, resolution, resolution)
        self.net = nn.Sequential(nn.Linear(z_dim, options.hidden), nn.ReLU(),
                                 nn.Linear(options.hidden, channels * resolution ** 2), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(len(z), *self.shape)

from IPython.display import display
from PIL import Image
from ganforge.registry import HOOKS
from ganforge.training.hooks import Hook

@HOOKS.register("show-grid")
class ShowGrid(Hook):  # each sample grid, as it is written: a user's hook runs after the grids
    def on_step_end(self, trainer, logs):
        grid = trainer.run_dir / "samples" / f"step_{trainer.state.step:07d}.png"
        if trainer.env.is_main and grid.is_file():
            display(Image.open(grid))
'''


def execute(client, manager, code: str, interrupt_after: float | None = None) -> dict:
    """Run one cell; return what the notebook would show: stderr and stdout text, rich outputs, the error."""
    msg_id = client.execute(code)
    shown = {"stderr": "", "stdout": "", "data": [], "error": None}
    start, interrupted = time.time(), False
    while True:
        if interrupt_after is not None and not interrupted and time.time() - start > interrupt_after:
            manager.interrupt_kernel()  # the notebook's interrupt button
            interrupted = True
        try:
            msg = client.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            shown[content["name"]] += content["text"]
        elif kind in ("execute_result", "display_data"):
            shown["data"].append(content["data"])
        elif kind == "error":
            shown["error"] = (content["ename"], content["evalue"])
        elif kind == "status" and content["execution_state"] == "idle":
            return shown


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the run folder the notebook trains into (replaced)")
    out = repr(parser.parse_args().out)
    manager, client = start_new_kernel(kernel_name="python3")
    failed = []

    def check(ok: bool, what: str, shown: dict) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failed.append(what)
            outputs = [sorted(data) for data in shown["data"]]  # the kinds, not the images' bytes
            print(f"     shown: {dict(shown, data=outputs)}")

    try:
        for _ in range(2):  # a cell run twice replaces its network
            shown = execute(client, manager, NETWORK_CELL)
            check(shown["error"] is None, "the network cell runs, and runs again", shown)
        shown = execute(client, manager, f'run = ganforge.train("mlp-gan-fmnist", {out}, '
                                         '{"model.generator.name": "notebook-g", "train.max_seconds": 2, "hooks": '
                                         '[{"name": "show-grid"}], "log.sample_every_steps": 100}, force=True)')
        check(sum("image/png" in d for d in shown["data"]) >= 2, "a hook of the notebook shows grids inline", shown)
        check(shown["error"] is None and "only this Python process can build them" in shown["stderr"],
              "train warns that only this kernel can build the network and the hook", shown)
        check("step [" in shown["stderr"] and "finished at step" in shown["stdout"],
              "a progress bar is drawn, then the finish line", shown)
        shown = execute(client, manager, "ganforge.grid(ganforge.sample(run, 16))")
        check(any("image/png" in d for d in shown["data"]), "grid shows inline as a PNG", shown)
        shown = execute(client, manager, "display(ganforge.grid(ganforge.interpolate(run, 4, 8)))\n"
                                         "ganforge.grid(ganforge.nearest(run, 4, 3).images)")
        check(sum("image/png" in d for d in shown["data"]) == 2, "walks and nearest neighbours show inline", shown)
        shown = execute(client, manager, f'ganforge.train("mlp-gan-fmnist", {out})')
        check(shown["error"] is not None and "Pass resume=True to continue it, force=True" in shown["error"][1],
              "a train cell run again names resume=True and force=True", shown)
        shown = execute(client, manager, f'run = ganforge.train("mlp-gan-fmnist", {out}, {{"train.max_seconds": 60}}, '
                                         'resume=True)\nprint("the cell went on")', interrupt_after=6)
        check(shown["error"] is not None and shown["error"][0] == "KeyboardInterrupt"
              and "saved step" in shown["stderr"] and "the cell went on" not in shown["stdout"]
              and 'Continue with: ganforge.train("mlp-gan-fmnist"' in shown["stderr"]
              and "SIGINT received: stopping after this step" in shown["stderr"],
              "an interrupt saves the step, names ganforge.train(..., resume=True) and stops the cell", shown)
        shown = execute(client, manager, f'print(ganforge.history(ganforge.train("mlp-gan-fmnist", {out}, '
                                         '{"train.max_seconds": 20}, resume=True))[-1]["step"])')
        check(shown["error"] is None and "finished at step" in shown["stdout"], "resume=True continues", shown)
        # the network defined in this notebook shapes its output with len(z), which fixes the batch: export says so
        # in one error, then exports one batch size, which runs in a process with neither its class nor ganforge
        shown = execute(client, manager, f'ganforge.export(run, {out} + "/g.pt2")')
        check(shown["error"] is not None and "(len(z), int(z.shape[0])" in shown["error"][1]
              and "export one batch size: batch=N." in shown["error"][1],
              "export names len(z) as what fixes the batch, in Python's words", shown)
        load = ("import sys, torch; g = torch.export.load(sys.argv[1]).module(); "
                "print(tuple(g(torch.randn(3, 128)).shape), 'ganforge' in sys.modules)")
        shown = execute(client, manager, f'import os, subprocess, sys\npt2 = os.path.join({out}, "g.pt2")\n'
                                         'ganforge.export(run, pt2, batch=3)\n'
                                         f'print(subprocess.run([sys.executable, "-c", {load!r}, pt2], '
                                         'capture_output=True, text=True).stdout)\n'
                                         f'print([r["state"] for r in ganforge.runs({out})])')
        check(shown["error"] is None and "(3, 1, 28, 28) False" in shown["stdout"] and "['finished']" in shown["stdout"],
              "the notebook's network, exported, runs without ganforge; ganforge.runs lists the run", shown)
        shown = execute(client, manager, 'ganforge.train("dcgan-fmnist", "unused", {"train.max_stesp": 2})')
        check(shown["error"] is not None and shown["error"][0] == "GanforgeError"
              and "Did you mean 'max_steps'?" in shown["error"][1], "a bad key is one GanforgeError", shown)
    finally:
        client.stop_channels()
        manager.shutdown_kernel()
    print(f"{len(failed)} check{'s' * (len(failed) != 1)} failed" if failed else "all checks hold")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
