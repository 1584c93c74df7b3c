"""Benchmark of SSH access: time to a full view of 1 node and of every node at once (root).

Builds a lab of 20+ nodes (default: 4 sites x (1 edge + 4 servers) + 2 relays =
22 nodes, each with its own sshd), then measures, with a fresh connection pool
each round:

* one node: SSH connect + auth + channel to babeld's socket + greeting + full dump;
* all nodes at once (one shared pool, concurrent connects): until every node's
  model is complete — the "full view";
* the same plus every node's kernel facts (routes, links, addresses, wg, ...);
* the CLI end to end: ``meshtui status --inventory --json`` for one node and for all.

For the full views it also reports where the CPU went on this machine: the
sshd processes' own CPU (each node's listening sshd with the per-connection
children it reaped: utime + stime + cutime + cstime from ``/proc/<pid>/stat``),
babeld's, and meshtui's (this process: asyncssh, parsing, models), against the
wall time times the number of cores.

Prints figures and the ratio all/one; asserts nothing. Run:
``.venv/bin/python tests/benchmarks/bench_ssh.py [--sites 4] [--servers 4] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

from meshtui.core.inventory import Inventory, load_inventory
from meshtui.lab import Lab, missing_prerequisites
from meshtui.transport.facts import fetch_facts
from meshtui.transport.sources import run_until_live
from meshtui.transport.ssh import SSHPool, SSHSettings, close_sources, inventory_sources

TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def _proc_cpu(pid: int | None) -> float:
    """CPU seconds of ``pid`` and of the children it has reaped (0 when gone)."""
    if pid is None:
        return 0.0
    try:
        stat = open(f"/proc/{pid}/stat").read()  # noqa: PTH123, SIM115
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command name
    return sum(int(x) for x in fields[11:15]) / TICKS  # utime stime cutime cstime


class CpuMeter:
    """CPU spent by the lab's sshds, its babelds and this process over one measurement."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.totals: dict[str, list[float]] = {"sshd": [], "babeld": [], "meshtui": [], "wall": []}

    def _now(self) -> tuple[float, float, float]:
        lab = self.lab
        sshd = sum(_proc_cpu(lab.sshd_pid(n)) for n in lab.nodes)
        babeld = sum(_proc_cpu(lab.babeld_pid(n)) for n in lab.nodes)
        return sshd, babeld, time.process_time()

    def _settled(self) -> None:
        """Wait (up to 2 s) until every sshd has reaped its per-connection children."""
        pids = [p for p in (self.lab.sshd_pid(n) for n in self.lab.nodes) if p is not None]
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            busy = False
            for pid in pids:
                try:
                    tasks = os.listdir(f"/proc/{pid}/task")
                    busy = busy or any(
                        open(f"/proc/{pid}/task/{t}/children").read().strip()  # noqa: PTH123, SIM115
                        for t in tasks
                    )
                except OSError:
                    continue
            if not busy:
                return
            time.sleep(0.02)

    def measure(self, fn, *args):  # noqa: ANN001, ANN201
        self._settled()
        before = self._now()
        elapsed = fn(*args)
        self._settled()  # a connection's sshd counts once its parent has reaped it
        after = self._now()
        for key, a, b in zip(("sshd", "babeld", "meshtui"), before, after, strict=True):
            self.totals[key].append(b - a)
        self.totals["wall"].append(elapsed)
        return elapsed

    def report(self, label: str) -> None:
        t = {k: statistics.median(v) for k, v in self.totals.items()}
        budget = t["wall"] * CORES
        print(
            f"    CPU, {label} (median per view, {CORES} cores = {budget * 1000:.0f} ms of CPU in "
            f"{t['wall'] * 1000:.0f} ms wall): sshd {t['sshd'] * 1000:.0f} ms "
            f"({t['sshd'] / budget:.0%}), babeld {t['babeld'] * 1000:.0f} ms, "
            f"meshtui {t['meshtui'] * 1000:.0f} ms ({t['meshtui'] / budget:.0%})"
        )


async def _view(inv: Inventory, settings: SSHSettings, nodes: list[str], facts: bool) -> float:
    """Seconds until every node in ``nodes`` is synced (and its facts read)."""
    pool = SSHPool(settings)
    sources = inventory_sources(inv, nodes, pool=pool)
    t0 = time.perf_counter()
    try:

        async def one(source) -> None:  # noqa: ANN001
            await run_until_live(source, 60)
            if facts:
                await fetch_facts(source)

        await asyncio.gather(*(one(s) for s in sources))
        return time.perf_counter() - t0
    finally:
        await close_sources(sources)


