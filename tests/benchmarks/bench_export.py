"""Benchmark of ``meshtui export``: scrape time and exporter CPU on the lab (root).

Builds a lab (default 2 sites x (1 edge + 1 server) + 2 relays = 6 nodes, each
with its sshd), runs ``meshtui export --inventory`` on it, waits until every
node is live, then, in the same run:

* baseline: N bare HTTP GETs to the same exporter that collect nothing
  (``/favicon.ico``, which prometheus_client answers empty): the HTTP round
  trip plus whatever the exporter spends meanwhile draining babeld's streams;
* N scrapes of ``/metrics``: the same plus reading every live model;
* exporter CPU (utime + stime of its process, from /proc) over each loop;
  the difference per request is what a scrape costs;
* in-process, without HTTP: :func:`meshtui.core.metrics.collect` plus the text
  exposition over the lab's real dumps, then over a synthetic 50-node mesh made
  of those real dumps repeated under 50 names (the 50-node lab does not exist:
  that figure is the model side only).

Prints figures; asserts nothing; the machine is shared, so figures are noisy.
Run: ``.venv/bin/python tests/benchmarks/bench_export.py [--scrapes 200]
[--sites 2] [--servers 1]``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from meshtui.commands.export import exposition, registry_for
from meshtui.core.inventory import load_inventory
from meshtui.core.metrics import Counters, NodeReading, collect
from meshtui.core.names import Names
from meshtui.lab import Lab, missing_prerequisites

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - loopback
        return resp.read()


def timed_loop(url: str, n: int, pid: int) -> tuple[list[float], float, int]:
    """Per-request wall times, the exporter's CPU seconds over the loop, bytes of the last."""
    times = []
    body = b""
    cpu0 = cpu_seconds(pid)
    for _ in range(n):
        t0 = time.perf_counter()
        body = get(url)
        times.append(time.perf_counter() - t0)
    return times, cpu_seconds(pid) - cpu0, len(body)


def all_live(base: str, count: int) -> bool:
    """Whether the exporter shows ``count`` nodes, every one up."""
    ups = [
        line
        for line in get(f"{base}/metrics").decode().splitlines()
        if line.startswith("meshtui_node_up{")
    ]
    return len(ups) == count and all(line.endswith(" 1.0") for line in ups)


def fmt(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=20)
    return f"median {statistics.median(xs) * 1000:6.2f} ms, p95 {q[18] * 1000:6.2f} ms"


def model_side(lab: Lab, copies: int, rounds: int = 20) -> tuple[float, float, int, int]:
    """collect() + exposition over the lab's dumps and over ``copies`` nodes made of them."""
    inv = load_inventory(lab.inventory_path)
    dumps = {n: m for n, m in lab.dump_all().items() if m is not None}

    def per_scrape(readings: list[NodeReading], names_of) -> tuple[float, int]:  # noqa: ANN001
        best = []
        lines = 0
        for _ in range(rounds):
            names = names_of()
            t0 = time.perf_counter()
            families = collect(readings, names)
            text = exposition(registry_for(families.copy))
            best.append(time.perf_counter() - t0)
            lines = text.count("\n") - 2 * len(families)
        return statistics.median(best), lines

    real = [NodeReading(n, m, True, Counters()) for n, m in dumps.items()]
    t_real, lines_real = per_scrape(real, lambda: Names(inv))
    models = list(dumps.values())
    synthetic = [
        NodeReading(f"node-{i:02d}", models[i % len(models)], True, Counters())
        for i in range(copies)
    ]
    t_syn, lines_syn = per_scrape(synthetic, lambda: Names(None))
    return t_real, t_syn, lines_real, lines_syn


def bench(scrapes: int, sites: int, servers: int, hello: float, copies: int) -> None:
    lab = Lab(sites=sites, relays=2, servers_per_site=servers, hello=hello)
    t0 = time.monotonic()
    proc = None
    try:
        lab.up(wait=True, timeout=300)
        nodes = lab.nodes
        print(f"lab {lab.id}: {len(nodes)} nodes (hello {hello:g} s), up in "
              f"{time.monotonic() - t0:.1f} s; {scrapes} requests per loop")  # fmt: skip
        env = dict(os.environ)
        env.update(
            MESHTUI_SSH_KNOWN_HOSTS=str(lab.known_hosts),
            MESHTUI_SSH_KEY=str(lab.ssh_key),
            MESHTUI_SSH_CONFIG="none",
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "meshtui", "export", "--inventory", str(lab.inventory_path),
             "--listen", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert proc.stderr is not None
        m = re.search(r"serving (http://\S+)/metrics", proc.stderr.readline())
        if not m:
            raise SystemExit("meshtui export did not start")
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining
        base = m.group(1)
        deadline = time.monotonic() + 120
        while not all_live(base, len(nodes)):
            if time.monotonic() > deadline:
                raise SystemExit("not every node went live within 120 s")
            time.sleep(0.5)
        time.sleep(2)  # let the resyncs settle
        get(f"{base}/metrics")  # warm up
        bare, cpu_bare, _ = timed_loop(f"{base}/favicon.ico", scrapes, proc.pid)
        scrape, cpu_scrape, size = timed_loop(f"{base}/metrics", scrapes, proc.pid)
        wall_bare, wall_scrape = sum(bare), sum(scrape)
        print(
            f"baseline bare GET : {fmt(bare)}; exporter CPU {cpu_bare / scrapes * 1000:6.2f} "
            f"ms/request ({cpu_bare / wall_bare * 100:4.0f} % of a core while looping)"
        )
        print(
            f"scrape /metrics   : {fmt(scrape)}; exporter CPU "
            f"{cpu_scrape / scrapes * 1000:6.2f} ms/request "
            f"({cpu_scrape / wall_scrape * 100:4.0f} % of a core while looping)"
        )
        extra = statistics.median(scrape) - statistics.median(bare)
        more_cpu = (cpu_scrape - cpu_bare) / scrapes
        print(
            f"a scrape costs    : {extra * 1000:6.2f} ms more wall time and "
            f"{more_cpu * 1000:6.2f} ms more exporter CPU than a bare GET; "
            f"exposition {size} bytes"
        )
        t_real, t_syn, lines_real, lines_syn = model_side(lab, copies)
        print(f"model side, no HTTP: {len(nodes)} real dumps {t_real * 1000:6.2f} ms "
              f"({lines_real} samples); {copies} nodes from those dumps {t_syn * 1000:6.2f} ms "
              f"({lines_syn} samples) per collect + exposition")  # fmt: skip
        print(
            "50-node lab: not measured (no 50-node lab exists yet); the figure above for "
            f"{copies} nodes is the model side only, without SSH or HTTP"
        )
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        lab.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=200, help="requests per loop")
    parser.add_argument("--sites", type=int, default=2)
    parser.add_argument("--servers", type=int, default=1, help="servers per site")
    parser.add_argument("--hello", type=float, default=1.0)
    parser.add_argument("--synthetic", type=int, default=50, help="nodes of the synthetic mesh")
    args = parser.parse_args()
    missing = missing_prerequisites()
    if os.geteuid() != 0 or missing:
        raise SystemExit(f"needs root and {', '.join(missing) or 'nothing else'}")
    bench(args.scrapes, args.sites, args.servers, args.hello, args.synthetic)


if __name__ == "__main__":
    main()
