import dataclasses
import json
import re
import shlex
from pathlib import Path

import pytest

import ganforge
from ganforge.config import Config, apply_overrides, config_from_dict, load_config, parse_override, preset_names
from ganforge.errors import GanforgeError
from ganforge.nets import build_networks

from conftest import run_cli, tiny

DESIGN_PRESETS = {"mlp-gan-fmnist", "mmengine-gan-fmnist", "hw6-dcgan-64", "hw6-wgan-64", "hw6-wgan-gp-64",
                  "mmagic-dcgan-64", "dcgan-fmnist"}


def test_every_design_preset_exists_and_validates():
    assert DESIGN_PRESETS <= set(preset_names())
    for name in DESIGN_PRESETS:
        cfg = load_config(name)
        assert cfg.name == name and cfg.description


def test_seed_hyperparameters_are_kept():
    mlp = load_config("mlp-gan-fmnist")
    assert (mlp.model.z_dim, mlp.optim_g.lr, mlp.train.batch_size) == (128, 3e-4, 32)
    assert mlp.model.generator.options == {"hidden": [512], "slope": 0.01}
    mm = load_config("mmengine-gan-fmnist")
    assert mm.model.generator.options["hidden"] == [128, 256, 512, 1024] and mm.model.generator.options["bn_eps"] == 0.8
    assert (mm.optim_d.lr, mm.optim_d.betas) == (1e-4, (0.5, 0.999))
    wgan = load_config("hw6-wgan-64")
    assert (wgan.optim_d.name, wgan.objective.loss, wgan.objective.clip_value, wgan.objective.n_critic) == \
        ("rmsprop", "wgan", 0.01, 5)
    gp = load_config("hw6-wgan-gp-64")
    assert gp.objective.gp_weight == 10 and gp.model.discriminator.options["norm"] == "instance"
    assert load_config("mmagic-dcgan-64").model.generator.options["base_channels"] == 1024


def test_overrides_parse_toml_values():
    assert parse_override("train.max_steps=5") == (["train", "max_steps"], 5)
    assert parse_override("optim_g.betas=[0.0, 0.9]") == (["optim_g", "betas"], [0.0, 0.9])
    assert parse_override("data.root=/some/path") == (["data", "root"], "/some/path")
    cfg = load_config("dcgan-fmnist", ["train.max_steps=7", "optim_g.lr=1e-3", "ema.enabled=false"])
    assert (cfg.train.max_steps, cfg.optim_g.lr, cfg.ema.enabled) == (7, 1e-3, False)


def test_unknown_key_suggests_closest(tmp_path):
    with pytest.raises(GanforgeError, match=r"unknown config key 'train.max_step'.*Did you mean 'max_steps'"):
        load_config("dcgan-fmnist", ["train.max_step=5"])
    with pytest.raises(GanforgeError, match=r"unknown config key 'trian'.*Did you mean 'train'"):
        load_config("dcgan-fmnist", ["trian.max_steps=5"])
    with pytest.raises(GanforgeError, match=r"'model.generator.type'. Did you mean 'name'\? \(MMEngine's type= is "):
        load_config("dcgan-fmnist", ["model.generator.type=dcgan"])  # seed 004's dict(type=...)
    # a config that names another to build on, as MMEngine's `_base_` does: the way to a preset's whole config
    mine = tmp_path / "mine.toml"
    for line, named in (('_base_ = ["../_base_/dcgan.py"]', "dcgan-fmnist"), ('base = "hw6-dcgan-64"', "hw6-dcgan-64")):
        mine.write_text(f"{line}\n[train]\nmax_steps = 3\n")
        said = rf"unknown config key '{line.split()[0]}'. A ganforge config stands alone: `ganforge config {named} > "
        with pytest.raises(GanforgeError, match=said + "mine.toml` writes that preset's"):
            load_config(str(mine))
    with pytest.raises(GanforgeError) as e:  # nothing close: no far-fetched guess, just the valid keys
        load_config("dcgan-fmnist", ["train.nope=5"])
    assert "Did you mean" not in str(e.value) and "Valid keys in train: batch_size" in str(e.value)
    # a key in the wrong section names the section it belongs to
    with pytest.raises(GanforgeError, match=r"unknown config key 'train.gp_weight'. It is a key of another section: "
                                            r"objective.gp_weight. Valid keys in train"):
        load_config("dcgan-fmnist", ["train.gp_weight=10"])
    with pytest.raises(GanforgeError, match=r"another section: model.generator.spectral_norm or "
                                            r"model.discriminator.spectral_norm\."):
        load_config("dcgan-fmnist", ["model.spectral_norm=true"])
    # a section and its key joined by '_', or G's and D's learning rates as StudioGAN names them: spelling alone
    # offered 'max_steps' for 'train.ema_start_step', and nothing for the others
    _each_names_the_key_meant((("train.ema_start_step=5", "ema.start_step"), ("ema_decay=0.99", "ema.decay"),
                               ("ema_start=100", "ema.start_step"), ("g_lr=1e-4", "optim_g.lr"),
                               ("train.lr_d=1e-4", "optim_d.lr"), ("model.generator_name=x", "model.generator.name")))
    with pytest.raises(GanforgeError, match=r"'lr'. It is a key of another section: optim_g.lr or optim_d.lr. Valid"):
        load_config("dcgan-fmnist", ["lr=1e-4"])  # its own name elsewhere, not a joined one (lr_g)


def _each_names_the_key_meant(pairs: tuple[tuple[str, str], ...]) -> None:
    """Each ``--set KEY=VALUE`` of ``pairs`` is refused with 'Did you mean' the key paired with it."""
    for given, meant in pairs:
        with pytest.raises(GanforgeError, match=rf"unknown config key '{given.split('=')[0]}'. Did you mean "
                                                rf"'{meant}'\? Valid keys"):
            load_config("dcgan-fmnist", [given])


def _each_refused_saying(pairs: tuple[tuple[str, str], ...]) -> None:
    """Each ``--set KEY=VALUE`` of ``pairs`` is refused with a message that holds the text paired with it."""
    for given, said in pairs:
        with pytest.raises(GanforgeError, match=re.escape(said)):
            load_config("dcgan-fmnist", [given])


NETWORK_WIDTHS = ("The networks' widths are options of each: model.generator.options and "
                  "model.discriminator.options (base_channels in dcgan-fmnist's and MMagic's, feature_dim in hw6's; "
                  "ganforge config PRESET shows them).")


MIXED_PRECISION = ("Mixed precision is train.precision: bf16 (autocast), fp16 (autocast with a GradScaler; CUDA "
                   "only), fp32, or auto (bf16 where the CPU computes it natively, else fp32).")
GPUS = ("The device is train.device (cuda:N names GPU N); for several GPUs, start ganforge under torchrun: torchrun "
        "--nproc_per_node N -m ganforge train ... (docs/distributed.md).")


