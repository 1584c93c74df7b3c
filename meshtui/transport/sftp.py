"""One node's SSH connection and SFTP session, with asyncssh's errors mapped to two causes.

:class:`SFTPSession` wraps what a deployment does on a node (commands, reads,
atomic writes: temp file, fsync, ``posix_rename``) and turns every asyncssh or
OS error into :class:`ConnectionLost` (the path to the node died) or
:class:`NodeFailure` (the node refused, the connection is alive).
"""

from __future__ import annotations

import asyncio
import contextlib
import stat
from collections.abc import AsyncIterator, Sequence

import asyncssh

from meshtui.core.inventory import Node
from meshtui.transport.local import ConnectError
from meshtui.transport.ssh import SSHPool, reason_text

OP_TIMEOUT = 60.0  # one SFTP operation or short command (generous: keepalives catch dead paths)


class ConnectionLost(Exception):
    """The node's SSH connection died (a deployment's node timer then owns the rollback)."""


class NodeFailure(Exception):
    """An operation failed on the node although the connection is alive."""


def reason_of(exc: BaseException) -> str:
    """The cause of ``exc`` in a few words (asyncssh's reason, the OS's strerror)."""
    if isinstance(exc, ConnectError):  # its message repeats the whole command: keep the cause
        return str(exc).rsplit(": ", 1)[-1]
    return reason_text(exc)  # an SFTPError's str() is its reason


