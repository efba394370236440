"""End-to-end runs: every preset, the run folder, resume equality, signals, sampling."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

import ganforge
from ganforge.config import preset_names
from ganforge.errors import GanforgeError
from ganforge.files import format_bytes
from ganforge.interpolation import slerp
from ganforge.sampling import _png_name, generate, load_generator
from ganforge.training import checkpoint as ckpt

from conftest import (BITWISE, ctrl_c_through_another_thread, interrupt_once_it_wrote, last_session_end, run_cli,
                      run_subprocess, tiny, write_cifar_folder)

ROOT = Path(__file__).resolve().parents[1]
FMNIST_PRESETS = ["mlp-gan-fmnist", "mmengine-gan-fmnist", "dcgan-fmnist"]
FOLDER_PRESETS = ["hw6-dcgan-64", "hw6-wgan-64", "hw6-wgan-gp-64", "mmagic-dcgan-64"]
CIFAR_PRESETS = ["sngan-cifar10"]


def folder_sets(root, *extra):
    """--set overrides for a short run on the data under ``root`` (an image folder, or CIFAR-10's files)."""
    sets = [f"data.root={root}", "train.batch_size=8", "log.progress=false", "log.every_steps=2",
            "log.sample_every_steps=5", "log.checkpoint_every_steps=5", "log.num_samples=4", "train.max_epochs=0",
            *extra]
    return [a for s in sets for a in ("--set", s)]


def check_run_folder(run: Path, steps: int, image_shape: tuple[int, int]):
    assert json.loads((run / "config.json").read_text())["name"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records and records[-1]["step"] == steps
    for r in records:
        assert {"step", "images_seen", "seconds", "images_per_second", "loss_d"} <= set(r)
        assert all(np.isfinite(v) for v in r.values() if isinstance(v, float))
    assert any("loss_g" in r for r in records)
    assert (run / "checkpoints" / "last.pt").is_file()
    assert ckpt.load(run / "checkpoints" / "last.pt")["state"]["step"] == steps
    grids = sorted((run / "samples").glob("step_*.png"))
    assert grids and grids[-1].name == f"step_{steps:07d}.png"
    with Image.open(grids[-1]) as im:
        assert im.size[0] > image_shape[0] and im.size[1] > image_shape[1]
    assert list((run / "tb").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("preset", FMNIST_PRESETS)
def test_fmnist_presets_train(preset, idx_root, tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", preset, "--out", run, *tiny(idx_root, "train.max_steps=8", "train.batch_size=16")) == 0
    check_run_folder(run, 8, (28, 28))
    assert (run / "checkpoints" / "step_0000008.pt").is_file()


@pytest.mark.parametrize("preset", FOLDER_PRESETS)
def test_folder_presets_train(preset, image_folder, tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", preset, "--out", run, *folder_sets(image_folder, "train.max_steps=5")) == 0
    check_run_folder(run, 5, (64, 64))


@pytest.mark.parametrize("preset", CIFAR_PRESETS)
def test_cifar_presets_train(preset, tmp_path):
    """On CIFAR-10's own file layout (random pixels): the preset's full-size networks, a few steps."""
    write_cifar_folder(tmp_path / "cifar", per_batch=8, test=4)
    run = tmp_path / "run"
    assert run_cli("train", preset, "--out", run, *folder_sets(tmp_path / "cifar", "train.max_steps=4")) == 0
    check_run_folder(run, 4, (32, 32))
    assert run_cli("sample", run, "--num", 3, "--out", tmp_path / "s.npy") == 0
    assert np.load(tmp_path / "s.npy").shape == (3, 3, 32, 32)


def test_all_presets_are_covered():
    from test_sr import SR_PRESETS  # trained by test_sr.py

    assert set(FMNIST_PRESETS + FOLDER_PRESETS + CIFAR_PRESETS + SR_PRESETS) == set(preset_names())


def test_tensorboard_has_scalars_and_image_grids(idx_root, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=6"))
    acc = EventAccumulator(str(run / "tb"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    assert {"train/loss_d", "train/loss_g", "train/images_per_second"} <= set(acc.Tags()["scalars"])
    assert {"real", "fake"} <= set(acc.Tags()["images"])
    fake = acc.Images("fake")
    assert [e.step for e in fake] == [4, 6]
    assert fake[-1].encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"


def test_tensorboard_shows_the_config_as_text_and_as_hparams(idx_root, tmp_path):
    """The TEXT tab shows the run's config; the HPARAMS tab lists runs by their config keys beside their scalars,
    from the session-start record that TensorBoard's hparams plugin reads."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=2", "optim_g.lr=0.001")) == 0
    acc = EventAccumulator(str(run / "tb"), size_guidance={"tensors": 0})
    acc.Reload()
    content = acc.PluginTagToContent(metadata.PLUGIN_NAME)[metadata.SESSION_START_INFO_TAG]
    hp = dict(metadata.parse_session_start_info_plugin_data(content).hparams)
    assert hp["optim_g.lr"].number_value == 0.001 and hp["train.batch_size"].number_value == 128
    assert hp["name"].string_value == "dcgan-fmnist" and hp["objective.loss"].string_value == "vanilla"
    assert hp["model.generator.options.base_channels"].number_value == 16  # a network's options, key by key
    assert hp["optim_g.betas"].string_value == "[0.5, 0.999]" and hp["ema.enabled"].bool_value is True
    # how the run trains, not where it writes or what it says of itself
    assert not [k for k in hp if k.startswith(("log.", "health.")) or k in ("description", "notes")]
    text = acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "    [train]\n    batch_size = 128\n" in text  # TOML, indented: a code block in TensorBoard's Markdown


def test_a_resumed_run_keeps_its_tensorboard_history_up_to_its_checkpoint(idx_root, tmp_path):
    """Events logged after the checkpoint a run resumes from are replaced; those up to it stay, once each."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=6")) == 0
    for suffix in ("", ".sum"):  # as if killed after step 6 was logged, before its checkpoint: step 4's is the newest
        (run / "checkpoints" / f"last.pt{suffix}").unlink()
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume", *tiny(idx_root, "train.max_steps=8")) == 0
    acc = EventAccumulator(str(run / "tb"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss_d")] == [2, 4, 6, 8]
    assert [e.step for e in acc.Images("fake")] == [4, 8]  # the first run's final grid at 6 is gone with its state
    logged = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert logged == [2, 4, 6, 8]


def test_a_resume_within_a_second_waits_for_a_later_event_file_name(tmp_path):
    """Else its event file could sort before the last one (same second, then pid and counter as text), and
    TensorBoard, reading in name order, would apply the resume's purge_step to the wrong events."""
    from torch.utils.tensorboard import SummaryWriter

    from ganforge.training.loop import wait_for_a_later_event_file_name

    now = int(time.time())
    (tmp_path / f"events.out.tfevents.{now:010d}.zzzz.99.9").touch()  # would sort after a new file of this second
    wait_for_a_later_event_file_name(tmp_path)
    SummaryWriter(str(tmp_path)).close()
    assert sorted(p.name for p in tmp_path.iterdir())[0].endswith(".zzzz.99.9")


def test_progress_in_a_log_file_is_whole_lines(idx_root, tmp_path):
    """stderr a pipe, as in `> train.log` or CI: lines, not a bar's carriage returns on one growing line."""
    proc = run_subprocess("train", "dcgan-fmnist", "--out", tmp_path / "run",
                          *tiny(idx_root, "train.max_steps=25", "log.progress=true"))
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out
    assert "\r" not in out
    assert re.search(r"^dcgan-fmnist: step 10/25, \d+/600 s, loss_d=[\d.]+, loss_g=[\d.]+, img/s=\d+$", out, re.M), out
    assert "step 20/25" not in out  # the next line waits half a minute


def test_progress_on_a_terminal_is_a_bar(idx_root, tmp_path):
    fcntl, termios = pytest.importorskip("fcntl"), pytest.importorskip("termios")  # POSIX terminals
    import struct

    main_end, terminal = os.openpty()  # stderr a terminal, as when a user runs it by hand
    # 100 columns: a new pseudo-terminal has 0, and tqdm draws no bar in 0 columns
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "ganforge", "train", "dcgan-fmnist", "--out", tmp_path / "run",
                             *tiny(idx_root, "train.max_steps=25", "log.progress=true")],
                            stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(main_end, 4096)
        except OSError:  # Linux: EIO once the process has closed its end
            break
        if not chunk:
            break
        seen += chunk
    os.close(main_end)
    assert proc.wait(timeout=120) == 0
    assert b"\r" in seen and b"25/25" in seen and b"step/s" in seen  # tqdm's bar, redrawn in place


def test_epochs_too_few_for_one_g_update_are_refused(idx_root, tmp_path, capsys):
    """hw6-wgan-gp-64 (n_critic 5, the seed's one epoch) on a folder of 20 images at batch 8 ran its 2 critic steps
    and saved the untrained G, unsaid; train.max_steps below one G update was refused, max_epochs was not."""
    wgan = ["objective.reuse_fake=false", "objective.n_critic=5", "train.batch_size=128", "train.max_steps=0"]
    run = tmp_path / "w"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, *wgan, "train.max_epochs=1")) == 2
    assert capsys.readouterr().err == (
        "ganforge: error: config key 'train.max_epochs' is 1, which is 2 steps here (256 images at "
        "train.batch_size=128 make 2 batches an epoch), but G's first update comes after 5 steps (a step is one D "
        "micro-batch: objective.n_critic=5 x objective.accumulate=1), so G would end untrained; set "
        "train.max_epochs to at least 3, or train.max_steps to at least 5 with train.max_epochs=0.\n")
    assert not run.exists()  # nothing written: the same command, fixed, needs no --force
    # with train.max_steps given too (the preset's one epoch ends the run first), that is the way on
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, *wgan, "train.max_epochs=1",
                                                                 "train.max_steps=10")) == 2
    assert capsys.readouterr().err.endswith("set train.max_epochs to at least 3, or train.max_epochs=0 to end it at "
                                            "train.max_steps=10.\n")
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, *wgan, "train.max_epochs=3")) == 0
    assert ckpt.load(run / "checkpoints" / "last.pt")["state"]["step"] == 6


def test_bounds_steps_epochs_seconds(idx_root, tmp_path, capsys):
    run_cli("train", "dcgan-fmnist", "--out", tmp_path / "e", *tiny(idx_root, "train.max_epochs=1.5",
                                                                      "train.max_seconds=0", "train.batch_size=64",
                                                                      "train.max_steps=100"))
    # 256 images / batch 64 = 4 batches per epoch -> 1.5 epochs = 6 steps
    assert ckpt.load(tmp_path / "e" / "checkpoints" / "last.pt")["state"]["step"] == 6
    # the bound that ended it is named: one in the preset may stop a run before the one given with --set
    assert re.search(r"finished at step 6 \(384 images, \d+ s; train.max_epochs=1.5 reached\)", capsys.readouterr().out)
    # the time bound, told by what the run says and keeps rather than by a wall clock here (no timed asserts)
    run_cli("train", "dcgan-fmnist", "--out", tmp_path / "s", *tiny(idx_root, "train.max_seconds=2"))
    state = ckpt.load(tmp_path / "s" / "checkpoints" / "last.pt")["state"]
    assert state["seconds"] >= 2 and state["step"] > 0
    assert re.search(rf"finished at step {state['step']} \(.*; train.max_seconds=2 reached\)", capsys.readouterr().out)


def test_grids_and_checkpoints_every_n_epochs(idx_root, tmp_path):
    """As the seeds' loops write them (a grid per epoch, checkpoints every few epochs), with the
    step counts off. 256 images / batch 64 = 4 steps per epoch."""
    run = tmp_path / "e"
    by_epoch = ["log.sample_every_steps=0", "log.sample_every_epochs=1", "log.checkpoint_every_steps=0",
                "log.checkpoint_every_epochs=2"]

    def written(folder: str, suffix: str) -> list[str]:
        return sorted(p.name for p in (run / folder).glob(f"step_*{suffix}"))

    assert run_cli("train", "dcgan-fmnist", "--out", run,
                   *tiny(idx_root, "train.max_epochs=3", "train.batch_size=64", *by_epoch)) == 0
    assert written("samples", ".png") == ["step_0000004.png", "step_0000008.png", "step_0000012.png"]
    assert written("checkpoints", ".pt") == ["step_0000008.pt"]  # last.pt holds step 12
    # resumed with half the batch: 8 steps per epoch now, so epochs 4 and 5 end at steps 20 and 28
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume",
                   *tiny(idx_root, "train.max_epochs=5", "train.batch_size=32", *by_epoch)) == 0
    assert written("samples", ".png")[3:] == ["step_0000020.png", "step_0000028.png"]
    assert written("checkpoints", ".pt") == ["step_0000008.pt", "step_0000020.pt"]


