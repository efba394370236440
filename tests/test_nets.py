import pytest
import torch
import torch.nn as nn

from ganforge.config import load_config
from ganforge.errors import GanforgeError
from ganforge.nets import build_networks
from ganforge.registry import DISCRIMINATORS, GENERATORS


@pytest.mark.parametrize("preset, shape", [
    ("mlp-gan-fmnist", (1, 28, 28)), ("mmengine-gan-fmnist", (1, 28, 28)), ("dcgan-fmnist", (1, 28, 28)),
    ("hw6-dcgan-64", (3, 64, 64)), ("hw6-wgan-gp-64", (3, 64, 64)), ("mmagic-dcgan-64", (3, 64, 64)),
])
def test_preset_networks_shapes(preset, shape):
    cfg = load_config(preset)
    G, D = build_networks(cfg)
    x = G(torch.randn(3, cfg.model.z_dim))
    assert x.shape == (3, *shape) and x.abs().max() <= 1  # Tanh output
    assert D(x).shape == (3,)


def test_default_dcgan_also_makes_32px():
    G, D = build_networks(load_config("dcgan-fmnist", ["data.resolution=32"]))
    assert G(torch.randn(2, 64)).shape == (2, 1, 32, 32)


def _convs(module, kind):
    return [m for m in module.modules() if isinstance(m, kind)]


def test_hw6_layers_follow_seed_002():
    G, D = build_networks(load_config("hw6-dcgan-64"))
    ups = _convs(G, nn.ConvTranspose2d)
    assert len(ups) == 4
    assert all((m.kernel_size, m.stride, m.padding, m.output_padding) == ((5, 5), (2, 2), (2, 2), (1, 1)) for m in ups)
    assert [m.out_channels for m in ups] == [256, 128, 64, 3]
    convs = _convs(D, nn.Conv2d)
    assert [(m.kernel_size, m.stride, m.padding) for m in convs[:4]] == [((4, 4), (2, 2), (1, 1))] * 4
    assert len(_convs(D, nn.BatchNorm2d)) == 3
    assert not any(isinstance(m, nn.Sigmoid) for m in D.modules())
    assert [m.negative_slope for m in D.modules() if isinstance(m, nn.LeakyReLU)] == [0.2] * 4
    _, D_gp = build_networks(load_config("hw6-wgan-gp-64"))
    assert len(_convs(D_gp, nn.InstanceNorm2d)) == 3 and not _convs(D_gp, nn.BatchNorm2d)


def test_dcgan_init_is_n_0_002():
    torch.manual_seed(0)
    G, D = build_networks(load_config("hw6-dcgan-64"))
    w = torch.cat([m.weight.flatten() for m in _convs(G, nn.ConvTranspose2d) + _convs(D, nn.Conv2d)])
    assert abs(w.mean()) < 1e-3 and abs(w.std() - 0.02) < 1e-3
    bn = torch.cat([m.weight for m in G.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(bn.mean() - 1) < 0.01 and abs(bn.std() - 0.02) < 0.005  # HW6: N(1, 0.02)
    Gm, _ = build_networks(load_config("mmagic-dcgan-64"))
    bn = torch.cat([m.weight for m in Gm.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(bn.std() - 1) < 0.05  # MMagic: nn.init.normal_ -> N(0, 1)


def test_mmagic_dcgan_widths():
    G, D = build_networks(load_config("mmagic-dcgan-64"))
    assert [m.out_channels for m in _convs(G, nn.ConvTranspose2d)] == [1024, 512, 256, 128, 3]
    assert [m.out_channels for m in _convs(D, nn.Conv2d)] == [128, 256, 512, 1024, 1]


def test_mmengine_mlp_batchnorm_eps():
    G, _ = build_networks(load_config("mmengine-gan-fmnist"))
    bns = [m for m in G.modules() if isinstance(m, nn.BatchNorm1d)]
    assert [m.num_features for m in bns] == [256, 512, 1024] and all(m.eps == 0.8 for m in bns)


@pytest.mark.parametrize("preset, res, pattern", [
    ("hw6-dcgan-64", 32, "'hw6-dcgan' cannot produce 32x32 images; it supports 64x64 only"),
    ("mmagic-dcgan-64", 48, "'mmagic-dcgan' cannot produce 48x48"),
    ("dcgan-fmnist", 27, "'dcgan' cannot produce 27x27"),
])
def test_resolution_the_network_cannot_make(preset, res, pattern):
    with pytest.raises(GanforgeError, match=pattern):
        build_networks(load_config(preset, [f"data.resolution={res}"]))


def test_registry_lists_valid_names():
    with pytest.raises(GanforgeError, match=r"Registered generators: .*dcgan.*hw6-dcgan.*mlp"):
        GENERATORS.get("nope")
    assert {"mlp", "dcgan", "hw6-dcgan", "mmagic-dcgan"} <= set(DISCRIMINATORS.names())

