"""Sanitiser benchmark: what making outside text inert costs per line, against baselines.

Run: ``.venv/bin/python tests/benchmarks/bench_sanitize.py [--repeat 20]``

Over the lines of the shipped demo recording (a real babeld's ``monitor`` stream)
and over the same lines made hostile (an ESC sequence and a bidi override in each),
it prints ns per line for:

* ``baseline str()`` — the least any printer does with a line (a call that returns it);
* ``baseline isprintable`` — the check alone, the fast path's cost;
* ``baseline print`` — ``print(line)`` into a memory buffer (what a CLI printer costs anyway);
* ``inert`` — one line (what every CLI printer and table cell does);
* ``inert newlines`` — the multi-line form (status tables, diffs);

and each ``inert`` figure against ``baseline print`` from the same run.
Figures are noisy on a shared machine; compare the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from pathlib import Path

from meshtui.core.sanitize import inert

DEMO = Path(__file__).resolve().parents[2] / "demo" / "relay-outage.rec"


def _per_line(fn: Callable[[str], object], lines: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for line in lines:
            fn(line)
        best = min(best, time.perf_counter() - start)
    return best / len(lines) * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="runs per figure (best kept)")
    args = parser.parse_args()
    clean = [line.partition("\t")[2] for line in DEMO.read_text().splitlines()[1:]]
    hostile = [f"{line}\x1b]0;PWNED\x07\u202e" for line in clean]
    print(f"{len(clean)} babeld lines from {DEMO.name}, best of {args.repeat} runs")
    for name, lines in (("clean", clean), ("hostile", hostile)):
        base = _per_line(str, lines, args.repeat)
        check = _per_line(str.isprintable, lines, args.repeat)
        sink = io.StringIO()
        printed = _per_line(lambda t, sink=sink: print(t, file=sink), lines, args.repeat)
        one = _per_line(inert, lines, args.repeat)
        block = _per_line(lambda t: inert(t, newlines=True), lines, args.repeat)
        print(f"{name:8} baseline str()      {base:8.0f} ns/line")
        print(f"{name:8} baseline isprintable {check:7.0f} ns/line")
        print(f"{name:8} baseline print       {printed:7.0f} ns/line")
        for label, value in (("inert", one), ("inert newlines", block)):
            print(f"{name:8} {label:20} {value:7.0f} ns/line  ({value / printed:.2f}x print)")


if __name__ == "__main__":
    main()
