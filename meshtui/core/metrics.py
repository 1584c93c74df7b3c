"""Prometheus metrics from the live models: which metrics exist and what each sample says.

The exporter (``meshtui export``) reads every node's live
:class:`~meshtui.core.model.NodeModel` at scrape time and turns it into the
:class:`Family` objects built here; the HTTP or textfile side only writes them
out. Names follow the OpenWrt babeld collector (``babel_*``) where the meaning
is the same, and ``meshtui_*`` for what only meshtui knows (the relay a
destination crosses, failovers, foresight's degrading neighbours, detection
times). Every family carries a ``node`` label.

Every label value is outside text (babeld's lines, the inventory): it goes
through :func:`meshtui.core.sanitize.inert`. HMAC keys are never read here.
Pure: no I/O, no Prometheus client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from meshtui.core import foresight
from meshtui.core.events import Event, EventType
from meshtui.core.meshcheck import CheckKind, Matrix, Severity, build_matrix, check_mesh
from meshtui.core.model import NodeModel
from meshtui.core.names import Names
from meshtui.core.sanitize import inert

__all__ = [
    "METRICS",
    "Counters",
    "Family",
    "Kind",
    "MetricSpec",
    "NodeReading",
    "collect",
    "label_value",
]

LABEL_LIMIT = 256
"""The longest label value kept (characters); longer ones end in ``…[+N chars]``."""


class Kind(Enum):
    """A Prometheus metric type."""

    GAUGE = "gauge"
    COUNTER = "counter"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric: its exposed name, type, help text and labels besides ``node``.

    Counters are named here with their ``_total`` suffix, as they are exposed.
    """

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    opt_in: bool = False


def _spec(
    name: str, kind: Kind, help_: str, labels: tuple[str, ...] = (), opt_in: bool = False
) -> MetricSpec:
    return MetricSpec(name, kind, help_, labels, opt_in)


G, C = Kind.GAUGE, Kind.COUNTER
_NEIGH = ("address", "interface", "neighbour")

METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        _spec("babel_neighbour_rxcost", G, "Cost of receiving from the neighbour.", _NEIGH),
        _spec("babel_neighbour_txcost", G, "Cost the neighbour reports for us (IHU).", _NEIGH),
        _spec("babel_neighbour_cost", G, "Link cost used in metrics (65535: lost).", _NEIGH),
        _spec("babel_neighbour_rtt_seconds", G, "Round-trip time to the neighbour.", _NEIGH),
        _spec(
            "babel_neighbour_hello_reach_ratio",
            G,
            "Hellos heard of the last 16, as a ratio.",
            _NEIGH,
        ),
        _spec(
            "babel_route_metric",
            G,
            "Metric of every route (opt-in: --route-metrics).",
            ("prefix", "from", "via", "interface", "installed"),
            opt_in=True,
        ),
        _spec("babel_routes", G, "Routes known, by installed state.", ("installed",)),
        _spec("babel_xroutes", G, "Prefixes the node redistributes."),
        _spec("meshtui_node_up", G, "1 while the node's babeld stream is live."),
        _spec(
            "meshtui_node_info",
            G,
            "babeld's greeting: version, router-id, host.",
            ("version", "router_id", "host"),
        ),
        _spec(
            "meshtui_selected_route_info",
            G,
            "1 for each destination's selected route; relay: the relay it crosses.",
            ("prefix", "dest", "relay", "interface", "via", "next_hop"),
        ),
        _spec(
            "meshtui_destination_reachable",
            G,
            "1 while the destination has a selected route.",
            ("prefix", "dest"),
        ),
        _spec(
            "meshtui_standby_routes",
            G,
            "Standby next hops other than the selected one (0: single point of failure).",
            ("prefix", "dest"),
        ),
        _spec(
            "meshtui_failovers_total",
            C,
            "Failovers of the destination to another next hop seen by this exporter.",
            ("prefix", "dest"),
        ),
        _spec(
            "meshtui_neighbour_degrading",
            G,
            "1 while foresight says the neighbour is going silent (missed Hellos).",
            ("neighbour", "interface", "address"),
        ),
        _spec(
            "meshtui_detection_seconds",
            G,
            "Expected time for babeld to notice a silent neighbour on the interface.",
            ("interface",),
        ),
        _spec(
            "meshtui_hello_interval_seconds",
            G,
            "Hello interval of the interface (configured, else learned).",
            ("interface", "source"),
        ),
        _spec(
            "meshtui_relay_paths",
            G,
            "Mesh paths (source node to a node's /128) crossing this relay.",
        ),
        _spec(
            "meshtui_relay_idle",
            G,
            "1 when this relay carries no path and is no path's standby either.",
        ),
        _spec("meshtui_resyncs_total", C, "Reconnections followed by a full resync."),
        _spec(
            "meshtui_scrape_errors_total",
            C,
            "Scrapes that could not read this node's model.",
        ),
    )
}


