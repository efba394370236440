import copy
import dataclasses
import re
import sys
import warnings
from pathlib import Path

import pytest
import torch

from ganforge import nets
from ganforge.config import load_config
from ganforge.errors import GanforgeError
from ganforge.plugins import load_plugins
from ganforge.nets import build_networks
from ganforge.objective import GANObjective


def make(*overrides, ema=False):
    cfg = load_config("mlp-gan-fmnist", ["objective.reuse_fake=false", f"ema.enabled={str(ema).lower()}",
                                         "model.generator.options.hidden=[16]",
                                         "model.discriminator.options.hidden=[16]", *overrides])
    torch.manual_seed(0)
    G, D = build_networks(cfg)
    G_ema = copy.deepcopy(G).requires_grad_(False) if ema else None
    return GANObjective(G, D, G_ema, cfg, torch.device("cpu")), cfg


def snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def changed(before, module):
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def real(n=8):
    return torch.rand(n, 1, 28, 28) * 2 - 1


def test_n_critic_updates_g_every_nth_step():
    obj, _ = make("objective.n_critic=3")
    g_updates = []
    for step in range(6):
        before = snapshot(obj.G)
        logs = obj.train_step(real(), step)
        g_updates.append(changed(before, obj.G))
        assert ("loss_g" in logs) == g_updates[-1]
    assert g_updates == [False, False, True, False, False, True]


def test_accumulation_steps_optimizers_every_k_batches():
    obj, _ = make("objective.accumulate=2")
    d0 = snapshot(obj.D)
    obj.train_step(real(), 0)
    assert not changed(d0, obj.D)  # gradient accumulated, no step yet
    obj.train_step(real(), 1)
    assert changed(d0, obj.D)


def test_accumulation_equals_one_big_batch():
    """Two micro-batches of 4 with accumulate=2 give D the same update as one batch of 8."""
    x, z = real(8), torch.randn(8, 128)
    a, _ = make("objective.accumulate=2", "objective.n_critic=100")
    b, _ = make("objective.n_critic=100")
    za = iter([z[:4], z[4:]])
    a.sample_z = lambda n: next(za)
    b.sample_z = lambda n: z
    a.train_step(x[:4], 0)
    a.train_step(x[4:], 1)
    b.train_step(x, 0)
    for pa, pb in zip(a.D.parameters(), b.D.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)


def test_generator_steps():
    obj, _ = make("objective.generator_steps=3")
    obj.train_step(real(), 0)
    steps = [s["step"] for s in obj.opt_g.state_dict()["state"].values()]
    assert steps and all(int(s) == 3 for s in steps)


def test_ema_is_exponential_average_after_start():
    obj, cfg = make("ema.decay=0.9", "ema.start_step=2", ema=True)
    obj.train_step(real(), 0)  # step 1 < start: G_ema copies G
    assert all(torch.equal(a, b) for a, b in zip(obj.G_ema.parameters(), obj.G.parameters()))
    ema_before = snapshot(obj.G_ema)
    obj.train_step(real(), 1)
    for e0, e1, g in zip(ema_before, obj.G_ema.parameters(), obj.G.parameters()):
        assert torch.allclose(e1, 0.9 * e0 + 0.1 * g, atol=1e-7)


def test_reuse_fake_saves_a_generator_forward():
    counts = {}
    for reuse in (False, True):
        obj, _ = make(f"objective.reuse_fake={str(reuse).lower()}")
        calls = []
        obj.G.register_forward_hook(lambda *a: calls.append(1))
        for step in range(4):
            obj.train_step(real(), step)
        counts[reuse] = len(calls)
    assert counts == {False: 8, True: 4}


def test_weight_clipping_and_gp_run_in_d_step():
    obj, _ = make("objective.loss=wgan", "objective.clip_value=0.01")
    obj.train_step(real(), 0)
    assert max(p.abs().max().item() for p in obj.D.parameters()) <= 0.01
    obj, _ = make("objective.loss=wgan", "objective.gp_weight=10")
    logs = obj.train_step(real(), 0)
    assert "gp" in logs and torch.isfinite(logs["gp"])
    obj, _ = make("objective.r1_gamma=1")
    assert "r1" in obj.train_step(real(), 0)


