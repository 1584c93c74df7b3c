"""The local audit log of deployments, and the read-only setting that forbids writes to nodes.

Audit log: ``$XDG_STATE_HOME/meshtui/audit.log`` (``~/.local/state/meshtui/audit.log``),
one JSON object per line::

    {"time": "2025-05-04T12:00:00Z", "deploy_id": "...", "node": "edge-a",
     "config_path": "/etc/babeld.conf", "diff_sha256": "...", "result": "confirmed",
     "rolled_back": false, "rolled_back_by": null, "backup": "...", "user": "root",
     "inventory": "mesh.toml", "detail": "..."}

Each line is written with a single ``write(2)`` on a descriptor opened with
``O_APPEND`` (then fsync), so concurrent meshtui processes never interleave
half lines. The log never holds a key value: the diff is hashed after its key
values are redacted, and ``detail`` is scrubbed of anything that looks like one.

Read-only: ``--read-only`` on the command line, ``MESHTUI_READ_ONLY=1`` in the
environment, or in ``$XDG_CONFIG_HOME/meshtui/config.toml``::

    [meshtui]
    read_only = true

Any of them makes every write action refuse with a message naming where the
setting came from. A config file that cannot be read or parsed counts as
read-only (fail closed) and the message names the file and the field.
"""

from __future__ import annotations

import getpass
import json
import os
import time
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from meshtui.core.secrets import mask_secrets
from meshtui.paths import config_dir, state_dir

__all__ = [
    "ENV_READ_ONLY",
    "AuditRecord",
    "ReadOnly",
    "ReadOnlyError",
    "append_audit",
    "audit_log_path",
    "read_audit",
    "read_only_setting",
    "refuse_if_read_only",
    "scrub",
    "settings_path",
]

ENV_READ_ONLY = "MESHTUI_READ_ONLY"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def scrub(text: str) -> str:
    """``text`` with anything that could be a key value replaced by ``<redacted>``."""
    return mask_secrets(text)


def audit_log_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/meshtui/audit.log`` (default ``~/.local/state/meshtui/audit.log``)."""
    return state_dir(env) / "audit.log"


def settings_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/meshtui/config.toml`` (default ``~/.config/meshtui/config.toml``)."""
    return config_dir(env) / "config.toml"


@dataclass(frozen=True)
class AuditRecord:
    """One deployment outcome on one node, as logged (never a key value)."""

    node: str
    deploy_id: str
    result: str
    rolled_back: bool
    config_path: str
    diff_sha256: str | None = None
    rolled_back_by: str | None = None  # deployer | node-timer
    backup: str | None = None
    detail: str = ""
    inventory: str | None = None
    user: str = ""
    time: str = ""

    def to_json(self) -> str:
        """The record as one JSON line (with ``time`` and ``user`` filled in)."""
        data = asdict(self)
        data["time"] = self.time or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        data["user"] = self.user or _user()
        data["detail"] = scrub(self.detail)
        return json.dumps(data, sort_keys=False, ensure_ascii=False, separators=(",", ":"))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def append_audit(record: AuditRecord, path: Path | None = None) -> Path:
    """Append ``record`` to the audit log as one line, atomically (O_APPEND, one write, fsync).

    Raises:
        OSError: the log cannot be written (the caller reports it; the deployment
            itself has already happened).
    """
    path = path or audit_log_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = (record.to_json() + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        written = os.write(fd, line)
        if written != len(line):  # a full disk: never leave half a line without saying so
            raise OSError(f"short write to {path} ({written} of {len(line)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read_audit(path: Path | None = None) -> list[dict[str, object]]:
    """Every record of the audit log, oldest first (lines that do not parse are skipped)."""
    path = path or audit_log_path()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


@dataclass(frozen=True)
class ReadOnly:
    """Whether write actions are forbidden, and which setting said so."""

    enabled: bool
    source: str = ""  # "--read-only", "$MESHTUI_READ_ONLY", "FILE: [meshtui] read_only"


class ReadOnlyError(Exception):
    """A write action was asked for in read-only mode (or the setting is unreadable)."""


def read_only_setting(
    flag: bool = False,
    env: Mapping[str, str] | None = None,
    config: Path | None = None,
) -> ReadOnly:
    """Combine ``--read-only``, ``$MESHTUI_READ_ONLY`` and the config file's ``read_only``.

    Raises:
        ReadOnlyError: the environment variable or the config file holds something
            that is not a boolean, or the file cannot be parsed (fail closed).
    """
    env = os.environ if env is None else env
    if flag:
        return ReadOnly(True, "--read-only")
    raw = env.get(ENV_READ_ONLY)
    if raw is not None:
        value = raw.strip().lower()
        if value in _TRUE:
            return ReadOnly(True, f"${ENV_READ_ONLY}={raw}")
        if value not in _FALSE:
            raise ReadOnlyError(
                f"${ENV_READ_ONLY}={raw!r} is not a boolean (1/0, true/false): refusing to write"
            )
    path = config or settings_path(env)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ReadOnly(False)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ReadOnlyError(
            f"{path}: cannot read the settings ({exc}); refusing to write until it is fixed"
        ) from None
    section = data.get("meshtui", {})
    if not isinstance(section, dict):
        raise ReadOnlyError(f"{path}: field 'meshtui' must be a table; refusing to write")
    value = section.get("read_only", False)
    if not isinstance(value, bool):
        raise ReadOnlyError(
            f"{path}: field 'meshtui.read_only' must be true or false; refusing to write"
        )
    return ReadOnly(value, f"{path}: [meshtui] read_only = true" if value else "")


def refuse_if_read_only(
    what: str,
    flag: bool = False,
    env: Mapping[str, str] | None = None,
    config: Path | None = None,
) -> None:
    """Raise :class:`ReadOnlyError` naming ``what`` and the setting when writes are forbidden."""
    setting = read_only_setting(flag, env, config)
    if setting.enabled:
        raise ReadOnlyError(
            f"read-only mode ({setting.source}): {what} writes to nodes and is refused"
        )
