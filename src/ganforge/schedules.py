"""Learning-rate schedules: each optimizer's learning rate as a function of the training step.

``optim_g.schedule`` and ``optim_d.schedule`` (see :class:`ganforge.config.OptimizerConfig`):

- ``constant``: the config's ``lr`` throughout, as in the seeds' loops;
- ``linear``: a straight line from ``lr`` down to ``min_lr`` over ``decay_steps``, then ``min_lr``
  (SNGAN's reproductions: ``LambdaLR(opt, lambda step: 1 - step / total_steps)``);
- ``cosine``: half a cosine from ``lr`` down to ``min_lr`` over ``decay_steps``, starting again after
  each (MMagic's ``CosineRestartLR`` with equal periods and weights, the SRCNN and MSRResNet configs';
  a single period is torch's ``CosineAnnealingLR``);
- ``multistep``: ``lr`` times ``gamma`` at each of ``milestones`` (torch's and MMEngine's
  ``MultiStepLR``, the SRGAN config's).

``warmup_steps`` first ramps linearly from ``lr / warmup_steps`` up to ``lr``, and ``decay_steps``
counts from its end. ``decay_steps = 0`` means the rest of the run: ``train.max_steps``, or
``train.max_epochs`` in steps. A step is a training step, the unit of ``train.max_steps`` (one batch,
MMagic's iteration), so G's and D's schedules share one axis whatever ``objective.n_critic`` is.

Why a function of the step rather than torch's ``lr_scheduler`` objects: those keep state
(``last_epoch``, ``base_lrs``) that a checkpoint would store and a resume would have to reconcile with a
changed ``lr`` and with the health monitor's halving after a rollback. A function of (config, step)
gives a resumed run the same learning rate by construction; the tests check it against torch's
schedulers step by step.
"""
from __future__ import annotations

import bisect
import math

from .config import OptimizerConfig, TrainConfig
from .errors import GanforgeError, did_you_mean

SCHEDULES = ("constant", "linear", "cosine", "multistep")
_DEFAULTS = OptimizerConfig()


def learning_rate(opt: OptimizerConfig, step: int, length: int) -> float:
    """The learning rate of training step ``step`` (0-based) under ``opt``'s schedule, which decays over
    ``length`` steps after the warm-up (:func:`decay_length`)."""
    warmup = opt.warmup_steps
    if step < warmup:
        return opt.lr * (step + 1) / warmup
    if opt.schedule == "multistep":
        return opt.lr * opt.gamma ** bisect.bisect_right(opt.milestones, step)
    if opt.schedule == "linear":
        done = min(1.0, (step - warmup) / length)
        return opt.min_lr + (opt.lr - opt.min_lr) * (1.0 - done)
    if opt.schedule == "cosine":
        done = (step - warmup) % length / length  # restarts after each period
        return opt.min_lr + (opt.lr - opt.min_lr) * 0.5 * (1.0 + math.cos(math.pi * done))
    return opt.lr


def decays(opt: OptimizerConfig) -> bool:
    """Whether the schedule has a length to fill (linear and cosine)."""
    return opt.schedule in ("linear", "cosine")


def decay_length(opt: OptimizerConfig, train: TrainConfig, batches_per_epoch: int) -> int:
    """The steps over which ``opt``'s linear or cosine schedule falls to ``min_lr``: ``decay_steps``, or the
    run's steps after the warm-up (``train.max_steps``, else ``train.max_epochs`` in steps). 0 for the
    schedules that have no length."""
    if not decays(opt):
        return 0
    if opt.decay_steps:
        return opt.decay_steps
    total = train.max_steps or train.epochs_in_steps(batches_per_epoch)
    return max(1, total - opt.warmup_steps)


def describe(opt: OptimizerConfig, train: TrainConfig) -> str:
    """What the schedule does, in a few words (``--dry-run``)."""
    warm = f"warm-up over {opt.warmup_steps:,} steps, then " if opt.warmup_steps else ""
    if opt.schedule == "multistep":
        return f"{warm}{opt.lr:g}, times {opt.gamma:g} at steps {', '.join(f'{m:,}' for m in opt.milestones)}"
    if not decays(opt):
        return f"{warm}constant {opt.lr:g}"
    if opt.decay_steps or train.max_steps:
        span = f"{decay_length(opt, train, 0):,} steps"
    else:  # the steps of an epoch are known once the data is loaded
        span = f"the run's {train.max_epochs:g} epoch{'s' * (train.max_epochs != 1)}"
    over = "every" if opt.schedule == "cosine" and opt.decay_steps else "over"  # it restarts after decay_steps
    return f"{warm}{opt.schedule} from {opt.lr:g} to {opt.min_lr:g} {over} {span}"


