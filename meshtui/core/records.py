"""The records of a babeld node's tables: interfaces, neighbours, routes, destinations.

Each record is what one babeld line (or a destination's routes) says, with the
times meshtui saw it; :class:`~meshtui.core.model.NodeModel` keeps them up to
date and :class:`~meshtui.core.tables.NodeTables` answers questions from them.
"""

from __future__ import annotations

import operator
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from meshtui.core import foresight
from meshtui.core.events import PathRef
from meshtui.core.protocol import INFINITY, ParseError

DestKey = tuple[str, str]
"""A destination: (prefix, source prefix)."""

DEFAULT_SRC = ("::/0", "0.0.0.0/0")
GAP_WINDOW = 32
MIN_GAPS = foresight.FIRST_GAPS


class Printed:
    """A record babeld prints a line for (interface, neighbour, xroute, route)."""

    __slots__ = ()
    last_seen: float

    def touch(self, now: float) -> None:
        """babeld repeated this record's line unchanged."""
        self.last_seen = now  # type: ignore[misc]  # a slot of each subclass


@dataclass(slots=True)
class NodeInfo:
    """Who the node is, from babeld's greeting."""

    protocol: str = ""
    version: str = ""
    host: str = ""
    my_id: str = ""

    def to_json(self) -> dict[str, str]:
        """The ``node`` object of ``status --json``."""
        return {"version": self.version, "host": self.host, "my_id": self.my_id}


@dataclass(slots=True)
class Interface(Printed):
    """An interface babeld runs on."""

    name: str
    up: bool
    ipv6: str | None
    ipv4: str | None
    last_change: float = 0.0
    last_seen: float = 0.0
    raw: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "up": self.up, "ipv6": self.ipv6, "ipv4": self.ipv4}


def reach_heard(reach: int) -> int:
    """How many of the last 16 Hellos were heard, from babeld's reach bitmap."""
    return (reach & 0xFFFF).bit_count()


@dataclass(slots=True)
class Neighbour(Printed):
    """A Babel neighbour and its link figures.

    A repeat of its line (:meth:`~Printed.touch`) may or may not be a Hello:
    the model decides (:meth:`~meshtui.core.tables.NodeTables._settle_prints`),
    as babeld also reprints every neighbour each time its neighbour check runs.
    """

    id: str
    address: str
    interface: str
    reach: int
    ureach: int
    rxcost: int
    txcost: int
    cost: int
    rtt: float | None
    rttcost: int | None
    first_seen: float = 0.0
    last_seen: float = 0.0
    last_change: float = 0.0
    lost_at: float | None = None
    degrading_since: float | None = None
    last_heard: float = 0.0
    last_beat: float = 0.0
    raw: str = ""
    gaps: deque[float] = field(default_factory=lambda: deque(maxlen=GAP_WINDOW))
    beats: int = 0
    hello_estimate: float | None = None
    long_gap: float | None = None

    def beat(self, now: float) -> None:
        """A Hello from this neighbour was (or may have been) heard.

        Only the spacing of two Hellos is a gap: the time from the dump that
        introduced the neighbour to its first Hello is not.
        """
        gap = now - self.last_beat
        if gap > 0.05:
            if self.beats:
                self.gaps.append(gap)
                if len(self.gaps) >= MIN_GAPS:
                    ordered = sorted(self.gaps)
                    self.hello_estimate = ordered[len(ordered) // 2]
                    self.long_gap = ordered[2 * len(ordered) // 3]
            self.beats += 1
        self.last_beat = now
        self.last_heard = now
        self.degrading_since = None

    def learned_hello(self) -> float | None:
        """The hello interval as the spacing of this neighbour's Hellos shows it.

        babeld sends Hellos every 0.75 to 1.25 intervals (uniform jitter), so
        the median of recent gaps is the interval; the odd Hello not counted
        (one that coincided with a neighbour check) cannot move it. Two gaps
        (three Hellos) give a first estimate, the longer of the two; the silence
        allowed before a warning is wider until :data:`foresight.SETTLED_GAPS`
        gaps are known (:func:`foresight.silence_allowed`).
        """
        return self.hello_estimate

    @property
    def key(self) -> tuple[str, str]:
        """Stable identity across reconnects: (address, interface)."""
        return (self.address, self.interface)

    @property
    def up(self) -> bool:
        """Whether babeld considers the link usable (finite cost)."""
        return self.cost < INFINITY

    @property
    def heard(self) -> int:
        """Hellos heard of the last 16."""
        return reach_heard(self.reach)

    @property
    def loss_pct(self) -> float:
        """Percentage of the last 16 Hellos that were missed."""
        return 100.0 * (16 - self.heard) / 16

    @property
    def asymmetric(self) -> bool:
        """The neighbour hears us much worse than we hear it (txcost > 2 x rxcost)."""
        return self.up and self.txcost > 2 * self.rxcost

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "address": self.address,
            "interface": self.interface,
            "reach": f"{self.reach:04x}",
            "ureach": f"{self.ureach:04x}",
            "heard": self.heard,
            "loss_pct": round(self.loss_pct, 1),
            "rxcost": self.rxcost,
            "txcost": self.txcost,
            "cost": self.cost,
            "rtt": self.rtt,
            "rttcost": self.rttcost,
            "up": self.up,
        }


@dataclass(slots=True)
class Xroute(Printed):
    """A prefix this node redistributes."""

    id: str
    prefix: str
    src: str
    metric: int
    last_seen: float = 0.0
    raw: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"prefix": self.prefix, "from": self.src, "metric": self.metric}


