"""ganforge from Python (api.py): train, sample, evaluate and grid as a notebook calls them."""
from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import ganforge
from ganforge.api import as_overrides
from ganforge.errors import GanforgeError
from ganforge.config import load_config
from ganforge.registry import GENERATORS, HOOKS
from ganforge.training import checkpoint as ckpt
from ganforge.training.hooks import Hook

from conftest import run_cli


def tiny(idx_root: Path, **extra) -> dict:
    """Overrides for a fast run of an fmnist preset on the tiny IDX folder, as a dict."""
    return {"data.root": str(idx_root), "log.progress": False, "log.every_steps": 2, "log.sample_every_steps": 4,
            "log.checkpoint_every_steps": 4, "log.num_samples": 16, **extra}


@dataclasses.dataclass(frozen=True)
class _Options:
    hidden: int = 32
    interrupt_at: int = 0  # send this process a SIGINT at this training forward (0: never)


@GENERATORS.register("test-api-g", _Options)
class _NotebookG(torch.nn.Module):
    """A generator defined where a notebook's cell defines one: outside ganforge and outside any plugin file."""

    def __init__(self, options: _Options, z_dim: int, channels: int, resolution: int, **kwargs) -> None:
        super().__init__()
        self.options, self.shape, self.forwards = options, (channels, resolution, resolution), 0
        self.net = torch.nn.Sequential(torch.nn.Linear(z_dim, options.hidden), torch.nn.ReLU(),
                                       torch.nn.Linear(options.hidden, channels * resolution ** 2), torch.nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.training and len(z) > 2:  # not the probe batch of two before training
            self.forwards += 1
            if self.forwards == self.options.interrupt_at:  # a notebook's interrupt button, mid-run
                os.kill(os.getpid(), signal.SIGINT)
        return self.net(z).view(len(z), *self.shape)


def test_grid_of_what_is_not_uint8_images_says_how_to_make_them():
    """ganforge.grid(G(z)) in a notebook raised torch's "Can't call numpy() on Tensor that requires grad", and an
    empty batch a ZeroDivisionError; the conversion offered is in the library the images are in."""
    G = torch.nn.Sequential(torch.nn.Linear(4, 784), torch.nn.Tanh(), torch.nn.Unflatten(1, (1, 28, 28)))
    x = G(torch.randn(2, 4))
    with pytest.raises(GanforgeError, match=re.escape(
            "grid takes uint8 images (N, C, H, W) with C 1 or 3, got float32 (2, 1, 28, 28). For floats in [-1, 1] "
            "(a tanh generator's output), pass ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8); for floats "
            "in [0, 1], (x * 255).round().clamp(0, 255).to(torch.uint8).")):
        ganforge.grid(x)
    assert ganforge.grid(((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)).size == (2 * 30 + 2, 30 + 2)
    with pytest.raises(GanforgeError, match=re.escape(
            "grid takes uint8 images (N, C, H, W) with C 1 or 3, got float32 (2, 28, 28, 3). It looks channels-last "
            "(N, H, W, C): pass x.transpose(0, 3, 1, 2). For floats in [-1, 1] (a tanh generator's output), pass "
            "((x + 1) * 127.5).round().clip(0, 255).astype('uint8');")):
        ganforge.grid(np.zeros((2, 28, 28, 3), np.float32))
    # one image, as a notebook holds it after img = G(z)[0] or np.asarray(Image.open(...)): it got only the hint for
    # grayscale without a channel axis, which reads (3, 28, 28) as three 28x28 images and (28, 28, 3) as 28 of 28x3
    with pytest.raises(GanforgeError, match=re.escape(
            "got uint8 (3, 28, 28). For one image (C, H, W), pass x[None]. For grayscale without a channel axis, "
            "pass x[:, None].")):
        ganforge.grid(torch.zeros(3, 28, 28, dtype=torch.uint8))
    with pytest.raises(GanforgeError, match=re.escape(
            "got uint8 (28, 28, 3). For one image, channels-last (H, W, C), pass x.transpose(2, 0, 1)[None].")):
        ganforge.grid(np.zeros((28, 28, 3), np.uint8))
    with pytest.raises(GanforgeError, match=re.escape("got uint8 (28, 28). For one grayscale image (H, W), pass "
                                                      "x[None, None].")):
        ganforge.grid(np.zeros((28, 28), np.uint8))
    with pytest.raises(GanforgeError, match=r"^grid takes at least one image, got none \(shape \(0, 1, 28, 28\)\)\.$"):
        ganforge.grid(np.zeros((0, 1, 28, 28), np.uint8))


def test_a_number_or_config_of_the_wrong_kind_is_named_before_any_work(tmp_path):
    """timelapse(fps="4") and sample(truncation="0.5") raised Python's TypeError from a comparison, grid(nrow=-1)
    NumPy's "negative dimensions", and train({...}) with the overrides given as the config 'unknown preset'."""
    for call, said in (
            (lambda: ganforge.timelapse(tmp_path, tmp_path / "t.gif", fps="4"), "fps must be a number, got '4' (str)."),
            (lambda: ganforge.sample(tmp_path, 4, truncation="0.5"), "truncation must be a number, got '0.5' (str)."),
            (lambda: ganforge.interpolate(tmp_path, 2, 4, truncation=float("nan")), "truncation must be a finite "
                                                                                    "number, got nan (float)."),
            (lambda: ganforge.grid(np.zeros((4, 1, 28, 28), np.uint8), nrow=-1), "nrow must be at least 1, got -1."),
            (lambda: ganforge.grid(np.zeros((4, 1, 28, 28), np.uint8), nrow=0), "nrow must be at least 1, got 0."),
            (lambda: ganforge.train({"train.max_steps": 3}, tmp_path / "r"),
             "config is a dict; name a preset or a config file, and give the dict as the overrides: "
             "ganforge.train('dcgan-fmnist', out, {'train.max_steps': 3}).")):
        with pytest.raises(GanforgeError, match=f"^{re.escape(said)}$"):
            call()
    assert not (tmp_path / "r").exists()


def test_train_sample_evaluate_and_grid_from_python(idx_root, tmp_path):
    out = tmp_path / "r"
    with pytest.warns(UserWarning, match=r"generator 'test-api-g' \(model.generator.name, defined in test_api\): "
                                         r"only this Python process can build it"):
        run = ganforge.train("mlp-gan-fmnist", out, tiny(idx_root, **{
            "model.generator.name": "test-api-g", "model.generator.options": {"hidden": 16},
            "train.max_steps": 4, "optim_g.betas": (0.5, 0.999)}))
    assert run == out and ckpt.load(out / "checkpoints" / "last.pt")["state"]["step"] == 4
    G = ganforge.load_generator(run)
    assert G.options.hidden == 16 and not G.training

    images = ganforge.sample(run, 20, seed=3)
    assert images.dtype == torch.uint8 and images.shape == (20, 1, 28, 28)
    assert run_cli("sample", run, "--num", 20, "--seed", 3, "--out", tmp_path / "s.npy") == 0
    assert np.array_equal(images.numpy(), np.load(tmp_path / "s.npy"))  # the command's images for the seed

    picture = ganforge.grid(images, nrow=5)  # 5 x 4 images of 28 px with 2 px gaps
    assert picture.mode == "L" and picture.size == (5 * 30 + 2, 4 * 30 + 2)

    scored = ganforge.evaluate(images, ["fid", "swd"], 20, ref="test")
    assert {"fid", "swd"} <= scored.keys() and scored["protocol"]["num_fake"] == 20
    assert not list(tmp_path.glob("*.json"))  # an array writes no JSON unless asked
    with pytest.raises(GanforgeError, match=r"the array to evaluate must hold uint8 images .* got float32"):
        ganforge.evaluate(images.float(), "fid", 20)
    assert ganforge.evaluate(run, "fid", 32, ref="test")["protocol"]["num_fake"] == 32
    assert (run / "evaluate.json").is_file()  # a run writes where `ganforge evaluate RUN` does

    resumed = ganforge.train("mlp-gan-fmnist", out, {"train.max_steps": 6}, resume=True)
    assert ckpt.load(resumed / "checkpoints" / "last.pt")["state"]["step"] == 6
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 7, "loss_')  # torn by a kill mid-write
    records = ganforge.history(run)
    assert [r["step"] for r in records] == [2, 4, 6] and all("loss_g" in r for r in records)
    with pytest.raises(GanforgeError, match="has no metrics.jsonl; give a run folder"):
        ganforge.history(tmp_path)


def test_a_run_of_a_network_registered_outside_plugins_names_the_way_back(idx_root, tmp_path):
    """A new process (the command, a new kernel) knows no 'test-api-g': the error says why and how to continue."""
    out = tmp_path / "r"
    with pytest.warns(UserWarning, match="only this Python process"):
        ganforge.train("mlp-gan-fmnist", out, tiny(idx_root, **{"model.generator.name": "test-api-g",
                                                               "train.max_steps": 2}))
    done = subprocess.run([sys.executable, "-m", "ganforge", "sample", str(out), "--num", "4", "--out",
                           str(tmp_path / "s.png")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (f"the run in '{out}' was trained with generator 'test-api-g' (model.generator.name), which none of its "
            "plugins (it lists none) registers") in done.stderr
    assert f"ganforge train {out / 'config.json'} --out {out} --resume --set 'plugins=[\"my_code.py\"]'" in done.stderr

    # the way back it names: the code in a file, given once at a resume; the run then samples anywhere
    source = Path(__file__).read_text()
    code = source[source.index("@dataclasses.dataclass(frozen=True)"):source.index("def test_")]
    (tmp_path / "my_code.py").write_text("import dataclasses, os, signal, torch\n"
                                         "from ganforge.registry import GENERATORS\n" + code)
    resume = [sys.executable, "-m", "ganforge", "train", str(out / "config.json"), "--out", str(out), "--resume",
              "--set", "plugins=['my_code.py']", "--set", "train.max_steps=4"]
    assert subprocess.run(resume, cwd=tmp_path, capture_output=True, timeout=300).returncode == 0
    assert ckpt.load(out / "checkpoints" / "last.pt")["state"]["step"] == 4
    done = subprocess.run([sys.executable, "-m", "ganforge", "sample", str(out), "--num", "4", "--out",
                           str(tmp_path / "s.png")], capture_output=True, text=True, cwd="/", timeout=300)
    assert done.returncode == 0, done.stderr  # found by the absolute path the resume recorded


def test_paths_read_a_leading_tilde_as_the_home_folder(idx_root, tmp_path, monkeypatch):
    """Python meets no shell: train(..., "~/runs/a") trained into a folder named '~' in the working directory."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    run = ganforge.train("mlp-gan-fmnist", "~/runs/a", tiny(idx_root, **{"train.max_steps": 2}))
    assert run == home / "runs" / "a" and (run / "checkpoints" / "last.pt").is_file()
    assert not any(work.iterdir())  # no folder named '~'
    assert ganforge.sample("~/runs/a", 4).shape == (4, 1, 28, 28)
    assert ganforge.history(Path("~/runs/a"))[-1]["step"] == 2
    assert ganforge.timelapse("~/runs/a", "~/a.gif")[0] >= 1 and (home / "a.gif").is_file()
    assert [r["path"] for r in ganforge.runs("~/runs")] == [str(run)]


def test_the_way_back_pastes_into_a_shell_whatever_the_plugin_paths(tmp_path):
    """The resume it offers splits in a shell back into the arguments meant (--set plugins='[...]' was
    quoted by hand, and a plugin path with an apostrophe broke it)."""
    import shlex

    from ganforge.plugins import check_run_components

    cfg = load_config("mlp-gan-fmnist")
    generator = dataclasses.replace(cfg.model.generator, name="test-api-nowhere")
    cfg = dataclasses.replace(cfg, plugins=["/home/o'brien/nets.py"],
                              model=dataclasses.replace(cfg.model, generator=generator))
    run = tmp_path / "my run"
    with pytest.raises(GanforgeError) as e:
        check_run_components(cfg, run)
    command = str(e.value).split("then name the file: ")[1].split(" (with a higher")[0]
    assert shlex.split(command) == ["ganforge", "train", str(run / "config.json"), "--out", str(run), "--resume",
                                    "--set", 'plugins=["/home/o\'brien/nets.py", "my_code.py"]']


def test_a_network_from_a_plugin_file_trains_without_the_warning(idx_root, tmp_path):
    (tmp_path / "api_nets.py").write_text(
        "import torch\nfrom ganforge.registry import GENERATORS\n"
        "@GENERATORS.register('test-api-file-g')\n"
        "class G(torch.nn.Module):\n"
        "    def __init__(self, z_dim, channels, resolution, **kw):\n"
        "        super().__init__()\n"
        "        self.shape = (channels, resolution, resolution)\n"
        "        self.fc = torch.nn.Linear(z_dim, channels * resolution ** 2)\n"
        "    def forward(self, z):\n"
        "        return self.fc(z).tanh().view(len(z), *self.shape)\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ganforge.train("mlp-gan-fmnist", tmp_path / "r", tiny(idx_root, **{
            "plugins": [str(tmp_path / "api_nets.py")], "model.generator.name": "test-api-file-g",
            "train.max_steps": 2}))
    assert not [w for w in caught if "only this Python process" in str(w.message)]


def test_an_interrupt_saves_the_step_then_raises_keyboard_interrupt(idx_root, tmp_path):
    """A notebook's interrupt: the run saves as on Ctrl-C, and the cell stops (the next cells do not run on)."""
    sets = tiny(idx_root, **{"model.generator.name": "test-api-g", "model.generator.options.interrupt_at": 3,
                             "train.max_steps": 50, "log.checkpoint_every_steps": 1000})
    with pytest.warns(UserWarning, match="only this Python process"), pytest.raises(KeyboardInterrupt):
        ganforge.train("mlp-gan-fmnist", tmp_path / "r", sets)
    assert ckpt.load(tmp_path / "r" / "checkpoints" / "last.pt")["state"]["step"] == 3


def test_messages_in_python_name_its_arguments(idx_root, tmp_path, capsys):
    """What to do next, in a notebook's words: it named the command's --resume and --force."""
    out = tmp_path / "r"
    ganforge.train("dcgan-fmnist", out, tiny(idx_root, **{"train.max_steps": 2}))
    with pytest.raises(GanforgeError, match=re.escape(f"out '{out}' already holds a run (config.json, metrics.jsonl, "
                                                      "sessions.jsonl, checkpoints, samples, tb). Pass resume=True to continue it, "
                                                      "force=True to replace it, or choose another out.")):
        ganforge.train("dcgan-fmnist", out, tiny(idx_root, **{"train.max_steps": 2}))
    capsys.readouterr()
    ganforge.train("dcgan-fmnist", out, tiny(idx_root, **{"train.max_steps": 2}), resume=True)
    assert (f'To train on, raise it: ganforge.train("dcgan-fmnist", "{out}", {{"train.max_steps": ...}}, '
            "resume=True)") in capsys.readouterr().err
    sets = tiny(idx_root, **{"model.generator.name": "test-api-g", "model.generator.options.interrupt_at": 2,
                             "train.max_steps": 50})
    with pytest.warns(UserWarning), pytest.raises(KeyboardInterrupt):
        ganforge.train("mlp-gan-fmnist", tmp_path / "i", sets)
    continued = f'Continue with: ganforge.train("mlp-gan-fmnist", "{tmp_path / "i"}", resume=True)'
    assert continued in capsys.readouterr().err
    for call, message in ((lambda: ganforge.upscale(out, np.zeros((1, 7, 7), np.uint8)), "use ganforge.sample for it"),
                          (lambda: ganforge.sample(out, 4, truncation=-1.0), "^truncation must be > 0"),
                          (lambda: ganforge.sample(out, 4, class_="Bag"), "^class_ needs a class-conditional run")):
        with pytest.raises(GanforgeError, match=message):
            call()
    # the command's own words are unchanged, also after a Python call in the same process
    assert run_cli("train", "dcgan-fmnist", "--out", out, *[f"--set={s}" for s in as_overrides(tiny(idx_root))]) == 2
    assert "Add --resume to continue it, --force to replace it, or choose another --out." in capsys.readouterr().err


def test_a_wrong_argument_names_the_function_and_a_setting_its_override(tmp_path):
    """Python's own call error names the function; the wrapper that speaks Python lost it ("got an unexpected
    keyword argument 'max_steps'"), and a tutorial's train(max_steps=...) is a config key, given as overrides."""
    for call, message in (
            (lambda: ganforge.train("dcgan-fmnist", tmp_path / "r", max_steps=3),
             "train() got an unexpected keyword argument 'max_steps'; it is a config key: pass "
             "overrides={'train.max_steps': 3}"),
            (lambda: ganforge.train(lr=1e-3), "train() got an unexpected keyword argument 'lr'; it is a config key: "
                                              "pass overrides={'optim_g.lr': 0.001} (or optim_d.lr)"),
            (lambda: ganforge.train(bogus=1), "train() got an unexpected keyword argument 'bogus'"),
            (lambda: ganforge.sample(), "sample() missing a required argument: 'run'"),
            (lambda: ganforge.sample(tmp_path, max_steps=1), "sample() got an unexpected keyword argument 'max_steps'"),
            # a seed's name of a setting (hw6's n_epoch, PyTorch-GAN's epochs) as train's argument
            (lambda: ganforge.train(epochs=3), "train() got an unexpected keyword argument 'epochs'; it is a config "
                                               "key: pass overrides={'train.max_epochs': 3}"),
            # another sampler's or an evaluator's argument, or one letter off
            (lambda: ganforge.sample(tmp_path, n=4), "sample() got an unexpected keyword argument 'n'; the number of "
                                                     "images is num"),
            (lambda: ganforge.sample(tmp_path, num_samples=4), "sample() got an unexpected keyword argument "
                                                               "'num_samples'; the number of images is num"),
            (lambda: ganforge.evaluate(tmp_path, metric="fid"), "evaluate() got an unexpected keyword argument "
                                                                "'metric'; did you mean 'metrics'?")):
        with pytest.raises(TypeError) as raised:
            call()
        assert str(raised.value) == message
    assert not (tmp_path / "r").exists()


def test_train_from_another_thread(idx_root, tmp_path):
    """Only the main thread may set signal handlers: a run started from a worker thread raised ValueError."""
    errors = []

    def work():
        try:
            ganforge.train("dcgan-fmnist", tmp_path / "r", tiny(idx_root, **{"train.max_steps": 2}))
        except Exception as e:  # noqa: BLE001 (reported below, in the test's thread)
            errors.append(e)
    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive() and not errors, errors
    assert ckpt.load(tmp_path / "r" / "checkpoints" / "last.pt")["state"]["step"] == 2


@dataclasses.dataclass(frozen=True)
class _HookOptions:
    every: int = 1


HOOKS.register("test-api-hook", _HookOptions)(type("ApiHook", (Hook,), {"__init__": lambda self, options: None}))


def test_overrides_as_a_dict():
    assert as_overrides({"train.max_steps": 5, "optim_g.betas": (0.5, 0.9), "data.root": Path("/d"),
                         "model.generator.options": {"hidden": [8, 16]}, "objective.options": {},
                         "log.progress": False, "hooks": [{"name": "h", "options": {"every": 2}}]}) == [
        "train.max_steps=5", "optim_g.betas=[0.5, 0.9]", 'data.root="/d"', "model.generator.options.hidden=[8, 16]",
        "objective.options={}", "log.progress=false", 'hooks=[{"name" = "h", "options" = {"every" = 2}}]']
    hooks = load_config("dcgan-fmnist", as_overrides({"hooks": [{"name": "test-api-hook", "options": {"every": 2}}]}))
    assert hooks.hooks[0].name == "test-api-hook" and hooks.hooks[0].options == {"every": 2}
    assert as_overrides(["train.max_steps=5"]) == ["train.max_steps=5"]
    with pytest.raises(GanforgeError, match=r"overrides\['train.seed'\] is None"):
        as_overrides({"train.seed": None})
    # numpy's and torch's numbers (a sweep's np.logspace(...)[i]) as the numbers they hold: tomli_w refused them
    assert as_overrides({"optim_g.lr": np.float32(0.5), "train.max_steps": np.int64(5), "log.progress": np.bool_(False),
                         "optim_g.betas": np.array([0.5, 0.75]), "optim_d.lr": torch.tensor(0.25)}) == [
        "optim_g.lr=0.5", "train.max_steps=5", "log.progress=false", "optim_g.betas=[0.5, 0.75]", "optim_d.lr=0.25"]
    with pytest.raises(GanforgeError, match=r"overrides\['plugins'\] is a set, which a config cannot hold"):
        as_overrides({"plugins": {"a.py"}})
    with pytest.raises(GanforgeError, match="overrides is one string"):
        as_overrides("train.max_steps=5")
    # pairs, and the command's --set, were each called a --set that "must look like key=value"
    with pytest.raises(GanforgeError, match=re.escape("overrides[0] is a tuple, ('train.max_steps', 5); give a dict "
                                                      "{'train.max_steps': 5} or 'key=value' strings.")):
        as_overrides([("train.max_steps", 5)])
    with pytest.raises(GanforgeError, match=re.escape("overrides[0] is '--set', the command's flag; give the "
                                                      "'key=value' strings alone: ['train.max_steps=5'].")):
        as_overrides(["--set", "train.max_steps=5"])


def test_import_ganforge_does_not_import_torch():
    """The command's start (and --version) stays light: the API is imported on first use."""
    code = "import sys, ganforge; assert 'torch' not in sys.modules; ganforge.sample; assert 'torch' in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], timeout=300).returncode == 0
    # the error every function raises for bad input, to catch where the functions are (it was ganforge.errors' only)
    code = ("import sys, ganforge; assert ganforge.GanforgeError.__module__ == 'ganforge.errors'; "
            "assert 'torch' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], timeout=300).returncode == 0
    assert "GanforgeError" in ganforge.__all__ and ganforge.GanforgeError is GanforgeError
    with pytest.raises(AttributeError, match="has no attribute 'trian'"):
        ganforge.trian  # noqa: B018
    # a module of the package named like a function (upscale.py was) would replace it once imported
    import importlib
    import pkgutil

    for module in pkgutil.walk_packages(ganforge.__path__, "ganforge."):
        if not module.name.endswith("__main__"):  # that one runs the command
            importlib.import_module(module.name)
    assert all(callable(getattr(ganforge, name)) for name in ganforge.__all__ if name != "__version__")


def test_a_bad_value_is_a_ganforge_error(tmp_path):
    typo = "unknown config key 'train.max_stesp'. Did you mean 'max_steps'?"
    with pytest.raises(GanforgeError, match=re.escape(typo)):
        ganforge.train("dcgan-fmnist", tmp_path / "r", {"train.max_stesp": 2})
    with pytest.raises(GanforgeError, match="num must be > 0"):
        ganforge.sample(tmp_path, 0)
    # what the command's parser refuses, before any work: torch and numpy raised their own errors
    for call, message in ((lambda: ganforge.sample(tmp_path, 4, seed=-1), r"seed must be in \[0, 2\*\*32\), got -1"),
                          (lambda: ganforge.sample(tmp_path, 4, seed=2**70), r"seed must be in \[0, 2\*\*32\)"),
                          (lambda: ganforge.interpolate(tmp_path, 2, 3, seed=1.5), r"seed must be an integer, got 1.5"),
                          (lambda: ganforge.evaluate(tmp_path, "kid", 10, seed=-1), r"seed must be in"),
                          (lambda: ganforge.sample(tmp_path, 4.0), r"num must be an integer, got 4.0 \(float\)"),
                          (lambda: ganforge.nearest(tmp_path, 2, 2.5), r"k must be an integer"),
                          (lambda: ganforge.upscale(tmp_path, None, tile=64.5), r"tile must be an integer"),
                          (lambda: ganforge.evaluate(tmp_path, "fid", ref="tset"),
                           r"ref must be 'train' or 'test' \(the dataset's splits\), or reference images of your own: "
                           r".*; got 'tset'\. Did you mean 'test'\?$"),
                          # evaluate's counts in Python's words too (the command says --num)
                          (lambda: ganforge.evaluate(np.zeros((10, 1, 28, 28), np.uint8), "pr", 5),
                           r"^num must be >= 6 with metric pr"),
                          (lambda: ganforge.evaluate(np.zeros((4, 1, 28, 28), np.uint8), "fid", 10),
                           r"the array given holds 4 images, fewer than num 10; lower num\.$"),
                          # it was read as the path '[[0, 0], [0, 0]]', which "does not exist"
                          (lambda: ganforge.evaluate([[0, 0], [0, 0]], "fid"), r"^source is list; give a run folder"),
                          (lambda: ganforge.history(tmp_path / "rnu"), r"'.*rnu' does not exist; give a run folder"),
                          (lambda: ganforge.history(__file__), r"'.*test_api.py' is not a folder; give a run folder"),
                          # a switch given as a string or a number: Python read "false" as true and drew from the EMA
                          (lambda: ganforge.sample(tmp_path, 4, ema="false"),
                           r"^ema must be True or False, got 'false' \(str\)\.$"),
                          (lambda: ganforge.load_generator(tmp_path, 0.999), r"^ema must be True or False, got 0.999"),
                          (lambda: ganforge.train("dcgan-fmnist", tmp_path / "r", resume="no"),
                           r"^resume must be True or False, got 'no'")):
        with pytest.raises(GanforgeError, match=message):
            call()
