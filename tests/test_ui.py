"""Pilot tests of the dashboard: every view and binding, driven by the real demo recording."""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.command import CommandPalette
from textual.widgets import ContentSwitcher, Input, RichLog

from meshtui.core.events import EventType
from meshtui.transport.held import demo_recording
from meshtui.transport.replay import load_recording
from meshtui.transport.sources import local_source
from meshtui.ui.actions import ACTIONS, VIEW_CLASSES
from meshtui.ui.app import MeshApp, binding_ids, load_keymap, make_app
from meshtui.ui.journal import LinkState
from meshtui.ui.palette import palette_commands
from meshtui.ui.screens.detail import DestinationScreen
from meshtui.ui.screens.dialogs import HelpScreen, LabActionScreen, SaveScreen
from meshtui.ui.testing import NO_KEYMAP, demo_app, screen_text, settle
from meshtui.ui.themes import BUNDLED_DIR
from meshtui.ui.views.events import EventsView
from meshtui.ui.widgets.filterbar import FilterBar
from meshtui.ui.widgets.nodebar import NodeBar, status_badge
from meshtui.ui.widgets.table import KeyedTable, cell_text

SIZE = (160, 48)
PENDING_AT = 40.0  # relay-1 healed, its better routes not installed yet
WIDE = (190, 50)
SITE_B = "fd31:1b9e:30be::2:1"  # srv-b1
EDGE_B = "fd31:1b9e:30be::ee:2"
RELAY_1_ADDRESS = "fd31:1b9e:30be::ff:1"
RELAY_1_HOP = "fe80::ff:1%w02ef0bea1"  # as babeld prints relay-1 as a next hop
RELAY_2_HOP = "fe80::ff:2%w02ef0bea2"
RELAY_1 = "relay-1"  # names the demo recording carries in its header
RELAY_2 = "relay-2"


@pytest.fixture(autouse=True)
def _utc_and_clean_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def table(app: MeshApp, selector: str) -> KeyedTable:
    return app.screen.query_one(selector, KeyedTable)


def rows(app: MeshApp, selector: str) -> list[list[str]]:
    return table(app, selector).plain_rows()


def dest_row(app: MeshApp, address: str) -> dict[str, str]:
    """A destination's cells by column key (columns hidden by the width are absent)."""
    t = table(app, "#fo-table")
    specs = t.specs(address + "/128")
    assert specs is not None, f"no row for {address}: {t.plain_rows()}"
    return {c.key: cell_text(s) for c, s in zip(t.table_columns, specs, strict=True)}


def row_of(app: MeshApp, selector: str, needle: str) -> list[str]:
    for row in rows(app, selector):
        if any(needle in cell for cell in row):
            return row
    raise AssertionError(f"no row with {needle!r} in {selector}: {rows(app, selector)}")


# --------------------------------------------------------------------- failover view


async def test_failover_view_during_the_outage() -> None:
    app = demo_app(stop_at=20)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        assert app.view_name == "failover"
        site_b = dest_row(app, SITE_B)
        assert site_b["dest"] == "srv-b1"  # by name: the recording carries the names
        assert site_b["via"] == RELAY_2  # carried by relay-2 now
        assert "SPOF" in site_b["state"]  # relay-1 is gone: no standby left
        assert site_b["detect"] == "~3.5 s"  # babeld would notice relay-2's loss in ~3.5 s
        assert site_b["standby"] == "none"
        relay_1 = dest_row(app, RELAY_1_ADDRESS)
        assert "UNREACHABLE" in relay_1["state"] and relay_1["dest"] == "relay-1"
        timeline = [row[0] for row in rows(app, "#fo-timeline")]
        failovers = [t for t in timeline if "failover" in t]
        assert len(failovers) == 2
        assert all(f"{RELAY_1} → {RELAY_2}" in t for t in failovers)
        assert all("Hellos failing" in t and "detection" in t for t in failovers)
        text = screen_text(app)
        assert "UNREACHABLE" in text and "single point" in text
        header = app.screen.query_one(NodeBar).info
        assert header.read_only and header.link is LinkState.LIVE
        assert header.router_id == "ec:2a:8a:34:35:5c:35:fc"
        assert "READ-ONLY" in text


async def test_failover_view_counts_down_to_the_switch_while_hellos_fail() -> None:
    """Held 13 s into the recording (its last line before: 12.55 s), relay-1 has
    been silent for 1.7 s (its last Hello: 10.87 s); babeld has not counted a
    miss yet and switches at 15.3 s."""
    app = demo_app(stop_at=13.0)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        site_b = dest_row(app, SITE_B)
        assert site_b["via"] == RELAY_1  # still on relay-1
        m = re.fullmatch(r"⚠ in ~([\d.]+) s", site_b["detect"])
        assert m, site_b["detect"]
        # 10.87 s + 3.45 s (2.7 intervals + babeld's next check) - 12.55 s
        assert float(m.group(1)) == pytest.approx(1.77, abs=0.15)
        assert RELAY_2 in site_b["standby"]  # where the traffic will go
        relay_2 = dest_row(app, "fd31:1b9e:30be::ff:2")
        assert relay_2["via"] == RELAY_2 and not relay_2["detect"].startswith("⚠")