PathKey = tuple[str, str, int, str]
"""A :class:`~meshtui.core.events.PathRef` as a tuple: (via, interface, metric, router id)."""
path_key = operator.attrgetter("via", "interface", "metric", "router_id")
"""A route's path as a :data:`PathKey` (a frozen PathRef costs more; commit builds thousands)."""

route_identity = operator.attrgetter("prefix", "src", "router_id", "via", "interface")
""":attr:`Route.semantic_key` as a C function (a resync computes 20,000 of them)."""


@dataclass(slots=True)
class Route(Printed):
    """A route learnt from a neighbour."""

    id: str
    prefix: str
    src: str
    installed: bool
    router_id: str
    metric: int
    refmetric: int
    via: str
    interface: str
    first_seen: float = 0.0
    last_seen: float = 0.0
    last_change: float = 0.0
    better_since: float | None = None
    raw: str = ""

    @property
    def dest(self) -> DestKey:
        """The destination this route leads to."""
        return (self.prefix, self.src)

    @property
    def feasible(self) -> bool:
        """Finite metric: the route can carry traffic."""
        return self.metric < INFINITY

    @property
    def path(self) -> PathRef:
        """This route as a path reference for events and views."""
        return PathRef(self.via, self.interface, self.metric, self.router_id)

    @property
    def semantic_key(self) -> tuple[str, str, str, str, str]:
        """Identity across reconnects (babeld's ids are memory addresses)."""
        return route_identity(self)  # type: ignore[no-any-return]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "prefix": self.prefix,
            "from": self.src,
            "installed": self.installed,
            "router_id": self.router_id,
            "metric": self.metric,
            "refmetric": self.refmetric,
            "via": self.via,
            "interface": self.interface,
        }


@dataclass(slots=True)
class Destination:
    """A destination prefix with its selected route and its ranked alternatives.

    Attributes:
        selected: the installed route with a finite metric, or None.
        standby: the other routes with a finite metric, best first.
        pending: the standby routes whose metric is already better than the
            selected one's; babeld will switch once its smoothed metric and
            feasibility allow (or, with no selected route, install one).
        since: when the selection last changed (0 when unknown).
    """

    prefix: str
    src: str
    selected: Route | None
    standby: list[Route]
    pending: list[Route]
    routes: list[Route]
    since: float = 0.0

    @property
    def state(self) -> str:
        """``ok``, ``pending`` (a better or first route not installed yet) or ``unreachable``."""
        if self.selected is not None:
            return "pending" if self.pending else "ok"
        return "pending" if self.standby else "unreachable"

    @property
    def single_point_of_failure(self) -> bool:
        """Reachable through one neighbour only."""
        if self.selected is None:
            return False
        hop = (self.selected.via, self.selected.interface)
        return not any((r.via, r.interface) != hop for r in self.standby)

    def to_json(self) -> dict[str, Any]:
        """The object of ``status --json``'s ``destinations`` list."""
        sel = self.selected

        def ref(route: Route) -> dict[str, Any]:
            out = route.path.to_json()
            if sel is not None:
                out["margin"] = route.metric - sel.metric
            return out

        return {
            "prefix": self.prefix,
            "from": self.src,
            "state": self.state,
            "selected": sel.path.to_json() if sel is not None else None,
            "standby": [ref(r) for r in self.standby],
            "pending": [ref(r) for r in self.pending],
            "single_point_of_failure": self.single_point_of_failure,
        }


@dataclass(slots=True)
class Incident:
    """A destination away from its usual next hop, from first sign to recovery.

    Attributes:
        prefix: the destination.
        home: the (via, interface) it used before.
        first_sign: when the trouble was first seen (degrading, or the switch).
        switched: when babeld moved it away (or declared it unreachable).
    """

    prefix: str
    home: tuple[str, str]
    first_sign: float
    switched: float


@dataclass(slots=True)
class IngestStats:
    """Counts of what the model has read."""

    lines: int = 0
    noops: int = 0
    errors: int = 0
    last_error: ParseError | None = None
    error_samples: list[ParseError] = field(default_factory=list)


def standby_order(route: Route) -> tuple[int, str, str, str]:
    """How standby routes rank: lowest metric first, then by next hop and origin."""
    return (route.metric, route.via, route.interface, route.router_id)


def selected_route(bucket: dict[str, Route]) -> Route | None:
    """The route babeld uses: the installed one with a finite metric (the lowest, if several)."""
    selected: Route | None = None
    for route in bucket.values():
        if (
            route.installed
            and route.metric < INFINITY
            and (selected is None or route.metric < selected.metric)
        ):
            selected = route
    return selected
