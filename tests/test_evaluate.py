"""ganforge evaluate end to end, with the shipped fmnist features."""
import json
import re
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.config import DataConfig, load_config
from ganforge.data import DataWarning, load_images, load_labeled
from ganforge.errors import GanforgeError
from ganforge.metrics import fmnist_net
from ganforge.data.idx import IDX_SETS
from ganforge.data.npy import load_npy
from ganforge.metrics.features import FEATURES, FeatureExtractor
from ganforge.metrics.evaluate import array_batches, evaluate_images, format_table, parse_metrics, warn_of_capped_is
from ganforge.metrics.inception_score import split_sizes
from ganforge.metrics.run import evaluate_source
from ganforge.sampling import class_folders
from ganforge.training import checkpoint as ckpt

from conftest import BITWISE, last_session_end, needs_debian_fashion_mnist, refusing_new_files, run_cli, tiny

ALL = ("fid", "kid", "is", "pr", "swd")


@pytest.fixture
def test_npy(idx_root, tmp_path):
    path = tmp_path / "real_test.npy"
    np.save(path, load_images(DataConfig(root=str(idx_root), split="test")).numpy())
    return path


def test_real_beats_noise_and_json_has_protocol(idx_root, test_npy, tmp_path, capsys):
    noise = tmp_path / "noise.npy"
    np.save(noise, np.random.default_rng(0).integers(0, 256, (64, 1, 28, 28), dtype=np.uint8))
    common = ["--num", 64, "--data-root", idx_root]
    assert run_cli("evaluate", test_npy, *common, "--json", tmp_path / "real.json") == 0
    assert "fid" in capsys.readouterr().out
    assert run_cli("evaluate", noise, *common, "--json", tmp_path / "noise.json") == 0
    real, bad = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("real", "noise"))
    assert {"fid", "kid", "is", "precision", "recall", "density", "coverage", "swd", "protocol"} <= set(real)
    proto = real["protocol"]
    assert proto["features"] == "fmnist" and proto["weights_sha256"] == fmnist_net.WEIGHTS_SHA256
    assert (proto["num_fake"], proto["reference"]) == (64, "fashion-mnist:train") and "28x28" in proto["resize"]
    assert bad["fid"] > 5 * real["fid"] and bad["swd"] > real["swd"] and bad["precision"] < real["precision"]
    assert bad["coverage"] < real["coverage"] and bad["density"] < real["density"]
    assert (proto["pr_k"], proto["dc_k"]) == (3, 5)



def test_evaluate_says_how_far_the_feature_extraction_has_got(idx_root, test_npy, tmp_path, monkeypatch, capsys):
    """In a log file a line every 30 s (here after every batch), on a terminal a tqdm bar: Inception-v3 takes about
    13 minutes for 10,000 images on 2 cores, which passed with nothing on the screen."""
    from ganforge import progress

    monkeypatch.setattr(progress, "LINE_SECONDS", 0.0)
    assert run_cli("evaluate", test_npy, "--num", 64, "--metrics", "fid", "--data-root", idx_root,
                   "--json", tmp_path / "e.json") == 0
    err = capsys.readouterr().err
    assert "ganforge: sample features: 64 of 64 images (100 %)\n" in err
    assert "ganforge: reference features: 64 of 64 images (100 %)\n" in err

def test_deterministic_and_reference_cache_is_used(idx_root, tmp_path):
    images = load_images(DataConfig(root=str(idx_root), split="test"))
    ref = DataConfig(root=str(idx_root), cache_dir=str(tmp_path / "c"))
    a = evaluate_images(array_batches(images, 16), 64, ref, ALL)
    b = evaluate_images(array_batches(images, 32), 64, ref, ALL)
    assert {k: v for k, v in a.items() if k != "protocol"} == pytest.approx({k: v for k, v in b.items()
                                                                            if k != "protocol"}, rel=1e-6)
    (cached,) = (tmp_path / "c" / "ref-features").glob("*.npz")
    data = dict(np.load(cached))
    np.savez(cached, features=data["features"] + 5.0, logits=data["logits"])  # a cache read must now show
    c = evaluate_images(array_batches(images), 64, ref, ("fid",))
    assert c["fid"] > a["fid"] + 10
    for damaged in (cached.read_bytes()[:100], b""):  # truncated: computed and cached again (it was a traceback)
        cached.write_bytes(damaged)
        assert evaluate_images(array_batches(images), 64, ref, ("fid",))["fid"] == pytest.approx(a["fid"], rel=1e-6)
        assert set(np.load(cached)) == {"features", "logits"}