def test_a_wgan_critic_held_by_nothing_is_warned_of():
    """objective.loss=wgan alone trained a critic free to raise its scores without limit (loss_g 36 at step 100,
    96 at 400 on dcgan-fmnist), without a word."""
    with pytest.warns(UserWarning, match=r"^objective.loss = 'wgan' with nothing to hold discriminator 'mlp' to a "
                                         r"Lipschitz bound: .* Add what seed 002 adds: objective.clip_value=0.01"):
        make("objective.loss=wgan")
    held = (["objective.clip_value=0.01"], ["objective.gp_weight=10"], ["objective.r1_gamma=1"],
            ["model.discriminator.spectral_norm=true"], ["objective.loss=hinge"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for sets in held:
            make("objective.loss=wgan", *sets)
    # a user's D with spectral norm of its own, in torch's older form (weight_orig) as in the newer
    cfg = load_config("mlp-gan-fmnist", ["objective.loss=wgan"])
    D = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.utils.spectral_norm(torch.nn.Linear(784, 1)))
    assert nets._critic_is_held(D, cfg)
    assert not nets._critic_is_held(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 1)), cfg)


def test_a_gradient_penalty_on_a_d_with_batchnorm_is_warned_of():
    """WGAN-GP on dcgan-fmnist's D, whose norm is BatchNorm, penalized gradients of batch-mixed scores silently."""
    gp = ["objective.loss=wgan", "objective.gp_weight=10"]
    with pytest.warns(UserWarning, match=r"^objective.gp_weight penalizes .* but discriminator 'dcgan' has BatchNorm, "
                                         r".*; set model.discriminator.options.norm=instance \(as hw6-wgan-gp-64\)"):
        build_networks(load_config("dcgan-fmnist", gp))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_networks(load_config("dcgan-fmnist", [*gp, "model.discriminator.options.norm=instance"]))
        build_networks(load_config("dcgan-fmnist", ["objective.r1_gamma=1"]))  # R1 is not warned of: only WGAN-GP's penalty
        build_networks(load_config("hw6-wgan-gp-64", ["model.generator.options.feature_dim=8",
                                                      "model.discriminator.options.feature_dim=8"]))


def test_d_frozen_during_g_step():
    obj, _ = make("objective.n_critic=1")
    obj.d_step(real(), update=True)
    d0 = snapshot(obj.D)
    obj.g_step(real())
    assert not changed(d0, obj.D)
    assert all(p.requires_grad for p in obj.D.parameters())
    assert all(p.grad is None for p in obj.D.parameters())


@pytest.mark.parametrize("loss", ["vanilla", "wgan", "hinge", "lsgan"])
def test_every_loss_trains(loss):
    obj, _ = make(f"objective.loss={loss}")
    for step in range(3):
        logs = obj.train_step(real(), step)
    assert all(torch.isfinite(v) for v in logs.values())


# ------------------------------------------------------------------ a user's own algorithm

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom_objective.py"


def test_a_registered_objective_is_built_by_name_with_its_options():
    from ganforge.training.loop import build_objective

    cfg = load_config("mlp-gan-fmnist", ["model.generator.options.hidden=[16]", "model.discriminator.options.hidden=[16]",
                                         f"plugins=['{EXAMPLE}']", "objective.name=example-relativistic",
                                         "objective.options.average=false"])
    obj = build_objective(cfg, torch.device("cpu"))
    assert type(obj).__name__ == "RelativisticGAN" and obj.options.average is False
    logs = obj.train_step(real(), 0)  # reuse_fake is on in this preset: G's step uses the D step's fakes
    assert {"loss_d", "loss_g", "d_margin"} <= logs.keys() and all(torch.isfinite(v) for v in logs.values())


@pytest.mark.parametrize("average", [True, False])
def test_the_example_relativistic_losses_are_the_papers(average):
    """RaGAN / RSGAN (Jolicoeur-Martineau 2018) on fixed scores, written out from the paper's formulas."""
    load_plugins((str(EXAMPLE),))
    loss = sys.modules["ganforge_plugin_custom_objective"].relativistic_loss
    r, f = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([0.0, 1.0, -3.0])
    sig = torch.sigmoid
    if average:
        d = -(sig(r - f.mean()).log().mean() + (1 - sig(f - r.mean())).log().mean())
        g = -(sig(f - r.mean()).log().mean() + (1 - sig(r - f.mean())).log().mean())
    else:
        d, g = -sig(r - f).log().mean(), -sig(f - r).log().mean()
    assert torch.allclose(loss(r, f, average), d) and torch.allclose(loss(f, r, average), g)


