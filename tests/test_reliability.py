"""No run is lost: verified checkpoints, fallback, full disks, safe loading, one writer, health checks."""
import errno
import json
import os
import re
import resource
import signal
import time

import numpy as np
import pytest
import torch

import ganforge
from ganforge.errors import GanforgeError
from ganforge.memory import failed_allocation, is_out_of_memory
from ganforge.training import checkpoint as ckpt

from conftest import last_session_end, needs_debian_fashion_mnist, run_cli, run_subprocess, tiny


@pytest.fixture
def run4(idx_root, tmp_path):
    """A run with checkpoints at steps 2 and 4 (last.pt = step 4), one epoch of the 256 images at batch 64."""
    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run,
                   *tiny(idx_root, "train.max_steps=4", "log.checkpoint_every_steps=2", "train.batch_size=64")) == 0
    return run


def flip_byte(path, offset=-100):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------ verified checkpoints

def test_every_checkpoint_has_a_sidecar_that_verifies(run4):
    for name in ("last.pt", "step_0000002.pt", "step_0000004.pt"):
        path = run4 / "checkpoints" / name
        side = json.loads(ckpt.sidecar(path).read_text())
        assert side["size"] == path.stat().st_size and len(side["sha256"]) == 64
        assert ckpt.verify(path) is None


def test_corrupted_last_falls_back_to_newest_good(run4, idx_root, capsys):
    last = run4 / "checkpoints" / "last.pt"
    (run4 / "checkpoints" / "step_0000004.pt").unlink()  # last.pt is its own file now
    flip_byte(last)
    with pytest.raises(GanforgeError, match="is damaged: SHA-256 differs"):
        ckpt.load(last)
    assert run_cli("train", "dcgan-fmnist", "--out", run4, "--resume", *tiny(idx_root, "train.max_steps=6")) == 0
    err = capsys.readouterr().err
    assert "resuming from the newest good checkpoint" in err and "step_0000002.pt (step 2)" in err
    assert ckpt.load(last)["state"]["step"] == 6


def test_last_behind_a_newer_step_file_resumes_from_the_newer(run4):
    """A kill between writing step_N.pt and relinking last.pt: the newer step file wins."""
    folder = run4 / "checkpoints"
    for suffix in ("", ".sum"):
        (folder / f"last.pt{suffix}").unlink()  # a hard link to step_0000004.pt: unlink, don't overwrite
        (folder / f"last.pt{suffix}").write_bytes((folder / f"step_0000002.pt{suffix}").read_bytes())
    payload, path, notes = ckpt.load_latest(folder)
    assert path.name == "step_0000004.pt" and payload["state"]["step"] == 4 and notes == []


@pytest.mark.parametrize("damage, pattern", [
    (lambda p: p.write_bytes(b""), r"empty \(0 bytes\)"),
    (lambda p: p.write_bytes(p.read_bytes()[:1000]), r"size 1000 bytes, expected \d+ \(truncated"),
])
def test_zero_byte_and_truncated_checkpoints(run4, damage, pattern, tmp_path, capsys):
    last = run4 / "checkpoints" / "last.pt"
    (run4 / "checkpoints" / "step_0000004.pt").unlink()
    damage(last)
    with pytest.raises(GanforgeError, match=pattern):
        ckpt.load(last)
    assert run_cli("sample", last, "--num", 4, "--out", tmp_path / "x.npy") == 2  # an explicit file: no fallback
    assert "is damaged" in capsys.readouterr().err
    assert run_cli("sample", run4, "--num", 4, "--out", tmp_path / "y.npy") == 0  # a run folder: falls back
    assert "Using" in capsys.readouterr().err and np.load(tmp_path / "y.npy").shape == (4, 1, 28, 28)


def test_resume_after_a_kill_mid_write_of_metrics_jsonl(run4, idx_root):
    log = run4 / "metrics.jsonl"
    with open(log, "a") as f:
        f.write('{"step": 6, "images_se')  # the torn last line a kill during a write leaves
    assert run_cli("train", "dcgan-fmnist", "--out", run4, "--resume", *tiny(idx_root, "train.max_steps=6")) == 0
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]  # every line parses again
    assert steps == [2, 4, 6]


def test_truncated_checkpoint_without_sidecar(run4):
    last = run4 / "checkpoints" / "last.pt"
    ckpt.sidecar(last).unlink()
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    with pytest.raises(GanforgeError, match="is damaged, truncated or not a checkpoint"):
        ckpt.load(last)


