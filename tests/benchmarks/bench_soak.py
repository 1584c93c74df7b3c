"""Soak benchmark: does the dashboard hold a fixed budget while an operator works it for hours?

Run from a clone (no root needed)::

    python tests/benchmarks/bench_soak.py [--minutes 3] [--speed 8] [--interval 0.15]
    python tests/benchmarks/bench_soak.py --pattern 12 --switches 320 --speed 1   # issue 17's row
    python tests/benchmarks/bench_soak.py --minutes 55 --warmup 300 --sample 60 --no-tracemalloc
    python tests/benchmarks/bench_soak.py --replay-only --minutes 60 --warmup 300 --sample 60 \
        --no-tracemalloc                                                       # an hour, no keys

The dashboard (the one factory, :func:`meshtui.ui.app.make_app`, headless at
160 × 45) reads the shipped demo recording — a real babeld mesh through two
relay outages and heals — looped at ``--speed`` (every loop is a reconnect and
a resync), as two nodes, so that ``n`` changes node. Two phases in one run:

* **replay only** (the baseline, ``--idle`` seconds): nobody touches a key;
* **operator**: a key every ``--interval`` seconds — view switches through
  every view and back to Failover, and in turn a filter typed and cleared, a
  sort, the destination detail opened and closed, a theme change, the next
  node. ``--pattern 12`` presses only those keys, in turn (no extras).

``--replay-only`` is the replay phase alone, for ``--minutes`` (nobody
touches a key: "an hour of a busy replay"). ``--fill`` first fills both
nodes' journals to their caps (the demo's own events and lines, repeated: what
a day of a busy mesh leaves), so that the journal's budget is reached at once
and what the run measures is the steady state, not the journal filling.

Every ``--sample`` seconds it prints RSS, the Python heap (tracemalloc, one
frame; ``--no-tracemalloc``: 0), the objects the collector tracks, live
widgets (every ``Widget`` object after a full collection — attached or not —
and those in the DOM), live timers, the CPU used in the interval (% of one
core), the journals' sizes and the bytes they hold (``sys.getsizeof`` of the
entries and their strings). When the live timers change, it names them (what
each one calls, on what, whether it still runs). A partial run's output is
enough for a slope: every sample is printed as it is taken. At the end: the
slope of RSS and heap after the warm-up (``--warmup`` seconds of the measured
phase), per 1,000 view switches and per hour, the journals' own slope (their
budget is :data:`meshtui.ui.journal.BUDGET_BYTES` per node), beside the
replay-only slope.

Asserts nothing; timing figures are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from textual import events  # noqa: E402
from textual.timer import Timer  # noqa: E402
from textual.widget import Widget  # noqa: E402

from meshtui.core.events import Event  # noqa: E402
from meshtui.core.model import NodeModel  # noqa: E402
from meshtui.transport.held import demo_recording  # noqa: E402
from meshtui.transport.replay import load_recording  # noqa: E402
from meshtui.transport.sources import replay_source  # noqa: E402
from meshtui.ui.app import MeshApp, make_app  # noqa: E402
from meshtui.ui.journal import BUDGET_BYTES, TIMELINE_EVENTS, NodeJournal  # noqa: E402
from meshtui.ui.testing import NO_KEYMAP  # noqa: E402
from meshtui.ui.themes import BUNDLED_DIR  # noqa: E402

KEYS_DONE = "views, filter, sort, detail, theme, node"
"""What the operator does without ``--pattern``."""

VIEW_KEYS = "2131415161712"
"""Every view, back and forth to the home view (Failover, ``1``)."""


def rss_mb() -> float:
    """This process's resident set size."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Sample:
    """One look at the process."""

    phase: str
    seconds: float
    switches: int
    rss: float
    heap: float
    widgets: int
    dom: int
    timers: int
    cpu: float
    log: int
    timeline: int
    dropped: int
    objects: int
    journal_mb: float
    timer_kinds: dict[str, int]


def timer_kind(timer: Timer) -> str:
    """A timer's name (its serial number left out), what it calls and on what, and whether it runs.

    ``set_timer#…`` (Textual's default name) says nothing; the callback's
    qualified name and the target's class do.
    """
    name = re.sub(r"#\d+$", "", timer.name)
    callback = getattr(timer._callback, "__qualname__", None) or type(timer._callback).__name__
    target = timer._target()
    running = "running" if timer._task is not None and not timer._task.done() else "stopped"
    return f"{name} {callback} on {type(target).__name__ if target else 'gone'} ({running})"