async def test_failover_lead_time_comes_from_the_degrading_neighbour() -> None:
    app = demo_app(stop_at=20)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        journal = app.feed.journal
        degrading = [e for e in journal.log if e.type is EventType.DEGRADING]
        assert degrading
        for entry in journal.timeline:
            if entry.type is EventType.FAILOVER:
                assert entry.lead == pytest.approx(entry.time - degrading[0].time, abs=1e-3)
                assert 0 < entry.lead < 5


async def test_failover_view_shows_pending_then_recovery() -> None:
    app = demo_app(stop_at=40)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        site_b = dest_row(app, SITE_B)
        assert "pending" in site_b["state"]
        assert site_b["standby"].startswith("▲ " + RELAY_1)  # the better route, not installed yet
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert dest_row(app, SITE_B)["via"] == RELAY_1
        assert dest_row(app, EDGE_B)["via"] == RELAY_1
        timeline = [row[0] for row in rows(app, "#fo-timeline")]
        back = [t for t in timeline if f"{RELAY_2} → {RELAY_1}" in t]
        assert len(back) == 2 and all("back on its usual relay after" in t for t in back)
        assert "recovered" in timeline[-1] or any("recovered" in t for t in timeline)


# --------------------------------------------------------------------- keys and views


async def test_every_view_key_and_escape_back() -> None:
    app = demo_app(stop_at=20)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        switcher = app.screen.query_one("#views", ContentSwitcher)
        for key, name, title in [
            ("2", "neighbours", "Neighbours"),
            ("3", "routes", "Routes"),
            ("4", "interfaces", "Interfaces"),
            ("5", "events", "Events"),
            ("1", "failover", "Failover"),
        ]:
            await pilot.press(key)
            assert app.view_name == name and switcher.current == name
            assert app.screen.query_one(NodeBar).info.view == title
        await pilot.press("3")
        await pilot.press("escape")
        assert app.view_name == "failover"  # back to where we were
        await pilot.press("escape")
        assert app.view_name == "events"


async def test_bindings_have_ids() -> None:
    ids = binding_ids()
    for wanted in (
        "view.failover",
        "view.neighbours",
        "view.routes",
        "view.interfaces",
        "view.events",
        "app.filter",
        "app.back",
        "app.pause",
        "app.theme",
        "app.help",
        "events.raw",
        "events.save",
        "table.sort",
        "lab.fail",
        "lab.heal",
    ):
        assert wanted in ids


def test_the_registry_says_the_keys_the_views_bind() -> None:
    """Keys the views bind themselves are in the action registry with the same id and key."""
    bound = {
        b.id: b.key for cls in VIEW_CLASSES for b in cls.BINDINGS if isinstance(b, Binding) and b.id
    }
    for action in ACTIONS:
        if action.bound == "view":
            assert bound.get(action.id) == action.keys, action.id
    assert [b.id for b in MeshApp.BINDINGS if isinstance(b, Binding)] == [
        a.id for a in sorted(ACTIONS, key=lambda a: a.footer) if a.bound == "app"
    ]


async def test_neighbours_view_shows_lost_neighbour_dimmed() -> None:
    app = demo_app(stop_at=20)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        lost = row_of(app, "#nb-table", RELAY_1)
        assert lost[0].startswith("✖ lost") and lost[0].endswith("ago")
        assert len(lost[3]) == 16 and set(lost[3]) <= {"█", "░"}
        assert lost[7] == "inf"
        up = row_of(app, "#nb-table", RELAY_2)
        assert up[0] == "● up" and up[3] == "█" * 16
        spec = table(app, "#nb-table").specs(RELAY_1_HOP)
        assert spec is not None and spec[1][1] == "lost"  # drawn in the dimmed role
    app = demo_app(stop_at=40)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        assert row_of(app, "#nb-table", RELAY_1)[0] == "● up"


