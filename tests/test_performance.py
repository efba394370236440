"""Speed options and the benchmark plumbing (figures themselves come from `ganforge bench`, never from tests)."""
import json
import os
import platform
import statistics
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from ganforge.bench.reference import REFERENCES
from ganforge.bench.train import time_rounds
from ganforge.config import TrainConfig, load_config
from ganforge.data import load_images
from ganforge.nets import build_networks
from ganforge.training import checkpoint as ckpt
from ganforge.training.process import apply_process_settings, usable_cpus

from conftest import run_cli, tiny


def _reference(preset, sets):
    cfg = load_config(preset, sets)
    torch.manual_seed(0)
    G, D = build_networks(cfg)
    return REFERENCES[preset](cfg, G, D, load_images(cfg.data)), G, D


@pytest.mark.parametrize("preset", sorted(REFERENCES))
def test_reference_loops_train(preset, idx_root, image_folder):
    root = image_folder if preset == "hw6-dcgan-64" else idx_root
    loop, G, D = _reference(preset, [f"data.root={root}", "train.batch_size=8"])
    before = [p.detach().clone() for p in (*G.parameters(), *D.parameters())]
    loop.run(2)
    after = list((*G.parameters(), *D.parameters()))
    assert all(torch.isfinite(p).all() for p in after)
    assert sum(not torch.equal(a, b) for a, b in zip(before, after)) == len(before)  # every tensor trained


