"""Super-resolution: networks, PSNR/SSIM known answers, paired data, presets, evaluate, upscale."""
import json
import math
import io
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import ganforge
from ganforge.config import load_config
from ganforge.data.folder import DataWarning
from ganforge.data.pairs import SRBatches, bicubic_down, bicubic_up, load_pairs, validation_pairs
from ganforge.errors import GanforgeError
from ganforge.images import unit_to_uint8
from ganforge.metrics.psnr_ssim import psnr, ssim, to_y
from ganforge.metrics.sr_eval import evaluate_sr
from ganforge.nets import build_networks
from ganforge.nets.sr import (MSRResNet, MSRResNetOptions, SRCNN, SRCNNOptions, SRGANDiscriminator,
                              SRGANDiscriminatorOptions)
from ganforge.training import checkpoint as ckpt
from ganforge.training.loop import build_objective
from ganforge.upscaling import upscale_tensor

from conftest import BITWISE, ctrl_c_through_another_thread, interrupt_once_it_wrote, run_cli, tiny

SR_PRESETS = ["srcnn-x4", "msrresnet-x4", "srgan-x4"]
SMALL_G = "model.generator.options.num_blocks=2"


# ------------------------------------------------------------------ networks

@pytest.mark.parametrize("scale", [2, 3, 4])
def test_sr_generators_upscale_by_their_factor(scale):
    x = torch.rand(2, 3, 9, 11)
    for G in (SRCNN(SRCNNOptions(), channels=3, scale=scale),
              MSRResNet(MSRResNetOptions(num_blocks=2), channels=3, scale=scale)):
        assert G(x).shape == (2, 3, 9 * scale, 11 * scale)


def test_a_resolution_that_is_no_multiple_of_the_scale_is_cut_to_one(idx_root, tmp_path):
    """28 px Fashion-MNIST at x3: the batches cut whole images to 27 px, and the shape check agrees."""
    run = tmp_path / "x3"
    assert run_cli("train", "srcnn-x4", "--out", run, "--set", "sr.scale=3", "--set", f"data.root={idx_root}",
                   "--set", "train.max_steps=2", "--set", "log.progress=false") == 0
    assert ckpt.load(run / "checkpoints" / "last.pt")["state"]["step"] == 2


def test_msrresnet_refuses_other_scales_like_the_seed():
    with pytest.raises(GanforgeError, match=r"Unsupported scale factor 8. Currently supported ones are \[2, 3, 4\]"):
        MSRResNet(MSRResNetOptions(), channels=3, scale=8)


def test_msrresnet_starts_near_its_bilinear_skip():
    # 0.1-scaled init: the residual detail is small at first, so G(x) is close to bilinear upsampling
    torch.manual_seed(0)
    G = MSRResNet(MSRResNetOptions(), channels=3, scale=4)
    x = torch.rand(2, 3, 8, 8)
    skip = F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
    assert (G(x) - skip).abs().mean() < 0.05 * skip.abs().mean()


@pytest.mark.parametrize("side", [28, 32, 128])
def test_srgan_discriminator_scores_each_image(side):
    D = SRGANDiscriminator(SRGANDiscriminatorOptions(mid_channels=8), channels=3, resolution=side)
    assert D(torch.rand(3, 3, side, side)).shape == (3,)


# ------------------------------------------------------------------ PSNR / SSIM known answers

def test_identical_images_have_infinite_psnr_and_ssim_one():
    a = torch.randint(0, 256, (2, 3, 24, 24)).double()
    assert torch.isinf(psnr(a, a)).all()
    assert torch.allclose(ssim(a, a), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(ssim(a, a, crop_border=4, y_channel=True), torch.ones(2, dtype=torch.float64))


@pytest.mark.parametrize("offset", [1.0, 5.0, 20.0])
def test_constant_offset_gives_the_closed_form_psnr(offset):
    a = torch.randint(30, 200, (3, 3, 20, 20)).double()
    b = a + offset
    assert torch.allclose(psnr(a, b), torch.full((3,), 20 * math.log10(255 / offset), dtype=torch.float64))
    # on Y the offset is scaled by the luma weights' sum, 219/255 (studio range)
    y_offset = offset * (65.481 + 128.553 + 24.966) / 255
    assert torch.allclose(psnr(a, b, y_channel=True), torch.full((3,), 20 * math.log10(255 / y_offset),
                                                                dtype=torch.float64))


def test_ssim_of_two_flat_images_is_the_luminance_term():
    a, b = torch.full((1, 1, 16, 16), 100.0), torch.full((1, 1, 16, 16), 110.0)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 110 + c1) / (100 ** 2 + 110 ** 2 + c1)  # contrast/structure terms are 1
    assert ssim(a, b).item() == pytest.approx(expected, rel=1e-12)


def test_ssim_matches_a_direct_window_sum():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (1, 1, 14, 13), generator=g).double()
    b = (a + torch.randint(-40, 40, a.shape, generator=g)).clamp(0, 255)
    x = torch.arange(11, dtype=torch.float64) - 5
    w = torch.exp(-x ** 2 / 4.5)
    w = (w[:, None] * w[None, :]) / w.sum() ** 2
    c1, c2, vals = (0.01 * 255) ** 2, (0.03 * 255) ** 2, []
    for i in range(14 - 10):
        for j in range(13 - 10):
            pa, pb = a[0, 0, i:i + 11, j:j + 11], b[0, 0, i:i + 11, j:j + 11]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * pa * pa).sum() - ma ** 2, (w * pb * pb).sum() - mb ** 2
            cov = (w * pa * pb).sum() - ma * mb
            vals.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    assert ssim(a, b).item() == pytest.approx(float(torch.stack(vals).mean()), rel=1e-10)


def test_border_crop_ignores_differences_in_the_border():
    a = torch.randint(0, 256, (1, 3, 24, 24)).double()
    b = a.clone()
    b[..., :4, :] = 0
    b[..., :, -4:] = 255
    assert torch.isinf(psnr(a, b, crop_border=4)).all()
    assert torch.isfinite(psnr(a, b)).all()


def test_y_of_gray_rgb_is_the_studio_range():
    v = torch.tensor([0.0, 255.0]).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    assert to_y(v).flatten().tolist() == pytest.approx([16.0, 235.0])


# ------------------------------------------------------------------ paired data

