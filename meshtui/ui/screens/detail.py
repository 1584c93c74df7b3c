"""`DestinationScreen`: one destination's routes and what happened to them this session."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from functools import partial

from rich.style import Style
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from meshtui.core.model import Route
from meshtui.core.protocol import INFINITY
from meshtui.ui import format as fmt
from meshtui.ui.journal import LogEntry
from meshtui.ui.themes import Palette
from meshtui.ui.views.base import ViewContext
from meshtui.ui.views.events import EVENT_ROLES
from meshtui.ui.views.routes import (
    INTERFACE_COLUMN,
    MARK_COLUMN,
    METRIC_COLUMN,
    REFMETRIC_COLUMN,
    ROUTER_ID_COLUMN,
    VIA_COLUMN,
    route_key,
    route_mark,
)
from meshtui.ui.widgets.nodebar import NodeBar
from meshtui.ui.widgets.table import CellSpec, Column, KeyedTable, RowSpec


class DestinationScreen(Screen[None]):
    """All routes to one destination, ranked, and its history in this session.

    | Key | Action |
    | :- | :- |
    | escape | Back to the view it was opened from. |
    | w | Ask babeld itself (SIGUSR1: smoothed metrics, seqnos, feasibility); not bound in
    read-only mode nor on a recording. |
    """

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="detail.back"),
        Binding("w", "ask_babeld", "Ask babeld", id="detail.ask_babeld"),
    ]

    DEFAULT_CSS = """
    DestinationScreen #dd-summary {
        padding: 0 1;
        height: auto;
    }
    DestinationScreen #dd-summary.-unreachable {
        color: $unreachable;
        text-style: bold;
    }
    DestinationScreen #dd-summary.-spof {
        color: $spof;
    }
    DestinationScreen #dd-babeld {
        padding: 0 1;
        height: auto;
        display: none;
    }
    DestinationScreen #dd-babeld.-shown {
        display: block;
    }
    DestinationScreen #dd-babeld.-error {
        color: $error;
    }
    DestinationScreen #dd-routes {
        height: auto;
        max-height: 50%;
    }
    DestinationScreen #dd-history {
        height: 1fr;
    }
    DestinationScreen .section {
        height: 1;
        padding: 0 1;
        background: $panel;
        text-style: bold;
    }
    """

    def __init__(
        self,
        prefix: str,
        src: str = "::/0",
        ask: Callable[[DestinationScreen], None] | None = None,
    ) -> None:
        """Show one destination.

        Args:
            prefix: the destination.
            src: its source prefix.
            ask: asks babeld for its word on this destination (the app's action,
                which answers through :meth:`show_babeld`); None where it is
                not allowed (read-only mode, a recording): ``w`` is not bound.
        """
        super().__init__()
        self.prefix = prefix
        self.src = src
        self.ask = ask
        self.palette: Palette | None = None
        self.ctx: ViewContext | None = None
        self.ready = False

    def style(self, spec: str) -> Style:
        """The style for a spec in the current palette."""
        return self.palette.resolve(spec) if self.palette is not None else Style()

    def compose(self) -> ComposeResult:
        """Summary, routes, history."""
        yield NodeBar(id="nodebar")
        yield Static("", id="dd-summary")
        yield Static("", id="dd-babeld")
        yield Static("Routes", classes="section", id="dd-routes-title")
        yield KeyedTable(
            [
                MARK_COLUMN,
                Column("node", "neighbour"),
                VIA_COLUMN,
                INTERFACE_COLUMN,
                ROUTER_ID_COLUMN,
                METRIC_COLUMN,
                REFMETRIC_COLUMN,
                Column("margin", "margin", 7),
                Column("first", "first seen", 10),
                Column("changed", "last change", 11),
            ],
            self.style,
            sort="metric",
            id="dd-routes",
        )
        yield Static("History (this session, oldest first)", classes="section")
        yield KeyedTable(
            [
                Column("time", "time", 12),
                Column("what", "what", 14),
                Column("detail", "detail"),
            ],
            self.style,
            sort="time",
            row_height=None,  # a long line wraps onto more rows, never cut
            id="dd-history",
        )
        yield Footer()

    def on_mount(self) -> None:
        """Start on the routes; draw at once."""
        self.ready = True
        self.query_one("#dd-routes", KeyedTable).focus()
        if self.ctx is not None:
            self.refresh_detail(self.ctx)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``w`` only where babeld may be asked."""
        if action == "ask_babeld":
            return self.ask is not None
        return True

    def action_ask_babeld(self) -> None:
        """Ask babeld for its tables (the app runs it in a worker)."""
        if self.ask is None:
            return
        self.show_babeld(["asking babeld (SIGUSR1) ..."])
        self.ask(self)

    def show_babeld(self, lines: list[str], error: bool = False) -> None:
        """Show babeld's answer (or why there is none) under the summary."""
        panel = self.query_one("#dd-babeld", Static)
        panel.update(fmt.plain("\n".join(lines)))
        panel.set_class(True, "-shown")
        panel.set_class(error, "-error")

    def _route_rows(self, ctx: ViewContext) -> Iterator[RowSpec]:
        dest = ctx.model.destination(self.prefix, self.src)
        best = dest.selected.metric if dest.selected is not None else None
        now = ctx.now
        for route in dest.routes:
            mark = route_mark(route)
            changed = fmt.age(now - route.last_change) if route.last_change else "-"
            first = fmt.clock_time(route.first_seen) if route.first_seen else "-"
            node = ctx.hop(route.via, route.interface)
            sig = (mark, route.metric, route.refmetric, route.router_id, best, changed, node)
            cells = partial(self._route_cells, route, mark, changed, first, node, best)
            yield route_key(route), sig, cells

    @staticmethod
    def _route_cells(
        route: Route,
        mark: tuple[str, str, int],
        changed: str,
        first: str,
        node: str,
        best: int | None,
    ) -> tuple[CellSpec, ...]:
        if best is None or route.installed or route.metric >= INFINITY:
            margin: CellSpec = ("", "", 0)
        else:
            margin = (f"{route.metric - best:+d}", mark[1], route.metric - best)
        return (
            mark,
            (node, "", node),
            (route.via, "", route.via),
            (route.interface, "", route.interface),
            (route.router_id, "", route.router_id),
            (fmt.metric(route.metric), mark[1], route.metric),
            (fmt.metric(route.refmetric), "", route.refmetric),
            margin,
            (first, "", route.first_seen),
            (changed, "", -route.last_change),
        )

    def _history_rows(self, history: list[LogEntry]) -> Iterator[RowSpec]:
        # time (12) and what (14) columns, cell padding and the scrollbar take the rest
        width = max(20, self.size.width - (12 + 2) - (14 + 2) - 2 - 2)
        for entry in history:
            yield str(entry.seq), (entry.seq, width), partial(self._history_cells, entry, width)

    @staticmethod
    def _history_cells(entry: LogEntry, width: int) -> tuple[CellSpec, ...]:
        text = "\n".join(textwrap.wrap(entry.text, width, break_on_hyphens=False))
        return (
            (fmt.clock_time(entry.time, millis=True), "", entry.seq),
            (entry.type.value, EVENT_ROLES.get(entry.type, ""), entry.type.value),
            (text or entry.text, "", entry.text),
        )

    def refresh_detail(self, ctx: ViewContext) -> None:
        """Bring the screen up to date (just remember ``ctx`` until mounted)."""
        self.ctx = ctx
        if not self.ready:
            return
        if self.palette is not ctx.palette:
            changed = self.palette is not None
            self.palette = ctx.palette
            if changed:
                for table in self.query(KeyedTable):
                    table.restyle()
        dest = ctx.model.destination(self.prefix, self.src)
        summary = self.query_one("#dd-summary", Static)
        name = fmt.prefix(self.prefix)
        named = ctx.dest(self.prefix)
        if named != name:
            name = f"{named} ({name})"  # the detail shows both: name and address
        if self.src not in ("::/0", "0.0.0.0/0"):
            name += f" from {self.src}"
        state = dest.state
        sel = dest.selected
        lines = [f"Destination {name}"]
        if sel is not None:
            hop = fmt.hop(sel.via, sel.interface)
            relay = ctx.hop(sel.via, sel.interface)
            lines.append(
                f"via {relay + ' (' + hop + ')' if relay != hop else hop}  "
                f"metric {fmt.metric(sel.metric)}  router-id {sel.router_id}"
            )
        if state == "unreachable":
            lines.append("✖ UNREACHABLE: no route with a finite metric")
        elif state == "pending":
            lines.append("◐ pending: a better route is known but not installed yet")
        for route in dest.pending:
            why = ctx.model.explain(route, sel, ctx.now)
            if why is not None:
                lines.append(f"  ▲ {ctx.hop(route.via, route.interface)}: {why.text}")
        if dest.single_point_of_failure:
            lines.append("! single point of failure: no standby through another relay")
        if dest.since:
            lines.append(f"selection unchanged for {fmt.age(ctx.now - dest.since)}")
        summary.update(fmt.plain("\n".join(lines)))
        summary.set_class(state == "unreachable", "-unreachable")
        summary.set_class(dest.single_point_of_failure, "-spof")
        self.query_one("#dd-routes", KeyedTable).sync(self._route_rows(ctx))
        self.query_one("#dd-routes-title", Static).update(f"Routes ({len(dest.routes)})")
        history = ctx.journal.history_of(self.prefix, self.src)
        self.query_one("#dd-history", KeyedTable).sync(self._history_rows(history))
