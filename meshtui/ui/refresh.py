"""The refresh loop: when the header, the banner and the visible view are brought up to date.

Each node's session appends to its journal as babeld speaks; a one-shot timer,
re-armed after each refresh (:data:`REFRESH_INTERVAL`), brings the visible
view up to date inside ``batch_update()``. So repaints are coalesced to a few
per second whatever babeld sends, and the reader never waits for the screen. A
failover, loss or recovery is drawn at once (:data:`URGENT_GAP`); full and
complete redraws come less often (:data:`FULL_REFRESH`, :data:`COMPLETE_REFRESH`);
full garbage collections wait for a calm moment (:mod:`meshtui.core.gcpolicy`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.timer import Timer

from meshtui.core.gcpolicy import CalmCollector
from meshtui.paths import write_atomic
from meshtui.ui.actions import VIEW_CLASSES
from meshtui.ui.hub import NodeFeed
from meshtui.ui.oneshot import rearm
from meshtui.ui.screens.detail import DestinationScreen
from meshtui.ui.status import banner_text, header_info
from meshtui.ui.views.events import EventsView
from meshtui.ui.widgets.banner import Banner
from meshtui.ui.widgets.nodebar import NodeBar

if TYPE_CHECKING:
    from meshtui.ui.app import MeshApp

REFRESH_INTERVAL = 0.2
"""Seconds between two refreshes of the visible view (5 Hz)."""

IDLE_REFRESH = 1.0
"""With nothing new from babeld, refresh (time columns) at most this often."""

FULL_REFRESH = 1.0
"""Seconds between two full refreshes (every row on screen, clocks included); in between,
views redraw what changed."""

COMPLETE_REFRESH = 10.0
"""Seconds between two complete refreshes (every row, on screen or not: thousands of them)."""

TIMER_NAME = "meshtui-refresh"
"""The refresh timer's name (one at a time: :func:`~meshtui.ui.oneshot.rearm` replaces it)."""

URGENT_GAP = 0.15
"""A failover, loss or recovery is drawn at once, unless the view was refreshed less than this
many seconds ago: then the next tick comes at the end of that gap (not a whole
:data:`REFRESH_INTERVAL` after the last refresh) and shows it; the tick then counts from that
refresh. So under a storm of failovers repaints stay coalesced: at most one per this many
seconds, and a failover waits at most this long for one."""


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


