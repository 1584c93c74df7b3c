"""SSH transport: babeld's control socket on remote nodes, one asyncssh connection per node.

An :class:`SSHPool` holds one shared ``SSHClientConnectionOptions`` and at most
one live connection per node. Every consumer of a node goes through that one
connection: the session's channel to babeld's control socket (a unix socket
via ``direct-streamlocal``, or ``[::1]:PORT`` via ``direct-tcpip``) and the
read-only fact commands of :mod:`meshtui.transport.facts`. Nothing is
installed or run on the node for the channel itself.

Security and liveness:

* host keys are verified against known_hosts, strictly: an unknown or changed
  key is a :class:`~meshtui.transport.local.ConnectError` with reason
  ``host-key`` naming the node and the host, never trusted on first use;
  an ssh_config that disables known_hosts (``UserKnownHostsFile none``) is
  refused the same way;
* ``~/.ssh/config`` (aliases, ``User``, ``Port``, ``IdentityFile``,
  ``UserKnownHostsFile``, ``ProxyJump``...), ssh-agent and the default keys
  are honoured unless overridden by :class:`SSHSettings`;
* keepalives (5 s, 2 unanswered allowed) notice a dead path within ~15 s;
* every connect is bounded by a timeout, so one slow or dead node never
  holds up the others (all nodes connect concurrently).

Cost of a connection (``tests/benchmarks/bench_ssh.py`` measures it): most of
it is the node's sshd (a fork and re-exec, key exchange, privilege separation),
which meshtui cannot change; on its own side the pool reads the client keys
and the known_hosts file once (asyncssh given paths parses both on every
connect: with a line per node, O(nodes²) for a full view; known_hosts is read
again when the file changes), prefers AES-GCM (see :data:`PREFERRED_CIPHERS`;
key exchange and host key algorithms stay asyncssh's: ML-KEM/curve25519
hybrids, then curve25519, and the host key types known_hosts lists), leaves
compression off unless ssh_config asks for it (asyncssh offers ``none`` first),
and acknowledges sshd's segments at once (:class:`_PromptAcks`). Every node
connects at once: bounding the handshakes in flight (2, 4, 8 at a time) made
a 22-node view slower on 2 cores, since each handshake mostly waits.

asyncssh has no reconnect of its own: :class:`~meshtui.transport.session.NodeSession`
retries with backoff, and the opener makes a fresh connection whenever the
previous one is closed.

An inventory names its own known_hosts file, key and ssh config in its
``[ssh]`` table (``known_hosts``, ``identity``, ``config``; the lab writes one),
so `meshtui --inventory FILE` needs no environment. The environment
(``MESHTUI_SSH_KNOWN_HOSTS``, ``MESHTUI_SSH_KEY``, ``MESHTUI_SSH_CONFIG``; the
last may be ``none``) overrides the inventory, as a command line overrides a
config file; tests and scripts can also pass :class:`SSHSettings` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from meshtui.core.inventory import Inventory, InventoryError, Node
from meshtui.transport.local import READ_SIZE, ConnectError
from meshtui.transport.node import SSHAccess
from meshtui.transport.sources import Source, local_source

__all__ = [
    "CONNECT_TIMEOUT",
    "ENV_CLIENT_KEY",
    "ENV_KNOWN_HOSTS",
    "ENV_SSH_CONFIG",
    "KEEPALIVE_COUNT_MAX",
    "KEEPALIVE_INTERVAL",
    "PREFERRED_CIPHERS",
    "TCP_QUICKACK",
    "CommandResult",
    "SSHChannel",
    "SSHDestination",
    "SSHPool",
    "SSHSettings",
    "close_sources",
    "inventory_sources",
    "parse_destination",
    "pool_of",
    "ssh_source",
]

ENV_KNOWN_HOSTS = "MESHTUI_SSH_KNOWN_HOSTS"
ENV_CLIENT_KEY = "MESHTUI_SSH_KEY"
ENV_SSH_CONFIG = "MESHTUI_SSH_CONFIG"

CONNECT_TIMEOUT = 10.0
KEEPALIVE_INTERVAL = 5.0
KEEPALIVE_COUNT_MAX = 2  # silent for 5 s x (2 + 1): the connection is declared dead at 15 s
CHANNEL_TIMEOUT = 10.0
COMMAND_TIMEOUT = 15.0
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
# Ciphers tried first (AEAD, secure, and the cheapest per packet with AES-NI: asyncssh
# seals a small packet with AES-GCM in ~2 us against ~12 us with chacha20-poly1305);
# the rest of asyncssh's defaults follow. Not applied when ssh_config names Ciphers.
PREFERRED_CIPHERS = "^aes128-gcm@openssh.com,aes256-gcm@openssh.com"
# Linux's option to acknowledge received segments at once (None elsewhere).
TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


@dataclass(frozen=True)
class SSHSettings:
    """How meshtui connects over SSH; the defaults follow OpenSSH's own.

    Attributes:
        known_hosts: a known_hosts file to verify host keys against; None
            means ssh_config's ``UserKnownHostsFile`` or ``~/.ssh/known_hosts``.
        client_keys: private key files to authenticate with; empty means
            ssh_config's ``IdentityFile``, the default keys and ssh-agent.
        config: OpenSSH client config files; None means ``~/.ssh/config``
            when it exists; an empty tuple means none at all.
        connect_timeout: bound on TCP connect, handshake and authentication (s).
        keepalive_interval: seconds of silence before a keepalive is sent.
        keepalive_count_max: unanswered keepalives before the connection is dead.
    """

    known_hosts: str | None = None
    client_keys: tuple[str, ...] = ()
    config: tuple[str, ...] | None = None
    connect_timeout: float = CONNECT_TIMEOUT
    keepalive_interval: float = KEEPALIVE_INTERVAL
    keepalive_count_max: int = KEEPALIVE_COUNT_MAX

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> SSHSettings:
        """Settings from ``MESHTUI_SSH_*`` variables, then keyword ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if env.get(ENV_KNOWN_HOSTS):
            values["known_hosts"] = env[ENV_KNOWN_HOSTS]
        if env.get(ENV_CLIENT_KEY):
            values["client_keys"] = tuple(p for p in env[ENV_CLIENT_KEY].split(os.pathsep) if p)
        if env.get(ENV_SSH_CONFIG):
            text = env[ENV_SSH_CONFIG]
            values["config"] = () if text == "none" else tuple(text.split(os.pathsep))
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values.get("client_keys"), str | os.PathLike):
            values["client_keys"] = (str(values["client_keys"]),)
        if "known_hosts" in values:
            values["known_hosts"] = str(values["known_hosts"])
        return cls(**values)

    @classmethod
    def for_inventory(
        cls, inv: Inventory | None, env: Mapping[str, str] | None = None, **overrides: Any
    ) -> SSHSettings:
        """Settings for an inventory's nodes: its ``[ssh]`` table, overridden by ``MESHTUI_SSH_*``.

        Keyword ``overrides`` win over both.
        """
        values: dict[str, Any] = {}
        ssh = inv.ssh if inv is not None else None
        if ssh is not None:
            if ssh.known_hosts:
                values["known_hosts"] = ssh.known_hosts
            if ssh.identity:
                values["client_keys"] = (ssh.identity,)
            if ssh.config:
                values["config"] = () if ssh.config == "none" else (ssh.config,)
        from_env = cls.from_env(env)
        for name in ("known_hosts", "client_keys", "config"):
            value = getattr(from_env, name)
            if value not in (None, ()) or (name == "config" and value == ()):
                values[name] = value
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_env({}, **values)

    @property
    def known_hosts_label(self) -> str:
        """How the known_hosts file is named in messages."""
        return self.known_hosts or f"{DEFAULT_KNOWN_HOSTS} (or ssh_config's UserKnownHostsFile)"

    def config_paths(self) -> list[str]:
        """The ssh_config files to read (those that exist)."""
        if self.config is None:
            default = Path("~/.ssh/config").expanduser()
            return [str(default)] if os.access(default, os.R_OK) else []
        return [str(Path(p).expanduser()) for p in self.config]


