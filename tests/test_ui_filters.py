"""The Filters view: rules per interface with live match counts, and the rule behind each route.

Driven by the shipped recording of edge-a (meshtui/ui/demo_data/relay-outage.rec)
with the config the lab generated for that node (tests/data/filters/edge-a.conf),
and, against the lab, by a live node whose config is read over SSH.

The app does not mount the view yet (its owner wires it); the ``filters_app``
fixture adds it to the app's view list the way the app will.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import meshtui.ui.app as app_module
from meshtui.core.babelconf import Chain, parse_config
from meshtui.core.decisions import LoadedConfig, analyse, babeld_version_of, rule_key
from meshtui.core.model import NodeModel
from meshtui.transport.config_read import SSHConfigSource
from meshtui.transport.held import demo_recording
from meshtui.transport.replay import load_recording
from meshtui.ui.app import MeshApp, make_app
from meshtui.ui.palette import palette_commands
from meshtui.ui.testing import NO_KEYMAP, demo_app, screen_text, settle, until
from meshtui.ui.themes import BUNDLED_DIR
from meshtui.ui.views.filters import FiltersView
from meshtui.ui.widgets.table import KeyedTable

CONFIG = Path(__file__).parent / "data" / "filters" / "edge-a.conf"
WIDE = (190, 56)
LAN, WG1, WG2 = "lan0", "w02ef0bea1", "w02ef0bea2"
SRV_A1 = "fd31:1b9e:30be::1:1/128"
EDGE_B = "fd31:1b9e:30be::ee:2/128"
OWN = "fd31:1b9e:30be::ee:1/128"


def config_line(text: str, rule: str) -> int:
    return text.splitlines().index(rule) + 1


def initial_model() -> NodeModel:
    """edge-a's state from the recording's first full dump (before the outage)."""
    model = NodeModel()
    segment = load_recording(demo_recording())[0]
    oks = 0
    for stamp, line in segment.lines:
        model.feed(line, stamp)
        oks += line == "ok"
        if oks == 2:  # the greeting's, then the dump's
            break
    model.commit(0.0)
    return model


# --------------------------------------------------------------------- pure analysis


def test_analysis_counts_every_route_once_per_chain() -> None:
    model = initial_model()
    config = parse_config(CONFIG.read_text(), str(CONFIG), babeld_version_of(model))
    assert config.ok
    a = analyse(config, model)
    counts = {r.key: r.matches for r in a.rules}
    ins = [d for d in a.decisions if d.chain is Chain.IN]
    assert len(ins) == len(model.routes) == 11
    assert all(d.verdict is not None and d.verdict.allowed for d in ins)

    def n(interface: str, chain: Chain, rule: str) -> int:
        index = next(f.index for f in config.filters[chain] if f.text == rule)
        return counts[rule_key(interface, chain, index)]

    assert n(LAN, Chain.IN, "in ip fd31:1b9e:30be::/64 if lan0 allow") == 1
    assert n(WG1, Chain.IN, "in ip fd31:1b9e:30be::/64 if w02ef0bea1 allow") == 5
    assert n(WG2, Chain.IN, "in ip fd31:1b9e:30be::/64 if w02ef0bea2 allow") == 5
    assert n(WG1, Chain.IN, f"in ip {OWN} deny") == 0  # babeld never holds its own /128
    # out: 4 xroutes (own /128 + 3 underlay/management) and 5 installed routes.
    assert n(WG1, Chain.OUT, "out ip fd31:1b9e:30be::/64 eq 128 if w02ef0bea1 allow") == 6
    assert n(WG1, Chain.OUT, "out deny") == 3  # underlay and management addresses
    # lan0 is wired: split horizon keeps srv-a1's route (learnt there) off it.
    assert n(LAN, Chain.OUT, "out ip fd31:1b9e:30be::/64 eq 128 if lan0 allow") == 5
    held = [d for d in a.decisions if d.held_back]
    assert [(d.interface, d.prefix) for d in held] == [(LAN, SRV_A1)]
    # Every rule row applies to its interface, and a chain closed by a catch-all
    # shows no default row.
    assert not any(r.rule is None for r in a.rules)
    assert all(r.rule is None or r.rule.ifname in (None, r.interface) for r in a.rules)


def test_analysis_with_a_planted_rule() -> None:
    model = initial_model()
    text = CONFIG.read_text()
    planted_rule = f"out ip {SRV_A1} if {WG2} deny"
    planted = text.replace("# Only announce host routes", planted_rule + "\n# Only announce", 1)
    config = parse_config(planted, "planted.conf")
    a = analyse(config, model)
    decision = next(
        d for d in a.decisions if d.chain is Chain.OUT and d.interface == WG2 and d.prefix == SRV_A1
    )
    assert decision.verdict is not None and decision.verdict.action == "deny"
    assert decision.verdict.line == config_line(planted, planted_rule)
    by_rule = {r.rule.text: r.matches for r in a.rules if r.interface == WG2 and r.rule}
    assert by_rule[planted_rule] == 1
    assert by_rule[f"out ip fd31:1b9e:30be::/64 eq 128 if {WG2} allow"] == 5
    # The planted rule names w02ef0bea2: it is not listed for the other interfaces.
    assert not any(r.rule and r.rule.text == planted_rule for r in a.rules if r.interface != WG2)


def test_without_a_config_the_default_allows() -> None:
    a = analyse(parse_config("", "empty.conf"), initial_model())
    assert all(d.verdict is None or d.verdict.source == "default" for d in a.decisions)
    assert {r.rule for r in a.rules} == {None}


# --------------------------------------------------------------------- pilot


@pytest.fixture
def filters_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mount the Filters view in the app as its owner will (view list, help text)."""
    if FiltersView not in app_module.VIEW_CLASSES:
        monkeypatch.setattr(app_module, "VIEW_CLASSES", (*app_module.VIEW_CLASSES, FiltersView))
        monkeypatch.setitem(app_module.VIEW_HELP, "filters", "in/out filters per interface")


