"""Shared fixtures: tiny datasets the tests make, and a CLI runner."""
from __future__ import annotations

import contextlib
import gzip
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.cli import main

# Two threads is this machine; fixing it keeps runs comparable and bitwise reproducible.
torch.set_num_threads(2)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in IDX format (gzipped when the name ends in .gz)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def fake_garments(n: int, seed: int = 0) -> np.ndarray:
    """n 28x28 images: bright rectangles of random size on black (easy to learn, not noise)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    for img in images:
        h, w = rng.integers(8, 24, size=2)
        y, x = rng.integers(0, 28 - h), rng.integers(0, 28 - w)
        img[y:y + h, x:x + w] = rng.integers(120, 255)
    return images


@pytest.fixture(scope="session")
def idx_root(tmp_path_factory) -> Path:
    """A Fashion-MNIST-shaped folder with 256 train and 64 test images, and their labels (random classes 0-9)."""
    root = tmp_path_factory.mktemp("fmnist")
    write_idx(root / "train-images-idx3-ubyte.gz", fake_garments(256))
    write_idx(root / "t10k-images-idx3-ubyte.gz", fake_garments(64, seed=1))
    rng = np.random.default_rng(2)
    write_idx(root / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 256))
    write_idx(root / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 64))
    return root


def write_cifar_folder(root: Path, per_batch: int, test: int) -> Path:
    """CIFAR-10's python layout under ``root``: five train batches of ``per_batch`` random images and a
    test batch, pickled as the official files are (dicts of bytes keys)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i, n in enumerate([per_batch] * 5 + [test], start=1):
        rng = np.random.default_rng(i)
        batch = {b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), b"labels": [j % 10 for j in range(n)]}
        (folder / (f"data_batch_{i}" if i <= 5 else "test_batch")).write_bytes(pickle.dumps(batch))
    return folder


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    """24 RGB images of mixed sizes and formats (PNG, JPEG, WebP), one grayscale, in subfolders."""
    root = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(0)
    for i in range(24):
        size = (int(rng.integers(64, 120)), int(rng.integers(64, 120)))
        arr = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
        img = Image.fromarray(arr).convert("L") if i == 5 else Image.fromarray(arr)
        ext = ["png", "jpg", "webp"][i % 3]
        sub = root / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        img.save(sub / f"img{i:02d}.{ext}")
    return root


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Each test gets its own download/decode cache."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))



@pytest.fixture
def no_file_locks(monkeypatch):
    """flock refused as some network and FUSE filesystems refuse it (ENOLCK), which none here can be mounted as."""
    import errno
    import fcntl

    def refused(*args):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", refused)

def run_cli(*args: str) -> int:
    """Run the CLI in this process; returns its exit code."""
    return main([str(a) for a in args])


def run_subprocess(*args: str, **kwargs) -> subprocess.Popen:
    """Start ``python -m ganforge ARGS`` as a separate process (for kill tests)."""
    env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "ganforge", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def ctrl_c_through_another_thread() -> None:
    """Send this process a SIGINT as the kernel may hand it over: to another of its threads (torch's, say), whose
    receipt Python's main thread then acts on."""
    started, done = threading.Event(), threading.Event()
    other = threading.Thread(target=lambda: (started.set(), done.wait(10)), daemon=True)
    other.start()
    started.wait()
    signal.pthread_kill(other.ident, signal.SIGINT)
    done.set()
    other.join()


def interrupt_once_it_wrote(folder: Path, count: int, *args: str) -> tuple[int, str, int]:
    """Run ``python -m ganforge ARGS``, send it a SIGINT (Ctrl-C) once ``folder`` holds ``count`` PNGs, and return
    its exit code, its output and the PNGs the folder then holds."""
    # SIG_DFL: a child of a non-interactive shell may inherit an ignored SIGINT, which Python then keeps
    proc = run_subprocess(*args, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t = time.time()
    while len(list(folder.glob("*.png"))) < count:
        assert proc.poll() is None and time.time() - t < 60, proc.stdout.read()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out, len(list(folder.glob("*.png")))


# For a test that compares two runs bitwise: on a GPU, cuDNN's default kernels may sum in another order
# in each process (the CPU's do not), so both runs ask for torch's deterministic kernels. Other tests
# train with the default, as users do.
BITWISE = "train.deterministic=true"


def tiny(idx_root: Path, *extra: str) -> list[str]:
    """--set overrides for a fast run of an fmnist preset on the tiny IDX folder."""
    sets = [f"data.root={idx_root}", "log.progress=false", "log.every_steps=2",
            "log.sample_every_steps=4", "log.checkpoint_every_steps=4", "log.num_samples=16", *extra]
    return [a for s in sets for a in ("--set", s)]


def last_session_end(run: Path) -> dict | None:
    """The ``end`` of the last record in RUN/sessions.jsonl (None while, or if, its session never said)."""
    return json.loads((run / "sessions.jsonl").read_text().splitlines()[-1])["end"]


@contextlib.contextmanager
def refusing_new_files(folder: Path) -> Iterator[None]:
    """Within this block ``folder`` refuses new files, as a dataset's read-only folder does: by its mode, or as
    root (who passes the mode) by the immutable attribute. Skips the test where neither can be set."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        undo = lambda: folder.chmod(0o755)  # noqa: E731
    elif shutil.which("chattr") and subprocess.run(["chattr", "+i", folder], capture_output=True).returncode == 0:
        undo = lambda: subprocess.run(["chattr", "-i", folder], check=True)  # noqa: E731
    else:
        pytest.skip("needs a folder that refuses new files: as root, chattr +i on a file system that has it")
    try:
        yield
    finally:
        undo()


def needs_debian_fashion_mnist(split: str = "train") -> None:
    """Skip the calling test unless Debian's Fashion-MNIST images of ``split`` are where ganforge looks for them
    (``make data`` installs the package; the tests otherwise use the tiny IDX folder of :func:`idx_root`)."""
    from ganforge.data.idx import IDX_SETS

    fmnist = IDX_SETS["fashion-mnist"]
    if not (Path(fmnist["debian"]) / fmnist["files"][split][0]).exists():
        pytest.skip(f"needs Debian's Fashion-MNIST ({fmnist['debian']}; make data installs it)")
