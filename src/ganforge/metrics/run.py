"""``ganforge evaluate`` on a run folder, a checkpoint, a .npy of uint8 images or a folder of images."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import shlex
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..data import check_dataset
from ..data.download import check_mirror
from ..data.npy import read_npy_images
from ..data.folder import (SIXTEEN_BIT, decode_files, image_files, read_header, run_folder_of, stack_freeing,
                           subfolder_classes, subfolder_labels)
from ..errors import GanforgeError, did_you_mean, did_you_mean_path
from ..files import check_output_file, write_json
from ..images import IMAGE_SUFFIXES, uint8_hint, uint8_images
from ..memory import check_fits
from ..plugins import check_run_components
from ..run_folder import is_ganforge_run
from ..sampling import generate, load_generator
from ..training import checkpoint as ckpt
from ..wording import say, settings_named
from .evaluate import (METRICS, SR_METRIC_NAMES, array_batches, check_num, evaluate_images, format_table,
                       parse_metrics, seeded_subset)


def _refuse_npz(path: Path) -> None:
    """A .npz (many tools save samples so, ADM's evaluator as arr_0 channels-last) would be read as a
    damaged checkpoint: name its arrays and the conversion to the .npy that evaluate reads. Only the
    first array's header is read: the arrays themselves may be gigabytes."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = [n.removesuffix(".npy") for n in archive.namelist() if n.endswith(".npy")]
            if not names:
                raise GanforgeError(f"'{path}' is a .npz archive with no arrays; give a .npy of uint8 images "
                                    "(N, C, H, W).")
            with archive.open(names[0] + ".npy") as f:
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read_header(f)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise GanforgeError(f"'{path}' is not a readable .npz archive: {e}") from None
    key = names[0]
    hint = uint8_hint(shape, dtype).replace("save x", f"save np.load('{path.name}')['{key}']", 1)
    raise GanforgeError(f"'{path}' is a .npz archive ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''}; "
                        f"'{key}' is {dtype} {shape}); evaluate reads one .npy of uint8 images "
                        f"(N, C, H, W): np.save('x.npy', np.load('{path.name}')['{key}']).{hint}")


def _is_image_folder(path: Path) -> bool:
    """A folder that is not a run (no checkpoints, no ganforge config.json): the images in it are scored. Another
    tool's config.json beside them (a dataset's card) does not make it a run."""
    return path.is_dir() and ckpt.checkpoints_folder(path) is None and not is_ganforge_run(path)


@dataclass
class FolderImages:
    """What :func:`load_image_folder` read: ``images`` uint8 (N, C, H, W), ``total`` images in the
    folder, and where every image sits in a subfolder of it, the subfolders' sorted names
    (``classes``) and each image's index into them (``labels``); else () and None."""

    images: np.ndarray
    total: int
    classes: tuple[str, ...] = ()
    labels: np.ndarray | None = None


def load_image_folder(path: Path, num: int, seed: int, num_name: str = "--num") -> FolderImages:
    """``num`` images of a folder, and the subfolders they sit in (the classes of a labelled set).

    A folder with more than ``num`` gives a seeded subset, as the reference split does: the first
    ``num`` in path order could all be one subfolder's (a class-conditional run's samples sit in
    one folder per class), and would not represent the folder. The subset is read in path order.
    They are scored at their own size, as a .npy is, so they must all have one size; grayscale
    unless some image has colour.
    """
    run_dir = run_folder_of(path)
    if run_dir is not None and run_dir != path.resolve():  # a run's samples/ (a run folder is scored as a run)
        raise GanforgeError(f"'{path}' holds a run's grids of samples, not single images; to score the run, "
                            f"evaluate the run itself: ganforge evaluate {shlex.quote(str(run_dir))}")
    every = image_files(path)
    files = every
    if num < len(every):
        files = [every[i] for i in seeded_subset(len(every), num, seed).tolist()]
    if not files:
        raise GanforgeError(ckpt.runs_inside(path) or f"'{path}' is neither a run folder (it has no checkpoints) nor "
                            f"a folder of images ({', '.join(sorted(IMAGE_SUFFIXES))}).")
    headers = [h for h in map(read_header, files) if h]  # unreadable files: decode_files skips them, warning
    side = max(headers[0].width, headers[0].height) if headers else 0
    channels = 1 if {h.mode for h in headers} <= {"L", "LA", "1", *SIXTEEN_BIT} else 3
    check_fits(len(files) * channels * side * side, f"{len(files):,} images of about {channels}x{side}x{side} "
               f"in '{path}'", f"lower {num_name}")
    names, decoded, _ = decode_files(path, files, 0, channels, "some of the images have colour")
    sizes = {}
    for name, image in zip(names, decoded):
        sizes.setdefault(image.shape[1:], name)
    if len(sizes) > 1:
        (a, first), (b, other) = list(sizes.items())[:2]
        raise GanforgeError(f"the images in '{path}' differ in size ({first}: {a[1]}x{a[0]}, {other}: {b[1]}x{b[0]}); "
                            "metrics compare images of one size, so resize them to one.")
    out = FolderImages(stack_freeing(decoded), len(every))
    classes = subfolder_classes(path, every)  # of the whole folder, as data.name=folder reads them
    if classes is not None and len(classes) > 1:
        out.classes, out.labels = classes, subfolder_labels(names, classes)
    return out


# images the GAN metrics score by default: the usual FID protocol's count
DEFAULT_NUM = 10_000


def evaluate_source(source: str | Path | np.ndarray, metrics: str | None = None, num: int | None = None,
                    features: str | None = None, ref: str | Path = "train", json_out: str | None = None, seed: int = 0,
                    dataset: str | None = None, data_root: str = "", use_ema: bool = True, val: str = "",
                    mirror: str = "") -> dict:
    """Evaluate ``source``; print the table, write JSON, return the result.

    Args:
        source: run folder, checkpoint file, .npy of uint8 images (N, C, H, W), or a folder of
            images of one size (e.g. ``ganforge sample --out FOLDER``); of a larger folder, a
            subset drawn with ``seed``; of a larger .npy, its first ``num``. From Python also an array or
            tensor of uint8 images (N, C, H, W), scored as a .npy is; no JSON is written for it unless asked.
        metrics: comma-separated metric names (None: all of them; SR runs are scored by PSNR/SSIM).
        num: images to evaluate (a .npy or folder with fewer is an error); None: ``DEFAULT_NUM`` (or all of
            a .npy's or folder's images, if fewer), or for a super-resolution run all its validation images.
        features: registered feature extractor (None: a run's own ``eval.features``, the one its evaluations
            during training used; ``fmnist`` for a .npy or a folder of images).
        ref: the reference dataset's split, "train" or "test", or images of your own: a .npy or a folder.
        json_out: JSON path (default: RUN_DIR/evaluate.json, FOLDER/evaluate.json, SAMPLES.eval.json, or
            CKPT.eval.json for a checkpoint outside a run's checkpoints/ folder; none, with a warning, where
            that folder refuses new files).
        dataset, data_root: the reference dataset (a run's own dataset by default).
        mirror: a base URL to download the reference dataset's files from (default: a run's ``data.mirror``,
            else the official mirrors).
        val: super-resolution runs: the HR validation folder (default: the run's ``sr.val_root``,
            else its dataset's test split). SR runs report PSNR/SSIM, not the GAN metrics.
    """
    flag = say("--metrics", "metrics")
    # psnr and ssim name a super-resolution run's figures; they are refused below for a source of the GAN metrics
    names = parse_metrics(metrics or METRICS, flag, sr_too=True, num_set=say("--num ", "num="))
    if ref not in ("train", "test"):  # reference images of the user's own: the dataset and its folder they name
        dataset, data_root, ref = _own_reference(ref, dataset, data_root)
    check_mirror(mirror, "--mirror", "give --data-root FOLDER")
    if dataset == "npy" and data_root:  # a file, not a folder
        read_npy_images(Path(data_root).expanduser(), say("--data-root", "data_root"))
    elif data_root and not (root := Path(data_root).expanduser()).is_dir():  # before the samples are made; as given
        # a file: the folder it is in, not another file named like it
        hint = f" It is a file: '{root.parent}' holds it." if root.is_file() else did_you_mean_path(root)
        raise GanforgeError(f"{say('--data-root', 'data_root')} '{data_root}' does not exist or is not a folder; give "
                            f"the folder that holds the reference dataset's files.{hint}")
    if json_out:  # before the work, from Python as from the command
        check_output_file(Path(json_out))
    num_name = say("--num", "num")  # in the messages
    where = Reference(dataset, data_root, mirror)
    if not isinstance(source, (str, Path)):  # images in memory (ganforge.evaluate from Python): no file is written
        given, num = num is not None, DEFAULT_NUM if num is None else num
        check_num(num, parse_metrics(names, flag), num_name)
        images = FolderImages(uint8_images(source, "the array to evaluate must hold", functools.partial(
            uint8_hint, verb="pass", tensor=isinstance(source, torch.Tensor))), 0)
        result = _score_images(images, "the array given", names, num, given, features, ref, seed, where, num_name)
        return _report(result, json_out)
    path = Path(source)
    is_npy = path.suffix.lower() == ".npy"  # samples.NPY too, which was read as a checkpoint
    if not path.exists() and not is_npy:  # a missing .npy gets _load_npy's own message
        raise GanforgeError(f"'{path}' does not exist; give a run folder, a checkpoint file, a .npy of uint8 "
                            f"images or a folder of images.{did_you_mean_path(path)}")
    if path.suffix.lower() == ".npz" and path.is_file():
        _refuse_npz(path)
    if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():  # a sample grid, most often
        raise GanforgeError(f"'{path}' is one image (a grid of samples is one too); evaluate scores a set of images: "
                            "give a folder of them (ganforge sample --out FOLDER writes one PNG per image), a .npy of "
                            "uint8 images, or a run folder.")
    if is_npy or _is_image_folder(path):
        _warn_val_ignored(val, path)
        given, num = num is not None, DEFAULT_NUM if num is None else num
        check_num(num, parse_metrics(names, flag), num_name)
        # inside the folder, as for a run folder: beside it, 'S/' and 'S.npy' would both write S.eval.json
        default_json = _keepable(json_out, path / "evaluate.json" if path.is_dir() else _json_beside(path))
        loaded = (FolderImages(read_npy_images(path, "samples file"), 0) if is_npy
                  else load_image_folder(path, num, seed, num_name))
        result = _score_images(loaded, f"'{path}'", names, num, given, features, ref, seed, where, num_name)
    else:
        G, cfg = load_generator(path, use_ema)
        # RUN/evaluate.json, whether given the run, its checkpoints folder or one checkpoint in it; a checkpoint
        # copied out of its run (~/models/g.pt) writes beside itself, as a .npy does: its folder's parent
        # (~/evaluate.json) would be shared by every file in ~/models
        if path.is_file():
            run_dir = ckpt.run_dir_of(path)
            default_json = _json_beside(path) if run_dir == path.parent else run_dir / "evaluate.json"
        else:
            run_dir = path if (path / "checkpoints").is_dir() else path.parent
            default_json = run_dir / "evaluate.json"
        default_json = _keepable(json_out, default_json)
        if cfg.model.task == "sr":
            # the GAN metrics' options, where given (their defaults cannot be told from not giving them)
            gan_names = metrics is not None and not set(names) <= set(SR_METRIC_NAMES)  # psnr, ssim: its own
            given = {"--metrics": metrics if gan_names else None, "--features": features,
                     "--ref": ref if ref != "train" else None, "--dataset": dataset, "--data-root": data_root or None,
                     "--mirror": mirror or None}
            ignored = [f"{flag} {value}" for flag, value in given.items() if value is not None]
            if ignored:
                print(f"ganforge: warning: {', '.join(ignored)} {'does' if len(ignored) == 1 else 'do'} not apply to "
                      "a super-resolution run; it is scored by PSNR and SSIM against the bicubic baseline.",
                      file=sys.stderr)
            if num is not None and num < 1:  # PSNR and SSIM are per image: the GAN metrics' minimums do not apply
                raise GanforgeError(f"{num_name} must be >= 1, got {num}.")
            result = _evaluate_sr_run(G, cfg, num or 0, val)
            if num is not None and result["protocol"]["images"] < num:
                warnings.warn(f"{num_name} {num} is more than the {result['protocol']['images']} validation images; "
                              "all of them were scored.")
        else:
            _warn_val_ignored(val, path)
            num = DEFAULT_NUM if num is None else num
            check_num(num, parse_metrics(names, flag), num_name)
            data = dataclasses.replace(cfg.data, split=ref, **({"name": dataset} if dataset else {}),
                                       **({"root": data_root} if data_root else {}),
                                       **({"mirror": mirror} if mirror else {}))
            _check_reference(data, data_root)
            if features is None:
                check_run_components(cfg, run_dir, ("eval.features",))
            fakes = generate(G, cfg.model.z_dim, num, seed=seed, num_classes=cfg.model.num_classes)
            # the run's own extractor by default, so the figures match those its training logged
            with _reference_flags():
                result = evaluate_images(fakes, num, data, names, features or cfg.eval.features, seed,
                                         G.class_names, num_name=num_name)
        result["protocol"]["generator"] = G.source  # so figures kept in RUN/evaluate.json say which step they are
    return _report(result, json_out or default_json)


def _own_reference(ref: str | Path, dataset: str | None, data_root: str) -> tuple[str, str, str]:
    """``--ref PATH``: the dataset, its root and split that read the images at ``PATH``, a .npy of uint8 images or
    a folder of images (pytorch-fid's and torch-fidelity's second path)."""
    flag = say("--ref", "ref")
    path = Path(ref).expanduser()
    if path.suffix.lower() != ".npy" and not path.is_dir():
        split = did_you_mean(str(ref), ("train", "test"))  # a misspelt split, which argparse's choices caught
        missing = f"; '{ref}' does not exist.{did_you_mean_path(path)}" if not path.exists() and not split else "."
        raise GanforgeError(f"{flag} must be 'train' or 'test' (the dataset's splits), or reference images of your "
                            f"own: a .npy of uint8 images (N, C, H, W) or a folder of images; got {ref!r}{missing}"
                            f"{split}")
    if not path.exists():
        raise GanforgeError(f"{flag} '{ref}' does not exist.{did_you_mean_path(path)}")
    if path.is_dir() and (not _is_image_folder(path) or run_folder_of(path) is not None):  # its grids are no reference
        raise GanforgeError(f"{flag} '{ref}' is a run (or a folder of one), not reference images. Runs are compared "
                            "by scoring each against the same reference: ganforge evaluate RUN --ref test for each.")
    given = [say(f"--{k.replace('_', '-')}", k) for k, v in (("dataset", dataset), ("data_root", data_root)) if v]
    if given:
        raise GanforgeError(f"{flag} '{ref}' names the reference images itself; drop {' and '.join(given)}.")
    return ("npy" if path.is_file() else "folder"), str(path.resolve()), "train"


def _keepable(json_out: str | Path | None, default: Path) -> Path | None:
    """``default``, the JSON beside what is evaluated, if ``json_out`` was not given and its folder takes
    new files; else None, with a warning where it does not. A dataset's read-only folder or a run shared
    read-only failed only after the whole evaluation, and the figures are worth having without it."""
    if json_out:
        return None  # checked on its own, and an error there: it was asked for
    try:
        check_output_file(default, "The figures are printed but not kept; give "
                                   f"{say('--json PATH', 'json_out=PATH')} to keep them.")
    except GanforgeError as e:
        warnings.warn(str(e))
        return None
    return default


def _report(result: dict, json_out: str | Path | None) -> dict:
    """Print ``result``'s table, write it to ``json_out`` (if any) and return it."""
    print(format_table(result))
    if json_out:
        write_json(result, json_out)
        print(f"ganforge: wrote {json_out}")
    return result


@dataclass(frozen=True)
class Reference:
    """Where the reference images of a .npy, a folder or an array come from: ``dataset`` (None: Fashion-MNIST),
    its files' folder ``root`` and download ``mirror`` (empty: the defaults)."""

    dataset: str | None
    root: str
    mirror: str


def _score_images(loaded: FolderImages, what: str, names: tuple[str, ...], num: int, given: bool,
                  features: str | None, ref: str, seed: int, where: "Reference", num_name: str = "--num") -> dict:
    """The GAN metrics of the first ``num`` of ``loaded``'s images (all of them, with a warning, if fewer and
    ``num`` was not ``given``), against ``where.dataset`` (default Fashion-MNIST); ``what`` names them in
    messages."""
    dataset = where.dataset
    images = loaded.images
    if len(images) < num:
        n = len(images)
        if given:
            raise GanforgeError(f"{what} holds {n} image{'s' * (n != 1)}, fewer than {num_name} {num}; lower "
                                f"{num_name}.")
        # no --num: every image is scored, as FID tools score a folder; the count goes in the protocol
        check_num(n, names, f"the number of images in {what}")
        warnings.warn(f"{what} holds {n:,} images, fewer than the default {num_name} {DEFAULT_NUM:,}: all {n:,} are "
                      "scored. FID (higher from fewer images) and precision/recall depend on the count, so "
                      f"compare them only with figures from {n:,} images.")
        num = n
    if dataset is None and images.shape[1] == 3:  # likely samples of colour data, scored against grayscale garments
        warnings.warn(f"{what} holds colour images and is compared with Fashion-MNIST, the default reference "
                      "for samples. If they imitate other data, name it: --dataset cifar10, or --dataset folder "
                      "--data-root PATH.")
    data = DataConfig(name=dataset or "fashion-mnist", root=where.root, split=ref, mirror=where.mirror,
                      resolution=images.shape[2], channels=images.shape[1])
    _check_reference(data, where.root)
    with _reference_flags():
        result = evaluate_images(array_batches(images[:num]), num, data, names, features or "fmnist", seed,
                                 loaded.classes, loaded.labels, num_name)
    if loaded.total > num:  # which images were scored: a seeded subset of the folder's
        result["protocol"]["fake_subset_of"] = loaded.total
    return result


def _reference_flags() -> contextlib.AbstractContextManager[None]:
    """Within it, the loaders' errors (an IDX file missing, a download that failed) name the flag that sets the
    reference's folder here, not data.root, a key evaluate has no way to set (and --dataset for data.name). Not
    around a super-resolution run's evaluation: --data-root does not apply to it."""
    return settings_named({"data.root": say("--data-root", "data_root"), "data.name": say("--dataset", "dataset")})


def _check_reference(data: DataConfig, data_root: str) -> None:
    """Refuse reference images that cannot be read, before any image is made or scored: a folder not named,
    or a run's own data.root that is gone (a dataset moved since it trained). The loaders' messages would say
    to set data.root, a key evaluate has no flag of; ``data_root``, the flag's folder, was checked already."""
    flag = say("--data-root PATH", "data_root=PATH")
    check_dataset(data)  # before the warning of the features' domain, and before samples are made
    if data.name == "folder" and not data.root:
        raise GanforgeError(f"{say('--dataset folder', 'dataset=' + repr('folder'))} compares with a folder of "
                            f"images; name it: {flag}.")
    if data.name == "npy" and not data.root:
        raise GanforgeError(f"{say('--dataset npy', 'dataset=' + repr('npy'))} compares with the images of a .npy "
                            f"file; name it: {say('--ref FILE.npy', 'ref=FILE.npy')}.")
    npy = data.name == "npy"  # a file, where the others' roots are folders
    if data.root and not data_root and not (Path.is_file if npy else Path.is_dir)(Path(data.root).expanduser()):
        where = f"a .npy file; give the reference images: {say('--ref FILE.npy', 'ref=FILE.npy')}" if npy else \
            f"a folder; give the reference images' folder: {flag}"
        raise GanforgeError(f"the run's data.root '{data.root}', where its training images were, does not exist or "
                            f"is not {where}.")


def _json_beside(path: Path) -> Path:
    """``S.eval.json`` beside the file ``S.npy`` or ``S.pt``."""
    return path.resolve().with_name(path.resolve().stem + ".eval.json")


def _warn_val_ignored(val: str, path: Path) -> None:
    """``--val`` given for a source that is not a super-resolution run: say it does nothing."""
    if val:
        print(f"ganforge: warning: --val is the HR validation folder of a super-resolution run; '{path}' is not one, "
              "so --val is ignored.", file=sys.stderr)


def _evaluate_sr_run(G, cfg, num: int, val: str) -> dict:
    """PSNR/SSIM of an SR run beside the bicubic baseline (on ``val`` when given); GAN metric options do not apply."""
    from .sr_eval import evaluate_sr

    if val:
        cfg = dataclasses.replace(cfg, sr=dataclasses.replace(cfg.sr, val_root=val, val_lr_root=""))
    return evaluate_sr(G, cfg, num)
