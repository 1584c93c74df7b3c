"""Helpers to drive the dashboard deterministically (tests, snapshots, benchmarks).

The demo recording is replayed as fast as possible up to a fixed offset and
then held there, with its virtual clock anchored at :data:`DEMO_ORIGIN`, so
every "N s ago" on screen is the same on every run. The session's
wall-clock tick is parked (see :func:`demo_app`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from meshtui.ui.app import MeshApp, make_app
from meshtui.ui.hub import held_recording
from meshtui.ui.themes import BUNDLED_DIR

DEMO_ORIGIN = 1_800_000_000.0
"""The demo's virtual start time in tests: 2027-01-15 08:00:00 UTC."""

NO_KEYMAP = Path("/nonexistent/meshtui-keymap.toml")
DETERMINISTIC_TICK = 3600.0


def demo_app(stop_at: float | None = None, **kwargs: Any) -> MeshApp:
    """The dashboard on the demo recording, replayed at once up to ``stop_at`` seconds, then held.

    Only the bundled themes are loaded and no user keymap, unless the keyword
    arguments (passed to :func:`~meshtui.ui.app.make_app`) say otherwise.
    """
    source = held_recording(speed=0, stop_at=stop_at, origin=DEMO_ORIGIN, name="edge-a")
    kwargs.setdefault("theme_dirs", [BUNDLED_DIR])
    kwargs.setdefault("keymap_file", NO_KEYMAP)
    # No timer-driven refresh while the replay races through: what was drawn midway
    # would depend on the machine's speed. settle() refreshes once, at the end.
    kwargs.setdefault("refresh_interval", DETERMINISTIC_TICK)
    app = make_app([source], **kwargs)
    for feed in app.feeds:
        # The session's periodic tick (heartbeat-silence checks) runs on wall time; in a
        # replay at full speed it would land at arbitrary virtual times. Off, for
        # determinism: babeld's own lines decide, and the end of the replay flushes.
        feed.session.tick = DETERMINISTIC_TICK
    return app


async def settle(pilot: Pilot, timeout: float = 30.0) -> None:
    """Wait (bounded) until the held replay reached its end, then refresh the view.

    Raises:
        TimeoutError: the replay did not reach its end within ``timeout`` seconds.
    """
    app = pilot.app
    assert isinstance(app, MeshApp)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not all(f.replay_finished for f in app.feeds if f.held is not None):
        if loop.time() > deadline:
            raise TimeoutError("the replay did not reach its end")
        await pilot.pause(0.02)
    app.refresh_now(force=True)
    await pilot.pause()


async def until(
    pilot: Pilot,
    predicate: Callable[[], object],
    timeout: float = 20.0,
    what: str = "a condition",
    interval: float = 0.05,
) -> None:
    """Let the app run until ``predicate()`` is truthy (bounded).

    Raises:
        AssertionError: still false after ``timeout`` seconds, naming ``what``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(interval)


def screen_text(app: MeshApp) -> str:
    """The screen as plain text, one line per row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)
