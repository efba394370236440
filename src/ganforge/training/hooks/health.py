"""Training health: NaN/Inf, a discriminator that wins outright, and mode collapse."""
from __future__ import annotations

import math
from collections import deque

import torch

from ...config import HealthConfig, ObjectiveConfig
from ...distributed import broadcast_object
from ...losses import AdversarialLoss, least_real_term
from ...nets.conditional import with_labels
from ...sampling import class_labels
from ...wording import train_call
from .. import checkpoint as ckpt
from .base import Hook

# how far past [-1, 1] G's samples may reach before G is said to have no bound at its output: a tanh's or a
# clamp's never does; float rounding and an autocast's bf16 stay far within this
RANGE_MARGIN = 1.05


def d_wins_advice(ob: ObjectiveConfig, loss: AdversarialLoss) -> str:
    """What to try when D overpowers G, leaving out what the run already does and what its loss refuses."""
    tips = [f"objective.n_critic=1 (now {ob.n_critic})"] if ob.n_critic > 1 else []
    tips.append("a lower optim_d.lr")
    if not ob.label_smoothing and loss.d_real_target is not None:  # hinge has no target to lower
        tips.append("one-sided label smoothing (objective.label_smoothing=0.1)")
    if not (ob.r1_gamma or ob.gp_weight):
        tips.append("a gradient penalty (objective.r1_gamma)")
    if not ob.diffaugment:  # D memorizing a small dataset is the usual reason it wins (Zhao et al. 2020)
        tips.append('DiffAugment for a small dataset (objective.diffaugment="color,translation,cutout")')
    return "try " + (", ".join(tips[:-1]) + " or " if len(tips) > 1 else "") + tips[-1]


def collapse_advice(ob: ObjectiveConfig, batch_size: int) -> str:
    """What to try when G's samples collapse, leaving out a gradient penalty the run already has."""
    penalty = "" if ob.r1_gamma or ob.gp_weight else ", a gradient penalty (objective.r1_gamma or gp_weight)"
    return f"try a lower optim_g.lr{penalty} or a larger batch (train.batch_size is {batch_size})"


def _finite_logs(logs) -> bool:
    """Whether every logged value is finite, in one op and one read-back. A read-back per loss cost 40 us a
    step for six losses on a 2-core CPU, against 15 us this way, and on a GPU one wait for its queue per loss."""
    values = [t.reshape(-1) for t in logs]
    return not values or bool(torch.isfinite(torch.cat(values)).all())


def _finite_weights(tensors) -> bool:
    """Whether every weight is finite: one check per tensor (no copy of the weights), read back once."""
    flags = [torch.isfinite(t).all() for t in tensors]
    return not flags or bool(torch.stack(flags).all())


