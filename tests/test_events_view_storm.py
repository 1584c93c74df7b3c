"""The Events view under a storm: of what arrived since the last refresh it draws the newest
(at most MAX_LINES_PER_REFRESH), counts the others without building them, and a filter's
count is of the lines it lets through."""

from __future__ import annotations

from textual.widgets import RichLog

from meshtui.core.events import Event, EventType
from meshtui.ui.testing import demo_app, settle
from meshtui.ui.views.events import MAX_LINES_PER_REFRESH, EventsView

SIZE = (160, 48)


def log_text(app: object) -> str:
    log = app.screen.query_one("#ev-log", RichLog)  # type: ignore[attr-defined]
    return "\n".join(strip.text for strip in log.lines)


async def test_a_storm_draws_the_newest_lines_and_counts_the_rest() -> None:
    app = demo_app(stop_at=5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("5")
        view = app.view("events")
        assert isinstance(view, EventsView)
        app.paused = True  # the replay's own lines stay out of the counts below
        journal = app.feed.journal
        drawn, skipped = view.drawn, view.skipped
        storm = [
            Event(EventType.PROTOCOL_ERROR, 2000.0 + i, message=f"storm-{'ab'[i % 2]} {i}")
            for i in range(1000)
        ]
        journal.ingest(storm, app.feed.model)
        built: list[object] = []
        build = view._event_text
        view._event_text = lambda entry: built.append(entry) or build(entry)  # type: ignore[method-assign]
        app.refresh_now(force=True)
        await pilot.pause()
        assert len(built) == MAX_LINES_PER_REFRESH  # the 940 older ones: counted, not built
        del view._event_text
        assert view.drawn - drawn == MAX_LINES_PER_REFRESH
        assert view.skipped - skipped == 1000 - MAX_LINES_PER_REFRESH
        newest = [f"storm-{'ab'[i % 2]} {i}" for i in range(1000 - MAX_LINES_PER_REFRESH, 1000)]
        shown = list(view.shown)[-len(newest) :]
        assert all(want in got for want, got in zip(newest, shown, strict=True))
        assert f"… {1000 - MAX_LINES_PER_REFRESH} more lines not drawn" in log_text(app)

        # a filter: only the lines it lets through are drawn, and counted
        await pilot.press("slash", *"storm-a", "enter")
        drawn, skipped = view.drawn, view.skipped
        more = [
            Event(EventType.PROTOCOL_ERROR, 3000.0 + i, message=f"storm-{'ab'[i % 2]} {i}")
            for i in range(1000, 1500)
        ]
        journal.ingest(more, app.feed.model)
        app.refresh_now(force=True)
        await pilot.pause()
        assert view.drawn - drawn == MAX_LINES_PER_REFRESH
        assert view.skipped - skipped == 250 - MAX_LINES_PER_REFRESH
        shown = list(view.shown)[-MAX_LINES_PER_REFRESH:]
        assert all("storm-a" in line for line in shown)
        assert "storm-a 1498" in shown[-1]


async def test_raw_lines_under_a_storm_too() -> None:
    app = demo_app(stop_at=5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("5", "r")
        view = app.view("events")
        assert isinstance(view, EventsView) and view.raw
        app.paused = True
        journal = app.feed.journal
        drawn, skipped = view.drawn, view.skipped
        for i in range(700):
            journal.note_raw(4000.0 + i, f"change neighbour n{i} address fe80::{i:x} if wg0")
        app.refresh_now(force=True)
        await pilot.pause()
        assert view.drawn - drawn == MAX_LINES_PER_REFRESH
        assert view.skipped - skipped == 700 - MAX_LINES_PER_REFRESH
        assert "neighbour n699 " in view.shown[-1]
        assert f"neighbour n{700 - MAX_LINES_PER_REFRESH} " in view.shown[-MAX_LINES_PER_REFRESH]


async def test_events_name_hops_and_nodes_and_a_shows_addresses() -> None:
    """Next hops and /128s read as in the other views (``relay-1 (w02ef0bea1)``, ``srv-b1``);
    `a` draws the log again with babeld's addresses; a filter matches the names shown."""
    app = demo_app(stop_at=40)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("5")
        view = app.view("events")
        assert isinstance(view, EventsView)
        failovers = [line for line in view.shown if "  failover " in line]
        assert failovers and all("relay-1 (w02ef0bea1) -> relay-2 (w02ef0bea2)" in line
                                 for line in failovers)  # fmt: skip
        assert any("failover srv-b1: " in line for line in failovers)
        assert not any("%w02ef0bea" in line for line in view.shown)
        await pilot.press("a")
        addressed = [line for line in view.shown if "  failover " in line]
        assert len(addressed) == len(failovers)
        assert all("fe80::ff:1%w02ef0bea1 -> fe80::ff:2%w02ef0bea2" in line for line in addressed)
        assert any("failover fd31:1b9e:30be::2:1/128: " in line for line in addressed)
        await pilot.press("a", "slash", *"relay-2", "enter")
        assert view.shown and all("relay-2" in line for line in view.shown)
        assert view.all_lines() == list(view.shown)
