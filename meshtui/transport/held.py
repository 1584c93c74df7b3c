"""Recordings replayed for the dashboard: :class:`HeldReplay` holds on the last state at the end.

The demo recording shipped with meshtui is :func:`demo_recording`.

A live babeld's last state stays on screen while it is quiet; a replay that
holds does the same at the end of its recording (the demo, the snapshots).
"""

from __future__ import annotations

from pathlib import Path

from meshtui.paths import shipped
from meshtui.transport.node import ReplayAccess
from meshtui.transport.replay import (
    ReplayChannel,
    ReplaySource,
    Segment,
    load_recording,
    recorded_names,
    recording_started,
)
from meshtui.transport.sources import Source

DEMO_FILE = "relay-outage.rec"
DEMO_DIR = shipped("demo", "ui/demo_data")


def demo_recording() -> Path:
    """The recording shipped with meshtui (a real relay outage seen from an edge router)."""
    return DEMO_DIR / DEMO_FILE


def _truncate(segments: list[Segment], stop_at: float) -> list[Segment]:
    out: list[Segment] = []
    for segment in segments:
        lines = tuple(item for item in segment.lines if item[0] <= stop_at)
        if lines:
            out.append(Segment(lines))
        if len(lines) < len(segment.lines):
            break
    return out


class HeldReplay:
    """A recording replayed through its connections, holding on the last state at the end.

    (The replay's last connection stays open and quiet at the end, as an idle
    babeld would; :attr:`at_end` says when it got there.)

    Args:
        segments: from :func:`~meshtui.transport.replay.load_recording`.
        speed: 1.0 is real time, 0 as fast as possible.
        stop_at: end the replay at this offset (seconds) — tests and
            snapshots use it to stop at a fixed point of the recording.
        origin: wall-clock time of the recording's start (fixed for snapshots).
    """

    def __init__(
        self,
        segments: list[Segment],
        speed: float = 1.0,
        stop_at: float | None = None,
        origin: float | None = None,
    ) -> None:
        if stop_at is not None:
            segments = _truncate(segments, stop_at)
        self.replay = ReplaySource(segments, speed=speed)
        if origin is not None:
            self.replay.clock.origin = origin
        self.duration = self.replay.duration

    async def open(self) -> ReplayChannel:
        """Open the next recorded connection (the session's opener)."""
        return await self.replay.open()

    @property
    def at_end(self) -> bool:
        """Whether the replay reached the end (of the recording, or ``stop_at``)."""
        return self.replay.finished.is_set()

    @property
    def offset(self) -> float:
        """Seconds into the recording."""
        return self.replay.clock.offset

    @property
    def paused(self) -> bool:
        """Whether the replay is paused."""
        return self.replay.clock.paused

    @property
    def speed(self) -> float:
        """The replay speed (1 = real time)."""
        return self.replay.clock.speed

    def pause(self) -> None:
        """Hold the replay where it is."""
        self.replay.pause()

    def resume(self) -> None:
        """Go on after :meth:`pause`."""
        self.replay.resume()

    def set_speed(self, speed: float) -> None:
        """Change the speed (from the next line)."""
        self.replay.set_speed(speed)


def held_replay_source(
    path: Path | str,
    *,
    speed: float = 1.0,
    stop_at: float | None = None,
    origin: float | None = None,
    name: str | None = None,
) -> Source:
    """A :class:`Source` replaying ``path``; it stays on the final state at the end.

    Raises:
        RecordingError: the file is missing or not a recording.
    """
    if origin is None:
        origin = recording_started(path)
    held = HeldReplay(load_recording(path), speed=speed, stop_at=stop_at, origin=origin)
    return Source(
        name=name or Path(path).stem,
        opener=held.open,
        label=f"replay of {Path(path).name}",
        clock=held.replay.clock,
        replay=held.replay,
        access=ReplayAccess(recorded=recorded_names(path), holding=held),
    )
