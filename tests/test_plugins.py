"""Importing a config's plugins (ganforge.plugins): files and module names, and a plugin that fails."""
import os
import re
import sys

import pytest
import torch

from ganforge.config import load_config
from ganforge.errors import GanforgeError
from ganforge.registry import GENERATORS, LOSSES


def test_plugin_errors(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('plugins = ["no_such_module_xyz"]\n')
    with pytest.raises(GanforgeError, match="plugin 'no_such_module_xyz' could not be imported"):
        load_config(str(cfg))
    cfg.write_text('plugins = ["missing.py"]\n')
    with pytest.raises(GanforgeError, match="plugin file 'missing.py' not found"):
        load_config(str(cfg))
    (tmp_path / "my_nets.py").write_text("")  # a misspelt name beside the config file: the file meant is named
    cfg.write_text('plugins = ["my_net.py"]\n')
    with pytest.raises(GanforgeError, match=re.escape(f"not found (looked in my_net.py, {tmp_path / 'my_net.py'}). "
                                                      f"Did you mean '{tmp_path / 'my_nets.py'}'?")):
        load_config(str(cfg))
    absolute = tmp_path / "gone.py"  # the same file from either folder: named once
    cfg.write_text(f'plugins = ["{absolute}"]\n')
    with pytest.raises(GanforgeError, match=rf"not found \(looked in {re.escape(str(absolute))}\)\."):
        load_config(str(cfg))
    cfg.write_text('plugins = ["nets/my_gan.txt"]\n')  # import_module would say "No module named 'nets/my_gan'"
    with pytest.raises(GanforgeError, match="'nets/my_gan.txt' is a path but not a .py file"):
        load_config(str(cfg))
    cfg.write_text('plugins = [""]\n')  # was importlib's "Empty module name"
    with pytest.raises(GanforgeError, match="config key 'plugins' holds an empty name"):
        load_config(str(cfg))
    for folder in ("a", "b"):  # one module per file name: the second was never imported, without a word
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "same_name_nets.py").write_text("")
    cfg.write_text('plugins = ["a/same_name_nets.py", "a/../a/same_name_nets.py"]\n')  # one file, named twice
    load_config(str(cfg))
    cfg.write_text('plugins = ["a/same_name_nets.py", "b/same_name_nets.py"]\n')
    with pytest.raises(GanforgeError, match=r"plugins '.*a/same_name_nets.py' and '.*b/same_name_nets.py' have the "
                                            "same file name, and only the first would be imported; rename one"):
        load_config(str(cfg))


def test_a_plugin_that_fails_to_import_is_a_one_line_error(tmp_path):
    """The user's plugin code failing at import names the file and line, instead of a traceback."""
    plugin = tmp_path / "broken_plugin.py"
    cfg = tmp_path / "c.toml"
    cfg.write_text('plugins = ["broken_plugin.py"]\n')
    cases = [("def f(:\n", rf"SyntaxError: invalid syntax \({re.escape(str(plugin))}:1\)$"),
             ("x = 1\nraise RuntimeError('boom')\n", rf"RuntimeError: boom \({re.escape(str(plugin))}:2\)$"),
             ("import no_such_package_xyz\n",  # the plugin is found; what it imports is not
              rf"imports 'no_such_package_xyz', which is not installed \({re.escape(str(plugin))}:1\)")]
    for source, message in cases:
        plugin.write_text(source)
        with pytest.raises(GanforgeError, match=message):
            load_config(str(cfg))
    plugin.write_text("LOADED = True\n")  # fixed: a second load in the same process imports it, not a half module
    load_config(str(cfg))
    assert sys.modules["ganforge_plugin_broken_plugin"].LOADED


def test_a_plugin_written_for_mmengine_or_that_registers_nothing_says_how_to_register(tmp_path):
    """Seed 004's `from mmagic.registry import MODELS` and `@MODELS.register_module()` was told to install the
    package; a class left unregistered was 'unknown generator' alone."""
    (tmp_path / "seed_style.py").write_text("from mmagic.registry import MODELS\n")
    with pytest.raises(GanforgeError, match=re.escape(
            f"plugin '{tmp_path / 'seed_style.py'}' imports 'mmagic', which ganforge does not use "
            f"({tmp_path / 'seed_style.py'}:1): its registries stand in for MMEngine's and MMagic's. Write "
            "`from ganforge.registry import GENERATORS` and `@GENERATORS.register(\"my-g\")` where the seed writes "
            "`@MODELS.register_module()` (DISCRIMINATORS and LOSSES alike; examples/custom_model.py).")):
        load_config("dcgan-fmnist", [f'plugins=["{tmp_path / "seed_style.py"}"]'])
    (tmp_path / "unregistered.py").write_text("import torch.nn as nn\nclass MyG(nn.Module):\n    pass\n")
    registered = r"^unknown generator 'my-g'\. Registered generators: .*\. "  # other tests' too
    with pytest.raises(GanforgeError, match=registered + re.escape(
            "The plugins (unregistered.py) were imported, and none registered 'my-g': a class becomes a generator by "
            "@GENERATORS.register(\"my-g\") (from ganforge.registry import GENERATORS; examples/custom_model.py).")
            + "$"):
        load_config("dcgan-fmnist", [f'plugins=["{tmp_path / "unregistered.py"}"]', "model.generator.name=my-g"])


