"""Resync against a real babeld holding 10,000 routes: meshtui's time vs babeld's own dump (root).

Builds the default lab (6 nodes), makes one server (``srv-a1``) redistribute
``--routes`` kernel host routes inside the mesh prefix (``ip -6 route add P/128
dev lan0 proto static`` in its namespace for each: babeld skips ``proto boot``
routes by default; and a ``redistribute ip PREFIX eq 128 allow`` line in its
babeld.conf, babeld restarted), waits until its site's edge (``edge-a``) has
learnt all of them (and its route count is steady: the relays' alternatives
arrive later), then times on
that edge's control socket, each round in turn:

* bare: a plain socket reader (connect, read the greeting, send ``dump``, read to
  the ``ok`` that ends it): babeld's own dump time plus the cheapest read;
* meshtui, first sync: a :class:`NodeSession` connecting until live (greeting,
  ``monitor``'s dump into its model);
* meshtui, resync: the same session reconnecting until live (the dump into a
  staging model, diffed against the full one).

meshtui runs in a subprocess per tree: this one, and with ``--baseline-tree DIR``
also the code in ``DIR`` (e.g. ``git worktree add /tmp/base <commit>``), against
the same babeld in the same run. Prints medians (min) and meshtui / bare;
asserts nothing.

The times above include babeld's own pace, and the lab's routes may still move
between rounds. So it also records what babeld wrote on one connection (its
greeting, then ``monitor``'s dump, as read from the socket), and replays those
bytes into a session in each tree, a fresh process per tree and round in turn:
a first sync (the process's first: nothing validated yet) and a reconnect with
the same ids, meshtui's own work on a real babeld's dump.

Run: ``.venv/bin/python tests/benchmarks/bench_resync.py [--routes 10000] [--rounds 7]
[--baseline-tree DIR]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

SOURCE, OBSERVER = "srv-a1", "edge-a"


def _greeting(sock: socket.socket) -> bytes:
    """babeld's greeting, up to its ``ok``."""
    buf = b""
    while not buf.endswith(b"\nok\n"):
        data = sock.recv(65536)
        if not data:
            raise SystemExit("babeld closed the socket during its greeting")
        buf += data
    return buf


def bare_dump(path: str) -> tuple[float, int]:
    """Seconds from sending ``dump`` to babeld's closing ``ok``, and the lines read."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        _greeting(sock)
        parts = []
        t0 = time.perf_counter()
        sock.sendall(b"dump\n")
        tail = b""
        while True:
            data = sock.recv(262144)
            if not data:
                raise SystemExit("babeld closed the socket during its dump")
            parts.append(data)
            tail = (tail + data)[-4:]
            if tail == b"\nok\n":
                break
        elapsed = time.perf_counter() - t0
    return elapsed, b"".join(parts).count(b"\n")


def session_times(path: str, rounds: int) -> dict[str, list[float]]:
    """meshtui's first sync and resync on ``path``, ``rounds`` times each (seconds).

    As in the dashboard: its calm collector (full collections when calm,
    survivors frozen) runs, started as the dashboard starts it.
    """
    from meshtui.transport.local import open_local
    from meshtui.transport.session import NodeSession

    try:
        from meshtui.core.gcpolicy import CalmCollector
    except ImportError:  # a tree before it moved
        from meshtui.ui.gcpolicy import CalmCollector  # type: ignore[no-redef]

    CalmCollector().start()

    async def until_live(session: NodeSession) -> float:
        t0 = time.perf_counter()
        task = asyncio.create_task(session._connect_and_read())
        live = asyncio.create_task(session.wait_live(60))
        done, _ = await asyncio.wait({task, live}, return_when=asyncio.FIRST_COMPLETED)
        elapsed = time.perf_counter() - t0
        if live not in done or not live.result():
            raise SystemExit(f"session did not get live: {task.exception() if task.done() else ''}")
        channel = session._channel
        if channel is not None:
            await channel.close()
        try:
            await task
        except Exception:  # noqa: BLE001, S110 - the closed connection ends the read
            pass
        session._set_state(session_state.RECONNECTING, "")  # as run() does after a loss
        return elapsed

    from meshtui.transport import session as session_mod

    session_state = session_mod.SessionState

    async def main() -> dict[str, list[float]]:
        out: dict[str, list[float]] = {"first": [], "resync": [], "routes": []}
        for _ in range(rounds):
            session = NodeSession(OBSERVER, lambda: open_local(path))
            out["first"].append(await until_live(session))
            out["resync"].append(await until_live(session))
            out["routes"].append(float(len(session.model.routes)))
        return out

    return asyncio.run(main())


def record_dump(path: str) -> bytes:
    """What babeld writes on a connection up to the end of ``monitor``'s dump (greeting first)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        data = _greeting(sock)
        dump_from = len(data) - 1  # the dump's "ok" is the first after the greeting's
        sock.sendall(b"monitor\n")
        while (end := data.find(b"\nok\n", dump_from)) < 0:  # monitor goes on after it
            more = sock.recv(262144)
            if not more:
                raise SystemExit("babeld closed the socket during its dump")
            dump_from = max(len(data) - 3, dump_from)
            data += more
    return data[: end + 4]