def timer_kinds(timers: list[Timer]) -> dict[str, int]:
    """How many live timers of each kind."""
    kinds: dict[str, int] = {}
    for timer in timers:
        kind = timer_kind(timer)
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def look(app: MeshApp, phase: str, started: float, switches: int, cpu: float) -> Sample:
    """Count what is alive (a full collection, as the app's calm collector does)."""
    gc.unfreeze()
    gc.collect()
    objects = gc.get_objects()
    tracked = len(objects)
    widgets = sum(1 for o in objects if isinstance(o, Widget))
    timers = [o for o in objects if isinstance(o, Timer)]
    kinds = timer_kinds(timers)
    del objects
    gc.freeze()
    dom = sum(len(list(screen.query("*"))) + 1 for screen in app.screen_stack)
    journals = [feed.journal for feed in app.feeds]
    heap = tracemalloc.get_traced_memory()[0] / 2**20 if tracemalloc.is_tracing() else 0.0
    return Sample(
        phase,
        time.monotonic() - started,
        switches,
        rss_mb(),
        heap,
        widgets,
        dom,
        len(timers),
        cpu,
        sum(len(j.log) for j in journals),
        sum(len(j.timeline) for j in journals),
        sum(getattr(j, "dropped", 0) for j in journals),
        tracked,
        sum(journal_bytes(j) for j in journals) / 2**20,
        kinds,
    )


def journal_bytes(journal: NodeJournal) -> int:
    """What a journal holds: its entries, their strings and numbers (shared ones counted once)."""
    size = sys.getsizeof
    seen: set[int] = set()

    def once(obj: object) -> int:
        if obj is None or id(obj) in seen:
            return 0
        seen.add(id(obj))
        return size(obj)

    total = size(journal.log) + size(journal.raw) + size(journal.timeline) + size(journal.history)
    for entry in journal.log:
        total += once(entry) + once(entry.text) + once(entry.time) + once(entry.seq)
        total += once(entry.prefix) + once(entry.src)
    for seq, stamp, line in journal.raw:
        total += size((seq, stamp, line)) + once(seq) + once(stamp) + once(line)
    for item in journal.timeline:
        total += once(item) + once(item.time) + once(item.from_) + once(item.to)
        total += once(item.lead) + once(item.detection) + once(item.gap) + once(item.outage)
    for bucket in journal.history.values():
        total += size(bucket) + sum(once(e) + once(e.text) for e in bucket)
    return total


