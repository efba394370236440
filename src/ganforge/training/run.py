"""``ganforge train``: resolve the config, prepare the run folder, resume, train."""
from __future__ import annotations

import contextlib
import json
import shutil
import signal
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Callable

from ..config import (DATA_SOURCE_KEYS, Config, apply_overrides, config_from_dict, config_naming_source, flat_values,
                      load_config, preset_names, read_source, with_absolute_paths)
from .. import distributed as dist, schedules
from ..data.batches import epochs_at
from ..errors import AlreadyReported, GanforgeError, did_you_mean_path, say_error
from ..files import remove_left_temp_files, write_json
from ..memory import failed_allocation, is_out_of_memory
from ..nets import build_networks, count_parameters
from ..plugins import check_run_components, load_plugins, with_absolute_plugins
from ..provenance import differences, record_session, record_session_end
from ..run_folder import is_ganforge_run
from ..validation import validate
from ..wording import say, train_call
from . import checkpoint as ckpt
from .lock import RunLock

DESCRIPTION_KEYS = ("name", "description", "notes")  # what a config says of itself, not how it trains
RUN_FILES = ("config.json", "metrics.jsonl", "sessions.jsonl", "checkpoints", "samples", "tb")
# what the other ranks say where rank 0 stopped on something other than bad input (and printed a traceback)
RANK_ZERO_FAILED = "rank 0 stopped before training started; its error says why."


def config_for_resume(payload: dict, preset_or_file: str, overrides: list[str], run_dir: Path) -> Config:
    """The checkpoint's config with new ``--set`` overrides (bounds, logging) on top."""
    stored = json.loads(payload["config"])
    is_preset = preset_or_file in preset_names()
    if is_preset and preset_or_file != stored.get("name"):
        # its own preset, or (a run of a config file) its config.json, which a resume takes as well
        own = stored.get("name") if stored.get("name") in preset_names() else run_dir / "config.json"
        raise GanforgeError(
            f"the run folder holds a '{stored.get('name')}' run, not '{preset_or_file}'; resume it with its own "
            f"config: {train_call(own, run_dir, resume=True)}, or pick another --out folder."
        )
    # a plugin given with --set (a network a notebook registered, now in a file) is named by path from here on,
    # and so is a data folder given with --set (or stored as given, by a run older than that)
    values = with_absolute_paths(with_absolute_plugins(apply_overrides(stored, overrides), run_dir=run_dir))
    cfg = config_naming_source(values, overrides, f"the config stored in the checkpoint of '{run_dir}'")
    load_plugins(cfg.plugins, run_dir=run_dir)
    check_run_components(cfg, run_dir)
    validate(cfg)
    if not is_preset:
        _warn_file_not_used(preset_or_file, overrides, cfg)
    return cfg


def _warn_file_not_used(config_file: str, overrides: list[str], cfg: Config) -> None:
    """--resume continues the run's stored config, so a config file given with it is not read for its
    values: say which of them differ (an edited file, or another run's), where it was silently ignored."""
    given = flat_values(load_config(config_file, overrides).to_dict())
    resumed = flat_values(cfg.to_dict())
    written = flat_values(read_source(config_file)[0])  # the keys the file sets itself are named first
    keys = sorted(given, key=lambda k: (k not in written, k))
    differ = [f"{k}={given[k]!r} (the run: {resumed.get(k)!r})" for k in keys
              if given[k] != resumed.get(k) and k not in DESCRIPTION_KEYS]
    if differ:
        warnings.warn(f"{say('--resume', 'resume=True')} continues the run's own config, stored in its checkpoint; "
                      f"'{config_file}' differs "
                      f"in {', '.join(differ[:4])}{f' and {len(differ) - 4} more' if len(differ) > 4 else ''}, and "
                      f"those values are not used. Give a change that a resume allows with {say('--set', 'overrides')}"
                      f" (bounds, logging, batch size), or train the file in a new {say('--out', 'out folder')}.")


