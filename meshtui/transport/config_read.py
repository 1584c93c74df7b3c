"""Reading a node's babeld.conf, read-only: on the node over SSH, or a file on this machine.

A node's :class:`~meshtui.transport.node.NodeAccess` says which of the two a
node's config is (:meth:`~meshtui.transport.node.NodeAccess.config_source`):
an inventory node's ``config_path`` on the node (:class:`SSHConfigSource`), or
for a local babeld or a recording the file given with ``--config FILE``
(:class:`FileConfigSource`). Both implement
:class:`meshtui.core.decisions.ConfigSource`.

Nothing here writes. A file on a node is read through SFTP (no shell, no
command run on the node), or where sshd has no SFTP subsystem with
``cat -- PATH`` (an argv the pool quotes with :func:`shlex.join`). Files over
:data:`MAX_CONFIG_BYTES` are refused: not a babeld.conf; so is, on this machine,
anything but a regular file (a FIFO would wait for a writer), without blocking.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from meshtui.core.decisions import LoadedConfig
from meshtui.core.inventory import Node
from meshtui.core.sanitize import decode
from meshtui.transport.local import ConnectError
from meshtui.transport.ssh import CommandResult, SSHPool, destination_of

__all__ = [
    "MAX_CONFIG_BYTES",
    "READ_TIMEOUT",
    "FileConfigSource",
    "RemoteReadError",
    "SSHConfigSource",
    "first_line",
    "read_config_file",
    "read_remote_file",
    "tool_missing",
]

MAX_CONFIG_BYTES = 1 << 20
READ_TIMEOUT = 15.0

_NOT_FOUND = ("command not found", "not found")


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _regular(mode: int) -> None:
    """Refuse what is not a regular file (a FIFO would wait for a writer, a device forever)."""
    if not stat.S_ISREG(mode):
        kind = next((f" ({name})" for test, name in _KINDS if test(mode)), "")
        raise OSError(f"not a regular file{kind}: not a babeld config")


def read_config_file(path: str | Path) -> str:
    """A config file on this machine: at most :data:`MAX_CONFIG_BYTES` read, invalid UTF-8
    kept visible (:func:`~meshtui.core.sanitize.decode`), as every config meshtui reads.

    Only a regular file (or a link to one) is read, and nothing blocks on the way:
    a FIFO, a device, a socket or a directory is refused from its ``stat`` before
    it is opened, and again from the opened descriptor (opened non-blocking, in
    case the path was swapped in between).

    Raises:
        OSError: it cannot be read, it is not a regular file, or it is larger
            (not a babeld config).
    """
    _regular(os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    with open(fd, "rb") as fh:
        _regular(os.fstat(fd).st_mode)
        data = fh.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise OSError(f"larger than {MAX_CONFIG_BYTES >> 20} MiB: not a babeld config")
    return decode(data)


class RemoteReadError(Exception):
    """A read-only fetch failed; the message names the node and the path or command."""


def first_line(text: str) -> str:
    """The first line of ``text`` that is not blank, stripped ("" if none)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def tool_missing(result: CommandResult) -> bool:
    """Whether a command failed because its program is not installed on the node."""
    if result.exit_status == 127:
        return True
    line = first_line(result.stderr)
    tool = result.argv[0] if result.argv else ""
    return (
        result.exit_status not in (0, None)
        and not result.stdout
        and tool in line
        and any(s in line for s in _NOT_FOUND)
    )


class _NoSFTP(Exception):
    """The node's sshd offers no SFTP subsystem."""