def test_evaluate_a_run_folder(idx_root, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=4")) == 0
    capsys.readouterr()
    assert run_cli("evaluate", run, "--num", 40, "--metrics", "fid,is", "--val", tmp_path) == 0
    assert (f"--val is the HR validation folder of a super-resolution run; '{run}' is not one, so --val is ignored"
            in capsys.readouterr().err)  # it was ignored without a word
    out = json.loads((run / "evaluate.json").read_text())
    assert set(out) == {"fid", "is", "is_std", "protocol"} and out["protocol"]["num_fake"] == 40
    # which weights were measured: a run trained on after it was evaluated keeps figures that say their step
    assert out["protocol"]["generator"] == {"checkpoint": str(run / "checkpoints" / "last.pt"), "step": 4,
                                            "weights": "G_ema"}
    # a reference it cannot read is refused before the warning that fmnist's features are outside its domain
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run_cli("evaluate", run, "--num", 40, "--metrics", "fid", "--dataset", "fashon-mnist") == 2
        assert capsys.readouterr().err == ("ganforge: error: unknown dataset 'fashon-mnist'. Did you mean "
                                           "'fashion-mnist'? Valid datasets: fashion-mnist, mnist, cifar10, folder, "
                                           "npy.\n")
        assert run_cli("evaluate", run, "--num", 40, "--metrics", "fid", "--ref", "test", "--dataset", "folder",
                       "--data-root", tmp_path) == 2
    assert capsys.readouterr().err.startswith("ganforge: error: an image folder has one set of images and no test split")
    (run / "evaluate.json").unlink()
    assert run_cli("evaluate", run / "checkpoints", "--num", 40, "--metrics", "fid,is") == 0  # it means the run
    assert json.loads((run / "evaluate.json").read_text())["fid"] == out["fid"]
    # a checkpoint copied out of its run writes beside itself (it wrote to its folder's parent, models/../evaluate.json)
    lone = tmp_path / "models" / "g.pt"
    lone.parent.mkdir()
    shutil.copy(run / "checkpoints" / "last.pt", lone)
    assert run_cli("evaluate", lone, "--num", 40, "--metrics", "fid,is") == 0
    assert json.loads((tmp_path / "models" / "g.eval.json").read_text())["fid"] == out["fid"]
    assert not (tmp_path / "evaluate.json").exists()
    # upper-case suffixes name files too: s.NPY was a folder of PNGs, and evaluate read it as a checkpoint
    assert run_cli("sample", run, "--num", 40, "--out", tmp_path / "s.NPY") == 0
    assert run_cli("sample", run, "--num", 4, "--out", tmp_path / "g.PNG") == 0
    assert (tmp_path / "s.NPY").is_file() and (tmp_path / "g.PNG").is_file()
    assert run_cli("evaluate", tmp_path / "s.NPY", "--num", 40, "--metrics", "fid,is", "--data-root", idx_root) == 0
    assert json.loads((tmp_path / "s.eval.json").read_text())["fid"] == pytest.approx(out["fid"])  # the same images
    with pytest.raises(GanforgeError, match=r"holds a run's grids of samples, not single images; .* evaluate the run "
                                            r"itself: ganforge evaluate .*run$"):
        evaluate_source(str(run / "samples"), num=4, metrics="fid")


def test_a_run_whose_data_has_moved_is_told_to_give_data_root(idx_root, tmp_path, capsys):
    """The run's data.root, gone since it trained, was "data.root '...' does not exist", a key evaluate has no
    flag for, and only after its samples were made."""
    data, run = tmp_path / "garments", tmp_path / "run"
    shutil.copytree(idx_root, data)
    sets = tiny(idx_root, "train.max_steps=2", f"data.root={data}")
    assert run_cli("train", "dcgan-fmnist", "--out", run, *sets) == 0
    data.rename(tmp_path / "moved")
    capsys.readouterr()
    assert run_cli("evaluate", run, "--num", 10, "--metrics", "kid") == 2
    assert capsys.readouterr().err == (f"ganforge: error: the run's data.root '{data}', where its training images "
                                       "were, does not exist or is not a folder; give the reference images' folder: "
                                       "--data-root PATH.\n")
    assert run_cli("evaluate", run, "--num", 10, "--metrics", "kid", "--data-root", tmp_path / "moved") == 0


def test_evaluate_a_folder_of_images_as_its_npy(idx_root, test_npy, tmp_path, capsys):
    folder = tmp_path / "real_test"  # what `sample --out FOLDER` writes: numbered grayscale PNGs; named as the .npy
    folder.mkdir()
    images = np.load(test_npy)
    for i, image in enumerate(images[:40]):
        Image.fromarray(image[0]).save(folder / f"{i:06d}.png")
    common = ["--num", 40, "--metrics", "fid,kid", "--data-root", idx_root]
    assert run_cli("evaluate", test_npy, *common) == 0
    assert run_cli("evaluate", folder, *common) == 0
    # each keeps its own JSON: the folder's inside it, the .npy's beside it
    from_npy, from_folder = (json.loads(p.read_text()) for p in (tmp_path / "real_test.eval.json",
                                                                 folder / "evaluate.json"))
    assert from_folder == from_npy  # the same images, the same figures (PNG is lossless)
    assert from_folder["protocol"]["num_fake"] == 40 and "fake_subset_of" not in from_folder["protocol"]
    # of a larger folder, a seeded subset (the first 20 in path order would be a skewed share of a sorted folder)
    picked = torch.randperm(40, generator=torch.Generator().manual_seed(3))[:20].sort().values.numpy()
    np.save(tmp_path / "subset.npy", images[picked])
    for source in (tmp_path / "subset.npy", folder):
        assert run_cli("evaluate", source, *common[2:], "--num", 20, "--seed", 3, "--json", tmp_path / "s.json") == 0
        scored = json.loads((tmp_path / "s.json").read_text())
        if source == folder:
            assert scored["protocol"].pop("fake_subset_of") == 40
            assert scored == from_subset  # exactly the images the seed picks
        from_subset = scored
    capsys.readouterr()
    assert run_cli("evaluate", folder, "--num", 41, "--data-root", idx_root) == 2
    assert "holds 40 images, fewer than --num 41" in capsys.readouterr().err
    Image.new("RGB", (28, 28), "red").save(folder / "zz_colour.png")  # one colour image: all scored as RGB
    with pytest.warns(DataWarning, match=r"40 of 41 images in .* were converted to RGB \(some of the images have "
                                         r"colour\): 000000.png, 000001.png, 000002.png and 37 more"):
        assert run_cli("evaluate", folder, "--num", 41, "--metrics", "fid", "--data-root", idx_root) == 0
    (folder / "zz_colour.png").unlink()
    Image.new("L", (32, 32)).save(folder / "zz_big.png")
    assert run_cli("evaluate", folder, "--num", 41, "--metrics", "fid", "--data-root", idx_root) == 2
    assert "differ in size (000000.png: 28x28, zz_big.png: 32x32)" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run_cli("evaluate", tmp_path / "empty") == 2
    assert "is neither a run folder (it has no checkpoints) nor a folder of images" in capsys.readouterr().err


def test_a_npy_of_images_is_a_reference_and_a_dataset(idx_root, test_npy, tmp_path, capsys):
    """Two sets of images compared directly, as pytorch-fid compares two paths: --ref takes a .npy of uint8 images
    or a folder of them, and data.name = "npy" trains on such a .npy (what `ganforge data` writes)."""
    samples = tmp_path / "samples.npy"
    np.save(samples, load_images(DataConfig(root=str(idx_root)), first=64).numpy())
    folder = tmp_path / "test_pngs"
    folder.mkdir()
    for i, image in enumerate(np.load(test_npy)):
        Image.fromarray(image[0]).save(folder / f"{i:06d}.png")
    figures = {}
    for name, ref in (("split", ["--ref", "test", "--data-root", idx_root]), ("npy", ["--ref", test_npy]),
                      ("folder", ["--ref", folder])):
        assert run_cli("evaluate", samples, "--num", 64, "--metrics", "fid,kid,pr", *ref,
                       "--json", tmp_path / f"{name}.json") == 0
        figures[name] = json.loads((tmp_path / f"{name}.json").read_text())
    protocols = {name: f.pop("protocol") for name, f in figures.items()}
    assert figures["npy"] == figures["split"] == figures["folder"]  # the same 64 test images, three ways
    from_python = ganforge.evaluate(samples, "fid,kid,pr", 64, ref=test_npy, json_out=tmp_path / "python.json")
    assert {k: v for k, v in from_python.items() if k != "protocol"} == figures["npy"]
    for i, png in enumerate(sorted(folder.iterdir())):  # labelled images against a reference without classes
        (folder / "ab"[i % 2]).mkdir(exist_ok=True)
        png.rename(folder / "ab"[i % 2] / png.name)
    assert set(ganforge.evaluate(folder, "fid", 64, ref=test_npy, json_out=tmp_path / "l.json")) == {"fid", "protocol"}
    for name, root in (("npy", test_npy), ("folder", folder)):  # which images: the split says nothing of them
        assert (protocols[name]["reference"], protocols[name]["reference_root"]) == (f"{name}:train", str(root))
    assert "reference_root" not in protocols["split"]
    capsys.readouterr()
    for ref, said in ((tmp_path / "nothere.npy", f"--ref '{tmp_path / 'nothere.npy'}' does not exist"),
                      (tmp_path / "samples.eval.json", "--ref must be 'train' or 'test' (the dataset's splits), or "
                                                       "reference images of your own: a .npy of uint8 images (N, C, "
                                                       "H, W) or a folder of images; got '")):
        assert run_cli("evaluate", samples, "--num", 64, "--metrics", "fid", "--ref", ref) == 2
        assert said in capsys.readouterr().err
    assert run_cli("evaluate", samples, "--num", 64, "--ref", test_npy, "--dataset", "mnist") == 2
    assert "--ref '" in (err := capsys.readouterr().err) and "names the reference images itself; drop --dataset" in err
    np.save(tmp_path / "floats.npy", np.zeros((8, 1, 28, 28), np.float32))
    assert run_cli("evaluate", samples, "--num", 8, "--metrics", "fid", "--ref", tmp_path / "floats.npy") == 2
    assert "must hold uint8 images (N, C, H, W) with C 1 or 3, got float32 (8, 1, 28, 28)" in capsys.readouterr().err
    # a dataset: trained on as an IDX split is, and refused where it has nothing to give
    held = load_npy(str(test_npy))  # in memory and writable: torch warned of a read-only memory map
    assert held.flags.writeable and not isinstance(held, np.memmap) and np.array_equal(held, np.load(test_npy))
    run = tmp_path / "on_npy"
    assert run_cli("train", "dcgan-fmnist", "--out", run, "--set", "data.name=npy", "--set", f"data.root={test_npy}",
                   "--set", "train.max_steps=2", "--set", "train.batch_size=32", "--set", "eval.every_kimg=0") == 0
    assert json.loads((run / "config.json").read_text())["data"]["root"] == str(test_npy)
    capsys.readouterr()
    for not_images in (run, run / "samples"):  # a run is no reference, nor its grids
        assert run_cli("evaluate", samples, "--num", 64, "--metrics", "fid", "--ref", not_images) == 2
        assert "is a run (or a folder of one), not reference images" in capsys.readouterr().err
    np.save(tmp_path / "wide.npy", np.zeros((8, 1, 28, 32), np.uint8))
    for sets, said in ((["data.name=npy"], "data.name 'npy' reads a .npy file of uint8 images (N, C, H, W); name "
                                           "it: data.root=FILE.npy"),
                       ([f"data.root={tmp_path / 'wide.npy'}"], "images of 28x32 (height x width); ganforge "
                                                                 "trains on square images"),
                       ([f"data.root={test_npy}", "data.split=test"], "a .npy file holds one set of images and no "
                                                                      "test split"),
                       ([f"data.root={test_npy}", "model.num_classes=10"], "a .npy file holds images without their "
                                                                           "classes")):
        with pytest.raises(GanforgeError, match=re.escape(said)):
            ganforge.train("dcgan-fmnist", tmp_path / "bad", ["data.name=npy", *sets, "train.max_steps=1"])
    test_npy.rename(tmp_path / "moved.npy")  # the run's data gone: evaluate names the flag that gives it again
    capsys.readouterr()
    assert run_cli("evaluate", run, "--num", 10, "--metrics", "kid") == 2
    assert capsys.readouterr().err.endswith("does not exist or is not a .npy file; give the reference images: --ref "
                                            "FILE.npy.\n")
    assert run_cli("evaluate", run, "--num", 10, "--metrics", "kid", "--ref", tmp_path / "moved.npy") == 0


def test_a_folder_that_refuses_new_files_is_evaluated_all_the_same(idx_root, test_npy, tmp_path, capsys):
    """A dataset's read-only folder printed its figures, then failed on evaluate.json after all the work."""
    folder = tmp_path / "shared"
    folder.mkdir()
    for i, image in enumerate(np.load(test_npy)[:20]):
        Image.fromarray(image[0]).save(folder / f"{i:06d}.png")
    common = ["--num", 20, "--metrics", "fid", "--data-root", idx_root]
    with refusing_new_files(folder):
        with pytest.warns(UserWarning, match=r"cannot write '.*shared/evaluate.json': .*\. The figures are printed "
                                             r"but not kept; give --json PATH to keep them\.$"):
            assert run_cli("evaluate", folder, *common) == 0
        assert capsys.readouterr().out.startswith("fid ")
        # a JSON asked for there is an error, before the work: no figures are printed
        assert run_cli("evaluate", folder, *common, "--json", folder / "fid.json") == 2
        out, err = capsys.readouterr()
        assert out == "" and f"cannot write '{folder / 'fid.json'}'" in err
        with pytest.raises(GanforgeError, match="cannot write"):  # from Python, checked as early
            evaluate_source(folder, num=20, metrics="fid", data_root=str(idx_root), json_out=folder / "fid.json")
        assert capsys.readouterr().out == ""
    assert sorted(p.name for p in folder.iterdir()) == [f"{i:06d}.png" for i in range(20)]  # no trial file left


def test_bad_inputs(idx_root, test_npy, tmp_path, capsys):
    with pytest.raises(GanforgeError, match="unknown metric 'fd'. Did you mean 'fid'"):
        parse_metrics("fid,fd")
    assert parse_metrics("FID, KID") == ("fid", "kid")  # as papers write them; it said "unknown metric 'FID'"
    # other tools' names (StudioGAN's Prc, torch-fidelity's isc, StyleGAN's fid50k_full) got only the list
    for given, said in (("fid,precision", "--metrics: unknown metric 'precision': ganforge's metric 'pr' gives "
                                          "precision, recall, density and coverage; ask for pr."),
                        ("Prc", "unknown metric 'prc': ganforge's metric 'pr' gives precision"),
                        ("isc", "unknown metric 'isc': ganforge's metric 'is' gives the Inception Score; ask for is."),
                        ("fid50k_full", "--metrics: 'fid50k_full' is StyleGAN's name for FID from 50,000 images; ask "
                                        "for fid with --num 50000."),
                        ("pr50k3", "'pr50k3' is StyleGAN's name for PR from 50,000 images; ask for pr with --num "
                                   "50000."),
                        ("ppl2_wend", "--metrics: ganforge does not compute perceptual path length ('ppl2_wend'); "
                                      "its metrics are fid, kid, is, pr, swd.")):
        with pytest.raises(GanforgeError, match=f"^{re.escape(said)}$" if said.startswith("--") else re.escape(said)):
            parse_metrics(given, "--metrics")
    with pytest.raises(GanforgeError, match=re.escape("ask for kid with num=10000.")):
        ganforge.evaluate(test_npy, "kid10k")
    # a super-resolution metric for images scored by the GAN metrics is named so, with where it was given
    assert run_cli("evaluate", test_npy, "--metrics", "fid,psnr", "--data-root", idx_root) == 2
    assert capsys.readouterr().err == ("ganforge: error: --metrics: 'psnr' is a super-resolution metric (model.task = "
                                       "'sr'); a GAN's are fid, kid, is, pr, swd.\n")
    with pytest.raises(GanforgeError, match=r"^config key 'eval.metrics': unknown metric 'fd'\. Did you mean 'fid'"):
        load_config("dcgan-fmnist", ["eval.metrics=fid,fd"])
    assert run_cli("evaluate", test_npy, "--num", 65, "--data-root", idx_root) == 2
    assert "holds 64 images, fewer than --num 65" in capsys.readouterr().err
    # without --num, the 64 are scored: the default 10,000 was refused as "fewer than --num 10000", a flag not given
    with pytest.warns(UserWarning, match="'.*' holds 64 images, fewer than the default --num 10,000: all 64 are scored"):
        assert run_cli("evaluate", test_npy, "--metrics", "fid", "--data-root", idx_root,
                       "--json", tmp_path / "all.json") == 0
    assert json.loads((tmp_path / "all.json").read_text())["protocol"]["num_fake"] == 64
    np.save(tmp_path / "five.npy", np.load(test_npy)[:5])
    assert run_cli("evaluate", tmp_path / "five.npy", "--metrics", "pr", "--data-root", idx_root) == 2
    assert "the number of images in '" in capsys.readouterr().err
    floats = tmp_path / "f.npy"
    np.save(floats, np.zeros((4, 1, 28, 28), np.float32))
    assert run_cli("evaluate", floats, "--num", 6) == 2
    assert "must hold uint8 images" in capsys.readouterr().err
    # the near misses say how to save them right
    np.save(floats, np.zeros((4, 28, 28, 3), np.float32))  # channels last, and floats
    assert run_cli("evaluate", floats, "--num", 6) == 2
    err = capsys.readouterr().err
    assert "got float32 (4, 28, 28, 3). It looks channels-last (N, H, W, C): save x.transpose(0, 3, 1, 2). " \
           "For floats in [-1, 1] (a tanh generator's output), save ((x + 1) * 127.5).round()" in err
    np.save(floats, np.zeros((4, 28, 28), np.uint8))
    assert run_cli("evaluate", floats, "--num", 6) == 2
    assert "For grayscale without a channel axis, save x[:, None]." in capsys.readouterr().err
    # a .npz (ADM's evaluator saves arr_0 channels-last) was "checkpoint ... is damaged"; only headers are read
    np.savez_compressed(tmp_path / "adm.npz", np.zeros((4, 28, 28, 3), np.uint8), np.arange(4))
    assert run_cli("evaluate", tmp_path / "adm.npz", "--num", 4) == 2
    assert ("adm.npz' is a .npz archive (arr_0, arr_1; 'arr_0' is uint8 (4, 28, 28, 3)); evaluate reads one .npy "
            "of uint8 images (N, C, H, W): np.save('x.npy', np.load('adm.npz')['arr_0']). It looks channels-last "
            "(N, H, W, C): save np.load('adm.npz')['arr_0'].transpose(0, 3, 1, 2).") in capsys.readouterr().err
    assert run_cli("evaluate", tmp_path / "ff.npy", "--num", 6) == 2  # a typo: the file beside it is offered
    assert f"samples file '{tmp_path / 'ff.npy'}' does not exist. Did you mean '{floats}'?" in capsys.readouterr().err
    assert run_cli("evaluate", test_npy, "--features", "inceptoin", "--num", 6, "--data-root", idx_root) == 2
    assert "unknown feature extractor 'inceptoin'. Did you mean 'inception'" in capsys.readouterr().err
    # density/coverage need each image's 5th nearest neighbour: refused before any image is read
    assert run_cli("evaluate", test_npy, "--num", 5, "--metrics", "fid,pr", "--data-root", idx_root) == 2
    assert "--num must be >= 6 with metric pr (density and coverage need each image's 5th" in capsys.readouterr().err
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "r", *tiny(idx_root, "eval.every_kimg=1",
                                                                         "eval.metrics=pr", "eval.num_samples=5")) == 2
    assert "config key 'eval.num_samples' must be >= 6 with metric pr" in capsys.readouterr().err
    assert not (tmp_path / "r" / "config.json").exists()  # refused before training, not at the first evaluation
    with pytest.warns(UserWarning, match=r"FID from 3 images of 128-dimensional 'fmnist' features: with no more images than feature dimensions"):
        assert run_cli("evaluate", test_npy, "--num", 3, "--metrics", "fid", "--data-root", idx_root) == 0
    with pytest.warns(UserWarning, match=r"kid_std from 40 images is 0 and says nothing: KID's subsets hold "
                                         r"min\(1,000, N\) images, .* Use --num above 1,000 for a spread"):
        assert run_cli("evaluate", test_npy, "--num", 40, "--metrics", "kid", "--data-root", idx_root,
                       "--json", tmp_path / "kid.json") == 0
    assert json.loads((tmp_path / "kid.json").read_text())["kid_std"] == pytest.approx(0, abs=1e-12)


