"""Replays run on the recording's clock: the same events, the same times, at any speed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from meshtui.core.events import EventType
from meshtui.transport.held import demo_recording
from meshtui.transport.replay import ReplaySource, Segment, recording_started
from meshtui.transport.sources import replay_source

DEMO = demo_recording()
SILENT_RELAY = (
    Path(__file__).parent / "data" / "recordings" / "silent-relay-hello0.5-no-timestamps.rec"
)


def _watch(path: Path, speed: float) -> list[dict]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshtui",
            "watch",
            "--replay",
            str(path),
            "--json",
            "--speed",
            f"{speed:g}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_watch_replay_is_identical_at_any_speed_on_the_recordings_clock() -> None:
    """Speed 1 takes the recording's 70 s; 0, 50 and 300 take every path a timer can."""
    at_once = _watch(DEMO, 0)
    assert at_once == _watch(DEMO, 50) == _watch(DEMO, 300)
    kinds = [e["type"] for e in at_once]
    assert {"degrading", "failover", "unreachable", "recovered"} <= set(kinds)
    # the times are the incident's: the shipped file was recorded 14:47-14:48 UTC
    started = datetime(2026, 11, 25, 14, 47, 34, tzinfo=UTC).timestamp()
    assert recording_started(DEMO) == started
    times = [e["time"] for e in at_once]
    assert started <= min(times) and max(times) < started + 120
    assert times == sorted(times)  # and in order: unreachable among the failovers


def test_the_replay_clock_moves_between_lines_but_never_past_the_next_one() -> None:
    async def run() -> list[float]:
        replay = ReplaySource([Segment(((0.0, "a"), (0.3, "b")))], speed=1.0, origin=1000.0)
        channel = await replay.open()
        assert await channel.read() == b"a\n" and replay.clock() == 1000.0
        seen: list[float] = []

        async def watch() -> None:
            while True:
                seen.append(replay.clock())
                await asyncio.sleep(0.02)

        watcher = asyncio.create_task(watch())
        assert await channel.read() == b"b\n"
        seen.append(replay.clock())
        watcher.cancel()
        return seen

    seen = asyncio.run(run())
    assert seen == sorted(seen) and seen[-1] == 1000.3
    assert any(1000.0 < t < 1000.3 for t in seen)  # it moved while waiting


def test_silent_relay_without_timestamps_is_warned_before_its_first_failover() -> None:
    """hello 0.5 s, no timestamps on the tunnels, meshtui connected 2 s after convergence:
    the relay's last Hello at 2.72 s, babeld's switch at 4.16 s (the recording's README)."""
    source = replay_source(SILENT_RELAY, speed=0)
    events: list = []

    async def run() -> None:
        session = source.session(on_events=lambda _n, evs: events.extend(evs))
        task = asyncio.create_task(session.run())
        await source.replay.finished.wait()
        session.flush()
        await session.stop()
        await task

    asyncio.run(run())
    fra = "fe80::5cfc:4aff:fe98:7a09"
    start = recording_started(SILENT_RELAY)
    assert start is not None
    first_failover = next(e for e in events if e.type is EventType.FAILOVER and e.from_.via == fra)
    warning = next(e for e in events if e.type is EventType.DEGRADING and e.neighbour == fra)
    assert warning.time < first_failover.time
    assert events.index(warning) < events.index(first_failover)
    assert first_failover.time - start == pytest.approx(4.158394)
    assert 2.72 < warning.time - start < 4.158  # after its last Hello, before the switch
    assert first_failover.extra["lead_time"] > 0.3
    # the other neighbours kept saying Hello: never called degrading while the recording ran
    others = [e for e in events if e.type is EventType.DEGRADING and e.neighbour != fra]
    assert not others, others
