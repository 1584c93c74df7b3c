"""The SSH transport against an in-process asyncssh server that plays babeld.

No root needed: the server listens on 127.0.0.1, serves a fake babeld on any
``direct-streamlocal`` channel to :data:`SOCKET`, and the tests make their
own host key, client key and known_hosts. The real-sshd tests (lab) are in
``test_ssh_lab.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import pytest

from meshtui.core.inventory import Inventory, InventoryError, parse_inventory
from meshtui.transport.local import ConnectError
from meshtui.transport.session import SessionState
from meshtui.transport.sources import run_until_live
from meshtui.transport.ssh import (
    TCP_QUICKACK,
    SSHPool,
    SSHSettings,
    close_sources,
    inventory_sources,
    parse_destination,
    pool_of,
    ssh_source,
)

SOCKET = "/run/babeld.sock"
MY_ID = "02:00:00:00:00:00:00:01"
GREETING = f"BABEL 1.0\nversion babeld-1.12.1\nhost fake\nmy-id {MY_ID}\nok\n".encode()
DUMP = (
    b"add interface eth0 up true ipv6 fe80::1\n"
    b"add xroute fd42:1::1/128-::/0 prefix fd42:1::1/128 from ::/0 metric 0\n"
    b"add route 1 prefix fd42:1::2/128 from ::/0 installed yes id 02:00:00:00:00:00:00:02 "
    b"metric 96 refmetric 0 via fe80::2 if eth0\n"
    b"ok\n"
)


class FakeBabeld(asyncssh.SSHServer):
    """Accepts channels to SOCKET only, and answers like babeld's control socket."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.server.conns.append(conn)

    def unix_connection_requested(self, dest_path: str):  # noqa: ANN201 - asyncssh API
        if dest_path != SOCKET:
            return False
        return self.server.babeld

    def begin_auth(self, username: str) -> bool:
        return True


@dataclass
class Server:
    """The listening server and the files a client needs."""

    port: int
    host_key: asyncssh.SSHKey
    client_key_path: Path
    known_hosts: Path
    tmp: Path
    conns: list[asyncssh.SSHServerConnection] = field(default_factory=list)
    channels: int = 0

    async def babeld(self, reader: asyncssh.SSHReader, writer: asyncssh.SSHWriter) -> None:
        self.channels += 1
        writer.write(GREETING)
        line = await reader.readline()
        if line.strip() in (b"monitor", "monitor"):
            writer.write(DUMP)
        with contextlib.suppress(Exception):
            await reader.read()

    def inventory(self, **node_fields: object) -> Inventory:
        node = {
            "role": "edge",
            "site": "a",
            "address": "fd42:1::1",
            "lan": "eth0",
            "ssh": "root@127.0.0.1",
            "ssh_port": self.port,
            "socket": SOCKET,
        }
        node.update(node_fields)
        return parse_inventory(
            {"mesh": {"prefix": "fd42:1::/64"}, "nodes": {"edge-a": node}},
            self.tmp / "mesh.toml",
        )

    def settings(self, **kw: object) -> SSHSettings:
        values: dict = {
            "known_hosts": str(self.known_hosts),
            "client_keys": (str(self.client_key_path),),
            "config": (),
            "connect_timeout": 5.0,
        }
        values.update(kw)
        return SSHSettings(**values)


def _echo_command(process: asyncssh.SSHServerProcess) -> None:
    """Run nothing: print back the command line the client sent."""
    process.stdout.write(f"{process.command}\n")
    process.exit(0)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key_path = tmp_path / "id_ed25519"
    client_key.write_private_key(str(client_key_path))
    holder: dict[str, Server] = {}
    listener = await asyncssh.listen(
        "127.0.0.1",
        0,
        server_host_keys=[host_key],
        authorized_client_keys=asyncssh.import_authorized_keys(
            client_key.export_public_key().decode()
        ),
        server_factory=lambda: FakeBabeld(holder["s"]),
        process_factory=_echo_command,
    )
    port = listener.sockets[0].getsockname()[1]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_key.export_public_key().decode()}")
    srv = Server(port, host_key, client_key_path, known_hosts, tmp_path)
    holder["s"] = srv
    try:
        yield srv
    finally:
        listener.close()
        await listener.wait_closed()


