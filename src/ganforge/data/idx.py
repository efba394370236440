"""MNIST and Fashion-MNIST in their IDX format (optionally gzipped)."""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import GanforgeError
from ..wording import setting
from .download import default_cache_dir, download
from .folder import check_files_folder, images_instead_hint

# Official files and their published MD5s (the same as torchvision's).
IDX_SETS = {
    "mnist": {
        "mirrors": [
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ],
        "debian": "/usr/share/datasets/mnist",
        "torchvision": "MNIST",
        "files": {
            "train": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            "test": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        },
        "labels": {
            "train": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            "test": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        },
        "classes": tuple(str(d) for d in range(10)),
    },
    "fashion-mnist": {
        "mirrors": [
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ],
        "debian": "/usr/share/datasets/fashion-mnist",
        "torchvision": "FashionMNIST",
        "files": {
            "train": ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            "test": ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        },
        "labels": {
            "train": ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            "test": ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        },
        "classes": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                    "Ankle boot"),
    },
}

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) into an array of its declared shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:  # damaged (zlib's error is no OSError)
        raise GanforgeError(f"cannot read IDX file '{path}': {e}. It is damaged or incomplete: delete it and "
                            "download it again.") from None
    except OSError as e:
        raise GanforgeError(f"cannot read IDX file '{path}': {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise GanforgeError(f"'{path}' is not an IDX file (bad magic number).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise GanforgeError(
            f"IDX file '{path}' is truncated or padded: header says {shape} ({expected} bytes), "
            f"found {len(raw) - header} bytes. Delete it and download again."
        )
    # copy: frombuffer views the read-only bytes, and torch wants writable memory
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).copy()


def _find_local(folder: Path, filename: str) -> Path | None:
    bare = filename[:-3]
    # gzipped, unpacked, or unpacked as the Kaggle copies of MNIST name them ('train-images.idx3-ubyte')
    for name in (filename, bare, bare.replace("-idx", ".idx")):
        if (folder / name).is_file():
            return folder / name
    return None


def _torchvision_raw(folder: Path, name: str) -> Path:
    """Where torchvision's ``datasets.MNIST(root)`` (seeds 000 and 001) and ``FashionMNIST(root)`` put the files:
    ``root/MNIST/raw``."""
    return folder / IDX_SETS[name]["torchvision"] / "raw"


def _torchvision_folders(folder: Path, name: str) -> list[Path]:
    """The folders torchvision's files may be in, for a user who points data.root at its root or at ``root/MNIST``."""
    return [_torchvision_raw(folder, name), folder / "raw"]


def _other_set_hint(folder: Path, name: str) -> str:
    """For ``name``'s files missing from ``folder``: a sentence naming the other IDX set torchvision left there
    (Fashion-MNIST's preset pointed at the root of seed 001's MNIST download); "" where there is none."""
    for other, spec in IDX_SETS.items():
        raw = _torchvision_raw(folder, other)
        if other != name and raw.is_dir() and any(_find_local(raw, f) for f, _ in spec["files"].values()):
            return (f" It holds {other}'s ('{raw.relative_to(folder)}', as torchvision writes it): to train on it, "
                    f"set {setting('data.name')} to {other}.")
    return ""


def _idx_file(name: str, filename: str, md5: str, root: str, download_ok: bool, mirror: str,
              cache_dir: str) -> Path:
    """One IDX file of ``name``: from ``root`` (or torchvision's ``root/MNIST/raw``) when given; otherwise from
    Debian's dataset folder, then the download cache, downloading into the cache when allowed."""
    spec = IDX_SETS[name]
    if root:
        folder = Path(root).expanduser()
        check_files_folder(folder, f"{name} IDX")
        path = next(filter(None, (_find_local(f, filename) for f in [folder, *_torchvision_folders(folder, name)])),
                    None)
        if path is None:
            raise GanforgeError(f"{setting('data.root')} '{folder}' has no {filename}; it needs the {name} IDX "
                                f"files.{_other_set_hint(folder, name) or images_instead_hint(folder)}")
        return path
    cache = default_cache_dir(cache_dir) / name
    path = _find_local(Path(spec["debian"]), filename) or _find_local(cache, filename)
    if path is None:
        if not download_ok:
            raise GanforgeError(
                f"{name} is not on this machine (looked in {spec['debian']} and {cache}) and "
                "data.download is false. Set data.root, or allow the download."
            )
        mirrors = [mirror.rstrip("/") + "/"] if mirror else spec["mirrors"]
        path = download([m + filename for m in mirrors], cache / filename, md5)
    return path


def load_idx_images(name: str, split: str, root: str = "", download_ok: bool = True,
                    mirror: str = "", cache_dir: str = "") -> np.ndarray:
    """Images of MNIST or Fashion-MNIST as uint8 (N, 1, 28, 28).

    Looks in ``root`` when given; otherwise in Debian's dataset folder, then the
    download cache, and downloads into the cache when allowed.
    """
    path = _idx_file(name, *IDX_SETS[name]["files"][split], root, download_ok, mirror, cache_dir)
    images = read_idx(path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise GanforgeError(f"'{path}' holds {images.dtype} of shape {images.shape}, not uint8 images (N, H, W).")
    return images[:, None]


def load_idx_labels(name: str, split: str, root: str = "", download_ok: bool = True,
                    mirror: str = "", cache_dir: str = "") -> np.ndarray:
    """Class labels of MNIST or Fashion-MNIST, int64 (N,) in [0, 10), found as :func:`load_idx_images` finds images."""
    path = _idx_file(name, *IDX_SETS[name]["labels"][split], root, download_ok, mirror, cache_dir)
    labels = read_idx(path)
    if labels.ndim != 1 or labels.dtype != np.uint8 or (len(labels) and labels.max() >= 10):
        raise GanforgeError(f"'{path}' holds {labels.dtype} of shape {labels.shape}, not class labels 0-9 (N,).")
    return labels.astype(np.int64)
