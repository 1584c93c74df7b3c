"""What the dashboard remembers of a node: event log, failover timeline, route history, link state.

Pure data, no Textual and no transport: the session callbacks write here (and
return at once); the views read from here on the UI's own schedule. Every
mutation bumps :attr:`NodeJournal.revision`, so a view can tell cheaply
whether anything changed since it last looked.

Memory budget: a session that runs for a week holds at most this per node,
however busy the mesh (bytes per entry measured with tracemalloc, text
included, on failover storms with long prefixes and on the demo recording's
events: ``tests/test_journal_budget.py`` keeps the figures honest):

======================  ==========================  ==============  ===========
what                    cap                         bytes / entry   at the cap
======================  ==========================  ==============  ===========
event log               :data:`LOG_SIZE` 10,000     ≤ 360           ≤ 3.6 MB
raw babeld lines        :data:`RAW_SIZE` 5,000      ≤ 320           ≤ 1.6 MB
failover timeline       :data:`TIMELINE_SIZE` 500   ≤ 400           ≤ 0.2 MB
per-destination history :data:`HISTORY_ENTRIES`     ≤ 360           ≤ 0.7 MB
                        2,000 in all, at most
                        :data:`HISTORY_SIZE` 100
                        per destination
======================  ==========================  ==============  ===========

so :data:`BUDGET_BYTES` ≈ 6.1 MB (5.8 MiB) per node. A failover's line, the
longest babeld's events give, costs 360 bytes: 210 of text, 80 of entry, 56 of
its number and time; a protocol error quoting a very long line would cost more.
Older entries are dropped, oldest first, and counted (:attr:`NodeJournal.dropped`,
:attr:`~NodeJournal.raw_dropped`, :attr:`~NodeJournal.timeline_dropped`,
:attr:`~NodeJournal.history_dropped`):
the Events view's and the Failover timeline's titles show how many (``s`` in
the Events view saves what is kept). The history forgets the destinations
changed longest ago first. Entries are compact: slotted, and their prefixes
interned (one string per destination, however many entries name it).
"""

from __future__ import annotations

import sys
from collections import deque
from dataclasses import dataclass
from enum import Enum

from meshtui.core.events import ROUTE_EVENTS, Event, EventType, PathRef
from meshtui.core.model import DestKey, NodeModel

TIMELINE_EVENTS = frozenset({EventType.FAILOVER, EventType.UNREACHABLE, EventType.RECOVERED})
"""Events shown on the failover timeline."""

DEGRADE_MEMORY = 600.0
"""Seconds a DEGRADING event may explain a later failover from that neighbour."""

LOG_SIZE = 10_000
"""Events kept in the log (≤ 360 bytes each; the Events view draws the newest 1,000)."""

RAW_SIZE = 5_000
"""Raw babeld lines kept for the raw view (≤ 320 bytes each)."""

TIMELINE_SIZE = 500
"""Failovers, losses and recoveries kept on the timeline (≈ 400 bytes each, and a table row)."""

HISTORY_SIZE = 100
"""Failovers, losses and recoveries kept per destination."""

HISTORY_ENTRIES = 2_000
"""Failovers, losses and recoveries kept in all destinations' histories together (the
destinations changed longest ago give theirs up first). It also bounds how many
destinations have a history: a destination is kept only while it has an entry."""

ENTRY_BYTES = {"log": 360, "raw": 320, "timeline": 400, "history": 360}
"""Bytes one entry costs, rounded up from tracemalloc on the demo recording's events."""