def label_value(text: object) -> str:
    """A label value from outside text: inert, one line, capped."""
    return inert(text, limit=LABEL_LIMIT)


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample: its label values in the family's label order, and its value."""

    labels: tuple[str, ...]
    value: float


@dataclass(slots=True)
class Family:
    """The samples of one metric, ``node`` first among its labels."""

    spec: MetricSpec
    samples: list[Sample] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The exposed name."""
        return self.spec.name

    @property
    def labels(self) -> tuple[str, ...]:
        """Every label name, ``node`` first."""
        return ("node", *self.spec.labels)


@dataclass(slots=True)
class Counters:
    """What one node's event stream has counted since the exporter started."""

    failovers: dict[str, int] = field(default_factory=dict)
    resyncs: int = 0
    scrape_errors: int = 0

    def observe(self, events: Iterable[Event]) -> None:
        """Count the failovers and resyncs among ``events``."""
        for event in events:
            if event.type is EventType.FAILOVER and event.prefix is not None:
                self.failovers[event.prefix] = self.failovers.get(event.prefix, 0) + 1
            elif event.type is EventType.RESYNCED:
                self.resyncs += 1


@dataclass(slots=True)
class NodeReading:
    """One node as a scrape sees it.

    Attributes:
        name: the node's name (the inventory's, or the babeld host).
        model: its live model (None: never synced).
        live: whether its stream is live now.
        counters: what its events counted.
    """

    name: str
    model: NodeModel | None
    live: bool
    counters: Counters


class _Out:
    """Families under construction, keyed by name."""

    def __init__(self, route_metrics: bool) -> None:
        self.families = {
            name: Family(spec) for name, spec in METRICS.items() if route_metrics or not spec.opt_in
        }

    def add(self, name: str, node: str, value: float, *labels: object) -> None:
        family = self.families.get(name)
        if family is not None:
            values = (label_value(node), *(label_value(v) for v in labels))
            family.samples.append(Sample(values, float(value)))


def _standby_hops(model: NodeModel, prefix: str, src: str) -> int:
    """Distinct next hops other than the selected one's (0 iff a single point of failure).

    The same test as :attr:`~meshtui.core.model.Destination.single_point_of_failure`.
    """
    d = model.destination(prefix, src)
    if d.selected is None:
        return len({(r.via, r.interface) for r in d.standby})
    hop = (d.selected.via, d.selected.interface)
    return len({(r.via, r.interface) for r in d.standby} - {hop})


