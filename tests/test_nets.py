import pytest
import torch
import torch.nn as nn

from ganforge.config import load_config
from ganforge.errors import GanforgeError
from ganforge import nets as nets_module
from ganforge.nets import build_networks
from ganforge.nets.layers import ImageOutputConv2d, MapsLinear
from ganforge.registry import DISCRIMINATORS, GENERATORS


@pytest.mark.parametrize("preset, shape", [
    ("mlp-gan-fmnist", (1, 28, 28)), ("mmengine-gan-fmnist", (1, 28, 28)), ("dcgan-fmnist", (1, 28, 28)),
    ("hw6-dcgan-64", (3, 64, 64)), ("hw6-wgan-gp-64", (3, 64, 64)), ("mmagic-dcgan-64", (3, 64, 64)),
    ("sngan-cifar10", (3, 32, 32)),
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


def test_sngan_standard_cnn_follows_the_authors_code():
    """Miyato et al.'s CIFAR-10 standard CNN with chainer-gan-lib's widths; 48x48 (STL-10) starts at 6x6."""
    torch.manual_seed(0)
    G, D = build_networks(load_config("sngan-cifar10"))
    assert G.fc.out_features == 512 * 4 * 4
    assert [m.out_channels for m in _convs(G, nn.ConvTranspose2d)] == [256, 128, 64]
    assert [(m.kernel_size, m.stride, m.padding) for m in _convs(G, nn.ConvTranspose2d)] == [((4, 4), (2, 2), (1, 1))] * 3
    convs = _convs(D, nn.Conv2d)
    assert [m.out_channels for m in convs] == [64, 128, 128, 256, 256, 512, 512]
    assert [m.kernel_size[0] for m in convs] == [3, 4, 3, 4, 3, 4, 3] and [m.stride[0] for m in convs] == [1, 2, 1, 2, 1, 2, 1]
    assert not _convs(D, nn.modules.batchnorm._BatchNorm) and D.fc.in_features == 512 * 4 * 4
    assert {m.negative_slope for m in D.modules() if isinstance(m, nn.LeakyReLU)} == {0.1}
    w = torch.cat([m.parametrizations.weight.original.flatten() for m in convs])  # spectral norm is on in the preset
    assert abs(w.std() - 0.02) < 1e-3
    G48, D48 = build_networks(load_config("sngan-cifar10", ["data.resolution=48"]))
    assert G48(torch.randn(2, 128)).shape == (2, 3, 48, 48) and G48.start == (512, 6)


def test_mmengine_mlp_batchnorm_eps():
    G, _ = build_networks(load_config("mmengine-gan-fmnist"))
    bns = [m for m in G.modules() if isinstance(m, nn.BatchNorm1d)]
    assert [m.num_features for m in bns] == [256, 512, 1024] and all(m.eps == 0.8 for m in bns)


@pytest.mark.parametrize("preset, res, pattern", [
    ("hw6-dcgan-64", 32, "'hw6-dcgan' cannot produce 32x32 images; it supports 64x64 only"),
    ("mmagic-dcgan-64", 48, "'mmagic-dcgan' cannot produce 48x48"),
    ("dcgan-fmnist", 27, "'dcgan' cannot produce 27x27"),
    ("sngan-cifar10", 28, "'sngan-cnn' cannot produce 28x28 images; it supports multiples of 8"),
])
def test_resolution_the_network_cannot_make(preset, res, pattern):
    with pytest.raises(GanforgeError, match=pattern):
        build_networks(load_config(preset, [f"data.resolution={res}"]))


def test_impossible_option_values_are_a_clear_error():
    """A well-typed width that torch cannot build (negative) names the network and its options."""
    with pytest.raises(GanforgeError, match=r"generator 'dcgan' cannot be built with options \{'base_channels': -3\} "
                                            r"for z_dim=64, channels=1, resolution=28: .*negative dimension.*must be "
                                            r"positive"):  # the sizes too: model.z_dim=10\*\*9 fails the same way
        GENERATORS.build("dcgan", {"base_channels": -3}, z_dim=64, channels=1, resolution=28)


@pytest.mark.parametrize("preset, option, weight", [
    ("dcgan-fmnist", "model.discriminator.options.base_channels=0", "convs.0.weight"),
    ("dcgan-fmnist", "model.generator.options.base_channels=0", "fc.0.weight"),
    ("mlp-gan-fmnist", "model.generator.options.hidden=[0]", "net.0.weight"),
])
@pytest.mark.filterwarnings("error")
def test_a_width_of_zero_is_a_clear_error(preset, option, weight):
    """torch builds a zero width with only a warning and fails later in a forward; ganforge names the
    empty weight, in one error and no warning."""
    with pytest.raises(GanforgeError, match=rf"empty weight '{weight}' of shape .*0.*widths and sizes must be positive"):
        build_networks(load_config(preset, [option]))


@pytest.mark.parametrize("preset, sets", [
    ("mmengine-gan-fmnist", ["model.generator.options.slope=-0.2", "model.discriminator.options.slope=-0.2"]),
    ("mmagic-dcgan-64", ["model.discriminator.options.slope=-0.2"]),
])
def test_a_negative_leaky_relu_slope_trains(preset, sets):
    """torch's in-place LeakyReLU backward refuses a negative slope (a traceback at step 1); it runs out of place."""
    cfg = load_config(preset, sets)
    G, D = build_networks(cfg)
    D(G(torch.randn(2, cfg.model.z_dim))).sum().backward()
    assert all(p.grad is not None for p in [*G.parameters(), *D.parameters()])


def test_one_image_per_process_is_refused_only_where_a_network_needs_batch_statistics():
    """BatchNorm1d cannot train on one image (torch's ValueError at the first step); BatchNorm2d over
    several pixels and networks without BatchNorm can, and are let through."""
    with pytest.raises(GanforgeError, match=r"generator 'dcgan' cannot train on one image per process \(train."
                                            r"batch_size over the processes is 1\): ValueError: Expected more than 1 "
                                            r"value per channel .* raise train.batch_size\.$"):
        build_networks(load_config("dcgan-fmnist"), images_per_process=1)
    build_networks(load_config("dcgan-fmnist"), images_per_process=2)
    G, D = build_networks(load_config("mlp-gan-fmnist"), images_per_process=1)  # no BatchNorm
    G, D = build_networks(load_config("srgan-x4"), images_per_process=1)  # D's BatchNorm2d sees many pixels
    assert D.training and any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert all(m.num_batches_tracked == 0 for m in D.modules() if isinstance(m, nn.BatchNorm2d))  # a copy ran


def test_a_network_that_fails_only_in_training_mode_is_named_before_the_first_step():
    """Seed 000's BatchNorm1d at bn_eps=0 passed the eval-mode probe and failed at the first step with torch's
    ValueError traceback (exit 1). The training-mode probe leaves BatchNorm's statistics as they were."""
    with pytest.raises(GanforgeError, match=r"^generator 'mlp' failed in training mode on a probe batch of shape "
                                            r"\(2, 100\): ValueError: batch_norm eps must be positive during training, "
                                            r"but got 0.0 \(.*mlp.py:\d+\)$"):
        build_networks(load_config("mmengine-gan-fmnist", ["model.generator.options.bn_eps=0"]))
    G, D = build_networks(load_config("mmengine-gan-fmnist"))
    norms = [m for m in G.modules() if isinstance(m, nn.BatchNorm1d)]
    assert G.training and norms and all(m.num_batches_tracked == 0 and not m.running_mean.any()
                                        and (m.running_var == 1).all() for m in norms)


def test_registry_lists_valid_names():
    with pytest.raises(GanforgeError, match=r"Registered generators: .*dcgan.*hw6-dcgan.*mlp"):
        GENERATORS.get("nope")
    assert {"mlp", "dcgan", "hw6-dcgan", "mmagic-dcgan"} <= set(DISCRIMINATORS.names())
    # options that are not a dataclass are refused at registration (the plugin's import), not with
    # dataclasses' "must be called with a dataclass type" traceback when a config is first read
    with pytest.raises(GanforgeError, match=r"generator 'dict-options' is registered with options <class 'dict'>, "
                                            r"which is not a dataclass; pass a @dataclass\(frozen=True\) class"):
        GENERATORS.register("dict-options", dict)
    assert "dict-options" not in GENERATORS.names()


@pytest.mark.parametrize("out_channels", [1, 3])
@pytest.mark.parametrize("channels_last", [False, True])
def test_image_output_conv_is_the_plain_conv(out_channels, channels_last):
    """The depthwise-and-sum conv computes nn.Conv2d's output and gradients, in either layout."""
    torch.manual_seed(0)
    fast = ImageOutputConv2d(8, out_channels, 3, 1, 1)
    plain = torch.nn.Conv2d(8, out_channels, 3, 1, 1)
    plain.load_state_dict(fast.state_dict())  # same parameters, same state-dict keys
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(4, 8, 10, 10).contiguous(memory_format=fmt)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = fast(xa), plain(xb)
    torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(yb)
    ya.backward(g)
    yb.backward(g)
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast.weight.grad, plain.weight.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(fast.bias.grad, plain.bias.grad, rtol=1e-4, atol=1e-4)


def test_linear_on_channels_last_maps_keeps_nchw_weights_and_nhwc_gradient():
    """Same output as fc(h.flatten(1)); the gradient reaching the maps stays channels_last."""
    torch.manual_seed(0)
    fc = MapsLinear(6 * 5 * 5, 2)
    h = torch.randn(3, 6, 5, 5)
    expected = torch.nn.Linear.forward(fc, h.flatten(1))
    h_cl = h.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    out = fc(h_cl)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert h_cl.grad.is_contiguous(memory_format=torch.channels_last) and not h_cl.grad.is_contiguous()
    torch.testing.assert_close(h_cl.grad, fc.weight.sum(0).view(6, 5, 5).expand(3, 6, 5, 5))


@pytest.mark.parametrize("preset", ["dcgan-fmnist", "mlp-gan-fmnist"])
def test_spectral_norm_wraps_every_layer_and_brings_sigma_to_one(preset):
    from torch.nn.utils import parametrize

    cfg = load_config(preset, ["model.discriminator.spectral_norm=true", "model.generator.spectral_norm=true"])
    torch.manual_seed(0)
    G, D = build_networks(cfg)
    for net in (G, D):
        layers = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]
        assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    for _ in range(30):  # each training-mode forward runs one power iteration
        D(torch.randn(8, 1, 28, 28))
    for m in (m for m in D.modules() if parametrize.is_parametrized(m, "weight")):
        w = m.weight.detach()
        w = (w.transpose(0, 1) if isinstance(m, nn.ConvTranspose2d) else w).flatten(1)
        assert torch.linalg.matrix_norm(w, ord=2) == pytest.approx(1.0, abs=0.02)
    with pytest.raises(GanforgeError, match="has no convolution or linear layer for spectral_norm to wrap"):
        nets_module.add_spectral_norm(nn.Sequential(nn.Tanh()), "discriminator 'x'")
    with pytest.raises(GanforgeError, match="model.discriminator.spectral_norm is true, but model.discriminator.name "
                                            "is 'none'"):
        load_config("srcnn-x4", ["model.discriminator.spectral_norm=true"])