def replay_times(recording: str, rounds: int) -> dict[str, list[float]]:
    """A session's first sync and reconnect on a recorded dump (seconds), in memory."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_ingest import session_read  # (it imports the tree's meshtui, as this does)

    from meshtui.transport.session import NodeSession

    try:
        from meshtui.core.gcpolicy import CalmCollector
    except ImportError:  # a tree before it moved
        from meshtui.ui.gcpolicy import CalmCollector  # type: ignore[no-redef]

    CalmCollector().start()
    data = Path(recording).read_bytes()
    chunks = [data[i : i + 49152] for i in range(0, len(data), 49152)]  # as read live

    out: dict[str, list[float]] = {"first": [], "reconnect": []}
    for _ in range(rounds):
        gc.collect()
        session = NodeSession(OBSERVER, None)  # type: ignore[arg-type]
        out["first"].append(session_read(session, chunks))
        gc.collect()
        out["reconnect"].append(session_read(session, chunks))
    return out


def replay_in(tree: Path, recording: str, rounds: int) -> dict[str, list[float]]:
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
    argv = [sys.executable, __file__, "--replay-json", recording, "--rounds", str(rounds)]
    res = subprocess.run(argv, env=env, capture_output=True, check=False, text=True)
    if res.returncode != 0:
        raise SystemExit(f"meshtui in {tree} failed: {res.stderr.strip()[-2000:]}")
    return json.loads(res.stdout)


DROPPED: dict[Path, int] = {}
"""Attempts babeld ended by closing the connection, per tree (it drops a client that reads
a 30,000-line dump too slowly; on a busy machine the slower tree is); each is tried again."""


def in_tree(tree: Path, path: str, rounds: int, attempts: int = 4) -> dict[str, list[float]]:
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
    argv = [sys.executable, __file__, "--session-json", path, "--rounds", str(rounds)]
    for _ in range(attempts):
        res = subprocess.run(argv, env=env, capture_output=True, check=False, text=True)
        if res.returncode == 0:
            return json.loads(res.stdout)
        if "babeld closed the connection" not in res.stderr:
            break
        DROPPED[tree] = DROPPED.get(tree, 0) + 1
    raise SystemExit(f"meshtui in {tree} failed: {res.stderr.strip()[-2000:]}")


def add_routes(lab, routes: int) -> list[str]:  # noqa: ANN001
    """Host routes inside the lab's prefix on SOURCE's first interface; babeld redistributes them.

    (No dummy interface: the lab's kernel may lack the module.)"""
    net = lab.prefix
    base = int(net.network_address) + (0xBE << 40)  # inside any prefix up to /80
    prefixes = [f"{ipaddress.IPv6Address(base + i + 1)}/128" for i in range(routes)]
    iface = lab.node(SOURCE).interfaces[0]
    batch = "".join(f"route add {p} dev {iface} proto static\n" for p in prefixes)
    lab.exec(SOURCE, ["ip", "-6", "-batch", "-"], input=batch, check=True, timeout=120)
    conf = lab.config_path(SOURCE)
    text = conf.read_text()
    line = f"redistribute ip {net} eq 128 allow\n"
    conf.write_text(text.replace("redistribute local allow\n", line + "redistribute local allow\n"))
    lab.restart_babeld(SOURCE)
    return prefixes


def wait_learnt(lab, routes: int, timeout: float) -> float:  # noqa: ANN001
    t0 = time.monotonic()
    seen = 0
    while time.monotonic() - t0 < timeout:
        model = lab.dump(OBSERVER, timeout=30)
        seen = sum(1 for r in model.routes.values() if r.metric < 0xFFFF)
        if seen >= routes:
            break
        time.sleep(1.0)
    else:
        raise SystemExit(f"{OBSERVER} learnt only {seen} of {routes} routes in {timeout:g} s")
    learnt = time.monotonic() - t0
    counts = [-1, -2]
    while counts[-1] != counts[-2] and time.monotonic() - t0 < timeout:
        time.sleep(3.0)  # steady: the same number of routes 3 s apart
        counts.append(len(lab.dump(OBSERVER, timeout=30).routes))
    print(f"{OBSERVER}: {counts[-1]} routes (steady after {time.monotonic() - t0:.0f} s)")
    return learnt


def speed_up(results: dict[str, dict[str, list[float]]], *figures: tuple[str, str]) -> str:
    """The baseline's medians over this tree's, for each (key, name) of ``figures``."""
    (_, new), (label, old) = results.items()
    ratios = (
        f"{name} {statistics.median(old[k]) / statistics.median(new[k]):.2f}x"
        for k, name in figures
    )
    return f"speed-up vs {label}: " + ", ".join(ratios)


def fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:7.1f} ms (min {min(xs) * 1000:6.1f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--routes", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--baseline-tree", type=Path)
    ap.add_argument("--session-json", help=argparse.SUPPRESS)
    ap.add_argument("--replay-json", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.session_json:
        print(json.dumps(session_times(args.session_json, args.rounds)))
        return 0
    if args.replay_json:
        print(json.dumps(replay_times(args.replay_json, args.rounds)))
        return 0

    from meshtui.lab import Lab, missing_prerequisites

    problems = missing_prerequisites()
    if problems:
        print("cannot run: " + "; ".join(problems), file=sys.stderr)
        return 2
    here = Path(__file__).resolve().parents[2]
    trees = {"this tree": here}
    if args.baseline_tree is not None:
        trees[str(args.baseline_tree)] = args.baseline_tree
    lab = Lab()
    try:
        t0 = time.monotonic()
        lab.up(wait=True, timeout=300)
        add_routes(lab, args.routes)
        learnt = wait_learnt(lab, args.routes, 300)
        path = lab.socket_path(OBSERVER)
        print(
            f"lab {lab.id}: {SOURCE} redistributes {args.routes} kernel routes; {OBSERVER} learnt "
            f"them {learnt:.1f} s after babeld's restart (lab up {time.monotonic() - t0:.0f} s)"
        )
        bare: list[float] = []
        lines = 0
        results: dict[str, dict[str, list[float]]] = {k: {} for k in trees}
        for _ in range(args.rounds):  # interleaved: the box's noise hits every figure alike
            for _ in range(3):
                elapsed, lines = bare_dump(path)
                bare.append(elapsed)
            for label, tree in trees.items():
                got = in_tree(tree, path, 1)
                for key, values in got.items():
                    results[label].setdefault(key, []).extend(values)
        print(f"bare dump on {OBSERVER}'s socket ({lines} lines): {fmt(bare)}")
        base = statistics.median(bare)
        for label, r in results.items():
            first, resync = statistics.median(r["first"]), statistics.median(r["resync"])
            print(
                f"meshtui ({label}), {int(min(r['routes']))} routes: "
                f"first sync {fmt(r['first'])} = {first / base:.2f}x bare; "
                f"resync {fmt(r['resync'])} = {resync / base:.2f}x bare"
            )
        for tree, count in DROPPED.items():
            print(f"babeld dropped meshtui ({tree}) reading the dump {count} time(s); tried again")
        if len(results) == 2:
            print(speed_up(results, ("first", "first sync"), ("resync", "resync")))
        recording = lab.state_dir / f"{OBSERVER}-dump.bin"
        recording.write_bytes(record_dump(path))
        replayed: dict[str, dict[str, list[float]]] = {k: {} for k in trees}
        for _ in range(args.rounds):  # a fresh process per tree and round: a first sync is cold
            for label, tree in trees.items():
                for key, values in replay_in(tree, str(recording), 1).items():
                    replayed[label].setdefault(key, []).extend(values)
        size = recording.stat().st_size
        print(f"babeld's bytes on one connection, replayed in memory ({size / 1e6:.1f} MB):")
        for label, r in replayed.items():
            print(f"  {label}: first sync {fmt(r['first'])}, reconnect {fmt(r['reconnect'])}")
        if len(replayed) == 2:
            print("  " + speed_up(replayed, ("first", "first sync"), ("reconnect", "reconnect")))
    finally:
        lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
