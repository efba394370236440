"""Class-conditional GANs (model.num_classes): labels reach G and D, and G learns to draw the class asked for."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge

from ganforge.config import load_config
from ganforge.nets import build_networks
from ganforge.nets.conditional import ClassEmbeddingGenerator, ConditionalBatchNormGenerator, ProjectionDiscriminator
from ganforge.errors import GanforgeError
from ganforge.data.folder import load_folder_classes
from ganforge.metrics.run import load_image_folder
from ganforge.sampling import class_folders, load_generator, pick_class

from conftest import run_cli, tiny


@pytest.fixture(scope="module")
def bright_and_dark(tmp_path_factory) -> Path:
    """Two classes of 28x28 images a GAN tells apart at once: bright/ (mean 190-255) and dark/ (0-60)."""
    root = tmp_path_factory.mktemp("two-classes")
    rng = np.random.default_rng(0)
    for cls, lo, hi in (("bright", 190, 256), ("dark", 0, 60)):
        (root / cls).mkdir()
        for i in range(96):
            img = (rng.integers(lo, hi) + rng.integers(-10, 10, (28, 28))).clip(0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / cls / f"{i}.png")
    return root


def folder_sets(root: Path, *extra: str) -> list[str]:
    sets = [f"data.root={root}", "data.name=folder", "model.num_classes=2", "log.progress=false",
            "log.sample_every_steps=0", "log.checkpoint_every_steps=0", *extra]
    return [a for s in sets for a in ("--set", s)]


def test_a_class_conditional_gan_draws_the_class_asked_for(idx_root, bright_and_dark, tmp_path, capsys):
    """Fails if labels do not reach G, are paired with the wrong images, or G ignores them: then both
    classes' samples would be the same mix of bright and dark."""
    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run,
                   *folder_sets(bright_and_dark, "train.max_steps=200", "ema.enabled=false")) == 0
    means = {}
    for cls in ("bright", "dark"):
        assert run_cli("sample", run, "--num", 64, "--out", tmp_path / f"{cls}.npy", "--class", cls) == 0
        means[cls] = np.load(tmp_path / f"{cls}.npy").astype(float).mean(axis=(1, 2, 3))
    assert means["bright"].min() > 140 and means["dark"].max() < 110, means
    # by index too, and the default draws the classes in turn: one column per class in a grid
    assert run_cli("sample", run, "--num", 64, "--out", tmp_path / "1.npy", "--class", "1") == 0
    assert np.array_equal(np.load(tmp_path / "1.npy"), np.load(tmp_path / "dark.npy"))
    assert run_cli("sample", run, "--num", 8, "--out", tmp_path / "all.npy") == 0
    turns = np.load(tmp_path / "all.npy").astype(float).mean(axis=(1, 2, 3))
    assert (turns[0::2] > 140).all() and (turns[1::2] < 110).all(), turns
    # a walk through the noise keeps its class all the way: walk i has sample's image i's
    assert run_cli("sample", run, "--interpolate", 3, "--num", 4, "--out", tmp_path / "walks.npy") == 0
    walks = np.load(tmp_path / "walks.npy").astype(float).mean(axis=(1, 2, 3)).reshape(4, 3)
    assert (walks[0::2] > 140).all() and (walks[1::2] < 110).all(), walks
    capsys.readouterr()
    assert run_cli("sample", run, "--interpolate", 5, "--class", "bright", "--to-class", "drak",
                   "--out", tmp_path / "m.npy") == 2  # it named --class, which was right
    assert capsys.readouterr().err == (f"ganforge: error: --to-class 'drak' is not a class of '{run}'. Did you mean "
                                       "'dark'? Give an index from 0 to 1 or a name: 0 bright, 1 dark.\n")
    with pytest.raises(GanforgeError, match=r"^to_class 'drak' is not a class of "):
        ganforge.interpolate(run, 2, 3, class_="bright", to_class="drak")
    assert run_cli("sample", run, "--interpolate", 5, "--to-class", "dark", "--out", tmp_path / "m.npy") == 2
    assert capsys.readouterr().err == ("ganforge: error: --to-class walks from --class to it, with each walk's noise "
                                       "fixed; give --class too.\n")
    # a walk between classes keeps its noise: it starts at --class bright's image i, ends at --class dark's
    assert run_cli("sample", run, "--interpolate", 5, "--num", 4, "--class", "bright", "--to-class", "dark",
                   "--out", tmp_path / "morph.npy") == 0
    morph = np.load(tmp_path / "morph.npy").reshape(4, 5, 1, 28, 28)
    bright, dark = np.load(tmp_path / "bright.npy"), np.load(tmp_path / "dark.npy")
    assert np.array_equal(morph[:, 0], bright[:4]) and np.array_equal(morph[:, -1], dark[:4])
    levels = morph.astype(float).mean(axis=(2, 3, 4))
    assert (np.diff(levels, axis=1) < 0).mean() > 0.8, levels  # darker frame by frame, nearly always
    with pytest.warns(UserWarning, match=r"^--to-class names --class's own class \(0 bright\), and each walk keeps"):
        assert run_cli("sample", run, "--interpolate", 3, "--num", 2, "--class", "0", "--to-class", "Bright",
                       "--out", tmp_path / "still.npy") == 0
    assert run_cli("sample", run, "--interpolate", 3, "--num", 2, "--out", tmp_path / "dark.gif",
                   "--class", "dark") == 0
    with Image.open(tmp_path / "dark.gif") as gif:
        assert gif.n_frames == 4 and np.asarray(gif.convert("L")).mean() < 110
    # a class that is not there names those that are
    capsys.readouterr()
    assert run_cli("sample", run, "--num", 4, "--out", tmp_path / "x.npy", "--class", "grey") == 2
    assert "--class 'grey' is not a class of" in capsys.readouterr().err
    with pytest.raises(GanforgeError, match=r"^--class 'drak' is not a class of 'R'\. Did you mean 'dark'\? Give an "
                                            r"index from 0 to 1 or a name: 0 bright, 1 dark\.$"):
        pick_class("drak", 2, ("bright", "dark"), "R")
    with pytest.raises(GanforgeError, match=r"Did you mean 'T-shirt/top'\?"):  # the name it begins, not 'Shirt'
        pick_class("t-shirt", 3, ("T-shirt/top", "Shirt", "Bag"), "R")
    assert load_generator(run)[0].class_names == ("bright", "dark")
    # a folder of samples has a subfolder per class, which a folder dataset reads the labels from
    out = tmp_path / "labelled"
    assert run_cli("sample", run, "--num", 10, "--out", out) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        *(f"bright/{i:06d}.png" for i in range(0, 10, 2)), *(f"dark/{i:06d}.png" for i in range(1, 10, 2))]
    images, labels, classes = load_folder_classes(str(out), 28, 1, str(tmp_path / "cache"))
    assert classes == ("bright", "dark") and labels.tolist() == [0] * 5 + [1] * 5
    assert images[:5].mean() > 140 and images[5:].mean() < 110
    # --class writes into its own folder and leaves the other classes' alone, so a set is built class by class
    assert run_cli("sample", run, "--num", 10, "--out", out, "--class", "dark") == 0
    assert len(list((out / "bright").glob("*.png"))) == 5 and len(list((out / "dark").glob("*.png"))) == 10
    assert run_cli("sample", run, "--num", 6, "--out", out, "--class", "dark") == 2  # 000006-9 would be left
    assert "already holds 4 images that 6 samples would not replace (dark/000006.png, ...)" in capsys.readouterr().err
    # evaluating fewer than the folder holds scores a seeded subset, not the first (bright) ones in path order
    assert run_cli("evaluate", out, "--num", 5, "--metrics", "kid", "--data-root", idx_root) == 0
    assert json.loads((out / "evaluate.json").read_text())["protocol"]["fake_subset_of"] == 15
    brightness = load_image_folder(out, 5, 0).images.mean(axis=(1, 2, 3))
    assert (brightness > 140).any() and (brightness < 110).any(), brightness  # both classes' folders