def test_a_name_registered_twice_names_both_places(tmp_path):
    """One file imported as a module and as a path defines its classes twice; the message said only
    "registered twice; pick another name", though the user had registered the name once."""
    (tmp_path / "twice_pkg").mkdir()
    (tmp_path / "twice_pkg" / "__init__.py").write_text("")
    (tmp_path / "twice_pkg" / "nets.py").write_text(
        "import torch.nn as nn\nfrom ganforge.registry import GENERATORS\n\n"
        "@GENERATORS.register('test-twice-g')\nclass G(nn.Module):\n    pass\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text('plugins = ["twice_pkg/nets.py", "twice_pkg.nets"]\n')
    with pytest.raises(GanforgeError, match=r"generator 'test-twice-g' is registered twice \(.*twice_pkg/nets.py:4, "
                                            r"then .*twice_pkg/nets.py:4\); list that file once in plugins"):
        load_config(str(cfg))
    (tmp_path / "mine.py").write_text("import torch.nn as nn\nfrom ganforge.registry import GENERATORS\n\n"
                                      "@GENERATORS.register('dcgan')\nclass Mine(nn.Module):\n    pass\n")
    cfg.write_text('plugins = ["mine.py"]\n')
    with pytest.raises(GanforgeError, match=r"generator 'dcgan' is registered twice \(.*dcgan.py:\d+, then "
                                            r".*mine.py:4\); pick another name for one of them"):
        load_config(str(cfg))


def test_a_plugin_file_imported_by_the_user_first_is_not_imported_again(tmp_path, monkeypatch):
    """A notebook that ran `import notebook_nets` to try its network, then trains with plugins = ["notebook_nets.py"]:
    the file ran a second time as a plugin, and its classes were "registered twice"."""
    (tmp_path / "notebook_nets.py").write_text(
        "import torch.nn as nn\nfrom ganforge.registry import GENERATORS\n\n"
        "@GENERATORS.register('test-imported-g')\nclass G(nn.Module):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import notebook_nets  # noqa: F401

    cfg = tmp_path / "c.toml"
    cfg.write_text('plugins = ["notebook_nets.py"]\n')
    load_config(str(cfg))
    assert sys.modules["ganforge_plugin_notebook_nets"] is sys.modules["notebook_nets"]
    (tmp_path / "other").mkdir()  # another file of that name, in a later config of the same process
    (tmp_path / "other" / "notebook_nets.py").write_text("OTHER = True\n")
    cfg.write_text('plugins = ["other/notebook_nets.py"]\n')
    load_config(str(cfg))  # it was silently not imported: the first file's module stood for it
    assert sys.modules["ganforge_plugin_notebook_nets"].OTHER


def test_a_plugin_file_edited_after_its_import_is_imported_again(tmp_path):
    """A notebook that edits its plugin file and trains again trained the old code without a word (the module
    was cached); a register_loss in it then said "registered twice"."""
    plugin = tmp_path / "edited_nets.py"
    source = ("import torch, torch.nn as nn\nfrom ganforge.losses import AdversarialLoss, register_loss\n"
              "from ganforge.registry import GENERATORS\n\n"
              "@GENERATORS.register('test-edited-g')\nclass G(nn.Module):\n    version = {v}\n\n"
              "register_loss('test-edited-loss', AdversarialLoss(d_real=lambda r: {v} * r.mean(), "
              "d_fake=lambda f: f.mean(), g=lambda f: -f.mean()))\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text('plugins = ["edited_nets.py"]\n')
    for version in (1, 2):
        plugin.write_text(source.format(v=version))
        os.utime(plugin, ns=(version * 10**9, version * 10**9))  # a new mtime, however fast the two writes are
        load_config(str(cfg))
        assert GENERATORS.get("test-edited-g").builder.version == version
        assert LOSSES.get("test-edited-loss").builder().d_real(torch.ones(2)).item() == version
    load_config(str(cfg))  # unchanged: not run again
    assert GENERATORS.get("test-edited-g").builder.version == 2


def test_a_module_name_for_a_file_in_the_working_folder_is_pointed_to_its_path(tmp_path, monkeypatch):
    """The ganforge command does not put the working folder on sys.path, so plugins = ["cwd_nets"] beside
    cwd_nets.py was only "No module named 'cwd_nets'"."""
    (tmp_path / "cwd_nets.py").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    with pytest.raises(GanforgeError, match=r"plugin 'cwd_nets' could not be imported: No module named 'cwd_nets', but "
                                            r"there is a file 'cwd_nets.py': name it by its path, "
                                            r"plugins = \[\"cwd_nets.py\"\]"):
        load_config("dcgan-fmnist", ["plugins=['cwd_nets']"])