def remove_run_files(run_dir: Path) -> None:
    """Delete what a run wrote to its folder (``RUN_FILES``), leaving anything else the user keeps there."""
    for path in (run_dir / name for name in RUN_FILES):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def out_named(run_dir: Path, given: bool) -> str:
    """The run folder as messages name it: by the flag that set it, or, where none was given, as the default the
    user did not type (``ganforge train dcgan-fmnist`` run twice was told its "--out" already held a run)."""
    out = say("--out", "out")
    return f"{out} '{run_dir}'" if given else f"'{run_dir}' (the run folder when no {out} is given)"


def prepare_run_dir(run_dir: Path, resume: bool, force: bool, cfg: Config, named: str) -> None:
    """Refuse to mix two runs in one folder unless --resume or --force (the folder exists and is locked),
    to replace files that are not a ganforge run's, and to write a run inside a folder of training images.
    ``named``: the folder as messages name it (:func:`out_named`)."""
    _refuse_run_inside_images(run_dir, cfg)
    _refuse_run_inside_a_runs_files(run_dir)
    existing = [name for name in RUN_FILES if (run_dir / name).exists()]
    if existing and not resume:
        if not is_ganforge_run(run_dir):
            # another tool's checkpoints/ or samples/ (a tutorial loop writes both): --force must not delete them
            why = "its config.json is not ganforge's" if "config.json" in existing else "it has no config.json"
            raise GanforgeError(
                f"--out '{run_dir}' holds {', '.join(existing)}, but not a ganforge run ({why}), so ganforge will "
                "neither write into them nor delete them, even with --force. Choose another --out."
            )
        if not force:
            raise GanforgeError(
                f"{named} already holds a run ({', '.join(existing)}). "
                + say("Add --resume to continue it, --force to replace it, or choose another --out.",
                      "Pass resume=True to continue it, force=True to replace it, or choose another out.")
            )
        remove_run_files(run_dir)
    # this process holds the run's lock, so a temp file of the run's own files is one that a killed process left
    remove_left_temp_files(run_dir, lambda name: name in RUN_FILES)  # (not evaluate.json: evaluate may be writing)
    for folder in ("checkpoints", "samples"):
        remove_left_temp_files(run_dir / folder, lambda name: True)
    try:
        tempfile.NamedTemporaryFile(dir=run_dir, prefix=".write-test-").close()
    except OSError as e:
        raise GanforgeError(f"cannot write to {named}: {e.strerror}. Pick a writable folder.") from None


def _refuse_run_inside_images(run_dir: Path, cfg: Config) -> None:
    """A run folder in or equal to a folder of training images: its sample grids (PNGs) would be read
    as training images by the next run or resume, since image folders are read with their subfolders."""
    roots = {"data.root": cfg.data.root if cfg.data.name == "folder" else "", "sr.lr_root": cfg.sr.lr_root,
             "sr.val_root": cfg.sr.val_root, "sr.val_lr_root": cfg.sr.val_lr_root}
    here = run_dir.resolve()
    for key, root in roots.items():
        folder = Path(root).expanduser().resolve()  # as the loaders read it: data.root=~/faces is the home's
        if root and (here == folder or folder in here.parents):
            where = key if here == folder else f"inside {key}"
            raise GanforgeError(f"--out '{run_dir}' is {where} '{root}': the run's sample grids would be read "
                                "as images of that folder next time. Choose an --out outside it.")


def _refuse_run_inside_a_runs_files(run_dir: Path) -> None:
    """A run folder in or under another run's checkpoints/, samples/ or tb/: that run writes there, its
    timelapse reads the grids there, and ``--force`` on it deletes them, the run inside with them. A run
    beside those (RUN/finetune) is fine: ``ganforge runs`` lists it, and ``--force`` leaves it."""
    here, cwd = run_dir.resolve(), Path.cwd()

    def shown(path: Path) -> Path:  # relative where --out is, as users write it
        return path.relative_to(cwd) if path.is_relative_to(cwd) else path

    for folder in (here, *here.parents):
        if folder.name in RUN_FILES and is_ganforge_run(run := folder.parent):
            out = say("--out", "out")
            raise GanforgeError(f"{out} '{run_dir}' is inside the {folder.name}/ folder of the run '{shown(run)}', "
                                f"which that run writes and deletes with {say('--force', 'force=True')}. Choose a "
                                f"folder outside it, such as '{shown(run.parent / run_dir.name)}' (a run already "
                                f"there moves out with mv, and {say('--resume', 'resume=True')} continues it in its "
                                "new place).")


