"""File writes: atomic ones (readers see the old file or the new one, never half of one) and JSON results."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, BinaryIO, Callable, Iterator

from .errors import GanforgeError


# the process's umask, read once at import: os.umask can only be read by setting it
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_DEFAULT_MODE = 0o666 & ~_UMASK


# what a refused write fails with: a full disk, a quota, a file over the size limit
REFUSED_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# how to fix an output in a folder that cannot be written (the messages name the path)
WRITABLE_FIX = "Choose a path in a folder you can write to."


def refused_reason(e: OSError) -> str:
    """Why the system refused a write, in words: "the disk is full", or its own message."""
    return "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))


class WriteFailed(GanforgeError):
    """The system refused a write (disk full, quota, a file too large): ``reason`` says which."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"could not write '{path}': {reason}. Free some space, or write it somewhere else.")
        self.reason = reason


def os_error_behind(e: BaseException | None) -> OSError | None:
    """The OSError in ``e``'s chain, if any. torch.save reports a full disk as a RuntimeError of its
    zip writer ("unexpected pos ..."), raised while handling the OSError."""
    while e is not None and not isinstance(e, OSError):
        e = e.__cause__ or e.__context__
    return e


def temp_name_beside(path: Path, suffix: str) -> Path:
    """A new name for a hidden temp file of ``path`` beside it, ``.NAME.<16 hex digits>SUFFIX`` (64 random bits:
    no other call draws it), the one form :func:`remove_left_temp_files` knows a killed process's leftovers by."""
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}{suffix}")


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) and SIGTERM until the block ends, then let them in: a file of a folder written one by
    one and the count of those written go up together, so an interrupted folder's message names every whole file
    in it. Without this a signal landing after a PNG's rename and before its count said one image fewer than the
    folder held. A signal waits for one image's write (milliseconds).

    The block's handlers only note a signal, which is raised again once the usual handlers are back. (Blocking it
    with ``pthread_sigmask`` did not do: the kernel hands a process's signal to any thread not blocking it, such as
    torch's, and Python then runs the handler in the main thread at once.) Only the main thread sets handlers;
    elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    kept = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in kept.items():
            signal.signal(s, handler)
        if caught:
            signal.raise_signal(caught[0])


@contextlib.contextmanager
def temp_file_beside(path: Path, suffix: str, fix: str = WRITABLE_FIX) -> Iterator[tuple[int, str]]:
    """(fd, name) of a new hidden temp file in ``path``'s folder, unique to this call, removed when the block
    ends unless the block renamed it; a folder that refuses it is bad input, and ``fix`` ends the message.

    The name is drawn before the file is made, which O_EXCL makes only if no file has it (as tempfile.mkstemp
    makes its own). mkstemp gives the name only once its file exists, and Python may raise a Ctrl-C at the
    first call after the make, in whichever thread the signal reached: that left the file where nothing knew
    its name (1 interrupted folder of samples in 6, since the make is much of a small PNG's write).
    """
    tmp = str(temp_name_beside(path, suffix))
    try:
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        except OSError as e:
            if isinstance(e, FileExistsError):  # another's file, not to be removed (never, at 64 bits)
                tmp = ""
            raise GanforgeError(f"cannot write '{path}': {e.strerror}. {fix}") from None
        yield fd, tmp
    finally:
        if tmp and os.path.exists(tmp):  # not renamed: the block failed or was interrupted, or it was a probe
            os.unlink(tmp)


