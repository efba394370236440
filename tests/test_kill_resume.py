"""SIGKILL at 20 random moments of training (some during checkpoint writes); the run still ends with the exact weights."""
import random
import signal
import time

import torch

from ganforge.training import checkpoint as ckpt

from conftest import BITWISE, run_cli, run_subprocess, tiny

STEPS = 200
EVERY = 3  # log.checkpoint_every_steps
SETS = [f"train.max_steps={STEPS}", f"log.checkpoint_every_steps={EVERY}", "log.sample_every_steps=50", BITWISE]


def test_twenty_kills_then_same_weights_as_uninterrupted(idx_root, tmp_path):
    rng = random.Random(1234)
    run = tmp_path / "killed"
    step = 0
    for kill in range(20):
        proc = run_subprocess("train", "dcgan-fmnist", "--out", run, "--resume", *tiny(idx_root, *SETS))
        # Kill once this life has trained (its first checkpoint is complete, sidecar and all), after a
        # random delay of a few steps, so kills land in steps and in checkpoint writes alike. Timing
        # the kill from the process start instead let a fast host finish all steps within a few lives.
        first = ckpt.sidecar(run / "checkpoints" / f"step_{step + EVERY:07d}.pt")
        t = time.time()
        while not first.exists():
            assert proc.poll() is None, f"life {kill} ended before its first checkpoint:\n{proc.stdout.read()}"
            assert time.time() - t < 120
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.15))
        assert proc.poll() is None, f"the run finished before kill {kill}; raise STEPS"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        payload = ckpt.load_latest(run / "checkpoints")[0]  # after every kill, what is on disk loads
        assert payload["state"]["step"] % EVERY == 0 and payload["state"]["step"] > step
        step = payload["state"]["step"]
    assert step < STEPS
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume", *tiny(idx_root, *SETS)) == 0
    ref = tmp_path / "ref"
    assert run_cli("train", "dcgan-fmnist", "--out", ref, *tiny(idx_root, *SETS)) == 0
    a, b = ckpt.load(run / "checkpoints" / "last.pt"), ckpt.load(ref / "checkpoints" / "last.pt")
    assert a["state"]["step"] == b["state"]["step"] == STEPS
    for net in ("G", "D", "G_ema"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), f"{net}.{k}"