def test_class_folders_are_safe_names_in_class_order():
    assert class_folders(("T-shirt/top", "Trouser"), 2) == ["T-shirt_top", "Trouser"]
    # the folder's name picks its class too, as a user reads it in the folder sample wrote (it was "not a class")
    assert pick_class("t-shirt_top", 2, ("T-shirt/top", "Trouser"), "R") == 0
    assert class_folders(("a/b", "a_b", "c"), 3) == ["0", "1", "2"]  # names that collide once made safe
    assert class_folders((), 12) == [f"{i:02d}" for i in range(12)]  # zero-padded: they sort in class order
    assert class_folders(("..", "x"), 2) == ["0", "1"]


def test_conditional_batchnorm_learns_the_class(bright_and_dark, tmp_path):
    """G takes the class through per-class gains and biases on its BatchNorms alone (z as it is): it
    must still draw bright for bright and dark for dark; an EMA copy keeps its own gains."""
    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *folder_sets(
        bright_and_dark, "train.max_steps=200", "model.class_conditioning=batchnorm")) == 0
    for use_ema in (False, True):
        G, cfg = load_generator(run, use_ema)
        assert isinstance(G, ConditionalBatchNormGenerator)
        z = torch.randn(64, cfg.model.z_dim)  # z alone: no embedding beside it
        bright, dark = (G(z, torch.full((64,), c)).mean(dim=(1, 2, 3)) for c in (0, 1))
        assert bright.min() > 0.1 and dark.max() < -0.1, (use_ema, bright, dark)  # tanh output: 140 and 115 of 255
    # the per-class gains mix too: a walk from dark to bright with each walk's noise fixed
    morph = ganforge.interpolate(run, 4, 5, class_="dark", to_class="bright").float().mean(dim=(2, 3, 4))
    assert (morph[:, 0] < 110).all() and (morph[:, -1] > 140).all(), morph
    # a walk from a class to itself is sample's images, still: it is drawn, with a warning that it does not move
    with pytest.warns(UserWarning, match=r"^to_class names class_'s own class \(1 dark\), and each walk keeps its "
                      r"noise: its frames are one image repeated\. Name another class, or leave to_class out"):
        still = ganforge.interpolate(run, 4, 2, class_=1, to_class="dark")
    assert torch.equal(still[:, 0], ganforge.sample(run, 4, class_=1))
    # an index as NumPy or a float column gives it (np.int64(1), 1.0) is that index; 1.5 or a list is no class
    assert torch.equal(ganforge.sample(run, 4, class_=np.int64(1)), ganforge.sample(run, 4, class_=1.0))
    for bad, said in ((1.5, "1.5 (float)"), ([1], "[1] (list)"), (True, "True (bool)")):
        with pytest.raises(GanforgeError, match=re.escape(f"class_ must be a class's index (an int) or name (a str), "
                                                          f"got {said}.")):
            ganforge.sample(run, 4, class_=bad)


