"""Checks across a whole config (step 2 of :mod:`ganforge.config`): ranges, names in the registries,
and settings that cannot go together. Each raises a GanforgeError naming the key and how to fix it."""
from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

from .config import (COMPILE_MODES, OPTIMIZERS, SEED_LIMIT, Config, ObjectiveConfig, OptimizerConfig, SRConfig,
                     said_of)
from .errors import GanforgeError, did_you_mean
from .schedules import validate_schedule


def _positive(value: float, key: str, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        rule = ">= 0" if allow_zero else "> 0"
        raise GanforgeError(f"config key '{key}' must be {rule}, got {value}.")


# train.precision as Lightning (16-mixed, 32-true), torch's dtypes and other loops write it
PRECISION_NAMES = {**dict.fromkeys(("32", "32-true", "float32", "float", "full"), "fp32"),
                   **dict.fromkeys(("bf16-mixed", "bf16-true", "bfloat16"), "bf16"),
                   **dict.fromkeys(("16", "16-mixed", "16-true", "float16", "half"), "fp16")}


def _one_of(value: str, key: str, choices: tuple[str, ...], said: str, aka: dict[str, str] | None = None,
            otherwise: str = "") -> None:
    """Refuse a ``value`` of config key ``key`` that is not one of ``choices``, which the message words as ``said``.
    A choice in other case (FP32, as papers write it) or misspelt (reduce_overhead) is offered by name, as is the
    choice ``aka`` maps another tool's name to (Lightning's 16-mixed), or the sentence it maps it to; ``otherwise``
    is said where none is."""
    if value not in choices:
        meant = (aka or {}).get(str(value).casefold())
        hint = ((f" Did you mean '{meant}'?" if meant in choices else f" {meant}") if meant
                else did_you_mean(str(value), choices))
        raise GanforgeError(f"config key '{key}' must be {said}, got '{value}'.{hint or otherwise}")


# how G takes the class, as papers and other GAN code name it; D's projection is no choice of this key
CONDITIONING_NAMES = {
    **dict.fromkeys(("cbn", "conditional_bn", "cond_bn", "categorical_batchnorm"), "batchnorm"),
    **dict.fromkeys(("concat", "concatenate", "cgan", "label_embedding"), "embedding"),
    **dict.fromkeys(("projection", "proj"), "model.class_conditioning is how G takes the class; a D with features(x) "
                                            "and head(h), as every built-in one, takes it by projection (Miyato & "
                                            "Koyama 2018) whatever it says.")}
# a held-out split as other loaders name it (torchvision's train=False, a 'val' folder): the datasets here have test
SPLIT_NAMES = dict.fromkeys(("val", "valid", "validation", "eval", "heldout", "held-out", "held_out"), "test")


def validate(cfg: Config) -> None:
    """Check ranges and names across the whole config; raise on the first problem."""
    from . import losses, nets, objective, pixel_losses  # noqa: F401  (registers the built-ins)
    from .data import DATASET_NAMES, ONE_SET
    from .data.npy import NO_CLASSES
    from .data.download import check_mirror
    from .registry import DISCRIMINATORS, GENERATORS, LOSSES, OBJECTIVES

    if cfg.data.name not in DATASET_NAMES:
        hint = did_you_mean(cfg.data.name, DATASET_NAMES)
        # a set with no loader of its own (CelebA, LSUN, seed 002's faces) is a folder of its images
        folder = "" if hint else (" For another set of images (CelebA, LSUN, anime faces), download them and set "
                                  "data.name=folder and data.root to their folder.")
        raise GanforgeError(f"config key 'data.name' is '{cfg.data.name}'.{hint} Valid datasets: "
                            f"{', '.join(DATASET_NAMES)}.{folder}")
    _one_of(cfg.data.split, "data.split", ("train", "test"), "'train' or 'test'", SPLIT_NAMES)
    check_mirror(cfg.data.mirror)
    if cfg.data.channels not in (1, 3):
        raise GanforgeError(f"config key 'data.channels' must be 1 or 3, got {cfg.data.channels}.")
    _positive(cfg.data.resolution, "data.resolution")
    _positive(cfg.model.z_dim, "model.z_dim")
    _positive(cfg.model.num_classes, "model.num_classes", allow_zero=True)
    _one_of(cfg.model.task, "model.task", ("gan", "sr"), "'gan' or 'sr' (super-resolution)")
    _one_of(cfg.model.class_conditioning, "model.class_conditioning", ("embedding", "batchnorm"),
            "'embedding' (beside z) or 'batchnorm' (conditional BatchNorm)", CONDITIONING_NAMES)
    if cfg.model.class_conditioning != "embedding" and not cfg.model.num_classes:
        raise GanforgeError(f"model.class_conditioning = '{cfg.model.class_conditioning}' is for class-conditional "
                            "GANs, but model.num_classes is 0; set model.num_classes to the data's number of classes.")
    if cfg.model.task == "sr" and cfg.model.num_classes:
        raise GanforgeError("model.num_classes is for class-conditional GANs; a super-resolution model "
                            "(model.task = 'sr') is conditioned on its LR image. Set model.num_classes=0.")
    no_d = cfg.model.discriminator.name == nets.NO_DISCRIMINATOR
    if no_d and cfg.model.task == "gan":
        raise GanforgeError("a GAN needs a discriminator: model.discriminator.name 'none' is for super-resolution "
                            "(model.task = 'sr') trained on pixel losses alone.")
    for registry, net, key in ((GENERATORS, cfg.model.generator, "generator"),
                               (DISCRIMINATORS, cfg.model.discriminator, "discriminator")):
        if key == "discriminator" and no_d:
            if net.spectral_norm:
                raise GanforgeError("model.discriminator.spectral_norm is true, but model.discriminator.name is "
                                    "'none' (no discriminator); drop the spectral_norm setting or name a discriminator.")
            continue
        try:
            registry.parse(net.name, net.options, f"model.{key} '{net.name}'")
        except GanforgeError as e:
            if cfg.plugins and net.name not in registry.names():  # a class in a plugin, left unregistered
                names = ", ".join(Path(plugin).name for plugin in cfg.plugins)
                name = registry.kind.upper() + "S"
                raise GanforgeError(f"{e} The plugins ({names}) were imported, and none registered '{net.name}': a "
                                    f"class becomes a {registry.kind} by @{name}.register(\"{net.name}\") (from "
                                    f"ganforge.registry import {name}; examples/custom_model.py).") from None
            raise
    LOSSES.get(cfg.objective.loss)
    OBJECTIVES.parse(cfg.objective.name, cfg.objective.options)
    _validate_hooks(cfg)
    for side in ("optim_g", "optim_d"):
        opt: OptimizerConfig = getattr(cfg, side)
        if opt.name not in OPTIMIZERS:
            raise GanforgeError(f"config key '{side}.name' is '{opt.name}'.{did_you_mean(opt.name, OPTIMIZERS)} "
                                f"Valid optimizers: {', '.join(OPTIMIZERS)}.")
        _positive(opt.lr, f"{side}.lr")
        for key in ("eps", "alpha", "weight_decay", "clip_grad_norm"):  # torch refuses negative ones with a traceback
            _positive(getattr(opt, key), f"{side}.{key}", allow_zero=True)
        if opt.eps == 0 and opt.name != "sgd":  # Adam and RMSprop divide by sqrt(v) + eps, and v is 0 wherever a
            # gradient has been 0 (a dead ReLU's weights): 0/0 is NaN at the first step
            raise GanforgeError(f"config key '{side}.eps' must be > 0 for {opt.name}, got 0.0: it divides by "
                                "sqrt(v) + eps, and v is 0 wherever a gradient has been 0. 1e-8 is the usual value.")
        if opt.alpha >= 1:  # RMSprop's v = alpha v + (1 - alpha) g^2: frozen at 0 at 1, negative (NaN) above
            raise GanforgeError(f"config key '{side}.alpha' must be in [0, 1), got {opt.alpha}: RMSprop keeps "
                                "alpha * v + (1 - alpha) * g^2, which never grows from 0 at 1 and goes negative above; "
                                "0.99 is the usual value.")
        for i, beta in enumerate(opt.betas):
            if not 0 <= beta < 1:
                raise GanforgeError(f"config key '{side}.betas[{i}]' must be in [0, 1), got {beta}.")
        _check_momentum(side, opt)
        validate_schedule(side, opt, cfg.train)
    if no_d and cfg.optim_d.clip_grad_norm:  # it would change nothing, without a word
        raise GanforgeError(f"config key 'optim_d.clip_grad_norm' is {cfg.optim_d.clip_grad_norm}, but this model has "
                            "no discriminator (model.discriminator.name = 'none'); to clip G's gradients set "
                            "optim_g.clip_grad_norm.")
    ob = cfg.objective
    _one_of(ob.d_real_fake, "objective.d_real_fake", ("sum", "mean"), "'sum' or 'mean'",
            {"average": "mean", "avg": "mean", "add": "sum", "total": "sum"})  # seed 002's (r_loss + f_loss) / 2
    for key in ("n_critic", "generator_steps", "accumulate", "r1_every"):
        _positive(getattr(ob, key), f"objective.{key}")
    if ob.r1_every > 1 and not ob.r1_gamma:  # it would change nothing, without a word
        raise GanforgeError(f"config key 'objective.r1_every' is {ob.r1_every}, but objective.r1_gamma is 0 (R1 off); "
                            "set objective.r1_gamma (10 is StyleGAN2's for faces at 1024, far less for small images) "
                            "or drop r1_every.")
    for key in ("gp_weight", "r1_gamma", "clip_value"):
        _positive(getattr(ob, key), f"objective.{key}", allow_zero=True)
    from .augment import parse_policy

    if parse_policy(ob.diffaugment) and cfg.model.task == "sr":
        raise GanforgeError("objective.diffaugment is for GANs that draw from noise; a super-resolution D judges "
                            "G's output against its own HR image. Set objective.diffaugment=\"\".")
    _validate_ada(cfg)
    _validate_label_smoothing(cfg)
    if ob.reuse_fake and (ob.n_critic, ob.generator_steps, ob.accumulate) != (1, 1, 1):
        # the presets that reuse fakes (dcgan-fmnist, seed 001's) set it themselves, so name the whole key
        changed = ", ".join(f"objective.{k}={getattr(ob, k)}" for k in ("n_critic", "generator_steps", "accumulate")
                            if getattr(ob, k) != 1)
        raise GanforgeError(
            f"config key 'objective.reuse_fake' is true (the G step reuses the D step's fakes), which needs n_critic = "
            f"generator_steps = accumulate = 1, but {changed}; add --set objective.reuse_fake=false."
        )
    cycle, first_update = _first_g_update(ob)
    if cfg.model.task == "gan" and 0 < cfg.train.max_steps < cycle:  # a smoke test of hw6-wgan-64 left G as it began
        raise GanforgeError(f"config key 'train.max_steps' is {cfg.train.max_steps}, but {first_update}, so G would "
                            f"end untrained; set train.max_steps to at least {cycle}.")
    if not 0 <= cfg.ema.decay < 1:
        raise GanforgeError(f"config key 'ema.decay' must be in [0, 1), got {cfg.ema.decay}.")
    _positive(cfg.ema.start_step, "ema.start_step", allow_zero=True)
    tr = cfg.train
    _positive(tr.batch_size, "train.batch_size")
    for key in ("max_steps", "max_seconds", "max_epochs", "threads"):
        _positive(getattr(tr, key), f"train.{key}", allow_zero=True)
    if not 0 <= tr.seed < SEED_LIMIT:
        raise GanforgeError(f"config key 'train.seed' must be in [0, 2**32), got {tr.seed}.")
    if tr.device not in ("auto", "cpu") and not re.fullmatch(r"cuda(:\d+)?", tr.device):
        name, hint = tr.device.casefold(), ""
        if gpu := re.fullmatch(r"(?:gpu|cuda)(:\d+)?", name):  # Keras' and Lightning's "gpu", "gpu:1"; "CUDA"
            hint = f" Did you mean 'cuda{gpu[1] or ''}'?"
        elif name in ("auto", "cpu"):
            hint = f" Did you mean '{name}'?"
        elif name == "mps":
            hint = " ganforge trains on CPUs and CUDA GPUs; torch's mps backend (Apple's GPUs) is not supported."
        raise GanforgeError(f"config key 'train.device' must be auto, cpu or cuda[:N], got '{tr.device}'.{hint}")
    for key in ("every_steps", "num_samples"):
        _positive(getattr(cfg.log, key), f"log.{key}")
    for key in ("sample_every_steps", "checkpoint_every_steps", "sample_every_epochs", "checkpoint_every_epochs",
                "keep_checkpoints"):
        _positive(getattr(cfg.log, key), f"log.{key}", allow_zero=True)
    from .images import MAX_GRID_IMAGES

    if cfg.log.num_samples > MAX_GRID_IMAGES:  # each sample step writes them as one grid, to disk and TensorBoard
        raise GanforgeError(f"config key 'log.num_samples' is {cfg.log.num_samples:,}, more than one grid image "
                            f"shows (at most {MAX_GRID_IMAGES:,}); for more images, use ganforge sample --out DIR.")
    _one_of(tr.compile_mode, "train.compile_mode", COMPILE_MODES,
            f"one of {', '.join(COMPILE_MODES)} (torch.compile's modes)")
    if tr.compile_mode != "default" and not tr.compile:  # a mode alone would compile nothing, without a word
        raise GanforgeError(f"config key 'train.compile_mode' is '{tr.compile_mode}', but train.compile is false; "
                            "set train.compile=true to compile in that mode, or leave compile_mode at default.")
    _one_of(tr.precision, "train.precision", ("fp32", "bf16", "fp16", "auto"), "fp32, bf16, fp16 or auto",
            PRECISION_NAMES, " " + said_of("amp"))  # a loop's amp: what mixed precision is here
    import torch

    if tr.precision == "fp16" and (tr.device == "cpu" or (tr.device == "auto" and not torch.cuda.is_available())):
        raise GanforgeError("train.precision=fp16 needs a CUDA device (its GradScaler guards fp16 gradients on GPUs); "
                            "on the CPU use bf16 or fp32.")
    _positive(cfg.eval.every_kimg, "eval.every_kimg", allow_zero=True)
    if 0 < cfg.eval.every_kimg < 0.001:  # the interval counts whole images: below one, it would be zero images
        raise GanforgeError(f"config key 'eval.every_kimg' is {cfg.eval.every_kimg}, less than one image (0.001); "
                            f"it counts thousands of images: e.g. eval.every_kimg=50 evaluates every 50,000 images, "
                            f"0 turns evaluation off.")
    _one_of(cfg.eval.ref, "eval.ref", ("train", "test"), "'train' or 'test'", SPLIT_NAMES)
    if cfg.data.name in ONE_SET and cfg.model.task == "gan":
        for key, split in (("data.split", cfg.data.split), ("eval.ref", cfg.eval.ref)):
            if split == "test":
                raise GanforgeError(f"config key '{key}' is 'test', but {ONE_SET[cfg.data.name][0]}; set {key}=train.")
    if cfg.data.name == "npy" and cfg.model.num_classes:  # before the data is read and the run folder made
        raise GanforgeError(NO_CLASSES)
    _one_of(cfg.health.on_nan, "health.on_nan", ("stop", "rollback"), "'stop' or 'rollback'")
    for key in ("window", "check_every"):
        _positive(getattr(cfg.health, key), f"health.{key}")
    _positive(cfg.health.max_rollbacks, "health.max_rollbacks", allow_zero=True)
    # a negative threshold would turn its check off (or make it always fire) without a word
    for key in ("warmup_steps", "d_loss_floor", "score_gap", "min_diversity"):
        _positive(getattr(cfg.health, key), f"health.{key}", allow_zero=True)
    from .metrics.evaluate import check_num, parse_metrics
    from .metrics.features import FEATURES

    if cfg.model.task == "sr":
        check_num(cfg.eval.num_samples, (), "config key 'eval.num_samples'")
        _validate_sr(cfg)
    else:  # checked before training, not at the first evaluation an hour in
        _refuse_unread_sr(cfg)
        check_num(cfg.eval.num_samples, parse_metrics(cfg.eval.metrics, "config key 'eval.metrics'",
                                                      num_set="eval.num_samples="),
                  "config key 'eval.num_samples'")
    FEATURES.get(cfg.eval.features)


def _check_momentum(side: str, opt: OptimizerConfig) -> None:
    """SGD's and RMSprop's momentum in [0, 1) (at 1 the velocity never decays); not on Adam, whose momentum is
    betas[0] (it would be unused, unsaid); Nesterov's only on SGD with momentum, as torch.optim.SGD requires."""
    if not 0 <= opt.momentum < 1:
        raise GanforgeError(f"config key '{side}.momentum' must be in [0, 1), got {opt.momentum}.")
    if opt.momentum and opt.name in ("adam", "adamw"):
        raise GanforgeError(f"config key '{side}.momentum' is {opt.momentum:g}, but {side}.name is '{opt.name}', whose "
                            f"momentum is {side}.betas[0]; momentum is for sgd and rmsprop.")
    if opt.nesterov and not (opt.name == "sgd" and opt.momentum > 0):
        raise GanforgeError(f"config key '{side}.nesterov' is true, but Nesterov's momentum needs {side}.name=sgd and "
                            f"{side}.momentum > 0; set both.")


def _first_g_update(ob: ObjectiveConfig) -> tuple[int, str]:
    """The step G is first updated at (a step is one D micro-batch, and G's update ends the first cycle of them),
    and the words that say why."""
    cycle = ob.n_critic * ob.accumulate
    return cycle, (f"G's first update comes after {cycle} steps (a step is one D micro-batch: "
                   f"objective.n_critic={ob.n_critic} x objective.accumulate={ob.accumulate})")


def check_epochs_reach_g(cfg: Config, images: int, batches_per_epoch: int) -> None:
    """Refuse a new GAN run whose ``train.max_epochs`` ends it before G's first update: seed 002's one epoch at
    n_critic 5, on a folder of a few batches. ``train.max_steps`` is checked with the rest of the config; the
    epochs' steps are known only once the data is (``images`` of them make ``batches_per_epoch``)."""
    tr = cfg.train
    cycle, first_update = _first_g_update(cfg.objective)
    steps = tr.epochs_in_steps(batches_per_epoch)
    if cfg.model.task != "gan" or not tr.max_epochs or steps >= cycle or 0 < tr.max_steps <= steps:
        return  # (train.max_steps, where it ends the run first, is at least one cycle)
    by_steps = (f"train.max_epochs=0 to end it at train.max_steps={tr.max_steps}" if tr.max_steps else
                f"train.max_steps to at least {cycle} with train.max_epochs=0")  # a preset's epoch came first
    raise GanforgeError(
        f"config key 'train.max_epochs' is {tr.max_epochs:g}, which is {steps} step{'s' * (steps != 1)} here "
        f"({images:,} images at train.batch_size={tr.batch_size} make {batches_per_epoch} "
        f"batch{'es' * (batches_per_epoch != 1)} an epoch), but {first_update}, so G would end untrained; set "
        f"train.max_epochs to at least {math.ceil(cycle / batches_per_epoch)}, or {by_steps}.")


def _validate_label_smoothing(cfg: Config) -> None:
    """One-sided label smoothing: below 1, and for a loss with a target for real images."""
    from .losses import BUILT_IN_LOSSES, build_loss

    ob = cfg.objective
    if not ob.label_smoothing:
        return
    if not 0 < ob.label_smoothing < 1:
        raise GanforgeError(f"config key 'objective.label_smoothing' must be in [0, 1) (D's target for real images "
                            f"is 1 minus it; 0.1 is usual), got {ob.label_smoothing}.")
    if build_loss(ob.loss).d_real_target is None:
        yours = "" if ob.loss in BUILT_IN_LOSSES else f" (or give {ob.loss}'s AdversarialLoss a d_real_target)"
        raise GanforgeError(f"objective.label_smoothing lowers D's target for real images, which the '{ob.loss}' "
                            f"loss has none of; use it with objective.loss = 'vanilla' or 'lsgan'{yours}.")


def _validate_ada(cfg: Config) -> None:
    """ADA's keys: a target in (0, 1) with transforms to apply, and a loss whose scores' sign means real or fake."""
    from .augment import parse_policy

    ob, default = cfg.objective, ObjectiveConfig()
    if not ob.ada_target:
        if (ob.ada_kimg, ob.ada_interval) != (default.ada_kimg, default.ada_interval):  # they would change nothing
            raise GanforgeError(f"objective.ada_kimg / ada_interval are set ({ob.ada_kimg:g} / {ob.ada_interval}), "
                                "but objective.ada_target is 0 (ADA off); set objective.ada_target (0.6 is ADA's) "
                                "or drop them.")
        return
    if not 0 < ob.ada_target < 1:
        raise GanforgeError(f"config key 'objective.ada_target' must be in [0, 1) (the mean sign of D's scores of "
                            f"real images at which p holds; 0.6 is ADA's, 0 turns it off), got {ob.ada_target}.")
    if not parse_policy(ob.diffaugment):
        raise GanforgeError("objective.ada_target is set, but objective.diffaugment names no transforms for ADA's "
                            "probability to apply; add --set objective.diffaugment=color,translation,cutout.")
    if ob.loss == "wgan":  # a critic's scores drift freely: their sign says nothing of real or fake
        raise GanforgeError("objective.ada_target reads the sign of D's scores of real images, which a WGAN critic's "
                            "(objective.loss = 'wgan') does not give; use objective.diffaugment alone (ada_target=0).")
    _positive(ob.ada_kimg, "objective.ada_kimg")
    _positive(ob.ada_interval, "objective.ada_interval")


def _validate_hooks(cfg: Config) -> None:
    """Each of the user's hooks is registered, once, and its options fit its options dataclass."""
    from .registry import HOOKS

    seen = set()
    for i, hook in enumerate(cfg.hooks):
        if not hook.name:
            raise GanforgeError(f"config key 'hooks[{i}].name' is empty; name a hook a plugin registers "
                                "(@HOOKS.register(\"my-hook\")).")
        if hook.name in seen:  # their states share one key in checkpoints
            raise GanforgeError(f"config key 'hooks' names '{hook.name}' twice; list each hook once (give one hook "
                                "every setting it needs through its options).")
        seen.add(hook.name)
        HOOKS.parse(hook.name, hook.options, f"hooks[{i}] '{hook.name}'")


def _refuse_unread_sr(cfg: Config) -> None:
    """A GAN run reads no sr setting: one changed from its default (``--set sr.scale=2`` on dcgan-fmnist, meant
    for super-resolution) would be dropped without a word."""
    default = SRConfig()
    changed = [f.name for f in dataclasses.fields(SRConfig) if getattr(cfg.sr, f.name) != getattr(default, f.name)]
    if changed:
        many, keys = len(changed) > 1, [f"sr.{key}" for key in changed]
        quoted = ", ".join(f"'{key}'" for key in keys)
        values = ", ".join(repr(getattr(cfg.sr, key)) for key in changed)
        raise GanforgeError(f"config key{'s' * many} {quoted} {'are' if many else 'is'} set ({values}), but model.task "
                            f"is '{cfg.model.task}', which reads no sr setting (they are super-resolution's); set "
                            f"model.task=sr (the srcnn-x4, msrresnet-x4 and srgan-x4 presets do) or drop "
                            f"{', '.join(keys)}.")


def _validate_sr(cfg: Config) -> None:
    """Checks that only apply to super-resolution runs."""
    from .registry import PERCEPTUAL_NETS, PIXEL_LOSSES

    sr, ob = cfg.sr, cfg.objective
    if sr.scale < 2:
        raise GanforgeError(f"config key 'sr.scale' must be >= 2, got {sr.scale}.")
    _positive(sr.patch_size, "sr.patch_size", allow_zero=True)
    if sr.patch_size % sr.scale:
        raise GanforgeError(f"config key 'sr.patch_size' ({sr.patch_size}) must be a multiple of sr.scale ({sr.scale}).")
    PIXEL_LOSSES.get(sr.pixel_loss)
    for key in ("pixel_weight", "perceptual_weight", "adversarial_weight"):
        _positive(getattr(sr, key), f"sr.{key}", allow_zero=True)
    if sr.perceptual_weight > 0:
        PERCEPTUAL_NETS.get(sr.perceptual_net)
    elif sr.perceptual_net != SRConfig().perceptual_net:  # it would change nothing, without a word
        raise GanforgeError(f"config key 'sr.perceptual_net' is '{sr.perceptual_net}', but sr.perceptual_weight is 0 "
                            "(no perceptual loss); set sr.perceptual_weight (srgan-x4's is 1.0) or drop "
                            "sr.perceptual_net.")
    if sr.val_lr_root and not sr.val_root:  # the test split's LR images are made, never read from files
        raise GanforgeError(f"config key 'sr.val_lr_root' is '{sr.val_lr_root}', but sr.val_root is empty: evaluation "
                            f"reads {cfg.data.name}'s test split, whose LR images are made by bicubic downsampling; "
                            "set sr.val_root to the HR images that sr.val_lr_root's files pair with, or drop "
                            "sr.val_lr_root.")
    from .nets import NO_DISCRIMINATOR

    has_d = cfg.model.discriminator.name != NO_DISCRIMINATOR
    if sr.pixel_weight + sr.perceptual_weight + (sr.adversarial_weight if has_d else 0) == 0:
        raise GanforgeError("super-resolution needs a loss for G: set sr.pixel_weight, sr.perceptual_weight or "
                            "(with a discriminator) sr.adversarial_weight above 0.")
    if (ob.n_critic, ob.generator_steps) != (1, 1) or ob.reuse_fake:
        raise GanforgeError("super-resolution trains D and G once on each (LR, HR) batch: set objective.n_critic=1, "
                            "objective.generator_steps=1 and objective.reuse_fake=false.")
    from .metrics.sr_eval import parse_sr_metrics

    parse_sr_metrics(cfg.eval.metrics)