class Refresher:
    """The app's refresh timer, its coalescing and its counters."""

    def __init__(self, app: MeshApp, interval: float = REFRESH_INTERVAL) -> None:
        self.app = app
        self.interval = interval
        self.stats = UiStats()
        self.collector = CalmCollector()
        self._timer: Timer | None = None
        self._urgent = False
        self._last_seen: tuple[int, int, int] = (-1, -1, -1)
        self._last_refresh = 0.0
        self._last_full = 0.0
        self._last_complete = 0.0
        if interval <= IDLE_REFRESH:  # a parked timer (tests) draws only when asked
            for feed in app.hub.feeds:
                feed.on_timeline = self._timeline_arrived

    def arm(self) -> None:
        """Start (or restart) the timer for the next refresh."""
        self._timer = rearm(self.app, self._timer, self.interval, self._tick, name=TIMER_NAME)

    def _timeline_arrived(self, feed: NodeFeed) -> None:
        """A failover, loss or recovery on a node: show it without waiting for the tick."""
        if feed is self.app.feed and not self.app.paused and not self._urgent:
            self._urgent = True
            self.app.call_later(self._urgent_refresh)

    def _urgent_refresh(self) -> None:
        self._urgent = False
        since = time.monotonic() - self._last_refresh
        if since >= URGENT_GAP:
            if self._timer is not None:
                self._timer.stop()
            try:
                self.refresh()
            finally:
                self.arm()
        else:  # drawn by the next tick, brought forward to the end of the gap
            self._timer = rearm(
                self.app, self._timer, URGENT_GAP - since, self._tick, name=TIMER_NAME
            )

    def _tick(self) -> None:
        try:
            self.stats.ticks += 1
            self.refresh()
        finally:
            self.arm()

    def refresh(self, force: bool = False, full: bool | None = None) -> None:
        """Bring the header, the banner and the visible view up to date.

        Args:
            force: refresh the view even when paused or when nothing changed.
            full: redraw every row (default: when forced, or once per
                :data:`FULL_REFRESH`); False: only what changed since the view last looked.
        """
        app = self.app
        feed = app.feed
        for each in app.feeds:
            each.poll()
        self._collect_garbage()
        try:
            main = app.screen_main()
        except LookupError:
            return  # not composed yet
        if not main.query(Banner):
            return
        self.update_header()
        self.update_banner()
        if app.view_name == "interfaces":
            app.hub.maybe_probe(feed)
        if app.paused and not force:
            return
        seen = (id(feed), feed.model.stats.lines, feed.journal.revision)
        wall = time.monotonic()
        view = app.view()
        catching_up = view.pending_rows
        idle = seen == self._last_seen and wall - self._last_refresh < IDLE_REFRESH
        if not force and idle and not catching_up:
            self.stats.skipped_idle += 1
            return
        self._last_seen = seen
        self._last_refresh = wall
        started = time.perf_counter()
        ctx = app.context()
        ctx.full = full if full is not None else force or wall - self._last_full >= FULL_REFRESH
        ctx.complete = ctx.full and (force or wall - self._last_complete >= COMPLETE_REFRESH)
        if ctx.complete:
            self._last_complete = wall
        if ctx.full:
            self._last_full = wall
            app.hub.learn_names()
        with app.batch_update():
            stats = view.refresh_view(ctx)
            view.last_stats = stats
            top = app.screen
            if isinstance(top, DestinationScreen):
                top.refresh_detail(ctx)
        spent = time.perf_counter() - started
        ui = self.stats
        ui.refreshes += 1
        ui.refresh_seconds += spent
        ui.refresh_max = max(ui.refresh_max, spent)
        ui.rows_added += stats.added
        ui.rows_removed += stats.removed
        ui.cells_updated += stats.updated_cells
        events = app.view("events")
        if isinstance(events, EventsView):
            ui.log_lines_drawn = events.drawn
            ui.log_lines_not_drawn = events.skipped

    def _collect_garbage(self) -> None:
        """Full garbage collections only when calm (see :mod:`meshtui.core.gcpolicy`)."""
        lines = sum(feed.model.stats.lines for feed in self.app.feeds)
        if self.collector.stats.collections == 0:
            if self.app.feed.journal.link.ever_live and self._last_full:
                self.collector.start()  # after the first dump is on screen
            return
        self.collector.tick(lines, self.app.hub.backlog)

    def update_header(self) -> None:
        """The header of every screen: the node shown, its badge, the view."""
        app = self.app
        view_title = next(c.title for c in VIEW_CLASSES if c.view_id == app.view_name)
        nodes = f"{app.current + 1}/{len(app.feeds)}" if len(app.feeds) > 1 else ""
        info = header_info(
            app.feed, app.now(), view_title, nodes, paused=app.paused, read_only=app.read_only
        )
        for screen in app.screen_stack:
            for bar in screen.query(NodeBar):
                bar.show(info)

    def update_banner(self) -> None:
        """The banner: the app's notice, or what the node's state asks to say."""
        app = self.app
        try:
            banner = app.screen_main().query_one(Banner)
        except LookupError:
            return
        text, kind = banner_text(app.feed, app.banner_text, app.banner_kind)
        if text:
            banner.show(text, kind)
        else:
            banner.hide()

    def stop(self, stats_path: Path | None) -> None:
        """The app is closing: stop the collector, write the counters if asked."""
        self.collector.stop()
        if stats_path is not None:
            self.write_stats(stats_path)

    def write_stats(self, path: Path) -> None:
        """Write the UI and ingest counters as JSON (for the benchmark)."""
        feed = self.app.feed
        out = {
            "ui": asdict(self.stats),
            "lines": feed.model.stats.lines,
            "noop_lines": feed.model.stats.noops,
            "events": feed.journal.events_in,
            "event_batches": feed.journal.batches_in,
            "routes": len(feed.model.routes),
            "link": feed.journal.link.state.value,
            "disconnects": feed.session.disconnects,
            "pump": self.app.hub.pump_stats(),
            "gc": {
                "calm_collections": self.collector.stats.collections,
                "forced": self.collector.stats.forced,
                "longest": self.collector.stats.longest,
            },
        }
        write_atomic(path.expanduser(), json.dumps(out, indent=2) + "\n", 0o600)
