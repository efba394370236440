"""Where and with what a run trained: RUN/sessions.jsonl, the environment in checkpoints and TensorBoard,
and the note when a resume runs on another setup than its checkpoint was written with."""
import json

import torch

import ganforge
from ganforge.training import checkpoint as ckpt

from conftest import run_cli, tiny


def sessions(run) -> list[dict]:
    return [json.loads(line) for line in (run / "sessions.jsonl").read_text().splitlines()]


def test_each_session_is_recorded_with_its_command_step_and_environment(idx_root, tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=4")) == 0
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume", *tiny(idx_root, "train.max_steps=6")) == 0
    first, second = sessions(run)
    assert (first["step"], second["step"]) == (0, 4)
    assert "--resume" not in first["command"] and "--resume" in second["command"]
    assert second["command"].startswith("ganforge ") and "train.max_steps=6" in second["command"]
    assert second["torch"] == str(torch.__version__) and second["ganforge"] == ganforge.__version__
    assert second["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert (second["device"], second["world_size"]) == ("cpu", 1)
    assert second["started"] >= first["started"]
    # and how each ended: here a bound reached
    assert first["end"] | {"time": None} == {"time": None, "step": 4, "how": "finished", "detail": "train.max_steps=4"}
    assert second["end"]["step"] == 6 and second["end"]["time"] >= second["started"] >= first["end"]["time"]
    # the checkpoint keeps it, and TensorBoard shows it beside the run's curves
    assert ckpt.load(run / "checkpoints" / "last.pt")["environment"]["torch"] == str(torch.__version__)
    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    assert "environment/text_summary" in acc.Tags()["tensors"]
    # a resume on the same setup says nothing about it
    assert "another setup" not in capsys.readouterr().err


def test_a_resume_on_another_setup_says_it_is_no_longer_exact(idx_root, tmp_path, capsys):
    """Another torch or vector ISA rounds otherwise: the resume goes on, and says the run is no longer bit for bit
    one uninterrupted run."""
    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=4")) == 0
    last = run / "checkpoints" / "last.pt"
    payload = ckpt.load(last)
    payload["environment"].update(torch="2.12.0+cpu", cpu_capability="AVX2")
    ckpt.save_atomic(payload, last)
    capsys.readouterr()
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume", *tiny(idx_root, "train.max_steps=6")) == 0
    now = torch.backends.cpu.get_cpu_capability()
    assert (f"ganforge: step 4's checkpoint was written with another setup (torch 2.12.0+cpu -> {torch.__version__}, "
            f"cpu_capability AVX2 -> {now}); training goes on, but no longer bit for bit as one uninterrupted run "
            "would.") in capsys.readouterr().err


def test_a_resume_that_changes_how_the_run_trains_says_what(idx_root, tmp_path, capsys):
    """A resume may change the batch size or the loss; the steps before trained otherwise, so it says which values
    changed (config.json keeps only the new ones). Raising a bound or logging otherwise is what a resume is for."""
    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=4")) == 0
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume",
                   *tiny(idx_root, "train.max_steps=6", "log.every_steps=3", "eval.num_samples=64",
                         f"data.cache_dir={tmp_path / 'cache'}", "data.download=false")) == 0  # where from, not what
    assert "this resume changes" not in capsys.readouterr().err
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume",
                   *tiny(idx_root, "train.max_steps=8", "train.batch_size=64", "objective.loss=hinge")) == 0
    assert ("ganforge: this resume changes objective.loss ('vanilla' in the run, now 'hinge'), train.batch_size "
            "(128 in the run, now 64); the steps from 7 on train with the new values, the first 6 did not "
            "(config.json now holds them).") in capsys.readouterr().err
    assert json.loads((run / "config.json").read_text())["objective"]["loss"] == "hinge"


def test_a_session_from_python_has_no_command(idx_root, tmp_path):
    run = tmp_path / "py"
    ganforge.train("dcgan-fmnist", run, {"data.root": str(idx_root), "train.max_steps": 2, "log.progress": False})
    (record,) = sessions(run)
    assert record["command"] is None and record["step"] == 0
