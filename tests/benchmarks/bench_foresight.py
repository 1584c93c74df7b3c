"""Foresight benchmark: the early warning across hello intervals, timestamps and history.

Run as root: ``.venv/bin/python tests/benchmarks/bench_foresight.py [--outages N]
[--hello 0.5,1,4] [--timestamps on,off] [--warm 60]``

For every hello interval x timestamps on/off on the tunnels it builds a lab
(2 sites, 2 relays), watches edge-a with two meshtui sessions and silences the
relay that carries edge-a's traffic to srv-b1, ``--outages`` times (hello 4 s:
half as many, at least 3). Each outage is seen by both sessions, which gives
the two history cells:

* **warm**: a session connected ``--warm`` seconds (60) before the first outage;
* **cold**: a fresh session connected 4 Hellos before each outage.

Per cell it prints: how often meshtui's ``degrading`` warning came before
babeld's switch (the ``failover`` event) and its lead (median, min); the
baseline in the same run, babeld's own first sign (its first line for the
relay with a missed Hello, ``reach`` losing its top bit, while its cost is still
finite: a line that also declares the cost infinite is the switch itself), how
often it came before the switch and its lead; false warnings (``degrading`` for a neighbour
not silenced, or before its outage); detection (last Hello heard to the
switch) against the expected time. Failovers that came without a warning list
the reason meshtui gave (``no_warning``).

The machine's load shows in every figure: compare cells of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from meshtui.core import foresight
from meshtui.core.events import Event, EventType
from meshtui.lab import Lab
from meshtui.transport.session import NodeSession
from meshtui.transport.sources import local_source

EDGE = "edge-a"


class TimestampsLab(Lab):
    """The lab, with ``enable-timestamps false`` on every tunnel when asked."""

    def __init__(self, *args: Any, timestamps: bool = True, **kwargs: Any) -> None:
        self.timestamps = timestamps
        super().__init__(*args, **kwargs)

    def _write_babeld_conf(self, node: str) -> None:
        super()._write_babeld_conf(node)
        if self.timestamps:
            return
        path = self.config_path(node)
        lines = path.read_text().splitlines()
        out = [
            f"{line} enable-timestamps false"
            if line.startswith("interface ") and " type tunnel" in line
            else line
            for line in lines
        ]
        path.write_text("\n".join(out) + "\n")


@dataclass
class Watcher:
    """One meshtui session on edge-a: its events and its neighbour lines."""

    session: NodeSession
    task: asyncio.Task
    events: list[Event] = field(default_factory=list)
    raw: list[tuple[float, str]] = field(default_factory=list)

    @classmethod
    async def start(cls, lab: Lab) -> Watcher:
        events: list[Event] = []
        raw: list[tuple[float, str]] = []
        session = local_source(lab.socket_path(EDGE), name=EDGE).session(
            on_events=lambda _n, evs: events.extend(evs),
            on_raw=lambda _n, t, line: raw.append((t, line)) if " neighbour " in line else None,
        )
        task = asyncio.create_task(session.run())
        watcher = cls(session, task, events, raw)
        if not await session.wait_live(15):
            raise TimeoutError("meshtui session not live")
        return watcher

    async def stop(self) -> None:
        await self.session.stop()
        await self.task


@dataclass
class Row:
    """One outage as one session saw it."""

    warned: bool
    lead: float | None
    sign_first: bool
    sign_lead: float | None
    detected: float | None
    false_warnings: int
    no_warning: str = ""
    false_texts: list[str] = field(default_factory=list)


async def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise TimeoutError(what)


def _top_bit(line: str) -> bool:
    """Whether a neighbour line's ``reach`` has its top bit (the last Hello heard)."""
    return bool(int(line.split(" reach ")[1].split()[0], 16) & 0x8000)


def _both_failed_over(watchers: list[Watcher], marks: dict[int, tuple[int, int]], target: str):
    return all(
        any(
            e.type is EventType.FAILOVER and e.prefix == target for e in w.events[marks[id(w)][0] :]
        )
        for w in watchers
    )


def judge(w: Watcher, mark: int, raw_mark: int, target: str, t_fail: float) -> Row | None:
    fo = next(
        (e for e in w.events[mark:] if e.type is EventType.FAILOVER and e.prefix == target), None
    )
    if fo is None:
        return None
    via = fo.from_.via
    warn = next(
        (e for e in w.events[mark:] if e.type is EventType.DEGRADING and e.neighbour == via),
        None,
    )
    warned = warn is not None and warn.time < fo.time and w.events.index(warn) < w.events.index(fo)
    sign = next(
        (
            t
            for t, line in w.raw[raw_mark:]
            if f"address {via} " in line and not _top_bit(line) and not line.endswith(" 65535")
        ),
        None,
    )
    false = [
        e
        for e in w.events[mark:]
        if e.type is EventType.DEGRADING and (e.neighbour != via or e.time < t_fail)
    ]
    return Row(
        warned=warned,
        lead=fo.time - warn.time if warned and warn is not None else None,
        sign_first=sign is not None and sign < fo.time,
        sign_lead=fo.time - sign if sign is not None and sign < fo.time else None,
        detected=fo.extra.get("detection_time"),
        false_warnings=len(false),
        no_warning=fo.extra.get("no_warning", ""),
        false_texts=[f"{e.neighbour} {e.time - t_fail:+.2f} s: {e.message}" for e in false],
    )


