"""The Failover view (home): every destination's relay, standbys and margins, and the timeline.

Left, one row per destination, by node name when meshtui knows it (``a``
shows addresses): its state (ok, pending, UNREACHABLE, and single points of
failure flagged), the relay carrying it now, the metric, the time since the
selection last changed, the detection time (how long babeld would take to
notice that relay's loss; a countdown to the expected switch once its Hellos
fail), and the ranked standby relays with their metrics and margins. Columns
of lower priority (detection, since, metric) are left out when the terminal is
too narrow for them; standbys that do not fit are counted (``+1``), never cut.

Right (below, in narrow terminals), the timeline of failovers, losses and
recoveries, newest first, in the order babeld reported them. The newest entry
stays in view while the user has not scrolled the timeline; once they have,
its title counts the entries that arrived since (``▲ 2 new``: ``home`` or a
click on the title goes back to the newest). The timeline keeps the newest
:data:`~meshtui.ui.journal.TIMELINE_SIZE` entries; its title counts the older
ones dropped (``Timeline, newest first (12 failovers, 1,204 older dropped)``).

While the connection is down the rows are the last ones known: dimmed, marked
``stale``, their "since" frozen at the moment the connection was lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from rich.cells import cell_len
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Click, Resize
from textual.widget import Widget
from textual.widgets import DataTable, Static

from meshtui.core.events import EventType
from meshtui.core.foresight import Detection
from meshtui.core.model import Destination, Neighbour, NodeModel
from meshtui.ui import format as fmt
from meshtui.ui.journal import TimelineEntry
from meshtui.ui.views.base import SORT_BINDINGS, RouteTracker, View, ViewContext
from meshtui.ui.widgets.filterbar import FilterBar
from meshtui.ui.widgets.table import CellSpec, Column, KeyedTable, RowSpec, SyncStats

RECENT = 5.0
"""Seconds a just-changed destination keeps the ``changed`` colour on its age."""

WIDE = 170
"""Terminal width from which the timeline sits beside the table (below it otherwise)."""

TIMELINE_WIDTH = 64
"""Width of the timeline beside the table."""

COLUMNS: tuple[Column, ...] = (
    Column("state", "state", 13),
    Column("dest", "destination"),
    Column("via", "relay now"),
    Column("metric", "metric", 6),
    Column("since", "since", 7),
    Column("detect", fmt.DETECTION, 11),
    Column("standby", "standby: metric, margin"),
)
"""Every column of the destinations table, left to right."""

FIXED = {c.key for c in COLUMNS if c.width is not None}
"""Columns of a fixed width."""

REQUIRED = ("state", "dest", "via", "standby")
"""Columns always shown."""

OPTIONAL_BY_PRIORITY = ("detect", "since", "metric")
"""Columns shown while the width allows, the most important first."""

CATCH_UP_ROWS = 300
"""Rows off screen brought up to date in one refresh at most; the rest wait for the next ones.
After a few seconds hidden under a storm, most of thousands of destinations changed: one
refresh for them all kept the UI loop busy for 100 ms and more, and the next key waited."""

MIN_STANDBY = 18
"""Width kept for the standby column before optional columns are added."""

CELL_PADDING = 2
"""DataTable's padding around each cell (one each side)."""


def dest_key(prefix: str, src: str) -> str:
    """The row key of a destination."""
    return prefix if src in ("::/0", "0.0.0.0/0") else f"{prefix} from {src}"


def key_dest(key: str) -> tuple[str, str]:
    """The destination (prefix, src) of a row key (:func:`dest_key`'s inverse)."""
    prefix, _, src = key.partition(" from ")
    return prefix, src or "::/0"


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

_STALE_CELLS: dict[str, CellSpec] = {
    "ok": ("◌ ok stale", "lost", 3),
    "spof": ("◌ SPOF stale", "lost", 2),
    "pending": ("◌ pend stale", "lost", 1),
    "unreachable": ("◌ UNRE stale", "lost", 0),
}