BUDGET_BYTES = (
    LOG_SIZE * ENTRY_BYTES["log"]
    + RAW_SIZE * ENTRY_BYTES["raw"]
    + TIMELINE_SIZE * ENTRY_BYTES["timeline"]
    + HISTORY_ENTRIES * ENTRY_BYTES["history"]
)
"""What one node's journal holds at most, in bytes (≈ 6.1 MB, 5.8 MiB)."""


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

    It keeps what the views show, not the event itself: under a storm the
    log holds tens of thousands of entries, and every object more per entry
    lengthens Python's garbage-collection pauses.

    Attributes:
        seq: position in the journal (monotonic, never reused).
        time: when it happened (the session's clock).
        type: the event's type.
        text: its readable form (plain text, no markup).
        prefix: the destination it is about, if any.
        src: that destination's source prefix.
    """

    seq: int
    time: float
    type: EventType
    text: str
    prefix: str | None = None
    src: str | None = None


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
        detection: seconds from the last Hello heard from the old relay to the switch.
        gap: seconds the destination had no route during the switch.
        outage: for a return to the usual relay, how long it had been away.
    """

    seq: int
    time: float
    type: EventType
    prefix: str
    src: str
    from_: PathRef | None
    to: PathRef | None
    lead: float | None
    detection: float | None = None
    gap: float | None = None
    outage: float | None = None

    @property
    def dest(self) -> DestKey:
        """The destination key."""
        return (self.prefix, self.src)


def _event_order(event: Event) -> tuple[float, bool, str]:
    return (event.time, event.prefix is not None, event.prefix or "")


def _figure(extra: dict[str, object], key: str) -> float | None:
    value = extra.get(key)
    return float(value) if isinstance(value, int | float) else None


class NodeJournal:
    """The dashboard's memory of one node; fed by the session callbacks.

    Args:
        node: the node's name.
        log_size: events kept in the log.
        raw_size: raw babeld lines kept for the raw view.
        history_size: failovers, losses and recoveries kept per destination (its other
            events are looked up in the log).
        timeline_size: timeline entries kept.
        history_entries: history entries kept in all (the destinations changed longest
            ago give theirs up first), hence also destinations with a history.
    """

    def __init__(
        self,
        node: str,
        *,
        log_size: int = LOG_SIZE,
        raw_size: int = RAW_SIZE,
        history_size: int = HISTORY_SIZE,
        timeline_size: int = TIMELINE_SIZE,
        history_entries: int = HISTORY_ENTRIES,
    ) -> None:
        self.node = node
        self.log: deque[LogEntry] = deque(maxlen=log_size)
        self.raw: deque[tuple[int, float, str]] = deque(maxlen=raw_size)
        self.timeline: deque[TimelineEntry] = deque(maxlen=timeline_size)
        # oldest change first (a destination changed again moves to the end)
        self.history: dict[DestKey, list[LogEntry]] = {}
        self.link = LinkStatus()
        self.revision = 0
        self.seq = 0
        self.raw_seq = 0
        self.events_in = 0
        # when the last (re)sync happened: a selection "since" then is "at least since"
        self.batches_in = 0
        self.synced_at = 0.0
        self._history_size = history_size
        self._history_entries = history_entries
        self.history_kept = 0
        self.history_dropped = 0
        self._degrading: dict[tuple[str, str], float] = {}
        self.timeline_in = 0
        self.histories_dropped = 0

    # ------------------------------------------------------------ session side

    def ingest(self, events: list[Event], model: NodeModel) -> None:
        """Record a batch of events (called from the session's reading task).

        Within a batch, events are put in time order, and events of the same
        time by destination, so the log reads the same on every run (the
        model decides a batch's destinations in no particular order).
        """
        self.batches_in += 1
        self.events_in += len(events)
        if len(events) > 1:
            events = sorted(events, key=_event_order)
        for event in events:
            self.seq += 1
            prefix = event.prefix
            src: str | None = None
            if prefix is not None:  # one string per destination, however many entries name it
                prefix = sys.intern(prefix)
                src = sys.intern(event.src) if event.src else "::/0"
            entry = LogEntry(self.seq, event.time, event.type, event.describe(), prefix, src)
            self.log.append(entry)
            etype = event.type
            if etype in (EventType.CONNECTED, EventType.RESYNCED):
                self.synced_at = event.time
            if etype is EventType.DEGRADING and event.neighbour and event.interface:
                self._remember_degrading((event.neighbour, event.interface), event.time)
            if etype in TIMELINE_EVENTS and prefix is not None and src is not None:
                self._remember((prefix, src), entry)
                extra = event.extra
                lead = extra.get("lead_time")
                self.timeline_in += 1
                self.timeline.append(
                    TimelineEntry(
                        self.seq,
                        event.time,
                        etype,
                        prefix,
                        src,
                        event.from_,
                        event.to,
                        float(lead) if lead is not None else self._lead(event, model),
                        _figure(extra, "detection_time"),
                        _figure(extra, "gap"),
                        _figure(extra, "outage"),
                    )
                )
        self.revision += 1

    def _remember(self, dest: DestKey, entry: LogEntry) -> None:
        """Add to a destination's history; keep within the per-destination and overall caps."""
        history = self.history
        bucket = history.pop(dest, [])  # re-inserted: changed last, forgotten last
        history[dest] = bucket
        bucket.append(entry)
        self.history_kept += 1
        if len(bucket) > self._history_size:
            del bucket[0]
            self.history_kept -= 1
            self.history_dropped += 1
        while self.history_kept > self._history_entries:
            oldest = next(iter(history))
            del history[oldest][0]
            self.history_kept -= 1
            self.history_dropped += 1
            if not history[oldest]:
                del history[oldest]
                self.histories_dropped += 1

    @property
    def dropped(self) -> int:
        """Log entries dropped to keep the log within its cap (the oldest first)."""
        return self.seq - len(self.log)

    @property
    def raw_dropped(self) -> int:
        """Raw lines dropped to keep within their cap."""
        return self.raw_seq - len(self.raw)

    @property
    def timeline_dropped(self) -> int:
        """Timeline entries dropped to keep within its cap."""
        return max(0, self.timeline_in - len(self.timeline))

    def _remember_degrading(self, key: tuple[str, str], time: float) -> None:
        """Note when a neighbour started missing Hellos; forget what is too old to matter."""
        self._degrading[key] = time
        if len(self._degrading) > 64:
            stale = [k for k, t in self._degrading.items() if time - t > DEGRADE_MEMORY]
            for k in stale:
                del self._degrading[k]

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
        """The events of one destination in this session, oldest first.

        Failovers, losses and recoveries are all kept (up to ``history_size``);
        other route events as far back as the log reaches.
        """
        kept = {entry.seq: entry for entry in self.history.get((prefix, src), ())}
        for entry in self.log:
            if entry.prefix == prefix and entry.src == src and entry.type in ROUTE_EVENTS:
                kept[entry.seq] = entry
        return [kept[seq] for seq in sorted(kept)]

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