def describe(cfg: Config) -> str:
    """Resolved config as JSON plus the parameter counts of G and D (``--dry-run``)."""
    G, D = build_networks(cfg)
    d_params = f"{count_parameters(D):,} parameters" if D is not None else "none (pixel losses only)"
    d_lr = f"; learning rate {schedules.describe(cfg.optim_d, cfg.train)}" if D is not None else ""
    return (json.dumps(cfg.to_dict(), indent=2) + "\n"
            f"G '{cfg.model.generator.name}': {count_parameters(G):,} parameters; learning rate "
            f"{schedules.describe(cfg.optim_g, cfg.train)}\n"
            f"D '{cfg.model.discriminator.name}': {d_params}{d_lr}")


def train(preset_or_file: str, out: str | None, overrides: list[str], resume: bool = False,
          force: bool = False, dry_run: bool = False) -> int:
    """Run ``ganforge train``; returns the process exit code."""
    run_dir = Path(out or Path("runs") / Path(preset_or_file).stem)
    if run_dir.exists() and not run_dir.is_dir():
        raise GanforgeError(f"--out '{run_dir}' exists and is not a folder.")
    env = dist.from_env()
    named = out_named(run_dir, out is not None)  # how messages name the folder: by --out, or as its default
    if dry_run:
        if env.is_main:
            print(describe(resolve(run_dir, preset_or_file, overrides, resume)[0]))
        return 0
    if not env.enabled:
        with RunLock(run_dir, named):
            cfg, payload = resolve(run_dir, preset_or_file, overrides, resume)
            prepare_run_dir(run_dir, resume, force, cfg, named)
            return _train_locked(cfg, payload, run_dir, preset_or_file)
    # torchrun: every rank validates the config (same input, same error), then joins the group
    # on the device the config names; rank 0 alone locks and prepares the folder and resolves
    # the checkpoint, and sends the result (or its error) to the others.
    from .loop import pick_device

    cfg = load_config_on_each_rank(preset_or_file, overrides, env)
    dist.init(env, pick_device(cfg.train.device, env))
    finished = False
    try:
        with RunLock(run_dir, named) if env.is_main else contextlib.nullcontext():
            outcome: tuple | str = RANK_ZERO_FAILED
            try:
                if env.is_main:
                    cfg, payload = resolve(run_dir, preset_or_file, overrides, resume)
                    prepare_run_dir(run_dir, resume, force, cfg, named)
                    outcome = (cfg.to_dict(), payload)
            except GanforgeError as e:
                outcome = str(e)
                raise
            finally:
                outcome = dist.broadcast_object(outcome, env)
            if isinstance(outcome, str):  # rank 0 printed its own error; this rank need not again
                raise GanforgeError(outcome) if outcome == RANK_ZERO_FAILED else AlreadyReported(outcome)
            cfg, payload = config_from_dict(outcome[0]), outcome[1]
            load_plugins(cfg.plugins, run_dir=run_dir)
            code = _train_locked(cfg, payload, run_dir, preset_or_file, env)
            finished = True
            return code
    finally:
        dist.shutdown(wait_for_others=finished)


def load_config_on_each_rank(preset_or_file: str, overrides: list[str], env: dist.DistEnv) -> Config:
    """:func:`load_config` in each torchrun process; a bad config is said by each machine's first process
    alone, since the others read the same files (:class:`AlreadyReported`)."""
    try:
        return load_config(preset_or_file, overrides)
    except GanforgeError as e:
        if env.local_rank == 0:
            raise
        raise AlreadyReported(str(e)) from None