@dataclass(frozen=True)
class SSHDestination:
    """Where a node's sshd is: host (or ssh_config alias), user and port (None: ssh decides)."""

    host: str
    user: str | None = None
    port: int | None = None

    @property
    def label(self) -> str:
        """``user@host[:port]`` as in messages."""
        host = f"[{self.host}]" if ":" in self.host and self.port else self.host
        user = f"{self.user}@" if self.user else ""
        return f"{user}{host}" + (f":{self.port}" if self.port else "")


def parse_destination(
    text: str | None, port: int | None = None, default_host: str = ""
) -> SSHDestination:
    """Parse an ssh destination: ``[user@]host``, ``[user@][v6addr]`` or ``ssh://[user@]host[:port]``.

    ``port`` (the inventory's ``ssh_port``) applies unless the URI names one; port
    22 is left to ssh_config so that a ``Port`` there still works. A missing
    destination means ``default_host`` (the node name: an ssh_config alias).
    """
    text = (text or default_host).strip()
    uri_port: int | None = None
    if text.startswith("ssh://"):
        text = text[len("ssh://") :].rstrip("/")
        hostpart = text.rsplit("@", 1)[-1]
        port_text = None
        if hostpart.startswith("["):
            close = hostpart.find("]")
            if close > 0 and hostpart[close + 1 : close + 2] == ":":
                port_text = hostpart[close + 2 :]
                text = text[: len(text) - len(hostpart) + close + 1]
        elif hostpart.count(":") == 1:
            host_only, _, port_text = hostpart.partition(":")
            text = text[: len(text) - len(hostpart)] + host_only
        if port_text is not None:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ValueError(f"{port_text!r} in the ssh destination is not a TCP port")
            uri_port = int(port_text)
    user, sep, host = text.rpartition("@")
    if not sep:
        user, host = "", text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"{text!r} is not an ssh destination ([user@]host or ssh://...)")
    if uri_port is None and port == 22:
        port = None  # ssh's default: leave it to ssh_config
    return SSHDestination(
        host=host, user=user or None, port=uri_port if uri_port is not None else port
    )