def test_a_key_as_the_seeds_name_it_names_ganforges(tmp_path):
    """hw6's config dict (n_epoch, z_dim, workspace_dir, model_type), seed 000's num_workers and noise_size,
    seed 001's batchSize and MMEngine's max_iters: a student copying them got only the list of sections."""
    _each_names_the_key_meant((("n_epoch=5", "train.max_epochs"), ("train.n_epochs=5", "train.max_epochs"),
                               ("noise_size=100", "model.z_dim"), ("model.nz=100", "model.z_dim"),
                               ("batchSize=64", "train.batch_size"), ("max_iters=100", "train.max_steps"),
                               ("model.discriminator_steps=5", "objective.n_critic"),  # seed 004's BaseGAN
                               ("disc_accu_iters=2", "objective.accumulate")))
    # PyTorch's DCGAN example's names (--imageSize, --dataroot, --manualSeed) and WGAN-GP's LAMBDA, as keys too
    _each_names_the_key_meant((("imageSize=64", "data.resolution"), ("data.dataroot=faces", "data.root"),
                               ("manualSeed=1", "train.seed"), ("objective.lambda_gp=10", "objective.gp_weight")))
    # seed 004's MMagic model arguments: SRCNNNet's upscale_factor, BaseModel's pretrained and strict
    _each_names_the_key_meant((("upscale_factor=4", "sr.scale"), ("pretrained=runs/a", "model.init_from"),
                               ("model.strict=false", "model.init_strict")))
    # seed 001's Config (zDim, numEpochs, logStep), in its camel case
    _each_names_the_key_meant((("zDim=64", "model.z_dim"), ("numEpochs=5", "train.max_epochs"),
                               ("logStep=625", "log.every_steps")))
    # seed 004's model = dict(type='BaseGAN', ...); seed 000's BATCH_SIZE, outside or inside train
    _each_refused_saying((
            ("model.type=BaseGAN", "unknown config key 'model.type'. MMagic's model type is model.task here: 'gan' "
                                   "(BaseGAN, DCGAN) or 'sr' (SRGAN, BaseEditModel); a GAN algorithm of your own is "
                                   "objective.name. Valid keys in model"),
            ("BATCH_SIZE=64", "unknown config key 'BATCH_SIZE'. It is a key of another section: train.batch_size. "
                              "Valid keys"),
            ("train.BATCH_SIZE=64", "unknown config key 'train.BATCH_SIZE'. Did you mean 'batch_size'? Config keys "
                                    "are lower case. Valid keys")))
    # the DCGAN example's nc, and the logging and checkpoint intervals of PyTorch-GAN's and other loops
    _each_names_the_key_meant((("nc=3", "data.channels"), ("img_channels=3", "data.channels"),
                               ("log_interval=10", "log.every_steps"), ("print_freq=10", "log.every_steps"),
                               ("save_interval=500", "log.checkpoint_every_steps"),
                               ("checkpoint_interval=500", "log.checkpoint_every_steps")))
    for given, said in (("beta1", "Adam's betas are one list for each network's optimizer: optim_g.betas and "
                                  "optim_d.betas, as [0.5, 0.999]."),
                        ("outf", "A run's folder is not a config key: give it as --out FOLDER; its "
                                 "checkpoints, samples and TensorBoard logs go inside it."),
                        ("workspace_dir", "hw6's workspace_dir is two things here: the images' folder is data.root, "
                                          "and the run's folder (its checkpoints, samples and TensorBoard logs) is "
                                          "given as --out FOLDER."),
                        ("work_dir", "A run's folder is not a config key: give it as --out FOLDER; its "
                                     "checkpoints, samples and TensorBoard logs go inside it."),
                        ("num_workers", "ganforge has no DataLoader workers: batches come from memory. "
                                        "train.threads sets torch's threads."),
                        ("model_type", "The hw6 presets are its model types: hw6-dcgan-64, hw6-wgan-64 and "
                                       "hw6-wgan-gp-64."),
                        # PyTorch's DCGAN example's widths
                        ("ngf", NETWORK_WIDTHS), ("ndf", NETWORK_WIDTHS),
                        # Lightning's and accelerate's names for mixed precision, and a loop's GPU choice
                        ("amp", MIXED_PRECISION), ("mixed_precision", MIXED_PRECISION), ("fp16", MIXED_PRECISION),
                        ("gpus", GPUS), ("gpu_ids", GPUS),
                        # seed 004's BaseGAN and BaseEditModel arguments
                        ("train_cfg", "MMagic's train_cfg (discriminator_steps, generator_steps, the accumulation) is "
                                      "the objective section here: objective.n_critic, objective.generator_steps and "
                                      "objective.accumulate."),
                        ("test_cfg", "Evaluation is the eval section: eval.metrics, eval.num_samples, "
                                     "eval.every_kimg (a super-resolution run's held-out images: sr.val_root)."),
                        ("data_preprocessor", "ganforge scales the images itself, to [-1, 1] for a GAN (MMagic's "
                                              "mean 127.5, std 127.5) and [0, 1] for super-resolution; there is no "
                                              "preprocessor to set."),
                        ("init_cfg", "Each network initializes its own weights (the DCGAN presets N(0, 0.02), as "
                                     "the seeds; a plugin's network in its __init__); to start from a trained run, "
                                     "set model.init_from."),
                        # seed 001's MLP widths and flattened image size
                        ("hiddenDim", "The MLPs' hidden widths are model.generator.options.hidden and "
                                      "model.discriminator.options.hidden, each a list (seed 001's hiddenDim=512 is "
                                      "[512])."),
                        ("imageDim", "The image size is data.channels and data.resolution (seed 001's imageDim = 28 "
                                     "* 28 * 1 is data.resolution=28, data.channels=1).")):
        with pytest.raises(GanforgeError, match=rf"unknown config key '{given}'. {re.escape(said)} Valid keys: "):
            load_config("dcgan-fmnist", [f"{given}=2"])
    _each_names_the_key_meant((("train_dataloader=[]", "data"), ("load_from=runs/a", "model.init_from"),
                               ("custom_hooks=[]", "hooks"), ("ema_config={}", "ema")))  # MMEngine's
    for given, key, said in (
            ("optim_wrapper.generator.lr=1", "optim_wrapper", "Each network has its own optimizer section: optim_g "
                                                              "and optim_d."),
            ("optim_g.optimizer=adam", "optim_g.optimizer", "Did you mean 'name'? It names the optimizer: adam, "
                                                            "adamw, rmsprop or sgd."),
            ("param_scheduler=[]", "param_scheduler", "Each optimizer has its learning-rate schedule: "
                                                      "optim_g.schedule and optim_d.schedule."),
            ("resume_from=runs/a", "resume_from", "A run is continued by training its folder again with --resume.")):
        with pytest.raises(GanforgeError, match=re.escape(f"unknown config key '{key}'. {said} Valid keys")):
            load_config("dcgan-fmnist", [given])
    with pytest.raises(GanforgeError) as e:  # a whole section's name means it at the top level only
        load_config("dcgan-fmnist", ["data.dataset=mnist"])
    assert "unknown config key 'data.dataset'. Valid keys in data: " in str(e.value)
    with pytest.raises(GanforgeError) as e:  # a hook's table: its own key, which train.max_epochs is not
        load_config("dcgan-fmnist", ['hooks=[{name = "x", epochs = 3}]'])
    assert "unknown config key 'hooks[0].epochs'. Valid keys in hooks[0]: name, options." in str(e.value)
    mine = tmp_path / "mine.toml"  # a config file's key says the same
    mine.write_text("n_epoch = 10\n")
    with pytest.raises(GanforgeError, match=r"mine.toml': unknown config key 'n_epoch'. Did you mean 'train.max_"):
        load_config(str(mine))