def view_of(app: MeshApp) -> FiltersView:
    view = app.view("filters")
    assert isinstance(view, FiltersView)
    return view


def loaded(app: MeshApp, node: str = "edge-a") -> Callable[[], bool]:
    def check() -> bool:
        state = view_of(app).configs.get(node)
        return state is not None and not state.loading

    return check


async def show_filters(app: MeshApp, pilot: Any, node: str = "edge-a") -> FiltersView:
    await settle(pilot)
    app.action_show_view("filters")
    await until(pilot, loaded(app, node))
    app.refresh_now(force=True)
    await pilot.pause()
    return view_of(app)


def rules_table(app: MeshApp) -> KeyedTable:
    return app.screen.query_one("#fl-rules", KeyedTable)


def decisions_table(app: MeshApp) -> KeyedTable:
    return app.screen.query_one("#fl-decisions", KeyedTable)


async def test_rules_with_counts_and_the_rule_behind_a_route(filters_app: None) -> None:
    app = demo_app(stop_at=20)
    app.filters_config = CONFIG  # what `--config FILE` sets
    text = CONFIG.read_text()
    async with app.run_test(size=WIDE) as pilot:
        view = await show_filters(app, pilot)
        assert view.configs["edge-a"].parsed is not None
        rows = rules_table(app).plain_rows()
        line = config_line(text, "in ip fd31:1b9e:30be::/64 if w02ef0bea1 allow")
        row = next(r for r in rows if r[0] == WG1 and r[2] == f"edge-a.conf:{line}")
        assert row[1] == "in" and row[4] == "allow" and row[5] == "5"
        assert any(r[0] == LAN and r[3] == "out deny" and r[5] == "3" for r in rows)
        screen = screen_text(app)
        assert "Filters — edge-a" in screen and "5 in + 4 out rules on 3 interfaces" in screen

        # The cursor on the route to edge-b learnt from relay-2: the why line names the rule,
        # and the rules table follows.
        table = decisions_table(app)
        table.focus()
        key = f"in|{WG2}|{EDGE_B}|::/0|fe80::ff:2"
        table.move_cursor(row=table.get_row_index(key))
        await pilot.pause()
        why = str(app.screen.query_one("#fl-why").render())
        line2 = config_line(text, "in ip fd31:1b9e:30be::/64 if w02ef0bea2 allow")
        assert f"edge-a.conf:{line2}" in why and "accepted" in why and "fe80::ff:2" in why
        rule_idx = next(f.index for f in view.configs["edge-a"].parsed.filters[Chain.IN]
                        if f.line == line2)  # fmt: skip
        assert rules_table(app).cursor_key == rule_key(WG2, Chain.IN, rule_idx)

        # An out decision held back by split horizon says so.
        key = f"out|{LAN}|{SRV_A1}|::/0|"
        table.move_cursor(row=table.get_row_index(key))
        await pilot.pause()
        assert "split horizon" in str(app.screen.query_one("#fl-why").render())

        # enter on a rule shows only its decisions; esc shows them all again.
        rules = rules_table(app)
        rules.focus()
        deny_key = rule_key(LAN, Chain.OUT, 3)
        rules.move_cursor(row=rules.get_row_index(deny_key))
        await pilot.press("enter")
        await pilot.pause()
        assert view.focus_rule == deny_key
        shown = decisions_table(app).plain_rows()
        assert len(shown) == 3 and all(r[4] == "not announced" for r in shown)
        await pilot.press("escape")
        await pilot.pause()
        assert view.focus_rule is None
        assert len(decisions_table(app).plain_rows()) > 3


