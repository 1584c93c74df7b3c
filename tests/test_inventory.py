"""Tests for the TOML inventory loader and its validation messages."""

from __future__ import annotations

import copy
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import pytest

from meshtui.core.inventory import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_RESTART_COMMAND,
    InventoryError,
    default_inventory_path,
    load_inventory,
    parse_inventory,
)

DATA = Path(__file__).parent / "data" / "inventories"

BASE = {
    "mesh": {"prefix": "fd42:1::/64"},
    "keys": {"k1": {"type": "hmac-sha256", "value_env": "MESH_K1"}},
    "nodes": {
        "relay": {
            "role": "relay",
            "address": "fd42:1::f1",
            "tunnels": [{"interface": "wg-edge", "peer": "edge", "key": "k1"}],
        },
        "edge": {
            "role": "edge",
            "site": "fra",
            "address": "fd42:1::11",
            "lan": "eth0",
            "tunnels": [{"interface": "wg-relay", "peer": "relay", "rxcost": 96}],
        },
    },
}


def data(**changes):
    d = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        parts = dotted.split("__")
        t = d
        for part in parts[:-1]:
            t = t[int(part)] if isinstance(t, list) else t[part]
        if value is _DEL:
            del t[parts[-1]]
        else:
            t[parts[-1]] = value
    return d


_DEL = object()


def test_load_lab_inventory():
    inv = load_inventory(DATA / "lab.toml")
    assert inv.prefix == IPv6Network("fd42:1::/64")
    assert inv.hello_wired == 1.0 and inv.hello_tunnel == 0.5
    assert set(inv.nodes) == {"relay-a", "relay-b", "edge-fra", "edge-ams", "srv-fra", "srv-ams"}
    edge = inv.nodes["edge-ams"]
    assert edge.lan == "eth0" and edge.lan_hello == 2.0
    assert edge.interfaces == ("eth0", "wg-ams-a", "wg-ams-b")
    assert edge.tunnels[1].rxcost == 192 and edge.tunnels[0].hello == 0.5
    # what its babeld.conf gives each interface (the model's configured intervals)
    assert edge.hello_intervals == {"eth0": 2.0, "wg-ams-a": 0.5, "wg-ams-b": 0.5}
    assert inv.nodes["relay-a"].lan is None and "eth0" not in inv.nodes["relay-a"].hello_intervals
    assert inv.nodes["relay-b"].socket == 33124
    assert inv.keys["site-link"].value_file == DATA / "keys" / "site-link.hex"


def test_defaults():
    inv = parse_inventory(data(), "mesh.toml")
    edge = inv.nodes["edge"]
    assert inv.hello_wired == 4.0 and inv.hello_tunnel == 4.0 and inv.babeld_version == "1.12"
    assert edge.socket == "/run/babeld.sock"
    assert edge.ssh is None and edge.ssh_port == 22
    assert edge.config_path == DEFAULT_CONFIG_PATH
    assert edge.restart_command == DEFAULT_RESTART_COMMAND
    assert edge.lan_hello == 4.0 and edge.tunnels[0].hello == 4.0
    assert edge.tunnels[0].key is None and edge.tunnels[0].rxcost == 96
    assert edge.babeld_version == "1.12"
    assert edge.address == IPv6Address("fd42:1::11")
    assert inv.nodes["relay"].site is None


def test_node_version_override_and_mesh_default():
    inv = parse_inventory(
        data(mesh__babeld_version="1.14", nodes__edge__babeld_version="1.10"), "m.toml"
    )
    assert inv.nodes["edge"].babeld_version == "1.10"
    assert inv.nodes["relay"].babeld_version == "1.14"


@pytest.mark.parametrize(
    ("changes", "node", "field", "words"),
    [
        ({"mesh__prefix": "10.0.0.0/8"}, None, "mesh.prefix", "IPv6"),
        ({"mesh__prefix": "fd42:1::1/64"}, None, "mesh.prefix", "not a network"),
        ({"mesh__hello_wired": 0}, None, "mesh.hello_wired", "out of range"),
        ({"mesh__hello_tunnel": 700}, None, "mesh.hello_tunnel", "out of range"),
        ({"mesh__hello_tunnel": 1.0005}, None, "mesh.hello_tunnel", "3 decimals"),
        ({"mesh__babeld_version": "twelve"}, None, "mesh.babeld_version", "version"),
        ({"mesh__colour": "red"}, None, "mesh.colour", "unknown field"),
        ({"keys__k1__type": "md5"}, None, "keys.k1.type", "hmac-sha256"),
        ({"keys__k1__value_file": "k.hex"}, None, "keys.k1.value_file", "exactly one"),
        ({"keys__k1__value_env": _DEL}, None, "keys.k1.value_file", "exactly one"),
        ({"nodes__edge__role": "router"}, "edge", "role", "server|edge|relay"),
        ({"nodes__edge__address": "fd42:2::11"}, "edge", "address", "not inside"),
        ({"nodes__edge__address": "fd42:1::zz"}, "edge", "address", "not an IPv6"),
        ({"nodes__edge__address": "fd42:1::f1"}, "edge", "address", "also the address"),
        ({"nodes__edge__lan": "a-very-long-ifname"}, "edge", "lan", "interface name"),
        ({"nodes__edge__lan": "eth/0"}, "edge", "lan", "interface name"),
        ({"nodes__edge__socket": "run/babeld.sock"}, "edge", "socket", "absolute"),
        ({"nodes__edge__socket": 70000}, "edge", "socket", "out of range"),
        ({"nodes__edge__socket": True}, "edge", "socket", "TCP port"),
        ({"nodes__edge__socket": 1.5}, "edge", "socket", "path or a TCP port"),
        ({"nodes__edge__ssh_port": "22"}, "edge", "ssh_port", "integer"),
        ({"nodes__edge__tunnels__0__peer": "nobody"}, "edge", "tunnels[0].peer", "not a node"),
        ({"nodes__edge__tunnels__0__peer": "edge"}, "edge", "tunnels[0].peer", "itself"),
        ({"nodes__edge__tunnels__0__interface": "eth0"}, "edge", "tunnels[0].interface", "twice"),
        ({"nodes__edge__tunnels__0__key": "k2"}, "edge", "tunnels[0].key", "no key named"),
        ({"nodes__edge__tunnels__0__rxcost": 0}, "edge", "tunnels[0].rxcost", "out of range"),
        ({"nodes__edge__tunnels__0__hello": -1}, "edge", "tunnels[0].hello", "out of range"),
        ({"nodes__edge__tunnels__0__mtu": 1}, "edge", "tunnels[0].mtu", "unknown field"),
        ({"nodes__relay__lan_hello": 1.0}, "relay", "lan_hello", "no lan"),
    ],
)
def test_validation_errors_name_file_node_field(changes, node, field, words):
    with pytest.raises(InventoryError) as info:
        parse_inventory(data(**changes), "/etc/meshtui/mesh.toml")
    err = info.value
    text = str(err)
    assert text.startswith("/etc/meshtui/mesh.toml: ")
    assert err.field == field and f"field {field!r}" in text
    assert err.node == node
    if node is not None:
        assert f"node {node!r}" in text
    assert words in text


