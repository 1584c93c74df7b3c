"""Read-only remote config: key masking and diffs (pure), then `gen --diff` and `lint --remote`
against the lab's real sshd and nftables.

Nothing here changes what the lab's babeld runs: diffs use temporary inventories
(a node's config_path may point at a temporary file); the planted firewall rule
and default route in one namespace are removed in a ``finally``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from meshtui.core.inventory import parse_inventory
from meshtui.ops.remote_config import (
    DeployedConfig,
    RemoteReadError,
    config_diff,
    fetch_lint_facts,
    key_changes,
    mask_keys,
    read_deployed_config,
)
from meshtui.transport.config_read import FileConfigSource, SSHConfigSource
from meshtui.transport.local import ConnectError
from meshtui.transport.sources import local_source
from meshtui.transport.ssh import SSHPool, SSHSettings

SECRET = "0123456789abcdef" * 4
OTHER = "fedcba9876543210" * 4

# --------------------------------------------------------------------- pure


def test_mask_keys_hides_every_value_form() -> None:
    text = (
        f"key id a type hmac-sha256 value {SECRET}\n"
        f'  key id "b" type blake2s128 value "{OTHER[:32]}"  # comment\n'
        "interface wg0 key a\n"
    )
    masked = mask_keys(text)
    assert SECRET not in masked and OTHER[:32] not in masked
    assert masked.count("value <redacted>") == 2
    assert "interface wg0 key a\n" in masked and "# comment" in masked


def test_key_changes_names_keys_never_values() -> None:
    old = f"key id a type hmac-sha256 value {SECRET}\nkey id b type hmac-sha256 value {SECRET}\n"
    new = f"key id a type hmac-sha256 value {OTHER}\nkey id b type hmac-sha256 value {SECRET}\n"
    assert key_changes(old, new) == ["a"]
    assert key_changes(old, old) == []


def test_config_diff_masks_both_sides_before_diffing() -> None:
    old = f"local-path /run/b.sock\nkey id a type hmac-sha256 value {SECRET}\nin deny\n"
    new = f"local-path /run/b.sock\nkey id a type hmac-sha256 value {OTHER}\nout deny\n"
    diff = config_diff(DeployedConfig("n1", "/etc/babeld.conf", old), new)
    text = diff.render()
    assert SECRET not in text and OTHER not in text
    assert "-in deny" in text and "+out deny" in text
    assert "-key" not in diff.diff and "+key" not in diff.diff  # the same once masked
    assert " key id a type hmac-sha256 value <redacted>" in diff.diff  # context
    assert diff.keys_changed == ("a",) and "key a: value differs" in text
    assert not diff.identical
    # A value-only change is a difference, but shows no value.
    same_but_key = config_diff(DeployedConfig("n1", "/p", old), old.replace(SECRET, OTHER))
    assert same_but_key.diff == "" and same_but_key.keys_changed == ("a",)
    assert not same_but_key.identical
    # Placeholders on the generated side: key values are not compared.
    assert config_diff(DeployedConfig("n1", "/p", old), old.replace(SECRET, OTHER),
                       compare_keys=False).identical  # fmt: skip
    assert repr(DeployedConfig("n1", "/p", old)).count(SECRET) == 0


def test_config_diff_of_an_absent_file() -> None:
    diff = config_diff(DeployedConfig("n1", "/etc/babeld.conf", None), "in deny\n")
    assert diff.absent and not diff.identical
    assert "n1:/etc/babeld.conf (absent)" in diff.diff and "+in deny" in diff.diff


async def test_a_local_node_reads_the_config_file_it_was_given(tmp_path: Path) -> None:
    source = local_source("/run/nothing.sock", name="x")
    assert source.access.config_source() is None
    conf = tmp_path / "babeld.conf"
    conf.write_text("in deny\n")
    chosen = source.access.config_source(conf)
    assert isinstance(chosen, FileConfigSource)
    loaded = await chosen.load()
    assert loaded.text == "in deny\n" and loaded.filename == str(conf)
    missing = await FileConfigSource(tmp_path / "absent.conf").load()
    assert missing.text is None


async def test_a_local_config_is_read_as_lint_reads_it(tmp_path: Path) -> None:
    """Invalid UTF-8 stays visible (``\\xff``, not U+FFFD); over 1 MiB is refused, not read."""
    conf = tmp_path / "babeld.conf"
    conf.write_bytes(b"in deny # \xff\n")
    loaded = await FileConfigSource(conf).load()
    assert loaded.text == "in deny # \\xff\n"
    conf.write_bytes(b"#" * ((1 << 20) + 1))
    with pytest.raises(RemoteReadError, match="larger than 1 MiB"):
        await FileConfigSource(conf).load()


# --------------------------------------------------------------------- in-process sshd

IP_ADDR = json.dumps(
    [{"ifname": "eth0", "addr_info": [{"family": "inet6", "local": "fd42:9::5",
                                       "prefixlen": 64, "scope": "global"}]}]
)  # fmt: skip
IP_ROUTE = json.dumps([{"dst": "default", "gateway": "fe80::1", "dev": "eth0", "type": "unicast",
                        "protocol": "ra"}])  # fmt: skip


IP_STUB = """#!/bin/sh
case "$*" in
  *addr*) printf '%s' "$FAKE_IP_ADDR" ;;
  *route*) printf '%s' "$FAKE_IP_ROUTE" ;;
  *) printf '[]' ;;
