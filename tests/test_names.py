"""Names: router-ids, link-local next hops and /128s mapped to inventory node names.

Models are built from babeld lines, as babeld prints them, for a small mesh:
two relays, and per site an edge (WireGuard tunnels to both relays, a LAN)
and a server on the edge's LAN.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from meshtui.core.facts import Address, NodeFacts
from meshtui.core.inventory import Inventory, parse_inventory
from meshtui.core.model import NodeModel
from meshtui.core.names import Names

PREFIX = "fd42:1::/64"


@dataclass
class MeshSpec:
    """A node's identity for line building: /128, router-id, link-local per interface."""

    address: str
    my_id: str
    lls: dict[str, str]


def inventory() -> Inventory:
    """relay-1/2, edge-a/b (tunnels wg-r1, wg-r2 and LAN eth0), srv-a1/b1 (LAN eth0)."""
    nodes = {
        "relay-1": {
            "role": "relay",
            "address": "fd42:1::f1",
            "tunnels": [
                {"interface": "wg-a", "peer": "edge-a"},
                {"interface": "wg-b", "peer": "edge-b"},
            ],
        },
        "relay-2": {
            "role": "relay",
            "address": "fd42:1::f2",
            "tunnels": [
                {"interface": "wg-a", "peer": "edge-a"},
                {"interface": "wg-b", "peer": "edge-b"},
            ],
        },
    }
    for site in ("a", "b"):
        nodes[f"edge-{site}"] = {
            "role": "edge",
            "site": site,
            "address": f"fd42:1::e{1 if site == 'a' else 2}",
            "lan": "eth0",
            "tunnels": [
                {"interface": "wg-r1", "peer": "relay-1"},
                {"interface": "wg-r2", "peer": "relay-2", "rxcost": 192},
            ],
        }
        nodes[f"srv-{site}1"] = {
            "role": "server",
            "site": site,
            "address": f"fd42:1::{site}1",
            "lan": "eth0",
        }
    return parse_inventory({"mesh": {"prefix": PREFIX}, "nodes": nodes}, "mesh.toml")


SPECS = {
    "relay-1": MeshSpec(
        "fd42:1::f1", "02:00:00:00:00:00:00:f1", {"wg-a": "fe80::f1", "wg-b": "fe80::f1"}
    ),
    "relay-2": MeshSpec(
        "fd42:1::f2", "02:00:00:00:00:00:00:f2", {"wg-a": "fe80::f2", "wg-b": "fe80::f2"}
    ),
    "edge-a": MeshSpec(
        "fd42:1::e1",
        "02:00:00:00:00:00:00:e1",
        {"eth0": "fe80::e1", "wg-r1": "fe80::e1", "wg-r2": "fe80::e1"},
    ),
    "edge-b": MeshSpec(
        "fd42:1::e2",
        "02:00:00:00:00:00:00:e2",
        {"eth0": "fe80::e2", "wg-r1": "fe80::e2", "wg-r2": "fe80::e2"},
    ),
    "srv-a1": MeshSpec("fd42:1::a1", "02:00:00:00:00:00:00:a1", {"eth0": "fe80::1"}),
    "srv-b1": MeshSpec("fd42:1::b1", "02:00:00:00:00:00:00:b1", {"eth0": "fe80::1"}),
}

# Which interface of a node faces which neighbour.
LINKS = {
    ("relay-1", "edge-a"): "wg-a",
    ("relay-1", "edge-b"): "wg-b",
    ("relay-2", "edge-a"): "wg-a",
    ("relay-2", "edge-b"): "wg-b",
    ("edge-a", "relay-1"): "wg-r1",
    ("edge-a", "relay-2"): "wg-r2",
    ("edge-b", "relay-1"): "wg-r1",
    ("edge-b", "relay-2"): "wg-r2",
    ("edge-a", "srv-a1"): "eth0",
    ("srv-a1", "edge-a"): "eth0",
    ("edge-b", "srv-b1"): "eth0",
    ("srv-b1", "edge-b"): "eth0",
}


