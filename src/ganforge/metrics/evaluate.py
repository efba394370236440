"""``ganforge evaluate``: stream images through a feature extractor and compare with a reference split.

Images are never all held at once: fakes are generated (or read from a
memory-mapped .npy) batch by batch, and only features (N x D floats), class
logits and SWD descriptors are kept. The reference split's features are cached
on disk under a key of the reference images' bytes, the extractor's weights and
:data:`CACHE_VERSION`.
"""
from __future__ import annotations

import contextlib
import hashlib
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from ..columns import clip, pad
from ..config import DataConfig
from ..data import load_images, load_labeled
from ..data.download import default_cache_dir, write_cache
from ..errors import GanforgeError, did_you_mean
from ..memory import check_fits
from ..progress import reporting, say
from ..sampling import class_folders, class_labels
from .features import FEATURES, FeatureExtractor, build_features, checked_features
from .fid import frechet_distance
from .inception_score import SPLITS, inception_score, split_sizes
from .kid import KID_SUBSET_SIZE, KID_SUBSETS, kernel_inception_distance
from .prdc import prdc
from .stats import RunningStats
from .swd import PatchSampler, swd_from_descriptors

METRICS = ("fid", "kid", "is", "pr", "swd")
# the metrics computed from the feature network's features or logits; SWD compares pixel patches and needs none
FEATURE_METRICS = ("fid", "kid", "is", "pr")
# For choosing best.pt: which direction is better for each reported figure.
HIGHER_IS_BETTER = {"is", "precision", "recall", "coverage", "psnr", "ssim"}  # density: nearest 1 is best
CACHE_VERSION = 1
# metric names as other tools and papers write them (torch-fidelity's isc and prc; StudioGAN's Prc, Rec, Dns and
# Cvg; the figures' own names): each is reported by one of ganforge's metrics, which gives what follows it
FOREIGN_METRICS = {
    **dict.fromkeys(("precision", "recall", "density", "coverage", "prdc", "prc", "rec", "dns", "cvg"), "pr"),
    **dict.fromkeys(("isc", "inception_score", "inception-score"), "is"),
    **dict.fromkeys(("sliced_wasserstein", "sliced-wasserstein"), "swd"),
}
GIVES = {"pr": "precision, recall, density and coverage", "is": "the Inception Score",
         "swd": "the sliced Wasserstein distance"}
# StyleGAN's names: a metric, its number of images in thousands, pr's k, and _full for all the reference images
STYLEGAN_METRIC = re.compile(r"(fid|kid|is|pr)(\d+)k(?:3)?(?:_full)?")
# features of this many dataset images take long enough (35 s for 60,000 with fmnist's, 2 CPU cores) to be announced
NOTE_ABOVE = 10_000
# SWD patches: 128 per image and level as in Karras et al., capped at 2^15 per level so that
# sorting the projections stays cheap on a CPU (10k images -> 3 patches each).
SWD_PER_IMAGE, SWD_PER_LEVEL = 128, 1 << 15
# each image's ball reaches its k-th nearest neighbour: k = 3 for precision/recall and 5 for
# density/coverage, as each paper chose
PR_K, DC_K = 3, 5


def needs_features(metrics: Iterable[str]) -> bool:
    """Whether any of ``metrics`` needs the feature network: SWD alone runs none (no weights to load, no
    features of the fakes or the reference images to compute)."""
    return any(m in FEATURE_METRICS for m in metrics)


def check_num(num: int, metrics: tuple[str, ...], what: str = "--num") -> None:
    """Refuse too few images for ``metrics``: 2 for any, ``DC_K + 1`` for metric pr."""
    if "pr" in metrics and num < DC_K + 1:
        raise GanforgeError(f"{what} must be >= {DC_K + 1} with metric pr (density and coverage need each "
                            f"image's {DC_K}th nearest neighbour), got {num}.")
    if num < 2:
        raise GanforgeError(f"{what} must be >= 2, got {num}.")


