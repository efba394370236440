"""Evaluation during training: figures every ``eval.every_kimg``, and ``checkpoints/best.pt``."""
from __future__ import annotations

import dataclasses
import json
import warnings

import torch

from ...data import load_images
from ...data.pairs import check_validation_source
from ...distributed import gather_to_main
from ...errors import GanforgeError
from ...metrics.evaluate import (HIGHER_IS_BETTER, FeatureSet, check_features_fit, compare_with_reference,
                                 extract_fakes, needs_features, parse_metrics, single_figures)
from ...metrics.features import build_features, checked_features
from ...metrics.sr_eval import evaluate_sr, parse_sr_metrics
from ...sampling import generate
from ..checkpoint import save_atomic
from .base import Hook


class Evaluator(Hook):
    """Evaluates the sampling generator (G_ema when on) against the training data's reference split.

    The fakes come from a seeded generator of their own, so evaluating never
    changes the training RNG: a run with evaluation trains the same weights as
    one without. The primary metric (first in ``eval.metrics``) keeps ``best.pt``.
    Under torchrun each rank generates and extracts its shard of the images; rank 0
    gathers the features, computes the figures and writes them.
    """

    name = "evaluate"

    def __init__(self, every_kimg: float, num: int, metrics: str, features: str, ref: str, sr: bool = False) -> None:
        self.every_images = int(every_kimg * 1000)
        self.num, self.features, self.ref, self.sr = num, features, ref, sr
        # SR: PSNR/SSIM on held-out images
        self.metrics = parse_sr_metrics(metrics) if sr else parse_metrics(metrics)
        primary = self.metrics[0]
        self.primary = {"pr": "precision"}.get(primary, primary)
        self.best: float | None = None
        self.done = 0  # evaluations so far
        self.extractor = None  # the feature network, built at the start of training (none for SWD alone)
        self.resumed: dict = {}  # the state a resume loaded
        self.judged_by: str | None = None  # set at the start of training (it needs the config)

    def on_train_start(self, trainer) -> None:
        # a resume may change eval.*: count evaluations in the new interval (in the old one, a longer interval
        # skipped evaluations until it caught up), and compare best figures only of one metric and protocol
        if self.resumed.get("every_images", self.every_images) != self.every_images:
            self.done = trainer.state.images_seen // self.every_images
        judged_by, before = self._judged_by(trainer.cfg), self.resumed.get("judged_by")
        if self.best is not None and before is not None and before != judged_by:
            warnings.warn(f"checkpoints/best.pt was chosen by {before}; from now on by {judged_by}, so the next "
                          "evaluation replaces it.")
            self.best = None
        self.judged_by = judged_by
        # what the first evaluation needs is checked now, not at that evaluation an hour in: the held-out
        # folder of an SR run, the feature network (and weights file) of a GAN's, built once for every evaluation
        if self.sr:
            check_validation_source(trainer.cfg)
        else:  # and whether eval.num_samples images' features fit in memory, from two blank images
            data, extractor = trainer.cfg.data, self._extractor()
            if extractor is not None:
                f, lg = checked_features(extractor, torch.zeros(2, data.channels, data.resolution, data.resolution,
                                                                dtype=torch.uint8))
                check_features_fit(extractor, self.num, f.shape[1], lg.shape[1], "eval.num_samples")
            if self.ref != data.split and trainer.env.is_main:  # eval.ref=test: is that split there? (rank 0 reads it)
                try:
                    load_images(dataclasses.replace(data, split=self.ref))
                except GanforgeError as e:  # the training images are there: say why another split is read
                    raise GanforgeError(f"{str(e).rstrip('.')}. eval.ref={self.ref} compares samples with the "
                                        f"{self.ref} split; set eval.ref={data.split} to compare them with the "
                                        "training images.") from None

    def on_step_end(self, trainer, logs) -> None:
        due = trainer.state.images_seen // self.every_images
        if due > self.done:
            self.run(trainer)
            self.done = due  # after: a run saved when this evaluation failed tries it again on resume

    def run(self, trainer) -> dict:
        """Evaluate now; log the figures and update best.pt."""
        cfg = trainer.cfg
        G = trainer.sampling_generator
        was_training = G.training
        G.eval()
        env = trainer.env
        if self.sr:  # a few thousand small images: rank 0 alone
            result = evaluate_sr(G, cfg, self.num) if env.is_main else None
            G.train(was_training)
            return self._record(trainer, result) if env.is_main else {}
        shard = env.shard(self.num)
        extractor = self._extractor()
        batches = generate(G, cfg.model.z_dim, self.num, seed=cfg.train.seed + 104729, shard=shard,
                           num_classes=cfg.model.num_classes)
        # a bar (or lines) for one process: under torchrun each rank does a share, and rank 0's alone would mislead
        part = extract_fakes(extractor, batches, self.num, self.metrics, cfg.train.seed, first=shard[0],
                             num_name="eval.num_samples", progress="" if env.enabled else "evaluation's samples")
        G.train(was_training)
        parts = gather_to_main(part, env)
        result = None
        if env.is_main:
            data = dataclasses.replace(cfg.data, split=self.ref)
            result = compare_with_reference(extractor, FeatureSet.concat(parts), data, self.metrics, cfg.train.seed,
                                            trainer.batches.class_names, num_name="eval.num_samples")
        if not env.is_main:
            return {}
        return self._record(trainer, result)

    def _extractor(self):
        """The feature network, built on first use and kept for every evaluation after; None where no metric
        in eval.metrics needs one (SWD alone)."""
        if self.extractor is None and needs_features(self.metrics):
            self.extractor = build_features(self.features)
        return self.extractor

    def _record(self, trainer, result: dict) -> dict:
        """Write the figures (metrics.jsonl, TensorBoard) and keep best.pt."""
        figures = {f"eval/{k}": v for k, v in single_figures(result).items()}
        st = trainer.state
        with open(trainer.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"step": st.step, "images_seen": st.images_seen, "seconds": round(st.seconds, 3),
                                **figures}) + "\n")
        if trainer.tb is not None:
            for k, v in figures.items():
                trainer.tb.add_scalar(k, v, st.step)
        value = result[self.primary]
        better = (self.best is None or (value > self.best if self.primary in HIGHER_IS_BETTER else value < self.best))
        if better:
            self.best = value
            save_atomic(trainer.checkpoint_payload(), trainer.run_dir / "checkpoints" / "best.pt")
        return result

    def _judged_by(self, cfg) -> str:
        """The primary metric and its protocol: best figures compare only under the same one."""
        if self.sr:
            return f"{self.primary} on {cfg.sr.val_root or cfg.data.name + ':test'} ({self.num or 'all'} images)"
        # SWD compares pixel patches, so eval.features does not change its figure and is left out
        features = f"{self.features} features, " if needs_features(self.metrics[:1]) else ""
        return f"{self.primary} of {self.num} images ({features}{self.ref} reference)"

    def state_dict(self) -> dict:
        return {"best": self.best, "done": self.done, "every_images": self.every_images, "judged_by": self.judged_by}

    def load_state_dict(self, state: dict) -> None:
        self.best = state.get("best")
        self.done = state.get("done", 0)
        self.resumed = state  # compared with this run's settings at the start of training
