"""sample --nearest (neighbours.py): each sample beside its nearest training images, the memorisation check."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.config import load_config
from ganforge.data import DataWarning, load_images
from ganforge.errors import GanforgeError
from ganforge.metrics import evaluate
from ganforge.metrics.evaluate import array_batches, extract
from ganforge.metrics.features import build_features
from ganforge.registry import GENERATORS

from conftest import run_cli, tiny

COPIED = [5, 17, 42, 100]  # the training images the copying G draws, in turn
_TRAINING_IMAGES: list[torch.Tensor] = []  # a fixture appends its data before training the copying G on it


@dataclasses.dataclass(frozen=True)
class _CopyOptions:
    copies: int = len(COPIED)


@GENERATORS.register("test-copy-g", _CopyOptions)
class _CopyG(torch.nn.Module):
    """A G that has memorised its data: image i is training image COPIED[i mod 4], whatever the noise."""

    def __init__(self, options: _CopyOptions, z_dim: int, channels: int, resolution: int, **kwargs) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))  # something for the optimizer; the copies are a buffer
        self.register_buffer("copies", torch.zeros(options.copies, channels, resolution, resolution))
        if _TRAINING_IMAGES:  # the data of the run being trained; a run being sampled loads its own copies
            self.copies.copy_(_TRAINING_IMAGES[-1][COPIED].float() / 127.5 - 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.copies[torch.arange(len(z)) % len(self.copies)] + 0 * self.weight


@pytest.fixture(scope="module")
def copying_run(idx_root, tmp_path_factory):
    run = tmp_path_factory.mktemp("copying") / "run"
    _TRAINING_IMAGES.append(load_images(load_config("mlp-gan-fmnist", [f"data.root={idx_root}"]).data))
    assert run_cli("train", "mlp-gan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=2", "ema.enabled=false",
                                                                  "model.generator.name=test-copy-g")) == 0
    return run


def test_a_generator_that_copies_its_data_is_caught(copying_run, tmp_path, capsys):
    assert run_cli("sample", copying_run, "--nearest", 3, "--num", 6, "--out", tmp_path / "nn.png") == 0
    out = capsys.readouterr().out
    assert ("wrote 6 samples, each beside its 3 nearest training images ('fmnist' features), to "
            f"{tmp_path / 'nn.png'}") in out
    # a line per sample: its nearest training image (here the one it copies) and their distance
    rows = [line.split() for line in out.splitlines()[1:7]]
    assert [int(r[0]) for r in rows] == list(range(6)) and [int(r[2]) for r in rows] == [5, 17, 42, 100, 5, 17]
    assert all(float(r[1]) < 0.01 for r in rows), rows
    assert "a training image's own nearest other lies at a median" in out
    with Image.open(tmp_path / "nn.png") as im:  # a row per sample: it, then its neighbours
        assert im.size == (4 * 30 + 2, 6 * 30 + 2)
    found = ganforge.nearest(copying_run, 6, 3)
    assert ganforge.grid(found.images).size == (4 * 30 + 2, 6 * 30 + 2)  # the command's grid, from Python
    train = _TRAINING_IMAGES[0]
    copied = [COPIED[i % 4] for i in range(6)]
    # each sample's nearest is the image it copied, at distance 0 (to float rounding; the features of a batch of
    # another size), and the grid shows that image
    assert found.indices[:, 0].tolist() == copied, found.indices
    assert found.distances[:, 0].max() < 0.01 * found.distances[:, 1].min(), found.distances
    assert found.distances[:, 0].max() < 0.01 * found.typical and found.files is None  # not a folder
    assert torch.equal(found.images[:, 1], train[copied]) and torch.equal(found.images[:, 0], train[copied])
    # the others are the next nearest, as every distance computed in full says
    extractor = build_features("fmnist")
    real = extract(extractor, array_batches(train), len(train), want_swd=False).features
    fake = extract(extractor, array_batches(found.images[:, 0]), 6, want_swd=False).features
    full = np.linalg.norm(fake[:, None] - real[None], axis=2)
    assert np.array_equal(found.indices.numpy(), np.argsort(full, axis=1, kind="stable")[:, :3])
    assert np.allclose(found.distances.numpy(), np.sort(full, axis=1)[:, :3], atol=1e-2)  # distances near 5
    assert torch.equal(found.images[:, 2:], train[found.indices[:, 1:]])
    many = ganforge.nearest(copying_run, 150, 1)  # samples go 64 at a time: each finds its own copy
    assert many.indices[:, 0].tolist() == [COPIED[i % 4] for i in range(150)]


def test_the_neighbours_in_an_image_folder_are_named_by_file(tmp_path, capsys):
    root = tmp_path / "faces"
    rng = np.random.default_rng(0)
    for i in range(120):  # distinct images, in two subfolders, sorted by name
        folder = root / ("a" if i < 60 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    (root / "a" / "003.png").write_bytes(b"not a PNG")  # skipped as unreadable: image i is no longer file i
    sets = [f"data.root={root}", "data.name=folder", "data.channels=1", "data.resolution=28"]
    run = tmp_path / "run"
    # each load of the folder (and of its cache) says which file it skipped
    with pytest.warns(DataWarning, match="skipped 1 of 120 files .* a/003.png") as caught:
        _TRAINING_IMAGES.append(load_images(load_config("mlp-gan-fmnist", sets).data))
        assert run_cli("train", "mlp-gan-fmnist", "--out", run, *tiny(root, "train.max_steps=1", "ema.enabled=false",
                                                                      "model.generator.name=test-copy-g", *sets)) == 0
        found = ganforge.nearest(run, 4, 2)
        capsys.readouterr()
        assert run_cli("sample", run, "--nearest", 1, "--num", 4, "--out", tmp_path / "nn.png") == 0
    # the garment classifier's features judge these images' nearness, as evaluate says of its figures
    assert len([w for w in caught if str(w.message) == (
        "the 'fmnist' features come from a classifier of Fashion-MNIST garments, so 'folder' images are outside their "
        "domain unless they are garments like Fashion-MNIST's: a copy still lies at 0 from its training image, but "
        "which other images come nearest says little. Use --features inception (eval.features during training) for "
        "other data.")]) == 2  # Python's and the CLI's
    assert [row[0] for row in found.files] == ["a/006.png", "a/018.png", "a/043.png", "b/101.png"]
    assert [line.split()[2] for line in capsys.readouterr().out.splitlines()[1:5]] == [
        "a/006.png", "a/018.png", "a/043.png", "b/101.png"]


def test_the_training_sets_features_are_computed_once_and_said_so(copying_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(evaluate, "NOTE_ABOVE", 100)  # the tiny set's 256 images stand for a real one's 60,000
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    assert run_cli("sample", copying_run, "--nearest", 2, "--num", 2, "--out", tmp_path / "a.png") == 0
    assert (f"computing the 'fmnist' features of 256 dataset images once (cached in {tmp_path / 'cache'}"
            in capsys.readouterr().err)
    assert run_cli("sample", copying_run, "--nearest", 2, "--num", 2, "--out", tmp_path / "b.png") == 0
    assert "computing" not in capsys.readouterr().err  # read from the cache
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_nearest_bad_input(copying_run, tmp_path, capsys):
    assert run_cli("sample", copying_run, "--nearest", 0, "--out", tmp_path / "nn.png") == 2
    assert "--nearest must be at least 1, got 0." in capsys.readouterr().err
    assert run_cli("sample", copying_run, "--nearest", 300, "--out", tmp_path / "nn.png") == 2
    assert "--nearest 300 is more than the 256 training images." in capsys.readouterr().err
    assert run_cli("sample", copying_run, "--nearest", 2, "--out", tmp_path / "nn.npy") == 2
    assert "--nearest writes a .png grid (a sample and its neighbours per row); name the file .png." in \
        capsys.readouterr().err
    assert run_cli("sample", copying_run, "--nearest", 2, "--interpolate", 4, "--out", tmp_path / "nn.png") == 2
    assert "--interpolate and --nearest make different grids; give one of them." in capsys.readouterr().err
    assert run_cli("sample", copying_run, "--features", "fmnist", "--out", tmp_path / "s.png") == 2
    assert "--features chooses the features --nearest compares in; add --nearest K, or drop it." in \
        capsys.readouterr().err
    assert run_cli("sample", copying_run, "--nearest", 2, "--features", "fmnst", "--out", tmp_path / "nn.png") == 2
    assert "unknown feature extractor 'fmnst'. Did you mean 'fmnist'?" in capsys.readouterr().err
    assert run_cli("sample", copying_run, "--nearest", 100, "--num", 100, "--out", tmp_path / "nn.png") == 2
    assert "--num 100 rows of 101 images are 10,100, too many for one grid" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    with pytest.raises(GanforgeError, match="^k must be at least 1"):  # in Python's words
        ganforge.nearest(copying_run, 2, 0)
