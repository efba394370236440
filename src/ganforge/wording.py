"""Messages in the caller's words: the ganforge command's flags at a shell, the Python API's arguments in Python.

A message that says what to do next names the way the user called ganforge: ``--resume`` and ``--set`` for the
command, ``resume=True`` and ``overrides`` for ``ganforge.train`` in a notebook, where a command to paste would
be a detour. ``ganforge.api`` marks its calls with :func:`python_call`; everything else is the command's.
"""
from __future__ import annotations

import contextlib
import json
import shlex
from contextvars import ContextVar
from pathlib import Path
from typing import Iterator

# a context variable, not a global: a notebook may train in a thread while the command-line tests run in another
_IN_PYTHON: ContextVar[bool] = ContextVar("ganforge_in_python", default=False)
# the ganforge command's arguments, for the record a run keeps of its sessions (provenance.record_session)
_ARGUMENTS: ContextVar[tuple[str, ...] | None] = ContextVar("ganforge_arguments", default=None)
# config keys that the running command sets with flags of its own (ganforge data's --root sets data.root), so that
# an error deep in a loader names the flag the user typed, not a key this command has no way to set
_SETTING_NAMES: ContextVar[dict[str, str] | None] = ContextVar("ganforge_setting_names", default=None)


@contextlib.contextmanager
def python_call() -> Iterator[None]:
    """Within this block, messages name the Python API's arguments."""
    token = _IN_PYTHON.set(True)
    try:
        yield
    finally:
        _IN_PYTHON.reset(token)


@contextlib.contextmanager
def command_line(arguments: list[str]) -> Iterator[None]:
    """Within this block, the ganforge command runs with ``arguments`` (those after ``ganforge``)."""
    token = _ARGUMENTS.set(tuple(arguments))
    try:
        yield
    finally:
        _ARGUMENTS.reset(token)


@contextlib.contextmanager
def settings_named(names: dict[str, str]) -> Iterator[None]:
    """Within this block, messages name each config key of ``names`` as its value (``{"data.root": "--root"}``)."""
    token = _SETTING_NAMES.set({**(_SETTING_NAMES.get() or {}), **names})
    try:
        yield
    finally:
        _SETTING_NAMES.reset(token)


def setting(key: str) -> str:
    """How messages name the config key ``key``: as :func:`settings_named` renamed it, else the key itself."""
    return (_SETTING_NAMES.get() or {}).get(key, key)


def the_command() -> str | None:
    """The ganforge command being run, as a shell line; None inside a call of the Python API."""
    arguments = _ARGUMENTS.get()
    return None if _IN_PYTHON.get() or arguments is None else shlex.join(["ganforge", *arguments])


def say(command: str, python: str) -> str:
    """``command`` for the ganforge command, ``python`` inside a call of the Python API."""
    return python if _IN_PYTHON.get() else command


def set_flag(key: str, value: object) -> str:
    """``--set key=VALUE`` to paste into a shell: ``value`` as JSON (which ``--set`` reads), the whole quoted."""
    return "--set " + shlex.quote(f"{key}={json.dumps(value)}")


def train_call(config: str | Path, out: str | Path, *sets: str, resume: bool = False) -> str:
    """How to train ``config`` into ``out`` with the ``key`` of each of ``sets`` set (to a value the user picks):
    ``ganforge train C --out R --resume --set k=...`` or ``ganforge.train("C", "R", {"k": ...}, resume=True)``."""
    if _IN_PYTHON.get():
        overrides = f", {{{', '.join(f'{json.dumps(k)}: ...' for k in sets)}}}" if sets else ""
        return f"ganforge.train({json.dumps(str(config))}, {json.dumps(str(out))}{overrides}" \
               f"{', resume=True' if resume else ''})"
    flags = (" --resume" if resume else "") + "".join(f" --set {k}=..." for k in sets)
    return f"ganforge train {shlex.quote(str(config))} --out {shlex.quote(str(out))}{flags}"
