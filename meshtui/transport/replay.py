"""Recording babeld's raw stream to a file, and replaying it as a :class:`Channel`.

The recording format is text: a first line ``# meshtui-record 1 ...``, then
one line per babeld line, ``SECONDS<TAB>LINE``, where SECONDS is the offset
from the start of the recording. A line ``SECONDS<TAB>#reconnect`` marks a
new connection (babeld restarted, the socket closed): on replay the channel
ends there and the next open continues after it, so the session reconnects
and resyncs exactly as it did live.
"""

from __future__ import annotations

import asyncio
import io
import math
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from meshtui.core.names import NAMES_FIELD, format_names_field, parse_names_field
from meshtui.core.sanitize import decode

MAGIC = "# meshtui-record 1"
RECONNECT = "#reconnect"


class RecordingError(Exception):
    """A recording file that cannot be read; ``str()`` names the file and line."""


@dataclass(frozen=True, slots=True)
class Segment:
    """The lines of one connection: (offset seconds, line) pairs."""

    lines: tuple[tuple[float, str], ...]


MAX_OFFSET = 366 * 86400.0
"""The latest time offset a recording may hold (a year): anything later is a damaged file."""


def _check_header(path: Path, header: str) -> None:
    tokens = header.split()
    if tokens[:2] != ["#", "meshtui-record"]:
        what = "the file is empty" if not header.strip() else "no '# meshtui-record' header"
        raise RecordingError(f"{path}:1: not a meshtui recording ({what})")
    version = tokens[2] if len(tokens) > 2 else ""
    if version != MAGIC.split()[-1]:
        raise RecordingError(
            f"{path}:1: recording format {version[:20]!r} is not supported "
            f"(this meshtui reads '{MAGIC}')"
        )


def _offset(path: Path, number: int, stamp: str, previous: float) -> float:
    try:
        offset = float(stamp)
    except ValueError:
        raise RecordingError(f"{path}:{number}: bad timestamp {stamp[:40]!r}") from None
    if not math.isfinite(offset) or offset < 0 or offset > MAX_OFFSET:
        raise RecordingError(
            f"{path}:{number}: timestamp {stamp[:40]!r} is not a time offset "
            f"(seconds from 0 to {MAX_OFFSET:.0f})"
        )
    if offset < previous:
        raise RecordingError(
            f"{path}:{number}: timestamp {offset:g} goes back in time (the line before "
            f"says {previous:g}): lines are out of order"
        )
    return offset


def load_recording(path: Path | str) -> list[Segment]:
    """Read a recording into its connection segments, checking it as it goes.

    Every connection must start with babeld's greeting (``BABEL ...``), time
    offsets must be finite, non-negative and in order, and the last connection
    must hold the end of babeld's dump (its second ``ok``): otherwise a replay
    would wait for lines that never come.

    Raises:
        RecordingError: the file is missing or damaged; ``str()`` says
            ``FILE:LINE: what is wrong``.
    """
    path = Path(path)
    try:
        text = decode(path.read_bytes())
    except OSError as exc:
        raise RecordingError(f"{path}: {exc.strerror or exc}") from None
    lines = text.split("\n")
    _check_header(path, lines[0])
    segments: list[Segment] = []
    current: list[tuple[float, str]] = []
    previous = 0.0
    replies = 0  # `ok` lines in the current connection: the greeting's, then the dump's
    started_at = 0  # the file line where the current connection starts
    for number, raw in enumerate(lines[1:], start=2):
        if not raw:
            continue
        stamp, sep, line = raw.partition("\t")
        previous = _offset(path, number, stamp, previous)
        if not sep:
            raise RecordingError(f"{path}:{number}: no tab after the timestamp")
        if line == RECONNECT:
            segments.append(Segment(tuple(current)))
            current = []
            continue
        if not current:
            if not line.startswith("BABEL "):
                raise RecordingError(
                    f"{path}:{number}: a connection starts with babeld's greeting "
                    f"('BABEL 1.0'), not {line[:40]!r}"
                )
            replies, started_at = 0, number
        elif line == "ok":
            replies += 1
        current.append((previous, line))
    if current and replies < 2:
        what = "greeting" if replies == 0 else "dump"
        raise RecordingError(
            f"{path}:{len(lines) if lines[-1] else len(lines) - 1}: the recording ends in the "
            f"middle of babeld's {what} (the connection starting at line {started_at} has no "
            f"closing 'ok'): truncated?"
        )
    segments.append(Segment(tuple(current)))
    segments = [s for s in segments if s.lines]
    if not segments:
        raise RecordingError(f"{path}:1: the recording holds no babeld lines (only a header)")
    return segments


def recording_started(path: Path | str) -> float | None:
    """When a recording started (its header's ``started=``, seconds since the epoch).

    A replay runs on this clock, so its events carry the times of the
    incident, not of the replay. None when the header has no readable time.
    """
    try:
        with Path(path).open(encoding="utf-8", errors="replace") as fh:
            header = fh.readline()
    except OSError:
        return None
    if not header.startswith(MAGIC):
        return None
    for token in header.split():
        key, sep, value = token.partition("=")
        if sep and key == "started":
            try:
                return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").timestamp()
            except ValueError:
                return None
    return None


