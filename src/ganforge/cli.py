"""The ``ganforge`` command: train | sample | evaluate | upscale | data | bench | presets | config.

Exit codes: 0 success; 2 bad input (a one-line message, no traceback); 1 a bug;
130 / 143 interrupted by Ctrl-C / SIGTERM (training saves a checkpoint first).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import warnings
from pathlib import Path

from .errors import AlreadyReported, GanforgeError, did_you_mean, format_warning, say_error
from .wording import command_line, settings_named


def _seed(text: str) -> int:
    """argparse type for --seed: an integer in [0, 2**32), the range train.seed has."""
    from .config import SEED_LIMIT

    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2**32), got '{text}'")
    return value


def _user_path(text: str) -> str:
    """argparse type for a path: a leading ~ is the home folder. The shell expands ``--out ~/a`` but not
    ``--out=~/a``, which made a folder named '~' in the working directory, nor a quoted '~/a', nor a path a
    script passes in a list (subprocess.run(["ganforge", "sample", "~/runs/a", ...])), as ganforge's
    Python functions do."""
    return os.path.expanduser(text)


def _json_out(text: str) -> str:
    """argparse type for --json OUT: a path (as :func:`_user_path`) not named for another format."""
    from .files import json_name_problem

    if problem := json_name_problem(text):
        raise argparse.ArgumentTypeError(problem)
    return _user_path(text)


def _keep_freed_memory() -> None:
    """evaluate and upscale keep the memory they free, as training does: each is a process of its
    own, and a 10,000-image FID ran 1.13-1.41x faster with 1-2 M fewer page faults
    (docs/performance.md). sample gained nothing (its arrays are few), so it leaves malloc alone, but for
    --nearest, which computes the features of the training set."""
    from .training.process import keep_freed_memory

    keep_freed_memory()


def _cmd_train(args: argparse.Namespace) -> int:
    from .training.run import train

    return train(args.config, args.out, args.set, resume=args.resume, force=args.force, dry_run=args.dry_run)


def _cmd_sample(args: argparse.Namespace) -> int:
    if args.interpolate is not None and args.nearest is not None:
        raise GanforgeError("--interpolate and --nearest make different grids; give one of them.")
    if args.to_class is not None and args.interpolate is None:
        raise GanforgeError("--to-class walks from --class to another class; give it with --interpolate STEPS.")
    if args.features is not None and args.nearest is None:
        raise GanforgeError("--features chooses the features --nearest compares in; add --nearest K, or drop it.")
    # walks and rows of neighbours are fewer than samples: each is a row of images
    num = args.num if args.num is not None else (64 if args.interpolate is None and args.nearest is None else 8)
    if args.nearest is not None:
        from .neighbours import format_neighbours, write_nearest

        _keep_freed_memory()  # the training set's features, once: as evaluate's
        found = write_nearest(args.source, num, args.nearest, args.out, seed=args.seed, use_ema=not args.no_ema,
                              truncation=args.truncation, class_=args.class_, features=args.features)
        print(format_neighbours(found))
        print(f"ganforge: wrote {num} sample{'s' * (num != 1)}, each beside its {args.nearest} nearest training "
              f"image{'s' * (args.nearest != 1)} ('{found.features}' features), to {args.out}")
        return 0
    if args.interpolate is not None:
        from .interpolation import write_interpolation

        out = write_interpolation(args.source, num, args.interpolate, args.out, seed=args.seed,
                                  use_ema=not args.no_ema, truncation=args.truncation, class_=args.class_,
                                  to_class=args.to_class)
        print(f"ganforge: wrote {num} walk{'s' * (num != 1)} of {args.interpolate} frames to {out}")
        return 0
    from .sampling import sample

    out = sample(args.source, num, args.out, seed=args.seed, use_ema=not args.no_ema,
                 truncation=args.truncation, class_=args.class_)
    print(f"ganforge: wrote {num} samples to {out}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .metrics.run import evaluate_source

    _keep_freed_memory()
    evaluate_source(args.source, metrics=args.metrics, num=args.num, features=args.features, ref=args.ref,
                    json_out=args.json, seed=args.seed, dataset=args.dataset, data_root=args.data_root,
                    use_ema=not args.no_ema, val=args.val, mirror=args.mirror)
    return 0


def _cmd_upscale(args: argparse.Namespace) -> int:
    from .upscaling import upscale

    _keep_freed_memory()
    written = upscale(args.source, args.input, args.out, tile=args.tile, overlap=args.overlap,
                      use_ema=not args.no_ema)
    print(f"ganforge: wrote {len(written)} upscaled image{'s' * (len(written) != 1)} "
          f"({written[0] if len(written) == 1 else args.out})")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    import dataclasses

    import numpy as np

    from .config import DataConfig
    from .data import load_images
    from .data.download import check_mirror
    from .files import OTHER_ARRAY_SUFFIXES, check_output_file, write_atomic
    from .images import IMAGE_SUFFIXES

    if args.name == "folder" and not args.root:  # the shared message would name train's --set data.root
        raise GanforgeError("ganforge data folder needs --root PATH, the folder of images to export.")
    if args.num is not None and args.num <= 0:  # before loading: the whole dataset is not needed to say so
        raise GanforgeError(f"--num must be > 0 (leave it out for every image), got {args.num}.")
    if args.channels not in (None, 1, 3):  # None: the dataset's own
        raise GanforgeError(f"--channels must be 1 (grayscale) or 3 (RGB), got {args.channels}.")
    if args.resolution is not None and args.resolution <= 0:
        raise GanforgeError(f"--resolution must be > 0 (leave it out for the dataset's own size), got {args.resolution}.")
    if Path(args.out).is_dir() or args.out.endswith(("/", os.sep)):  # 'out/' would become the hidden 'out/.npy'
        raise GanforgeError(f"--out '{args.out}' is a folder; name the .npy file to write, "
                            f"e.g. {Path(args.out) / f'{args.name}-{args.split}.npy'}.")
    if Path(args.out).suffix.lower() in (*OTHER_ARRAY_SUFFIXES, *IMAGE_SUFFIXES):  # it would write x.npz.npy
        raise GanforgeError(f"--out '{args.out}': ganforge data writes a .npy of uint8 images (N, C, H, W); "
                            "name the file .npy.")
    # np.save would add .npy silently; .NPY is a .npy too
    out = Path(args.out if args.out.lower().endswith(".npy") else args.out + ".npy")
    check_output_file(out)  # before loading, which may download and decode a whole dataset
    check_mirror(args.mirror, "--mirror", "give --root FOLDER")
    data = DataConfig(name=args.name, root=args.root, split=args.split, mirror=args.mirror)
    data = dataclasses.replace(data, resolution=args.resolution or (32 if args.name == "cifar10" else 28),
                               channels=args.channels or (3 if args.name in ("cifar10", "folder") else 1))
    # this command's flags, in the loaders' messages
    with settings_named({"data.root": "--root", "data.resolution": "--resolution", "data.channels": "--channels",
                         "data.name": "the dataset argument"}):
        images = load_images(data, first=args.num)
    write_atomic(out, lambda f: np.save(f, images.numpy()))
    # a --num above the split's size takes them all ("first N"), said beside the shape that shows it
    fewer = ""
    if (args.num or 0) > len(images):
        fewer = f" (all of them: the split holds {len(images):,}, not --num {args.num:,})"
    print(f"ganforge: wrote {tuple(images.shape)} uint8 images of {args.name}:{args.split} to {out}{fewer}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    for flag in ("steps", "rounds"):
        if getattr(args, flag, 1) <= 0:
            raise GanforgeError(f"--{flag} must be > 0, got {getattr(args, flag)}.")
    if args.what == "evaluate":
        from .bench.evaluate import bench_evaluate
        from .metrics.evaluate import check_num

        check_num(args.num, ("fid",))

        _keep_freed_memory()  # measure what `ganforge evaluate` does
        bench_evaluate(num=args.num, features=args.features, json_out=args.json)
    elif args.what == "train":
        from .bench.train import bench_train

        bench_train(args.preset, steps=args.steps, overrides=args.set, json_out=args.json)
    else:
        from .bench.compare import bench_compare

        bench_compare(args.preset, steps=args.steps, rounds=args.rounds, overrides=args.set, json_out=args.json)
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    # each preset's TOML alone, not load_config's whole check: that imports torch and the networks, which took
    # the list 2.8 s on 2 cores (the tests load and check every preset)
    from .config import Config, preset_names, read_source

    for name in preset_names():
        print(f"{name:22s} {read_source(name)[0].get('description', Config.description)}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .exporting import export_generator

    info = export_generator(args.source, args.out, use_ema=not args.no_ema, batch=args.batch, opset=args.opset)
    source = info["source"]
    load = (f"onnxruntime.InferenceSession('{args.out}'), or another ONNX runtime" if Path(args.out).suffix == ".onnx"
            else f"torch.export.load('{args.out}').module()")
    opset = f" (ONNX opset {info['opset']})" if "opset" in info else ""  # what a runtime must read
    print(f"ganforge: wrote {args.out}{opset}: {source['weights']} of {source['checkpoint']} "
          f"(step {source['step']:,}). "
          f"In: {info['inputs']}. Out: {info['output'].split(';')[0]}. Load it with {load}.")
    return 0


def _cmd_timelapse(args: argparse.Namespace) -> int:
    from .animation import write_timelapse

    count, first, last = write_timelapse(args.run, args.out, fps=args.fps, frames=args.frames)
    steps = f"steps {first:,} to {last:,}" if count > 1 else f"step {first:,}"
    print(f"ganforge: wrote {args.out}: {count} grid{'s' * (count != 1)}, {steps}.")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from .files import write_json
    from .listing import format_runs, summarize_all

    summaries = summarize_all(args.folders)
    if summaries:
        print(format_runs(summaries))
    else:
        print(f"ganforge: no runs under {', '.join(repr(f) for f in args.folders)}; a run is the --out folder of "
              "ganforge train.", file=sys.stderr)
    if args.json:
        import dataclasses

        write_json([dataclasses.asdict(s) for s in summaries], Path(args.json))
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from .config import dump_yaml, load_config

    values = load_config(args.config, args.set).to_dict()
    if args.format == "yaml":
        print(dump_yaml(values), end="")
    elif args.format == "json":  # for tools that script configs (jq, a sweep's generator): a run's config.json
        print(json.dumps(values, indent=2))
    else:
        import tomli_w

        print(tomli_w.dumps(values), end="")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse's parser (its subcommands' too), whose error for an invalid choice adds the one it may mean:
    ``ganforge trian`` listed the eleven commands without saying 'train'."""

    def error(self, message: str):
        found = re.search(r"invalid choice: '?([^']*?)'? \(choose from (.*)\)$", message)
        if found:  # the choices are quoted up to Python 3.13 and bare from 3.14
            choices = re.findall(r"'([^']*)'", found[2]) or [c.strip() for c in found[2].split(",")]
            hint = did_you_mean(found[1], choices)
            message += f".{hint}" if hint else ""
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the docs)."""
    p = _Parser(prog="ganforge", description="Train, sample and evaluate GANs.")
    p.add_argument("--version", action=_VersionAction)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a preset or a TOML, YAML or JSON config (a run's config.json: a new run "
                                     "like it)")
    t.add_argument("config", type=_user_path, metavar="PRESET|CONFIG_FILE")
    t.add_argument("--out", type=_user_path, metavar="RUN_DIR", help="run folder (default runs/NAME)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. train.max_steps=500 (repeatable)")
    t.add_argument("--resume", action="store_true",
                   help="continue from RUN_DIR/checkpoints/last.pt (or the newest good step_*.pt when it is damaged)")
    t.add_argument("--force", action="store_true", help="replace a run already in RUN_DIR")
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and parameter counts")
    t.set_defaults(func=_cmd_train)

    s = sub.add_parser("sample", help="generate images from a run or checkpoint")
    s.add_argument("source", type=_user_path, metavar="RUN_DIR|CHECKPOINT")
    s.add_argument("--num", type=int, default=None, help="images to generate (default 64); with --interpolate, "
                   "walks, and with --nearest, rows (default 8)")
    s.add_argument("--out", type=_user_path, required=True, help=".npy (uint8 N,C,H,W), .png (grid) or a folder "
                   "(a class-conditional run's has one subfolder per class); with --interpolate, .png (a walk "
                   "per row), .gif or .webp (animated; .webp lossless) or .npy")
    s.add_argument("--nearest", type=int, default=None, metavar="K",
                   help="a .png grid of --num samples (default 8), each beside its K nearest training images in "
                        "feature space: does G copy its data?")
    s.add_argument("--features", default=None, metavar="NAME",
                   help="with --nearest: the features to compare in (default: the run's eval.features)")
    s.add_argument("--interpolate", type=int, default=None, metavar="STEPS",
                   help="walk from each of --num noise vectors to another in STEPS frames, ends included "
                        "(spherical interpolation); walk i starts at image i of the same --seed")
    s.add_argument("--seed", type=_seed, default=0, help="draws the noise: the same seed gives the same images "
                   "(default 0)")
    s.add_argument("--no-ema", action="store_true", help="use G instead of the EMA generator")
    s.add_argument("--truncation", type=float, default=None, metavar="T", help="truncate z to [-T, T]")
    s.add_argument("--class", dest="class_", default=None, metavar="K",
                   help="a class-conditional run: only class K (an index or a name); default: every class in turn")
    s.add_argument("--to-class", dest="to_class", default=None, metavar="K",
                   help="with --interpolate and --class: each walk keeps its noise and goes from --class to class K")
    s.set_defaults(func=_cmd_sample)

    e = sub.add_parser("evaluate", help="FID, KID, IS, precision/recall, density/coverage and SWD of a run, "
                                        "checkpoint, .npy or image folder (PSNR/SSIM for super-resolution runs)")
    e.add_argument("source", type=_user_path, metavar="RUN_DIR|CHECKPOINT|SAMPLES.npy|IMAGE_FOLDER")
    e.add_argument("--metrics", default=None,
                   help="comma-separated: fid,kid,is,pr,swd; pr also gives density and coverage (default: all five; "
                   "a super-resolution run: psnr and ssim, always both)")
    e.add_argument("--num", type=int, default=None, help="images to evaluate (default 10,000, or all of a .npy's or "
                   "folder's if fewer; a super-resolution run: all its validation images)")
    e.add_argument("--features", default=None, help="feature extractor: fmnist, inception, or one the run's "
                   "plugins register (default: a run's own eval.features; fmnist for a .npy or a folder)")
    e.add_argument("--ref", type=_user_path, default="train", metavar="train|test|PATH",
                   help="the reference: the dataset's train or test split (default train), or images of your own, "
                        "a .npy of uint8 images (N, C, H, W) or a folder of images")
    e.add_argument("--json", type=_json_out, metavar="OUT", help="JSON output (default: beside the source)")
    e.add_argument("--seed", type=_seed, default=0,
                   help="draws the noise of a run's samples and the subsets of a reference split or image folder "
                        "larger than --num (default 0)")
    e.add_argument("--dataset", help="reference dataset for a .npy (default fashion-mnist)")
    e.add_argument("--data-root", type=_user_path, default="", help="folder with the reference dataset's files")
    e.add_argument("--mirror", default="", metavar="URL", help="download the reference dataset's files from this "
                   "base URL instead of the official mirrors (default: a run's data.mirror)")
    e.add_argument("--no-ema", action="store_true", help="evaluate G instead of the EMA generator")
    e.add_argument("--val", type=_user_path, default="", metavar="FOLDER",
                   help="super-resolution runs: HR validation folder (default: the run's sr.val_root or test split)")
    e.set_defaults(func=_cmd_evaluate)

    u = sub.add_parser("upscale", help="upscale an image or a folder with a super-resolution run")
    u.add_argument("source", type=_user_path, metavar="CHECKPOINT", help="SR run folder or checkpoint")
    u.add_argument("input", type=_user_path, metavar="INPUT", help="an image file or a folder of images")
    u.add_argument("--out", type=_user_path, required=True, help="a .png path (one image) or a folder")
    u.add_argument("--tile", type=int, default=128, help="LR tile side that bounds memory (0: whole images)")
    u.add_argument("--overlap", type=int, default=16, help="LR pixels of context around each tile")
    u.add_argument("--no-ema", action="store_true", help="use G instead of the EMA generator")
    u.set_defaults(func=_cmd_upscale)

    tl = sub.add_parser("timelapse", help="a run's sample grids as one animated GIF (or lossless WebP), labelled "
                        "with their steps")
    tl.add_argument("run", type=_user_path, metavar="RUN_DIR")
    tl.add_argument("--out", type=_user_path, required=True, help="the .gif (or .webp, lossless) to write")
    tl.add_argument("--fps", type=float, default=4.0,
                    help="grids per second (default 4; at most 50 for a .gif, 90 for a .webp)")
    tl.add_argument("--frames", type=int, default=100,
                    help="at most this many grids, evenly spread, first and last kept (default 100)")
    tl.set_defaults(func=_cmd_timelapse)

    x = sub.add_parser("export", help="a run's generator as a .pt2 file that plain PyTorch runs (torch.export), or "
                       "a .onnx file for ONNX runtimes")
    x.add_argument("source", type=_user_path, metavar="RUN_DIR|CHECKPOINT")
    x.add_argument("--out", type=_user_path, required=True,
                   help="the .pt2 file (torch.export) or .onnx file (needs the onnx extra) to write")
    x.add_argument("--no-ema", action="store_true", help="export G instead of the EMA generator")
    x.add_argument("--batch", type=int, default=0, help="the one batch size it takes (default 0: any)")
    x.add_argument("--opset", type=int, default=0, help="a .onnx file's ONNX operator set, for a runtime that reads "
                   "opsets up to it (default: torch.onnx's)")
    x.set_defaults(func=_cmd_export)

    d = sub.add_parser("data", help="export a dataset split as a uint8 .npy (N, C, H, W)")
    d.add_argument("name", choices=["fashion-mnist", "mnist", "cifar10", "folder"])
    d.add_argument("--out", type=_user_path, required=True, help="the .npy to write")
    d.add_argument("--split", choices=["train", "test"], default="train",
                   help="train (default) or test (held out; image folders have only train)")
    d.add_argument("--root", type=_user_path, default="", help="folder with the dataset's files (default: Debian's, "
                   "then the download cache, as data.root); for 'folder', the images")
    d.add_argument("--mirror", default="", metavar="URL", help="download the dataset's files from this base URL "
                   "instead of the official mirrors (a proxy, a local copy: file:///srv/mirror/)")
    d.add_argument("--num", type=int, default=None, help="first N images (default all)")
    d.add_argument("--resolution", type=int, default=None, help="image side (default: 28, CIFAR-10 32)")
    d.add_argument("--channels", type=int, default=None, help="1 or 3 (default: 1, CIFAR-10 and folders 3)")
    d.set_defaults(func=_cmd_data)

    b = sub.add_parser("bench", help="benchmarks that write JSON")
    # one sub-command each, so that each takes only its own options (an option of another is an error, not
    # ignored) and its PRESET may come after the options, as train's does
    bsub = b.add_subparsers(dest="what", required=True, metavar="{train,compare,evaluate}")
    bt = bsub.add_parser("train", help="images/s, FLOPs per image, MFU, data wait and peak RSS of a preset's step")
    bc = bsub.add_parser("compare", help="a preset's step beside its seed's reference loop, on the same data")
    for one in (bt, bc):
        one.add_argument("preset", metavar="PRESET", help="the preset to measure")
        one.add_argument("--steps", type=int, default=50, help="timed steps after the warm-up (default 50)")
        one.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    bc.add_argument("--rounds", type=int, default=4, help="rounds, in ABBA order (default 4; even balances it)")
    be = bsub.add_parser("evaluate", help="feature throughput and the time of one FID")
    be.add_argument("--num", type=int, default=10000, help="images per FID (default 10,000)")
    be.add_argument("--features", default="fmnist", help="feature extractor: fmnist or inception")
    for one in (bt, bc, be):
        one.add_argument("--json", type=_json_out, metavar="OUT", help="the JSON to write (default: print it only)")
        one.set_defaults(func=_cmd_bench)

    pr = sub.add_parser("presets", help="list the presets")
    pr.set_defaults(func=_cmd_presets)

    r = sub.add_parser("runs", help="the runs in folders: config and what it sets otherwise than its preset, step, "
                                    "time, finished or not, figures")
    r.add_argument("folders", type=_user_path, nargs="*", default=["runs"], metavar="FOLDER",
                   help="a run folder or a folder of runs, searched 4 deep (default: runs)")
    r.add_argument("--json", type=_json_out, metavar="OUT", help="also write the table as JSON, a run per object")
    r.set_defaults(func=_cmd_runs)

    c = sub.add_parser("config", help="print a preset's resolved config as TOML or YAML (a start for your own)")
    c.add_argument("config", type=_user_path, metavar="PRESET|CONFIG_FILE")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, as for train (repeatable)")
    c.add_argument("--format", choices=["toml", "yaml", "json"], default="toml",
                   help="toml (default), yaml or json (as a run's config.json); train reads each, by the file's "
                        "suffix")
    c.set_defaults(func=_cmd_config)
    return p


def _set_hint(extra: list[str], args: argparse.Namespace) -> str:
    """For a config key given as a flag to a command that takes ``--set`` (``train dcgan-fmnist --max-steps 3``,
    ``--batch-size``, ``--lr``, ``--steps`` for ``max_steps``, or as another script names it: PyTorch's DCGAN
    example's ``--imageSize``, PyTorch-GAN's ``--n_epochs``): the ``--set`` to write instead, or what to say of a name
    no one key stands for (``--b1``, ``--n_cpu``); '' for anything else."""
    if not hasattr(args, "set"):
        return ""
    from .config import FOLDER_NAMES, said_of, settings_meant

    for i, token in enumerate(extra):
        if not token.startswith("--"):
            continue
        flag, _, value = token.partition("=")
        name = flag[2:].replace("-", "_")
        keys = settings_meant(name)
        if keys:
            if not value:  # `--max-steps 3`: the value is the next word
                value = extra[i + 1] if i + 1 < len(extra) and not extra[i + 1].startswith("-") else "..."
            others = f" (or {', '.join(keys[1:])})" if len(keys) > 1 else ""
            return f"; settings are config keys, given with --set: --set {keys[0]}={value}{others}"
        said = "" if name in FOLDER_NAMES else said_of(name)  # the run's folder is train's --out: _other_tools_hint
        if said:
            first, _, rest = said.partition(" ")
            if first.istitle() and "'" not in first:  # a clause after '; ': "the device ...", but "Adam's betas ..."
                first = first.lower()
            return f"; {first} {rest}"
    return ""


# flags of MMEngine's tools/train.py and of other training scripts, for what ganforge takes otherwise
# (with '_' for '-', as config.FOLDER_NAMES: --local-rank and --local_rank alike)
CONFIG_FLAGS = ("config", "cfg", "config_file")
LAUNCHER_FLAGS = ("launcher", "gpus", "num_gpus", "ngpu", "nproc", "nproc_per_node", "world_size", "local_rank")
# and of sampling scripts (StyleGAN's generate.py --network, sample.py -n, --num-samples, --truncation-psi)
NUM_FLAGS = ("n", "num_samples", "n_samples", "num_images", "n_images", "samples", "count")
PSI_FLAGS = ("psi", "trunc", "trunc_psi", "truncation_psi")
SOURCE_FLAGS = ("checkpoint", "ckpt", "network", "weights", "model", "load_from", "resume_from")
# and of upscalers (Real-ESRGAN's -s/--outscale), of torch-fidelity (--fid --isc --prc, --input1 --input2) and
# pytorch-fid (--dims, --device), each with what it is called here
SCALE_FLAGS = ("s", "scale", "outscale", "upscale", "upscale_factor", "scale_factor")
METRIC_FLAGS = {"fid": "fid", "kid": "kid", "is": "is", "isc": "is", "pr": "pr", "prc": "pr", "precision": "pr",
                "recall": "pr", "swd": "swd"}
INPUT_FLAGS = ("input", "input1", "input2", "inputs", "reference", "real", "fake", "path", "paths")
DEVICE_FLAGS = ("device", "gpu", "gpus", "gpu_id", "cuda", "cpu")
# and of exporters (torch.onnx's dynamic_axes, YOLO's --dynamic and --half)
DYNAMIC_FLAGS = ("dynamic", "dynamic_axes", "dynamic_batch")
HALF_FLAGS = ("half", "fp16", "float16")


def _command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the command being run (``bench compare``'s own, below ``bench``)."""
    for name in (args.command, getattr(args, "what", None)):
        # argparse keeps a command's subparsers, and each parser's options, in private attributes only
        subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if name is None or not subcommands:
            break
        parser = subcommands[0].choices[name]
    return parser