def test_keep_checkpoints_deletes_the_older_step_files(idx_root, tmp_path):
    """MMEngine's max_keep_ckpts: the newest N step files (with their sidecars) stay, over a resume too;
    last.pt stays whole, and a rollback or resume still finds it."""
    run = tmp_path / "k"
    ckpts = run / "checkpoints"

    def files() -> list[str]:
        return sorted(p.name for p in ckpts.iterdir())

    assert run_cli("train", "dcgan-fmnist", "--out", run,
                   *tiny(idx_root, "train.max_steps=14", "log.keep_checkpoints=2")) == 0
    assert files() == ["last.pt", "last.pt.sum", "step_0000008.pt", "step_0000008.pt.sum", "step_0000012.pt",
                       "step_0000012.pt.sum"]
    assert ckpt.load(ckpts / "last.pt")["state"]["step"] == 14
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume",
                   *tiny(idx_root, "train.max_steps=20", "log.keep_checkpoints=2")) == 0
    assert files()[2:] == ["step_0000016.pt", "step_0000016.pt.sum", "step_0000020.pt", "step_0000020.pt.sum"]
    assert ckpt.load(ckpts / "step_0000016.pt")["state"]["step"] == 16  # the sidecars still match
    assert ckpt.load(ckpts / "last.pt")["state"]["step"] == 20


# ------------------------------------------------------------------ resume

def weights(run: Path) -> dict:
    """A run's trained state from last.pt; G_ema only in a run with EMA on."""
    payload = ckpt.load(run / "checkpoints" / "last.pt")
    keys = ("G", "D", "opt_g", "opt_d", "state", "data") + (("G_ema",) if "G_ema" in payload else ())
    return {k: payload[k] for k in keys}


def assert_same(a, b, path="") -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{path} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            if k != "seconds":
                assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a} != {b}"


def trained_whole_and_resumed(idx_root: Path, tmp_path: Path, sets) -> tuple[Path, Path]:
    """Two dcgan-fmnist runs with ``sets`` and train.deterministic: 10 steps in one go, and 5 then a
    resume to 10. Returns their run folders (whole, resumed), for a bitwise comparison."""
    full, part = tmp_path / "full", tmp_path / "part"
    same = (*sets, BITWISE)
    assert run_cli("train", "dcgan-fmnist", "--out", full, *tiny(idx_root, "train.max_steps=10", *same)) == 0
    assert run_cli("train", "dcgan-fmnist", "--out", part, *tiny(idx_root, "train.max_steps=5", *same)) == 0
    assert run_cli("train", "dcgan-fmnist", "--out", part, "--resume", *tiny(idx_root, "train.max_steps=10", *same)) == 0
    return full, part


SPECTRAL_NORM_GP = ("model.discriminator.spectral_norm=true", "objective.gp_weight=1")
CLASS_CONDITIONAL_GP = ("model.num_classes=10", "model.class_conditioning=batchnorm", "objective.gp_weight=1")
DIFFAUGMENT_R1 = ("objective.diffaugment=color,translation,cutout", "objective.r1_gamma=1")
# a cosine that restarts and a milestone on each side of the resume at step 5, and a warm-up
LR_SCHEDULES = ("optim_g.schedule=cosine", "optim_g.decay_steps=4", "optim_d.schedule=multistep",
                "optim_d.milestones=[3,7]", "optim_d.warmup_steps=2")
# with D's gradients clipped and G's norms logged, which metrics.jsonl then has
CLIPPED = (*LR_SCHEDULES, "optim_d.clip_grad_norm=0.5", "log.grad_norms=true")


