import math

import pytest
import torch
import torch.nn as nn

from ganforge.losses import build_loss, clip_weights, gradient_penalty, r1_penalty


def test_vanilla_at_zero_logits():
    loss = build_loss("vanilla")
    z = torch.zeros(8)
    d, logs = loss.d_loss(z, z, "sum")
    assert math.isclose(d.item(), 2 * math.log(2), rel_tol=1e-6)
    assert math.isclose(loss.d_loss(z, z, "mean")[0].item(), math.log(2), rel_tol=1e-6)
    assert math.isclose(loss.g(z).item(), math.log(2), rel_tol=1e-6)
    assert set(logs) == {"loss_d_real", "loss_d_fake"}


def test_vanilla_equals_sigmoid_plus_bce():
    logits = torch.randn(16) * 3
    loss = build_loss("vanilla")
    p = torch.sigmoid(logits)
    bce = nn.BCELoss()
    d, _ = loss.d_loss(logits, logits.flip(0), "mean")
    ref = (bce(p, torch.ones(16)) + bce(p.flip(0), torch.zeros(16))) / 2  # seed 002's (r_loss + f_loss) / 2
    assert torch.allclose(d, ref, atol=1e-6)
    assert torch.allclose(loss.g(logits), bce(p, torch.ones(16)), atol=1e-6)


def test_vanilla_is_stable_at_extreme_logits():
    d, _ = build_loss("vanilla").d_loss(torch.tensor([200.0]), torch.tensor([-200.0]))
    assert torch.isfinite(d) and d.item() < 1e-6


def test_wgan_hinge_lsgan_values():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    assert build_loss("wgan").d_loss(real, fake)[0].item() == pytest.approx(-1.0 + 0.0)
    assert build_loss("wgan").g(fake).item() == pytest.approx(0.0)
    # hinge: relu(1 - r) = [0, 1] -> .5 ; relu(1 + f) = [0, 2] -> 1
    assert build_loss("hinge").d_loss(real, fake)[0].item() == pytest.approx(1.5)
    assert build_loss("hinge").g(fake).item() == pytest.approx(0.0)
    # lsgan: .5 * mean((r - 1)^2) = .5 * 1 ; .5 * mean(f^2) = .5 * 1
    assert build_loss("lsgan").d_loss(real, fake)[0].item() == pytest.approx(1.0)
    assert build_loss("lsgan").g(fake).item() == pytest.approx(0.5 * (4 + 0) / 2)


def test_gradient_penalty_of_linear_critic_is_exact():
    D = nn.Sequential(nn.Flatten(), nn.Linear(12, 1, bias=False))
    with torch.no_grad():
        D[1].weight.fill_(0.5)  # ||grad|| = sqrt(12) * 0.5 everywhere
    gp = gradient_penalty(lambda x: D(x).view(-1), torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2))
    assert gp.item() == pytest.approx((math.sqrt(12) * 0.5 - 1) ** 2, rel=1e-5)


def test_gradient_penalty_backpropagates_to_critic():
    D = nn.Linear(3, 1)
    gp = gradient_penalty(lambda x: D(x).view(-1), torch.randn(5, 3), torch.randn(5, 3))
    gp.backward()
    assert D.weight.grad is not None and D.weight.grad.abs().sum() > 0


def test_r1_of_quadratic():
    x = torch.randn(6, 4, requires_grad=True)
    scores = (x ** 2).sum(1)  # grad = 2x, ||grad||^2 = 4 ||x||^2
    assert torch.allclose(r1_penalty(scores, x), (4 * (x.detach() ** 2).sum(1)).mean())


def test_clip_weights():
    m = nn.Linear(10, 10)
    with torch.no_grad():
        m.weight.mul_(100)
    clip_weights(m, 0.01)
    assert m.weight.abs().max() <= 0.01 and m.bias.abs().max() <= 0.01


@pytest.mark.parametrize("term, message", [
    (lambda s: 0.0, "its d_real must return a scalar tensor computed from D's scores .*got a 'float'"),
    (lambda s: torch.nn.functional.softplus(-s), r"its d_real must return a scalar tensor .*got a tensor of shape \(2,\)"),
    (lambda s: s.foo(), r"its d_real failed on D's scores of shape \(2,\): AttributeError: .*'foo' \(.*test_losses.py:\d+\)"),
])
def test_a_plugin_loss_is_tried_on_two_scores_when_built(term, message):
    """A term that raises, or returns a float or one value per image, is named before training: it was a
    traceback from ganforge's AdversarialLoss.d_loss, or from the user's lambda, at the first D step."""
    from ganforge.errors import GanforgeError
    from ganforge.losses import AdversarialLoss, register_loss
    from ganforge.registry import LOSSES

    name = f"test-bad-{len(LOSSES.names())}"  # a new name per case: registrations last for the process
    register_loss(name, AdversarialLoss(d_real=term, d_fake=lambda f: f.mean(), g=lambda f: -f.mean()))
    with pytest.raises(GanforgeError, match=f"loss '{name}' \\(objective.loss\\): {message}"):
        build_loss(name)
    LOSSES.register(name + "-raw")(lambda: (lambda r, f: r.mean()))
    with pytest.raises(GanforgeError, match="is a 'function', not an AdversarialLoss; register it with register_loss"):
        build_loss(name + "-raw")


