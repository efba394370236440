"""A user's plugins: the modules or ``.py`` files a config's ``plugins`` list names, imported so that
their ``@register`` decorators add networks, losses and objectives to the registries."""
from __future__ import annotations

import importlib
import importlib.util
import os
import shlex
import sys
from pathlib import Path

from .errors import GanforgeError, did_you_mean_path, raised_at
from .wording import set_flag


def _plugin_candidates(plugin: str, base: Path | None, run_dir: Path | None = None) -> list[Path]:
    """Where a ``.py`` plugin may be: the working directory, then the config file's folder, then a file of its
    name in that folder or (for a trained run) in the run folder, where a user who moves a run puts its code
    (a run's config.json names its plugins by absolute path, and may be given as the config to resume).
    ``~`` and environment variables in it are expanded, as in the data's paths."""
    plugin = os.path.expanduser(os.path.expandvars(plugin))
    name = Path(plugin).name
    # dict.fromkeys: an absolute path is the same file from either folder; list it once
    return list(dict.fromkeys([Path(plugin)] + ([base / plugin, base / name] if base else [])
                              + ([run_dir / name] if run_dir else [])))


def plugin_file(plugin: str, base: Path | None, run_dir: Path | None = None) -> Path | None:
    """The ``.py`` file a plugin names, or None (not found, or a module name)."""
    if not plugin.endswith(".py"):
        return None
    return next((p for p in _plugin_candidates(plugin, base, run_dir) if p.is_file()), None)


def with_absolute_plugins(values: dict, base: Path | None = None, run_dir: Path | None = None) -> dict:
    """``values`` (a config's dict) with each ``.py`` plugin that is found named by its absolute path, so that
    ``ganforge sample RUN`` finds it from any working directory: a path given with --set is relative to the
    working directory, one in a config file also to the file's folder (``base``)."""
    if isinstance(values.get("plugins"), list):
        values["plugins"] = [str(found.absolute()) if isinstance(p, str) and (found := plugin_file(p, base, run_dir))
                             else p for p in values["plugins"]]
    return values


# when each .py plugin this process imported was last changed (its mtime then, in ns)
_edited: dict[Path, int] = {}


def _import_again_if_edited(module, path: Path) -> None:
    """Run a plugin file again if it changed since this process imported it: a notebook that edits its network's
    file and trains again trained the old code, without a word. Its classes register again, replacing the old."""
    mtime = path.stat().st_mtime_ns
    if _edited.setdefault(path, mtime) != mtime and getattr(module, "__spec__", None) is not None:
        module.__spec__.loader.exec_module(module)
        _edited[path] = mtime


def _imported_from(path: Path):
    """The module this process imported from the file ``path`` (resolved), under any name; None if none."""
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and Path(file).name == path.name and Path(file).resolve() == path:
            return module
    return None


# the OpenMMLab packages the seeds' registries come from (MMEngine's MODELS, MMagic's, their predecessors')
OPENMMLAB = ("mmengine", "mmagic", "mmcv", "mmedit", "mmgen")


def load_plugins(plugins: tuple[str, ...], base: Path | None = None, run_dir: Path | None = None) -> None:
    """Import a user's modules so their ``@register`` decorators run.

    Each plugin is a module path (``my_pkg.nets``) or a ``.py`` file, relative
    to the config file's folder or the working directory. A trained run's plugins
    (``run_dir`` given) are also looked for by file name in its folder, so a run moved
    to another machine is sampled with its plugin copied beside it.
    """
    files: dict[str, Path] = {}  # module name -> the file it was imported from, in this list
    for plugin in plugins:
        if not plugin.strip():
            raise GanforgeError("config key 'plugins' holds an empty name; give a .py file or a module name such "
                                "as my_pkg.nets.")
        try:
            if plugin.endswith(".py"):
                path = plugin_file(plugin, base, run_dir)
                if path is None:
                    candidates = _plugin_candidates(plugin, base, run_dir)
                    looked = ", ".join(map(str, candidates))
                    fix = (f" The run in '{run_dir}' was trained with it: put it back, or copy it into that folder."
                           if run_dir else next(filter(None, map(did_you_mean_path, candidates)), ""))  # a typo
                    raise GanforgeError(f"plugin file '{plugin}' not found (looked in {looked}).{fix}")
                # one module per file name, so a notebook that loads a config twice imports its plugin once;
                # two files of one name in one list would be one module, the second never imported
                name, resolved = f"ganforge_plugin_{path.stem}", path.resolve()
                if files.setdefault(name, resolved) != resolved:
                    raise GanforgeError(f"plugins '{files[name]}' and '{path}' have the same file name, and only the "
                                        "first would be imported; rename one of them.")
                # this file imported already, as a plugin or under its own name (`import nets` in a notebook, then
                # plugins = ["nets.py"]): running it again would register its classes a second time. Another file
                # of that name an earlier config named (a notebook's) is replaced by this one below.
                if (module := _imported_from(resolved)) is not None:
                    sys.modules[name] = module
                    _import_again_if_edited(module, resolved)
                    continue
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[name]  # half-imported: a second load_plugins (a notebook) must retry it
                    raise
                _edited[resolved] = resolved.stat().st_mtime_ns
            elif "/" in plugin or "\\" in plugin:  # a path, but import_module would say "No module named '/a/b'"
                raise GanforgeError(f"plugin '{plugin}' is a path but not a .py file; give a .py file or a module "
                                    "name such as my_pkg.nets.")
            else:
                if base and str(base) not in sys.path:
                    sys.path.append(str(base))
                importlib.import_module(plugin)
        except ModuleNotFoundError as e:
            if e.name and e.name.split(".")[0] in OPENMMLAB and not plugin.startswith(e.name):
                # seed 004's `from mmagic.registry import MODELS`: ganforge's registries are what it reaches for
                raise GanforgeError(f"plugin '{plugin}' imports '{e.name}', which ganforge does not use "
                                    f"({raised_at(e)}): its registries stand in for MMEngine's and MMagic's. Write "
                                    "`from ganforge.registry import GENERATORS` and `@GENERATORS.register(\"my-g\")` "
                                    "where the seed writes `@MODELS.register_module()` (DISCRIMINATORS and LOSSES "
                                    "alike; examples/custom_model.py).") from None
            if e.name and not (plugin == e.name or plugin.startswith(e.name + ".")):
                # the plugin was found; a module it imports is missing
                raise GanforgeError(f"plugin '{plugin}' imports '{e.name}', which is not installed "
                                    f"({raised_at(e)}). Install the package that provides it.") from None
            as_path = plugin.replace(".", "/") + ".py"  # `nets` for ./nets.py
            as_file = plugin_file(as_path, base, run_dir)
            if as_file is not None:
                raise GanforgeError(f"plugin '{plugin}' could not be imported: {e}, but there is a file '{as_file}': "
                                    f"name it by its path, plugins = [\"{as_path}\"] (a module "
                                    "name is looked up on PYTHONPATH, which the ganforge command does not extend "
                                    "with the working directory).") from None
            raise GanforgeError(f"plugin '{plugin}' could not be imported: {e}. Check the name in 'plugins', and that "
                                "its folder is on PYTHONPATH (or give the .py file's path).") from None
        except GanforgeError:
            raise
        except Exception as e:  # the user's own code failed at import: one line that says where, as for bad input
            detail = e.msg if isinstance(e, SyntaxError) else e  # str(SyntaxError) repeats the place
            raise GanforgeError(f"plugin '{plugin}' failed to import: {type(e).__name__}: {detail} "
                                f"({raised_at(e)})") from None