@contextlib.contextmanager
def one_writer_at_a_time(path: Path, doing: str) -> Iterator[None]:
    """Within this block, no other process writes ``path``: an exclusive ``flock`` on ``.NAME.lock`` beside it.

    For files that several processes may set out to make at once, the same for all of them: torchrun's ranks
    on one machine (or two runs started together) load one dataset, and each downloaded the whole archive
    (170 MB for CIFAR-10), or decoded the whole image folder, in parallel into the one cache. Now the first
    makes it; the others wait (saying once that they wait for another process ``doing``), then find it. The
    lock file is removed while still held, so a process that opened it before then finds, once it holds the
    lock, that the path now names another file (or none), and starts over: each lock that guards the work is
    on the file the path names. Holding it, the process removes the temp files of ``path`` that a killed
    process left. Where the folder refuses the lock file, the block runs unguarded (the write itself says
    what is wrong with the folder), as it does on a filesystem that has no locks.
    """
    lock_path = path.with_name(f".{path.name}.lock")
    lock = _lock(lock_path, doing)
    if lock is not None:  # no other process writes ``path`` now: a part download or a decoded array left beside it
        remove_left_temp_files(path.parent, lambda name: name == path.name)
    try:
        yield
    finally:
        if lock is not None:
            with contextlib.suppress(OSError):
                lock_path.unlink()
            lock.close()


def _lock(lock_path: Path, doing: str) -> IO | None:
    """``lock_path`` opened and flocked exclusively, waiting for it (see :func:`one_writer_at_a_time`); None where
    the folder refuses the file or the filesystem has no locks (some network or FUSE ones: ENOLCK)."""
    waited = int(os.environ.get("RANK", "0")) > 0  # torchrun's other ranks wait without a word
    while True:
        try:
            lock = open(lock_path, "a")
        except OSError:
            return None
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not waited:  # once, though a third process may take the lock file's successor first
                    print(f"ganforge: waiting for another process {doing}", file=sys.stderr, flush=True)
                    waited = True
                fcntl.flock(lock, fcntl.LOCK_EX)
        except OSError:
            lock.close()
            return None
        try:
            current = os.stat(lock_path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(lock.fileno()).st_ino:
            return lock
        lock.close()  # the holder before this process removed the file it locked: lock the one there now


def remove_left_temp_files(folder: Path, of: Callable[[str], bool]) -> None:
    """Remove the temp files in ``folder`` named by :func:`temp_name_beside` for the files whose names ``of``
    accepts, which a killed process left there (kill -9, the OOM killer, a power cut), each as large as the file
    it was to become: a checkpoint, a download, a decoded folder. Call it only where no other process can be
    writing those files (holding their lock)."""
    try:
        names = [entry.name for entry in folder.iterdir()]
    except OSError:  # no such folder yet
        return
    for name in names:
        if (left := _TEMP_NAME.fullmatch(name)) and of(left.group(1)):
            with contextlib.suppress(OSError):
                (folder / name).unlink()


# the name temp_name_beside gives a temp file of NAME: .NAME.<16 hex digits>.tmp (or .part, for downloads)
_TEMP_NAME = re.compile(r"\.(.+)\.[0-9a-f]{16}\.(?:tmp|part)")


def write_atomic(path: Path, write: Callable[[BinaryIO], object], fix: str = WRITABLE_FIX) -> None:
    """Call ``write`` on a temp file beside ``path``, fsync it, then rename it over ``path``.

    The temp file is removed if anything fails. The file gets the permissions of one opened
    normally (0666 less the umask); a temp file starts as 0600. A folder that cannot be
    written is bad input (GanforgeError); a write the system refuses midway (a full disk)
    raises :class:`WriteFailed`; any other exception propagates. ``fix`` ends the message
    about a folder that cannot be written.
    """
    _make_parent(path, fix)
    try:
        with temp_file_beside(path, ".tmp", fix) as (fd, tmp):
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, _DEFAULT_MODE)
            os.replace(tmp, path)
    except BaseException as err:
        refused = os_error_behind(err) if isinstance(err, (OSError, RuntimeError)) else None
        # a RuntimeError counts only when a refused write is behind it (torch.save on a full disk)
        if refused is not None and (isinstance(err, OSError) or refused.errno in REFUSED_WRITE_ERRNOS):
            raise WriteFailed(path, refused_reason(refused)) from None
        raise


