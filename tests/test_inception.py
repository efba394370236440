"""ganforge's FID Inception against an independent implementation (torch-fidelity's), same random weights."""
import importlib
import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.features import build_features
from ganforge.metrics.inception import FIDInceptionV3, for_inference, resize_bilinear_tf1


def torch_fidelity_inception_class():
    """torch-fidelity's FeatureExtractorInceptionV3, imported without the package __init__ (which needs torchvision)."""
    spec = importlib.util.find_spec("torch_fidelity")
    if spec is None:
        pytest.skip("torch-fidelity is not installed (make test installs it)")
    saved = {k: v for k, v in sys.modules.items() if k.startswith("torch_fidelity")}
    pkg = types.ModuleType("torch_fidelity")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["torch_fidelity"] = pkg
    try:
        return importlib.import_module("torch_fidelity.feature_extractor_inceptionv3").FeatureExtractorInceptionV3
    finally:
        for k in [k for k in sys.modules if k.startswith("torch_fidelity")]:
            del sys.modules[k]
        sys.modules.update(saved)


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> Path:
    """A state dict with random conv weights and BatchNorm statistics, saved like the real weights file."""
    torch.manual_seed(0)
    net = FIDInceptionV3()
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")  # keeps activations O(1) through 94 layers
        elif isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(net.state_dict(), path)
    return path


def test_same_features_as_torch_fidelity(random_weights):
    Ref = torch_fidelity_inception_class()
    ref = Ref("inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(random_weights))
    ours = FIDInceptionV3()
    ours.load_state_dict(torch.load(random_weights, weights_only=True))
    ours.eval()
    fast = for_inference(ours)  # what the `inception` extractor runs: BatchNorms folded into the convs, channels_last
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    g = torch.Generator().manual_seed(1)
    for size in (64, 299, 331):  # upsampling, identity and downsampling resizes
        images = torch.randint(0, 256, (2, 3, size, size), generator=g, dtype=torch.uint8)
        with torch.no_grad():
            f_ref, logits_ref = ref(images)
            for f, logits in (ours(images), fast(images)):
                assert f.shape == (2, 2048) and logits.shape == (2, 1008)
                assert f.std() > 1e-3  # not a degenerate all-zero comparison
                assert torch.allclose(f, f_ref, rtol=1e-4, atol=1e-5), (size, (f - f_ref).abs().max())
                assert torch.allclose(logits, logits_ref, rtol=1e-4, atol=1e-4)


def test_tf1_resize_matches_torch_fidelity():
    spec = importlib.util.find_spec("torch_fidelity")
    if spec is None:
        pytest.skip("torch-fidelity is not installed")
    path = Path(spec.submodule_search_locations[0]) / "interpolate_compat_tensorflow.py"
    mod_spec = importlib.util.spec_from_file_location("_tf_interp", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    x = torch.rand(1, 3, 37, 53) * 255
    ref = mod.interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
    # float32 weights computed in another order: differences up to ~7e-4 on a 0-255 scale
    assert torch.allclose(resize_bilinear_tf1(x, 299), ref, rtol=0, atol=1e-3)


def test_tf1_resize_known_values():
    x = torch.tensor([[[[0.0, 10.0]]]])  # 1x2 -> 1x4: sources 0, .5, 1, 1.5 -> clamp at the edge
    assert resize_bilinear_tf1(x.expand(1, 1, 4, 2).contiguous(), 4)[0, 0, 0].tolist() == [0.0, 5.0, 10.0, 10.0]


def test_missing_weights_says_how_to_provide_them(monkeypatch, tmp_path):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    monkeypatch.setenv("GANFORGE_INCEPTION_WEIGHTS", str(tmp_path / "nope.pth"))
    with pytest.raises(GanforgeError, match="Inception weights file .*nope.pth' does not exist"):
        build_features("inception")
    monkeypatch.delenv("GANFORGE_INCEPTION_WEIGHTS")
    from ganforge.metrics import inception
    monkeypatch.setattr(inception, "WEIGHTS_URLS", ["http://127.0.0.1:9/unreachable.pth"])
    with pytest.raises(GanforgeError, match="set GANFORGE_INCEPTION_WEIGHTS=/path/to/weights-inception"):
        build_features("inception")


def test_wrong_weights_file_is_refused(random_weights, monkeypatch):
    monkeypatch.setenv("GANFORGE_INCEPTION_WEIGHTS", str(random_weights))
    with pytest.raises(GanforgeError, match="not the FID weights"):
        build_features("inception")