def test_a_text_file_named_pt_is_not_a_checkpoint(tmp_path, capsys):
    text = tmp_path / "notes.pt"
    text.write_text("hello\n")  # torch's legacy unpickler fails on it with a KeyError
    assert run_cli("sample", text, "--out", tmp_path / "g.png") == 2
    assert "is damaged, truncated or not a checkpoint (KeyError" in capsys.readouterr().err


def test_resuming_a_finished_run_says_which_bound_to_raise(run4, idx_root, tmp_path, capsys):
    last = run4 / "checkpoints" / "last.pt"
    before = (last.stat().st_mtime_ns, (run4 / "metrics.jsonl").read_text())
    assert run_cli("train", "dcgan-fmnist", "--out", run4, "--resume", *tiny(idx_root, "train.max_steps=4")) == 0
    assert ("already reached train.max_steps=4 (it is at step 4); nothing to train. To train on, raise it: "
            f"ganforge train dcgan-fmnist --out {run4} --resume --set train.max_steps=...") in capsys.readouterr().err
    assert (last.stat().st_mtime_ns, (run4 / "metrics.jsonl").read_text()) == before  # nothing written
    # two bounds reached: both named at once, so that raising the one named does not meet the other
    assert run_cli("train", "dcgan-fmnist", "--out", run4, "--resume",
                   *tiny(idx_root, "train.max_steps=4", "train.max_seconds=0.001")) == 0
    assert ("already reached train.max_steps=4 (it is at step 4) and train.max_seconds=0.001 (it has trained ") in \
        (err := capsys.readouterr().err)
    assert (" s); nothing to train. To train on, raise them: ganforge train dcgan-fmnist --out "
            f"{run4} --resume --set train.max_steps=... --set train.max_seconds=...") in err
    # said from the checkpoint alone, before any data is read (here the data is gone); epochs at the new batch size
    gone = tiny(tmp_path / "gone", "train.max_steps=0", "train.max_epochs=1", "train.batch_size=48")
    assert run_cli("train", "dcgan-fmnist", "--out", run4, "--resume", *gone) == 0
    assert "already reached train.max_epochs=1 (it has trained 1 epoch); nothing to train" in capsys.readouterr().err


def test_checkpoint_of_another_network(run4, idx_root, capsys):
    assert run_cli("train", "dcgan-fmnist", "--out", run4, "--resume",
                   *tiny(idx_root, "model.generator.options.base_channels=8")) == 2
    err = capsys.readouterr().err  # names the --set that changed the network, not only torch's "Error(s) in ..."
    assert "does not fit this network, because --set changed model.generator.options.base_channels (16 in the run, " \
           "now 8)" in err and "(torch: size mismatch for " in err


def test_checkpoint_of_changed_network_code(idx_root, tmp_path, monkeypatch, capsys):
    """Same config, other weights: the plugin's code changed (here its width, read from the environment)."""
    (tmp_path / "width_g.py").write_text('''
import os, torch, torch.nn as nn
from ganforge.registry import GENERATORS

@GENERATORS.register("width-test")
class WidthG(nn.Module):
    def __init__(self, *, z_dim, channels, resolution):
        super().__init__()
        self.net = nn.Linear(z_dim, channels * resolution * resolution * int(os.environ["WIDTH_TEST"]))
        self.shape = (channels, resolution, resolution)
    def forward(self, z):
        return torch.tanh(self.net(z)[:, :self.shape[0] * self.shape[1] * self.shape[2]]).view(-1, *self.shape)
''')
    cfg = tmp_path / "w.toml"
    cfg.write_text('plugins = ["width_g.py"]\n[model]\ngenerator = { name = "width-test" }\n')
    run = tmp_path / "w"
    monkeypatch.setenv("WIDTH_TEST", "1")
    assert run_cli("train", cfg, "--out", run, *tiny(idx_root, "train.max_steps=2")) == 0
    monkeypatch.setenv("WIDTH_TEST", "2")
    assert run_cli("train", cfg, "--out", run, "--resume", *tiny(idx_root, "train.max_steps=4")) == 2
    assert "does not fit this network (size mismatch for net.weight" in capsys.readouterr().err
    assert run_cli("sample", run, "--out", tmp_path / "s.png") == 2
    assert "does not fit generator 'width-test' (size mismatch for net.weight" in capsys.readouterr().err