async def _sftp_read(pool: SSHPool, node: Node, path: str, timeout: float) -> str | None:
    """The file through SFTP (no shell on the node); raises _NoSFTP when SFTP is unavailable."""
    conn = await pool.connection(node)
    try:
        sftp = await asyncio.wait_for(conn.start_sftp_client(), timeout)
    except (asyncssh.Error, OSError, TimeoutError) as exc:
        if conn.is_closed():
            raise ConnectError(f"{node.name}: SSH connection lost: {exc}", "ssh") from None
        raise _NoSFTP(str(exc) or type(exc).__name__) from None
    try:
        async with asyncio.timeout(timeout):
            try:
                attrs = await sftp.stat(path)
            except asyncssh.SFTPNoSuchFile:
                return None
            if attrs.size is not None and attrs.size > MAX_CONFIG_BYTES:
                raise RemoteReadError(
                    f"{node.name}: {path} is larger than {MAX_CONFIG_BYTES} bytes: "
                    "not a babeld.conf"
                )
            async with sftp.open(path, "rb") as f:
                data: bytes = await f.read(MAX_CONFIG_BYTES + 1)
    except TimeoutError:
        raise ConnectError(
            f"{node.name}: reading {path} took over {timeout:g} s", "timeout"
        ) from None
    except asyncssh.SFTPError as exc:
        if conn.is_closed():
            raise ConnectError(f"{node.name}: SSH connection lost: {exc.reason}", "ssh") from None
        raise RemoteReadError(f"{node.name}: cannot read {path}: {exc.reason}") from None
    finally:
        sftp.exit()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sftp.wait_closed(), 2.0)
    if len(data) > MAX_CONFIG_BYTES:
        raise RemoteReadError(f"{node.name}: {path} is larger than {MAX_CONFIG_BYTES} bytes")
    return decode(bytes(data))


async def _cat_read(pool: SSHPool, node: Node, path: str, timeout: float) -> str | None:
    result = await pool.run(node, ("cat", "--", path), timeout=timeout)
    if result.exit_status == 0:
        if len(result.stdout.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
            raise RemoteReadError(
                f"{node.name}: {path} is larger than {MAX_CONFIG_BYTES} bytes: not a babeld.conf"
            )
        return result.stdout
    detail = first_line(result.stderr) or f"exit status {result.exit_status}"
    if tool_missing(result):
        raise RemoteReadError(f"{node.name}: cannot read {path}: no SFTP and no cat on the node")
    if "No such file or directory" in detail:
        return None
    detail = detail.removeprefix("cat: ").removeprefix(f"{path}: ")
    raise RemoteReadError(f"{node.name}: cannot read {path}: {detail}")


async def read_remote_file(
    pool: SSHPool, node: Node, path: str, timeout: float = READ_TIMEOUT
) -> str | None:
    """The text of ``path`` on ``node``, read-only; None when the file does not exist.

    Read through SFTP (no shell, no command on the node); where sshd offers no
    SFTP subsystem, through ``cat -- PATH`` (an argv quoted with shlex.join).

    Raises:
        ConnectError: the node cannot be reached (host key, auth, timeout...).
        RemoteReadError: the file exists but cannot be read, or is too large.
    """
    try:
        return await _sftp_read(pool, node, path, timeout)
    except _NoSFTP:
        return await _cat_read(pool, node, path, timeout)


@dataclass(frozen=True)
class FileConfigSource:
    """A babeld.conf on this machine (the dashboard's ``--config FILE``)."""

    path: Path

    @property
    def label(self) -> str:
        return str(self.path)

    async def load(self) -> LoadedConfig:
        """Read the file in a worker thread.

        Raises:
            RemoteReadError: the file cannot be read.
        """

        def read() -> str | None:
            try:
                return read_config_file(self.path)
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise RemoteReadError(f"cannot read {self.path}: {exc.strerror or exc}") from None

        text = await asyncio.to_thread(read)
        return LoadedConfig(self.label, str(self.path), text)


@dataclass(frozen=True)
class SSHConfigSource:
    """A node's deployed babeld.conf (its inventory ``config_path``), read over its SSH pool."""

    pool: SSHPool = field(repr=False)
    node: Node

    @property
    def label(self) -> str:
        return f"ssh {destination_of(self.node).label}:{self.node.config_path}"

    async def load(self) -> LoadedConfig:
        """Read the config over SSH (on the loop that owns the pool's connections).

        Raises:
            RemoteReadError: the node cannot be reached, or the file cannot be read.
        """
        node = self.node
        try:
            text = await read_remote_file(self.pool, node, node.config_path)
        except ConnectError as exc:
            raise RemoteReadError(str(exc)) from None
        return LoadedConfig(self.label, f"{node.name}:{node.config_path}", text)