def test_a_bad_key_says_where_it_was_set(tmp_path):
    """A file's key, or the --set that gave it (the last, where two did; the one that set the section it is in)."""
    path = tmp_path / "mine.toml"
    path.write_text("[train]\nbogus = 1\n")
    with pytest.raises(GanforgeError, match=r"^config file '.*mine.toml': unknown config key 'train.bogus'\. Valid"):
        load_config(str(path))
    with pytest.raises(GanforgeError, match=r"^--set train.bogus=3: unknown config key 'train.bogus'\."):
        load_config(str(path), ["train.bogus=2", "train.max_steps=5", "train.bogus=3"])
    with pytest.raises(GanforgeError, match=r"^--set train.batch_size=x: config key 'train.batch_size' must be an "):
        load_config("dcgan-fmnist", ["train.max_steps=5", "train.batch_size=x"])
    with pytest.raises(GanforgeError, match=r"^--set hooks=\[\{bogus=1\}\]: unknown config key 'hooks\[0\].bogus'"):
        load_config("dcgan-fmnist", ["hooks=[{bogus=1}]"])
    with pytest.raises(GanforgeError, match=r"^--set train.x.y=1: unknown config key 'train.x'\."):
        load_config("dcgan-fmnist", ["train.x.y=1"])
    with pytest.raises(GanforgeError, match=r"^overrides\['train.batch_size'\]: config key 'train.batch_size' must"):
        ganforge.train("dcgan-fmnist", tmp_path / "run", {"train": {"batch_size": "x"}})
    assert not (tmp_path / "run").exists()


def test_a_folder_named_by_a_date_or_a_number(tmp_path):
    # TOML and YAML read 2024-01-05 as a date: a config file holding one ended in a traceback (no JSON for dates)
    (tmp_path / "d.toml").write_text("[data]\nroot = 2024-01-05\n")
    (tmp_path / "d.yaml").write_text("data:\n  root: 2024-01-05\n")
    for name in ("d.toml", "d.yaml"):
        assert load_config(str(tmp_path / name)).data.root == "2024-01-05"
    # --set of a key that holds text keeps the text as written: these were "must be a string, got 2024 (int)"
    for text in ("2024-01-05", "2024", "1.5", "true"):
        assert load_config("dcgan-fmnist", [f"data.root={text}"]).data.root == text
    assert load_config("dcgan-fmnist", ["train.max_steps=2024"]).train.max_steps == 2024  # a number stays one
    with pytest.raises(GanforgeError, match=r"'train.max_steps' must be an integer, got '2024-01-05' \(str\)"):
        load_config("dcgan-fmnist", ["train.max_steps=2024-01-05"])
    # YAML's tags for bytes and sets build values no config holds: tracebacks too
    (tmp_path / "b.yaml").write_text("data:\n  root: !!binary aGVsbG8=\nplugins: !!set {a.py: null}\n")
    with pytest.raises(GanforgeError, match=r"^config file '.*b.yaml' gives 'data.root' a bytes value, which a config "
                                            r"cannot hold; give text, a number, true or false, a list or a table.$"):
        load_config(str(tmp_path / "b.yaml"))


def test_wrong_type_names_key_and_type():
    with pytest.raises(GanforgeError, match=r"config key 'train.batch_size' must be an integer, got 'big'"):
        load_config("dcgan-fmnist", ["train.batch_size=big"])
    with pytest.raises(GanforgeError, match=r"'optim_g.betas' must be a list of 2 numbers"):
        load_config("dcgan-fmnist", ["optim_g.betas=[0.5]"])
    with pytest.raises(GanforgeError, match=r"'ema.enabled' must be a boolean \(true or false\)"):
        load_config("dcgan-fmnist", ["ema.enabled=1"])
    # a duration with a unit where seconds belong says the number; a list's item says lists are set whole
    with pytest.raises(GanforgeError, match=r"'train.max_seconds' must be a number, got '10m' \(str\)\. It counts "
                                            r"seconds: for 10m, write 600\.$"):
        load_config("dcgan-fmnist", ["train.max_seconds=10m"])
    with pytest.raises(GanforgeError, match=r"for 2 hours, write 7200\.$"):
        load_config("dcgan-fmnist", ["train.max_seconds=2 hours"])
    with pytest.raises(GanforgeError, match=r"'train.max_steps' must be an integer, got 10000.0 \(float\); write "
                                            r"10000\.$"):  # 1e4 is a float in TOML
        load_config("dcgan-fmnist", ["train.max_steps=1e4"])
    with pytest.raises(GanforgeError, match=r"got '3x' \(str\)\.$"):  # no unit it knows: no guess
        load_config("dcgan-fmnist", ["train.max_seconds=3x"])
    with pytest.raises(GanforgeError, match=r"unknown config key 'optim_g.betas\[0\]'\. A list is set whole: "
                                            r"optim_g.betas=\[\.\.\.\]\. Valid keys"):
        load_config("dcgan-fmnist", ["optim_g.betas[0]=0.5"])