def test_a_refused_checkpoint_write_keeps_the_last_good_checkpoint(run4, idx_root):
    """A real refused write: the kernel fails writes past RLIMIT_FSIZE (EFBIG), as a full disk fails them (ENOSPC)."""
    limit = 1 << 20  # below a checkpoint's ~3 MB, above the samples and logs

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = run_subprocess("train", "dcgan-fmnist", "--out", run4, "--resume",
                          *tiny(idx_root, "train.max_steps=8", "log.checkpoint_every_steps=2"), preexec_fn=small_files)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in out, out
    assert "could not write checkpoint" in out and "File too large" in out and "previous checkpoint" in out
    assert ckpt.load(run4 / "checkpoints" / "last.pt")["state"]["step"] == 4
    assert not list((run4 / "checkpoints").glob(".*.tmp"))


def test_a_refused_write_of_any_output_is_one_line(idx_root, tmp_path):
    proc = run_subprocess("train", "dcgan-fmnist", "--out", tmp_path / "run", *tiny(idx_root, "train.max_steps=2"),
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024)))
    out, _ = proc.communicate(timeout=120)  # config.json (3 KB) is the first file over 1 KB
    assert proc.returncode == 2 and "Traceback" not in out, out
    assert re.search(r"could not write '.*config\.json': File too large\. Free some space", out)
    assert not list((tmp_path / "run").glob(".*.tmp"))


def test_a_refused_write_in_tensorboards_thread_is_one_line(idx_root, tmp_path):
    """The event file outgrows the limit first (a grid every step, no checkpoint before the end): TensorBoard's
    writer thread meets the refused write, and it printed a thread traceback before the one-line error."""
    proc = run_subprocess("train", "dcgan-fmnist", "--out", tmp_path / "run",
                          *tiny(idx_root, "train.max_steps=60", "log.sample_every_steps=1",
                                "log.checkpoint_every_steps=1000"),
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (600_000, 600_000)))
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in out and "Exception in thread" not in out, out
    assert "ganforge: error: File too large. Free some space" in out
    assert max(f.stat().st_size for f in (tmp_path / "run" / "tb").iterdir()) <= 600_000


def test_a_refused_write_of_the_lock_file_names_it(idx_root, tmp_path):
    proc = run_subprocess("train", "dcgan-fmnist", "--out", tmp_path / "run", *tiny(idx_root, "train.max_steps=2"),
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (8, 8)))
    out, _ = proc.communicate(timeout=120)  # "pid N on HOST" is longer than 8 bytes
    assert proc.returncode == 2 and "Traceback" not in out, out
    assert re.search(r"File too large \(writing '.*run/\.lock'\)\. Free some space", out), out


# ------------------------------------------------------------------ safe loading

class Exploit:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_checkpoint_never_runs(run4, tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = run4 / "checkpoints" / "last.pt"
    torch.save({"format": "ganforge-checkpoint", "G": Exploit(marker)}, evil)
    ckpt.sidecar(evil).unlink()
    (run4 / "checkpoints" / "step_0000004.pt").unlink()
    for args in (["sample", evil, "--num", 2, "--out", tmp_path / "s.npy"],
                 ["evaluate", evil, "--num", 2, "--metrics", "fid"]):
        assert run_cli(*args) == 2
        # Python 3.11 names open() io.open, 3.12 _io.open
        assert re.search(r"holds objects other than tensors and plain values \(_?io\.open\), so", capsys.readouterr().err)
    with pytest.raises(GanforgeError, match="loading it could run code"):
        ckpt.load(evil)
    assert not marker.exists()
    (tmp_path / "notes.txt").write_text("x\n")  # not a pickle at all: not accused of holding code
    np.save(tmp_path / "z.npy", np.zeros(3))
    for other in ("notes.txt", "z.npy"):
        with pytest.raises(GanforgeError, match=r"damaged, truncated or not a checkpoint \(it is not a PyTorch file"):
            ckpt.load(tmp_path / other)


# ------------------------------------------------------------------ one writer

def test_second_writer_is_refused_and_dead_lock_taken_over(idx_root, tmp_path, capsys):
    run = tmp_path / "run"
    proc = run_subprocess("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=100000"))
    t = time.time()
    while not (run / "metrics.jsonl").exists():
        assert proc.poll() is None and time.time() - t < 120
        time.sleep(0.05)
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume", *tiny(idx_root)) == 2
    assert f"live training process (pid {proc.pid} on" in capsys.readouterr().err
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = ckpt.load_latest(run / "checkpoints")
    target = (step[0]["state"]["step"] if step else 0) + 2
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume",
                   *tiny(idx_root, f"train.max_steps={target}")) == 0
    assert "taking over the lock of a process that is gone" in capsys.readouterr().err



