"""Networks. Importing this package registers the built-in generators and discriminators."""
from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Callable

import torch
import torch.nn as nn
from torch.nn.utils import parametrize

from ..config import Config, NetConfig
from ..errors import GanforgeError, raised_at
from ..losses import BUILT_IN_LOSSES
from ..registry import DISCRIMINATORS, GENERATORS, Registry, require_built
from . import dcgan, mlp, sngan, sr  # noqa: F401  (registration)
from .conditional import (ClassEmbeddingGenerator, ConditionalBatchNormGenerator, embedding_size, projection,
                          takes_labels)


NO_DISCRIMINATOR = "none"  # an SR model trained on pixel/perceptual losses alone


def hr_size(cfg: Config) -> int:
    """SR: the side of the HR training patches (``sr.patch_size``, else the data's resolution cut
    down to a multiple of ``sr.scale``, as the batches cut whole images)."""
    return cfg.sr.patch_size or cfg.data.resolution // cfg.sr.scale * cfg.sr.scale


def _shape(cfg: Config) -> dict[str, int]:
    if cfg.model.task == "sr":
        return dict(z_dim=cfg.model.z_dim, channels=cfg.data.channels, resolution=hr_size(cfg), scale=cfg.sr.scale)
    return dict(z_dim=cfg.model.z_dim, channels=cfg.data.channels, resolution=cfg.data.resolution)


def _build(registry: Registry, net: NetConfig, cfg: Config) -> nn.Module:
    """Build one network and refuse one with an empty weight: torch builds a width of 0 with only a
    warning and fails later, deep in a forward pass.

    In a class-conditional run (``model.num_classes > 0``) a network that takes the labels itself is
    built with ``num_classes``; any other G is built for its noise plus a class embedding and wrapped
    (:mod:`.conditional`); D is wrapped by :func:`build_networks`, which has images to probe it with.
    """
    shape, k = _shape(cfg), cfg.model.num_classes
    own_labels = k > 0 and takes_labels(registry.get(net.name).builder)
    wrap_g = k > 0 and registry is GENERATORS and not own_labels
    by_norm = cfg.model.class_conditioning == "batchnorm"
    if own_labels:
        shape["num_classes"] = k
    elif wrap_g and not by_norm:
        shape["z_dim"] += embedding_size(k)
    with warnings.catch_warnings():  # torch warns about an empty weight; the error below names it instead
        warnings.filterwarnings("ignore", "Initializing zero-element tensors")
        module = require_module(registry.build(net.name, net.options, **shape), f"{registry.kind} '{net.name}'")
        if wrap_g:
            module = (ConditionalBatchNormGenerator(module, k, f"generator '{net.name}'") if by_norm
                      else ClassEmbeddingGenerator(module, k))
    if not any(p.requires_grad for p in module.parameters()):  # else torch's "optimizer got an empty parameter list"
        raise GanforgeError(f"{registry.kind} '{net.name}' has no trainable weights (no nn.Parameter in it, or all "
                            "frozen), so it has nothing to learn; build its layers as nn.Module attributes.")
    for pname, p in module.named_parameters():
        if p.numel() == 0:
            raise GanforgeError(f"{registry.kind} '{net.name}' with options {net.options or {}} has an empty weight "
                                f"'{pname}' of shape {tuple(p.shape)}: a width or size is 0. "
                                "Check those option values (widths and sizes must be positive).")
    if net.spectral_norm:
        add_spectral_norm(module, f"{registry.kind} '{net.name}'")
    return module


def require_module(built: object, what: str) -> nn.Module:
    """``built`` if a registered builder returned an nn.Module (its weights, train() and state_dict are what
    ganforge uses), else an error naming ``what``: a plugin's builder may return a function instead."""
    return require_built(built, nn.Module, what, "register an nn.Module class, or a function that returns one.",
                         "a torch.nn.Module")


def add_spectral_norm(module: nn.Module, what: str = "the network") -> nn.Module:
    """Spectral normalization (torch's parametrization) on every convolution and linear layer of ``module``.

    torch's ``spectral_norm`` picks the output dimension itself (dim 1 for a transposed convolution)
    and keeps its power-iteration vectors as buffers, so checkpoints and the broadcast to torchrun ranks carry them.
    """
    from torch.nn.utils.parametrizations import spectral_norm

    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]
    if not layers:
        raise GanforgeError(f"{what} has no convolution or linear layer for spectral_norm to wrap; "
                            "set spectral_norm = false for it.")
    for layer in layers:
        spectral_norm(layer)
    return module


