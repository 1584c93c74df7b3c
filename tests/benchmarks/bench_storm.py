"""Storm benchmark: the dashboard's key-to-screen latency under 2,000 events/s over 5,000 routes.

Run from a clone (no root needed)::

    python tests/benchmarks/bench_storm.py [--routes 5000] [--rate 2000] [--presses 40]
        [--rounds 1] [--baseline-tree DIR [--pairs 3]]

What it does, all in one run (the babeld and the pty are ``stormrig.py``'s):

* serves a babeld control socket (unix, in a thread) that greets, answers
  ``monitor`` with a dump of ``--routes`` routes (two per destination, via two
  neighbours), and then — during the storm phase — streams ``--rate`` route
  lines per second, each a real change (the selected route's metric moves;
  every 200th line swaps the selected route: a failover). Like babeld, it
  cuts the client off when a write would block for more than 100 ms;
* runs ``meshtui --socket PATH --stats FILE`` in a pseudo-terminal of
  160 × 48 (the real terminal driver, the real screen output), reading the
  terminal's output continuously;
* presses view keys (1–5, in turn) and measures the time from the key's byte
  reaching the terminal to the new view's title appearing in the terminal's
  output: first with babeld quiet (the baseline), then under the storm
  (``--rounds N``: quiet, storm, quiet, storm… N times, the presses shared
  out, so that a shared machine's changing load weighs on both alike);
* quits and reads the dashboard's counters: lines and events received,
  repaints, rows and cells updated, log lines not drawn.

Prints the figures; asserts nothing (see tests/test_ui*.py for behaviour).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stormrig import FAILOVER_EVERY, Rig, StormyBabeld, Terminal, launch  # noqa: E402

__all__ = ["Terminal"]  # bench_scale's pty (it lives in stormrig)

VIEWS = [
    ("3", b"Routes ("),
    ("1", b"Destinations ("),
    ("2", b"Neighbours ("),
    ("5", b"Events ("),
    ("4", b"babeld interfaces ("),
]


@dataclass
class Phase:
    """Key-to-screen latencies of one phase (seconds)."""

    name: str
    latencies: list[float] = field(default_factory=list)
    timeouts: int = 0
    by_key: dict[str, list[float]] = field(default_factory=dict)
    cpu: float = 0.0  # the dashboard's CPU seconds while measuring
    wall: float = 0.0
    sched: list[float] = field(default_factory=lambda: [0.0] * 6)  # Terminal.sched's deltas

    @property
    def load(self) -> float:
        """The dashboard's CPU use while measuring, in % of one core."""
        return 100 * self.cpu / self.wall if self.wall else float("nan")

    def scheduling(self) -> str:
        """How its threads got the CPU while measuring (per second of the phase)."""
        if not self.wall:
            return "-"
        run, wait, slices, o_run, o_wait, o_slices = (x / self.wall for x in self.sched)
        return (
            f"main thread on a CPU {run * 100:.0f}%, waiting for one {wait * 100:.0f}%, "
            f"{slices:.0f} wake-ups/s; other threads {o_run * 100:.0f}% / {o_wait * 100:.0f}%, "
            f"{o_slices:.0f}/s"
        )

    def per_view(self) -> str:
        """Median per view key (which view costs what)."""
        return "  ".join(
            f"{key}:{statistics.median(v) * 1000:.0f}" for key, v in sorted(self.by_key.items())
        )

    @property
    def median(self) -> float:
        """Median latency in ms (nan without a measurement)."""
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p95(self) -> float:
        """95th percentile latency in ms (nan without a measurement)."""
        if not self.latencies:
            return float("nan")
        ms = sorted(x * 1000 for x in self.latencies)
        return ms[min(len(ms) - 1, int(0.95 * len(ms)))]

    def line(self) -> str:
        if not self.latencies:
            return f"{self.name:<9} no measurement ({self.timeouts} timeouts)"
        top = max(self.latencies) * 1000
        return (
            f"{self.name:<9} n={len(self.latencies):<3} median {self.median:7.1f} ms   "
            f"p95 {self.p95:7.1f} ms   max {top:7.1f} ms   timeouts {self.timeouts}"
        )


def measure(term: Terminal, phase: Phase, presses: int) -> None:
    cpu, wall, sched = term.cpu_seconds(), time.perf_counter(), term.sched()
    for i in range(presses):
        key, marker = VIEWS[i % len(VIEWS)]
        took = term.press(key, marker)
        if took is None:
            phase.timeouts += 1
        else:
            phase.latencies.append(took)
            phase.by_key.setdefault(key, []).append(took)
        time.sleep(0.05)  # a human does not press 20 keys a second; let a repaint land
    phase.cpu += term.cpu_seconds() - cpu
    for i, (now, then) in enumerate(zip(term.sched(), sched, strict=True)):
        phase.sched[i] += now - then
    phase.wall += time.perf_counter() - wall