def test_a_run_on_a_filesystem_without_locks_trains_with_a_warning(idx_root, tmp_path, no_file_locks, capsys):
    """Some network and FUSE filesystems refuse flock (ENOLCK): training ended in an OSError traceback, and
    ganforge runs too. Now the run trains, warned that nothing stops a second writer."""
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match=re.escape(f"run folder '{run}' is on a filesystem without locks (No locks "
                                                   "available), so nothing stops a second process from writing")):
        assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=2")) == 0
    assert run_cli("runs", run) == 0
    assert "dcgan-fmnist" in capsys.readouterr().out

# ------------------------------------------------------------------ health

def records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


ABSURD = ["optim_d.lr=1e30", "optim_g.lr=1e30", "health.check_every=1", "train.max_steps=50"]


def test_nan_stop_keeps_last_good_checkpoint(run4, idx_root, capsys):
    # resume a healthy run with absurd learning rates (the config's lr wins on resume)
    assert run_cli("train", "dcgan-fmnist", "--out", run4, "--resume", *tiny(idx_root, *ABSURD)) == 1
    err = capsys.readouterr().err
    assert "NaN/Inf in the losses or weights at step 5" in err
    assert (f"The last good checkpoint is step 4's, in {run4 / 'checkpoints'}; continue from it with lower learning "
            f"rates (ganforge train {run4 / 'config.json'} --out {run4} --resume --set optim_g.lr=... "
            "--set optim_d.lr=...), or set health.on_nan=rollback.") in err
    payload = ckpt.load(run4 / "checkpoints" / "last.pt")
    assert payload["state"]["step"] == 4
    end = last_session_end(run4)
    assert (end["how"], end["detail"]) == ("stopped", "NaN/Inf in the losses or weights at step 5")
    assert ganforge.runs(run4)[0]["detail"] == "by the health check (NaN/Inf); resume=True continues it"
    assert all(torch.isfinite(t).all() for net in ("G", "D") for t in payload[net].values() if t.is_floating_point())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_the_nan_check_sees_any_log_or_weight(bad):
    """The check reads all logs in one op: of any shape and dtype (a bf16 score mean among fp32 losses)."""
    from ganforge.training.hooks.health import _finite_logs, _finite_weights

    logs = [torch.tensor(0.7), torch.tensor(-3.0, dtype=torch.bfloat16), torch.zeros(2, 3)]
    assert _finite_logs(logs) and _finite_logs([]) and _finite_weights(logs) and _finite_weights([])
    for i in range(len(logs)):
        spoiled = [t.clone() for t in logs]
        spoiled[i].view(-1)[-1] = bad
        assert not _finite_logs(spoiled) and not _finite_weights(spoiled)


def test_nan_rollback_halves_learning_rates_then_gives_up(run4, idx_root, capsys):
    assert run_cli("train", "dcgan-fmnist", "--out", run4, "--resume",
                   *tiny(idx_root, *ABSURD, "health.on_nan=rollback", "health.max_rollbacks=2")) == 1
    err = capsys.readouterr().err
    assert "rolled back to" in err and "(rollback 1 of 2)" in err and "(rollback 2 of 2)" in err
    assert "2 rollbacks, each halving the learning rates, did not help; continue with lower learning rates" in err
    assert "set health.on_nan=rollback" not in err  # it was suggested though it was the setting that had failed
    warnings = [r for r in records(run4) if r.get("warning") == "health"]
    assert len(warnings) == 2 and "0.25 x their config values" in warnings[1]["message"]