@dataclass(frozen=True)
class CommandResult:
    """What a remote (or local) read-only command returned."""

    argv: tuple[str, ...]
    exit_status: int | None
    stdout: str
    stderr: str

    @property
    def command(self) -> str:
        """The argv quoted for a POSIX shell, as sent to the node."""
        return shlex.join(self.argv)


class SSHChannel:
    """A :class:`~meshtui.transport.local.Channel` over one SSH direct channel.

    Closing the channel leaves the node's SSH connection open for the others
    (facts, the next reconnect); :meth:`SSHPool.close` closes connections.
    """

    def __init__(
        self,
        reader: asyncssh.SSHReader[bytes],
        writer: asyncssh.SSHWriter[bytes],
        conn: asyncssh.SSHClientConnection,
        node: str,
        where: str,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._conn = conn
        self.node = node
        self.where = where

    def _lost(self, exc: BaseException | None) -> ConnectError:
        detail = reason_text(exc) if exc is not None else "closed"
        return ConnectError(f"{self.node}: SSH connection to {self.where} lost: {detail}", "ssh")

    async def read(self) -> bytes:
        try:
            data = await self._reader.read(READ_SIZE)
        except (asyncssh.Error, OSError, EOFError) as exc:
            raise self._lost(exc) from None
        if not data and self._conn.is_closed():
            raise self._lost(None)
        return data

    async def write(self, data: bytes) -> None:
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (asyncssh.Error, OSError, EOFError) as exc:
            raise self._lost(exc) from None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.channel.wait_closed(), 2.0)


def reason_text(exc: BaseException) -> str:
    if isinstance(exc, asyncssh.DisconnectError | asyncssh.ChannelOpenError):
        return exc.reason or type(exc).__name__
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return str(exc) or type(exc).__name__


