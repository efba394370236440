"""The ``ganforge`` command: train | sample | presets | config.

Exit codes: 0 success; 2 bad input (a one-line message, no traceback); 1 a bug.
"""
from __future__ import annotations

import argparse
import sys
import warnings

from .errors import GanforgeError


def _cmd_train(args: argparse.Namespace) -> int:
    from .training.run import train

    return train(args.config, args.out, args.set, resume=args.resume, force=args.force, dry_run=args.dry_run)


def _cmd_sample(args: argparse.Namespace) -> int:
    from .sampling import sample

    out = sample(args.source, args.num, args.out, seed=args.seed, use_ema=not args.no_ema,
                 truncation=args.truncation)
    print(f"ganforge: wrote {args.num} samples to {out}")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    from .config import load_config, preset_names

    for name in preset_names():
        print(f"{name:22s} {load_config(name).description}")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    import tomli_w

    from .config import load_config

    print(tomli_w.dumps(load_config(args.config, args.set).to_dict()), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the docs)."""
    p = argparse.ArgumentParser(prog="ganforge", description="Train, sample and evaluate GANs.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a preset or a TOML config")
    t.add_argument("config", metavar="PRESET|CONFIG_FILE")
    t.add_argument("--out", metavar="RUN_DIR", help="run folder (default runs/NAME)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. train.max_steps=500 (repeatable)")
    t.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoints/last.pt")
    t.add_argument("--force", action="store_true", help="replace a run already in RUN_DIR")
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and parameter counts")
    t.set_defaults(func=_cmd_train)

    s = sub.add_parser("sample", help="generate images from a run or checkpoint")
    s.add_argument("source", metavar="RUN_DIR|CHECKPOINT")
    s.add_argument("--num", type=int, default=64)
    s.add_argument("--out", required=True, help=".npy (uint8 N,C,H,W), .png (grid) or a folder")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--no-ema", action="store_true", help="use G instead of the EMA generator")
    s.add_argument("--truncation", type=float, default=None, metavar="T", help="truncate z to [-T, T]")
    s.set_defaults(func=_cmd_sample)

    pr = sub.add_parser("presets", help="list the presets")
    pr.set_defaults(func=_cmd_presets)

    c = sub.add_parser("config", help="print a preset's resolved config as TOML (a starting point for your own)")
    c.add_argument("config", metavar="PRESET|CONFIG_FILE")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    c.set_defaults(func=_cmd_config)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    warnings.formatwarning = lambda msg, cat, *a, **k: f"ganforge: warning: {msg}\n"
    try:
        return args.func(args)
    except GanforgeError as e:
        print(f"ganforge: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
