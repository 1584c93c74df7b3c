"""The dashboard runs for days: what a view switch creates does not outlive it (issue 17).

Counted after a full garbage collection (the app freezes survivors, see
:mod:`meshtui.core.gcpolicy`, so they are unfrozen first): every live
``Widget`` object — attached or not, since the leak this guards against
kept removed footer keys alive outside the DOM — every live ``Timer``, and
the watchers registered on the footer.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer

from meshtui.core.events import Event, EventType, PathRef
from meshtui.core.model import NodeModel
from meshtui.ui.app import MeshApp
from meshtui.ui.journal import LOG_SIZE, TIMELINE_SIZE, NodeJournal
from meshtui.ui.oneshot import rearm
from meshtui.ui.refresh import REFRESH_INTERVAL, TIMER_NAME, URGENT_GAP
from meshtui.ui.testing import demo_app, settle
from meshtui.ui.views.base import RouteTracker
from meshtui.ui.views.events import SHOWN_LINES, EventsView, entry_line

SIZE = (160, 48)
SWITCHES = 50


@pytest.fixture(autouse=True)
def _utc_and_clean_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def live_objects(app: MeshApp) -> dict[str, int]:
    """Widgets and timers alive after a full collection, and the footer's watchers."""
    gc.unfreeze()
    gc.collect()
    objects = gc.get_objects()
    footer = app.screen_main().query_one(Footer)
    watchers = getattr(footer, "__watchers", {})
    return {
        "widgets": sum(1 for o in objects if isinstance(o, Widget)),
        "timers": sum(1 for o in objects if isinstance(o, Timer)),
        "in the DOM": len(list(app.screen_main().query("*"))),
        "footer watchers": sum(len(v) for v in watchers.values()),
        "refresh loops": sum(  # one (none between a tick firing and its call)
            1
            for o in objects
            if isinstance(o, Timer) and o.name == TIMER_NAME and o._task is not None
        ),
    }


def assert_no_growth(before: dict[str, int], after: dict[str, int], what: str) -> None:
    grown = {k: (before[k], after[k]) for k in before if after[k] > before[k]}
    assert not grown, f"{what}: grew (before, after): {grown}"


async def test_view_switches_leave_no_widgets_or_timers_behind() -> None:
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in "12345671":  # every view drawn once: what it keeps from now on is its own
            await pilot.press(key)
            await pilot.pause()
        before = live_objects(app)
        keys = "2131415161712"  # every view, back and forth to the home view
        for i in range(SWITCHES):
            await pilot.press(keys[i % len(keys)])
            await pilot.pause()
        await pilot.press("1")
        await pilot.pause()
        after = live_objects(app)
        assert_no_growth(before, after, f"{SWITCHES} view switches")
        assert after["widgets"] >= after["in the DOM"] > 0
        assert after["refresh loops"] <= 1


async def test_detail_screen_and_theme_changes_leave_nothing_behind() -> None:
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)

        async def round_trip() -> None:
            await pilot.press("3", "enter")  # a destination's detail screen
            await pilot.pause()
            await pilot.press("escape", "1", "t")
            await pilot.pause()

        for _ in range(3):  # every theme once, the detail screen once
            await round_trip()
        before = live_objects(app)
        for _ in range(12):
            await round_trip()
        after = live_objects(app)
        assert_no_growth(before, after, "12 detail screens and theme changes")


async def test_a_re_armed_timer_stops_the_one_before() -> None:
    """The refresh loop's fork: a failover re-arms between a tick firing and its queued call.

    Textual's ``set_timer`` queues its callback when it fires, so the loop's
    pending timer was replaced twice (the failover's refresh, then the queued
    tick), and before :func:`rearm` both replacements went on re-arming: two
    refresh loops, then three (live timers crept 10 → 14 in an hour's soak).
    """
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ticks: list[str] = []
        tick = rearm(app, None, 0.01, lambda: ticks.append("tick"), name="soak-loop")
        await pilot.pause(0.1)  # it fired: its call is queued or done, its task is over
        urgent = rearm(app, tick, 30.0, lambda: ticks.append("urgent"), name="soak-loop")
        queued = rearm(app, urgent, 30.0, lambda: ticks.append("queued"), name="soak-loop")
        running = [t for t in (tick, urgent, queued) if t._task is not None]
        assert running == [queued]
        queued.stop()