def resolve(run_dir: Path, preset_or_file: str, overrides: list[str], resume: bool) -> tuple[Config, dict | None]:
    """The config to train and, when resuming, the checkpoint to start from."""
    found = ckpt.load_latest(run_dir / "checkpoints") if resume and (run_dir / "checkpoints").is_dir() else None
    if found is None:
        cfg = load_config(preset_or_file, overrides)  # first: a bad config is the one thing said, not a new run
        if resume:
            # a folder made just now (it holds only the lock) may be a typo for the run meant to continue
            new = not run_dir.is_dir() or [p.name for p in run_dir.iterdir()] == [".lock"]  # --dry-run: none
            print(f"ganforge: no checkpoint in '{run_dir}' yet; starting a new run there."
                  f"{did_you_mean_path(run_dir) if new else ''}", file=sys.stderr)
        return cfg, None
    payload, path, skipped = found
    for note in skipped:
        print(f"ganforge: warning: {note}", file=sys.stderr)
    if skipped:
        print(f"ganforge: resuming from the newest good checkpoint, {path} (step {payload['state']['step']}).",
              file=sys.stderr)
    return config_for_resume(payload, preset_or_file, overrides, run_dir), payload


def _changes(payload: dict, cfg: Config, picked: Callable[[str], bool]) -> list[str]:
    """The keys ``picked`` takes that ``cfg`` gives another value than the checkpoint's config, each as
    ``"k (old in the run, now new)"``."""
    stored = json.loads(payload["config"])
    try:  # with this version's defaults for keys an older one did not write, which no --set changed
        stored = config_from_dict(stored).to_dict()
    except GanforgeError:  # a network's options the plugin no longer has: the stored values as they are
        pass
    old, new = flat_values(stored), flat_values(cfg.to_dict())
    return [f"{k} ({old.get(k)!r} in the run, now {new.get(k)!r})" for k in sorted(old.keys() | new.keys())
            if picked(k) and old.get(k) != new.get(k)]


def _misfit(run_dir: Path, cfg: Config, payload: dict, error: RuntimeError) -> str:
    """Why a resumed checkpoint's weights do not load: the model/data keys that --set changed, or the code did."""
    changed = _changes(payload, cfg, lambda k: k.startswith(("model.", "data.")))
    detail = ckpt.misfit_detail(error)
    if changed:
        return (f"the checkpoint in '{run_dir}' does not fit this network, because "
                f"{say('--set', 'overrides')} changed {', '.join(changed)}. "
                + say("--resume continues the run's own network; drop that --set, or train a new run with another "
                      "--out.", "resume=True continues the run's own network; drop that override, or train a new "
                      "run in another out folder.") + f" (torch: {detail})")
    return (f"the checkpoint in '{run_dir}' does not fit this network ({detail}). Its config is unchanged, "
            "so the network's code changed since the checkpoint was written (a plugin?); restore that code, "
            "or train a new run with another --out.")


def reached_at_checkpoint(cfg: Config, payload: dict) -> list[str]:
    """The bounds a checkpoint's run has already reached under ``cfg`` (none: []), read without loading any data."""
    position = payload.get("data", {})
    known = {"epoch", "start", "images"} <= position.keys()  # checkpoints before 2026-11-24 did not count images
    epochs = epochs_at(position, cfg.train.batch_size) if known else None
    return cfg.train.reached_all(payload["state"]["step"], payload["state"]["seconds"], epochs)


def _check_fit(run_dir: Path, cfg: Config, payload: dict) -> None:
    """Refuse a checkpoint whose weights do not fit the config's networks, as a resume that trains would."""
    for net, key in zip(build_networks(cfg), ("G", "D")):
        try:
            if net is not None:
                net.load_state_dict(payload[key])
        except RuntimeError as e:
            raise GanforgeError(_misfit(run_dir, cfg, payload, e)) from None


BOUND_KEYS = ("train.max_steps", "train.max_seconds", "train.max_epochs")  # a resume raises them to train on


def changes_training(key: str) -> bool:
    """A config key whose value changes how a run trains (a resume's next steps, or one run of a sweep against
    another; ``ganforge runs`` shows them): not a bound, logging, evaluation, the health monitor or the run's
    description, nor where the data is fetched from."""
    return not (key.startswith(("log.", "eval.", "health.")) or key in (*DESCRIPTION_KEYS, *BOUND_KEYS,
                                                                          *DATA_SOURCE_KEYS))


