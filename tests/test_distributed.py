"""torchrun with 2 CPU processes (gloo, loopback): same weights as 1 process, rank-0-only files, N -> M resume."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ganforge.config import load_config
from ganforge.distributed import DistEnv
from ganforge.metrics.evaluate import FeatureSet, extract
from ganforge.metrics.features import build_features
from ganforge.nets.mlp import MLPGenerator, MLPGeneratorOptions
from ganforge.sampling import generate
from ganforge.training import checkpoint as ckpt

import conftest
from conftest import run_cli
from test_reliability import HUNGRY_NET

pytestmark = pytest.mark.slow


def tiny(idx_root, *extra):
    """conftest's short run, on the CPU: these tests are about gloo processes (a GPU machine too
    runs them on its CPU, and compares them with one-process runs there)."""
    return conftest.tiny(idx_root, "train.device=cpu", *extra)


# mlp-gan-fmnist has no BatchNorm, so 2 x 16 must equal 1 x 32 up to float summation order.
# The gradient penalty, R1 and EMA are switched on to check that they stay correct across ranks.
EXACT = ["train.batch_size=32", "ema.enabled=true", "ema.start_step=3", "objective.gp_weight=1.0",
         "objective.r1_gamma=1.0",
         "objective.reuse_fake=false", "log.checkpoint_every_steps=5"]
# Summation order alone moved weights by up to 2.5e-6 here and 2.75e-5 on a 16-core GPU host (another CPU's
# kernels; one thread per process there still gave 1.7e-5). A real bug is far larger: every rank taking rank
# 0's noise rows moved them by 3.9e-3 to 1.5e-2 in the test below.
ATOL = 1e-4


def torchrun(*args, nproc=2, wait=True):
    """``torchrun --standalone --nproc_per_node=N -m ganforge ARGS`` with 1 thread per process."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "ganforge", *map(str, args)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if wait:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
        return out
    return proc


LEFT_THREADS = """
import os, sys
from ganforge.cli import main
code = main(sys.argv[1:])
names = sorted(open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task"))
print(f"rank {os.environ['RANK']} code {code} threads {names}")
sys.exit(code)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads thread names from /proc")
def test_leaving_the_group_stops_its_threads(idx_root, tmp_path):
    """After a torchrun job, no gloo thread outlives destroy_process_group: one that did (the default
    group held by a torch module imported after the join) made a rank abort now and then at exit."""
    script = tmp_path / "left_threads.py"
    script.write_text(LEFT_THREADS)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(script), "train", "mlp-gan-fmnist", "--out", str(tmp_path / "run"),
                          *tiny(idx_root, "train.max_steps=2")],
                         env=env, capture_output=True, text=True, timeout=300)
    reports = re.findall(r"rank (\d) code (\d+) threads (\[[^\]]*\])", out.stdout)  # the ranks' lines may interleave
    assert out.returncode == 0 and len(reports) == 2, out.stdout + out.stderr
    assert all(code == "0" and "gloo" not in threads for _, code, threads in reports), reports


def descendants(pid):
    """Process ids below ``pid`` (torchrun puts its workers in process groups of their own)."""
    children = {}
    for stat in os.listdir("/proc"):
        if stat.isdigit():
            try:
                ppid = int(open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(stat))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def alive(pid):
    """True while any thread of ``pid`` runs. The main thread turns zombie before the others
    (gloo, OpenMP) have exited, and the open files, the run-folder lock among them, go with the last."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tasks:
        try:
            if open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()[0] not in "ZX":
                return True
        except OSError:
            pass
    return False


def nets(run):
    payload = ckpt.load(run / "checkpoints" / "last.pt")
    return payload, {f"{n}.{k}": v for n in ("G", "D", "G_ema") for k, v in payload[n].items()}


def assert_close(a, b, atol=ATOL):
    assert a.keys() == b.keys()
    worst = max(float((a[k].double() - b[k].double()).abs().max()) for k in a)
    assert worst <= atol, f"largest weight difference {worst:.3g} > {atol:g}"


