"""The live model of one babeld node: tables, destinations and semantic change events.

Lines from babeld's control socket go in through :meth:`NodeModel.feed` (raw
text) or :meth:`NodeModel.apply` (parsed); :meth:`NodeModel.commit` turns what
changed since the last commit into :class:`~meshtui.core.events.Event` objects.
Destination-level events (failover, unreachable, recovered, metric change) are
decided at commit time, so that babeld's route switch reads as one failover
even when it arrives as several lines over up to a second (old route
retracted, metric 65535; new route installed once feasible); the event's
``gap`` is how long the destination had no route. A destination that loses
its route is unreachable at once when babeld's tables hold no other finite
route to it; with one waiting to be installed, only after ``grace`` seconds
without a replacement (stamped then, in order with the other events).

Time is the stream's: the receive time live, the recorded time in a replay.
What the clock alone decides (a neighbour's silence, the end of a grace) is
decided at the moment it comes due and stamped with it, by whichever comes
first, the next line or a tick (:meth:`NodeModel.tick`), so a replay gives the
same events at any speed.

A resync (after a reconnect) builds a fresh model from babeld's dump and
:meth:`NodeModel.adopt` s it, emitting the differences as events.
"""

from __future__ import annotations

import math
import operator
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from meshtui.core import foresight
from meshtui.core.events import Event, EventType, PathRef
from meshtui.core.protocol import (
    INFINITY,
    HeaderLine,
    InterfaceLine,
    Kind,
    NeighbourLine,
    ParsedLine,
    ParseError,
    ReplyLine,
    RouteLine,
    XrouteLine,
    dump_route,
    parse_line,
)

DestKey = tuple[str, str]
"""A destination: (prefix, source prefix)."""

DEFAULT_SRC = ("::/0", "0.0.0.0/0")
DEFAULT_GRACE = 3.0
GAP_WINDOW = 32
MIN_GAPS = foresight.FIRST_GAPS
FAILOVER_WINDOW = 10.0
"""Seconds after a loss in which a route through another neighbour is that loss's failover
(babeld retracts the route, then installs the next once feasible), even when the destination
was declared unreachable in between (no finite route left in babeld's tables meanwhile)."""
BURST_WINDOW = 0.003
"""Neighbour lines closer together than this (seconds) are one printing run."""


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
class Interface:
    """An interface babeld runs on."""

    name: str
    up: bool
    ipv6: str | None
    ipv4: str | None
    last_change: float = 0.0
    last_seen: float = 0.0
    raw: str = ""

    def touch(self, now: float) -> None:
        """babeld repeated this object's line unchanged."""
        self.last_seen = now

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "up": self.up, "ipv6": self.ipv6, "ipv4": self.ipv4}


def reach_heard(reach: int) -> int:
    """How many of the last 16 Hellos were heard, from babeld's reach bitmap."""
    return (reach & 0xFFFF).bit_count()


@dataclass(slots=True)
class Neighbour:
    """A Babel neighbour and its link figures."""

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

    def touch(self, now: float) -> None:
        """babeld repeated this neighbour's line unchanged.

        Whether that was a Hello is for the model to decide
        (:meth:`NodeModel._settle_prints`): babeld also reprints every
        neighbour each time its neighbour-check timer runs.
        """
        self.last_seen = now

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
class Xroute:
    """A prefix this node redistributes."""

    id: str
    prefix: str
    src: str
    metric: int
    last_seen: float = 0.0
    raw: str = ""

    def touch(self, now: float) -> None:
        """babeld repeated this object's line unchanged."""
        self.last_seen = now

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"prefix": self.prefix, "from": self.src, "metric": self.metric}


PathKey = tuple[str, str, int, str]
"""A :class:`~meshtui.core.events.PathRef` as a tuple: (via, interface, metric, router id)."""
_path_key = operator.attrgetter("via", "interface", "metric", "router_id")
"""A route's path as a :data:`PathKey` (a frozen PathRef costs more; commit builds thousands)."""

_semantic_key = operator.attrgetter("prefix", "src", "router_id", "via", "interface")
""":attr:`Route.semantic_key` as a C function (a resync computes 20,000 of them)."""


@dataclass(slots=True)
class Route:
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

    def touch(self, now: float) -> None:
        """babeld repeated this object's line unchanged."""
        self.last_seen = now

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
        return _semantic_key(self)  # type: ignore[no-any-return]

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


_TRACKED = (Interface, Neighbour, Xroute, Route)

_DUE_NOTHING, _DUE_PRINTS, _DUE_SILENCE, _DUE_GRACE = range(4)


def _standby_order(route: Route) -> tuple[int, str, str, str]:
    return (route.metric, route.via, route.interface, route.router_id)


def _selected(bucket: dict[str, Route]) -> Route | None:
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


def _by_line(item: tuple[int, Event]) -> int:
    return item[0]


