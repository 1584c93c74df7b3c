"""The dashboard: :class:`MeshApp`, built by :func:`make_app` for the CLI, the demo and the tests.

The app composes and routes. The :class:`~meshtui.ui.hub.NodeHub` owns the
nodes (feeds, socket pump, SSH pools, probes, config sources); views get what
they show through a :class:`~meshtui.ui.views.base.ViewContext`; the
:class:`~meshtui.ui.refresh.Refresher` brings the visible view up to date a
few times a second (babeld's reader never waits for the screen).

Keys: the one list is :data:`meshtui.ui.actions.ACTIONS` (bindings, footer,
help, the palette of :mod:`meshtui.ui.palette`, the ids a keymap rebinds).
The actions' bodies are functions of small modules (:mod:`~meshtui.ui.display`,
:mod:`~meshtui.ui.speed`, :mod:`~meshtui.ui.theming`, :mod:`~meshtui.ui.deployctl`,
:mod:`~meshtui.ui.labctl`, :mod:`~meshtui.ui.logsave`, :mod:`~meshtui.ui.detailctl`),
bound here as the app's ``action_*`` methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App
from textual.events import Key
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import ContentSwitcher

from meshtui.core.sanitize import inert
from meshtui.ui import deployctl, detailctl, display, labctl, logsave, speed, theming, workers
from meshtui.ui.actions import BY_ACTION, VIEW_CLASSES, VIEW_HELP, applies, binding_ids, bindings
from meshtui.ui.hub import NodeFeed, NodeHub
from meshtui.ui.keymap import keymap_path, load_keymap
from meshtui.ui.labctl import LabActions
from meshtui.ui.palette import MeshCommands
from meshtui.ui.refresh import REFRESH_INTERVAL, Refresher, UiStats
from meshtui.ui.screens.detail import DestinationScreen
from meshtui.ui.screens.dialogs import HelpScreen
from meshtui.ui.screens.main import LabMainScreen, MainScreen
from meshtui.ui.themes import BUNDLED_DIR, load_themes, semantic_defaults, user_theme_dir
from meshtui.ui.views.base import View, ViewContext
from meshtui.ui.views.failover import FailoverView
from meshtui.ui.views.mesh import MeshView
from meshtui.ui.widgets.banner import Banner

if TYPE_CHECKING:
    from meshtui.ui.hub import Source  # make_app's argument: the hub reads it

__all__ = ["REFRESH_INTERVAL", "VIEW_CLASSES", "VIEW_HELP", "MeshApp", "binding_ids",
           "keymap_path", "load_keymap", "make_app"]  # fmt: skip


class MeshApp(App[int]):
    """The meshtui dashboard; its keys are :data:`meshtui.ui.actions.ACTIONS`.

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
    COMMANDS = App.COMMANDS | {MeshCommands}
    BINDINGS = bindings("app")
    start_screen: Screen[None] | None = None  # pushed once mounted (`--rehearsal FILE`)

    def __init__(
        self,
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
    ) -> None:
        """Build the dashboard for ``sources``.

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
        super().__init__()
        self.hub = NodeHub.for_sources(sources, hello=hello, filters_config=filters_config)
        self.show_addresses = False
        self.current = 0
        self.read_only = read_only if lab is None else False
        self.lab = lab
        self.clock = clock
        self.banner_text = banner
        self.banner_kind = banner_kind
        self.hello = dict(hello or {})
        self.keymap_overrides, self.notices = load_keymap(
            keymap_file or keymap_path(), binding_ids()
        )
        self.stats_path = stats_path
        self.paused = False
        self.start_paused = start_paused
        self.view_name = FailoverView.view_id
        self.history: list[str] = []
        self.refresher = Refresher(self, refresh_interval)
        dirs = list(theme_dirs) if theme_dirs is not None else [BUNDLED_DIR, user_theme_dir()]
        self.theme_names, problems = theming.install_themes(self, load_themes(*dirs), theme)
        self.notices.extend(problems)
        self.palette = theming.palette_of(self.current_theme)
        """Styles for the semantic roles in the current theme."""

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
        self.refresher.arm()
        if self.start_screen is not None:
            self.push_screen(self.start_screen)

    async def on_unmount(self) -> None:
        """Stop the sessions and close their SSH connections (on the loop that opened them)."""
        await self.hub.close()
        self.refresher.stop(self.stats_path)

    # ------------------------------------------------------------ accessors

    @property
    def feeds(self) -> list[NodeFeed]:
        """Every node, in the order ``n`` cycles through them."""
        return self.hub.feeds

    @property
    def feed(self) -> NodeFeed:
        """The node shown."""
        return self.feeds[self.current]

    @property
    def filters_config(self) -> Path | None:
        """``--config FILE``, for the Filters view of a local node or a recording."""
        return self.hub.filters_config

    @filters_config.setter
    def filters_config(self, path: Path | None) -> None:
        self.hub.filters_config = path

    @property
    def ui_stats(self) -> UiStats:
        """What the UI did (refreshes, rows), for the benchmarks."""
        return self.refresher.stats

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
        feed, hub = self.feed, self.hub
        return ViewContext(
            node=feed.name,
            model=feed.model,
            journal=feed.journal,
            now=self.now(),
            palette=self.palette,
            local=hub.local.get(feed.name),
            hello=self.hello,
            is_replay=feed.is_replay,
            open_detail=self.open_detail,
            names=hub.names,
            addresses=self.show_addresses,
            config=hub.config_source(feed),
            mesh=hub.mesh_input,
        )

    def refresh_now(self, force: bool = False, full: bool | None = None) -> None:
        """Bring the header, the banner and the visible view up to date (see :mod:`.refresh`)."""
        self.refresher.refresh(force, full)

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

    async def action_in_view(self, name: str, action: str) -> None:
        """Show a view, then run one of its actions (the palette's "events: save")."""
        self.action_show_view(name)
        await self.view(name).run_action(action)

    def _switch(self, name: str) -> None:
        """Show a view at once (as it was last drawn), then bring it up to date.

        A view seen before is painted first, then brought up to date from what
        changed while it was hidden (the periodic full refresh catches its clocks
        up), so the key's effect is on screen without waiting for thousands of
        rows; a view never drawn is refreshed before it shows.
        """
        self.view_name = name
        self.screen_main().query_one("#views", ContentSwitcher).current = name
        view = self.view(name)
        view.focus_main()
        if view.ctx is None:
            self.refresh_now(force=True)
        else:
            self.refresher.update_header()
            self.call_after_refresh(self.refresh_now, True, False)

    def action_filter(self) -> None:
        """Open the current view's filter (`/`)."""
        if isinstance(self.screen, MainScreen):
            self.view().open_filter()

    def action_back(self) -> None:  # type: ignore[override]
        """`esc`: clear the filter, else go to the previous view, else hide the banner."""
        if not isinstance(self.screen, MainScreen):
            self.pop_screen()
        elif self.view().back():
            return
        elif self.history:
            self._switch(self.history.pop())
        elif self.banner_text:
            self.banner_text = ""
            self.refresher.update_banner()

    def on_mesh_view_node_selected(self, message: MeshView.NodeSelected) -> None:
        """Enter on a Mesh row: show that node's Failover view."""
        for index, feed in enumerate(self.feeds):
            if feed.name == message.node:
                display.show_node(self, index)
                self.action_show_view(FailoverView.view_id)
                return

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide keys that do nothing here (speed without a replay, next node with one node).

        A write action (deploy) is not bound at all in read-only mode.
        """
        if action == "deploy":
            return deployctl.can_deploy(self)
        if (entry := BY_ACTION.get(action)) is None:
            return True
        replays, several = any(f.is_replay for f in self.feeds), len(self.feeds) > 1
        return applies(entry, replays=replays, several=several, lab=self.lab is not None)

    # ------------------------------------------------------------ the actions' bodies

    _on_theme_changed = theming.retheme
    action_help = display.toggle_help
    action_toggle_pause = display.toggle_pause
    action_toggle_addresses = display.toggle_addresses
    action_next_node = display.next_node
    action_next_theme = theming.next_theme
    action_speed = speed.change_speed
    action_deploy = deployctl.deploy_shown
    action_lab = labctl.lab_action
    open_detail = detailctl.open_detail
    on_events_view_save_requested = logsave.save_requested
    on_worker_state_changed = workers.worker_outcome


make_app = MeshApp
"""Build the dashboard (the CLI, the demo and the tests all come here): see :class:`MeshApp`."""
