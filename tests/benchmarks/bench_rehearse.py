"""Benchmark of rehearsals (root): replica build and a full rehearsal, against the lab itself.

In one run, for one topology of the built-in lab (default: the 6-node lab,
2 sites x (edge + 1 server) + 2 relays, hello 0.5 s):

* baseline: the built-in lab's build (up, then converged), and its relay-1
  failover measured the way ``bench_lab.py`` does (silence relay-1, poll
  until every edge's inter-site path leaves it);
* the replica of that same lab's inventory (``Lab(inventory=...)``): build
  and convergence, as ratios to the baseline;
* a full rehearsal of that inventory (``meshtui.lab.rehearse``: every relay
  in turn, way back included): its total time, its phases, and the median
  failover of the same edge paths next to the baseline's.

Prints figures, asserts nothing; the machine is shared, so figures are noisy.
Run: ``.venv/bin/python tests/benchmarks/bench_rehearse.py [--sites 2] [--relays 2]
[--servers 1] [--hello 0.5] [--back-timeout S]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from meshtui.lab import Lab, missing_prerequisites
from meshtui.lab.rehearse import rehearse


def _edge_paths(lab: Lab) -> list[tuple[str, str]]:
    """(edge, destination) for every inter-site destination of every edge (servers, edges)."""
    out = []
    for edge in lab.topology.role("edge"):
        for dest in lab.topology.nodes:
            if dest.role != "relay" and dest.site != edge.site:
                out.append((edge.name, dest.name))
    return out


def _baseline(args: argparse.Namespace, keep: Path) -> dict[str, float]:
    lab = Lab(args.sites, args.relays, args.servers, args.hello)
    out: dict[str, float] = {"nodes": len(lab.nodes)}
    try:
        lab.up(wait=True, timeout=args.timeout)
        out.update(lab.timings)
        shutil.copy(lab.inventory_path, keep)
        paths = _edge_paths(lab)

        def moved() -> bool:
            return all(lab.next_hop(e, d) not in (None, "relay-1") for e, d in paths)

        lab.fail_relay("relay-1")
        t0 = time.monotonic()
        lab.wait(moved, 120, "failover", interval=0.02)
        out["failover"] = time.monotonic() - t0
        lab.heal_relay("relay-1")
    finally:
        t0 = time.monotonic()
        lab.down()
        out["down"] = time.monotonic() - t0
    return out


def _replica(inventory: Path, timeout: float) -> dict[str, float]:
    lab = Lab(inventory=inventory)
    try:
        lab.up(wait=True, timeout=timeout)
        return dict(lab.timings)
    finally:
        lab.down()


def _rehearsal(inventory: Path, back_timeout: float | None, edges: set[str]) -> dict:
    marks: list[tuple[float, str]] = []
    t0 = time.monotonic()
    result = rehearse(
        inventory,
        back_timeout=back_timeout,
        progress=lambda line: marks.append((time.monotonic() - t0, line)),
    )
    total = time.monotonic() - t0
    first = result.outage("relay-1")
    fails = [
        p.failover_s
        for p in (first.pairs if first else ())
        if p.source in edges and p.failover_s is not None
    ]
    backs = [p.back_s for o in result.outages for p in o.pairs if p.back_s]
    return {"total": total, "marks": marks, "failovers": fails, "backs": backs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=2)
    parser.add_argument("--relays", type=int, default=2)
    parser.add_argument("--servers", type=int, default=1, help="servers per site")
    parser.add_argument("--hello", type=float, default=0.5)
    parser.add_argument("--back-timeout", type=float, default=None, metavar="S")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="S")
    args = parser.parse_args()
    problems = missing_prerequisites()
    if problems:
        raise SystemExit("lab unavailable: " + "; ".join(problems))
    with tempfile.TemporaryDirectory(prefix="bench-rehearse-") as tmp:
        inventory = Path(tmp) / "mesh.toml"
        base = _baseline(args, inventory)
        n = int(base["nodes"])
        print(
            f"{n} nodes ({args.sites} sites x (edge + {args.servers} servers) + "
            f"{args.relays} relays), hello {args.hello:g} s; machine shared: noisy"
        )
        print(
            f"  baseline, built-in lab: up {base['up']:.1f} s (links {base['links']:.1f}, "
            f"wireguard {base['wireguard']:.1f}), "
            f"converged {base['converged']:.1f} s "
            f"later, relay-1 failover (all edge paths) {base['failover']:.2f} s, "
            f"down {base['down']:.1f} s"
        )
        rep = _replica(inventory, args.timeout)
        print(
            f"  replica of its inventory: up {rep['up']:.1f} s ({rep['up'] / base['up']:.2f}x; "
            f"links {rep['links']:.1f}, wireguard {rep['wireguard']:.1f}), "
            f"converged {rep['converged']:.1f} s later "
            f"({rep['converged'] / max(base['converged'], 1e-3):.2f}x)"
        )
        edges = {f"edge-{chr(ord('a') + s)}" for s in range(args.sites)}
        reh = _rehearsal(inventory, args.back_timeout, edges)
        print(
            f"  full rehearsal ({args.relays} relays, build + settle + each outage + way back): "
            f"{reh['total']:.1f} s"
        )
        for at, line in reh["marks"]:
            print(f"    {at:7.1f} s  {line}")
        if reh["failovers"]:
            med = statistics.median(reh["failovers"])
            print(
                f"  rehearsed relay-1 failover, edge paths: median {med:.2f} s "
                f"(max {max(reh['failovers']):.2f}) vs baseline {base['failover']:.2f} s "
                "(the baseline: the last path to move; sampling: one dump of every node)"
            )
        if reh["backs"]:
            print(
                f"  way back after heal: median {statistics.median(reh['backs']):.1f} s "
                f"(max {max(reh['backs']):.1f})"
            )


if __name__ == "__main__":
    main()