def compiler_missing(error: BaseException) -> str:
    """The message for torch.compile's failure to find a C++ compiler (inductor builds the CPU's kernels with
    one; a laptop without build tools has none), '' for any other error. Inductor wraps its InvalidCxxCompiler
    in an InductorError, so the chain of causes is searched, and the text where it was flattened into one."""
    seen: BaseException | None = error
    while seen is not None and type(seen).__name__ != "InvalidCxxCompiler" and "InvalidCxxCompiler" not in str(seen):
        seen = seen.__cause__ or seen.__context__
    if seen is None:
        return ""
    found = str(seen).split("InvalidCxxCompiler: ")[-1].splitlines()[0] if str(seen) else "no compiler found"
    return (f"train.compile=true: torch.compile builds its CPU kernels with a C++ compiler, and none works here "
            f"(torch: {found}). Install one (Debian, Ubuntu: apt-get install g++; macOS: xcode-select --install; "
            f"or point the CXX environment variable at one), or train without it: "
            f"{say('--set train.compile=false', 'train.compile=False in the overrides')}.")


def _out_of_memory(cfg: Config, step: int, error: BaseException, preset_or_file: str, run_dir: Path,
                   kept: bool) -> str:
    """Training ran out of memory: the batch of a step holds most of it, so name train.batch_size, and the
    gradient accumulation that keeps the images per update with half of it. ``kept``: the run has a checkpoint."""
    batch, accumulate = cfg.train.batch_size, cfg.objective.accumulate
    said = (f"step {step + 1} ran out of memory ({failed_allocation(error)}): its batch of train.batch_size={batch} "
            "images needs more than this machine has room for with these networks. Lower train.batch_size")
    if batch >= 2:
        said += (f", or keep {batch * accumulate} images per update with train.batch_size={batch // 2} and "
                 f"objective.accumulate={2 * accumulate} (gradients summed over {2 * accumulate} smaller batches)")
    if kept:  # the command last, with no full stop to copy with it
        return (f"{said}. The run is kept at its last checkpoint; continue it with the smaller batch: "
                f"{train_call(preset_or_file, run_dir, 'train.batch_size', resume=True)}")
    if step:  # a new run (step 0 leaves no files) that failed before its first checkpoint
        said += (f". It saved no checkpoint yet; start it again with the smaller batch and "
                 f"{say('--force', 'force=True')}")
    return said + "."


def _nothing_to_train(run_dir: Path, preset_or_file: str, bounds: list[str], env: dist.DistEnv) -> int:
    if env.is_main:  # every bound reached, so that raising the one named does not stop at the next
        keys = [bound.split("=", 1)[0] for bound in bounds]
        print(f"ganforge: the run in '{run_dir}' already reached {' and '.join(bounds)}; nothing to train. "
              f"To train on, raise {'them' if len(bounds) > 1 else 'it'}: "
              f"{train_call(preset_or_file, run_dir, *keys, resume=True)}", file=sys.stderr)
    return 0


