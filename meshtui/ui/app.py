"""The dashboard: :func:`make_app` builds it, the same way for the CLI, the demo and the tests.

The app composes and routes: the :class:`~meshtui.ui.hub.NodeHub` owns the
nodes (feeds, socket pump, SSH pools, probes, config sources) and views get
what they show through a :class:`~meshtui.ui.views.base.ViewContext`.

Data flows one way: each node's session (a worker the hub starts) reads
babeld continuously and its callbacks append to the node's journal; a
one-shot timer, re-armed after each refresh (:data:`REFRESH_INTERVAL`),
brings the visible view up to date inside ``batch_update()``. So repaints
are coalesced to a few per second whatever babeld sends, and the reader
never waits for the screen.

Keys — one meaning everywhere; every binding has an id for a keymap
(``$XDG_CONFIG_HOME/meshtui/keymap.toml``, ``"view.routes" = "r"``):

====================  =================================================
``1`` … ``7``         views: Failover, Neighbours, Routes, Interfaces, Events, Mesh, Filters
``/``                 filter the view (words must all match, ``!word`` excludes)
``esc``               back: close the filter / detail, clear the filter, previous view
``enter``             open the destination under the cursor (Failover, Routes)
``o`` / ``O``         sort by the next column / reverse (or click a header)
``space``             pause / resume the display (and a replay)
``+`` / ``-``         replay faster / slower (replays only)
``t``                 next theme
``n``                 next node (with several nodes)
``r`` / ``s``         Events view: raw babeld lines / save the log
``?``                 help;  ``ctrl+p`` command palette;  ``q`` quit
``F`` / ``H``         lab only (``meshtui demo --live``): fail / heal a relay — write actions
====================  =================================================
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.events import Key
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import ContentSwitcher
from textual.worker import Worker, WorkerState

from meshtui.core.names import Names
from meshtui.core.sanitize import inert
from meshtui.paths import write_atomic
from meshtui.ui.gcpolicy import CalmCollector
from meshtui.ui.hub import NodeFeed, NodeHub
from meshtui.ui.journal import LinkState
from meshtui.ui.keymap import keymap_path, load_keymap
from meshtui.ui.keys import help_keys, palette_commands
from meshtui.ui.labctl import LabActions
from meshtui.ui.screens.detail import DestinationScreen
from meshtui.ui.screens.dialogs import (
    HelpKey,
    HelpScreen,
    LabActionScreen,
    SaveScreen,
    reading_notes,
)
from meshtui.ui.screens.main import VIEW_CLASSES, LabMainScreen, MainScreen
from meshtui.ui.status import banner_text, header_info
from meshtui.ui.themes import (
    BUNDLED_DIR,
    DEFAULT_THEME,
    Palette,
    ThemeLoad,
    load_themes,
    semantic_defaults,
    user_theme_dir,
)
from meshtui.ui.views.base import View, ViewContext
from meshtui.ui.views.events import EventsView
from meshtui.ui.views.failover import FailoverView
from meshtui.ui.views.mesh import MeshView
from meshtui.ui.widgets.banner import Banner
from meshtui.ui.widgets.nodebar import NodeBar

if TYPE_CHECKING:
    from meshtui.core.inventory import Inventory
    from meshtui.ui.hub import Source  # make_app's argument: the hub reads it

REFRESH_INTERVAL = 0.2
"""Seconds between two refreshes of the visible view (5 Hz)."""

IDLE_REFRESH = 1.0
"""With nothing new from babeld, refresh (time columns) at most this often."""

FULL_REFRESH = 1.0
"""Seconds between two full refreshes (every row on screen, clocks included); in between,
views redraw what changed."""

COMPLETE_REFRESH = 10.0
"""Seconds between two complete refreshes (every row, on screen or not: thousands of them)."""

URGENT_GAP = 0.15
"""A failover, loss or recovery is drawn at once, unless the view was refreshed less than this
many seconds ago (then the next tick shows it); the tick then counts from that refresh. So
under a storm of failovers repaints stay coalesced: at most one per this many seconds."""

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


@dataclass(slots=True)
class UiStats:
    """Counters of what the UI did, for the storm benchmark (``--stats FILE``)."""

    ticks: int = 0
    refreshes: int = 0
    skipped_idle: int = 0
    refresh_seconds: float = 0.0
    refresh_max: float = 0.0
    rows_added: int = 0
    rows_removed: int = 0
    cells_updated: int = 0
    log_lines_drawn: int = 0
    log_lines_not_drawn: int = 0


class MeshApp(App[int]):
    """The meshtui dashboard. Build it with :func:`make_app`.

    | Key | Action |
    | :- | :- |
    | 1–7 | Failover, Neighbours, Routes, Interfaces, Events, Mesh, Filters. |
    | / | Filter the view. |
    | escape | Back. |
    | space | Pause / resume. |
    | + / - | Replay faster / slower. |
    | t | Next theme. |
    | n | Next node. |
    | ? | Help. |
    | q | Quit. |
    """

    CSS_PATH = "meshtui.tcss"
    TITLE = "meshtui"
    start_screen: Screen[None] | None = None  # pushed once mounted (`--rehearsal FILE`)

    BINDINGS = [
        Binding("1", "show_view('failover')", "Failover", id="view.failover"),
        Binding("2", "show_view('neighbours')", "Neighbours", id="view.neighbours"),
        Binding("3", "show_view('routes')", "Routes", id="view.routes"),
        Binding("4", "show_view('interfaces')", "Interfaces", id="view.interfaces"),
        Binding("5", "show_view('events')", "Events", id="view.events"),
        Binding("6", "show_view('mesh')", "Mesh", id="view.mesh"),
        Binding("7", "show_view('filters')", "Filters", id="view.filters"),
        Binding("D", "deploy", "Deploy config", id="node.deploy"),
        Binding("slash", "filter", "Filter", id="app.filter"),
        Binding("escape", "back", "Back", show=False, id="app.back"),
        Binding("space", "toggle_pause", "Pause", id="app.pause"),
        Binding("plus,equals_sign", "speed(1)", "Faster", id="replay.faster"),
        Binding("minus", "speed(-1)", "Slower", id="replay.slower"),
        Binding("t", "next_theme", "Theme", id="app.theme"),
        Binding("a", "toggle_addresses", "Addresses", id="app.addresses"),
        Binding("n", "next_node", "Next node", id="app.node"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(
        self,
        hub: NodeHub,
        *,
        read_only: bool = True,
        theme: str | None = None,
        themes: ThemeLoad | None = None,
        clock: Callable[[], float] | None = None,
        banner: str = "",
        banner_kind: str = "info",
        lab: LabActions | None = None,
        refresh_interval: float = REFRESH_INTERVAL,
        hello: dict[str, float] | None = None,
        keymap: dict[str, str] | None = None,
        notices: Iterable[str] = (),
        stats_path: Path | None = None,
        start_paused: bool = False,
    ) -> None:
        super().__init__()
        self.hub = hub
        self.show_addresses = False
        self.collector = CalmCollector()
        self.current = 0
        self.read_only = read_only if lab is None else False
        self.lab = lab
        self.clock = clock
        self.banner_text = banner
        self.banner_kind = banner_kind
        self.refresh_interval = refresh_interval
        self.hello = dict(hello or {})
        self.keymap_overrides = dict(keymap or {})
        self.notices = list(notices)
        self.stats_path = stats_path
        self.ui_stats = UiStats()
        self.paused = False
        self.start_paused = start_paused
        self.view_name = FailoverView.view_id
        self.history: list[str] = []
        self._timer: Timer | None = None
        self._urgent = False
        if refresh_interval <= IDLE_REFRESH:  # a parked timer (tests) draws only when asked
            for feed in hub.feeds:
                feed.on_timeline = self._timeline_arrived
        self._last_seen: tuple[int, int, int] = (-1, -1, -1)
        self._last_refresh = 0.0
        self._last_full = 0.0
        self._last_complete = 0.0
        self._palette: Palette | None = None
        loaded = themes if themes is not None else ThemeLoad((), ())
        self.theme_names: list[str] = []
        for item in loaded.themes:
            self.register_theme(item)
            self.theme_names.append(item.name)
        self.notices.extend(loaded.problems)
        wanted = theme or DEFAULT_THEME
        if wanted not in self.available_themes:
            self.notices.append(f"theme {wanted!r} not found; using {DEFAULT_THEME}")
            wanted = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
        self.theme = wanted

    # ------------------------------------------------------------ setup

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """The semantic colour roles, derived from the current theme when it omits them."""
        return semantic_defaults(self.current_theme)

    def get_default_screen(self) -> Screen:
        """The main screen (with the lab's write actions when there is a lab)."""
        return LabMainScreen() if self.lab is not None else MainScreen()

    def on_key(self, event: Key) -> None:
        """The first key folds the banner to one line (the screen is the user's now)."""
        try:
            banner = self.screen_main().query_one(Banner)
        except LookupError:
            return
        banner.collapse()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications carry outside text (node errors, paths): inert, never markup."""
        super().notify(
            inert(message), title=inert(title), severity=severity, timeout=timeout, markup=False
        )

    def on_mount(self) -> None:
        """Start the sessions and the refresh timer."""
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        if self.keymap_overrides:
            self.set_keymap(self.keymap_overrides)
        self.hub.start(self.run_worker)
        for notice in self.notices:
            self.notify(notice, title="meshtui", severity="warning", timeout=10)
        if self.start_paused:
            self.paused = True
            for feed in self.feeds:
                feed.pause()
        self.call_after_refresh(self._focus_view)
        self.call_after_refresh(self.refresh_now)
        self._arm()
        if self.start_screen is not None:
            self.push_screen(self.start_screen)

    async def on_unmount(self) -> None:
        """Stop the sessions and close their SSH connections (on the loop that opened them)."""
        await self.hub.close()
        self.collector.stop()
        if self.stats_path is not None:
            self.write_stats(self.stats_path)

    def write_stats(self, path: Path) -> None:
        """Write the UI and ingest counters as JSON (for the benchmark)."""
        feed = self.feed
        out = {
            "ui": asdict(self.ui_stats),
            "lines": feed.model.stats.lines,
            "noop_lines": feed.model.stats.noops,
            "events": feed.journal.events_in,
            "event_batches": feed.journal.batches_in,
            "routes": len(feed.model.routes),
            "link": feed.journal.link.state.value,
            "disconnects": feed.session.disconnects,
            "pump": self.hub.pump_stats(),
            "gc": {
                "calm_collections": self.collector.stats.collections,
                "forced": self.collector.stats.forced,
                "longest": self.collector.stats.longest,
            },
        }
        write_atomic(path.expanduser(), json.dumps(out, indent=2) + "\n", 0o600)

    # ------------------------------------------------------------ accessors

    @property
    def feeds(self) -> list[NodeFeed]:
        """Every node, in the order ``n`` cycles through them."""
        return self.hub.feeds

    @property
    def names(self) -> Names:
        """Node names (inventory, recordings, learnt live)."""
        return self.hub.names

    @property
    def inventory(self) -> Inventory | None:
        """The inventory the nodes come from, if any."""
        return self.hub.inventory

    @property
    def filters_config(self) -> Path | None:
        """``--config FILE``, for the Filters view of a local node or a recording."""
        return self.hub.filters_config

    @filters_config.setter
    def filters_config(self, path: Path | None) -> None:
        self.hub.filters_config = path

    @property
    def feed(self) -> NodeFeed:
        """The node shown."""
        return self.feeds[self.current]

    @property
    def palette(self) -> Palette:
        """Styles for the semantic roles in the current theme."""
        if self._palette is None:
            variables = {**semantic_defaults(self.current_theme), **self.current_theme.variables}
            self._palette = Palette(variables)
        return self._palette

    def now(self) -> float:
        """The current time on the shown node's clock (or the injected clock)."""
        return self.clock() if self.clock is not None else self.feed.clock()

    def view(self, name: str | None = None) -> View:
        """A view by name (the current one by default)."""
        return self.screen_main().query_one(f"#{name or self.view_name}", View)

    def screen_main(self) -> MainScreen:
        """The main screen (whatever is pushed on top of it)."""
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        raise LookupError("no main screen")

    def context(self) -> ViewContext:
        """What the views draw from, now."""
        feed = self.feed
        return ViewContext(
            node=feed.name,
            model=feed.model,
            journal=feed.journal,
            now=self.now(),
            palette=self.palette,
            local=self.hub.local.get(feed.name),
            hello=self.hello,
            is_replay=feed.is_replay,
            open_detail=self.open_detail,
            names=self.names,
            addresses=self.show_addresses,
            config=self.hub.config_source(feed),
            mesh=self.hub.mesh_input,
        )

    # ------------------------------------------------------------ refresh loop

    def _arm(self) -> None:
        self._timer = self.set_timer(self.refresh_interval, self._tick, name="meshtui-refresh")

    def _timeline_arrived(self, feed: NodeFeed) -> None:
        """A failover, loss or recovery on a node: show it without waiting for the tick."""
        if feed is self.feed and not self.paused and not self._urgent:
            self._urgent = True
            self.call_later(self._urgent_refresh)

    def _urgent_refresh(self) -> None:
        self._urgent = False
        if time.monotonic() - self._last_refresh >= URGENT_GAP:
            if self._timer is not None:
                self._timer.stop()
            try:
                self.refresh_now()
            finally:
                self._arm()

    def _tick(self) -> None:
        try:
            self.ui_stats.ticks += 1
            self.refresh_now()
        finally:
            self._arm()

    def refresh_now(self, force: bool = False, full: bool | None = None) -> None:
        """Bring the header, the banner and the visible view up to date.

        Args:
            force: refresh the view even when paused or when nothing changed.
            full: redraw every row (default: when forced, or once per
                :data:`FULL_REFRESH`); False: only what changed since the view last looked.
        """
        feed = self.feed
        for each in self.feeds:
            each.poll()
        self._collect_garbage()
        try:
            main = self.screen_main()
        except LookupError:
            return  # not composed yet
        if not main.query(Banner):
            return
        self._update_header()
        self._update_banner()
        self._maybe_probe()
        if self.paused and not force:
            return
        seen = (id(feed), feed.model.stats.lines, feed.journal.revision)
        wall = time.monotonic()
        if not force and seen == self._last_seen and wall - self._last_refresh < IDLE_REFRESH:
            self.ui_stats.skipped_idle += 1
            return
        self._last_seen = seen
        self._last_refresh = wall
        started = time.perf_counter()
        ctx = self.context()
        ctx.full = full if full is not None else force or wall - self._last_full >= FULL_REFRESH
        ctx.complete = ctx.full and (force or wall - self._last_complete >= COMPLETE_REFRESH)
        if ctx.complete:
            self._last_complete = wall
        if ctx.full:
            self._last_full = wall
            self.hub.learn_names()
        with self.batch_update():
            view = self.view()
            stats = view.refresh_view(ctx)
            view.last_stats = stats
            top = self.screen
            if isinstance(top, DestinationScreen):
                top.refresh_detail(ctx)
        spent = time.perf_counter() - started
        ui = self.ui_stats
        ui.refreshes += 1
        ui.refresh_seconds += spent
        ui.refresh_max = max(ui.refresh_max, spent)
        ui.rows_added += stats.added
        ui.rows_removed += stats.removed
        ui.cells_updated += stats.updated_cells
        events = self.view("events")
        if isinstance(events, EventsView):
            ui.log_lines_drawn = events.drawn
            ui.log_lines_not_drawn = events.skipped

    def _collect_garbage(self) -> None:
        """Full garbage collections only when calm (see :mod:`meshtui.ui.gcpolicy`)."""
        lines = sum(feed.model.stats.lines for feed in self.feeds)
        if self.collector.stats.collections == 0:
            if self.feed.journal.link.ever_live and self._last_full:
                self.collector.start()  # after the first dump is on screen
            return
        self.collector.tick(lines, self.hub.backlog)

    def _update_header(self) -> None:
        view_title = next(c.title for c in VIEW_CLASSES if c.view_id == self.view_name)
        nodes = f"{self.current + 1}/{len(self.feeds)}" if len(self.feeds) > 1 else ""
        info = header_info(
            self.feed, self.now(), view_title, nodes, paused=self.paused, read_only=self.read_only
        )
        for screen in self.screen_stack:
            for bar in screen.query(NodeBar):
                bar.show(info)

    def _update_banner(self) -> None:
        try:
            banner = self.screen_main().query_one(Banner)
        except LookupError:
            return
        text, kind = banner_text(self.feed, self.banner_text, self.banner_kind)
        if text:
            banner.show(text, kind)
        else:
            banner.hide()

    def _maybe_probe(self) -> None:
        if self.view_name == "interfaces":
            self.hub.maybe_probe(self.feed, self.run_worker)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Turn worker outcomes into state and visible messages (never a traceback)."""
        worker = event.worker
        name = worker.name or ""
        if worker.group == "sessions" and event.state is WorkerState.ERROR:
            node = name.partition(":")[2]
            for feed in self.feeds:
                if feed.name == node:
                    feed.journal.note_state(LinkState.FAILED, str(worker.error), self.now())
            self.notify(f"{node}: {worker.error}", title="session stopped", severity="error")
        elif worker.group == "probe" and event.state in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            error = worker.error if event.state is WorkerState.ERROR else None
            result = worker.result if event.state is WorkerState.SUCCESS else None
            self.hub.probed(name.partition(":")[2], result, error)
            self.refresh_now(force=True)
        elif worker.group == "lab":
            if event.state is WorkerState.SUCCESS:
                self.notify(f"{worker.description}: done", title="lab")
            elif event.state is WorkerState.ERROR:
                self.notify(f"{worker.description}: {worker.error}", title="lab", severity="error")

    # ------------------------------------------------------------ theme

    def _on_theme_changed(self, _theme: object) -> None:
        self._palette = None
        palette = self.palette
        with self.batch_update():
            for cls in VIEW_CLASSES:
                self.view(cls.view_id).restyle(palette)
        self.refresh_now(force=True)

    def action_next_theme(self) -> None:
        """Cycle through meshtui's themes (bundled and the user's)."""
        names = self.theme_names or list(self.available_themes)
        index = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(index + 1) % len(names)]
        self.notify(f"theme: {self.theme}", timeout=2)

    # ------------------------------------------------------------ views

    def _focus_view(self) -> None:
        if isinstance(self.screen, MainScreen):
            self.view().focus_main()

    def action_show_view(self, name: str) -> None:
        """Show a view (keys 1–7)."""
        if isinstance(self.screen, DestinationScreen | HelpScreen):
            self.pop_screen()
        if name == self.view_name:
            self._focus_view()
            return
        self.history.append(self.view_name)
        del self.history[:-20]
        self._switch(name)

    def _switch(self, name: str) -> None:
        """Show a view at once (as it was last drawn), then bring it up to date.

        A view seen before is painted first and brought up to date right after
        from what changed while it was hidden (not a rebuild: the periodic full
        refresh catches its clocks up within :data:`FULL_REFRESH`), so the key's
        effect is on screen without waiting for thousands of rows; a view never
        drawn is refreshed before it shows.
        """
        self.view_name = name
        switcher = self.screen_main().query_one("#views", ContentSwitcher)
        switcher.current = name
        view = self.view(name)
        view.focus_main()
        if view.ctx is None:
            self.refresh_now(force=True)
        else:
            self._update_header()
            self.call_after_refresh(self.refresh_now, True, False)

    def action_filter(self) -> None:
        """Open the current view's filter (`/`)."""
        if isinstance(self.screen, MainScreen):
            self.view().open_filter()

    def action_back(self) -> None:  # type: ignore[override]
        """`esc`: clear the filter, else go to the previous view, else hide the banner."""
        if not isinstance(self.screen, MainScreen):
            self.pop_screen()
            return
        if self.view().back():
            return
        if self.history:
            self._switch(self.history.pop())
            return
        if self.banner_text:
            self.banner_text = ""
            self._update_banner()

    def open_detail(self, prefix: str, src: str = "::/0") -> None:
        """Open a destination's detail screen."""
        feed = self.feed
        ask = None if self.read_only or feed.is_replay else self.ask_babeld
        screen = DestinationScreen(prefix, src, ask=ask)
        screen.ctx = self.context()
        self.push_screen(screen)

    def ask_babeld(self, screen: DestinationScreen) -> None:
        """The detail screen's ``w``: babeld's own word on its destination, in a worker."""
        self.run_worker(
            self._ask_babeld(screen, self.feed),
            group="ask-babeld",
            exclusive=True,
            exit_on_error=False,
            description="ask babeld (SIGUSR1)",
        )

    async def _ask_babeld(self, screen: DestinationScreen, feed: NodeFeed) -> None:
        report = await self.hub.ask_babeld(
            feed, screen.prefix, screen.src, read_only=self.read_only
        )
        if isinstance(report, str):
            screen.show_babeld([report], error=True)
        else:
            screen.show_babeld(report.lines(self.context().hop))

    def action_help(self) -> None:
        """Show the keys and how to read the screen."""
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen(self.help_keys(), reading_notes()))

    def help_keys(self) -> list[HelpKey]:
        """The help screen's key table, from the bindings actually in force."""
        return help_keys(
            replay_shown=self.feed.is_replay,
            replays=any(f.is_replay for f in self.feeds),
            several=len(self.feeds) > 1,
            lab=self.lab is not None,
        )

    # ------------------------------------------------------------ pause, speed, nodes

    def action_toggle_pause(self) -> None:
        """Pause or resume the display; a replay pauses too (a live reader never does)."""
        self.paused = not self.paused
        for feed in self.feeds:
            if self.paused:
                feed.pause()
            else:
                feed.resume()
        self.refresh_now(force=not self.paused)

    def action_toggle_addresses(self) -> None:
        """Show node names (default) or the addresses babeld prints, in every view."""
        self.show_addresses = not self.show_addresses
        self.notify("addresses" if self.show_addresses else "node names", timeout=2)
        self.refresh_now(force=True)

    def action_speed(self, step: int) -> None:
        """Replay faster (+1) or slower (-1)."""
        feed = self.feed
        position = feed.replay_position
        if position is None:
            self.notify("speed: only for a replay", timeout=2)
            return
        speed = position[2] if position[2] > 0 else 1.0
        index = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - speed))
        index = max(0, min(len(SPEEDS) - 1, index + step))
        feed.set_speed(SPEEDS[index])
        self.notify(f"replay speed ×{SPEEDS[index]:g}", timeout=2)
        self._update_header()

    def action_next_node(self) -> None:
        """Show the next node."""
        if len(self.feeds) < 2:
            self.notify("only one node is open", timeout=2)
            return
        self.current = (self.current + 1) % len(self.feeds)
        for cls in VIEW_CLASSES:
            self.view(cls.view_id).reset()
        self.refresh_now(force=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide keys that do nothing here (speed without a replay, next node with one node)."""
        if action == "speed":
            return any(f.is_replay for f in self.feeds)
        if action == "next_node":
            return len(self.feeds) > 1
        if action == "deploy":  # a write action: not bound at all in read-only mode
            return (
                not self.read_only
                and self.inventory is not None
                and self.hub.pool(self.feed) is not None
            )
        return True

    # ------------------------------------------------------------ mesh and deploy

    def on_mesh_view_node_selected(self, message: MeshView.NodeSelected) -> None:
        """Enter on a Mesh row: show that node's Failover view."""
        for index, feed in enumerate(self.feeds):
            if feed.name == message.node:
                self.current = index
                for cls in VIEW_CLASSES:
                    self.view(cls.view_id).reset()
                self.action_show_view(FailoverView.view_id)
                return

    def action_deploy(self) -> None:
        """Deploy the generated config to the node shown (asks, shows the diff, confirms)."""
        if not self.check_action("deploy", ()):
            return
        self.run_worker(
            self._deploy([self.feed.name]),
            group="deploy",
            exclusive=True,
            exit_on_error=False,
            description="deploy config",
        )

    async def _deploy(self, names: list[str]) -> None:
        from meshtui.ui.screens.deploy import TuiOperator

        operator = TuiOperator(self, log=lambda node, msg: self.notify(f"{node}: {msg}"))
        report = await self.hub.deploy(names, operator, self.feed)
        self.notify("; ".join(f"{r.node}: {r.outcome.value}" for r in report.nodes))

    # ------------------------------------------------------------ events log saving

    def on_events_view_save_requested(self, event: EventsView.SaveRequested) -> None:
        """Ask for a path, then write the log atomically."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        kind = "raw" if event.raw else "events"
        default = f"meshtui-{self.feed.name}-{kind}-{stamp}.log"
        lines = event.lines

        def save(path: str | None) -> None:
            if not path:
                return
            try:
                write_atomic(Path(path).expanduser(), "".join(f"{line}\n" for line in lines), 0o600)
            except OSError as exc:
                self.notify(f"cannot save to {path}: {exc.strerror or exc}", severity="error")
                return
            self.notify(f"saved {len(lines)} lines to {path}", title="events")

        self.push_screen(SaveScreen(default, len(lines)), save)

    # ------------------------------------------------------------ lab (write actions)

    def action_lab(self, what: str) -> None:
        """Fail or heal a relay of the lab, after confirmation."""
        lab = self.lab
        if lab is None:
            return
        if what == "fail":
            title = "Fail a relay (write action on the lab)"
            detail = (
                "Adds an nftables table in the relay's namespace that drops Babel "
                "(udp 6696) in and out. Links and tunnels stay up; neighbours notice "
                "only by missing Hellos — a silent relay outage."
            )
        else:
            title = "Heal a relay (write action on the lab)"
            detail = "Deletes the relay's drop table: Babel flows again and routes come back."

        def run(relay: str | None) -> None:
            if relay is None:
                return
            action = lab.fail if what == "fail" else lab.heal
            self.run_worker(
                partial(action, relay),
                name=f"lab:{what}:{relay}",
                group="lab",
                description=f"{what} {relay}",
                exit_on_error=False,
                thread=True,
            )

        self.push_screen(LabActionScreen(title, detail, lab.relays()), run)

    # ------------------------------------------------------------ command palette

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Palette entries, "namespace: action" (then Textual's own)."""
        yield from palette_commands(self)
        yield from super().get_system_commands(screen)

    def palette_raw(self) -> None:
        """The palette's "events: raw lines"."""
        self.action_show_view("events")
        view = self.view("events")
        if isinstance(view, EventsView):
            view.action_toggle_raw()

    def palette_save(self) -> None:
        """The palette's "events: save"."""
        self.action_show_view("events")
        view = self.view("events")
        if isinstance(view, EventsView):
            view.action_save()


def binding_ids() -> set[str]:
    """Every binding id the dashboard defines (for validating keymaps)."""
    ids: set[str] = set()
    classes: list[type] = [MeshApp, LabMainScreen, *VIEW_CLASSES, DestinationScreen]
    for cls in classes:
        for binding in getattr(cls, "BINDINGS", []):
            if isinstance(binding, Binding) and binding.id:
                ids.add(binding.id)
    return ids


def make_app(
    sources: list[Source],
    read_only: bool = True,
    theme: str | None = None,
    *,
    clock: Callable[[], float] | None = None,
    banner: str = "",
    banner_kind: str = "info",
    lab: LabActions | None = None,
    refresh_interval: float = REFRESH_INTERVAL,
    hello: dict[str, float] | None = None,
    theme_dirs: Iterable[Path] | None = None,
    keymap_file: Path | None = None,
    stats_path: Path | None = None,
    start_paused: bool = False,
    filters_config: Path | None = None,
) -> MeshApp:
    """Build the dashboard for ``sources`` (the CLI, the demo and the tests all come here).

    Args:
        sources: the nodes to show (the first is shown first).
        read_only: no write action is bound (always True without a lab).
        theme: theme name (default ``meshtui-dark``; unknown names fall back with a notice).
        clock: the time for "N s ago" (default: each node's clock — a replay's virtual
            clock for a recording); tests pass a frozen one.
        banner: a notice shown under the header (demo mode, say).
        banner_kind: ``info``, ``warning`` or ``error``.
        lab: the lab's write actions (``meshtui demo --live``); binds F / H.
        refresh_interval: seconds between two refreshes.
        hello: known hello intervals by interface name.
        theme_dirs: where to look for theme files (default: bundled, then the user's).
        keymap_file: a TOML keymap {binding id: key} (default: the user's, if any).
        stats_path: write UI counters there as JSON on exit.
        start_paused: start with the display (and replays) paused.
        filters_config: babeld.conf of a local node or recording, for the Filters view.
    """
    dirs = list(theme_dirs) if theme_dirs is not None else [BUNDLED_DIR, user_theme_dir()]
    themes = load_themes(*dirs)
    keymap, problems = load_keymap(keymap_file or keymap_path(), binding_ids())
    return MeshApp(
        NodeHub.for_sources(sources, hello=hello, filters_config=filters_config),
        read_only=read_only,
        theme=theme,
        themes=themes,
        clock=clock,
        banner=banner,
        banner_kind=banner_kind,
        lab=lab,
        refresh_interval=refresh_interval,
        hello=hello,
        keymap=keymap,
        notices=problems,
        stats_path=stats_path,
        start_paused=start_paused,
    )