def random_photos(root: Path, n: int, size=(40, 36), seed: int = 0) -> Path:
    """n smooth RGB images (noise blurred by upsampling), so bicubic is a fair baseline."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        small = rng.integers(0, 256, size=(size[1] // 4, size[0] // 4, 3), dtype=np.uint8)
        Image.fromarray(small).resize(size, Image.Resampling.BICUBIC).save(root / f"p{i:02d}.png")
    return root


def test_sr_batches_are_seeded_crops_with_bicubic_lr(tmp_path):
    hr, _ = load_pairs(load_config("msrresnet-x4", ["data.name=folder", f"data.root={random_photos(tmp_path / 'hr', 6)}"]).data, 4)
    a = SRBatches(hr, None, 4, 16, False, 4, seed=3)
    lr_b, hr_b = a.next()
    assert lr_b.shape == (4, 3, 4, 4) and hr_b.shape == (4, 3, 16, 16)
    assert torch.equal(lr_b, bicubic_down(hr_b * 255, 4) / 255)
    # every HR patch is a crop of one of the images
    sources = [h.float() / 255 for h in hr]
    for patch in hr_b:
        assert any((s.unfold(1, 16, 1).unfold(2, 16, 1) == patch[:, None, None]).all(0).all(-1).all(-1).any()
                   for s in sources)
    b = SRBatches(hr, None, 4, 16, True, 4, seed=3)
    b2 = SRBatches(hr, None, 4, 16, True, 4, seed=3)
    assert all(torch.equal(x, y) for _ in range(3) for x, y in zip(b.next(), b2.next()))


def test_sr_batches_resume_and_split_over_ranks(tmp_path):
    hr, _ = load_pairs(load_config("msrresnet-x4", ["data.name=folder", f"data.root={random_photos(tmp_path / 'hr', 8)}"]).data, 4)
    full = SRBatches(hr, None, 4, 16, True, 4, seed=1)
    for _ in range(3):
        full.next()
    resumed = SRBatches(hr, None, 4, 16, True, 4, seed=1)
    resumed.load_state_dict(full.state_dict())
    ranks = [SRBatches(hr, None, 4, 16, True, 4, seed=1, rank=r, world_size=2) for r in range(2)]
    for r in ranks:
        r.load_state_dict(full.state_dict())
    for _ in range(4):
        lr, hr_b = full.next()
        assert all(torch.equal(x, y) for x, y in zip((lr, hr_b), resumed.next()))
        parts = [r.next() for r in ranks]
        assert torch.equal(torch.cat([p[1] for p in parts]), hr_b)


def test_lr_hr_folder_pairs_are_aligned(tmp_path):
    hr_root = random_photos(tmp_path / "hr", 5)
    lr_root = tmp_path / "lr"
    lr_root.mkdir()
    for p in sorted(hr_root.glob("*.png")):
        hr = torch.from_numpy(np.array(Image.open(p))).permute(2, 0, 1)[None].float()
        lr = bicubic_down(hr, 4)[0].to(torch.uint8).permute(1, 2, 0).numpy()
        Image.fromarray(lr).save(lr_root / p.name)
    data = load_config("msrresnet-x4", ["data.name=folder", f"data.root={hr_root}"]).data
    hr, lr = load_pairs(data, 4, str(lr_root))
    from_files = SRBatches(hr, lr, 4, 32, True, 4, seed=2)
    made = SRBatches(hr, None, 4, 32, True, 4, seed=2)
    for _ in range(3):
        (lf, hf), (lm, hm) = from_files.next(), made.next()
        assert torch.equal(hf, hm)
        # the LR files were made from whole images, the others from crops: equal away from the crop edge
        assert (lf - lm)[..., 2:-2, 2:-2].abs().max() <= 1 / 255 + 1e-6


def test_lr_files_named_as_div2k_names_them_are_paired(tmp_path):
    """DIV2K's LR files are 0001x4.png beside HR 0001.png (MMagic reads them with filename_tmpl '{}x4'): every HR
    image had "no LR image of the same name". A file of the same name still comes first."""
    hr_root = random_photos(tmp_path / "hr", 3)
    lr_root = tmp_path / "lr"
    lr_root.mkdir()
    for p in sorted(hr_root.glob("*.png")):
        with Image.open(p) as im:
            im.resize((10, 9), Image.Resampling.BICUBIC).save(lr_root / f"{p.stem}x4.png")
    data = load_config("msrresnet-x4", ["data.name=folder", f"data.root={hr_root}"]).data
    hr, lr = load_pairs(data, 4, str(lr_root))
    for i, p in enumerate(sorted(hr_root.glob("*.png"))):
        with Image.open(lr_root / f"{p.stem}x4.png") as im:
            assert torch.equal(lr[i], torch.from_numpy(np.array(im)).permute(2, 0, 1))
    Image.fromarray(np.zeros((9, 10, 3), np.uint8)).save(lr_root / "p01.png")  # the same name wins
    assert not load_pairs(data, 4, str(lr_root))[1][1].any() and lr[1].any()
    with pytest.raises(GanforgeError, match=r"no LR image of the same name \(or DIV2K's, NAMEx2\)"):
        load_pairs(data, 2, str(lr_root))  # x4 files are not x2's


def test_paired_folder_errors(tmp_path):
    hr_root = random_photos(tmp_path / "hr", 3)
    data = load_config("msrresnet-x4", ["data.name=folder", f"data.root={hr_root}"]).data
    lr_root = random_photos(tmp_path / "lr", 2, size=(10, 9))
    with pytest.raises(GanforgeError, match=r"no LR image of the same name \(or DIV2K's, NAMEx4\) in"):
        load_pairs(data, 4, str(lr_root))
    random_photos(lr_root, 3, size=(12, 12))
    with pytest.raises(GanforgeError, match="must be 10x9"):
        load_pairs(data, 4, str(lr_root))
    hr, _ = load_pairs(data, 4)
    with pytest.raises(GanforgeError, match="smaller than the 48-pixel patches"):
        SRBatches(hr, None, 4, 48, True, 2, seed=0)
    mixed = hr + [torch.zeros(3, 20, 20, dtype=torch.uint8)]
    with pytest.raises(GanforgeError, match=re.escape(  # it named no size that would do
            "the HR images have 2 different sizes; set sr.patch_size (a multiple of sr.scale=4, at most the smallest "
            "image's side of 20 pixels) to train on crops, e.g. sr.patch_size=20.")):
        SRBatches(mixed, None, 4, 0, True, 2, seed=0)
    big = [torch.zeros(3, 300, 200, dtype=torch.uint8), torch.zeros(3, 150, 400, dtype=torch.uint8)]
    with pytest.raises(GanforgeError, match=r"side of 150 pixels\) to train on crops, e.g. sr.patch_size=128\.$"):
        SRBatches(big, None, 4, 0, True, 2, seed=0)
    with pytest.raises(GanforgeError, match=r"remove the images smaller than 4 pixels first\.$"):
        SRBatches([*big, torch.zeros(3, 3, 9, dtype=torch.uint8)], None, 4, 0, True, 2, seed=0)


# ------------------------------------------------------------------ config

@pytest.mark.parametrize("override, message", [
    ("sr.scale=1", "sr.scale' must be >= 2"),
    ("sr.patch_size=18", "must be a multiple of sr.scale"),
    ("objective.n_critic=2", "set objective.n_critic=1"),
    ("eval.metrics=fid", "must name psnr and/or ssim"),
    ("sr.pixel_loss=l3", "unknown pixel loss 'l3'"),
    ("sr.pixel_weight=0", "needs a loss for G"),
    # settings nothing reads, which were dropped without a word
    ("sr.perceptual_net=vgg19", r"^config key 'sr.perceptual_net' is 'vgg19', but sr.perceptual_weight is 0 \(no "
                                r"perceptual loss\); set sr.perceptual_weight \(srgan-x4's is 1.0\) or drop "
                                r"sr.perceptual_net.$"),
    ("sr.val_lr_root=val_lr", r"^config key 'sr.val_lr_root' is 'val_lr', but sr.val_root is empty: evaluation reads "
                              r"fashion-mnist's test split, whose LR images are made by bicubic downsampling; set "
                              r"sr.val_root to the HR images that sr.val_lr_root's files pair with, or drop "
                              r"sr.val_lr_root.$"),
])
def test_sr_config_errors(override, message):
    with pytest.raises(GanforgeError, match=message):
        load_config("msrresnet-x4", [override])


def test_an_hr_side_the_srgan_discriminator_cannot_halve_names_where_it_comes_from():
    """srgan-x4 at sr.scale=3 on 28x28 images judges 27x27 HR images; the message said to change sr.patch_size,
    which was 0 and had not been set."""
    cfg = load_config("srgan-x4", ["sr.scale=3"])
    with pytest.raises(GanforgeError, match=r"got 27 \(sr.patch_size, or with sr.patch_size=0 data.resolution cut to "
                                            r"a multiple of sr.scale\); set sr.patch_size to a multiple of 2 and of "
                                            r"sr.scale"):
        build_networks(cfg)


def test_a_pixel_loss_that_is_not_one_number_is_named(idx_root, tmp_path, capsys):
    """A user's pixel loss returning a per-pixel tensor, or a constant, was a traceback from backward."""
    plugin = tmp_path / "bad_pixel_losses.py"
    plugin.write_text("import torch\nfrom ganforge.pixel_losses import PIXEL_LOSSES\n"
                      "PIXEL_LOSSES.register('test-per-pixel')(lambda: lambda out, hr: (out - hr).abs())\n"
                      "PIXEL_LOSSES.register('test-constant')(lambda: lambda out, hr: torch.tensor(1.0))\n")
    for name, message in (("test-per-pixel", "pixel loss 'test-per-pixel' must return one number, a scalar tensor "
                                             r"(take the .mean() of a per-pixel loss); it returned a tensor of shape "
                                             "(16, 3, 28, 28)."),
                          ("test-constant", "pixel loss 'test-constant' returned a loss that no weight reaches")):
        assert run_cli("train", "srcnn-x4", "--out", tmp_path / name, "--set", f"plugins=['{plugin}']",
                       "--set", f"sr.pixel_loss={name}", *tiny(idx_root, "train.max_steps=1")) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / name).exists()  # the new run's folder is emptied again