class HealthMonitor(Hook):
    """Watches every step's losses and, every ``check_every`` steps, the weights and sample diversity.

    NaN/Inf: ``stop`` ends the run without writing the bad state, so the last good
    checkpoint stays; ``rollback`` reloads that checkpoint and halves both learning
    rates. Warnings go to the console, metrics.jsonl and TensorBoard, once per window.
    """

    name = "health"

    def __init__(self, cfg: HealthConfig) -> None:
        self.cfg = cfg
        self.d_loss_floor = cfg.d_loss_floor  # on_train_start adds the least loss label smoothing leaves D
        self.rollbacks = 0
        self.d_wins = deque(maxlen=cfg.window)
        self.last_warned: dict[str, int] = {}

    # ------------------------------------------------------------------ events

    def on_train_start(self, trainer) -> None:
        ob = trainer.cfg.objective
        # with label smoothing D's loss cannot reach 0, so "D wins" is its loss within the floor of its least
        # (the real term's least; the fake term's is 0), combined as D's loss combines its terms
        least = least_real_term(trainer.objective.loss, 1.0 - ob.label_smoothing) if ob.label_smoothing else 0.0
        self.d_loss_floor = self.cfg.d_loss_floor + AdversarialLoss.combine(least, 0.0, ob.d_real_fake)
        self.d_wins_tips = d_wins_advice(ob, trainer.objective.loss)
        self.collapse_tips = collapse_advice(ob, trainer.cfg.train.batch_size)
        self.check_diversity = trainer.cfg.model.task == "gan"  # SR output is tied to its input, not to noise
        if not self.check_diversity:
            return
        real = trainer.batches.first(64).float()
        self.real_diversity = float(torch.pdist(real.flatten(1) / 127.5).mean())
        g = torch.Generator().manual_seed(trainer.cfg.train.seed + 15485863)
        self.z = torch.randn(64, trainer.cfg.model.z_dim, generator=g).to(trainer.device)
        k = trainer.cfg.model.num_classes  # a class-conditional G draws every class in turn, as the reals mix them
        self.labels = class_labels(0, 64, k).to(trainer.device) if k else None

    def on_step_end(self, trainer, logs) -> None:
        step = trainer.state.step
        weights_due = step % self.cfg.check_every == 0
        ok = _finite_logs(logs.values()) and (not weights_due or _finite_weights(self._weights(trainer)))
        if not ok:
            self._non_finite(trainer)
            return
        self._check_d_wins(trainer, logs)
        if weights_due and self.check_diversity:
            fake = self._fixed_samples(trainer)
            self._check_range(trainer, fake)
            if step >= self.cfg.warmup_steps:  # an untrained G is not diverse yet
                self._check_diversity(trainer, fake)

    # ------------------------------------------------------------------ conditions

    @staticmethod
    def _weights(trainer):
        return [p.detach() for m in (trainer.objective.G, trainer.objective.D) if m is not None for p in m.parameters()]

    def _non_finite(self, trainer) -> None:
        step = trainer.state.step
        if self.cfg.on_nan == "rollback" and self.rollbacks < self.cfg.max_rollbacks:
            # rank 0 reads the checkpoint and sends it to the others (nodes need not share a disk)
            found = ckpt.load_latest(trainer.run_dir / "checkpoints") if trainer.env.is_main else None
            found = broadcast_object(found, trainer.env)
            if found is not None:
                payload, path, _ = found
                rollbacks = self.rollbacks + 1
                trainer.load_payload(payload)  # restores every hook's state, this one's included
                self.rollbacks = rollbacks
                trainer.step_replaced = True
                trainer.set_rollback_scale(0.5 ** rollbacks)
                trainer.report(f"NaN/Inf at step {step}: rolled back to {path.name} (step {trainer.state.step}) "
                               f"and set learning rates to {trainer.lr_factor:g} x their config values "
                               f"(rollback {rollbacks} of {self.cfg.max_rollbacks}).")
                return
        trainer.abort = f"NaN/Inf in the losses or weights at step {step}; stopped without saving that state. " + \
            self._what_now(trainer)

    def _what_now(self, trainer) -> str:
        """After a NaN stop: which checkpoint is left (if any) and what to change."""
        saver = trainer.checkpointer  # rank 0 writes, and speaks
        saved = saver.last_written if saver is not None else -1
        # the run's config.json: the preset or file it was started from is not known here, and may have been edited
        resume = train_call(trainer.run_dir / "config.json", trainer.run_dir, "optim_g.lr", "optim_d.lr", resume=True)
        fix = f"lower learning rates ({resume})"
        if saved < 0:  # before the first checkpoint: --resume starts the run again, with the new values
            return f"No checkpoint had been written yet; train again from step 0 with {fix}."
        where = f"The last good checkpoint is step {saved}'s, in {trainer.run_dir / 'checkpoints'}"
        n = self.rollbacks
        if n == 0:
            rollback = ", or set health.on_nan=rollback" if self.cfg.on_nan == "stop" else ""
            return f"{where}; continue from it with {fix}{rollback}."
        tried = "A rollback that halved" if n == 1 else f"{n} rollbacks, each halving"
        return (f"{where}. {tried} the learning rates, did not help; continue with {fix}, or look for what "
                "overflows (a loss, a network without normalization).")

    def _check_d_wins(self, trainer, logs) -> None:
        # A WGAN critic's loss and score gap are its estimate of the Wasserstein distance, not a margin of
        # victory: large and growing while G is still poor (hw6-wgan-gp-64: 7 at step 40, 31 at step 400)
        if "d_real" not in logs or trainer.cfg.objective.loss == "wgan":
            return
        gap = float(logs["d_real"] - logs["d_fake"])
        low_loss = float(logs["loss_d"]) < self.d_loss_floor
        self.d_wins.append(low_loss or gap > self.cfg.score_gap)
        if len(self.d_wins) == self.d_wins.maxlen and all(self.d_wins):
            self.warn(trainer, "d_wins", f"D overpowers G (D loss {float(logs['loss_d']):.3g}, "
                                         f"score gap {gap:.3g} for {self.cfg.window} steps): {self.d_wins_tips}.")

    @torch.no_grad()
    def _fixed_samples(self, trainer) -> torch.Tensor:
        """G's samples of the fixed noise, in eval mode, as float32 on the CPU."""
        G = trainer.objective.G
        was_training = G.training
        G.eval()
        fake = with_labels(G, self.z, self.labels).float().cpu()
        G.train(was_training)
        return fake

    def _check_range(self, trainer, fake: torch.Tensor) -> None:
        # a G of one's own without a tanh at its end: D tells its fakes by their range, and the grids clip them;
        # a tanh's output, or a clamp's, never leaves [-1, 1] (a margin for float rounding)
        high, low = float(fake.amax()), float(fake.amin())
        far = high if high >= -low else low  # the sample value farthest from 0, with its sign
        if math.isfinite(far) and abs(far) > RANGE_MARGIN:
            self.warn(trainer, "range", f"G's samples reach {far:.2f}, outside the [-1, 1] the real images are scaled "
                                        "to: D can tell fakes by their range alone, and grids and saved samples clip "
                                        "them. End G with a tanh, as the built-in generators do.")

    def _check_diversity(self, trainer, fake: torch.Tensor) -> None:
        diversity = float(torch.pdist(fake.flatten(1) + 1).mean()) / max(self.real_diversity, 1e-8)
        if math.isfinite(diversity) and diversity < self.cfg.min_diversity:
            self.warn(trainer, "collapse", f"mode collapse: samples from different noise differ {diversity:.2f}x "
                                           f"as much as real images do: {self.collapse_tips}.")

    def warn(self, trainer, kind: str, message: str) -> None:
        """Report once per window per kind."""
        step = trainer.state.step
        if step - self.last_warned.get(kind, -10 ** 9) >= self.cfg.window:
            self.last_warned[kind] = step
            trainer.report(message, kind)

    def state_dict(self) -> dict:
        return {"rollbacks": self.rollbacks}

    def load_state_dict(self, state: dict) -> None:
        self.rollbacks = state.get("rollbacks", 0)