def scores_each_image_alone(D: nn.Module) -> bool:
    """Whether D's score of an image depends on that image alone, so that one call on the real and fake batches
    together gives the scores two calls would (the D step then reads D's weights once instead of twice).

    The class declares it (``scores_each_image_alone = True``: the built-in discriminators, a projection
    around one of them) because ganforge cannot see a forward's own arithmetic (a minibatch-deviation
    feature); the layers it can see overrule the class. BatchNorm mixes the batch, spectral norm advances its
    power iteration once per call, a running-stats InstanceNorm and any forward hook may count calls too.
    """
    if not getattr(D, "scores_each_image_alone", False):
        return False
    for m in D.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) or parametrize.is_parametrized(m):
            return False
        if isinstance(m, nn.modules.instancenorm._InstanceNorm) and m.track_running_stats:
            return False
        if m._forward_hooks or m._forward_pre_hooks:
            return False
    return True


def build_generator(cfg: Config) -> nn.Module:
    """Build G alone (for sampling)."""
    return _build(GENERATORS, cfg.model.generator, cfg)


def build_networks(cfg: Config, images_per_process: int = 2) -> tuple[nn.Module, nn.Module | None]:
    """Build G and D (None for an SR model without one) and check G makes images of the data's shape.

    ``images_per_process``: the batch each process trains on (``train.batch_size`` over the torchrun
    processes); at 1, G and D are checked to train on single images (:func:`_check_training_mode`).
    """
    G = build_generator(cfg)
    d_name = cfg.model.discriminator.name
    D = None if d_name == NO_DISCRIMINATOR else _build(DISCRIMINATORS, cfg.model.discriminator, cfg)
    c, k = cfg.data.channels, cfg.model.num_classes
    if cfg.model.task == "sr":
        side = hr_size(cfg)
        probe, want = torch.zeros(2, c, side // cfg.sr.scale, side // cfg.sr.scale), (c, side, side)
        what = "sr.scale x the LR input"
    else:
        probe, want = torch.zeros(2, cfg.model.z_dim), (c, cfg.data.resolution, cfg.data.resolution)
        what = "the data (data.channels, data.resolution)"
    labels = (torch.arange(2) % k,) if k > 0 else ()  # a class-conditional run calls G(z, y) and D(x, y)
    g_what, d_what = f"generator '{cfg.model.generator.name}'", f"discriminator '{d_name}'"
    nets = [m for m in (G, D) if m is not None]
    for m in nets:
        m.eval()  # eval: the probe must not touch BatchNorm running stats
    try:
        # with gradients (even if a caller turned them off): a network that detaches its output
        # would otherwise train nothing, silently
        with torch.enable_grad():
            out = probe_output(G, probe, g_what, *labels)
            if out.dtype != probe.dtype:  # D would fail on it, and its error would name D
                got, want_dtype = (str(t).removeprefix("torch.") for t in (out.dtype, probe.dtype))
                raise GanforgeError(f"{g_what} returns {got} images, but its input, D and the losses are "
                                    f"{want_dtype}; return {want_dtype} (drop a .double() or .half() at its end).")
            if tuple(out.shape[1:]) != want:
                raise GanforgeError(_misshapen_images(out, want, g_what, what))
            if D is not None and k > 0 and not takes_labels(DISCRIMINATORS.get(d_name).builder):
                D = projection(D, k, out.detach(), d_what)
            score = probe_output(D, out.detach(), d_what, *labels) if D is not None else torch.zeros(2)
        if tuple(score.shape) != (2,):
            raise GanforgeError(_misshapen_scores(score, d_what))
        if cfg.model.task != "sr" and (last := _NON_NEGATIVE.get(_last_operation(out))):
            # a tutorial's G for images in [0, 1]: D tells its images from the real ones by their sign alone
            warnings.warn(f"{g_what} ends in {last}, so its images are never below 0, but ganforge's real images "
                          "are in [-1, 1] (as are the presets' generators', which end in tanh); end it in tanh, or "
                          "D tells real from fake by the sign alone.")
        if D is not None:
            _check_g_learns_through(G, D, out, labels, g_what, d_what)
            if (_last_operation(score) == "SigmoidBackward0" and cfg.objective.loss in BUILT_IN_LOSSES
                    and cfg.objective.name == "gan"):
                warnings.warn(f"{d_what} ends in a sigmoid, but objective.loss '{cfg.objective.loss}' takes D's raw "
                              "scores (logits): 'vanilla' applies the sigmoid itself, as BCEWithLogitsLoss does, and "
                              "wgan, hinge and lsgan need unbounded scores. Drop the final sigmoid: the seeds' "
                              "nn.Sigmoid + nn.BCELoss is what 'vanilla' computes, more stably.")
            if cfg.objective.loss == "wgan" and cfg.objective.name == "gan" and not _critic_is_held(D, cfg):
                warnings.warn(f"objective.loss = 'wgan' with nothing to hold {d_what} to a Lipschitz bound: the "
                              "critic can raise its real-minus-fake gap without limit, so its scores and G's loss "
                              "grow step after step. Add what seed 002 adds: objective.clip_value=0.01 (WGAN, as "
                              "hw6-wgan-64) or objective.gp_weight=10 (WGAN-GP, as hw6-wgan-gp-64), or set "
                              "model.discriminator.spectral_norm=true.")
            if cfg.objective.gp_weight > 0 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules()):
                options = DISCRIMINATORS.get(d_name).options
                fix = ("set model.discriminator.options.norm=instance (as hw6-wgan-gp-64) or none"
                       if options is not None and "norm" in {f.name for f in dataclasses.fields(options)} else
                       "give D layer or instance normalization, or none")
                warnings.warn(f"objective.gp_weight penalizes the gradient of each image's score on that image, but "
                              f"{d_what} has BatchNorm, which makes each score depend on the whole batch, so the "
                              "penalty holds the wrong function to norm 1 (WGAN-GP's paper leaves BatchNorm out of "
                              f"the critic for this reason); {fix}.")
        one = images_per_process == 1  # the batch a process trains on: one image, or (the probe's) two
        fake = (out[:1] if one else out).detach()
        _check_training_mode([(G, probe[:1] if one else probe, g_what), (D, fake, d_what)],
                             [t[:1] for t in labels] if one else list(labels), one)
    finally:
        for m in [m for m in (G, D) if m is not None]:
            m.train()
    return G, D


