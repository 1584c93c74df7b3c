"""The base of the dashboard's views and the context they are drawn from.

A view is a widget in the main screen's content switcher. The app calls
:meth:`View.refresh_view` on the visible view a few times a second with a
:class:`ViewContext` (the node's model and journal, the time, the palette);
views never reach a transport and never keep references into the model
beyond one refresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from textual.binding import Binding
from textual.containers import Vertical
from textual.widget import Widget

from meshtui.core.babelconf import ParsedConfig
from meshtui.core.kernel import LocalFacts
from meshtui.core.model import DestKey, NodeModel, Route
from meshtui.core.names import Names
from meshtui.ui import format as fmt
from meshtui.ui.journal import NodeJournal
from meshtui.ui.themes import Palette
from meshtui.ui.widgets.filterbar import FilterBar, TextFilter
from meshtui.ui.widgets.table import KeyedTable, SyncStats

if TYPE_CHECKING:
    from meshtui.ui.views.mesh import MeshInput


SORT_BINDINGS: tuple[Binding, ...] = (
    Binding("o", "sort_next", "Sort", id="table.sort"),
    Binding("O", "sort_reverse", "Reverse", show=False, id="table.reverse"),
)
"""``o`` / ``O``: sort the view's table by the next column / reverse it
(:meth:`View.action_sort_next`, :meth:`View.action_sort_reverse`); the views
with sortable tables add them to their ``BINDINGS``. Their help lines:
:mod:`meshtui.ui.actions` (ids ``table.sort``, ``table.reverse``)."""


class RouteTracker:
    """Which routes changed since a view last looked, without walking every destination.

    A view does a full refresh now and then (``ViewContext.full``); in between
    it asks the tracker for the routes (and so the destinations) whose
    ``last_change`` moved, or that appeared or went.
    """

    def __init__(self) -> None:
        self._model_id = 0
        self._filter: object = None
        self._mark = 0.0
        self._at_mark: set[str] = set()
        self._dests: dict[str, DestKey] = {}
        self._keys: dict[str, str] = {}

    def follows(self, model: NodeModel, filter: object) -> bool:
        """Whether a partial refresh can continue from the last one."""
        return self._model_id == id(model) and self._filter == filter

    def reset(
        self, model: NodeModel, filter: object, key: Callable[[Route], str] | None = None
    ) -> None:
        """Start following ``model`` from its current state."""
        self._model_id = id(model)
        self._filter = filter
        self._dests = {rid: r.dest for rid, r in model.routes.items()}
        self._keys = {rid: key(r) for rid, r in model.routes.items()} if key else {}
        self._mark = max((r.last_change for r in model.routes.values()), default=0.0)
        self._at_mark = {rid for rid, r in model.routes.items() if r.last_change == self._mark}

    def changed_routes(self, model: NodeModel) -> tuple[list[Route], list[DestKey], list[str]]:
        """(changed or new routes, destinations of removed routes, row keys of removed routes).

        A route counts as changed when its ``last_change`` is newer than the newest one
        seen so far, or equal to it and not seen yet (a dump stamps thousands of routes
        with one time: they are not "changed" again at every look).
        """
        mark = self._mark
        at_mark = self._at_mark
        dests = self._dests
        newest = mark
        changed: list[Route] = []
        for rid, route in model.routes.items():
            stamp = route.last_change
            if stamp > mark or (stamp == mark and rid not in at_mark) or rid not in dests:
                changed.append(route)
                dests[rid] = route.dest
                if stamp > newest:
                    newest = stamp
        if newest > mark:
            self._at_mark = {r.id for r in changed if r.last_change == newest}
        else:
            at_mark.update(r.id for r in changed if r.last_change == mark)
        gone_dests: list[DestKey] = []
        gone_keys: list[str] = []
        if len(dests) != len(model.routes):
            for rid in [rid for rid in dests if rid not in model.routes]:
                gone_dests.append(dests.pop(rid))
                key = self._keys.pop(rid, None)
                if key is not None:
                    gone_keys.append(key)
        self._mark = newest
        return changed, gone_dests, gone_keys

    def key_of(self, route_id: str) -> str | None:
        """The row key a route was last shown under."""
        return self._keys.get(route_id)

    def remember_key(self, route: Route, key: str) -> None:
        """Note the row key a route is shown under (to remove it when the route goes)."""
        self._keys[route.id] = key

    def changed_destinations(self, model: NodeModel) -> set[DestKey]:
        """Destinations with a route that changed, appeared or went."""
        changed, gone, _ = self.changed_routes(model)
        return {r.dest for r in changed} | set(gone)


@dataclass(eq=False)
class NodeConfig:
    """A node's babeld.conf as the hub reads it for the Filters view (read-only).

    The :class:`~meshtui.ui.hub.NodeHub` owns one per node that has a config to
    read, runs the read in its worker and fills this in; a view only draws it
    and asks for a read with :meth:`read` (the first time it needs it, and on
    ``c``). Nothing is ever written to the node.

    Attributes:
        label: where it is read from, for the screen (``ssh root@host:/etc/babeld.conf``).
        requested: a read was asked for (until then nothing was read).
        loading: a read is under way.
        parsed: the config, parsed against the node's babeld version and interfaces.
        absent: there is no such file (babeld runs with its defaults).
        error: why the last read failed, in one line.
    """

    label: str
    reader: Callable[[Callable[[], None] | None], None] = field(repr=False)
    requested: bool = False
    loading: bool = False
    parsed: ParsedConfig | None = None
    absent: bool = False
    error: str | None = None

    def read(self, then: Callable[[], None] | None = None) -> None:
        """Read the config (again) in the hub's worker; ``then()`` once it is read or failed."""
        self.reader(then)