class _PromptAcks(asyncssh.SSHClient):
    """An SSH client that acknowledges every TCP segment from sshd at once (Linux).

    sshd writes with Nagle's algorithm on (it sets ``TCP_NODELAY`` for
    interactive sessions only), so when it writes twice in a row — after
    authentication: a debug message and the host keys, then the channel's
    confirmation and babeld's greeting — the second write waits for our ACK of
    the first, and Linux delays that ACK by 40 ms when we have nothing to send.
    That was 40 ms of a ~130 ms connection to a node. Re-arming
    ``TCP_QUICKACK`` on each arrival (one setsockopt per read) ACKs at once.
    Nothing else changes: host keys are verified as asyncssh's default client does.
    """

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        sock = conn.get_extra_info("socket")
        quickack = TCP_QUICKACK
        if quickack is None or sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
            return  # not TCP (a ProxyJump tunnel), or not Linux
        received = conn.data_received

        def data_received(data: bytes, datatype: asyncssh.DataType = None) -> None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
            received(data, datatype)

        conn.data_received = data_received  # type: ignore[method-assign]


def _config_sets(paths: Sequence[str], *keywords: str) -> bool:
    """Whether an ssh_config file sets one of ``keywords`` (an ``Include``: maybe, so True)."""
    wanted = {k.lower() for k in (*keywords, "include")}
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            words = line.strip().replace("=", " ", 1).split(None, 1)
            if words and words[0].lower() in wanted:
                return True
    return False