SR_PLUGIN = """
import torch, torch.nn as nn
from ganforge.registry import PERCEPTUAL_NETS, PIXEL_LOSSES
PIXEL_LOSSES.register('test-raises')(lambda: lambda out, hr: out.foo())
PIXEL_LOSSES.register('test-not-a-function')(lambda: 3)
class Gray(nn.Module):  # made for one channel: the RGB probe does not fit it
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
    def forward(self, x):
        return self.conv(x)
class NoGrad(Gray):
    def forward(self, x):
        with torch.no_grad():
            return self.conv(x.mean(1, keepdim=True))
class Named(NoGrad):
    def forward(self, x):
        return {"conv": self.conv(x.mean(1, keepdim=True))}
PERCEPTUAL_NETS.register('test-gray')(Gray)
PERCEPTUAL_NETS.register('test-no-grad')(NoGrad)
PERCEPTUAL_NETS.register('test-named')(Named)
PERCEPTUAL_NETS.register('test-function')(lambda: lambda x: x)
"""


@pytest.mark.parametrize("sets, message", [
    (["sr.pixel_loss=test-raises"], r"pixel loss 'test-raises' \(sr.pixel_loss\) failed on a probe pair of shape "
                                    r"\(2, 3, 28, 28\): AttributeError: .*'foo' \(.*sr_plugin.py:4\)"),
    (["sr.pixel_loss=test-not-a-function"], "pixel loss 'test-not-a-function' .* is built as a 'int', not a function"),
    (["sr.perceptual_net=test-gray"], r"perceptual network 'test-gray' \(sr.perceptual_net\) failed on a probe batch "
                                      r"of shape \(2, 3, 28, 28\) .*RuntimeError: .*\(.*sr_plugin.py:11\)"),
    (["sr.perceptual_net=test-no-grad"], "perceptual network 'test-no-grad' .* returns features that its input does "
                                         "not reach .*so the perceptual loss would teach G nothing"),
    (["sr.perceptual_net=test-named"], "must return a tensor of features or a list of them, got 'dict'"),
    (["sr.perceptual_net=test-function"], "is built as a 'function', not a torch.nn.Module"),
])
def test_a_plugin_pixel_loss_or_perceptual_network_is_tried_before_training(tmp_path, sets, message):
    """Each was a traceback at the first step (from the user's code, or from ganforge's on a dict or a
    non-module), and a network under torch.no_grad trained G on its pixel loss alone without a word."""

    (tmp_path / "sr_plugin.py").write_text(SR_PLUGIN)
    cfg = load_config("srgan-x4", [f"plugins=['{tmp_path / 'sr_plugin.py'}']", "data.channels=3",
                                   "sr.perceptual_weight=0.1", *sets])
    with pytest.raises(GanforgeError, match=message):
        build_objective(cfg, torch.device("cpu"))


def test_a_gan_needs_a_discriminator():
    with pytest.raises(GanforgeError, match="a GAN needs a discriminator"):
        load_config("dcgan-fmnist", ["model.discriminator.name=none"])