# ------------------------------------------------------------------ destinations


@pytest.mark.parametrize(
    ("text", "port", "expected"),
    [
        ("root@relay-fra.example", 22, ("relay-fra.example", "root", None)),
        ("relay-fra", 2222, ("relay-fra", None, 2222)),
        ("root@fd00::2", 22, ("fd00::2", "root", None)),
        ("root@[fd00::2]", 22, ("fd00::2", "root", None)),
        ("ssh://admin@[fd00::2]:2200", 22, ("fd00::2", "admin", 2200)),
        ("ssh://admin@host:22", 2222, ("host", "admin", 22)),
        (None, 22, ("edge-a", None, None)),
    ],
)
def test_parse_destination(text: str | None, port: int, expected: tuple) -> None:
    dest = parse_destination(text, port, default_host="edge-a")
    assert (dest.host, dest.user, dest.port) == expected


@pytest.mark.parametrize("text", ["ssh://host:http", "ssh://[fd00::2]:99999", "root@", "a b"])
def test_bad_destination_is_an_inventory_error_naming_node_and_field(
    text: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError):
        parse_destination(text, 22)
    inv = parse_inventory(
        {
            "mesh": {"prefix": "fd42:1::/64"},
            "nodes": {"edge-a": {"role": "relay", "address": "fd42:1::1", "lan": "eth0",
                                 "ssh": text}},
        },
        tmp_path / "mesh.toml",
    )  # fmt: skip
    with pytest.raises(InventoryError) as info:
        ssh_source(inv, "edge-a")
    assert str(info.value).startswith(f"{tmp_path / 'mesh.toml'}: node 'edge-a': field 'ssh': ")


def test_settings_from_environment() -> None:
    env = {
        "MESHTUI_SSH_KNOWN_HOSTS": "/k/known_hosts",
        "MESHTUI_SSH_KEY": "/k/a:/k/b",
        "MESHTUI_SSH_CONFIG": "none",
    }
    s = SSHSettings.from_env(env)
    assert s.known_hosts == "/k/known_hosts" and s.client_keys == ("/k/a", "/k/b")
    assert s.config == () and s.config_paths() == []
    assert SSHSettings.from_env(env, known_hosts="/other").known_hosts == "/other"
    assert SSHSettings.from_env({}).known_hosts is None
    # A dead path is declared within ~15 s: 5 s of silence, then 2 unanswered keepalives.
    d = SSHSettings()
    assert d.keepalive_interval * (d.keepalive_count_max + 1) <= 15.0


# ------------------------------------------------------------------ channel


async def test_reads_babeld_through_one_connection_per_node(server: Server) -> None:
    inv = server.inventory()
    (source,) = inventory_sources(inv, settings=server.settings())
    assert source.name == "edge-a" and "127.0.0.1" in source.label
    session = await run_until_live(source, 10)
    assert session.model.node.my_id == MY_ID
    assert [d.prefix for d in session.model.destinations()] == ["fd42:1::2/128"]
    again = await run_until_live(source, 10)  # a second channel, same connection
    assert again.model.node.my_id == MY_ID
    pool = pool_of(source)
    assert pool is not None and pool.connects == 1 and server.channels == 2
    result = await pool.run(inv.node("edge-a"), ["echo", "it's quoted"], timeout=5)
    assert result.command == "echo 'it'\"'\"'s quoted'"
    assert result.stdout == result.command + "\n" and result.exit_status == 0  # sent as quoted
    await close_sources([source])
    assert pool.connection_of("edge-a") is None


async def test_unknown_host_key_is_refused_naming_node_and_host(server: Server) -> None:
    empty = server.tmp / "empty_known_hosts"
    empty.write_text("")
    source = ssh_source(
        server.inventory(), "edge-a", pool=SSHPool(server.settings(known_hosts=str(empty)))
    )
    with pytest.raises(ConnectError) as info:
        await run_until_live(source, 10)
    err = info.value
    assert err.reason == "host-key" and err.permanent
    assert str(err).startswith("edge-a: refusing to connect")
    assert "127.0.0.1" in str(err) and "unknown" in str(err) and str(empty) in str(err)
    await close_sources([source])