class _KnownHosts:
    """A known_hosts file parsed once, and again only when the file changes.

    asyncssh given a path parses the whole file on every connection: with one
    line per node that is O(nodes²) for a full view.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._parsed: asyncssh.SSHKnownHosts | None = None

    def get(self) -> asyncssh.SSHKnownHosts | str:
        """The parsed file, or its path when it cannot be read (asyncssh says why)."""
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            if stamp != self._stamp or self._parsed is None:
                self._parsed = asyncssh.read_known_hosts(self.path)
                self._stamp = stamp
        except (OSError, ValueError, asyncssh.Error):
            return self.path
        return self._parsed


class SSHPool:
    """One shared option set and one connection per node, for the whole process.

    A pool belongs to the event loop that first uses it; used from another
    loop it forgets the old loop's connections (they died with it).
    """

    def __init__(
        self, settings: SSHSettings | None = None, inventory: Inventory | None = None
    ) -> None:
        self._explicit = settings is not None
        self.settings = settings or SSHSettings.for_inventory(inventory)
        self._options: asyncssh.SSHClientConnectionOptions | None = None
        self._conns: dict[str, asyncssh.SSHClientConnection] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._options_lock: asyncio.Lock | None = None
        self._known_hosts: _KnownHosts | None = None
        self.connects = 0

    def adopt(self, inv: Inventory) -> None:
        """Use ``inv``'s ``[ssh]`` table (under the environment) unless settings were given.

        Only before the first connection: the shared options are built once.
        """
        if self._explicit or self._options is not None or self._conns:
            return
        self.settings = SSHSettings.for_inventory(inv)

    # ------------------------------------------------------------ connections

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._conns.clear()
            self._locks.clear()
            self._options = None
            self._options_lock = None

    async def options(self) -> asyncssh.SSHClientConnectionOptions:
        """The shared client options (built once: keys are read once)."""
        self._bind_loop()
        if self._options is not None:
            return self._options
        if self._options_lock is None:
            self._options_lock = asyncio.Lock()
        async with self._options_lock:
            return await self._build_options()

    async def _build_options(self) -> asyncssh.SSHClientConnectionOptions:
        if self._options is None:
            s = self.settings
            kwargs: dict[str, Any] = dict(
                config=None,  # ssh_config is applied per host at connect time
                client_factory=_PromptAcks,
                connect_timeout=s.connect_timeout,
                keepalive_interval=s.keepalive_interval,
                keepalive_count_max=s.keepalive_count_max,
                request_pty=False,
                x11_forwarding=False,
                agent_forwarding=False,
            )
            if s.known_hosts is not None:
                path = str(Path(s.known_hosts).expanduser())
                kwargs["known_hosts"] = path
                self._known_hosts = _KnownHosts(path)
            if not _config_sets(s.config_paths(), "Ciphers"):
                kwargs["encryption_algs"] = PREFERRED_CIPHERS
            try:
                if s.client_keys:
                    # loaded once: options given paths read and parse the keys on every connect
                    kwargs["client_keys"] = await asyncio.to_thread(
                        asyncssh.load_keypairs, [str(Path(k).expanduser()) for k in s.client_keys]
                    )
                self._options = await asyncssh.SSHClientConnectionOptions.construct(**kwargs)
            except (OSError, ValueError, asyncssh.Error) as exc:
                raise ConnectError(f"SSH settings unusable: {reason_text(exc)}", "auth") from None
        return self._options

    def connection_of(self, node: str) -> asyncssh.SSHClientConnection | None:
        """The node's open connection, if there is one."""
        conn = self._conns.get(node)
        return conn if conn is not None and not conn.is_closed() else None

    async def connection(self, node: Node) -> asyncssh.SSHClientConnection:
        """The node's SSH connection: the open one, or a fresh one.

        Raises:
            ConnectError: ``host-key``, ``auth``, ``timeout``, ``refused`` or ``ssh``,
                with a message naming the node and the host.
        """
        self._bind_loop()
        lock = self._locks.setdefault(node.name, asyncio.Lock())
        async with lock:
            conn = self.connection_of(node.name)
            if conn is not None:
                return conn
            self._conns.pop(node.name, None)
            conn = await self._connect(node)
            self._conns[node.name] = conn
            self.connects += 1
            return conn

    async def _connect(self, node: Node) -> asyncssh.SSHClientConnection:
        dest = destination_of(node)
        options = await self.options()
        config = self.settings.config_paths()
        kwargs: dict[str, Any] = {"options": options, "config": config}
        if dest.user:
            kwargs["username"] = dest.user
        if dest.port:
            kwargs["port"] = dest.port
        if self._known_hosts is not None:
            kwargs["known_hosts"] = self._known_hosts.get()
        else:
            await self._refuse_unverified(node, dest, options, config)
        timeout = self.settings.connect_timeout
        try:
            return await asyncio.wait_for(asyncssh.connect(dest.host, **kwargs), timeout + 2.0)
        except asyncssh.HostKeyNotVerifiable as exc:
            raise self._host_key_error(node, dest, exc) from None
        except asyncssh.PermissionDenied as exc:
            raise ConnectError(
                f"{node.name}: SSH authentication to {dest.label} failed ({reason_text(exc)}): "
                "check the user, the key or ssh-agent",
                "auth",
            ) from None
        except (TimeoutError, asyncssh.ConnectionLost) as exc:
            if (
                isinstance(exc, asyncssh.ConnectionLost)
                and "timed out" not in reason_text(exc).lower()
            ):
                raise ConnectError(
                    f"{node.name}: SSH to {dest.label} closed during login: {reason_text(exc)}",
                    "ssh",
                ) from None
            raise ConnectError(
                f"{node.name}: SSH to {dest.label} timed out after {timeout:g} s", "timeout"
            ) from None
        except ConnectionRefusedError:
            raise ConnectError(
                f"{node.name}: SSH to {dest.label} refused: no sshd listening", "refused"
            ) from None
        except OSError as exc:
            raise ConnectError(
                f"{node.name}: cannot reach {dest.label} over SSH: {reason_text(exc)}", "ssh"
            ) from None
        except (asyncssh.Error, ValueError) as exc:
            raise ConnectError(
                f"{node.name}: SSH to {dest.label} failed: {reason_text(exc)}", "ssh"
            ) from None

    async def _refuse_unverified(
        self,
        node: Node,
        dest: SSHDestination,
        options: asyncssh.SSHClientConnectionOptions,
        config: list[str],
    ) -> None:
        """Refuse a host whose ssh_config turns host key checking off."""
        if not config:
            return
        kwargs: dict[str, Any] = {"config": config, "host": dest.host}
        if dest.port:
            kwargs["port"] = dest.port
        try:
            probe = await asyncssh.SSHClientConnectionOptions.construct(options, **kwargs)
        except (OSError, ValueError, asyncssh.Error) as exc:
            raise ConnectError(
                f"{node.name}: ssh_config unusable for {dest.label}: {reason_text(exc)}", "auth"
            ) from None
        if probe.known_hosts is None:
            raise ConnectError(
                f"{node.name}: ssh_config disables host key checking for {dest.label} "
                "(UserKnownHostsFile none); meshtui only connects to verified hosts",
                "host-key",
            )

    def _host_key_error(
        self, node: Node, dest: SSHDestination, exc: asyncssh.HostKeyNotVerifiable
    ) -> ConnectError:
        label = self.settings.known_hosts_label
        changed = self._known_host_entries(dest)
        if changed:
            what = (
                f"host key of {dest.label} does NOT match the one in {label} "
                "(changed key: possible man-in-the-middle)"
            )
        elif changed is None:
            what = f"host key of {dest.label} is not trusted by {label} ({reason_text(exc)})"
        else:
            what = (
                f"host key of {dest.label} is unknown (not in {label}); verify it, "
                "then add it to known_hosts"
            )
        return ConnectError(f"{node.name}: refusing to connect: {what}", "host-key")

    def _known_host_entries(self, dest: SSHDestination) -> bool | None:
        """Whether known_hosts lists keys for the host (None: cannot tell)."""
        path = self.settings.known_hosts
        if path is None:
            path = str(Path(DEFAULT_KNOWN_HOSTS).expanduser())
        try:
            known = asyncssh.read_known_hosts(str(Path(path).expanduser()))
            port = dest.port or 22
            matched = known.match(dest.host, dest.host, port)
        except (OSError, ValueError, asyncssh.Error):
            return None
        return bool(matched[0] or matched[1])

    # ------------------------------------------------------------ channels

    async def open_channel(self, node: Node) -> SSHChannel:
        """Open a channel to the node's babeld control socket through its connection."""
        conn = await self.connection(node)
        dest = destination_of(node)
        sock = node.socket
        where = f"{dest.label} " + (f"[::1]:{sock}" if isinstance(sock, int) else sock)
        try:
            if isinstance(sock, int):
                coro = conn.open_connection("::1", sock, encoding=None)
            else:
                coro = conn.open_unix_connection(sock, encoding=None)
            reader, writer = await asyncio.wait_for(coro, CHANNEL_TIMEOUT)
        except TimeoutError:
            self.forget(node.name, conn)
            raise ConnectError(f"{node.name}: opening {where} timed out", "timeout") from None
        except asyncssh.ChannelOpenError as exc:
            if isinstance(sock, int):
                message = (
                    f"{node.name}: nothing answers on {where} ({reason_text(exc)}): "
                    f"is babeld running with local-port {sock}?"
                )
                reason = "refused"
            else:
                message = (
                    f"{node.name}: sshd could not open {where} ({reason_text(exc)}): "
                    f"is babeld running with local-path {sock}, and does sshd allow stream "
                    "forwarding?"
                )
                reason = "no-socket"
            raise ConnectError(message, reason) from None
        except (asyncssh.Error, OSError) as exc:
            self.forget(node.name, conn)
            raise ConnectError(
                f"{node.name}: SSH connection to {dest.label} lost: {reason_text(exc)}", "ssh"
            ) from None
        return SSHChannel(reader, writer, conn, node.name, where)

    async def run(
        self, node: Node, argv: Sequence[str], timeout: float = COMMAND_TIMEOUT
    ) -> CommandResult:
        """Run one read-only command on the node: ``argv`` quoted with :func:`shlex.join`.

        Raises:
            ConnectError: the node cannot be reached, or the command timed out.
        """
        conn = await self.connection(node)
        argv = tuple(str(a) for a in argv)
        try:
            result = await conn.run(
                shlex.join(argv),
                check=False,
                timeout=timeout,
                encoding="utf-8",
                errors="replace",
                request_pty=False,
            )
        except asyncssh.TimeoutError:
            raise ConnectError(
                f"{node.name}: `{shlex.join(argv)}` took over {timeout:g} s", "timeout"
            ) from None
        except (asyncssh.Error, OSError) as exc:
            raise ConnectError(
                f"{node.name}: `{shlex.join(argv)}` failed: {reason_text(exc)}", "ssh"
            ) from None
        return CommandResult(
            argv,
            result.exit_status,
            str(result.stdout or ""),
            str(result.stderr or ""),
        )

    def forget(self, node: str, conn: asyncssh.SSHClientConnection | None = None) -> None:
        """Drop (and close) the node's connection so that the next use reconnects."""
        current = self._conns.get(node)
        if current is None or (conn is not None and current is not conn):
            return
        del self._conns[node]
        with contextlib.suppress(Exception):
            current.abort()

    async def close(self) -> None:
        """Close every connection of the pool (idempotent)."""
        conns = list(self._conns.values())
        self._conns.clear()
        for conn in conns:
            try:
                conn.close()
            except RuntimeError:  # its event loop is closed: the app that opened it has exited
                continue
        for conn in conns:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 2.0)