@dataclass
class Mesh:
    """babeld lines per node, built route by route."""

    specs: dict[str, MeshSpec] = field(default_factory=lambda: dict(SPECS))
    routes: dict[str, list[str]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(0x1000))

    def route(
        self,
        node: str,
        dest: str,
        via: str,
        metric: int,
        installed: bool = True,
        refmetric: int | None = None,
    ) -> Mesh:
        """``node`` has a route to ``dest``'s /128 through neighbour ``via``."""
        iface = LINKS[(node, via)]
        via_ll = self.specs[via].lls[LINKS[(via, node)]]
        ref = refmetric if refmetric is not None else (0 if via == dest else max(metric - 96, 0))
        line = (
            f"add route {next(self._ids):x} prefix {self.specs[dest].address}/128 from ::/0 "
            f"installed {'yes' if installed else 'no'} id {self.specs[dest].my_id} "
            f"metric {metric} refmetric {ref} via {via_ll} if {iface}"
        )
        self.routes.setdefault(node, []).append(line)
        return self

    def lines(self, node: str) -> list[str]:
        spec = self.specs[node]
        out = [
            "BABEL 1.0",
            "version babeld-1.12.1",
            "host vm",
            f"my-id {spec.my_id}",
            "ok",
        ]
        for iface, ll in spec.lls.items():
            out.append(f"add interface {iface} up true ipv6 {ll}")
        out.append(
            f"add xroute {spec.address}/128-::/0 prefix {spec.address}/128 from ::/0 metric 0"
        )
        out.extend(self.routes.get(node, []))
        return out

    def model(self, node: str, t: float = 100.0) -> NodeModel:
        m = NodeModel()
        for line in self.lines(node):
            m.feed(line, t)
        m.commit(t)
        return m

    def models(self, nodes: list[str] | None = None) -> dict[str, NodeModel]:
        return {n: self.model(n) for n in (nodes or list(self.specs))}


def healthy() -> Mesh:
    """Every node reaches every other; edges prefer relay-1 and keep relay-2 as standby."""
    m = Mesh()
    for edge, other, srv, osrv in (
        ("edge-a", "edge-b", "srv-a1", "srv-b1"),
        ("edge-b", "edge-a", "srv-b1", "srv-a1"),
    ):
        m.route(edge, "relay-1", "relay-1", 96).route(edge, "relay-2", "relay-2", 192)
        m.route(edge, srv, srv, 96)
        for dest, base in ((other, 192), (osrv, 288)):
            m.route(edge, dest, "relay-1", base).route(edge, dest, "relay-2", base + 96, False)
        for dest in ("relay-1", "relay-2", other, osrv):
            metric = {"relay-1": 192, "relay-2": 288, other: 288, osrv: 384}[dest]
            m.route(srv, dest, edge, metric)
        m.route(srv, edge, edge, 96)
    for relay in ("relay-1", "relay-2"):
        cost = 96 if relay == "relay-1" else 192
        other_relay = "relay-2" if relay == "relay-1" else "relay-1"
        m.route(relay, "edge-a", "edge-a", cost).route(relay, "edge-b", "edge-b", cost)
        m.route(relay, "srv-a1", "edge-a", cost + 96).route(relay, "srv-b1", "edge-b", cost + 96)
        m.route(relay, other_relay, "edge-a", cost + 96)
    return m


def names_for(mesh: Mesh, inv: Inventory | None = None) -> tuple[Names, dict[str, NodeModel]]:
    models = mesh.models()
    return Names.build(inv if inv is not None else inventory(), models), models


# ------------------------------------------------------------------ tests


def test_tunnel_peer_from_inventory_alone() -> None:
    names = Names(inventory())
    assert names.neighbour("edge-a", "fe80::ff:ff", "wg-r2") == "relay-2"
    assert names.describe_hop("edge-a", "fe80::ff:ff", "wg-r1") == "relay-1 (wg-r1)"
    assert names.node_of_prefix("fd42:1::b1/128") == "srv-b1"
    assert names.node_of_prefix("fd42:1:0::b1") == "srv-b1"
    assert names.prefix_of("relay-2") == "fd42:1::f2/128"
    assert names.is_relay("relay-1") and not names.is_relay("edge-a")


def test_lan_next_hop_from_babeld_interface_lines() -> None:
    names, _ = names_for(healthy())
    # srv-a1 reaches everything through edge-a's LAN address: no tunnel to go by.
    assert names.neighbour("srv-a1", "fe80::e1", "eth0") == "edge-a"
    assert names.describe_hop("srv-a1", "fe80::e1", "eth0") == "edge-a (eth0)"
    assert names.link_local("edge-b", "wg-r1") == "fe80::e2"


