"""The training loop: build everything from a Config, then step until a bound is reached.

Everything except the loop itself lives elsewhere: the GAN algorithm in
``objective.py``, logging, samples and checkpoints in ``hooks/``.
"""
from __future__ import annotations

import copy
import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..config import Config
from ..data import InMemoryBatches, load_images, load_labeled
from ..data.pairs import SRBatches, check_validation_source, load_pairs
from ..distributed import DistEnv, agreed, any_rank, average_logs, broadcast_module, convert_sync_bn
from ..errors import GanforgeError
from ..nets import NO_DISCRIMINATOR, build_networks, hr_size
from ..objective import GANObjective
from ..progress import say
from ..provenance import environment
from ..registry import OBJECTIVES
from ..schedules import decay_length, decays, learning_rate
from ..validation import check_epochs_reach_g
from . import checkpoint as ckpt
from .hooks import (Checkpointer, Evaluator, HealthMonitor, Hook, MetricsLogger, ProgressBar, SampleGrids,
                    build_user_hooks)
from .init_from import load_initial_weights
from .process import apply_process_settings


@dataclass
class TrainState:
    """Counters that a checkpoint stores and a resume restores, and the learning-rate factor a hook set."""

    step: int = 0
    images_seen: int = 0
    seconds: float = 0.0
    lr_scale: float = 1.0  # Trainer.set_lr_scale's: a hook's change of the learning rates outlives a resume