@pytest.mark.parametrize("override, pattern", [
    ("train.batch_size=0", r"'train.batch_size' must be > 0, got 0"),
    ("train.batch_size=-4", r"'train.batch_size' must be > 0"),
    ("optim_g.lr=0", r"'optim_g.lr' must be > 0"),
    ("optim_d.lr=-1e-4", r"'optim_d.lr' must be > 0"),
    ("train.max_steps=-1", r"'train.max_steps' must be >= 0"),
    ("objective.n_critic=0", r"'objective.n_critic' must be > 0"),
    ("log.sample_every_epochs=-1", r"'log.sample_every_epochs' must be >= 0, got -1"),
    ("log.every_steps=0", r"'log.every_steps' must be > 0"),
    ("log.keep_checkpoints=-1", r"'log.keep_checkpoints' must be >= 0, got -1"),
    ("optim_g.name=adamm", r"config key 'optim_g.name' is 'adamm'. Did you mean 'adam'\? Valid optimizers: adam, "
                           r"adamw, rmsprop, sgd."),
    ("ema.decay=1.5", r"'ema.decay' must be in \[0, 1\)"),
    ("objective.loss=hing", r"unknown loss 'hing'. Did you mean 'hinge'"),
    ("data.name=fmnist", r"'data.name' is 'fmnist'"),
    ("data.channels=2", r"'data.channels' must be 1 or 3"),
    ("optim_g.lr=nan", r"'optim_g.lr' must be a number, got nan"),  # nan passed every `< 0 or == 0` test
    ("optim_d.betas=[nan, 0.9]", r"'optim_d.betas\[0\]' must be a number, got nan"),
    ("optim_g.eps=-1", r"'optim_g.eps' must be >= 0, got -1.0"),  # torch's ValueError traceback at the first step
    ("optim_d.weight_decay=-0.1", r"'optim_d.weight_decay' must be >= 0"),
    ("optim_g.clip_grad_norm=-1", r"'optim_g.clip_grad_norm' must be >= 0, got -1.0"),  # torch would flip the gradients
    ("health.min_diversity=nan", r"'health.min_diversity' must be a number, got nan"),  # the check was off unseen
    ("train.seed=4294967296", r"'train.seed' must be in \[0, 2\*\*32\), got 4294967296"),
    ("model.generator=dcgan", r"'model.generator' is a section, not a value \(got 'dcgan'\); set one of its keys, "
                              r"e.g. model.generator.name=\.\.\.$"),  # it said "must be a <class '...NetConfig'>"
    ("log.num_samples=20000", r"'log.num_samples' is 20,000, more than one grid image shows \(at most 10,000\)"),
    ("eval.every_kimg=0.0001", r"'eval.every_kimg' is 0.0001, less than one image"),  # a ZeroDivisionError traceback
    ("eval.every_kimg=inf", r"'eval.every_kimg' must be a finite number, got inf; where 0 is allowed, it means off"),
    ("optim_g.lr=inf", r"'optim_g.lr' must be a finite number, got inf"),  # NaN at the first step
    ("optim_d.eps=0", r"'optim_d.eps' must be > 0 for adam, got 0.0: it divides by sqrt\(v\) \+ eps"),  # NaN too
    ("optim_d.alpha=1.5", r"'optim_d.alpha' must be in \[0, 1\), got 1.5: RMSprop keeps"),  # v < 0: NaN, unchecked by torch
    # tracebacks from torch.empty and collections.deque
    ("model.z_dim=99999999999999999999", r"'model.z_dim' is 99999999999999999999, beyond a 64-bit integer"),
    ("health.window=-99999999999999999999", r"'health.window' is -99999999999999999999, beyond a 64-bit integer"),
    ("model.generator.options.base_channels=99999999999999999999",
     r"model.generator 'dcgan' option 'base_channels' is 99999999999999999999, beyond a 64-bit integer"),
    ("health.max_rollbacks=-1", r"'health.max_rollbacks' must be >= 0, got -1"),  # it meant 0, unsaid
    ("data.mirror=mirror.example.org/mnist", r"'data.mirror' is 'mirror.example.org/mnist', not a URL: give the base "
                                             r"URL"),  # urllib's "unknown url type" traceback at the download
    # a GAN reads no sr setting: it was dropped without a word
    ("sr.scale=2", r"^config key 'sr.scale' is set \(2\), but model.task is 'gan', which reads no sr "
                   r"setting \(they are super-resolution's\); set model.task=sr \(the srcnn-x4, msrresnet-x4 and "
                   r"srgan-x4 presets do\) or drop sr.scale.$"),
    # a GPU as other tools name it (Keras' and Lightning's "gpu", "gpu:1", "CUDA"), and Apple's mps
    ("train.device=gpu", r"'train.device' must be auto, cpu or cuda\[:N\], got 'gpu'\. Did you mean 'cuda'\?$"),
    ("train.device=gpu:1", r"got 'gpu:1'\. Did you mean 'cuda:1'\?$"),
    ("train.device=CUDA", r"got 'CUDA'\. Did you mean 'cuda'\?$"),
    ("train.device=mps", r"got 'mps'\. ganforge trains on CPUs and CUDA GPUs; torch's mps backend \(Apple's GPUs\) is "
                         r"not supported\.$"),
    # Python's True on the command line, and one item where a list is wanted (seed 001's hiddenDim=512)
    ("log.progress=True", r"'log.progress' must be a boolean \(true or false\), got 'True' \(str\); TOML writes it "
                          r"in lower case: true\.$"),
    ("optim_g.milestones=500", r"'optim_g.milestones' must be a list of integers, got 500 \(int\); a list of one is "
                               r"written \[500\]\.$"),
    ("optim_g.betas=(0.5, 0.999)", r"'optim_g.betas' must be a list of 2 numbers, got '\(0.5, 0.999\)' \(str\); a "
                                   r"list is written in square brackets: \[0.5, 0.999\]\.$"),  # as seed 000 writes it
    # a value of a fixed few in capitals (as papers write FP32) or misspelt: the valid one was not offered
    ("train.precision=FP32", r"'train.precision' must be fp32, bf16, fp16 or auto, got 'FP32'\. Did you mean "
                             r"'fp32'\?$"),
    ("health.on_nan=Rollback", r"'health.on_nan' must be 'stop' or 'rollback', got 'Rollback'\. Did you mean "
                               r"'rollback'\?$"),
    ("eval.ref=Test", r"'eval.ref' must be 'train' or 'test', got 'Test'\. Did you mean 'test'\?$"),
    ("objective.d_real_fake=avg", r"'objective.d_real_fake' must be 'sum' or 'mean', got 'avg'\. Did you mean "
                                  r"'mean'\?$"),
    ("eval.metrics=fid50k_full", r"^config key 'eval.metrics': 'fid50k_full' is StyleGAN's name for FID from 50,000 "
                                 r"images; ask for fid with eval.num_samples=50000\.$"),
    ("train.compile_mode=reduce_overhead", r"\(torch.compile's modes\), got 'reduce_overhead'\. Did you mean "
                                           r"'reduce-overhead'\?$"),
])
def test_range_and_name_errors(override, pattern):
    with pytest.raises(GanforgeError, match=pattern):
        load_config("dcgan-fmnist", [override])


def test_reuse_fake_needs_single_steps():
    with pytest.raises(GanforgeError, match=r"'objective.reuse_fake' is true \(the G step reuses the D step's fakes\), "
                                            r"which needs .* but objective.n_critic=2; add --set objective.reuse_fake=false"):
        load_config("mlp-gan-fmnist", ["objective.n_critic=2"])


def test_a_run_too_short_for_one_g_update_is_refused():
    """hw6-wgan-64 with train.max_steps=3, a smoke test, ran 3 critic steps and saved the untrained G, unsaid."""
    with pytest.raises(GanforgeError, match=r"^config key 'train.max_steps' is 3, but G's first update comes after 5 "
                                            r"steps \(a step is one D micro-batch: objective.n_critic=5 x "
                                            r"objective.accumulate=1\), so G would end untrained; set train.max_steps "
                                            r"to at least 5.$"):
        load_config("hw6-wgan-64", ["train.max_steps=3"])
    with pytest.raises(GanforgeError, match=r"after 4 steps .*n_critic=2 x objective.accumulate=2"):
        load_config("dcgan-fmnist", ["objective.reuse_fake=false", "objective.n_critic=2", "objective.accumulate=2",
                                     "train.max_steps=3"])
    assert load_config("hw6-wgan-64", ["train.max_steps=5"]).train.max_steps == 5


def test_mmengines_hook_and_other_gan_scripts_names_say_ganforges():
    """MMEngine's CheckpointHook(interval, by_epoch, max_keep_ckpts, save_best), its train_cfg val_interval,
    visualizer and launcher, pix2pix's --gan_mode, PyTorch-GAN's --n_classes and --lrG: each got only the list of
    sections (or 'Did you mean 'eval'?' for interval)."""
    _each_names_the_key_meant((("max_keep_ckpts=3", "log.keep_checkpoints"), ("n_classes=10", "model.num_classes"),
                               ("lrG=1e-4", "optim_g.lr"), ("lrD=1e-4", "optim_d.lr"),
                               ("gan_mode=lsgan", "objective.loss"), ("loss_type=hinge", "objective.loss"),
                               ("gan_loss=hinge", "objective.loss")))
    evaluation = ("Evaluation as the run trains is eval.every_kimg, in thousands of images between evaluations "
                  "(an interval of N steps is N x train.batch_size / 1000), with eval.metrics and eval.num_samples; "
                  "checkpoints/best.pt keeps the best by the first of eval.metrics.")
    hooks = ("The intervals of MMEngine's hooks are log.every_steps (LoggerHook), log.checkpoint_every_steps "
             "(CheckpointHook) and log.sample_every_steps (sample grids); by epochs, log.checkpoint_every_epochs and "
             "log.sample_every_epochs.")
    for given, said in (("val_interval", evaluation), ("eval_interval", evaluation), ("fid_interval", evaluation),
                        ("save_best", evaluation), ("interval", hooks), ("by_epoch", hooks),
                        ("visualizer", "TensorBoard event files go to the run's tb folder (log.tensorboard), its "
                                       "scalars every log.every_steps and its sample grids every "
                                       "log.sample_every_steps."),
                        ("vis_backends", "TensorBoard event files go to the run's tb folder (log.tensorboard)"),
                        ("launcher", GPUS),
                        ("auto_scale_lr", "train.batch_size is the global batch under torchrun, so the learning "
                                          "rates hold for any number of processes; for another train.batch_size, "
                                          "set optim_g.lr and optim_d.lr."),
                        ("n_samples", "The sample grids hold log.num_samples images; evaluation scores "
                                      "eval.num_samples."),
                        ("val_evaluator", "Evaluation is the eval section: eval.metrics")):
        with pytest.raises(GanforgeError, match=rf"unknown config key '{given}'. {re.escape(said)}"):
            load_config("dcgan-fmnist", [f"{given}=2"])