def _other_tools_hint(extra: list[str], args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """For a flag of another training or sampling script (``--config``, MMEngine's ``--work-dir`` and
    ``--launcher``, ``--local-rank`` from torch.distributed.launch, ``--num-samples``, StyleGAN's ``--network``):
    what ganforge takes instead; '' for any other flag."""
    from .config import FOLDER_NAMES

    # -n and -s too: the short flags of this kind
    # each flag without its dashes, '-' read as '_' (--num-samples and --num_samples alike)
    names = [token.partition("=")[0].lstrip("-").replace("-", "_") for token in extra
             if token.startswith("--") or token in ("-n", "-s")]
    name = names[0] if names else ""
    if name in CONFIG_FLAGS and hasattr(args, "config"):  # `train --config mine.toml`: argparse took the file
        return f"; a config is the first argument, without a flag: ganforge {args.command} {args.config} ..."
    command = _command_parser(parser, args)
    options = {option for action in command._actions for option in action.option_strings}  # the command's own
    if name in NUM_FLAGS and "--num" in options:
        return "; the number of images is --num N"
    if name in SCALE_FLAGS and args.command == "upscale":
        return ("; a run upscales by the sr.scale it was trained at; for another factor, train a run with --set "
                "sr.scale=N")
    if name in METRIC_FLAGS and "--metrics" in options:  # every switch given, in the order given, once each
        named = dict.fromkeys(METRIC_FLAGS.get(n, "") for n in names)
        return f"; the metrics are one option: --metrics {','.join(m for m in named if m)}"
    if name in INPUT_FLAGS and args.command == "evaluate":
        return ("; the images to score are the first argument (a run, checkpoint, .npy or folder), and the reference "
                "is a dataset's split (--dataset NAME, --ref test) or images of your own (--ref FILE.npy or --ref "
                "FOLDER)")
    if name == "dims" and "--features" in options:
        return "; the features are --features NAME: fmnist (128-d) or inception (2048-d pool3)"
    if name in DYNAMIC_FLAGS and args.command == "export":
        return "; the batch is free already (--batch 0, the default), and an SR generator's height and width"
    if name in HALF_FLAGS and args.command == "export":
        return "; the exported generator computes in float32, as the run's G does"
    if name in DEVICE_FLAGS and args.command in ("evaluate", "sample", "upscale"):
        return "; evaluate, sample and upscale compute on the CPU (training's device is train.device)"
    if name == "seeds" and "--seed" in options:  # StyleGAN's --seeds 0-7: one image a seed
        return "; ganforge draws --num N images from one --seed S (image i of a seed is the same for any --num)"
    if name in PSI_FLAGS and "--truncation" in options:  # StyleGAN's psi pulls w toward its mean; no w here
        return "; ganforge truncates the noise z itself: --truncation T draws each z within [-T, T]"
    source = next((a.metavar for a in command._actions if a.dest == "source"), None)
    if name in SOURCE_FLAGS and source:
        return f"; the run folder or checkpoint is the first argument, without a flag: ganforge {args.command} " \
               f"{source} ..."
    if args.command != "train":  # sample's --out is a file, and only training runs under torchrun
        return ""
    if name in FOLDER_NAMES:  # MMEngine's --work-dir, PyTorch's DCGAN example's --outf
        return "; the run's folder (its checkpoints, samples and logs) is given as --out FOLDER"
    if name in LAUNCHER_FLAGS:
        return ("; torchrun starts one process per GPU or CPU share, and each finds its rank itself: torchrun "
                "--nproc_per_node N -m ganforge train ... (docs/distributed.md)")
    return ""


def _flag_hint(extra: list[str], parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """For a misspelt flag (``sample RUN --nmu 4``): '; did you mean '--num'?' among the running command's flags;
    '' when none is close."""
    unknown = next((token.partition("=")[0] for token in extra if token.startswith("--")), None)
    if unknown is None:
        return ""
    parser = _command_parser(parser, args)
    # compared without the dashes, which every flag shares: with them '--lr' was close to '--help'
    names = [flag[2:] for action in parser._actions for flag in action.option_strings if flag.startswith("--")]
    hint = re.sub(r"'([^']*)'", r"'--\1'", did_you_mean(unknown[2:], names)).strip().replace("Did", "did", 1)
    hint = hint.rstrip("?")
    command = " ".join(filter(None, (args.command, getattr(args, "what", None))))
    return f"; {hint} (ganforge {command} --help lists them)?" if hint else ""


class _VersionAction(argparse.Action):
    """``--version``: the versions are looked up only when asked, not at every command's start (reading
    torch's from its package metadata takes about 40 ms)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print ganforge's, torch's and Python's versions and exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(_version())
        parser.exit()


def _version() -> str:
    """ganforge's version with torch's and Python's, for a bug report; read from the installed packages'
    metadata, so that --version does not import torch."""
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        torch_version = "not installed"
    return f"ganforge {__version__} (torch {torch_version}, Python {sys.version.split()[0]})"


def all_parsers(parser: argparse.ArgumentParser):
    """``parser`` and its subcommands' parsers, ``bench``'s own subcommands' included."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from all_parsers(sub)


def _without_required_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``parser`` with every required flag (``sample --out``) made optional; positionals stay required, and
    each usage line still shows the flags it requires."""
    parsers = list(all_parsers(parser))
    for p in parsers:
        p.usage = p.format_usage().removeprefix("usage: ").rstrip("\n")
    for p in parsers:
        for action in p._actions:
            if action.option_strings:
                action.required = False
    return parser


# other tools' flags that argparse would take as an abbreviation of one of ganforge's that means another thing:
# StyleGAN3's --trunc is its psi, which pulls w toward its mean; --truncation draws z within [-T, T]
NOT_ABBREVIATIONS = ("--trunc",)


def _not_abbreviations(argv: list[str]) -> list[str]:
    """The words of ``argv`` that give one of :data:`NOT_ABBREVIATIONS`, with its value, as unrecognized."""
    found = []
    for i, word in enumerate(argv):
        flag, eq, _ = word.partition("=")
        if flag in NOT_ABBREVIATIONS:
            found += [word] + ([argv[i + 1]] if not eq and i + 1 < len(argv) else [])
    return found


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    # unknown arguments first: `sample RUN --ot x.png` (or `--nmu 4` with --out not yet written) said only
    # that --out is required, and named the misspelt flag once that was mended
    args, extra = _without_required_flags(build_parser()).parse_known_args(argv)
    parser = build_parser()
    extra += _not_abbreviations(sys.argv[1:] if argv is None else [str(a) for a in argv])
    if extra:
        # `--set a=1 b=2` is the likely slip: every override needs its own --set
        stray = [a for a in extra if "=" in a and not a.startswith("-")]
        hint = f"; give each override its own --set, e.g. --set {stray[0]}" if stray else ""
        # another script's flags first: --work-dir is answered as a flag (--out FOLDER), not as a config key
        hint = (hint or _other_tools_hint(extra, args, parser) or _set_hint(extra, args)
                or _flag_hint(extra, parser, args))
        parser.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    args = parser.parse_args(argv)  # the same arguments, now with the required flags checked
    warnings.formatwarning = format_warning
    if int(os.environ.get("RANK", "0")) > 0:
        # under torchrun every rank reads the same config and data and would print each warning once per
        # process; rank 0's copy is enough. Errors print on every rank that meets its own (one may fail
        # alone), not on those that only hear of rank 0's (errors.AlreadyReported).
        warnings.simplefilter("ignore")
    # SIGTERM unwinds like Ctrl-C, so an atomic write in progress removes its temp file (the default
    # action would kill the process on the spot and leave it); training sets its own handler
    previous = signal.signal(signal.SIGTERM, _interrupt)
    previous_hook, threading.excepthook = threading.excepthook, _thread_excepthook
    try:
        command = " ".join(filter(None, (args.command, getattr(args, "what", None))))
        # torchrun's WORLD_SIZE, as distributed.from_env reads it; importing that module imports torch, which
        # `presets` need not wait for
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and command not in ("train", "bench train"):
            # each rank would do the whole job on its own, contending for the cores (and bench compare
            # would set two contending processes against the seed's one-process loop)
            raise GanforgeError(f"ganforge {command} runs in one process; run it without torchrun (train and "
                                "bench train are the commands torchrun spreads over processes).")
        for flag in ("out", "json"):  # '' is the current folder to Path, which nobody means by it
            if getattr(args, flag, None) == "":
                raise GanforgeError(f"--{flag} is empty; give a path.")
        if getattr(args, "json", None):  # bench and evaluate write it last, after minutes of work
            from .files import check_output_file

            check_output_file(Path(args.json))
        with command_line(sys.argv[1:] if argv is None else argv):
            code = args.func(args)
        sys.stdout.flush()  # here, so that a reader gone by now is handled below, not at the interpreter's exit
        return code
    except BrokenPipeError:
        # stdout's reader left early (`ganforge presets | head -3`): it has what it wanted. Point stdout at
        # /dev/null so the interpreter's last flush cannot fail again (Python's docs, signal, "Note on
        # SIGPIPE"), and exit as a tool killed by SIGPIPE would. ganforge writes to no other pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + getattr(signal, "SIGPIPE", 13)
    except GanforgeError as e:
        if not isinstance(e, AlreadyReported):
            say_error(str(e))
        return 2
    except OSError as e:  # a write the system refused outside files.write_atomic (a log line, the lock file)
        from .files import REFUSED_WRITE_ERRNOS, refused_reason

        if e.errno not in REFUSED_WRITE_ERRNOS:  # a full disk is the machine's state, not a bug
            raise
        reason = refused_reason(e)
        where = f" (writing '{e.filename}')" if e.filename else ""
        say_error(f"{reason}{where}. Free some space and run the command again; a training run continues from its "
                  "last checkpoint with --resume.")
        return 2
    except (RuntimeError, MemoryError) as e:
        from .memory import failed_allocation, is_out_of_memory
        from .training.run import compiler_missing

        if why := compiler_missing(e):  # bench train's compiled steps (train says it with its run's state)
            say_error(why)
            return 2
        if not is_out_of_memory(e):
            raise
        # training says which setting and keeps the run (training.run); this is the other commands' way out
        command = " ".join(filter(None, (args.command, getattr(args, "what", None))))
        say_error(f"ganforge {command} ran out of memory ({failed_allocation(e)}). "
                  f"{LESS_AT_ONCE.get(command, 'Free some memory (another process?) and run it again.')}")
        return 2
    except KeyboardInterrupt as e:  # training handles its own signals (it saves a checkpoint); this is the rest
        said = getattr(e, "said", "")  # errors.Interrupted: a folder written in part
        print(f"ganforge: interrupted: {said}" if said else
              "ganforge: interrupted. Outputs are written whole or not at all, so no file is left half-written.",
              file=sys.stderr)
        return 128 + (e.args[0] if e.args else signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, previous)
        threading.excepthook = previous_hook


# how each command that may run out of memory asks for less at once
LESS_AT_ONCE = {
    "train": "Lower train.batch_size (or data.resolution, for a large image folder).",
    "upscale": "Upscale in tiles: --tile 128 or smaller bounds the network's memory (--tile 0 takes whole images).",
    "evaluate": "Score fewer images: a smaller --num.",
    "sample": "Ask for fewer images: a smaller --num.",
    "bench train": "Lower the batch: --set train.batch_size=...",
    "bench compare": "Lower the batch: --set train.batch_size=...",
}


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    """Quiet a refused write in a background thread (TensorBoard's event writer): the writer raises
    it again in the main thread at its next write or close, and main() reports it in one line."""
    from .files import REFUSED_WRITE_ERRNOS

    if not (isinstance(args.exc_value, OSError) and args.exc_value.errno in REFUSED_WRITE_ERRNOS):
        threading.__excepthook__(args)


def _interrupt(signum: int, frame) -> None:
    """SIGTERM handler: raise as Ctrl-C would, carrying the signal number for the exit code."""
    raise KeyboardInterrupt(signum)


if __name__ == "__main__":
    sys.exit(main())