def destination_of(node: Node) -> SSHDestination:
    """The node's ssh destination (its ``ssh`` field; the node name when there is none)."""
    return parse_destination(node.ssh, node.ssh_port, default_host=node.name)


def ssh_source(
    inv: Inventory,
    node: str,
    *,
    pool: SSHPool | None = None,
    known_hosts: str | os.PathLike[str] | None = None,
    client_keys: str | os.PathLike[str] | Iterable[str] | None = None,
    config: Iterable[str] | None = None,
    connect_timeout: float | None = None,
) -> Source:
    """A :class:`Source` reading ``node``'s babeld over SSH.

    Sources built with the same ``pool`` share its options and connections;
    without one, a pool is made from the environment and the keyword overrides.
    """
    target = inv.node(node)
    try:
        dest = destination_of(target)
    except ValueError as exc:
        raise InventoryError(str(exc), path=inv.path, node=target.name, field="ssh") from None
    if pool is None:
        keys = None
        if client_keys is not None:
            keys = (
                (str(client_keys),)
                if isinstance(client_keys, str | os.PathLike)
                else tuple(str(k) for k in client_keys)
            )
        pool = SSHPool(
            SSHSettings.for_inventory(
                inv,
                known_hosts=known_hosts,
                client_keys=keys,
                config=tuple(config) if config is not None else None,
                connect_timeout=connect_timeout,
            )
        )
    else:
        pool.adopt(inv)
    sock = target.socket
    label = f"ssh {dest.label} " + (f"[::1]:{sock}" if isinstance(sock, int) else sock)

    async def opener() -> SSHChannel:
        return await pool.open_channel(target)

    return Source(
        name=target.name,
        opener=opener,
        label=label,
        access=SSHAccess(pool=pool, inventory_node=target, from_inventory=inv, destination=dest),
    )


