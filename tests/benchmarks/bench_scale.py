"""Benchmark of a large lab (root): 6 vs 50+ nodes, from the lab's build to the dashboard's keys.

Builds, one after the other, the 6-node lab (2 sites x (edge + 1 server) + 2
relays) — the baseline of the same run — and a large one (default 10 sites x
(edge + 4 servers) + 4 relays = 54 nodes, hello 4 s), and for each prints:

* lab build: namespaces and links, WireGuard (with handshakes), daemons up;
  then the time until every node reaches every other /128 (``--no-reach``
  skips that wait: the dashboard figures need live sessions, not convergence);
* ``meshtui status --inventory mesh.toml --json`` end to end over SSH (every
  node at once), median of ``--rounds``, and how many nodes answered;
* the dashboard, ``meshtui --inventory mesh.toml`` in a pseudo-terminal of
  ``--size`` (160x48: the real terminal driver, its real output), read
  continuously:

  - time to its first screen, then (``6`` pressed at once) to a full Mesh
    view over SSH: the summary row's ``N/N nodes live`` in the terminal's
    output, i.e. every node's row live;
  - key latency on the Mesh view, from the key's byte written to the pty to
    what it changes appearing in the output, median / p95 / max of
    ``--presses`` each: the view switch ``1`` → ``6`` (the Mesh title; and
    back, ``6`` → ``1``), a filter keystroke (``/`` opens the bar, then
    ``site:c`` typed: each letter until the title says ``filter 'sit'`` …),
    and the role key ``R`` (until ``role relay: 4 of 54 rows`` …);
  - meshtui's memory (VmRSS now and its peak VmHWM from ``/proc``) and CPU
    (user + system) at the end, and the UI's own counters (``--stats``:
    refreshes, mean and longest refresh);
  - with ``--profile FILE``, the large lab's dashboard once more under
    cProfile (same keys; its figures not reported), and its costliest functions;
* teardown.

Prints figures side by side with the ratio large / small; asserts nothing; the
2-core machine is shared, so figures are noisy (run it twice, compare ratios).
Run: ``.venv/bin/python tests/benchmarks/bench_scale.py [--sites 10]
[--servers 4] [--relays 4] [--hello 4] [--rounds 3] [--presses 20]
[--no-reach] [--small-only] [--profile FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_storm import Terminal  # the dashboard in a pty, its output drained by a thread

from meshtui.lab import Lab, missing_prerequisites

TICKS = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parents[2]
FILTER = "site:c"


def _status(lab: Lab, rounds: int) -> tuple[float, int, str]:
    times, ok, err = [], 0, ""
    for _ in range(rounds):
        t0 = time.perf_counter()
        res = subprocess.run(
            [sys.executable, "-m", "meshtui", "status", "--inventory", str(lab.inventory_path),
             "--json"],
            capture_output=True, text=True, timeout=600, check=False, cwd=REPO,
        )  # fmt: skip
        times.append(time.perf_counter() - t0)
        try:
            out = json.loads(res.stdout)
            ok = sum(1 for snap in out.values() if "error" not in snap)
        except ValueError:
            err = res.stderr.strip()[-200:]
    return statistics.median(times), ok, err


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in kB (empty when gone)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def _cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (0 when gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Latencies:
    """Key-to-screen latencies of one kind of key (seconds)."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.timeouts = 0

    def add(self, took: float | None) -> None:
        if took is None:
            self.timeouts += 1
        else:
            self.values.append(took)

    def figure(self, which: str) -> float:
        """``median``, ``p95`` or ``max`` in ms (nan without a measurement)."""
        if not self.values:
            return float("nan")
        ms = sorted(v * 1000 for v in self.values)
        if which == "median":
            return statistics.median(ms)
        if which == "p95":
            return ms[min(len(ms) - 1, int(0.95 * len(ms)))]
        return ms[-1]


def _pause() -> None:
    time.sleep(0.08)  # a human does not press 12 keys a second; let a repaint land