def _cli(lab: Lab, env: dict[str, str], nodes: list[str] | None) -> float:
    argv = [sys.executable, "-m", "meshtui", "status", "--inventory", str(lab.inventory_path)]
    for node in nodes or []:
        argv += ["--node", node]
    t0 = time.perf_counter()
    res = subprocess.run([*argv, "--json"], capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"status failed: {res.stderr.decode(errors='replace')}")
    return elapsed


def fmt(xs: list[float]) -> str:
    return (
        f"median {statistics.median(xs) * 1000:7.1f} ms "
        f"(min {min(xs) * 1000:.1f}, max {max(xs) * 1000:.1f})"
    )


def bench(sites: int, servers: int, rounds: int, hello: float) -> None:
    lab = Lab(sites=sites, relays=2, servers_per_site=servers, hello=hello)
    t0 = time.monotonic()
    try:
        lab.up(wait=True, timeout=300)
        nodes = lab.nodes
        print(f"lab {lab.id}: {len(nodes)} nodes, each with its own sshd and babeld "
              f"(up and converged in {time.monotonic() - t0:.1f} s); {rounds} rounds")  # fmt: skip
        inv = load_inventory(lab.inventory_path)
        settings = SSHSettings(
            known_hosts=str(lab.known_hosts), client_keys=(str(lab.ssh_key),), config=()
        )
        one_node = [n for n in nodes if n.startswith("edge-")][0]
        results: dict[str, list[float]] = {k: [] for k in ("one", "all", "one+f", "all+f")}
        cpu_one, cpu_all = CpuMeter(lab), CpuMeter(lab)

        def view(names: list[str]) -> float:
            return asyncio.run(_view(inv, settings, names, False))

        for _ in range(rounds):
            results["one"].append(cpu_one.measure(view, [one_node]))
            results["all"].append(cpu_all.measure(view, nodes))
            results["one+f"].append(asyncio.run(_view(inv, settings, [one_node], True)))
            results["all+f"].append(asyncio.run(_view(inv, settings, nodes, True)))
        n = len(nodes)
        one, many = statistics.median(results["one"]), statistics.median(results["all"])
        onef, manyf = statistics.median(results["one+f"]), statistics.median(results["all+f"])
        print(f"  full view, 1 node ({one_node}):        {fmt(results['one'])}")
        print(f"  full view, {n} nodes at once:          {fmt(results['all'])}")
        print(f"    ratio {n} nodes / 1 node: {many / one:.2f} (serial would be ~{n})")
        cpu_one.report("1 node")
        cpu_all.report(f"{n} nodes")
        print(f"  view + kernel facts, 1 node:          {fmt(results['one+f'])}")
        print(f"  view + kernel facts, {n} nodes:         {fmt(results['all+f'])}")
        print(f"    ratio {n} nodes / 1 node: {manyf / onef:.2f}")
        env = dict(os.environ)
        env.update(
            MESHTUI_SSH_KNOWN_HOSTS=str(lab.known_hosts),
            MESHTUI_SSH_KEY=str(lab.ssh_key),
            MESHTUI_SSH_CONFIG="none",
        )
        cli_one = [_cli(lab, env, [one_node]) for _ in range(rounds)]
        cli_all = [_cli(lab, env, None) for _ in range(rounds)]
        print(f"  CLI `meshtui status --inventory --json --node {one_node}`: {fmt(cli_one)}")
        print(f"  CLI `meshtui status --inventory --json` ({n} nodes):   {fmt(cli_all)}")
        print(f"    ratio: {statistics.median(cli_all) / statistics.median(cli_one):.2f}")
    finally:
        lab.down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--servers", type=int, default=4, help="servers per site")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hello", type=float, default=1.0)
    args = parser.parse_args()
    problems = missing_prerequisites()
    if problems:
        print("cannot run: " + "; ".join(problems), file=sys.stderr)
        return 2
    bench(args.sites, args.servers, args.rounds, args.hello)
    return 0


if __name__ == "__main__":
    sys.exit(main())
