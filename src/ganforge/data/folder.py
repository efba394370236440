"""Image folders: decoded once with Pillow, cached as a uint8 array keyed by content."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps

from ..errors import GanforgeError, did_you_mean_path
from ..files import one_writer_at_a_time
from ..images import IMAGE_SUFFIXES
from ..memory import check_fits
from ..progress import reporting
from ..run_folder import is_ganforge_run
from ..wording import setting
from .download import default_cache_dir, write_cache

# Pillow modes of 16-bit grayscale images (16-bit PNGs open as I;16, older Pillows gave I)
SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I"}
CACHE_VERSION = 4  # bump when decoding changes, so old caches are not reused (2: 16-bit scaled, 3: EXIF turned,
# transparency put on white, 4: float images scaled)
BACKGROUND = 255  # what shows through transparent pixels: white, as a sprite or a logo is drawn to be seen on


class DataWarning(UserWarning):
    """Some input files were skipped."""


def image_files(root: Path) -> list[Path]:
    """Image files under the folder ``root`` (recursive), sorted for a stable order; maybe none.

    A ganforge run in a subfolder (``data.root=~/data`` holding ``~/data/runs/a``) is left out with a
    warning: its PNGs are grids of generated samples, which would be trained on or scored as images.
    """
    found = list(root.rglob("*"))  # one walk of the folder for both
    files = sorted(p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    runs = [c.parent for c in found if c.name == "config.json" and c.parent != root and run_folder_of(c.parent)]
    if not runs:
        return files
    kept = [p for p in files if not any(run in p.parents for run in runs)]
    if len(kept) < len(files):
        n = len(files) - len(kept)
        warnings.warn(f"'{root}' holds ganforge run folder{'s' * (len(runs) != 1)} "
                      f"({first_few([str(r.relative_to(root)) for r in runs])}); {n} image{'s' * (n != 1)} in "
                      f"{'them' if len(runs) != 1 else 'it'}, {'grids' if n != 1 else 'a grid'} of samples, "
                      f"{'were' if n != 1 else 'was'} left out. Keep runs outside folders of images.", DataWarning)
    return kept


def images_instead_hint(folder: Path) -> str:
    """For a dataset's files missing from ``folder``: a sentence saying it holds images, and how to read it as
    a folder of images (a user pointing data.root at their photos, with a preset whose data.name is another
    dataset); "" where it holds none."""
    an_image = next((p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()), None)
    if an_image is None:
        return ""
    return (f" It holds images ('{an_image.relative_to(folder)}'): to read them as a folder of images, set "
            f"{setting('data.name')} to folder.")


def check_files_folder(folder: Path, dataset: str) -> None:
    """Refuse a data.root of an IDX or CIFAR-10 ``dataset`` that is no folder: one of its files given instead of
    the folder that holds them, or a path that does not exist (with the closest name beside it that does)."""
    if folder.is_dir():
        return
    what = setting("data.root")
    if folder.is_file() and folder.suffix.lower() in IMAGE_SUFFIXES:
        raise GanforgeError(f"{what} '{folder}' is one image, not a folder of the {dataset} files; to train on "
                            f"images, set {setting('data.name')} to folder and point {what} at the folder that "
                            f"holds them, such as '{folder.parent}'.")
    if folder.is_file():
        raise GanforgeError(f"{what} '{folder}' is a file, not a folder; point it at the folder that holds the "
                            f"{dataset} files: '{folder.parent}'.")
    raise GanforgeError(f"{what} '{folder}' does not exist or is not a folder.{did_you_mean_path(folder)}")


def list_images(root: Path, what: str = "") -> list[Path]:
    """Image files under ``root`` (recursive), sorted for a stable order; ``what`` names the setting in errors
    (default: data.root, as the running command names it)."""
    what = what or setting("data.root")
    if not root.exists():
        raise GanforgeError(f"{what} '{root}' does not exist.{did_you_mean_path(root)}")
    if not root.is_dir():
        archive = root.name.lower().endswith((".zip", ".tar", ".tar.gz", ".tgz", ".tar.xz", ".7z", ".rar"))
        one_image = root.suffix.lower() in IMAGE_SUFFIXES
        raise GanforgeError(f"{what} '{root}' is not a folder" + (
            "; it looks like an archive: extract it (e.g. unzip, tar -xf) and point it at the folder of images."
            if archive else f"; it is one image: point it at the folder of images, such as '{root.parent}'."
            if one_image else "."))
    run = run_folder_of(root)
    if run is not None and what != "INPUT":  # upscaling a run's grids is a choice; training on them is a slip
        of_samples = "" if run == root.resolve() else " of samples"
        raise GanforgeError(f"{what} '{root}' is a ganforge run's folder{of_samples}: its PNGs are grids of "
                            f"generated samples, not training images. Point {what} at a folder of images.")
    files = image_files(root)
    if not files:
        raise GanforgeError(
            f"{what} '{root}' holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); point it at a folder of images."
        )
    return files


def run_folder_of(folder: Path) -> Path | None:
    """The ganforge run (resolved) that ``folder`` is, or whose ``samples/`` it is; None for any other folder.
    Its PNGs are grids of samples, which neither training nor evaluation should read as single images."""
    folder = folder.resolve()
    if folder.name == "samples" and is_ganforge_run(folder.parent):
        return folder.parent
    return folder if is_ganforge_run(folder) else None


def _content_key(root: Path, files: list[Path], resolution: int, channels: int) -> str:
    # Paths, sizes and modification times identify the content without reading
    # every byte; any added, removed or rewritten file changes the key.
    h = hashlib.sha256(f"v{CACHE_VERSION} {resolution} {channels}".encode())
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def _to_8_bit(img: Image.Image) -> Image.Image:
    """A 16-bit grayscale image (a 16-bit PNG) as 8-bit "L", scaled by 255/65535.

    Pillow's own convert() clips such values at 255 instead, which turns nearly every pixel white.
    Raises ValueError for a 32-bit integer image (mode "I") with values outside 16 bits, which the
    scaling would wrap around.
    """
    wide = np.asarray(img, dtype=np.int64)
    lo, hi = (int(wide.min()), int(wide.max())) if wide.size else (0, 0)
    if lo < 0 or hi > 65535:
        raise ValueError(f"a 32-bit integer image with values from {lo} to {hi}; ganforge reads integer images "
                         "in [0, 65535]: rescale it, or save it as 8- or 16-bit")
    return Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), "L")


def _float_to_8_bit(img: Image.Image) -> Image.Image:
    """A float image (a 32-bit float TIFF, Pillow's mode "F") as 8-bit "L": values in [0, 1] scaled by 255,
    values in [0, 255] kept. Pillow's own convert() clips instead, which turns a [0, 1] image black.

    Raises ValueError (the file is then skipped, with the reason in the warning) for other ranges or
    non-finite values, whose meaning only their maker knows."""
    values = np.asarray(img, dtype=np.float32)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi > 255:
        raise ValueError(f"a float image with values from {lo:g} to {hi:g}; ganforge reads float images in "
                         "[0, 1] or [0, 255]: rescale it to one of them, or save it as 8- or 16-bit")
    scale = 255.0 if hi <= 1 else 1.0
    return Image.fromarray(np.rint(values * scale).astype(np.uint8), "L")


class Decoded(NamedTuple):
    """One decoded image and what was done to it on the way, for the warnings."""
    image: np.ndarray  # uint8 (C, H, W)
    small: bool  # smaller than the resolution, so upscaled
    converted: bool  # grayscale made RGB or the other way
    flattened: bool  # had transparent pixels, now on the white background


def _flatten(img: Image.Image) -> tuple[Image.Image, bool]:
    """An image with transparency put on :data:`BACKGROUND`; and whether any pixel was transparent.

    convert("RGB") would drop the alpha channel and keep whatever colour the file stores under
    transparent pixels, often black, often an editor's leftovers, which the GAN would then learn.
    """
    if img.mode not in ("RGBA", "LA", "PA") and not (img.mode == "P" and "transparency" in img.info):
        return img, False
    rgba = img.convert("RGBA")
    if rgba.getchannel("A").getextrema()[0] == 255:  # an alpha channel, but every pixel opaque
        return img, False
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (BACKGROUND,) * 3 + (255,)), rgba), True


def as_8_bit(img: Image.Image, channels: int) -> tuple[Image.Image, bool]:
    """``img`` in mode "L" (``channels`` 1) or "RGB", as training reads it: turned as its EXIF says, 16-bit
    and float values scaled, transparent pixels put on white; and whether any pixel was transparent. Raises
    ValueError for a float or 32-bit integer image whose range it cannot tell (:func:`_float_to_8_bit`,
    :func:`_to_8_bit`)."""
    # A phone photo stores its pixels as the sensor saw them and says in EXIF how to turn them;
    # viewers (and OpenCV, which MMagic reads with) turn them, so a face would otherwise train sideways.
    img, flattened = _flatten(ImageOps.exif_transpose(img))
    if img.mode in SIXTEEN_BIT:
        img = _to_8_bit(img)
    elif img.mode == "F":
        img = _float_to_8_bit(img)
    return img.convert("L" if channels == 1 else "RGB"), flattened


def decode_image(path: Path, resolution: int, channels: int) -> Decoded | str:
    """One image as uint8 (C, H, W), with what was done to it; or why it could not be read.

    ``resolution`` 0 keeps the image's own size (super-resolution crops its patches from it).
    """
    try:
        with Image.open(path) as img:
            return decoded_pil(img, resolution, channels)
    except Exception as e:  # Pillow raises many types for bad files; all mean "skip it"
        return f"{type(e).__name__}: {e}"


def decoded_pil(img: Image.Image, resolution: int, channels: int) -> Decoded:
    """An opened image as :func:`decode_image` decodes a file; raises what Pillow or :func:`as_8_bit` raise."""
    small = min(img.size) < resolution
    # grayscale made RGB or the other way (a palette may be either; a 16-bit or float image is grayscale)
    grayscale = img.mode in ("1", "L", "LA", "F") or img.mode in SIXTEEN_BIT
    converted = img.mode not in ("P", "PA") and grayscale != (channels == 1)
    img, flattened = as_8_bit(img, channels)
    if resolution:  # scale the shorter side to the resolution, then center-crop the square
        img = ImageOps.fit(img, (resolution, resolution), Image.Resampling.BICUBIC)
    arr = np.asarray(img, dtype=np.uint8)
    return Decoded(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1), small, converted, flattened)


def load_folder(root: str, resolution: int, channels: int, cache_dir: str = "") -> np.ndarray:
    """All images under ``root`` as uint8 (N, C, resolution, resolution).

    Unreadable files are skipped with one :class:`DataWarning` that counts them
    and names the first few. The decoded array is cached, so later runs on the
    same folder start at once; they repeat the first run's warnings.
    """
    return _load_folder(root, resolution, channels, cache_dir, False)[0]


def load_folder_classes(root: str, resolution: int, channels: int,
                        cache_dir: str = "") -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The images of :func:`load_folder`, each image's class (int64 (N,)) and the class names.

    The classes are ``root``'s subfolders, sorted by name, as torchvision's ImageFolder reads them:
    ``root/cat/**/x.png`` is class ``cat``. An image directly in ``root`` has no class: an error.
    """
    return _load_folder(root, resolution, channels, cache_dir, True)


def subfolder_classes(folder: Path, files: list[Path]) -> tuple[str, ...] | None:
    """The class of each of ``files`` is its first folder under ``folder``: their sorted names, or
    None where an image sits directly in ``folder`` (it has no class)."""
    if any(len(p.relative_to(folder).parts) == 1 for p in files):
        return None
    return tuple(sorted({p.relative_to(folder).parts[0] for p in files}))


def subfolder_labels(relative: list[Path], classes: tuple[str, ...]) -> np.ndarray:
    """The class of each of ``relative`` (paths under the folder): its first folder's index in ``classes``, int64 (N,)."""
    index = {name: i for i, name in enumerate(classes)}
    return np.array([index[p.parts[0]] for p in relative], dtype=np.int64)


def folder_class_names(folder: Path, files: list[Path]) -> tuple[str, ...]:
    """:func:`subfolder_classes` of a class-conditional run's data.root, where every image needs a class."""
    classes = subfolder_classes(folder, files)
    if classes is None:
        loose = [p for p in files if len(p.relative_to(folder).parts) == 1]
        n = len(loose)
        root = setting("data.root")
        raise GanforgeError(f"{root} '{folder}' holds {n} image{'s' * (n != 1)} directly in it "
                            f"({first_few([p.name for p in loose])}), but a class-conditional run (model.num_classes > "
                            f"0) reads each image's class from its subfolder ({root}/CLASS/image.png, as "
                            f"torchvision's ImageFolder does). Move {'them' if n != 1 else 'it'} into class folders, "
                            "or set model.num_classes=0.")
    return classes


def _load_folder(root: str, resolution: int, channels: int, cache_dir: str,
                 with_classes: bool) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    folder = Path(root).expanduser()
    if not root:
        raise GanforgeError("data.name is 'folder' (a folder of images, such as seed 002's anime faces for the hw6 "
                            "presets) but data.root is empty; name the folder: --set data.root=PATH.")
    files = list_images(folder)
    classes = folder_class_names(folder, files) if with_classes else ()
    key = _content_key(folder, files, resolution, channels)
    cache = default_cache_dir(cache_dir) / "folders" / f"{key}.npy"
    with contextlib.ExitStack() as stack:
        cached = _read_cache(cache, with_classes)
        if cached is None:  # torchrun's ranks on one machine load the folder at once: one decodes it, the
            # others wait and read its cache (each decoded the whole folder, on the same cores)
            with contextlib.suppress(OSError):  # a cache folder that cannot be made: write_cache warns below
                cache.parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(one_writer_at_a_time(cache, f"decoding '{folder}' into {cache.parent}"))
            cached = _read_cache(cache, with_classes)  # written by the process this one waited for
        if cached is not None:
            images, labels, notes = cached
            for note in notes:  # stored with the folder as {folder}: the same content may sit elsewhere now
                # stacklevel 2: load_folder's line, as warn_decoded's warnings point at on a first decode
                warnings.warn(_named(note.replace("'{folder}", f"'{folder}")), DataWarning, stacklevel=2)
            return images, labels, classes
        check_fits(len(files) * channels * resolution ** 2, f"{len(files):,} image{'s' * (len(files) != 1)} of "
                   f"{channels}x{resolution}x{resolution} in '{folder}'",
                   f"lower {setting('data.resolution')} or use fewer images")
        kept, decoded, notes = decode_files(folder, files, resolution, channels)
        # the folder as a quoted name or the start of a quoted path, never loose text: a folder named "." must not
        # match every dot
        where = re.compile("'" + re.escape(str(folder)) + f"(?=['{re.escape(os.sep)}])")
        notes = [where.sub("'{folder}", note) for note in notes]
        images = stack_freeing(decoded)
        labels = subfolder_labels(kept, classes) if classes else None  # kept paths' first part is the class
        # the array last: its presence says the other files are complete. Each after the one before was written:
        # a cache that refuses the first refuses them all, and said so once for each
        writes = [(cache.with_suffix(".labels.npy"), lambda f: np.save(f, labels))] if classes else []
        writes += [(cache.with_suffix(".warnings.json"), lambda f: f.write(json.dumps(notes).encode())),
                   # which file each image came from (the unreadable left out), for loaded_files
                   (cache.with_suffix(".files.json"),
                    lambda f: f.write(json.dumps([p.as_posix() for p in kept]).encode())),
                   (cache, lambda f: np.save(f, images))]
        for path, write in writes:
            if not write_cache(path, write):
                break
        return images, labels, classes


def _read_cache(cache: Path, with_classes: bool) -> tuple[np.ndarray, np.ndarray | None, list[str]] | None:
    """A folder's decoded images from ``cache``, their classes (``with_classes``) and the warnings their decoding
    gave; None where the cache is missing, incomplete or damaged (the folder is decoded again)."""
    # the class of each cached image: the images skipped as unreadable are not in the cache
    label_cache = cache.with_suffix(".labels.npy")
    # what decoding warned about (upscaled, converted, skipped images), said again on every cache hit:
    # a run that reads the cache must tell the user what the first run did
    # (a cache written before they were kept has none: it is decoded again, once)
    notes_cache = cache.with_suffix(".warnings.json")
    if not (cache.is_file() and notes_cache.is_file() and (label_cache.is_file() or not with_classes)):
        return None
    try:
        labels = np.load(label_cache, allow_pickle=False) if with_classes else None
        return np.load(cache, allow_pickle=False), labels, json.loads(notes_cache.read_text())
    except (OSError, ValueError):
        return None


def loaded_files(root: str, resolution: int, channels: int, cache_dir: str = "") -> list[str] | None:
    """The file of each image :func:`load_folder` returns for these arguments, relative to ``root``, in its order
    (the unreadable files left out), as its cache recorded them; None where no cache records them (a cache
    written before they were recorded)."""
    folder = Path(root).expanduser()
    with warnings.catch_warnings():  # said when the folder was loaded
        warnings.simplefilter("ignore", DataWarning)
        files = image_files(folder)
    key = _content_key(folder, files, resolution, channels)
    try:
        return json.loads((default_cache_dir(cache_dir) / "folders" / f"{key}.files.json").read_text())
    except (OSError, ValueError):
        return None


def stack_freeing(images: list[np.ndarray]) -> np.ndarray:
    """Same-shape arrays as one (N, ...) array; each is dropped from the list as it is copied,
    where np.stack would hold both copies at once, twice the memory."""
    out = np.empty((len(images), *images[0].shape), images[0].dtype)
    for i in range(len(images)):
        out[i] = images[i]
        images[i] = None
    return out


def decode_files(folder: Path, files: list[Path], resolution: int, channels: int,
                 channels_from: str = "") -> tuple[list[Path], list[np.ndarray], list[str]]:
    """Decode ``files`` in parallel; warn once per kind of problem; return the readable files, their
    images and the warnings given (:func:`warn_decoded`).

    ``channels_from`` says in the warning why images were converted (default: data.channels=C).
    """
    decoded = []
    # Pillow decodes without the GIL; 200,000 photos take minutes, so the bar (or a line every 30 s) counts them
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool, \
            reporting(f"decoding '{folder.name or folder}'", len(files), "images") as advance:
        for outcome in pool.map(lambda p: decode_image(p, resolution, channels), files):
            decoded.append(outcome)
            advance(1)
    kept, notes = warn_decoded(folder, files, decoded, resolution, channels, channels_from)
    return [p.relative_to(folder) for p in kept], [r.image for r in decoded if not isinstance(r, str)], notes


def warn_decoded(folder: Path, files: list[Path], decoded: list[Decoded | str], resolution: int, channels: int,
                 channels_from: str = "") -> tuple[list[Path], list[str]]:
    """One warning per kind of problem in what :func:`decode_image` returned for ``files``; the readable
    files and the warnings' messages (a folder's cache keeps them to repeat), or an error if no file is
    readable. (``ganforge upscale`` decodes one image at a time and calls this at the end, with the
    images already dropped.)"""
    bad = [(p, r) for p, r in zip(files, decoded) if isinstance(r, str)]
    kept = [(p, r) for p, r in zip(files, decoded) if not isinstance(r, str)]
    small = [str(p.relative_to(folder)) for p, r in kept if r.small]
    converted = [str(p.relative_to(folder)) for p, r in kept if r.converted]
    flattened = [str(p.relative_to(folder)) for p, r in kept if r.flattened]
    notes = []
    if small:
        notes.append(f"{len(small)} of {len(files)} images in '{folder}' are smaller than {resolution}x{resolution} "
                     f"and were upscaled (blurry): {first_few(small)}. Lower {{data.resolution}} or remove them.")
    if converted:
        mode = "grayscale" if channels == 1 else "RGB"
        notes.append(f"{len(converted)} of {len(files)} images in '{folder}' were converted to {mode} "
                     f"({channels_from or f'{{data.channels}}={channels}'}): {first_few(converted)}.")
    if flattened:
        notes.append(f"{len(flattened)} of {len(files)} images in '{folder}' have transparent pixels, which were put "
                     f"on a white background: {first_few(flattened)}.")
    if bad:
        why = [f"{p.relative_to(folder)} ({reason})" for p, reason in bad]
        notes.append(f"skipped {len(bad)} of {len(files)} files in '{folder}' that could not be read as images: "
                     f"{first_few(why)}")
    for note in notes:
        warnings.warn(_named(note), DataWarning, stacklevel=4)
    if not kept:
        raise GanforgeError(f"none of the {len(files)} image files in '{folder}' could be read.")
    return [p for p, _ in kept], notes


def _named(note: str) -> str:
    """A decoding note with its settings named as the running command takes them (``--resolution`` in ganforge
    data). The notes are kept with ``{data.resolution}`` and ``{data.channels}`` in them, so that a folder's cache,
    which repeats them to whichever command reads it next, says them in that command's words."""
    for key in ("data.resolution", "data.channels"):
        note = note.replace("{" + key + "}", setting(key))
    return note


def first_few(names: list[str]) -> str:
    """The first three names, and how many more, for a warning that stays one line."""
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


class Header(NamedTuple):
    """What an image file's header says, read without decoding its pixels."""
    mode: str  # Pillow's mode: "L", "RGB", "RGBA", "I;16", ...
    width: int
    height: int


def read_header(path: Path) -> Header | None:
    """The file's mode and size from its header alone (Pillow decodes pixels only when they are
    asked for), to check memory before decoding; None if it cannot be read, which decoding it will say."""
    try:
        with Image.open(path) as img:
            return Header(img.mode, *img.size)
    except Exception:  # Pillow raises many types for bad files
        return None


def load_folder_native(root: str, channels: int, what: str = "") -> tuple[list[Path], list[np.ndarray]]:
    """Images under ``root`` at their own sizes: (paths relative to root, uint8 (C, H, W) arrays).

    For super-resolution, which crops patches from full-size images. Not cached:
    the images differ in size, so they do not fit one array.
    """
    what = what or setting("data.root")
    if not root:
        raise GanforgeError(f"{what} is empty; set --set {what}=PATH to a folder of images.")
    folder = Path(root).expanduser()
    files = list_images(folder, what)
    pixels = sum(h.width * h.height for h in filter(None, map(read_header, files)))
    check_fits(pixels * channels, f"{len(files):,} image{'s' * (len(files) != 1)} in '{folder}' at "
               f"their own sizes ({channels} channel{'s' * (channels != 1)})",
               f"use fewer or smaller images in {what}")
    names, images, _ = decode_files(folder, files, 0, channels)
    return names, images