def test_objective_bad_names_and_options(tmp_path):
    with pytest.raises(GanforgeError, match="unknown objective 'gna'. Did you mean 'gan'"):
        load_config("mlp-gan-fmnist", ["objective.name=gna"])
    with pytest.raises(GanforgeError, match=r"objective 'gan' takes no options, got \['average'\]"):
        load_config("mlp-gan-fmnist", ["objective.options.average=false"])
    with pytest.raises(GanforgeError, match="unknown option 'avg' for objective 'example-relativistic'. Did you mean 'average'"):
        load_config("mlp-gan-fmnist", [f"plugins=['{EXAMPLE}']", "objective.name=example-relativistic",
                                       "objective.options.avg=false"])
    plugin = tmp_path / "not_an_objective.py"
    plugin.write_text("from ganforge.registry import OBJECTIVES\n"
                      "OBJECTIVES.register('test-plain')(lambda *args: object())\n")
    from ganforge.training.loop import build_objective

    cfg = load_config("mlp-gan-fmnist", [f"plugins=['{plugin}']", "objective.name=test-plain"])
    with pytest.raises(GanforgeError, match="objective 'test-plain' is not a GANObjective \\(it built a 'object'\\); register a subclass"):
        build_objective(cfg, torch.device("cpu"))


def test_a_subclass_that_returns_the_wrong_thing_is_named(tmp_path):
    """MMagic's disc_loss returns (loss, log_vars) too; a bare loss would be torch's 'iteration over a 0-d tensor'."""
    from ganforge.training.loop import build_objective

    plugin = tmp_path / "bare_loss.py"
    plugin.write_text("from ganforge.objective import GANObjective\nfrom ganforge.registry import OBJECTIVES\n\n"
                      "@OBJECTIVES.register('test-bare-loss')\nclass Bare(GANObjective):\n"
                      "    def d_loss(self, real_scores, fake_scores, real, fake):\n"
                      "        return fake_scores.mean() - real_scores.mean()\n\n"
                      "    def g_loss(self, fake_scores, real, fake):\n"
                      "        return -fake_scores, {}\n\n"
                      "@OBJECTIVES.register('test-constant-loss')\nclass Constant(GANObjective):\n"
                      "    def g_loss(self, fake_scores, real, fake):\n"
                      "        return -fake_scores.mean().detach(), {}\n")
    cfg = load_config("mlp-gan-fmnist", ["model.generator.options.hidden=[16]", "model.discriminator.options.hidden=[16]",
                                         f"plugins=['{plugin}']", "objective.name=test-bare-loss"])
    obj = build_objective(cfg, torch.device("cpu"))
    with pytest.raises(GanforgeError, match=r"objective 'test-bare-loss' \(objective.loss 'vanilla'\): "
                                            r"Bare.d_loss must return \(loss, logs\), a "
                                            r"scalar tensor and a dict of tensors to log \({} for none\); it returned a "
                                            r"tensor of shape \(\)."):
        obj.train_step(real(), 0)
    with pytest.raises(GanforgeError, match=r"Bare.g_loss must return .* it returned \(a tensor of shape \(8,\), dict\)."):
        obj.g_step(real())  # a tuple, but the loss is one value per image, not a scalar
    cfg = dataclasses.replace(cfg, objective=dataclasses.replace(cfg.objective, name="test-constant-loss"))
    with pytest.raises(GanforgeError, match=r"Constant.g_loss returned a loss that no weight reaches \(a constant, "
                                            r"or made with .item\(\), .detach\(\) or under torch.no_grad\)"):
        build_objective(cfg, torch.device("cpu")).g_step(real())  # was torch's "does not require grad" at backward


def test_adamw_decays_weights_apart_from_the_gradient():
    """AdamW's decay shrinks a weight whose gradient is 0 by lr * weight_decay; Adam's L2 term goes through
    the moments instead (the first step moves it by lr, whatever the decay)."""
    from ganforge.config import OptimizerConfig
    from ganforge.objective import build_optimizer

    moved = {}
    for name in ("adamw", "adam"):
        w = torch.nn.Parameter(torch.ones(3))
        opt = build_optimizer([w], OptimizerConfig(name=name, lr=0.1, weight_decay=0.5))
        w.grad = torch.zeros(3)
        opt.step()
        moved[name] = (1 - w.detach()).tolist()
    assert moved["adamw"] == pytest.approx([0.05] * 3)
    assert moved["adam"] == pytest.approx([0.1] * 3, rel=1e-5)


