"""What one babeld node's tables answer: destinations, hello intervals, what is due.

:class:`NodeTables` holds the tables of one node (interfaces, neighbours,
xroutes, routes by id and by destination) and answers from them: a
destination's selected and standby routes, an interface's hello interval,
when babeld will notice a silent neighbour, the ``status --json`` snapshot.
It also judges the neighbour prints babeld makes (a Hello, or its neighbour
check) and says what the clock alone brings next. Lines change the tables
through its subclass :class:`~meshtui.core.model.NodeModel`.
"""

from __future__ import annotations

import math
from typing import Any

from meshtui.core import foresight
from meshtui.core.events import Event, EventType, PathRef
from meshtui.core.protocol import INFINITY
from meshtui.core.records import (
    Destination,
    DestKey,
    Incident,
    IngestStats,
    Interface,
    Neighbour,
    NodeInfo,
    PathKey,
    Route,
    Xroute,
    selected_route,
    standby_order,
)

DEFAULT_GRACE = 3.0
BURST_WINDOW = 0.003
"""Neighbour lines closer together than this (seconds) are one printing run."""

DUE_NOTHING, DUE_PRINTS, DUE_SILENCE, DUE_GRACE = range(4)
"""What :meth:`NodeTables.next_due` may find: nothing, a run of prints, a silence, a grace."""


class NodeTables:
    """The tables of one babeld node and what they answer."""

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
        self._taken = 0  # routes NodeModel.load took over from the model this one replaces
        self._missed = 0  # route lines it looked for there in vain before it took any
        self._dirty: dict[DestKey, int] = {}  # destination -> the last line that changed it
        self._committed: dict[DestKey, PathKey | None] = {}  # the selected route's path
        self._since: dict[DestKey, float] = {}
        self._loss_pending: dict[DestKey, float] = {}
        self._lost_path: dict[DestKey, tuple[PathRef, float]] = {}  # when unreachable: was, since
        self._events: list[tuple[int, Event]] = []  # (line number, event)
        self._horizon = 0.0  # nothing comes due before this time
        self._prints: list[tuple[Neighbour, float, bool]] = []
        self._prints_start = 0.0

    def _emit(self, event: Event) -> None:
        """Queue an event, numbered by the line that caused it (for the order of a batch)."""
        self._events.append((self.stats.lines, event))

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

    def _rank(self, dest: DestKey) -> tuple[Route | None, list[Route]]:
        bucket = self._by_dest.get(dest)
        if not bucket:
            return None, []
        selected = selected_route(bucket)
        others = [r for r in bucket.values() if r is not selected and r.metric < INFINITY]
        if len(others) > 1:
            others.sort(key=standby_order)
        return selected, others

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

    def routes_of(self, prefix: str, src: str = "::/0") -> list[Route]:
        """All routes (any metric) to a destination."""
        return list(self._by_dest.get((prefix, src), {}).values())

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

    def next_due(self) -> tuple[float, int, Any]:
        """The earliest time something is decided by the clock alone, what and for whom."""
        best: tuple[float, int, Any] = (math.inf, DUE_NOTHING, None)
        if self._prints:
            best = (self._prints_start + BURST_WINDOW, DUE_PRINTS, None)
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
                best = (due, DUE_SILENCE, neigh)
        for dest, since in self._loss_pending.items():
            due = since + self.grace
            if due < best[0]:
                best = (due, DUE_GRACE, dest)
        return best

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
