"""Soak benchmark: does the dashboard hold a fixed budget while an operator works it for hours?

Run from a clone (no root needed)::

    python tests/benchmarks/bench_soak.py [--minutes 3] [--speed 8] [--interval 0.15]
    python tests/benchmarks/bench_soak.py --pattern 12 --switches 320 --speed 1   # issue 17's row

The dashboard (the one factory, :func:`meshtui.ui.app.make_app`, headless at
160 × 45) reads the shipped demo recording — a real babeld mesh through two
relay outages and heals — looped at ``--speed`` (every loop is a reconnect and
a resync), as two nodes, so that ``n`` changes node. Two phases in one run:

* **replay only** (the baseline, ``--idle`` seconds): nobody touches a key;
* **operator**: a key every ``--interval`` seconds — view switches through
  every view and back to Failover, and in turn a filter typed and cleared, a
  sort, the destination detail opened and closed, a theme change, the next
  node. ``--pattern 12`` presses only those keys, in turn (no extras).

Every ``--sample`` seconds it prints RSS, the Python heap (tracemalloc, one
frame), live widgets (every ``Widget`` object after a full collection —
attached or not — and those in the DOM), live timers, the CPU used in the
interval (% of one core), and the journal's sizes. At the end: the slope of
RSS and heap after the warm-up (``--warmup`` seconds of the operator phase),
per 1,000 view switches and per hour, beside the replay-only slope.

Asserts nothing; timing figures are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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

from meshtui.transport.held import demo_recording  # noqa: E402
from meshtui.transport.sources import replay_source  # noqa: E402
from meshtui.ui.app import MeshApp, make_app  # noqa: E402
from meshtui.ui.testing import NO_KEYMAP  # noqa: E402
from meshtui.ui.themes import BUNDLED_DIR  # noqa: E402

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


def look(app: MeshApp, phase: str, started: float, switches: int, cpu: float) -> Sample:
    """Count what is alive (a full collection, as the app's calm collector does)."""
    gc.unfreeze()
    gc.collect()
    objects = gc.get_objects()
    widgets = sum(1 for o in objects if isinstance(o, Widget))
    timers = sum(1 for o in objects if isinstance(o, Timer))
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
        timers,
        cpu,
        sum(len(j.log) for j in journals),
        sum(len(j.timeline) for j in journals),
        sum(getattr(j, "dropped", 0) for j in journals),
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
        f"CPU {s.cpu / interval * 100:5.1f}%  log {s.log:6d} timeline {s.timeline:4d} "
        f"dropped {s.dropped}",
        flush=True,
    )


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
            samples.append(sample)
            print_sample(sample, args.sample)
            next_sample += args.sample
            cpu_mark = time.process_time()

        while time.monotonic() - started < args.idle:
            await asyncio.sleep(0.1)
            await maybe_sample("replay")
        next_sample = time.monotonic()  # the operator phase starts with a look
        while True:
            await maybe_sample("operator")
            elapsed = time.monotonic() - started
            if args.switches and operator.switches >= args.switches:
                break
            if not args.switches and elapsed >= total:
                break
            await operator.act()
            await asyncio.sleep(args.interval)
        await pilot.pause(0.5)
        next_sample = 0.0
        await maybe_sample("operator")
        if operator.extras:
            print("extras    " + ", ".join(f"{k} {v}" for k, v in sorted(operator.extras.items())))
        app.exit()
    return samples


def report(samples: list[Sample], warmup: float) -> None:
    replay = [s for s in samples if s.phase == "replay"]
    operator = [s for s in samples if s.phase == "operator"]
    if not operator:
        print("no operator samples")
        return
    start = operator[0].seconds + warmup
    steady = [s for s in operator if s.seconds >= start] or operator[-3:]
    first, last = steady[0], steady[-1]
    switches = last.switches - first.switches
    print(
        f"after warm-up ({warmup:g} s): {switches} switches "
        f"in {last.seconds - first.seconds:.0f} s; "
        f"RSS {first.rss:.1f} → {last.rss:.1f} MB ({last.rss - first.rss:+.1f}), "
        f"heap {first.heap:.1f} → {last.heap:.1f} MB ({last.heap - first.heap:+.1f}), "
        f"widgets {first.widgets} → {last.widgets}, timers {first.timers} → {last.timers}"
    )

    def per(xs: list[float], ys: list[float], scale: float, unit: str) -> str:
        value = slope(xs, ys)
        return "n/a" if value is None else f"{value * scale:+.2f} MB {unit}"

    xs_switch = [float(s.switches) for s in steady]
    xs_hours = [s.seconds / 3600 for s in steady]
    print(
        "slope     operator: RSS "
        + per(xs_switch, [s.rss for s in steady], 1000, "per 1,000 switches")
        + ", heap "
        + per(xs_switch, [s.heap for s in steady], 1000, "per 1,000 switches")
        + "; RSS "
        + per(xs_hours, [s.rss for s in steady], 1, "per hour")
    )
    if replay:
        hours = [s.seconds / 3600 for s in replay]
        print(
            "baseline  replay only (same run, no keys): RSS "
            + per(hours, [s.rss for s in replay], 1, "per hour")
            + ", heap "
            + per(hours, [s.heap for s in replay], 1, "per hour")
        )
    print(
        "target    RSS growth ≤ 5 MB over 1,000 view switches after warm-up "
        "(and over an hour of a busy replay)"
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
    args = parser.parse_args(argv)
    if args.idle is None:
        args.idle = 0.0 if args.switches else min(60.0, args.minutes * 60 * 0.2)
    print(
        f"meshtui soak: demo recording looped at ×{args.speed:g}, "
        f"{'keys ' + args.pattern if args.pattern else 'views, filter, sort, detail, theme, node'}"
        f" every {args.interval:g} s, 160x45 headless; tracemalloc "
        f"{'on' if args.tracemalloc else 'off'}",
        flush=True,
    )
    samples = asyncio.run(run(args))
    report(samples, args.warmup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
