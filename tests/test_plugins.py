"""Importing a config's plugins (ganforge.plugins): files and module names, and a plugin that fails."""
import re
import sys

import pytest

from ganforge.config import load_config
from ganforge.errors import GanforgeError


def test_plugin_errors(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('plugins = ["no_such_module_xyz"]\n')
    with pytest.raises(GanforgeError, match="plugin 'no_such_module_xyz' could not be imported"):
        load_config(str(cfg))
    cfg.write_text('plugins = ["missing.py"]\n')
    with pytest.raises(GanforgeError, match="plugin file 'missing.py' not found"):
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