def test_a_class_is_picked_by_name_before_index():
    numbered = tuple(sorted(str(i) for i in range(1, 11)))  # folders 1..10 sort as 1, 10, 2, ..., 9
    assert [pick_class(n, 10, numbered, "R") for n in ("1", "10", "2")] == [0, 1, 2]
    assert pick_class("sneaker", 10, ("Bag", "Sneaker"), "R") == 1 and pick_class("0", 2, ("a", "b"), "R") == 0
    with pytest.raises(GanforgeError, match="Give an index from 0 to 1 or a name: 0 a, 1 b"):
        pick_class("2", 2, ("a", "b"), "R")


def test_the_sample_grid_has_one_column_per_class(bright_and_dark, tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run,
                   *folder_sets(bright_and_dark, "train.max_steps=2", "log.num_samples=9")) == 0
    grid = np.asarray(Image.open(next((run / "samples").glob("*.png"))))
    assert grid.shape[:2] == (2 + 4 * 30, 2 + 2 * 30)  # 9 rounded down to 4 rows of the 2 classes, 28 px + 2 padding


def test_class_errors_are_bad_input(idx_root, bright_and_dark, tmp_path, capsys):
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "a",
                   *tiny(idx_root, "model.num_classes=3", "train.max_steps=1")) == 2
    assert "model.num_classes is 3, but fashion-mnist has 10 classes (T-shirt/top, Trouser" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()  # no run folder left for a run that never started
    plain = tmp_path / "plain"
    assert run_cli("train", "dcgan-fmnist", "--out", plain, *tiny(idx_root, "train.max_steps=1")) == 0
    capsys.readouterr()
    assert run_cli("sample", plain, "--num", 4, "--out", tmp_path / "x.npy", "--class", "0") == 2
    assert "--class needs a class-conditional run" in capsys.readouterr().err
    assert run_cli("sample", plain, "--out", tmp_path / "w.png", "--interpolate", 4, "--to-class", "1") == 2
    assert capsys.readouterr().err == (f"ganforge: error: --to-class walks between classes, but '{plain}' was "
                                       "trained without classes (model.num_classes = 0).\n")
    assert run_cli("sample", plain, "--out", tmp_path / "w.png", "--to-class", "1") == 2
    assert "--to-class walks from --class to another class; give it with --interpolate STEPS." in \
        capsys.readouterr().err
    assert run_cli("train", "srcnn-x4", "--out", tmp_path / "sr", "--set", "model.num_classes=10") == 2
    assert "model.num_classes is for class-conditional GANs" in capsys.readouterr().err
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "c", "--set", "model.class_conditioning=concat") == 2
    assert "'model.class_conditioning' must be 'embedding' (beside z) or 'batchnorm'" in capsys.readouterr().err
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "c", "--set", "model.class_conditioning=batchnorm") == 2
    assert "is for class-conditional GANs, but model.num_classes is 0" in capsys.readouterr().err