def test_bench_compare_writes_ratio(idx_root, tmp_path, monkeypatch, capsys):
    out = tmp_path / "c.json"
    assert run_cli("bench", "compare", "--steps", 2, "--rounds", 1, "--json", out,  # PRESET after the options,
                   "--set", f"data.root={idx_root}", "mlp-gan-fmnist") == 0  # as train takes it
    r = json.loads(out.read_text())
    assert r["speedup"] == pytest.approx(r["ganforge_images_per_second"] / r["reference_images_per_second"], rel=1e-2)
    assert r["overrides"] == [f"data.root={idx_root}"] and r["precision"] == "fp32"  # what ganforge's side ran
    assert set(r["host_threads"]) == {"before", "after"} and r["host_threads"]["after"]["thread_speedup"] > 0
    assert r["machine"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()  # which host it was
    assert run_cli("bench", "compare", "dcgan-fmnist", "--set", f"data.root={idx_root}") == 2  # no reference loop
    for key, value in (("WORLD_SIZE", "2"), ("RANK", "0")):  # as torchrun sets them: each rank ran its own
        monkeypatch.setenv(key, value)  # comparison, the two contending
    assert run_cli("bench", "compare", "mlp-gan-fmnist", "--set", f"data.root={idx_root}") == 2
    assert ("ganforge bench compare runs in one process; run it without torchrun (train and bench train are the "
            "commands torchrun spreads over processes).") in capsys.readouterr().err
    assert run_cli("presets") == 2  # any other command: each rank would do the whole job


def test_thread_speedup_times_the_probe_on_all_threads_and_on_one():
    """bench train and compare record it around their timings (a shared host's slow spells)."""
    from ganforge.bench.measure import thread_speedup

    before = torch.get_num_threads()
    h = thread_speedup()
    assert torch.get_num_threads() == before == h["threads"]  # the thread count is put back
    assert h["probe_ms"] > 0 and h["probe_one_thread_ms"] > 0
    assert h["thread_speedup"] == pytest.approx(h["probe_one_thread_ms"] / h["probe_ms"], rel=1e-2)


def test_time_rounds_takes_turns_in_abba_order():
    calls = []

    class Loop:  # anything with run(n) is timed
        def __init__(self, name):
            self.name = name

        def run(self, n):
            calls.append((self.name, n))

    seconds = time_rounds({"a": Loop("a"), "b": Loop("b")}, steps=3, rounds=4, reverse_odd_rounds=True)
    assert [name for name, _ in calls] == list("abbaabba") and {n for _, n in calls} == {3}
    assert {k: len(v) for k, v in seconds.items()} == {"a": 4, "b": 4}
    calls.clear()  # before_turn runs before each turn, with the name of the loop about to run
    time_rounds({"a": Loop("a"), "b": Loop("b")}, steps=1, rounds=2,
                before_turn=lambda name: calls.append(("probe", name)))
    assert calls == [("probe", "a"), ("a", 1), ("probe", "b"), ("b", 1)] * 2


# ten dcgan-fmnist steps after a warm-up, in a fresh process (malloc settings are per process);
# prints the minor page faults they took
_FAULTS_OF_TEN_STEPS = """
import resource, sys, torch
from ganforge.bench.train import GanforgeLoop
from ganforge.config import load_config
from ganforge.data import load_images
from ganforge.training.process import apply_process_settings
cfg = load_config("dcgan-fmnist", [f"data.root={sys.argv[1]}", f"train.keep_freed_memory={sys.argv[2]}"])
apply_process_settings(cfg.train)
loop = GanforgeLoop(cfg, load_images(cfg.data), torch.device("cpu"))
loop.run(10)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
loop.run(10)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc malloc setting")
def test_keep_freed_memory_stops_the_page_faults_of_every_step(idx_root):
    def faults(keep):
        done = subprocess.run([sys.executable, "-c", _FAULTS_OF_TEN_STEPS, str(idx_root), keep],
                              capture_output=True, text=True, check=True)
        return int(done.stdout.split()[-1])

    kept, default = faults("true"), faults("false")
    # glibc's default hands a step's freed maps back to the kernel and faults them in again
    # (52,000-65,000 faults over these ten steps when measured); kept, 0-1,400
    assert kept * 10 < default


def test_bf16_and_channels_last_train(idx_root, tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=4",
                                                                "train.precision=bf16",
                                                                "train.channels_last=true")) == 0
    payload = ckpt.load(run / "checkpoints" / "last.pt")
    assert all(torch.isfinite(t).all() for n in ("G", "D") for t in payload[n].values() if t.is_floating_point())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(r["loss_d"])) for r in records if "loss_d" in r)


def test_fp16_on_cpu_and_unknown_precision_or_compile_mode_are_errors(idx_root, tmp_path, capsys):
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "a",
                   *tiny(idx_root, "train.precision=fp16", "train.device=cpu")) == 2
    assert "train.precision=fp16 needs a CUDA device" in capsys.readouterr().err
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "b", *tiny(idx_root, "train.precision=fp8")) == 2
    assert "must be fp32, bf16, fp16 or auto" in capsys.readouterr().err
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "c",
                   *tiny(idx_root, "train.compile=true", "train.compile_mode=reduce_overhead")) == 2
    assert "'train.compile_mode' must be one of default, reduce-overhead," in capsys.readouterr().err
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "d", *tiny(idx_root, "train.compile_mode=max-autotune")) == 2
    assert "but train.compile is false; set train.compile=true" in capsys.readouterr().err


@pytest.mark.slow
def test_compile_trains_and_keeps_checkpoint_keys(idx_root, tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", "mlp-gan-fmnist", "--out", run,
                   *tiny(idx_root, "train.max_steps=3", "train.compile=true")) == 0
    payload = ckpt.load(run / "checkpoints" / "last.pt")
    assert not any("_orig_mod" in k for k in payload["G"])  # Module.compile() keeps the plain names
    assert run_cli("sample", run, "--num", 4, "--out", tmp_path / "s.npy") == 0


@pytest.mark.slow
def test_compile_without_a_cxx_compiler_says_what_to_install(idx_root, tmp_path):
    """A laptop without build tools: inductor's InvalidCxxCompiler, wrapped in an InductorError, was a
    traceback at the first step, exit 1. CXX points inductor at a compiler that is not there, and a cache of
    its own makes it compile (a cached kernel needs no compiler)."""
    env = dict(os.environ, CXX=str(tmp_path / "no-such-g++"), TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "cache"),
               OMP_NUM_THREADS="2")
    said = ("ganforge: error: train.compile=true: torch.compile builds its CPU kernels with a C++ compiler, and "
            "none works here (torch: No working C++ compiler found in torch._inductor.config.cpp.cxx: (None, "
            f"'{tmp_path / 'no-such-g++'}')). Install one (Debian, Ubuntu: apt-get install g++; macOS: xcode-select "
            "--install; or point the CXX environment variable at one), or train without it: --set "
            "train.compile=false.\n")
    for command in (["train", "mlp-gan-fmnist", "--out", tmp_path / "run"], ["bench", "train", "mlp-gan-fmnist"]):
        proc = subprocess.run([sys.executable, "-m", "ganforge", *map(str, command),
                               *tiny(idx_root, "train.max_steps=3", "train.compile=true")],
                              env=env, capture_output=True, text=True, timeout=300)
        assert (proc.returncode, proc.stderr) == (2, said), proc.stderr
    assert not (tmp_path / "run").exists()  # a run that could not take its first step leaves no files


@pytest.mark.slow
def test_compile_with_a_gradient_penalty_leaves_d_uncompiled(idx_root, tmp_path):
    """WGAN-GP (hw6-wgan-gp-64) with train.compile=true was torch's "does not currently support double backward"
    traceback at the first D step: the penalty differentiates D's input gradient."""
    with pytest.warns(UserWarning, match=r"D is left uncompiled \(G is compiled\): its gradient penalty"):
        assert run_cli("train", "mlp-gan-fmnist", "--out", tmp_path / "run",
                       *tiny(idx_root, "train.max_steps=3", "train.compile=true", "objective.gp_weight=10",
                             "objective.reuse_fake=false")) == 0


def test_auto_precision_is_bf16_only_where_the_cpu_computes_it():
    from ganforge.objective import resolve_precision

    cpu, native = torch.device("cpu"), torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert resolve_precision("auto", cpu) == ("bf16" if native else "fp32")
    assert resolve_precision("auto", torch.device("cuda")) == "fp32"  # measured faster on an H200
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [resolve_precision(p, cpu) for p in ("fp32", "bf16")] == ["fp32", "bf16"]
    # bf16 asked for where oneDNN only emulates it (0.06x fp32's speed on the AVX2 host) is worth a warning
    assert [str(w.message)[:50] for w in caught] == (
        [] if native else ["train.precision=bf16 on a CPU without native bf16 "])


def test_deterministic_is_set_for_each_run_and_unset_after():
    """The setting is process-wide: a second run in the same process (a notebook) without it must not keep it."""
    from ganforge.config import TrainConfig
    from ganforge.training.process import apply_process_settings

    try:
        apply_process_settings(TrainConfig(deterministic=True, keep_freed_memory=False))
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        apply_process_settings(TrainConfig(keep_freed_memory=False))
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def _backward_flops(counter, module, x):
    with counter as c:
        module(x).sum().backward()
    return c.get_total_flops()


def test_flop_count_of_grouped_conv_backward_is_the_forward_twice():
    """torch's formula counts a grouped conv's weight gradient `groups` times over; the bench's does not."""
    from torch.utils.flop_counter import FlopCounterMode

    from ganforge.bench.measure import count_flops
    from ganforge.nets.layers import ImageOutputConv2d

    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    for plain in (torch.nn.Conv2d(8, 4, 3, 1, 1), torch.nn.ConvTranspose2d(8, 4, 4, 2, 1)):
        # ungrouped convs: the same figure as torch's own formula
        assert _backward_flops(count_flops(), plain, x) == _backward_flops(FlopCounterMode(display=False), plain, x)
    grouped = torch.nn.Conv2d(8, 8, 3, 1, 1, groups=4, bias=False)
    forward = 2 * x.shape[0] * 6 * 6 * 8 * (8 // 4) * 9  # 2 FLOPs per multiply-add of the forward
    assert _backward_flops(count_flops(), grouped, x) == 3 * forward  # forward + input grad + weight grad
    # the depthwise-and-sum output conv counts as the plain conv it computes
    fast, plain = ImageOutputConv2d(8, 1, 3, 1, 1), torch.nn.Conv2d(8, 1, 3, 1, 1)
    assert _backward_flops(count_flops(), fast, x) == _backward_flops(count_flops(), plain, x)


def test_layer_replay_records_every_call_with_its_gradients_and_counts_the_steps_flops(idx_root):
    """One cycle's conv and linear calls, replayed alone, add up to the FLOPs the step itself counts."""
    from ganforge.bench.ceiling import layers_alone, record_layer_calls
    from ganforge.bench.measure import count_flops
    from ganforge.bench.train import GanforgeLoop

    cfg = load_config("dcgan-fmnist", [f"data.root={idx_root}", "train.batch_size=8", "train.precision=fp32"])
    loop = GanforgeLoop(cfg, None, torch.device("cpu"))
    loop.run(1)
    with count_flops() as counter:
        loop.run(loop.cycle)
    G, D = loop.objective.G, loop.objective.D
    weights_before = [p.detach().clone() for p in (*G.parameters(), *D.parameters())]
    calls = record_layer_calls([G, D], lambda: loop.run(loop.cycle), torch.device("cpu"))
    d_first = D.convs[0]
    # D's first conv: on real and detached fakes in the D step (no input gradient), and on the
    # fakes in the G step, where D is frozen (input gradient for G, no weight gradient)
    flags = sorted((c.input_grad, c.weight_grad, n) for c, n in calls.items() if c.module is d_first)
    assert flags == [(False, True, 2), (True, False, 1)]
    assert {c.module for c in calls} == {m for net in (G, D) for m in net.modules()
                                         if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d,
                                                           torch.nn.Linear))}
    after_record = [p.detach().clone() for p in (*G.parameters(), *D.parameters())]
    flops, seconds = layers_alone(calls, torch.device("cpu"), repeats=1)
    assert flops == counter.get_total_flops() and seconds > 0
    # the replay runs on copies: the run's weights and gradients are untouched
    assert all(torch.equal(a, p) for a, p in zip(after_record, (*G.parameters(), *D.parameters())))
    assert not all(torch.equal(a, b) for a, b in zip(weights_before, after_record))  # recording trained a cycle