async def test_changed_host_key_is_refused(server: Server) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    changed = server.tmp / "changed_known_hosts"
    changed.write_text(f"[127.0.0.1]:{server.port} {other}")
    pool = SSHPool(server.settings(known_hosts=str(changed)))
    with pytest.raises(ConnectError) as info:
        await pool.connection(server.inventory().node("edge-a"))
    assert info.value.reason == "host-key"
    assert "does NOT match" in str(info.value) and "edge-a" in str(info.value)
    await pool.close()


async def test_known_hosts_is_read_once_and_again_when_the_file_changes(server: Server) -> None:
    """The pool parses known_hosts once; a key the operator adds after a refusal still counts."""
    hosts = server.tmp / "later_known_hosts"
    hosts.write_text("")
    pool = SSHPool(server.settings(known_hosts=str(hosts)))
    node = server.inventory().node("edge-a")
    with pytest.raises(ConnectError) as info:
        await pool.connection(node)
    assert info.value.reason == "host-key" and "unknown" in str(info.value)
    hosts.write_text(server.known_hosts.read_text())  # the operator verified and added it
    conn = await pool.connection(node)  # same pool, no restart
    assert not conn.is_closed() and pool.connects == 1
    await pool.close()


async def test_prefers_aes_gcm_and_no_compression_unless_ssh_config_says(server: Server) -> None:
    node = server.inventory().node("edge-a")
    pool = SSHPool(server.settings())
    conn = await pool.connection(node)
    assert conn.get_extra_info("send_cipher") == "aes128-gcm@openssh.com"
    assert conn.get_extra_info("recv_cipher") == "aes128-gcm@openssh.com"
    assert conn.get_extra_info("send_compression") == "none"
    assert conn.get_extra_info("recv_compression") == "none"
    if TCP_QUICKACK is not None:  # Linux: sshd's segments are acknowledged as they arrive
        assert "data_received" in vars(conn)
    await pool.close()
    config = server.tmp / "ssh_config"
    config.write_text(
        "Host 127.0.0.1\n    Ciphers chacha20-poly1305@openssh.com\n    Compression yes\n"
    )
    pool = SSHPool(server.settings(config=(str(config),)))
    conn = await pool.connection(node)
    assert conn.get_extra_info("send_cipher") == "chacha20-poly1305@openssh.com"
    assert conn.get_extra_info("send_compression") != "none"
    session = await run_until_live(ssh_source(server.inventory(), "edge-a", pool=pool), 10)
    assert session.model.node.my_id == MY_ID  # and babeld reads the same through it
    await pool.close()


async def test_ssh_config_that_disables_host_key_checks_is_refused(server: Server) -> None:
    config = server.tmp / "ssh_config"
    config.write_text("Host *\n    UserKnownHostsFile none\n")
    pool = SSHPool(server.settings(known_hosts=None, config=(str(config),)))
    with pytest.raises(ConnectError) as info:
        await pool.connection(server.inventory().node("edge-a"))
    assert info.value.reason == "host-key" and "UserKnownHostsFile none" in str(info.value)


async def test_ssh_config_alias_user_port_and_key_are_honoured(server: Server) -> None:
    config = server.tmp / "ssh_config"
    config.write_text(
        "Host edge-a\n"
        "    HostName 127.0.0.1\n"
        f"    Port {server.port}\n"
        "    User root\n"
        f"    IdentityFile {server.client_key_path}\n"
        f"    UserKnownHostsFile {server.known_hosts}\n"
    )
    inv = server.inventory(ssh="edge-a", ssh_port=22)  # the alias; port 22 left to ssh_config
    pool = SSHPool(SSHSettings(config=(str(config),), connect_timeout=5.0))
    session = await run_until_live(ssh_source(inv, "edge-a", pool=pool), 10)
    assert session.model.node.my_id == MY_ID
    await pool.close()


async def test_authentication_failure(server: Server) -> None:
    stranger = server.tmp / "stranger"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(stranger))
    pool = SSHPool(server.settings(client_keys=(str(stranger),)))
    with pytest.raises(ConnectError) as info:
        await pool.connection(server.inventory().node("edge-a"))
    assert info.value.reason == "auth" and info.value.permanent
    assert str(info.value).startswith("edge-a: SSH authentication to root@127.0.0.1")


