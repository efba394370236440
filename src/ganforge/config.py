"""Typed run configuration: frozen dataclasses, a TOML, YAML or JSON file plus ``--set`` overrides.

A config is resolved in three steps, and nothing starts before the last one:

1. ``load_config(preset_or_file, overrides)`` reads a preset (``presets/NAME.toml``)
   or a user's TOML, YAML or JSON file (a run's config.json), applies ``--set a.b=value`` overrides and builds
   :class:`Config`, rejecting unknown keys (with the closest valid key) and
   wrong types (naming the key and the expected type);
2. a user's plugins are imported (:mod:`ganforge.plugins`), then
   :func:`ganforge.validation.validate` checks ranges and names across sections (batch
   size > 0, the loss and networks are registered);
3. the trainer builds G and D once to check they produce the data's shape.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import re
import shlex
import tomllib
import typing
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import GanforgeError, did_you_mean, did_you_mean_path
from .plugins import load_plugins, with_absolute_plugins
from .wording import say, set_flag, train_call

PRESET_DIR = Path(__file__).parent / "presets"
# seeds are offset and multiplied into per-epoch and per-hook seeds (seed * 1_000_003 + epoch), which must stay
# inside torch.manual_seed's 64 bits; numpy's SeedSequence refuses negative ones
SEED_LIMIT = 2**32
# where a dataset is fetched from and kept, not what it is: they do not change how a run trains
DATA_SOURCE_KEYS = ("data.download", "data.mirror", "data.cache_dir")
# torch.compile's modes (train.compile_mode); the two with CUDA graphs need objective.GANObjective to mark each step
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass(frozen=True)
class DataConfig:
    """Where the training images come from.

    Args:
        name: dataset: ``fashion-mnist``, ``mnist``, ``cifar10`` or ``folder``.
        root: folder with the files; empty means the default location
            (Debian's path for Fashion-MNIST, else the download cache).
        split: ``train`` or ``test`` (IDX and CIFAR-10).
        resolution: side of the square images the networks see, in pixels.
        channels: 1 (grayscale) or 3 (RGB); images are converted to it.
        download: fetch missing IDX/CIFAR files from the official mirrors.
        mirror: base URL that replaces the official mirrors (for tests and proxies).
        cache_dir: download and decoded-folder cache; empty means $GANFORGE_CACHE, else ganforge in
            $XDG_CACHE_HOME or ~/.cache.
    """

    name: str = "fashion-mnist"
    root: str = ""
    split: str = "train"
    resolution: int = 28
    channels: int = 1
    download: bool = True
    mirror: str = ""
    cache_dir: str = ""


@dataclass(frozen=True)
class NetConfig:
    """A registered network and its options (checked against its options dataclass).

    ``spectral_norm`` wraps every convolution and linear layer of the built network in
    torch's spectral normalization (Miyato et al., 2018; SNGAN, SAGAN, BigGAN), whatever
    network is named, a user's included: mostly for D, where it bounds the Lipschitz constant.
    """

    name: str = "dcgan"
    options: dict = field(default_factory=dict)
    spectral_norm: bool = False


@dataclass(frozen=True)
class HookConfig:
    """A hook of the user's, registered in ``HOOKS`` by a plugin, and its options (checked against its options
    dataclass); it runs beside the built-in hooks (docs: README, "Your own model")."""

    name: str = ""
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelConfig:
    """The two networks and the latent size they share.

    ``task`` is ``gan`` (G maps noise to images) or ``sr`` (G maps a low-resolution
    image to a high-resolution one; see :class:`SRConfig`). An SR model may have no
    discriminator: ``discriminator.name = "none"`` trains G on the pixel losses alone.

    ``num_classes > 0`` makes a class-conditional GAN: G draws images of a given class and D
    judges an image together with its class (:mod:`ganforge.nets.conditional`). It must equal the
    dataset's number of classes (10 for Fashion-MNIST, MNIST and CIFAR-10; an image folder's subfolders).
    ``class_conditioning`` is how G takes the class: ``embedding`` (a learned embedding beside z)
    or ``batchnorm`` (a per-class gain and bias on each of G's BatchNorms).

    ``init_from``: a run folder or checkpoint whose G and D weights a new run starts from (seed 004's
    ``init_weights(pretrained=...)``; SRGAN's G from a pixel-loss run of it), its optimizers, step and data
    order fresh. ``init_strict``: every tensor must fit; ``false`` loads those that fit (by name and shape),
    as MMCV's ``load_checkpoint(strict=False)`` does, and names the others.
    """

    task: str = "gan"
    z_dim: int = 128
    num_classes: int = 0
    class_conditioning: str = "embedding"
    generator: NetConfig = field(default_factory=NetConfig)
    discriminator: NetConfig = field(default_factory=NetConfig)
    init_from: str = ""
    init_strict: bool = True


OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")  # optim_g.name, optim_d.name


@dataclass(frozen=True)
class OptimizerConfig:
    """One optimizer (G or D) and its learning-rate schedule (:mod:`ganforge.schedules`).

    Args:
        name: adam, adamw (decoupled weight decay), rmsprop or sgd.
        alpha: RMSprop's smoothing constant.
        momentum: sgd's and rmsprop's momentum (0 = none; Adam's is ``betas[0]``); ``nesterov``: sgd's Nesterov
            momentum, as ``torch.optim.SGD`` takes both.
        schedule: ``constant``, ``linear`` or ``cosine`` (to ``min_lr`` over ``decay_steps``; cosine
            starts again after each), or ``multistep`` (times ``gamma`` at each of ``milestones``).
        warmup_steps: steps over which lr first ramps up linearly (0 = none).
        decay_steps: linear and cosine: the steps after the warm-up over which lr falls to ``min_lr``;
            0 = the rest of the run (train.max_steps or train.max_epochs).
        min_lr: linear and cosine: where lr ends (MMagic's ``eta_min``).
        milestones: multistep: the steps at which lr is multiplied by ``gamma``.
        clip_grad_norm: before each step, scale this network's gradients down so that their total
            L2 norm is at most this (torch's ``clip_grad_norm_``, MMEngine's ``clip_grad=dict(max_norm=...)``);
            the norm before clipping is logged as ``grad_norm_g`` / ``grad_norm_d``. 0 = off.
    """

    name: str = "adam"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    eps: float = 1e-8
    alpha: float = 0.99
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_steps: int = 0
    decay_steps: int = 0
    min_lr: float = 0.0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    clip_grad_norm: float = 0.0


@dataclass(frozen=True)
class ObjectiveConfig:
    """The GAN algorithm (seed 004's BaseGAN): loss, step ratios, regularizers.

    Args:
        loss: registered adversarial loss: vanilla, wgan, hinge, lsgan, ...
        d_real_fake: how D's real and fake terms combine: ``sum`` (MMEngine,
            MMagic) or ``mean`` (HW6 and the PyTorch tutorial: ``(r + f) / 2``).
        n_critic: D updates per G update.
        generator_steps: G updates each time G trains.
        accumulate: micro-batches whose gradients make one optimizer step.
        gp_weight: WGAN-GP gradient penalty weight (0 = off).
        r1_gamma: R1 penalty on real images (0 = off).
        r1_every: R1 on every k-th step only, weighted by k (StyleGAN2's lazy regularization: the
            penalty's second backward is the D step's dearest part, and every 16th step does as well).
        clip_value: WGAN weight clipping of D's parameters (0 = off).
        reuse_fake: the G step reuses the fakes made for the D step (seed 001),
            which saves a G forward; needs n_critic = generator_steps = accumulate = 1.
        diffaugment: DiffAugment (Zhao et al. 2020): the transforms every image D sees goes
            through, comma-separated: ``color``, ``translation``, ``cutout`` (the paper's
            "color,translation,cutout" for small datasets); "" for none. See :mod:`ganforge.augment`.
        label_smoothing: one-sided label smoothing (Salimans et al. 2016): D's target for real images is
            ``1 - label_smoothing`` instead of 1 (the fakes' stays 0), so D is not pushed to ever more certain
            scores; for the ``vanilla`` and ``lsgan`` losses. 0 = off.
        ada_target: 0 applies ``diffaugment``'s transforms to every image; above 0, each to each image
            with a probability p tuned by ADA's rule (Karras et al. 2020): p rises while the mean sign of
            D's scores of real images is above this (0.6 in the paper) and falls while below.
        ada_kimg: how many thousand images p takes to go from 0 to 1 (ADA's 500).
        ada_interval: steps between adjustments of p (ADA's 4).
        name: the registered algorithm: ``gan`` (:class:`ganforge.objective.GANObjective`)
            or a user's subclass of it, registered in ``OBJECTIVES`` from a plugin (seed
            004's ``DCGAN(BaseGAN)``); ``options`` are checked against its options dataclass.
    """

    name: str = "gan"
    options: dict = field(default_factory=dict)
    loss: str = "vanilla"
    d_real_fake: str = "sum"
    n_critic: int = 1
    generator_steps: int = 1
    accumulate: int = 1
    gp_weight: float = 0.0
    r1_gamma: float = 0.0
    r1_every: int = 1
    clip_value: float = 0.0
    reuse_fake: bool = False
    diffaugment: str = ""
    label_smoothing: float = 0.0
    ada_target: float = 0.0
    ada_kimg: float = 500.0
    ada_interval: int = 4


@dataclass(frozen=True)
class SRConfig:
    """Super-resolution (``model.task = "sr"``): paired data and G's losses (seed 004's BaseEditModel).

    Training pairs are made on the fly: a ``patch_size`` HR crop of a training image, its LR
    version by antialiased bicubic downsampling, and seeded flips and 90-degree rotations.
    With ``lr_root`` the LR images are read instead, paired with ``data.root`` by file name.

    Args:
        scale: upscaling factor (LR side x scale = HR side).
        patch_size: HR crop side, a multiple of ``scale``; 0 uses whole images (they must all
            have one size, as in Fashion-MNIST).
        augment: random horizontal/vertical flips and transposes (MMagic's Flip + RandomTransposeHW).
        lr_root: folder of LR images matching ``data.root``'s HR images by relative path.
        val_root: HR validation folder for ``ganforge evaluate`` and evaluation during training;
            empty: the test split of an IDX/CIFAR dataset.
        val_lr_root: LR images for ``val_root`` (default: made by bicubic downsampling).
        pixel_loss: ``l1``, ``mse`` or ``charbonnier``; ``pixel_weight`` its weight (0 = off).
        perceptual_net: registered perceptual network (``fmnist`` ships; plugins add more).
        perceptual_weight: weight of the perceptual loss (0 = off).
        adversarial_weight: weight of G's adversarial loss when a discriminator is set (SRGAN).
    """

    scale: int = 4
    patch_size: int = 0
    augment: bool = True
    lr_root: str = ""
    val_root: str = ""
    val_lr_root: str = ""
    pixel_loss: str = "l1"
    pixel_weight: float = 1.0
    perceptual_net: str = "fmnist"
    perceptual_weight: float = 0.0
    adversarial_weight: float = 5e-3


@dataclass(frozen=True)
class EmaConfig:
    """Exponential moving average of G's weights, used for samples by default."""

    enabled: bool = True
    decay: float = 0.999
    start_step: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """How long and how to train. A bound of 0 means "no bound"; the first reached ends the run.

    ``batch_size`` is the global batch: under torchrun each of the W processes takes
    ``batch_size / W`` images of it, so a config trains the same recipe at any world size.
    ``sync_bn`` synchronizes BatchNorm statistics across processes (CUDA only). ``seed``
    (0 to 2**32 - 1) fixes weight init, data order and noise.
    Speed options (docs/performance.md has their measurements): ``threads`` (0: torch's
    default), ``keep_freed_memory`` (glibc malloc keeps the memory a step frees instead of
    faulting it in again next step; ``training.process``), ``channels_last`` memory format,
    ``compile`` (torch.compile G and D) with ``compile_mode``, torch.compile's ``mode``
    (``reduce-overhead`` adds CUDA graphs on a GPU: each step's kernels are launched as one
    graph, which pays for small networks whose GPU steps wait on launches), and ``precision``:
    fp32, bf16 autocast, fp16 autocast with a GradScaler (CUDA only), or ``auto``: bf16 on a
    CPU that computes it natively, else fp32 (GPUs included: faster there for these networks,
    ``objective.resolve_precision``).
    ``deterministic`` makes torch use deterministic kernels (cuDNN's default convolutions on a
    GPU may sum in another order on every run, so a resumed GPU run then differs from an
    uninterrupted one; the CPU's kernels are deterministic already). An op with no deterministic
    kernel warns and runs as it is.
    """

    batch_size: int = 64
    max_steps: int = 0
    max_seconds: float = 0.0
    max_epochs: float = 0.0
    seed: int = 0
    threads: int = 0
    keep_freed_memory: bool = True
    device: str = "auto"
    sync_bn: bool = False
    channels_last: bool = True
    compile: bool = False
    compile_mode: str = "default"
    precision: str = "fp32"
    deterministic: bool = False

    def reached(self, step: int, seconds: float, epochs: float | None) -> str | None:
        """The bound a run at this point has reached, as ``"train.KEY=LIMIT (where it is)"``, or None (the first
        of :meth:`reached_all`'s).

        ``epochs`` may be None where it is not known (it is not checked then).
        """
        return next(iter(self.reached_all(step, seconds, epochs)), None)

    def epochs_in_steps(self, batches_per_epoch: int) -> int:
        """``max_epochs`` as the step that completes them, at ``batches_per_epoch`` (a fraction of an epoch ends at
        the step that reaches it)."""
        return math.ceil(self.max_epochs * batches_per_epoch)

    def reached_all(self, step: int, seconds: float, epochs: float | None) -> list[str]:
        """Every bound a run at this point has reached, each as :meth:`reached` says it."""
        reached = []
        if self.max_steps and step >= self.max_steps:
            reached.append(f"train.max_steps={self.max_steps} (it is at step {step})")
        if self.max_seconds and seconds >= self.max_seconds:
            reached.append(f"train.max_seconds={self.max_seconds:g} (it has trained {seconds:.1f} s)")
        if self.max_epochs and epochs is not None and epochs >= self.max_epochs:
            reached.append(f"train.max_epochs={self.max_epochs:g} (it has trained {epochs:.3g} "
                           f"epoch{'s' * (epochs != 1)})")
        return reached


@dataclass(frozen=True)
class LogConfig:
    """What a run writes and how often.

    Grids and checkpoints are written every ``*_every_steps`` steps and at the end of every
    ``*_every_epochs``-th epoch (the seeds' loops count in epochs); 0 turns that count off, and
    both are also written when the run ends. ``keep_checkpoints``: how many of the newest
    ``step_XXXXXXX.pt`` files stay, older ones deleted as new ones are written (MMEngine's
    ``max_keep_ckpts``); 0 keeps them all. ``last.pt`` and ``best.pt`` always stay. ``grad_norms``:
    log the total gradient norm of G and of D at each of their steps (``grad_norm_g``, ``grad_norm_d``),
    a pass over the gradients that a clipped network (``optim_*.clip_grad_norm``) makes anyway.
    """

    every_steps: int = 50
    sample_every_steps: int = 500
    checkpoint_every_steps: int = 1000
    sample_every_epochs: int = 0
    checkpoint_every_epochs: int = 0
    keep_checkpoints: int = 0
    grad_norms: bool = False
    num_samples: int = 64
    tensorboard: bool = True
    progress: bool = True


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation during training (off while ``every_kimg`` is 0).

    Args:
        every_kimg: evaluate each time this many thousand real images have been seen.
        num_samples: generated images per evaluation (and reference images).
        metrics: comma-separated subset of fid, kid, is, pr (precision, recall, density,
            coverage), swd; the first is the primary metric that picks ``checkpoints/best.pt``.
        features: registered feature extractor (``fmnist``, ``inception``).
        ref: reference split, ``train`` or ``test``.
    """

    every_kimg: float = 0.0
    num_samples: int = 5000
    metrics: str = "fid"
    features: str = "fmnist"
    ref: str = "train"


@dataclass(frozen=True)
class HealthConfig:
    """Training health checks (a hook); warnings carry a suggestion.

    Args:
        on_nan: ``stop`` (keep the last good checkpoint and end) or ``rollback``
            (reload it, halve both learning rates, go on; at most ``max_rollbacks`` times).
        max_rollbacks: rollbacks before giving up.
        window: steps a D-overpowers-G condition must hold before it is reported.
        d_loss_floor: D's loss below this for the whole window means D wins (not for wgan); with
            ``objective.label_smoothing``, below this above the least loss D can reach.
        score_gap: mean D(real) - D(fake) score gap above this for the whole window means D wins (not for
            wgan, whose gap estimates the Wasserstein distance: watch it fall in TensorBoard instead).
        check_every: steps between weight and diversity checks.
        warmup_steps: no diversity check before this step: an untrained G's samples are alike
            (measured on dcgan-fmnist: 0.06-0.19 before step 75, above 0.2 after; seed 001's preset sets 1,000,
            as its MLP's samples stay alike until about step 850).
        min_diversity: fixed-noise sample diversity, relative to a real batch's, below which
            mode collapse is reported (mean pairwise pixel distance).
    """

    enabled: bool = True
    on_nan: str = "stop"
    max_rollbacks: int = 3
    window: int = 200
    d_loss_floor: float = 0.05
    score_gap: float = 12.0
    check_every: int = 100
    warmup_steps: int = 200
    min_diversity: float = 0.2


@dataclass(frozen=True)
class Config:
    """A whole run. ``name`` is the preset it came from; ``notes`` documents deviations."""

    name: str = "custom"
    description: str = ""
    notes: str = ""
    plugins: tuple[str, ...] = ()
    hooks: tuple[HookConfig, ...] = ()
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim_g: OptimizerConfig = field(default_factory=OptimizerConfig)
    optim_d: OptimizerConfig = field(default_factory=OptimizerConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    sr: SRConfig = field(default_factory=SRConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    health: HealthConfig = field(default_factory=HealthConfig)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def flat_values(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A config's nested values (``Config.to_dict()``, a config file's) by their dotted keys:
    ``{"model": {"z_dim": 64}}`` as ``{"model.z_dim": 64}``, a network's options key by key."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flat_values(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# ---------------------------------------------------------------- type checks

def _type_name(tp: Any, plural: bool = False) -> str:
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        inner = _type_name(args[0], plural=True) if args else "values"
        return f"list of {inner}" if args[-1] is Ellipsis else f"list of {len(args)} {inner}"
    names = {int: "integer", float: "number", bool: "boolean", str: "string", dict: "table"}
    if dataclasses.is_dataclass(tp):  # an item of a list of tables (hooks)
        keys = ", ".join(f.name for f in dataclasses.fields(tp))
        return f"table{'s' * plural} ({{{keys}}})"
    if tp not in names:
        return str(tp)
    return names[tp] + "s" * plural + " (true or false)" * (tp is bool)


def _item(where: str, i: int) -> str:
    """``where`` for item ``i`` of a list: "config key 'optim_g.betas[0]'", the index inside the key's quotes."""
    return f"{where[:-1]}[{i}]'" if where.endswith("'") else f"{where}[{i}]"


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against annotation ``tp``; ints widen to float, lists to tuples."""
    origin = typing.get_origin(tp)
    name = _type_name(tp)
    article = "an" if name[0] in "aeiou" else "a"
    bad = GanforgeError(f"{where} must be {article} {name}, got {value!r} ({type(value).__name__}).")
    if tp is bool:
        if isinstance(value, str) and value.casefold() in ("true", "false"):  # --set x=True, as Python writes it
            raise GanforgeError(f"{str(bad).removesuffix('.')}; TOML writes it in lower case: {value.casefold()}.")
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, float) and value.is_integer():  # `max_steps=1e4`: TOML and YAML read it as a float
            raise GanforgeError(f"{where} must be an integer, got {value!r} (float); write {int(value)}.")
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        if not -2**63 <= value < 2**63:  # torch and the C code under Python take 64-bit integers, with a traceback
            raise GanforgeError(f"{where} is {value}, beyond a 64-bit integer (about ±9.2e18); no setting needs "
                                "that much.")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if math.isnan(value):  # TOML reads `nan`; no setting means anything with it
            raise GanforgeError(f"{where} must be a number, got nan.")
        if math.isinf(value):  # and `inf`: a bound or interval of inf is 0's "off" spelled so it breaks arithmetic
            raise GanforgeError(f"{where} must be a finite number, got {value}; where 0 is allowed, it means off.")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    if origin is tuple:
        if isinstance(value, str) and re.fullmatch(r"\s*\(.*\)\s*", value):  # Python's betas=(0.5, 0.999)
            raise GanforgeError(f"{str(bad).removesuffix('.')}; a list is written in square brackets: "
                                f"[{value.strip()[1:-1]}].")
        args = typing.get_args(tp)
        item = {int: (int,), float: (int, float), str: (str,)}.get(args[0] if args else None, ())
        if args and args[-1] is Ellipsis and isinstance(value, item) and not isinstance(value, bool):
            # hidden=512 for hidden=[512]: one item where any number of them is wanted
            one = json.dumps(value) if isinstance(value, str) else repr(value)  # TOML's "text", as JSON writes it
            raise GanforgeError(f"{str(bad).removesuffix('.')}; a list of one is written [{one}].")
        if not isinstance(value, (list, tuple)):
            raise bad
        if args and args[-1] is Ellipsis:
            return tuple(coerce(v, args[0], _item(where, i)) for i, v in enumerate(value))
        if len(value) != len(args):
            raise bad
        return tuple(coerce(v, a, _item(where, i)) for i, (v, a) in enumerate(zip(value, args)))
    if dataclasses.is_dataclass(tp):  # an item of a list of tables (hooks[0]): _build names keys by their path
        if not isinstance(value, dict):
            raise bad
        prefix = "config key '"
        return _build(tp, value, where[len(prefix):-1] if where.startswith(prefix) else where)
    raise AssertionError(f"unsupported config annotation {tp!r} at {where}")


def _key_types(cls: type, prefix: str = "") -> dict[str, Any]:
    """Every key of the config dataclass ``cls`` as a dotted path (``objective.gp_weight``), sections included,
    with its type."""
    hints = typing.get_type_hints(cls)
    types = {}
    for f in dataclasses.fields(cls):
        types[prefix + f.name] = hints[f.name]
        if dataclasses.is_dataclass(hints[f.name]):
            types.update(_key_types(hints[f.name], f"{prefix}{f.name}."))
    return types


def keys_named(name: str, values_only: bool = False) -> list[str]:
    """The config keys whose last part is ``name`` in any case, as dotted paths: ``max_steps`` is
    ``train.max_steps``; with ``values_only``, not the sections (``train``)."""
    name = name.casefold()  # every key is lower case: seed 000's BATCH_SIZE is batch_size
    return [p for p, tp in _key_types(Config).items() if p.rsplit(".", 1)[-1] == name
            and not (values_only and dataclasses.is_dataclass(tp))]


def _in_another_section(key: str) -> str:
    """' It is a key of another section: objective.gp_weight.' for a key put in the wrong section, or ''."""
    homes = keys_named(key)
    if not homes:
        return ""
    homes = [p if "." in p else f"{p} (top level)" for p in homes]
    shown = " or ".join(homes) if len(homes) <= 3 else f"{', '.join(homes[:3])} and {len(homes) - 3} more"
    return f" It is a key of another section: {shown}."


def _joined_keys(key: str) -> list[str]:
    """The keys that ``key`` names by joining a section and its key with '_' (``ema_decay``, ``train.ema_start_step``;
    ``ema_start`` begins one), or by naming G's or D's optimizer setting as StudioGAN and other scripts do (``g_lr``,
    ``lr_d``); [] for none or more than three. Spelling did not find these: it offered 'max_steps' for
    'ema_start_step'."""
    forms: dict[str, set[str]] = {}
    for path, tp in _key_types(Config).items():
        if dataclasses.is_dataclass(tp):
            continue
        parts = path.split(".")
        names = {"_".join(parts[i:]) for i in range(len(parts) - 1)}  # model_generator_name, generator_name
        if parts[0] in ("optim_g", "optim_d") and len(parts) == 2:
            net = parts[0][-1]
            names |= {f"{net}_{parts[1]}", f"{parts[1]}_{net}"}
        for name in names:
            forms.setdefault(name, set()).add(path)
    key = key.casefold()
    found = forms.get(key) or {p for name, paths in forms.items() if name.startswith(key + "_") for p in paths}
    return sorted(found) if len(found) <= 3 else []


def _joined_key(key: str) -> str:
    """' Did you mean 'ema.decay'?' for a key that joins a section and its key (``_joined_keys``), else ''."""
    found = _joined_keys(key)
    return " Did you mean " + " or ".join(f"'{p}'" for p in found) + "?" if found else ""


def settings_meant(name: str) -> list[str]:
    """The config keys (values, not sections) that a setting named ``name`` outside a config means, as a flag of
    another training script names it: the key's own name (``max_steps``), a bound without its ``max_``
    (``steps``), the seeds' or another tool's name (hw6's ``n_epoch``, PyTorch's DCGAN example's ``imageSize``), or
    a section joined to its key (``ema_decay``, ``g_lr``); [] for none."""
    keys = keys_named(name, values_only=True) or keys_named(f"max_{name}", values_only=True)
    types, foreign = _key_types(Config), FOREIGN_KEYS.get(name.casefold(), "")
    if not keys and foreign in types and not dataclasses.is_dataclass(types[foreign]):
        keys = [foreign]  # `data` (MMEngine's train_dataloader) is a section, no value to set
    return keys or _joined_keys(name)


class ConfigKeyError(GanforgeError):
    """A config key that is unknown or holds a value of the wrong kind; ``key`` is its path (``train.batch_size``,
    ``hooks[0].name``), so that the error can name where the key came from (a ``--set``, or a file)."""

    def __init__(self, message: str, key: str):
        super().__init__(message)
        self.key = key


# top-level keys by which other tools' configs build on another (MMEngine's `_base_`): no key of ganforge's
BASE_KEYS = ("_base_", "base", "bases", "extends", "inherit", "inherits", "parent", "preset")


# what the seeds' loops and other GAN tools call a setting or section (casefolded), and ganforge's key for it
FOREIGN_KEYS = {
    # seeds 001-003; PyTorch's DCGAN example's --niter counts epochs
    **dict.fromkeys(("n_epoch", "n_epochs", "epochs", "num_epochs", "epoch", "niter", "nepoch"), "train.max_epochs"),
    **dict.fromkeys(("max_iters", "iters", "num_iters", "n_iters", "total_iters", "total_steps"), "train.max_steps"),
    **dict.fromkeys(("noise_size", "latent_dim", "nz", "noise_dim", "z_size", "latent_size", "zdim"), "model.z_dim"),
    # seed 004's SRCNNNet(upscale_factor=4) and BaseModel's pretrained=PATH, strict=...
    **dict.fromkeys(("upscale_factor", "scale_factor"), "sr.scale"),
    "pretrained": "model.init_from",
    "strict": "model.init_strict",
    "numepochs": "train.max_epochs",  # seed 001's Config.numEpochs and logStep
    "logstep": "log.every_steps",
    **dict.fromkeys(("batchsize", "bs"), "train.batch_size"),  # seed 001's Config.batchSize
    # PyTorch's DCGAN example (--imageSize, --dataroot, --manualSeed) and PyTorch-GAN's scripts (--img_size)
    **dict.fromkeys(("imagesize", "image_size", "img_size", "imsize"), "data.resolution"),
    **dict.fromkeys(("dataroot", "data_root", "data_dir", "data_path"), "data.root"),
    **dict.fromkeys(("manualseed", "manual_seed", "random_seed"), "train.seed"),
    **dict.fromkeys(("lambda_gp", "gp_lambda"), "objective.gp_weight"),  # WGAN-GP's LAMBDA
    # seed 004's BaseGAN (MMagic), WGAN-GP's CRITIC_ITERS, Lightning's accumulate_grad_batches
    **dict.fromkeys(("discriminator_steps", "n_discriminator_steps", "disc_steps", "d_steps", "critic_iters",
                     "d_iters"), "objective.n_critic"),
    **dict.fromkeys(("gen_steps", "g_steps"), "objective.generator_steps"),
    **dict.fromkeys(("accu_iters", "disc_accu_iters", "gen_accu_iters", "accumulation_steps",
                     "gradient_accumulation_steps", "accumulate_grad_batches"), "objective.accumulate"),
    "sample_interval": "log.sample_every_steps",
    # PyTorch-GAN's --n_classes, the lrG and lrD of many DCGAN and WGAN scripts, pix2pix's --gan_mode (vanilla,
    # lsgan: the names of ganforge's losses too)
    "n_classes": "model.num_classes",
    "lrg": "optim_g.lr",
    "lrd": "optim_d.lr",
    **dict.fromkeys(("gan_mode", "gan_loss", "loss_type", "adv_loss", "gan_loss_type"), "objective.loss"),
    # the DCGAN example's nc, and other loops' image channels, logging and checkpoint intervals
    **dict.fromkeys(("nc", "img_channels", "image_channels", "channels_img", "n_channels"), "data.channels"),
    **dict.fromkeys(("log_interval", "log_every", "print_freq", "print_every", "display_freq"), "log.every_steps"),
    **dict.fromkeys(("save_interval", "save_every", "checkpoint_interval", "ckpt_interval", "save_freq"),
                    "log.checkpoint_every_steps"),
    # the top-level names of MMEngine's and MMagic's Python configs (seeds 000 and 004)
    **dict.fromkeys(("train_dataloader", "dataloader", "train_dataset", "dataset"), "data"),
    "custom_hooks": "hooks",
    "max_keep_ckpts": "log.keep_checkpoints",  # MMEngine's CheckpointHook
    "ema_config": "ema",
    "load_from": "model.init_from",
    "randomness": "train.seed",
}

# the ema section's settings as MMEngine's ExponentialMovingAverage (seed 004's ema_config) and ema-pytorch name
# them: MMEngine's momentum is the share of the new weights, averaged = (1 - momentum) * averaged + momentum * new
EMA_NAMES = {
    "momentum": "MMEngine's EMA momentum is the new weights' share, so it is 1 - ema.decay here: momentum 0.001 is "
                "ema.decay=0.999.",
    "interval": "The EMA copy follows G after every G update; there is no interval to set (ema.start_step is its "
                "first step).",
    "beta": "Did you mean 'decay'? (ema-pytorch's beta is ema.decay here.)",
}

# MMEngine's and MMagic's names of whole sections, which mean them only at a config's top level
TOP_LEVEL_NAMES = frozenset(("train_dataloader", "dataloader", "train_dataset", "dataset", "custom_hooks",
                             "default_hooks", "ema_config", "load_from", "randomness", "optim_wrapper", "optimizer",
                             "optimizers", "param_scheduler", "lr_config", "lr_scheduler", "scheduler"))

# other scripts' names of the run's folder (PyTorch's DCGAN example's --outf), as a key or a flag
FOLDER_NAMES = ("work_dir", "workdir", "output_dir", "outdir", "out_dir", "outf", "log_dir", "logdir", "save_dir",
                "ckpt_dir", "checkpoint_dir", "run_dir", "exp_dir")

# what to say of a name that is no key here; {out} is how the run's folder is given
FOREIGN_SAYS = {
    # hw6's one folder for its faces and its logs and checkpoints
    "workspace_dir": "hw6's workspace_dir is two things here: the images' folder is data.root, and the run's folder "
                     "(its checkpoints, samples and TensorBoard logs) is given as {out}.",
    **dict.fromkeys(FOLDER_NAMES,
                    "A run's folder is not a config key: give it as {out}; its checkpoints, samples and TensorBoard "
                    "logs go inside it."),
    **dict.fromkeys(("resume", "resume_from"), "A run is continued by training its folder again with {resume}."),
    **dict.fromkeys(("num_workers", "workers", "n_workers", "n_cpu"),  # PyTorch-GAN's --n_cpu: DataLoader workers
                    "ganforge has no DataLoader workers: batches come from memory. train.threads sets torch's "
                    "threads."),
    **dict.fromkeys(("b1", "b2", "beta1", "beta2"),  # PyTorch-GAN's --b1, the DCGAN example's --beta1
                    "Adam's betas are one list for each network's optimizer: optim_g.betas and optim_d.betas, "
                    "as [0.5, 0.999]."),
    "cuda": "The device is train.device: auto (the default) takes a GPU when torch sees one; cpu, cuda or cuda:N "
            "names one.",
    "model_type": "The hw6 presets are its model types: hw6-dcgan-64, hw6-wgan-64 and hw6-wgan-gp-64.",
    # Lightning's precision=16-mixed, accelerate's mixed_precision, a loop's --amp or --fp16
    **dict.fromkeys(("amp", "use_amp", "fp16", "mixed_precision"),
                    "Mixed precision is train.precision: bf16 (autocast), fp16 (autocast with a GradScaler; CUDA only), "
                    "fp32, or auto (bf16 where the CPU computes it natively, else fp32)."),
    **dict.fromkeys(("gpu", "gpus", "gpu_ids", "num_gpus", "ngpu", "launcher"),  # MMEngine's launcher='pytorch'
                    "The device is train.device (cuda:N names GPU N); for several GPUs, start ganforge under torchrun: "
                    "torchrun --nproc_per_node N -m ganforge train ... (docs/distributed.md)."),
    # seed 004's BaseGAN(train_cfg=..., test_cfg=..., data_preprocessor=..., init_cfg=...)
    "train_cfg": "MMagic's train_cfg (discriminator_steps, generator_steps, the accumulation) is the objective section "
                 "here: objective.n_critic, objective.generator_steps and objective.accumulate.",
    # and MMEngine's val_evaluator, test_evaluator and other evaluators' names
    **dict.fromkeys(("test_cfg", "val_cfg", "val_evaluator", "test_evaluator", "evaluation", "evaluator"),
                    "Evaluation is the eval section: eval.metrics, eval.num_samples, eval.every_kimg (a "
                    "super-resolution run's held-out images: sr.val_root)."),
    "data_preprocessor": "ganforge scales the images itself, to [-1, 1] for a GAN (MMagic's mean 127.5, std 127.5) and "
                         "[0, 1] for super-resolution; there is no preprocessor to set.",
    "init_cfg": "Each network initializes its own weights (the DCGAN presets N(0, 0.02), as the seeds; a plugin's "
                "network in its __init__); to start from a trained run, set model.init_from.",
    "hiddendim": "The MLPs' hidden widths are model.generator.options.hidden and model.discriminator.options.hidden, "
                 "each a list (seed 001's hiddenDim=512 is [512]).",
    **dict.fromkeys(("imagedim", "imgdim", "image_dim", "img_dim"),  # seed 001's flattened C * H * W
                    "The image size is data.channels and data.resolution (seed 001's imageDim = 28 * 28 * 1 is "
                    "data.resolution=28, data.channels=1)."),
    **dict.fromkeys(("ngf", "ndf"),  # PyTorch's DCGAN example's widths: each network names its own
                    "The networks' widths are options of each: model.generator.options and model.discriminator.options "
                    "(base_channels in dcgan-fmnist's and MMagic's, feature_dim in hw6's; ganforge config PRESET shows "
                    "them)."),
    **dict.fromkeys(("optim_wrapper", "optimizer", "optimizers"),  # MMEngine's OptimWrapperDict
                    "Each network has its own optimizer section: optim_g and optim_d."),
    **dict.fromkeys(("param_scheduler", "lr_config", "lr_scheduler", "scheduler"),
                    "Each optimizer has its learning-rate schedule: optim_g.schedule and optim_d.schedule."),
    "default_hooks": "ganforge's logging, sample grids and checkpoints are set in the log section.",
    # MMEngine's train_cfg val_interval and CheckpointHook(save_best=...), and other loops' FID intervals
    **dict.fromkeys(("val_interval", "val_begin", "eval_interval", "evaluation_interval", "eval_every", "eval_freq",
                     "fid_interval", "fid_every", "save_best"),
                    "Evaluation as the run trains is eval.every_kimg, in thousands of images between evaluations (an "
                    "interval of N steps is N x train.batch_size / 1000), with eval.metrics and eval.num_samples; "
                    "checkpoints/best.pt keeps the best by the first of eval.metrics."),
    **dict.fromkeys(("interval", "by_epoch"),  # the arguments of MMEngine's LoggerHook and CheckpointHook
                    "The intervals of MMEngine's hooks are log.every_steps (LoggerHook), log.checkpoint_every_steps "
                    "(CheckpointHook) and log.sample_every_steps (sample grids); by epochs, "
                    "log.checkpoint_every_epochs and log.sample_every_epochs."),
    **dict.fromkeys(("visualizer", "vis_backends", "writer", "tensorboard_dir"),
                    "TensorBoard event files go to the run's tb folder (log.tensorboard), its scalars every "
                    "log.every_steps and its sample grids every log.sample_every_steps."),
    "auto_scale_lr": "train.batch_size is the global batch under torchrun, so the learning rates hold for any number "
                     "of processes; for another train.batch_size, set optim_g.lr and optim_d.lr.",
    **dict.fromkeys(("n_samples", "sample_size", "n_sample", "num_sample"),
                    "The sample grids hold log.num_samples images; evaluation scores eval.num_samples."),
}


def _foreign_key(key: str, where: str) -> str:
    """What to write for a setting as the seeds' loops or another GAN tool name it (hw6's ``n_epoch``, MMEngine's
    ``max_iters`` and ``optim_wrapper``, MMagic's ``noise_size``) in section ``where``, or ''."""
    name = key.casefold()
    if name == "optimizer" and where in ("optim_g", "optim_d"):  # MMEngine's optimizer=dict(type='Adam', ...)
        return f" Did you mean 'name'? It names the optimizer: {', '.join(OPTIMIZERS[:-1])} or {OPTIMIZERS[-1]}."
    if name == "type" and where == "model":  # seed 004's model = dict(type='BaseGAN', generator=..., ...)
        return (" MMagic's model type is model.task here: 'gan' (BaseGAN, DCGAN) or 'sr' (SRGAN, BaseEditModel); a "
                "GAN algorithm of your own is objective.name.")
    if where and name in TOP_LEVEL_NAMES:  # data.dataset is no data section in the data section
        return ""
    if name in FOREIGN_KEYS:
        return f" Did you mean '{FOREIGN_KEYS[name]}'?"
    said = said_of(name)
    return " " + said if said else ""


def said_of(name: str) -> str:
    """What to say of ``name``, a setting as another tool names it that no one key of ganforge's stands for (hw6's
    ``workspace_dir``, a DataLoader's ``num_workers``, Adam's ``beta1``), or ''."""
    said = FOREIGN_SAYS.get(name.casefold(), "")
    return said.format(out=say("--out FOLDER", "train's out argument"), resume=say("--resume", "resume=True"))


# keys that hold several names in one string, comma-separated; a list of the names is taken as that string
COMMA_LISTS = ("eval.metrics", "objective.diffaugment")


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        path = f"{where}.{key}" if where else key
        if key not in fields:
            # a key named so elsewhere (lr: optim_g.lr or optim_d.lr) says so; a joined one (ema_decay) before spelling;
            # in a list's table (hooks[0]) a key is the table's own, not a setting of the run
            joined = "" if keys_named(key) or "[" in where else _foreign_key(key, where) or _joined_key(key)
            hint = joined or did_you_mean(key, fields) or _in_another_section(key)
            if key != key.casefold() and key.casefold() in fields:  # train.BATCH_SIZE: its own section's key
                hint = f" Did you mean '{key.casefold()}'? Config keys are lower case."
            item = re.fullmatch(r"(\w+)\[\d+\]", key)  # `--set optim_g.betas[0]=0.5`: one item of a list
            if item and item[1] in fields:
                hint = f" A list is set whole: {where + '.' if where else ''}{item[1]}=[...]."
            if where == "ema" and key.casefold() in EMA_NAMES:  # seed 004's ema_config=dict(momentum=..., ...):
                hint = " " + EMA_NAMES[key.casefold()]  # not the optimizers' momentum, another quantity
            if key == "type" and "name" in fields:  # MMEngine's dict(type='DCGANGenerator', ...) (seed 004)
                hint = " Did you mean 'name'? (MMEngine's type= is name here.)"
            if not where and key in BASE_KEYS:  # MMEngine's `_base_ = [...]`: a config built on another
                named = value if isinstance(value, str) and value in preset_names() else "dcgan-fmnist"
                hint = (f" A ganforge config stands alone: `ganforge config {named} > mine.toml` writes "
                        f"that preset's whole config to edit, or `ganforge train {named} --set KEY=VALUE` changes a "
                        "few keys.")
            raise ConfigKeyError(
                f"unknown config key '{path}'.{hint} "
                f"Valid keys{' in ' + where if where else ''}: {', '.join(fields)}.", path)
        if dataclasses.is_dataclass(hints[key]):
            if not isinstance(value, dict):  # `--set train=5`: a whole section given one value
                first = dataclasses.fields(hints[key])[0].name
                raise ConfigKeyError(f"config key '{path}' is a section, not a value (got {value!r}); set one of "
                                     f"its keys, e.g. {path}.{first}=...", path)
            kwargs[key] = _build(hints[key], value, path)
        else:
            if path in COMMA_LISTS and isinstance(value, list):  # metrics = ["fid", "kid"], as MMEngine lists them
                if not all(isinstance(v, str) for v in value):
                    raise ConfigKeyError(f"config key '{path}' must be a string or a list of strings, got {value!r} "
                                         "(list).", path)
                value = ",".join(value)
            try:
                kwargs[key] = coerce(value, hints[key], f"config key '{path}'")
            except ConfigKeyError:  # a key inside a list of tables (hooks[0].name) names itself
                raise
            except GanforgeError as e:
                raise ConfigKeyError(str(e) + _seconds_hint(key, value), path) from None
    return cls(**kwargs)


_UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hr": 3600, "hour": 3600}


def _seconds_hint(key: str, value: Any) -> str:
    """For a duration written with a unit where seconds belong (``train.max_seconds=10m``): the number to write."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*", value, re.I) if isinstance(value, str) else None
    if not key.endswith("seconds") or found is None:
        return ""
    unit = found[2].lower()
    unit = unit if unit in _UNIT_SECONDS else unit.removesuffix("s")  # 10mins, 2hrs, 30secs, 2 hours
    if unit not in _UNIT_SECONDS:
        return ""
    return f" It counts seconds: for {value.strip()}, write {float(found[1]) * _UNIT_SECONDS[unit]:g}."


def config_from_dict(values: dict[str, Any]) -> Config:
    """Build a :class:`Config` from nested dicts, checking every key and type."""
    return _build(Config, values, "")


def config_naming_source(values: dict[str, Any], overrides: list[str], source: str | None) -> Config:
    """:func:`config_from_dict` of ``values`` (``source``'s keys with ``overrides`` applied), whose error for a bad
    key says where the key came from: the last ``--set`` that set it or a section holding it, else ``source``
    (a config file, in words; None for a preset, whose keys are all good)."""
    try:
        return config_from_dict(values)
    except ConfigKeyError as e:
        def holds(key: str) -> bool:  # the --set of key gave e.key, a section it is in, or a key under it
            return e.key == key or e.key.startswith((key + ".", key + "[")) or key.startswith(e.key + ".")

        given = [(text, key) for text in overrides if holds(key := text.split("=", 1)[0].strip())]
        where = say(f"--set {given[-1][0]}", f"overrides[{given[-1][1]!r}]") if given else source
        hint = say(full_width_hint(given[-1][0]), "") if given else ""  # Python's values are typed, not IME text
        raise GanforgeError((f"{where}: {e}" if where else str(e)) + hint) from None


# ---------------------------------------------------------------- files and overrides

def preset_names() -> list[str]:
    """Names of the shipped presets."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


YAML_SUFFIXES = (".yaml", ".yml")
# .json: a run's own config.json, so `ganforge train runs/a/config.json --out runs/b --set train.seed=1`
# trains a new run like it
CONFIG_SUFFIXES = (".toml", *YAML_SUFFIXES, ".json")
# files of weights that may be given where a config belongs, by what they are
WEIGHTS_SUFFIXES = {**dict.fromkeys((".pt", ".pth", ".ckpt"), "a checkpoint"),
                    **dict.fromkeys((".pt2", ".onnx"), "a generator exported by ganforge export")}


def read_source(preset_or_file: str) -> tuple[dict[str, Any], Path | None]:
    """Read a preset name, a TOML file, a YAML file (``.yaml``, ``.yml``) or a JSON file (a run's
    config.json) into a dict; also return the file's folder. All hold the same sections and keys."""
    path = Path(preset_or_file)
    # a name with a folder (runs/a, ./mine) or a suffix (mine.tmol) in it is a path, never a preset: a typo
    # is named as a missing file, with the file beside it that it may mean
    is_path = (path.suffix.lower() in CONFIG_SUFFIXES or path.exists() or "/" in preset_or_file
               or os.sep in preset_or_file or (path.suffix and not (PRESET_DIR / f"{preset_or_file}.toml").is_file()))
    if is_path:
        if path.is_dir():
            raise GanforgeError(f"config file '{path}' is a folder; give a preset name or a .toml, .yaml or .json file."
                                f"{_resume_hint(path)}")
        if not path.is_file():
            raise GanforgeError(f"config file '{preset_or_file}' does not exist.{did_you_mean_path(path)}")
        if path.suffix.lower() in WEIGHTS_SUFFIXES:
            raise GanforgeError(_weights_given_as_config(path))
        base = path.parent.resolve()
    else:
        path = PRESET_DIR / f"{preset_or_file}.toml"
        base = None
        if not path.is_file():
            raise GanforgeError(
                f"unknown preset '{preset_or_file}'.{did_you_mean(preset_or_file, preset_names())} "
                f"Presets: {', '.join(preset_names())} (or give a .toml, .yaml or .json config file)."
            )
    suffix = path.suffix.lower()  # MINE.YAML is YAML too
    if suffix == ".py":  # seed 004's MMagic configs are Python; here Python files are plugins
        raise GanforgeError(f"config file '{path}' is a Python file, but ganforge's configs are TOML, YAML or JSON "
                            "(`ganforge config dcgan-fmnist > mine.toml` writes one to edit; MMEngine's Python configs "
                            f"are not read). A .py file of networks or losses is a plugin: "
                            + say(f"{set_flag('plugins', [preset_or_file])}.",
                                  f"overrides={{'plugins': [{preset_or_file!r}]}}."))
    is_yaml, is_json = suffix in YAML_SUFFIXES, suffix == ".json"
    try:
        # TOML is UTF-8 whatever the locale says (YAML and JSON files are read the same way); utf-8-sig also
        # drops the BOM Windows editors write, which tomllib would call an "Invalid statement" at line 1
        text = path.read_text(encoding="utf-8-sig")
        values = _read_yaml(text, path) if is_yaml else _read_json(text, path) if is_json else tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        read_as = "" if suffix == ".toml" or not is_path else f" (read as TOML: its suffix is none of {', '.join(CONFIG_SUFFIXES)})"
        raise GanforgeError(f"config file '{path}' is not valid TOML{read_as}: {_toml_error(e, text)}") from None
    except UnicodeDecodeError as e:
        as_toml = "" if is_yaml or is_json else ", as TOML must be"
        raise GanforgeError(f"config file '{path}' is not UTF-8 text{as_toml} "
                            f"(byte {e.object[e.start]:#04x} at offset {e.start}); save it as UTF-8.") from None
    except OSError as e:
        raise GanforgeError(f"cannot read config file '{path}': {e.strerror}.") from None
    values = _plain_values(values, f"config file '{path}'")
    if not values:  # e.g. `ganforge config ... > mine.toml` that failed and left the file empty
        warnings.warn(f"config file '{path}' sets no keys, so every key takes its default (the dcgan network on "
                      f"Fashion-MNIST); fill it, e.g. with `ganforge config dcgan-fmnist > {path.name}`.")
    values.setdefault("name", path.stem)
    return values, base


def _plain_values(value: Any, source: str, key: str = "") -> Any:
    """``value`` in the types a run's config.json holds: the dates that TOML and YAML read (``root = 2024-01-05``: a
    folder named by its date) as ISO text, which a key that holds text takes (a date as written; a time in ISO
    form); any other type (YAML's ``!!binary`` bytes, ``!!set``) refused, naming ``key`` in ``source``. Left as
    they were, they broke the config's copy into JSON with a traceback."""
    if isinstance(value, dict):
        return {k: _plain_values(v, source, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_values(v, source, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise GanforgeError(f"{source} gives '{key}' a {type(value).__name__} value, which a config cannot hold; give "
                        "text, a number, true or false, a list or a table.")


def _kind_of(value: Any) -> str:
    """What a parsed file holds, in its format's words: 'a list', 'null', 'a string', 'a number'."""
    if value is None:
        return "null"
    kinds = {bool: "true or false", str: "a string", int: "a number", float: "a number", list: "a list"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def _read_json(text: str, path: Path) -> dict[str, Any]:
    """A JSON config (a run's config.json) as a dict of sections."""
    def one_of_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:  # json keeps the last of a repeated key
        names = [name for name, _ in pairs]
        if twice := next((name for name in names if names.count(name) > 1), None):
            raise GanforgeError(f"config file '{path}' sets '{twice}' twice in one object; JSON keeps the last "
                                "without a word, so delete the one not meant.")
        return dict(pairs)

    try:
        values = json.loads(text, object_pairs_hook=one_of_each)
    except json.JSONDecodeError as e:
        raise GanforgeError(f"config file '{path}' is not valid JSON: {e.msg} (at line {e.lineno}, "
                            f"column {e.colno})") from None
    if not isinstance(values, dict):
        raise GanforgeError(f"config file '{path}' holds {_kind_of(values)}; a config is an object of "
                            'sections, e.g. {"train": {"batch_size": 64}}.')
    return values


def _read_yaml(text: str, path: Path) -> dict[str, Any]:
    """A YAML config's sections, as a TOML file's would be: a mapping with string keys all the way down.

    PyYAML reads YAML 1.1, where ``1e-4`` (an exponent but no dot) is a string; the loader reads
    it as the number YAML 1.2 and every user mean (a learning rate is most often written so).
    """
    import yaml  # only for YAML configs: the CLI starts without it

    class Loader(yaml.SafeLoader):  # safe: tags that would build Python objects are refused
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            """Refuse a key written twice in one mapping, which PyYAML reads as the last of them. A merge key's
            (<<) keys are not counted: the keys beside it override them, as YAML means."""
            lines: dict[Any, int] = {}
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    line = key_node.start_mark.line + 1
                    if key_node.value in lines:
                        raise GanforgeError(
                            f"config file '{path}' sets '{key_node.value}' twice in one mapping (at lines "
                            f"{lines[key_node.value]} and {line}); YAML keeps the last without a word, so delete "
                            "the one not meant.")
                    lines[key_node.value] = line
            return super().construct_mapping(node, deep)

    Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
                                 list("-+0123456789."))
    try:
        values = yaml.load(text, Loader=Loader)
    except yaml.MarkedYAMLError as e:
        where = f" (at line {e.problem_mark.line + 1}, column {e.problem_mark.column + 1})" if e.problem_mark else ""
        raise GanforgeError(f"config file '{path}' is not valid YAML: {e.problem or e.context}{where}") from None
    except yaml.YAMLError as e:
        raise GanforgeError(f"config file '{path}' is not valid YAML: {e}") from None
    if values is None:  # an empty file, as an empty TOML file: every default
        return {}
    if not isinstance(values, dict):
        raise GanforgeError(f"config file '{path}' holds {_kind_of(values)}; a config is a mapping of "
                            "sections, e.g. 'train:' with 'batch_size: 64' indented under it.")
    _check_keys(values, path, "")
    return values


def dump_yaml(values: dict[str, Any]) -> str:
    """``values`` (:meth:`Config.to_dict`) as a YAML config that :func:`read_source` reads back to the same
    config: sections in the dataclasses' order, short lists inline, multi-line text (a preset's notes) as a block."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    def inline_short_lists(dumper: yaml.SafeDumper, value: list) -> yaml.SequenceNode:
        flat = not any(isinstance(v, (list, dict)) for v in value)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)

    Dumper.add_representer(str, text)
    Dumper.add_representer(list, inline_short_lists)
    return yaml.dump(values, Dumper=Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
                     width=1000)  # a long description stays on one line


def _check_keys(values: dict, path: Path, where: str) -> None:
    """Every key a name (YAML also allows numbers, booleans and dates as keys)."""
    for key, value in values.items():
        if not isinstance(key, str):
            raise GanforgeError(f"config file '{path}' has the key {key!r} ({type(key).__name__})"
                                f"{' in ' + where if where else ''}; config keys are names, e.g. batch_size.")
        if isinstance(value, dict):
            _check_keys(value, path, f"{where}.{key}" if where else key)


def _toml_error(error: tomllib.TOMLDecodeError, text: str) -> str:
    """tomllib's message, with the line's key or value named where tomllib says only "Cannot overwrite a value"
    or "Invalid value" and the line: a key set twice is the usual slip after `ganforge config PRESET > mine.toml`
    (adding ``plugins = [...]`` at the top of a file that already has ``plugins = []``), and a value written as
    Python writes it (:func:`_value_hint`) the usual one from the seeds' configs."""
    said = str(error)
    lines = text.splitlines()
    found = re.fullmatch(r"(Invalid value|Cannot overwrite a value) \(at line (\d+), column \d+\)", said)
    if not found or int(found[2]) > len(lines) or "=" not in lines[int(found[2]) - 1]:
        return said
    number = int(found[2])
    key, value = (part.strip() for part in lines[number - 1].split("=", 1))
    if found[1] == "Invalid value":
        hint = _value_hint(key, value)
        return f"line {number}, {lines[number - 1].strip()!r}: {hint}({said})." if hint else said
    earlier = ""
    for before in range(number - 1, 0, -1):  # back to its table's header: the line that set it first
        line = lines[before - 1].strip()
        if line.startswith("["):
            break
        if "=" in line and line.split("=", 1)[0].strip() == key:
            earlier = f" (line {before} sets it first)"
            break
    return f"line {number} sets '{key}' again{earlier}; TOML allows each key once in its table, so keep one ({said})."


def _value_hint(key: str, value: str) -> str:
    """What TOML wants instead of a value written as Python (or a shell) writes it, with a trailing space; or ''.
    tomllib says only "Invalid value" and where."""
    value = value.split(" #", 1)[0].strip()  # a comment after the value
    if value.startswith("("):  # seed 000's betas=(0.5, 0.999)
        return f"a list is written in square brackets: {key} = [{value[1:].rstrip(')')}] "
    if value in ("True", "False"):
        return f"TOML writes {value.lower()} in lower case "
    if value == "None":
        return "TOML has no None: leave the key out for its default "
    if value.startswith("dict("):  # MMEngine's optim_wrapper=dict(...)
        return "a table is written { key = value, ... } or as a [section] of its own "
    if re.fullmatch(r"[\w.~/-]+", value):  # name = dcgan, root = ~/data
        return f'text is quoted: {key} = "{value}" '
    return ""


def _weights_given_as_config(path: Path) -> str:
    """For a checkpoint or an exported generator given where a config belongs (``train runs/a/checkpoints/last.pt``,
    to go on from it or start from its weights): what it is, and the commands that do those."""
    kind = WEIGHTS_SUFFIXES[path.suffix.lower()]
    said = f"config file '{path}' is {kind}; give a preset name or a .toml, .yaml or .json file."
    if kind != "a checkpoint":
        return said
    run = path.parent.parent if path.parent.name == "checkpoints" else None
    in_run = _resume_hint(run) if run else ""
    init = say(f"--set model.init_from={shlex.quote(str(path))}", f"overrides={{'model.init_from': {str(path)!r}}}")
    return f"{said}{in_run}{'; to' if in_run else ' To'} start a new run from its weights: {init}"


def _resume_hint(folder: Path) -> str:
    """For a run folder given where a config belongs: the command that continues that run."""
    try:
        name = json.loads((folder / "config.json").read_text())["name"]
    except (OSError, ValueError, KeyError, TypeError):  # not a run folder, or not one we can read
        return ""
    return (f" To continue the run in it: {train_call(name, folder, resume=True)}; to train a new run like it: "
            f"{train_call(folder / 'config.json', 'NEW_FOLDER')}")


def full_width_hint(text: str) -> str:
    """Where ``text`` holds full-width forms (＝, ６４, ．), which a Chinese or Japanese input method types and
    which look like the ASCII ones: a sentence giving ``text`` in ASCII; else ""."""
    plain = unicodedata.normalize("NFKC", text)  # full-width forms to ASCII, as Unicode defines them
    if plain == text:
        return ""
    return (f" It holds full-width characters, as a Chinese or Japanese input method types them; in ASCII it is "
            f"'{plain}'.")


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b=value``; the value is read as TOML (numbers, bools, lists), else as a string, and as the text
    written for a key that holds text."""
    if "=" not in text:
        raise GanforgeError(f"--set '{text}' must look like key=value, e.g. train.max_steps=100."
                            f"{full_width_hint(text)}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise GanforgeError(f"--set '{text}' has no key before '='.")
    try:
        value = _plain_values(tomllib.loads(f"v = {raw}")["v"], f"--set '{text}'")
    except tomllib.TOMLDecodeError:
        value = raw
        sections = "|".join(f.name for f in dataclasses.fields(Config))
        if re.search(rf",\s*({sections})\.[\w.]+\s*=", raw):  # `--set a.b=1,c.d=2`, as some tools take them
            parts = re.split(rf",\s*(?=(?:{sections})\.[\w.]+\s*=)", text)
            raise GanforgeError(f"--set '{text}' sets {len(parts)} keys; give each its own --set: "
                                f"{' '.join(f'--set {part}' for part in parts)}.")
    if not isinstance(value, (str, list, dict)) and _key_types(Config).get(key) is str:
        value = raw  # TOML read a number or a bool: a folder named 2024 was refused as "must be a string, got 2024"
    return key.split("."), value


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set`` overrides to a nested dict (a copy); keys are checked later, as a whole.

    Naming another network (``model.generator.name=X``) drops the ``options`` the file gave
    the old one, which X would reject as unknown; X starts from its own defaults, and any
    ``--set ...options.K=V`` applies on top whatever its place on the command line.
    """
    values = json.loads(json.dumps(values))
    parsed = [(text, *parse_override(text)) for text in overrides]
    # network names first, so their options can follow them in any order
    for text, keys, value in sorted(parsed, key=lambda p: p[1][-1] != "name"):
        node = values
        for k in keys[:-1]:
            child = node.setdefault(k, {})
            if not isinstance(child, dict):
                raise GanforgeError(f"--set {text}: '{k}' is a value, not a section.")
            node = child
        if keys[-1] == "name" and isinstance(node.get("options"), dict) and node.get("name") != value:
            node["options"] = {}
        node[keys[-1]] = value
    return values


# the keys that name files or folders a run reads: the run it starts from, its images
PATH_KEYS = (("model", "init_from"), ("data", "root"), ("sr", "lr_root"), ("sr", "val_root"), ("sr", "val_lr_root"))


def with_absolute_paths(values: dict, base: Path | None = None) -> dict:
    """``values`` with each of :data:`PATH_KEYS` by its absolute path where it is found: from the working
    directory, or (in a config file, ``base`` its folder) from the file's folder, as plugins are. The run's
    config.json then names its data and the run it started from wherever ganforge runs next (``evaluate``,
    ``--resume`` and ``sample --nearest`` from another folder); a path not found stays as given, for the error
    at the start. ``~`` and environment variables (``$SCRATCH/faces``, as a config shared across a cluster's
    machines names its data) are expanded."""
    for section, key in PATH_KEYS:
        given = values.get(section, {}).get(key) if isinstance(values.get(section), dict) else None
        if isinstance(given, str) and given:
            expanded = os.path.expanduser(os.path.expandvars(given))
            for path in (Path(expanded), *([base / expanded] if base is not None else [])):
                if path.exists():
                    values[section][key] = str(path.absolute())
                    break
    return values


def load_config(preset_or_file: str, overrides: list[str] | None = None) -> Config:
    """Resolve a preset, TOML, YAML or JSON file plus ``--set`` overrides into a validated :class:`Config`."""
    values, base = read_source(preset_or_file)
    # the resolved config (saved with the run) names plugin files, data folders and model.init_from by absolute path
    values = with_absolute_paths(with_absolute_plugins(apply_overrides(values, overrides or []), base), base)
    cfg = config_naming_source(values, overrides or [], None if base is None else f"config file '{preset_or_file}'")
    load_plugins(cfg.plugins, base)
    from .validation import validate  # it reads the registries the plugins fill, and imports this module

    validate(cfg)
    return cfg
