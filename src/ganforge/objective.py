"""The GAN algorithm in one place (seed 004's BaseGAN).

One call of :meth:`GANObjective.train_step` consumes one batch of real images
and makes one D micro-step. The step ratios follow MMagic's ``train_step``:

* D's optimizer steps every ``accumulate`` micro-batches (gradient accumulation);
* after ``n_critic`` full D updates, G makes ``generator_steps`` updates, each
  over ``accumulate`` micro-batches of noise;
* the EMA generator follows G after each G update, from ``ema.start_step`` on.

Losses, gradient penalty, R1, weight clipping and DiffAugment are applied here and nowhere else.

A new GAN algorithm is a subclass registered in ``OBJECTIVES`` and named by
``objective.name`` (seed 004's ``DCGAN(BaseGAN)``). Most override :meth:`GANObjective.d_loss`
and :meth:`GANObjective.g_loss`, which see D's scores and the images behind them, and keep
the steps' precision, accumulation, regularizers and multi-process averaging; one that
changes the steps themselves overrides :meth:`~GANObjective.d_step` or :meth:`~GANObjective.g_step`.

A class-conditional GAN (``model.num_classes > 0``) calls ``G(z, y)`` and ``D(x, y)``: real images
come with their classes, and fakes are drawn for classes sampled uniformly, from the same RNG as
the noise.

Super-resolution (``model.task = "sr"``, seed 004's BaseEditModel) uses the same
steps with G conditioned on the LR image instead of noise: D (when there is one,
SRGAN) trains on HR against G(LR) with the same adversarial loss, and G's loss adds
pixel and perceptual terms; both optimizers step once per ``accumulate`` batches.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any, Iterator

import torch
import torch.nn as nn

from .augment import AdaptiveProbability, diff_augment, parse_policy
from .config import Config, OptimizerConfig
from .data.batches import LabeledBatch
from .distributed import DistEnv, average_gradients, rank_rows
from .errors import GanforgeError
from .losses import build_loss, clip_weights, gradient_penalty, r1_penalty
from .nets.conditional import with_labels
from .nets import hr_size, scores_each_image_alone
from .pixel_losses import build_perceptual_loss, build_pixel_loss
from .registry import OBJECTIVES


def build_optimizer(params, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """Adam, AdamW (decoupled weight decay), RMSprop or SGD from an :class:`OptimizerConfig`.

    Adam, AdamW and SGD use torch's fused kernels (one kernel for all tensors): measured 6.4x faster
    than the per-tensor loop for Adam on the CPU, where the optimizer is a fifth of an MLP GAN's step.
    """
    if cfg.name in ("adam", "adamw"):
        make = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
        return make(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay, fused=True)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, weight_decay=cfg.weight_decay,
                                   momentum=cfg.momentum)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                           weight_decay=cfg.weight_decay, fused=True)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``train.precision``, with ``auto`` made concrete: bf16 autocast on a CPU whose oneDNN computes
    bf16 natively, else fp32, on GPUs too.

    Why fp32 on a GPU: on an H200 every preset measured trained faster in fp32 (cuDNN's convolutions
    use TF32 there) than under bf16 autocast: 1.06-1.22x for dcgan-fmnist at batch 64 and 512, 1.16x
    for hw6-dcgan-64. Steps of these sizes wait on kernel launches, not arithmetic, and autocast adds
    cast kernels (docs/performance.md, "On a GPU"). A large network may gain from bf16: ask for it.
    """
    native_cpu_bf16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    if precision == "bf16" and device.type == "cpu" and not native_cpu_bf16:
        warnings.warn("train.precision=bf16 on a CPU without native bf16 (oneDNN emulates it): on an AVX2 host a "
                      "dcgan-fmnist step ran at 0.06x the speed of fp32 (docs/performance.md). Use fp32, or auto, "
                      "which picks bf16 only where the hardware computes it.")
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cpu" and native_cpu_bf16 else "fp32"


