"""Where and with what a run trained: the machine and the versions, kept with each training session.

``RUN/sessions.jsonl`` gets one record each time training starts in a run folder (a new run or a
resume): when, from which command, at which step, and the environment (:func:`environment`), as
MMEngine prints its environment at the top of each log; when the session ends, its record gets
how (:func:`record_session_end`). Each checkpoint stores the environment too,
so a resume on other versions or another vector ISA can say that it no longer continues bit for bit
(:func:`differences`): the same code gives other float rounding there.
"""
from __future__ import annotations

import datetime
import json
import platform
import socket
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .errors import GanforgeError
from .files import write_atomic
from .wording import the_command

# what changes a run's floats between two sessions, in the order a note names them
AFFECTS_RESULTS = ("ganforge", "torch", "cpu_capability", "gpu")


def _cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else whatever ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> dict:
    """What a figure depends on beyond the code: the CPU, the vector ISA torch's kernels use and
    whether oneDNN computes bf16 natively (which ``train.precision=auto`` follows), and the GPU.

    Hosts of the same name differ: two of this project's sessions ran on 2-core AMD EPYC
    guests with AVX-512 and bf16, and on AVX2 without bf16, where the default trains in fp32.
    """
    info = {"cpu": _cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def environment(device: torch.device, world_size: int = 1) -> dict:
    """The versions and machine a training session runs on (JSON-ready)."""
    # plain str: torch.__version__ is a str subclass that weights_only checkpoint loading refuses
    return {"ganforge": __version__, "torch": str(torch.__version__), "numpy": str(np.__version__),
            "python": platform.python_version(), "platform": platform.platform(), "host": socket.gethostname(),
            **machine(device), "device": str(device), "threads": torch.get_num_threads(), "world_size": world_size}


def differences(saved: dict | None, now: dict) -> list[str]:
    """What differs between a checkpoint's environment and this session's among :data:`AFFECTS_RESULTS`, as
    ``"torch 2.12.0 -> 2.13.0"``; empty when nothing does or the checkpoint did not record it."""
    if not saved:
        return []
    return [f"{key} {saved.get(key) or 'none'} -> {now.get(key) or 'none'}" for key in AFFECTS_RESULTS
            if saved.get(key) != now.get(key)]


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def record_session(run_dir: Path, step: int, env: dict) -> None:
    """Append this session's record to ``RUN/sessions.jsonl``: the UTC time, the command (None from
    Python), the step it starts at, ``env``, and ``end`` (null until :func:`record_session_end`)."""
    record = {"started": _now(), "command": the_command(), "step": step, **env, "end": None}
    with open(run_dir / "sessions.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


def record_session_end(run_dir: Path, step: int, how: str, detail: str) -> None:
    """Fill in the ``end`` of this session's record, the last of ``RUN/sessions.jsonl``: the UTC time, the step
    reached, ``how`` (``finished``: a bound reached; ``signal``: a signal that saved; ``stopped``: the health
    check's stop; ``interrupted``: a second Ctrl-C that did not wait for the save; ``error``) and ``detail``
    (the bound, the signal's name, the reason, the exception's type and first line).

    The file is replaced atomically, so a crash meanwhile leaves the old one. An ``end`` left null says the
    session was ended from outside (SIGKILL, the machine going down); ``ganforge runs`` reports that.
    Nothing is raised: this record describes the run, it is never the reason a run fails.
    """
    path = run_dir / "sessions.jsonl"
    try:
        lines = path.read_text().splitlines()
        record = json.loads(lines[-1])
        record["end"] = {"time": _now(), "step": step, "how": how, "detail": detail}
        lines[-1] = json.dumps(record)
        write_atomic(path, lambda f: f.write(("\n".join(lines) + "\n").encode()))
    except (OSError, ValueError, IndexError, GanforgeError):
        pass