def test_fmnist_features_on_other_data_warn(idx_root, image_folder):
    fakes = load_images(DataConfig(root=str(idx_root)))[:130]  # more images than the 128 feature dimensions
    garments = DataConfig(root=str(idx_root))
    folder = DataConfig(name="folder", root=str(image_folder), resolution=28, channels=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Fashion-MNIST against Fashion-MNIST: no warning at all
        evaluate_images(array_batches(fakes), len(fakes), garments, ("fid",))
    # a folder may hold garments all the same: said so; MNIST's digits are not garments
    with pytest.warns(UserWarning, match="'folder' images are outside their domain unless they are garments like "
                                         "Fashion-MNIST's: the figures"):
        evaluate_images(array_batches(fakes[:24]), 24, folder, ("kid",))
    digits = DataConfig(name="mnist", root=str(idx_root.parent / "none"), download=False)
    with pytest.warns(UserWarning, match="'mnist' images are outside their domain: the figures"):
        with pytest.raises(GanforgeError):  # the warning comes before the reference is read
            evaluate_images(array_batches(fakes[:24]), 24, digits, ("kid",))


def test_a_reference_smaller_than_the_samples_is_named_in_the_warnings(idx_root, image_folder):
    """40 samples against a folder of 24 images: FID's warning named neither side (it looked at the 40 only),
    and KID's said kid_std "is 0 and says nothing" beside a kid_std that was not 0."""
    fakes = load_images(DataConfig(root=str(idx_root)))[:40]
    folder = DataConfig(name="folder", root=str(image_folder), resolution=28, channels=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = evaluate_images(array_batches(fakes), len(fakes), folder, ("fid", "kid"))
    said = [str(w.message) for w in caught]
    assert ("FID against a reference of only 24 images (all that folder:train holds), of 128-dimensional 'fmnist' "
            "features: with no more images than feature dimensions the covariance estimates are poor and FID is "
            "biased far upward. A reference of well above 128 images is needed; compare these FIDs only against the "
            "same one.") in said
    assert ("KID's subsets hold 24 images here, not 1,000: the reference (folder:train) has only 24, and every subset "
            "holds all of them, so kid_std measures only the draws from the 40 samples. kid is still unbiased; "
            "compare kid_std only at the same counts.") in said
    assert not [m for m in said if "FID from" in m or "kid_std from" in m]
    assert result["kid_std"] > 0 and result["protocol"]["num_real"] == 24


def test_colour_samples_against_the_default_reference_warn(idx_root, tmp_path):
    colour = tmp_path / "colour.npy"
    # 100 images, in 10 splits of 10: from 8, splits of one image, IS is warned of too
    np.save(colour, np.random.default_rng(0).integers(0, 256, (100, 3, 28, 28), dtype=np.uint8))
    with pytest.warns(UserWarning, match="holds colour images and is compared with Fashion-MNIST, the default"):
        assert run_cli("evaluate", colour, "--num", 100, "--metrics", "is", "--data-root", idx_root) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a named reference is the user's choice: no warning
        assert run_cli("evaluate", colour, "--num", 100, "--metrics", "is", "--data-root", idx_root,
                       "--dataset", "fashion-mnist") == 0


def test_weights_hash_is_checked(tmp_path):
    bad = tmp_path / "w.safetensors"
    shutil.copy(fmnist_net.WEIGHTS, bad)
    with open(bad, "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\0\0\0\1")
    with pytest.raises(GanforgeError, match="have SHA-256 .* expected"):
        fmnist_net.load_fmnist_net(bad)


def fashion_mnist_test() -> tuple[torch.Tensor, torch.Tensor]:
    """Debian's Fashion-MNIST test images and labels (the README's setup installs them)."""
    needs_debian_fashion_mnist("test")
    images, labels, _ = load_labeled(DataConfig(name="fashion-mnist", split="test", download=False))
    return images, labels


def test_shipped_net_classifies_test_set():
    test, labels = fashion_mnist_test()
    net = fmnist_net.load_fmnist_net()
    with torch.no_grad():
        pred = torch.cat([net(fmnist_net.preprocess(b))[1].argmax(1) for b in test.split(1000)])
    assert (pred == labels).float().mean() >= 0.93


def test_the_extractor_computes_the_shipped_nets_features_faster():
    """The `fmnist` extractor folds each BatchNorm into its conv and runs channels_last (2.6x): the features and
    logits are the plain network's to float32 rounding; a fold that dropped BN's shift or scale would be off by
    whole units."""
    test, _ = fashion_mnist_test()
    images = test[:500]
    net = fmnist_net.load_fmnist_net()
    fast = fmnist_net.for_inference(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())  # the shipped network is left as it was
    with torch.no_grad():
        plain = net(fmnist_net.preprocess(images))
    for got, want in zip(FEATURES.build("fmnist")(images), plain):
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-4 * float(want.abs().max()))


def test_per_class_figures_of_class_conditional_samples():
    """Image i of a class-conditional sample is of class i mod 10: real test images in that order score
    about the classifier's accuracy and a low intra-class FID; the same images one class off score
    about no accuracy and a far higher intra-class FID, at the same FID."""
    images, labels = fashion_mnist_test()
    order = [torch.nonzero(labels == c).flatten() for c in range(10)]
    in_turn = images[torch.stack(order)[:, :300].T.flatten()]  # 3,000 images: class 0, 1, ..., 9, 0, 1, ...
    classes = IDX_SETS["fashion-mnist"]["classes"]

    def figures(x, classes=classes, features="fmnist"):
        return evaluate_images(array_batches(x), len(x), DataConfig(split="test"), ("fid",), features, classes=classes)
    right, off = figures(in_turn), figures(in_turn.roll(1, 0))
    assert right["class_accuracy"] > 0.85 and off["class_accuracy"] < 0.2
    assert right["fid"] == pytest.approx(off["fid"])  # the same images, so the same FID
    assert right["intra_fid"] * 5 < off["intra_fid"], (right["intra_fid"], off["intra_fid"])
    assert list(right["intra_fid_per_class"]) == list(classes)
    assert right["intra_fid"] == pytest.approx(np.mean(list(right["intra_fid_per_class"].values())))
    assert "class_accuracy" not in figures(in_turn, ()) and "intra_fid" not in figures(in_turn, ())
    with pytest.warns(UserWarning, match=r"the samples' classes \(0, 1, 2, ...\) are not those of the reference "
                                         r"fashion-mnist \(T-shirt/top, Trouser, Pullover, ...\)"):
        assert "intra_fid" not in figures(in_turn, tuple("0123456789"))
    with pytest.warns(UserWarning, match=r"intra-class FID from as few as \d+ images of a class, of 128-dimensional "
                                         r"'fmnist' features: it is biased far upward at so few. Use --num well "
                                         r"above 1,280 \(128 per class\)"):
        figures(in_turn[:500])  # 50 of each class
    with pytest.warns(UserWarning, match=r"no intra-class FID: it needs at least 2 images of every class, and the "
                                         r"(reference images \(a seeded subset of the split, as many as the samples\)"
                                         r"|samples) have [01] of class '[^']+'\. Raise --num"):  # it said "one class"
        assert "intra_fid" not in figures(in_turn[:15])
    table = format_table(right)
    assert "intra_fid" in table and "\n  Ankle boot" in table  # the classes indented under their mean


def test_per_class_warnings_of_a_small_reference_folder_name_it(tmp_path):
    """A folder of 1 image of class 'a' against 20 samples: the warning said to raise --num, which cannot add an
    image to the folder."""
    rng = np.random.default_rng(0)
    for name, count in (("a", 1), ("b", 9)):
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    folder = DataConfig(name="folder", root=str(tmp_path), resolution=28, channels=1)
    fakes = rng.integers(0, 256, (20, 1, 28, 28), dtype=np.uint8)
    with pytest.warns(UserWarning, match=r"^no intra-class FID: it needs at least 2 images of every class, and the "
                                         r"reference \(folder:train\) holds only 1 of class 'a'\. Add images of that "
                                         r"class\.$"):
        assert "intra_fid" not in evaluate_images(array_batches(fakes), 20, folder, ("fid",), classes=("a", "b"))
    for i in range(1, 3):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / "a" / f"{i}.png")
    with pytest.warns(UserWarning, match=r"^intra-class FID from as few as 3 images of a class, of 128-dimensional "
                                         r"'fmnist' features: it is biased far upward at so few\. The reference "
                                         r"\(folder:train\) holds only 3 of class 'a': compare it only against the "
                                         r"same reference\.$"):
        assert "intra_fid" in evaluate_images(array_batches(fakes), 20, folder, ("fid",), classes=("a", "b"))


