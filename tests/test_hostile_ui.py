"""The dashboard on hostile babeld lines and a hostile config: what is drawn is inert.

A recording of a real babeld with an interface name, a host name and a config
full of escapes, bidi overrides and Rich markup is replayed into the app; every
view is shown and the rendered screen is read back: no raw ESC, bidi or other
control character is drawn, the escapes show as text, and markup stays text.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from meshtui.transport.held import demo_recording, held_replay_source
from meshtui.ui import app as app_module
from meshtui.ui.app import MeshApp
from meshtui.ui.testing import DEMO_ORIGIN, NO_KEYMAP, screen_text, settle, until
from meshtui.ui.themes import BUNDLED_DIR
from meshtui.ui.views.filters import FiltersView

ESC = "\x1b]0;PWNED\x07\x1b[2J"
IFNAME = f"lan{ESC}\u202e0"
HOST = f"vm{ESC}[bold]B[/bold]"
CONFIG = f"""\
interface {IFNAME} type wired
interface w02ef0bea1 type tunnel
in ip fd00::/8 if {IFNAME} allow
in deny
out deny
# a comment \u2066 with [red]markup[/red] {ESC}
x{ESC}[link=http://example]click[/link]
"""
WIDE = (190, 56)


@pytest.fixture
def hostile_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MeshApp:
    if FiltersView not in app_module.VIEW_CLASSES:
        monkeypatch.setattr(app_module, "VIEW_CLASSES", (*app_module.VIEW_CLASSES, FiltersView))
        monkeypatch.setitem(app_module.VIEW_HELP, "filters", "in/out filters per interface")
    rec = tmp_path / "hostile.rec"
    text = demo_recording().read_text().replace("lan0", IFNAME).replace("host vm", f"host {HOST}")
    rec.write_text(text)
    conf = tmp_path / "hostile.conf"
    conf.write_text(CONFIG)
    source = held_replay_source(rec, speed=0, origin=DEMO_ORIGIN, name="edge-a")
    app = app_module.make_app(
        [source],
        theme_dirs=[BUNDLED_DIR],
        keymap_file=NO_KEYMAP,
        refresh_interval=3600.0,
        filters_config=conf,
    )
    return app


def assert_drawn_inert(screen: str) -> None:
    bad = sorted({c for c in screen if not c.isprintable() and c != "\n"})
    assert not bad, (bad, [line for line in screen.splitlines() if any(c in line for c in bad)])


async def test_every_view_draws_outside_text_inert(hostile_app: MeshApp) -> None:
    app = hostile_app
    seen: dict[str, str] = {}
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        for cls in app_module.VIEW_CLASSES:
            app.action_show_view(cls.view_id)
            if cls.view_id == "filters":
                view = app.view("filters")
                assert isinstance(view, FiltersView)
                await until(
                    pilot,
                    lambda v=view: "edge-a" in v.configs and not v.configs["edge-a"].loading,
                    what="the config",
                )
            app.refresh_now(force=True)
            await pilot.pause()
            seen[cls.view_id] = screen_text(app)
            assert_drawn_inert(seen[cls.view_id])
        app.action_show_view("events")
        await pilot.press("r")  # babeld's raw lines, as received
        app.refresh_now(force=True)
        await pilot.pause()
        seen["raw"] = screen_text(app)
        assert_drawn_inert(seen["raw"])
        app.notify(f"edge-a: {ESC} [bold]not markup[/bold]")
        # What the toast will draw (the test screen has no toast rack to read back).
        await until(pilot, lambda: list(app._notifications), what="the notification")
        (toast,) = list(app._notifications)
        assert toast.markup is False
        assert_drawn_inert(toast.message)
        assert "[bold]not markup[/bold]" in toast.message  # markup stays text
    everything = "\n".join(seen.values())
    assert "\\x1b]0;PWNED\\x07" in seen["raw"]  # shown, not obeyed
    assert "\\x1b]0;PWNED" in seen["neighbours"] or "\\x1b]0;PWNED" in seen["interfaces"]
    assert "\\u202e" in everything
    assert "x\\x1b]0;PWNED" in seen["filters"] or "\\x1b" in seen["filters"]
