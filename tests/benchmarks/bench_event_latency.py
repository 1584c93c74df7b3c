"""Event-to-screen benchmark: babeld's failover line leaves the socket → the new relay is on screen.

Run from a clone (no root needed)::

    python tests/benchmarks/bench_event_latency.py [--routes 5000] [--rate 2000] [--trials 30]

The control socket is :mod:`stormrig`'s (a babeld that greets, dumps
``--routes`` routes and, during the storm, streams ``--rate`` changed lines
per second, cutting the client off like babeld when a write blocks 100 ms),
with one more destination, ``fd42:1::beef/128``. ``meshtui --socket`` runs in
a 160 × 48 pseudo-terminal with its Failover view filtered on that destination
(``/beef``, as an operator watching it would). Each trial sends a failover of
that destination in one write — the new route, installed, through a next hop
never seen before (``fe80::a:N%wg-b``), and the old one withdrawn — and
measures from the moment its first byte leaves the socket to that next hop's
text appearing in the terminal output. Quiet first (the baseline), then under
the storm. Prints p50 / p95 / max per phase; asserts nothing (timings are
noisy on a shared machine; the dashboard repaints at most
``1 / REFRESH_INTERVAL`` times a second, so a refresh period is the floor).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stormrig import StormyBabeld, Terminal, launch  # noqa: E402

PROBE = "fd42:1::beef/128"
PROBE_ID = "02:00:00:00:00:00:be:ef"


def probe_route(n: int, installed: bool, kind: str = "add") -> str:
    """The probe destination's route number ``n`` (its own next hop, alternating interfaces)."""
    interface = "wg-b" if n % 2 else "wg-a"
    return (
        f"{kind} route 5800{n:08x} prefix {PROBE} from ::/0 installed "
        f"{'yes' if installed else 'no'} id {PROBE_ID} metric 300 refmetric 204 "
        f"via {hop(n)} if {interface}"
    )


def hop(n: int) -> str:
    """The next hop of probe route ``n``."""
    return f"fe80::a:{n:x}"


def marker(n: int) -> bytes:
    """What the Failover view shows for probe route ``n``'s next hop."""
    interface = "wg-b" if n % 2 else "wg-a"
    return f"{hop(n)}%{interface}".encode()


class ProbedBabeld(StormyBabeld):
    """The stormy babeld with the probe destination in its dump."""

    def extra_dump(self) -> list[str]:
        return [probe_route(0, True)]


def trial(server: ProbedBabeld, term: Terminal, n: int, timeout: float) -> float | None:
    """Fail the probe over to route ``n``; seconds from the write to its relay on screen."""
    failover = probe_route(n, True) + "\n" + probe_route(n - 1, False, "flush") + "\n"
    since = term.mark()
    sent = server.inject(failover.encode())
    if sent is None:
        return None
    seen = term.arrival(marker(n), since, timeout)
    return None if seen is None else seen - sent


def summary(name: str, values: list[float], timeouts: int) -> str:
    if not values:
        return f"{name:<8} no measurement ({timeouts} timeouts)"
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return (
        f"{name:<8} n={len(ms):<3} p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   "
        f"max {ms[-1]:7.1f} ms   timeouts {timeouts}"
    )


def phase(
    server: ProbedBabeld, term: Terminal, first: int, trials: int
) -> tuple[list[float], int, int]:
    values: list[float] = []
    timeouts = 0
    n = first
    for _ in range(trials):
        took = trial(server, term, n, 10.0)
        if took is None:
            timeouts += 1
        else:
            values.append(took)
        n += 1
        time.sleep(0.3 + random.random() * 0.4)  # not in step with the refresh timer
    return values, timeouts, n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="babeld failover line to the new relay on screen")
    parser.add_argument("--routes", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=2000.0, help="changed lines per second")
    parser.add_argument("--trials", type=int, default=30, help="failovers per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="storm seconds before measuring")
    args = parser.parse_args(argv)
    random.seed(17)

    rig = launch(ProbedBabeld, args.routes, args.rate, prefix="meshtui-event-")
    server, term = rig.server, rig.term
    assert isinstance(server, ProbedBabeld)
    try:
        if term.wait_for(f"Destinations ({args.routes // 2 + 1}".encode(), 0, 60.0) is None:
            print("the dashboard did not show the routes within 60 s", file=sys.stderr)
            return 1
        os.write(term.master, b"/")
        time.sleep(0.3)
        os.write(term.master, b"beef\r")
        if term.arrival(marker(0), 0, 10.0) is None:
            print("the probe destination is not on screen", file=sys.stderr)
            return 1
        time.sleep(1.0)
        quiet, quiet_timeouts, n = phase(server, term, 1, args.trials)
        server.storming.set()
        time.sleep(args.warmup)
        storm, storm_timeouts, n = phase(server, term, n, args.trials)
        server.storming.clear()
    finally:
        status = rig.stop()
        shutil.rmtree(rig.work, ignore_errors=True)
    s = server.stats
    rate = s.storm_lines / s.storm_seconds if s.storm_seconds else 0.0
    print(
        f"meshtui event-to-screen: {args.routes} routes + the probe, storm of {args.rate:.0f} "
        "lines/s, 160x48 pty, Failover view filtered on the probe"
    )
    print("failover line's first byte leaves the socket → the new relay in the terminal output:")
    print("  " + summary("quiet", quiet, quiet_timeouts))
    print("  " + summary("storm", storm, storm_timeouts))
    print(
        f"storm     {s.storm_lines} lines in {s.storm_seconds:.1f} s = {rate:.0f} lines/s sent; "
        f"babeld-style cut-offs {s.cut_offs}; connections {s.connections}"
    )
    print("target    p95 under the storm <= 200 ms")
    print(f"exit      meshtui exited with status {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
