"""Write actions in the dashboard: not bound in read-only mode, bound with --write."""

from __future__ import annotations

import socket
from pathlib import Path

from meshtui.core.inventory import load_inventory
from meshtui.transport.ssh import SSHSettings, close_sources, inventory_sources
from meshtui.ui.app import make_app
from meshtui.ui.testing import NO_KEYMAP
from meshtui.ui.themes import BUNDLED_DIR

SIZE = (160, 48)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _inventory(tmp_path: Path) -> Path:
    """One node reached over SSH on loopback, where nothing listens."""
    path = tmp_path / "mesh.toml"
    path.write_text(
        f"""
[mesh]
prefix = "fd42:1::/64"

[nodes.edge-a]
ssh = "root@127.0.0.1"
ssh_port = {_closed_port()}
role = "edge"
site = "a"
address = "fd42:1::a"
lan = "eth0"
"""
    )
    return path


def _settings(tmp_path: Path) -> SSHSettings:
    known = tmp_path / "known_hosts"
    known.write_text("")
    return SSHSettings(known_hosts=str(known), config=())


async def test_deploy_is_bound_only_with_write_and_an_inventory(tmp_path: Path) -> None:
    inv = load_inventory(_inventory(tmp_path))
    for read_only, expected in ((True, False), (False, True)):
        sources = inventory_sources(inv, settings=_settings(tmp_path))
        app = make_app(
            sources, read_only=read_only, theme_dirs=[BUNDLED_DIR], keymap_file=NO_KEYMAP
        )
        try:
            async with app.run_test(size=SIZE) as pilot:
                await pilot.pause()
                assert bool(app.check_action("deploy", ())) is expected
                assert ("D" in app.active_bindings) is expected  # what the footer offers
                await pilot.press("q")
        finally:
            await close_sources(sources)


async def test_demo_has_no_write_action() -> None:
    from meshtui.ui.testing import demo_app

    app = demo_app(stop_at=5)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not app.check_action("deploy", ())
        assert "D" not in app.active_bindings
        screens = len(app.screen_stack)
        await pilot.press("D")  # not bound: nothing happens, nothing is pushed
        await pilot.pause()
        assert len(app.screen_stack) == screens
        await pilot.press("q")