LAZY_R1 = ("objective.r1_gamma=1", "objective.r1_every=3")  # due at steps 0, 3, 6 and 9: on each side of the resume
# p adjusted after steps 2, 5 and 8, so the resume at 5 restores the signs of steps 3 and 4 and a p above 0
ADA = ("objective.diffaugment=color,translation,cutout", "objective.ada_target=0.05", "objective.ada_kimg=2",
       "objective.ada_interval=3")


@pytest.mark.parametrize("sets", [(), SPECTRAL_NORM_GP, CLASS_CONDITIONAL_GP, DIFFAUGMENT_R1, CLIPPED, LAZY_R1, ADA],
                         ids=["default", "spectral-norm-gp", "class-conditional-gp", "diffaugment-r1",
                              "lr-schedules-clipped", "lazy-r1", "ada"])
def test_resume_is_bitwise_identical(idx_root, tmp_path, sets, capsys):
    """Spectral norm's power-iteration vectors are state too; the penalty differentiates through sigma.
    A class-conditional run draws its fakes' classes, and DiffAugment its transforms, from the RNG the
    checkpoint restores (R1 differentiates through the transforms). A schedule's learning rates follow the
    step the checkpoint restores."""
    full, part = trained_whole_and_resumed(idx_root, tmp_path, sets)
    assert_same(weights(full), weights(part))
    # the resumed run's log has each step once
    records = [json.loads(line) for line in (part / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == sorted({r["step"] for r in records})
    if sets == CLIPPED:
        assert all(r["grad_norm_g"] > 0 and r["grad_norm_d"] > 0 for r in records)
    if sets == ADA:
        assert 0 < torch.load(part / "checkpoints" / "step_0000004.pt", weights_only=True)["ada"]["count"]
        assert 0 < records[-1]["ada_p"] < 1  # the transforms ran on some images, not all
    if sets == SPECTRAL_NORM_GP:
        assert any("_u" in key for key in weights(part)["D"])
        off = tiny(idx_root, "train.max_steps=12", "model.discriminator.spectral_norm=false")
        assert run_cli("train", "dcgan-fmnist", "--out", part, "--resume", *off) == 2
        assert "because --set changed model.discriminator.spectral_norm (True in the run, now False)" \
            in capsys.readouterr().err


def _wait_for(path: Path, proc, timeout=120):
    t = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() - t < timeout, f"{path} never appeared"
        time.sleep(0.05)


def test_sigkill_then_resume_matches_uninterrupted(idx_root, tmp_path):
    every = ("log.checkpoint_every_steps=5", BITWISE)
    run = tmp_path / "killed"
    proc = run_subprocess("train", "dcgan-fmnist", "--out", run,
                          *tiny(idx_root, "train.max_steps=100000", *every))
    _wait_for(run / "checkpoints" / "step_0000005.pt", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # what a kill in the middle of writes leaves, each as large as its file (a checkpoint's is large): temp files of
    # a checkpoint, a grid and the config, named as files.temp_file_beside names them; the resume removes them,
    # but not one of evaluate.json, which `ganforge evaluate` may be writing now
    left = [run / "checkpoints" / ".step_0000010.pt.0123456789abcdef.tmp", run / ".config.json.0123456789abcdef.tmp",
            run / "samples" / ".step_0000010.png.0123456789abcdef.tmp"]
    evaluating = run / ".evaluate.json.0123456789abcdef.tmp"
    for path in [*left, evaluating]:
        path.write_bytes(b"\0" * 100)
    assert last_session_end(run) is None  # the session could not say how it ended, and ganforge runs says so
    assert ganforge.runs(run)[0]["detail"].startswith("its process ended without a word (killed, ")
    resumed_at = ckpt.load_latest(run / "checkpoints")[0]["state"]["step"]  # the kill may precede last.pt
    assert resumed_at >= 5 and resumed_at % 5 == 0
    target = resumed_at + 5
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume",
                   *tiny(idx_root, f"train.max_steps={target}", *every)) == 0
    assert [path.exists() for path in left] == [False] * 3 and evaluating.exists()
    ref = tmp_path / "ref"
    assert run_cli("train", "dcgan-fmnist", "--out", ref,
                   *tiny(idx_root, f"train.max_steps={target}", *every)) == 0
    assert_same(weights(ref), weights(run))


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 128 + 15), (signal.SIGINT, 128 + 2)])
def test_signal_saves_checkpoint_and_exits(idx_root, tmp_path, sig, code):
    run = tmp_path / "run"
    proc = run_subprocess("train", "dcgan-fmnist", "--out", run,  # no bound at all: only the signal stops it
                          *tiny(idx_root, "train.max_steps=0", "train.max_seconds=0", "log.checkpoint_every_steps=1000"))
    _wait_for(run / "metrics.jsonl", proc)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == code, out
    assert "this run has no end; Ctrl-C or SIGTERM saves a checkpoint" in out
    assert f"{sig.name} received; saved step" in out and "--resume" in out
    state = ckpt.load(run / "checkpoints" / "last.pt")["state"]
    assert state["step"] >= 2
    end = last_session_end(run)
    assert (end["how"], end["detail"], end["step"]) == ("signal", sig.name, state["step"])
    assert ganforge.runs(run)[0]["detail"] == f"by {sig.name}; resume=True continues it"
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume",
                   *tiny(idx_root, f"train.max_steps={state['step'] + 2}")) == 0
    end = last_session_end(run)
    assert (end["how"], end["detail"], end["step"]) == ("finished", f"train.max_steps={state['step'] + 2}",
                                                        state["step"] + 2)


SLOW_FEATURES = """
import time
from pathlib import Path

import torch

from ganforge.metrics.features import FEATURES, FeatureExtractor


@FEATURES.register("test-slow")
def slow():
    calls = []

    def forward(images):
        calls.append(len(images))
        if len(calls) > 1:  # the first is the check before training, with two blank images
            (Path(__file__).parent / "evaluating").touch()
            time.sleep(60)
        return torch.zeros(len(images), 8), torch.zeros(len(images), 10)
    return FeatureExtractor("test-slow", forward, 8, "0" * 64, "none")
"""


def test_a_signal_is_answered_at_once_and_a_second_ctrl_c_stops_without_saving(idx_root, tmp_path):
    """A step with an evaluation can take minutes (Inception on a CPU); Ctrl-C said nothing until it ended,
    and a second Ctrl-C was ignored, leaving kill -9."""
    (tmp_path / "slow.py").write_text(SLOW_FEATURES)
    run = tmp_path / "run"
    proc = run_subprocess("train", "dcgan-fmnist", "--out", run,
                          *tiny(idx_root, f"plugins=['{tmp_path / 'slow.py'}']", "eval.features=test-slow",
                                "eval.every_kimg=0.256", "eval.num_samples=8", "train.max_steps=100"),
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for(tmp_path / "evaluating", proc)  # step 2's evaluation, an hour long as far as the run knows
    proc.send_signal(signal.SIGINT)
    said = ""
    while "received" not in said:  # after a blank line, which ends a progress bar's line
        said = proc.stdout.readline()
        assert said, "the run ended without answering the signal"
    assert "ganforge: SIGINT received: stopping after this step to save a checkpoint (Ctrl-C again stops at once, " \
           "without saving)." in said
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()  # not left sleeping in its evaluation if the second Ctrl-C failed
    assert proc.returncode == 130 and "Traceback" not in out, out
    assert "ganforge: stopped at step 2 without saving it; --resume continues from the last checkpoint." in out
    assert last_session_end(run) | {"time": None} == {"time": None, "step": 2, "how": "interrupted",
                                                      "detail": "a second Ctrl-C, before the save"}
    assert not list((run / "checkpoints").glob(".*.tmp"))


def test_out_folder_with_a_run_needs_resume_or_force(idx_root, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    args = ["train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=2")]
    assert run_cli(*args) == 0
    assert run_cli(*args) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert run_cli(*args, "--force") == 0
    # --resume of a misspelt folder starts a new run there, as a script that always resumes wants, and names the
    # run it may have meant
    capsys.readouterr()
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "rum", "--resume",
                   *tiny(idx_root, "train.max_steps=1")) == 0
    assert (f"no checkpoint in '{tmp_path / 'rum'}' yet; starting a new run there. Did you mean '{run}'?"
            in capsys.readouterr().err)
    # the default folder, runs/PRESET: the message named an --out the user had not typed
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        code = run_cli("train", "dcgan-fmnist", *tiny(idx_root, "train.max_steps=2"))
    assert code == 2 and capsys.readouterr().err.startswith(
        "ganforge: error: 'runs/dcgan-fmnist' (the run folder when no --out is given) already holds a run (")
    with pytest.raises(GanforgeError, match=re.escape("'runs/dcgan-fmnist' (the run folder when no out is given) "
                                                      "already holds a run (")):
        ganforge.train("dcgan-fmnist", overrides=tiny(idx_root, "train.max_steps=2")[1::2])
    assert run_cli("train", "mlp-gan-fmnist", "--out", run, "--resume", *tiny(idx_root)) == 2
    assert (f"holds a 'dcgan-fmnist' run, not 'mlp-gan-fmnist'; resume it with its own config: ganforge train "
            f"dcgan-fmnist --out {run} --resume, or pick") in capsys.readouterr().err
    # a run of a config file: its own config.json, which a resume takes too
    (tmp_path / "mine.toml").write_text("[train]\nmax_steps = 2\n")
    assert run_cli("train", tmp_path / "mine.toml", "--out", tmp_path / "mine", *tiny(idx_root)) == 0
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "mine", "--resume", *tiny(idx_root)) == 2
    assert f"ganforge train {tmp_path / 'mine' / 'config.json'} --out {tmp_path / 'mine'} --resume, or pick" in \
        capsys.readouterr().err