def _critic_is_held(D: nn.Module, cfg: Config) -> bool:
    """Whether something bounds a WGAN critic: weight clipping, a gradient penalty (WGAN-GP's, or R1, which
    penalizes D's gradients too), or spectral norm on its layers (the config's or the user's own)."""
    ob = cfg.objective
    if ob.clip_value > 0 or ob.gp_weight > 0 or ob.r1_gamma > 0:
        return True
    # torch's parametrization, or the older torch.nn.utils.spectral_norm, which keeps weight_orig
    return any(parametrize.is_parametrized(m) or hasattr(m, "weight_orig") for m in D.modules())


def _check_g_learns_through(G: nn.Module, D: nn.Module, fake: torch.Tensor, labels: tuple[torch.Tensor, ...],
                            g_what: str, d_what: str) -> None:
    """Backpropagate D's scores of G's probe images to G's weights, as G's step does. A D that detaches its
    input would leave G untrained without a word, and one that changes its input in place fails here in one
    line rather than in torch's backward at the first G step."""
    scores = probe_output(D, fake, d_what, *labels)
    weights = [p for p in G.parameters() if p.requires_grad]
    try:
        grads = torch.autograd.grad(scores.float().sum(), weights, allow_unused=True)
    except RuntimeError as e:
        cause = str(e).split(" Hint:")[0]
        raise GanforgeError(f"the gradient from {d_what} back to {g_what} failed on a probe batch: {cause} A "
                            "network that changes its input in place (x.mul_(...), x += ..., an inplace=True "
                            "activation as its first layer) overwrites the generator's output, which its backward "
                            "needs; compute a new tensor instead (x = x * ...).") from None
    if all(g is None for g in grads):
        raise GanforgeError(f"the scores of {d_what} do not depend on the images it is given (it detaches them, or "
                            f"reads x.data or x.numpy()), so {g_what} would get no gradient through it and never "
                            "learn; compute the scores from the input with torch operations.")


# autograd nodes that only reshape, select or average: a sigmoid under them still bounds the scores
_PASS_THROUGH = ("View", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Select", "Slice", "Permute",
                 "Transpose", "Clone", "Expand", "Mean", "Unsafe", "AsStrided", "ToCopy")


# the last operations that keep a generator's images at or above 0, and the name to call each by
_NON_NEGATIVE = {"SigmoidBackward0": "a sigmoid", "ReluBackward0": "a ReLU", "HardsigmoidBackward0": "a hard sigmoid",
                 "SoftplusBackward0": "a softplus"}


