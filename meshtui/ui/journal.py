"""What the dashboard remembers of a node: event log, failover timeline, route history, link state.

Pure data, no Textual and no transport: the session callbacks write here (and
return at once); the views read from here on the UI's own schedule. Every
mutation bumps :attr:`NodeJournal.revision`, so a view can tell cheaply
whether anything changed since it last looked.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from meshtui.core.events import Event, EventType, PathRef
from meshtui.core.model import DestKey, NodeModel

ROUTE_EVENTS = frozenset(
    {
        EventType.FAILOVER,
        EventType.UNREACHABLE,
        EventType.RECOVERED,
        EventType.METRIC_CHANGED,
        EventType.ROUTE_ADDED,
        EventType.ROUTE_REMOVED,
    }
)
"""Events that belong to one destination's history."""

TIMELINE_EVENTS = frozenset({EventType.FAILOVER, EventType.UNREACHABLE, EventType.RECOVERED})
"""Events shown on the failover timeline."""

DEGRADE_MEMORY = 600.0
"""Seconds a DEGRADING event may explain a later failover from that neighbour."""


class LinkState(Enum):
    """Where the dashboard's connection to a node stands (mirrors the session's states)."""

    CONNECTING = "connecting"
    SYNCING = "syncing"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(slots=True)
class LinkStatus:
    """The connection state shown in the header.

    Attributes:
        state: the latest state.
        message: why (the last connection error), empty when live.
        since: clock time of the last state change.
        ever_live: whether the node has been synced at least once (its tables
            are then shown, marked stale while not live).
    """

    state: LinkState = LinkState.CONNECTING
    message: str = ""
    since: float = 0.0
    ever_live: bool = False

    @property
    def stale(self) -> bool:
        """The tables are from an earlier connection (not live, but synced before)."""
        return self.ever_live and self.state is not LinkState.LIVE


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of the event log.

    Attributes:
        seq: position in the journal (monotonic, never reused).
        time: when it happened (the session's clock).
        type: the event's type.
        text: its readable form (plain text, no markup).
        event: the event itself.
    """

    seq: int
    time: float
    type: EventType
    text: str
    event: Event

    @property
    def prefix(self) -> str | None:
        """The destination the event is about, if any."""
        return self.event.prefix


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """A failover, loss or recovery of one destination, as the timeline shows it.

    Attributes:
        seq: journal sequence number of the event.
        time: when babeld switched.
        type: FAILOVER, UNREACHABLE or RECOVERED.
        prefix: the destination.
        src: its source prefix.
        from_: the path before (None for a recovery).
        to: the path after (None when unreachable).
        lead: seconds between the ``from`` neighbour's Hellos starting to fail
            (its DEGRADING time) and the switch; None when that neighbour was
            not degrading (a switch back to a better path, say).
    """

    seq: int
    time: float
    type: EventType
    prefix: str
    src: str
    from_: PathRef | None
    to: PathRef | None
    lead: float | None

    @property
    def dest(self) -> DestKey:
        """The destination key."""
        return (self.prefix, self.src)


class HelloSource(Enum):
    """Where a hello-interval figure comes from."""

    CONFIG = "config"
    MEASURED = "measured"
    ESTIMATED = "estimated"


@dataclass(frozen=True, slots=True)
class HelloEstimate:
    """A hello interval and how it was obtained."""

    seconds: float
    source: HelloSource
    samples: int


LINE_SPACING_FACTOR = 1.5
"""Hello interval over the median spacing of a neighbour's line bursts.

babeld reports a neighbour on each Hello, each IHU and RTT update, and jitters
its Hellos by ±25 %; on babeld 1.12 the median spacing between bursts of a
neighbour's lines is about two thirds of the hello interval (measured on the
lab's recordings, hello 1 s).
"""

BURST_GAP = 0.2
"""Lines of one neighbour closer than this belong to the same burst."""


@dataclass(slots=True)
class _NeighbourTrace:
    interface: str
    last_time: float = -1.0
    last_reach: int = -1
    last_shift: float = -1.0
    bursts: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    shifts: deque[float] = field(default_factory=lambda: deque(maxlen=32))


class HelloEstimator:
    """Estimates each interface's hello interval from a neighbour's lines.

    Two ways, the better first:

    * *measured*: when a neighbour's ``reach`` shifts by one Hello (a Hello
      heard or counted missed), the time between two such shifts is one hello
      interval; babeld shows them while a link degrades or recovers.
    * *estimated*: otherwise, from the spacing of bursts of the neighbour's
      lines (see :data:`LINE_SPACING_FACTOR`).
    """

    def __init__(self) -> None:
        self._traces: dict[str, _NeighbourTrace] = {}

    def feed(self, time: float, line: str) -> None:
        """Look at one raw line (cheap for lines that are not about neighbours)."""
        if not (line.startswith("change neighbour ") or line.startswith("add neighbour ")):
            return
        parts = line.split(" ", 10)
        # KIND neighbour ID address A if I reach R ...
        if len(parts) < 10 or parts[5] != "if" or parts[7] != "reach":
            return
        nid, interface = parts[2], parts[6]
        try:
            reach = int(parts[8], 16)
        except ValueError:
            return
        trace = self._traces.get(nid)
        if trace is None or trace.interface != interface:
            trace = self._traces[nid] = _NeighbourTrace(interface)
        if trace.last_time < 0 or time - trace.last_time > BURST_GAP:
            trace.bursts.append(time)
        trace.last_time = time
        previous = trace.last_reach
        trace.last_reach = reach
        if previous < 0 or previous == reach:
            return
        for shift in (1, 2, 3):
            base = previous >> shift
            if reach in (base | 0x8000, base):
                if trace.last_shift >= 0:
                    trace.shifts.append((time - trace.last_shift) / shift)
                trace.last_shift = time
                return
        trace.last_shift = -1.0

    def estimate(self, interface: str) -> HelloEstimate | None:
        """The hello interval of ``interface``'s neighbours, or None with too few samples."""
        shifts: list[float] = []
        bursts: list[float] = []
        for trace in self._traces.values():
            if trace.interface != interface:
                continue
            shifts.extend(s for s in trace.shifts if s > 0.05)
            times = list(trace.bursts)
            bursts.extend(b - a for a, b in zip(times, times[1:], strict=False))
        if len(shifts) >= 3:
            return HelloEstimate(statistics.median(shifts), HelloSource.MEASURED, len(shifts))
        if len(bursts) >= 8:
            return HelloEstimate(
                LINE_SPACING_FACTOR * statistics.median(bursts), HelloSource.ESTIMATED, len(bursts)
            )
        return None


