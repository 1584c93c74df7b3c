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
babeld's, meshtui's (its process: asyncssh, parsing, models), and the rest of
the box (``/proc/stat``'s busy time minus those: other people's processes and
the kernel's work for nobody in particular), against the wall time times the
number of cores. From that it prints the floor: the shortest wall time those
CPU seconds allow on this many cores, ``max(meshtui, (sshd + babeld + meshtui)
/ cores)``, as a multiple of the 1-node view — a ratio all/one below it cannot
be had on this box, however meshtui schedules its work.

meshtui runs in a subprocess per tree: this one, and with ``--baseline-tree DIR``
also the code in ``DIR`` (e.g. ``git worktree add /tmp/base <commit>``), rounds
interleaved against the same lab (the box's noise hits both alike).

Prints figures and the ratio all/one; asserts nothing. Run:
``.venv/bin/python tests/benchmarks/bench_ssh.py [--sites 4] [--servers 4] [--rounds 5]
[--baseline-tree DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
VIEWS = ("one", "all", "one+f", "all+f")
CPU_KEYS = ("sshd", "babeld", "meshtui", "box")


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


def _box_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores: all but idle and iowait)."""
    with open("/proc/stat") as f:  # noqa: PTH123
        values = [int(x) for x in f.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICKS


class CpuMeter:
    """CPU spent by the lab's sshds, its babelds, this process and the box over one measurement."""

    def __init__(self, sshd_pids: list[int], babeld_pids: list[int]) -> None:
        self.sshd_pids = sshd_pids
        self.babeld_pids = babeld_pids
        self.totals: dict[str, list[float]] = {k: [] for k in (*CPU_KEYS, "wall")}

    def _now(self) -> tuple[float, float, float, float]:
        sshd = sum(_proc_cpu(p) for p in self.sshd_pids)
        babeld = sum(_proc_cpu(p) for p in self.babeld_pids)
        return sshd, babeld, time.process_time(), _box_busy()

    def _settled(self) -> None:
        """Wait (up to 2 s) until every sshd has reaped its per-connection children."""
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            busy = False
            for pid in self.sshd_pids:
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
        for key, a, b in zip(CPU_KEYS, before, after, strict=True):
            self.totals[key].append(b - a)
        self.totals["wall"].append(elapsed)
        return elapsed


# ------------------------------------------------------------------ meshtui's side (subprocess)


async def _view(inv: Any, spec: dict[str, Any], nodes: list[str], facts: bool) -> float:
    """Seconds until every node in ``nodes`` is synced (and its facts read), fresh pool."""
    from meshtui.transport.facts import fetch_facts
    from meshtui.transport.sources import run_until_live
    from meshtui.transport.ssh import SSHPool, SSHSettings, close_sources, inventory_sources

    settings = SSHSettings(known_hosts=spec["known_hosts"], client_keys=(spec["key"],), config=())
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


def views(spec: dict[str, Any]) -> dict[str, Any]:
    """The views of ``spec`` (rounds of each), with the CPU of the plain ones."""
    from meshtui.core.inventory import load_inventory

    nodes, one_node = spec["nodes"], [spec["one_node"]]
    inv = load_inventory(spec["inventory"])

    def view(names: list[str], facts: bool = False) -> float:
        return asyncio.run(_view(inv, spec, names, facts))

    view(nodes)  # warm: imports, the first thread pool, caches
    meters = {k: CpuMeter(spec["sshd_pids"], spec["babeld_pids"]) for k in ("one", "all")}
    out: dict[str, Any] = {"one+f": [], "all+f": []}
    for _ in range(spec["rounds"]):
        meters["one"].measure(view, one_node)
        meters["all"].measure(view, nodes)
        out["one+f"].append(view(one_node, True))
        out["all+f"].append(view(nodes, True))
    for key, meter in meters.items():
        out[key] = meter.totals
    return out


# ------------------------------------------------------------------ the run


def _in_tree(tree: Path, spec: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        argv = [sys.executable, __file__, "--views-json", f.name]
        res = subprocess.run(argv, env=env, capture_output=True, check=False, text=True)
    finally:
        os.unlink(f.name)
    if res.returncode != 0:
        raise SystemExit(f"meshtui in {tree} failed: {res.stderr.strip()[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _cli(tree: Path, lab, env: dict[str, str], nodes: list[str] | None) -> float:  # noqa: ANN001
    argv = [sys.executable, "-m", "meshtui", "status", "--inventory", str(lab.inventory_path)]
    for node in nodes or []:
        argv += ["--node", node]
    env = dict(env, PYTHONPATH=str(tree.resolve()))
    t0 = time.perf_counter()
    res = subprocess.run(  # from the tree: `python -m` imports from the working directory first
        [*argv, "--json"], capture_output=True, env=env, check=False, cwd=tree.resolve()
    )
    elapsed = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"status failed: {res.stderr.decode(errors='replace')}")
    return elapsed


def fmt(xs: list[float]) -> str:
    return (
        f"median {statistics.median(xs) * 1000:7.1f} ms "
        f"(min {min(xs) * 1000:.1f}, max {max(xs) * 1000:.1f})"
    )


def _ms(x: float) -> str:
    return f"{x * 1000:.0f} ms"


def report(
    label: str, r: dict[str, Any], n: int, one_node: str, cli: dict[str, list[float]]
) -> None:
    med = {v: {k: statistics.median(xs) for k, xs in r[v].items()} for v in ("one", "all")}
    one, many = med["one"]["wall"], med["all"]["wall"]
    print(f"meshtui ({label}):")
    print(f"  full view, 1 node ({one_node}):        {fmt(r['one']['wall'])}")
    print(f"  full view, {n} nodes at once:          {fmt(r['all']['wall'])}")
    print(f"    ratio {n} nodes / 1 node: {many / one:.2f} (serial would be ~{n})")
    for key, count in (("one", 1), ("all", n)):
        t = med[key]
        budget = t["wall"] * CORES
        ours = t["sshd"] + t["babeld"] + t["meshtui"]
        print(
            f"    CPU per view of {count} node(s), median ({CORES} cores x {_ms(t['wall'])} wall = "
            f"{_ms(budget)}): sshd {_ms(t['sshd'])} ({t['sshd'] / budget:.0%}; "
            f"{t['sshd'] / count * 1000:.1f} ms per connection), babeld {_ms(t['babeld'])}, "
            f"meshtui {_ms(t['meshtui'])} ({t['meshtui'] / budget:.0%}), rest of the box "
            f"{_ms(max(0.0, t['box'] - ours))} ({max(0.0, t['box'] - ours) / budget:.0%})"
        )
    t = med["all"]
    used = t["sshd"] + t["babeld"] + t["meshtui"]
    floor = max(t["meshtui"], used / CORES)
    print(
        f"    of the CPU the {n}-node view used, sshd's is {t['sshd'] / used:.0%}, meshtui's "
        f"{t['meshtui'] / used:.0%}; floor on {CORES} cores: max(meshtui, (sshd + babeld + "
        f"meshtui) / {CORES}) = {_ms(floor)} = {floor / one:.2f}x the 1-node view (sshd alone "
        f"{t['sshd'] / CORES / one:.2f}x); the {n}-node view took {many / floor:.2f}x its floor"
    )
    onef, manyf = statistics.median(r["one+f"]), statistics.median(r["all+f"])
    print(f"  view + kernel facts, 1 node:          {fmt(r['one+f'])}")
    print(f"  view + kernel facts, {n} nodes:         {fmt(r['all+f'])}")
    print(f"    ratio {n} nodes / 1 node: {manyf / onef:.2f}")
    if cli:
        print(f"  CLI `meshtui status --inventory --json --node {one_node}`: {fmt(cli['one'])}")
        print(f"  CLI `meshtui status --inventory --json` ({n} nodes):   {fmt(cli['all'])}")
        print(f"    ratio: {statistics.median(cli['all']) / statistics.median(cli['one']):.2f}")


def bench(
    sites: int, servers: int, rounds: int, hello: float, trees: dict[str, Path], cli: bool
) -> None:
    from meshtui.lab import Lab

    lab = Lab(sites=sites, relays=2, servers_per_site=servers, hello=hello)
    t0 = time.monotonic()
    try:
        lab.up(wait=True, timeout=300)
        nodes = lab.nodes
        print(f"lab {lab.id}: {len(nodes)} nodes, each with its own sshd and babeld "
              f"(up and converged in {time.monotonic() - t0:.1f} s); {rounds} rounds")  # fmt: skip
        one_node = [n for n in nodes if n.startswith("edge-")][0]
        spec = {
            "inventory": str(lab.inventory_path),
            "known_hosts": str(lab.known_hosts),
            "key": str(lab.ssh_key),
            "nodes": nodes,
            "one_node": one_node,
            "sshd_pids": [p for p in (lab.sshd_pid(n) for n in nodes) if p is not None],
            "babeld_pids": [p for p in (lab.babeld_pid(n) for n in nodes) if p is not None],
            "rounds": 1,
        }
        results: dict[str, dict[str, Any]] = {k: {} for k in trees}
        for _ in range(rounds):  # interleaved: the box's noise hits every tree alike
            for label, tree in trees.items():
                got = _in_tree(tree, spec)
                for view in VIEWS:
                    if isinstance(got[view], dict):
                        for key, xs in got[view].items():
                            results[label].setdefault(view, {}).setdefault(key, []).extend(xs)
                    else:
                        results[label].setdefault(view, []).extend(got[view])
        clis: dict[str, dict[str, list[float]]] = {k: {"one": [], "all": []} for k in trees}
        if cli:
            env = dict(os.environ)
            env.update(
                MESHTUI_SSH_KNOWN_HOSTS=str(lab.known_hosts),
                MESHTUI_SSH_KEY=str(lab.ssh_key),
                MESHTUI_SSH_CONFIG="none",
            )
            for _ in range(rounds):
                for label, tree in trees.items():
                    clis[label]["one"].append(_cli(tree, lab, env, [one_node]))
                    clis[label]["all"].append(_cli(tree, lab, env, None))
        for label, r in results.items():
            report(label, r, len(nodes), one_node, clis[label] if cli else {})
        if len(results) == 2:
            (_, new), (label, old) = results.items()
            speed = {
                v: statistics.median(old[v]["wall"]) / statistics.median(new[v]["wall"])
                for v in ("one", "all")
            }
            cpu = statistics.median(old["all"]["meshtui"]) / statistics.median(
                new["all"]["meshtui"]
            )
            print(
                f"speed-up vs {label}: 1 node {speed['one']:.2f}x, {len(nodes)} nodes "
                f"{speed['all']:.2f}x; meshtui's CPU for {len(nodes)} nodes {cpu:.2f}x less"
            )
    finally:
        lab.down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--servers", type=int, default=4, help="servers per site")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hello", type=float, default=1.0)
    parser.add_argument("--baseline-tree", type=Path, help="also measure the code in this tree")
    parser.add_argument("--no-cli", action="store_true", help="skip the `meshtui status` runs")
    parser.add_argument("--views-json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.views_json:
        with open(args.views_json) as f:  # noqa: PTH123
            print(json.dumps(views(json.load(f))))
        return 0

    from meshtui.lab import missing_prerequisites

    problems = missing_prerequisites()
    if problems:
        print("cannot run: " + "; ".join(problems), file=sys.stderr)
        return 2
    trees = {"this tree": Path(__file__).resolve().parents[2]}
    if args.baseline_tree is not None:
        trees[str(args.baseline_tree)] = args.baseline_tree
    bench(args.sites, args.servers, args.rounds, args.hello, trees, not args.no_cli)
    return 0


if __name__ == "__main__":
    sys.exit(main())