@pytest.mark.parametrize("sets", [(), ("model.discriminator.spectral_norm=true",), ("model.num_classes=10",),
                                  ("objective.diffaugment=color,translation,cutout", "objective.ada_target=0.05",
                                   "objective.ada_kimg=0.5", "objective.ada_interval=2", "optim_g.clip_grad_norm=0.01",
                                   "optim_d.clip_grad_norm=0.01")],
                         ids=["default", "spectral-norm", "class-conditional", "ada-clipped"])
def test_two_ranks_equal_one_rank_with_the_global_batch(idx_root, tmp_path, sets):
    """Spectral norm's power iteration runs on each rank from the same weights, so its vectors agree too.
    A class-conditional run slices the real labels with their images, and the fakes' classes as its noise;
    DiffAugment's transforms are drawn for the global batch and sliced the same way, and ADA's p follows the signs
    of D's scores summed over the ranks. Gradients are clipped by the norm of their average over the ranks, which
    one rank's global batch has too."""
    two, one = tmp_path / "two", tmp_path / "one"
    out = torchrun("train", "mlp-gan-fmnist", "--out", two, *tiny(idx_root, "train.max_steps=8", *EXACT, *sets))
    assert run_cli("train", "mlp-gan-fmnist", "--out", one, *tiny(idx_root, "train.max_steps=8", *EXACT, *sets)) == 0
    p2, w2 = nets(two)
    p1, w1 = nets(one)
    assert p2["state"] == {**p1["state"], "seconds": p2["state"]["seconds"]}  # same steps and images seen
    assert_close(w2, w1)
    assert "finished at step 8" in out
    if any("ada_target" in kv for kv in sets):
        assert p2["ada"] == p1["ada"] and 0 < p1["ada"]["p"] < 1


def test_only_rank_zero_writes_and_logs_are_averaged(idx_root, tmp_path):
    run = tmp_path / "run"
    example = Path(__file__).resolve().parents[1] / "examples" / "custom_hook.py"  # a user's hook, on every rank
    torchrun("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=8", f"plugins=['{example}']",
                                                          "hooks=[{name = 'example-weight-norms', options = {every = 4}}]"))
    names = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())
    assert [n for n in names if n.startswith("tb/")] and len([n for n in names if n.startswith("tb/")]) == 1
    assert [n for n in names if not n.startswith("tb/")] == [
        ".lock", "checkpoints/last.pt", "checkpoints/last.pt.sum", "checkpoints/step_0000004.pt",
        "checkpoints/step_0000004.pt.sum", "checkpoints/step_0000008.pt", "checkpoints/step_0000008.pt.sum",
        "config.json", "metrics.jsonl", "samples/step_0000004.png", "samples/step_0000008.png", "sessions.jsonl"]
    (session,) = [json.loads(line) for line in (run / "sessions.jsonl").read_text().splitlines()]
    assert session["world_size"] == 2  # one record, rank 0's, for the job
    assert (session["end"]["how"], session["end"]["step"]) == ("finished", 8)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6, 8]  # one writer: every step once
    batch = load_config("dcgan-fmnist").train.batch_size  # the global batch, split over the two ranks
    assert records[-1]["images_seen"] == 8 * batch
    assert json.loads((run / "config.json").read_text())["train"]["batch_size"] == batch
    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("weights/D")] == [4, 8]  # rank 0's writer, once per step


@pytest.mark.skipif(torch.ops.mkldnn._is_mkldnn_bf16_supported(), reason="the warning is for CPUs without bf16")
def test_a_warning_prints_once_not_once_per_rank(idx_root, tmp_path):
    out = torchrun("train", "mlp-gan-fmnist", "--out", tmp_path / "run",
                   *tiny(idx_root, "train.max_steps=1", "train.precision=bf16"))
    assert out.count("ganforge: warning: train.precision=bf16 on a CPU without native bf16") == 1, out