def test_mmengines_ema_settings_say_ganforges():
    """Seed 004's ema_config=dict(momentum=..., interval=...) as MMEngine's ExponentialMovingAverage takes it, whose
    momentum is the new weights' share (1 - decay), and ema-pytorch's beta: the first got the list of keys alone,
    interval the sentence for MMEngine's logging hooks."""
    _each_refused_saying((
            ("ema.momentum=0.001", "unknown config key 'ema.momentum'. MMEngine's EMA momentum is the new weights' "
                                   "share, so it is 1 - ema.decay here: momentum 0.001 is ema.decay=0.999. "
                                   "Valid keys in ema"),
            ("ema.interval=1", "unknown config key 'ema.interval'. The EMA copy follows G after every G update; "
                               "there is no interval to set (ema.start_step is its first step). Valid keys in ema"),
            ("ema.beta=0.999", "unknown config key 'ema.beta'. Did you mean 'decay'? (ema-pytorch's beta is "
                               "ema.decay here.) Valid keys in ema")))


def test_precision_and_dataset_as_others_name_them():
    """Lightning's precision=16-mixed or 32, torch's bfloat16, a loop's amp; a dataset ganforge has no loader for
    (CelebA, LSUN, the anime faces): each got only the list of valid values."""
    for given, said in (("16-mixed", "'16-mixed'. Did you mean 'fp16'?"), ("32", "'32'. Did you mean 'fp32'?"),
                        ("bfloat16", "'bfloat16'. Did you mean 'bf16'?"),
                        ("bf16-mixed", "'bf16-mixed'. Did you mean 'bf16'?"),
                        ("amp", "'amp'. Mixed precision is train.precision: bf16 (autocast), fp16 (autocast with a "
                                "GradScaler; CUDA only), fp32, or auto (bf16 where the CPU computes it natively, else "
                                "fp32).")):
        with pytest.raises(GanforgeError, match=re.escape(f"config key 'train.precision' must be fp32, bf16, fp16 or "
                                                          f"auto, got {said}")):
            load_config("dcgan-fmnist", [f"train.precision={given}"])
    with pytest.raises(GanforgeError, match=re.escape(
            "config key 'data.name' is 'celeba'. Valid datasets: fashion-mnist, mnist, cifar10, folder, npy. For "
            "another set of images (CelebA, LSUN, anime faces), download them and set data.name=folder and data.root "
            "to their folder.")):
        load_config("dcgan-fmnist", ["data.name=celeba"])


def test_a_list_is_taken_where_a_key_holds_names_with_commas(tmp_path):
    """eval.metrics = ["fid", "kid"] (as MMEngine's configs and ganforge.evaluate take metrics) and a list of
    DiffAugment policies were "must be a string, got ['fid', 'kid'] (list)"; each is the comma-separated string it
    means."""
    cfg = load_config("dcgan-fmnist", ['eval.metrics=["fid", "kid"]', 'objective.diffaugment=["color", "translation"]'])
    assert (cfg.eval.metrics, cfg.objective.diffaugment) == ("fid,kid", "color,translation")
    (tmp_path / "c.toml").write_text('name = "c"\n[eval]\nmetrics = ["fid", "pr"]\n')
    assert load_config(str(tmp_path / "c.toml")).eval.metrics == "fid,pr"
    with pytest.raises(GanforgeError, match=re.escape("config key 'eval.metrics' must be a string or a list of "
                                                      "strings, got ['fid', 3] (list).")):
        load_config("dcgan-fmnist", ['eval.metrics=["fid", 3]'])
    with pytest.raises(GanforgeError, match=re.escape("unknown metric 'fd'")):  # the names are checked as before
        load_config("dcgan-fmnist", ['eval.metrics=["fd"]'])


def test_a_setting_as_torch_and_papers_name_it_offers_ganforges():
    """torch's scheduler classes (CosineAnnealingLR, StepLR), a 'val' split, conditional BatchNorm as 'cbn', the
    'average' of D's two terms, a projection D: each got only the list of valid values."""
    _each_refused_saying((
            ("optim_g.schedule=CosineAnnealingLR", "config key 'optim_g.schedule' is 'CosineAnnealingLR'. Did you "
                                                   "mean 'cosine'? Valid schedules"),
            ("optim_d.schedule=StepLR", "is 'StepLR'. Did you mean 'multistep'?"),
            ("optim_g.schedule=LinearLR", "is 'LinearLR'. Did you mean 'linear'?"),
            ("data.split=val", "config key 'data.split' must be 'train' or 'test', got 'val'. Did you mean 'test'?"),
            ("eval.ref=validation", "config key 'eval.ref' must be 'train' or 'test', got 'validation'. Did you mean "
                                    "'test'?"),
            ("model.class_conditioning=cbn", "got 'cbn'. Did you mean 'batchnorm'?"),
            ("model.class_conditioning=concat", "got 'concat'. Did you mean 'embedding'?"),
            ("model.class_conditioning=projection", "got 'projection'. model.class_conditioning is how G takes the "
                                                    "class; a D with features(x) and head(h), as every built-in one, "
                                                    "takes it by projection (Miyato & Koyama 2018) whatever it says."),
            ("objective.d_real_fake=average", "got 'average'. Did you mean 'mean'?")))


def test_unknown_preset_suggests():
    with pytest.raises(GanforgeError, match=r"unknown preset 'dcgan-fmnst'. Did you mean 'dcgan-fmnist'"):
        load_config("dcgan-fmnst")
    # a name in other case, or the beginning of one or more names, as a student types them
    for typed, guess in [("DCGAN-fmnist", "'dcgan-fmnist'"), ("dcgan", "'dcgan-fmnist'"),
                         ("hw6", "one of 'hw6-dcgan-64', 'hw6-wgan-64', 'hw6-wgan-gp-64'")]:
        with pytest.raises(GanforgeError, match=re.escape(f"unknown preset '{typed}'. Did you mean {guess}?")):
            load_config(typed)


def test_a_missing_path_is_a_missing_file_not_an_unknown_preset(tmp_path, monkeypatch):
    """A path with a folder or a suffix in it was 'unknown preset', with the list of presets."""
    (tmp_path / "runs" / "demo").mkdir(parents=True)
    (tmp_path / "mine.toml").write_text('name = "mine"')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GanforgeError, match=r"^config file 'runs/dmeo' does not exist. Did you mean 'runs/demo'\?$"):
        load_config("runs/dmeo")
    with pytest.raises(GanforgeError, match=r"^config file './mine' does not exist. Did you mean 'mine.toml'\?$"):
        load_config("./mine")
    with pytest.raises(GanforgeError, match=r"^config file 'mine.tmol' does not exist. Did you mean 'mine.toml'\?$"):
        load_config("mine.tmol")