esac
"""


class FakeNode:
    """Answers the read-only commands meshtui sends (and records them): ``cat -- PATH`` from
    a dict of files, ``nft`` when present; a ``sh -c`` script (the facts batch) runs in a
    real sh whose PATH holds only a stub ``ip`` printing canned JSON."""

    def __init__(self, files: dict[str, str], nft: bool, stubs: Path) -> None:
        self.files = files
        self.nft = nft
        self.stubs = stubs
        self.commands: list[str] = []

    def __call__(self, process: asyncssh.SSHServerProcess) -> None:
        self.commands.append(process.command)
        argv = shlex.split(process.command)
        if argv[:2] == ["cat", "--"]:
            path = argv[2]
            if path not in self.files:
                process.stderr.write(f"cat: {path}: No such file or directory\n")
                process.exit(1)
            elif self.files[path] == "EACCES":
                process.stderr.write(f"cat: {path}: Permission denied\n")
                process.exit(1)
            else:
                process.stdout.write(self.files[path])
                process.exit(0)
        elif argv[:2] == ["sh", "-c"]:
            env = {"PATH": str(self.stubs), "FAKE_IP_ADDR": IP_ADDR, "FAKE_IP_ROUTE": IP_ROUTE}
            done = subprocess.run(["/bin/sh", "-c", argv[2]], capture_output=True, text=True,
                                  env=env, timeout=10, check=False)  # fmt: skip
            process.stdout.write(done.stdout)
            process.stderr.write(done.stderr)
            process.exit(done.returncode)
        elif argv[0] == "nft" and self.nft:
            process.stdout.write("table inet f {\n chain input {\n  type filter hook input "
                                 "priority 0; policy drop;\n }\n}\n")  # fmt: skip
            process.exit(0)
        else:
            process.stderr.write(f"bash: line 1: {argv[0]}: command not found\n")
            process.exit(127)


@pytest.fixture
async def fake_node(tmp_path: Path) -> AsyncIterator[Any]:
    """Start an in-process sshd on 127.0.0.1 (with or without SFTP); yields a starter."""
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp_path / "id_ed25519"
    client_key.write_private_key(str(key_path))
    listeners = []

    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "ip").write_text(IP_STUB)
    (stubs / "ip").chmod(0o755)

    async def start(files: dict[str, str], sftp: bool, nft: bool = True):
        handler = FakeNode(files, nft, stubs)
        listener = await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(
                client_key.export_public_key().decode()
            ),
            process_factory=handler,
            sftp_factory=True if sftp else None,
        )
        listeners.append(listener)
        port = listener.sockets[0].getsockname()[1]
        known = tmp_path / f"known_hosts_{port}"
        known.write_text(f"[127.0.0.1]:{port} {host_key.export_public_key().decode()}")
        inv = parse_inventory(
            {
                "mesh": {"prefix": "fd42:1::/64"},
                "nodes": {"n1": {"role": "server", "site": "a", "address": "fd42:1::1",
                                 "lan": "eth0", "ssh": "root@127.0.0.1", "ssh_port": port,
                                 "config_path": str(tmp_path / "babeld.conf")}},
            },
            tmp_path / "mesh.toml",
        )  # fmt: skip
        settings = SSHSettings(known_hosts=str(known), client_keys=(str(key_path),), config=(),
                               connect_timeout=5.0)  # fmt: skip
        return inv.nodes["n1"], SSHPool(settings), handler

    yield start
    for listener in listeners:
        listener.close()


async def test_reads_over_sftp_without_running_a_command(fake_node: Any, tmp_path: Path) -> None:
    (tmp_path / "babeld.conf").write_text(f"key id a type hmac-sha256 value {SECRET}\n")
    node, pool, handler = await fake_node({}, sftp=True)
    try:
        deployed = await read_deployed_config(pool, node)
        assert deployed.text is not None and SECRET in deployed.text
        assert SECRET not in repr(deployed)
        assert handler.commands == []  # SFTP: no shell, no command on the node
        (tmp_path / "babeld.conf").unlink()
        assert (await read_deployed_config(pool, node)).text is None
    finally:
        await pool.close()


async def test_falls_back_to_cat_without_sftp(fake_node: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "babeld.conf")
    node, pool, handler = await fake_node({path: "in deny\n"}, sftp=False)
    try:
        assert (await read_deployed_config(pool, node)).text == "in deny\n"
        assert handler.commands == [shlex.join(["cat", "--", path])]
        handler.files[path] = "EACCES"
        with pytest.raises(RemoteReadError, match=r"n1: cannot read .*: Permission denied"):
            await read_deployed_config(pool, node)
        del handler.files[path]
        assert (await read_deployed_config(pool, node)).text is None
    finally:
        await pool.close()


async def test_the_dashboard_reads_a_node_config_over_sftp(fake_node: Any, tmp_path: Path) -> None:
    path = tmp_path / "babeld.conf"
    path.write_text(f"in deny\nkey id a type hmac-sha256 value {SECRET}\n")
    node, pool, handler = await fake_node({}, sftp=True)
    try:
        source = SSHConfigSource(pool, node)
        loaded = await source.load()
        assert loaded.text is not None and loaded.text.startswith("in deny\n")
        assert loaded.filename == f"n1:{path}" and loaded.label == source.label
        assert source.label.startswith("ssh root@127.0.0.1") and source.label.endswith(str(path))
        assert SECRET not in repr(loaded)
        assert handler.commands == []  # read-only: SFTP, no command on the node
        path.unlink()
        assert (await source.load()).text is None
    finally:
        await pool.close()
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    key = str(tmp_path / "id_ed25519")
    settings = SSHSettings(known_hosts=str(empty), client_keys=(key,), config=(), connect_timeout=5)
    stranger = SSHPool(settings)
    try:
        with pytest.raises(RemoteReadError, match="n1: refusing to connect: host key"):
            await SSHConfigSource(stranger, node).load()
    finally:
        await stranger.close()


async def test_lint_facts_and_missing_nft(fake_node: Any) -> None:
    node, pool, handler = await fake_node({}, sftp=False, nft=False)
    try:
        facts = await fetch_lint_facts(pool, node)
        assert facts.firewall is None
        assert "firewall: not available: nft is not installed" in facts.notes
        assert facts.interfaces, facts.notes
        eth0 = next(f for f in facts.interfaces if f.name == "eth0")
        assert eth0.default_route and str(eth0.addresses[0]) == "fd42:9::5"
        assert shlex.join(["nft", "list", "ruleset"]) in handler.commands
    finally:
        await pool.close()
    node, pool, _ = await fake_node({}, sftp=False, nft=True)
    try:
        facts = await fetch_lint_facts(pool, node)
        assert facts.firewall is not None and "policy drop" in facts.firewall
        assert facts.notes == []
    finally:
        await pool.close()


async def test_unknown_host_key_is_a_connect_error(fake_node: Any, tmp_path: Path) -> None:
    node, _pool, _ = await fake_node({}, sftp=True)
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    pool = SSHPool(SSHSettings(known_hosts=str(empty), client_keys=(str(tmp_path / "id_ed25519"),),
                               config=(), connect_timeout=5.0))  # fmt: skip
    try:
        with pytest.raises(ConnectError, match="n1: refusing to connect: host key"):
            await read_deployed_config(pool, node)
    finally:
        await pool.close()


# --------------------------------------------------------------------- lab


def ssh_env(lab: Any, known_hosts: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["MESHTUI_SSH_KNOWN_HOSTS"] = str(known_hosts or lab.known_hosts)
    env["MESHTUI_SSH_KEY"] = str(lab.ssh_key)
    env["MESHTUI_SSH_CONFIG"] = "none"
    return env


REMOTE_TIMEOUT = "60"  # per node: SSH commands are slow on a loaded CI machine


def meshtui(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "meshtui", *args, "--timeout", REMOTE_TIMEOUT],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def _section(text: str, node: str) -> tuple[int, int]:
    start = text.index(f"[nodes.{node}]\n")
    nxt = text.find("\n[nodes.", start + 1)
    return start, len(text) if nxt < 0 else nxt


def edited_inventory(lab: Any, tmp_path: Path, node: str, config_path: Path | None = None,
                     key_on: str | None = None, extra: str = "") -> Path:  # fmt: skip
    """A copy of the lab's inventory: ``node``'s config_path moved, an HMAC key on its tunnel
    to ``key_on``, ``extra`` TOML appended."""
    text = lab.inventory_path.read_text()
    start, end = _section(text, node)
    part = text[start:end]
    if config_path is not None:
        part = re.sub(r'config_path = ".*"', f'config_path = "{config_path}"', part)
    if key_on is not None:
        part = part.replace(f'peer = "{key_on}"', f'peer = "{key_on}"\nkey = "test-link"')
        extra += '\n[keys.test-link]\ntype = "hmac-sha256"\nvalue_file = "test-link.hex"\n'
        (tmp_path / "test-link.hex").write_text(SECRET + "\n")
    path = tmp_path / "mesh.toml"
    path.write_text(text[:start] + part + text[end:] + extra)
    return path


@pytest.mark.lab
def test_gen_diff_identical_on_the_lab(lab: Any) -> None:
    out = meshtui("gen", "--diff", "--inventory", str(lab.inventory_path), env=ssh_env(lab))
    assert out.returncode == 0, out.stderr
    for node in lab.nodes:
        assert f"{node}: {lab.config_path(node)} is identical" in out.stdout
    assert f"{len(lab.nodes)} identical, 0 differ, 0 could not be read" in out.stderr


@pytest.mark.lab
def test_gen_diff_shows_differences_with_keys_masked(lab: Any, tmp_path: Path) -> None:
    # edge-a's config_path points at a copy holding a key with another value; its tunnel
    # to relay-1 gets a key in the inventory: the key line differs in value only.
    deployed = tmp_path / "edge-a.conf"
    # The generated header names the config path: the copy names its own.
    original = (
        lab.config_path("edge-a").read_text().replace(str(lab.config_path("edge-a")), str(deployed))
    )
    tunnel = next(t for t in lab.topology.node("edge-a").tunnels if t.peer == "relay-1")
    deployed.write_text(
        original.replace(
            "# The interfaces on which",
            "# HMAC keys (RFC 8967) for the tunnels\n"
            f"key id test-link type hmac-sha256 value {OTHER}\n\n# The interfaces on which",
        ).replace(f"interface {tunnel.interface} type tunnel hello-interval 0.5",
                  f"interface {tunnel.interface} type tunnel hello-interval 0.5 key test-link")
    )  # fmt: skip
    inv = edited_inventory(lab, tmp_path, "edge-a", deployed, key_on="relay-1")
    out = meshtui("gen", "--diff", "--inventory", str(inv), "--node", "edge-a", "--node",
                  "relay-1", env=ssh_env(lab))  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    assert SECRET not in out.stdout + out.stderr and OTHER not in out.stdout + out.stderr
    assert f"relay-1: {lab.config_path('relay-1')} is identical" in out.stdout
    assert "key test-link: value differs" in out.stdout
    assert "1 identical, 1 differ, 0 could not be read" in out.stderr
    # Only the key's value differs, so after masking the texts are the same.
    assert f"--- edge-a:{deployed} (deployed)" not in out.stdout

    # A changed hello interval shows as a unified diff of the LAN line.
    deployed.write_text(original.replace("lan0 type wired hello-interval 0.5",
                                         "lan0 type wired hello-interval 4"))  # fmt: skip
    inv = edited_inventory(lab, tmp_path, "edge-a", deployed)
    out = meshtui("gen", "--diff", "--inventory", str(inv), "--node", "edge-a", env=ssh_env(lab))
    assert out.returncode == 1
    assert f"--- edge-a:{deployed} (deployed)" in out.stdout
    assert "-interface lan0 type wired hello-interval 4" in out.stdout
    assert "+interface lan0 type wired hello-interval 0.5" in out.stdout

    # A config that is not there at all.
    inv = edited_inventory(lab, tmp_path, "edge-a", tmp_path / "absent.conf")
    out = meshtui("gen", "--diff", "--inventory", str(inv), "--node", "edge-a", env=ssh_env(lab))
    assert out.returncode == 1
    assert "does not exist on the node" in out.stdout and "(absent)" in out.stdout


@pytest.mark.lab
def test_gen_diff_names_unreachable_and_unknown_nodes(lab: Any, tmp_path: Path) -> None:
    extra = (
        '\n[nodes.ghost]\nrole = "server"\nsite = "a"\n'
        f'address = "{lab.prefix.network_address + 0xDEAD}"\n'
        'ssh = "root@[::1]"\nssh_port = 1\nlan = "lan0"\n'
    )
    inv = edited_inventory(lab, tmp_path, "edge-a", extra=extra)
    out = meshtui("gen", "--diff", "--inventory", str(inv), "--node", "ghost", "--node",
                  "edge-a", env=ssh_env(lab))  # fmt: skip
    assert out.returncode == 2
    assert "ghost: SSH to" in out.stderr and "refused" in out.stderr
    assert "Traceback" not in out.stderr
    assert "edge-a:" in out.stdout and "is identical" in out.stdout

    empty = tmp_path / "known_hosts"
    empty.write_text("")
    out = meshtui("gen", "--diff", "--inventory", str(lab.inventory_path), "--node", "relay-1",
                  env=ssh_env(lab, empty))  # fmt: skip
    assert out.returncode == 2
    assert "relay-1: refusing to connect: host key" in out.stderr and "unknown" in out.stderr
    assert "0 identical, 0 differ, 1 could not be read" in out.stderr


PLANT_TABLE = "meshtui_test_lint"


@pytest.mark.lab
def test_lint_remote_finds_planted_firewall_rule_and_default_route(lab: Any) -> None:
    node = "srv-a1"
    env = ssh_env(lab)
    args = ["lint", "--inventory", str(lab.inventory_path), "--remote", "--json"]
    clean = meshtui(*args, env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    report = json.loads(clean.stdout)
    assert report["errors"] == 0
    # The clean lab: only the warnings about cross-site tunnels without HMAC keys.
    assert all("HMAC" in e["message"] for e in report["entries"]), report["entries"]

    ruleset = (
        f"table inet {PLANT_TABLE} {{\n"
        "  chain input {\n"
        "    type filter hook input priority 0; policy accept;\n"
        '    iifname "mgmt0" udp dport 6696 accept\n'
        "  }\n"
        "}\n"
    )
    edge_ll = str(lab.topology.node("edge-a").lan_link_local)
    try:
        lab.exec(node, ["nft", "-f", "-"], input=ruleset, check=True)
        lab.exec(node, ["ip", "-6", "route", "add", "default", "via", edge_ll, "dev", "lan0"],
                 check=True)  # fmt: skip
        out = meshtui(*args, env=env)
    finally:
        lab.exec(node, ["nft", "delete", "table", "inet", PLANT_TABLE])
        lab.exec(node, ["ip", "-6", "route", "del", "default", "via", edge_ll, "dev", "lan0"])
    assert out.returncode == 3, out.stdout + out.stderr  # babeld accepts it; the mesh is open
    entries = json.loads(out.stdout)["entries"]
    errors = [e for e in entries if e["severity"] == "security"]
    assert all(e["node"] == node for e in errors), errors
    firewall = [e for e in errors if e["file"] == f"{node}: nft list ruleset"]
    assert any("accepts UDP 6696" in e["message"] and "mgmt0" in e["message"] for e in firewall)
    assert any("default route" in e["message"] and "lan0" in e["message"] for e in errors)
    # Removed again: the node is clean.
    after = meshtui(*args, "--node", node, env=env)
    assert after.returncode == 0, after.stdout
    assert PLANT_TABLE not in lab.exec(node, ["nft", "list", "tables"]).stdout


@pytest.mark.lab
def test_lint_remote_reports_unreachable_nodes(lab: Any, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    out = meshtui("lint", "--inventory", str(lab.inventory_path), "--remote", "--node", "edge-a",
                  env=ssh_env(lab, empty))  # fmt: skip
    assert out.returncode == 1
    assert "[edge-a] cannot lint the node remotely: edge-a: refusing to connect" in out.stdout
    assert "Traceback" not in out.stderr