def _node_families(out: _Out, reading: NodeReading, names: Names, matrix: Matrix | None) -> None:
    node = reading.name
    counters = reading.counters
    model = reading.model
    out.add("meshtui_node_up", node, 1 if reading.live else 0)
    out.add("meshtui_resyncs_total", node, counters.resyncs)
    if model is None:
        for prefix, count in sorted(counters.failovers.items()):
            out.add(
                "meshtui_failovers_total", node, count, prefix, names.node_of_prefix(prefix) or ""
            )
        return
    info = model.node
    out.add("meshtui_node_info", node, 1, info.version, info.my_id, info.host)
    for neigh in sorted(model.neighbours.values(), key=lambda n: n.key):
        who = names.neighbour(node, neigh.address, neigh.interface) or ""
        labels = (neigh.address, neigh.interface, who)
        out.add("babel_neighbour_rxcost", node, neigh.rxcost, *labels)
        out.add("babel_neighbour_txcost", node, neigh.txcost, *labels)
        out.add("babel_neighbour_cost", node, neigh.cost, *labels)
        if neigh.rtt is not None:  # babeld prints milliseconds
            out.add("babel_neighbour_rtt_seconds", node, neigh.rtt / 1000.0, *labels)
        out.add("babel_neighbour_hello_reach_ratio", node, neigh.heard / 16, *labels)
        degrading = neigh.degrading_since is not None
        out.add(
            "meshtui_neighbour_degrading",
            node,
            1 if degrading else 0,
            who or neigh.address,
            neigh.interface,
            neigh.address,
        )
    installed = sum(1 for r in model.routes.values() if r.installed)
    out.add("babel_routes", node, installed, "true")
    out.add("babel_routes", node, len(model.routes) - installed, "false")
    out.add("babel_xroutes", node, len(model.xroutes))
    if "babel_route_metric" in out.families:
        for r in sorted(model.routes.values(), key=lambda r: (r.prefix, r.src, r.via)):
            out.add(
                "babel_route_metric",
                node,
                r.metric,
                r.prefix,
                r.src,
                r.via,
                r.interface,
                "true" if r.installed else "false",
            )
    shortest = model.shortest_hello()
    for iface in sorted(model.interfaces.values(), key=lambda i: i.name):
        hello, source = model.interface_hello(iface.name)
        if hello is None:
            continue
        det = foresight.detection_time(hello, shortest)
        out.add("meshtui_detection_seconds", node, det.expected, iface.name)
        out.add("meshtui_hello_interval_seconds", node, hello, iface.name, source)
    own = {x.prefix for x in model.xroutes.values()}
    seen: set[str] = set()
    for d in model.destinations():
        if d.prefix in own:
            continue
        seen.add(d.prefix)
        dest = names.node_of_prefix(d.prefix) or ""
        out.add("meshtui_destination_reachable", node, 1 if d.selected else 0, d.prefix, dest)
        out.add(
            "meshtui_standby_routes", node, _standby_hops(model, d.prefix, d.src), d.prefix, dest
        )
        out.add(
            "meshtui_failovers_total", node, counters.failovers.get(d.prefix, 0), d.prefix, dest
        )
        sel = d.selected
        if sel is not None:
            hop = names.neighbour(node, sel.via, sel.interface)
            cell = matrix.cell(node, d.prefix) if matrix is not None else None
            relay = cell.relay if cell is not None and cell.relay else None
            if relay is None and names.is_relay(hop):
                relay = hop
            out.add(
                "meshtui_selected_route_info",
                node,
                1,
                d.prefix,
                dest,
                relay or "",
                sel.interface,
                sel.via,
                hop or "",
            )
    for prefix, count in sorted(counters.failovers.items()):
        if prefix not in seen and prefix not in own:
            out.add(
                "meshtui_failovers_total", node, count, prefix, names.node_of_prefix(prefix) or ""
            )


def _relay_families(
    out: _Out,
    matrix: Matrix,
    names: Names,
    models: Mapping[str, NodeModel | None],
    errors: Mapping[str, str],
) -> None:
    if not set(names.nodes) <= set(models):
        return  # part of the mesh only (--node): paths from the others are unknown
    relays = [n for n in names.nodes if names.is_relay(n)]
    if not relays:
        return
    carried = dict.fromkeys(relays, 0)
    for cell in matrix.cells.values():
        if cell.relay in carried:
            carried[cell.relay] += 1
    idle = {
        f.relay
        for f in check_mesh(models, names, None, matrix, errors)
        if f.kind is CheckKind.IDLE_RELAY and f.severity is Severity.WARNING
    }
    for relay in relays:
        out.add("meshtui_relay_paths", relay, carried[relay])
        out.add("meshtui_relay_idle", relay, 1 if relay in idle else 0)


def collect(
    readings: Iterable[NodeReading],
    names: Names,
    *,
    route_metrics: bool = False,
    mesh: bool = True,
) -> list[Family]:
    """The metric families for every node read.

    Args:
        readings: each node's model, connection state and counters.
        names: node names (an inventory's, else learnt); every live model is
            learnt into it first.
        route_metrics: add ``babel_route_metric`` (one series per route).
        mesh: trace the mesh matrix (relays crossed, relay paths); needs more
            than one node to say much.

    A node whose model cannot be read (a bug, not bad input) is left out and
    its ``meshtui_scrape_errors_total`` counts it.
    """
    readings = list(readings)
    for r in readings:
        if r.model is not None and r.live:
            names.learn(r.name, r.model)
    models: Mapping[str, NodeModel | None] = {
        r.name: (r.model if r.live else None) for r in readings
    }
    matrix = build_matrix(models, names) if mesh else None
    out = _Out(route_metrics)
    for reading in readings:
        staged = _Out(route_metrics)
        try:
            _node_families(staged, reading, names, matrix)
        except Exception:  # noqa: BLE001 - one node's bug must not fail the scrape
            reading.counters.scrape_errors += 1
            staged = _Out(route_metrics)
            staged.add("meshtui_node_up", reading.name, 1 if reading.live else 0)
        for name, family in staged.families.items():
            out.families[name].samples.extend(family.samples)
        out.add("meshtui_scrape_errors_total", reading.name, reading.counters.scrape_errors)
    if matrix is not None:
        errors = {r.name: "no live data" for r in readings if not r.live}
        try:
            _relay_families(out, matrix, names, models, errors)
        except Exception:  # noqa: BLE001 - the per-node figures are still worth serving
            for reading in readings:
                reading.counters.scrape_errors += 1
    return list(out.families.values())