def _train_locked(cfg: Config, payload: dict | None, run_dir: Path, preset_or_file: str,
                  env: dist.DistEnv = dist.DistEnv()) -> int:
    from .loop import Trainer

    where = run_dir / "checkpoints" / "last.pt"

    # resuming a finished run with its bounds unchanged: said from the checkpoint and the networks
    # alone, before the data is loaded (seconds for Fashion-MNIST, minutes for a large SR folder)
    if payload is not None and (bounds := reached_at_checkpoint(cfg, payload)):
        _check_fit(run_dir, cfg, payload)  # a --set that changed the network is still named
        return _nothing_to_train(run_dir, preset_or_file, bounds, env)
    try:
        trainer = Trainer(cfg, run_dir, payload, env)
    except RuntimeError as e:
        if payload is not None and "state_dict" in str(e):
            raise GanforgeError(_misfit(run_dir, cfg, payload, e)) from None
        raise
    if payload is not None and (bound := trainer.reached_bound()):  # epochs of a checkpoint that did not count images
        return _nothing_to_train(run_dir, preset_or_file, [bound], env)
    # only once the data and networks are built: a run that cannot start leaves its folder
    # empty, so fixing the --set and running again needs no --force
    if env.is_main:
        write_json(cfg.to_dict(), run_dir / "config.json")
        record_session(run_dir, trainer.state.step, trainer.environment)
        if payload is not None and (changed := differences(payload.get("environment"), trainer.environment)):
            # the same code rounds otherwise on another torch or ISA: a resume there is no longer exact
            print(f"ganforge: step {trainer.state.step}'s checkpoint was written with another setup "
                  f"({', '.join(changed)}); training goes on, but no longer bit for bit as one uninterrupted "
                  "run would.", file=sys.stderr)
        if payload is not None and (changed := _changes(payload, cfg, changes_training)):
            # allowed (a larger batch, another loss), but the steps before trained otherwise: said, as the setup is
            step = trainer.state.step
            print(f"ganforge: this resume changes {', '.join(changed)}; the steps from {step + 1} on train with the "
                  f"new values, the first {step} did not (config.json now holds them).", file=sys.stderr)
        tr = cfg.train
        if not (tr.max_steps or tr.max_seconds or tr.max_epochs):  # allowed, but say so: it will not stop by itself
            print("ganforge: train.max_steps, max_seconds and max_epochs are all 0, so this run has no end; "
                  "Ctrl-C or SIGTERM saves a checkpoint and stops it.", file=sys.stderr)
    try:
        state = trainer.fit()
    except KeyboardInterrupt:  # a second Ctrl-C (Trainer._on_signal): the user chose not to wait for the save
        if env.is_main:
            record_session_end(run_dir, trainer.state.step, "interrupted", "a second Ctrl-C, before the save")
            print(f"ganforge: stopped at step {trainer.state.step} without saving it; "
                  f"{say('--resume', 'resume=True')} continues from the last checkpoint.", file=sys.stderr)
        raise
    except Exception as error:
        # a new run that failed before its first step (a plugin objective's bad return, or any exception
        # in a plugin's code) trained nothing: leave the folder as it found it, so fixing the code and
        # running again needs no --force
        if payload is None and trainer.state.step == 0 and env.is_main:
            remove_run_files(run_dir)
        elif env.is_main:
            first_line = (str(error).splitlines() or [""])[0][:300]
            record_session_end(run_dir, trainer.state.step, "error", f"{type(error).__name__}: {first_line}")
        if trainer.saved_after_error is not None:  # a hook failed after a finished step, which was saved
            note = (f"Step {trainer.saved_after_error} was saved to {where} first; "
                    f"once that is fixed, continue with: {train_call(preset_or_file, run_dir, resume=True)}")
            if isinstance(error, GanforgeError):
                raise GanforgeError(f"{str(error).rstrip('.')}. {note}") from None
            print(f"ganforge: {note}", file=sys.stderr)  # above the traceback, which shows the bug
        # a setting too large for this machine, or a tool it lacks, not a bug: say which, and the way on
        kept = where.exists()
        if is_out_of_memory(error):
            raise GanforgeError(_out_of_memory(cfg, trainer.state.step, error, preset_or_file, run_dir, kept)) from None
        if why := compiler_missing(error):
            resume = f" The run is kept at its last checkpoint; {say('--resume', 'resume=True')} continues it."
            raise GanforgeError(why + (resume if kept else "")) from None
        raise
    if not env.is_main:  # rank 0 speaks for the job
        return 1 if trainer.abort is not None else (128 + trainer.stop_signal if trainer.stop_signal else 0)
    if trainer.abort is not None:
        record_session_end(run_dir, state.step, "stopped", trainer.abort.split(";")[0])
        say_error(trainer.abort)
        return 1
    if trainer.stop_signal is not None:
        name = signal.Signals(trainer.stop_signal).name
        record_session_end(run_dir, state.step, "signal", name)
        print(f"ganforge: {name} received; saved step {state.step} to {where}. "
              f"Continue with: {train_call(preset_or_file, run_dir, resume=True)}", file=sys.stderr)
        return 128 + trainer.stop_signal
    # which bound ended it: a preset's own (hw6's max_epochs=1) may come before the one given with --set
    bound = (trainer.reached_bound() or "").split(" (")[0]
    record_session_end(run_dir, state.step, "finished", bound)
    print(f"ganforge: finished at step {state.step} ({state.images_seen} images, {state.seconds:.0f} s"
          f"{f'; {bound} reached' if bound else ''}). Samples: {run_dir / 'samples'}  Checkpoint: {where}")
    return 0
