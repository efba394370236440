"""DiffAugment: each transform does what it says, gradients reach the input, ranks draw the same numbers.
ADA: each transform changes a share p of the images, and p follows ADA's rule."""
import pytest
import torch

from ganforge.augment import AdaptiveProbability, color, cutout, diff_augment, parse_policy, translation
from ganforge.config import load_config
from ganforge.distributed import rank_rows
from ganforge.errors import GanforgeError

from conftest import run_cli, tiny

ALL = ("color", "translation", "cutout")


def same(t):
    return t


def distinct_images(b=16, c=3, side=16):
    """Images whose every pixel value is different, so a moved pixel can be found again."""
    return torch.arange(b * c * side * side, dtype=torch.float64).view(b, c, side, side) + 1


def test_translation_moves_each_image_whole_by_at_most_an_eighth():
    x = distinct_images()
    torch.manual_seed(0)
    y = translation(x, same, 1)
    shifts = set()
    for xi, yi in zip(x, y):
        c, i, j = (int(v[0]) for v in torch.nonzero(yi, as_tuple=True))  # a pixel that was kept
        src = torch.nonzero(xi == yi[c, i, j])[0]
        dy, dx = int(src[1]) - i, int(src[2]) - j
        assert abs(dy) <= 2 and abs(dx) <= 2  # 16 / 8
        padded = torch.nn.functional.pad(xi, (2, 2, 2, 2))  # the whole image moved by (dy, dx), zeros shifted in
        assert torch.equal(yi, padded[:, 2 + dy:18 + dy, 2 + dx:18 + dx])
        shifts.add((dy, dx))
    assert len(shifts) > 3  # each image its own shift


def test_cutout_zeroes_one_square_of_half_the_side_at_most():
    x = distinct_images()
    torch.manual_seed(1)
    y = cutout(x, same, 1)
    for xi, yi in zip(x, y):
        zero = yi[0] == 0
        assert torch.equal(zero, (yi == 0).all(0))  # the same square in every channel
        assert torch.equal(yi[:, ~zero], xi[:, ~zero])
        rows, cols = torch.nonzero(zero, as_tuple=True)
        assert len(rows) and rows.max() - rows.min() <= 8 and cols.max() - cols.min() <= 8


def test_color_is_one_affine_map_per_grayscale_image():
    """On one channel, saturation changes nothing: brightness and contrast make a * x + b per image."""
    x = torch.rand(8, 1, 8, 8, dtype=torch.float64) * 2 - 1
    torch.manual_seed(2)
    y = color(x, same, 1)
    for xi, yi in zip(x, y):
        a = (yi.flatten()[1] - yi.flatten()[0]) / (xi.flatten()[1] - xi.flatten()[0])
        assert 0.5 <= a <= 1.5
        assert torch.allclose(yi, a * xi + (yi.flatten()[0] - a * xi.flatten()[0]))
    assert not torch.allclose(y, x)


def test_gradients_reach_the_input_and_ranks_draw_the_global_batch():
    x = torch.rand(8, 3, 16, 16, requires_grad=True)
    diff_augment(x, ALL).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # two ranks, each with its half and the shared RNG, augment as one process does the whole batch
    torch.manual_seed(3)
    whole = diff_augment(x.detach(), ALL)
    halves = []
    for rank in range(2):
        torch.manual_seed(3)
        halves.append(diff_augment(x.detach()[rank * 4:(rank + 1) * 4], ALL, lambda t: rank_rows(t, rank, 2), 2))
    assert torch.equal(torch.cat(halves), whole)


def test_policy_errors(idx_root, tmp_path, capsys):
    assert parse_policy(" color, cutout ") == ("color", "cutout") and parse_policy("") == ()
    with pytest.raises(GanforgeError, match="names 'colour', which is not a DiffAugment transform"):
        parse_policy("colour")
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "a", *tiny(idx_root, "objective.diffaugment=flip")) == 2
    assert run_cli("train", "srcnn-x4", "--out", tmp_path / "b", "--set", "objective.diffaugment=color") == 2
    err = capsys.readouterr().err
    assert "names 'flip'" in err and "objective.diffaugment is for GANs that draw from noise" in err