def test_per_class_figures_line_up_under_class_names_in_chinese():
    """A class folder named 猫 (cat) took two columns a character on the screen but one in the padding, so its
    figure stood to the right of the others'; a long name is cut to 16 columns, not 16 characters."""
    from tqdm.utils import disp_len
    per_class = {"猫": 1.0, "dog": 30.0, "很长的中文类别名字超过十六列": 2.5}
    table = format_table({"fid": 1.0, "intra_fid": 11.1, "intra_fid_per_class": per_class, "protocol": {
        "num_fake": 6, "num_real": 6, "reference": "folder:train", "features": "fmnist", "weights_sha256": "0" * 64}})
    rows = table.splitlines()[:5]
    assert {disp_len(row) for row in rows} == {31}, rows  # every figure ends in the same column
    assert rows[4].startswith("  很长的中文类别名 ")  # 8 characters, 16 columns


def test_per_class_figures_of_a_folder_of_class_subfolders(tmp_path):
    """A folder with a subfolder per class, named as `sample --out FOLDER` names them ('T-shirt/top' as
    'T-shirt_top'), is scored per class by its folders: the same figures as the same images drawn in turn."""
    images, labels = fashion_mnist_test()
    order = [torch.nonzero(labels == c).flatten()[:150] for c in range(10)]
    in_turn = images[torch.stack(order).T.flatten()]  # class 0, 1, ..., 9, 0, 1, ...
    classes = IDX_SETS["fashion-mnist"]["classes"]
    folder = tmp_path / "labelled"
    for name, idx in zip(class_folders(classes, 10), order):
        (folder / name).mkdir(parents=True)
        for i in idx.tolist():  # the images in class-folder order on disk, not in turn
            Image.fromarray(images[i, 0].numpy()).save(folder / name / f"{i:05d}.png")
    data = DataConfig(split="test")
    in_turn_figures = evaluate_images(array_batches(in_turn), len(in_turn), data, ("fid",), classes=classes)
    from_folder = evaluate_source(str(folder), "fid", len(in_turn), ref="test")
    for key in ("fid", "intra_fid", "class_accuracy"):
        assert from_folder[key] == pytest.approx(in_turn_figures[key], rel=1e-6), key
    assert from_folder["class_accuracy"] > 0.85
    (folder / "Bag").rename(folder / "Satchel")  # a subfolder that is no class of the reference: no per-class figures
    assert "intra_fid" not in evaluate_source(str(folder), "fid", len(in_turn), ref="test")