def test_a_config_file_given_to_resume_says_which_of_its_values_are_not_used(idx_root, tmp_path):
    """--resume continues the stored config; an edited or another run's file was ignored without a word."""
    run, mine = tmp_path / "run", tmp_path / "mine.toml"
    mine.write_text('[model.generator]\nname = "dcgan"\noptions = { base_channels = 8 }\n')
    assert run_cli("train", mine, "--out", run, *tiny(idx_root, "train.max_steps=2")) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same file: nothing to say
        assert run_cli("train", mine, "--out", run, "--resume", *tiny(idx_root, "train.max_steps=3")) == 0
    mine.write_text('[model.generator]\nname = "dcgan"\noptions = { base_channels = 12 }\n[optim_g]\nlr = 0.1\n')
    with pytest.warns(UserWarning, match=r"--resume continues the run's own config, stored in its checkpoint; "
                                         r"'.*mine.toml' differs in model.generator.options.base_channels=12 "
                                         r"\(the run: 8\), optim_g.lr=0.1 \(the run: 0.0002\), and "
                                         r"those values are not used"):
        assert run_cli("train", mine, "--out", run, "--resume", *tiny(idx_root, "train.max_steps=4")) == 0
    assert json.loads((run / "config.json").read_text())["optim_g"]["lr"] == 0.0002


def test_force_replaces_only_a_ganforge_run(idx_root, tmp_path, capsys):
    """A tutorial loop's checkpoints/ and samples/, or a model folder's config.json, share a run's names:
    --force deleted them as a run's files."""
    other = tmp_path / "loop"
    (other / "checkpoints").mkdir(parents=True)
    (other / "checkpoints" / "epoch_5.pth").write_bytes(b"the user's weights")
    (other / "samples").mkdir()
    args = ["train", "dcgan-fmnist", "--out", other, "--force", *tiny(idx_root, "train.max_steps=2")]
    assert run_cli(*args) == 2
    assert ("holds checkpoints, samples, but not a ganforge run (it has no config.json), so ganforge will neither "
            "write into them nor delete them, even with --force") in capsys.readouterr().err
    (other / "config.json").write_text('{"architectures": ["BertModel"]}')
    assert run_cli(*args) == 2
    assert "but not a ganforge run (its config.json is not ganforge's)" in capsys.readouterr().err
    assert (other / "checkpoints" / "epoch_5.pth").read_bytes() == b"the user's weights"


def test_a_run_inside_its_training_images_is_refused(image_folder, tmp_path, capsys, monkeypatch):
    """Its sample grids would become training images of the next run or resume (folders are read with
    their subfolders)."""
    image_folder = Path(shutil.copytree(image_folder, tmp_path / "faces"))  # a refused run leaves its .lock there
    for out in (image_folder, image_folder / "runs" / "a"):
        assert run_cli("train", "hw6-dcgan-64", "--out", out, "--set", f"data.root={image_folder}",
                       "--set", "train.max_steps=1") == 2
        assert "the run's sample grids would be read as images of that folder next time" in capsys.readouterr().err
    assert not list(image_folder.rglob("step_*.png"))
    # a config's ~ is the home folder, as the loaders read it; this check took it for a folder named '~'
    monkeypatch.setenv("HOME", str(tmp_path))
    assert run_cli("train", "hw6-dcgan-64", "--out", image_folder / "r", "--set", "data.root=~/faces",
                   "--set", "train.max_steps=1") == 2
    assert f"is inside data.root '{image_folder}'" in capsys.readouterr().err  # recorded by its absolute path
    assert run_cli("train", "srcnn-x4", "--out", tmp_path / "val" / "r", "--set", f"sr.val_root={tmp_path / 'val'}",
                   "--set", "train.max_steps=1") == 2
    assert f"is inside sr.val_root '{tmp_path / 'val'}'" in capsys.readouterr().err
    # the other way round: a run folder (or its samples/) as the data, where it trained on the grids
    run = tmp_path / "run"
    assert run_cli("train", "hw6-dcgan-64", "--out", run, "--set", f"data.root={image_folder}",
                   "--set", "train.max_steps=1", "--set", "train.batch_size=4") == 0
    for root, what in ((run, "folder"), (run / "samples", "folder of samples")):
        assert run_cli("train", "hw6-dcgan-64", "--out", tmp_path / "again", "--set", f"data.root={root}",
                       "--set", "train.max_steps=1") == 2
        assert (f"data.root '{root}' is a ganforge run's {what}: its PNGs are grids of generated samples, not "
                "training images.") in capsys.readouterr().err


def test_a_run_that_cannot_start_leaves_no_run_behind(idx_root, tmp_path, capsys):
    """Bad options fail before the folder holds a run, so the corrected command needs no --force; a folder
    the command made for the run is removed again."""
    run = tmp_path / "run"
    bad = "model.generator.options.base_channels=-3"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=2", bad)) == 2
    assert "cannot be built" in capsys.readouterr().err
    assert not run.exists()  # the folder the failed command made is gone (it was left holding .lock)
    nested = tmp_path / "runs" / "a"  # with the folder above it, which the command made too
    assert run_cli("train", "dcgan-fmnist", "--out", nested, *tiny(idx_root, "train.max_steps=2", bad)) == 2
    assert not (tmp_path / "runs").exists() and "cannot be built" in capsys.readouterr().err
    # a run folder given where the config goes, with --resume: the error alone, no "starting a new run"
    assert run_cli("train", tmp_path, "--resume", "--out", nested) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ganforge: error: config file '{tmp_path}' is a folder") and "new run" not in err
    assert not (tmp_path / "runs").exists()
    run.mkdir()  # a folder the user made stays, holding only the released (empty) lock file
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=2", bad)) == 2
    assert [p.name for p in run.iterdir()] == [".lock"] and (run / ".lock").read_text() == ""
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=2")) == 0
    assert json.loads((run / "config.json").read_text())["name"] == "dcgan-fmnist"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_cuda_device_without_a_gpu_is_bad_input(idx_root, tmp_path, capsys):
    """A config from a GPU machine names the problem and the fix where torch would assert."""
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "r", *tiny(idx_root, "train.device=cuda")) == 2
    assert "train.device is 'cuda', but torch sees 0 CUDA GPU(s) here" in capsys.readouterr().err


def test_resume_without_checkpoint_starts_fresh(idx_root, tmp_path, capsys):
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "r", "--resume",
                   *tiny(idx_root, "train.max_steps=2")) == 0
    assert "no checkpoint" in capsys.readouterr().err