def test_network_option_errors():
    # spectral normalization is a switch of every network, not one of the D's norms; the norms in other case
    with pytest.raises(GanforgeError, match=re.escape(
            "discriminator option 'norm' must be batch, instance or none, got 'spectral'. Spectral normalization "
            "is model.discriminator.spectral_norm=true, for any network (with norm=none beside it, as SNGAN's D).")):
        build_networks(load_config("dcgan-fmnist", ["model.discriminator.options.norm=spectral"]))
    with pytest.raises(GanforgeError, match=re.escape("got 'Instance'. Did you mean 'instance'?")):
        build_networks(load_config("hw6-wgan-gp-64", ["model.discriminator.options.norm=Instance",
                                                      "data.root=."]))
    with pytest.raises(GanforgeError, match=r"unknown option 'base_channel' for model.generator 'dcgan'. "
                                            r"Did you mean 'base_channels'"):
        load_config("dcgan-fmnist", ["model.generator.options.base_channel=8"])
    with pytest.raises(GanforgeError, match=r"model.discriminator 'dcgan' option 'base_channels' must be an integer"):
        load_config("dcgan-fmnist", ["model.discriminator.options.base_channels=1.5"])
    with pytest.raises(GanforgeError, match=r"model.discriminator 'mlp' option 'slope' must be a number, got nan"):
        load_config("mlp-gan-fmnist", ["model.discriminator.options.slope=nan"])  # was a traceback in backward
    with pytest.raises(GanforgeError, match=r"unknown option 'norm' for model.generator 'dcgan'. Valid options: "
                                            r"base_channels\."):  # only D has a norm option; G ignored it unseen
        load_config("dcgan-fmnist", ["model.generator.options.norm=instance"])
    with pytest.raises(GanforgeError, match=r"unknown generator 'dcgn'. Did you mean 'dcgan'.*Registered"):
        load_config("dcgan-fmnist", ["model.generator.name=dcgn"])



@pytest.mark.parametrize("given, said", [
    ("model.generator.name=DCGANGenerator", "unknown generator 'DCGANGenerator'. MMagic's DCGANGenerator is "
                                            "'mmagic-dcgan' here. Registered"),  # not ganforge's own "dcgan"
    ("model.discriminator.name=DCGANDiscriminator", "MMagic's DCGANDiscriminator is 'mmagic-dcgan' here."),
    ("objective.loss=BCELoss", "unknown loss 'BCELoss'. torch's BCELoss is 'vanilla' here. Registered losses"),
    ("objective.name=DCGAN", "unknown objective 'DCGAN'. MMagic's DCGAN is 'gan' here."),
    # pix2pix's --gan_mode wgangp (a loss and a penalty), StudioGAN's adv_loss names, MMagic's GANLoss gan_type
    ("objective.loss=wgangp", "unknown loss 'wgangp'. pix2pix's wgangp is 'wgan' here, with objective.gp_weight=10 "
                              "(hw6-wgan-gp-64 sets both, and objective.n_critic=5). Registered losses"),
    ("objective.loss=WGAN-GP", "A GAN script's WGAN-GP is 'wgan' here, with objective.gp_weight=10"),
    ("objective.loss=least_square", "unknown loss 'least_square'. StudioGAN's least_square is 'lsgan' here."),
    ("objective.loss=wasserstein", "StudioGAN's wasserstein is 'wgan' here."),
    ("objective.loss=wgan-logistic-ns", "MMagic's wgan-logistic-ns is 'vanilla' here."),
    # the seeds' and papers' plain names of the two: they got the list of losses alone
    ("objective.loss=BCE", "unknown loss 'BCE'. The seeds' BCE is 'vanilla' here. Registered losses"),
    ("objective.loss=non-saturating", "unknown loss 'non-saturating'. 'non-saturating' is 'vanilla' here."),
    ("objective.loss=mse", "unknown loss 'mse'. 'mse' is 'lsgan' here."),
])
def test_a_network_or_loss_as_seed_004_names_it_names_ganforges(given, said):
    """Seed 004's config names MMagic's classes (type='DCGANGenerator', pixel_loss=dict(type='L1Loss')), and
    seeds 000 and 001 torch's nn.BCELoss: spelling offered nothing, or 'gan' by chance."""
    with pytest.raises(GanforgeError, match=re.escape(said)):
        load_config("mmagic-dcgan-64", [given])


def test_an_sr_pixel_loss_as_mmagic_names_it_names_ganforges():
    with pytest.raises(GanforgeError, match=re.escape("unknown pixel loss 'L1Loss'. MMagic's and torch's L1Loss is "
                                                      "'l1' here.")):
        load_config("srcnn-x4", ["sr.pixel_loss=L1Loss"])


@pytest.mark.parametrize("value, said", [
    ("(0.5, 0.999)", "line 2, 'betas = (0.5, 0.999)': a list is written in square brackets: betas = [0.5, 0.999] "
                     "(Invalid value (at line 2, column 9))."),  # seed 000's spelling
    ("True", "TOML writes true in lower case"),
    ("None", "TOML has no None: leave the key out for its default"),
    ("dict(lr=1e-4)", "a table is written { key = value, ... } or as a [section] of its own"),
    ("adam # the seeds' optimizer",
     "line 2, \"betas = adam # the seeds' optimizer\": text is quoted: betas = \"adam\" "),
])
def test_a_value_written_as_python_writes_it_says_what_toml_wants(tmp_path, value, said):
    """tomllib says only "Invalid value (at line 2, column 9)" for each."""
    path = tmp_path / "mine.toml"
    path.write_text(f"[optim_g]\nbetas = {value}\n")
    with pytest.raises(GanforgeError, match=re.escape(f"config file '{path}' is not valid TOML: ") + ".*"
                                            + re.escape(said)):
        load_config(str(path))


