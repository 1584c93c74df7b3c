"""Connections to babeld's local control socket: a unix path or TCP ``[::1]:PORT``.

Provides the :class:`Channel` interface every transport implements (local,
SSH, replay), :class:`ConnectError` with a one-line, user-facing message, and
:func:`dump_once`, a synchronous one-shot ``dump`` for scripts and the lab.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from typing import Protocol

from meshtui.core.model import NodeModel
from meshtui.core.protocol import SUPPORTED_PROTOCOL, HeaderLine, ReplyLine, parse_line

Target = str | int
"""A unix socket path (str) or a TCP port on ``::1`` (int)."""

READ_SIZE = 256 * 1024


class ConnectError(Exception):
    """Could not talk to babeld; ``str()`` is one line for the user.

    Attributes:
        reason: a short machine-readable cause: ``no-socket``, ``permission``,
            ``refused``, ``not-babeld``, ``unsupported``, ``timeout``, ``closed``,
            ``host-key``, ``auth``, ``ssh``, ``busy``.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason

    @property
    def permanent(self) -> bool:
        """Whether retrying cannot help without the user changing something."""
        return self.reason in ("not-babeld", "unsupported", "host-key", "auth", "permission")


class Channel(Protocol):
    """A byte stream to one babeld control socket."""

    async def read(self) -> bytes:
        """The next bytes available; ``b""`` at end of stream."""
        ...

    async def write(self, data: bytes) -> None:
        """Send bytes (requests are lines ending in ``\\n``)."""
        ...

    async def close(self) -> None:
        """Close the stream; safe to call twice."""
        ...


class StreamChannel:
    """A :class:`Channel` over asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self) -> bytes:
        return await self._reader.read(READ_SIZE)

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()
        try:
            await self._writer.wait_closed()
        except (OSError, ConnectionError):
            pass


def describe_target(target: Target) -> str:
    """How a target is named in messages."""
    return f"[::1]:{target}" if isinstance(target, int) else str(target)


def connect_error(target: Target, exc: OSError) -> ConnectError:
    """Turn an OS error into a one-line message about ``target``."""
    where = describe_target(target)
    if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT:
        return ConnectError(
            f"no babeld control socket at {where} (is babeld running with local-path?)",
            "no-socket",
        )
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        return ConnectError(
            f"permission denied on {where} (try as root or fix its mode)", "permission"
        )
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return ConnectError(f"connection refused at {where}: nothing is listening", "refused")
    if exc.errno == errno.ENOTSOCK:
        return ConnectError(f"{where} is not a socket", "no-socket")
    if isinstance(exc, TimeoutError):
        return ConnectError(f"timed out connecting to {where}", "timeout")
    return ConnectError(f"cannot connect to {where}: {exc.strerror or exc}", "closed")


async def open_local(target: Target, timeout: float = 5.0) -> StreamChannel:
    """Open babeld's control socket on this machine.

    Raises:
        ConnectError: with a message fit for the user.
    """
    try:
        if isinstance(target, int):
            coro = asyncio.open_connection("::1", target, limit=READ_SIZE)
        else:
            coro = asyncio.open_unix_connection(target, limit=READ_SIZE)
        reader, writer = await asyncio.wait_for(coro, timeout)
    except TimeoutError:
        raise ConnectError(
            f"timed out connecting to {describe_target(target)}", "timeout"
        ) from None
    except OSError as exc:
        raise connect_error(target, exc) from None
    return StreamChannel(reader, writer)


def greeting_problem(first_line: str, where: str) -> ConnectError | None:
    """Check the first line a socket sent: None when it is babeld's greeting."""
    parsed = parse_line(first_line)
    if not isinstance(parsed, HeaderLine) or parsed.field != "BABEL":
        return ConnectError(
            f"{where} is not a babeld control socket (no BABEL greeting)", "not-babeld"
        )
    if parsed.value != SUPPORTED_PROTOCOL:
        return ConnectError(
            f"{where} speaks babeld protocol {parsed.value}; meshtui needs BABEL "
            f"{SUPPORTED_PROTOCOL} (babeld 1.8 or newer)",
            "unsupported",
        )
    return None


class DumpLoader:
    """Loads babeld's greeting and one ``dump`` into a model, from chunks of bytes.

    Shared by every one-shot reader (a local socket, an SSH channel): feed it
    what arrives; :meth:`feed` says when to send ``dump``; :attr:`done` says
    when the dump is complete.
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self.model = NodeModel(announce=False)
        self.done = False
        self._buf = b""
        self._oks = 0
        self._first = True

    def feed(self, data: bytes) -> bool:
        """Take the next bytes; True when the greeting just ended (send ``dump`` now).

        Raises:
            ConnectError: not babeld, an unsupported protocol, or a refused dump.
        """
        if not data:
            raise ConnectError(f"babeld closed {self.where} before its dump ended", "closed")
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        now = time.time()
        send_dump = False
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            if self._first:
                self._first = False
                problem = greeting_problem(line, self.where)
                if problem is not None:
                    raise problem
            parsed = self.model.feed(line, now)
            if isinstance(parsed, ReplyLine):
                if parsed.status != "ok":
                    raise ConnectError(
                        f"babeld refused dump on {self.where}: {parsed.status}", "closed"
                    )
                self._oks += 1
                if self._oks == 1:
                    send_dump = True
                else:
                    self.done = True
                    self.model.commit(now)
                    break
        return send_dump


async def dump_channel(channel: Channel, where: str) -> NodeModel:
    """Read babeld's greeting on an open channel, send ``dump``, return the loaded model.

    Raises:
        ConnectError: not babeld, a refused dump, or the channel closed early.
    """
    loader = DumpLoader(where)
    while not loader.done:
        if loader.feed(await channel.read()):
            await channel.write(b"dump\n")
    return loader.model


def dump_once(target: Target, timeout: float = 5.0) -> NodeModel:
    """Connect, read the greeting, send ``dump``, and return the loaded model.

    Synchronous and self-contained: for scripts, tests and the lab.

    Raises:
        ConnectError: when babeld cannot be reached or does not answer as babeld.
    """
    where = describe_target(target)
    family = socket.AF_INET6 if isinstance(target, int) else socket.AF_UNIX
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    loader = DumpLoader(where)
    try:
        try:
            sock.connect(("::1", target) if isinstance(target, int) else target)
        except OSError as exc:
            raise connect_error(target, exc) from None
        while not loader.done:
            if time.monotonic() > deadline:
                raise ConnectError(f"timed out waiting for babeld's dump on {where}", "timeout")
            try:
                data = sock.recv(READ_SIZE)
            except TimeoutError:
                raise ConnectError(f"timed out waiting for babeld on {where}", "timeout") from None
            except OSError as exc:
                raise connect_error(target, exc) from None
            if loader.feed(data):
                sock.sendall(b"dump\n")
        return loader.model
    finally:
        sock.close()