async def test_filter_bar_narrows_both_tables(filters_app: None) -> None:
    app = demo_app(stop_at=20)
    app.filters_config = CONFIG
    async with app.run_test(size=WIDE) as pilot:
        await show_filters(app, pilot)
        await pilot.press("slash")
        await pilot.press(*"w02ef0bea2")
        await pilot.press("enter")
        await pilot.pause()
        assert all(WG2 in r[0] for r in rules_table(app).plain_rows())
        assert all(r[1] == WG2 for r in decisions_table(app).plain_rows())


async def test_no_config_is_said_not_guessed(filters_app: None) -> None:
    app = demo_app(stop_at=5)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        app.action_show_view("filters")
        await pilot.pause()
        app.refresh_now(force=True)
        await pilot.pause()
        text = screen_text(app)
        assert "no config to show" in text and "--config FILE" in text
        assert rules_table(app).row_count == 0 and decisions_table(app).row_count == 0


async def test_missing_and_unreadable_configs(filters_app: None, tmp_path: Path) -> None:
    app = demo_app(stop_at=5)
    app.filters_config = tmp_path / "nowhere.conf"
    async with app.run_test(size=WIDE) as pilot:
        await show_filters(app, pilot)
        assert "does not exist" in screen_text(app)

        @dataclass(frozen=True)
        class Failing:
            label: str = "ssh root@fd00::1:/etc/babeld.conf"

            async def load(self) -> LoadedConfig:
                raise OSError("edge-a: refusing to connect: host key of fd00::1 is unknown")

        app.hub.set_config_source("edge-a", Failing())
        app.refresh_now(force=True)
        await until(pilot, loaded(app))
        app.refresh_now(force=True)
        await pilot.pause()
        text = screen_text(app)
        assert "cannot read ssh root@fd00::1:/etc/babeld.conf" in text
        assert "host key of fd00::1 is unknown" in text and "Traceback" not in text


async def test_a_config_source_is_read_once_and_again_on_c(filters_app: None) -> None:
    reads: list[float] = []

    @dataclass(frozen=True)
    class Counting:
        label: str = "counting source"

        async def load(self) -> LoadedConfig:
            reads.append(time.monotonic())
            return LoadedConfig(self.label, "remote.conf", CONFIG.read_text())

    app = demo_app(stop_at=20)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        app.hub.set_config_source("edge-a", Counting())
        app.action_show_view("filters")
        await until(pilot, loaded(app))
        for _ in range(3):
            app.refresh_now(force=True)
            await pilot.pause()
        assert len(reads) == 1
        assert any(r[2].startswith("remote.conf:") for r in rules_table(app).plain_rows())
        await pilot.press("c")
        await until(pilot, lambda: len(reads) == 2 and loaded(app)())
        assert "counting source" in screen_text(app)


async def test_the_view_in_a_keymap_and_the_palette(filters_app: None) -> None:
    app = demo_app(stop_at=5)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        assert "filters.reload" in app_module.binding_ids()
        commands = [c.title for c in palette_commands(app)]
        assert "view: filters" in commands


# --------------------------------------------------------------------- over SSH (lab)


@pytest.mark.lab
async def test_a_remote_node_over_ssh(filters_app: None, lab: Any) -> None:
    from meshtui.core.inventory import load_inventory
    from meshtui.transport.ssh import SSHSettings, close_sources, inventory_sources

    inv = load_inventory(lab.inventory_path)
    settings = SSHSettings(known_hosts=str(lab.known_hosts), client_keys=(str(lab.ssh_key),),
                           config=(), connect_timeout=30.0)  # fmt: skip
    sources = inventory_sources(inv, ["edge-a"], settings=settings)
    app = make_app(sources, theme_dirs=[BUNDLED_DIR], keymap_file=NO_KEYMAP)
    try:
        async with app.run_test(size=WIDE) as pilot:
            feed = app.feeds[0]
            await until(pilot, lambda: feed.model.routes and feed.model.xroutes, 60)
            app.action_show_view("filters")
            await until(pilot, loaded(app), 90)
            view = view_of(app)
            state = view.configs["edge-a"]
            assert state.error is None and state.parsed is not None, state.error
            assert isinstance(feed.source.access.config_source(), SSHConfigSource)
            assert app.hub.config_source(feed) is state  # the hub's read, drawn by the view
            assert state.parsed.filename == f"edge-a:{lab.config_path('edge-a')}"

            def counted() -> bool:
                app.refresh_now(force=True)
                analysis = view.analysis
                if analysis is None:
                    return False
                learnt = sum(1 for d in analysis.decisions if d.chain is Chain.IN)
                return learnt == len(feed.model.routes) > 0

            await until(pilot, counted, 30)
            # Every route edge-a holds was accepted by the per-interface allow rule.
            rows = rules_table(app).plain_rows()
            total = sum(int(r[5]) for r in rows if r[1] == "in" and r[4] == "allow")
            assert total == len(feed.model.routes)
            assert "Filters — edge-a: ssh root@" in screen_text(app)
    finally:
        await close_sources(sources)