def test_a_loss_registered_under_a_taken_name_names_both():
    """Every register_loss builder is one lambda in losses.py, so the registry could only say "registered
    twice" at losses.py for both; the terms' own definitions say where each loss comes from."""
    from ganforge.errors import GanforgeError
    from ganforge.losses import AdversarialLoss, register_loss

    with pytest.raises(GanforgeError, match=r"loss 'vanilla' is registered twice \(.*ganforge/losses.py:\d+, then "
                                            r".*test_losses.py:\d+\); pick another name for one of them"):
        register_loss("vanilla", AdversarialLoss(d_real=lambda r: r.mean(), d_fake=lambda f: f.mean(),
                                                 g=lambda f: -f.mean()))


def test_a_network_defined_again_replaces_itself():
    """A notebook cell run twice defines its class again, in the same module: that replaces the first, as
    Python's own redefinition does, even after the class was renamed; one from another module is refused."""
    from ganforge.errors import GanforgeError
    from ganforge.registry import GENERATORS

    cell = "import torch.nn as nn\nclass NotebookG(nn.Module):\n    version = {v}\nGENERATORS.register('test-nb-g')(NotebookG)\n"
    for version in (1, 2):
        exec(cell.format(v=version), {"GENERATORS": GENERATORS, "__name__": "__main__"})
    assert GENERATORS.get("test-nb-g").builder.version == 2
    exec(cell.format(v=3).replace("NotebookG", "OtherG"), {"GENERATORS": GENERATORS, "__name__": "__main__"})
    assert GENERATORS.get("test-nb-g").builder.__name__ == "OtherG"
    with pytest.raises(GanforgeError, match="generator 'test-nb-g' is registered twice"):
        exec(cell.format(v=4), {"GENERATORS": GENERATORS, "__name__": "my_nets"})


def test_a_loss_registered_again_from_its_module_replaces_itself():
    """A notebook cell with register_loss run twice was refused as "registered twice": the second run's lambdas
    are new objects. The same module registering the name again is that cell (or an edited plugin file)."""
    from ganforge.losses import register_loss
    from ganforge.registry import LOSSES

    cell = ("from ganforge.losses import AdversarialLoss\n"
            "register_loss('test-nb-loss', AdversarialLoss(d_real=lambda r: {v} * r.mean(), d_fake=lambda f: f.mean(), "
            "g=lambda f: -f.mean()))\n")
    for version in (1, 2):
        exec(cell.format(v=version), {"register_loss": register_loss, "__name__": "__main__"})
    assert LOSSES.get("test-nb-loss").builder().d_real(torch.ones(2)).item() == 2


def test_one_sided_label_smoothing_lowers_the_real_target():
    """Salimans et al. 2016: D's real term aims at 1 - s, as the seeds' BCELoss would with targets filled with
    1 - s; the fakes' term and G's loss do not change. Losses without a target for reals refuse it."""
    from ganforge.config import load_config
    from ganforge.errors import GanforgeError

    real, fake = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([-3.0, 0.2, 1.0])
    vanilla = build_loss("vanilla")
    smoothed, logs = vanilla.d_loss(real, fake, "sum", smoothing=0.1)
    expected = nn.BCELoss()(torch.sigmoid(real), torch.full((3,), 0.9))
    assert float(logs["loss_d_real"]) == pytest.approx(float(expected), rel=1e-6)
    assert torch.equal(logs["loss_d_fake"], vanilla.d_loss(real, fake)[1]["loss_d_fake"])
    # the real term's minimum is now where D's probability for a real image is 0.9, not at ever larger scores
    logit = torch.tensor([math.log(9.0)], requires_grad=True)
    vanilla.d_loss(logit, torch.zeros(1), smoothing=0.1)[0].backward()
    assert abs(float(logit.grad)) < 1e-6
    lsgan, _ = build_loss("lsgan").d_loss(real, fake, smoothing=0.2)
    assert float(lsgan) == pytest.approx(float(0.5 * (real - 0.8).pow(2).mean() + 0.5 * fake.pow(2).mean()))
    for sets, message in ((["objective.label_smoothing=1"], r"must be in \[0, 1\)"),
                          (["objective.label_smoothing=0.1", "objective.loss=hinge"],
                           "which the 'hinge' loss has none of")):
        with pytest.raises(GanforgeError, match=message):
            load_config("dcgan-fmnist", sets)
    assert load_config("dcgan-fmnist", ["objective.label_smoothing=0.1"]).objective.label_smoothing == 0.1


def test_the_least_real_term_under_label_smoothing_is_the_targets_entropy():
    """What the health monitor's D-loss floor counts from: BCE's least at target t is t's binary entropy
    (reached at score logit(t)), lsgan's is 0."""
    from ganforge.losses import least_real_term

    t = 0.9
    entropy = -(t * math.log(t) + (1 - t) * math.log(1 - t))
    assert least_real_term(build_loss("vanilla"), t) == pytest.approx(entropy, abs=1e-3)
    assert least_real_term(build_loss("lsgan"), t) == pytest.approx(0.0, abs=1e-3)
