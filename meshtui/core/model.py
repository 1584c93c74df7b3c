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

The records (routes, neighbours, destinations...) live in
:mod:`meshtui.core.records`, the queries and the clock's judgements that need
no new line in :mod:`meshtui.core.tables` (:class:`NodeModel`'s base); both are
importable from here.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from itertools import compress, count, islice, repeat
from operator import is_
from types import MappingProxyType
from typing import Any, TypeVar, cast

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
    RouteState,
    RouteValues,
    XrouteLine,
    dump_route,
    dump_routes,
    parse_line,
)
from meshtui.core.records import (
    Destination,
    DestKey,
    Incident,
    Interface,
    Neighbour,
    PathKey,
    Route,
    Xroute,
    path_key,
    route_identity,
    selected_route,
)
from meshtui.core.tables import DEFAULT_GRACE, DUE_GRACE, DUE_PRINTS, DUE_SILENCE, NodeTables

__all__ = [  # and the names others import from here (records', tables')
    "DEFAULT_GRACE",
    "Destination",
    "DestKey",
    "Interface",
    "Neighbour",
    "NodeModel",
    "Route",
]

FAILOVER_WINDOW = 10.0
"""Seconds after a loss in which a route through another neighbour is that loss's failover
(babeld retracts the route, then installs the next once feasible), even when the destination
was declared unreachable in between (no finite route left in babeld's tables meanwhile)."""


_route_values = cast(
    Callable[[RouteLine], RouteValues],
    operator.attrgetter(
        "id", "prefix", "src", "installed", "router_id", "metric", "refmetric", "via", "interface"
    ),
)
"""A route line's values in :class:`Route`'s order."""
_route_state = operator.attrgetter(
    "installed", "router_id", "metric", "refmetric", "via", "interface"
)
"""What a route line may change of a known route, in :class:`Route`'s order after the source."""


RouteIdentity = tuple[str, str, str, str, str]


def _by_identity(routes: Collection[Route]) -> dict[RouteIdentity, Route]:
    """Routes by their identity across reconnects (a resync maps 10,000s: no Python loop)."""
    return dict(zip(map(route_identity, routes), routes, strict=True))


KNOWN_PROBE = 256
"""Route lines of a dump :meth:`NodeModel.load` looks up among the replaced model's before
it stops when none was there (babeld restarted: every id is new)."""


def _has_identity(by_dest: dict[DestKey, dict[str, Route]], identity: RouteIdentity) -> bool:
    """Whether a route of that identity is among ``by_dest``'s routes to its destination."""
    bucket = by_dest.get((identity[0], identity[1]))
    return bucket is not None and any(route_identity(r) == identity for r in bucket.values())


_route_id = operator.attrgetter("id")
_after_verb = operator.itemgetter(slice(3, None))
_change = "change".__add__


def _change_keys(lines: list[str], start: int, n: int) -> list[str]:
    """The keys of ``n`` ``add`` lines from ``start``, as :meth:`NodeModel._remember_line`'s."""
    return list(map(_change, map(_after_verb, islice(lines, start, start + n))))


def _unbuildable(
    rids: Sequence[str], dests: Sequence[DestKey | None], routes: Mapping[str, Route]
) -> list[int]:
    """Where, in a run of :func:`dump_routes`, a line is not a new route to build: a bad
    value, or an id the model has or an earlier line of the run had (feed's to apply)."""
    odd = set(compress(count(), map(is_, dests, repeat(None))))
    # (keys().isdisjoint(rids) walks rids; set(rids).isdisjoint(routes) would walk routes)
    if len(set(rids)) < len(rids) or not routes.keys().isdisjoint(rids):
        seen: set[str] = set()
        for k, rid in enumerate(rids):
            if rid in routes or rid in seen:
                odd.add(k)
            seen.add(rid)
    return sorted(odd)


_Printed = TypeVar("_Printed", Interface, Neighbour, Xroute, Route)

_TRACKED = (Interface, Neighbour, Xroute, Route)


def _by_line(item: tuple[int, Event]) -> int:
    return item[0]