# ------------------------------------------------------------------ presets, evaluate, upscale

def sr_sets(photos: tuple[Path, Path], preset: str, *extra: str) -> list[str]:
    """Overrides for a fast run on the tiny photo folders (2 residual blocks for MSRResNet)."""
    sets = ["data.name=folder", f"data.root={photos[0]}", f"sr.val_root={photos[1]}", "sr.patch_size=16",
            "train.batch_size=4", "log.progress=false", "log.every_steps=2", "log.sample_every_steps=3",
            "log.checkpoint_every_steps=3", *([] if preset == "srcnn-x4" else [SMALL_G]), *extra]
    return [a for s in sets for a in ("--set", s)]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("photos")
    return random_photos(root / "train", 12), random_photos(root / "val", 4, size=(48, 44), seed=9)


def test_srgan_starts_from_a_pixel_loss_run_of_its_generator(photos, tmp_path, capsys):
    """The paper's and MMagic's schedule: SRGAN's G from an L1-trained MSRResNet (model.init_from); D from scratch."""
    pixel = tmp_path / "msrresnet"
    assert run_cli("train", "msrresnet-x4", "--out", pixel, *sr_sets(photos, "msrresnet-x4", "train.max_steps=3")) == 0
    gan = tmp_path / "srgan"
    assert run_cli("train", "srgan-x4", "--out", gan, *sr_sets(photos, "srgan-x4", "train.max_steps=1",
                                                               f"model.init_from={pixel}")) == 0
    assert f"D from its own initialization ('{pixel}' has no D)" in capsys.readouterr().err
    cfg = load_config("srgan-x4", [f"model.init_from={pixel}", SMALL_G])
    G = build_objective(cfg, torch.device("cpu")).G
    assert all(torch.equal(v, ckpt.load(pixel / "checkpoints" / "last.pt")["G"][k]) for k, v in G.state_dict().items())


