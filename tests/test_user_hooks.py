"""A user's own hooks (training/hooks/user.py): registered by a plugin, named in a config, run and resumed."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ganforge.config import load_config
from ganforge.registry import HOOKS
from ganforge.schedules import learning_rate
from ganforge.training import checkpoint as ckpt
from ganforge.training.hooks import Hook

from conftest import run_cli, tiny

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
_BUILT: list["_Counting"] = []  # every instance the trainer built, newest last


@dataclass(frozen=True)
class _CountingOptions:
    every: int = 1


@HOOKS.register("test-counting", _CountingOptions)
class _Counting(Hook):
    """Records the steps it saw (every ``every``) in its state, and counts its start and end events."""

    def __init__(self, options: _CountingOptions) -> None:
        self.every, self.steps, self.events = options.every, [], []
        _BUILT.append(self)

    def on_train_start(self, trainer) -> None:
        self.events.append("start")

    def on_step_end(self, trainer, logs) -> None:
        if trainer.state.step % self.every == 0:
            self.steps.append(trainer.state.step)
            assert "loss_g" in logs

    def on_train_end(self, trainer) -> None:
        self.events.append("end")

    def state_dict(self) -> dict:
        return {"steps": list(self.steps)}

    def load_state_dict(self, state: dict) -> None:
        self.steps = list(state.get("steps", []))


HOOKS.register("test-not-a-hook")(lambda: 3)


@HOOKS.register("test-halve-lr")
class _HalveLr(Hook):
    """Halves the learning rates after step 3, as a reduce-on-plateau hook would (a hook without options)."""

    def on_step_end(self, trainer, logs) -> None:
        if trainer.state.step == 3:
            trainer.set_lr_scale(trainer.state.lr_scale * 0.5)


def test_a_hook_runs_saves_its_state_and_resumes(idx_root, tmp_path):
    run = tmp_path / "r"
    hooks = "hooks=[{name = 'test-counting', options = {every = 2}}]"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, hooks, "train.max_steps=5")) == 0
    assert _BUILT[-1].steps == [2, 4] and _BUILT[-1].events == ["start", "end"]
    # it runs before the checkpointer: the checkpoint of step 4 holds what the hook saw at step 4
    assert ckpt.load(run / "checkpoints" / "step_0000004.pt")["hooks"]["user/test-counting"] == {"steps": [2, 4]}
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume", *tiny(idx_root, "train.max_steps=8")) == 0
    assert _BUILT[-1].steps == [2, 4, 6, 8]  # its state came back from step 5's checkpoint
    assert ckpt.load(run / "checkpoints" / "last.pt")["hooks"]["user/test-counting"] == {"steps": [2, 4, 6, 8]}


def test_a_hooks_learning_rate_factor_follows_the_schedule_and_a_resume(idx_root, tmp_path):
    """set_lr_scale multiplies the scheduled rates from the next step on, and the checkpoint keeps it: before,
    a hook could only write the optimizers' param_groups, which the schedule and a resume overwrote."""
    run = tmp_path / "r"
    sets = ("optim_g.schedule=linear", "optim_g.decay_steps=10", "optim_g.min_lr=1e-5", "log.every_steps=1")
    assert run_cli("train", "dcgan-fmnist", "--out", run,
                   *tiny(idx_root, "hooks=[{name = 'test-halve-lr'}]", "train.max_steps=6", *sets)) == 0
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume", *tiny(idx_root, "train.max_steps=9", *sets)) == 0
    cfg = load_config(str(run / "config.json"))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 10))
    # records count steps from 1 and log the rates of the step just taken: the hook acted after step 3
    factor = [1.0 if r["step"] <= 3 else 0.5 for r in records]
    assert [r["lr_g"] for r in records] == pytest.approx([f * learning_rate(cfg.optim_g, r["step"] - 1, 10)
                                                          for f, r in zip(factor, records)])
    assert [r["lr_d"] for r in records] == pytest.approx([f * cfg.optim_d.lr for f in factor])
    assert ckpt.load(run / "checkpoints" / "last.pt")["state"]["lr_scale"] == 0.5


