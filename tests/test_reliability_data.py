"""Data and output-folder rows of docs/errors.md."""
import numpy as np
import pytest
from PIL import Image

from ganforge.data import DataWarning
from ganforge.data.folder import load_folder
from ganforge.errors import GanforgeError

from conftest import run_cli, tiny


def make_images(folder, sizes_modes):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, (size, mode) in enumerate(sizes_modes):
        arr = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        Image.fromarray(arr).convert(mode).save(folder / f"{mode.lower()}{i}.png")
    return folder


def test_small_images_warn(tmp_path):
    folder = make_images(tmp_path / "small", [(32, "RGB")] * 3)
    with pytest.warns(DataWarning, match=r"3 of 3 images in .* are smaller than 64x64 and were upscaled"):
        x = load_folder(str(folder), 64, 3, str(tmp_path / "c"))
    assert x.shape == (3, 3, 64, 64)


def test_mixed_modes_warn(tmp_path):
    folder = make_images(tmp_path / "mixed", [(64, "RGB"), (64, "RGB"), (64, "L")])
    with pytest.warns(DataWarning, match=r"1 of 3 images in .* were converted to RGB \(data.channels=3\): l2.png"):
        x = load_folder(str(folder), 64, 3, str(tmp_path / "c"))
    assert x.shape == (3, 3, 64, 64)
    gray = x[0]  # l2.png sorts first
    assert np.array_equal(gray[0], gray[1]) and np.array_equal(gray[1], gray[2])


def test_decoding_warnings_name_the_flags_of_the_command_that_reads_the_folder(tmp_path):
    """``ganforge data folder`` said "Lower data.resolution", a key it has no flag of, and a folder's cache
    repeated the words of whichever command decoded it first."""
    folder = make_images(tmp_path / "mixed", [(32, "RGB"), (32, "L")])
    export = ["data", "folder", "--root", folder, "--resolution", "64", "--out", tmp_path / "x.npy"]
    for _ in range(2):  # a first decode, then the cache's note
        with pytest.warns(DataWarning) as caught:
            assert run_cli(*export) == 0
        said = " ".join(str(w.message) for w in caught)
        assert "Lower --resolution or remove them" in said and "converted to RGB (--channels=3)" in said, said
        assert len(list((tmp_path / "cache" / "folders").glob("*.warnings.json"))) == 1  # the notes the cache repeats
    with pytest.warns(DataWarning) as caught:  # training's words, from the same cache
        load_folder(str(folder), 64, 3)
    said = " ".join(str(w.message) for w in caught)
    assert "Lower data.resolution or remove them" in said and "converted to RGB (data.channels=3)" in said, said


def test_all_corrupt(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.png").write_text("not an image")
    (folder / "b.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.warns(DataWarning), pytest.raises(GanforgeError, match="none of the 2 image files"):
        load_folder(str(folder), 64, 3, str(tmp_path / "c"))


def test_tiny_dataset_cli(tmp_path, capsys):
    folder = make_images(tmp_path / "few", [(64, "RGB")] * 3)
    assert run_cli("train", "hw6-dcgan-64", "--out", tmp_path / "r", "--set", f"data.root={folder}",
                   "--set", "train.batch_size=8") == 2
    assert "has 3 images, fewer than one batch (train.batch_size=8)" in capsys.readouterr().err


def test_unwritable_out(idx_root, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert run_cli("train", "dcgan-fmnist", "--out", blocker / "run", *tiny(idx_root, "train.max_steps=1")) == 2
    assert f"cannot write to --out '{blocker / 'run'}'" in capsys.readouterr().err
    assert run_cli("train", "dcgan-fmnist", "--out", blocker, *tiny(idx_root, "train.max_steps=1")) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