def test_router_ids_from_greetings() -> None:
    names, _ = names_for(healthy())
    assert names.node_of_router_id("02:00:00:00:00:00:00:f1") == "relay-1"
    assert names.router_id("srv-b1") == "02:00:00:00:00:00:00:b1"
    assert names.describe_router("ff:ff:ff:ff:ff:ff:ff:ff") == "ff:ff:ff:ff:ff:ff:ff:ff"


def test_shared_link_local_resolved_by_the_observers_routes_then_site() -> None:
    # Both servers use fe80::1 on their LANs: the address alone is ambiguous.
    names, _ = names_for(healthy())
    assert names.neighbour("edge-a", "fe80::1", "eth0") == "srv-a1"  # refmetric 0 route
    assert names.neighbour("edge-b", "fe80::1", "eth0") == "srv-b1"
    # Without route evidence the observer's site decides.
    bare = Names(inventory())
    for node in ("srv-a1", "srv-b1"):
        bare.learn(node, healthy().model(node))
    assert bare.neighbour("edge-b", "fe80::1", "eth0") == "srv-b1"
    assert bare.neighbour("relay-1", "fe80::1", "wg-zz") is None


def test_neighbour_without_live_data_named_by_the_prefix_it_originates() -> None:
    # srv-b1 is down (no greeting, no interface lines): edge-b's route to srv-b1's /128
    # with refmetric 0 still says that fe80::1 on eth0 is srv-b1.
    models = healthy().models()
    del models["srv-b1"], models["srv-a1"]
    names = Names.build(inventory(), models)
    assert names.neighbour("edge-b", "fe80::1", "eth0") == "srv-b1"
    assert names.neighbour("edge-a", "fe80::1", "eth0") == "srv-a1"


def test_unknown_stays_as_babeld_printed_it() -> None:
    names, _ = names_for(healthy())
    assert names.neighbour("edge-a", "fe80::dead", "eth9") is None
    assert names.describe_hop("edge-a", "fe80::dead", "eth9") == "fe80::dead%eth9"
    assert names.describe_prefix("fd99::1/128") == "fd99::1/128"
    assert names.neighbour(None, "", "eth0") is None


def test_without_inventory_names_come_from_live_data() -> None:
    mesh = healthy()
    names = Names.build(None, mesh.models())
    assert names.node_of_prefix("fd42:1::b1/128") == "srv-b1"  # its xroute
    assert names.neighbour("edge-a", "fe80::f1", "wg-r1") == "relay-1"  # refmetric 0 route
    assert names.neighbour("srv-b1", "fe80::e2", "eth0") == "edge-b"
    assert names.role("relay-1") is None and names.in_mesh("fd99::/64")


def test_new_router_id_after_restart_replaces_the_old() -> None:
    mesh = healthy()
    names, _ = names_for(mesh)
    mesh.specs["relay-1"] = MeshSpec("fd42:1::f1", "02:00:00:00:00:00:01:f1", SPECS["relay-1"].lls)
    names.learn("relay-1", mesh.model("relay-1"))
    assert names.node_of_router_id("02:00:00:00:00:00:01:f1") == "relay-1"
    assert names.node_of_router_id("02:00:00:00:00:00:00:f1") is None


def test_link_locals_from_kernel_facts() -> None:
    names = Names(inventory())
    facts = NodeFacts(
        node="srv-a1",
        time=0.0,
        addresses=[Address("eth0", "fe80::abcd", 64, "link"), Address("lo", "fd42:1::a1", 128)],
    )
    names.learn_facts("srv-a1", facts)
    assert names.neighbour("edge-a", "fe80::abcd", "eth0") == "srv-a1"


def test_annotated_status_keeps_the_local_shape_and_adds_names() -> None:
    names, models = names_for(healthy())
    plain = models["edge-a"].snapshot()
    annotated = names.annotate_snapshot("edge-a", models["edge-a"].snapshot())
    assert set(plain) == set(annotated)
    by_node = {d["node"]: d for d in annotated["destinations"]}
    srv = by_node["srv-b1"]
    assert srv["selected"]["neighbour"] == "relay-1"
    assert srv["selected"]["origin"] == "srv-b1"
    assert [s["neighbour"] for s in srv["standby"]] == ["relay-2"]
    assert {k: v for k, v in srv["selected"].items() if k not in ("neighbour", "origin")} == next(
        d for d in plain["destinations"] if d["prefix"] == srv["prefix"]
    )["selected"]