STALE_STYLE = "lost dim"
"""Every cell of a stale row: the last known state, not the present one."""


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
    if neigh is not None and det is None and model.warning_gap(neigh) is not None:
        return ("no warning", "degrading", float("inf"))  # hello not learned yet
    if neigh is None or det is None:
        return ("-", "lost", float("inf"))
    if neigh.degrading_since is not None and neigh.last_heard:
        left = neigh.last_heard + det.expected - now
        text = f"⚠ in ~{fmt.age(left)}" if left >= 0.05 else "⚠ due now"
        return (text, "degrading bold", -1.0)
    return (f"~{fmt.age(det.expected)}", "degrading bold" if det.slow else "", det.expected)


def fit_parts(items: list[str], width: int, sep: str = "  ") -> str:
    """As many whole ``items`` as fit in ``width`` cells, then ``+N`` for the rest.

    Never cuts an item: with no room even for the first, only ``+N`` (or the
    first item alone when there is nothing else to count).
    """
    out = ""
    for index, item in enumerate(items):
        candidate = f"{out}{sep}{item}" if out else item
        rest = len(items) - index - 1
        more = f"{sep}+{rest}" if rest else ""
        if cell_len(candidate) + cell_len(more) <= width:
            out = candidate
            continue
        left = len(items) - index
        marker = f"+{left}"
        return f"{out}{sep}{marker}" if out else (marker if len(items) > 1 else item)
    return out


def visible_columns(widths: dict[str, int], available: int) -> list[str]:
    """The columns to show in ``available`` cells, left to right.

    The required ones always; then detection, since and metric while the
    standby column keeps at least :data:`MIN_STANDBY` cells (or its content).
    """
    chosen = set(REQUIRED)

    def used(keys: set[str]) -> int:
        return sum(widths.get(k, 0) + CELL_PADDING for k in keys if k != "standby")

    standby_room = min(MIN_STANDBY, widths.get("standby", MIN_STANDBY)) + CELL_PADDING
    for key in OPTIONAL_BY_PRIORITY:
        if used(chosen | {key}) + standby_room <= available:
            chosen.add(key)
    return [c.key for c in COLUMNS if c.key in chosen]