async def test_routes_filter_sort_and_detail() -> None:
    app = demo_app(stop_at=20)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        routes = table(app, "#rt-table")
        assert routes.row_count == len(app.feed.model.routes) == 11
        assert {row[0] for row in routes.plain_rows()} >= {"● sel", "○ alt", "✖ inf"}
        await pilot.press("slash")
        bar = app.screen.query_one("#rt-filter", FilterBar)
        assert app.focused is bar
        await pilot.press(*"2:1")
        assert routes.row_count == 2 and all(r[1] == "srv-b1" for r in routes.plain_rows())
        await pilot.press("space", "!", "i", "n", "f")
        assert routes.row_count == 1 and routes.plain_rows()[0][0] == "● sel"
        await pilot.press("enter")
        assert app.focused is routes and routes.row_count == 1
        await pilot.press("escape")  # clears the filter
        assert routes.row_count == 11 and not app.view().filter.active
        # sort: o cycles columns, O reverses
        assert routes.sort_column == "prefix"
        await pilot.press("o")
        assert routes.sort_column == "from"
        await pilot.press("o", "o")
        assert routes.sort_column == "metric"
        metrics = [r[4] for r in routes.plain_rows()]
        numbers = [65535 if m == "inf" else int(m) for m in metrics]
        assert numbers == sorted(numbers)
        await pilot.press("O")
        numbers = [65535 if r[4] == "inf" else int(r[4]) for r in routes.plain_rows()]
        assert numbers == sorted(numbers, reverse=True)
        # detail: put the cursor on site b's selected route and press enter
        keys = routes.keys()
        target = next(k for k in keys if k.startswith(SITE_B) and "ff:2" in k)
        routes.move_cursor(row=keys.index(target))
        await pilot.press("enter")
        assert isinstance(app.screen, DestinationScreen)
        await pilot.pause()
        detail_routes = rows(app, "#dd-routes")
        assert len(detail_routes) == 2
        history = [r[1] for r in rows(app, "#dd-history")]
        assert "failover" in history
        assert "single point of failure" in screen_text(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, DestinationScreen)
        assert app.view_name == "routes"


async def test_header_click_sorts() -> None:
    app = demo_app(stop_at=20)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        routes = table(app, "#rt-table")
        routes.post_message(
            routes.HeaderSelected(
                routes, routes.ordered_columns[4].key, 4, routes.ordered_columns[4].label
            )
        )
        await pilot.pause()
        assert routes.sort_column == "metric" and not routes.sort_reverse


async def test_enter_on_failover_row_opens_detail() -> None:
    app = demo_app(stop_at=20)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        destinations = table(app, "#fo-table")
        keys = destinations.keys()
        destinations.move_cursor(row=keys.index(SITE_B + "/128"))
        destinations.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, DestinationScreen)
        assert app.screen.prefix == SITE_B + "/128"
        await pilot.press("escape")
        assert app.view_name == "failover"


async def test_cursor_survives_live_updates() -> None:
    app = demo_app(stop_at=12)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        routes = table(app, "#rt-table")
        keys = routes.keys()
        target = next(k for k in keys if k.startswith("fd31:1b9e:30be::ff:2") and "ff:1" in k)
        routes.move_cursor(row=keys.index(target))
        syncs = routes.syncs
        # feed the same model the rest of the outage: rows change, appear and go
        segments = load_recording(demo_recording())
        model = app.feed.model
        for offset, line in segments[0].lines:
            if 12 < offset <= 40:
                model.feed(line, 1_800_000_000.0 + offset)
                app.feed.journal.ingest(model.commit(1_800_000_000.0 + offset), model)
        app.refresh_now(force=True)
        await pilot.pause()
        assert routes.syncs > syncs
        assert routes.cursor_key == target


# --------------------------------------------------------------------- themes


async def test_theme_cycle_restyles_cells() -> None:
    app = demo_app(stop_at=20)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "meshtui-dark"
        before = app.palette["route-selected"].color
        await pilot.press("t")
        await pilot.pause()
        assert app.theme != "meshtui-dark"
        after = app.palette["route-selected"].color
        assert before != after
        expected = app.current_theme.variables["route-selected"]
        assert app.palette["route-selected"].color.triplet.hex == expected.lower()
        cell = table(app, "#fo-table").get_row(SITE_B + "/128")[2]
        assert cell.style.color == after
        names = []
        for _ in app.theme_names:
            names.append(app.theme)
            await pilot.press("t")
        assert sorted(names) == ["meshtui-contrast", "meshtui-dark", "meshtui-light"]


def test_the_wheel_ships_the_repositorys_themes_demo_and_rules(tmp_path: Path) -> None:
    """themes/ and demo/ are the only copies: a wheel built from the tree carries them."""
    import shutil
    import subprocess
    import sys
    import zipfile

    repo = Path(__file__).resolve().parents[1]
    if not (repo / "setup.py").is_file():
        pytest.skip("not a source tree")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(repo / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for folder in ("meshtui", "demo", "themes"):
        shutil.copytree(repo / folder, src / folder, ignore=ignore)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(src), "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("meshtui-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    themes = {f"meshtui/ui/themes/{p.name}" for p in (repo / "themes").glob("*.toml")}
    assert len(themes) == 3 and themes <= names
    assert {"meshtui/ui/demo_data/relay-outage.rec", "meshtui/alerts.rules.yml"} <= names
    assert not any(n.endswith("record_demo.py") for n in names)  # a script, not data


async def test_user_theme_files_are_loaded_validated_and_reported(tmp_path: Path) -> None:
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "mine.toml").write_text(
        'name = "mine"\n[colors]\nprimary = "#336699"\n[variables]\nunreachable = "#ff00ff"\n'
    )
    (themes / "broken.toml").write_text(
        'name = "broken"\n[colors]\nprimary = "#336699"\n[variables]\nroute-selected = "blurple"\n'
    )
    (themes / "syntax.toml").write_text("name = \n")
    app = demo_app(stop_at=5, theme_dirs=[BUNDLED_DIR, themes], theme="mine")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "mine"
        assert "mine" in app.theme_names and "broken" not in app.theme_names
        assert app.palette["unreachable"].color.triplet.hex == "#ff00ff"
        # roles the file leaves out are derived from its base colours
        assert app.palette["route-selected"].color is not None
        problems = "\n".join(app.notices)
        assert "broken.toml: variables.route-selected: 'blurple' is not a colour" in problems
        assert "syntax.toml" in problems