class NodeModel(NodeTables):
    """The live state of one babeld node, fed line by line."""

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

    def load(
        self,
        lines: list[str],
        start: int,
        now: float,
        known: Mapping[str, object] | None = None,
    ) -> tuple[int, ReplyLine | None]:
        """Feed ``lines[start:]`` up to and including the first reply (``ok``, ``no``, ``bad``).

        The dump path of a (re)connection: the same model as :meth:`feed` line
        by line, but new routes in babeld's own layout are built straight from
        their words (no parsed-line object, no per-line dispatch), a run of
        them at once (:func:`~meshtui.core.protocol.dump_routes`).

        Args:
            known: the current lines of the model this one is to replace (a
                reconnect to the same babeld: its route ids are unchanged). A
                route whose line is the same is taken over as it is (seen
                now), not parsed and built again; nothing else of it changes.
                When the first :data:`KNOWN_PROBE` route lines are all new (a
                restarted babeld: new ids), the rest are not looked up.

        Returns:
            The index after the reply and the reply; ``(len(lines), None)``
            when the lines ran out before one.
        """
        stats, announce, feed = self.stats, self.announce, self.feed
        routes, by_dest, dirty, current = self.routes, self._by_dest, self._dirty, self._current
        take = known.get if known and self._missed < KNOWN_PROBE else None
        seq = stats.lines  # the line count, written back before anything else reads it
        fresh = True  # the first route line since a line through feed (which may move the clock)
        i, end = start, len(lines)
        while i < end:
            line = lines[i]
            if not line.startswith("add route "):
                n = 0
            elif take is None and not announce:  # a run of new routes, built at once
                rids, dests, states = dump_routes(lines, i)
                end_run = len(rids)
                done = 0
                for odd in (*_unbuildable(rids, dests, routes), end_run):
                    if odd > done:
                        if fresh:
                            fresh = False
                            self._clock_at(seq + 1, now)
                        keys = _change_keys(lines, i + done, odd - done)
                        to = cast("list[DestKey]", dests[done:odd])  # none None: see _unbuildable
                        built = self._build_routes(rids[done:odd], to, states[done:odd], keys, now)
                        self._index_routes(built, to, keys, seq)
                        seq += odd - done
                    if odd < end_run:  # feed's: a bad value, an id again
                        stats.lines = seq
                        feed(lines[i + odd], now)
                        seq = stats.lines
                        fresh = True
                    done = odd + 1
                n = end_run  # 0: not a line in the layout (feed's, below)
            else:  # one route: taken over, or built
                n = 0
                route = None
                key = _change(_after_verb(line))  # as _change_keys (and _remember_line) key it
                if take is not None:
                    found = take(key)
                    if type(found) is Route and found.id not in routes:
                        route = found
                        route.last_seen = now
                        self._taken += 1
                    elif not self._taken:
                        self._missed += 1
                        if self._missed == KNOWN_PROBE:  # none so far: babeld restarted, new ids
                            take = None
                if route is not None:
                    dest = (route.prefix, route.src)
                else:
                    values = dump_route(line)
                    if values is not None and values[0] not in routes:
                        rid, dest, state = values
                        route = self._build_routes((rid,), (dest,), (state,), (key,), now)[0]
                if route is not None:  # indexed as _index_routes does, without a call
                    n = 1
                    seq += 1
                    if fresh:
                        fresh = False
                        self._clock_at(seq, now)
                    routes[route.id] = route
                    current[route.raw] = route
                    bucket = by_dest.get(dest)
                    if bucket is None:
                        by_dest[dest] = {route.id: route}
                    else:
                        bucket[route.id] = route
                    dirty[dest] = seq
                    if announce:
                        stats.lines = seq
                        self._route_added(route, now)
            if n:
                i += n
                continue
            stats.lines = seq  # anything else: feed's, line by line
            parsed = feed(line, now)
            seq = stats.lines
            fresh = True
            i += 1
            if isinstance(parsed, ReplyLine):
                return i, parsed
        stats.lines = seq
        return end, None

    def _clock_at(self, seq: int, now: float) -> None:
        """What feed does before a line (numbered ``seq``): decide what came due by ``now``."""
        self.stats.lines = seq
        if now > self._horizon:
            self._advance(now)
        self.last_time = now

    @staticmethod
    def _build_routes(
        rids: Sequence[str],
        dests: Sequence[DestKey],
        states: Sequence[RouteState],
        keys: Sequence[str],
        now: float,
    ) -> list[Route]:
        """New routes, first seen ``now``, of the lines keyed ``keys`` (see :meth:`_remember_line`).

        ``Route(...)`` without the call: a dump builds 10,000s.
        """
        new = object.__new__
        built: list[Route] = []
        append = built.append
        for rid, dest, state, key in zip(rids, dests, states, keys, strict=True):
            route = new(Route)
            route.id = rid
            route.prefix, route.src = dest
            (
                route.installed,
                route.router_id,
                route.metric,
                route.refmetric,
                route.via,
                route.interface,
            ) = state
            route.first_seen = route.last_seen = route.last_change = now
            route.better_since = None
            route.raw = key
            append(route)
        return built

    def _index_routes(
        self, built: Sequence[Route], dests: Sequence[DestKey], keys: Sequence[str], seq: int
    ) -> None:
        """Index routes new to this model, of the lines after line ``seq``."""
        by_dest = self._by_dest
        for route, dest in zip(built, dests, strict=True):
            bucket = by_dest.get(dest)
            if bucket is None:
                by_dest[dest] = {route.id: route}
            else:
                bucket[route.id] = route
        self.routes.update(zip(map(_route_id, built), built, strict=True))
        self._current.update(zip(keys, built, strict=True))
        self._dirty.update(zip(dests, range(seq + 1, seq + len(built) + 1), strict=True))

    @property
    def current_lines(self) -> Mapping[str, object]:
        """Each object's line as babeld would print it again (``change ...``): for :meth:`load`."""
        return MappingProxyType(self._current)

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
            and len(metric_text) <= 5  # int() of a 5,000-digit text raises
            and refmetric_text.isascii()
            and refmetric_text.isdigit()
            and len(refmetric_text) <= 5
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

    def _flush(self, table: dict[str, _Printed], key: str) -> _Printed | None:
        """Drop a flushed record and the line it was last printed as."""
        record = table.pop(key, None)
        if record is not None:
            self._current.pop(record.raw, None)
        return record

    def _apply_route(self, line: RouteLine, now: float) -> Route | None:
        routes = self.routes
        if line.kind is Kind.FLUSH:
            route = self._flush(routes, line.id)
            if route is None:
                return None
            self._unindex(route)
            if self.announce:
                self._route_removed(route, now)
            return None
        route = routes.get(line.id)
        if route is None:
            route = Route(*_route_values(line), now, now, now)
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
        elif _route_state(route) == _route_state(line):
            return route
        (
            route.installed,
            route.router_id,
            route.metric,
            route.refmetric,
            route.via,
            route.interface,
        ) = _route_state(line)
        route.last_change = now
        self._dirty[route.dest] = self.stats.lines
        return route

    def _route_removed(self, route: Route, now: float) -> None:
        prefix, src = route.dest
        self._emit(Event(EventType.ROUTE_REMOVED, now, prefix=prefix, src=src, from_=route.path))

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
            neigh = self._flush(neighbours, line.id)
            if neigh is None:
                return None
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

    def _apply_xroute(self, line: XrouteLine, now: float) -> Xroute | None:
        if line.kind is Kind.FLUSH:
            self._flush(self.xroutes, line.id)
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
            old = self._flush(self.interfaces, line.name)
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
            due, kind, what = self.next_due()
            if not (due < now or (kind == DUE_GRACE and due <= now)):
                self._horizon = due
                return
            if kind == DUE_PRINTS:
                self._settle_prints(due, force=True)
            elif kind == DUE_SILENCE:
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

    def check_silence(self, now: float) -> None:
        """Decide silences (and whatever else came due) up to ``now``; see :meth:`_advance`."""
        self._advance(now)

    def tick(self, now: float) -> list[Event]:
        """Periodic work between lines: what came due by ``now`` (silence, grace periods)."""
        self._advance(now)
        if self._events or self._loss_pending:
            return self.commit(now)
        return []

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
        mark_better = self._mark_better
        known = []
        by_dest = self._by_dest
        path_of = path_key
        for dest in dirty:  # a destination seen for the first time: no event, no order
            if dest in committed:
                known.append(dest)
                continue
            bucket = by_dest.get(dest)
            if bucket:
                selected = selected_route(bucket)
                mark_better(selected, bucket.values(), now)
                if selected is not None:
                    committed[dest] = path_of(selected)
                    self._since[dest] = now
        known.sort()  # a stable order of events within one line
        for dest in known:
            seq = dirty[dest]
            bucket = by_dest.get(dest) or {}
            selected = selected_route(bucket)
            mark_better(selected, bucket.values(), now)
            new_key = path_of(selected) if selected is not None else None
            old_key = committed[dest]
            prefix, src = dest
            if new_key is None:
                if old_key is None:
                    continue
                if any(r.metric < INFINITY for r in bucket.values()):  # a standby, not installed
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
        old, new = self.routes, fresh.routes
        taken = fresh._taken  # route objects its load took over from this model: no difference
        if not taken:
            gone: Collection[Route] = old.values()
            came: Collection[Route] = new.values()
        else:  # (not from the count alone: whatever a dump may do after a take)
            gone = [r for rid, r in old.items() if new.get(rid) is not r]
            came = [r for rid, r in new.items() if old.get(rid) is not r]
        if self.announce and not first:
            self._diff_events(fresh, gone, came, now)
        line = self.stats.lines
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
        if not taken:
            dirty = dict.fromkeys(self._by_dest, line)
            dirty.update(dict.fromkeys(self._committed, line))
        else:  # the destinations of the routes that differ; the others' are as committed
            dirty = {(r.prefix, r.src): line for r in gone}
            dirty.update(((r.prefix, r.src), line) for r in came)
            dirty.update((d, line) for d in self._committed if d not in self._by_dest)
            dirty.update(dict.fromkeys(self._dirty, line))  # changed, not committed yet
            dirty.update(dict.fromkeys(self._loss_pending, line))
        self._dirty = dirty
        self._horizon = 0.0
        return self.commit(now)

    def _diff_events(
        self, fresh: NodeModel, gone: Collection[Route], came: Collection[Route], now: float
    ) -> None:
        # Only the routes not in both models (``gone`` from this one, ``came`` in ``fresh``)
        # are matched by identity; an identity one side lacks is looked for among the other
        # model's routes to the same destination (an object in both is no difference).
        gone_by, came_by = _by_identity(gone), _by_identity(came)
        for key in sorted(gone_by.keys() - came_by.keys()):
            if not _has_identity(fresh._by_dest, key):
                self._route_removed(gone_by[key], now)
        for key in sorted(came_by.keys() - gone_by.keys()):
            if not _has_identity(self._by_dest, key):
                self._route_added(came_by[key], now)
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