def test_load_errors_name_the_file(tmp_path):
    missing = tmp_path / "none.toml"
    with pytest.raises(InventoryError, match="none.toml: cannot read"):
        load_inventory(missing)
    bad = tmp_path / "bad.toml"
    bad.write_text("[mesh\nprefix=1\n")
    with pytest.raises(InventoryError, match="bad.toml: TOML syntax error"):
        load_inventory(bad)
    nonodes = tmp_path / "nonodes.toml"
    nonodes.write_text('[mesh]\nprefix = "fd00::/64"\n')
    with pytest.raises(InventoryError, match="nodes"):
        load_inventory(nonodes)


def test_unknown_node_lookup_lists_known():
    inv = parse_inventory(data(), "m.toml")
    with pytest.raises(InventoryError, match="known: edge, relay"):
        inv.node("nope")


def test_default_inventory_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_inventory_path() is None
    xdg = tmp_path / "xdg" / "meshtui" / "mesh.toml"
    xdg.parent.mkdir(parents=True)
    xdg.write_text("")
    assert default_inventory_path() == xdg
    (tmp_path / "mesh.toml").write_text("")
    assert default_inventory_path() == Path("mesh.toml")


MONITORING = """\
[nodes.relay-fra]
ssh = "root@relay-fra.example"
socket = "/run/babeld.sock"

[nodes.edge-ams]
ssh = "root@edge-ams.example"
socket = 33123
role = "edge"
site = "ams"
address = "fd42:1::11"
"""


def test_a_monitoring_inventory_needs_only_ssh_and_socket(tmp_path):
    path = tmp_path / "watch.toml"
    path.write_text(MONITORING)
    inv = load_inventory(path)
    assert inv.prefix is None
    relay, edge = inv.nodes["relay-fra"], inv.nodes["edge-ams"]
    assert (relay.role, relay.site, relay.address, relay.interfaces) == (None, None, None, ())
    assert edge.socket == 33123 and str(edge.address) == "fd42:1::11"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"mesh": _DEL}, "the inventory lacks [mesh] prefix"),
        ({"nodes__edge__role": _DEL}, "node 'edge' lacks role"),
        ({"nodes__edge__site": _DEL}, "node 'edge' lacks site"),
        ({"nodes__edge__address": _DEL}, "node 'edge' lacks address"),
        ({"nodes__relay__tunnels": []}, "node 'relay' lacks lan or tunnels"),
    ],
)
def test_generating_says_which_node_lacks_what(changes, words):
    from meshtui.core.inventory import require_for_config
    from meshtui.ops.gen import generate

    inv = parse_inventory(data(**changes), "/etc/meshtui/mesh.toml")  # fine for watching
    for attempt in (lambda: require_for_config(inv), lambda: generate(inv, None, {"k1": "00"})):
        with pytest.raises(InventoryError) as info:
            attempt()
        text = str(info.value)
        assert text.startswith("/etc/meshtui/mesh.toml: cannot generate babeld.conf: ")
        assert words in text


def test_generating_names_every_node_that_lacks_something():
    from meshtui.core.inventory import require_for_config

    inv = parse_inventory(data(nodes__edge__role=_DEL, nodes__relay__address=_DEL), None)
    with pytest.raises(InventoryError) as info:
        require_for_config(inv)
    assert "node 'relay' lacks address; node 'edge' lacks role" in str(info.value)
    require_for_config(parse_inventory(data(), None))  # a complete inventory passes


def test_ssh_table_names_files_relative_to_the_inventory(tmp_path):
    d = data()
    d["ssh"] = {"config": "none", "known_hosts": "ssh/known_hosts", "identity": "/k/id"}
    inv = parse_inventory(d, tmp_path / "mesh.toml")
    assert inv.ssh.config == "none"
    assert inv.ssh.known_hosts == str(tmp_path / "ssh" / "known_hosts")
    assert inv.ssh.identity == "/k/id"
    assert parse_inventory(data(), None).ssh.known_hosts is None  # no [ssh]: the defaults
    d["ssh"] = {"known_host": "x"}
    with pytest.raises(InventoryError) as info:
        parse_inventory(d, tmp_path / "mesh.toml")
    assert "field 'ssh.known_host'" in str(info.value) and "known_hosts" in str(info.value)