def test_nan_before_the_first_checkpoint_says_none_was_written(idx_root, tmp_path, capsys):
    """It said "The last good checkpoint is in RUN/checkpoints", an empty folder."""
    run = tmp_path / "r"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, *ABSURD)) == 1
    err = capsys.readouterr().err
    assert ("at step 1; stopped without saving that state. No checkpoint had been written yet; train again from step 0 "
            f"with lower learning rates (ganforge train {run / 'config.json'} --out {run} --resume --set optim_g.lr=... "
            "--set optim_d.lr=...).") in err
    assert ganforge.runs(run)[0]["detail"] == ("stopped before its first, by the health check (NaN/Inf); it trains "
                                               "again from step 0")  # it said "stopped before its first" alone
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume", *tiny(idx_root, "train.max_steps=4")) == 0


def test_resume_applies_new_learning_rate(run4, idx_root):
    assert run_cli("train", "dcgan-fmnist", "--out", run4, "--resume",
                   *tiny(idx_root, "train.max_steps=6", "optim_g.lr=1e-5")) == 0
    opt = ckpt.load(run4 / "checkpoints" / "last.pt")["opt_g"]
    assert all(g["lr"] == 1e-5 for g in opt["param_groups"])


@pytest.mark.parametrize("smoothing", [[], ["objective.label_smoothing=0.1", "health.score_gap=1e9"]])
def test_d_overpowering_g_is_reported(idx_root, tmp_path, capsys, smoothing):
    """With label smoothing (and the score gap out of the way) D's loss cannot fall below its floor of 0.05, as
    its least is the entropy of 0.9: the floor counts from that least."""
    run = tmp_path / "dwins"
    # G barely learns (lr 1e-9) while D learns fast: D separates real from fake within the window
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(
        idx_root, "optim_g.lr=1e-9", "optim_d.lr=5e-3", "train.max_steps=120", "health.window=20",
        "health.check_every=1000", *smoothing)) == 0
    assert "D overpowers G" in capsys.readouterr().err
    warn = [r for r in records(run) if r.get("warning") == "d_wins"]
    smoothing_tip = "" if smoothing else " one-sided label smoothing (objective.label_smoothing=0.1),"
    assert warn and warn[0]["message"].endswith(
        f"steps): try a lower optim_d.lr,{smoothing_tip} a gradient penalty (objective.r1_gamma) or DiffAugment for "
        'a small dataset (objective.diffaugment="color,translation,cutout").')


@pytest.mark.parametrize("sets, tips", [
    ({}, "a lower optim_d.lr, one-sided label smoothing (objective.label_smoothing=0.1), a gradient penalty "
         '(objective.r1_gamma) or DiffAugment for a small dataset (objective.diffaugment="color,translation,cutout")'),
    ({"loss": "hinge", "n_critic": 2, "r1_gamma": 1.0, "diffaugment": "translation"},
     "objective.n_critic=1 (now 2) or a lower optim_d.lr"),
    ({"loss": "lsgan", "label_smoothing": 0.1, "gp_weight": 10.0, "diffaugment": "color"}, "a lower optim_d.lr"),
])
def test_the_d_wins_advice_leaves_out_what_the_run_does(sets, tips):
    """It told every run to set n_critic=1 (most had it), label smoothing (which hinge refuses) and a penalty."""
    from ganforge.config import ObjectiveConfig
    from ganforge.losses import build_loss
    from ganforge.training.hooks.health import d_wins_advice

    ob = ObjectiveConfig(**sets)
    assert d_wins_advice(ob, build_loss(ob.loss)) == "try " + tips


def test_a_wasserstein_critics_gap_is_not_reported_as_d_winning(idx_root, tmp_path, capsys):
    """A WGAN critic's score gap estimates the Wasserstein distance, large and growing while G is poor:
    hw6-wgan-gp-64 on a garment folder had 7 at step 40 and 31 at step 400, and the check told the student
    to drop n_critic to 1 and add label smoothing or a gradient penalty, which the recipe has."""
    run = tmp_path / "wgan"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(
        idx_root, "objective.loss=wgan", "objective.gp_weight=10", "optim_g.lr=1e-9", "optim_d.lr=5e-3",
        "train.max_steps=120", "health.window=20", "health.check_every=1000", "log.every_steps=1",
        "log.sample_every_steps=0", "log.checkpoint_every_steps=0", "train.batch_size=32")) == 0  # 3 s, not 10
    gaps = [r["d_real"] - r["d_fake"] for r in records(run) if "d_real" in r]
    assert max(gaps[-20:]) > 12  # above the score gap that means D wins for the other losses
    assert "D overpowers G" not in capsys.readouterr().err