# torch's scheduler classes (CosineAnnealingLR, StepLR; MMEngine's param_scheduler types) and their snake_case,
# casefolded without the LR, and the schedule here that does their work
TORCH_SCHEDULERS = {**dict.fromkeys(("cosineannealing", "cosine_annealing", "cosineannealingwarmrestarts"), "cosine"),
                    **dict.fromkeys(("step", "multistep", "multi_step"), "multistep"),
                    **dict.fromkeys(("linear", "linear_decay", "poly", "polynomial"), "linear"),
                    "constant": "constant"}


def validate_schedule(side: str, opt: OptimizerConfig, train: TrainConfig) -> None:
    """Refuse a schedule that is unknown, malformed, or keys the chosen schedule does not read."""
    if opt.schedule not in SCHEDULES:
        meant = TORCH_SCHEDULERS.get(opt.schedule.casefold().removesuffix("lr").rstrip("_"))
        guess = f" Did you mean '{meant}'?" if meant else did_you_mean(opt.schedule, SCHEDULES)
        raise GanforgeError(f"config key '{side}.schedule' is '{opt.schedule}'.{guess} Valid schedules: "
                            f"{', '.join(SCHEDULES)}.")
    for key in ("warmup_steps", "decay_steps", "min_lr"):
        if getattr(opt, key) < 0:
            raise GanforgeError(f"config key '{side}.{key}' must be >= 0, got {getattr(opt, key)}.")
    if opt.gamma <= 0:
        raise GanforgeError(f"config key '{side}.gamma' must be > 0, got {opt.gamma}: the factor lr is multiplied "
                            "by at each milestone (0.5 halves it).")
    # a key the schedule does not read would change nothing, without a word
    unread = {"multistep": ("decay_steps", "min_lr"), "linear": ("milestones", "gamma"),
              "cosine": ("milestones", "gamma")}.get(opt.schedule, ("decay_steps", "min_lr", "milestones", "gamma"))
    for key in unread:
        if getattr(opt, key) != getattr(_DEFAULTS, key):
            users = "the multistep schedule does" if key in ("milestones", "gamma") else "linear and cosine do"
            raise GanforgeError(f"config key '{side}.{key}' is set, but {side}.schedule is '{opt.schedule}', which "
                                f"does not read it ({users}); set {side}.schedule or drop {side}.{key}.")
    if opt.schedule == "multistep":
        if not opt.milestones:
            raise GanforgeError(f"{side}.schedule 'multistep' needs {side}.milestones, the steps at which lr is "
                                f"multiplied by {side}.gamma: e.g. --set {side}.milestones=[50000,100000].")
        if any(m <= 0 for m in opt.milestones) or list(opt.milestones) != sorted(set(opt.milestones)):
            raise GanforgeError(f"config key '{side}.milestones' must be steps > 0 in increasing order, "
                                f"got {list(opt.milestones)}.")
    if decays(opt):
        if opt.min_lr >= opt.lr:
            raise GanforgeError(f"config key '{side}.min_lr' is {opt.min_lr:g}, not below {side}.lr ({opt.lr:g}); "
                                f"the {opt.schedule} schedule falls from lr to min_lr.")
        if not opt.decay_steps and not (train.max_steps or train.max_epochs):
            raise GanforgeError(f"{side}.schedule '{opt.schedule}' falls to min_lr over {side}.decay_steps, or over "
                                "the whole run when that is 0, but the run has no step or epoch bound (a time bound "
                                f"does not say how many steps it will take); set {side}.decay_steps, train.max_steps "
                                "or train.max_epochs.")
        if not opt.decay_steps and train.max_steps and opt.warmup_steps >= train.max_steps:
            raise GanforgeError(f"config key '{side}.warmup_steps' is {opt.warmup_steps:,}, not below "
                                f"train.max_steps ({train.max_steps:,}): no steps would be left to decay over.")