def test_eval_during_training_logs_and_keeps_best(idx_root, tmp_path):
    sets = ["train.max_steps=8", "train.batch_size=32", BITWISE, "eval.every_kimg=0.064",
            "eval.num_samples=32", "eval.metrics=fid,kid"]
    with_eval, without = tmp_path / "e", tmp_path / "n"
    with pytest.warns(UserWarning, match=r"Use eval.num_samples well above 128, and compare FIDs only at the same "
                                         r"eval.num_samples"):  # the knob of a training run, not evaluate's --num
        assert run_cli("train", "dcgan-fmnist", "--out", with_eval, *tiny(idx_root, *sets)) == 0
    assert run_cli("train", "dcgan-fmnist", "--out", without, *tiny(idx_root, *sets[:3])) == 0
    records = [json.loads(line) for line in (with_eval / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval/fid" in r]
    assert [r["step"] for r in evals] == [2, 4, 6, 8] and all("eval/kid" in r for r in evals)
    best = ckpt.load(with_eval / "checkpoints" / "best.pt")
    best_fid = min(r["eval/fid"] for r in evals)
    assert best["hooks"]["evaluate"]["best"] == pytest.approx(best_fid)
    assert best["state"]["step"] == [r["step"] for r in evals if r["eval/fid"] == best_fid][0]
    # evaluating draws its own noise: the trained weights are the same as without evaluation
    a, b = ckpt.load(with_eval / "checkpoints" / "last.pt"), ckpt.load(without / "checkpoints" / "last.pt")
    assert all(torch.equal(a["G"][k], b["G"][k]) for k in a["G"])


def test_an_evaluation_during_training_says_how_far_it_has_got(idx_root, tmp_path, monkeypatch, capsys):
    """Inception-v3's features of 10,000 samples take about 13 minutes on 2 cores, with training's bar standing
    still: the evaluation has a bar of its own (in a log file, a line every 30 s; here after every batch)."""
    from ganforge import progress

    monkeypatch.setattr(progress, "LINE_SECONDS", 0.0)
    sets = ["train.max_steps=2", "train.batch_size=32", "eval.every_kimg=0.064", "eval.num_samples=200",
            "eval.metrics=fid"]
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "run", *tiny(idx_root, *sets)) == 0
    assert capsys.readouterr().err.count("ganforge: evaluation's samples: 200 of 200 images (100 %)\n") == 1


@FEATURES.register("test-fails-at-evaluations")
def _features_that_fail_at_evaluations() -> FeatureExtractor:
    """Reads the two blank images of the check before training, then fails, as a feature network may on
    the images it meets (a plugin's bug, a GPU out of memory)."""
    calls = []

    def forward(images):
        calls.append(len(images))
        if len(calls) > 1:
            raise GanforgeError("test features cannot read these images")
        return torch.zeros(len(images), 8), torch.zeros(len(images), 10)
    return FeatureExtractor("test-fails-at-evaluations", forward, 8, "0" * 64, "none")


def _faulty(name: str, forward) -> FeatureExtractor:
    return FeatureExtractor(name, forward, 8, "0" * 64, "none")


FAULTY_FEATURES = {  # a plugin's extractor: what each returns for a batch x of B images
    "one-tensor": lambda x: torch.zeros(len(x), 8),
    "other-dim": lambda x: (torch.zeros(len(x), 5), torch.zeros(len(x), 10)),
    "raises": lambda x: x.foo(),
    "nan": lambda x: (torch.full((len(x), 8), float("nan")), torch.zeros(len(x), 10)),
}
for _name, _forward in FAULTY_FEATURES.items():
    FEATURES.register(f"test-faulty-{_name}")(lambda n=_name, f=_forward: _faulty(f"test-faulty-{n}", f))
FEATURES.register("test-faulty-network")(lambda: torch.nn.Identity())


@pytest.mark.parametrize("name, message", [
    ("one-tensor", r"must return \(features, logits\) of shapes \(2, 8\) and \(2, K\), got one tensor of shape \(2, 8\)"),
    ("other-dim", r"must return .* \(its dim is 8\), got a tuple of tensors of shapes \(2, 5\) and \(2, 10\)"),
    ("raises", r"failed on images of shape \(2, 1, 28, 28\): AttributeError: .*'foo' \(.*test_evaluate.py:\d+\)"),
    ("nan", "returns NaN or infinite features for images of shape"),
    ("network", "is built as a 'Identity', not a FeatureExtractor"),
])
def test_a_plugin_feature_extractor_is_checked_before_training(idx_root, tmp_path, capsys, name, message):
    """Each was a traceback from inside a metric (an IndexError, NumPy's broadcast error, SciPy's "must not
    contain infs or NaNs"), at the first evaluation or before training."""
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "r",
                   *tiny(idx_root, "train.max_steps=2", "eval.every_kimg=0.064", "eval.num_samples=32",
                         f"eval.features=test-faulty-{name}")) == 2
    err = capsys.readouterr().err
    assert re.search(f"feature extractor 'test-faulty-{name}' {message}", err), err
    assert not (tmp_path / "r" / "checkpoints").exists()  # refused before the first step