def test_pass_timing_times_each_gradient_the_call_asked_for_on_a_copy():
    """The D-step call of D's first conv times its forward and weight gradient, the G-step call
    its forward and input gradient; the module's own gradients are untouched."""
    from ganforge.bench.ceiling import LayerCall, passes_alone

    conv = torch.nn.Conv2d(1, 4, 4, 2, 1)
    shape, stride = (2, 1, 8, 8), (64, 64, 8, 1)
    d_step = LayerCall(conv, shape, stride, torch.float32, None, input_grad=False, weight_grad=True)
    g_step = LayerCall(conv, shape, stride, torch.float32, None, input_grad=True, weight_grad=False)
    both = LayerCall(conv, shape, stride, torch.float32, None, input_grad=True, weight_grad=True)
    for call, passes in ((d_step, {"forward", "weight_grad"}), (g_step, {"forward", "input_grad"}),
                         (both, {"forward", "input_grad", "weight_grad"})):
        flops, seconds = passes_alone(call, torch.device("cpu"), repeats=2)
        assert set(seconds) == passes and seconds["forward"] > 0
        assert flops == 2 * 2 * 4 * 4 * 4 * 16  # 2 FLOPs x batch 2 x 4 channels x 4x4 outputs x 16 taps
    assert conv.weight.grad is None and conv.bias.grad is None