def test_the_fmnist_perceptual_net_on_other_images_is_warned_of(photos):
    """srgan-x4 on photos compared them through the garment classifier, in grey at 28x28, without a word."""
    photo_sets = ["data.name=folder", f"data.root={photos[0]}", "sr.patch_size=16", SMALL_G]
    with pytest.warns(UserWarning, match=r"^sr.perceptual_net 'fmnist' compares .* on 'folder' images it stands in "
                                         r"for SRGAN's VGG19 only loosely: it sees them in grey, resized to 28x28\."):
        build_objective(load_config("srgan-x4", photo_sets), torch.device("cpu"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_objective(load_config("srgan-x4", [SMALL_G]), torch.device("cpu"))  # its own data: garments
        build_objective(load_config("srgan-x4", [*photo_sets, "sr.perceptual_weight=0"]), torch.device("cpu"))


def test_a_folder_of_photos_of_many_sizes_trains(photos, tmp_path):
    """DIV2K's images differ in size: training on crops of them ended in a traceback from the grid of real images
    that TensorBoard gets at the start, which tried to lay the whole images side by side."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    mixed = tmp_path / "mixed"
    for i, size in enumerate([(40, 36), (52, 44), (36, 60)]):
        random_photos(mixed / str(i), 2, size=size, seed=i)
    run = tmp_path / "run"
    sets = sr_sets(photos, "srcnn-x4", f"data.root={mixed}", "train.batch_size=2", "train.max_steps=2")
    assert run_cli("train", "srcnn-x4", "--out", run, *sets) == 0
    events = EventAccumulator(str(run / "tb"), size_guidance={"images": 0})
    events.Reload()
    [real] = events.Images("real")  # the centre 16-pixel patches of the six photos, as the sample grids show them
    with Image.open(io.BytesIO(real.encoded_image_string)) as im:
        assert im.size == (3 * 18 + 2, 2 * 18 + 2)  # 6 patches in 2 rows of 3, with 2-pixel gaps


@pytest.mark.parametrize("preset", SR_PRESETS)
def test_sr_presets_train_evaluate_and_resume(preset, photos, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_cli("train", preset, "--out", run, *sr_sets(photos, preset, "train.max_steps=3")) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert "loss_pix" in records[-1]
    assert ("loss_d" in records[-1]) == (preset == "srgan-x4")
    assert ("loss_perceptual" in records[-1]) == (preset == "srgan-x4")
    with Image.open(run / "samples" / "step_0000003.png") as grid:  # bicubic / SR / HR rows of 16x16 patches
        assert grid.size[1] == 3 * (16 + 2) + 2
    assert run_cli("train", preset, "--out", run, "--resume", *sr_sets(photos, preset, "train.max_steps=5")) == 0
    assert ckpt.load(run / "checkpoints" / "last.pt")["state"]["step"] == 5
    assert run_cli("evaluate", run, "--json", tmp_path / "e.json") == 0
    result = json.loads((tmp_path / "e.json").read_text())
    assert {"psnr", "ssim", "psnr_bicubic", "ssim_bicubic", "psnr_rgb", "ssim_rgb"} <= set(result)
    assert result["protocol"]["images"] == 4 and all(np.isfinite(result[k]) for k in ("psnr", "ssim"))
    assert "--metrics" not in capsys.readouterr().err
    assert run_cli("evaluate", run, "--metrics", "fid", "--json", tmp_path / "e2.json") == 0  # scored all the same
    assert "--metrics fid does not apply to a super-resolution run" in capsys.readouterr().err
    # its own metrics' names are taken (they were "unknown metric 'psnr'. Did you mean 'pr'?"), and said nothing of
    assert run_cli("evaluate", run, "--metrics", "PSNR,ssim", "--json", tmp_path / "e5.json") == 0
    assert "--metrics" not in capsys.readouterr().err and "psnr" in json.loads((tmp_path / "e5.json").read_text())
    assert run_cli("evaluate", run, "--features", "inception", "--ref", "test", "--json", tmp_path / "e3.json") == 0
    assert "--features inception, --ref test do not apply to a super-resolution run" in capsys.readouterr().err
    assert "psnr" in json.loads((tmp_path / "e2.json").read_text())
    # PSNR/SSIM are per image: fewer than metric pr's minimum of 6 is fine, and 0 is refused in one line
    assert run_cli("evaluate", run, "--num", "3", "--json", tmp_path / "e4.json") == 0
    assert json.loads((tmp_path / "e4.json").read_text())["protocol"]["images"] == 3
    assert run_cli("evaluate", run, "--num", "0") == 2
    assert "--num must be >= 1, got 0" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="--num 10 is more than the 4 validation images; all of them were scored"):
        assert run_cli("evaluate", run, "--num", "10", "--json", tmp_path / "e5.json") == 0  # no --num: all, silently


def test_srgan_with_a_relativistic_objective_like_esrgan(photos, tmp_path):
    """An objective subclass drives SR's adversarial terms too: its d_loss, and its g_loss with the HR batch."""
    example = Path(__file__).resolve().parents[1] / "examples" / "custom_objective.py"
    run = tmp_path / "esrgan"
    assert run_cli("train", "srgan-x4", "--out", run, *sr_sets(photos, "srgan-x4", "train.max_steps=2",
                                                             f"plugins=['{example}']",
                                                             "objective.name=example-relativistic")) == 0
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"d_margin", "g_margin", "loss_g_adv", "loss_pix"} <= record.keys() and math.isfinite(record["loss_g_adv"])


def test_sr_resume_is_bitwise_identical(photos, tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    assert run_cli("train", "srgan-x4", "--out", full, *sr_sets(photos, "srgan-x4", "train.max_steps=6", BITWISE)) == 0
    assert run_cli("train", "srgan-x4", "--out", part, *sr_sets(photos, "srgan-x4", "train.max_steps=3", BITWISE)) == 0
    assert run_cli("train", "srgan-x4", "--out", part, "--resume",
                   *sr_sets(photos, "srgan-x4", "train.max_steps=6", BITWISE)) == 0
    a, b = ckpt.load(full / "checkpoints" / "last.pt"), ckpt.load(part / "checkpoints" / "last.pt")
    for key in ("G", "D"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name}"


class Bicubic(torch.nn.Module):
    """A 'generator' that is bicubic upsampling: its figures must equal the baseline's."""

    def __init__(self) -> None:
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return bicubic_up(x, 4) + self.p


def test_evaluate_sr_compares_against_the_bicubic_baseline(photos):
    cfg = load_config("msrresnet-x4", ["data.name=folder", f"data.root={photos[0]}", f"sr.val_root={photos[1]}"])
    result = evaluate_sr(Bicubic(), cfg)
    assert result["psnr"] == pytest.approx(result["psnr_bicubic"], abs=0.02)
    assert result["ssim"] == pytest.approx(result["ssim_bicubic"], abs=1e-3)
    lr, hr = validation_pairs(cfg)
    assert len(hr) == 4 and hr[0].shape[-2:] == (44, 48) and lr[0].shape[-2:] == (11, 12)


def test_tiled_upscaling_equals_whole_image():
    torch.manual_seed(0)
    G = MSRResNet(MSRResNetOptions(num_blocks=1), channels=3, scale=4).eval()
    lr = torch.rand(1, 3, 37, 29)
    with torch.no_grad():
        whole = G(lr)
    tiled = upscale_tensor(G, lr, 4, tile=8, overlap=8)  # overlap covers the receptive field
    assert tiled.shape == (1, 3, 148, 116)
    assert not tiled.requires_grad  # run without autograd: no graph of every tile is kept
    assert torch.allclose(tiled, whole, atol=1e-5)
    as_png = upscale_tensor(G, lr, 4, tile=8, overlap=8, convert=unit_to_uint8)  # each tile stored as uint8
    assert as_png.dtype == torch.uint8 and as_png.shape == (1, 3, 148, 116)
    assert (as_png.int() - unit_to_uint8(whole).int()).abs().max() <= 1  # rounding of a 1e-5 difference at most


def test_whole_images_of_another_side_than_the_discriminator_is_built_for_are_named(photos, tmp_path, capsys):
    """srgan-x4 with sr.patch_size=0 on a folder of 40x36 images: D was built for data.resolution's 28, and its
    first step was torch's "mat1 and mat2 shapes cannot be multiplied" traceback."""
    run = tmp_path / "whole"
    assert run_cli("train", "srgan-x4", "--out", run, *sr_sets(photos, "srgan-x4", "sr.patch_size=0",
                                                               "train.max_steps=1")) == 2
    assert capsys.readouterr().err.strip() == (
        "ganforge: error: sr.patch_size=0 trains on the whole images, cropped to the largest square they share: 36 "
        "pixels here, but discriminator 'srgan' is built for HR patches of 28 (data.resolution=28 cut to a multiple "
        "of sr.scale=4); set data.resolution=36, or sr.patch_size to a multiple of 4 up to 36.")
    assert run_cli("train", "srgan-x4", "--out", run, *sr_sets(photos, "srgan-x4", "sr.patch_size=0",
                                                               "data.resolution=36", "train.max_steps=1")) == 0


@pytest.fixture(scope="module")
def sr_run(photos, tmp_path_factory) -> Path:
    """A 2-step MSRResNet run, for upscale."""
    run = tmp_path_factory.mktemp("sr") / "run"
    assert run_cli("train", "msrresnet-x4", "--out", run, *sr_sets(photos, "msrresnet-x4", "train.max_steps=2")) == 0
    return run


def test_upscale_from_python_gives_the_commands_image(sr_run, photos, tmp_path):
    src = sorted(photos[1].glob("*.png"))[0]
    assert run_cli("upscale", sr_run, src, "--out", tmp_path / "one.png", "--tile", "5") == 0
    with Image.open(src) as lr, Image.open(tmp_path / "one.png") as written:
        one = ganforge.upscale(sr_run, lr, tile=5)
        assert np.array_equal(one.numpy().transpose(1, 2, 0), np.asarray(written))
        batch = torch.as_tensor(np.array(lr.convert("RGB"))).permute(2, 0, 1)[None].repeat(2, 1, 1, 1)
    assert torch.equal(ganforge.upscale(sr_run, batch, tile=5), one[None].repeat(2, 1, 1, 1))
    with pytest.raises(GanforgeError, match=r"upscale takes uint8 images .* with C 3, as the run was trained, "
                                            r"got torch.uint8 \(1, 8, 8\)"):
        ganforge.upscale(sr_run, torch.zeros(1, 8, 8, dtype=torch.uint8))


def test_upscale_from_python_takes_a_path_and_says_how_to_convert_what_it_cannot_take(sr_run, photos, tmp_path):
    """A path (a str or Path) was torch's "new(): invalid data type 'str'", a list of PIL images "Could not infer
    dtype of Image"; a float or channels-last image gets the conversion to write."""
    src = sorted(photos[1].glob("*.png"))[0]
    with Image.open(src) as lr:
        one = ganforge.upscale(sr_run, lr, tile=5)
    assert torch.equal(ganforge.upscale(sr_run, str(src), tile=5), one)
    assert torch.equal(ganforge.upscale(sr_run, src, tile=5), one)
    # transparent pixels are put on white and said so, as the command says it (it was silent from Python)
    Image.new("RGBA", (3, 3)).save(tmp_path / "clear.png")
    with pytest.warns(DataWarning, match=rf"^'{re.escape(str(tmp_path / 'clear.png'))}' has transparent pixels, "
                                         r"which were put on a white background \(the upscaled image has no "
                                         r"transparency\)\.$"):
        ganforge.upscale(sr_run, tmp_path / "clear.png")
    with Image.open(tmp_path / "clear.png") as clear, pytest.warns(DataWarning, match=r"^the image has transparent"):
        ganforge.upscale(sr_run, clear)
    for given, said in (
            (photos[1], f"upscale takes one image, but '{photos[1]}' is a folder; upscale a folder with the command: "
                        f"ganforge upscale RUN '{photos[1]}' --out FOLDER"),
            (tmp_path / "nothere.png", f"'{tmp_path / 'nothere.png'}' does not exist"),
            ([Image.new("RGB", (8, 8))] * 2, "upscale takes one image or one batch (N, C, h, w), got a list of 2; "
                                             "upscale each: [ganforge.upscale(run, image) for image in images]"),
            (torch.rand(3, 8, 8, requires_grad=True),
             "got torch.float32 (3, 8, 8). For floats in [0, 1] (super-resolution's range), pass (x * 255).round()"
             ".clamp(0, 255).to(torch.uint8)."),
            (np.zeros((8, 8, 3), np.uint8), "got torch.uint8 (8, 8, 3). It looks channels-last (h, w, C): pass "
                                            "x.transpose(2, 0, 1).")):
        with pytest.raises(GanforgeError, match=re.escape(said)):
            ganforge.upscale(sr_run, given)


def test_upscale_from_python_reads_a_16_bit_or_float_image_as_the_command_does(sr_run, tmp_path):
    """A PIL image given to ganforge.upscale is scaled as the command scales the file, not clipped by convert()."""
    levels = np.arange(144, dtype=np.float32).reshape(12, 12) / 143
    Image.fromarray(np.rint(levels * 65535).astype(np.uint16)).save(tmp_path / "deep.png")
    Image.fromarray(levels, "F").save(tmp_path / "unit.tif")
    for name in ("deep.png", "unit.tif"):
        assert run_cli("upscale", sr_run, tmp_path / name, "--out", tmp_path / f"{name}.x4.png", "--tile", "5") == 0
        with Image.open(tmp_path / name) as lr, Image.open(tmp_path / f"{name}.x4.png") as written:
            assert np.array_equal(ganforge.upscale(sr_run, lr, tile=5).numpy().transpose(1, 2, 0), np.asarray(written))
    with pytest.raises(GanforgeError, match=r"upscale cannot read this image: a float image with values from -1 to 1; "
                                            r"ganforge reads float images in \[0, 1\] or \[0, 255\]"):
        ganforge.upscale(sr_run, Image.fromarray(levels * 2 - 1, "F"))


def test_upscale_command_writes_4x_images(sr_run, photos, tmp_path, capsys):
    run = sr_run
    src = sorted(photos[1].glob("*.png"))[0]
    assert run_cli("upscale", run, src, "--out", tmp_path / "one.png", "--tile", "5") == 0
    # a fresh process (torch warns once per process): no warning about a read-only decoded image (a 1x1 one was)
    Image.new("L", (1, 1)).save(tmp_path / "dot.png")
    fresh = subprocess.run([sys.executable, "-m", "ganforge", "upscale", run, tmp_path / "dot.png", "--out",
                            tmp_path / "dot4.png"], capture_output=True, text=True, timeout=120)
    assert fresh.returncode == 0 and "warning" not in fresh.stderr, fresh.stderr
    # nor from Python, given a read-only array (torch warned that it does not support non-writable tensors)
    fresh = subprocess.run([sys.executable, "-c", "import ganforge, numpy as np; a = np.zeros((1, 3, 4, 4), np.uint8); "
                            f"a.flags.writeable = False; ganforge.upscale({str(run)!r}, a)"],
                           capture_output=True, text=True, timeout=120)
    assert fresh.returncode == 0 and "warning" not in fresh.stderr.lower(), fresh.stderr
    with Image.open(src) as a, Image.open(tmp_path / "one.png") as b:
        assert b.size == (4 * a.size[0], 4 * a.size[1]) and b.mode == "RGB"
    Image.new("RGBA", (3, 3)).save(tmp_path / "clear.png")  # transparent black: white, said so, no traceback
    with pytest.warns(DataWarning, match="has transparent pixels, which were put on a white background"):
        assert run_cli("upscale", run, tmp_path / "clear.png", "--out", tmp_path / "clear4.png") == 0
    assert run_cli("upscale", run / "checkpoints" / "last.pt", photos[1], "--out", tmp_path / "many") == 0
    assert len(list((tmp_path / "many").glob("*.png"))) == 4
    inside = tmp_path / "inside"  # --out inside INPUT: its outputs are not upscaled again by the next run
    shutil.copytree(photos[1], inside)
    for _ in range(2):
        assert run_cli("upscale", run, inside, "--out", inside / "x4") == 0
    assert sorted(p.relative_to(inside).as_posix() for p in (inside / "x4").rglob("*")) == \
        sorted(f"x4/{p.name}" for p in photos[1].glob("*.png"))  # was x4/x4/*.png, at 16x, the second time
    mixed = tmp_path / "mixed"  # x.jpg and x.png both become x.png unless one keeps its whole name
    mixed.mkdir()
    for name in ("x.png", "x.jpg", "y.bmp"):
        Image.new("RGB", (6, 5), "red" if name == "x.png" else "blue").save(mixed / name)
    assert run_cli("upscale", run, mixed, "--out", tmp_path / "mixed4") == 0
    assert sorted(p.name for p in (tmp_path / "mixed4").iterdir()) == ["x.jpg.png", "x.png", "y.png"]
    with Image.open(tmp_path / "mixed4" / "x.png") as red, Image.open(tmp_path / "mixed4" / "x.jpg.png") as blue:
        assert np.asarray(red).mean(axis=(0, 1)).argmax() == 0 and np.asarray(blue).mean(axis=(0, 1)).argmax() == 2
    capsys.readouterr()
    assert run_cli("upscale", run, tmp_path / "missing.png", "--out", tmp_path / "x.png") == 2
    assert "does not exist" in capsys.readouterr().err
    assert run_cli("upscale", run, tmp_path / "dott.png", "--out", tmp_path / "x.png") == 2  # a typo
    assert f"Did you mean '{tmp_path / 'dot.png'}'?" in capsys.readouterr().err
    assert run_cli("upscale", run, src, "--out", tmp_path / "one.jpg") == 2  # not a folder named one.jpg
    assert "writes lossless PNG images; name the file .png" in capsys.readouterr().err
    assert not (tmp_path / "one.jpg").exists()
    assert run_cli("upscale", run, photos[1], "--out", tmp_path / "all.png") == 2  # a folder in: a folder out
    assert "is a folder, so --out must be a folder too" in capsys.readouterr().err
    assert not (tmp_path / "all.png").exists()
    assert run_cli("sample", run, "--num", "2", "--out", tmp_path / "s.npy") == 2
    assert f"Use: ganforge upscale {run} INPUT --out OUTPUT." in capsys.readouterr().err  # the run named
    before = {p: p.read_bytes() for p in photos[1].glob("*.png")}  # --out that is the input: refused, none replaced
    assert run_cli("upscale", run, src, "--out", src) == 2
    assert run_cli("upscale", run, photos[1], "--out", photos[1]) == 2
    assert "over the input image of the same name; choose another --out" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in photos[1].glob("*.png")} == before


def test_upscale_writes_each_image_before_reading_the_next(sr_run, tmp_path, monkeypatch):
    """A folder is streamed: memory holds one image, and a long job's first outputs appear at once.
    (It decoded the whole folder first.) An unreadable file is skipped with the folder's warning."""
    import ganforge.upscaling as up

    src = random_photos(tmp_path / "in", 3, size=(12, 8))
    (src / "p01.png").write_bytes(b"not a png")
    seen = []
    real_decode = up.decode_image
    monkeypatch.setattr(up, "decode_image", lambda path, *a: (
        seen.append(sorted(p.name for p in (tmp_path / "out").glob("*.png"))), real_decode(path, *a))[1])
    with pytest.warns(DataWarning, match=r"skipped 1 of 3 files .* p01.png \(UnidentifiedImageError"):
        assert run_cli("upscale", sr_run, src, "--out", tmp_path / "out") == 0
    assert seen == [[], ["p00.png"], ["p00.png"]]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p00.png", "p02.png"]
    with Image.open(tmp_path / "out" / "p02.png") as img:
        assert img.size == (48, 32)



def test_upscaling_a_folder_says_how_far_it_has_got(sr_run, tmp_path, monkeypatch, capsys):
    """In a log file a line every 30 s (here after every image), where the bar was drawn on a terminal alone."""
    from ganforge import progress

    monkeypatch.setattr(progress, "LINE_SECONDS", 0.0)
    assert run_cli("upscale", sr_run, random_photos(tmp_path / "in", 3), "--out", tmp_path / "out") == 0
    assert "ganforge: upscaling: 3 of 3 images (100 %)\n" in capsys.readouterr().err

def test_a_signal_during_upscaling_a_folder_says_how_many_are_done(sr_run, tmp_path):
    """Each upscaled PNG is whole, but an interrupted folder holds only some of them: said, with the way to all."""
    src = random_photos(tmp_path / "in", 300)
    code, out, done = interrupt_once_it_wrote(tmp_path / "out", 2, "upscale", sr_run, src, "--out", tmp_path / "out")
    assert code == 130 and "Traceback" not in out, out
    assert (f"ganforge: interrupted: '{tmp_path / 'out'}' holds the upscaled images of the first {done:,} of the "
            "300 files, each whole; the same command upscales them all.") in out, out



def test_a_signal_just_after_an_upscaled_image_is_written_counts_it(sr_run, tmp_path, monkeypatch, capsys):
    """As for sample: a signal after a PNG's write and before its count said one file fewer than the folder held."""
    import ganforge.upscaling as up
    from ganforge import images

    src = random_photos(tmp_path / "in", 5)
    written = []

    def save_then_ctrl_c(img, path):
        images.save_png(img, path)
        written.append(path)
        if len(written) == 2:  # a real SIGINT, once the second image is whole on disk
            ctrl_c_through_another_thread()
    monkeypatch.setattr(up, "save_png", save_then_ctrl_c)
    assert run_cli("upscale", sr_run, src, "--out", tmp_path / "out") == 130
    assert len(list((tmp_path / "out").glob("*.png"))) == 2
    assert (f"ganforge: interrupted: '{tmp_path / 'out'}' holds the upscaled images of the first 2 of the 5 files, "
            "each whole; the same command upscales them all.") in capsys.readouterr().err

def test_an_out_that_cannot_be_written_is_refused_before_upscaling(sr_run, photos, tmp_path, monkeypatch, capsys):
    """A large image takes minutes to upscale on a CPU; a bad --out was found only when writing after it."""
    import ganforge.upscaling as up

    monkeypatch.setattr(up, "upscale_tensor", lambda *a, **k: pytest.fail("upscaled before --out was checked"))
    (tmp_path / "blocker").write_text("a file, not a folder")
    one = sorted(photos[1].glob("*.png"))[0]
    for given, out in ((one, "blocker/x4.png"), (photos[1], "blocker/x4")):  # an image, then a folder
        assert run_cli("upscale", sr_run, given, "--out", tmp_path / out) == 2
        err = capsys.readouterr().err
        assert re.search(r"cannot create the folder '.*blocker(/x4)?': '.*blocker' is a file, not a folder", err), err


def huge_png_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` (the pixel data is a 1x1 image's): a size check
    that reads headers sees the claim without anything that large on disk."""
    import struct
    import zlib

    Image.new("RGB", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)  # IHDR's width and height, after the signature and chunk head
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def test_images_too_large_for_memory_are_refused_from_their_headers(sr_run, photos, tmp_path, monkeypatch, capsys):
    """Real checks against this machine's memory: a 1,000,000-pixel-square image needs terabytes. Pillow's
    own limit (a decompression-bomb guard) is lifted so the header opens, as it would for a large photo."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    src = random_photos(tmp_path / "in", 2, size=(12, 8))
    huge_png_header(src / "p01.png", 1_000_000, 1_000_000)
    for given in (src, src / "p01.png"):
        assert run_cli("upscale", sr_run, given, "--out", tmp_path / "out") == 2
        assert ("(1000000x1000000) x4 to 4000000x4000000 would need about 111,000.0 GB of memory, but"
                in capsys.readouterr().err)
        assert not (tmp_path / "out").exists()  # checked before the first image was written
    cfg = load_config("msrresnet-x4", ["data.name=folder", f"data.root={src}"])
    with pytest.raises(GanforgeError, match=r"2 images in .* at their own sizes \(3 channels\) would need about "
                                            r"3,000.0 GB of memory, .* use fewer or smaller images in data.root"):
        load_pairs(cfg.data, 4)


def test_folder_sr_evaluation_needs_held_out_images(photos):
    cfg = load_config("msrresnet-x4", ["data.name=folder", f"data.root={photos[0]}"])
    with pytest.raises(GanforgeError, match="needs held-out images: set sr.val_root"):
        validation_pairs(cfg)


@pytest.mark.parametrize("val", ["missing", "empty", "none", "missing, not evaluating"])
def test_held_out_images_are_checked_before_training_that_evaluates(val, photos, tmp_path, capsys):
    """A missing sr.val_root was found only at the first evaluation, with the steps before it unsaved; in a run
    that does not evaluate as it trains, only at ganforge evaluate after the whole run."""
    (tmp_path / "empty").mkdir()
    val_root = {"missing": [f"sr.val_root={tmp_path / 'nowhere'}"], "empty": [f"sr.val_root={tmp_path / 'empty'}"],
                "none": ["sr.val_root="], "missing, not evaluating": [f"sr.val_root={tmp_path / 'nowhere'}"]}[val]
    every_kimg = "eval.every_kimg=0" if val.endswith("not evaluating") else "eval.every_kimg=1"
    assert run_cli("train", "srcnn-x4", "--out", tmp_path / "r",
                   *sr_sets(photos, "srcnn-x4", every_kimg, "train.max_steps=600", *val_root)) == 2
    assert re.search({"missing": "sr.val_root '.*nowhere' does not exist", "empty": "sr.val_root '.*empty' holds no "
                      "images", "none": "needs held-out images: set sr.val_root"}[val.split(",")[0]],
                     capsys.readouterr().err)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_a_colour_image_through_a_grayscale_run_says_it_comes_out_gray(idx_root, tmp_path):
    """A folder said so in its warning; one file was turned gray without a word."""
    run = tmp_path / "gray"
    assert run_cli("train", "srcnn-x4", "--out", run, "--set", f"data.root={idx_root}", "--set", "data.channels=1",
                   "--set", "train.max_steps=2", "--set", "log.progress=false") == 0
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    with pytest.warns(DataWarning, match=r"has colour, but the run was trained on grayscale images \(data.channels=1\), "
                                         r"so it was converted to grayscale and so is the upscaled image"):
        assert run_cli("upscale", run, tmp_path / "rgb.png", "--out", tmp_path / "x4.png") == 0
    with Image.open(tmp_path / "x4.png") as out:
        assert out.mode == "L" and out.size == (48, 48)
    # and from Python, given the path or the opened image (it was turned gray without a word there)
    with pytest.warns(DataWarning, match=rf"^'{re.escape(str(tmp_path / 'rgb.png'))}' has colour, but the run was "
                                         r"trained on grayscale images"):
        assert ganforge.upscale(run, tmp_path / "rgb.png").shape == (1, 48, 48)
    with Image.open(tmp_path / "rgb.png") as rgb, pytest.warns(DataWarning, match=r"^the image has colour, but"):
        ganforge.upscale(run, rgb)


def test_a_negative_tile_or_overlap_is_refused_before_the_run_is_read(tmp_path, capsys):
    """Named as given: the command's flags, or Python's arguments (the check was written once for each)."""
    import ganforge

    assert run_cli("upscale", tmp_path / "no-run", tmp_path / "in.png", "--out", tmp_path / "o.png",
                   "--tile", -1) == 2
    assert capsys.readouterr().err == "ganforge: error: --tile and --overlap must be >= 0, got -1 and 16.\n"
    with pytest.raises(GanforgeError, match=r"^tile and overlap must be >= 0, got 128 and -2\.$"):
        ganforge.upscale(tmp_path / "no-run", np.zeros((1, 4, 4), np.uint8), overlap=-2)


def test_upscale_refuses_a_gan_run(idx_root, photos, tmp_path, capsys):
    from conftest import tiny

    assert run_cli("train", "mlp-gan-fmnist", "--out", tmp_path / "gan", *tiny(idx_root, "train.max_steps=2")) == 0
    capsys.readouterr()
    assert run_cli("upscale", tmp_path / "gan", photos[1], "--out", tmp_path / "o") == 2
    assert "not a super-resolution run" in capsys.readouterr().err


def test_pixel_and_perceptual_losses():
    from ganforge.pixel_losses import FashionPerceptual, PerceptualLoss, charbonnier
    from ganforge.registry import PERCEPTUAL_NETS

    a, b = torch.rand(2, 3, 28, 28), torch.rand(2, 3, 28, 28)
    assert charbonnier(a, b).item() == pytest.approx(F.l1_loss(a, b).item(), abs=1e-5)
    perceptual = PerceptualLoss(FashionPerceptual())
    assert perceptual(a, a).item() == 0 and perceptual(a, b).item() > 0
    out = a.clone().requires_grad_(True)
    perceptual(out, b).backward()
    assert out.grad.abs().sum() > 0  # differentiable through the frozen network
    # its BatchNorms are folded into the convs, for speed: the features of the network as shipped, to rounding
    from ganforge.metrics.fmnist_net import MEAN, STD, load_fmnist_net

    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in perceptual.net.modules())
    gray = (a * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    shipped = load_fmnist_net().eval().body((gray - MEAN) / STD)
    assert torch.allclose(perceptual.net(a), shipped, atol=1e-5) and shipped.abs().max() > 0.1

    # a user's network, registered by name, returning several feature maps
    @PERCEPTUAL_NETS.register("test-two-pools")
    class TwoPools(torch.nn.Module):
        def forward(self, x):
            return [F.avg_pool2d(x, 2), F.avg_pool2d(x, 4)]

    cfg = load_config("srgan-x4", ["sr.perceptual_net=test-two-pools"])
    loss = PerceptualLoss(PERCEPTUAL_NETS.build(cfg.sr.perceptual_net))
    expected = (F.l1_loss(F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)) + F.l1_loss(F.avg_pool2d(a, 4), F.avg_pool2d(b, 4))) / 2
    assert loss(a, b).item() == pytest.approx(expected.item())
    with pytest.raises(GanforgeError, match="unknown perceptual network 'vgg19'"):
        load_config("srgan-x4", ["sr.perceptual_net=vgg19"])


def test_sr_metric_names_in_any_case():
    from ganforge.metrics.sr_eval import parse_sr_metrics

    assert parse_sr_metrics("PSNR, ssim") == ("psnr", "ssim")  # it said "must name psnr and/or ssim"