def test_seed_001s_early_phase_is_not_reported_as_mode_collapse(tmp_path):
    """Its G's samples stay alike until about step 850 and then spread by themselves; with the default warm-up
    of 200 steps the health check warned of mode collapse at steps 200, 400, 600 and 800 of the seed's recipe."""
    needs_debian_fashion_mnist()
    run = tmp_path / "seed001"
    assert run_cli("train", "mlp-gan-fmnist", "--out", run, "--set", "train.max_steps=1100", "--set",
                   "log.progress=false", "--set", "log.sample_every_steps=100000") == 0
    assert not [r for r in records(run) if r.get("warning") == "collapse"]


GENERATOR_PLUGIN = '''
import torch, torch.nn as nn
from ganforge.registry import GENERATORS

@GENERATORS.register("{name}-test")
class G(nn.Module):
    """{doc}"""
    def __init__(self, *, z_dim, channels, resolution):
        super().__init__()
        self.shape = (channels, resolution, resolution)
        {init}
    def forward(self, z):
        return {forward}
'''


def generator_plugin(tmp_path, name: str, doc: str, init: str, forward: str):
    """A config that trains the plugin G ``{name}-test`` (``init``'s line in its __init__, ``forward``'s value
    returned; ``self.shape`` is (C, H, W)) against the dcgan D."""
    (tmp_path / f"{name}_g.py").write_text(GENERATOR_PLUGIN.format(name=name, doc=doc, init=init, forward=forward))
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(f'plugins = ["{name}_g.py"]\n[model]\ngenerator = {{ name = "{name}-test" }}\n'
                   '[model.discriminator]\nname = "dcgan"\n')
    return cfg


def test_a_generator_without_a_bound_at_its_output_is_named(idx_root, tmp_path, capsys):
    """A G of one's own that forgets the tanh (the seeds' Ms end in nn.Tanh()) draws values far outside the [-1, 1]
    the real images are scaled to: D tells fakes by their range, and the grids clip them, so nothing showed it."""
    cfg = generator_plugin(tmp_path, "unbounded", "A linear map to pixels, with no tanh after it.",
                           "self.fc = nn.Linear(z_dim, channels * resolution * resolution)",
                           "3 * self.fc(z).view(-1, *self.shape)")
    run = tmp_path / "unbounded"
    assert run_cli("train", cfg, "--out", run, *tiny(idx_root, "train.max_steps=4", "health.check_every=2")) == 0
    warned = [r["message"] for r in records(run) if r.get("warning") == "range"]
    assert len(warned) == 1 and re.fullmatch(
        r"G's samples reach -?\d+\.\d\d, outside the \[-1, 1\] the real images are scaled to: D can tell fakes by "
        r"their range alone, and grids and saved samples clip them\. End G with a tanh, as the built-in generators "
        r"do\.", warned[0]), warned
    assert "warning: step 2: G's samples reach" in capsys.readouterr().err
    # a G that ends in a tanh is not told so (the default network, before its diversity check's warm-up too)
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "d", *tiny(idx_root, "train.max_steps=4",
                                                                            "health.check_every=2")) == 0
    assert not [r for r in records(tmp_path / "d") if r.get("warning") == "range"]


def test_constant_generator_is_mode_collapse(idx_root, tmp_path, capsys):
    cfg = generator_plugin(tmp_path, "constant", "Ignores z: every sample is the same image.",
                           "self.image = nn.Parameter(torch.zeros(1, channels, resolution, resolution))",
                           "torch.tanh(self.image).expand(z.shape[0], -1, -1, -1)")
    run = tmp_path / "collapse"
    assert run_cli("train", cfg, "--out", run, *tiny(idx_root, "train.max_steps=4", "health.check_every=2",
                                                      "health.warmup_steps=2")) == 0
    assert "mode collapse" in capsys.readouterr().err
    warned = [r["message"] for r in records(run) if r.get("warning") == "collapse"]
    assert warned and warned[0].endswith("as much as real images do: try a lower optim_g.lr, a gradient penalty "
                                         "(objective.r1_gamma or gp_weight) or a larger batch (train.batch_size is "
                                         "64).")
    # a run with a penalty is not told to add one (it was)
    assert run_cli("train", cfg, "--out", tmp_path / "r1", *tiny(idx_root, "train.max_steps=4", "health.check_every=2",
                                                                   "health.warmup_steps=2", "objective.r1_gamma=1")) == 0
    assert [r["message"] for r in records(tmp_path / "r1") if r.get("warning") == "collapse"][0].endswith(
        "try a lower optim_g.lr or a larger batch (train.batch_size is 64).")