@pytest.mark.parametrize("script, args", [
    ("step_overhead.py", ["--steps", "2", "--rounds", "1"]),
    ("layer_passes.py", ["--repeats", "1"]),
    ("ab_tf32.py", ["--steps", "2", "--rounds", "2"]),
])
def test_bench_scripts_run_and_write_json(script, args, idx_root, tmp_path):
    """The diagnostic scripts performance.md quotes still run against the current package."""
    out = tmp_path / "r.json"
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, str(root / "bench" / script), "dcgan-fmnist", "--set", f"data.root={idx_root}",
                    "--set", "train.batch_size=8", *args, "--json", str(out)], check=True, capture_output=True)
    r = json.loads(out.read_text())
    if script == "step_overhead.py":
        assert set(r["ms_per_step"]) == {"base", "no_batchnorm", "no_batchnorm_or_activations", "no_optimizer"}
        assert all(ms > 0 for ms in r["ms_per_step"].values())
    elif script == "ab_tf32.py":  # on a CPU the flags change nothing, but every setting takes its turns
        assert set(r["median_images_per_second"]) == {"ieee", "torch", "tf32"} and r["ratio_over_ieee"]["ieee"] == 1
        assert all(v > 0 for v in r["median_images_per_second"].values())
    else:  # every conv and linear call of G and D, with its passes timed
        assert {row["layer"].split(".")[0] for row in r["layers"]} == {"G", "D"}
        assert all(row["forward_ms"] > 0 for row in r["layers"])
        assert r["matmul_peak_gflops"] == max(r["matmul_peak_samples_gflops"])  # the best of the two timings


