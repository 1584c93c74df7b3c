"""A synthetic mesh of any size, as babeld would print it: models for the Mesh view's tests.

The lab's shape (relays, and per site an edge with WireGuard tunnels to every
relay and servers on its LAN; relay ``k``'s tunnels cost ``96 k``, so relay-1
is the primary), with every node's routes computed by a distance vector
(shortest paths; a route through every neighbour that does not route back
through the node, the cheapest installed) and printed as babeld's lines, then
fed to real :class:`~meshtui.core.model.NodeModel` objects. Only the UI tests
use it: the lab tests talk to real babeld daemons.
"""

from __future__ import annotations

import heapq
import itertools
import string
from dataclasses import dataclass, field

from meshtui.core.inventory import Inventory, parse_inventory
from meshtui.core.model import NodeModel
from meshtui.core.names import Names

PREFIX = "fd42:2::/64"
LAN = "eth0"


@dataclass
class SynthNode:
    """One node: role, site, /128, router-id, link-local, interfaces {name: peer or None}."""

    name: str
    role: str
    site: str | None
    address: str
    my_id: str
    ll: str
    tunnels: dict[str, str] = field(default_factory=dict)  # interface -> peer


@dataclass
class SynthMesh:
    """Nodes, links (cost per ordered pair and the interface used) and the routes between."""

    nodes: dict[str, SynthNode]
    links: dict[tuple[str, str], tuple[str, int]]  # (a, b) -> (a's interface, cost)
    down: set[str] = field(default_factory=set)  # failed relays: no link through them

    def neighbours(self, node: str) -> list[str]:
        return [b for (a, b) in self.links if a == node and self._up(a, b)]

    def _up(self, a: str, b: str) -> bool:
        return a not in self.down and b not in self.down

    def distances(self, dest: str) -> dict[str, tuple[int, str | None]]:
        """Every node's (metric, next hop) towards ``dest`` (Dijkstra from the destination)."""
        best: dict[str, tuple[int, str | None]] = {dest: (0, None)}
        heap = [(0, dest)]
        while heap:
            dist, node = heapq.heappop(heap)
            if dist > best[node][0]:
                continue
            for (a, b), (_, cost) in self.links.items():
                if b != node or not self._up(a, b):
                    continue
                new = dist + cost
                if a not in best or new < best[a][0] or (new == best[a][0] and node < best[a][1]):  # type: ignore[operator]
                    best[a] = (new, node)
                    heapq.heappush(heap, (new, a))
        return best

    def inventory(self) -> Inventory:
        nodes: dict = {}
        for n in self.nodes.values():
            entry: dict = {"role": n.role, "address": n.address.split("/")[0]}
            if n.site:
                entry["site"] = n.site
            if n.role != "relay":
                entry["lan"] = LAN
            if n.tunnels:
                entry["tunnels"] = []
                for iface, peer in n.tunnels.items():
                    t: dict = {"interface": iface, "peer": peer}
                    cost = self.links[(n.name, peer)][1]
                    if cost != 96:
                        t["rxcost"] = cost
                    entry["tunnels"].append(t)
            nodes[n.name] = entry
        return parse_inventory({"mesh": {"prefix": PREFIX}, "nodes": nodes}, "synth.toml")

    def lines(self, node: str) -> list[str]:
        n = self.nodes[node]
        out = ["BABEL 1.0", "version babeld-1.12.1", f"host {node}", f"my-id {n.my_id}", "ok"]
        ifaces = ([LAN] if n.role != "relay" else []) + list(n.tunnels)
        out += [f"add interface {i} up true ipv6 {n.ll}" for i in ifaces]
        ids = itertools.count(1)
        for m in self.neighbours(node):
            iface, cost = self.links[(node, m)]
            out.append(
                f"add neighbour {next(ids):x} address {self.nodes[m].ll} if {iface} reach ffff "
                f"ureach 0000 rxcost {cost} txcost {cost} cost {cost}"
            )
        out.append(f"add xroute {n.address}-::/0 prefix {n.address} from ::/0 metric 0")
        if node in self.down:
            return out
        for dest in self.nodes.values():
            if dest.name == node:
                continue
            dist = self.distances(dest.name)
            if node not in dist:
                continue
            routes = []
            for m in self.neighbours(node):
                if m not in dist or dist[m][1] == node:
                    continue
                iface, cost = self.links[(node, m)]
                routes.append((cost + dist[m][0], m, iface, dist[m][0]))
            routes.sort()
            for i, (metric, m, iface, ref) in enumerate(routes):
                out.append(
                    f"add route {next(ids):x} prefix {dest.address} from ::/0 "
                    f"installed {'yes' if i == 0 else 'no'} id {dest.my_id} metric {metric} "
                    f"refmetric {ref} via {self.nodes[m].ll} if {iface}"
                )
        return out

    def model(self, node: str, t: float = 100.0) -> NodeModel:
        m = NodeModel()
        for line in self.lines(node):
            m.feed(line, t)
        m.commit(t)
        return m

    def models(self) -> dict[str, NodeModel]:
        return {n: self.model(n) for n in self.nodes}

    def names(self, models: dict[str, NodeModel]) -> Names:
        return Names.build(self.inventory(), models)

    def relay_down(self, relay: str = "relay-1") -> dict[str, NodeModel | None]:
        """``relay`` fails: the others route around it, its own row has no data."""
        self.down.add(relay)
        models: dict[str, NodeModel | None] = dict(self.models())
        models[relay] = None
        return models


def outage(relay: str = "relay-1") -> tuple[dict[str, NodeModel], Names, dict]:
    """The healthy 54-node mesh's models and names, and its models with ``relay`` down."""
    healthy = synth_mesh()
    models = healthy.models()
    return models, healthy.names(models), synth_mesh().relay_down(relay)


def synth_mesh(sites: int = 10, servers: int = 4, relays: int = 4) -> SynthMesh:
    """relays + sites x (edge + servers) nodes: 10 x (1 + 4) + 4 = 54 by default."""
    nodes: dict[str, SynthNode] = {}
    links: dict[tuple[str, str], tuple[str, int]] = {}

    def add(name: str, role: str, site: str | None, host: str, number: int) -> SynthNode:
        n = SynthNode(
            name, role, site, f"fd42:2::{host}/128", f"02:00:00:00:00:00:{number // 256:02x}:"
            f"{number % 256:02x}", f"fe80::{host}"
        )  # fmt: skip
        nodes[name] = n
        return n

    counter = itertools.count(1)
    for k in range(1, relays + 1):
        add(f"relay-{k}", "relay", None, f"ff:{k}", next(counter))
    for s, site in enumerate(string.ascii_lowercase[:sites], start=1):
        edge = add(f"edge-{site}", "edge", site, f"ee:{s:x}", next(counter))
        lan = [edge.name]
        for j in range(1, servers + 1):
            lan.append(add(f"srv-{site}{j}", "server", site, f"{s:x}:{j}", next(counter)).name)
        for a, b in itertools.permutations(lan, 2):
            links[(a, b)] = (LAN, 96)
        for k in range(1, relays + 1):
            relay = nodes[f"relay-{k}"]
            edge.tunnels[f"wg-r{k}"] = relay.name
            relay.tunnels[f"wg-{site}"] = edge.name
            links[(edge.name, relay.name)] = (f"wg-r{k}", 96 * k)
            links[(relay.name, edge.name)] = (f"wg-{site}", 96 * k)
    return SynthMesh(nodes, links)
