"""Names for what babeld prints: router-ids, link-local next hops and /128s as node names.

The operator reads "via relay-1 (wg-r1)", not "via fe80::ff:1%wg-r1". A
:class:`Names` starts from the inventory (each node's /128, role, site and
WireGuard tunnel peers) and learns from live data:

* each node's router-id, from its greeting (``my-id``);
* each node's link-local address per interface, from its ``interface`` lines
  (and from kernel facts, when gathered);
* the prefixes each node redistributes (its ``xroute`` lines);
* per observing node, which neighbour a ``via`` is: a route whose
  ``refmetric`` is 0 was announced by its originator itself, so its ``via``
  is the link-local of the node owning its router-id (or, when that node's
  greeting was not seen, the node owning the route's /128).

A next hop is resolved in that order of evidence: what the observer's own
routes prove, the inventory's tunnel peer on that interface, then a unique
link-local address. A neighbour that cannot be named but whose /128 is
known (its own route, ``refmetric 0``) is shown by that /128, never by its
bare link-local; whatever else cannot be named stays as babeld printed it.

Names also come without an inventory: a node's own /128s are named after it
(or after babeld's ``host`` when the caller says so), and a recording
carries the names its recorder knew in its header (``names=NAME@ADDRESS,…``,
see :func:`parse_names_field`). Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from meshtui.core.events import PathRef
from meshtui.core.facts import NodeFacts, canonical_prefix
from meshtui.core.inventory import Inventory
from meshtui.core.model import NodeModel, Route

__all__ = ["NAMES_FIELD", "Hop", "Names", "format_names_field", "parse_names_field"]

NAMES_FIELD = "names"
"""The recording header's field holding node names: ``names=relay-1@fd42:1::f1,…``."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
"""A node name as read from outside (a recording): letters, digits, ``.``, ``_`` and ``-``."""


def parse_names_field(value: str) -> dict[str, str]:
    """``relay-1@fd42:1::f1,relay-2@fd42:1::f2`` → {canonical address: name}.

    Outside text: entries whose name is not a plain node name (letters,
    digits, ``.``, ``_``, ``-``) or whose address is not an IPv6 address are
    dropped, so nothing a recording carries reaches the screen unchecked.
    """
    out: dict[str, str] = {}
    for item in value.split(","):
        name, sep, address = item.strip().partition("@")
        if not sep or not _NAME_RE.match(name):
            continue
        try:
            addr = ipaddress.IPv6Address(address.split("/", 1)[0])
        except ValueError:
            continue
        out[str(addr)] = name
    return out


def format_names_field(names: Mapping[str, str]) -> str:
    """{name: address} as a header field value (sorted by name; bad entries left out)."""
    parts: list[str] = []
    for name, address in sorted(names.items()):
        if not _NAME_RE.match(name):
            continue
        try:
            addr = ipaddress.IPv6Address(address.split("/", 1)[0])
        except ValueError:
            continue
        parts.append(f"{name}@{addr}")
    return ",".join(parts)


@lru_cache(maxsize=1 << 14)  # per table cell on every refresh: parse each text once
def _canon_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.split("%", 1)[0]))
    except ValueError:
        return text


@dataclass(frozen=True, slots=True)
class Hop:
    """A next hop as the operator reads it: the neighbour's node name, else its address."""

    node: str | None
    via: str
    interface: str

    def __str__(self) -> str:
        if self.node:
            return f"{self.node} ({self.interface})" if self.interface else self.node
        return f"{self.via}%{self.interface}" if self.interface else self.via