def test_healthy_run_has_no_warnings(idx_root, tmp_path):
    run = tmp_path / "ok"
    # a short D-wins window; diversity is checked only after health.warmup_steps (default 200), see HealthConfig
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=20",
                                                                "health.check_every=5", "health.window=5")) == 0
    assert not [r for r in records(run) if "warning" in r]


# ------------------------------------------------------------------ output paths

@pytest.mark.parametrize("command, out, pattern", [
    ("sample", "blocker/grid.png", r"cannot create the folder '.*blocker'"),
    ("sample", "blocker/images", r"cannot create the folder '.*blocker/images': '.*blocker' is a file, not a folder"),
    ("sample", "a_folder.png", r"cannot write '.*a_folder.png': it is a folder"),
    ("sample", "grid.jpg", r"--out '.*grid.jpg': ganforge writes lossless PNG images"),
    ("sample", "grid.ppm", r"--out '.*grid.ppm': ganforge writes lossless PNG images"),  # read, so not a folder
    # an animation is of walks: the .gif that --interpolate writes, asked for without it
    ("sample", "walks.gif", r"--out '.*walks.gif': an animation is of walks through the noise space: add "
                            r"--interpolate STEPS \(ganforge timelapse RUN --out walks.gif animates the run's sample "
                            r"grids\); samples go to a .png grid, a .npy or a folder"),
    ("data", "blocker/images.npy", r"cannot create the folder '.*blocker'"),
])
def test_an_output_that_cannot_be_written_is_bad_input(run4, idx_root, tmp_path, capsys, command, out, pattern):
    """A file where a folder should be (or the reverse) is a one-line error, exit 2, before any write."""
    (tmp_path / "blocker").write_text("a file, not a folder")
    (tmp_path / "a_folder.png").mkdir()
    args = (["sample", run4, "--num", "4"] if command == "sample"
            else ["data", "fashion-mnist", "--root", idx_root, "--num", "4"])
    assert run_cli(*args, "--out", tmp_path / out) == 2
    err = capsys.readouterr().err
    assert re.search(pattern, err) and "Traceback" not in err


def test_a_command_that_fails_after_the_output_check_leaves_no_folder(run4, tmp_path, capsys):
    """The output's missing folders are tried, not made, before the work: a source that does not exist left
    the empty folders of --out and --json behind."""
    assert run_cli("sample", tmp_path / "no_run", "--out", tmp_path / "new" / "deep" / "grid.png") == 2
    assert run_cli("evaluate", tmp_path / "no_run", "--json", tmp_path / "new2" / "e.json") == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "new").exists() and not (tmp_path / "new2").exists()
    assert run_cli("sample", run4, "--num", "4", "--out", tmp_path / "new" / "deep" / "grid.png") == 0  # made here
    assert (tmp_path / "new" / "deep" / "grid.png").is_file() and not list((tmp_path / "new").glob(".*"))


@pytest.mark.parametrize("command", ["evaluate", "bench"])
def test_a_json_path_that_cannot_be_written_fails_before_the_work(run4, idx_root, tmp_path, capsys, command):
    (tmp_path / "blocker").write_text("a file, not a folder")
    args = (["evaluate", run4, "--num", "8", "--metrics", "kid"] if command == "evaluate"
            else ["bench", "train", "dcgan-fmnist", "--steps", "1", *tiny(idx_root)])
    assert run_cli(*args, "--json", tmp_path / "blocker" / "out.json") == 2
    out, err = capsys.readouterr()
    assert re.search(r"cannot create the folder '.*blocker'", err) and "Traceback" not in err
    assert out == ""  # no table, no benchmark: it stopped before measuring anything


