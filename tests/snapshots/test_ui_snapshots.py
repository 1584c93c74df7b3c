"""Snapshot tests of every view, at fixed points of the demo recording (pytest-textual-snapshot).

The replay runs as fast as possible up to a fixed offset and holds there; its
virtual clock starts at a fixed time and the time zone is UTC, so every "N s
ago" and every clock time is the same on every run. Update the SVGs after an
intended change with ``pytest tests/snapshots --snapshot-update`` and look at
them (``snapshot_report.html`` shows the differences when one fails).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from meshtui.ui.testing import demo_app, settle, until

NARROW = (160, 48)
WIDE = (190, 50)
OUTAGE = 20.0  # relay-1 silent, edge-a on relay-2
PENDING = 40.0  # relay-1 healed, its better routes not installed yet
SITE_B = "fd31:1b9e:30be::2:1/128"


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def then(*keys: str) -> Callable[[Pilot], Awaitable[None]]:
    """Settle the replay, press ``keys``, and refresh."""

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
        await settle(pilot)

    return run_before


def test_failover_during_outage_wide(snap_compare) -> None:
    """Beside the destinations, the timeline: two failovers to relay-2, relay-1's /128 lost."""
    assert snap_compare(demo_app(stop_at=OUTAGE), terminal_size=WIDE, run_before=then())


def test_failover_pending_narrow(snap_compare) -> None:
    """Narrow terminal: the timeline below; site b pending its way back to relay-1."""
    assert snap_compare(demo_app(stop_at=PENDING), terminal_size=NARROW, run_before=then())


def test_failover_recovered_wide(snap_compare) -> None:
    """End of the recording: everything back on relay-1, four failovers in the timeline."""
    assert snap_compare(demo_app(), terminal_size=WIDE, run_before=then())


def test_failover_80x24_folded_banner(snap_compare) -> None:
    """80 × 24 with the demo's banner folded by a first key: every destination, state,
    destination, relay now and standby by name; ? and q in the footer."""
    from meshtui.commands.ui import DEMO_BANNER

    app = demo_app(stop_at=OUTAGE, banner=DEMO_BANNER)
    assert snap_compare(app, terminal_size=(80, 24), run_before=then("1"))


def test_failover_120x40_pending(snap_compare) -> None:
    """120 × 40: detection and since shown; site b's better route pending (▲ relay-1)."""
    assert snap_compare(demo_app(stop_at=PENDING), terminal_size=(120, 40), run_before=then())


def test_failover_200x60_recovered(snap_compare) -> None:
    """200 × 60: every column, the timeline beside, the newest failover (back to relay-1) on top."""
    assert snap_compare(demo_app(), terminal_size=(200, 60), run_before=then())


def test_neighbours_during_outage(snap_compare) -> None:
    """relay-1 lost (dimmed, reach drained), relay-2 and the LAN server up."""
    assert snap_compare(demo_app(stop_at=OUTAGE), terminal_size=NARROW, run_before=then("2"))


def test_routes_during_outage(snap_compare) -> None:
    """Every route: selected, alternatives, infinite ones being retracted."""
    assert snap_compare(demo_app(stop_at=OUTAGE), terminal_size=NARROW, run_before=then("3"))


def test_routes_filtered_and_sorted(snap_compare) -> None:
    """`/` 2:1 then sorted by metric, descending."""
    keys = ("3", "slash", "2", ":", "1", "enter", "o", "o", "o", "O")
    assert snap_compare(demo_app(stop_at=PENDING), terminal_size=NARROW, run_before=then(*keys))


def test_destination_detail(snap_compare) -> None:
    """Enter on site b: its routes, the pending one explained, and its history."""

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        pilot.app.open_detail(SITE_B)
        await settle(pilot)

    assert snap_compare(demo_app(stop_at=PENDING), terminal_size=NARROW, run_before=run_before)


def test_interfaces(snap_compare) -> None:
    """babeld's interfaces, hello intervals and detection times (no kernel for a recording)."""
    assert snap_compare(demo_app(stop_at=PENDING), terminal_size=NARROW, run_before=then("4"))


def test_events(snap_compare) -> None:
    """The event log of the outage and the recovery."""
    assert snap_compare(demo_app(), terminal_size=NARROW, run_before=then("5"))


def test_events_raw(snap_compare) -> None:
    """Raw mode: babeld's own lines."""
    assert snap_compare(demo_app(stop_at=OUTAGE), terminal_size=NARROW, run_before=then("5", "r"))


def test_help(snap_compare) -> None:
    """`?`: the keys and how to read the screen."""
    assert snap_compare(demo_app(stop_at=OUTAGE), terminal_size=NARROW, run_before=then("?"))


def test_light_theme(snap_compare) -> None:
    """The light theme, during the outage."""
    app = demo_app(stop_at=OUTAGE, theme="meshtui-light")
    assert snap_compare(app, terminal_size=WIDE, run_before=then())


def test_colour_blind_safe_theme(snap_compare) -> None:
    """The high-contrast, colour-blind-safe theme, during the outage."""
    app = demo_app(stop_at=OUTAGE, theme="meshtui-contrast")
    assert snap_compare(app, terminal_size=WIDE, run_before=then("2"))


def test_mesh(snap_compare) -> None:
    """The Mesh view on the demo's one node, during the outage: its row of relays and checks."""
    assert snap_compare(demo_app(stop_at=OUTAGE), terminal_size=NARROW, run_before=then("6"))


def test_filters(snap_compare, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Filters view with the recorded node's babeld.conf (what `meshtui demo` ships)."""
    import types

    from meshtui.transport.held import demo_recording
    from meshtui.ui.views import filters

    # the same text on every machine: a relative path, and a fixed time the file was read
    monkeypatch.chdir(demo_recording().parent)
    monkeypatch.setattr(filters, "time", types.SimpleNamespace(time=lambda: 1_700_000_000.0))
    app = demo_app(stop_at=OUTAGE)
    app.filters_config = Path("edge-a.conf")  # as `meshtui demo` does, with its full path

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("7")
        configs = app.view("filters").configs  # the config is read in a worker
        await until(pilot, lambda: "edge-a" in configs and not configs["edge-a"].loading,
                    10, "the config")  # fmt: skip
        await settle(pilot)

    assert snap_compare(app, terminal_size=WIDE, run_before=run_before)