class NodeModel:
    """The live state of one babeld node, fed line by line."""

    def __init__(self, *, grace: float = DEFAULT_GRACE, announce: bool = True) -> None:
        """Create an empty model.

        Args:
            grace: seconds a destination may stay without a selected route
                before it is declared unreachable. babeld retracts a lost route
                at once but installs the standby only once it is feasible (after
                a seqno request round trip: 0.5-1 s in the lab), so a failover
                is a loss followed by a new route within this window.
            announce: emit per-object events (route and neighbour additions,
                removals); a model that is only loading a dump sets this False.
        """
        self.grace = grace
        self.announce = announce
        self.node = NodeInfo()
        self.interfaces: dict[str, Interface] = {}
        self.neighbours: dict[str, Neighbour] = {}
        self.xroutes: dict[str, Xroute] = {}
        self.routes: dict[str, Route] = {}
        self.lost_neighbours: dict[tuple[str, str], Neighbour] = {}
        self.hello_intervals: dict[str, float] = {}
        self.half_life = foresight.DEFAULT_HALF_LIFE
        self.incidents: dict[DestKey, Incident] = {}
        self.last_time = 0.0
        self.stats = IngestStats()
        self._by_dest: dict[DestKey, dict[str, Route]] = {}
        self._current: dict[str, Any] = {}
        self._dirty: dict[DestKey, int] = {}  # destination -> the last line that changed it
        self._committed: dict[DestKey, PathKey | None] = {}  # the selected route's path
        self._since: dict[DestKey, float] = {}
        self._loss_pending: dict[DestKey, float] = {}
        self._lost_path: dict[DestKey, tuple[PathRef, float]] = {}  # when unreachable: was, since
        self._events: list[tuple[int, Event]] = []  # (line number, event)
        self._horizon = 0.0  # nothing comes due before this time
        self._prints: list[tuple[Neighbour, float, bool]] = []
        self._prints_start = 0.0

    # ----------------------------------------------------------------- ingest

    def feed(self, line: str, now: float) -> ParsedLine | ParseError | None:
        """Parse and apply one raw line (without its newline).

        A ``change`` line identical to the object's current line (babeld
        repeats them on every Hello) costs one dictionary lookup: it only
        refreshes the object's ``last_seen``.

        Returns:
            What the line parsed to; None for a line applied without a parsed
            object (a repeat, or a known route's metric or ``installed`` change).
        """
        stats = self.stats
        stats.lines += 1
        if now > self._horizon:
            self._advance(now)
        self.last_time = now
        obj = self._current.get(line)
        if obj is not None:
            obj.touch(now)
            stats.noops += 1
            if type(obj) is Neighbour:
                self._printed(obj, now, obj.reach == 0xFFFF)
            return None
        if line.startswith("change route "):
            route = self._known_route_change(line, now)
            if route is not None:
                self._remember_line(route, line)
                return None
        parsed = parse_line(line)
        if isinstance(parsed, ParseError):
            self._record_error(parsed)
            return parsed
        obj = self.apply(parsed, now)
        if obj is not None and type(obj) in _TRACKED:
            self._remember_line(obj, line)
        return parsed

    def load(self, lines: list[str], start: int, now: float) -> tuple[int, ReplyLine | None]:
        """Feed ``lines[start:]`` up to and including the first reply (``ok``, ``no``, ``bad``).

        The dump path of a (re)connection: the same model as :meth:`feed` line
        by line, but a new route in babeld's own layout is built straight from
        its words (one split, no parsed-line object, no per-line dispatch).

        Returns:
            The index after the reply and the reply; ``(len(lines), None)``
            when the lines ran out before one.
        """
        stats = self.stats
        routes = self.routes
        by_dest = self._by_dest
        dirty = self._dirty
        current = self._current
        announce = self.announce
        feed = self.feed
        read_route = dump_route
        new = object.__new__
        seq = stats.lines  # the line count, written back before anything else reads it
        fresh = True  # the first route line since a line through feed (which may move the clock)
        for i in range(start, len(lines)):
            line = lines[i]
            values = read_route(line)
            if values is not None and values[0] not in routes:
                seq += 1
                if fresh:
                    fresh = False
                    stats.lines = seq
                    if now > self._horizon:
                        self._advance(now)
                    self.last_time = now
                key = "change" + line[3:]  # as _remember_line keys it
                route = new(Route)  # Route(...) without the call: a dump builds 10,000s
                rid, dest, route.installed, route.router_id, route.metric, route.refmetric, hop = (
                    values
                )
                route.id = rid
                route.prefix, route.src = dest
                route.via, route.interface = hop
                route.first_seen = route.last_seen = route.last_change = now
                route.better_since = None
                route.raw = key
                routes[rid] = route
                current[key] = route
                bucket = by_dest.get(dest)
                if bucket is None:
                    by_dest[dest] = {rid: route}
                else:
                    bucket[rid] = route
                dirty[dest] = seq
                if announce:
                    stats.lines = seq
                    self._route_added(route, now)
                continue
            stats.lines = seq
            parsed = feed(line, now)
            seq = stats.lines
            fresh = True
            if isinstance(parsed, ReplyLine):
                return i + 1, parsed
        stats.lines = seq
        return len(lines), None

    def _remember_line(self, obj: Any, line: str) -> None:
        """Remember an object's current line, as babeld would print a repeat of it."""
        current = self._current
        if obj.raw:
            current.pop(obj.raw, None)
        key = line if line.startswith("change ") else "change" + line[line.find(" ") :]
        obj.raw = key
        current[key] = obj

    def _known_route_change(self, line: str, now: float) -> Route | None:
        """Apply a ``change route`` line of a known route whose identity is unchanged.

        Prefix, source, router-id, via and interface are compared with the
        strings already validated for this route, so only the keywords, the
        metrics and ``installed`` need checking. Anything else (a new route,
        a moved one, a malformed line) returns None for the full parser.
        """
        tokens = line.split()
        if len(tokens) != 19:
            return None
        route = self.routes.get(tokens[2])
        if (
            route is None
            or tokens[4] != route.prefix
            or tokens[6] != route.src
            or tokens[10] != route.router_id
            or tokens[16] != route.via
            or tokens[18] != route.interface
            or tokens[3] != "prefix"
            or tokens[5] != "from"
            or tokens[7] != "installed"
            or tokens[9] != "id"
            or tokens[11] != "metric"
            or tokens[13] != "refmetric"
            or tokens[15] != "via"
            or tokens[17] != "if"
        ):
            return None
        installed_word, metric_text, refmetric_text = tokens[8], tokens[12], tokens[14]
        if installed_word == "yes":
            installed = True
        elif installed_word == "no":
            installed = False
        else:
            return None
        if not (
            metric_text.isascii()
            and metric_text.isdigit()
            and refmetric_text.isascii()
            and refmetric_text.isdigit()
        ):
            return None
        metric, refmetric = int(metric_text), int(refmetric_text)
        if metric > INFINITY or refmetric > INFINITY:
            return None
        route.last_seen = now
        if installed != route.installed or metric != route.metric or refmetric != route.refmetric:
            route.installed = installed
            route.metric = metric
            route.refmetric = refmetric
            route.last_change = now
            self._dirty[route.dest] = self.stats.lines
        return route

    def _record_error(self, error: ParseError) -> None:
        self.stats.errors += 1
        self.stats.last_error = error
        if len(self.stats.error_samples) < 20:
            self.stats.error_samples.append(error)

    def apply(self, parsed: ParsedLine, now: float) -> Any:
        """Apply one parsed line; returns the object it touched (None for others)."""
        if isinstance(parsed, RouteLine):
            return self._apply_route(parsed, now)
        if isinstance(parsed, NeighbourLine):
            return self._apply_neighbour(parsed, now)
        if isinstance(parsed, XrouteLine):
            return self._apply_xroute(parsed, now)
        if isinstance(parsed, InterfaceLine):
            return self._apply_interface(parsed, now)
        if isinstance(parsed, HeaderLine):
            if parsed.field == "BABEL":
                self.node.protocol = parsed.value
            elif parsed.field == "version":
                self.node.version = parsed.value
            elif parsed.field == "host":
                self.node.host = parsed.value
            elif parsed.field == "my-id":
                self.node.my_id = parsed.value
        elif isinstance(parsed, ReplyLine):
            pass
        return None

    def _apply_route(self, line: RouteLine, now: float) -> Route | None:
        routes = self.routes
        if line.kind is Kind.FLUSH:
            route = routes.pop(line.id, None)
            if route is None:
                return None
            self._current.pop(route.raw, None)
            self._unindex(route)
            if self.announce:
                self._emit(
                    Event(
                        EventType.ROUTE_REMOVED,
                        now,
                        prefix=route.prefix,
                        src=route.src,
                        from_=route.path,
                    )
                )
            return None
        route = routes.get(line.id)
        if route is None:
            route = Route(
                line.id,
                line.prefix,
                line.src,
                line.installed,
                line.router_id,
                line.metric,
                line.refmetric,
                line.via,
                line.interface,
                first_seen=now,
                last_seen=now,
                last_change=now,
            )
            routes[line.id] = route
            self._by_dest.setdefault(route.dest, {})[line.id] = route
            self._dirty[route.dest] = self.stats.lines
            if self.announce:
                self._route_added(route, now)
            return route
        route.last_seen = now
        if route.prefix != line.prefix or route.src != line.src:
            # babeld reused a freed address without a flush we saw: re-index.
            self._unindex(route)
            route.prefix, route.src = line.prefix, line.src
            self._by_dest.setdefault(route.dest, {})[line.id] = route
        elif (
            route.installed == line.installed
            and route.metric == line.metric
            and route.refmetric == line.refmetric
            and route.router_id == line.router_id
            and route.via == line.via
            and route.interface == line.interface
        ):
            return route
        route.installed = line.installed
        route.metric = line.metric
        route.refmetric = line.refmetric
        route.router_id = line.router_id
        route.via = line.via
        route.interface = line.interface
        route.last_change = now
        self._dirty[route.dest] = self.stats.lines
        return route

    def _route_added(self, route: Route, now: float) -> None:
        self._emit(
            Event(EventType.ROUTE_ADDED, now, prefix=route.prefix, src=route.src, to=route.path)
        )

    def _unindex(self, route: Route) -> None:
        dest = route.dest
        bucket = self._by_dest.get(dest)
        if bucket is not None:
            bucket.pop(route.id, None)
            if not bucket:
                del self._by_dest[dest]
        self._dirty[dest] = self.stats.lines

    def _apply_neighbour(self, line: NeighbourLine, now: float) -> Neighbour | None:
        neighbours = self.neighbours
        if line.kind is Kind.FLUSH:
            neigh = neighbours.pop(line.id, None)
            if neigh is None:
                return None
            self._current.pop(neigh.raw, None)
            was_up = neigh.up
            if neigh.lost_at is None:
                neigh.lost_at = now
            self.lost_neighbours[neigh.key] = neigh
            if self.announce and was_up:
                self._emit(self._neighbour_event(EventType.NEIGHBOUR_DOWN, neigh, now))
            return None
        neigh = neighbours.get(line.id)
        if neigh is None:
            neigh = Neighbour(
                line.id,
                line.address,
                line.interface,
                line.reach,
                line.ureach,
                line.rxcost,
                line.txcost,
                line.cost,
                line.rtt,
                line.rttcost,
                first_seen=now,
                last_seen=now,
                last_change=now,
                lost_at=None if line.cost < INFINITY else now,
                last_heard=now if line.reach & 0x8000 else 0.0,
                last_beat=now,
            )
            neighbours[line.id] = neigh
            self._printed(neigh, now, False)
            self._horizon = min(self._horizon, now)
            self.lost_neighbours.pop(neigh.key, None)
            if self.announce and neigh.up:
                self._emit(self._neighbour_event(EventType.NEIGHBOUR_UP, neigh, now))
            return neigh
        was_up = neigh.up
        was_heard_last = bool(neigh.reach & 0x8000)
        reach_changed = line.reach != neigh.reach
        neigh.last_change = now
        neigh.last_seen = now
        neigh.address = line.address
        neigh.interface = line.interface
        neigh.reach = line.reach
        neigh.ureach = line.ureach
        neigh.rxcost = line.rxcost
        neigh.txcost = line.txcost
        neigh.cost = line.cost
        neigh.rtt = line.rtt
        neigh.rttcost = line.rttcost
        if line.reach & 0x8000:
            if reach_changed:
                neigh.beat(now)  # a 1 shifted into reach: certainly a Hello
                self._printed(neigh, now, False)
            else:
                self._printed(neigh, now, line.reach == 0xFFFF)
        else:
            self._printed(neigh, now, False)
            if neigh.up and was_heard_last and neigh.degrading_since is None:
                neigh.last_heard = neigh.last_beat
                self._degrading(
                    neigh, now, f"missed a Hello (reach {neigh.reach:04x}, heard {neigh.heard}/16)"
                )
        if was_up and not neigh.up:
            neigh.lost_at = now
            if self.announce:
                self._emit(self._neighbour_event(EventType.NEIGHBOUR_DOWN, neigh, now))
        elif neigh.up and not was_up:
            neigh.lost_at = None
            if self.announce:
                self._emit(self._neighbour_event(EventType.NEIGHBOUR_UP, neigh, now))
        self._horizon = min(self._horizon, now)
        return neigh

    def _neighbour_event(
        self, etype: EventType, neigh: Neighbour, now: float, message: str = ""
    ) -> Event:
        return Event(
            etype,
            now,
            neighbour=neigh.address,
            interface=neigh.interface,
            message=message,
            extra={"reach": f"{neigh.reach:04x}", "cost": neigh.cost},
        )

    def _apply_xroute(self, line: XrouteLine, now: float) -> Xroute | None:
        if line.kind is Kind.FLUSH:
            old = self.xroutes.pop(line.id, None)
            if old is not None:
                self._current.pop(old.raw, None)
            return None
        xr = self.xroutes.get(line.id)
        if xr is None:
            xr = Xroute(line.id, line.prefix, line.src, line.metric, last_seen=now)
            self.xroutes[line.id] = xr
        else:
            xr.prefix, xr.src, xr.metric, xr.last_seen = line.prefix, line.src, line.metric, now
        return xr

    def _apply_interface(self, line: InterfaceLine, now: float) -> Interface | None:
        if line.kind is Kind.FLUSH:
            old = self.interfaces.pop(line.name, None)
            if old is not None:
                self._current.pop(old.raw, None)
            if old is not None and old.up and self.announce:
                self._emit(Event(EventType.INTERFACE_DOWN, now, interface=line.name))
            return None
        iface = self.interfaces.get(line.name)
        was_up = iface.up if iface is not None else None
        if iface is None:
            iface = Interface(line.name, line.up, line.ipv6, line.ipv4, now, now)
            self.interfaces[line.name] = iface
        else:
            iface.up, iface.ipv6, iface.ipv4 = line.up, line.ipv6, line.ipv4
            iface.last_seen = now
        if was_up is not None and was_up != line.up:
            iface.last_change = now
            if self.announce:
                etype = EventType.INTERFACE_UP if line.up else EventType.INTERFACE_DOWN
                self._emit(Event(etype, now, interface=line.name))
        return iface

    # ----------------------------------------------------------------- foresight

    def _printed(self, neigh: Neighbour, now: float, candidate: bool) -> None:
        """Note that babeld printed ``neigh``; ``candidate``: the print may be a Hello.

        babeld prints a neighbour when it hears a Hello (or IHU) from it, and
        also every neighbour, one after the other, each time its neighbour
        check runs (about once a hello interval, Hellos or not). An unchanged
        ``ffff`` line is therefore a heartbeat only when it is not part of such
        a run: prints are gathered for ``BURST_WINDOW`` and judged together.
        """
        if self._prints and now - self._prints_start > BURST_WINDOW:
            self._settle_prints(now)
        if not self._prints:
            self._prints_start = now
            self._horizon = min(self._horizon, now)
        self._prints.append((neigh, now, candidate))

    def _settle_prints(self, now: float, force: bool = False) -> None:
        """Judge the gathered run of neighbour prints (see :meth:`_printed`).

        A run that printed every known neighbour (two or more) is babeld's
        neighbour check: its unchanged lines are no heartbeat, except for a
        neighbour printed more than once (a Hello that arrived in the same
        instant). Any other run is Hellos.
        """
        run = self._prints
        if not run or (not force and now - self._prints_start <= BURST_WINDOW):
            return
        self._prints = []
        neighbours = self.neighbours
        counts: dict[int, int] = {}
        for neigh, _, _ in run:
            counts[id(neigh)] = counts.get(id(neigh), 0) + 1
        check = len(neighbours) >= 2 and all(id(n) in counts for n in neighbours.values())
        for neigh, t, candidate in run:
            if candidate and (not check or counts[id(neigh)] > 1):
                if neighbours.get(neigh.id) is neigh:
                    neigh.beat(t)
                    self._horizon = min(self._horizon, t)

    def hello_for(self, neigh: Neighbour) -> float | None:
        """The hello interval of a neighbour's link: configured, else learned from the stream."""
        configured = self.hello_intervals.get(neigh.interface)
        return configured if configured is not None else neigh.learned_hello()

    def shortest_hello(self) -> float | None:
        """The node's shortest hello interval: it paces babeld's neighbour checks."""
        known = [h for n in self.neighbours.values() if (h := self.hello_for(n)) is not None]
        return min(known, default=None)

    def detection_for(self, neigh: Neighbour) -> foresight.Detection | None:
        """When babeld will notice that ``neigh`` went silent (None: hello unknown)."""
        hello = self.hello_for(neigh)
        if hello is None:
            return None
        return foresight.detection_time(hello, self.shortest_hello())

    def neighbour_at(self, via: str, interface: str) -> Neighbour | None:
        """The neighbour (live or recently lost) behind a route's next hop."""
        for neigh in self.neighbours.values():
            if neigh.address == via and neigh.interface == interface:
                return neigh
        return self.lost_neighbours.get((via, interface))

    def _degrading(self, neigh: Neighbour, now: float, why: str) -> None:
        """Mark a neighbour degrading and say what will move, where to, and when."""
        neigh.degrading_since = now
        if not self.announce:
            return
        hop = (neigh.address, neigh.interface)
        affected = []
        for dest in self._by_dest:
            selected, standby = self._rank(dest)
            if selected is None or (selected.via, selected.interface) != hop:
                continue
            alt = next((r for r in standby if (r.via, r.interface) != hop), None)
            affected.append(
                {"prefix": dest[0], "to": alt.path.to_json() if alt is not None else None}
            )
        extra: dict[str, Any] = {"affected": sorted(affected, key=lambda a: a["prefix"])}
        det = self.detection_for(neigh)
        if det is not None and neigh.last_heard:
            expected = neigh.last_heard + det.expected
            extra["hello"] = round(det.hello, 3)
            extra["expected_switch"] = round(expected, 3)
            extra["expected_in"] = round(max(0.0, expected - now), 3)
        event = self._neighbour_event(EventType.DEGRADING, neigh, now, why)
        event.extra.update(extra)
        self._emit(event)

    def _emit(self, event: Event) -> None:
        """Queue an event, numbered by the line that caused it (for the order of a batch)."""
        self._events.append((self.stats.lines, event))

    def _advance(self, now: float) -> None:
        """Decide what time alone decides, up to ``now``, in the order it came due.

        The end of a run of neighbour prints, a neighbour's silence passing
        what its hello interval allows, and the grace of a lost route all come
        due at fixed times of the stream's clock: each is decided at that time
        and its event stamped with it, whether the next line or a tick takes
        the clock past it. Events therefore come before the lines that follow
        them and do not depend on when the clock is read: a replay gives the
        same events at any speed.
        """
        while True:
            due, kind, what = self._next_due()
            if not (due < now or (kind == _DUE_GRACE and due <= now)):
                self._horizon = due
                return
            if kind == _DUE_PRINTS:
                self._settle_prints(due, force=True)
            elif kind == _DUE_SILENCE:
                neigh: Neighbour = what
                hello = self.hello_for(neigh) or 0.0
                self._degrading(
                    neigh,
                    due,
                    f"silent for {foresight.format_seconds(due - neigh.last_beat)} "
                    f"(Hellos expected every {foresight.format_seconds(hello)})",
                )
            else:
                self._expire(what, due)

    def _next_due(self) -> tuple[float, int, Any]:
        """The earliest time something is decided by the clock alone, what and for whom."""
        best: tuple[float, int, Any] = (math.inf, _DUE_NOTHING, None)
        if self._prints:
            best = (self._prints_start + BURST_WINDOW, _DUE_PRINTS, None)
        for neigh in self.neighbours.values():
            if not neigh.up or neigh.degrading_since is not None:
                continue
            configured = self.hello_intervals.get(neigh.interface)
            # a learned interval: the spacing two Hellos in three stay within (prints
            # that are no Hellos, an IHU alone, only ever shorten the spacings seen)
            hello = configured if configured is not None else neigh.long_gap
            if hello is None:
                continue
            gaps = foresight.SETTLED_GAPS if configured is not None else len(neigh.gaps)
            due = neigh.last_beat + foresight.silence_allowed(hello, gaps)
            if due < best[0]:
                best = (due, _DUE_SILENCE, neigh)
        for dest, since in self._loss_pending.items():
            due = since + self.grace
            if due < best[0]:
                best = (due, _DUE_GRACE, dest)
        return best

    def check_silence(self, now: float) -> None:
        """Decide silences (and whatever else came due) up to ``now``; see :meth:`_advance`."""
        self._advance(now)

    def tick(self, now: float) -> list[Event]:
        """Periodic work between lines: what came due by ``now`` (silence, grace periods)."""
        self._advance(now)
        if self._events or self._loss_pending:
            return self.commit(now)
        return []

    def warning_gap(self, neigh: Neighbour) -> str | None:
        """Why meshtui cannot warn before babeld drops ``neigh`` (None: it can).

        The warning needs the neighbour's hello interval: configured, or
        learned from the spacing of its Hellos on the stream.
        """
        if self.hello_for(neigh) is not None:
            return None
        seen = neigh.beats
        need = foresight.FIRST_GAPS + 1
        if seen == 0 and neigh.up:
            return (
                "no warning possible yet: none of its Hellos showed on babeld's socket "
                "(they print only when they change its line)"
            )
        return (
            f"no warning possible yet: {seen} of its Hellos seen since meshtui connected, "
            f"{need} needed to learn the hello interval (or set it in the inventory)"
        )

    def _failover_figures(self, old: PathRef, now: float) -> dict[str, Any]:
        """Post-mortem figures of a failover away from ``old``'s neighbour."""
        neigh = self.neighbour_at(old.via, old.interface)
        if neigh is None:
            return {}
        out: dict[str, Any] = {}
        if neigh.degrading_since is not None and now - neigh.degrading_since < 600:
            out["first_sign"] = round(neigh.degrading_since, 6)
            out["lead_time"] = round(now - neigh.degrading_since, 3)
        if neigh.last_heard and now - neigh.last_heard < 600 and not (neigh.reach & 0x8000):
            out["last_heard"] = round(neigh.last_heard, 6)
            out["detection_time"] = round(now - neigh.last_heard, 3)
        if "lead_time" not in out:
            gap = self.warning_gap(neigh)
            if gap is not None:
                out["no_warning"] = gap
        return out

    # ----------------------------------------------------------------- commit

    def has_pending(self) -> bool:
        """Whether a later :meth:`commit` may still emit events (a loss in its grace period)."""
        return bool(self._loss_pending)

    def commit(self, now: float) -> list[Event]:
        """Decide destination-level events for what changed; return all events since last time.

        The events come in the order of the lines that caused them (a
        destination's event takes the place of the last line that changed
        it), and those decided by the clock alone in the order they came due.

        A destination that loses its selected route is *unreachable* at once
        when babeld's tables hold no other finite route to it; when they hold
        one not installed yet (babeld waits for it to become feasible), the
        destination is *pending* and becomes unreachable only if nothing is
        installed within ``grace`` seconds. Either way its ``since`` is the
        moment the route was lost.
        """
        self._settle_prints(now)
        events = self._events
        self._events = []
        committed = self._committed
        dirty = self._dirty
        rank = self._rank
        mark_better = self._mark_better
        known = []
        by_dest = self._by_dest
        path_key = _path_key
        for dest in dirty:  # a destination seen for the first time: no event, no order
            if dest in committed:
                known.append(dest)
                continue
            bucket = by_dest.get(dest)
            if bucket:
                selected = _selected(bucket)
                mark_better(selected, bucket.values(), now)
                if selected is not None:
                    committed[dest] = path_key(selected)
                    self._since[dest] = now
        known.sort()  # a stable order of events within one line
        for dest in known:
            seq = dirty[dest]
            selected, standby = rank(dest)
            mark_better(selected, standby, now)
            new_key = path_key(selected) if selected is not None else None
            old_key = committed[dest]
            prefix, src = dest
            if new_key is None:
                if old_key is None:
                    continue
                if standby:
                    if dest not in self._loss_pending:
                        self._loss_pending[dest] = now
                        self._since[dest] = now
                        self._horizon = min(self._horizon, now + self.grace)
                else:  # no finite route left in babeld's tables
                    since = self._loss_pending.pop(dest, now)
                    events.append((seq, self._unreachable(dest, old_key, since, now)))
                continue
            lost_at = self._loss_pending.pop(dest, None)
            if old_key == new_key:
                if lost_at is not None:
                    self._since[dest] = now
                continue
            new = PathRef(*new_key)
            old = PathRef(*old_key) if old_key is not None else None
            lost = self._lost_path.pop(dest, None) if old is None else None
            if lost is not None and lost[0].hop != new.hop and now - lost[1] <= FAILOVER_WINDOW:
                old, lost_at = lost  # babeld moved it to another neighbour: a failover
            if old is None:
                extra = self._incident(dest, None, new, now, {})
                event = Event(EventType.RECOVERED, now, prefix=prefix, src=src, to=new, extra=extra)
                events.append((seq, event))
                self._since[dest] = now
            elif old.hop != new.hop:
                extra = {"gap": round(now - lost_at, 3)} if lost_at is not None else {}
                extra.update(self._failover_figures(old, now))
                extra.update(self._incident(dest, old, new, now, extra))
                event = Event(
                    EventType.FAILOVER, now, prefix=prefix, src=src, from_=old, to=new, extra=extra
                )
                events.append((seq, event))
                self._since[dest] = now
            elif old.metric != new.metric or old.router_id != new.router_id:
                if self.announce:
                    event = Event(
                        EventType.METRIC_CHANGED, now, prefix=prefix, src=src, from_=old, to=new
                    )
                    events.append((seq, event))
            committed[dest] = new_key
        dirty.clear()
        if self._loss_pending:
            for dest, since in list(self._loss_pending.items()):
                if now - since >= self.grace:
                    self._expire(dest, since + self.grace)
            events.extend(self._events)
            self._events = []
        events.sort(key=_by_line)
        return [event for _, event in events]

    def _expire(self, dest: DestKey, at: float) -> None:
        """The grace of a lost route ran out at ``at`` with nothing installed: unreachable."""
        since = self._loss_pending.pop(dest)
        old = self._committed.get(dest)
        self._emit(self._unreachable(dest, old, since, at))

    def _unreachable(
        self, dest: DestKey, old_key: PathKey | None, since: float, at: float
    ) -> Event:
        """Declare ``dest`` unreachable at ``at``; it has had no route since ``since``."""
        self._committed[dest] = None
        old = PathRef(*old_key) if old_key is not None else None
        if old is not None:
            self._lost_path[dest] = (old, since)
        if old is not None and dest not in self.incidents:
            self.incidents[dest] = Incident(dest[0], old.hop, since, since)
        self._since[dest] = since
        extra: dict[str, Any] = {}
        if at > since:
            extra["no_route_since"] = round(since, 6)
        return Event(EventType.UNREACHABLE, at, prefix=dest[0], src=dest[1], from_=old, extra=extra)

    def _incident(
        self, dest: DestKey, old: PathRef | None, new: PathRef, now: float, figures: dict[str, Any]
    ) -> dict[str, Any]:
        """Open or close the destination's incident; the figures for the event."""
        incident = self.incidents.get(dest)
        if incident is not None and new.hop == incident.home:
            del self.incidents[dest]
            return {
                "outage": round(now - incident.switched, 3),
                "incident_started": round(incident.first_sign, 6),
            }
        if incident is None and old is not None:
            first = figures.get("first_sign", now)
            self.incidents[dest] = Incident(dest[0], old.hop, first, now)
        return {}

    def _rank(self, dest: DestKey) -> tuple[Route | None, list[Route]]:
        bucket = self._by_dest.get(dest)
        if not bucket:
            return None, []
        selected = _selected(bucket)
        others = [r for r in bucket.values() if r is not selected and r.metric < INFINITY]
        if len(others) > 1:
            others.sort(key=_standby_order)
        return selected, others

    @staticmethod
    def _mark_better(selected: Route | None, routes: Iterable[Route], now: float) -> None:
        """Stamp when each standby among ``routes`` became better than ``selected``."""
        for route in routes:
            if route is selected or route.metric >= INFINITY:
                continue
            if selected is None or route.metric < selected.metric:
                if route.better_since is None:
                    route.better_since = now
            else:
                route.better_since = None
        if selected is not None:
            selected.better_since = None

    # ----------------------------------------------------------------- resync

    def adopt(self, fresh: NodeModel, now: float) -> list[Event]:
        """Replace the tables with those of ``fresh`` (loaded from a new dump).

        The differences are emitted as events, as if the changes had streamed
        in: routes and neighbours matched by their stable identity, then
        destination-level events through :meth:`commit`. The first adoption
        (an empty model) emits no per-object events.
        """
        first = not self.routes and not self.neighbours and not self._committed
        if self.announce and not first:
            self._diff_events(fresh, now)
        self.node = fresh.node
        self.interfaces = fresh.interfaces
        self.neighbours = fresh.neighbours
        self.xroutes = fresh.xroutes
        self.routes = fresh.routes
        self._by_dest = fresh._by_dest
        self._current = fresh._current
        self._prints = []
        for neigh in self.neighbours.values():
            self.lost_neighbours.pop(neigh.key, None)
        self._dirty = dict.fromkeys(self._by_dest, self.stats.lines)
        self._dirty.update(dict.fromkeys(self._committed, self.stats.lines))
        self._horizon = 0.0
        return self.commit(now)

    def _diff_events(self, fresh: NodeModel, now: float) -> None:
        old_routes = {_semantic_key(r): r for r in self.routes.values()}
        new_routes = {_semantic_key(r): r for r in fresh.routes.values()}
        for key in old_routes.keys() - new_routes.keys():
            r = old_routes[key]
            self._emit(
                Event(EventType.ROUTE_REMOVED, now, prefix=r.prefix, src=r.src, from_=r.path)
            )
        for key in new_routes.keys() - old_routes.keys():
            self._route_added(new_routes[key], now)
        old_up = {n.key for n in self.neighbours.values() if n.up}
        new_neigh = {n.key: n for n in fresh.neighbours.values()}
        for hop in old_up - {k for k, n in new_neigh.items() if n.up}:
            n = next(x for x in self.neighbours.values() if x.key == hop)
            self.lost_neighbours[hop] = n
            if n.lost_at is None:
                n.lost_at = now
            self._emit(self._neighbour_event(EventType.NEIGHBOUR_DOWN, n, now))
        for hop, n in new_neigh.items():
            if n.up and hop not in old_up:
                self._emit(self._neighbour_event(EventType.NEIGHBOUR_UP, n, now))

    # ----------------------------------------------------------------- queries

    def destinations(self) -> list[Destination]:
        """Every known destination, sorted; remembered ones without routes are unreachable."""
        out = []
        for dest in sorted(set(self._by_dest) | set(self._committed)):
            out.append(self.destination(*dest))
        return out

    def destination(self, prefix: str, src: str = "::/0") -> Destination:
        """One destination's selected route, ranked standbys and pending better routes."""
        dest = (prefix, src)
        selected, standby = self._rank(dest)
        pending = [
            r
            for r in standby
            if r.better_since is not None or (selected and r.metric < selected.metric)
        ]
        routes = list(self._by_dest.get(dest, {}).values())
        return Destination(
            prefix, src, selected, standby, pending, routes, self._since.get(dest, 0.0)
        )

    def interface_hello(self, name: str) -> tuple[float | None, str]:
        """An interface's hello interval and where it comes from (config, learned, unknown)."""
        configured = self.hello_intervals.get(name)
        if configured is not None:
            return configured, "config"
        learned = [
            h
            for n in self.neighbours.values()
            if n.interface == name and (h := n.learned_hello()) is not None
        ]
        if learned:
            return max(learned), "learned"
        return None, "unknown"

    def explain(self, route: Route, selected: Route | None, now: float | None = None):
        """Why ``route`` (better than ``selected``) is not installed; None if it needs no words."""
        if selected is None or route.better_since is None or route.metric >= selected.metric:
            return None
        now = self.last_time if now is None else now
        return foresight.explain_pending(
            route.metric, selected.metric, max(0.0, now - route.better_since), self.half_life
        )

    def routes_of(self, prefix: str, src: str = "::/0") -> list[Route]:
        """All routes (any metric) to a destination."""
        return list(self._by_dest.get((prefix, src), {}).values())

    def snapshot(self) -> dict[str, Any]:
        """The ``status --json`` object for this node."""
        interfaces = []
        for iface in sorted(self.interfaces.values(), key=lambda i: i.name):
            item = iface.to_json()
            hello, source = self.interface_hello(iface.name)
            item["hello"] = None if hello is None else round(hello, 3)
            item["hello_source"] = source
            if hello is not None:
                det = foresight.detection_time(hello, self.shortest_hello())
                item["detection_time"] = round(det.expected, 3)
                item["detection_window"] = [round(det.cost_infinite, 3), round(det.latest, 3)]
                item["detection_slow"] = det.slow
            interfaces.append(item)
        own = self._own_prefixes()
        destinations = []
        for dest in self.destinations():
            if dest.prefix in own:
                continue
            item = dest.to_json()
            for pending, route in zip(item["pending"], dest.pending, strict=True):
                why = self.explain(route, dest.selected)
                if why is not None:
                    pending["why"] = why.text
                    pending["reason"] = why.reason
            destinations.append(item)
        return {
            "node": self.node.to_json(),
            "interfaces": interfaces,
            "neighbours": [
                n.to_json() for n in sorted(self.neighbours.values(), key=lambda n: n.key)
            ],
            "xroutes": [
                x.to_json() for x in sorted(self.xroutes.values(), key=lambda x: (x.prefix, x.src))
            ],
            "routes": [
                r.to_json()
                for r in sorted(
                    self.routes.values(), key=lambda r: (r.prefix, r.src, r.metric, r.via)
                )
            ],
            "destinations": destinations,
            "stats": {
                "lines": self.stats.lines,
                "noops": self.stats.noops,
                "errors": self.stats.errors,
            },
        }

    def _own_prefixes(self) -> set[str]:
        return {x.prefix for x in self.xroutes.values()}

    def table_state(self) -> dict[str, frozenset[tuple[Any, ...]]]:
        """The tables as comparable sets, without babeld's memory-address ids.

        Two models that saw the same babeld state compare equal, whether one
        was fed a long stream and the other a single fresh dump.
        """
        return {
            "interfaces": frozenset(
                (i.name, i.up, i.ipv6, i.ipv4) for i in self.interfaces.values()
            ),
            "neighbours": frozenset(n.key for n in self.neighbours.values()),
            "xroutes": frozenset((x.prefix, x.src, x.metric) for x in self.xroutes.values()),
            "routes": frozenset(
                (*r.semantic_key, r.installed, r.metric, r.refmetric) for r in self.routes.values()
            ),
        }
