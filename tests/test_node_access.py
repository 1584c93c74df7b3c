"""How a node is reached, typed (transport/node.py): each kind of source says what it offers
(its stream, kernel facts, where its config is read from)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from meshtui.commands.sources import from_inventory, resolve_sources
from meshtui.core.inventory import parse_inventory
from meshtui.transport.config_read import FileConfigSource, SSHConfigSource
from meshtui.transport.facts import fetch_facts
from meshtui.transport.held import demo_recording, held_replay_source
from meshtui.transport.node import LocalAccess, NodeAccess, ReplayAccess, SSHAccess
from meshtui.transport.sources import local_source, replay_source
from meshtui.transport.ssh import SSHPool, SSHSettings, inventory_sources, pool_of


def inventory(tmp_path: Path):
    raw = {
        "mesh": {"prefix": "fd42:1::/64"},
        "nodes": {
            "edge-a": {"ssh": "root@edge-a", "socket": "/run/babeld.sock", "lan_hello": 2.0,
                       "lan": "eth0", "role": "edge", "site": "a"},
            "relay-1": {"ssh": "root@relay-1", "socket": 33123},
        },
    }  # fmt: skip
    return parse_inventory(raw, tmp_path / "mesh.toml")


def test_a_local_socket_is_local_and_nothing_else() -> None:
    source = local_source("/run/x/babeld.sock")
    access = source.access
    assert isinstance(access, LocalAccess) and access.local_target == "/run/x/babeld.sock"
    assert access.ssh is None and access.inventory is None and access.node is None
    assert access.held is None and dict(access.names) == {} and access.hello == {}
    assert local_source(33123).access.local_target == 33123


async def test_a_recording_carries_its_names_and_has_no_kernel() -> None:
    source = replay_source(demo_recording(), speed=0)
    access = source.access
    assert isinstance(access, ReplayAccess) and access.local_target is None and access.ssh is None
    assert access.names["fd31:1b9e:30be::ff:1"] == "relay-1"
    with pytest.raises(ValueError, match="a recording has no kernel facts"):
        await access.facts(source.name, source.label)
    with pytest.raises(ValueError, match="a recording has no kernel facts"):
        await fetch_facts(source)
    held = held_replay_source(demo_recording(), speed=0, stop_at=5)
    assert isinstance(held.access, ReplayAccess) and held.access.held is not None
    assert held.access.names == access.names


async def test_inventory_nodes_are_reached_over_ssh_with_their_node_and_hello(
    tmp_path: Path,
) -> None:
    inv = inventory(tmp_path)
    pool = SSHPool(SSHSettings(known_hosts=str(tmp_path / "kh"), config=()))
    sources = inventory_sources(inv, pool=pool, local=["relay-1"])
    edge, relay = sources
    ssh = edge.access.ssh
    assert isinstance(edge.access, SSHAccess) and ssh is edge.access
    assert ssh.pool is pool and pool_of(edge) is pool
    assert edge.access.node is inv.node("edge-a") and edge.access.inventory is inv
    assert ssh.destination.label == "root@edge-a"
    assert edge.access.hello == inv.node("edge-a").hello_intervals == {"eth0": 2.0}
    assert edge.session().model.hello_intervals == inv.node("edge-a").hello_intervals
    # a node named local is read through its socket here, with its config's hello intervals
    assert isinstance(relay.access, LocalAccess) and relay.access.local_target == 33123
    assert relay.access.ssh is None and pool_of(relay) is None
    assert relay.access.hello == inv.node("relay-1").hello_intervals
    other = SSHPool(pool.settings)
    moved = ssh.with_pool(other)
    assert moved.pool is other and ssh.pool is pool and moved.node is ssh.node
    assert from_inventory(sources) and not from_inventory([local_source(33123)])
    assert NodeAccess().ssh is None and NodeAccess().local_target is None


def test_resolving_the_options_changes_none_of_them(tmp_path: Path) -> None:
    path = tmp_path / "mesh.toml"
    path.write_text(
        '[nodes.edge-a]\nssh = "root@edge-a"\nsocket = "/run/babeld.sock"\n', encoding="utf-8"
    )
    args = argparse.Namespace(inventory=str(path), node=None, socket=None, port=None, replay=None)
    before = vars(args).copy()
    sources = resolve_sources(args)
    assert vars(args) == before
    assert [s.name for s in sources] == ["edge-a"] and from_inventory(sources)
    args = argparse.Namespace(inventory=None, node=None, socket=None, port=None,
                              replay=str(demo_recording()), speed=0.0)  # fmt: skip
    before = vars(args).copy()
    sources = resolve_sources(args)
    assert vars(args) == before and not from_inventory(sources)


async def test_where_each_kind_of_node_reads_its_config(tmp_path: Path) -> None:
    conf = tmp_path / "babeld.conf"
    conf.write_text("in deny\n")
    # a local socket or a recording: only the file the dashboard was given (--config FILE)
    for source in (local_source("/run/x/babeld.sock"), replay_source(demo_recording(), speed=0)):
        assert source.access.config_source() is None
        chosen = source.access.config_source(conf)
        assert isinstance(chosen, FileConfigSource) and chosen.label == str(conf)
        loaded = await chosen.load()
        assert loaded.text == "in deny\n" and loaded.filename == str(conf)
    # an inventory node: its config_path on the node, over its pool (never the local file)
    inv = inventory(tmp_path)
    pool = SSHPool(SSHSettings(known_hosts=str(tmp_path / "kh"), config=()))
    edge = inventory_sources(inv, pool=pool)[0]
    for given in (None, conf):
        remote = edge.access.config_source(given)
        assert isinstance(remote, SSHConfigSource)
        assert remote.pool is pool and remote.node is inv.node("edge-a")
        assert remote.label == f"ssh root@edge-a:{inv.node('edge-a').config_path}"