def test_an_error_prints_once_not_once_per_rank(idx_root, tmp_path):
    """A bad --set, which every rank reads (for bench train too), rank 0's refusal of an --out that already
    holds a run, which it sends the others, and a data folder that every rank reads: each printed once per rank."""
    run = tmp_path / "run"
    assert conftest.run_cli("train", "mlp-gan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=1")) == 0
    bad = "config key 'train.batch_size' must be an integer"
    (tmp_path / "empty").mkdir()  # data every rank reads, and none can
    no_data = [f"data.root={tmp_path / 'empty'}"]
    for command, sets, said in ((["train"], ["train.batch_size=x"], bad),
                                (["bench", "train"], ["train.batch_size=x"], bad),
                                (["train"], [], "already holds a run"),
                                (["train"], no_data, "has no train-images-idx3-ubyte.gz"),
                                (["bench", "train"], no_data, "has no train-images-idx3-ubyte.gz")):
        out = ["--out", run if sets == [] else tmp_path / "new"] if command == ["train"] else []
        proc = torchrun(*command, "mlp-gan-fmnist", *out, *tiny(idx_root, "train.max_steps=2", *sets), wait=False)
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode != 0 and out.count("ganforge: error: ") == 1 and said in out, out


def test_an_error_on_every_rank_prints_whole_lines(idx_root, tmp_path):
    """An error each rank meets alone mid-run (here each one's batch of 64 runs out of memory) is said by each, into
    torchrun's one pipe: each line whole, where print's two writes ran two ranks' messages together on one line."""
    (tmp_path / "hungry.py").write_text(HUNGRY_NET)
    proc = torchrun("train", "dcgan-fmnist", "--out", tmp_path / "run", *tiny(
        idx_root, f"plugins=['{tmp_path / 'hungry.py'}']", "model.generator.name=hungry-g", "train.batch_size=128"),
        wait=False)
    out, _ = proc.communicate(timeout=300)
    said = [line for line in out.splitlines() if "ganforge: error: " in line]
    assert proc.returncode != 0 and said, out
    assert all(line.startswith("ganforge: error: step 1 ran out of memory") and line.count("ganforge:") == 1
               and line.endswith("(gradients summed over 2 smaller batches).") for line in said), out


def test_two_rank_run_killed_then_resumed_on_one_rank(idx_root, tmp_path):
    killed, ref = tmp_path / "killed", tmp_path / "ref"
    proc = torchrun("train", "mlp-gan-fmnist", "--out", killed,
                    *tiny(idx_root, "train.max_steps=100000", *EXACT), wait=False)
    t = time.time()
    while not (killed / "checkpoints" / "step_0000010.pt.sum").exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() - t < 120
        time.sleep(0.05)
    pids = [proc.pid, *descendants(proc.pid)]
    for pid in pids:  # torchrun and both ranks, with no chance to save
        os.kill(pid, signal.SIGKILL)
    proc.wait()
    for pid in pids:  # kill() returns before the process is gone and its run-folder lock released
        while alive(pid):
            time.sleep(0.02)
    at = ckpt.load_latest(killed / "checkpoints")[0]["state"]["step"]
    assert at >= 10 and at % 5 == 0
    target = at + 6
    assert run_cli("train", "mlp-gan-fmnist", "--out", killed, "--resume",
                   *tiny(idx_root, f"train.max_steps={target}", *EXACT)) == 0
    assert run_cli("train", "mlp-gan-fmnist", "--out", ref, *tiny(idx_root, f"train.max_steps={target}", *EXACT)) == 0
    assert_close(nets(killed)[1], nets(ref)[1])


def test_one_rank_run_resumes_on_two_ranks(idx_root, tmp_path):
    run, ref = tmp_path / "run", tmp_path / "ref"
    assert run_cli("train", "mlp-gan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=5", *EXACT)) == 0
    torchrun("train", "mlp-gan-fmnist", "--out", run, "--resume", *tiny(idx_root, "train.max_steps=10", *EXACT))
    assert run_cli("train", "mlp-gan-fmnist", "--out", ref, *tiny(idx_root, "train.max_steps=10", *EXACT)) == 0
    assert_close(nets(run)[1], nets(ref)[1])


def test_sharded_evaluation_during_training(idx_root, tmp_path):
    run = tmp_path / "run"
    torchrun("train", "dcgan-fmnist", "--out", run,
             *tiny(idx_root, "train.max_steps=8", "train.batch_size=64", "eval.every_kimg=0.256", "eval.num_samples=64",
                   "eval.metrics=fid,swd"))
    evals = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "eval/fid" in r]
    assert [r["step"] for r in evals] == [4, 8] and all(np.isfinite(r["eval/fid"]) for r in evals)
    assert (run / "checkpoints" / "best.pt").is_file()