def test_ab_step_writes_both_sides_and_their_ratio(idx_root, tmp_path):
    """bench/ab_step.py, which performance.md's side-by-side tables quote (on a CPU the host-memory
    flag changes nothing but the label: the images are in host memory either way)."""
    out, root = tmp_path / "ab.json", Path(__file__).resolve().parents[1]
    data = f"data.root={idx_root},train.batch_size=8"
    subprocess.run([sys.executable, str(root / "bench" / "ab_step.py"), "dcgan-fmnist", "--a", data,
                    "--b", f"{data},train.channels_last=false", "--b-batches-in-host-memory", "--steps", "2",
                    "--rounds", "2", "--json", str(out)], check=True, capture_output=True)
    r = json.loads(out.read_text())
    assert r["b"][-2:] == ["train.channels_last=false", "(batches in host memory)"]
    assert all(len(v) == 2 and min(v) > 0 for v in r["images_per_second"].values())
    assert r["ratio_b_over_a"] == pytest.approx(r["median_b"] / r["median_a"], rel=1e-2)


def test_the_bench_loop_trains_a_super_resolution_preset(idx_root):
    """The bench scripts hand the loop a GAN's images, which an SR G cannot take (ab_step.py srgan-x4 ended
    in a traceback inside G's first conv): an SR config's loop loads its LR-HR pairs as training does."""
    from ganforge.bench.train import GanforgeLoop

    cfg = load_config("srcnn-x4", [f"data.root={idx_root}", "train.batch_size=4"])
    loop = GanforgeLoop(cfg, load_images(load_config("dcgan-fmnist", [f"data.root={idx_root}"]).data),
                        torch.device("cpu"))
    loop.run(2)
    assert loop.step == 2