def test_sgd_and_rmsprop_take_momentum():
    """optim_g.name=sgd was plain SGD: momentum (and Nesterov's), as torch.optim.SGD and RMSprop take it, was an
    unknown key. With momentum m a constant gradient g moves a weight by lr * g, then lr * g * (1 + m); with
    Nesterov's, by lr * g * (1 + m), then lr * g * (1 + m (1 + m)) (torch's formulation)."""
    from ganforge.config import OptimizerConfig, load_config
    from ganforge.objective import build_optimizer

    for cfg, want in ((OptimizerConfig(name="sgd", lr=0.1, momentum=0.9), [0.1, 0.19]),
                      (OptimizerConfig(name="sgd", lr=0.1, momentum=0.9, nesterov=True), [0.19, 0.271]),
                      (OptimizerConfig(name="sgd", lr=0.1), [0.1, 0.1])):
        w = torch.nn.Parameter(torch.zeros(2))
        opt = build_optimizer([w], cfg)
        moves = []
        for _ in range(2):
            before = w.detach().clone()
            w.grad = torch.ones(2)
            opt.step()
            moves.append(float((before - w.detach())[0]))
        assert moves == pytest.approx(want), cfg
    rms = build_optimizer([torch.nn.Parameter(torch.zeros(2))], OptimizerConfig(name="rmsprop", momentum=0.5))
    assert rms.param_groups[0]["momentum"] == 0.5
    for given, said in (("optim_g.momentum=1", "config key 'optim_g.momentum' must be in [0, 1), got 1.0."),
                        ("optim_d.nesterov=true", "config key 'optim_d.nesterov' is true, but Nesterov's momentum "
                                                  "needs optim_d.name=sgd and optim_d.momentum > 0; set both."),
                        ("optim_g.momentum=0.9", "config key 'optim_g.momentum' is 0.9, but optim_g.name is 'adam', "
                                                 "whose momentum is optim_g.betas[0]; momentum is for sgd and "
                                                 "rmsprop.")):
        with pytest.raises(GanforgeError, match=re.escape(said)):
            load_config("dcgan-fmnist", [given])
    cfg = load_config("dcgan-fmnist", ["optim_d.name=sgd", "optim_d.momentum=0.9", "optim_d.nesterov=true"])
    assert (cfg.optim_d.momentum, cfg.optim_d.nesterov) == (0.9, True)


def test_lazy_r1_runs_every_kth_step_weighted_by_k():
    """StyleGAN2's lazy regularization: R1 on steps 0, k, 2k, ... only, at k times the weight, so a due step of
    r1_gamma g, r1_every k is the eager step of gamma g * k."""
    lazy, _ = make("objective.r1_gamma=2", "objective.r1_every=4")
    batch = real()
    assert ["r1" in lazy.train_step(batch, step) for step in range(8)] == [True, False, False, False] * 2
    steps = []
    for overrides in (("objective.r1_gamma=2", "objective.r1_every=4"), ("objective.r1_gamma=8",)):
        obj, _ = make(*overrides)
        torch.manual_seed(1)  # the same fakes
        steps.append(obj.train_step(batch, 0))
    assert torch.equal(steps[0]["r1"], steps[1]["r1"]) and torch.equal(steps[0]["loss_d"], steps[1]["loss_d"])
    with pytest.raises(GanforgeError, match=r"'objective.r1_every' is 4, but objective.r1_gamma is 0 \(R1 off\)"):
        load_config("dcgan-fmnist", ["objective.r1_every=4"])


def _move_norm(before, module):
    return float(torch.sqrt(sum(((b - a) ** 2).sum() for a, b in zip(before, module.parameters())).detach()))


