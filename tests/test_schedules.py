"""Learning-rate schedules (ganforge.schedules): the same learning rates as torch's schedulers, checked
config, what a run logs and uses, and a resume that keeps or changes them."""
import json
import math
import re

import pytest
import torch

from ganforge.config import OptimizerConfig, TrainConfig, load_config
from ganforge.errors import GanforgeError
from ganforge.schedules import decay_length, learning_rate
from ganforge.training import checkpoint as ckpt

from conftest import run_cli, tiny


def torch_rates(make_scheduler, steps: int, lr: float) -> list[float]:
    """The learning rate each of ``steps`` steps uses under a torch scheduler stepped once per step."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = make_scheduler(opt)
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def ours(opt: OptimizerConfig, steps: int, length: int = 0) -> list[float]:
    return [learning_rate(opt, s, length) for s in range(steps)]


@pytest.mark.parametrize("name", ["linear", "linear-to-min", "cosine-restarts", "multistep"])
def test_the_schedules_give_torchs_learning_rates(name):
    """Each schedule against the torch scheduler the preset it serves names (SNGAN's LambdaLR, MMagic's
    CosineRestartLR as torch's warm restarts with equal periods, MultiStepLR), step by step."""
    L = 40
    lr = 2e-4
    if name == "linear":  # pytorch-gan-collections: lambda step: 1 - step / total_steps
        want = torch_rates(lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda s: 1 - s / L), L, lr)
        got = ours(OptimizerConfig(lr=lr, schedule="linear"), L, decay_length(
            OptimizerConfig(schedule="linear"), TrainConfig(max_steps=L), 0))
    elif name == "linear-to-min":  # then it stays at min_lr
        want = torch_rates(lambda o: torch.optim.lr_scheduler.LinearLR(o, 1.0, 0.1, total_iters=L), 2 * L, lr)
        got = ours(OptimizerConfig(lr=lr, schedule="linear", min_lr=lr * 0.1, decay_steps=L), 2 * L, L)
    elif name == "cosine-restarts":
        want = torch_rates(lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, L, eta_min=1e-7),
                           3 * L, lr)
        got = ours(OptimizerConfig(lr=lr, schedule="cosine", min_lr=1e-7, decay_steps=L), 3 * L, L)
    else:
        want = torch_rates(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [10, 25], 0.5), L, lr)
        got = ours(OptimizerConfig(lr=lr, schedule="multistep", milestones=(10, 25), gamma=0.5), L)
    assert got == pytest.approx(want, rel=1e-6, abs=1e-12)
    assert len(set(got)) > 2  # it changes


def test_warmup_ramps_up_then_the_decay_counts_from_its_end():
    opt = OptimizerConfig(lr=1e-3, schedule="cosine", warmup_steps=4, decay_steps=10)
    rates = ours(opt, 30, 10)
    assert rates[:5] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3])  # from lr / warmup_steps
    assert rates[4 + 5] == pytest.approx(5e-4)  # halfway down the cosine, counted from the warm-up's end
    assert rates[4 + 10] == pytest.approx(1e-3)  # and again
    # over the run: decay_steps 0 is the steps after the warm-up
    assert decay_length(OptimizerConfig(schedule="linear", warmup_steps=4), TrainConfig(max_steps=100), 0) == 96
    # or train.max_epochs in steps
    assert decay_length(OptimizerConfig(schedule="linear"), TrainConfig(max_epochs=2.5), 10) == 25


def test_the_presets_follow_their_sources_schedules():
    """SRGAN's MultiStepLR, MSRResNet's and SRCNN's CosineRestartLR, SNGAN's linear decay."""
    for side in ("optim_g", "optim_d"):
        opt = getattr(load_config("srgan-x4"), side)
        assert [learning_rate(opt, s, 0) for s in (49_999, 50_000, 100_000, 300_000)] == \
            pytest.approx([1e-4, 5e-5, 2.5e-5, 6.25e-6])
        cfg = load_config("sngan-cifar10")
        opt = getattr(cfg, side)
        length = decay_length(opt, cfg.train, 0)
        assert learning_rate(opt, 50_000, length) == pytest.approx(1e-4)
        assert learning_rate(opt, 99_999, length) == pytest.approx(2e-9)
    for preset in ("srcnn-x4", "msrresnet-x4"):
        opt = load_config(preset).optim_g
        assert [learning_rate(opt, s, 250_000) for s in (0, 125_000, 250_000)] == \
            pytest.approx([2e-4, (2e-4 + 1e-7) / 2, 2e-4])


