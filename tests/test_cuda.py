"""The CUDA path: each train.precision, channels_last and torch.compile train and resume on a GPU;
a GPU run samples on a machine without one; torchrun joins NCCL with one process per GPU.

Skipped where torch sees no GPU (CI here); run on a GPU machine with ``pytest tests/test_cuda.py``.
"""
import json
import os
import subprocess
import sys

import pytest
import torch

from ganforge.data import InMemoryBatches
from ganforge.training import checkpoint as ckpt

from conftest import run_cli, tiny
from test_distributed import torchrun
from test_reliability import HUNGRY_NET
from test_train import assert_same, check_run_folder, trained_whole_and_resumed, weights

pytestmark = [pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"), pytest.mark.slow]


@pytest.mark.parametrize("sets", [("train.precision=fp32",), ("train.precision=bf16",), ("train.precision=fp16",),
                                  ("train.channels_last=false",), ("train.compile=true",),
                                  # CUDA graphs; without EMA the sample grids come from the compiled G itself
                                  ("train.compile=true", "train.compile_mode=reduce-overhead"),
                                  ("train.compile=true", "train.compile_mode=reduce-overhead", "ema.enabled=false")],
                         ids=["fp32", "bf16", "fp16", "channels-first", "compile", "cuda-graphs", "cuda-graphs-no-ema"])
def test_trains_and_resumes_bitwise_on_the_gpu(idx_root, tmp_path, sets):
    """10 steps in one go against 5 + a resume to 10, with train.deterministic (the helper sets it):
    without it, cuDNN's fp32 kernels summed in another order in the two processes (largest
    difference 0.05 on an H200)."""
    sets = ("train.device=cuda", "train.batch_size=32", *sets)
    full, part = trained_whole_and_resumed(idx_root, tmp_path, sets)
    check_run_folder(full, 10, (28, 28))
    assert_same(weights(full), weights(part))
    if "train.precision=fp16" in sets:  # the GradScalers' state is part of the checkpoint
        scalers = ckpt.load(part / "checkpoints" / "last.pt")["scalers"]
        assert 0 < scalers["d"]["scale"] < float("inf") and 0 < scalers["g"]["scale"] < float("inf")


def test_a_gpu_run_samples_on_the_cpu(idx_root, tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=4", "train.device=cuda")) == 0
    out = tmp_path / "s.npy"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")  # a machine with no GPU
    proc = subprocess.run([sys.executable, "-m", "ganforge", "sample", str(run), "--num", "8", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 8 * 28 * 28


def test_torchrun_one_process_per_gpu_with_nccl(idx_root, tmp_path):
    gpus = torch.cuda.device_count()
    run = tmp_path / "run"
    torchrun("train", "dcgan-fmnist", "--out", run,  # asserts it succeeds
             *tiny(idx_root, "train.max_steps=6", f"train.batch_size={16 * gpus}", "train.device=cuda"), nproc=gpus)
    check_run_folder(run, 6, (28, 28))
    # more processes than GPUs: a one-line error, not CUDA's 'invalid device ordinal'
    proc = torchrun("train", "dcgan-fmnist", "--out", tmp_path / "over",
                    *tiny(idx_root, "train.max_steps=6", f"train.batch_size={16 * (gpus + 1)}"), nproc=gpus + 1, wait=False)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert f"torchrun started local rank {gpus} on this machine, but torch sees {gpus} CUDA GPU(s)" in out


def test_bench_train_on_the_gpu(idx_root, tmp_path):
    out = tmp_path / "b.json"
    assert run_cli("bench", "train", "dcgan-fmnist", "--steps", 20, "--json", out,
                   "--set", f"data.root={idx_root}", "--set", "train.device=cuda") == 0
    r = json.loads(out.read_text())
    assert r["device"].startswith("cuda") and r["machine"]["gpu"]
    assert r["precision"] == "fp32"  # train.precision=auto: fp32 on a GPU (objective.resolve_precision)
    assert 0 < r["mfu"] < 1 and r["images_per_second"] > 0


def test_batches_held_on_the_gpu_are_the_cpu_batches():
    images = torch.randint(0, 256, (100, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (100,))
    cpu, gpu = InMemoryBatches(images, 16, seed=3, labels=labels), InMemoryBatches(images, 16, seed=3, labels=labels)
    gpu.hold_on(torch.device("cuda"))
    assert gpu.images.is_cuda and gpu.labels.is_cuda
    for _ in range(10):  # across an epoch's end (6 batches per epoch): the next order is drawn on the GPU side too
        a, b = cpu.next(), gpu.next("cuda")
        assert b.images.is_cuda and torch.equal(a.images, b.images.cpu()) and torch.equal(a.labels, b.labels.cpu())


def test_running_out_of_gpu_memory_names_the_batch(idx_root, tmp_path, capsys):
    """CUDA's OutOfMemoryError, the real one (a 1 PB tensor on the GPU), is said as training's other
    out-of-memory errors are: the batch to lower, no traceback."""
    (tmp_path / "hungry.py").write_text(HUNGRY_NET)
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "run", *tiny(
        idx_root, f"plugins=['{tmp_path / 'hungry.py'}']", "model.generator.name=hungry-g", "train.device=cuda",
        "train.batch_size=64")) == 2
    err = capsys.readouterr().err
    assert "step 1 ran out of memory (torch could not allocate " in err and " more on the GPU)" in err, err