# ------------------------------------------------------------------ sampling

@pytest.fixture(scope="module")
def trained_run(idx_root, tmp_path_factory):
    run = tmp_path_factory.mktemp("trained") / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=6",
                                                                  "ema.start_step=0")) == 0
    return run


def test_sample_npy_png_and_folder(trained_run, tmp_path):
    assert run_cli("sample", trained_run, "--num", 1000, "--out", tmp_path / "s.npy") == 0
    arr = np.load(tmp_path / "s.npy")
    assert arr.shape == (1000, 1, 28, 28) and arr.dtype == np.uint8 and arr.std() > 0
    G, cfg = load_generator(trained_run)  # the file is written batch by batch: same images as generate's
    assert np.array_equal(arr, np.concatenate([b.numpy() for b in generate(G, cfg.model.z_dim, 1000)]))
    assert run_cli("sample", trained_run / "checkpoints" / "last.pt", "--num", 16, "--out", tmp_path / "g.png") == 0
    with Image.open(tmp_path / "g.png") as im:
        assert im.size == (4 * 30 + 2, 4 * 30 + 2)
    assert run_cli("sample", trained_run, "--num", 5, "--out", tmp_path / "dir") == 0
    assert len(list((tmp_path / "dir").glob("*.png"))) == 5


def test_sample_into_a_folder_never_mixes_old_and_new_samples(trained_run, tmp_path, capsys):
    out = tmp_path / "dir"
    assert run_cli("sample", trained_run, "--num", 5, "--out", out) == 0
    assert run_cli("sample", trained_run, "--num", 7, "--seed", 1, "--out", out) == 0  # replaces all 5: fine
    first = (out / "000000.png").read_bytes()
    assert run_cli("sample", trained_run, "--num", 3, "--out", out) == 2  # 000003 ... 000006 would stay
    assert ("--out '%s' already holds 4 images that 3 samples would not replace (000003.png, ...), so old and new "
            "samples would mix" % out) in capsys.readouterr().err
    assert (out / "000000.png").read_bytes() == first and len(list(out.iterdir())) == 7  # refused before writing
    (tmp_path / "mine").mkdir()
    Image.new("L", (28, 28)).save(tmp_path / "mine" / "photo.png")
    assert run_cli("sample", trained_run, "--num", 3, "--out", tmp_path / "mine") == 2  # the user's own image
    assert ("already holds 1 image that 3 samples would not replace (photo.png), so old and new samples would mix. "
            "Choose a new or empty folder, or remove it.") in capsys.readouterr().err
    assert _png_name(5, 10) == "000005.png" and _png_name(5, 10_000_001) == "00000005.png"  # sorted = numbered


def test_sample_seed_ema_and_truncation(trained_run, tmp_path):
    def get(*extra):
        out = tmp_path / f"{len(list(tmp_path.iterdir()))}.npy"
        assert run_cli("sample", trained_run, "--num", 32, "--out", out, *extra) == 0
        return np.load(out)

    base = get()
    assert np.array_equal(base, get())
    assert not np.array_equal(base, get("--seed", 1))
    assert not np.array_equal(base, get("--no-ema"))
    assert not np.array_equal(base, get("--truncation", 0.5))


def test_sample_interpolate_walks_from_each_sample_to_another(trained_run, tmp_path, capsys):
    assert run_cli("sample", trained_run, "--interpolate", 6, "--num", 3, "--out", tmp_path / "w.npy") == 0
    assert "wrote 3 walks of 6 frames" in capsys.readouterr().out
    walks = np.load(tmp_path / "w.npy").astype(int).reshape(3, 6, 1, 28, 28)
    assert run_cli("sample", trained_run, "--num", 3, "--out", tmp_path / "s.npy") == 0
    # walk i starts at sample's image i (a batch of another size may round a pixel the other way)
    assert np.abs(walks[:, 0] - np.load(tmp_path / "s.npy")).max() <= 1
    # it moves, and gradually: no step of the five is half the whole walk (a jump would be all of it)
    whole = np.abs(walks[:, -1] - walks[:, 0]).mean(axis=(1, 2, 3))
    steps = np.abs(np.diff(walks, axis=1)).mean(axis=(2, 3, 4))
    assert (whole > 0).all() and (steps.max(axis=1) < whole / 2).all(), (whole, steps)
    assert run_cli("sample", trained_run, "--interpolate", 5, "--num", 3, "--out", tmp_path / "w.png") == 0
    with Image.open(tmp_path / "w.png") as im:
        assert im.size == (5 * 30 + 2, 3 * 30 + 2)  # a walk per row
    assert run_cli("sample", trained_run, "--interpolate", 5, "--out", tmp_path / "w.gif") == 0
    with Image.open(tmp_path / "w.gif") as gif:  # 8 walks by default, 3 to a row; forth and back, looping
        assert gif.n_frames == 8 and gif.size == (3 * 30 + 2, 3 * 30 + 2) and gif.info["loop"] == 0
    assert run_cli("sample", trained_run, "--interpolate", 6, "--num", 1, "--out", tmp_path / "w.webp") == 0
    with Image.open(tmp_path / "w.webp") as webp:  # lossless: each frame is the walk's frame exactly
        frames = [np.asarray(f.convert("L"))[2:30, 2:30] for f in ImageSequence.Iterator(webp)]
    assert len(frames) == 10  # 6 forth, 4 back
    assert np.array_equal(np.stack(frames[:6]), ganforge.interpolate(trained_run, 1, 6).numpy()[0, :, 0])
    # from Python: the same frames, and a grid of them keeps a walk per row
    assert np.array_equal(ganforge.interpolate(trained_run, 3, 6).numpy().astype(int), walks)
    assert ganforge.grid(ganforge.interpolate(trained_run, 3, 6)).size == (6 * 30 + 2, 3 * 30 + 2)


def test_slerp_keeps_the_norm_that_a_straight_line_loses():
    a, b = torch.tensor([[3.0, 0.0], [1.0, 1.0]]), torch.tensor([[0.0, 3.0], [2.0, 2.0]])
    path = slerp(a, b, torch.linspace(0, 1, 5))
    assert path.shape == (2, 5, 2)
    assert torch.allclose(path[:, 0], a) and torch.allclose(path[:, -1], b, atol=1e-6)
    assert torch.allclose(path[0].norm(dim=1), torch.full((5,), 3.0))  # the midpoint of a line: norm 2.12
    assert torch.allclose(path[1], torch.stack([a[1] * (1 + t) for t in torch.linspace(0, 1, 5)]))  # parallel: a line


def test_sample_interpolate_bad_input(trained_run, tmp_path, capsys):
    assert run_cli("sample", trained_run, "--interpolate", 1, "--out", tmp_path / "w.png") == 2
    assert "--interpolate must be at least 2 (a walk's two ends), got 1." in capsys.readouterr().err
    for name in ("w.jpg", "walks"):
        assert run_cli("sample", trained_run, "--interpolate", 4, "--out", tmp_path / name) == 2
        assert ("--interpolate writes a .png grid (a walk per row), an animated .gif or .webp, or a .npy of uint8 "
                "frames; name the file so.") in capsys.readouterr().err
    assert run_cli("sample", trained_run, "--interpolate", 100, "--num", 101, "--out", tmp_path / "w.png") == 2
    assert "--num 101 walks of 100 frames are 10,100 images, too many for one grid" in capsys.readouterr().err
    assert run_cli("sample", trained_run, "--interpolate", 10**6, "--num", 10**6, "--out", tmp_path / "w.npy") == 2
    assert re.search(r"1,000,000 walks of 1,000,000 frames of 1x28x28 would need about [\d,.]+ GB of memory, but",
                     capsys.readouterr().err)  # refused before the memory filled
    assert not list(tmp_path.iterdir())
    with pytest.raises(GanforgeError, match="^steps must be at least 2"):  # in Python's words
        ganforge.interpolate(trained_run, 2, 1)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 128 + 15), (signal.SIGINT, 128 + 2)])