def test_every_built_in_network_can_be_class_conditional():
    """G gets the class embedding beside its noise; D a projection onto the input of its last layer."""
    for preset in ("dcgan-fmnist", "mlp-gan-fmnist", "mmengine-gan-fmnist", "hw6-dcgan-64", "mmagic-dcgan-64",
                   "sngan-cifar10"):
        sets = ["model.num_classes=4"] + (["model.generator.options.base_channels=64",
                                           "model.discriminator.options.base_channels=16"] if "mmagic" in preset else [])
        G, D = build_networks(load_config(preset, sets))
        assert isinstance(G, ClassEmbeddingGenerator) and isinstance(D, ProjectionDiscriminator), preset
        z = torch.randn(3, load_config(preset).model.z_dim)
        G.eval()
        x = G(z, torch.tensor([0, 1, 2]))
        assert not torch.equal(G(z, torch.tensor([3, 3, 3])), x), preset  # the class changes the image
        scores = D(x, torch.tensor([0, 1, 2]))
        assert scores.shape == (3,) and not torch.equal(D(x, torch.tensor([3, 3, 3])), scores), preset
        if preset == "mlp-gan-fmnist":  # no BatchNorm in its G: conditional BatchNorm has nothing to work on
            with pytest.raises(GanforgeError, match="generator 'mlp' has no BatchNorm layer, so "
                                                    "model.class_conditioning = 'batchnorm' has nothing to condition"):
                build_networks(load_config(preset, [*sets, "model.class_conditioning=batchnorm"]))
            continue
        G = build_networks(load_config(preset, [*sets, "model.class_conditioning=batchnorm"]))[0].eval()
        assert torch.equal(G(z, torch.tensor([0, 1, 2])), G(z, torch.tensor([3, 3, 3]))), preset  # zero gains
        with torch.no_grad():
            for a in G.affine:
                a.gain.weight.normal_()
        assert not torch.equal(G(z, torch.tensor([0, 1, 2])), G(z, torch.tensor([3, 3, 3]))), preset


PLUGIN = '''
import torch, torch.nn as nn
from ganforge.registry import DISCRIMINATORS, GENERATORS

@GENERATORS.register("labels-g")
class LabelsG(nn.Module):
    class_conditional = True  # takes the labels itself: built with num_classes, called G(z, y)
    def __init__(self, *, z_dim, channels, resolution, num_classes):
        super().__init__()
        self.shape = (channels, resolution, resolution)
        self.embed = nn.Embedding(num_classes, z_dim)
        self.fc = nn.Linear(z_dim, channels * resolution * resolution)
    def forward(self, z, y):
        return torch.tanh(self.fc(z * self.embed(y))).view(-1, *self.shape)

@DISCRIMINATORS.register("scores-only-d")
class ScoresOnlyD(nn.Module):  # no features()/head(): ganforge cannot add a projection
    def __init__(self, *, z_dim, channels, resolution):
        super().__init__()
        self.fc = nn.Linear(channels * resolution * resolution, 1)
    def forward(self, x):
        return self.fc(x.flatten(1)).view(-1)
'''


def test_a_plugin_network_may_take_the_labels_itself(idx_root, tmp_path, capsys):
    plugin = tmp_path / "labels_nets.py"
    plugin.write_text(PLUGIN)
    sets = tiny(idx_root, f"plugins=['{plugin}']", "model.generator.name=labels-g", "model.generator.options={}",
                "model.num_classes=10", "train.max_steps=3")
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "a", *sets) == 0
    assert run_cli("sample", tmp_path / "a", "--num", 4, "--out", tmp_path / "s.npy", "--class", "Sneaker") == 0
    capsys.readouterr()
    # it takes whole classes: a walk between classes, which mixes ganforge's class tables, is refused
    assert run_cli("sample", tmp_path / "a", "--interpolate", 4, "--class", "Sneaker", "--to-class", "Bag",
                   "--out", tmp_path / "w.png") == 2
    assert (f"generator 'labels-g' of '{tmp_path / 'a'}' takes its classes itself, as whole classes; a walk between "
            "classes mixes the rows of ganforge's class tables (model.class_conditioning), which it does not use."
            in capsys.readouterr().err)
    sets += ["--set", "model.discriminator.name=scores-only-d", "--set", "model.discriminator.options={}"]
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "b", *sets) == 2
    err = capsys.readouterr().err
    assert "discriminator 'scores-only-d' cannot be class-conditional" in err and "features(x)" in err