def _last_operation(y: torch.Tensor) -> str:
    """The autograd node that made ``y``, seen through reshapes and averages ("SigmoidBackward0" for an
    nn.Sigmoid or torch.sigmoid at a network's end); "" for a tensor no operation made."""
    fn = y.grad_fn
    while fn is not None and type(fn).__name__.startswith(_PASS_THROUGH) and fn.next_functions:
        fn = fn.next_functions[0][0]
    return type(fn).__name__ if fn is not None else ""


def _check_training_mode(nets: list[tuple[nn.Module | None, torch.Tensor, str]], labels: list[torch.Tensor],
                         one_image: bool) -> None:
    """A training-mode forward of each network, as its first step makes, after the eval-mode probe: a layer that
    fails only in training (BatchNorm1d on one image, or at eps 0; a forward's own ``if self.training`` branch)
    fails here in one line naming the network, not with torch's traceback at the first step. Its buffers
    (BatchNorm's statistics, spectral norm's vectors) are put back and the RNG forked, so the run trains as
    without it; the weights are not copied, which a network near the memory's limit could not afford."""
    for net, x, what in nets:
        if net is None:
            continue
        kept = [(buffer, buffer.clone()) for buffer in net.buffers()]
        try:
            # fork_rng: a layer that draws random numbers in training (dropout) leaves the run's RNG as it was
            with torch.no_grad(), torch.random.fork_rng(devices=[x.device] if x.is_cuda else []):
                net.train()(x, *labels)
        except Exception as e:
            if one_image:
                raise GanforgeError(f"{what} cannot train on one image per process (train.batch_size over the "
                                    f"processes is 1): {type(e).__name__}: {e}. BatchNorm needs at least 2 images "
                                    "for its batch statistics; raise train.batch_size.") from None
            raise GanforgeError(f"{what} failed in training mode on a probe batch of shape {tuple(x.shape)}: "
                                f"{type(e).__name__}: {e} ({raised_at(e)})") from None
        finally:
            with torch.no_grad():
                for buffer, value in kept:
                    buffer.copy_(value)


def _misshapen_images(out: torch.Tensor, want: tuple[int, ...], g_what: str, what: str) -> str:
    """G's images are not of the data's shape: flat vectors (seed 001's G, reshaped by its loop) get the
    reshape to write."""
    if out.ndim == 2 and out.shape[1] == math.prod(want):
        return (f"{g_what} makes flat vectors of {out.shape[1]} values, but {what} is {want}; ganforge's G "
                f"returns images: end its forward with .view(-1, {', '.join(map(str, want))}), as seed 001's loop "
                "reshapes G's output.")
    return f"{g_what} makes images of shape {tuple(out.shape[1:])}, but {what} is {want}; change one of them."


def _misshapen_scores(score: torch.Tensor, d_what: str) -> str:
    """D's scores are not one per image: a (B, 1) column (nn.Linear(..., 1), as the seeds end D) and a patch
    D's (B, 1, H, W) map get what to write."""
    said = f"{d_what} must return one score per image (B,), got shape {tuple(score.shape)}"
    if score.ndim > 1 and score.shape[0] == 2 and score[0].numel() == 1:
        return f"{said}; end its forward with .view(-1) (nn.Linear(..., 1) gives a (B, 1) column)."
    if score.ndim == 4 and score.shape[:2] == (2, 1):
        return f"{said}, a map of scores per image; end its forward with .mean((1, 2, 3)) (a patch D's average)."
    return f"{said}."


def probe_output(net: Callable[..., torch.Tensor], x: torch.Tensor, what: str, *more: torch.Tensor) -> torch.Tensor:
    """``net(x, *more)`` on a batch of 2, as a bad-input check: an exception inside the network, an output
    that is not a tensor, or one that no weight reaches, becomes a one-line error naming the network."""
    try:
        y = net(x, *more)
    except Exception as e:  # the user's forward: say where it failed, without a traceback
        raise GanforgeError(f"{what} failed on a probe batch of shape {tuple(x.shape)}: {type(e).__name__}: "
                            f"{e} ({raised_at(e)})") from None
    if not isinstance(y, torch.Tensor):
        raise GanforgeError(f"{what} must return a tensor, got {type(y).__name__}.")
    owner = net if isinstance(net, nn.Module) else net.__self__  # a network, or a method of one (D.features)
    if any(p.requires_grad for p in owner.parameters()) and not y.requires_grad:
        raise GanforgeError(f"{what} returns a tensor that none of its weights reach (detached, or made under "
                            "torch.no_grad), so training could not change it.")
    return y


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of a module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