def test_compare_by_host_state_groups_rounds_by_the_probe(idx_root, tmp_path):
    """bench/compare_by_host_state.py, which performance.md quotes for mmengine-gan-fmnist's ratio on a
    quiet and a contended host: every round has its probe, and the groups are medians of their rounds."""
    def run(*args):
        out, root = tmp_path / "hs.json", Path(__file__).resolve().parents[1]
        subprocess.run([sys.executable, str(root / "bench" / "compare_by_host_state.py"), "mlp-gan-fmnist",
                        "--set", f"data.root={idx_root}", "--set", "train.batch_size=8", "--steps", "2",
                        "--json", str(out), *args], check=True, capture_output=True)
        return json.loads(out.read_text())

    r = run("--rounds", "4")
    rows = r["per_round"]
    assert len(rows) == 4 and all(row["probe_ms"] > 0 for row in rows)
    assert min(row["probe_over_quiet"] for row in rows) == 1.0  # by default the fastest probe's round is quiet
    assert r["all"] == {"rounds": 4, "median_speedup": pytest.approx(statistics.median(row["speedup"] for row in rows),
                                                                      abs=1e-3)}
    quiet = [row["speedup"] for row in rows if row["probe_over_quiet"] <= 1.10]
    assert r["quiet"] == {"rounds": len(quiet), "median_speedup": pytest.approx(statistics.median(quiet), abs=1e-3)}
    assert r["quiet"]["rounds"] + r["contended"]["rounds"] <= 4
    r = run("--rounds", "2", "--quiet-probe-ms", "1e-6")  # a quiet host far faster than this one: all contended
    assert r["quiet_probe_ms"] == 1e-6 and r["quiet"] == {"rounds": 0, "median_speedup": None}
    assert r["contended"]["rounds"] == 2


def test_mfu_by_host_state_computes_each_rounds_mfu(image_folder, tmp_path):
    """bench/mfu_by_host_state.py, which performance.md quotes for dcgan-fmnist's MFU on a quiet and a
    contended host: each round's MFU is its speed times the counted FLOPs over the peak."""
    out, root = tmp_path / "mfu.json", Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, str(root / "bench" / "mfu_by_host_state.py"), "hw6-wgan-64",
                    "--set", f"data.root={image_folder}", "--set", "train.batch_size=4", "--steps", "1",
                    "--rounds", "3", "--json", str(out)],
                   check=True, capture_output=True)
    r = json.loads(out.read_text())
    assert r["steps"] == 5  # rounded up to a whole cycle: WGAN's n_critic D steps, then the G step
    assert r["precision"] == "fp32"
    assert run_cli("bench", "train", "hw6-wgan-64", "--steps", 5, "--set", f"data.root={image_folder}",
                   "--set", "train.batch_size=4", "--json", tmp_path / "t.json") == 0
    assert r["flops_per_image"] == json.loads((tmp_path / "t.json").read_text())["flops_per_image"]  # counted alike
    for row in r["per_round"]:
        # from the JSON's rounded figures (img/s to 0.1, the peak to 0.01, MFU to 1e-4): at a few images per
        # second, as here, img/s's rounding alone moves the MFU by up to 0.5 %
        ips, peak = row["images_per_second"], r["matmul_peak_gflops"]
        low = r["flops_per_image"] * (ips - 0.05) / 1e9 / (peak + 0.005) - 5e-5
        high = r["flops_per_image"] * (ips + 0.05) / 1e9 / (peak - 0.005) + 5e-5
        assert low <= row["mfu"] <= high
    assert r["all"]["rounds"] == 3 and r["quiet"]["rounds"] >= 1


def test_host_state_samples_every_measure_and_groups_them_by_the_probe(idx_root, tmp_path):
    """bench/host_state.py, which performance.md quotes for what slows in a slow spell: every sample
    has every measure, and each group's medians are those of its samples."""
    out, root = tmp_path / "hs.json", Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, str(root / "bench" / "host_state.py"), "--seconds", "2",
                    "--preset", "mlp-gan-fmnist", "--set", f"data.root={idx_root}", "--set", "train.batch_size=8",
                    "--steps", "2", "--json", str(out)], check=True, capture_output=True)
    r = json.loads(out.read_text())
    rows = r["per_sample"]
    per_cpu = {f"probe_cpu{c}_ms" for c in r["cpus"]}
    steps = {f"step_{r['threads']}t_images_per_second", "step_1t_images_per_second"}  # all threads, then one
    assert rows and all(set(row) == {"probe_ms", "probe_over_quiet", "copy_ms", "matmul_gflops", *steps, *per_cpu}
                        for row in rows)
    assert all(v > 0 for row in rows for v in row.values())
    quiet = [row for row in rows if row["probe_over_quiet"] <= 1.10]
    assert r["quiet"]["rounds"] == len(quiet) >= 1  # the fastest probe's sample is quiet by default
    assert r["quiet"]["median_copy_ms"] == pytest.approx(statistics.median(row["copy_ms"] for row in quiet), abs=1e-3)
    assert r["all"]["median_step_1t_images_per_second"] == pytest.approx(
        statistics.median(row["step_1t_images_per_second"] for row in rows), abs=0.1)