def components(cfg) -> list[tuple[str, object, str]]:
    """What a config builds from the registries: (config key, registry, registered name) for each."""
    from . import losses, nets, objective, pixel_losses  # noqa: F401  (registers the built-ins)
    from .metrics.features import FEATURES
    from .registry import DISCRIMINATORS, GENERATORS, HOOKS, LOSSES, OBJECTIVES, PERCEPTUAL_NETS, PIXEL_LOSSES

    found = [("model.generator.name", GENERATORS, cfg.model.generator.name)]
    if cfg.model.discriminator.name != nets.NO_DISCRIMINATOR:
        found.append(("model.discriminator.name", DISCRIMINATORS, cfg.model.discriminator.name))
    found += [("objective.loss", LOSSES, cfg.objective.loss), ("objective.name", OBJECTIVES, cfg.objective.name),
              ("eval.features", FEATURES, cfg.eval.features)]
    found += [(f"hooks[{i}].name", HOOKS, hook.name) for i, hook in enumerate(cfg.hooks)]
    if cfg.model.task == "sr":
        found.append(("sr.pixel_loss", PIXEL_LOSSES, cfg.sr.pixel_loss))
        if cfg.sr.perceptual_weight > 0:
            found.append(("sr.perceptual_net", PERCEPTUAL_NETS, cfg.sr.perceptual_net))
    return found


def check_run_components(cfg, run_dir: Path, keys: tuple[str, ...] | None = None) -> None:
    """Refuse to load a run whose networks or losses (those under ``keys``, default all) no plugin of it registers.

    A network registered in a notebook or a script (``ganforge.train`` from Python) is known only to the process
    that trained the run; the generic "unknown generator" error would not say why a run that trained is unknown.
    """
    for key, registry, name in components(cfg):
        if (keys is None or key in keys) and name not in registry:
            listed = f"its plugins ({', '.join(cfg.plugins)})" if cfg.plugins else "its plugins (it lists none)"
            raise GanforgeError(
                f"the run in '{run_dir}' was trained with {registry.kind} '{name}' ({key}), which none of {listed} "
                "registers: the process that trained it did (a notebook or a script), and a run keeps only the "
                "plugins its config names. In Python, run the code that registers it, then load the run. For the "
                "ganforge command, put that code in a .py file and train the run on with it once; its checkpoints "
                f"then name the file: ganforge train {shlex.quote(str(run_dir / 'config.json'))} --out "
                f"{shlex.quote(str(run_dir))} --resume "
                f"{set_flag('plugins', [*cfg.plugins, 'my_code.py'])} (with a higher --set train.max_steps if it "
                "has finished)."
                + (" A resume may also drop the run's hooks: --set hooks=[]." if key.startswith("hooks") else ""))


def outside_plugins(cfg) -> list[str]:
    """The components of ``cfg`` that only this process can build: registered by code that is neither
    ganforge's nor a plugin the config names (a notebook's cell, a script, a module the user imported)."""
    # a module plugin's package: what its import imports from there is rebuilt with it
    packages = {"ganforge", *(p.split(".")[0] for p in cfg.plugins if not p.endswith(".py"))}
    files = {Path(p).resolve() for p in cfg.plugins if p.endswith(".py")}
    found = []
    for key, registry, name in components(cfg):
        origin = registry.get(name).origin
        file = getattr(sys.modules.get(origin), "__file__", None)  # a .py plugin's, under whatever name it was imported
        if origin.split(".")[0] in packages or (file and Path(file).resolve() in files):
            continue
        found.append(f"{registry.kind} '{name}' ({key}, defined in "
                     f"{'__main__: a notebook or the script being run' if origin == '__main__' else origin})")
    return found
