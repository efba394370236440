"""CIFAR-10 from its official python pickles (``cifar-10-batches-py``)."""
from __future__ import annotations

import gzip
import io
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import GanforgeError
from ..wording import setting
from .download import default_cache_dir, download
from .folder import check_files_folder, images_instead_hint

URLS = ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
ARCHIVE, ARCHIVE_MD5 = "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"
BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class _ArraysOnly(pickle.Unpickler):
    """Unpickler that refuses everything but the numpy types a CIFAR batch holds.

    A plain ``pickle.load`` would run whatever code a doctored file names.
    """

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):  # noqa: D401
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"CIFAR batch refers to {module}.{name}, which a data file never needs")


def read_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> images uint8 (N, 3, 32, 32) and labels int64 (N,)."""
    try:
        batch = _ArraysOnly(io.BytesIO(raw), encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
        if labels.shape != (len(data),) or (len(labels) and not 0 <= labels.min() <= labels.max() < len(CLASSES)):
            raise ValueError(f"{len(data)} images but labels of shape {labels.shape}, or labels outside 0-9")
    except Exception as e:  # any corruption: report the file, not a pickle internals trace
        raise GanforgeError(f"'{where}' is not a CIFAR-10 python batch: {e}") from None
    return data, labels


def load_cifar10(split: str, root: str = "", download_ok: bool = True, mirror: str = "",
                 cache_dir: str = "") -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 images as uint8 (N, 3, 32, 32) and their labels, int64 (N,), from a folder or the
    (downloaded) archive."""
    if root:
        folder = Path(root).expanduser()
        check_files_folder(folder, "CIFAR-10")
        if (folder / "cifar-10-batches-py").is_dir():
            folder = folder / "cifar-10-batches-py"
        if not (folder / ARCHIVE).is_file():
            missing = [b for b in BATCHES[split] if not (folder / b).is_file()]
            if missing:
                raise GanforgeError(f"{setting('data.root')} '{folder}' lacks CIFAR-10 batches {missing}."
                                    f"{images_instead_hint(folder)}")
            return _joined([read_batch((folder / b).read_bytes(), str(folder / b)) for b in BATCHES[split]])
        archive = folder / ARCHIVE
    else:
        cache = default_cache_dir(cache_dir) / "cifar10"
        archive = cache / ARCHIVE
        if not archive.is_file():
            if not download_ok:
                raise GanforgeError(f"CIFAR-10 is not in {cache} and data.download is false. Set data.root to a "
                                    f"folder holding cifar-10-batches-py or {ARCHIVE}, or allow the download.")
            urls = [mirror.rstrip("/") + "/" + ARCHIVE] if mirror else URLS
            download(urls, archive, ARCHIVE_MD5)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            arrays = []
            for b in BATCHES[split]:
                if b not in members:
                    raise GanforgeError(f"archive '{archive}' has no batch '{b}'.")
                arrays.append(read_batch(tar.extractfile(members[b]).read(), f"{archive}:{b}"))
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error) as e:  # a download cut short, a damaged copy
        raise GanforgeError(f"cannot read the CIFAR-10 archive '{archive}': {e}. It is damaged or incomplete (its "
                            f"MD5 should be {ARCHIVE_MD5}): delete it and download it again.") from None
    except OSError as e:
        raise GanforgeError(f"cannot read the CIFAR-10 archive '{archive}': {e}") from None
    return _joined(arrays)


def _joined(batches: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
