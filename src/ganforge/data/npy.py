"""``data.name = "npy"``: the uint8 images (N, C, H, W) of one .npy file, as ``ganforge data`` and ``ganforge sample``
write them; also what ``ganforge evaluate`` scores, or compares with (``--ref FILE.npy``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import GanforgeError, did_you_mean_path
from ..images import uint8_hint, uint8_images
from ..wording import setting

NO_TEST_SPLIT = "a .npy file holds one set of images and no test split"
NO_CLASSES = ("a .npy file holds images without their classes, so it cannot train a class-conditional GAN; set "
              "model.num_classes=0, or save each class's images in a folder of its own and train on their parent "
              "folder (data.name=folder).")


def read_npy_images(path: Path, what: str) -> np.ndarray:
    """The uint8 images (N, C, H, W) in the .npy file ``path`` as a memory map, read as they are used, never all at
    once; ``what`` names the file in errors ("samples file")."""
    if not path.is_file():
        raise GanforgeError(f"{what} '{path}' does not exist.{did_you_mean_path(path)}")
    try:
        images = np.load(path, mmap_mode="r")
    except ValueError as e:
        raise GanforgeError(f"'{path}' is not a numpy array file: {e}") from None
    return uint8_images(images, f"'{path}' must hold", uint8_hint)


def load_npy(root: str) -> np.ndarray:
    """The images of the .npy file ``root`` (``data.root``), all in memory; square, as every dataset's are."""
    key = setting("data.root")
    if not root:
        raise GanforgeError(f"data.name 'npy' reads a .npy file of uint8 images (N, C, H, W); name it: {key}=FILE.npy.")
    images = read_npy_images(Path(root).expanduser(), key)
    height, width = images.shape[2:]
    if height != width:  # the folder loader center-crops; an array's framing is the user's to choose
        raise GanforgeError(f"'{root}' holds images of {height}x{width} (height x width); ganforge trains on square "
                            "images, so crop them to squares first (x[..., :s, :s]).")
    return np.array(images)  # read into memory and writable (torch warns of a read-only map), as the others are