# array and archive files an --out may name by habit, where ganforge writes a .npy
# file kinds an --out of images may be mistaken for: arrays, checkpoints, archives and text (`--out s.txt` became a
# folder named s.txt); a folder named with a dot (samples.v2) is still a folder
OTHER_ARRAY_SUFFIXES = (".npz", ".pt", ".pth", ".ckpt", ".safetensors", ".bin", ".pkl", ".h5", ".hdf5", ".mat",
                        ".zip", ".tar", ".gz", ".txt", ".csv", ".json")


def format_bytes(n: float) -> str:
    """A size for a message, in the largest decimal unit up to GB that keeps it >= 1: '12.5 kB', '3.1 GB'
    (a few samples are kilobytes, which '0.0 GB' hid)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f} B"


def check_output_file(path: Path, fix: str = WRITABLE_FIX) -> None:
    """Refuse an output ``path`` that cannot be written: a folder, under a file, or in a folder that refuses new
    files or folders. A command calls this before minutes of work, so a bad output path fails at once instead
    of at the end. It leaves nothing behind: a missing folder is tried by making and removing one where it
    would go, and made when the file is written, so a command that fails later leaves no empty folder. The
    trials catch a folder that refuses new entries (read-only, immutable, another user's), which its
    permission bits do not tell root."""
    _refuse_folder(path)
    folder = path.parent
    if folder.is_dir():
        with temp_file_beside(path, ".probe", fix) as (fd, _):  # removed as the block ends
            os.close(fd)
        return
    try:
        os.rmdir(tempfile.mkdtemp(dir=nearest_existing(folder), prefix=".ganforge-probe."))
    except OSError as e:  # a file where the folder would go, too: mkdtemp fails with "Not a directory"
        raise _cannot_make(folder, e, fix) from None


def _make_parent(path: Path, fix: str) -> None:
    """Make ``path``'s folder; a ``path`` that is a folder is bad input."""
    make_dir(path.parent, fix)
    _refuse_folder(path)


def _refuse_folder(path: Path) -> None:
    """A file to write whose path is a folder is bad input."""
    if path.is_dir():
        raise GanforgeError(f"cannot write '{path}': it is a folder. Give a file name, or remove the folder.")


def make_dir(path: Path, fix: str = WRITABLE_FIX) -> None:
    """``mkdir -p``; a folder that cannot be made (no permission, a file in the way) is bad input.

    ``fix`` ends the error message: what the user should change.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _cannot_make(path, e, fix) from None


def nearest_existing(path: Path) -> Path:
    """``path``, or the nearest of its parents that exists (``.`` for a relative path where none does)."""
    return next((p for p in (path, *path.parents) if p.exists()), Path("."))


def _cannot_make(folder: Path, error: OSError, fix: str) -> GanforgeError:
    """The error for a ``folder`` that ``error`` kept from being made, ending in ``fix``. "File exists" and "Not a
    directory" both mean a file stands where a folder is wanted: that file is named. (Once one existing path is a
    folder, so are all its parents, so the nearest existing one is the file if any is.)"""
    existing = nearest_existing(folder)
    why = error.strerror if existing.is_dir() else f"'{existing}' is a file, not a folder"
    return GanforgeError(f"cannot create the folder '{folder}': {why}. {fix}")


# files a JSON output was named as though it wrote them: it wrote JSON into them all the same
NOT_JSON = (".csv", ".tsv", ".xlsx", ".yaml", ".yml", ".toml", ".png", ".npy", ".pt")


def json_name_problem(path: str | Path) -> str:
    """Why ``path`` should not take a JSON output ('' if nothing): it is named for another format, so a table
    asked for as runs.csv would be JSON under a .csv name, which a spreadsheet then cannot read."""
    suffix = Path(path).suffix.lower()
    if suffix not in NOT_JSON:
        return ""
    return (f"'{path}' names a {suffix} file, but ganforge writes JSON there; name it "
            f"'{Path(path).with_suffix('.json').name}' (pandas.read_json reads it as a table)")


def write_json(obj: object, path: str | Path) -> None:
    """Write ``obj`` as indented JSON with a final newline, atomically, creating the parent folders."""
    text = json.dumps(obj, indent=2) + "\n"
    write_atomic(Path(path), lambda f: f.write(text.encode()))