async def test_missing_remote_socket(server: Server) -> None:
    pool = SSHPool(server.settings())
    with pytest.raises(ConnectError) as info:
        await pool.open_channel(server.inventory(socket="/run/nope.sock").node("edge-a"))
    assert info.value.reason == "no-socket" and "/run/nope.sock" in str(info.value)
    assert pool.connection_of("edge-a") is not None  # the connection itself is fine
    await pool.close()


async def test_refused_and_hanging_nodes_never_hold_up_the_others(server: Server) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]  # nothing listens once closed
    hang = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)  # accepts TCP, never speaks SSH
    hang_port = hang.getsockname()[1]
    nodes = {}
    for name, port in (("good", server.port), ("refused", closed_port), ("hanging", hang_port)):
        nodes[name] = {
            "role": "edge",
            "site": name,
            "address": f"fd42:1::{len(nodes) + 1}",
            "lan": "eth0",
            "ssh": "root@127.0.0.1",
            "ssh_port": port,
            "socket": SOCKET,
        }
    inv = parse_inventory({"mesh": {"prefix": "fd42:1::/64"}, "nodes": nodes}, None)
    sources = inventory_sources(inv, settings=server.settings(connect_timeout=2.0))
    tasks = {asyncio.create_task(run_until_live(s, 10)): s.name for s in sources}
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finished = {tasks[t] for t in done}
        assert "hanging" not in finished
        results = {}
        for task in tasks:
            try:
                await task
                results[tasks[task]] = "live"
            except ConnectError as exc:
                results[tasks[task]] = exc.reason
        assert results == {"good": "live", "refused": "refused", "hanging": "timeout"}
    finally:
        hang.close()
        await close_sources(sources)


async def test_session_reconnects_with_a_fresh_connection(server: Server) -> None:
    (source,) = inventory_sources(server.inventory(), settings=server.settings())
    states: list[SessionState] = []
    session = source.session(on_state=lambda _n, st, _m: states.append(st), backoff=(0.05, 0.2))
    task = asyncio.create_task(session.run())
    try:
        assert await session.wait_live(10)
        server.conns[-1].abort()  # the server side of the connection dies
        async with asyncio.timeout(20):
            while SessionState.RECONNECTING not in states:
                await asyncio.sleep(0.02)
        assert await session.wait_live(20)
        pool = pool_of(source)
        assert pool is not None and pool.connects == 2
        assert "lost" in session.message or session.state is SessionState.LIVE
    finally:
        await session.stop()
        await task
        await close_sources([source])


def test_inventory_ssh_table_then_environment_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MESHTUI_SSH_KNOWN_HOSTS", "MESHTUI_SSH_KEY", "MESHTUI_SSH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    raw = {
        "ssh": {"known_hosts": "kh", "identity": "id", "config": "cfg"},
        "nodes": {"edge-a": {"ssh": "root@edge-a"}},
    }
    inv = parse_inventory(raw, tmp_path / "mesh.toml")
    s = SSHSettings.for_inventory(inv, {})
    assert s.known_hosts == str(tmp_path / "kh") and s.client_keys == (str(tmp_path / "id"),)
    assert s.config == (str(tmp_path / "cfg"),)
    env = {"MESHTUI_SSH_KNOWN_HOSTS": "/env/kh", "MESHTUI_SSH_CONFIG": "none"}
    s = SSHSettings.for_inventory(inv, env)  # the environment wins, per setting
    assert s.known_hosts == "/env/kh" and s.config == ()
    assert s.client_keys == (str(tmp_path / "id"),)
    assert SSHSettings.for_inventory(None, {}) == SSHSettings.from_env({})
    # sources built from the inventory use its table (a pool given explicit settings keeps them)
    sources = inventory_sources(inv)
    pool = sources[0].access.ssh.pool
    assert isinstance(pool, SSHPool) and pool.settings.client_keys == (str(tmp_path / "id"),)
    explicit = SSHPool(SSHSettings(known_hosts="/x"))
    explicit.adopt(inv)
    assert explicit.settings.known_hosts == "/x"