@pytest.mark.parametrize("sets, message", [
    (["optim_g.schedule=cosin"], "config key 'optim_g.schedule' is 'cosin'. Did you mean 'cosine'? Valid schedules: "
                                 "constant, linear, cosine, multistep."),
    (["optim_d.milestones=[100]"], "config key 'optim_d.milestones' is set, but optim_d.schedule is 'constant', "
                                   "which does not read it (the multistep schedule does); set optim_d.schedule or "
                                   "drop optim_d.milestones."),
    (["optim_g.schedule=multistep", "optim_g.min_lr=1e-6", "optim_g.milestones=[5]"],
     "config key 'optim_g.min_lr' is set, but optim_g.schedule is 'multistep', which does not read it (linear and "
     "cosine do)"),
    (["optim_g.schedule=multistep"], "optim_g.schedule 'multistep' needs optim_g.milestones, the steps at which lr "
                                     "is multiplied by optim_g.gamma: e.g. --set optim_g.milestones=[50000,100000]."),
    (["optim_g.schedule=multistep", "optim_g.milestones=[200,100]"],
     "config key 'optim_g.milestones' must be steps > 0 in increasing order, got [200, 100]."),
    (["optim_g.schedule=multistep", "optim_g.milestones=[5]", "optim_g.gamma=0"],
     "config key 'optim_g.gamma' must be > 0, got 0.0"),
    (["optim_g.schedule=cosine"], "optim_g.schedule 'cosine' falls to min_lr over optim_g.decay_steps, or over the "
                                  "whole run when that is 0, but the run has no step or epoch bound (a time bound "
                                  "does not say how many steps it will take); set optim_g.decay_steps, "
                                  "train.max_steps or train.max_epochs."),
    (["optim_g.schedule=linear", "optim_g.decay_steps=10", "optim_g.min_lr=1"],
     "config key 'optim_g.min_lr' is 1, not below optim_g.lr (0.0004); the linear schedule falls from lr to min_lr."),
    (["optim_g.schedule=linear", "train.max_steps=100", "optim_g.warmup_steps=100"],
     "config key 'optim_g.warmup_steps' is 100, not below train.max_steps (100): no steps would be left to decay"),
    (["optim_d.warmup_steps=-1"], "config key 'optim_d.warmup_steps' must be >= 0, got -1."),
])
def test_a_schedule_the_run_cannot_follow_is_refused(sets, message):
    with pytest.raises(GanforgeError, match=re.escape(message)):
        load_config("dcgan-fmnist", sets)


SCHEDULED = ("optim_g.schedule=cosine", "optim_g.decay_steps=4", "optim_d.schedule=multistep",
             "optim_d.milestones=[3,7]", "optim_d.warmup_steps=2", "log.every_steps=1")


def test_a_run_uses_and_logs_its_schedules_learning_rates(idx_root, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=9", *SCHEDULED)) == 0
    cfg = load_config(str(run / "config.json"))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    # each record's rates are those of the step just taken (records count steps from 1)
    assert [r["lr_g"] for r in records] == pytest.approx([learning_rate(cfg.optim_g, r["step"] - 1, 4)
                                                          for r in records])
    assert [r["lr_d"] for r in records] == pytest.approx([learning_rate(cfg.optim_d, r["step"] - 1, 0)
                                                          for r in records])
    assert records[3]["lr_g"] == pytest.approx(cfg.optim_g.lr * (1 + math.cos(math.pi * 3 / 4)) / 2)
    assert records[4]["lr_g"] == pytest.approx(cfg.optim_g.lr)  # the cosine restarted
    assert records[0]["lr_d"] == pytest.approx(cfg.optim_d.lr / 2)  # warming up
    # the optimizers held them: the checkpoint's are the last step's
    payload = ckpt.load(run / "checkpoints" / "last.pt")
    assert payload["opt_d"]["param_groups"][0]["lr"] == pytest.approx(cfg.optim_d.lr * 0.01)
    capsys.readouterr()


def test_a_resume_that_stretches_a_schedule_says_so(idx_root, tmp_path, capsys):
    """A schedule over the run follows train.max_steps: raising it on a resume changes the learning rate at once.
    A resume of the same schedule says nothing."""
    run = tmp_path / "run"
    sets = ("optim_g.schedule=linear", "optim_g.min_lr=1e-5")
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=6", *sets)) == 0
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume", *tiny(idx_root, "train.max_steps=8", *sets)) == 0
    err = capsys.readouterr().err
    # 1e-5 + 3.9e-4 * (1 - 5/6) at the checkpoint's sixth step; 1e-5 + 3.9e-4 * (1 - 6/8) at the next
    assert ("ganforge: this config changes optim_g's learning rate: step 7 trains at 0.0001075, where the checkpoint's "
            "step 6 trained at 7.5e-05; "
            "its linear schedule now spans 8 steps, not 6, as it follows the run's bound (set optim_g.decay_steps to "
            "keep a length of its own).") in err
    assert "optim_d" not in err
    fixed, run = (*sets, "optim_g.decay_steps=6"), tmp_path / "fixed"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=6", *fixed)) == 0
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume", *tiny(idx_root, "train.max_steps=8", *fixed)) == 0
    assert "learning rate" not in capsys.readouterr().err


def test_a_rollback_halves_the_schedules_learning_rate(idx_root, tmp_path):
    """The health monitor's factor multiplies the schedule rather than replacing it, and a hook's factor too."""
    from ganforge.training.loop import Trainer

    cfg = load_config("dcgan-fmnist", [f"data.root={idx_root}", "train.max_steps=20", "optim_g.schedule=linear"])
    trainer = Trainer(cfg, tmp_path)
    trainer.state.step = 10
    trainer.set_rollback_scale(0.5)
    assert trainer.learning_rates()["lr_g"] == pytest.approx(0.5 * learning_rate(cfg.optim_g, 10, 20))
    assert trainer.learning_rates()["lr_d"] == pytest.approx(0.5 * cfg.optim_d.lr)
    trainer.set_lr_scale(0.2)  # a hook's
    assert trainer.learning_rates()["lr_d"] == pytest.approx(0.1 * cfg.optim_d.lr)
    with pytest.raises(ValueError, match="set_lr_scale needs a finite factor above 0, got 0"):
        trainer.set_lr_scale(0)


def test_dry_run_says_each_schedule(capsys):
    assert run_cli("train", "srgan-x4", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "G 'msrresnet': 1,517,571 parameters; learning rate 0.0001, times 0.5 at steps 50,000, 100,000, 200,000, " \
           "300,000" in out
    assert run_cli("train", "msrresnet-x4", "--dry-run") == 0
    assert "learning rate cosine from 0.0002 to 1e-07 every 250,000 steps" in capsys.readouterr().out