def test_written_files_get_the_usual_permissions(run4, tmp_path):
    """Atomic writes go through a 0600 temp file; the result must still be readable as the umask allows."""
    umask = os.umask(0)
    os.umask(umask)
    assert run_cli("sample", run4, "--num", "4", "--out", tmp_path / "grid.png") == 0
    for path in (tmp_path / "grid.png", run4 / "config.json", run4 / "checkpoints" / "last.pt"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path


HUNGRY_NET = '''
from dataclasses import dataclass
import torch
import torch.nn as nn
from ganforge.registry import GENERATORS

@dataclass(frozen=True)
class Hunger:
    after: int = 0  # steps' forwards before it asks too much whatever the batch (0: never)

@GENERATORS.register("hungry-g", Hunger)
class HungryG(nn.Module):
    """A G whose training activations at 64 images do not fit: it asks torch's allocator for 1 PB."""
    def __init__(self, opts, *, z_dim, channels, resolution):
        super().__init__()
        self.shape, self.fc = (channels, resolution, resolution), nn.Linear(z_dim, channels * resolution ** 2)
        self.after, self.calls = opts.after, 0
    def forward(self, z):
        step = self.training and torch.is_grad_enabled()  # a step's forward, not the training-mode probe's
        self.calls += step
        if step and (z.shape[0] >= 64 or self.calls == self.after):
            torch.empty(1 << 50, dtype=torch.uint8, device=z.device)
        return torch.tanh(self.fc(z)).view(-1, *self.shape)
'''


def test_a_batch_that_runs_out_of_memory_names_the_batch_and_keeps_the_run(idx_root, tmp_path, capsys):
    """The allocator's failure was a traceback, exit 1: it is a setting too large for the machine, said as one, with
    the gradient accumulation that keeps the images per update, and the resume that goes on with less."""
    (tmp_path / "hungry.py").write_text(HUNGRY_NET)
    run = tmp_path / "run"
    sets = tiny(idx_root, f"plugins=['{tmp_path / 'hungry.py'}']", "model.generator.name=hungry-g")
    assert run_cli("train", "dcgan-fmnist", "--out", run, *sets, "--set", "train.batch_size=32",
                   "--set", "train.max_steps=4") == 0
    capsys.readouterr()
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume", *sets, "--set", "train.batch_size=64",
                   "--set", "train.max_steps=6") == 2
    err = capsys.readouterr().err
    assert err.endswith("ganforge: error: step 5 ran out of memory (torch could not allocate 1,125,899.9 GB more): "
                          "its batch of train.batch_size=64 images needs more than this machine has room for with "
                          "these networks. Lower train.batch_size, or keep 64 images per update with "
                          "train.batch_size=32 and objective.accumulate=2 (gradients summed over 2 smaller batches). "
                          "The run is kept at its last checkpoint; continue it with the smaller batch: ganforge train "
                          f"dcgan-fmnist --out {run} --resume --set train.batch_size=...\n"), err
    assert "Traceback" not in err and ckpt.load(run / "checkpoints" / "last.pt")["state"]["step"] == 4
    assert last_session_end(run)["how"] == "error"
    # a new run that cannot take its first step leaves no files, as any failed start
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "new", *sets, "--set", "train.batch_size=64") == 2
    assert "step 1 ran out of memory" in capsys.readouterr().err and not (tmp_path / "new").exists()
    # and the other commands: bench train's steps are training's
    assert run_cli("bench", "train", "dcgan-fmnist", "--steps", 1, *sets, "--set", "train.batch_size=64") == 2
    assert capsys.readouterr().err.endswith("ganforge: error: ganforge bench train ran out of memory (torch could not "
                                            "allocate 1,125,899.9 GB more). Lower the batch: --set "
                                            "train.batch_size=...\n")
    # a GPU's wording (tests/test_cuda.py meets the real one)
    gpu = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of "
                                 "79.19 GiB of which 1.06 GiB is free.")
    assert is_out_of_memory(gpu) and failed_allocation(gpu) == "torch could not allocate 2.00 GiB more on the GPU"
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    # one that ran out before its first checkpoint (every 4 steps here) is started again
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "new", *sets, "--set", "train.batch_size=32",
                   "--set", "model.generator.options.after=3") == 2
    assert capsys.readouterr().err.endswith("step 3 ran out of memory (torch could not allocate 1,125,899.9 GB more): "
                                            "its batch of train.batch_size=32 images needs more than this machine has "
                                            "room for with these networks. Lower train.batch_size, or keep 32 images "
                                            "per update with train.batch_size=16 and objective.accumulate=2 (gradients "
                                            "summed over 2 smaller batches). It saved no checkpoint yet; start it "
                                            "again with the smaller batch and --force.\n")