def _dashboard(lab: Lab, presses: int, size: tuple[int, int], profile: Path | None = None) -> dict:
    """Run the dashboard on the lab's inventory in a pty: full Mesh view, keys, memory.

    With ``profile``, meshtui runs under cProfile, writing its statistics there at exit.
    """
    work = Path(tempfile.mkdtemp(prefix="meshtui-scale-"))
    stats_path = work / "stats.json"
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "HOME": str(work),
        "XDG_CONFIG_HOME": str(work / "config"),
        "PYTHONPATH": str(REPO),
    }
    argv = [sys.executable, "-m", "meshtui", "--inventory", str(lab.inventory_path),
            "--stats", str(stats_path)]  # fmt: skip
    if profile is not None:
        argv[1:1] = ["-m", "cProfile", "-o", str(profile)]
    n = len(lab.nodes)
    out: dict = {"first_screen": float("nan"), "full_mesh": float("nan")}
    started = time.perf_counter()
    term = Terminal(argv, env, size, cwd=REPO)  # `-m` imports from the working directory first
    pid = term.proc.pid
    try:
        first = term.wait_for(b"Failover", 0, 120.0)
        if first is None:
            out["error"] = "no first screen within 120 s"
            return out
        out["first_screen"] = time.perf_counter() - started
        since = term.mark()
        os.write(term.master, b"6")
        full = term.wait_for(f"{n}/{n} nodes live".encode(), since, 600.0)
        if full is None:
            out["error"] = f"the Mesh view never said {n}/{n} nodes live within 600 s"
            return out
        out["full_mesh"] = time.perf_counter() - started
        out["cpu_full"] = _cpu(pid)
        time.sleep(2.0)  # let the first syncs' aftermath settle before timing keys

        switch, back, typing, role = Latencies(), Latencies(), Latencies(), Latencies()
        for _ in range(presses):
            back.add(term.press("1", b"Destinations ("))
            _pause()
            switch.add(term.press("6", b"Mesh: relay"))
            _pause()
        rounds = max(1, presses // len(FILTER))
        for _ in range(rounds):
            # the bar's placeholder (its first letter under the cursor: not that one)
            term.press("/", b"ilter: words")
            _pause()
            for i in range(len(FILTER)):
                typing.add(term.press(FILTER[i], f"filter '{FILTER[: i + 1]}'".encode()))
                _pause()
            os.write(term.master, b"\x1b")  # esc: clear the filter
            time.sleep(0.5)
        for _ in range(max(1, presses // 3)):
            for role_name in ("relay", "edge", "server"):
                role.add(term.press("R", f"role {role_name}:".encode()))
                _pause()
            os.write(term.master, b"R")  # back to every row
            time.sleep(0.3)
        out.update(switch=switch, back=back, typing=typing, role=role)
        out.update(_proc_status(pid))
        out["cpu_end"] = _cpu(pid)
    finally:
        status = term.quit()
        out["exit"] = status
    if stats_path.exists():
        ui = json.loads(stats_path.read_text()).get("ui", {})
        refreshes = max(1, ui.get("refreshes", 0))
        out["refresh_mean"] = ui.get("refresh_seconds", 0.0) / refreshes
        out["refresh_max"] = ui.get("refresh_max", float("nan"))
        out["refreshes"] = ui.get("refreshes", 0)
    return out


def _measure(args: argparse.Namespace, sites: int, servers: int, relays: int) -> dict:
    lab = Lab(sites, relays, servers, args.hello)
    out: dict = {"nodes": len(lab.nodes), "reach": float("nan")}
    try:
        lab.up(wait=False, timeout=600)
        out.update(lab.timings)
        if not args.no_reach:
            t0 = time.monotonic()
            lab.wait(lab.converged, 900, "every node to reach every /128", interval=1.0)
            out["reach"] = time.monotonic() - t0
        out["status"], out["answered"], out["status_error"] = _status(lab, args.rounds)
        out["ui"] = _dashboard(lab, args.presses, args.size)
        if args.profile is not None and len(lab.nodes) > 6:
            # again under cProfile (its figures are not reported: the profiler slows it)
            _dashboard(lab, args.presses, args.size, args.profile)
    finally:
        t0 = time.monotonic()
        lab.down()
        out["down"] = time.monotonic() - t0
    return out


def _row(label: str, a: float, b: float | None, unit: str = "", ratio: bool = True) -> str:
    right = "" if b is None else f"{b:>16.2f}{unit}"
    tail = (
        "" if b is None or not ratio or not a == a or not b == b else f"   {b / max(a, 1e-9):6.1f}x"
    )
    return f"  {label:<48}{a:>10.2f}{unit}{right}{tail}"


def _report(args: argparse.Namespace, small: dict, large: dict | None) -> None:
    results = [small] + ([large] if large else [])
    print(f"hello {args.hello:g} s; pty {args.size[0]}x{args.size[1]}; 2 cores shared with other "
          "work: noisy figures, compare the ratios")  # fmt: skip
    head = "".join(f"{r['nodes']:>10} nodes" for r in results)
    print(f"{'':50}{head}" + ("   ratio" if large else ""))

    def row(label: str, get, unit: str = "") -> None:  # noqa: ANN001
        a = get(small)
        b = get(large) if large else None
        print(_row(label, a, b, unit))

    print("lab")
    for label, key in (
        ("namespaces + links (s)", "links"),
        ("+ WireGuard up, handshakes (s)", "wireguard"),
        ("+ babeld and sshd up (s)", "up"),
        ("then every node reaches all (s)", "reach"),
        ("status --inventory --json (s)", "status"),
        ("teardown (s)", "down"),
    ):
        row(label, lambda r, key=key: r.get(key, float("nan")))
    answered = "".join(f"{r['answered']:>16}" for r in results)
    print(f"  {'nodes answering status':<42}{answered}")
    print("dashboard (meshtui --inventory, over SSH, in a pty)")
    row("first screen (s)", lambda r: r["ui"]["first_screen"])
    row("full Mesh view: N/N nodes live (s)", lambda r: r["ui"]["full_mesh"])
    row("  meshtui CPU until then (s)", lambda r: r["ui"].get("cpu_full", float("nan")))
    for label, key in (
        ("key 6 (from 1): Mesh view shown", "switch"),
        ("key 1 (from 6): Failover shown", "back"),
        (f"filter keystroke ({FILTER} typed)", "typing"),
        ("key R: rows of the next role", "role"),
    ):
        lat = [r["ui"].get(key) for r in results]
        if not all(lat):
            continue
        for which in ("median", "p95", "max"):
            row(
                f"{label}, {which} (ms)", lambda r, key=key, which=which: r["ui"][key].figure(which)
            )
        timeouts = "".join(f"{r['ui'][key].timeouts:>16}" for r in results)
        print(f"    {'timeouts (10 s)':<40}{timeouts}")
    row(
        "refresh of the view, mean (ms)", lambda r: r["ui"].get("refresh_mean", float("nan")) * 1000
    )
    row(
        "refresh of the view, longest (ms)",
        lambda r: r["ui"].get("refresh_max", float("nan")) * 1000,
    )
    row("meshtui RSS at the end (MB)", lambda r: r["ui"].get("VmRSS", float("nan")) / 1024)
    row("meshtui peak RSS, VmHWM (MB)", lambda r: r["ui"].get("VmHWM", float("nan")) / 1024)
    row("meshtui CPU, whole run (s)", lambda r: r["ui"].get("cpu_end", float("nan")))
    for result in results:
        if result["status_error"]:
            print(f"  status error ({result['nodes']} nodes): {result['status_error']}")
        if result["ui"].get("error"):
            print(f"  dashboard ({result['nodes']} nodes): {result['ui']['error']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--servers", type=int, default=4, help="servers per site")
    parser.add_argument("--relays", type=int, default=4)
    parser.add_argument("--hello", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3, help="status runs (median)")
    parser.add_argument("--presses", type=int, default=20, help="presses per kind of key")
    parser.add_argument("--no-reach", action="store_true",
                        help="do not wait for every node to reach every /128")  # fmt: skip
    parser.add_argument("--small-only", action="store_true", help="the 6-node lab only")
    parser.add_argument("--size", default="160x48", help="the pty's COLSxROWS")
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="then run the large lab's dashboard again under cProfile, "
                        "statistics to FILE (its 25 costliest functions printed)")  # fmt: skip
    args = parser.parse_args()
    cols, rows = args.size.split("x")
    args.size = (int(cols), int(rows))
    problems = missing_prerequisites()
    if problems:
        raise SystemExit("lab unavailable: " + "; ".join(problems))
    small = _measure(args, 2, 1, 2)
    large = None if args.small_only else _measure(args, args.sites, args.servers, args.relays)
    _report(args, small, large)
    if args.profile is not None and args.profile.exists():
        import pstats

        print(f"meshtui under cProfile, {large['nodes'] if large else 6} nodes: {args.profile}")
        pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
