"""Foresight benchmark: early warning lead time and detection times over real outages.

Run as root: ``.venv/bin/python tests/benchmarks/bench_foresight.py [--outages 10] [--hello 1.0]``

Builds a lab (2 sites, 2 relays), watches edge-a, and silences the relay that
carries edge-a's traffic to srv-b1 (alternately relay-1 and relay-2, so each
outage is a failover), ``--outages`` times. For every outage it prints:

* lead: from meshtui's ``degrading`` warning to babeld's switch (the
  ``failover`` event); the warning must come first every time. Baseline, in
  the same run: the lead a reader of babeld's own count gets (its first line
  with a missed Hello, ``reach`` losing its top bit);
* detected: from the last Hello heard to the neighbour's cost going infinite,
  against the expected time (2.7 intervals, then babeld's next neighbour
  check: 3.45 intervals on average, 2.7 to 4.575);
* switch: from the start of the outage to the switch.

It also counts false warnings: ``degrading`` for a neighbour that was not
silenced, or before its outage began.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from meshtui.core import foresight
from meshtui.core.events import EventType
from meshtui.lab import Lab
from meshtui.transport.sources import local_source


async def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise TimeoutError(what)


args_verbose = False


async def run(outages: int, hello: float) -> None:
    lab = Lab(hello=hello)
    try:
        await asyncio.to_thread(lab.up, True, 180)
        events = []
        raw: list[tuple[float, str]] = []
        edge = "edge-a"
        session = local_source(lab.socket_path(edge), name=edge).session(
            on_events=lambda _n, evs: events.extend(evs),
            on_raw=lambda _n, t, line: raw.append((t, line)) if " neighbour " in line else None,
        )
        runner = asyncio.create_task(session.run())
        assert await session.wait_live(15)
        target = f"{lab.address('srv-b1')}/128"
        await asyncio.sleep(12)  # learn the hello interval from the stream
        rows = []
        false_warnings: list = []
        quiet = [e for e in events if e.type is EventType.DEGRADING]
        false_warnings.extend(quiet)
        for i in range(outages):
            sel = session.model.destination(target).selected
            relay = lab.neighbour_name(sel.via) if sel else None
            assert relay in ("relay-1", "relay-2"), relay
            mark = len(events)
            neigh = session.model.neighbour_at(sel.via, sel.interface)
            learned = session.model.hello_for(neigh) if neigh else None
            t_fail = time.time()
            raw_mark = len(raw)
            await asyncio.to_thread(lab.fail_relay, relay)
            try:

                def failover(mark: int = mark):
                    for e in events[mark:]:
                        if e.type is EventType.FAILOVER and e.prefix == target:
                            return e
                    return None

                fo = await wait_for(failover, 60, "failover")
            finally:
                await asyncio.to_thread(lab.heal_relay, relay)
            warn = next(
                (
                    e
                    for e in events[mark:]
                    if e.type is EventType.DEGRADING and e.neighbour == fo.from_.via
                ),
                None,
            )
            babeld_sign = next(
                (
                    t
                    for t, line in raw[raw_mark:]
                    if f"address {fo.from_.via} " in line
                    and not int(line.split(" reach ")[1].split()[0], 16) & 0x8000
                ),
                None,
            )
            false = [
                e
                for e in events[mark:]
                if e.type is EventType.DEGRADING
                and (e.neighbour != fo.from_.via or e.time < t_fail)
            ]
            false_warnings.extend(false)
            down = next(
                (
                    e
                    for e in events[mark:]
                    if e.type is EventType.NEIGHBOUR_DOWN and e.neighbour == fo.from_.via
                ),
                None,
            )
            rows.append(
                {
                    "relay": relay,
                    "to": lab.neighbour_name(fo.to.via),
                    "learned": learned,
                    "lead": fo.time - warn.time if warn else None,
                    "baseline": fo.time - babeld_sign if babeld_sign else None,
                    "expected": session.model.detection_for(neigh) if neigh else None,
                    "warned_first": warn is not None and warn.time < fo.time,
                    "detected": (down.time - fo.extra["last_heard"])
                    if down and "last_heard" in fo.extra
                    else None,
                    "switch": fo.time - t_fail,
                    "gap": fo.extra.get("gap"),
                }
            )
            r = rows[-1]
            if args_verbose and not r["warned_first"]:
                for t, line in raw:
                    if t_fail - 2 < t < fo.time + 0.5 and fo.from_.via in line:
                        print(f"    {t - t_fail:+7.3f} {line}")
            print(
                f"outage {i + 1:2d}: {relay} -> {r['to']}  learned hello "
                f"{(r['learned'] or 0):.2f} s  lead {r['lead'] or float('nan'):.2f} s "
                f"(babeld's first sign {r['baseline'] or float('nan'):.2f} s)  "
                f"detected {r['detected'] or float('nan'):.2f} s after last Hello  "
                f"switch {r['switch']:.2f} s after outage start  no route {r['gap'] or 0:.2f} s",
                flush=True,
            )
            # the healed relay must be back as a standby before the next round
            await wait_for(
                lambda healed=relay: any(
                    lab.neighbour_name(r.via) == healed and r.metric < 65535
                    for r in session.model.routes_of(target)
                ),
                90,
                "the healed relay as standby",
            )
        await session.stop()
        await runner
    finally:
        await asyncio.to_thread(lab.down)

    expected = foresight.detection_time(hello)
    leads = [r["lead"] for r in rows if r["lead"] is not None]
    base = [r["baseline"] if r["baseline"] is not None else 0.0 for r in rows]
    detected = [r["detected"] for r in rows if r["detected"] is not None]
    switches = [r["switch"] for r in rows]
    print()
    print(f"hello interval {hello:g} s, {len(rows)} outages")
    print(
        f"warning before the switch: {sum(r['warned_first'] for r in rows)}/{len(rows)}; "
        f"lead time median {statistics.median(leads):.2f} s, min {min(leads):.2f} s"
    )
    print(
        f"baseline, babeld's own first missed Hello before the switch: "
        f"{sum(b > 0 for b in base)}/{len(rows)}; lead median {statistics.median(base):.2f} s, "
        f"min {min(base):.2f} s; meshtui/baseline median lead "
        f"{statistics.median(leads) / max(statistics.median(base), 1e-9):.2f}x"
    )
    print(f"false warnings (a neighbour not silenced, or before the outage): {len(false_warnings)}")
    for e in false_warnings:
        print(f"    {e.time:.3f} {e.neighbour} {e.message}")
    print(
        f"detection (last Hello -> cost infinite): expected {expected.expected:.2f} s "
        f"({expected.cost_infinite:.2f}-{expected.latest:.2f}), "
        f"measured median {statistics.median(detected):.2f} s "
        f"(min {min(detected):.2f}, max {max(detected):.2f}); "
        f"max deviation {max(abs(d - expected.expected) for d in detected):.2f} s"
    )
    within = [
        r
        for r in rows
        if r["detected"] is not None
        and r["expected"] is not None
        and abs(r["detected"] - r["expected"].expected) <= hello
    ]
    print(
        f"detection within one hello interval of the expected time (learned interval): "
        f"{len(within)}/{len(detected)}"
    )
    print(
        f"switch after the outage starts: median {statistics.median(switches):.2f} s "
        f"(min {min(switches):.2f}, max {max(switches):.2f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outages", type=int, default=10)
    ap.add_argument("--hello", type=float, default=1.0)
    ap.add_argument("-v", "--verbose", action="store_true", help="raw lines of unwarned outages")
    args = ap.parse_args()
    global args_verbose
    args_verbose = args.verbose
    asyncio.run(run(args.outages, args.hello))


if __name__ == "__main__":
    main()