def test_the_example_hook_writes_weight_norms_to_tensorboard(idx_root, tmp_path):
    run = tmp_path / "r"
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--set", f"plugins=['{EXAMPLES / 'custom_hook.py'}']",
                   *tiny(idx_root, "hooks=[{name = 'example-weight-norms', options = {every = 3}}]",
                         "train.max_steps=6")) == 0
    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    for net in ("G", "D"):
        norms = events.Scalars(f"weights/{net}")
        assert [e.step for e in norms] == [3, 6] and all(e.value > 0 for e in norms)


@HOOKS.register("test-keyword-every")
class _KeywordEvery(Hook):
    """A hook that takes its option as a keyword argument, without an options dataclass."""

    def __init__(self, every: int = 1) -> None:
        self.every = every
        _BUILT.append(self)


def test_a_hook_without_an_options_dataclass_takes_its_keyword_arguments(idx_root, tmp_path):
    hooks = "hooks=[{name = 'test-keyword-every', options = {every = 3}}]"
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "r", *tiny(idx_root, hooks, "train.max_steps=1")) == 0
    assert isinstance(_BUILT[-1], _KeywordEvery) and _BUILT[-1].every == 3


@pytest.mark.parametrize("hooks, message", [
    ("[{name = 'nope'}]", "unknown hook 'nope'"),
    ("[{name = 'test-keyword-every', options = {evry = 2}}]",
     "unknown option 'evry' for hooks[0] 'test-keyword-every'. Did you mean 'every'? Valid options (its __init__'s "
     "keyword arguments): every."),
    ("[{name = 'test-halve-lr', options = {after = 2}}]",
     "hooks[0] 'test-halve-lr' takes no options, got ['after']: its __init__ takes no keyword argument; add one with a "
     "default to set it here, or register it with an options dataclass."),
    ("[{name = 'test-counting'}, {name = 'test-counting', options = {every = 2}}]",
     "config key 'hooks' names 'test-counting' twice; list each hook once"),
    ("[{options = {every = 2}}]", "config key 'hooks[0].name' is empty"),
    ("[{name = 'test-counting', options = {evry = 2}}]",
     "unknown option 'evry' for hooks[0] 'test-counting'. Did you mean 'every'?"),
    ("[{name = 'test-not-a-hook'}]", "hook 'test-not-a-hook' is built as a 'int', not a Hook; subclass "
                                     "ganforge.training.hooks.Hook"),
    ("[{nme = 'test-counting'}]", "unknown config key 'hooks[0].nme'. Did you mean 'name'?"),
    ("['test-counting']", "config key 'hooks[0]' must be a table ({name, options}), got 'test-counting' (str)"),
])
def test_hook_errors(idx_root, tmp_path, capsys, hooks, message):
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "r",
                   *tiny(idx_root, f"hooks={hooks}", "train.max_steps=2")) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_a_run_whose_hook_is_gone_resumes_without_it(idx_root, tmp_path, capsys):
    """A hook a notebook registered (here: a plugin file since removed) is named at the resume, which may drop it."""
    plugin = tmp_path / "gone_hook.py"
    plugin.write_text("from ganforge.registry import HOOKS\nfrom ganforge.training.hooks import Hook\n"
                      "HOOKS.register('test-gone')(type('Gone', (Hook,), {}))\n")
    run = tmp_path / "r"
    sets = tiny(idx_root, f"plugins=['{plugin}']", "hooks=[{name = 'test-gone'}]", "train.max_steps=2")
    assert run_cli("train", "dcgan-fmnist", "--out", run, *sets) == 0
    from ganforge.registry import HOOKS

    del HOOKS._entries["test-gone"]  # as a new process with the plugin's code gone would know it
    resume = ["train", "dcgan-fmnist", "--out", run, "--resume", "--set", "plugins=[]"]
    assert run_cli(*resume, *tiny(idx_root, "train.max_steps=4")) == 2
    err = capsys.readouterr().err
    assert "trained with hook 'test-gone' (hooks[0].name), which none of its plugins (it lists none) registers" in err
    assert "A resume may also drop the run's hooks: --set hooks=[]." in err
    assert run_cli(*resume, *tiny(idx_root, "train.max_steps=4", "hooks=[]")) == 0