def detection_window(hello: float) -> tuple[float, float]:
    """Seconds from a neighbour going silent to babeld counting it lost, for a hello interval.

    On wired and tunnel interfaces babeld sets the link cost to infinity once
    2 of the last 3 Hellos are missed, and counts a Hello missed 1.7 intervals
    after the previous one: the second miss is counted 2.7 intervals after
    the last Hello heard. Depending on where in the interval the link died
    that is 1.7 to 2.7 intervals after the outage began (the route switch
    follows within one of babeld's routing passes).
    """
    return (1.7 * hello, 2.7 * hello)


class NodeJournal:
    """The dashboard's memory of one node; fed by the session callbacks.

    Args:
        node: the node's name.
        log_size: events kept in the log.
        raw_size: raw babeld lines kept for the raw view.
        history_size: events kept per destination.
        timeline_size: timeline entries kept.
    """

    def __init__(
        self,
        node: str,
        *,
        log_size: int = 20_000,
        raw_size: int = 5_000,
        history_size: int = 100,
        timeline_size: int = 500,
    ) -> None:
        self.node = node
        self.log: deque[LogEntry] = deque(maxlen=log_size)
        self.raw: deque[tuple[int, float, str]] = deque(maxlen=raw_size)
        self.timeline: deque[TimelineEntry] = deque(maxlen=timeline_size)
        self.history: dict[DestKey, deque[LogEntry]] = {}
        self.link = LinkStatus()
        self.hello = HelloEstimator()
        self.revision = 0
        self.seq = 0
        self.raw_seq = 0
        self.events_in = 0
        self.batches_in = 0
        self._history_size = history_size
        self._degrading: dict[tuple[str, str], float] = {}

    # ------------------------------------------------------------ session side

    def ingest(self, events: list[Event], model: NodeModel) -> None:
        """Record a batch of events (called from the session's reading task)."""
        self.batches_in += 1
        self.events_in += len(events)
        for event in events:
            self.seq += 1
            entry = LogEntry(self.seq, event.time, event.type, event.describe(), event)
            self.log.append(entry)
            etype = event.type
            if etype is EventType.DEGRADING and event.neighbour and event.interface:
                self._degrading[(event.neighbour, event.interface)] = event.time
            if etype in ROUTE_EVENTS and event.prefix is not None:
                dest = (event.prefix, event.src or "::/0")
                bucket = self.history.get(dest)
                if bucket is None:
                    bucket = self.history[dest] = deque(maxlen=self._history_size)
                bucket.append(entry)
            if etype in TIMELINE_EVENTS and event.prefix is not None:
                self.timeline.append(
                    TimelineEntry(
                        self.seq,
                        event.time,
                        etype,
                        event.prefix,
                        event.src or "::/0",
                        event.from_,
                        event.to,
                        self._lead(event, model),
                    )
                )
        self.revision += 1

    def _lead(self, event: Event, model: NodeModel) -> float | None:
        """How long the ``from`` neighbour had been missing Hellos when babeld switched."""
        hop = event.from_
        if hop is None or event.type is EventType.RECOVERED:
            return None
        key = (hop.via, hop.interface)
        since: float | None = None
        for neigh in model.neighbours.values():
            if neigh.key == key:
                since = neigh.degrading_since
                break
        else:
            lost = model.lost_neighbours.get(key)
            if lost is not None:
                since = lost.degrading_since
        if since is None:
            remembered = self._degrading.get(key)
            if remembered is not None and 0 <= event.time - remembered <= DEGRADE_MEMORY:
                since = remembered
        if since is None or since > event.time:
            return None
        return event.time - since

    def note_raw(self, time: float, line: str) -> None:
        """Keep one raw babeld line (called for every line: must stay cheap)."""
        self.raw_seq += 1
        self.raw.append((self.raw_seq, time, line))
        self.hello.feed(time, line)

    def note_state(self, state: LinkState, message: str, now: float) -> None:
        """Record a connection state change."""
        link = self.link
        link.state = state
        link.message = message
        link.since = now
        if state is LinkState.LIVE:
            link.ever_live = True
        self.revision += 1

    # ------------------------------------------------------------ queries

    def history_of(self, prefix: str, src: str = "::/0") -> list[LogEntry]:
        """The events of one destination in this session, oldest first."""
        return list(self.history.get((prefix, src), ()))

    def entries_since(self, seq: int) -> list[LogEntry]:
        """Log entries with a sequence number above ``seq``, oldest first."""
        log = self.log
        if not log or log[-1].seq <= seq:
            return []
        first = log[0].seq
        if seq < first:
            return list(log)
        start = seq - first + 1
        return [log[i] for i in range(start, len(log))]

    def raw_since(self, seq: int) -> list[tuple[int, float, str]]:
        """Raw lines with a sequence number above ``seq``, oldest first."""
        raw = self.raw
        if not raw or raw[-1][0] <= seq:
            return []
        first = raw[0][0]
        if seq < first:
            return list(raw)
        return [raw[i] for i in range(seq - first + 1, len(raw))]
