"""DiffAugment: each transform does what it says, gradients reach the input, ranks draw the same numbers."""
import pytest
import torch

from ganforge.augment import color, cutout, diff_augment, parse_policy, translation
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
