"""Benchmark of a large lab (root): build time and ``status --inventory --json``, 6 vs 50+ nodes.

Builds, one after the other, the 6-node lab (2 sites x (edge + 1 server) + 2
relays) — the baseline of the same run — and a large one (default 10 sites x
(edge + 4 servers) + 4 relays = 54 nodes, hello 4 s), and for each prints:

* lab build: namespaces and links, WireGuard (with handshakes), daemons up;
  then the time until every node reaches every other /128;
* ``meshtui status --inventory mesh.toml --json`` end to end over SSH (every
  node at once), median of ``--rounds``, and how many nodes answered;
* teardown.

Prints figures side by side, asserts nothing; the 2-core machine is shared,
so figures are noisy. Run: ``.venv/bin/python tests/benchmarks/bench_scale.py
[--sites 10] [--servers 4] [--relays 4] [--hello 4] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from meshtui.lab import Lab, missing_prerequisites


def _status(lab: Lab, rounds: int) -> tuple[float, int, str]:
    times, ok, err = [], 0, ""
    for _ in range(rounds):
        t0 = time.perf_counter()
        res = subprocess.run(
            [sys.executable, "-m", "meshtui", "status", "--inventory", str(lab.inventory_path),
             "--json"],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        times.append(time.perf_counter() - t0)
        try:
            out = json.loads(res.stdout)
            ok = sum(1 for snap in out.values() if "error" not in snap)
        except ValueError:
            err = res.stderr.strip()[-200:]
    return statistics.median(times), ok, err


def _measure(sites: int, servers: int, relays: int, hello: float, rounds: int) -> dict:
    lab = Lab(sites, relays, servers, hello)
    out: dict = {"nodes": len(lab.nodes)}
    try:
        lab.up(wait=False, timeout=600)
        out.update(lab.timings)
        t0 = time.monotonic()
        lab.wait(lab.converged, 900, "every node to reach every /128", interval=1.0)
        out["reach"] = time.monotonic() - t0
        out["status"], out["answered"], out["status_error"] = _status(lab, rounds)
    finally:
        t0 = time.monotonic()
        lab.down()
        out["down"] = time.monotonic() - t0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--servers", type=int, default=4, help="servers per site")
    parser.add_argument("--relays", type=int, default=4)
    parser.add_argument("--hello", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    problems = missing_prerequisites()
    if problems:
        raise SystemExit("lab unavailable: " + "; ".join(problems))
    small = _measure(2, 1, 2, args.hello, args.rounds)
    large = _measure(args.sites, args.servers, args.relays, args.hello, args.rounds)
    print(f"hello {args.hello:g} s; 2 cores shared with other work: noisy figures")
    print(f"{'':34}{small['nodes']:>10} nodes{large['nodes']:>10} nodes   ratio")
    rows = [
        ("namespaces + links (s)", "links"),
        ("+ WireGuard up, handshakes (s)", "wireguard"),
        ("+ babeld and sshd up (s)", "up"),
        ("then every node reaches all (s)", "reach"),
        ("status --inventory --json (s)", "status"),
        ("teardown (s)", "down"),
    ]
    for label, key in rows:
        a, b = small[key], large[key]
        print(f"  {label:<32}{a:>10.2f}{b:>16.2f}   {b / max(a, 1e-6):6.1f}x")
    print(f"  {'nodes answering status':<32}{small['answered']:>10}{large['answered']:>16}")
    for result in (small, large):
        if result["status_error"]:
            print(f"  status error ({result['nodes']} nodes): {result['status_error']}")


if __name__ == "__main__":
    main()