def test_ada_p_is_the_share_of_images_each_transform_changes():
    x = torch.rand(4000, 1, 8, 8) + 1  # no zeros, so cutout changes every image it is applied to
    state = torch.get_rng_state()
    assert diff_augment(x, ALL, p=0.0) is x and torch.equal(torch.get_rng_state(), state)  # p = 0 draws nothing
    torch.manual_seed(5)
    always = diff_augment(x, ("cutout",))
    torch.manual_seed(5)
    assert torch.equal(diff_augment(x, ("cutout",), p=1.0), always)  # p = 1 is DiffAugment's
    torch.manual_seed(5)
    some = diff_augment(x, ("cutout",), p=0.3)
    changed = (some != x).flatten(1).any(1)
    assert 0.27 < changed.float().mean() < 0.33  # 1,200 expected of 4,000; a standard deviation is 29
    assert torch.equal(some[changed], always[changed])  # the images it changes, it changes as p = 1 does
    # each transform draws apart: with two, about 1 - 0.7^2 of the images meet at least one
    torch.manual_seed(6)
    two = diff_augment(x, ("translation", "cutout"), p=0.3)
    assert 0.47 < (two != x).flatten(1).any(1).float().mean() < 0.55


def test_ada_p_follows_the_sign_of_d_on_real_images():
    """ADA's rule: every interval, p moves by images / (kimg * 1000) up when the mean sign of D's scores of the real
    images is above the target, down when below, within [0, 1]; the counts mid-interval are state."""
    ada = AdaptiveProbability(target=0.6, kimg=0.1, interval=2, device=torch.device("cpu"))  # 0.01 per image
    sure = torch.tensor([3.0, 2.0, 1.0, 0.5, -1.0])  # r_t = 0.6 over an interval of these: neither up nor down
    ps = []
    for step, scores in enumerate([sure, sure, sure.abs(), sure.abs(), -sure, -sure, -sure, -sure]):
        ada.observe(scores)
        logs = ada.after_step(step)
        assert ("ada_rt" in logs) == (step % 2 == 1)
        ps.append(round(float(logs["ada_p"]), 6))
    assert ps == [0.0, 0.0, 0.0, 0.1, 0.1, 0.0, 0.0, 0.0]  # held, up by 10 images' worth, down and floored at 0
    for _ in range(20):
        ada.observe(torch.ones(30))
        ada.after_step(1)
    assert ada.p == 1.0  # capped
    ada.observe(torch.tensor([1.0, -1.0, 1.0]))  # mid-interval: a checkpoint keeps these counts
    again = AdaptiveProbability(0.6, 0.1, 2, torch.device("cpu"))
    again.load_state_dict(ada.state_dict())
    for a in (again, ada):
        a.observe(-torch.ones(3))
    rt = again.after_step(1)["ada_rt"]
    assert rt == ada.after_step(1)["ada_rt"] and float(rt) == pytest.approx(-1 / 3)  # the six signs of the interval
    assert again.p == ada.p == pytest.approx(0.94)


def test_ada_config_errors():
    for sets, message in ((["objective.ada_target=0.6"], "objective.diffaugment names no transforms"),
                          (["objective.ada_kimg=100"], r"but objective.ada_target is 0 \(ADA off\)"),
                          (["objective.diffaugment=color", "objective.ada_target=1"], r"must be in \[0, 1\)"),
                          (["objective.diffaugment=color", "objective.ada_target=0.6", "objective.loss=wgan"],
                           "which a WGAN critic's"),
                          (["objective.diffaugment=color", "objective.ada_target=0.6", "objective.ada_interval=0"],
                           "'objective.ada_interval' must be > 0")):
        with pytest.raises(GanforgeError, match=message):
            load_config("dcgan-fmnist", sets)