def test_shards_of_an_evaluation_add_up_to_the_whole():
    """What each rank extracts, concatenated, is exactly what one process extracts."""
    torch.manual_seed(0)
    G = MLPGenerator(MLPGeneratorOptions(hidden=(32,)), z_dim=8, channels=1, resolution=28).eval()
    fx = build_features("fmnist")
    with torch.no_grad():
        whole = extract(fx, generate(G, 8, 37, seed=3, batch_size=10), 37, want_swd=True, seed=1)
        parts = []
        for rank in range(3):
            shard = DistEnv(rank, 3).shard(37)
            parts.append(extract(fx, generate(G, 8, 37, seed=3, batch_size=10, shard=shard), 37, True, 1, shard[0]))
    joined = FeatureSet.concat(parts)
    assert np.allclose(joined.features, whole.features, atol=1e-5)
    assert np.allclose(joined.stats.mean_cov()[1], whole.stats.mean_cov()[1], atol=1e-6)
    for a, b in zip(joined.swd, whole.swd):
        assert torch.allclose(a, b, atol=1e-6)


def test_global_batch_must_split_over_ranks():
    from ganforge.data import InMemoryBatches
    from ganforge.errors import GanforgeError

    with pytest.raises(GanforgeError, match="must split evenly over 3 processes"):
        InMemoryBatches(torch.zeros(100, 1, 28, 28, dtype=torch.uint8), 64, 0, rank=0, world_size=3)


def test_ranks_take_disjoint_slices_of_the_same_global_order():
    from ganforge.data import InMemoryBatches

    images = torch.arange(40, dtype=torch.uint8).view(40, 1, 1, 1)
    one = InMemoryBatches(images, 8, seed=5)
    ranks = [InMemoryBatches(images, 8, seed=5, rank=r, world_size=2) for r in range(2)]
    for _ in range(12):  # across epoch boundaries
        assert torch.equal(one.next(), torch.cat([b.next() for b in ranks]))


def test_sync_bn_on_cpu_is_a_clear_error():
    from ganforge.distributed import convert_sync_bn
    from ganforge.errors import GanforgeError

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    assert convert_sync_bn(net, DistEnv(), torch.device("cpu")) is net  # one process: nothing to sync
    with pytest.raises(GanforgeError, match="train.sync_bn needs CUDA devices"):
        convert_sync_bn(net, DistEnv(0, 2), torch.device("cpu"))


def test_bench_train_writes_the_documented_keys(idx_root, tmp_path):
    out = tmp_path / "b.json"
    assert run_cli("bench", "train", "dcgan-fmnist", "--steps", 2, "--json", out,
                   "--set", f"data.root={idx_root}", "--set", "train.device=cpu") == 0
    r = json.loads(out.read_text())
    for key in ("preset", "batch_size", "images_per_second", "flops_per_image", "achieved_gflops",
                "matmul_peak_gflops", "mfu", "layers_alone_gflops", "layers_alone_mfu", "data_wait_fraction",
                "peak_rss_mb", "machine"):
        assert key in r, key
    assert r["flops_per_image"] > 1e6 and 0 < r["mfu"] < 1.5 and 0 <= r["data_wait_fraction"] < 1
    assert r["precision"] == ("bf16" if r["machine"]["cpu_bf16"] else "fp32")  # train.precision=auto follows the CPU
    # the peak is the best of three timings (before the steps, after them, after the layers alone)
    assert len(r["matmul_peak_samples_gflops"]) == 3 and r["matmul_peak_gflops"] == max(r["matmul_peak_samples_gflops"])
    assert r["layers_alone_gflops"] > 0 and r["layers_alone_mfu"] == pytest.approx(
        r["layers_alone_gflops"] / r["matmul_peak_gflops"], abs=1e-3)
    assert set(r["host_threads"]) == {"before", "after"}  # whether the host's threads paid off around the steps
    assert all(h["threads"] == r["threads"] and h["thread_speedup"] > 0 for h in r["host_threads"].values())
