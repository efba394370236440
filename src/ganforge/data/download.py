"""Downloads with checksums, progress and atomic writes, into a cache folder."""
from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO, Callable

from ..errors import GanforgeError
from ..files import format_bytes, make_dir, one_writer_at_a_time, temp_file_beside, write_atomic
from ..progress import reporting, say
from ..wording import setting

# how to fix a cache folder that cannot be written (the message names the folder itself)
CACHE_FIX = "Set GANFORGE_CACHE (or data.cache_dir) to a folder you can write to."


def check_mirror(mirror: str, what: str = "config key 'data.mirror'", root: str = "set data.root=FOLDER") -> None:
    """Refuse a ``mirror`` that is not a URL (``what`` names where it was given, ``root`` how to give a folder
    there): urllib's "unknown url type" ValueError came as a traceback at the download."""
    if mirror and urllib.parse.urlsplit(mirror).scheme not in ("http", "https", "ftp", "file"):
        raise GanforgeError(f"{what} is '{mirror}', not a URL: give the base URL the dataset's files are under "
                            f"(https://..., or file:///srv/mirror/); for files already on this machine, {root} "
                            "instead.")


def default_cache_dir(cache_dir: str = "") -> Path:
    """``cache_dir`` if given, else ``$GANFORGE_CACHE``, else ``ganforge`` in the XDG cache folder: ``$XDG_CACHE_HOME``
    where it is an absolute path (the XDG spec ignores a relative one), or ``~/.cache`` (torch and Hugging Face
    fall back to it alike, so a cluster's XDG_CACHE_HOME on scratch space holds ganforge's downloads too)."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    if ours := os.environ.get("GANFORGE_CACHE"):
        return Path(ours)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "ganforge"


def write_cache(path: Path, write: Callable[[BinaryIO], object]) -> bool:
    """Write a cache file atomically (``files.write_atomic``); True if it was written.

    A cache only saves work, so one that cannot be written is a warning, not an error:
    the command goes on, and the next one redoes the work.
    """
    try:
        write_atomic(path, write, CACHE_FIX)
        return True
    except GanforgeError as e:
        print(f"ganforge: warning: not cached, so the next run redoes this work: {e}", file=sys.stderr)
        return False


def md5_of(path: Path) -> str:
    """MD5 hex digest of a file (the checksum the dataset authors publish)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class DownloadFailed(GanforgeError):
    """No URL gave a good file; the message says why each failed."""


def fetch(urls: list[str], dest: Path, check: Callable[[Path], str | None], timeout_s: float = 60.0) -> Path:
    """Fetch the first URL whose file passes ``check`` into ``dest``; the one download loop.

    ``check(path)`` returns None for a good file, else what is wrong with it. One process at a
    time fetches ``dest`` (:func:`files.one_writer_at_a_time`): the others wait, then find it. Each
    attempt streams into a temp file of its own in ``dest``'s folder, saying how far it has got
    (:func:`_copy_reporting`), fsyncs it and renames it, so a killed download never leaves a half
    file under the final name, and every failed attempt's temp file is removed. Raises
    :class:`DownloadFailed` naming why each URL failed; a cache folder that cannot be
    written is a GanforgeError of its own, since no mirror can help with it.
    """
    make_dir(dest.parent, CACHE_FIX)
    errors = []
    with one_writer_at_a_time(dest, f"downloading {dest.name} into {dest.parent}"):
        if dest.is_file() and check(dest) is None:  # fetched by the process this one waited for
            return dest
        for url in urls:
            with temp_file_beside(dest, ".part", CACHE_FIX) as (fd, tmp):  # removed as the attempt ends, unless renamed
                try:
                    with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout_s) as resp:
                        _copy_reporting(resp, out, url, dest)
                        out.flush()
                        os.fsync(out.fileno())
                    wrong = check(Path(tmp))
                    if wrong:
                        errors.append(f"{url}: {wrong}")
                        continue
                    os.replace(tmp, dest)
                    return dest
                except (urllib.error.URLError, OSError, TimeoutError) as e:
                    errors.append(f"{url}: {e}")
                except http.client.HTTPException as e:  # not an OSError: a traceback, and no other URL was tried
                    errors.append(f"{url}: the server's reply broke off or is not HTTP ({e!r})")
    raise DownloadFailed("; ".join(errors))


def _copy_reporting(resp: BinaryIO, out: BinaryIO, url: str, dest: Path) -> None:
    """Copy a download ``resp`` into ``out``, saying how far it has got: first a line naming the URL and the size,
    then :func:`progress.reporting`'s bar or lines. A 170 MB archive took minutes with nothing on the screen."""
    length = resp.headers.get("Content-Length", "")  # http and file URLs give it; a chunked reply does not
    total = int(length) if length.isdigit() else None
    say(f"ganforge: downloading {url} ({format_bytes(total) if total else 'size not given'}) into {dest.parent}")
    got = 0  # bytes copied: a short reply is caught below
    with reporting(dest.name, total, "B") as advance:
        while chunk := resp.read(1 << 20):
            out.write(chunk)
            got = advance(len(chunk))
    if total and got < total:  # http.client's read(n) ends quietly where the server hung up
        raise ConnectionError(f"the server hung up after {format_bytes(got)} of {format_bytes(total)}")


def download(urls: list[str], dest: Path, md5: str, timeout_s: float = 60.0) -> Path:
    """Fetch the first URL that works into ``dest`` (see :func:`fetch`) and check its MD5.

    A file already at ``dest`` with the right checksum is reused.

    Args:
        urls: mirrors to try in order.
        dest: final path.
        md5: expected MD5 hex digest.
        timeout_s: socket timeout per attempt.
    """
    if dest.is_file() and md5_of(dest) == md5:
        return dest

    def wrong_md5(path: Path) -> str | None:
        got = md5_of(path)
        return None if got == md5 else f"checksum {got} != expected {md5}"

    try:
        return fetch(urls, dest, wrong_md5, timeout_s)
    except DownloadFailed as e:
        raise GanforgeError(f"could not download {dest.name}: {e}. Put the file in {dest.parent} yourself, "
                            f"or point {setting('data.root')} at a folder that holds it.") from None
