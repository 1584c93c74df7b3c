"""The Failover view (home): every destination's relay, standbys and margins, and the timeline.

Left, one row per destination: its state (ok, pending, UNREACHABLE, and
single points of failure flagged), the relay carrying it (neighbour
address and interface), the metric, the time since the selection last
changed, how long babeld would take to notice that relay's loss (a countdown
to the expected switch once its Hellos fail), and the ranked standby relays
with their margins. Right, the live timeline of failovers, losses and
recoveries, newest first, each with how long the old relay's Hellos had been
failing when babeld switched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Resize
from textual.widget import Widget
from textual.widgets import DataTable, Static

from meshtui.core.events import EventType
from meshtui.core.foresight import Detection
from meshtui.core.model import Destination, Neighbour, NodeModel
from meshtui.ui import format as fmt
from meshtui.ui.journal import TimelineEntry
from meshtui.ui.views.base import RouteTracker, View, ViewContext
from meshtui.ui.widgets.filterbar import FilterBar
from meshtui.ui.widgets.table import CellSpec, Column, KeyedTable, RowSpec, SyncStats

RECENT = 5.0
"""Seconds a just-changed destination keeps the ``changed`` colour on its age."""

WIDE = 170
"""Terminal width from which the timeline sits beside the table (below it otherwise)."""

STATE_ORDER = {"unreachable": 0, "pending": 1, "spof": 2, "ok": 3}


def dest_key(prefix: str, src: str) -> str:
    """The row key of a destination."""
    return prefix if src in ("::/0", "0.0.0.0/0") else f"{prefix} from {src}"


def _state(d: Destination) -> str:
    state = d.state
    if state == "ok" and d.single_point_of_failure:
        return "spof"
    return state


_STATE_CELLS: dict[str, CellSpec] = {
    "ok": ("● ok", "route-selected", 3),
    "spof": ("● ok  ! SPOF", "spof bold", 2),
    "pending": ("◐ pending", "route-pending bold", 1),
    "unreachable": ("✖ UNREACHABLE", "unreachable bold reverse", 0),
}


DetectCache = dict[tuple[str, str], tuple[Neighbour | None, Detection | None]]


def _detect_cell(d: Destination, model: NodeModel, now: float, seen: DetectCache) -> CellSpec:
    """When babeld would notice its relay's loss; a countdown once the relay is degrading.

    ``seen`` keeps each next hop's answer for one refresh (many destinations share a relay).
    """
    sel = d.selected
    if sel is None:
        return ("-", "lost", float("inf"))
    hop = (sel.via, sel.interface)
    if hop not in seen:
        found = model.neighbour_at(sel.via, sel.interface)
        seen[hop] = (found, model.detection_for(found) if found is not None else None)
    neigh, det = seen[hop]
    if neigh is None or det is None:
        return ("-", "lost", float("inf"))
    if neigh.degrading_since is not None and neigh.last_heard:
        left = neigh.last_heard + det.expected - now
        text = f"⚠ in ~{fmt.age(left)}" if left >= 0.05 else "⚠ due now"
        return (text, "degrading bold", -1.0)
    return (f"~{fmt.age(det.expected)}", "degrading bold" if det.slow else "", det.expected)


class FailoverView(View):
    """Destinations with their relay and standbys, beside a timeline of failovers.

    | Key | Action |
    | :- | :- |
    | enter | Open the destination's detail (routes and history). |
    | o / O | Sort by the next column / reverse the order. |
    | tab | Move between the table and the timeline. |
    """

    view_id = "failover"
    title = "Failover"

    BINDINGS = [
        Binding("o", "sort_next", "Sort", id="table.sort"),
        Binding("O", "sort_reverse", "Reverse", show=False, id="table.reverse"),
    ]

    DEFAULT_CSS = """
    FailoverView #fo-body {
        layout: horizontal;
        height: 1fr;
    }
    FailoverView.-narrow #fo-body {
        layout: vertical;
    }
    FailoverView #fo-left {
        width: 1fr;
        height: 1fr;
    }
    FailoverView #fo-right {
        width: 64;
        height: 1fr;
        border-left: vkey $panel;
    }
    FailoverView.-narrow #fo-right {
        width: 1fr;
        height: 12;
        border-left: none;
        border-top: hkey $panel;
    }
    """

    def compose(self) -> ComposeResult:
        """Destinations (left) and the timeline (right)."""
        with Vertical(id="fo-body"):
            with Vertical(id="fo-left"):
                yield Static("Destinations", classes="section", id="fo-title")
                yield KeyedTable(
                    [
                        Column("state", "state", 13),
                        Column("dest", "destination"),
                        Column("via", "relay now (via%if)"),
                        Column("metric", "metric", 6),
                        Column("since", "since", 7),
                        Column("detect", "loss seen", 11),
                        Column("standby", "standby relays (metric, margin)"),
                    ],
                    self.style,
                    sort="state",
                    id="fo-table",
                )
            with Vertical(id="fo-right"):
                yield Static("Timeline", classes="section", id="fo-tl-title")
                yield KeyedTable(
                    [Column("event", "newest first: when, what, where; from → to")],
                    self.style,
                    sort="event",
                    reverse=True,
                    row_height=3,
                    id="fo-timeline",
                )
        yield FilterBar(id="fo-filter")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._timeline_width = 60
        self._timeline_seen = -1
        self.tracker = RouteTracker()

    def on_mount(self) -> None:
        """Lay out for the current width."""
        self._layout()

    def on_resize(self, event: Resize) -> None:
        """Stack the timeline under the table in narrow terminals."""
        self._layout()

    def _layout(self) -> None:
        narrow = self.app.size.width < WIDE
        self.set_class(narrow, "-narrow")
        width = (self.app.size.width if narrow else 64) - 4
        if width != self._timeline_width:
            self._timeline_width = width
            timeline = self.query_one("#fo-timeline", KeyedTable)
            for column in timeline.columns.values():
                column.width = width
                column.auto_width = False
            timeline.refresh()

    def main_widget(self) -> Widget | None:
        """The destinations table."""
        return self.query_one("#fo-table", KeyedTable)

    # ------------------------------------------------------------ rows

    def _dest_rows(self, ctx: ViewContext, dests: Iterable[Destination]) -> Iterator[RowSpec]:
        model = ctx.model
        own = {x.prefix for x in model.xroutes.values()}
        now = ctx.now
        flt = self.filter
        synced = ctx.journal.synced_at + 0.001
        seen: DetectCache = {}
        for d in dests:
            if d.prefix in own:
                continue
            state = _state(d)
            sel = d.selected
            sel_sig = (sel.via, sel.interface, sel.metric) if sel is not None else None
            pending_ids = frozenset(r.id for r in d.pending)
            standby_sig = tuple(
                (r.via, r.interface, r.metric, r.id in pending_ids) for r in d.standby
            )
            since = now - d.since if d.since else None
            since_text = fmt.age(since) if since is not None else "-"
            if since is not None and d.since <= synced:
                since_text = "≥" + since_text  # unchanged since we connected, at least
            recent = since is not None and since < RECENT
            key = dest_key(d.prefix, d.src)
            if flt.active:
                hay = " ".join(
                    (
                        key,
                        state,
                        "spof" if state == "spof" else "",
                        ctx.hop(sel.via, sel.interface) if sel else "",
                        " ".join(ctx.hop(r.via, r.interface) for r in d.standby),
                    )
                ).lower()
                if not flt.matches(hay):
                    continue
            detect = _detect_cell(d, model, now, seen)
            sig = (state, sel_sig, standby_sig, since_text, recent, detect[0])

            def build(
                d: Destination = d,
                state: str = state,
                since: float | None = since,
                since_text: str = since_text,
                recent: bool = recent,
                pending_ids: frozenset[str] = pending_ids,
                detect: CellSpec = detect,
            ) -> tuple[CellSpec, ...]:
                return self._dest_cells(d, state, since, since_text, recent, pending_ids, detect)

            yield key, sig, build

    def _dest_cells(
        self,
        d: Destination,
        state: str,
        since: float | None,
        since_text: str,
        recent: bool,
        pending_ids: frozenset[str],
        detect: CellSpec,
    ) -> tuple[CellSpec, ...]:
        sel = d.selected
        name = fmt.prefix(d.prefix) + ("" if d.src in ("::/0", "0.0.0.0/0") else f" from {d.src}")
        if sel is not None:
            via: CellSpec = (self._hop(sel.via, sel.interface), "route-selected", sel.via)
            metric: CellSpec = (fmt.metric(sel.metric), "", sel.metric)
        else:
            via = ("—", "unreachable", "")
            metric = ("inf", "unreachable", 65535)
        parts: list[tuple[str, str]] = []
        for route in d.standby:
            if parts:
                parts.append(("  ", ""))
            margin = f", {route.metric - sel.metric:+d}" if sel is not None else ""
            pending = route.id in pending_ids
            text = f"{'▲ ' if pending else ''}{self._hop(route.via, route.interface)} "
            text += f"{fmt.metric(route.metric)}{margin}"
            parts.append((text, "route-pending" if pending else "route-standby"))
        if not parts:
            parts = [("none", "spof" if sel is not None else "unreachable")]
        standby: CellSpec = (tuple(parts), "", len(d.standby))
        since_role = "changed" if recent else ""
        if state == "unreachable":
            since_role = "unreachable"
        return (
            _STATE_CELLS[state],
            (name, "unreachable bold" if state == "unreachable" else "", d.prefix),
            via,
            metric,
            (since_text, since_role, since if since is not None else float("inf")),
            detect,
            standby,
        )

    def _timeline_rows(self, ctx: ViewContext) -> Iterator[RowSpec]:
        flt = self.filter
        for entry in ctx.journal.timeline:
            if flt.active:
                hay = f"{entry.type.value} {entry.prefix} {self._change_text(entry)}".lower()
                if not flt.matches(hay):
                    continue

            def build(entry: TimelineEntry = entry) -> tuple[CellSpec, ...]:
                return self._timeline_cells(entry)

            yield str(entry.seq), (entry.seq, self._timeline_width), build

    def _hop(self, via: str, interface: str) -> str:
        return self.ctx.hop(via, interface) if self.ctx is not None else fmt.hop(via, interface)

    def _change_text(self, entry: TimelineEntry) -> str:
        hop = self._hop
        if entry.type is EventType.FAILOVER and entry.from_ and entry.to:
            old, new = entry.from_, entry.to
            return f"{hop(old.via, old.interface)} → {hop(new.via, new.interface)}"
        if entry.type is EventType.UNREACHABLE:
            was = entry.from_
            return f"was {hop(was.via, was.interface)}" if was else "no route left"
        if entry.to is not None:
            return f"via {hop(entry.to.via, entry.to.interface)}"
        return ""

    def _timeline_cells(self, entry: TimelineEntry) -> tuple[CellSpec, ...]:
        what, role = {
            EventType.FAILOVER: ("failover", "event-failover bold"),
            EventType.UNREACHABLE: ("UNREACHABLE", "event-unreachable bold"),
            EventType.RECOVERED: ("recovered", "event-recovered bold"),
        }[entry.type]
        parts: list[tuple[str, str]] = [
            (fmt.clock_time(entry.time), "lost"),
            ("  ", ""),
            (what, role),
            ("  ", ""),
            (fmt.prefix(entry.prefix), "bold"),
            ("\n  ", ""),
            (self._change_text(entry), ""),
            ("\n  ", ""),
        ]
        figures: list[str] = []
        if entry.lead is not None:
            figures.append(f"Hellos failing {entry.lead:.1f} s")
        if entry.detection is not None:
            figures.append(f"last heard {entry.detection:.1f} s")
        if entry.gap is not None:
            figures.append(f"gap {entry.gap:.1f} s")
        if figures:
            parts.append((" · ".join(figures), "degrading"))
        elif entry.outage is not None:
            where = "back on its usual relay" if entry.type is EventType.FAILOVER else "back"
            parts.append((f"{where} after {fmt.age(entry.outage)} away", "event-recovered"))
        elif entry.type is EventType.FAILOVER:
            parts.append(("to a better path", "lost"))
        elif entry.type is EventType.RECOVERED and entry.to is not None:
            parts.append((f"metric {fmt.metric(entry.to.metric)}", "lost"))
        return ((tuple(parts), "", (entry.time, entry.seq)),)

    # ------------------------------------------------------------ refresh

    def refresh_view(self, ctx: ViewContext) -> SyncStats:
        """Sync both tables with the model and the journal."""
        self.begin(ctx)
        model = ctx.model
        table = self.query_one("#fo-table", KeyedTable)
        if ctx.full or not self.tracker.follows(model, self.filter):
            stats = table.sync(self._dest_rows(ctx, model.destinations()))
            self.tracker.reset(model, self.filter)
        else:
            dests = self.tracker.changed_destinations(model)
            rows = self._dest_rows(ctx, (model.destination(p, s) for p, s in sorted(dests)))
            stats = table.sync_some(rows)
        timeline = self.query_one("#fo-timeline", KeyedTable)
        journal = ctx.journal
        last = journal.timeline[-1].seq if journal.timeline else 0
        tl_stats = SyncStats()
        if ctx.full or last != self._timeline_seen:
            tl_stats = timeline.sync(self._timeline_rows(ctx))
            self._timeline_seen = last
        count = table.row_count
        unreachable = table.count(0, lambda spec: spec[2] == 0)
        spof = table.count(0, lambda spec: spec[2] == 2)
        title = f"Destinations ({count})"
        if unreachable:
            title += f"  ✖ {unreachable} unreachable"
        if spof:
            title += f"  ! {spof} single point{'s' if spof > 1 else ''} of failure"
        if self.filter.active:
            title += f"  filter: {self.filter.text}"
        self.query_one("#fo-title", Static).update(title)
        failovers = sum(1 for e in ctx.journal.timeline if e.type is EventType.FAILOVER)
        self.query_one("#fo-tl-title", Static).update(
            f"Timeline ({failovers} failover{'s' if failovers != 1 else ''} this session)"
        )
        stats.added += tl_stats.added
        stats.updated_cells += tl_stats.updated_cells
        stats.removed += tl_stats.removed
        return stats

    # ------------------------------------------------------------ actions

    @on(DataTable.RowSelected, "#fo-table")
    def _open_destination(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = event.row_key.value
        if key is None or self.ctx is None or self.ctx.open_detail is None:
            return
        prefix, _, src = key.partition(" from ")
        self.ctx.open_detail(prefix, src or "::/0")

    @on(DataTable.RowSelected, "#fo-timeline")
    def _open_timeline_destination(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.ctx is None or self.ctx.open_detail is None or event.row_key.value is None:
            return
        seq = int(event.row_key.value)
        for entry in self.ctx.journal.timeline:
            if entry.seq == seq:
                self.ctx.open_detail(entry.prefix, entry.src)
                return