def recorded_names(path: Path | str) -> dict[str, str]:
    """The node names a recording's header carries ({address: name}; empty when none).

    The header's ``names=NAME@ADDRESS,…`` field (written by :class:`Recorder`
    when its recorder knew names); unreadable files give no names (loading
    the recording reports them).
    """
    try:
        with Path(path).open(encoding="utf-8", errors="replace") as fh:
            header = fh.readline()
    except OSError:
        return {}
    if not header.startswith(MAGIC):
        return {}
    for token in header.split():
        key, sep, value = token.partition("=")
        if sep and key == NAMES_FIELD:
            return parse_names_field(value)
    return {}


class Recorder:
    """Writes raw lines with their time offsets; wire :meth:`raw` to a session's ``on_raw``.

    ``names`` ({node name: address}) go into the header, so a replay names the nodes.
    """

    def __init__(self, out: TextIO, source: str, names: dict[str, str] | None = None) -> None:
        self._out = out
        self._start: float | None = None
        self._connection_started = False
        self.lines = 0
        field = format_names_field(names or {})
        extra = f" {NAMES_FIELD}={field}" if field else ""
        out.write(
            f"{MAGIC} source={source} started={time.strftime('%Y-%m-%dT%H:%M:%S%z')}{extra}\n"
        )

    def raw(self, _node: str, stamp: float, line: str) -> None:
        """Record one line as received at ``stamp`` (wall-clock seconds)."""
        if self._start is None:
            self._start = stamp
        if line.startswith("BABEL ") and self._connection_started:
            self._out.write(f"{stamp - self._start:.6f}\t{RECONNECT}\n")
        self._connection_started = True
        self._out.write(f"{stamp - self._start:.6f}\t{line}\n")
        self.lines += 1

    def flush(self) -> None:
        """Push buffered lines to the file."""
        self._out.flush()


STEP = 0.05
"""Real seconds between clock advances while a replay waits for its next line."""


class ReplayClock:
    """The recording's clock: ``origin`` (when it started) plus the replayed offset.

    It only ever shows recorded time: it moves to each line's recorded offset
    when the line is delivered and, while waiting for the next line, advances
    with the speed towards it (never past it), so whatever judges time between
    lines (silence, grace periods) sees the same clock at any speed.
    """

    def __init__(self, speed: float = 1.0, origin: float | None = None) -> None:
        self.origin = time.time() if origin is None else origin
        self.offset = 0.0
        self.speed = speed
        self.paused = False

    def __call__(self) -> float:
        return self.origin + self.offset


class ReplaySource:
    """Replays a recording through successive channels, one per recorded connection.

    Args:
        segments: from :func:`load_recording`.
        speed: 1.0 is real time; 0 or less replays as fast as possible.
        loop: start again from the beginning after the last segment.
        origin: when the recording started (:func:`recording_started`); now
            when unknown.
    """

    def __init__(
        self,
        segments: list[Segment],
        speed: float = 1.0,
        loop: bool = False,
        origin: float | None = None,
    ) -> None:
        if not segments:
            raise RecordingError("the recording holds no lines")
        self.segments = segments
        self.clock = ReplayClock(speed, origin)
        self.loop = loop
        self._next = 0
        self._resume = asyncio.Event()
        self._resume.set()
        self.finished = asyncio.Event()

    @property
    def duration(self) -> float:
        """Length of the recording in seconds."""
        return self.segments[-1].lines[-1][0]

    def set_speed(self, speed: float) -> None:
        """Change replay speed (takes effect at the next line)."""
        self.clock.speed = speed

    def pause(self) -> None:
        """Hold the replay where it is."""
        self.clock.paused = True
        self._resume.clear()

    def resume(self) -> None:
        """Go on after :meth:`pause`."""
        self.clock.paused = False
        self._resume.set()

    async def open(self) -> ReplayChannel:
        """Open the next recorded connection (the session's opener)."""
        if self._next >= len(self.segments):
            self._next = 0
            self.clock.origin += self.clock.offset
            self.clock.offset = 0.0
        segment = self.segments[self._next]
        self._next += 1
        return ReplayChannel(self, segment, last=self._next == len(self.segments))


class ReplayChannel:
    """One recorded connection, read back at the recorded pace."""

    def __init__(self, source: ReplaySource, segment: Segment, last: bool) -> None:
        self._source = source
        self._lines = segment.lines
        self._pos = 0
        self._closed = False
        self._closed_event = asyncio.Event()
        self._last = last

    async def read(self) -> bytes:
        source = self._source
        clock = source.clock
        lines = self._lines
        if self._closed:
            return b""
        if self._pos >= len(lines):
            if self._last and not source.loop:
                # The recording is over: stay connected and quiet, as an idle babeld would.
                source.finished.set()
                await self._closed_event.wait()
            return b""  # a recorded reconnect: the session resyncs as it did live
        await source._resume.wait()
        offset = lines[self._pos][0]
        while clock.speed > 0 and offset - clock.offset > 1e-6:
            step = min(STEP, (offset - clock.offset) / clock.speed)
            await asyncio.sleep(step)
            await source._resume.wait()
            if clock.speed > 0:
                clock.offset = min(offset, clock.offset + step * clock.speed)
        clock.offset = max(clock.offset, offset)
        buf = io.StringIO()
        # Everything due by now goes out in one chunk, as babeld's writes would.
        while self._pos < len(lines) and lines[self._pos][0] <= clock.offset:
            buf.write(lines[self._pos][1])
            buf.write("\n")
            self._pos += 1
        return buf.getvalue().encode()

    async def write(self, data: bytes) -> None:
        """Requests are ignored: the recording already holds babeld's answers."""

    async def close(self) -> None:
        self._closed = True
        self._closed_event.set()