def run_once(args: argparse.Namespace, tree: Path | None) -> tuple[Phase, Phase, Rig] | None:
    """One dashboard (of ``tree``, default this one) against a fresh stormy babeld: the
    quiet and storm phases, the rig stopped."""
    rig = launch(
        StormyBabeld, args.routes, args.rate, prefix="meshtui-storm-", stats=True, tree=tree
    )
    term, server = rig.term, rig.server
    started = time.perf_counter()
    loaded = term.wait_for(f"Destinations ({args.routes // 2}".encode(), 0, 60.0)
    if loaded is None:
        print("the dashboard did not show the routes within 60 s", file=sys.stderr)
        rig.stop()
        return None
    rig.startup = time.perf_counter() - started
    measure(term, Phase("warm-up"), len(VIEWS))  # every view drawn once, not measured
    baseline = Phase("baseline")
    storm = Phase("storm")
    rounds = max(1, args.rounds)
    for presses in (args.presses // rounds + (i < args.presses % rounds) for i in range(rounds)):
        measure(term, baseline, presses)
        server.storming.set()
        time.sleep(args.warmup)  # let the storm reach its steady state before measuring
        measure(term, storm, presses)
        server.storming.clear()
        time.sleep(0.5)  # the last of the storm drawn
    rig.status = rig.stop()
    return baseline, storm, rig


def compare(args: argparse.Namespace, baseline_tree: Path) -> int:
    """This tree and ``baseline_tree`` in turn, ``--pairs`` times: each run's figures on one
    line, then the medians over the runs of each tree, and their ratio."""
    here = Path(__file__).resolve().parents[2]
    trees = {"this tree": None, "baseline": baseline_tree}
    runs: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in trees}
    print(f"meshtui storm benchmark, this tree ({here}) against {baseline_tree}: "
          f"{args.routes} routes, storm of {args.rate:.0f} lines/s, {args.pairs} pairs of runs "
          f"({args.presses} presses a phase, {args.rounds} rounds), trees in turn")  # fmt: skip
    for pair in range(args.pairs):
        for name, tree in trees.items():
            result = run_once(args, tree)
            if result is None:
                return 1
            quiet, storm, rig = result
            shutil.rmtree(rig.work, ignore_errors=True)
            runs[name].append((quiet.median, quiet.p95, storm.median, storm.p95))
            print(
                f"  run {pair + 1} {name:<9}  quiet {quiet.median:5.1f} / {quiet.p95:5.1f} ms  "
                f"storm {storm.median:5.1f} / {storm.p95:5.1f} ms  storm/quiet median "
                f"{storm.median / quiet.median:.2f}x p95 {storm.p95 / quiet.p95:.2f}x  "
                f"(per key, storm: {storm.per_view()})"
            )
    print("medians over the runs (median / p95 of each run's presses):")
    summary = {}
    for name, figures in runs.items():
        q50, q95, s50, s95 = (statistics.median(f[i] for f in figures) for i in range(4))
        ratios = [f[2] / f[0] for f in figures], [f[3] / f[1] for f in figures]
        summary[name] = (q50, q95, s50, s95)
        print(
            f"  {name:<9}  quiet {q50:5.1f} / {q95:5.1f} ms  storm {s50:5.1f} / {s95:5.1f} ms  "
            f"storm/quiet median {statistics.median(ratios[0]):.2f}x, "
            f"p95 {statistics.median(ratios[1]):.2f}x"
        )
    mine, base = summary["this tree"], summary["baseline"]
    print(
        f"  baseline / this tree: quiet median {base[0] / mine[0]:.2f}x "
        f"p95 {base[1] / mine[1]:.2f}x, storm median {base[2] / mine[2]:.2f}x "
        f"p95 {base[3] / mine[3]:.2f}x   (targets: quiet <= 50 / 100 ms, storm <= 80 / 150 ms, "
        "storm/quiet <= 1.3x)"
    )
    print(f"machine   {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="key-to-screen latency under a babeld storm")
    parser.add_argument("--routes", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=2000.0, help="changed lines per second")
    parser.add_argument("--presses", type=int, default=40, help="key presses per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="storm seconds before measuring")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="alternate quiet and storm this many times, presses split between rounds "
        "(on a shared machine the load then drifts under both phases alike)",
    )
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        help="also run the dashboard of this tree (e.g. `git worktree add /tmp/base <commit>`), "
        "the two in turn, and print the medians of each and their ratio",
    )
    parser.add_argument("--pairs", type=int, default=3, help="runs of each tree (--baseline-tree)")
    args = parser.parse_args(argv)
    if args.baseline_tree is not None:
        return compare(args, args.baseline_tree)

    load = os.getloadavg()
    result = run_once(args, None)
    if result is None:
        return 1
    baseline, storm, rig = result
    server, rounds, startup, status = rig.server, max(1, args.rounds), rig.startup, rig.status
    stats_path = rig.stats_path
    assert stats_path is not None
    ui = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    s = server.stats
    rate = s.storm_lines / s.storm_seconds if s.storm_seconds else 0.0
    print(f"meshtui storm benchmark: {args.routes} routes, storm of {args.rate:.0f} lines/s "
          f"(each a real change; a failover every {FAILOVER_EVERY}), 160x48 pty"
          + (f", {rounds} rounds of quiet then storm" if rounds > 1 else ""))  # fmt: skip
    print(f"startup   dump of {args.routes} routes on screen after {startup:.2f} s")
    print(
        f"machine   {os.cpu_count()} cores, load average {load[0]:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end (figures are noisy under load)"
    )
    print("key-to-screen latency (view key → the view's title in the terminal output):")
    print("  " + baseline.line())
    print("  " + storm.line())
    print(f"  median ms per view key: quiet {baseline.per_view()};  storm {storm.per_view()}")
    print(
        f"  meshtui's CPU while measuring: quiet {baseline.load:.0f}% of a core, "
        f"storm {storm.load:.0f}%"
    )
    print(f"  scheduling quiet: {baseline.scheduling()}")
    print(f"  scheduling storm: {storm.scheduling()}")
    print(
        f"  storm/quiet: median {storm.median / baseline.median:.2f}x, "
        f"p95 {storm.p95 / baseline.p95:.2f}x   (targets: quiet <= 50 / 100 ms, "
        "storm <= 80 / 150 ms, storm/quiet <= 1.3x)"
    )
    print(f"storm     {s.storm_lines} lines in {s.storm_seconds:.1f} s = {rate:.0f} lines/s sent; "
          f"babeld-style cut-offs {s.cut_offs}; longest blocked write "
          f"{s.max_block * 1000:.1f} ms (babeld cuts at 100 ms); connections {s.connections}"
          + (f" (cut during: {', '.join(s.cut_phases)})" if s.cut_phases else ""))  # fmt: skip
    if ui:
        u = ui["ui"]
        events = ui.get("events", 0)
        refreshes = max(1, u["refreshes"])
        print(
            f"ingest    {ui['lines']} lines read ({ui['noop_lines']} unchanged repeats), "
            f"{events} events in {ui['event_batches']} batches; reconnects {ui['disconnects']}"
        )
        print(
            f"repaints  {u['refreshes']} view refreshes for {events} events: "
            f"{events / refreshes:.0f} events merged per refresh; "
            f"{u['skipped_idle']} idle ticks skipped; refresh mean "
            f"{u['refresh_seconds'] / refreshes * 1000:.1f} ms, "
            f"max {u['refresh_max'] * 1000:.1f} ms"
        )
        print(
            f"tables    {u['rows_added']} rows added, {u['cells_updated']} cells updated in place, "
            f"{u['rows_removed']} removed"
        )
        print(
            f"dropped   {s.lines_sent - ui['lines']} lines lost between babeld and the model "
            f"({s.lines_sent} sent, {ui['lines']} read); event-log lines not drawn under load: "
            f"{u['log_lines_not_drawn']} of {u['log_lines_drawn'] + u['log_lines_not_drawn']} "
            "(kept in the journal, saved by `s`)"
        )
        pump, gcs = ui.get("pump") or {}, ui.get("gc") or {}
        if pump:
            print(
                f"reader    socket pump read {pump['bytes'] / 1e6:.1f} MB in {pump['chunks']} "
                f"chunks; largest backlog waiting for the UI loop "
                f"{pump['max_backlog'] / 1e3:.0f} kB"
            )
        if gcs:
            print(
                f"gc        {gcs['calm_collections']} full collections at calm moments "
                f"({gcs['forced']} forced during the storm), longest {gcs['longest'] * 1000:.0f} ms"
            )
    print(f"exit      meshtui exited with status {status}")
    shutil.rmtree(rig.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