@FEATURES.register("test-pooled")
def _pooled_features() -> FeatureExtractor:
    """Eight features per image: the mean of each 8th of its pixels; no classes."""
    def forward(images):
        x = images.float().flatten(1)
        return x[:, : x.shape[1] // 8 * 8].reshape(len(x), 8, -1).mean(2), torch.zeros(len(x), 0)
    return FeatureExtractor("test-pooled", forward, 8, "0" * 64, "none")


def test_swd_alone_builds_and_runs_no_feature_network(idx_root):
    """SWD compares pixel patches, so asked alone it needs no features: the fmnist CNN took 4 of a 10,000-image
    evaluation's 12 s, and Inception on a CPU takes minutes for the fakes and again for the reference. An
    extractor that cannot even be built shows none is; the figure is the one computed beside features."""
    images = torch.from_numpy(np.random.default_rng(3).integers(0, 256, (48, 1, 28, 28), dtype=np.uint8))
    where = dict(dataset="fashion-mnist", data_root=str(idx_root), ref="test")
    alone = evaluate_source(images, "swd", 48, features="test-faulty-network", **where)
    beside = evaluate_source(images, "swd,fid", 48, features="test-pooled", **where)
    assert alone["swd"] == pytest.approx(beside["swd"], rel=1e-12) and alone["swd"] > 0
    assert alone["protocol"]["features"] is None and alone["protocol"]["num_real"] == 48
    assert "no feature network: SWD compares pixel patches" in format_table(alone)
    with pytest.raises(GanforgeError, match="'test-faulty-network' is built as a 'Identity'"):
        evaluate_source(images, "swd,kid", 48, features="test-faulty-network", **where)
    with pytest.raises(GanforgeError, match="unknown feature extractor 'fmnst'. Did you mean 'fmnist'"):
        evaluate_source(images, "swd", 48, features="fmnst", **where)  # unused, but a misspelt name is still one


def test_swd_alone_during_training_builds_no_feature_network(idx_root, tmp_path):
    run = tmp_path / "r"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(
        idx_root, "train.max_steps=2", "train.batch_size=32", "eval.every_kimg=0.064", "eval.num_samples=32",
        "eval.metrics=swd", "eval.features=test-faulty-network")) == 0
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if "eval/swd" in line]
    assert [e["step"] for e in evals] == [2] and evals[0]["eval/swd"] > 0
    assert (run / "checkpoints" / "best.pt").is_file()