def test_config_file_and_roundtrip(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[train]\nbatch_size = 16\n[model]\nz_dim = 32\n')
    cfg = load_config(str(path))
    assert (cfg.name, cfg.train.batch_size, cfg.model.z_dim) == ("mine", 16, 32)
    assert config_from_dict(cfg.to_dict()) == cfg
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\n")
    with pytest.raises(GanforgeError, match="not valid TOML"):
        load_config(str(bad))
    bad.write_text('plugins = ["mine.py"]\nname = "x"\nplugins = []\n[train]\nseed = 1\n')  # plugins added on top
    with pytest.raises(GanforgeError, match=r"is not valid TOML: line 3 sets 'plugins' again \(line 1 sets it first\); "
                                            r"TOML allows each key once in its table, so keep one \(Cannot overwrite"):
        load_config(str(bad))
    windows = tmp_path / "notepad.toml"  # UTF-8 with a BOM and CRLF line ends, as Notepad saves it
    windows.write_bytes("[train]\r\nbatch_size = 8\r\n".encode("utf-8-sig"))
    assert load_config(str(windows)).train.batch_size == 8
    bad.write_bytes(b"\xff\xfe[\x00t\x00")  # saved as UTF-16 by an editor: a traceback before
    with pytest.raises(GanforgeError, match=r"is not UTF-8 text, as TOML must be \(byte 0xff at offset 0\)"):
        load_config(str(bad))


def test_a_checkpoint_or_export_given_as_config_is_named(tmp_path, capsys):
    """``ganforge train runs/a/checkpoints/last.pt --out runs/b``, to go on from it or start from its weights, said
    "is not UTF-8 text, as TOML must be; save it as UTF-8" of the checkpoint."""
    run = tmp_path / "a"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text('{"name": "dcgan-fmnist"}')
    last = run / "checkpoints" / "last.pt"
    last.write_bytes(b"PK\x03\x04\x80")  # torch.save writes a zip; what it holds is not read
    assert run_cli("train", last, "--out", tmp_path / "b") == 2
    assert capsys.readouterr().err == (
        f"ganforge: error: config file '{last}' is a checkpoint; give a preset name or a .toml, .yaml or .json file. "
        f"To continue the run in it: ganforge train dcgan-fmnist --out {run} --resume; to train a new run like it: "
        f"ganforge train {run / 'config.json'} --out NEW_FOLDER; to start a new run from its weights: "
        f"--set model.init_from={last}\n")
    other = tmp_path / "netG_epoch_24.pth"  # no run's: PyTorch's DCGAN example saves its G so
    other.write_bytes(b"PK\x03\x04\x80")
    with pytest.raises(GanforgeError, match=re.escape(f"config file '{other}' is a checkpoint; give a preset name or a "
                                                      ".toml, .yaml or .json file. To start a new run from its "
                                                      f"weights: --set model.init_from={other}")):
        load_config(str(other))
    export = tmp_path / "g.onnx"
    export.write_bytes(b"\x08\x0a")
    with pytest.raises(GanforgeError, match=re.escape(f"config file '{export}' is a generator exported by ganforge "
                                                      "export; give a preset name or a .toml, .yaml or .json file.")):
        load_config(str(export))


def test_a_folder_given_as_config_is_named(tmp_path):
    with pytest.raises(GanforgeError, match=r"is a folder; give a preset name or a .toml, .yaml or .json file\.$"):
        load_config(str(tmp_path))  # it said "does not exist"
    (tmp_path / "config.json").write_text('{"name": "dcgan-fmnist"}')  # a run folder: say how to continue it
    with pytest.raises(GanforgeError, match=rf"To continue the run in it: ganforge train dcgan-fmnist "
                                            rf"--out {re.escape(str(tmp_path))} --resume; to train a new run like "
                                            rf"it: ganforge train {re.escape(str(tmp_path / 'config.json'))} "
                                            rf"--out NEW_FOLDER$"):
        load_config(str(tmp_path))


def test_apply_overrides_does_not_mutate():
    base = {"train": {"max_steps": 1}}
    out = apply_overrides(base, ["train.max_steps=2"])
    assert base["train"]["max_steps"] == 1 and out["train"]["max_steps"] == 2
    with pytest.raises(GanforgeError, match="must look like key=value"):
        apply_overrides(base, ["train.max_steps"])


def test_a_set_typed_with_full_width_characters_is_given_back_in_ascii(capsys):
    """A Chinese input method types ＝, ６４, ． and ，, which look like =, 64, . and , but are other characters: the
    errors quoted them without saying so."""
    hint = " It holds full-width characters, as a Chinese or Japanese input method types them; in ASCII it is "
    for typed, said, plain in (
            ("train.max_steps＝5", "--set 'train.max_steps＝5' must look like key=value", "train.max_steps=5"),
            ("train.batch_size=６４", "config key 'train.batch_size' must be an integer, got '６４' (str).",
             "train.batch_size=64"),
            ("train．batch_size=64", "unknown config key 'train．batch_size'.", "train.batch_size=64"),
            ("train.batch_size=64，", "must be an integer, got '64，' (str).", "train.batch_size=64,")):
        assert run_cli("train", "dcgan-fmnist", "--dry-run", "--set", typed) == 2
        err = capsys.readouterr().err
        assert said in err and err.endswith(f"{hint}'{plain}'.\n"), err
    assert run_cli("train", "dcgan-fmnist", "--dry-run", "--set", "train.batch_size=x") == 2  # ASCII: no hint
    assert "full-width" not in capsys.readouterr().err


def test_data_folders_are_recorded_by_their_absolute_path(image_folder, tmp_path, monkeypatch, capsys):
    """data.root=faces was stored as 'faces': evaluate, --resume and sample --nearest of the run from any other
    folder said its data did not exist. As model.init_from and plugins: from the working directory, or in a
    config file from the file's folder; a path not found stays as given, for its error."""
    monkeypatch.chdir(image_folder.parent)
    sets = [f"data.root={image_folder.name}", "data.name=folder", "data.resolution=28", "data.channels=1"]
    assert load_config("dcgan-fmnist", sets).data.root == str(image_folder)
    assert load_config("srcnn-x4", [f"sr.val_root={image_folder.name}"]).sr.val_root == str(image_folder)
    (image_folder.parent / "mine.toml").write_text(f'[data]\nname = "folder"\nroot = "{image_folder.name}/a"\n')
    monkeypatch.chdir(tmp_path)
    assert load_config(str(image_folder.parent / "mine.toml")).data.root == str(image_folder / "a")
    assert load_config("dcgan-fmnist", ["data.root=nothere"]).data.root == "nothere"
    monkeypatch.chdir(image_folder.parent)  # a run trained here, then measured from elsewhere
    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *[a for s in sets for a in ("--set", s)],
                   "--set", "train.max_steps=1", "--set", "train.batch_size=8", "--set", "log.progress=false") == 0
    assert json.loads((run / "config.json").read_text())["data"]["root"] == str(image_folder)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert run_cli("evaluate", run, "--metrics", "swd", "--num", 8) == 0, capsys.readouterr().err


def test_a_path_may_name_an_environment_variable(image_folder, tmp_path, monkeypatch, capsys):
    """root = "$SCRATCH/faces", as a config shared across a cluster's machines writes it, said the folder
    '$SCRATCH/faces' did not exist; the run records the path it found."""
    monkeypatch.setenv("GANFORGE_TEST_SCRATCH", str(image_folder.parent))
    (tmp_path / "mine.toml").write_text(f'[data]\nname = "folder"\n'
                                        f'root = "$GANFORGE_TEST_SCRATCH/{image_folder.name}"\n')
    assert load_config(str(tmp_path / "mine.toml")).data.root == str(image_folder)
    root = "${GANFORGE_TEST_SCRATCH}/" + image_folder.name
    assert load_config("dcgan-fmnist", [f"data.root={root}"]).data.root == str(image_folder)
    monkeypatch.delenv("GANFORGE_TEST_SCRATCH")  # unset: kept as given, for the error that names it
    assert load_config("dcgan-fmnist", [f"data.root={root}"]).data.root == root
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "r", "--set", f"data.root={root}", "--set",
                   "data.name=folder") == 2
    assert capsys.readouterr().err == (f"ganforge: error: data.root '{root}' does not exist. The environment variable "
                                       "GANFORGE_TEST_SCRATCH in it is not set.\n")
    # and a plugin file's path, as the data's (it read neither '~' nor a variable)
    examples = Path(__file__).resolve().parents[1] / "examples"
    monkeypatch.setenv("GANFORGE_TEST_CODE", str(examples))
    assert load_config("dcgan-fmnist", ['plugins=["$GANFORGE_TEST_CODE/custom_hook.py"]']).plugins == (
        str(examples / "custom_hook.py"),)


def test_dry_run_prints_config_and_parameter_counts(capsys):
    assert run_cli("train", "mmengine-gan-fmnist", "--dry-run") == 0
    out = capsys.readouterr().out
    assert '"z_dim": 100' in out
    # G: 100*128+128 + 128*256+256 + 2*256 + 256*512+512 + 2*512 + 512*1024+1024 + 2*1024 + 1024*784+784
    assert "G 'mlp': 1,510,032 parameters" in out
    assert "D 'mlp': 533,505 parameters" in out  # 784*512+512 + 512*256+256 + 256+1