class FailoverView(View):
    """Destinations with their relay and standbys, beside a timeline of failovers.

    | Key | Action |
    | :- | :- |
    | enter | Open the destination's detail (routes and history). |
    | o / O | Sort by the next column / reverse the order. |
    | home | Back to the newest timeline entry. |
    | tab | Move between the table and the timeline. |
    """

    view_id = "failover"
    title = "Failover"

    BINDINGS = [
        *SORT_BINDINGS,
        Binding("home", "newest", "Newest", show=False, priority=True, id="timeline.newest"),
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
    FailoverView.-narrow #fo-left {
        height: 3fr;
        min-height: 10;
    }
    FailoverView #fo-right {
        width: 64;
        height: 1fr;
        border-left: vkey $panel;
    }
    FailoverView.-narrow #fo-right {
        width: 1fr;
        height: 2fr;
        max-height: 20;
        border-left: none;
        border-top: hkey $panel;
    }
    FailoverView #fo-tl-title.-new {
        background: $accent;
        color: $background;
    }
    """

    def compose(self) -> ComposeResult:
        """Destinations (left) and the timeline (right)."""
        with Vertical(id="fo-body"):
            with Vertical(id="fo-left"):
                yield Static("Destinations", classes="section", id="fo-title", markup=False)
                yield self._dest_table(self._visible)
            with Vertical(id="fo-right"):
                yield Static("Timeline", classes="section", id="fo-tl-title", markup=False)
                timeline = KeyedTable(
                    [Column("event", "event")],
                    self.style,
                    sort="event",
                    reverse=True,
                    row_height=3,
                    id="fo-timeline",
                )
                timeline.show_header = False
                yield timeline
        yield FilterBar(id="fo-filter")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._timeline_width = TIMELINE_WIDTH - 4
        self._timeline_seen = -1
        self._timeline_follow = True
        self._timeline_mark = 0
        self._timeline_new = 0
        self._visible: list[str] = [c.key for c in COLUMNS]
        # what each column takes: fixed ones their width, others their widest text
        # (a header's sort arrow included)
        self._widths: dict[str, int] = {c.key: c.width or cell_len(c.label) + 2 for c in COLUMNS}
        self._standby_width = 40
        self._sort: tuple[str | None, bool] = ("state", False)
        self._stale_since: float | None = None
        self.tracker = RouteTracker()
        self._backlog: set[tuple[str, str]] = set()  # changed, off screen, not yet synced
        self._urgent: set[tuple[str, str]] = set()  # of those, not plainly ok when they came

    def _dest_table(self, keys: list[str]) -> KeyedTable:
        sort, reverse = self._sort
        columns = [c for c in COLUMNS if c.key in keys]
        return KeyedTable(
            columns,
            self.style,
            sort=sort if sort in keys else "state",
            reverse=reverse if sort in keys else False,
            id="fo-table",
        )

    def on_mount(self) -> None:
        """Lay out for the current width."""
        self._layout()
        self.call_later(self._swap_table)  # the columns chosen before mounting

    def on_resize(self, event: Resize) -> None:
        """Stack the timeline under the table in narrow terminals; fit the columns."""
        self._layout()

    def _layout(self) -> None:
        narrow = self.app.size.width < WIDE
        self.set_class(narrow, "-narrow")
        width = (self.app.size.width if narrow else TIMELINE_WIDTH) - 4
        if width != self._timeline_width:
            self._timeline_width = width
            timeline = self.query_one("#fo-timeline", KeyedTable)
            for column in timeline.columns.values():
                column.width = width
                column.auto_width = False
            timeline.refresh()
        self._fit_columns()

    def _available(self) -> int:
        """Cells the destinations table can use (its scrollbar left out)."""
        total = self.app.size.width
        if total >= WIDE:
            total -= TIMELINE_WIDTH + 1
        return total - 2

    def _fit_columns(self) -> None:
        """Show the columns that fit; rebuild the table when that set changed."""
        available = self._available()
        keys = visible_columns(self._widths, available)
        others = sum(self._widths.get(k, 0) + CELL_PADDING for k in keys if k != "standby")
        standby = max(MIN_STANDBY, available - others - CELL_PADDING)
        changed = keys != self._visible
        if standby != self._standby_width:
            self._standby_width = standby
            changed = True
        if not changed:
            return
        self._visible = keys
        if self.is_mounted:
            self.call_later(self._swap_table)

    async def _swap_table(self) -> None:
        """Replace the destinations table by one with the visible columns, then redraw."""
        keys = self._visible
        found = self.query("#fo-table")
        old = found.first(KeyedTable) if found else None
        if old is not None and [c.key for c in old.table_columns] != keys:
            self._sort = (old.sort_column, old.sort_reverse)
            had_focus = old.has_focus
            await old.remove()
            table = self._dest_table(keys)
            await self.query_one("#fo-left", Vertical).mount(table)
            if had_focus:
                table.focus()
            self.tracker = RouteTracker()
        if self.ctx is not None:
            self.ctx.full = True
        self.redraw()

    def main_widget(self) -> Widget | None:
        """The destinations table (None for the moment it is being replaced)."""
        found = self.query("#fo-table")
        return found.first(KeyedTable) if found else None

    # ------------------------------------------------------------ rows

    def _dest_rows(self, ctx: ViewContext, dests: Iterable[Destination]) -> Iterator[RowSpec]:
        model = ctx.model
        own = {x.prefix for x in model.xroutes.values()}
        link = ctx.journal.link
        stale = link.stale
        if not stale:
            self._stale_since = None
        elif self._stale_since is None or link.since < self._stale_since:
            self._stale_since = link.since  # the first loss (retries move link.since on)
        now = self._stale_since if self._stale_since is not None else ctx.now
        flt = self.filter
        synced = ctx.journal.synced_at + 0.001
        seen: DetectCache = {}
        visible = tuple(self._visible)
        standby_width = self._standby_width
        for d in dests:
            if d.prefix in own:
                continue
            state = _state(d)
            sel = d.selected
            via_text = ctx.hop(sel.via, sel.interface) if sel is not None else ""
            pending_ids = frozenset(r.id for r in d.pending)
            standby = tuple(
                (ctx.hop(r.via, r.interface), r.metric, r.id in pending_ids) for r in d.standby
            )
            name = ctx.dest(d.prefix)
            since = now - d.since if d.since else None
            since_text = fmt.age(since) if since is not None else "-"
            if since is not None and d.since <= synced:
                since_text = "≥" + since_text  # unchanged since we connected, at least
            recent = since is not None and since < RECENT and not stale
            key = dest_key(d.prefix, d.src)
            if flt.active:
                hay = " ".join(
                    (
                        key,
                        name,
                        state,
                        "spof" if state == "spof" else "",
                        "stale" if stale else "",
                        via_text,
                        " ".join(s[0] for s in standby),
                    )
                ).lower()
                if not flt.matches(hay):
                    continue
            detect = _detect_cell(d, model, now, seen) if not stale else ("-", "lost", 0.0)
            metric = sel.metric if sel is not None else None
            shown = (state, name, via_text, metric, standby, since_text, recent, detect[0], stale)
            sig = (shown, visible, standby_width)

            def build(
                d: Destination = d,
                state: str = state,
                name: str = name,
                via_text: str = via_text,
                standby: tuple[tuple[str, int, bool], ...] = standby,
                since: float | None = since,
                since_text: str = since_text,
                recent: bool = recent,
                detect: CellSpec = detect,
                stale: bool = stale,
            ) -> tuple[CellSpec, ...]:
                cells = self._dest_cells(
                    d, state, name, via_text, standby, since, since_text, recent, detect, stale
                )
                return tuple(cells[k] for k in visible)

            yield key, sig, build

    def _dest_cells(
        self,
        d: Destination,
        state: str,
        name: str,
        via_text: str,
        standby: tuple[tuple[str, int, bool], ...],
        since: float | None,
        since_text: str,
        recent: bool,
        detect: CellSpec,
        stale: bool,
    ) -> dict[str, CellSpec]:
        sel = d.selected
        if d.src not in ("::/0", "0.0.0.0/0"):
            name += f" from {d.src}"
        if sel is not None:
            via: CellSpec = (via_text, "route-selected", via_text)
            metric: CellSpec = (fmt.metric(sel.metric), "", sel.metric)
        else:
            via = ("—", "unreachable", "")
            metric = ("inf", "unreachable", 65535)
        texts: list[str] = []
        for hop, route_metric, pending in standby:
            margin = f", {route_metric - sel.metric:+d}" if sel is not None else ""
            texts.append(f"{'▲ ' if pending else ''}{hop} {fmt.metric(route_metric)}{margin}")
        if texts:
            shown = fit_parts(texts, self._standby_width)
            role = "route-pending" if standby[0][2] else "route-standby"
            standby_cell: CellSpec = (shown, role, len(standby))
        else:
            standby_cell = ("none", "spof" if sel is not None else "unreachable", 0)
        since_role = "changed" if recent else ""
        if state == "unreachable":
            since_role = "unreachable"
        cells = {
            "state": _STATE_CELLS[state],
            "dest": (name, "unreachable bold" if state == "unreachable" else "", d.prefix),
            "via": via,
            "metric": metric,
            "since": (since_text, since_role, since if since is not None else float("inf")),
            "detect": detect,
            "standby": standby_cell,
        }
        widths = self._widths
        for key, spec in cells.items():
            if key != "standby" and key not in FIXED:
                width = cell_len(str(spec[0]))
                if width > widths.get(key, 0):
                    widths[key] = width
        if stale:
            cells = {k: (str(v[0]), STALE_STYLE, v[2]) for k, v in cells.items()}
            cells["state"] = _STALE_CELLS[state]
        return cells

    def _timeline_rows(self, ctx: ViewContext) -> Iterator[RowSpec]:
        flt = self.filter
        sig_extra = (self._timeline_width, ctx.addresses)
        for entry in ctx.journal.timeline:
            if flt.active:
                hay = " ".join(
                    (
                        entry.type.value,
                        entry.prefix,
                        ctx.dest(entry.prefix),
                        self._change_text(entry),
                    )
                ).lower()
                if not flt.matches(hay):
                    continue

            def build(entry: TimelineEntry = entry) -> tuple[CellSpec, ...]:
                return self._timeline_cells(entry)

            yield str(entry.seq), (entry.seq, sig_extra), build

    def _hop(self, via: str, interface: str) -> str:
        return self.ctx.hop(via, interface) if self.ctx is not None else fmt.hop(via, interface)

    def _dest(self, prefix: str) -> str:
        return self.ctx.dest(prefix) if self.ctx is not None else fmt.prefix(prefix)

    def _change_text(self, entry: TimelineEntry) -> str:
        hop = self._hop
        if entry.type is EventType.FAILOVER and entry.from_ and entry.to:
            old, new = entry.from_, entry.to
            return f"{hop(old.via, old.interface)} → {hop(new.via, new.interface)}"
        if entry.type is EventType.UNREACHABLE:
            was = entry.from_
            return f"was via {hop(was.via, was.interface)}" if was else "no route left"
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
            (self._dest(entry.prefix), "bold"),
            ("\n  ", ""),
            (self._change_text(entry), ""),
            ("\n  ", ""),
        ]
        figures: list[str] = []
        if entry.lead is not None:
            figures.append(f"Hellos failing {entry.lead:.1f} s")
        if entry.detection is not None:
            figures.append(f"{fmt.DETECTION} {entry.detection:.1f} s")
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
        return ((tuple(parts), "", entry.seq),)

    # ------------------------------------------------------------ refresh

    def refresh_view(self, ctx: ViewContext) -> SyncStats:
        """Sync both tables with the model and the journal."""
        self.begin(ctx)
        model = ctx.model
        found = self.query("#fo-table")
        if not found:
            return SyncStats()  # being replaced (columns changed with the width)
        table = found.first(KeyedTable)
        widths_before = dict(self._widths)
        if ctx.complete or not self.tracker.follows(model, (self.filter, ctx.addresses)):
            stats = table.sync(self._dest_rows(ctx, model.destinations()))
            self.tracker.reset(model, (self.filter, ctx.addresses))
            self._backlog.clear()
            self._urgent.clear()
        else:
            dests = self._catch_up(table, self.tracker.changed_destinations(model), ctx.full, model)
            rows = self._dest_rows(ctx, (model.destination(p, s) for p, s in sorted(dests)))
            stats = table.sync_some(rows)
        if self._widths != widths_before:
            self._fit_columns()
        tl_stats = self._refresh_timeline(ctx)
        count = table.row_count
        unreachable = table.count(0, lambda spec: spec[2] == 0)
        spof = table.count(0, lambda spec: spec[2] == 2)
        title = f"Destinations ({count})"
        link = ctx.journal.link
        if link.stale:
            seen = self._stale_since if self._stale_since is not None else link.since
            title += f"  ◌ STALE: as last seen at {fmt.clock_time(seen)}"
        if unreachable:
            title += f"  ✖ {unreachable} unreachable"
        if spof:
            title += f"  ! {spof} single point{'s' if spof > 1 else ''} of failure"
        if self.filter.active:
            title += f"  filter: {self.filter.text}"
        self.query_one("#fo-title", Static).update(title)
        stats.added += tl_stats.added
        stats.updated_cells += tl_stats.updated_cells
        stats.removed += tl_stats.removed
        return stats

    @property
    def pending_rows(self) -> int:
        """Changed destinations not drawn yet (the refresher comes back for them)."""
        return len(self._backlog)

    def _catch_up(
        self, table: KeyedTable, changed: set[tuple[str, str]], full: bool, model: NodeModel
    ) -> set[tuple[str, str]]:
        """The destinations to sync now: the changed ones on screen (and, on a full refresh,
        every one on screen: clocks), and at most :data:`CATCH_UP_ROWS` of the others; the
        rest stay in the backlog for the next refreshes. Of the others, the ones that are not
        plainly ok (unreachable, pending a failover) come first, so the title's counts and the
        rows sorted to the top are never the ones left behind."""
        backlog, urgent = self._backlog, self._urgent
        backlog |= changed
        urgent -= changed  # judged again below if they stay behind
        if not full and len(backlog) <= CATCH_UP_ROWS:
            now = set(backlog)
            backlog.clear()
            urgent.clear()
            return now
        shown = {key_dest(key) for key in table.visible_keys()}
        now = shown if full else backlog & shown
        backlog -= now
        if len(backlog) <= CATCH_UP_ROWS:
            now |= backlog
            backlog.clear()
            urgent.clear()
            return now
        # each destination is judged once, when it joins the backlog (a later change brings it
        # back through ``changed``)
        urgent |= {k for k in changed & backlog if model.destination(*k).state != "ok"}
        urgent &= backlog
        first = min(len(urgent), CATCH_UP_ROWS)
        for _ in range(first):
            key = urgent.pop()
            backlog.discard(key)
            now.add(key)
        for _ in range(CATCH_UP_ROWS - first):  # none urgent left when this takes any
            now.add(backlog.pop())
        return now

    def _refresh_timeline(self, ctx: ViewContext) -> SyncStats:
        """Sync the timeline; keep the newest entry in view unless the user scrolled away."""
        timeline = self.query_one("#fo-timeline", KeyedTable)
        journal = ctx.journal
        last = journal.timeline[-1].seq if journal.timeline else 0
        stats = SyncStats()
        at_top = timeline.row_count == 0 or (timeline.cursor_row == 0 and timeline.scroll_y == 0)
        if self._timeline_follow and not at_top:
            self._timeline_follow = False  # the user moved away from the newest entry
            self._timeline_mark = self._timeline_seen
        elif not self._timeline_follow and at_top:
            self._timeline_follow = True
        if ctx.full or last != self._timeline_seen:
            stats = timeline.sync(self._timeline_rows(ctx))
            self._timeline_seen = last
        if self._timeline_follow:
            self._timeline_mark = last
            if timeline.row_count and (timeline.cursor_row != 0 or timeline.scroll_y != 0):
                timeline.move_cursor(row=0, animate=False, scroll=False)
                timeline.scroll_home(animate=False, immediate=True)
        new = sum(1 for e in journal.timeline if e.seq > self._timeline_mark)
        self._timeline_new = new
        failovers = sum(1 for e in journal.timeline if e.type is EventType.FAILOVER)
        text = f"Timeline, newest first ({failovers} failover{'s' if failovers != 1 else ''}"
        dropped = journal.timeline_dropped
        text += f", {dropped:,} older dropped)" if dropped else ")"
        if new:
            text = f"▲ {new} new: home or click here  " + text
        title = self.query_one("#fo-tl-title", Static)
        title.update(text)
        title.set_class(bool(new), "-new")
        return stats

    # ------------------------------------------------------------ actions

    def action_newest(self) -> None:
        """Scroll the timeline back to its newest entry (and follow it again)."""
        timeline = self.query_one("#fo-timeline", KeyedTable)
        if timeline.row_count:
            timeline.move_cursor(row=0, animate=False, scroll=False)
        timeline.scroll_home(animate=False, immediate=True)
        self._timeline_follow = True
        self.redraw()

    def on_click(self, event: Click) -> None:
        """A click on the timeline's title goes back to the newest entry."""
        if event.widget is not None and event.widget.id == "fo-tl-title":
            event.stop()
            self.action_newest()

    @on(DataTable.RowSelected, "#fo-table")
    def _open_destination(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = event.row_key.value
        if key is None or self.ctx is None or self.ctx.open_detail is None:
            return
        self.ctx.open_detail(*key_dest(key))

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