def test_evaluate_run_uses_the_runs_own_features_unless_told(idx_root, tmp_path):
    """It used fmnist whatever the run's eval.features, so its FID was not the one training had logged."""
    run = tmp_path / "r"
    assert run_cli("train", "dcgan-fmnist", "--out", run,
                   *tiny(idx_root, "train.max_steps=2", "eval.features=test-pooled")) == 0
    assert evaluate_source(str(run), "fid", 32, ref="test")["protocol"]["features"] == "test-pooled"
    with pytest.warns(UserWarning, match="FID from 32 images of 128-dimensional 'fmnist' features"):
        assert evaluate_source(str(run), "fid", 32, features="fmnist", ref="test")["protocol"]["features"] == "fmnist"


def test_a_failed_evaluation_saves_its_step_and_is_tried_again_on_resume(idx_root, tmp_path, capsys):
    """Checkpoints come every 1,000 steps here, so an evaluation that failed at step 2 lost both steps."""
    run = tmp_path / "r"
    sets = ["train.max_steps=6", "train.batch_size=32", "eval.every_kimg=0.064", "eval.num_samples=32",
            "log.checkpoint_every_steps=1000", "log.sample_every_steps=1000"]
    assert run_cli("train", "dcgan-fmnist", "--out", run,
                   *tiny(idx_root, *sets, "eval.features=test-fails-at-evaluations")) == 2
    err = capsys.readouterr().err
    assert "test features cannot read these images. Step 2 was saved to" in err
    assert f"continue with: ganforge train dcgan-fmnist --out {run} --resume" in err
    assert ckpt.load(run / "checkpoints" / "last.pt")["state"]["step"] == 2
    end = last_session_end(run)
    assert end["how"] == "error" and end["step"] == 2 and "test features cannot read these images" in end["detail"]
    with pytest.warns(UserWarning, match="eval.num_samples well above"):
        assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume",
                       *tiny(idx_root, *sets, "eval.features=fmnist")) == 0
    evals = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
             if "eval/fid" in line]
    assert evals == [3, 4, 6]  # the failed evaluation first, one step late