@contextlib.contextmanager
def frozen(module: nn.Module | None) -> Iterator[None]:
    """D's weights get no gradients during the G step (seed 000's set_requires_grad); None: no D, nothing to do."""
    params = [p for p in module.parameters() if p.requires_grad] if module is not None else []
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _require_grad(loss: torch.Tensor, where: str, source: str) -> None:
    """Refuse a loss no weight reaches, which backward would meet with torch's "element 0 of tensors does
    not require grad"; ``source`` is what the loss should be computed from."""
    if not loss.requires_grad:
        raise GanforgeError(f"{where} returned a loss that no weight reaches (a constant, or made with .item(), "
                            f".detach() or under torch.no_grad); compute it from {source} with torch operations.")


class GANObjective:
    """Trains G and D with the configured loss and controls.

    Args:
        G, D: the networks; D is None for an SR model trained on pixel losses alone.
        G_ema: a copy of G that tracks its exponential moving average, or None.
        cfg: the whole run config (objective, ema, model.z_dim, optimizers).
        device: where noise is drawn.
        env: the torchrun layout. Each rank gets a slice of the global batch; noise is
            drawn for the whole global batch from the RNG every rank shares and sliced,
            and gradients are averaged over ranks before every optimizer step, so W ranks
            compute what one process with the global batch would.
        options: ``objective.options`` parsed into the options dataclass a subclass was
            registered with (None for one registered without).
    """

    def __init__(self, G: nn.Module, D: nn.Module | None, G_ema: nn.Module | None, cfg: Config,
                 device: torch.device, env: DistEnv = DistEnv(), options: Any = None) -> None:
        self.G, self.D, self.G_ema = G, D, G_ema
        self.options = options
        self.env = env
        self.cfg = cfg
        self.ob = cfg.objective
        self.device = device
        self.loss = build_loss(self.ob.loss)
        nets = [m for m in (G, D) if m is not None]
        for m in nets:
            if cfg.train.channels_last:  # NHWC weights and activations: faster convolutions on some CPUs and GPUs
                m.to(memory_format=torch.channels_last)
            if cfg.train.compile and m is D and (self.ob.gp_weight > 0 or self.ob.r1_gamma > 0):
                # a gradient penalty backpropagates through D's input gradient, and torch.compile's backward
                # (aot_autograd) cannot be differentiated again: a RuntimeError at the first D step
                warnings.warn("train.compile: D is left uncompiled (G is compiled): its gradient penalty "
                              "(objective.gp_weight, r1_gamma) differentiates D twice, which torch.compile does not "
                              "support.")
            elif cfg.train.compile:  # in place, so state_dict keys and checkpoints do not change
                m.compile(mode=cfg.train.compile_mode)
        self.opt_g = build_optimizer(G.parameters(), cfg.optim_g)
        self.opt_d = build_optimizer(D.parameters(), cfg.optim_d) if D is not None else None
        sr = cfg.sr
        self.pixel = self.perceptual = None
        if cfg.model.task == "sr":
            # the losses are tried on HR-shaped images first, as G and D are; zeros, not the run's RNG
            probe = torch.zeros(2, cfg.data.channels, hr_size(cfg), hr_size(cfg))
            if sr.pixel_weight > 0:
                self.pixel = build_pixel_loss(sr.pixel_loss, probe)
            if sr.perceptual_weight > 0:
                self.perceptual = build_perceptual_loss(sr.perceptual_net, probe).to(device)
                if sr.perceptual_net == "fmnist" and cfg.data.name != "fashion-mnist":
                    # SRGAN's VGG19 cannot be downloaded here; the shipped net stands in, for garments above all
                    warnings.warn(f"sr.perceptual_net 'fmnist' compares G's output and the HR images through a "
                                  f"classifier of 28x28 grey Fashion-MNIST garments, so on '{cfg.data.name}' images "
                                  "it stands in for SRGAN's VGG19 only loosely: it sees them in grey, resized to "
                                  "28x28. For photos, register a network that knows images like yours in "
                                  "PERCEPTUAL_NETS and name it in sr.perceptual_net (docs/sr.md), or lower "
                                  "sr.perceptual_weight.")
        # train.precision: autocast for the forwards; fp16 also scales the losses (one scaler per optimizer)
        self.precision = precision = resolve_precision(cfg.train.precision, device)
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.scaler_d = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        self.scaler_g = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        self._fake: tuple[torch.Tensor, torch.Tensor | None] | None = None  # the G step's, when reuse_fake is on
        self.num_classes = cfg.model.num_classes
        # a class-conditional run's classes of the current real batch (None otherwise), for a d_loss or
        # g_loss that scores the real images itself (see discriminate)
        self.real_labels: torch.Tensor | None = None
        self.augment = parse_policy(cfg.objective.diffaugment)
        # ADA's adaptive p for those transforms (None: every image gets every transform, as DiffAugment)
        self.ada = (AdaptiveProbability(self.ob.ada_target, self.ob.ada_kimg, self.ob.ada_interval, device)
                    if self.ob.ada_target > 0 else None)
        self.r1_due = self.ob.r1_gamma > 0  # whether this step's D step adds R1 (train_step sets it per step)
        # the D step scores real and fake images in one call where that gives the same scores: D's weights are
        # read once, not twice (mmengine-gan-fmnist's step is bound by those reads). Augmentations are drawn
        # for the real batch and then the fake one before that call, as two calls draw them, so the random
        # stream stays as it was.
        self.one_d_call = D is not None and scores_each_image_alone(D)

    def autocast(self):
        """The forward-pass precision of ``train.precision`` (a no-op for fp32)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)

    def _step(self, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, module: nn.Module) -> torch.Tensor | None:
        """Average gradients over ranks, clip their norm (``optim_*.clip_grad_norm``), then step (unscaling
        first for fp16).

        Returns:
            The total L2 norm of ``module``'s gradients before clipping, where it was computed (clipping on, or
            ``log.grad_norms``) and is finite or fp32/bf16's; else None: fp16's scaler skips a step whose
            gradients overflowed, which is its normal course and no sign of a run going wrong.
        """
        average_gradients(module.parameters(), self.env)
        side = self.cfg.optim_d if opt is self.opt_d else self.cfg.optim_g
        norm = None
        if side.clip_grad_norm > 0 or self.cfg.log.grad_norms:
            scaler.unscale_(opt)  # the true gradients, not fp16's scaled ones (a no-op when the scaler is off)
            grads = [p.grad for p in module.parameters() if p.grad is not None]
            norm = torch.nn.utils.get_total_norm(grads, foreach=True)  # the norm clip_grad_norm_ computes
            if side.clip_grad_norm > 0:
                torch.nn.utils.clip_grads_with_norm_(module.parameters(), side.clip_grad_norm, norm, foreach=True)
            if scaler.is_enabled() and not torch.isfinite(norm):
                norm = None
        scaler.step(opt)  # a plain opt.step() when the scaler is disabled
        scaler.update()
        opt.zero_grad(set_to_none=True)
        return norm

    def _my_rows(self, full: torch.Tensor) -> torch.Tensor:
        """This rank's slice of a tensor drawn for the whole global batch."""
        return rank_rows(full, self.env.rank, self.env.world_size)

    def sample_z(self, n: int) -> torch.Tensor:
        """Latent noise (n, z_dim) for this rank, from the global RNG (saved in checkpoints)."""
        return self._my_rows(torch.randn(n * self.env.world_size, self.cfg.model.z_dim, device=self.device))

    def sample_labels(self, n: int) -> torch.Tensor | None:
        """Classes for n fakes on this rank, uniform, from the global RNG; None when the GAN is unconditional."""
        if not self.num_classes:
            return None
        return self._my_rows(torch.randint(self.num_classes, (n * self.env.world_size,), device=self.device))

    def generate(self, g_input: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """``G(z)``, or ``G(z, labels)`` in a class-conditional run."""
        return with_labels(self.G, g_input, labels)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """D's scores (B,): ``D(x)``, or ``D(x, labels)`` in a class-conditional run (there, the real
        images' classes are :attr:`real_labels`). With ``objective.diffaugment``, D sees ``x``
        through freshly drawn transforms (:mod:`ganforge.augment`), differentiably; with ``objective.ada_target``,
        each transform meets each image with ADA's probability p."""
        return with_labels(self.D, self._augmented(images), labels)

    def _augmented(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` through freshly drawn transforms with ``objective.diffaugment``; as they are without."""
        if not self.augment:
            return images
        p = self.ada.p if self.ada is not None else 1.0
        return self._nhwc(diff_augment(images, self.augment, self._my_rows, self.env.world_size, p))

    # ------------------------------------------------------------------ steps

    def _nhwc(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.train.channels_last else x

    def train_step(self, real: torch.Tensor | tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        """One micro-step of D on ``real`` (B, C, H, W); G's turn when the ratios say so.

        Args:
            real: real images in [-1, 1]; with their classes in a class-conditional run (a
                :class:`~ganforge.data.batches.LabeledBatch`); for SR the pair (LR, HR) in [0, 1].
            step: batches consumed before this one (0-based), as in MMagic's ``iter``.

        Returns:
            Detached scalars for logging (loss_d, loss_g when G trained, D's mean scores).
        """
        if self.cfg.train.compile:
            # CUDA graphs (compile_mode reduce-overhead or max-autotune on a GPU) replay into the same
            # output memory: this tells torch the last step's outputs are done with, so the step's
            # several G and D calls each keep their own (a no-op without CUDA graphs)
            torch.compiler.cudagraph_mark_step_begin()
        self.r1_due = self.ob.r1_gamma > 0 and step % self.ob.r1_every == 0  # lazy R1: every r1_every-th step
        if isinstance(real, tuple):
            return self.sr_step(*real, step)
        if isinstance(real, LabeledBatch):
            real, self.real_labels = real.images, real.labels
        acc = self.ob.accumulate
        real = self._nhwc(real)  # once, for both steps (d_step's own conversion is then a no-op)
        logs = self.d_step(real, update=(step + 1) % acc == 0)
        if (step + 1) % (self.ob.n_critic * acc) == 0:
            logs.update(self.g_step(real))
            self.update_ema(step)
        if self.ada is not None:
            logs.update(self.ada.after_step(step))
        return logs

    def sr_step(self, lr: torch.Tensor, hr: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """One SR micro-step on (LR, HR): D on HR vs G(LR) when there is a D, then G's losses."""
        update = (step + 1) % self.ob.accumulate == 0
        lr, hr = self._nhwc(lr), self._nhwc(hr)
        logs = self.d_step(hr, update, cond=lr) if self.D is not None else {}
        logs.update(self.sr_g_step(lr, hr, update))
        if update:
            self.update_ema(step)
        return logs

    def d_step(self, real: torch.Tensor, update: bool, cond: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Accumulate D's gradient on one batch; step D's optimizer when ``update``.

        The fakes are G(noise), or G(``cond``) for a conditional generator (SR: the LR batch); in a
        class-conditional run, of sampled classes, while the reals are scored with :attr:`real_labels`.
        """
        ob = self.ob
        g_input = self.sample_z(real.shape[0]) if cond is None else cond
        real_labels = self.real_labels if cond is None else None
        fake_labels = self.sample_labels(real.shape[0]) if cond is None else None
        real = self._nhwc(real)
        with self.autocast():
            if ob.reuse_fake:
                fake = self.generate(g_input, fake_labels)  # keeps G's graph: the G step will backprop through it
                self._fake = fake, fake_labels
            else:
                with torch.no_grad():
                    fake = self.generate(g_input, fake_labels)
            if self.r1_due:
                real = real.detach().requires_grad_(True)
            if self.one_d_call:
                labels = None if real_labels is None else torch.cat([real_labels, fake_labels])
                both = torch.cat([self._augmented(real), self._augmented(fake.detach())])
                scores = with_labels(self.D, self._nhwc(both), labels).float()
                real_scores, fake_scores = scores[:real.shape[0]], scores[real.shape[0]:]
            else:
                real_scores = self.discriminate(real, real_labels).float()
                fake_scores = self.discriminate(fake.detach(), fake_labels).float()
            loss, logs = self._checked(self.d_loss(real_scores, fake_scores, real, fake.detach()), "d_loss")
        if self.ada is not None:
            self.ada.observe(real_scores, self.env.enabled)
        if ob.gp_weight > 0:
            n = real.shape[0]
            alpha = self._my_rows(torch.rand(n * self.env.world_size, *([1] * (real.ndim - 1)),
                                             device=real.device, dtype=real.dtype))
            # a class-conditional D judges the points between real and fake as of the real images' classes
            gp = gradient_penalty(lambda x: self.discriminate(x, real_labels), real.detach(), fake.detach(), alpha)
            loss = loss + ob.gp_weight * gp
            logs["gp"] = gp.detach()
        if self.r1_due:  # weighted by r1_every, so the lazy penalty's average pull is the eager one's
            r1 = r1_penalty(real_scores, real)
            loss = loss + 0.5 * ob.r1_gamma * ob.r1_every * r1
            logs["r1"] = r1.detach()
        self.scaler_d.scale(loss / ob.accumulate).backward()
        if update:
            if (norm := self._step(self.opt_d, self.scaler_d, self.D)) is not None:
                logs["grad_norm_d"] = norm
            if ob.clip_value > 0:
                clip_weights(self.D, ob.clip_value)
        logs["loss_d"] = loss.detach()
        logs["d_real"] = real_scores.detach().mean()
        logs["d_fake"] = fake_scores.detach().mean()
        return logs

    def g_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """``generator_steps`` updates of G, each over ``accumulate`` micro-batches of ``len(real)`` fakes.

        ``real`` is the batch of the D step just taken; the default loss does not use it.
        """
        ob = self.ob
        total = torch.zeros((), device=self.device)
        logs: dict[str, torch.Tensor] = {}
        norms = []
        with frozen(self.D):
            for _ in range(ob.generator_steps):
                for _ in range(ob.accumulate):
                    with self.autocast():
                        if ob.reuse_fake and self._fake is not None:
                            (fake, labels), self._fake = self._fake, None
                        else:
                            z, labels = self.sample_z(real.shape[0]), self.sample_labels(real.shape[0])
                            fake = self.generate(z, labels)
                        scores = self.discriminate(fake, labels).float()
                        loss, logs = self._checked(self.g_loss(scores, real, fake), "g_loss")
                    self.scaler_g.scale(loss / ob.accumulate).backward()
                    total += loss.detach()
                if (norm := self._step(self.opt_g, self.scaler_g, self.G)) is not None:
                    norms.append(norm)
        # extra terms a subclass logs: those of the last micro-batch
        logs = {**{k: v.detach() for k, v in logs.items()}, "loss_g": total / (ob.generator_steps * ob.accumulate)}
        if norms:
            logs["grad_norm_g"] = torch.stack(norms).mean()
        return logs

    # ------------------------------------------------------------------ losses (what a subclass overrides)

    def d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor, real: torch.Tensor,
               fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's loss on one micro-batch, and the terms to log.

        Args:
            real_scores, fake_scores: D's scores (B,), float32, of ``real`` and of ``fake``.
            real: the real images (SR: the HR batch). With R1 on they require grad.
            fake: G's images, detached from G.

        The default is ``objective.loss``'s two terms combined by ``objective.d_real_fake``, the real term's
        target lowered by ``objective.label_smoothing``; gradient penalty and R1 are added after, by :meth:`d_step`.
        """
        return self.loss.d_loss(real_scores, fake_scores, self.ob.d_real_fake, self.ob.label_smoothing)

    def g_loss(self, fake_scores: torch.Tensor, real: torch.Tensor,
               fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """G's adversarial loss on one micro-batch, and any extra terms to log.

        Args:
            fake_scores: D's scores (B,), float32, of ``fake``; gradients flow back to G.
            real: the real batch of the last D step (SR: the HR batch), for a loss that
                compares with it (a relativistic loss scores it with
                ``self.discriminate(real, self.real_labels)``; D is frozen here).
            fake: G's images, with G's graph.

        The default is ``objective.loss``'s G term. In super-resolution it is the adversarial
        term, weighted by ``sr.adversarial_weight``.
        """
        return self.loss.g(fake_scores), {}

    def _checked(self, result: Any, method: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``result`` if it is what d_loss and g_loss return, else an error naming the method: a
        subclass's mistake would otherwise surface later as torch's "iteration over a 0-d tensor",
        and a constant loss as "element 0 of tensors does not require grad" from backward."""
        where = f"objective '{self.ob.name}' (objective.loss '{self.ob.loss}'): {type(self).__name__}.{method}"
        if (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], torch.Tensor)
                and result[0].ndim == 0 and isinstance(result[1], dict)):
            _require_grad(result[0], where, "D's scores")
            return result
        def what(x: Any) -> str:
            return f"a tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__

        got = f"({', '.join(map(what, result))})" if isinstance(result, tuple) else what(result)
        raise GanforgeError(f"{where} must return (loss, logs), a scalar tensor and a dict of tensors to log "
                            f"({{}} for none); it returned {got}.")

    def _checked_pixel(self, value: Any) -> torch.Tensor:
        """A pixel loss's value if it is a scalar that G's weights reach, else an error naming the loss: a
        per-pixel tensor would be torch's "grad can be implicitly created only for scalar outputs"."""
        where = f"pixel loss '{self.cfg.sr.pixel_loss}'"
        if not (isinstance(value, torch.Tensor) and value.ndim == 0):
            got = f"a tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
            raise GanforgeError(f"{where} must return one number, a scalar tensor (take the .mean() of a per-pixel "
                                f"loss); it returned {got}.")
        _require_grad(value, where, "G's output")
        return value

    def sr_g_step(self, lr: torch.Tensor, hr: torch.Tensor, update: bool) -> dict[str, torch.Tensor]:
        """G's SR loss: pixel + perceptual + (with a D) the adversarial loss of ``objective.loss``."""
        sr, logs = self.cfg.sr, {}
        terms = []
        with frozen(self.D):  # D's weights get no gradients from G's loss
            with self.autocast():
                out = self.G(lr)
                if self.pixel is not None:
                    logs["loss_pix"] = self._checked_pixel(self.pixel(out.float(), hr))
                    terms.append(sr.pixel_weight * logs["loss_pix"])
                if self.perceptual is not None:
                    logs["loss_perceptual"] = self.perceptual(out, hr).float()
                    terms.append(sr.perceptual_weight * logs["loss_perceptual"])
                if self.D is not None:
                    logs["loss_g_adv"], extra = self._checked(self.g_loss(self.D(out).float(), hr, out), "g_loss")
                    logs.update(extra)
                    terms.append(sr.adversarial_weight * logs["loss_g_adv"])
            loss = sum(terms)
            self.scaler_g.scale(loss / self.ob.accumulate).backward()
        if update and (norm := self._step(self.opt_g, self.scaler_g, self.G)) is not None:
            logs["grad_norm_g"] = norm
        return {"loss_g": loss.detach(), **{k: v.detach() for k, v in logs.items()}}

    @torch.no_grad()
    def update_ema(self, step: int) -> None:
        """G_ema <- decay * G_ema + (1 - decay) * G; before ``start_step`` it copies G."""
        if self.G_ema is None:
            return
        src = [p.detach() for p in self.G.parameters()]
        dst = list(self.G_ema.parameters())
        if step + 1 < self.cfg.ema.start_step:
            torch._foreach_copy_(dst, src)
        else:
            torch._foreach_lerp_(dst, src, 1.0 - self.cfg.ema.decay)  # one fused kernel for all tensors
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)  # BatchNorm statistics are copied, not averaged

    # ------------------------------------------------------------------ checkpoint state

    def state_dict(self) -> dict:
        """Weights and optimizer states."""
        state = {"G": self.G.state_dict(), "opt_g": self.opt_g.state_dict()}
        if self.D is not None:
            state.update(D=self.D.state_dict(), opt_d=self.opt_d.state_dict())
        if self.G_ema is not None:
            state["G_ema"] = self.G_ema.state_dict()
        if self.scaler_d.is_enabled():
            state["scalers"] = {"d": self.scaler_d.state_dict(), "g": self.scaler_g.state_dict()}
        if self.ada is not None:
            state["ada"] = self.ada.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore weights and optimizer states."""
        self.G.load_state_dict(state["G"])
        self.opt_g.load_state_dict(state["opt_g"])
        if self.D is not None:
            self.D.load_state_dict(state["D"])
            self.opt_d.load_state_dict(state["opt_d"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state["G_ema"] if "G_ema" in state else state["G"])
        if self.scaler_d.is_enabled() and "scalers" in state:
            self.scaler_d.load_state_dict(state["scalers"]["d"])
            self.scaler_g.load_state_dict(state["scalers"]["g"])
        if self.ada is not None and "ada" in state:  # a run that turns ADA on at a resume starts at p = 0
            self.ada.load_state_dict(state["ada"])


OBJECTIVES.register("gan")(GANObjective)
OBJECTIVES.known_as("gan", DCGAN="MMagic's", BaseGAN="MMagic's")  # seed 004's model type
