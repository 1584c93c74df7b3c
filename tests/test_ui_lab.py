"""The dashboard on a real babeld (the lab): live socket through the pump, kernel, WireGuard.

Needs root and babeld (the ``lab`` fixture skips with the reason otherwise).
Every wait is bounded and waits on a condition.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from meshtui.core.events import EventType
from meshtui.core.inventory import load_inventory
from meshtui.transport.sources import local_source
from meshtui.transport.ssh import SSHSettings, close_sources, inventory_sources, pool_of
from meshtui.ui.app import MeshApp, make_app
from meshtui.ui.journal import LinkState
from meshtui.ui.testing import NO_KEYMAP, screen_text, until
from meshtui.ui.themes import BUNDLED_DIR
from meshtui.ui.widgets.table import KeyedTable

pytestmark = pytest.mark.lab

SIZE = (160, 48)


def _hop(lab: object, dest: str, relay: str) -> str:
    for route in lab.routes_to("edge-a", dest):  # type: ignore[attr-defined]
        if lab.neighbour_name(route.via) == relay:  # type: ignore[attr-defined]
            return f"{route.via}%{route.interface}"
    raise AssertionError(f"edge-a has no route to {dest} via {relay}")


def _rows(app: MeshApp, selector: str) -> list[list[str]]:
    return app.screen.query_one(selector, KeyedTable).plain_rows()


@pytest.fixture(autouse=True)
def _clean_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


async def test_live_failover_through_the_pump(healthy_lab: object) -> None:
    lab = healthy_lab
    address = lab.address("srv-b1")  # type: ignore[attr-defined]
    relay_1 = _hop(lab, "srv-b1", "relay-1")
    relay_2 = _hop(lab, "srv-b1", "relay-2")
    source = local_source(lab.socket_path("edge-a"), name="edge-a")  # type: ignore[attr-defined]
    app = make_app([source], theme_dirs=[BUNDLED_DIR], keymap_file=NO_KEYMAP)
    thresholds = gc.get_threshold()
    async with app.run_test(size=SIZE) as pilot:
        assert app.hub.pump is not None  # a live socket is read on the pump's thread
        await until(pilot, lambda: app.feed.journal.link.state is LinkState.LIVE, 30, "live")
        await pilot.press("a")  # addresses instead of names: the hops as babeld gives them

        def via(hop: str) -> bool:
            app.refresh_now(force=True)
            return any(row[1] == address and row[2] == hop for row in _rows(app, "#fo-table"))

        await until(pilot, lambda: via(relay_1), 60, f"{address} via relay-1")
        lab.fail_relay("relay-1")  # type: ignore[attr-defined]
        try:
            await until(pilot, lambda: via(relay_2), 60, f"{address} via relay-2")
            failovers = [
                e
                for e in app.feed.journal.timeline
                if e.type is EventType.FAILOVER and e.prefix == f"{address}/128"
            ]
            assert failovers and failovers[-1].to is not None
            assert f"{failovers[-1].to.via}%{failovers[-1].to.interface}" == relay_2
            assert any(f"{relay_1} → {relay_2}" in row[0] for row in _rows(app, "#fo-timeline"))
        finally:
            lab.heal_relay("relay-1")  # type: ignore[attr-defined]
        assert app.hub.pump.bytes_in > 0 and app.feed.session.disconnects == 0
        # the kernel's links of edge-a's namespace and its WireGuard peers
        await pilot.press("4")
        await until(pilot, lambda: app.hub.local.get("edge-a") is not None, 30, "the local probe")
        app.refresh_now(force=True)
        await pilot.pause()
        facts = app.hub.local["edge-a"]
        assert facts.netns is not None and "another network namespace" in facts.namespace
        links = {row[1] for row in _rows(app, "#if-kernel")}
        assert {"lan0", relay_1.split("%")[1], relay_2.split("%")[1]} <= links
        peers = _rows(app, "#if-wg")
        assert {row[0] for row in peers} == {relay_1.split("%")[1], relay_2.split("%")[1]}
        assert all(row[3] != "never" for row in peers)
    assert gc.get_threshold() == thresholds  # the collector gave the settings back
    assert gc.get_freeze_count() == 0


async def test_interfaces_view_of_a_node_over_ssh_shows_its_kernel_and_wireguard(
    healthy_lab: object,
) -> None:
    """The dashboard on the lab's inventory (real sshd): edge-b's links and WireGuard
    peers come over its SSH connection, read-only, like a local node's."""
    lab = healthy_lab
    settings = SSHSettings(
        known_hosts=str(lab.known_hosts),  # type: ignore[attr-defined]
        client_keys=(str(lab.ssh_key),),  # type: ignore[attr-defined]
        config=(),
    )
    inv = load_inventory(lab.inventory_path)  # type: ignore[attr-defined]
    sources = inventory_sources(inv, ["edge-b"], settings=settings)
    app = make_app(sources, theme_dirs=[BUNDLED_DIR], keymap_file=NO_KEYMAP)
    tunnels = {t.interface for t in lab.node("edge-b").tunnels}  # type: ignore[attr-defined]
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.feed.journal.link.state is LinkState.LIVE, 60, "live")
            await until(pilot, lambda: bool(app.feed.model.interfaces), 30, "interfaces")
            await pilot.press("4")
            await until(pilot, lambda: app.hub.local.get("edge-b") is not None, 60, "the SSH probe")
            app.refresh_now(force=True)
            await pilot.pause()
            facts = app.hub.local["edge-b"]
            assert facts.links_error == "" and facts.peers_error == ""
            assert "over SSH" in facts.namespace
            links = {row[1]: row for row in _rows(app, "#if-kernel")}
            assert {"lo", "lan0", *tunnels} <= set(links)
            address = lab.address("edge-b")  # type: ignore[attr-defined]
            assert any(address in cell for cell in links["lo"])  # its /128
            peers = _rows(app, "#if-wg")
            assert {row[0] for row in peers} == tunnels  # one peer per tunnel, a relay each
            assert all(row[3] != "never" for row in peers)  # handshakes happened
            assert "over SSH" in screen_text(app)
            pool = pool_of(sources[0])
            assert pool is not None and pool.connection_of("edge-b") is not None
        # the app closed its SSH connection on the loop that opened it (the pump's)
        assert pool.connection_of("edge-b") is None
    finally:
        await close_sources(sources)