async def run_lab(
    hello: float, timestamps: bool, outages: int, warm_for: float, verbose: bool
) -> dict[str, list[Row]]:
    lab = TimestampsLab(hello=hello, timestamps=timestamps)
    rows: dict[str, list[Row]] = {"cold": [], "warm": []}
    try:
        await asyncio.to_thread(lab.up, True, 240)
        target = f"{lab.address('srv-b1')}/128"
        warm = await Watcher.start(lab)
        await asyncio.sleep(warm_for)
        warm_mark = len(warm.events)  # warnings before the first outage are false ones
        quiet = [e for e in warm.events[:warm_mark] if e.type is EventType.DEGRADING]
        for i in range(outages):
            # a settled path (no better route waiting to be installed), then the outage
            await wait_for(
                lambda: (d := warm.session.model.destination(target)).selected and not d.pending,
                60 + 20 * hello,
                "a settled path to srv-b1",
            )
            cold = await Watcher.start(lab)
            await asyncio.sleep(4 * hello)  # 4 Hellos of history
            sel = warm.session.model.destination(target).selected
            relay = lab.neighbour_name(sel.via) if sel else None
            assert relay in ("relay-1", "relay-2"), relay
            marks = {id(w): (len(w.events), len(w.raw)) for w in (warm, cold)}
            t_fail = time.time()
            await asyncio.to_thread(lab.fail_relay, relay)
            try:
                await wait_for(
                    lambda w=[warm, cold], m=marks: _both_failed_over(w, m, target),
                    30 + 6 * hello,
                    "the failover seen by both sessions",
                )
            except TimeoutError:
                print(f"  outage #{i + 1}: no failover seen within {30 + 6 * hello:g} s: skipped")
                for e in warm.events[marks[id(warm)][0] :]:
                    if e.prefix == target or e.neighbour is not None:
                        print(f"      {e.time - t_fail:+7.2f} s {e.describe()}")
            finally:
                await asyncio.to_thread(lab.heal_relay, relay)
            for name, w in (("warm", warm), ("cold", cold)):
                row = judge(w, *marks[id(w)], target, t_fail)
                if row is None:
                    continue
                if name == "warm" and i == 0:
                    row.false_warnings += len(quiet)
                    row.false_texts += [f"{e.neighbour} before: {e.message}" for e in quiet]
                rows[name].append(row)
                if verbose:
                    print(
                        f"  hello {hello:g} ts {'on' if timestamps else 'off'} {name} "
                        f"#{i + 1}: warned {row.warned} lead {row.lead} babeld's sign "
                        f"{row.sign_lead} false {row.false_warnings} {row.no_warning}",
                        flush=True,
                    )
                    for text in row.false_texts:
                        print(f"      false warning: {text}", flush=True)
            await cold.stop()
            await wait_for(
                lambda healed=relay: any(
                    lab.neighbour_name(r.via) == healed and r.metric < 65535
                    for r in warm.session.model.routes_of(target)
                ),
                60 + 20 * hello,
                "the healed relay as standby",
            )
        await warm.stop()
    finally:
        await asyncio.to_thread(lab.down)
    return rows


def _fig(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f}/{min(values):.2f}"


def report(cells: dict[tuple[float, bool, str], list[Row]]) -> None:
    print()
    print(
        "hello  ts   history  n   warned-first  lead med/min s  babeld-sign-first  "
        "sign lead med/min s  false  detected med s (expected)"
    )
    for (hello, ts, history), rows in cells.items():
        n = len(rows)
        if not n:
            continue
        leads = [r.lead for r in rows if r.lead is not None]
        signs = [r.sign_lead for r in rows if r.sign_lead is not None]
        detected = [r.detected for r in rows if r.detected is not None]
        expected = foresight.detection_time(hello).expected
        print(
            f"{hello:<5g}  {'on ' if ts else 'off'}  {history:<7}  {n:<3} "
            f"{sum(r.warned for r in rows):>3}/{n:<9}  {_fig(leads):<14}  "
            f"{sum(r.sign_first for r in rows):>3}/{n:<13}  {_fig(signs):<19}  "
            f"{sum(r.false_warnings for r in rows):<5}  "
            f"{(statistics.median(detected) if detected else float('nan')):.2f} ({expected:.2f})"
        )
        reasons = sorted({r.no_warning for r in rows if not r.warned and r.no_warning})
        for reason in reasons:
            print(f"      unwarned: {reason}")
        sign_unwarned = sum(r.sign_first and not r.warned for r in rows)
        if sign_unwarned:
            print(f"      {sign_unwarned} outage(s) where babeld's own sign came first, unwarned")
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outages", type=int, default=10, help="outages per lab (hello 4 s: half)")
    ap.add_argument("--hello", default="0.5,1,4", help="hello intervals, comma-separated")
    ap.add_argument("--timestamps", default="on,off", help="on, off or on,off")
    ap.add_argument("--warm", type=float, default=60.0, help="seconds of history, warm cell")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per outage")
    args = ap.parse_args()
    hellos = [float(h) for h in args.hello.split(",")]
    stamps = [s.strip() == "on" for s in args.timestamps.split(",")]
    cells: dict[tuple[float, bool, str], list[Row]] = {}
    started = time.monotonic()
    for hello in hellos:
        for ts in stamps:
            n = args.outages if hello < 4 else max(3, args.outages // 2)
            rows = asyncio.run(run_lab(hello, ts, n, args.warm, args.verbose))
            these = {(hello, ts, history): rows[history] for history in ("cold", "warm")}
            cells.update(these)
            print(
                f"hello {hello:g} timestamps {'on' if ts else 'off'}: {n} outages done "
                f"({time.monotonic() - started:.0f} s so far)",
                flush=True,
            )
            report(these)
    print("\nall cells:")
    report(cells)


if __name__ == "__main__":
    main()
