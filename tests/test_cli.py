"""The CLI contract: exit 0 on success, 2 with a one-line message (no traceback) on bad input."""
import os
import signal
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import run_cli
from ganforge import cli, evaluate
from ganforge.errors import GanforgeError
from ganforge.config import DataConfig, load_config, preset_names
from ganforge.data import load_images


def ganforge(*args):
    return subprocess.run([sys.executable, "-m", "ganforge", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args, message", [
    (["train", "no-such-preset"], "unknown preset 'no-such-preset'"),
    (["train", "dcgan-fmnist", "--set", "train.batch_size=0"], "'train.batch_size' must be > 0"),
    (["train", "dcgan-fmnist", "--set", "trian.max_steps=1"], "Did you mean 'train'"),
    (["train", "dcgan-fmnist", "--set", "train.seed=-1"], "config key 'train.seed' must be in [0, 2**32), got -1."),
    (["train", "hw6-dcgan-64", "--set", "data.root=/no/such/folder", "--set", "train.max_steps=1"],
     "data.root '/no/such/folder' does not exist"),
    (["sample", "/no/such/run", "--out", "x.npy"], "'/no/such/run' does not exist; give a run folder"),
    (["evaluate", "/no/such/run"], "'/no/such/run' does not exist; give a run folder, a checkpoint file, a .npy"),
    (["data", "folder", "--out", "x.npy"], "ganforge data folder needs --root PATH"),
    (["data", "fashion-mnist", "--out", "x.npy", "--channels", "2"], "--channels must be 1 (grayscale) or 3 (RGB), got 2"),
    (["data", "fashion-mnist", "--out", "x.npy", "--resolution", "-1"], "--resolution must be > 0"),
    # 0 was taken as the default (28x28, one channel), where the message says > 0
    (["data", "fashion-mnist", "--out", "x.npy", "--resolution", "0"], "--resolution must be > 0 (leave it out for "
                                                                       "the dataset's own size), got 0."),
    (["data", "fashion-mnist", "--out", "x.npy", "--channels", "0"], "--channels must be 1 (grayscale) or 3 (RGB), "
                                                                     "got 0."),
    (["data", "fashion-mnist", "--out", "."], "--out '.' is a folder; name the .npy file to write, e.g. "
                                              "fashion-mnist-train.npy"),  # it wrote the hidden file ./.npy
    (["data", "fashion-mnist", "--out", "x.npz"], "--out 'x.npz': ganforge data writes a .npy of uint8 images "
                                                  "(N, C, H, W); name the file .npy."),  # it wrote x.npz.npy
    (["data", "fashion-mnist", "--out", "x.png"], "--out 'x.png': ganforge data writes a .npy"),  # x.png.npy
    (["data", "fashion-mnist", "--out", "x.npy", "--root", "/no/such/idx"],
     "--root '/no/such/idx' does not exist or is not a folder."),  # it said data.root, which data has no flag of
    (["sample", "runs/x", "--out", ""], "--out is empty; give a path."),  # '' was the current folder
    (["evaluate", "runs/x", "--json", ""], "--json is empty; give a path."),
    # named as the flag and before the samples are made (it said "data.root '/no/such/refs' does not exist")
    (["evaluate", "runs/x", "--data-root", "/no/such/refs"], "--data-root '/no/such/refs' does not exist or is not a "
                                                             "folder; give the folder that holds the reference"),
    (["bench", "compare", "mlp-gan-fmnist", "--steps", "0"], "--steps must be > 0, got 0"),
    (["bench", "train", "dcgan-fmnist", "--steps", "-5"], "--steps must be > 0, got -5"),
    (["bench", "compare", "mlp-gan-fmnist", "--rounds", "0"], "--rounds must be > 0, got 0"),
    (["bench", "evaluate", "--num", "1"], "--num must be >= 2, got 1"),
])
def test_bad_input_exits_2_without_traceback(args, message, tmp_path):
    result = ganforge(*args, *(["--out", tmp_path / "r"] if args[0] == "train" else []))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("ganforge: error:")