def test_a_signal_during_sample_exits_cleanly_and_leaves_no_temp_file(trained_run, tmp_path, sig, code):
    # SIG_DFL: a child of a non-interactive shell may inherit an ignored SIGINT, which Python then keeps
    proc = run_subprocess("sample", trained_run, "--num", 200_000, "--out", tmp_path / "big.npy",
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t = time.time()
    while not list(tmp_path.glob(".big.npy.*.tmp")):  # the atomic write has begun
        assert proc.poll() is None and time.time() - t < 60, proc.stdout.read()
        time.sleep(0.05)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == code and "Traceback" not in out, out
    assert "ganforge: interrupted" in out
    assert not list(tmp_path.iterdir())  # neither big.npy nor its temp file


def test_a_signal_during_sample_into_a_folder_says_how_many_it_holds(trained_run, tmp_path):
    """A folder of samples is written image by image: an interrupted one holds whole PNGs, but only some of those
    asked for, which evaluate FOLDER would score as if they were all; it said only that no file was half-written."""
    code, out, held = interrupt_once_it_wrote(tmp_path / "many", 3, "sample", trained_run, "--num", 200_000, "--out",
                                              tmp_path / "many")
    assert code == 130 and "Traceback" not in out, out
    assert (f"ganforge: interrupted: '{tmp_path / 'many'}' holds the first {held:,} of the 200,000 images, each "
            "whole; the same command writes them all.") in out, out
    assert not list((tmp_path / "many").glob(".*"))  # no temp file of the image being written


def test_a_signal_just_after_an_image_is_written_counts_it(trained_run, tmp_path, monkeypatch, capsys):
    """Ctrl-C landing after a PNG's atomic write but before the count went up said one image fewer than the folder
    held (CI: "holds the first 65" of a folder of 66)."""
    from ganforge import images, sampling

    def save_then_ctrl_c(img, path):
        images.save_png(img, path)
        if path.name == "000003.png":  # a real SIGINT, once the fourth image is whole on disk
            ctrl_c_through_another_thread()
    monkeypatch.setattr(sampling, "save_png", save_then_ctrl_c)
    assert run_cli("sample", trained_run, "--num", 10, "--out", tmp_path / "ten") == 130
    assert len(list((tmp_path / "ten").glob("*.png"))) == 4
    assert (f"ganforge: interrupted: '{tmp_path / 'ten'}' holds the first 4 of the 10 images, each whole; the same "
            "command writes them all.") in capsys.readouterr().err


def test_writing_and_decoding_many_images_says_how_far_it_has_got(trained_run, image_folder, tmp_path, monkeypatch,
                                                                  capsys):
    """A bar on a terminal, a line every 30 s (here after every image) in a log file: 50,000 samples into a folder
    took 37 s, and decoding 200,000 photos takes minutes, with nothing on the screen."""
    from ganforge import progress
    from ganforge.data.folder import load_folder

    monkeypatch.setattr(progress, "LINE_SECONDS", 0.0)
    assert run_cli("sample", trained_run, "--num", 5, "--out", tmp_path / "five") == 0
    err = capsys.readouterr().err
    assert "ganforge: samples: 1 of 5 images (20 %)\n" in err and "ganforge: samples: 5 of 5 images (100 %)\n" in err
    load_folder(str(image_folder), 32, 3, str(tmp_path / "cache"))
    assert f"ganforge: decoding '{image_folder.name}': 24 of 24 images (100 %)\n" in capsys.readouterr().err

def test_sample_bad_input(trained_run, tmp_path, capsys):
    assert run_cli("sample", tmp_path / "nothing", "--num", 4, "--out", tmp_path / "x.npy") == 2
    assert "nothing' does not exist; give a run folder" in capsys.readouterr().err
    # a typo in the run's name is offered the run beside it
    assert run_cli("sample", str(trained_run) + "x", "--num", 4, "--out", tmp_path / "x.npy") == 2
    assert f"Did you mean '{trained_run}'?" in capsys.readouterr().err
    assert run_cli("sample", trained_run, "--num", 0, "--out", tmp_path / "x.npy") == 2
    for name in ("s.npz", "s.pt", "s.txt"):  # an array or text file's name: it became a folder of PNGs named so
        assert run_cli("sample", trained_run, "--num", 4, "--out", tmp_path / name) == 2
        assert "sample writes a .npy of uint8 images (N, C, H, W), a .png grid or a folder of PNGs; name the file " \
               ".npy." in capsys.readouterr().err
    assert run_cli("sample", trained_run, "--num", 20_000, "--out", tmp_path / "g.png") == 2
    assert "too many for one grid image (at most 10,000)" in capsys.readouterr().err
    for out in ("x.npy", "folder"):  # 10^12 images: more than any disk, refused before the first is made
        assert run_cli("sample", trained_run, "--num", 10**12, "--out", tmp_path / out) == 2
        assert "GB free; lower --num" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    # sizes in the unit that shows them: 4 samples on a nearly full disk said 'need about 0.0 GB ... 0.0 GB free'
    assert [format_bytes(n) for n in (0, 999, 12_544, 3.1e6, 7.84e22)] == [
        "0 B", "999 B", "12.5 kB", "3.1 MB", "78,400,000,000,000.0 GB"]


# ------------------------------------------------------------------ plugins

def test_custom_model_example_trains(idx_root, tmp_path):
    run = tmp_path / "custom"
    assert run_cli("train", ROOT / "examples" / "custom_model.toml", "--out", run,
                   *tiny(idx_root, "train.max_steps=4")) == 0
    check_run_folder(run, 4, (28, 28))
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["generator"]["name"] == "example-upsample" and cfg["objective"]["loss"] == "example-softplus"
    assert run_cli("sample", run, "--num", 8, "--out", tmp_path / "c.npy") == 0
    assert np.load(tmp_path / "c.npy").shape == (8, 1, 28, 28)


def test_custom_sr_example_trains_evaluates_and_upscales(idx_root, tmp_path):
    """Seed 004's first example: the user's own SR network and pixel loss, registered and named in a config."""
    run = tmp_path / "espcn"
    assert run_cli("train", ROOT / "examples" / "custom_sr.toml", "--out", run,
                   *tiny(idx_root, "train.max_steps=4", "eval.num_samples=8")) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["generator"]["name"] == "example-espcn" and cfg["sr"]["pixel_loss"] == "example-l1-edges"
    assert "loss_pix" in json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert run_cli("train", ROOT / "examples" / "custom_sr.toml", "--out", run, "--resume",
                   *tiny(idx_root, "train.max_steps=6", "eval.num_samples=8")) == 0
    assert ckpt.load(run / "checkpoints" / "last.pt")["state"]["step"] == 6
    assert run_cli("evaluate", run, "--json", tmp_path / "e.json") == 0
    assert {"psnr", "ssim", "psnr_bicubic"} <= set(json.loads((tmp_path / "e.json").read_text()))
    Image.new("RGB", (7, 5), "red").save(tmp_path / "lr.png")
    assert run_cli("upscale", run, tmp_path / "lr.png", "--out", tmp_path / "sr.png") == 0
    with Image.open(tmp_path / "sr.png") as sr:
        assert sr.size == (28, 20)


def test_custom_objective_example_trains_and_resumes(idx_root, tmp_path):
    """Seed 004's DCGAN(BaseGAN): the user's own algorithm (a relativistic GAN), named with --set."""
    run = tmp_path / "ragan"
    own = ("plugins=['" + str(ROOT / "examples" / "custom_objective.py") + "']", "objective.name=example-relativistic")
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=4", *own)) == 0
    assert json.loads((run / "config.json").read_text())["objective"]["name"] == "example-relativistic"
    assert {"d_margin", "g_margin"} <= json.loads((run / "metrics.jsonl").read_text().splitlines()[-1]).keys()  # its own
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume", *tiny(idx_root, "train.max_steps=6", *own)) == 0
    assert ckpt.load(run / "checkpoints" / "last.pt")["state"]["step"] == 6
    assert run_cli("sample", run, "--num", 4, "--out", tmp_path / "s.npy") == 0


def test_an_objective_that_fails_at_its_first_step_leaves_no_run_behind(idx_root, tmp_path, capsys):
    """A plugin's bad return is found at step 1, after config.json was written; the fixed plugin then trains
    in the same --out without --force, as a bad option's rerun does."""
    def train_with(name: str, returns: str) -> int:  # a new file and name per version: this process caches imports
        plugin = tmp_path / f"{name}.py"
        plugin.write_text("from ganforge.objective import GANObjective\nfrom ganforge.registry import OBJECTIVES\n\n"
                          f"@OBJECTIVES.register('test-{name}')\nclass Mine(GANObjective):\n"
                          "    def d_loss(self, real_scores, fake_scores, real, fake):\n"
                          f"        return {returns}\n")
        return run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=2",
                                                                     f"plugins=['{plugin}']", f"objective.name=test-{name}"))

    run = tmp_path / "run"
    assert train_with("bare", "fake_scores.mean() - real_scores.mean()") == 2
    assert "Mine.d_loss must return (loss, logs)" in capsys.readouterr().err
    assert not run.exists()
    with pytest.raises(ZeroDivisionError):  # a bug in the plugin: its traceback, and still no run left
        train_with("buggy", "1 / 0")
    assert not run.exists()
    assert train_with("fixed", "fake_scores.mean() - real_scores.mean(), {}") == 0
    assert ckpt.load(run / "checkpoints" / "last.pt")["state"]["step"] == 2