def inventory_sources(
    inv: Inventory,
    nodes: Iterable[str] | None = None,
    *,
    pool: SSHPool | None = None,
    settings: SSHSettings | None = None,
    local: Iterable[str] = (),
) -> list[Source]:
    """One source per inventory node (or per name in ``nodes``), all sharing one pool.

    Nodes named in ``local`` are read through their socket on this machine.
    """
    pool = pool or SSHPool(settings, inventory=inv)
    pool.adopt(inv)
    names = list(inv.nodes) if nodes is None else list(nodes)
    local_names = set(local)
    out = []
    for name in names:
        node = inv.node(name)
        if name in local_names:
            source = local_source(node.socket, name=name)
        else:
            source = ssh_source(inv, name, pool=pool)
        source.access.hello = node.hello_intervals  # what its babeld.conf says
        out.append(source)
    return out


def pool_of(source: Source) -> SSHPool | None:
    """The SSH pool a source reads through (None for local and replay sources)."""
    ssh = source.access.ssh
    return ssh.pool if ssh is not None else None


async def close_sources(sources: Iterable[Source]) -> None:
    """Close the SSH connections the sources opened (each pool once)."""
    seen: list[SSHPool] = []
    for source in sources:
        pool = pool_of(source)
        if pool is not None and all(pool is not p for p in seen):
            seen.append(pool)
    for pool in seen:
        await pool.close()