@pytest.mark.parametrize("max_norm", [1e-3, 1e3])
def test_clip_grad_norm_bounds_the_step_by_the_norm_it_logs(max_norm):
    """With SGD at lr 1 a weight moves by minus its (clipped) gradient: the move's total norm is the logged
    gradient norm when that is under max_norm, and max_norm when it is over."""
    obj, _ = make("optim_g.name=sgd", "optim_g.lr=1", "optim_d.name=sgd", "optim_d.lr=1",
                  f"optim_g.clip_grad_norm={max_norm}", f"optim_d.clip_grad_norm={max_norm}")
    g0, d0 = snapshot(obj.G), snapshot(obj.D)
    logs = obj.train_step(real(), 0)  # D steps, then G (D is frozen in the G step)
    for before, module, key in ((g0, obj.G, "grad_norm_g"), (d0, obj.D, "grad_norm_d")):
        norm = float(logs[key])
        assert norm > 1e-2  # the small max_norm clips, the large one does not
        assert _move_norm(before, module) == pytest.approx(min(norm, max_norm), rel=1e-4)


def test_logging_grad_norms_leaves_the_step_as_it_was():
    """log.grad_norms measures the gradients without changing them; off (the default), nothing is logged."""
    batch, steps = real(), {}
    for on in (False, True):
        obj, _ = make(f"log.grad_norms={str(on).lower()}")
        torch.manual_seed(1)
        steps[on] = obj.train_step(batch, 0), snapshot(obj.G) + snapshot(obj.D)
    assert "grad_norm_g" not in steps[False][0] and "grad_norm_d" not in steps[False][0]
    assert float(steps[True][0]["grad_norm_g"]) > 0 and float(steps[True][0]["grad_norm_d"]) > 0
    assert all(torch.equal(a, b) for a, b in zip(steps[False][1], steps[True][1]))
    with pytest.raises(GanforgeError, match=r"'optim_d.clip_grad_norm' is 1.0, but this model has no discriminator"):
        load_config("srcnn-x4", ["optim_d.clip_grad_norm=1"])


@pytest.mark.parametrize("extra", [[], ["objective.r1_gamma=1"], ["model.num_classes=3"],
                                   ["objective.diffaugment=color,translation,cutout", "objective.r1_gamma=1"],
                                   ["objective.diffaugment=translation,cutout", "objective.ada_target=0.6"]])
def test_one_d_call_on_real_and_fake_gives_the_two_calls_step(extra):
    """A D that scores each image alone is called once on the real and fake batches together: the same scores,
    loss and update as two calls, with R1's gradient through the joined batch, a projection D's classes, and
    DiffAugment's or ADA's transforms drawn as the two calls draw them."""
    batch, labels, steps = real(), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]), {}
    for one in (True, False):
        obj, _ = make(*extra)
        assert obj.one_d_call
        obj.one_d_call, obj.real_labels = one, labels if extra == ["model.num_classes=3"] else None
        if obj.ada is not None:
            obj.ada.p = 0.5  # each transform meets half the images, by draws of its own (p starts at 0: none)
        calls = []
        obj.D.register_forward_pre_hook(lambda *a: calls.append(1))  # a hook added after the choice is not seen
        torch.manual_seed(1)  # the same fakes
        steps[one] = obj.d_step(batch, update=True), snapshot(obj.D), len(calls)
    (logs, d, n), (logs2, d2, n2) = steps[True], steps[False]
    assert (n, n2) == (1, 2)
    assert logs.keys() == logs2.keys()
    assert all(torch.allclose(logs[k], logs2[k], atol=1e-6) for k in logs)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(d, d2))


def test_which_discriminators_score_each_image_alone():
    """The class declares it; BatchNorm, spectral norm or a hook overrules it."""
    from ganforge.nets import scores_each_image_alone

    def d_of(preset, *overrides):
        return build_networks(load_config(preset, list(overrides)))[1]

    assert scores_each_image_alone(d_of("mlp-gan-fmnist"))
    assert scores_each_image_alone(d_of("dcgan-fmnist", "model.discriminator.options.norm=none"))
    assert scores_each_image_alone(d_of("hw6-wgan-gp-64"))  # InstanceNorm: each image by itself
    assert not scores_each_image_alone(d_of("dcgan-fmnist", "model.discriminator.options.norm=batch"))
    assert not scores_each_image_alone(d_of("mlp-gan-fmnist", "model.discriminator.spectral_norm=true"))
    assert scores_each_image_alone(d_of("mlp-gan-fmnist", "model.num_classes=10"))  # the projection asks its net
    hooked = d_of("mlp-gan-fmnist")
    hooked.net[0].register_forward_hook(lambda *a: None)
    assert not scores_each_image_alone(hooked)
    assert not scores_each_image_alone(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 1)))