def test_more_threads_than_cpus_are_lowered_with_a_warning(capsys):
    before = torch.get_num_threads()
    try:
        apply_process_settings(TrainConfig(threads=usable_cpus() + 997, keep_freed_memory=False))
        assert torch.get_num_threads() == usable_cpus()
        assert f"is more than the {usable_cpus()} CPUs this process can use; using {usable_cpus()}" in capsys.readouterr().err
        apply_process_settings(TrainConfig(threads=1, keep_freed_memory=False))  # within the CPUs: as asked, silently
        assert torch.get_num_threads() == 1 and not capsys.readouterr().err
    finally:
        torch.set_num_threads(before)


def test_bench_scripts_report_bad_input_in_one_line_and_exit_2(tmp_path, capsys):
    """The bench scripts answer a bad preset as the CLI does: one line naming it, exit 2, no traceback."""
    from ganforge.errors import GanforgeError, run_script

    def bad() -> None:
        raise GanforgeError("unknown preset 'nope'.")

    with pytest.raises(SystemExit) as e:
        run_script(bad)
    assert e.value.code == 2 and capsys.readouterr().err.endswith(": error: unknown preset 'nope'.\n")
    with pytest.raises(ZeroDivisionError):  # a bug is not the user's input: it keeps its traceback
        run_script(lambda: 1 / 0)

    root = Path(__file__).resolve().parents[1]
    scripts = sorted(p.name for p in (root / "bench").glob("*.py") if 'if __name__ == "__main__":' in p.read_text())
    # every script with an entry point goes through run_script, except the two that run the CLI, whose exit they keep
    assert [s for s in scripts if "run_script(main)" not in (root / "bench" / s).read_text()] == \
        ["quality_vs_time.py", "small_data.py"]
    for argv in (["ab_step.py", "nope"], ["quality_vs_time.py", "--presets", "nope", "--json", str(tmp_path / "q.json")],
                 ["small_data.py", "--images", "4", "--variant", "x=model.generator.name=nope", "--out", str(tmp_path),
                  "--json", str(tmp_path / "s.json")]):
        done = subprocess.run([sys.executable, str(root / "bench" / argv[0]), *argv[1:]], capture_output=True, text=True)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and "'nope'" in done.stderr


def test_bench_train_counts_a_gradient_penalty(idx_root, tmp_path):
    """The penalty's autograd.grad made torch's module tracker raise inside FLOP counting: bench train failed on
    hw6-wgan-gp-64 and on any R1 run. Now its extra backward is counted with the rest."""
    flops = {}
    for name, sets in (("plain", ()), ("r1", ("objective.r1_gamma=1",)), ("gp", ("objective.gp_weight=10",))):
        out = tmp_path / f"{name}.json"
        args = [a for s in (f"data.root={idx_root}", "train.batch_size=16", *sets) for a in ("--set", s)]
        assert run_cli("bench", "train", "dcgan-fmnist", "--steps", 2, *args, "--json", out) == 0
        flops[name] = json.loads(out.read_text())["flops_per_image"]
    assert flops["r1"] > flops["plain"] and flops["gp"] > flops["plain"], flops