async def test_unknown_theme_falls_back_with_a_notice() -> None:
    app = demo_app(stop_at=5, theme="no-such-theme")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "meshtui-dark"
        assert any("no-such-theme" in n for n in app.notices)


# --------------------------------------------------------------------- pause, speed


async def test_space_pauses_the_replay_and_the_display() -> None:
    app = demo_app(start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(10):
            await pilot.pause()
        assert app.paused and app.feed.held is not None and app.feed.held.paused
        offset = app.feed.held.offset
        for _ in range(10):
            await pilot.pause()
        assert app.feed.held.offset == offset < 1.0  # nothing moves while paused
        assert "PAUSED" in screen_text(app)
        await pilot.press("space")
        assert not app.paused and not app.feed.held.paused
        await settle(pilot)
        assert app.feed.held.offset > 60
        await pilot.press("space")
        assert app.paused and "PAUSED" in screen_text(app)


async def test_speed_keys_change_the_replay_speed() -> None:
    app = demo_app(stop_at=5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.feed.set_speed(1.0)
        await pilot.press("plus")
        assert app.feed.held is not None and app.feed.held.speed == 2.0
        await pilot.press("plus", "plus")
        assert app.feed.held.speed == 8.0
        await pilot.press("minus")
        assert app.feed.held.speed == 4.0
        assert "×4" in app.screen.query_one(NodeBar).info.replay


# --------------------------------------------------------------------- events view


async def test_events_view_filter_raw_and_save(tmp_path: Path) -> None:
    app = demo_app(stop_at=40)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("5")
        view = app.view("events")
        assert isinstance(view, EventsView)
        assert any("failover" in line for line in view.shown)
        assert any("neighbour degrading" in line for line in view.shown)
        await pilot.press("slash", *"failover", "enter")
        assert view.shown and all("failover" in line for line in view.shown)
        assert len(view.shown) == 2
        await pilot.press("escape")
        assert len(view.shown) > 2
        await pilot.press("r")
        assert view.raw and any("change route" in line for line in view.shown)
        assert "raw lines" in screen_text(app)
        await pilot.press("r")
        assert not view.raw
        await pilot.press("s")
        assert isinstance(app.screen, SaveScreen)
        target = tmp_path / "events.log"
        path_input = app.screen.query_one(Input)
        path_input.value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        saved = target.read_text().splitlines()
        assert saved == view.all_lines()
        assert any("failover" in line for line in saved)
        assert app.screen.query_one("#ev-log", RichLog)


async def test_events_view_keeps_logging_while_another_view_is_shown() -> None:
    app = demo_app(stop_at=20)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("5")
        view = app.view("events")
        assert isinstance(view, EventsView)
        shown = len(view.shown)
        assert shown == len(app.feed.journal.log)


# --------------------------------------------------------------------- interfaces view


async def test_interfaces_view_hello_and_detection_time() -> None:
    app = demo_app(stop_at=40)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        wg1 = row_of(app, "#if-table", "w02ef0bea1")
        assert wg1[1] == "up" and wg1[2] == "fe80::ee:1"
        assert "learned" in wg1[4]
        seconds = float(wg1[4].lstrip("~").split()[0])
        assert 0.5 < seconds < 2.5  # the lab ran with hello 1 s
        # typical (2.7 intervals + babeld's next neighbour check), then earliest-latest
        m = re.fullmatch(r"~([\d.]+) s \(([\d.]+)–([\d.]+) s\)", wg1[5])
        assert m, wg1[5]
        typical, earliest, latest = map(float, m.groups())
        assert earliest == pytest.approx(2.7 * seconds, abs=0.1)
        assert earliest < typical < latest
        assert "Not available for a recording" in screen_text(app)


async def test_configured_hello_interval_wins() -> None:
    app = demo_app(stop_at=5, hello={"lan0": 4.0})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        lan = row_of(app, "#if-table", "lan0")
        assert lan[4] == "4.0 s (configured)"
        # 5 s in, the relays' 1 s Hellos are learned (4 Hellos are enough), and
        # babeld's checks follow its shortest interval: every 1.5 s, not 6 s
        assert lan[5] == "~11.5 s (10.8–12.6 s)"


# --------------------------------------------------------------------- help, palette, keymap


async def test_help_screen() -> None:
    app = demo_app(stop_at=5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "filter the view" in text and "SPOF" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_command_palette_has_namespaced_entries() -> None:
    app = demo_app(stop_at=5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [c.title for c in palette_commands(app)]
        for wanted in (
            "view: failover",
            "view: neighbours",
            "view: routes",
            "view: interfaces",
            "view: events",
            "theme: meshtui-light",
            "events: raw lines",
            "replay: faster",
        ):
            assert wanted in titles
        assert not any(t.startswith("lab:") for t in titles)
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"view: routes")
        for _ in range(50):
            await pilot.pause(0.02)
            if app.screen.query("CommandList Option") or app.screen.query("CommandList"):
                break
        await pilot.press("enter")
        for _ in range(50):
            if app.view_name == "routes":
                break
            await pilot.pause(0.02)
        assert app.view_name == "routes"


async def test_keymap_rebinds_by_id(tmp_path: Path) -> None:
    keymap = tmp_path / "keymap.toml"
    keymap.write_text('"view.routes" = "x"\n"no.such" = "y"\n')
    found, problems = load_keymap(keymap, binding_ids())
    assert found == {"view.routes": "x"}
    assert problems and "no.such: no binding has this id" in problems[0]
    app = demo_app(stop_at=5, keymap_file=keymap)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        assert app.view_name == "routes"
        await pilot.press("question_mark")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        said = {k.what.split(":")[0]: k.key for k in help_screen.keys}
        assert said["Routes"] == "x" and said["Failover"] == "1"  # the help says the rebound key


# --------------------------------------------------------------------- read-only and the lab


class _RecordingLab:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def relays(self) -> list[tuple[str, str]]:
        return [("relay-1", "relay-1  up"), ("relay-2", "relay-2  up")]

    def fail(self, relay: str) -> None:
        self.calls.append(("fail", relay))

    def heal(self, relay: str) -> None:
        self.calls.append(("heal", relay))


async def test_read_only_mode_binds_no_write_action() -> None:
    app = demo_app(stop_at=5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.read_only
        bound = {b.binding.id for b in app.active_bindings.values()}
        assert "lab.fail" not in bound and "lab.heal" not in bound
        await pilot.press("F")
        assert not isinstance(app.screen, LabActionScreen)
        assert "READ-ONLY" in screen_text(app)


async def test_lab_actions_are_write_actions_that_ask_first() -> None:
    lab = _RecordingLab()
    app = demo_app(stop_at=5, lab=lab)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.read_only
        assert "LAB: WRITE ACTIONS" in screen_text(app)
        await pilot.press("F")
        assert isinstance(app.screen, LabActionScreen)
        assert "nftables" in screen_text(app)
        await pilot.press("escape")
        assert lab.calls == []
        await pilot.press("F", "enter")
        for _ in range(100):
            if lab.calls:
                break
            await pilot.pause(0.02)
        assert lab.calls == [("fail", "relay-1")]
        await pilot.press("H", "down", "enter")
        for _ in range(100):
            if len(lab.calls) == 2:
                break
            await pilot.pause(0.02)
        assert lab.calls[1] == ("heal", "relay-2")


# --------------------------------------------------------------------- connection states


async def test_unreachable_socket_shows_why_and_how_to_enable_it(tmp_path: Path) -> None:
    missing = tmp_path / "babeld.sock"
    app = make_app([local_source(str(missing))], theme_dirs=[BUNDLED_DIR], keymap_file=NO_KEYMAP)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(200):
            if app.feed.journal.link.state is LinkState.RECONNECTING:
                break
            await pilot.pause(0.02)
        app.refresh_now(force=True)
        await pilot.pause()
        text = screen_text(app)
        assert "connecting" in text  # the badge: reconnecting, or connecting… on its next try
        assert "LIVE" not in text
        assert "Cannot read babeld" in text and "local-path" in text
        assert app.is_running  # never a traceback


async def test_stale_header_after_a_lost_connection() -> None:
    app = demo_app(stop_at=5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        journal = app.feed.journal
        journal.note_state(LinkState.RECONNECTING, "babeld closed the connection", app.now() - 3)
        app.refresh_now(force=True)
        await pilot.pause()
        info = app.screen.query_one(NodeBar).info
        assert info.stale and info.link_text.startswith("STALE 3.0 s — reconnecting")
        assert info.badge == "END"  # a replay over: one badge, END, never "LIVE" beside it
        assert "LIVE" not in screen_text(app).splitlines()[0]


def test_status_badge_is_one_state_at_a_time() -> None:
    live, down = LinkState.LIVE, LinkState.RECONNECTING
    assert status_badge(live) == ("● LIVE", "-live")
    assert status_badge(down, stale=True) == ("STALE", "-stale")
    assert status_badge(down, stale=True, paused=True) == ("STALE", "-stale")
    assert status_badge(live, paused=True) == ("PAUSED", "-paused")
    assert status_badge(live, replay=True, speed=4) == ("REPLAY 4×", "-replay")
    assert status_badge(live, replay=True, speed=0) == ("REPLAY max", "-replay")
    assert status_badge(live, replay=True, ended=True) == ("END", "-end")
    assert status_badge(live, replay=True, ended=True, paused=True) == ("PAUSED", "-paused")
    assert status_badge(LinkState.CONNECTING) == ("connecting…", "-connecting")
    assert status_badge(down) == ("reconnecting", "-reconnecting")


async def test_stale_rows_are_dimmed_marked_and_their_since_frozen() -> None:
    app = demo_app(stop_at=20)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        start = app.now()
        live = dest_row(app, SITE_B)["since"]
        app.clock = lambda: start + 30  # the clock moves on: a live row's "since" follows
        app.refresh_now(force=True)
        await pilot.pause()
        assert dest_row(app, SITE_B)["since"] != live
        app.feed.journal.note_state(LinkState.RECONNECTING, "babeld closed the connection", start)
        app.refresh_now(force=True)
        await pilot.pause()
        frozen = dest_row(app, SITE_B)
        assert frozen["since"] == live  # frozen when the connection was lost
        assert "stale" in frozen["state"]
        spec = table(app, "#fo-table").specs(SITE_B + "/128")
        assert spec is not None and all(cell[1] in ("lost dim", "lost") for cell in spec)
        app.clock = lambda: start + 90
        # a retry that fails again moves the link's state time on, not the frozen rows
        app.feed.journal.note_state(LinkState.RECONNECTING, "connection refused", start + 60)
        app.refresh_now(force=True)
        await pilot.pause()
        assert dest_row(app, SITE_B)["since"] == live
        assert "STALE" in screen_text(app)


def test_bare_meshtui_falls_back_to_the_demo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from meshtui.commands import ui as ui_command

    monkeypatch.setattr(ui_command, "find_local_target", lambda: None)
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(
        socket=None, port=None, replay=None, speed=1.0, inventory=None, node=None
    )
    plan = ui_command.plan_dashboard(args)
    assert plan.sources[0].replay is not None
    assert "local-path" in plan.banner and "local-port" in plan.banner
    assert plan.banner_kind == "warning"


def test_demo_recording_ships_inside_the_package() -> None:
    from meshtui.transport.held import demo_recording

    shipped = demo_recording()
    repo = Path(__file__).resolve().parents[1] / "demo" / shipped.name
    assert shipped.is_file() and shipped.read_bytes() == repo.read_bytes()
    assert shipped.stat().st_size < 400_000


def test_demo_needs_no_root_and_no_babeld() -> None:
    """`meshtui demo` must not touch the lab, pyroute2 or a socket: import-check its path."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from meshtui.ui.testing import demo_app\n"
        "app = demo_app(stop_at=1)\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('meshtui.lab', 'pyroute2')))\n"
        "print(','.join(bad))\n"
    )
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


# --------------------------------------------------------------------- the keyed table


async def test_keyed_table_updates_in_place_and_keeps_the_cursor() -> None:
    from rich.style import Style
    from textual.app import App, ComposeResult

    from meshtui.ui.widgets.table import Column

    def spec(key: str, value: int):
        return (key, value, lambda: ((key, "", key), (str(value), "", value)))

    class TableApp(App[None]):
        def compose(self) -> ComposeResult:
            yield KeyedTable(
                [Column("name", "name"), Column("value", "value")],
                lambda _spec: Style(),
                sort="name",
            )

    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        kt = app.query_one(KeyedTable)
        stats = kt.sync(spec(f"k{i:03d}", i) for i in range(10))
        assert stats.added == 10 and kt.row_count == 10
        kt.move_cursor(row=5)
        await pilot.pause()
        assert kt.cursor_key == "k005"
        # one value changes: one cell updated, nothing added or removed
        stats = kt.sync(spec(f"k{i:03d}", i * (2 if i == 7 else 1)) for i in range(10))
        assert (stats.added, stats.removed, stats.updated_cells, stats.rebuilt) == (0, 0, 1, False)
        assert kt.get_row("k007")[1].plain == "14"
        # rows before the cursor go, new ones arrive before it: the cursor stays on k005
        stats = kt.sync(spec(f"k{i:03d}", i) for i in [*range(4, 10), 1000, 2, 3000])
        assert stats.removed == 3 and stats.added == 2 and not stats.rebuilt
        assert kt.cursor_key == "k005"
        assert kt.keys()[0] == "k002"
        # a mass removal rebuilds the table, and still keeps the cursor's row
        kt.sync(spec(f"k{i:03d}", i) for i in [5, *range(2000, 2400)])
        assert kt.cursor_key == "k005"
        stats = kt.sync(spec(f"k{i:03d}", i) for i in [5, 2001])
        assert stats.rebuilt and stats.removed == 399 and kt.cursor_key == "k005"
        assert kt.row_count == 2


async def test_next_node_and_quit() -> None:
    from meshtui.transport.held import held_replay_source
    from meshtui.ui.testing import DEMO_ORIGIN

    sources = [
        held_replay_source(demo_recording(), speed=0, stop_at=stop, origin=DEMO_ORIGIN, name=name)
        for name, stop in (("early", 10.0), ("late", 20.0))
    ]
    app = make_app(sources, theme_dirs=[BUNDLED_DIR], keymap_file=NO_KEYMAP)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.query_one(NodeBar).info.nodes == "1/2"
        assert "UNREACHABLE" not in screen_text(app)  # 10 s in: before the outage
        await pilot.press("n")
        await settle(pilot)
        assert app.feed.name == "late"
        assert app.screen.query_one(NodeBar).info.nodes == "2/2"
        assert "UNREACHABLE" in screen_text(app)  # 20 s in: relay-1's /128 is lost
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running


# --------------------------------------------------------------------- names, timeline, width


async def test_names_everywhere_and_addresses_on_demand() -> None:
    app = demo_app(stop_at=20)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        site_b = dest_row(app, SITE_B)
        assert (site_b["dest"], site_b["via"]) == ("srv-b1", RELAY_2)
        assert dest_row(app, "fd31:1b9e:30be::1:1")["standby"].startswith("relay-2 ")
        assert "fe80::" not in screen_text(app)
        await pilot.press("a")  # addresses, as babeld prints them
        site_b = dest_row(app, SITE_B)
        assert (site_b["dest"], site_b["via"]) == (SITE_B, RELAY_2_HOP)
        timeline = [row[0] for row in rows(app, "#fo-timeline")]
        assert any(f"{RELAY_1_HOP} → {RELAY_2_HOP}" in t for t in timeline)
        await pilot.press("2")
        assert row_of(app, "#nb-table", RELAY_2_HOP.split("%")[0])
        await pilot.press("1", "a")  # names again
        assert dest_row(app, SITE_B)["via"] == RELAY_2


async def test_without_names_a_neighbour_reads_as_its_128_never_a_bare_link_local(
    tmp_path: Path,
) -> None:
    """A recording without a names= field: relays read as their /128s (their own routes)."""
    from meshtui.transport.held import held_replay_source
    from meshtui.ui.testing import DEMO_ORIGIN, DETERMINISTIC_TICK

    text = demo_recording().read_text(encoding="utf-8")
    header, _, rest = text.partition("\n")
    assert " names=" in header
    bare = tmp_path / "bare.rec"
    bare.write_text(header.split(" names=")[0] + "\n" + rest, encoding="utf-8")
    source = held_replay_source(bare, speed=0, stop_at=20, origin=DEMO_ORIGIN, name="edge-a")
    app = make_app(
        [source], theme_dirs=[BUNDLED_DIR], keymap_file=NO_KEYMAP,
        refresh_interval=DETERMINISTIC_TICK,
    )  # fmt: skip
    app.feed.session.tick = DETERMINISTIC_TICK
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        site_b = dest_row(app, SITE_B)
        assert site_b["dest"] == SITE_B
        assert site_b["via"] == "fd31:1b9e:30be::ff:2"  # relay-2's /128, not fe80::ff:2%…
        assert "fe80::" not in screen_text(app)


async def test_timeline_keeps_the_newest_on_top_until_the_user_scrolls() -> None:
    import dataclasses

    app = demo_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        journal = app.feed.journal
        timeline = table(app, "#fo-timeline")
        newest = max(e.seq for e in journal.timeline)
        assert timeline.keys()[0] == str(newest)  # newest first, in babeld's order
        seqs = [int(k) for k in timeline.keys()]
        assert seqs == sorted(seqs, reverse=True)
        assert "relay-2 → relay-1" in rows(app, "#fo-timeline")[0][0]

        def arrive(count: int) -> None:  # more entries, as the journal adds them
            last = max(e.seq for e in journal.timeline)
            for i in range(count):
                journal.timeline.append(dataclasses.replace(journal.timeline[-1], seq=last + i + 1))
            journal.revision += 1

        arrive(1)
        app.refresh_now(force=True)
        await pilot.pause()
        assert timeline.keys()[0] == str(newest + 1)
        assert timeline.cursor_row == 0 and timeline.scroll_y == 0  # followed
        title = app.screen.query_one("#fo-tl-title")
        assert "▲" not in str(title.render())
        timeline.focus()
        await pilot.press("down", "down")  # the user scrolls down the timeline
        arrive(2)
        app.refresh_now(force=True)
        await pilot.pause()
        assert timeline.cursor_row != 0  # left where the user put it
        assert "▲ 2 new" in str(title.render()) and title.has_class("-new")
        await pilot.press("home")  # back to the newest
        await pilot.pause()
        assert timeline.cursor_row == 0 and "▲" not in str(title.render())
        assert timeline.keys()[0] == str(newest + 3)


async def test_columns_hide_by_priority_and_standbys_are_never_cut() -> None:
    app = demo_app(stop_at=5)  # before the outage: every destination has standbys
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.pause()
        app.refresh_now(force=True)
        await pilot.pause()
        keys = [c.key for c in table(app, "#fo-table").table_columns]
        assert keys[:3] == ["state", "dest", "via"] and keys[-1] == "standby"
        assert "metric" not in keys  # the lowest priority goes first
        assert table(app, "#fo-table").row_count == 5
        for row in rows(app, "#fo-table"):
            assert "…" not in row[-1]
            for part in row[-1].split("  "):  # whole entries, or a +N count
                assert re.fullmatch(r"(▲ )?\S+ \d+, [+-]\d+|\+\d+|none", part), row
        footer = screen_text(app).splitlines()[-1]
        assert "? Help" in footer and "q Quit" in footer
    app = demo_app(stop_at=5)
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot)
        keys = [c.key for c in table(app, "#fo-table").table_columns]
        assert keys == ["state", "dest", "via", "metric", "since", "detect", "standby"]


def test_fit_parts_counts_what_does_not_fit() -> None:
    from meshtui.ui.views.failover import fit_parts

    items = ["relay-1 288, +192", "relay-2 384, +288"]
    assert fit_parts(items, 80) == "relay-1 288, +192  relay-2 384, +288"
    assert fit_parts(items, 25) == "relay-1 288, +192  +1"
    assert fit_parts(items, 5) == "+2"
    assert fit_parts(items[:1], 5) == items[0]  # alone: shown whole, the cell scrolls


async def test_sort_arrow_on_the_sorted_column() -> None:
    app = demo_app(stop_at=20)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        t = table(app, "#fo-table")

        def labels() -> list[str]:
            return [str(c.label) for c in t.columns.values()]

        assert labels()[0] == "state ▲" and sum("▲" in x or "▼" in x for x in labels()) == 1
        await pilot.press("o")
        assert labels()[1] == "destination ▲" and labels()[0] == "state"
        await pilot.press("O")
        assert labels()[1] == "destination ▼"


async def test_help_says_what_the_views_show() -> None:
    """The help's detection figures are the Interfaces view's, for a hello of 1 s."""
    from meshtui.ui.screens.dialogs import reading_notes

    notes = dict(reading_notes())
    assert "detection" in notes and "notice in" not in notes
    m = re.search(r"~([\d.]+) hello intervals \(earliest ([\d.]+), latest ([\d.]+)\)",
                  notes["detection"])  # fmt: skip
    assert m, notes["detection"]
    app = demo_app(stop_at=20, hello={"*": 1.0})  # as demo/edge-a.conf configures it
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        lan = row_of(app, "#if-table", "w02ef0bea2")
        assert lan[4] == "1.0 s (configured)", lan
        shown = re.fullmatch(r"~([\d.]+) s \(([\d.]+)–([\d.]+) s\)", lan[5])
        assert shown, lan[5]
        assert float(shown.group(2)) == pytest.approx(float(m.group(2)), abs=0.05)
        assert float(shown.group(3)) == pytest.approx(float(m.group(3)), abs=0.05)
        header = [str(c.label) for c in table(app, "#if-table").columns.values()]
        assert any(h.startswith("detection") for h in header)
        await pilot.press("1")
        fo_header = [str(c.label) for c in table(app, "#fo-table").columns.values()]
        assert any(h.startswith("detection") for h in fo_header)
        await pilot.press("question_mark")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        text = help_screen.plain_text()
        for phrase in ("Hellos failing", "gap", "back on its usual relay after", "▲ N new"):
            assert phrase in text
        timeline = " ".join(row[0] for row in rows_of_main(app, "#fo-timeline"))
        for phrase in ("Hellos failing", "detection", "gap"):
            assert phrase in timeline  # phrases the help explains do appear


def rows_of_main(app: MeshApp, selector: str) -> list[list[str]]:
    return app.screen_main().query_one(selector, KeyedTable).plain_rows()


async def test_first_key_folds_the_banner() -> None:
    from meshtui.commands.ui import DEMO_BANNER
    from meshtui.ui.widgets.banner import Banner

    app = demo_app(stop_at=5, banner=DEMO_BANNER)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        banner = app.screen.query_one(Banner)
        assert banner.region.height > 1
        await pilot.press("1")
        await pilot.pause()
        assert banner.collapsed and banner.region.height == 1
        assert table(app, "#fo-table").region.height >= 9  # header and 8 rows


async def test_detail_names_the_destination_and_wraps_its_history() -> None:
    app = demo_app(stop_at=PENDING_AT)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        app.open_detail(SITE_B + "/128")
        await settle(pilot)
        text = screen_text(app)
        assert f"Destination srv-b1 ({SITE_B})" in text  # the name, and the address
        assert f"via relay-2 ({RELAY_2_HOP})" in text
        neighbours = [r[1] for r in rows(app, "#dd-routes")]
        assert sorted(neighbours) == [RELAY_1, RELAY_2]
        history = table(app, "#dd-history")
        failover = next(r for r in history.plain_rows() if r[1] == "failover")
        entry = next(
            e for e in app.feed.journal.history_of(SITE_B + "/128") if e.type is EventType.FAILOVER
        )
        assert "\n" in failover[2]  # wrapped onto more lines
        assert failover[2].split() == entry.text.split()  # every word of it, none cut
        assert max(len(line) for line in failover[2].splitlines()) <= 100 - 34
