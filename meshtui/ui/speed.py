"""Replay speed (``+`` / ``-``): the steps a recording's replay goes through."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meshtui.ui.app import MeshApp

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


def next_speed(speed: float, step: int) -> float:
    """The speed ``step`` steps from the one nearest ``speed`` (at the ends, the end)."""
    speed = speed if speed > 0 else 1.0
    index = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - speed))
    return SPEEDS[max(0, min(len(SPEEDS) - 1, index + step))]


def change_speed(app: MeshApp, step: int) -> None:
    """Replay the node shown faster (+1) or slower (-1); a live node says it has no speed."""
    feed = app.feed
    position = feed.replay_position
    if position is None:
        app.notify("speed: only for a replay", timeout=2)
        return
    speed = next_speed(position[2], step)
    feed.set_speed(speed)
    app.notify(f"replay speed ×{speed:g}", timeout=2)
    app.refresher.update_header()
