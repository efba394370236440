"""model.init_from (training/init_from.py): a new run starts from another run's weights; a resume never reads it."""
from __future__ import annotations

import shutil

import pytest
import torch

from ganforge.config import load_config
from ganforge.errors import GanforgeError
from ganforge.training import checkpoint as ckpt
from ganforge.training.loop import build_objective

from conftest import run_cli, tiny


@pytest.fixture(scope="module")
def source_run(idx_root, tmp_path_factory):
    run = tmp_path_factory.mktemp("init") / "source"
    # EMA from the first step, so its copy differs from G by step 4
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=4", "ema.start_step=0")) == 0
    return run


def same(net: torch.nn.Module, state: dict) -> bool:
    return all(torch.equal(v, state[k]) for k, v in net.state_dict().items())


def test_a_new_run_starts_from_another_runs_weights(source_run, idx_root, tmp_path, capsys):
    payload = ckpt.load(source_run / "checkpoints" / "last.pt")
    cfg = load_config("dcgan-fmnist", [f"model.init_from={source_run}"])
    obj = build_objective(cfg, torch.device("cpu"))
    assert same(obj.G, payload["G"]) and same(obj.D, payload["D"])
    assert same(obj.G_ema, payload["G_ema"]) and not same(obj.G_ema, payload["G"])  # the source's own EMA copy
    assert not same(build_objective(load_config("dcgan-fmnist"), torch.device("cpu")).G, payload["G"])
    assert not same(build_objective(cfg, torch.device("cpu"), new_run=False).G, payload["G"])  # a resume's own
    run = tmp_path / "b"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=2",
                                                                f"model.init_from={source_run}")) == 0
    assert (f"starting G from {source_run / 'checkpoints' / 'last.pt'} (step 4); D from the same; the EMA copy from "
            "the same." in capsys.readouterr().err)
    assert ckpt.load(run / "checkpoints" / "last.pt")["state"]["step"] == 2  # its own steps, from 0
    # a resume continues its own checkpoint: the source may be gone
    moved = tmp_path / "moved"
    shutil.move(source_run, moved)
    try:
        assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume", *tiny(idx_root, "train.max_steps=4")) == 0
        assert "starting G from" not in capsys.readouterr().err
    finally:
        shutil.move(moved, source_run)


def test_a_network_that_does_not_fit_is_refused_or_loaded_where_it_fits(source_run, idx_root, tmp_path, capsys):
    other = ["model.z_dim=32", f"model.init_from={source_run}"]  # G's first layer takes z: (3136, 32), not 64
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "a", *tiny(idx_root, "train.max_steps=1", *other)) == 2
    assert (f"model.init_from '{source_run}': its G does not fit this run's (size mismatch for fc.0.weight: copying "
            "a param with shape torch.Size([3136, 64]) from checkpoint, the shape in current model is "
            "torch.Size([3136, 32])). Give a run of the same network, or set model.init_strict=false to load the "
            "tensors that fit and keep the others' initialization.") in capsys.readouterr().err
    assert not (tmp_path / "a" / "config.json").exists()  # refused before the run began
    cfg = load_config("dcgan-fmnist", [*other, "model.init_strict=false"])
    G = build_objective(cfg, torch.device("cpu")).G
    loaded = ckpt.load(source_run / "checkpoints" / "last.pt")["G"]
    assert all(torch.equal(v, loaded[k]) for k, v in G.state_dict().items() if k != "fc.0.weight")
    assert "1 of G's tensors kept their initialization, not fitting: fc.0.weight (3136, 32) (its (3136, 64))" \
        in capsys.readouterr().err
    with pytest.raises(GanforgeError, match="none of its G's tensors fits this run's G"):
        build_objective(load_config("mlp-gan-fmnist", [f"model.init_from={source_run}", "model.init_strict=false"]),
                        torch.device("cpu"))
    with pytest.raises(GanforgeError, match=r"^model.init_from: '.*nothere' does not exist; give a run folder"):
        build_objective(load_config("dcgan-fmnist", [f"model.init_from={tmp_path / 'nothere'}"]), torch.device("cpu"))


def test_init_from_is_recorded_by_its_absolute_path(source_run, tmp_path, monkeypatch):
    """From the working directory, or in a config file from the file's folder, as plugins are: config.json names
    the run it started from wherever ganforge runs next."""
    monkeypatch.chdir(source_run.parent)
    assert load_config("dcgan-fmnist", ["model.init_from=source"]).model.init_from == str(source_run)
    (source_run.parent / "mine.toml").write_text('[model]\ninit_from = "source/checkpoints/last.pt"\n')
    monkeypatch.chdir(tmp_path)
    file_cfg = load_config(str(source_run.parent / "mine.toml"))
    assert file_cfg.model.init_from == str(source_run / "checkpoints" / "last.pt")
    assert load_config("dcgan-fmnist", ["model.init_from=nothere"]).model.init_from == "nothere"  # for the error


def test_a_source_without_an_ema_copy_gives_its_g_to_the_ema_copy(idx_root, tmp_path, capsys):
    source = tmp_path / "no_ema"
    assert run_cli("train", "dcgan-fmnist", "--out", source, *tiny(idx_root, "train.max_steps=2", "ema.enabled=false")) == 0
    payload = ckpt.load(source / "checkpoints" / "last.pt")
    assert "G_ema" not in payload
    capsys.readouterr()
    obj = build_objective(load_config("dcgan-fmnist", [f"model.init_from={source}"]), torch.device("cpu"))
    assert same(obj.G_ema, payload["G"])
    assert "D from the same; the EMA copy from that G (it has no EMA copy)." in capsys.readouterr().err