FAULTY_NETS = '''
from dataclasses import dataclass
import torch, torch.nn as nn
from ganforge.registry import DISCRIMINATORS, GENERATORS

@dataclass(frozen=True)
class Mode:
    mode: str = "ok"

@GENERATORS.register("faulty-g", Mode)
class FaultyG(nn.Module):
    def __init__(self, opts, *, z_dim, channels, resolution):
        super().__init__()
        self.mode, self.shape = opts.mode, (channels, resolution, resolution)
        self.fc = nn.Linear(z_dim, channels * resolution * resolution)
    def forward(self, z):
        x = torch.tanh(self.fc(z))
        if self.mode == "raise":
            raise ValueError("boom in my generator")
        if self.mode == "flat":
            return x
        if self.mode == "double":
            return x.view(-1, *self.shape).double()
        if self.mode == "sigmoid":  # a tutorial's G for images in [0, 1]
            return torch.sigmoid(self.fc(z)).view(-1, *self.shape)
        return (x.view(-1, *self.shape),) if self.mode == "tuple" else x.view(-1, *self.shape)

@DISCRIMINATORS.register("faulty-d", Mode)
class FaultyD(nn.Module):
    def __init__(self, opts, *, channels, resolution, **_):
        super().__init__()
        self.mode, self.fc = opts.mode, nn.Linear(channels * resolution * resolution, 2)
        self.fc.requires_grad_(self.mode != "frozen")
    def forward(self, x):
        if self.mode == "inplace":
            x.mul_(1.0)
        y = self.fc((x.detach() if self.mode == "detach_input" else x).flatten(1))
        if self.mode == "sigmoid":  # seeds 000 and 001 end D in nn.Sigmoid for their nn.BCELoss
            return torch.sigmoid(y[:, 0])
        if self.mode in ("column", "patch"):  # the seeds' nn.Linear(..., 1) end; a PatchGAN's map
            return y[:, :1] if self.mode == "column" else y[:, :1, None, None].expand(-1, 1, 4, 4)
        return y if self.mode == "two" else y[:, 0].detach() if self.mode == "detach" else y[:, 0]

@GENERATORS.register("function-g")  # a builder that returns a function, not a network
def function_g(*, z_dim, channels, resolution):
    return lambda z: z

@dataclass(frozen=True)
class Even:
    width: int
    def __post_init__(self):
        if self.width % 2:
            raise ValueError(f"width must be even, got {self.width}")

@GENERATORS.register("even-g", Even)
class EvenG(FaultyG):
    def __init__(self, opts, **sizes):
        super().__init__(Mode(), **sizes)

@DISCRIMINATORS.register("narrow-d")  # seed 004's modules take their own arguments, not ganforge's
class NarrowD(nn.Module):
    def __init__(self, in_channels=1):
        super().__init__()
        self.fc = nn.Linear(1, 1)
'''


@pytest.mark.parametrize("sets, message", [
    (["model.generator.options.mode=raise"],
     r"generator 'faulty-g' failed on a probe batch of shape \(2, 64\): ValueError: boom in my generator "
     r"\(.*faulty_nets.py:\d+\)"),
    (["model.generator.options.mode=tuple"], "generator 'faulty-g' must return a tensor, got tuple"),
    # seed 001's G returns flat vectors its loop reshapes, and the seeds' D a (B, 1) column: each said only the shape
    (["model.generator.options.mode=flat"],
     r"makes flat vectors of 784 values, but the data .* is \(1, 28, 28\); ganforge's G returns images: end its "
     r"forward with \.view\(-1, 1, 28, 28\)"),
    (["model.discriminator.options.mode=two"], r"one score per image \(B,\), got shape \(2, 2\)\.$"),
    (["model.discriminator.options.mode=column"],
     r"one score per image \(B,\), got shape \(2, 1\); end its forward with \.view\(-1\) \(nn\.Linear"),
    (["model.discriminator.options.mode=patch"], r"got shape \(2, 1, 4, 4\), a map of scores per image; end its "
                                                 r"forward with \.mean\(\(1, 2, 3\)\)"),
    (["model.discriminator.options.mode=detach"], "discriminator 'faulty-d' returns a tensor that none of its weights reach"),
    # each was a traceback: D's dtype error, torch's "optimizer got an empty parameter list", a TypeError
    (["model.generator.options.mode=double"], "generator 'faulty-g' returns float64 images, but its input, D and the "
                                              r"losses are float32; return float32 \(drop a .double\(\)"),
    (["model.discriminator.options.mode=frozen"],
     r"discriminator 'faulty-d' has no trainable weights \(no nn.Parameter in it, or all frozen\)"),
    # each was a traceback or trained G on nothing: an AttributeError in ganforge, autograd's in-place error at
    # the first G step, a G that no gradient reached, and TypeError/ValueError from the options dataclass
    (["model.generator.name=function-g"],
     "generator 'function-g' is built as a 'function', not a torch.nn.Module; register an nn.Module class"),
    (["model.discriminator.options.mode=inplace"],
     r"the gradient from discriminator 'faulty-d' back to generator 'faulty-g' failed on a probe batch: one of the "
     r"variables needed .* modified by an inplace operation.* compute a new tensor instead"),
    (["model.discriminator.options.mode=detach_input"],
     r"the scores of discriminator 'faulty-d' do not depend on the images it is given .*so generator 'faulty-g' "
     "would get no gradient"),
    (["model.generator.name=even-g"], r"model.generator 'even-g' needs option 'width', which its options dataclass "
                                      "gives no default"),
    (["model.generator.name=even-g", "model.generator.options.width=3"],
     r"model.generator 'even-g' refused its options \{'width': 3\}: width must be even, got 3 \(.*faulty_nets.py"),
    (["model.discriminator.name=narrow-d"],
     r"discriminator 'narrow-d' cannot be built: TypeError: .*unexpected keyword argument 'z_dim' "
     r"\(.*faulty_nets.py:\d+\). ganforge calls it as narrow-d\(z_dim=..., channels=..., resolution=...\), "
     "so its __init__ must"),
])
def test_a_faulty_network_is_a_one_line_error(tmp_path, sets, message):
    from ganforge.config import load_config
    from ganforge.nets import build_networks

    (tmp_path / "faulty_nets.py").write_text(FAULTY_NETS)
    # the preset's dcgan options are dropped when --set names another network, before or after them
    names = [n for n in ("model.generator.name=faulty-g", "model.discriminator.name=faulty-d")
             if not any(s.startswith(n.split("=")[0]) for s in sets)]  # the case's own network instead
    with pytest.raises(GanforgeError, match=message):  # loading the config checks the options
        build_networks(load_config("dcgan-fmnist", [*sets, f"plugins=['{tmp_path / 'faulty_nets.py'}']", *names]))