def fill_journals(app: MeshApp) -> None:
    """Fill every node's journal past its caps with the demo's events and lines, repeated."""
    lines = [item for segment in load_recording(demo_recording()) for item in segment.lines]
    model = NodeModel()
    events: list[Event] = []
    for offset, line in lines:
        model.feed(line, offset)
        events.extend(model.commit(offset))
    for feed in app.feeds:
        journal = feed.journal
        start = time.time() - 86400.0  # a day ago
        span = lines[-1][0] + 1
        timeline_events = sum(1 for e in events if e.prefix and e.type in TIMELINE_EVENTS)
        loops = max(
            (journal.log.maxlen or 0) // max(1, len(events)) + 1,
            (journal.timeline.maxlen or 0) // max(1, timeline_events) + 1,
        )
        for k in range(loops):
            journal.ingest([replace(e, time=start + k * span + e.time) for e in events], model)
        for k in range((journal.raw.maxlen or 0) // len(lines) + 1):
            for offset, line in lines:  # a copy each: the socket's strings, not the file's
                journal.note_raw(start + k * span + offset, line[:1] + line[1:])
        print(
            f"filled    {feed.name}: log {len(journal.log)} (dropped {journal.dropped}), "
            f"raw {len(journal.raw)}, timeline {len(journal.timeline)}, "
            f"history {journal.history_kept}: {journal_bytes(journal) / 2**20:.1f} MB "
            f"(budget {BUDGET_BYTES / 2**20:.1f} MB)",
            flush=True,
        )


def slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of ys over xs (None with fewer than 3 points or no spread)."""
    if len(xs) < 3 or max(xs) == min(xs):
        return None
    return statistics.linear_regression(xs, ys).slope


class Operator:
    """Presses keys at a human pace, whether or not the dashboard kept up; counts view switches.

    Keys are posted as the terminal driver would post them (no waiting for the
    app to be idle: a replay keeps it busy, and an operator does not wait either).
    """

    def __init__(self, app: MeshApp, pattern: str | None) -> None:
        self.app = app
        self.pattern = pattern
        self.step = 0
        self.switches = 0
        self.view = "1"
        self.extras: dict[str, int] = {}

    async def press(self, *keys: str) -> None:
        for key in keys:
            if key in "1234567":
                if key != self.view:
                    self.switches += 1
                self.view = key
            char = {"slash": "/", "escape": None, "enter": "\r"}.get(key, key)
            self.app.post_message(events.Key(key, char))
            await asyncio.sleep(0.02)

    async def act(self) -> None:
        """One step: a view switch, or every tenth step something else."""
        step = self.step
        self.step += 1
        if self.pattern:
            await self.press(self.pattern[step % len(self.pattern)])
            return
        if step % 10 == 9:
            extra = ("filter", "sort", "detail", "theme", "node")[(step // 10) % 5]
            self.extras[extra] = self.extras.get(extra, 0) + 1
            if extra == "filter":
                await self.press("1", "slash", *"relay", "enter")
                await asyncio.sleep(0.2)
                await self.press("escape")
            elif extra == "sort":
                await self.press("3", "o", "o", "O")
            elif extra == "detail":
                await self.press("3", "enter")
                await asyncio.sleep(0.2)
                await self.press("escape")
            elif extra == "theme":
                await self.press("t")
            else:
                await self.press("n")
            return
        await self.press(VIEW_KEYS[step % len(VIEW_KEYS)])


def print_sample(s: Sample, interval: float) -> None:
    print(
        f"{s.phase:<9} {s.seconds:6.0f} s  switches {s.switches:5d}  RSS {s.rss:7.1f} MB  "
        f"heap {s.heap:6.1f} MB  widgets {s.widgets:4d} (DOM {s.dom:3d})  timers {s.timers:3d}  "
        f"CPU {s.cpu / interval * 100:5.1f}%  objects {s.objects:7d}  log {s.log:6d} "
        f"timeline {s.timeline:4d} dropped {s.dropped}  journals {s.journal_mb:5.2f} MB",
        flush=True,
    )


def print_timer_changes(before: dict[str, int], after: dict[str, int]) -> None:
    """The kinds of timer that appeared or went since the last sample (all of them at first)."""
    for kind in sorted(before.keys() | after.keys()):
        old, new = before.get(kind, 0), after.get(kind, 0)
        if old != new:
            print(f"  timers  {new - old:+d} = {new}  {kind}", flush=True)


async def run(args: argparse.Namespace) -> list[Sample]:
    recording = demo_recording()
    base = replay_source(recording, speed=args.speed, loop=True)
    sources = [replace(base, name="edge-a")]
    if not args.pattern:
        sources.append(replace(replay_source(recording, args.speed, loop=True), name="edge-a2"))
    app = make_app(sources, theme_dirs=[BUNDLED_DIR], keymap_file=NO_KEYMAP)
    samples: list[Sample] = []
    if args.tracemalloc:
        tracemalloc.start(1)
    async with app.run_test(size=(160, 45)) as pilot:
        if args.fill:
            fill_journals(app)
        operator = Operator(app, args.pattern)
        started = time.monotonic()
        cpu_mark = time.process_time()
        next_sample = started + args.sample
        total = args.minutes * 60

        async def maybe_sample(phase: str) -> None:
            nonlocal cpu_mark, next_sample
            if time.monotonic() < next_sample:
                return
            cpu = time.process_time() - cpu_mark
            sample = look(app, phase, started, operator.switches, cpu)
            previous = samples[-1].timer_kinds if samples else {}
            samples.append(sample)
            print_sample(sample, args.sample)
            print_timer_changes(previous, sample.timer_kinds)
            next_sample += args.sample
            cpu_mark = time.process_time()

        while time.monotonic() - started < args.idle:
            await asyncio.sleep(0.1)
            await maybe_sample("replay")
        if args.replay_only:
            next_sample = 0.0
            await maybe_sample("replay")
        next_sample = time.monotonic()  # the operator phase starts with a look
        while not args.replay_only:
            await maybe_sample("operator")
            elapsed = time.monotonic() - started
            if args.switches and operator.switches >= args.switches:
                break
            if not args.switches and elapsed >= total:
                break
            await operator.act()
            await asyncio.sleep(args.interval)
        if not args.replay_only:
            await pilot.pause(0.5)
            next_sample = 0.0
            await maybe_sample("operator")
        if operator.extras:
            print("extras    " + ", ".join(f"{k} {v}" for k, v in sorted(operator.extras.items())))
        app.exit()
    return samples


def per(xs: list[float], ys: list[float], scale: float, unit: str, what: str = "MB") -> str:
    """A slope as text (n/a with too few samples)."""
    value = slope(xs, ys)
    return "n/a" if value is None else f"{value * scale:+.2f} {what} {unit}"


def report_phase(name: str, samples: list[Sample], warmup: float) -> None:
    """What grew in one phase after its warm-up: totals, then slopes per hour (and per switch)."""
    start = samples[0].seconds + warmup
    steady = [s for s in samples if s.seconds >= start] or samples[-3:]
    first, last = steady[0], steady[-1]
    switches = last.switches - first.switches
    print(
        f"{name:<9} after warm-up ({warmup:g} s): {switches} switches "
        f"in {last.seconds - first.seconds:.0f} s, {len(steady)} samples; "
        f"RSS {first.rss:.1f} → {last.rss:.1f} MB ({last.rss - first.rss:+.1f}), "
        f"heap {first.heap:.1f} → {last.heap:.1f} MB ({last.heap - first.heap:+.1f}), "
        f"journals {first.journal_mb:.2f} → {last.journal_mb:.2f} MB, "
        f"objects {first.objects} → {last.objects}, "
        f"widgets {first.widgets} → {last.widgets}, timers {first.timers} → {last.timers}"
    )
    hours = [s.seconds / 3600 for s in steady]
    rss = [s.rss for s in steady]
    print(
        f"slope     {name}: RSS "
        + per(hours, rss, 1, "per hour")
        + ", heap "
        + per(hours, [s.heap for s in steady], 1, "per hour")
        + ", journals "
        + per(hours, [s.journal_mb for s in steady], 1, "per hour")
        + ", RSS less the journals "
        + per(hours, [s.rss - s.journal_mb for s in steady], 1, "per hour")
        + ", timers "
        + per(hours, [float(s.timers) for s in steady], 1, "per hour", "")
        + ", objects "
        + per(hours, [float(s.objects) for s in steady], 1, "per hour", "")
    )
    if switches:
        xs = [float(s.switches) for s in steady]
        print(
            f"slope     {name}: RSS "
            + per(xs, rss, 1000, "per 1,000 switches")
            + ", heap "
            + per(xs, [s.heap for s in steady], 1000, "per 1,000 switches")
        )


def report(samples: list[Sample], warmup: float, replay_only: bool) -> None:
    """Slopes after the warm-up; the replay-only phase of an operator run is its baseline."""
    replay = [s for s in samples if s.phase == "replay"]
    operator = [s for s in samples if s.phase == "operator"]
    if replay_only:
        if replay:
            report_phase("replay", replay, warmup)
    elif operator:
        report_phase("operator", operator, warmup)
        if replay:
            report_phase("baseline", replay, 0.0)
    else:
        print("no operator samples")
    print(
        "target    RSS growth ≤ 5 MB over 1,000 view switches after warm-up "
        f"and ≤ 5 MB per hour of a busy replay; journals ≤ {BUDGET_BYTES / 2**20:.1f} MB per node"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="memory and CPU of a long dashboard session")
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the run")
    parser.add_argument("--switches", type=int, default=0, help="stop after N view switches")
    parser.add_argument("--speed", type=float, default=8.0, help="replay speed (looped)")
    parser.add_argument("--interval", type=float, default=0.15, help="seconds between keys")
    parser.add_argument("--pattern", default="", help="only these keys, in turn (e.g. 12)")
    parser.add_argument("--idle", type=float, default=None, help="replay-only seconds first")
    parser.add_argument("--warmup", type=float, default=30.0, help="operator seconds not fitted")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--no-tracemalloc", dest="tracemalloc", action="store_false")
    parser.add_argument("--replay-only", action="store_true", help="no keys at all, --minutes")
    parser.add_argument("--fill", action="store_true", help="journals at their caps from the start")
    args = parser.parse_args(argv)
    if args.replay_only:
        args.idle = args.minutes * 60
    if args.idle is None:
        args.idle = 0.0 if args.switches else min(60.0, args.minutes * 60 * 0.2)
    print(
        f"meshtui soak: demo recording looped at ×{args.speed:g}, "
        + (
            "no keys (replay only)"
            if args.replay_only
            else f"{'keys ' + args.pattern if args.pattern else KEYS_DONE} every {args.interval:g}s"
        )
        + f", 160x45 headless; tracemalloc {'on' if args.tracemalloc else 'off'}"
        + ("; journals filled to their caps first" if args.fill else ""),
        flush=True,
    )
    samples = asyncio.run(run(args))
    report(samples, args.warmup, args.replay_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
