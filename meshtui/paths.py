"""Where meshtui keeps its files (the XDG directories, the data it ships), and the one atomic write.

Imports nothing of meshtui's, so every layer may use it (tests/test_layers.py
says so); the core may compute paths here but does no I/O with them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["config_dir", "shipped", "state_dir", "write_atomic"]

APP = "meshtui"
PACKAGE = Path(__file__).resolve().parent


def _xdg(name: str, fallback: str, env: Mapping[str, str] | None) -> Path:
    """``$name`` when it is an absolute path (the XDG rule), else ``$HOME/fallback``."""
    env = os.environ if env is None else env
    value = env.get(name)
    if value and os.path.isabs(value):
        return Path(value)
    return Path(env.get("HOME") or str(Path.home())) / fallback


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/meshtui`` (default ``~/.config/meshtui``): settings, themes, keys."""
    return _xdg("XDG_CONFIG_HOME", ".config", env) / APP


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/meshtui`` (default ``~/.local/state/meshtui``): the audit log."""
    return _xdg("XDG_STATE_HOME", ".local/state", env) / APP


def shipped(folder: str, packaged: str) -> Path:
    """A folder of data meshtui ships, e.g. ``shipped("demo", "ui/demo_data")``.

    The repository's top-level ``folder`` is the only copy: a source tree or an
    editable install reads it there; a wheel carries it as ``meshtui/<packaged>``
    (setup.py maps one onto the other).
    """
    source = PACKAGE.parent / folder
    if (PACKAGE.parent / "pyproject.toml").is_file() and source.is_dir():
        return source
    return PACKAGE / packaged


def write_atomic(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` whole or not at all: temp file, fsync, rename, fsync dir.

    Missing parent directories are created. Text is written as UTF-8 with the
    line ends it has. The temp file lives beside ``path`` and is removed on failure.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