class SFTPSession:
    """One node's SSH connection and SFTP session for the length of a deployment."""

    def __init__(self, pool: SSHPool, node: Node) -> None:
        self.pool = pool
        self.node = node
        self.conn: asyncssh.SSHClientConnection | None = None
        self.sftp: asyncssh.SFTPClient | None = None

    async def open(self) -> None:
        try:
            self.conn = await self.pool.connection(self.node)
        except ConnectError as exc:
            raise NodeFailure(str(exc)) from None
        try:
            self.sftp = await asyncio.wait_for(self.conn.start_sftp_client(), OP_TIMEOUT)
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            if self.conn.is_closed():
                raise ConnectionLost(
                    f"SSH connection lost while starting SFTP: {reason_of(exc)}"
                ) from None
            raise NodeFailure(
                f"{self.node.name}: SFTP unavailable ({reason_of(exc)}): does sshd allow the "
                "sftp subsystem?"
            ) from None

    async def close(self) -> None:
        if self.sftp is not None:
            with contextlib.suppress(Exception):
                self.sftp.exit()
                await asyncio.wait_for(self.sftp.wait_closed(), 2.0)
            self.sftp = None

    @property
    def alive(self) -> bool:
        return self.conn is not None and not self.conn.is_closed()

    def lost(self, what: str, exc: BaseException | None = None) -> ConnectionLost:
        self.pool.forget(self.node.name, self.conn)
        detail = f": {reason_of(exc)}" if exc is not None else ""
        return ConnectionLost(f"SSH connection lost during {what}{detail}")

    @contextlib.asynccontextmanager
    async def guard(self, what: str) -> AsyncIterator[None]:
        """Map asyncssh/OS errors of ``what`` to ConnectionLost (connection gone) or NodeFailure."""
        try:
            yield
        except (ConnectionLost, NodeFailure):
            raise
        except (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection) as exc:
            raise self.lost(what, exc) from None
        except asyncssh.SFTPError as exc:
            if not self.alive:
                raise self.lost(what, exc) from None
            raise NodeFailure(f"{self.node.name}: {what}: {reason_of(exc)}") from None
        except (asyncssh.Error, OSError, EOFError, TimeoutError) as exc:
            # A stuck or broken path: an SFTP operation that times out is treated
            # as a dead connection (keepalives would declare it so shortly).
            raise self.lost(what, exc) from None

    def _sftp(self) -> asyncssh.SFTPClient:
        if self.sftp is None or not self.alive:
            raise self.lost("SFTP")
        return self.sftp

    async def run(self, argv: Sequence[str], timeout: float = OP_TIMEOUT, what: str = ""):
        """Run an argv on the node (quoted with shlex.join by the pool)."""
        if not self.alive:
            raise self.lost(what or argv[0])
        try:
            return await self.pool.run(self.node, argv, timeout=timeout)
        except ConnectError as exc:
            if exc.reason == "timeout" and self.alive:
                raise NodeFailure(str(exc)) from None
            raise self.lost(what or argv[0], exc) from None

    async def sh(self, script: str, *args: str, timeout: float = OP_TIMEOUT, what: str = ""):
        return await self.run(["sh", "-c", script, "meshtui", *args], timeout, what)

    # ------------------------------------------------------------ files

    async def resolve(self, path: str) -> str:
        """The file a (possibly symlinked) config path really is."""
        sftp = self._sftp()
        async with self.guard(f"lstat {path}"):
            try:
                attrs = await asyncio.wait_for(sftp.lstat(path), OP_TIMEOUT)
            except asyncssh.SFTPNoSuchFile:
                return path
            if attrs.permissions is not None and stat.S_ISLNK(attrs.permissions):
                return str(await asyncio.wait_for(sftp.realpath(path), OP_TIMEOUT))
        return path

    async def read(self, path: str) -> tuple[bytes | None, asyncssh.SFTPAttrs | None]:
        """The file's bytes and attributes (None, None when it does not exist)."""
        sftp = self._sftp()
        async with self.guard(f"reading {path}"):
            try:
                attrs = await asyncio.wait_for(sftp.stat(path), OP_TIMEOUT)
            except asyncssh.SFTPNoSuchFile:
                return None, None
            async with sftp.open(path, "rb") as f:
                data: bytes = await asyncio.wait_for(f.read(), OP_TIMEOUT)
        return bytes(data), attrs

    async def exists(self, path: str) -> bool:
        sftp = self._sftp()
        async with self.guard(f"stat {path}"):
            return bool(await asyncio.wait_for(sftp.exists(path), OP_TIMEOUT))

    async def listdir(self, path: str) -> list[str]:
        sftp = self._sftp()
        async with self.guard(f"listing {path}"):
            try:
                names = await asyncio.wait_for(sftp.listdir(path), OP_TIMEOUT)
            except asyncssh.SFTPNoSuchFile:
                return []
        return [str(n) for n in names]

    async def remove(self, path: str) -> bool:
        """Unlink ``path``; False when it did not exist (someone else removed it first)."""
        sftp = self._sftp()
        async with self.guard(f"removing {path}"):
            try:
                await asyncio.wait_for(sftp.remove(path), OP_TIMEOUT)
            except asyncssh.SFTPNoSuchFile:
                return False
        return True

    async def write_atomic(
        self,
        path: str,
        tmp: str,
        data: bytes,
        mode: int,
        owner: tuple[int, int] | None = None,
    ) -> list[str]:
        """:meth:`stage` then :meth:`rename`: ``path`` is the old file or the new one, never
        a partial one. Returns notes (fallbacks used, an owner that could not be kept)."""
        notes = await self.stage(path, tmp, data, mode, owner)
        return notes + await self.rename(tmp, path)

    async def stage(
        self,
        path: str,
        tmp: str,
        data: bytes,
        mode: int,
        owner: tuple[int, int] | None = None,
    ) -> list[str]:
        """Write ``data`` to ``tmp`` (0600 while written), chmod/chown like ``path``, fsync."""
        sftp = self._sftp()
        notes: list[str] = []
        async with self.guard(f"writing {tmp}"):
            with contextlib.suppress(asyncssh.SFTPNoSuchFile):
                await asyncio.wait_for(sftp.remove(tmp), OP_TIMEOUT)  # a leftover of ours
            attrs = asyncssh.SFTPAttrs(permissions=0o600)
            async with sftp.open(tmp, "xb", attrs=attrs) as f:
                await asyncio.wait_for(f.write(data), OP_TIMEOUT)
                await asyncio.wait_for(f.chmod(mode), OP_TIMEOUT)
                if owner is not None:
                    current = await asyncio.wait_for(f.stat(), OP_TIMEOUT)
                    if (current.uid, current.gid) != owner:
                        try:
                            await asyncio.wait_for(f.chown(*owner), OP_TIMEOUT)
                        except asyncssh.SFTPError as exc:
                            notes.append(
                                f"could not keep owner {owner[0]}:{owner[1]} on {path} "
                                f"({reason_of(exc)})"
                            )
                try:
                    await asyncio.wait_for(f.fsync(), OP_TIMEOUT)
                except asyncssh.SFTPOpUnsupported:
                    notes.append("sshd lacks fsync@openssh.com: used `sync`")
                    await self.run(["sync"], what="sync")
        return notes

    async def rename(self, tmp: str, path: str) -> list[str]:
        """Atomically replace ``path`` by ``tmp`` (posix-rename@openssh.com, else ``mv -f``)."""
        sftp = self._sftp()
        notes: list[str] = []
        async with self.guard(f"renaming {tmp} to {path}"):
            try:
                await asyncio.wait_for(sftp.posix_rename(tmp, path), OP_TIMEOUT)
            except asyncssh.SFTPOpUnsupported:
                notes.append("sshd lacks posix-rename@openssh.com: used `mv -f` (rename(2))")
                res = await self.run(["mv", "-f", tmp, path], what="rename")
                if res.exit_status != 0:
                    raise NodeFailure(
                        f"{self.node.name}: mv {tmp} {path} failed: {res.stderr.strip()}"
                    ) from None
        return notes

    async def channel_closed(self) -> None:
        """Wait until the SSH connection closes."""
        if self.conn is None:
            return
        await self.conn.wait_closed()