@dataclass(slots=True)
class ViewContext:
    """What a view is drawn from, for one refresh.

    Attributes:
        node: the node's name.
        model: its live model.
        journal: its journal (events, timeline, history, raw lines).
        now: the current time on the node's clock (a replay's virtual clock).
        palette: styles for the semantic colour roles.
        local: kernel and WireGuard facts for a local node (None: not local / not yet).
        hello: configured hello intervals by interface name (from an inventory).
        is_replay: the node is a recording.
        open_detail: opens the destination detail screen for (prefix, src).
        full: bring every row on screen up to date, clocks included (periodically, and
            after anything but new data); otherwise views may only look at what changed.
        complete: redraw every row, on screen or not (less often: :data:`COMPLETE_REFRESH`
            in the app, and after anything but new data); a large table's rows out of
            sight keep their clock columns (``5 s ago``) from the last complete refresh.
        names: node names for hops and prefixes (inventory, recording, learnt live).
        addresses: show addresses instead of names (the ``a`` toggle).
        config: the node's babeld.conf as the hub reads it (None: nowhere to read it from).
        mesh: every node's model and names, for the Mesh view.
    """

    node: str
    model: NodeModel
    journal: NodeJournal
    now: float
    palette: Palette
    local: LocalFacts | None = None
    hello: dict[str, float] = field(default_factory=dict)
    is_replay: bool = False
    open_detail: Callable[[str, str], None] | None = None
    full: bool = True
    complete: bool = True
    names: Names | None = None
    addresses: bool = False
    config: NodeConfig | None = None
    mesh: Callable[[], MeshInput] | None = None
    _hops: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    def hop(self, via: str, interface: str) -> str:
        """A next hop as the operator reads it: ``relay-1``, else its /128, else ``fe80::1%wg-r1``.

        With :attr:`addresses`, always ``via%interface``. Answers are kept for the
        refresh (thousands of routes share a few next hops).
        """
        if self.names is None or self.addresses:
            return fmt.hop(via, interface)
        key = (via, interface)
        label = self._hops.get(key)
        if label is None:
            label = self._hops[key] = self.names.label_hop(self.node, via, interface)
        return label

    def dest(self, prefix: str) -> str:
        """A destination as the operator reads it: ``srv-b1``, else the prefix (no ``/128``)."""
        if self.names is not None and not self.addresses:
            name = self.names.node_of_prefix(prefix) if prefix.endswith("/128") else None
            if name is not None:
                return name
        return fmt.prefix(prefix)


