"""Observing a lab: dumps of its babelds, routes, neighbours, convergence, status."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from meshtui.core.protocol import INFINITY
from meshtui.lab.daemons import LabDaemons
from meshtui.lab.proc import LabError, LabTimeout, wait_until

if TYPE_CHECKING:
    from meshtui.core.model import Route

T = TypeVar("T")


@dataclass(frozen=True)
class NodeStatus:
    """What `Lab.status()` reports about one node."""

    name: str
    role: str
    site: str | None
    namespace: str
    address: str
    babeld_pid: int | None
    sshd_pid: int | None
    reachable: int | None  # how many other nodes it has an installed route to (None: no dump)
    others: int
    error: str | None = None


class LabObserver(LabDaemons):
    """What the mesh of a lab does, read from its babelds' dumps."""

    def dump(self, node: str, timeout: float = 5.0):  # -> NodeModel
        """One ``dump`` of the node's babeld, as meshtui's live model."""
        from meshtui.transport.local import ConnectError, dump_once

        try:
            return dump_once(self.socket_path(node), timeout=timeout)
        except ConnectError as exc:
            raise LabError(f"{node}: {exc}") from None

    def dump_all(self) -> dict[str, Any]:
        """One dump of every node (None where its babeld does not answer)."""
        out: dict[str, Any] = {}
        for n in self.nodes:
            try:
                out[n] = self.dump(n)
            except LabError:
                out[n] = None
        return out

    def installed(self, node: str, model: Any = None) -> dict[str, Route]:
        """The node's selected routes (finite metric) by destination node name.

        From ``model`` when given (one of :meth:`dump_all`'s), else from a fresh dump.
        """
        by_prefix = {f"{n.address}/128": n.name for n in self.topology.nodes}
        out = {}
        for route in (model or self.dump(node)).routes.values():
            name = by_prefix.get(route.prefix)
            if name and route.installed and route.metric < INFINITY:
                out[name] = route
        return out

    def routes_to(self, node: str, dest: str) -> list:
        """Every route ``node`` knows to ``dest``'s /128 (selected or not)."""
        prefix = f"{self.node(dest).address}/128"
        return [r for r in self.dump(node).routes.values() if r.prefix == prefix]

    def neighbour_name(self, link_local: str) -> str | None:
        """Which lab node owns a link-local address seen as a route's ``via``."""
        return self._ll_to_node.get(link_local)

    def next_hop(self, node: str, dest: str) -> str | None:
        """The neighbour through which ``node`` currently reaches ``dest`` (None: no route)."""
        route = self.installed(node).get(dest)
        return None if route is None else self.neighbour_name(route.via)

    def missing_routes(self, dumps: dict[str, Any] | None = None) -> dict[str, list[str]]:
        """For each node, the other nodes it has no usable route to (empty dict: converged).

        ``dumps``: :meth:`dump_all`'s result to read instead of dumping again.
        """
        dumps = self.dump_all() if dumps is None else dumps
        out = {}
        for n in self.nodes:
            model = dumps.get(n)
            have = set(self.installed(n, model)) if model is not None else set()
            missing = [m for m in self.nodes if m != n and m not in have]
            if missing:
                out[n] = missing
        return out

    def missing_neighbours(self, dumps: dict[str, Any] | None = None) -> dict[str, list[str]]:
        """For each node, the adjacent nodes it does not hear as an up neighbour.

        Adjacent: the far end of each tunnel (unless either end is a failed
        relay) and, on a site LAN, the edge and the servers there now. Routes
        can converge through a detour while a restarted daemon's neighbours
        are still missing, so convergence asks for both. ``dumps`` as for
        :meth:`missing_routes`.
        """
        dumps = self.dump_all() if dumps is None else dumps
        failed = set(self.failed_relays)
        lan: dict[str, list[str]] = {}
        for n in self.topology.nodes:
            site = self.site_of(n.name)
            if n.has_lan and site is not None:
                lan.setdefault(site, []).append(n.name)
        out = {}
        for n in self.topology.nodes:
            expect = {t.peer for t in n.tunnels if n.name not in failed and t.peer not in failed}
            site = self.site_of(n.name)
            if n.has_lan and site is not None:
                expect.update(m for m in lan.get(site, []) if m != n.name)
            if not expect:
                continue
            model = dumps.get(n.name)
            heard = (
                {self.neighbour_name(nb.address) for nb in model.neighbours.values() if nb.up}
                if model is not None
                else set()
            )
            missing = sorted(expect - heard)
            if missing:
                out[n.name] = missing
        return out

    def converged(self) -> bool:
        """Every node has an installed route to every other node's /128."""
        return not self.missing_routes()

    def off_primary(
        self, primary: str = "relay-1", dumps: dict[str, Any] | None = None
    ) -> list[tuple[str, str, str | None]]:
        """(edge, destination, next hop) for inter-site paths that do not go via ``primary``.

        ``dumps`` as for :meth:`missing_routes` (an edge without one reads as off).
        """
        out = []
        for edge in self.topology.role("edge"):
            model = dumps.get(edge.name) if dumps is not None else self.dump(edge.name)
            installed = self.installed(edge.name, model) if model is not None else {}
            for dest in self.topology.nodes:
                if dest.role == "relay" or self.site_of(dest.name) == edge.site:
                    continue
                route = installed.get(dest.name)
                hop = None if route is None else self.neighbour_name(route.via)
                if hop != primary:
                    out.append((edge.name, dest.name, hop))
        return out

    def wait(self, predicate: Callable[[], T], timeout: float, what: str = "a condition",
             interval: float = 0.1) -> T:  # fmt: skip
        """Poll ``predicate`` until it is truthy; raise LabTimeout after ``timeout`` s.

        Lab errors (a socket not there yet, a daemon restarting) count as "not yet".
        """
        return wait_until(predicate, timeout, what, interval)  # type: ignore[return-value]

    def wait_converged(self, timeout: float = 90.0, primary: str | None = "relay-1") -> float:
        """Wait until every node reaches every other and hears all its adjacent
        nodes as neighbours (and, with ``primary``, every inter-site path of the
        edges goes via that relay). Returns the seconds waited."""
        t0 = time.monotonic()
        last: dict[str, object] = {}

        def done() -> bool:
            dumps = self.dump_all()  # one dump per node per look
            last["missing"] = missing = self.missing_routes(dumps)
            if missing:
                return False
            last["neighbours"] = quiet = self.missing_neighbours(dumps)
            if quiet:
                return False
            if primary and primary in self.nodes:
                last["off"] = off = self.off_primary(primary, dumps)
                return not off
            return True

        try:
            self.wait(done, timeout, "the mesh to converge")
        except LabTimeout as exc:
            detail = last.get("missing") or last.get("neighbours") or last.get("off")
            raise LabTimeout(f"{exc}; still: {detail}") from None
        return time.monotonic() - t0

    def status(self) -> list[NodeStatus]:
        """One line of facts per node: daemons and how many nodes it reaches."""
        out = []
        others = len(self.nodes) - 1
        for n in self.topology.nodes:
            reach, error = None, None
            try:
                reach = len([d for d in self.installed(n.name) if d != n.name])
            except LabError as exc:
                error = str(exc)
            out.append(
                NodeStatus(
                    name=n.name,
                    role=n.role,
                    site=self.site_of(n.name),
                    namespace=n.namespace,
                    address=str(n.address),
                    babeld_pid=self.babeld_pid(n.name),
                    sshd_pid=self.sshd_pid(n.name),
                    reachable=reach,
                    others=others,
                    error=error,
                )
            )
        return out