class Names:
    """Maps router-ids, link-local next hops and prefixes to inventory node names."""

    def __init__(self, inventory: Inventory | None = None) -> None:
        self.inventory = inventory
        self._prefix_node: dict[str, str] = {}
        self._router_node: dict[str, str] = {}
        self._node_router: dict[str, str] = {}
        self._ll_nodes: dict[str, set[str]] = {}
        self._node_lls: dict[str, dict[str, str]] = {}
        self._tunnel_peer: dict[tuple[str, str], str] = {}
        self._origin_hops: dict[tuple[str, str, str], tuple[str, str]] = {}
        self._roles: dict[str, str | None] = {}
        self._sites: dict[str, str | None] = {}
        self._order: list[str] = []
        if inventory is not None:
            for node in inventory.nodes.values():
                self._add_node(node.name)
                self._roles[node.name] = node.role
                self._sites[node.name] = node.site
                if node.address is not None:
                    self._prefix_node[canonical_prefix(f"{node.address}/128")] = node.name
                for t in node.tunnels:
                    self._tunnel_peer[(node.name, t.interface)] = t.peer

    @classmethod
    def build(
        cls,
        inventory: Inventory | None,
        models: Mapping[str, NodeModel],
        facts: Mapping[str, NodeFacts] | None = None,
    ) -> Names:
        """Names from the inventory and every node's live model (and facts)."""
        names = cls(inventory)
        for node, model in models.items():
            names.learn(node, model)
        for node, f in (facts or {}).items():
            names.learn_facts(node, f)
        return names

    def add_name(self, name: str, address: str) -> None:
        """Name the node owning ``address`` (its /128) — from a recording, say.

        What the inventory says wins; a later name for the same address replaces an earlier one.
        """
        prefix = canonical_prefix(f"{address.split('/', 1)[0]}/128")
        if self.inventory is not None and prefix in self._prefix_node:
            return
        self._prefix_node[prefix] = name
        self._add_node(name)

    def add_names(self, names: Mapping[str, str]) -> None:
        """Add {address: name} pairs (see :func:`parse_names_field`)."""
        for address, name in names.items():
            self.add_name(name, address)

    def _add_node(self, name: str) -> None:
        if name not in self._order:
            self._order.append(name)

    # ----------------------------------------------------------------- learning

    def learn(self, node: str, model: NodeModel, label: str | None = None) -> None:
        """Learn what ``node``'s model tells: its router-id, link-locals, prefixes, neighbours.

        Its own /128s (its ``xroute`` lines) are named ``label`` (babeld's
        ``host``, when the node's own name says nothing) or else ``node`` —
        unless a name is already known for them.
        """
        self._add_node(node)
        my_id = model.node.my_id
        if my_id:
            old = self._node_router.get(node)
            if old and old != my_id and self._router_node.get(old) == node:
                del self._router_node[old]
            self._router_node[my_id] = node
            self._node_router[node] = my_id
        for iface in model.interfaces.values():
            if iface.ipv6:
                self._add_link_local(node, iface.name, iface.ipv6)
        for xr in model.xroutes.values():
            prefix = canonical_prefix(xr.prefix)
            if prefix.endswith("/128"):
                self._prefix_node.setdefault(prefix, label or node)
        stale = [k for k in self._origin_hops if k[0] == node]
        for key in stale:
            del self._origin_hops[key]
        for route in model.routes.values():
            if route.refmetric == 0:
                key = (node, _canon_address(route.via), route.interface)
                self._origin_hops[key] = (route.router_id, route.prefix)

    def learn_facts(self, node: str, facts: NodeFacts) -> None:
        """Learn ``node``'s link-local addresses from its kernel facts."""
        self._add_node(node)
        for iface, addresses in facts.link_locals().items():
            for address in addresses:
                self._add_link_local(node, iface, address)

    def _add_link_local(self, node: str, iface: str, address: str) -> None:
        address = _canon_address(address)
        previous = self._node_lls.setdefault(node, {}).get(iface)
        if previous == address:
            return
        self._node_lls[node][iface] = address
        self._ll_nodes.setdefault(address, set()).add(node)
        if previous is not None and all(a != previous for a in self._node_lls[node].values()):
            self._ll_nodes.get(previous, set()).discard(node)

    # ----------------------------------------------------------------- queries

    @property
    def nodes(self) -> list[str]:
        """Every node known: the inventory's in its order, then those learnt."""
        return list(self._order)

    def role(self, node: str | None) -> str | None:
        """The node's role (server, edge, relay) from the inventory."""
        return self._roles.get(node) if node else None

    def site(self, node: str | None) -> str | None:
        """The node's site from the inventory."""
        return self._sites.get(node) if node else None

    def is_relay(self, node: str | None) -> bool:
        """Whether the inventory says the node is a relay."""
        return self.role(node) == "relay"

    def in_mesh(self, prefix: str) -> bool:
        """Whether ``prefix`` lies inside the inventory's mesh prefix (True without inventory)."""
        if self.inventory is None or self.inventory.prefix is None:
            return True
        try:
            net = ipaddress.ip_network(prefix, strict=False)
            return isinstance(net, ipaddress.IPv6Network) and net.subnet_of(self.inventory.prefix)
        except (ValueError, TypeError):
            return False

    def router_id(self, node: str) -> str | None:
        """The node's router-id, once its greeting was seen."""
        return self._node_router.get(node)

    def link_local(self, node: str, interface: str) -> str | None:
        """The node's link-local address on ``interface``, if seen."""
        return self._node_lls.get(node, {}).get(interface)

    def node_of_router_id(self, router_id: str) -> str | None:
        """The node whose greeting said ``my-id router_id``."""
        return self._router_node.get(router_id)

    def node_of_prefix(self, prefix: str) -> str | None:
        """The node owning a /128 (``fd42:1::21/128``, or the bare address)."""
        prefix = canonical_prefix(prefix if "/" in prefix else f"{prefix}/128")
        return self._prefix_node.get(prefix)

    def _inventory_address(self, node: str) -> object | None:
        """The node's address in the inventory (None: no inventory, no such node, not given)."""
        if self.inventory is None or node not in self.inventory.nodes:
            return None
        return self.inventory.nodes[node].address

    def prefix_of(self, node: str) -> str | None:
        """The node's /128 (from the inventory, else from its xroutes)."""
        address = self._inventory_address(node)
        if address is not None:
            return f"{address}/128"
        for prefix, owner in self._prefix_node.items():
            if owner == node:
                return prefix
        return None

    def neighbour(self, observer: str | None, via: str, interface: str | None) -> str | None:
        """The node behind next hop ``via`` on ``observer``'s ``interface`` (None: unknown)."""
        if not via:
            return None
        via = _canon_address(via)
        iface = interface or ""
        if observer is not None:
            origin = self._origin_hops.get((observer, via, iface))
            if origin is not None:
                rid, prefix = origin
                node = self._router_node.get(rid) or self.node_of_prefix(prefix)
                if node is not None and node != observer:
                    return node
            peer = self._tunnel_peer.get((observer, iface))
            if peer is not None:
                return peer
        candidates = self._ll_nodes.get(via, set()) - {observer}
        if len(candidates) == 1:
            return next(iter(candidates))
        if len(candidates) > 1 and observer is not None:
            site = self.site(observer)
            local = {c for c in candidates if site is not None and self.site(c) == site}
            if len(local) == 1:
                return next(iter(local))
        if not candidates and not via.lower().startswith("fe80:"):
            owner = self.node_of_prefix(via)
            if owner is not None and owner != observer:
                return owner
        return None

    def neighbour_prefix(self, observer: str | None, via: str, interface: str | None) -> str | None:
        """The /128 (bare address) behind next hop ``via``, when ``observer``'s routes prove it.

        A route with ``refmetric 0`` was announced by its originator itself, so
        its next hop is the node owning the route's /128.
        """
        if observer is None or not via:
            return None
        origin = self._origin_hops.get((observer, _canon_address(via), interface or ""))
        if origin is None:
            return None
        rid, prefix = origin
        node = self._router_node.get(rid)
        address = self._inventory_address(node) if node is not None else None
        if address is not None:
            return str(address)
        return prefix.split("/", 1)[0] if prefix.endswith("/128") else None

    def label_hop(self, observer: str | None, via: str, interface: str | None) -> str:
        """A next hop in a table cell: ``relay-1``; else its /128; else ``fe80::1%wg-r1``.

        Never a bare link-local when the neighbour's /128 is known.
        """
        name = self.neighbour(observer, via, interface)
        if name is not None:
            return name
        return self.neighbour_prefix(observer, via, interface) or (
            f"{via}%{interface}" if interface else via
        )

    def hop(self, observer: str | None, path: PathRef | Route) -> Hop:
        """A route's or path's next hop, named."""
        return Hop(self.neighbour(observer, path.via, path.interface), path.via, path.interface)

    def describe_hop(self, observer: str | None, via: str, interface: str | None) -> str:
        """``relay-1 (wg-r1)``, or ``fe80::1%wg-r1`` when the neighbour is unknown."""
        return str(Hop(self.neighbour(observer, via, interface), via, interface or ""))

    def describe_prefix(self, prefix: str) -> str:
        """The node name for a node's /128, else the prefix as babeld printed it."""
        return self.node_of_prefix(prefix) or prefix

    def describe_router(self, router_id: str) -> str:
        """The node name for a router-id, else the router-id."""
        return self._router_node.get(router_id) or router_id

    # ----------------------------------------------------------------- JSON

    def annotate_snapshot(self, observer: str, snapshot: dict[str, Any]) -> dict[str, Any]:
        """A ``status --json`` object with names added (``neighbour``/``node`` keys only).

        Everything the local shape has stays as it is; paths gain ``neighbour``
        (the next hop's node), destinations ``node`` (the /128's owner),
        neighbours ``node``, and routes both.
        """

        def path(p: dict[str, Any] | None) -> None:
            if isinstance(p, dict):
                p["neighbour"] = self.neighbour(observer, p.get("via", ""), p.get("interface"))
                rid = p.get("router_id")
                if rid:
                    p["origin"] = self.node_of_router_id(rid)

        for d in snapshot.get("destinations", []):
            d["node"] = self.node_of_prefix(d.get("prefix", ""))
            path(d.get("selected"))
            for p in [*d.get("standby", []), *d.get("pending", [])]:
                path(p)
        for n in snapshot.get("neighbours", []):
            n["node"] = self.neighbour(observer, n.get("address", ""), n.get("interface"))
        for r in snapshot.get("routes", []):
            r["node"] = self.node_of_prefix(r.get("prefix", ""))
            path(r)
        return snapshot

    def annotate_event(self, observer: str, event: dict[str, Any]) -> dict[str, Any]:
        """A ``watch --json`` event with names added to paths, the prefix and the neighbour."""
        if "prefix" in event:
            event["dest_node"] = self.node_of_prefix(event["prefix"])
        for key in ("from", "to"):
            p = event.get(key)
            if isinstance(p, dict):
                p["neighbour"] = self.neighbour(observer, p.get("via", ""), p.get("interface"))
        if "neighbour" in event and isinstance(event["neighbour"], str):
            event["neighbour_node"] = self.neighbour(
                observer, event["neighbour"], event.get("interface")
            )
        return event