def test_a_resume_that_changes_the_evaluation_keeps_its_interval_and_best(idx_root, tmp_path):
    """A longer eval.every_kimg on resume counted evaluations in the old interval and skipped them until it caught
    up; another primary metric was compared with the old one's best figure (a KID against a FID: never better)."""
    run = tmp_path / "r"
    sets = ["train.batch_size=32", "eval.num_samples=32", "log.checkpoint_every_steps=1000"]
    with pytest.warns(UserWarning, match="eval.num_samples well above"):
        assert run_cli("train", "dcgan-fmnist", "--out", run,
                       *tiny(idx_root, *sets, "train.max_steps=4", "eval.every_kimg=0.064", "eval.metrics=fid")) == 0
        with pytest.warns(UserWarning, match=r"best.pt was chosen by fid of 32 images \(fmnist features, train "
                                             r"reference\); from now on by kid of 32 images .* the next evaluation "
                                             r"replaces it"):
            assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume",
                           *tiny(idx_root, *sets, "train.max_steps=8", "eval.every_kimg=0.128",
                                 "eval.metrics=kid,fid")) == 0
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if "eval/fid" in line]
    assert [r["step"] for r in evals] == [2, 4, 8]  # 128 images apart from step 4: step 8 (it waited for step 12)
    best = ckpt.load(run / "checkpoints" / "best.pt")
    assert best["state"]["step"] == 8 and best["hooks"]["evaluate"]["best"] == pytest.approx(evals[-1]["eval/kid"])


def test_a_resume_that_changes_only_the_feature_network_keeps_swds_best(idx_root, tmp_path):
    """SWD compares pixel patches: with SWD as the primary metric, another eval.features on resume is the same
    protocol, and best.pt stays (it was said to be chosen by another one and replaced at the next evaluation)."""
    run = tmp_path / "r"
    sets = ["train.batch_size=32", "eval.num_samples=32", "log.checkpoint_every_steps=1000",
            "eval.every_kimg=0.064", "eval.metrics=swd"]
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, *sets, "train.max_steps=4")) == 0
    best = ckpt.load(run / "checkpoints" / "best.pt")["hooks"]["evaluate"]
    assert best["judged_by"] == "swd of 32 images (train reference)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run_cli("train", "dcgan-fmnist", "--out", run, "--resume",
                       *tiny(idx_root, *sets, "train.max_steps=6", "eval.features=inception")) == 0
    assert not [w for w in caught if "best.pt was chosen" in str(w.message)]
    last = ckpt.load(run / "checkpoints" / "last.pt")["hooks"]["evaluate"]
    assert last["best"] == min(json.loads(line)["eval/swd"] for line in
                               (run / "metrics.jsonl").read_text().splitlines() if "eval/swd" in line)


def run_with_weights(idx_root: Path, tmp_path: Path) -> Path:
    """A two-step run to evaluate."""
    run = tmp_path / "two-steps"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=2")) == 0
    return run


def test_evaluation_during_training_is_checked_before_the_first_step(idx_root, tmp_path, monkeypatch, capsys):
    """A feature network whose weights are missing failed only at the first evaluation."""
    monkeypatch.setenv("GANFORGE_INCEPTION_WEIGHTS", str(tmp_path / "missing.pth"))
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "r",
                   *tiny(idx_root, "eval.every_kimg=1", "eval.features=inception")) == 2
    assert "missing.pth" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
    # eval.ref=test on data without a test split: it stopped at the first evaluation
    data = tmp_path / "no-test-split"
    shutil.copytree(idx_root, data)
    for f in data.glob("t10k-*"):
        f.unlink()
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "r", *tiny(data, "eval.every_kimg=1", "eval.ref=test")) == 2
    assert ("has no t10k-images-idx3-ubyte.gz; it needs the fashion-mnist IDX files. eval.ref=test compares samples "
            "with the test split; set eval.ref=train to compare them with the training images.") in capsys.readouterr().err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
    # features that would not fit in memory: --num 10**9 filled it for minutes until the OOM killer came. The
    # machine is told to have 50 MB free, so that a regression fails in seconds instead of filling the memory.
    run = run_with_weights(idx_root, tmp_path)
    monkeypatch.setattr("ganforge.memory.psutil.virtual_memory", lambda: SimpleNamespace(available=50_000_000))
    assert run_cli("train", "dcgan-fmnist", "--out", tmp_path / "r",
                   *tiny(idx_root, "eval.every_kimg=1", "eval.num_samples=100000", "train.max_steps=8")) == 2
    assert ("the 128-dimensional 'fmnist' features and 10 logits of 100,000 images would need about 110.4 MB of "
            "memory, but 50.0 MB is available; lower eval.num_samples.") in capsys.readouterr().err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
    assert run_cli("evaluate", run, "--num", 100_000, "--metrics", "fid") == 2
    assert "of 100,000 images would need about 110.4 MB of memory, but 50.0 MB is available; lower --num." \
        in capsys.readouterr().err


def test_an_inception_score_pinned_by_its_split_sizes_is_warned_of(idx_root, tmp_path):
    """``evaluate --num 6 --metrics is`` gave IS 1.0000 and is_std 0 without a word: splits of one image score 1."""
    run = tmp_path / "run"
    assert run_cli("train", "dcgan-fmnist", "--out", run, *tiny(idx_root, "train.max_steps=2")) == 0
    with pytest.warns(UserWarning, match=r"^IS from 6 images in 6 splits of 1 is 1 whatever the images: a split's IS "
                                         r"is at most its number of images\. Use --num well above 10 x"):
        assert run_cli("evaluate", run, "--num", 6, "--metrics", "is") == 0
    assert split_sizes(25) == [3] * 5 + [2] * 5 and split_sizes(6) == [1] * 6
    with pytest.warns(UserWarning, match=r"^IS 1\.80 from 20 images in 10 splits of 2 is held down by that count"):
        warn_of_capped_is(1.8, 20, "--num")
    with pytest.warns(UserWarning, match=r"in 10 splits of 2 to 3 is held down"):
        warn_of_capped_is(2.5, 25, "eval.num_samples")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_of_capped_is(1.4, 20, "--num")  # in the lower half of [1, 2]: the images set it
        warn_of_capped_is(9.0, 10_000, "--num")
