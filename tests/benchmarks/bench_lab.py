"""Benchmark of the namespace lab: up/down time, convergence and relay failover (root).

Prints figures, asserts nothing. Run: ``.venv/bin/python tests/benchmarks/bench_lab.py
[--hello 0.5 1.0] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from meshtui.lab import Lab, missing_prerequisites

PAIRS = (("edge-a", "srv-b1"), ("edge-b", "srv-a1"))


def _all_via(lab: Lab, relay: str) -> bool:
    return all(lab.next_hop(edge, dest) == relay for edge, dest in PAIRS)


def _timed(lab: Lab, predicate, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    lab.wait(predicate, timeout, what, interval=0.02)
    return time.monotonic() - t0


def bench(hello: float, rounds: int) -> None:
    lab = Lab(hello=hello)
    t0 = time.monotonic()
    try:
        lab.up(wait=False)
        t_up = time.monotonic() - t0
        t_reach = _timed(lab, lab.converged, 120, "full reachability")
        t_primary = _timed(lab, lambda: not lab.off_primary(), 120, "paths via relay-1")
        print(
            f"hello {hello:g} s: up {t_up:.2f} s; every node reaches every /128 "
            f"{t_reach:.2f} s later; all edges on relay-1 after {t_reach + t_primary:.2f} s"
        )
        fail, heal, term = [], [], []
        for _ in range(rounds):
            lab.wait_converged(120)
            lab.fail_relay("relay-1")
            fail.append(_timed(lab, lambda: _all_via(lab, "relay-2"), 60, "failover"))
            lab.heal_relay("relay-1")
            heal.append(_timed(lab, lambda: _all_via(lab, "relay-1"), 120, "failback"))
            lab.wait_converged(120)
            lab.kill_babeld("relay-1")
            term.append(_timed(lab, lambda: _all_via(lab, "relay-2"), 60, "switch on SIGTERM"))
            lab.start_babeld("relay-1")

        def fmt(xs: list[float]) -> str:
            return f"median {statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f})"

        print(f"  silent relay-1 outage -> both edges on relay-2: {fmt(fail)}")
        print(f"  heal -> both edges back on relay-1:            {fmt(heal)}")
        print(f"  relay-1 babeld SIGTERM -> edges on relay-2:    {fmt(term)}")
    finally:
        t1 = time.monotonic()
        lab.down()
        print(f"  down {time.monotonic() - t1:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hello", type=float, nargs="+", default=[0.5, 1.0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    problems = missing_prerequisites()
    if problems:
        raise SystemExit("lab unavailable: " + "; ".join(problems))
    for hello in args.hello:
        bench(hello, args.rounds)


if __name__ == "__main__":
    main()
