"""SIGKILL at 20 random moments (some during checkpoint writes); the run still ends with the exact weights."""
import random
import signal
import time

import torch

from ganforge.training import checkpoint as ckpt

from conftest import run_cli, run_subprocess, tiny

STEPS = 150
SETS = [f"train.max_steps={STEPS}", "log.checkpoint_every_steps=3", "log.sample_every_steps=50"]


def test_twenty_kills_then_same_weights_as_uninterrupted(idx_root, tmp_path):
    rng = random.Random(1234)
    run = tmp_path / "killed"
    kills = 0
    for _ in range(20):
        proc = run_subprocess("train", "dcgan-fmnist", "--out", run, "--resume", *tiny(idx_root, *SETS))
        # process start-up (imports, data) takes ~1.5-2 s; training then writes a checkpoint every 3 steps,
        # so kills spread over this window land in steps and in checkpoint writes alike
        deadline = time.time() + rng.uniform(1.0, 3.5)
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        found = ckpt.load_latest(run / "checkpoints") if (run / "checkpoints").is_dir() else None
        if found is not None:  # after every kill, what is on disk loads
            assert found[0]["state"]["step"] % 3 == 0 or found[0]["state"]["step"] == STEPS
    assert kills >= 10
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume", *tiny(idx_root, *SETS)) == 0
    ref = tmp_path / "ref"
    assert run_cli("train", "dcgan-fmnist", "--out", ref, *tiny(idx_root, *SETS)) == 0
    a, b = ckpt.load(run / "checkpoints" / "last.pt"), ckpt.load(ref / "checkpoints" / "last.pt")
    assert a["state"]["step"] == b["state"]["step"] == STEPS
    for net in ("G", "D", "G_ema"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), f"{net}.{k}"