def pick_device(name: str, env: DistEnv = DistEnv()) -> torch.device:
    """``auto`` is CUDA when available, else CPU; under torchrun each process takes the GPU of its local rank."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):  # a config (or a checkpoint's) made on a GPU machine, run on one without
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name.partition(":")[2] or 0)
        if index >= count:
            raise GanforgeError(f"train.device is '{name}', but torch sees {count} CUDA GPU(s) here. "
                                "Use --set train.device=auto (a GPU if there is one, else the CPU) or cpu.")
    if name == "cuda" and env.enabled:
        if env.local_rank >= count:  # torch's own error would come later, from deep inside CUDA
            raise GanforgeError(f"torchrun started local rank {env.local_rank} on this machine, but torch sees "
                                f"{count} CUDA GPU(s) here: one process per GPU. Use "
                                f"--nproc_per_node={count}, or --set train.device=cpu.")
        return torch.device("cuda", env.local_rank)
    return torch.device(name)


def build_objective(cfg: Config, device: torch.device, env: DistEnv = DistEnv(),
                    new_run: bool = True) -> GANObjective:
    """G, D and G_ema, built from the config, placed on ``device`` and identical on every rank, in a GANObjective.

    Seeds the global RNG with ``train.seed`` first: network init is the same on every
    rank (one RNG stream for all), and a resume restores the RNG afterwards anyway. A ``new_run`` starts
    from ``model.init_from``'s weights where it names a run; a resume loads its own checkpoint instead.
    """
    torch.manual_seed(cfg.train.seed)

    def place(m: torch.nn.Module) -> torch.nn.Module:
        m = (convert_sync_bn(m, env, device) if cfg.train.sync_bn else m).to(device)
        broadcast_module(m, env)  # identical by seed already; this makes it a guarantee
        return m

    # BatchNorm's statistics span one process's images, or the whole global batch with train.sync_bn
    batch_norm_images = cfg.train.batch_size if cfg.train.sync_bn else cfg.train.batch_size // env.world_size
    G, D = build_networks(cfg, images_per_process=batch_norm_images)
    G, D = place(G), place(D) if D is not None else None  # no D: SR trained on pixel losses alone
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if cfg.ema.enabled else None
    if new_run and cfg.model.init_from:  # the same file on every rank: the weights stay identical
        load_initial_weights(G, D, cfg.model.init_from, cfg.model.init_strict, speak=env.is_main, G_ema=G_ema)
    name = cfg.objective.name  # GANObjective, or a user's subclass; its options come last, as a network's do
    objective = OBJECTIVES.build(name, cfg.objective.options, G, D, G_ema, cfg, device, env)
    if not isinstance(objective, GANObjective):
        raise GanforgeError(f"objective '{name}' is not a GANObjective (it built a '{type(objective).__name__}'); "
                            "register a subclass of ganforge.objective.GANObjective.")
    return objective


def make_batches(cfg: Config, env: DistEnv = DistEnv(), device: torch.device | None = None) -> InMemoryBatches:
    """Real images for a GAN (with their classes for a class-conditional one), or (LR, HR) pairs
    for super-resolution. A class-conditional run's batches have ``class_names``. A GAN's images
    are held on ``device`` when it is a GPU with room for them (:meth:`InMemoryBatches.hold_on`)."""
    tr = cfg.train
    if cfg.model.task == "sr":
        if cfg.sr.val_root:  # also when not evaluating as it trains: a typo showed only at ganforge evaluate
            check_validation_source(cfg)
        hr, lr = load_pairs(cfg.data, cfg.sr.scale, cfg.sr.lr_root)
        pairs = SRBatches(hr, lr, cfg.sr.scale, cfg.sr.patch_size, cfg.sr.augment, tr.batch_size, tr.seed,
                          env.rank, env.world_size)
        d_name, d_side = cfg.model.discriminator.name, hr_size(cfg)
        if d_name != NO_DISCRIMINATOR and pairs.patch != d_side:
            # only whole images (sr.patch_size=0) of a folder can differ: D was built for data.resolution's
            # side, and srgan's linear head met the other size as torch's "mat1 and mat2 shapes" traceback
            raise GanforgeError(
                f"sr.patch_size=0 trains on the whole images, cropped to the largest square they share: "
                f"{pairs.patch} pixels here, but discriminator '{d_name}' is built for HR patches of {d_side} "
                f"(data.resolution={cfg.data.resolution} cut to a multiple of sr.scale={cfg.sr.scale}); set "
                f"data.resolution={pairs.patch}, or sr.patch_size to a multiple of {cfg.sr.scale} up to "
                f"{pairs.patch}.")
        return pairs
    if not cfg.model.num_classes:
        batches = InMemoryBatches(load_images(cfg.data), tr.batch_size, tr.seed, env.rank, env.world_size)
    else:
        images, labels, classes = load_labeled(cfg.data)
        if len(classes) != cfg.model.num_classes:
            where = f"data.root '{cfg.data.root}'" if cfg.data.name == "folder" else cfg.data.name
            raise GanforgeError(f"model.num_classes is {cfg.model.num_classes}, but {where} has {len(classes)} "
                                f"classes ({', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''}); "
                                f"set model.num_classes={len(classes)}.")
        batches = InMemoryBatches(images, tr.batch_size, tr.seed, env.rank, env.world_size, labels)
        batches.class_names = classes
    if device is not None:
        batches.hold_on(device)
    return batches


def wait_for_a_later_event_file_name(tb_dir: Path) -> None:
    """Wait, if need be, until a new TensorBoard event file in ``tb_dir`` will sort after the old ones.

    TensorBoard reads a folder's event files in name order. A name starts with the second it was made in,
    then the pid and a per-process counter, compared as text ('10' < '9'). A resume within the second of the
    last file could so be read before it, and its purge_step would drop the wrong events. Only a run of
    under a second is resumed that fast, so the wait is at most a second, and only then.
    """
    seconds = [int(part[3]) for part in (p.name.split(".") for p in tb_dir.glob("events.out.tfevents.*"))
               if len(part) > 3 and part[3].isdigit()]
    if seconds:
        time.sleep(max(0.0, max(seconds) + 1 - time.time()))


class Trainer:
    """Owns the networks, data, objective and hooks of one run.

    Args:
        cfg: the validated config.
        run_dir: the run folder (created by the caller).
        resume_from: a checkpoint payload to continue from, or None.
        env: this process's place under torchrun (the process group is already joined).
    """

    def __init__(self, cfg: Config, run_dir: Path, resume_from: dict | None = None,
                 env: DistEnv = DistEnv()) -> None:
        self.cfg, self.run_dir, self.env = cfg, run_dir, env
        apply_process_settings(cfg.train)
        self.device = pick_device(cfg.train.device, env)
        self.environment = environment(self.device, env.world_size)  # after the thread settings above
        # every rank reads the data; a folder none can read is said once, not once per process
        self.batches = agreed(lambda: self._batches(resume_from is None), env)
        self.objective = build_objective(cfg, self.device, env, new_run=resume_from is None)
        self.state = TrainState()
        self.tb = None
        self.hooks = self._build_hooks(cfg, env.is_main)
        self.stop_signal: int | None = None
        self.abort: str | None = None  # set by a hook to end the run without saving its state
        self.step_replaced = False  # set by a hook that reloaded an earlier state (rollback)
        self.saved_after_error: int | None = None  # the step saved when a hook failed (_save_after_failed)
        # each optimizer ("g", "d") with its config and its schedule's length (ganforge.schedules); the health
        # monitor's factor after rollbacks multiplies the schedule, as does a hook's (state.lr_scale)
        self.lr_plan = [(side, opt, oc, decay_length(oc, cfg.train, self.batches.batches_per_epoch))
                        for side, opt, oc in (("g", self.objective.opt_g, cfg.optim_g),
                                              ("d", self.objective.opt_d, cfg.optim_d)) if opt is not None]
        self.scheduled = any(oc.schedule != "constant" or oc.warmup_steps for _, _, oc, _ in self.lr_plan)
        self.rollback_scale = 1.0
        self.apply_learning_rates()
        if resume_from is not None:
            self.load_payload(resume_from)

    def _batches(self, new_run: bool) -> InMemoryBatches:
        """The training data; a new run's bound in epochs is checked against it (see check_epochs_reach_g)."""
        batches = make_batches(self.cfg, self.env, self.device)
        if new_run:
            check_epochs_reach_g(self.cfg, len(batches.images), batches.batches_per_epoch)
        return batches

    @staticmethod
    def _build_hooks(cfg: Config, is_main: bool = True) -> list[Hook]:
        """The hooks, in the order their events run. Hooks that write files run on rank 0 only;
        health and evaluation run on every rank (they decide together, and evaluation is sharded)."""
        hooks: list[Hook] = []
        if cfg.health.enabled:
            hooks.append(HealthMonitor(cfg.health))  # first: a NaN state must never be checkpointed
        if is_main:
            hooks += [MetricsLogger(cfg.log.every_steps),
                      SampleGrids(cfg.log.sample_every_steps, cfg.log.num_samples, cfg.log.sample_every_epochs)]
        if cfg.eval.every_kimg > 0:
            ev = cfg.eval
            # before the checkpointer, so the checkpoint written at the same step records the new best
            hooks.append(Evaluator(ev.every_kimg, ev.num_samples, ev.metrics, ev.features, ev.ref,
                                   sr=cfg.model.task == "sr"))
        # the user's, on every rank (one that changes training must act alike everywhere; one that writes files
        # checks trainer.env.is_main), before the checkpointer, so a checkpoint holds their state at its step
        hooks += build_user_hooks(cfg)
        if is_main:
            hooks.append(Checkpointer(cfg.log.checkpoint_every_steps, cfg.log.checkpoint_every_epochs,
                                      cfg.log.keep_checkpoints))
            if cfg.log.progress:
                hooks.append(ProgressBar())
        return hooks

    @property
    def checkpointer(self) -> Checkpointer | None:
        """The hook that writes checkpoints; None on ranks other than 0, which write none."""
        return next((h for h in self.hooks if isinstance(h, Checkpointer)), None)

    @property
    def sampling_generator(self) -> torch.nn.Module:
        """G_ema when EMA is on, else G."""
        return self.objective.G_ema if self.objective.G_ema is not None else self.objective.G

    # ------------------------------------------------------------------ the loop

    def reached_bound(self) -> str | None:
        """The bound (steps, seconds, epochs) the run has reached, as ``"train.KEY=LIMIT (where it is)"``, or None."""
        return self.cfg.train.reached(self.state.step, self.state.seconds, self.batches.epochs_done)

    def should_stop(self) -> bool:
        """True once any bound is reached or a signal came in."""
        return self.stop_signal is not None or self.abort is not None or self.reached_bound() is not None

    def fit(self) -> TrainState:
        """Train until a bound; SIGINT/SIGTERM end the loop cleanly (checkpoint written)."""
        # only the main thread may set handlers (Python's rule); a run started from another thread (a web app's
        # worker, ganforge.train in a thread) trains without them, as any library code there does
        in_main = threading.current_thread() is threading.main_thread()
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM) if in_main}
        if self.cfg.log.tensorboard and self.env.is_main:
            from torch.utils.tensorboard import SummaryWriter

            from .tensorboard_config import write_config

            # purge_step drops the events a killed run logged after the checkpoint this run resumes from, as
            # metrics.jsonl drops its records. Those of the checkpoint's own step stay: the hooks that log run
            # before the checkpointer (_build_hooks), so they were written before it, and are not logged again.
            purge = self.state.step + 1 if self.state.step else None
            if purge:
                wait_for_a_later_event_file_name(self.run_dir / "tb")
            self.tb = SummaryWriter(str(self.run_dir / "tb"), purge_step=purge)
            self.tb.add_text("environment", "  \n".join(f"{k}: {v}" for k, v in self.environment.items()),
                             self.state.step)
            write_config(self.tb, self.cfg, self.state.step)
        try:
            self._run_hooks("on_train_start")
            t0, seconds0 = time.perf_counter(), self.state.seconds
            # every rank must stop at the same step: a signal or the time bound may reach one first
            while not any_rank(self.should_stop(), self.env, self.device):
                # this rank's (B / W, C, H, W) in [-1, 1]; for SR an (LR, HR) pair in [0, 1]
                real = self.batches.next(self.device)
                if self.scheduled:
                    self.apply_learning_rates()
                logs = average_logs(self.objective.train_step(real, self.state.step), self.env)
                self.state.step += 1
                self.state.images_seen += self.cfg.train.batch_size  # the global batch
                self.state.seconds = seconds0 + time.perf_counter() - t0
                self._run_hooks("on_step_end", logs)
                self.step_replaced = False
            self._run_hooks("on_train_end")
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
            if self.tb is not None:
                self.tb.close()
        return self.state

    def _run_hooks(self, event: str, *args) -> None:
        """Call ``event`` on every hook in order. A hook that fails after a step (an evaluation whose
        reference images are missing, a sample grid the disk refuses) first gets that finished step
        saved, so the run resumes from it rather than from the last periodic checkpoint."""
        for h in self.hooks:
            try:
                getattr(h, event)(self, *args)
            except Exception:
                if event != "on_train_start":
                    self._save_after_failed(h)
                raise
            if event == "on_step_end" and (self.abort is not None or self.step_replaced):
                break  # the health hook stopped or rolled back: this step's state is gone

    def _save_after_failed(self, failed: Hook) -> None:
        """Save the current step to ``last.pt`` after ``failed`` raised, where that is safe and still needed;
        ``saved_after_error`` records the step saved."""
        saver = self.checkpointer
        if (saver is None or failed is saver or isinstance(failed, HealthMonitor) or self.abort is not None
                or self.state.step == 0 or saver.last_written == self.state.step):
            # no checkpoints on this rank, the writer itself failed, a state not known to be finite (the NaN
            # check failed or found NaN), or already saved
            return
        try:
            saver.write(self, keep=False)
        except Exception:  # what stopped the hook (a full disk) may stop this write too; its error is the one to see
            return
        self.saved_after_error = self.state.step

    def _say_changed_learning_rates(self, payload: dict) -> None:
        """Say where this config gives the checkpoint's last step another learning rate than the checkpoint's own,
        so a jump in a schedule (its length follows train.max_steps, which a resume may raise) is not silent."""
        import json

        from ..config import config_from_dict

        try:
            before = config_from_dict(json.loads(payload["config"]))
        except (KeyError, GanforgeError):  # a checkpoint without a config, or of another version: no reason given
            before = None
        step = self.state.step - 1
        for letter, _, oc, length in self.lr_plan:
            side = f"optim_{letter}"
            saved = payload.get(f"opt_{letter}", {}).get("param_groups", [{}])[0].get("lr")
            now = learning_rate(oc, step, length) * self.lr_factor
            if saved is None or math.isclose(saved, now, rel_tol=1e-9):
                continue
            why = ""
            if before is not None and decays(oc) and not oc.decay_steps:
                old = decay_length(getattr(before, side), before.train, self.batches.batches_per_epoch)
                if old != length:
                    why = (f"; its {oc.schedule} schedule now spans {length:,} steps, not {old:,}, as it follows the "
                           f"run's bound (set {side}.decay_steps to keep a length of its own)")
            # steps as the logs count them: the checkpoint's is the last step taken, step + 1 the next
            upcoming = learning_rate(oc, step + 1, length) * self.lr_factor
            print(f"ganforge: this config changes {side}'s learning rate: step {step + 2:,} trains at {upcoming:.4g}, "
                  f"where the checkpoint's step {step + 1:,} trained at {saved:.4g}{why}.", file=sys.stderr)

    def _on_signal(self, signum: int, frame) -> None:
        """The first signal stops the loop after the current step (or evaluation), which saves; a second Ctrl-C
        stops at once, without saving. Only SIGINT twice: torchrun follows a terminal's Ctrl-C with a SIGTERM."""
        if self.stop_signal == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt(signum)
        first, self.stop_signal = self.stop_signal is None, self.stop_signal or signum  # set before the write below:
        # a second signal can run its handler inside this one, between any two bytecodes
        if first and self.env.is_main:
            # said now, since a step with an evaluation can take minutes; os.write, as print() from a signal
            # handler may land inside another write to stderr and raise "reentrant call"
            again = " (Ctrl-C again stops at once, without saving)" if signum == signal.SIGINT else ""
            os.write(2, f"\nganforge: {signal.Signals(signum).name} received: stopping after this step to save a "
                        f"checkpoint{again}.\n".encode())

    def set_lr_scale(self, scale: float) -> None:
        """Set both optimizers' learning rates to ``scale`` x their config values (their schedules' at this step).

        The way for a hook to change learning rates (halve them when FID stalls, say): the factor stays
        through the schedule's later steps and, since the checkpoint keeps it, through a resume, and it
        multiplies the health monitor's halving after a rollback. Writing an optimizer's ``param_groups``
        directly lasts only until the next step while a schedule is active, and until the next resume."""
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"set_lr_scale needs a finite factor above 0, got {scale!r}")
        self.state.lr_scale = float(scale)
        self.apply_learning_rates()

    def set_rollback_scale(self, scale: float) -> None:
        """The health monitor's factor after rollbacks (0.5 per rollback), kept apart from a hook's."""
        self.rollback_scale = scale
        self.apply_learning_rates()

    @property
    def lr_factor(self) -> float:
        """What the config's (scheduled) learning rates are multiplied by: a hook's factor times the rollbacks'."""
        return self.state.lr_scale * self.rollback_scale

    def apply_learning_rates(self) -> None:
        """Set each optimizer's learning rate to its schedule's at the step about to be taken, times
        :attr:`lr_factor`."""
        for _, opt, oc, length in self.lr_plan:
            lr = learning_rate(oc, self.state.step, length) * self.lr_factor
            for group in opt.param_groups:
                group["lr"] = lr

    def learning_rates(self) -> dict[str, float]:
        """The optimizers' current learning rates, as ``lr_g`` and ``lr_d`` (for the logs)."""
        return {f"lr_{side}": opt.param_groups[0]["lr"] for side, opt, _, _ in self.lr_plan}

    def report(self, message: str, kind: str = "health") -> None:
        """A warning for the user: console (above the progress bar), metrics.jsonl and TensorBoard (rank 0)."""
        import json

        if not self.env.is_main:
            return

        say(f"ganforge: warning: step {self.state.step}: {message}")
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"step": self.state.step, "images_seen": self.state.images_seen,
                                "warning": kind, "message": message}) + "\n")
        if self.tb is not None:
            self.tb.add_text(f"warnings/{kind}", message, self.state.step)

    # ------------------------------------------------------------------ checkpoints

    def checkpoint_payload(self) -> dict:
        """Everything a resume needs, as tensors and plain values (``weights_only`` loadable)."""
        import json

        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        classes = {"classes": list(self.batches.class_names)} if self.cfg.model.num_classes else {}
        return {"format": ckpt.FORMAT, "version": ckpt.VERSION, "config": json.dumps(self.cfg.to_dict()), **classes,
                "state": asdict(self.state), "data": self.batches.state_dict(), "rng": rng,
                "hooks": {h.name: h.state_dict() for h in self.hooks}, "environment": self.environment,
                **self.objective.state_dict()}

    def load_payload(self, payload: dict) -> None:
        """Restore a checkpoint made by :meth:`checkpoint_payload`."""
        self.objective.load_state_dict(payload)
        self.state = TrainState(**payload["state"])
        # The config's learning rates (and schedules) win over the checkpoint's (resuming with a new lr is
        # common), times a hook's factor (in the state) and the health monitor's after rollbacks: both must
        # survive a resume.
        self.set_rollback_scale(0.5 ** payload.get("hooks", {}).get("health", {}).get("rollbacks", 0))
        if self.env.is_main and self.state.step:
            self._say_changed_learning_rates(payload)
        self.batches.load_state_dict(payload["data"])
        torch.set_rng_state(payload["rng"]["torch"])
        if "cuda" in payload["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(payload["rng"]["cuda"])
        for h in self.hooks:
            h.load_state_dict(payload.get("hooks", {}).get(h.name, {}))