def test_annotated_event() -> None:
    names, _ = names_for(healthy())
    event = {
        "type": "failover",
        "node": "edge-a",
        "prefix": "fd42:1::b1/128",
        "from": {"via": "fe80::f1", "interface": "wg-r1", "metric": 288},
        "to": {"via": "fe80::f2", "interface": "wg-r2", "metric": 384},
    }
    out = names.annotate_event("edge-a", event)
    assert out["dest_node"] == "srv-b1"
    assert (out["from"]["neighbour"], out["to"]["neighbour"]) == ("relay-1", "relay-2")


def test_names_field_of_a_recording_is_checked_outside_text() -> None:
    from meshtui.core.names import format_names_field, parse_names_field

    field = format_names_field({"relay-1": "fd42:1::f1", "srv-b1": "fd42:1::b1/128"})
    assert field == "relay-1@fd42:1::f1,srv-b1@fd42:1::b1"
    assert parse_names_field(field) == {"fd42:1::f1": "relay-1", "fd42:1::b1": "srv-b1"}
    hostile = "evil\x1b[2J@fd42:1::1,ok@not-an-address,good@fd42:1::2,@fd42:1::3,x"
    assert parse_names_field(hostile) == {"fd42:1::2": "good"}
    assert format_names_field({"bad name": "fd42:1::1", "n": "None"}) == ""


def test_a_recordings_names_and_the_128_fallback_without_any_name() -> None:
    mesh = healthy()
    models = {"edge-a": mesh.model("edge-a")}  # one node, as a recording of edge-a
    bare = Names.build(None, models)
    # relay-1 is unnamed, but edge-a's refmetric-0 route proves fe80::f1 on wg-r1 is the
    # node owning fd42:1::f1: its /128, never the bare link-local.
    assert bare.label_hop("edge-a", "fe80::f1", "wg-r1") == "fd42:1::f1"
    assert bare.label_hop("edge-a", "fe80::dead", "wg-r1") == "fe80::dead%wg-r1"
    named = Names(None)
    named.add_names({"fd42:1::f1": "relay-1", "fd42:1::b1": "srv-b1"})
    for node, model in models.items():
        named.learn(node, model)
    assert named.label_hop("edge-a", "fe80::f1", "wg-r1") == "relay-1"
    assert named.describe_prefix("fd42:1::b1/128") == "srv-b1"
    # The inventory's names win over a recording's.
    inv = Names(inventory())
    inv.add_name("impostor", "fd42:1::f1")
    assert inv.node_of_prefix("fd42:1::f1") == "relay-1"


def test_own_128_named_after_babelds_host_when_the_node_name_says_nothing() -> None:
    model = healthy().model("edge-a")  # babeld's greeting says `host vm`
    names = Names(None)
    names.learn("babeld", model, label=model.node.host)
    assert names.node_of_prefix("fd42:1::e1") == "vm"
    names = Names(None)
    names.add_name("edge-a", "fd42:1::e1")  # a name already known wins
    names.learn("babeld", model, label=model.node.host)
    assert names.node_of_prefix("fd42:1::e1") == "edge-a"


def test_a_recorder_writes_the_names_a_replay_reads(tmp_path) -> None:
    from meshtui.transport.replay import Recorder, load_recording, recorded_names

    path = tmp_path / "r.rec"
    with path.open("w", encoding="utf-8") as fh:
        rec = Recorder(fh, "/run/babeld.sock", {"relay-1": "fd42:1::f1", "srv-b1": "fd42:1::b1"})
        greeting = [
            "BABEL 1.0",
            "version babeld-1.12.1",
            "host vm",
            "my-id 02:00:00:00:00:00:00:01",
        ]
        for i, line in enumerate([*greeting, "ok", "ok"]):
            rec.raw("n", 100.0 + i / 10, line)
    assert recorded_names(path) == {"fd42:1::f1": "relay-1", "fd42:1::b1": "srv-b1"}
    assert [line for _, line in load_recording(path)[0].lines][:4] == greeting
    plain = tmp_path / "plain.rec"
    with plain.open("w", encoding="utf-8") as fh:
        Recorder(fh, "x").raw("n", 1.0, "BABEL 1.0")
    assert recorded_names(plain) == {} and " names=" not in plain.read_text(encoding="utf-8")