def test_config_command_prints_toml(capsys):
    import tomllib

    assert run_cli("config", "hw6-wgan-gp-64") == 0
    parsed = tomllib.loads(capsys.readouterr().out)
    assert config_from_dict(parsed) == load_config("hw6-wgan-gp-64")


@pytest.mark.parametrize("preset", sorted(preset_names()))
def test_every_preset_round_trips_through_yaml_and_json(preset, tmp_path, capsys):
    """JSON too, the format of a run's config.json, which train reads (--format json was an invalid choice)."""
    for form in ("yaml", "json"):
        assert run_cli("config", preset, "--format", form) == 0
        path = tmp_path / f"{preset}.{form}"
        path.write_text(capsys.readouterr().out)
        assert load_config(str(path)) == load_config(preset)


def test_a_hand_written_yaml_config(tmp_path):
    """As a StudioGAN or MMEngine user writes one: comments, 1e-4 without a dot (a string in YAML 1.1),
    inline lists; .yml too. Unknown keys and wrong types are caught as in TOML."""
    path = tmp_path / "mine.yml"
    path.write_text("# my run\ntrain:\n  batch_size: 16\noptim_g:\n  lr: 1e-4   # not a string\n"
                    "  betas: [0.0, 0.9]\nmodel:\n  generator: {name: dcgan, options: {base_channels: 8}}\n")
    cfg = load_config(str(path))
    assert (cfg.name, cfg.train.batch_size, cfg.optim_g.lr, cfg.optim_g.betas) == ("mine", 16, 1e-4, (0.0, 0.9))
    assert cfg.model.generator.options == {"base_channels": 8}
    path.write_text("train:\n  batch_sise: 16\n")
    with pytest.raises(GanforgeError, match=r"unknown config key 'train.batch_sise'. Did you mean 'batch_size'\?"):
        load_config(str(path))
    path.write_text("train:\n  batch_size: many\n")
    with pytest.raises(GanforgeError, match="config key 'train.batch_size'"):
        load_config(str(path))
    path.write_text("")  # empty, like an empty TOML file: every default, with a warning (a `config > F` that failed)
    with pytest.warns(UserWarning, match=r"config file '.*mine.yml' sets no keys, so every key takes its default"):
        assert load_config(str(path)).train == Config().train
    upper = tmp_path / "MINE.YAML"  # was read as TOML
    upper.write_text("train:\n  batch_size: 16\n")
    assert load_config(str(upper)).train.batch_size == 16


def test_a_yaml_merge_key_may_override_what_it_merges(tmp_path):
    """YAML's << merges an anchored mapping, and the keys beside it override its keys: no key is set twice."""
    path = tmp_path / "merge.yaml"
    path.write_text("optim_g: &adam\n  lr: 0.001\n  betas: [0.5, 0.999]\noptim_d:\n  <<: *adam\n  lr: 0.004\n")
    cfg = load_config(str(path))
    assert (cfg.optim_g.lr, cfg.optim_d.lr, cfg.optim_d.betas) == (0.001, 0.004, (0.5, 0.999))


@pytest.mark.parametrize("text, pattern", [
    ("train:\n  batch_size: 16\n optim_g: {}\n", r"is not valid YAML: .* \(at line 3, column 2\)$"),
    ("- train\n- model\n", r"holds a list; a config is a mapping of sections"),
    ("train:\n  1: 16\n", r"has the key 1 \(int\) in train; config keys are names"),
    ("train: !!python/object:os.system {}\n", r"is not valid YAML: could not determine a constructor"),
    # PyYAML kept the last of the two, so the one the user edited could be the one ignored
    ("train:\n  batch_size: 32\n  max_steps: 9\n  batch_size: 64\n", r"^config file '.*bad.yaml' sets 'batch_size' "
     r"twice in one mapping \(at lines 2 and 4\); YAML keeps the last without a word, so delete the one not meant\.$"),
])
def test_bad_yaml_configs(text, pattern, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(GanforgeError, match=pattern):
        load_config(str(path))
    path.write_bytes("train: {}\n".encode("utf-16"))
    with pytest.raises(GanforgeError, match=r"is not UTF-8 text \(byte 0xff at offset 0\); save it as UTF-8"):
        load_config(str(path))


def test_a_runs_config_json_trains_a_new_run_like_it(idx_root, tmp_path, capsys):
    """A run's config.json is a config file: the same config again, with new --set on top."""
    run = tmp_path / "my run"  # a space: the commands offered below quote the path, to paste into a shell
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=2")) == 0
    cfg = load_config(str(run / "config.json"), ["train.seed=7"])
    assert cfg == dataclasses.replace(config_from_dict(json.loads((run / "config.json").read_text())),
                                      train=dataclasses.replace(cfg.train, seed=7))
    assert cfg.name == "dcgan-fmnist" and cfg.data.root == str(idx_root)
    assert run_cli("train", run / "config.json", "--out", tmp_path / "b", "--set", "train.max_steps=1") == 0
    assert run_cli("config", run) == 2  # a run folder: both commands are offered
    assert (f"To continue the run in it: ganforge train dcgan-fmnist --out '{run}' --resume; to train a new run like "
            f"it: ganforge train '{run / 'config.json'}' --out NEW_FOLDER") in capsys.readouterr().err
    for text, pattern in (('{"train": {"max_steps": 3,}}', r"is not valid JSON: Expecting property name enclosed in "
                                                            r"double quotes \(at line 1, column 27\)"),
                          ("[1, 2]", r"holds a list; a config is an object of sections"),
                          ("null", r"holds null; a config is an object of sections"),  # it said "a JSON NoneType"
                          # the last of the two was kept without a word
                          ('{"train": {"max_steps": 3, "max_steps": 4}}', r"sets 'max_steps' twice in one object; "
                                                                          r"JSON keeps the last without a word, so "
                                                                          r"delete the one not meant\.$")):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(GanforgeError, match=pattern):
            load_config(str(tmp_path / "bad.json"))


def test_default_config_is_typed():
    cfg = Config()
    assert isinstance(cfg.optim_g.betas, tuple)


def test_a_python_or_unknown_suffix_config_says_what_is_read(tmp_path):
    """Seed 004's MMagic configs are Python: that was "not valid TOML: Invalid value (at line 1, column 9)"."""
    mm = tmp_path / "mm_config.py"
    mm.write_text("model = dict(type='DCGAN')\n")
    with pytest.raises(GanforgeError, match=r"config file '.*mm_config.py' is a Python file, but ganforge's configs are "
                                            r"TOML, YAML or JSON .* is a plugin: --set 'plugins=\[\".*mm_config.py\"\]'\.$"):
        load_config(str(mm))
    # the --set to paste is quoted for a shell, a path with a space too (it was --set plugins='["my nets.py"]' by hand)
    (tmp_path / "my nets.py").write_text("")
    with pytest.raises(GanforgeError) as e:
        load_config(str(tmp_path / "my nets.py"))
    given = str(e.value).split("is a plugin: ")[1].rstrip(".")
    assert shlex.split(given) == ["--set", f'plugins=["{tmp_path / "my nets.py"}"]']
    csv = tmp_path / "c.csv"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(GanforgeError, match=r"'.*c.csv' is not valid TOML \(read as TOML: its suffix is none of "
                                            r"\.toml, \.yaml, \.yml, \.json\): Expected '='"):
        load_config(str(csv))
