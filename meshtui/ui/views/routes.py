"""The Routes view: every route babeld knows, selected and alternatives marked.

Marks: ``● sel`` the installed route, ``○ alt`` a feasible alternative,
``◐ pending`` an alternative already better than the installed route (babeld
switches once its smoothed metric allows), ``✖ inf`` a route with an
infinite metric (being retracted). `/` filters, `o`/`O` or a header click
sort, `enter` opens the destination's detail.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial

from textual import on
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import DataTable, Static

from meshtui.core.model import Route
from meshtui.core.protocol import INFINITY
from meshtui.ui import format as fmt
from meshtui.ui.views.base import SORT_BINDINGS, RouteTracker, View, ViewContext
from meshtui.ui.widgets.filterbar import FilterBar
from meshtui.ui.widgets.table import CellSpec, Column, KeyedTable, RowSpec, SyncStats

DEFAULT_SRC = ("::/0", "0.0.0.0/0")

# A route's columns, the same in this view and in a destination's detail.
MARK_COLUMN = Column("mark", "", 9)
VIA_COLUMN = Column("via", "via")
INTERFACE_COLUMN = Column("if", "interface")
ROUTER_ID_COLUMN = Column("router", "router-id", 23)
METRIC_COLUMN = Column("metric", "metric", 6)
REFMETRIC_COLUMN = Column("refmetric", "refmetric", 9)


def route_key(route: Route) -> str:
    """The row key of a route: babeld's identity of a route (prefix, source, neighbour)."""
    return f"{route.prefix}|{route.src}|{route.via}|{route.interface}"


def route_mark(route: Route) -> tuple[str, str, int]:
    """(mark text, style spec, sort rank) of a route."""
    if route.metric >= INFINITY:
        return ("✖ inf", "route-lost", 3)
    if route.installed:
        return ("● sel", "route-selected bold", 0)
    if route.better_since is not None:
        return ("◐ pending", "route-pending bold", 1)
    return ("○ alt", "route-standby", 2)


class RoutesView(View):
    """Every route with its router-id, metric, refmetric and next hop.

    | Key | Action |
    | :- | :- |
    | enter | Open the route's destination (all its routes and their history). |
    | o / O | Sort by the next column / reverse the order. |
    """

    view_id = "routes"
    title = "Routes"

    BINDINGS = [*SORT_BINDINGS]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tracker = RouteTracker()

    def compose(self) -> ComposeResult:
        """A title and the table."""
        yield Static("Routes", classes="section", id="rt-title")
        yield KeyedTable(
            [
                MARK_COLUMN,
                Column("prefix", "destination"),
                Column("from", "from"),
                ROUTER_ID_COLUMN,
                METRIC_COLUMN,
                REFMETRIC_COLUMN,
                VIA_COLUMN,
                INTERFACE_COLUMN,
                Column("changed", "changed at", 10),
            ],
            self.style,
            sort="prefix",
            id="rt-table",
        )
        yield FilterBar(id="rt-filter")

    def main_widget(self) -> Widget | None:
        """The routes table."""
        return self.query_one("#rt-table", KeyedTable)

    def _rows(
        self, ctx: ViewContext, routes: Iterable[Route], hidden: list[str] | None = None
    ) -> Iterator[RowSpec]:
        now = ctx.now
        flt = self.filter
        for route in routes:
            mark = route_mark(route)
            dest = ctx.dest(route.prefix)
            via = ctx.hop(route.via, route.interface)
            if flt.active:
                hay = (
                    f"{mark[0]} {route.prefix} {dest} {route.src} {route.router_id} "
                    f"{route.metric} {route.via} {via} {route.interface}"
                ).lower()
                if not flt.matches(hay):
                    if hidden is not None:
                        hidden.append(route_key(route))
                    continue
            changed = fmt.clock_time(route.last_change) if route.last_change else "-"
            sig = (
                mark[2],
                route.metric,
                route.refmetric,
                route.router_id,
                changed,
                dest,
                via,
            )
            yield route_key(route), sig, partial(self._cells, route, mark, changed, now, dest, via)

    @staticmethod
    def _cells(
        route: Route, mark: tuple[str, str, int], changed: str, now: float, dest: str, via: str
    ) -> tuple[CellSpec, ...]:
        lost = mark[2] == 3
        base = "route-lost" if lost else ""
        return (
            mark,
            (dest, base, (route.prefix, route.src, mark[2], route.via)),
            ("" if route.src in DEFAULT_SRC else route.src, base, route.src),
            (route.router_id, base, route.router_id),
            (fmt.metric(route.metric), base, route.metric),
            (fmt.metric(route.refmetric), base, route.refmetric),
            (via, base, route.via),
            (route.interface, base, route.interface),
            (changed, base, -route.last_change),
        )

    def refresh_view(self, ctx: ViewContext) -> SyncStats:
        """Sync the table with the model's routes."""
        self.begin(ctx)
        model = ctx.model
        table = self.query_one("#rt-table", KeyedTable)
        tracker = self.tracker
        if ctx.complete or not tracker.follows(model, self.filter):  # no clocks: changes suffice
            stats = table.sync(self._rows(ctx, model.routes.values()))
            tracker.reset(model, self.filter, route_key)
        else:
            changed, _, remove = tracker.changed_routes(model)
            for route in changed:
                key = route_key(route)
                old = tracker.key_of(route.id)
                if old is not None and old != key:
                    remove.append(old)
                tracker.remember_key(route, key)
            rows = list(self._rows(ctx, changed, remove))
            stats = table.sync_some(rows, remove)
        total = len(ctx.model.routes)
        shown = table.row_count
        selected = sum(1 for r in ctx.model.routes.values() if r.installed and r.metric < INFINITY)
        title = f"Routes ({total}, {selected} selected)"
        if self.filter.active:
            title += f"  filter: {self.filter.text} → {shown} shown"
        self.query_one("#rt-title", Static).update(title)
        return stats

    @on(DataTable.RowSelected, "#rt-table")
    def _open_destination(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = event.row_key.value
        if key is None or self.ctx is None or self.ctx.open_detail is None:
            return
        prefix, src, _via, _if = key.split("|")
        self.ctx.open_detail(prefix, src)
