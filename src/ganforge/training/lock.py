"""One run, one writer: an exclusive ``flock`` on ``RUN_DIR/.lock``.

The kernel drops a ``flock`` when its process dies, however it dies, so a lock
file left by a killed run never blocks the next one: it is simply taken over.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import warnings
from pathlib import Path

from ..errors import GanforgeError


class RunLock:
    """Context manager that holds ``RUN_DIR/.lock`` for the life of a training process."""

    def __init__(self, run_dir: Path, named: str = "") -> None:
        """``named``: the folder as errors name it (default "--out 'RUN_DIR'")."""
        self.run_dir = run_dir
        self.named = named or f"--out '{run_dir}'"
        self.path = run_dir / ".lock"
        self.file = None

    def __enter__(self) -> "RunLock":
        self.created = not self.run_dir.exists()
        # the topmost folder made here (runs/ too for runs/a when neither exists), so a failed start removes both
        self.created_top = self.run_dir
        while not self.created_top.parent.exists():
            self.created_top = self.created_top.parent
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "a+")
        except OSError as e:
            raise GanforgeError(f"cannot write to {self.named}: {e.strerror}. Pick a writable folder.") from None
        self.held = True
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.file.close()
            raise GanforgeError(
                f"run folder '{self.run_dir}' is being written by a live training process ({holder}). "
                "Wait for it to finish, stop it (Ctrl-C saves a checkpoint), or choose another --out.") from None
        except OSError as e:  # some network and FUSE filesystems have no locks (ENOLCK): a traceback ended the run
            self.held = False
            warnings.warn(f"run folder '{self.run_dir}' is on a filesystem without locks ({e.strerror}), so nothing "
                          "stops a second process from writing this run at the same time: train it in one at a time.")
        self.file.seek(0)
        previous = self.file.read().strip()
        if previous and self.held:  # without a lock, whether that process is gone is not known
            print(f"ganforge: taking over the lock of a process that is gone ({previous}).", file=sys.stderr)
        try:
            self.file.seek(0)
            self.file.truncate()
            self.file.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
            self.file.flush()
        except OSError as e:  # a full disk: name the file, so the CLI's one line says where
            with contextlib.suppress(OSError):  # close flushes again and fails, but closes the file: the lock goes
                self.file.close()
            self.file = None
            raise OSError(e.errno, e.strerror, str(self.path)) from None
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if self.file is not None:
            if exc_type is not None and self.created and [p.name for p in self.run_dir.iterdir()] == [".lock"]:
                # the run failed before writing anything (a bad option): leave no folder behind for a typo.
                # Unlinked while still locked, so no other process can have taken this lock file.
                with contextlib.suppress(OSError):
                    self.path.unlink()
                    folder = self.run_dir
                    while True:
                        folder.rmdir()  # fails, and is left, if another process has just put a file there
                        if folder == self.created_top:
                            break
                        folder = folder.parent
            else:
                self.file.seek(0)
                self.file.truncate()  # empty: a clean exit leaves nothing to take over
            if self.held:
                fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()


def is_being_written(run_dir: Path) -> bool:
    """Whether a live training process holds ``run_dir``'s lock (asked without taking it: a shared lock
    is refused while the writer's exclusive one is held)."""
    try:
        f = open(run_dir / ".lock")
    except OSError:  # no lock file: no run has trained here, or the folder was copied without it
        return False
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:  # a filesystem without locks: no writer holds one to be seen
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return False