def test_a_network_ending_in_a_sigmoid_is_warned_about(tmp_path):
    """A D ported from seeds 000/001 keeps their nn.Sigmoid; ganforge's losses take logits and would apply
    a second sigmoid. A loss of the user's own may take probabilities: no warning then. A G ending in a
    sigmoid makes images in [0, 1], never as dark as the real images' -1."""
    from ganforge.config import load_config
    from ganforge.losses import AdversarialLoss, register_loss
    from ganforge.nets import build_networks

    (tmp_path / "faulty_nets.py").write_text(FAULTY_NETS)
    sets = [f"plugins=['{tmp_path / 'faulty_nets.py'}']", "model.discriminator.name=faulty-d"]
    with pytest.warns(UserWarning, match="discriminator 'faulty-d' ends in a sigmoid, but objective.loss 'vanilla' "
                                         "takes D's raw scores .*Drop the final sigmoid"):
        build_networks(load_config("dcgan-fmnist", [*sets, "model.discriminator.options.mode=sigmoid"]))
    with pytest.warns(UserWarning, match=r"generator 'faulty-g' ends in a sigmoid, so its images are never below 0, "
                                         r"but ganforge's real images are in \[-1, 1\] .*end it in tanh"):
        build_networks(load_config("dcgan-fmnist", [*sets, "model.generator.name=faulty-g",
                                                    "model.generator.options.mode=sigmoid"]))
    register_loss("test-on-probabilities", AdversarialLoss(
        d_real=lambda p: -p.log().mean(), d_fake=lambda p: -(1 - p).log().mean(), g=lambda p: -p.log().mean()))
    for more in (["model.discriminator.options.mode=sigmoid", "objective.loss=test-on-probabilities"], []):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            build_networks(load_config("dcgan-fmnist", [*sets, *more]))


KEYWORD_NETS = '''
import torch, torch.nn as nn
from ganforge.registry import DISCRIMINATORS, GENERATORS

@GENERATORS.register("kw-g")  # a tutorial's nn.Module, as written: no options dataclass, its own keyword arguments
class KeywordG(nn.Module):
    def __init__(self, hidden: int = 32, slope=0.2, name_it="g", *, z_dim, channels, resolution, **unused):
        super().__init__()
        self.hidden, self.slope, self.shape = hidden, slope, (channels, resolution, resolution)
        self.net = nn.Sequential(nn.Linear(z_dim, hidden), nn.LeakyReLU(slope),
                                 nn.Linear(hidden, channels * resolution ** 2), nn.Tanh())
    def forward(self, z):
        return self.net(z).view(-1, *self.shape)

@DISCRIMINATORS.register("bare-d")
class BareD(nn.Module):
    def __init__(self, *, channels, resolution, **unused):
        super().__init__()
        self.fc = nn.Linear(channels * resolution ** 2, 1)
    def forward(self, x):
        return self.fc(x.flatten(1)).view(-1)
'''


def test_a_network_without_an_options_dataclass_takes_its_keyword_arguments_as_options(tmp_path):
    """Seed 004's modules (and a tutorial's) take their settings as __init__ keyword arguments, which MMagic's
    config passes as written; ganforge checks each by name and by its annotation or its default's type."""
    from ganforge.config import load_config
    from ganforge.nets import build_networks

    (tmp_path / "keyword_nets.py").write_text(KEYWORD_NETS)
    sets = [f"plugins=['{tmp_path / 'keyword_nets.py'}']", "model.generator.name=kw-g",
            "model.discriminator.name=bare-d"]
    G, _ = build_networks(load_config("dcgan-fmnist", [*sets, "model.generator.options.hidden=16",
                                                       "model.generator.options.slope=0"]))
    assert (G.hidden, G.slope) == (16, 0.0) and isinstance(G.slope, float)  # an int widened, as a dataclass's
    G, _ = build_networks(load_config("dcgan-fmnist", sets))
    assert (G.hidden, G.slope) == (32, 0.2)
    for option, message in [
        ("hiden=8", r"unknown option 'hiden' for model.generator 'kw-g'\. Did you mean 'hidden'\? Valid options "
                    r"\(its __init__'s keyword arguments\): hidden, slope, name_it\."),
        ("hidden='wide'", r"model.generator 'kw-g' option 'hidden' must be an integer, got 'wide'"),
        ("slope=true", r"option 'slope' must be a number, got True"),  # its default's type, without an annotation
        ("z_dim=8", r"model.generator 'kw-g' option 'z_dim' is ganforge's to give: every network is built with "
                    r"model.z_dim; set that instead\."),
    ]:
        with pytest.raises(GanforgeError, match=message):
            load_config("dcgan-fmnist", [*sets, f"model.generator.options.{option}"])
    with pytest.raises(GanforgeError, match=r"model.discriminator 'bare-d' takes no options, got \['width'\]: its "
                                            r"__init__ takes no keyword argument but those ganforge gives "
                                            r"\(channels, resolution\); add one with a default"):
        load_config("dcgan-fmnist", [*sets, "model.discriminator.options.width=8"])


def test_naming_another_network_drops_the_presets_options(tmp_path):
    from ganforge.config import load_config

    (tmp_path / "faulty_nets.py").write_text(FAULTY_NETS)
    plugin = f"plugins=['{tmp_path / 'faulty_nets.py'}']"
    cfg = load_config("dcgan-fmnist", [plugin, "model.discriminator.name=faulty-d"])
    assert cfg.model.discriminator.options == {} and cfg.model.generator.options == {"base_channels": 16}
    cfg = load_config("dcgan-fmnist", ["model.discriminator.name=dcgan", "model.discriminator.options.norm=none"])
    assert cfg.model.discriminator.options == {"base_channels": 16, "norm": "none"}  # the same name keeps them


def test_a_moved_run_finds_its_plugin_copied_into_its_folder(idx_root, tmp_path):
    """A run records its plugin's absolute path; moved to another machine, or with the file moved, it is
    sampled and resumed with the plugin copied into the run folder. In fresh processes: an imported plugin
    stays imported."""
    code, run = tmp_path / "code", tmp_path / "run"
    code.mkdir()
    (code / "faulty_nets.py").write_text(FAULTY_NETS)

    def ganforge(*args):
        return subprocess.run([sys.executable, "-m", "ganforge", *map(str, args)], capture_output=True, text=True,
                              timeout=300)

    sets = ["--set", f"plugins=['{code / 'faulty_nets.py'}']", "--set", "model.generator.name=faulty-g"]
    assert ganforge("train", "dcgan-fmnist", "--out", run, *sets, *tiny(idx_root, "train.max_steps=2")).returncode == 0
    (code / "faulty_nets.py").rename(tmp_path / "faulty_nets.py")
    gone = ganforge("sample", run, "--num", 4, "--out", tmp_path / "s.npy")
    assert gone.returncode == 2 and (f"plugin file '{code / 'faulty_nets.py'}' not found (looked in "
                                     f"{code / 'faulty_nets.py'}, {run / 'faulty_nets.py'}). The run in '{run}' was "
                                     "trained with it: put it back, or copy it into that folder.") in gone.stderr
    (tmp_path / "faulty_nets.py").rename(run / "faulty_nets.py")
    assert ganforge("sample", run, "--num", 4, "--out", tmp_path / "s.npy").returncode == 0
    # the run's own config.json as the config (a run not trained from a preset): it names the plugin's old path,
    # and was refused, "not found"; the resumed run names the copy from then on
    resumed = ganforge("train", run / "config.json", "--out", run, "--resume", "--set", "train.max_steps=4")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "config.json").read_text())["plugins"] == [str(run / "faulty_nets.py")]
    resumed = ganforge("train", "dcgan-fmnist", "--out", run, "--resume", *tiny(idx_root, "train.max_steps=6"))
    assert resumed.returncode == 0, resumed.stderr


def test_a_plugin_set_on_a_preset_is_found_from_any_folder(idx_root, tmp_path, monkeypatch):
    (tmp_path / "faulty_nets.py").write_text(FAULTY_NETS)
    monkeypatch.chdir(tmp_path)  # the user trains where the plugin is, naming it by a relative path
    assert run_cli("train", "dcgan-fmnist", "--out", "run", "--set", "plugins=['faulty_nets.py']",
                   "--set", "model.generator.name=faulty-g", *tiny(idx_root, "train.max_steps=2")) == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["plugins"] == [str(tmp_path / "faulty_nets.py")]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert run_cli("sample", tmp_path / "run", "--num", 4, "--out", "s.npy") == 0