def test_journal_is_bounded_and_counts_what_it_dropped() -> None:
    journal = NodeJournal("edge-a", log_size=50, raw_size=20, timeline_size=10,
                          history_entries=8)  # fmt: skip
    model = NodeModel()
    a = PathRef("fe80::1", "wg-a", 96)
    b = PathRef("fe80::2", "wg-b", 192)
    for i in range(300):  # 300 failovers of 30 destinations, a raw line each
        prefix = f"fd42:1::{i % 30 + 1:x}/128"
        journal.ingest([Event(EventType.FAILOVER, float(i), prefix=prefix, from_=a, to=b)], model)
        journal.note_raw(float(i), f"change route {i}")
    assert (len(journal.log), journal.dropped) == (50, 250)
    assert (len(journal.raw), journal.raw_dropped) == (20, 280)
    assert (len(journal.timeline), journal.timeline_dropped) == (10, 290)
    assert len(journal.history) == 8 and journal.histories_dropped == 300 - 8  # round robin
    newest = {f"fd42:1::{i % 30 + 1:x}/128" for i in range(292, 300)}
    assert {prefix for prefix, _ in journal.history} == newest
    assert journal.entries_since(0)[0].seq == 251  # the oldest kept


async def test_the_titles_count_what_the_journal_dropped() -> None:
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        journal = app.feed.journal
        a = PathRef("fe80::1", "wg-a", 96)
        b = PathRef("fe80::2", "wg-b", 192)
        count = LOG_SIZE + 1_234
        events = [
            Event(EventType.FAILOVER, 1e9 + i, prefix=f"fd42:1::{i % 7 + 1:x}/128", from_=a, to=b)
            for i in range(count)
        ]
        journal.ingest(events, app.feed.model)
        app.refresh_now(force=True)
        await pilot.pause()
        title = str(app.screen.query_one("#fo-tl-title").render())
        assert f"{journal.timeline_dropped:,} older dropped)" in title
        assert journal.timeline_dropped >= count - TIMELINE_SIZE
        await pilot.press("5")
        await pilot.pause()
        title = str(app.screen.query_one("#ev-title").render())
        assert f"({journal.dropped:,} older dropped, newest {LOG_SIZE:,} kept)" in title
        view = app.view("events")  # drawn from the journal: the newest 1,000, in order
        assert isinstance(view, EventsView) and len(view.shown) == SHOWN_LINES
        assert list(view.shown) == [entry_line(e) for e in list(journal.log)[-SHOWN_LINES:]]


def route_line(n: int, metric: int, kind: str = "add") -> str:
    return (
        f"{kind} route 5600{n:08x} prefix fd42:1::{n + 1:x}/128 from ::/0 installed yes "
        f"id 02:00:00:00:00:00:00:{n % 256:02x} metric {metric} refmetric 0 via fe80::1 if wg-a"
    )


def test_route_tracker_reports_a_dump_once_not_at_every_look() -> None:
    model = NodeModel()
    for n in range(100):  # a dump: one time stamp for every route
        model.feed(route_line(n, 96), 1000.0)
    tracker = RouteTracker()
    tracker.reset(model, None)
    assert tracker.changed_routes(model) == ([], [], [])
    model.feed(route_line(100, 96), 1000.0)  # one more in the same second
    assert [r.prefix for r in tracker.changed_routes(model)[0]] == ["fd42:1::65/128"]
    assert tracker.changed_routes(model)[0] == []
    model.feed(route_line(7, 200, "change"), 1001.0)
    assert [r.prefix for r in tracker.changed_routes(model)[0]] == ["fd42:1::8/128"]
    assert tracker.changed_routes(model)[0] == []


async def test_a_failover_right_after_a_refresh_is_drawn_at_the_end_of_the_gap() -> None:
    """A failover within URGENT_GAP of the last refresh brings the next tick forward to the
    end of that gap (not a whole REFRESH_INTERVAL after the refresh); one after the gap is
    drawn at once. Either way one refresh loop stays."""
    app = demo_app(refresh_interval=REFRESH_INTERVAL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        refresher = app.refresher
        refresher.refresh(force=True)
        refresher.arm()
        refresher._urgent_refresh()  # right after that refresh: deferred
        assert refresher._timer is not None
        assert 0 < refresher._timer._interval <= URGENT_GAP < REFRESH_INTERVAL
        assert live_objects(app)["refresh loops"] == 1
        looked = refresher.stats.refreshes + refresher.stats.skipped_idle
        refresher._last_refresh -= URGENT_GAP  # the gap is over: drawn at once
        refresher._urgent_refresh()
        assert refresher.stats.refreshes + refresher.stats.skipped_idle == looked + 1
        assert refresher._timer._interval == REFRESH_INTERVAL
        assert live_objects(app)["refresh loops"] == 1