def swd_sampler(num: int, seed: int) -> PatchSampler:
    """The patch sampler for ``num`` images."""
    return PatchSampler(num, max(1, min(SWD_PER_IMAGE, SWD_PER_LEVEL // max(num, 1))), seed)


SR_METRIC_NAMES = ("psnr", "ssim")


def parse_metrics(text: str | Iterable[str], where: str = "", sr_too: bool = False,
                  num_set: str = "--num ") -> tuple[str, ...]:
    """``"fid,kid"`` -> ("fid", "kid"), in any case (papers write FID); unknown names are an error listing the
    valid ones, which starts with ``where`` (the setting that gave them: ``--metrics``, ``eval.metrics``).
    ``sr_too`` takes psnr and ssim as well (a source that may be a super-resolution run). ``num_set`` sets
    the number of images where the caller is, for StyleGAN's names (``--num ``, ``eval.num_samples=``)."""
    said = f"{where}: " if where else ""
    names = tuple(n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text) if n.strip())
    for n in names:
        if n in SR_METRIC_NAMES and sr_too:
            continue
        if n in SR_METRIC_NAMES:  # "Did you mean 'pr'?" would send a super-resolution user the wrong way
            raise GanforgeError(f"{said}'{n}' is a super-resolution metric (model.task = 'sr'); a GAN's are "
                                f"{', '.join(METRICS)}.")
        if n in FOREIGN_METRICS:
            ours = FOREIGN_METRICS[n]
            raise GanforgeError(f"{said}unknown metric '{n}': ganforge's metric '{ours}' gives {GIVES[ours]}; "
                                f"ask for {ours}.")
        if stylegan := STYLEGAN_METRIC.fullmatch(n):  # fid50k_full: the count is a setting of its own here
            ours, images = stylegan[1], int(stylegan[2]) * 1000
            raise GanforgeError(f"{said}'{n}' is StyleGAN's name for {ours.upper()} from {images:,} images; ask "
                                f"for {ours} with {num_set}{images}.")
        if n.startswith("ppl"):  # StyleGAN's perceptual path length: ppl_wend, ppl2_zfull
            raise GanforgeError(f"{said}ganforge does not compute perceptual path length ('{n}'); its metrics are "
                                f"{', '.join(METRICS)}.")
        if n not in METRICS:
            raise GanforgeError(f"{said}unknown metric '{n}'.{did_you_mean(n, METRICS)} Valid metrics: "
                                f"{', '.join(METRICS)}.")
    if not names:
        raise GanforgeError(f"{said}no metrics given; choose from {', '.join(METRICS)}.")
    return names


@dataclass
class FeatureSet:
    """What the metrics need from one set of images."""

    features: np.ndarray
    logits: np.ndarray
    stats: RunningStats
    swd: list[torch.Tensor] = field(default_factory=list)
    labels: np.ndarray | None = None  # each image's class, where known (a reference split)
    classes: tuple[str, ...] = ()  # the names of those classes

    @staticmethod
    def concat(parts: list["FeatureSet"]) -> "FeatureSet":
        """One set from the parts of a sharded evaluation, in order."""
        parts = [p for p in parts if len(p.features)] or parts[:1]
        stats = RunningStats(len(parts[0].stats.sum))
        for p in parts:
            stats.merge(p.stats)
        swd = [torch.cat(level) for level in zip(*(p.swd for p in parts))] if parts[0].swd else []
        return FeatureSet(np.concatenate([p.features for p in parts]), np.concatenate([p.logits for p in parts]),
                          stats, swd)

    @staticmethod
    def without_features(num: int, swd: list[torch.Tensor] | None = None) -> "FeatureSet":
        """``num`` images for which no metric asked needs features: (num, 0) arrays keep their count."""
        empty = np.zeros((num, 0), np.float32)
        return FeatureSet(empty, empty, RunningStats(0), swd or [])


def check_features_fit(extractor: FeatureExtractor, num: int, feature_dim: int, logit_dim: int,
                       num_name: str = "--num") -> None:
    """Refuse ``num`` images whose features and logits would not fit in memory: float32, held twice while the
    batches' arrays are joined. ``--num 1000000000`` filled the memory for minutes until the OOM killer came."""
    check_fits(2 * num * (feature_dim + logit_dim) * 4, f"the {feature_dim}-dimensional '{extractor.name}' features "
               f"and {logit_dim} logits of {num:,} images", f"lower {num_name}")


def extract(extractor: FeatureExtractor | None, batches: Iterable[torch.Tensor], num: int, want_swd: bool,
            seed: int = 0, first: int = 0, num_name: str = "--num", progress: str = "") -> FeatureSet:
    """Run uint8 batches through the extractor, keeping features, logits, running stats and SWD patches.
    With no extractor (no metric asked needs features), the images are only counted and patched.

    ``first`` is the index of the first image among ``num`` (a shard of a sharded evaluation),
    so SWD patch positions are those the whole stream would use. ``num_name`` is the setting that
    gave ``num``, for the error when their features would not fit in memory. ``progress``: what the
    images are, for a bar or lines saying how far it has got (:func:`progress.reporting`); none if empty.
    Inception-v3 takes about 13 minutes for 10,000 images on 2 cores, which passed with nothing on the screen.
    """
    feats, logits, swd_parts, count = [], [], [], 0
    stats = RunningStats(extractor.dim if extractor is not None else 0)
    sampler = swd_sampler(num, seed)
    sampler.offset = first
    quiet = contextlib.nullcontext(lambda n: None)
    with reporting(progress, num - first, "images") if progress else quiet as advance:
        for batch in batches:
            count += len(batch)
            if want_swd:
                swd_parts.append(sampler(batch))
            if extractor is not None:
                if not feats:  # the first batch tells what each image keeps
                    f, lg = checked_features(extractor, batch)
                    check_features_fit(extractor, num, f.shape[1], lg.shape[1], num_name)
                else:
                    f, lg = extractor(batch)
                f = f.double().numpy()
                stats.update(f)
                feats.append(f.astype(np.float32))
                logits.append(lg.float().numpy())
            advance(len(batch))
    swd = [torch.cat(level) for level in zip(*swd_parts)] if want_swd and swd_parts else []
    if extractor is None:
        return FeatureSet.without_features(count, swd)
    if not feats:  # an empty shard
        return FeatureSet(np.zeros((0, extractor.dim), np.float32), np.zeros((0, 0), np.float32), stats, [])
    return FeatureSet(np.concatenate(feats), np.concatenate(logits), stats, swd)


def array_batches(images: np.ndarray | torch.Tensor, batch_size: int = 500) -> Iterator[torch.Tensor]:
    """uint8 batches from an array (a memory map reads each slice from disk only when it is used)."""
    for i in range(0, len(images), batch_size):
        chunk = images[i:i + batch_size]
        yield chunk if isinstance(chunk, torch.Tensor) else torch.from_numpy(np.array(chunk))  # writable copy


def seeded_subset(total: int, num: int, seed: int) -> torch.Tensor:
    """The indices of ``num`` of ``total`` items drawn with ``seed``, ascending (the items' own order).
    The one draw for a reference split and an image folder alike, so both mean the same by ``--seed``."""
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:num].sort().values


def reference_images(data: DataConfig, num: int, seed: int,
                     with_labels: bool = False) -> tuple[torch.Tensor, torch.Tensor | None, tuple[str, ...]]:
    """A seeded subset of ``num`` images of the reference split (all of it when smaller); with
    ``with_labels``, also their classes and the data's class names (else None and ())."""
    with_labels = with_labels and data.name != "npy"  # a .npy's images come without classes: no per-class figures
    images, labels, classes = load_labeled(data) if with_labels else (load_images(data), None, ())
    if num < len(images):
        idx = seeded_subset(len(images), num, seed)
        images, labels = images[idx], labels[idx] if labels is not None else None
    return images, labels, classes


def _cached_features(path: Path, dim: int) -> FeatureSet | None:
    """The reference features cached at ``path``, or None when there are none or the file is damaged (a
    truncated copy, a disk error): a cache only saves work, so a damaged one is computed again."""
    import zipfile

    if not path.is_file():
        return None
    try:
        with np.load(path) as cached:
            features, logits = cached["features"], cached["logits"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    stats = RunningStats(dim)
    stats.update(features.astype(np.float64))
    return FeatureSet(features, logits, stats)


def cached_features(extractor: FeatureExtractor, images: torch.Tensor, cache_dir: str = "") -> tuple[FeatureSet, str]:
    """The features of a dataset's ``images``, cached on disk under a key of their bytes and the extractor's
    weights; returns them and the key."""
    h = hashlib.sha256(f"v{CACHE_VERSION} {extractor.name} {extractor.weights_sha256}".encode())
    h.update(images.numpy().tobytes())
    key = h.hexdigest()[:32]
    path = default_cache_dir(cache_dir) / "ref-features" / f"{key}.npz"
    fs = _cached_features(path, extractor.dim)
    if fs is None:
        if len(images) >= NOTE_ABOVE:  # a minute or more on a CPU: say why the command waits, and that it is once
            say(f"ganforge: computing the '{extractor.name}' features of {len(images):,} dataset images once "
                f"(cached in {path.parent})")
        fs = extract(extractor, array_batches(images), len(images), want_swd=False, progress="reference features")
        write_cache(path, lambda f: np.savez(f, features=fs.features, logits=fs.logits))
    return fs, key


def reference_features(extractor: FeatureExtractor | None, data: DataConfig, num: int, seed: int,
                       want_swd: bool, with_labels: bool = False) -> tuple[FeatureSet, str | None]:
    """Features of the reference images, cached; returns them and the cache key (None without an
    extractor: no metric asked needs features). With ``with_labels``, the set has the images'
    classes and the data's class names."""
    images, labels, classes = reference_images(data, num, seed, with_labels)
    if extractor is None:
        fs, key = FeatureSet.without_features(len(images)), None
    else:
        fs, key = cached_features(extractor, images, data.cache_dir)
    if want_swd:  # no network involved: cheap to recompute, so not cached
        sampler = swd_sampler(len(images), seed)
        fs.swd = [torch.cat(level) for level in zip(*(sampler(b) for b in array_batches(images)))]
    if labels is not None:  # read with the images, so not cached either
        fs.labels, fs.classes = labels.numpy(), classes
    return fs, key


def compute_metrics(real: FeatureSet, fake: FeatureSet, metrics: tuple[str, ...], seed: int = 0) -> dict[str, float]:
    """The requested figures from two feature sets."""
    out: dict[str, float] = {}
    if "fid" in metrics:
        out["fid"] = frechet_distance(*real.stats.mean_cov(), *fake.stats.mean_cov())
    if "kid" in metrics:
        out["kid"], out["kid_std"] = kernel_inception_distance(real.features, fake.features, seed=seed)
    if "is" in metrics:
        out["is"], out["is_std"] = inception_score(fake.logits)
    if "pr" in metrics:
        out.update(prdc(real.features, fake.features, pr_k=PR_K, dc_k=DC_K))
    if "swd" in metrics:
        out.update(swd_from_descriptors(real.swd, fake.swd, seed=seed))
    return out


def evaluate_images(fake_batches: Iterable[torch.Tensor], num: int, data: DataConfig, metrics: tuple[str, ...],
                    features: str = "fmnist", seed: int = 0, classes: tuple[str, ...] = (),
                    labels: np.ndarray | None = None, num_name: str = "--num") -> dict:
    """Evaluate a stream of ``num`` uint8 images against ``data``; returns figures plus the protocol.
    ``classes``, ``labels`` and ``num_name``: as for :func:`compare_with_reference`."""
    if needs_features(metrics):
        extractor = build_features(features)
    else:  # SWD alone: nothing to build, but a misspelt name is still one
        FEATURES.get(features)
        extractor = None
    fake = extract_fakes(extractor, fake_batches, num, metrics, seed, num_name=num_name, progress="sample features")
    return compare_with_reference(extractor, fake, data, metrics, seed, classes, num_name, labels)


def extract_fakes(extractor: FeatureExtractor | None, batches: Iterable[torch.Tensor], num: int,
                  metrics: tuple[str, ...], seed: int = 0, first: int = 0, num_name: str = "--num",
                  progress: str = "") -> FeatureSet:
    """Features of generated images (or of images [first, ...) of them, one rank's shard).

    SWD patches are kept only when SWD is asked for; their positions use ``seed + 1``
    so they differ from the reference's. ``progress``: as for :func:`extract`.
    """
    return extract(extractor, batches, num, "swd" in metrics, seed=seed + 1, first=first, num_name=num_name,
                   progress=progress)


def compare_with_reference(extractor: FeatureExtractor | None, fake: FeatureSet, data: DataConfig,
                           metrics: tuple[str, ...], seed: int = 0, classes: tuple[str, ...] = (),
                           num_name: str = "--num", labels: np.ndarray | None = None) -> dict:
    """Figures and protocol for generated features ``fake`` against the reference split of ``data``.

    ``classes``: the images come from a class-conditional G with these classes, image i of class
    i mod len(classes); or, with ``labels``, image i is of class ``classes[labels[i]]`` (a folder's
    subfolders, named as ``ganforge sample --out FOLDER`` names them). Where the reference has the
    same classes, FID comes with ``intra_fid``, the mean over classes of the FID between one
    class's samples and its reference images (Miyato & Koyama 2018), and ``intra_fid_per_class``.
    Where the extractor is a classifier of those classes (the ``fmnist`` features on
    Fashion-MNIST), ``class_accuracy`` is the share the classifier assigns to each image's class.
    ``extractor`` is None where no metric asked needs features (SWD alone): no per-class figures then.

    ``num_name``: what sets the number of images where the caller is (the CLI's ``--num``, the
    config key ``eval.num_samples`` during training), so a warning names the knob to turn.
    """
    want_swd = "swd" in metrics
    num = len(fake.features)
    check_num(num, metrics, "the number of images")
    warn_of_foreign_features(extractor, data.name, "the figures can rank runs on the same data but say little "
                                                   "about quality")
    classes = classes if extractor is not None else ()  # the per-class figures all come from features
    real, key = reference_features(extractor, data, num, seed, want_swd, with_labels=bool(classes))
    result = compute_metrics(real, fake, metrics, seed)
    reference = f"{data.name}:{data.split}"  # as the protocol and the warnings name it
    warn_of_few_images(metrics, extractor, num, len(real.features), reference, num_name)
    if "is" in metrics:
        warn_of_capped_is(result["is"], num, num_name)
    drawn = reference_classes_of(real.classes, classes, labels, num) if classes else None
    if classes and drawn is None and labels is None:  # a folder's subfolders may be anything: no warning for them
        warnings.warn(f"the samples' classes ({', '.join(classes[:3])}, ...) are not those of the reference "
                      f"{data.name} ({', '.join(real.classes[:3]) or 'no classes'}, ...), so there are no per-class "
                      "figures (intra_fid, class_accuracy).")
    elif drawn is not None:
        if "fid" in metrics:
            result.update(intra_fid(real, fake, drawn, extractor, num_name, reference))
        if extractor.name == "fmnist" and data.name == "fashion-mnist":
            result["class_accuracy"] = float((fake.logits.argmax(1) == drawn).mean())
    result["protocol"] = {
        # None where no metric asked needs the feature network (SWD alone)
        "features": extractor and extractor.name, "weights_sha256": extractor and extractor.weights_sha256,
        "num_fake": len(fake.features), "num_real": len(real.features), "reference": reference,
        **({"reference_root": data.root} if data.name in ("folder", "npy") else {}),  # the images themselves
        "reference_cache_key": key, "resize": extractor and extractor.resize_rule, "seed": seed,
        "kid": f"cubic polynomial kernel, {KID_SUBSETS} subsets of min({KID_SUBSET_SIZE}, N)",
        "pr_k": PR_K, "dc_k": DC_K,
        "swd": "7x7 Laplacian-pyramid patches, 512 directions, x1e3, mean over levels",
    }
    return result


def warn_of_foreign_features(extractor: FeatureExtractor | None, data_name: str, consequence: str) -> None:
    """Warn where the 'fmnist' features, a garment classifier's, measure images of another dataset;
    ``consequence`` says what that does to the figures at hand."""
    if extractor is not None and extractor.name == "fmnist" and data_name != "fashion-mnist":
        # a user's folder or .npy may hold garments all the same (`ganforge data fashion-mnist --out x.npy`)
        unless = " unless they are garments like Fashion-MNIST's" if data_name in ("folder", "npy") else ""
        warnings.warn(f"the 'fmnist' features come from a classifier of Fashion-MNIST garments, so '{data_name}' "
                      f"images are outside their domain{unless}: {consequence}. Use --features inception "
                      "(eval.features during training) for other data.")


def warn_of_few_images(metrics: tuple[str, ...], extractor: FeatureExtractor | None, num_fake: int,
                       num_real: int, reference: str, num_name: str) -> None:
    """Warn where FID or KID rests on too few images, naming the side that has too few.

    The reference is a seeded subset as large as the samples, so the counts differ only where the
    reference holds fewer images than asked for (a small folder or test split); then raising
    ``num_name`` cannot help, and the warning says so."""
    few = min(num_fake, num_real)
    short = num_real < num_fake  # the reference is the smaller side
    if "fid" in metrics and few <= extractor.dim:
        features = f"{extractor.dim}-dimensional '{extractor.name}' features"
        why = ("with no more images than feature dimensions the covariance estimates are poor and FID is biased "
               "far upward")
        warnings.warn(f"FID against a reference of only {num_real:,} images (all that {reference} holds), of "
                      f"{features}: {why}. A reference of well above {extractor.dim} images is needed; compare "
                      "these FIDs only against the same one." if short else
                      f"FID from {few:,} images of {features}: {why}. Use {num_name} well above {extractor.dim}, and "
                      f"compare FIDs only at the same {num_name}.")
    if "kid" not in metrics or few > KID_SUBSET_SIZE:
        return
    if num_fake == num_real:  # each subset is all of each set: every subset gives the same value
        warnings.warn(f"kid_std from {few:,} images is 0 and says nothing: KID's subsets hold "
                      f"min({KID_SUBSET_SIZE:,}, N) images, so here every subset is all of them (kid itself is the "
                      f"unbiased estimate from all of them). Use {num_name} above {KID_SUBSET_SIZE:,} for a spread.")
    else:  # the smaller set is whole in every subset, so only the larger one's draws vary
        smaller = f"the reference ({reference})" if short else "the samples"
        larger = f"{num_fake:,} samples" if short else f"{num_real:,} reference images"
        warnings.warn(f"KID's subsets hold {few:,} images here, not {KID_SUBSET_SIZE:,}: {smaller} has only {few:,}, "
                      f"and every subset holds all of them, so kid_std measures only the draws from the {larger}. "
                      "kid is still unbiased; compare kid_std only at the same counts.")


def warn_of_capped_is(score: float, num: int, num_name: str) -> None:
    """Warn where IS is pinned by its splits' sizes: a split of n images scores between 1 and n, so splits of
    one image give 1 whatever the images (``--num 6`` gave IS 1.0000, is_std 0), and a score in the upper half
    of that range is held down by the count as much as by the images."""
    sizes = split_sizes(num)
    n = min(sizes)
    if n > 1 and score - 1 <= (n - 1) / 2:
        return
    splits = f"{len(sizes)} splits of {n:,}{'' if n == max(sizes) else f' to {max(sizes):,}'}"
    said = (f"IS from {num:,} images in {splits} is 1 whatever the images" if n == 1 else
            f"IS {score:.2f} from {num:,} images in {splits} is held down by that count as much as by the images")
    warnings.warn(f"{said}: a split's IS is at most its number of images. Use {num_name} well above {SPLITS} x the "
                  f"classifier's classes (IS is usually given from 50,000 images, {SPLITS} splits of 5,000), and "
                  f"compare IS only at the same {num_name}.")


def reference_classes_of(reference: tuple[str, ...], classes: tuple[str, ...], labels: np.ndarray | None,
                         num: int) -> np.ndarray | None:
    """Each of ``num`` images' class as an index into the ``reference``'s classes; None where the
    images' ``classes`` are not the reference's. Without ``labels``, image i is of class i mod
    len(classes) (what :func:`ganforge.sampling.generate` draws); with them, of ``classes[labels[i]]``:
    folder names, matched to the reference's classes as ``sample --out FOLDER`` names its folders."""
    if labels is None:
        return class_labels(0, num, len(classes)).numpy() if classes == reference else None
    index = {name: i for i, name in enumerate(class_folders(reference, len(reference)))} if reference else {}
    if set(classes) != set(index):
        return None
    return np.array([index[name] for name in classes])[labels]


def intra_fid(real: FeatureSet, fake: FeatureSet, drawn: np.ndarray, extractor: FeatureExtractor,
              num_name: str = "--num", reference: str = "the reference") -> dict:
    """``intra_fid``, the mean over classes of each class's FID (its samples, as ``drawn``, against
    the reference images of that class), and ``intra_fid_per_class`` by class name. ``reference``
    names the reference (``folder:train``) in the warnings."""
    per_class = {}
    counts = [(int((real.labels == c).sum()), int((drawn == c).sum())) for c in range(len(real.classes))]
    c = min(range(len(counts)), key=lambda i: min(counts[i]))  # the class with the fewest, on either side
    fewest, name = min(counts[c]), real.classes[c]
    # the reference is a subset as large as the samples unless it holds fewer: then it is all there is,
    # and raising the number of samples cannot add to a class it lacks
    whole = counts[c][0] <= counts[c][1] and len(real.features) < len(fake.features)
    if fewest < 2:  # a warning, not an error: evaluation during training must not stop the run
        side = ("the reference images (a seeded subset of the split, as many as the samples) have"
                if counts[c][0] <= counts[c][1] else "the samples have")
        warnings.warn("no intra-class FID: it needs at least 2 images of every class, and " + (
            f"the reference ({reference}) holds only {fewest} of class '{name}'. Add images of that class." if whole
            else f"{side} {fewest} of class '{name}'. Raise {num_name}."))
        return {}
    if fewest <= extractor.dim:
        remedy = (f"The reference ({reference}) holds only {fewest} of class '{name}': compare it only against the "
                  "same reference" if whole else
                  f"Use {num_name} well above {extractor.dim * len(real.classes):,} ({extractor.dim} per class), "
                  f"and compare it only at the same {num_name}")
        warnings.warn(f"intra-class FID from as few as {fewest} images of a class, of {extractor.dim}-dimensional "
                      f"'{extractor.name}' features: it is biased far upward at so few. {remedy}.")
    for c, name in enumerate(real.classes):
        r, f = real.features[real.labels == c].astype(np.float64), fake.features[drawn == c].astype(np.float64)
        per_class[name] = frechet_distance(r.mean(0), np.cov(r, rowvar=False), f.mean(0), np.cov(f, rowvar=False))
    return {"intra_fid": float(np.mean(list(per_class.values()))), "intra_fid_per_class": per_class}


def single_figures(result: dict) -> dict[str, float]:
    """The single figures of a result: not its protocol, nor per-class breakdowns."""
    return {k: v for k, v in result.items() if isinstance(v, (int, float))}


def format_table(result: dict) -> str:
    """The figures as an aligned two-column table; per-class figures indented under their mean."""
    proto = result["protocol"]
    lines = []
    for k, v in result.items():
        if isinstance(v, (int, float)):
            lines.append(f"{k:18s} {v:12.4f}")
        elif k.endswith("_per_class"):
            lines.extend(f"  {pad(clip(name, 16), 16)} {x:12.4f}" for name, x in v.items())  # 猫: two columns
    if "generator" in proto:
        g = proto["generator"]
        lines.append(f"({g['weights']} of {g['checkpoint']}, step {g['step']:,})")
    if "num_fake" not in proto:  # super-resolution
        n = proto["images"]
        lines.append(f"({n} image{'s' * (n != 1)} of {proto['validation']}, x{proto['scale']}, "
                     f"border {proto['crop_border']} px cropped)")
        return "\n".join(lines)
    features = (f"features '{proto['features']}' sha256 {proto['weights_sha256'][:12]}" if proto["features"]
                else "no feature network: SWD compares pixel patches")
    lines.append(f"({proto['num_fake']} images vs {proto['num_real']} of {proto['reference']}, {features})")
    return "\n".join(lines)