class View(Vertical):
    """A dashboard view: one kind of thing, one key away.

    Subclasses set :attr:`view_id`, :attr:`title`, compose their widgets and
    a :class:`FilterBar`, and implement :meth:`refresh_view`.
    """

    view_id: ClassVar[str] = ""
    title: ClassVar[str] = ""

    DEFAULT_CSS = """
    View {
        height: 1fr;
    }
    View .section {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $foreground;
        text-style: bold;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id or self.view_id)
        self.filter = TextFilter()
        self.ctx: ViewContext | None = None
        self.palette: Palette | None = None
        self.last_stats = SyncStats()

    # ------------------------------------------------------------ hooks

    def refresh_view(self, ctx: ViewContext) -> SyncStats:
        """Bring the view up to date with ``ctx``."""
        raise NotImplementedError

    def restyle(self, palette: Palette) -> None:
        """The theme changed: re-render cells that carry colours."""
        self.palette = palette
        for table in self.query(KeyedTable):
            table.restyle()

    def main_widget(self) -> Widget | None:
        """The widget that takes focus when the view is shown."""
        return None

    def sort_target(self) -> KeyedTable | None:
        """The table ``o``/``O`` sort: the view's focused table, else its main one."""
        focused = self.app.focused
        if isinstance(focused, KeyedTable) and focused in self.query(KeyedTable):
            return focused
        main = self.main_widget()
        return main if isinstance(main, KeyedTable) else None

    def action_sort_next(self) -> None:
        """Sort the focused table by its next column."""
        table = self.sort_target()
        if table is not None:
            table.cycle_sort()

    def action_sort_reverse(self) -> None:
        """Reverse the focused table's order."""
        table = self.sort_target()
        if table is not None:
            table.reverse_sort()

    @property
    def pending_rows(self) -> int:
        """Rows the view left for its next refreshes (a catch-up spread over several): the
        refresh loop does not skip an idle tick while there are some."""
        return 0

    def reset(self) -> None:
        """Forget everything shown (another node was selected)."""
        for table in self.query(KeyedTable):
            table.reset()

    def style(self, spec: str) -> Style:
        """The Rich style for a style spec in the current palette (tables call this)."""
        palette = self.palette
        return palette.resolve(spec) if palette is not None else Style()

    def begin(self, ctx: ViewContext) -> None:
        """Remember the context of a refresh (subclasses call this first)."""
        self.ctx = ctx
        self.palette = ctx.palette

    # ------------------------------------------------------------ behaviour

    def focus_main(self) -> None:
        """Focus the view's main widget."""
        widget = self.main_widget()
        if widget is not None:
            widget.focus()

    def redraw(self) -> None:
        """Refresh again with the last context (after a filter or sort change)."""
        if self.ctx is not None:
            self.last_stats = self.refresh_view(self.ctx)

    def open_filter(self) -> None:
        """Show the filter bar (`/`)."""
        bar = self.query_one(FilterBar)
        bar.value = self.filter.text
        bar.open()

    def back(self) -> bool:
        """Handle `esc`: clear an active filter; False when there was nothing to undo."""
        if self.filter.active:
            self.query_one(FilterBar).clear_filter()
            return True
        return False

    def on_filter_bar_filter_changed(self, event: FilterBar.FilterChanged) -> None:
        """Apply a new filter."""
        event.stop()
        if event.filter != self.filter:
            self.filter = event.filter
            self.redraw()

    def on_keyed_table_sort_changed(self, event: KeyedTable.SortChanged) -> None:
        """Redraw titles that mention the order."""
        event.stop()
        self.redraw()

    def on_filter_bar_filter_closed(self, event: FilterBar.FilterClosed) -> None:
        """Give focus back to the table."""
        event.stop()
        self.focus_main()
