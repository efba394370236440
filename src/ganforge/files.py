"""File writes: atomic ones (readers see the old file or the new one, never half of one) and JSON results."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def write_atomic(path: Path, write: Callable[[BinaryIO], object], mode: int | None = None) -> None:
    """Call ``write`` on a temp file beside ``path``, fsync it, then rename it over ``path``.

    The temp file is removed if anything fails, and the exception propagates.
    ``mode`` sets the permissions (a temp file starts as 0600).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(obj: object, path: str | Path) -> None:
    """Write ``obj`` as indented JSON with a final newline, creating the parent folders (results, benchmarks)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=2) + "\n")