def test_bench_takes_only_its_own_sub_commands_options():
    """an option of another bench sub-command is refused rather than ignored (PRESET after the options:
    test_performance::test_bench_compare_writes_ratio)."""
    for args, message in ((["train"], "the following arguments are required: PRESET"),
                          (["evaluate", "--rounds", "3"], "unrecognized arguments: --rounds 3"),
                          (["train", "dcgan-fmnist", "--num", "5"], "unrecognized arguments: --num 5")):
        result = ganforge("bench", *args)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_missing_path_is_offered_the_closest_name_beside_it(tmp_path):
    from ganforge.errors import did_you_mean_path

    for name in ("demo2", "demo27", "s.npy", "s6.npy"):
        (tmp_path / name).mkdir()
    assert did_you_mean_path(tmp_path / "demo72") == f" Did you mean '{tmp_path / 'demo27'}'?"  # swapped letters
    assert did_you_mean_path(tmp_path / "demo3") == f" Did you mean '{tmp_path / 'demo2'}'?"
    assert did_you_mean_path(tmp_path / "zzzz") == ""  # nothing close
    assert did_you_mean_path(tmp_path / "no" / "demo2") == ""  # its folder is missing too


def test_version_names_ganforge_torch_and_python():
    """For a bug report; read from package metadata, so it works without importing torch."""
    import ganforge as package
    import torch

    out = ganforge("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == (f"ganforge {package.__version__} (torch {torch.__version__}, "
                                  f"Python {sys.version.split()[0]})")


def test_presets_lists_every_preset(capsys):
    assert run_cli("presets") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == preset_names()
    assert lines[0].split(None, 1)[1] == load_config(preset_names()[0]).description


def test_presets_starts_without_torch():
    """The first command a newcomer runs read each preset through the whole config check, which imports torch
    and the networks: about 2.8 s on 2 cores, where the list itself is TOML read in milliseconds."""
    script = "import sys; from ganforge.cli import main; main(['presets']); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "False" and "dcgan-fmnist" in done.stdout


@pytest.mark.parametrize("command, unbuffered", [(["presets"], "1"), (["config", "dcgan-fmnist"], "")])
def test_a_reader_that_leaves_early_gets_no_traceback(command, unbuffered):
    """`ganforge presets | head -1`: the pipe's reader is gone, printing line by line (unbuffered) or
    all at once at the end (block-buffered, a pipe's default)."""
    proc = subprocess.Popen([sys.executable, "-m", "ganforge", *command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": unbuffered})
    proc.stdout.close()  # long before ganforge has imported torch, so its first write finds no reader
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 128 + signal.SIGPIPE, err
    assert err == ""


def test_argparse_errors_exit_2():
    result = ganforge("train")
    assert result.returncode == 2 and "PRESET|CONFIG_FILE" in result.stderr


@pytest.mark.parametrize("args", [["sample", "run", "--out", "x.npy", "--seed", "-1"],  # numpy refused it: traceback
                                  ["evaluate", "x.npy", "--seed", "99999999999999999999"]])  # torch overflowed
def test_a_seed_out_of_range_is_refused_by_the_parser(args):
    result = ganforge(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"argument --seed: must be an integer in [0, 2**32), got '{args[-1]}'" in result.stderr


def test_a_json_out_named_for_another_format_is_refused(tmp_path, capsys):
    """runs --json runs.csv wrote JSON under a .csv name, which a spreadsheet cannot read; so for each --json."""
    for args in (["runs", tmp_path], ["evaluate", tmp_path / "x.npy"], ["bench", "train", "dcgan-fmnist"]):
        with pytest.raises(SystemExit) as stopped:
            cli.main([*map(str, args), "--json", str(tmp_path / "t.CSV")])
        assert stopped.value.code == 2
        assert capsys.readouterr().err.endswith(f"argument --json: '{tmp_path / 't.CSV'}' names a .csv file, but "
                                                "ganforge writes JSON there; name it 't.json' (pandas.read_json "
                                                "reads it as a table)\n")
    assert not list(tmp_path.iterdir())
    assert run_cli("runs", tmp_path, "--json", tmp_path / "runs") == 0  # no suffix: JSON all the same, as asked
    with pytest.raises(GanforgeError, match=r"^json_out '.*t.csv' names a .csv file, but ganforge writes JSON there"):
        evaluate(tmp_path / "x.npy", json_out=tmp_path / "t.csv")


def test_a_misspelt_choice_gets_did_you_mean(capsys, tmp_path):
    """A command, a subcommand or a flag's choice: argparse listed them all without saying which was meant."""
    for args, meant in ((["trian"], "train"), (["bench", "comapre", "x"], "compare"),
                        (["config", "dcgan-fmnist", "--format", "yml"], "yaml"),
                        (["data", "fmnist", "--out", "x.npy"], "fashion-mnist")):  # not 'mnist', the closest spelling
        with pytest.raises(SystemExit) as e:
            cli.main(args)
        assert e.value.code == 2
        assert capsys.readouterr().err.rstrip().endswith(f"). Did you mean '{meant}'?")
    with pytest.raises(SystemExit):
        cli.main(["xyz"])  # nothing close: the list alone
    assert capsys.readouterr().err.rstrip().endswith("'config')")
    # a dataset named where no choices are listed: a config's data.name, evaluate's --dataset
    np.save(tmp_path / "s.npy", np.zeros((2, 1, 28, 28), np.uint8))
    for args in (["train", "dcgan-fmnist", "--dry-run", "--set", "data.name=fmnist"],
                 ["evaluate", str(tmp_path / "s.npy"), "--dataset", "fmnist", "--metrics", "kid"]):
        assert run_cli(*args) == 2
        assert "'fmnist'. Did you mean 'fashion-mnist'? Valid datasets: fashion-mnist, mnist" in capsys.readouterr().err


def test_two_overrides_after_one_set_get_a_hint():
    result = ganforge("bench", "train", "dcgan-fmnist", "--set", "train.batch_size=8", "train.seed=3")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unrecognized arguments: train.seed=3; give each override its own --set" in result.stderr
    joined = ganforge("train", "dcgan-fmnist", "--dry-run", "--set", "optim_g.lr=1e-3, optim_d.lr=2e-3")
    assert joined.returncode == 2 and ("--set 'optim_g.lr=1e-3, optim_d.lr=2e-3' sets 2 keys; give each its own --set: "
                                       "--set optim_g.lr=1e-3 --set optim_d.lr=2e-3.") in joined.stderr
    # a string value with commas is no such mistake
    assert "color,translation" in ganforge("train", "dcgan-fmnist", "--dry-run", "--set",
                                           "objective.diffaugment=color,translation").stdout


def test_a_config_key_given_as_a_flag_gets_its_set(capsys):
    """``--max-steps 3``, as other trainers take it: argparse said only "unrecognized arguments"."""
    for args, hint in ((["train", "dcgan-fmnist", "--max-steps", "3"], "--set train.max_steps=3"),
                       (["train", "dcgan-fmnist", "--batch-size=32"], "--set train.batch_size=32"),
                       (["train", "dcgan-fmnist", "--steps", "100"], "--set train.max_steps=100"),
                       (["bench", "train", "dcgan-fmnist", "--lr", "1e-3"], "--set optim_g.lr=1e-3 (or optim_d.lr)"),
                       (["config", "dcgan-fmnist", "--epochs"], "--set train.max_epochs=...")):
        with pytest.raises(SystemExit) as e:
            cli.main(args)
        assert e.value.code == 2
        assert capsys.readouterr().err.rstrip().endswith(f"; settings are config keys, given with --set: {hint}")
    # a section is no value, and a command without --set takes no config key
    for args in (["train", "dcgan-fmnist", "--train", "3"], ["sample", "runs/a", "--out", "g.png", "--lr", "3"]):
        with pytest.raises(SystemExit):
            cli.main(args)
        assert capsys.readouterr().err.rstrip().endswith(f"unrecognized arguments: {' '.join(args[-2:])}")


def test_a_flag_as_other_gan_scripts_name_it_gets_ganforges_set(capsys):
    """PyTorch's DCGAN example takes --imageSize, --nz, --niter, --manualSeed and --dataroot; PyTorch-GAN's scripts
    --n_epochs, --latent_dim, --img_size, --b1 and --n_cpu; MMEngine's --max-iters: argparse named them alone,
    where ``--set n_epoch=5`` and the same names in a config file were answered."""
    settings = (("--n_epochs", "200", "train.max_epochs"), ("--niter", "25", "train.max_epochs"),
                ("--latent_dim", "100", "model.z_dim"), ("--nz", "100", "model.z_dim"),
                ("--imageSize", "64", "data.resolution"), ("--img_size", "28", "data.resolution"),
                ("--batchSize", "64", "train.batch_size"), ("--manualSeed", "999", "train.seed"),
                ("--dataroot", "faces", "data.root"), ("--max-iters", "1000", "train.max_steps"),
                ("--sample_interval", "400", "log.sample_every_steps"), ("--lambda_gp", "10", "objective.gp_weight"),
                ("--load-from", "runs/a", "model.init_from"),
                ("--lr_g", "1e-4", "optim_g.lr"))  # a section joined to its key, as StudioGAN names G's settings
    said = "; settings are config keys, given with --set: --set "
    for args, hint in (*((["train", "dcgan-fmnist", flag, value], f"{said}{key}={value}")
                         for flag, value, key in settings),
                       (["train", "dcgan-fmnist", "--n-epoch=5"], said + "train.max_epochs=5"),
                       (["bench", "train", "dcgan-fmnist", "--ema-decay", "0.99"], said + "ema.decay=0.99"),
                       # no one key: a sentence
                       (["train", "dcgan-fmnist", "--b1", "0.5"],
                        "; Adam's betas are one list for each network's optimizer: optim_g.betas and optim_d.betas, "
                        "as [0.5, 0.999]."),
                       (["train", "dcgan-fmnist", "--n_cpu", "8"],
                        "; ganforge has no DataLoader workers: batches come from memory. train.threads sets torch's "
                        "threads."),
                       (["config", "dcgan-fmnist", "--workers", "2"],
                        "; ganforge has no DataLoader workers: batches come from memory. train.threads sets torch's "
                        "threads."),
                       (["train", "dcgan-fmnist", "--cuda"],
                        "; the device is train.device: auto (the default) takes a GPU when torch sees one; cpu, "
                        "cuda or cuda:N names one."),
                       (["train", "dcgan-fmnist", "--outf", "out"],
                        "; the run's folder (its checkpoints, samples and logs) is given as --out FOLDER"),
                       (["train", "dcgan-fmnist", "--ngf", "32"],
                        "; the networks' widths are options of each: model.generator.options and "
                        "model.discriminator.options (base_channels in dcgan-fmnist's and MMagic's, feature_dim in "
                        "hw6's; ganforge config PRESET shows them)."),
                       (["train", "dcgan-fmnist", "--amp"],
                        "; mixed precision is train.precision: bf16 (autocast), fp16 (autocast with a GradScaler; CUDA "
                        "only), fp32, or auto (bf16 where the CPU computes it natively, else fp32)."),
                       (["train", "dcgan-fmnist", "--nc", "3"], f"{said}data.channels=3"),
                       (["train", "dcgan-fmnist", "--log-interval", "10"], f"{said}log.every_steps=10"),
                       (["train", "dcgan-fmnist", "--ngpu", "2"],
                        "; torchrun starts one process per GPU or CPU share, and each finds its rank itself: "
                        "torchrun --nproc_per_node N -m ganforge train ... (docs/distributed.md)"),
                       # the run's folder is train's alone: config's output is its stdout
                       (["config", "dcgan-fmnist", "--outf", "out"], "")):
        with pytest.raises(SystemExit) as e:
            cli.main(args)
        assert e.value.code == 2
        flag = [a for a in args if a.startswith("--")][-1]
        assert capsys.readouterr().err.rstrip().endswith(f"unrecognized arguments: {' '.join(args[args.index(flag):])}"
                                                         f"{hint}")


def test_another_training_scripts_flag_says_what_ganforge_takes(capsys):
    """MMEngine's tools/train.py takes --work-dir and --launcher, many scripts --config, and
    torch.distributed.launch passes --local-rank: argparse said "unrecognized arguments: --config" alone."""
    launch = ("; torchrun starts one process per GPU or CPU share, and each finds its rank itself: torchrun "
              "--nproc_per_node N -m ganforge train ... (docs/distributed.md)")
    psi = "; ganforge truncates the noise z itself: --truncation T draws each z within [-T, T]"
    scale = "; a run upscales by the sr.scale it was trained at; for another factor, train a run with --set sr.scale=N"
    on_the_cpu = "; evaluate, sample and upscale compute on the CPU (training's device is train.device)"
    for args, said in ((["train", "--config", "mine.toml", "--out", "r"],
                        "--config; a config is the first argument, without a flag: ganforge train mine.toml ..."),
                       (["train", "dcgan-fmnist", "--work-dir", "runs/x"],
                        "--work-dir runs/x; the run's folder (its checkpoints, samples and logs) is given as --out "
                        "FOLDER"),
                       (["train", "dcgan-fmnist", "--launcher", "pytorch"], "--launcher pytorch" + launch),
                       (["train", "dcgan-fmnist", "--local_rank=0"], "--local_rank=0" + launch),
                       (["sample", "runs/a", "--out", "g.png", "--work-dir", "x"], "--work-dir x"),  # a file's --out
                       # a sampling script's: sample.py's -n and --num-samples, StyleGAN's --network and --trunc
                       (["sample", "runs/a", "--out", "g.png", "-n", "16"], "-n 16; the number of images is --num N"),
                       (["evaluate", "runs/a", "--num_samples=100"],
                        "--num_samples=100; the number of images is --num N"),
                       (["sample", "runs/a", "--out", "g.png", "--truncation-psi", "0.7"],
                        "--truncation-psi 0.7" + psi),
                       # StyleGAN3's gen_images.py --trunc (its psi), which argparse took as an abbreviation of
                       # --truncation, another truncation; and its --seeds 0-7, one image a seed
                       (["sample", "runs/a", "--out", "g.png", "--trunc", "0.7"], "--trunc 0.7" + psi),
                       (["sample", "runs/a", "--out", "g.png", "--seeds", "0-7"],
                        "--seeds 0-7; ganforge draws --num N images from one --seed S (image i of a seed is the same "
                        "for any --num)"),
                       (["sample", "--network", "runs/a/checkpoints/last.pt", "--out", "g.png"],
                        "--network; the run folder or checkpoint is the first argument, without a flag: ganforge "
                        "sample RUN_DIR|CHECKPOINT ..."),
                       (["upscale", "--ckpt", "runs/sr", "in.png", "--out", "x.png"],
                        "--ckpt; the run folder or checkpoint is the first argument, without a flag: ganforge "
                        "upscale CHECKPOINT ..."),
                       (["train", "dcgan-fmnist", "--network", "g.pt"], "--network g.pt"),  # train reads no G
                       # Real-ESRGAN's -s/--outscale, and a script's --scale, to an upscaler trained at its own
                       (["upscale", "runs/sr", "in.png", "--out", "x.png", "-s", "2"], "-s 2" + scale),
                       (["upscale", "runs/sr", "in.png", "--out", "x.png", "--outscale=2"], "--outscale=2" + scale),
                       # torch-fidelity's metric switches and inputs, pytorch-fid's --dims and --device
                       (["evaluate", "x.npy", "--fid", "--isc", "--prc"],
                        "--fid --isc --prc; the metrics are one option: --metrics fid,is,pr"),
                       (["evaluate", "x.npy", "--input1", "y.npy"],
                        "--input1 y.npy; the images to score are the first argument (a run, checkpoint, .npy or "
                        "folder), and the reference is a dataset's split (--dataset NAME, --ref test) or images of "
                        "your own (--ref FILE.npy or --ref FOLDER)"),
                       (["evaluate", "x.npy", "--dims", "2048"], "--dims 2048; the features are --features NAME: "
                                                                 "fmnist (128-d) or inception (2048-d pool3)"),
                       (["evaluate", "x.npy", "--device", "cuda"], "--device cuda" + on_the_cpu),
                       # torch.onnx's and other exporters' switches
                       (["export", "runs/a", "--out", "g.onnx", "--dynamic"],
                        "--dynamic; the batch is free already (--batch 0, the default), and an SR generator's height "
                        "and width"),
                       (["export", "runs/a", "--out", "g.onnx", "--half"],
                        "--half; the exported generator computes in float32, as the run's G does"),
                       (["sample", "runs/a", "--out", "g.png", "--gpu", "0"], "--gpu 0" + on_the_cpu)):
        with pytest.raises(SystemExit) as e:
            cli.main(args)
        assert e.value.code == 2
        assert capsys.readouterr().err.rstrip().endswith(f"unrecognized arguments: {said}")


def test_a_misspelt_flag_gets_did_you_mean(capsys):
    """argparse said "unrecognized arguments: --nmu 4" alone."""
    for args, said in ((["sample", "runs/a", "--out", "g.png", "--nmu", "4"], "--nmu 4; did you mean '--num' (ganforge "
                                                                            "sample --help lists them)?"),
                       (["bench", "compare", "mlp-gan-fmnist", "--rouns=3"],
                        "--rouns=3; did you mean '--rounds' (ganforge bench compare --help lists them)?"),
                       (["train", "dcgan-fmnist", "--reusme"], "--reusme; did you mean '--resume' (ganforge train "
                                                               "--help lists them)?"),
                       (["train", "dcgan-fmnist", "--xyzzy"], "--xyzzy"),  # nothing close: no guess
                       # ahead of a required flag's absence, which it may be: argparse named only the absence
                       (["sample", "runs/a", "--ot", "g.png"], "--ot g.png; did you mean '--out' (ganforge sample "
                                                               "--help lists them)?"),
                       (["upscale", "runs/sr", "in.png", "--tiles", "64"], "--tiles 64; did you mean '--tile' "
                                                                            "(ganforge upscale --help lists them)?")):
        with pytest.raises(SystemExit) as e:
            cli.main(args)
        assert e.value.code == 2
        assert capsys.readouterr().err.rstrip().endswith(f"unrecognized arguments: {said}")
    # a required flag's absence alone is still said, its usage line showing it as required
    with pytest.raises(SystemExit):
        cli.main(["sample", "runs/a"])
    assert "ganforge sample: error: the following arguments are required: --out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["sample", "--out", "g.png"])
    err = capsys.readouterr().err
    assert " --out OUT " in err and "the following arguments are required: RUN_DIR|CHECKPOINT" in err


def test_train_then_sample_in_fresh_processes(idx_root, tmp_path):
    """Each command in its own process, as a user runs them (nothing pre-imported)."""
    run = tmp_path / "run"
    result = ganforge("train", "dcgan-fmnist", "--out", run, "--set", f"data.root={idx_root}",
                      "--set", "train.max_steps=3", "--set", "log.progress=false")
    assert result.returncode == 0, result.stderr
    result = ganforge("sample", run, "--num", 20, "--out", tmp_path / "s.npy")
    assert result.returncode == 0, result.stderr
    import numpy as np
    assert np.load(tmp_path / "s.npy").shape == (20, 1, 28, 28)


def test_data_writes_npy_and_names_the_file_it_wrote(idx_root, tmp_path, capsys):
    import numpy as np

    assert run_cli("data", "fashion-mnist", "--root", idx_root, "--out", tmp_path / "x", "--num", 5,
                   "--resolution", 32, "--channels", 3) == 0
    out = tmp_path / "x.npy"
    assert str(out) in capsys.readouterr().out  # np.save adds .npy; the message must say so
    images = np.load(out)
    assert images.shape == (5, 3, 32, 32) and images.dtype == np.uint8
    assert np.array_equal(images, load_images(DataConfig(root=str(idx_root), resolution=32, channels=3))[:5].numpy())
    # more than the split holds: all of them ("first N"), which it said only by the shape
    assert run_cli("data", "fashion-mnist", "--root", idx_root, "--out", tmp_path / "all.npy", "--num", 1000) == 0
    assert capsys.readouterr().out == (f"ganforge: wrote (256, 1, 28, 28) uint8 images of fashion-mnist:train to "
                                       f"{tmp_path / 'all.npy'} (all of them: the split holds 256, not --num 1,000)\n")


def test_a_path_flag_written_with_equals_reads_tilde_as_home(idx_root, tmp_path, monkeypatch, capsys):
    """The shell expands --out ~/x but not --out=~/x, which wrote into a folder named '~' in the working directory."""
    import shutil

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    shutil.copytree(idx_root, tmp_path / "home" / "idx")
    assert run_cli("data", "fashion-mnist", "--root=~/idx", "--out=~/x.npy", "--num", 2) == 0
    assert (tmp_path / "home" / "x.npy").is_file() and not (tmp_path / "~").exists()
    # nor a quoted '~/x', or one a script passes in a list: a positional path too, as ganforge's functions read it
    capsys.readouterr()
    assert run_cli("config", "dcgan-fmnist", "--format", "yaml") == 0
    (tmp_path / "home" / "mine.yaml").write_text(capsys.readouterr().out)
    assert run_cli("config", "~/mine.yaml") == 0
    assert capsys.readouterr().out.startswith("name = \"dcgan-fmnist\"")
    assert run_cli("runs", "~") == 0  # it said '~' does not exist
    assert capsys.readouterr().err.startswith(f"ganforge: no runs under '{tmp_path / 'home'}'")


def test_data_resizes_only_the_images_it_keeps(idx_root, tmp_path, capsys):
    # 1 image at 1,000,000 px is 1 TB, more than any machine here has; the whole split would be 256 TB,
    # so the count in the message shows which was checked. The flag it names is this command's own.
    assert run_cli("data", "fashion-mnist", "--root", idx_root, "--out", tmp_path / "x", "--num", 1,
                   "--resolution", 1_000_000) == 2
    assert ("1 image of 1x1000000x1000000 (--resolution=1000000) would need about 5,000.0 GB of memory"
            in capsys.readouterr().err)


def test_data_counts_the_float_copy_it_resizes_in(idx_root, tmp_path, capsys, monkeypatch):
    # --resolution 100000 fitted the 20 GB of uint8 images in memory, then died in an allocator traceback on the
    # 40 GB float32 copy that one image is resized in. Here 2 images of 1000x1000 are 2 MB as uint8 and 10 MB
    # with that copy; the machine is told to have 3 MB free.
    monkeypatch.setattr("ganforge.memory.psutil.virtual_memory", lambda: SimpleNamespace(available=3_000_000))
    assert run_cli("data", "fashion-mnist", "--root", idx_root, "--out", tmp_path / "x.npy", "--num", 2,
                   "--resolution", 1000) == 2
    assert ("2 images of 1x1000x1000 (--resolution=1000) would need about 10.0 MB of memory, but 3.0 MB is "
            "available; lower --resolution.") in capsys.readouterr().err
    assert not (tmp_path / "x.npy").exists()


def test_every_option_has_help():
    """`ganforge CMD --help` explains each option (sample --num and --seed, config --set had none)."""
    from ganforge.cli import all_parsers, build_parser

    bare = [f"{p.prog} {a.option_strings[-1]}" for p in all_parsers(build_parser()) for a in p._actions
            if a.option_strings and not a.help]
    assert bare == []


def test_the_commands_in_the_docs_code_blocks_parse():
    """Every `ganforge ...` line in a code block of the README and docs/ is a command the parser takes (its
    options spelled and placed as the CLI wants), so a change to the CLI cannot leave the docs behind."""
    import contextlib
    import io
    import re
    import shlex
    from pathlib import Path

    from ganforge.cli import build_parser

    root = Path(__file__).resolve().parents[1]
    commands = []
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        in_block = False
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            if line.startswith("```"):
                in_block = not in_block
            elif in_block and (m := re.match(r"^(?:\S+=\S+ )*(?:torchrun .*?-m )?ganforge (.*)$", line.strip())):
                # the command alone: no trailing comment, line continuation or shell redirection
                text = re.split(r"\s+#\s|\s[>|]\s", m.group(1))[0].rstrip("\\ ")
                commands.append((f"{doc.name}:{number}", shlex.split(text)))
    assert len(commands) > 30
    failed = []
    for where, argv in commands:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                _, extra = build_parser().parse_known_args(argv)
            if extra:
                failed.append(f"{where}: unrecognized {extra}")
        except SystemExit as e:
            if e.code:  # --version and --help exit 0
                failed.append(f"{where}: {err.getvalue().strip().splitlines()[-1]}")
    assert failed == []


def test_every_test_docs_errors_names_exists():
    """docs/errors.md says each row is checked by the test in its last column: that test must exist."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    named = set(re.findall(r"(test_\w+)::(test_\w+)", (root / "docs" / "errors.md").read_text()))
    assert len(named) > 50
    missing = [f"{module}::{name}" for module, name in sorted(named) if not (root / "tests" / f"{module}.py").is_file()
               or not re.search(rf"^def {name}\(", (root / "tests" / f"{module}.py").read_text(), re.M)]
    assert missing == []
