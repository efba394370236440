"""A user's plugins: the modules or ``.py`` files a config's ``plugins`` list names, imported so that
their ``@register`` decorators add networks, losses and objectives to the registries."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from .errors import GanforgeError, raised_at


def _plugin_candidates(plugin: str, base: Path | None, run_dir: Path | None = None) -> list[Path]:
    """Where a ``.py`` plugin may be: the working directory, then the config file's folder, then (for a
    trained run) a file of its name in the run folder, where a user who moves a run puts its code."""
    # dict.fromkeys: an absolute path is the same file from either folder; list it once
    return list(dict.fromkeys([Path(plugin)] + ([base / plugin] if base else [])
                              + ([run_dir / Path(plugin).name] if run_dir else [])))


def plugin_file(plugin: str, base: Path | None, run_dir: Path | None = None) -> Path | None:
    """The ``.py`` file a plugin names, or None (not found, or a module name)."""
    if not plugin.endswith(".py"):
        return None
    return next((p for p in _plugin_candidates(plugin, base, run_dir) if p.is_file()), None)


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
                    looked = ", ".join(map(str, _plugin_candidates(plugin, base, run_dir)))
                    fix = (f" The run in '{run_dir}' was trained with it: put it back, or copy it into that folder."
                           if run_dir else "")
                    raise GanforgeError(f"plugin file '{plugin}' not found (looked in {looked}).{fix}")
                # one module per file name, so a notebook that loads a config twice imports its plugin once;
                # two files of one name in one list would be one module, the second never imported
                name, resolved = f"ganforge_plugin_{path.stem}", path.resolve()
                if files.setdefault(name, resolved) != resolved:
                    raise GanforgeError(f"plugins '{files[name]}' and '{path}' have the same file name, and only the "
                                        "first would be imported; rename one of them.")
                if name in sys.modules:
                    continue
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[name]  # half-imported: a second load_plugins (a notebook) must retry it
                    raise
            elif "/" in plugin or "\\" in plugin:  # a path, but import_module would say "No module named '/a/b'"
                raise GanforgeError(f"plugin '{plugin}' is a path but not a .py file; give a .py file or a module "
                                    "name such as my_pkg.nets.")
            else:
                if base and str(base) not in sys.path:
                    sys.path.append(str(base))
                importlib.import_module(plugin)
        except ModuleNotFoundError as e:
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
