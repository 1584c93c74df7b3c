"""Ingest benchmark: parse + apply of a large babeld stream vs bare line loops.

Run: ``.venv/bin/python tests/benchmarks/bench_ingest.py [--routes 10000] [--storm 200000]``

The stream is grammar-valid babeld output: a greeting, interfaces,
neighbours, ``--routes`` routes (two per destination, as with two relays),
then a storm of ``change`` lines in the proportions a real ``monitor`` shows:
mostly repeated no-op lines (every Hello re-prints neighbours and routes),
some real metric changes and route switches. Figures printed:

* lines/s for two baselines over the same bytes: ``split`` (decode and split
  into lines) and ``split+words`` (also split each line into words, the least
  any parser does), and for the model's ``feed`` + ``commit`` per chunk;
* the ratio of the model to each baseline;
* memory per route (tracemalloc, model with all routes loaded);
* resync: what a :class:`NodeSession` does with a greeting and a dump of
  ``--routes`` routes read from an in-memory channel, first connect (into an
  empty model), resync (the dump diffed against a full model: new route ids,
  a babeld restarted, a tenth of the routes retracted) and reconnect (the
  same with the same ids: the same babeld again), in ms and against
  ``split+words`` of the same bytes; with the dashboard's calm collector
  running, as in the dashboard.

The resync figures run in a fresh process per tree, ``--pairs`` times in turn
(best of all): ``--baseline-tree DIR`` also runs them on the code in ``DIR``
(e.g. ``git worktree add /tmp/base HEAD~5``) and prints both side by side
with their ratio.

``--instructions`` prints only the resync figures, as the instructions each
takes under valgrind (``cachegrind``, per sync: three rounds less one, halved),
for this tree and the baseline: times on a shared 2-core machine vary by 2x
from run to run, instruction counts by well under 1%. They count work, not
memory stalls: the times are the figures; the counts say whether a change
removed work.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from meshtui.core.model import NodeModel

CHUNK = 256 * 1024


def make_stream(routes: int, storm: int, seed: int = 7) -> bytes:
    """A babeld-shaped stream: dump of ``routes`` routes, then ``storm`` change lines."""
    rnd = random.Random(seed)
    lines = [
        "BABEL 1.0",
        "version babeld-1.12.1",
        "host edge-a",
        "my-id 02:00:00:00:00:00:00:0a",
        "ok",
    ]
    relays = [("fe80::1", "wg-r1", "aaaa0001"), ("fe80::2", "wg-r2", "aaaa0002")]
    for via, iface, nid in relays:
        lines.append(f"add interface {iface} up true ipv6 fe80::ff:{nid[-1]}")
        lines.append(
            f"add neighbour {nid} address {via} if {iface} reach ffff ureach 0000 "
            f"rxcost 96 txcost 96 rtt 0.210 rttcost 0 cost 96"
        )
    lines.append("add xroute fd42:1::a/128-::/0 prefix fd42:1::a/128 from ::/0 metric 0")
    dests = routes // 2
    state: list[list] = []
    for i in range(dests):
        prefix = f"fd42:1::{i // 65536:x}:{i % 65536:x}/128"
        rid = f"02:00:00:00:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}:01"
        for j, (via, iface, _nid) in enumerate(relays):
            metric = 192 if j == 0 else 288
            state.append([f"{0x55000000 + 2 * i + j:x}", prefix, j == 0, rid, metric, via, iface])
    for r in state:
        lines.append(_route("add", r))
    lines.append("ok")

    def neigh_line(k: int) -> str:
        via, iface, nid = relays[k]
        return (
            f"change neighbour {nid} address {via} if {iface} reach ffff ureach 0000 "
            f"rxcost 96 txcost 96 rtt 0.210 rttcost 0 cost 96"
        )

    for n in range(storm):
        roll = rnd.random()
        if roll < 0.10:
            lines.append(neigh_line(n % 2))
        elif roll < 0.90:  # babeld re-prints unchanged routes
            lines.append(_route("change", state[rnd.randrange(len(state))]))
        elif roll < 0.98:  # a real metric change
            r = state[rnd.randrange(len(state))]
            r[4] = rnd.choice((160, 192, 224, 288, 320))
            lines.append(_route("change", r))
        else:  # a switch: old route uninstalled, the other installed
            k = rnd.randrange(dests)
            a, b = state[2 * k], state[2 * k + 1]
            old, new = (a, b) if a[2] else (b, a)
            old[2], new[2] = False, True
            lines.append(_route("change", old))
            lines.append(_route("change", new))
    return ("\n".join(lines) + "\n").encode()


def _route(kind: str, r: list) -> str:
    rid_hex, prefix, installed, router, metric, via, iface = r
    return (
        f"{kind} route {rid_hex} prefix {prefix} from ::/0 "
        f"installed {'yes' if installed else 'no'} "
        f"id {router} metric {metric} refmetric {metric - 96} via {via} if {iface}"
    )


def chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def bare_split(parts: list[bytes]) -> int:
    n = 0
    pending = b""
    for data in parts:
        text = (pending + data).decode()
        lines = text.split("\n")
        pending = lines.pop().encode()
        for _line in lines:
            n += 1
    return n


def bare_words(parts: list[bytes]) -> int:
    n = 0
    pending = b""
    for data in parts:
        text = (pending + data).decode()
        lines = text.split("\n")
        pending = lines.pop().encode()
        for line in lines:
            line.split()
            n += 1
    return n


def model_ingest(parts: list[bytes]) -> NodeModel:
    """What a session does: decode, split, feed every line, commit per chunk."""
    model = NodeModel()
    pending = b""
    now = 1000.0
    feed = model.feed
    for data in parts:
        text = (pending + data).decode()
        lines = text.split("\n")
        pending = lines.pop().encode()
        for line in lines:
            feed(line, now)
        model.commit(now)
        now += 0.01
    return model


class _MemoryChannel:
    """A babeld control socket in memory: the given chunks, then end of stream."""

    def __init__(self, parts: list[bytes]) -> None:
        self._parts = list(reversed(parts))

    async def read(self) -> bytes:
        return self._parts.pop() if self._parts else b""

    async def write(self, data: bytes) -> None:
        pass

    async def close(self) -> None:
        pass


def _greeted(dump: bytes) -> list[bytes]:
    return chunks(
        b"BABEL 1.0\nversion babeld-1.12.1\nhost edge-a\nmy-id 02:00:00:00:00:00:00:0a\nok\n" + dump
    )


def session_resync(session, dump: bytes) -> float:  # noqa: ANN001
    """Seconds for ``session`` to read a greeting and ``dump`` into its model, as live."""
    return session_read(session, _greeted(dump))


def session_read(session, parts: list[bytes]) -> float:  # noqa: ANN001
    """Seconds for ``session`` to read ``parts`` (what babeld writes) until they end."""
    from meshtui.transport import session as session_mod

    async def opener() -> _MemoryChannel:
        return _MemoryChannel(parts)

    session.opener = opener

    async def run() -> float:
        t0 = time.perf_counter()
        try:
            await session._connect_and_read()
        except session_mod._Closed:
            pass
        return time.perf_counter() - t0

    return asyncio.run(run())


def dumps(routes: int, same_ids: bool = False) -> tuple[bytes, bytes]:
    """A dump of ``routes`` routes, and a reconnect's: a tenth retracted, new ids (a babeld
    restarted) or, with ``same_ids``, the same (the same babeld, connected to again)."""
    data = make_stream(routes, 0)
    dump = data[data.index(b"ok\n") + 3 :]  # the dump after the greeting
    lines = dump.decode().split("\n")
    for i, line in enumerate(lines):
        if line.startswith("add route "):
            if not same_ids:
                line = line.replace("route 55", "route 66", 1)
            if i % 10 == 0:
                line = line.replace(" metric 192 ", " metric 65535 ")
            lines[i] = line
    return dump, "\n".join(lines).encode()


def forget_validated() -> None:
    """A process's first connect: nothing validated yet (whatever the tree caches)."""
    from meshtui.core import protocol

    if hasattr(protocol, "forget_validated"):
        protocol.forget_validated()
    else:  # a tree before it
        for name in ("_prefix_cache", "_address_cache", "_router_id_cache"):
            getattr(protocol, name, {}).clear()


def sync_rounds(routes: int, mode: str, rounds: int) -> None:
    """``rounds`` of one resync figure, for an instruction count (see ``--instructions``)."""
    from meshtui.transport.session import NodeSession

    dump, moved = dumps(routes, same_ids=mode == "reconnect")
    session = NodeSession("edge-a", None)  # type: ignore[arg-type]
    session_resync(session, dump)
    for _ in range(rounds):
        if mode == "cold":
            forget_validated()
        if mode in ("resync", "reconnect"):
            session_resync(session, moved)
            session_resync(session, dump)  # back, for the next round (two resyncs a round)
        else:
            session_resync(NodeSession("edge-a", None), dump)  # type: ignore[arg-type]


def instructions(tree: Path, routes: int, mode: str) -> float:
    """Millions of instructions (valgrind) one ``mode`` sync of ``tree`` takes: deterministic."""

    def count(rounds: int) -> int:
        argv = [sys.executable, __file__, "--routes", str(routes), "--sync-rounds", str(rounds)]
        res = subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
            + [*argv, "--sync-mode", mode],
            env=dict(os.environ, PYTHONPATH=str(tree.resolve())),
            capture_output=True,
            text=True,
            check=True,
        )
        refs = [ln for ln in res.stderr.splitlines() if ln.split()[1:3] == ["I", "refs:"]]
        return int(refs[-1].split()[-1].replace(",", ""))

    per_round = (count(3) - count(1)) / 2
    return per_round / (2 if mode in ("resync", "reconnect") else 1) / 1e6


def print_instructions(trees: list[Path], routes: int) -> None:
    """The resync figures as instruction counts: the same on a busy machine as on a quiet one."""
    counts = {tree: {m: instructions(tree, routes, m) for m in MODES} for tree in trees}
    for tree, c in counts.items():
        print(
            f"instructions, {tree}: {routes} routes: "
            + ", ".join(f"{MODES[m]} {c[m]:6.1f} M" for m in MODES)
        )
    if len(trees) == 2:
        mine, base = counts[trees[0]], counts[trees[1]]
        print(
            "instructions, baseline / this tree: "
            + ", ".join(f"{MODES[m]} {base[m] / mine[m]:.2f}x" for m in MODES)
        )


MODES = {
    "first": "first sync",
    "cold": "cold caches",
    "resync": "resync",
    "reconnect": "reconnect",
}


def resync_figures(routes: int, repeat: int) -> dict[str, float]:
    """Best-of-``repeat`` ms: split+words of the dump, first sync, resync against a full model.

    Measured as in the dashboard: its calm collector (full collections when
    calm, survivors frozen) runs, started as the dashboard starts it.
    """
    from meshtui.transport.session import NodeSession

    try:
        from meshtui.core.gcpolicy import CalmCollector
    except ImportError:  # a tree before it moved
        from meshtui.ui.gcpolicy import CalmCollector  # type: ignore[no-redef]

    CalmCollector().start()
    dump, moved = dumps(routes)
    _, again = dumps(routes, same_ids=True)
    out = {"routes": float(routes)}
    t_words, _ = best_of(bare_words, chunks(dump), repeat)
    out["split+words"] = t_words * 1000
    first = cold = resync = reconnect = float("inf")
    for _ in range(repeat):
        forget_validated()
        gc.collect()
        cold = min(cold, session_resync(NodeSession("edge-a", None), dump))  # type: ignore[arg-type]
        gc.collect()
        session = NodeSession("edge-a", None)  # type: ignore[arg-type]
        first = min(first, session_resync(session, dump))
        assert len(session.model.routes) == routes, len(session.model.routes)
        gc.collect()
        resync = min(resync, session_resync(session, moved))
        assert len(session.model.routes) == routes
        session = NodeSession("edge-a", None)  # type: ignore[arg-type]
        session_resync(session, dump)
        gc.collect()
        reconnect = min(reconnect, session_resync(session, again))
        assert len(session.model.routes) == routes
    out["first sync"] = first * 1000
    out["cold"] = cold * 1000
    out["resync"] = resync * 1000
    out["reconnect"] = reconnect * 1000
    return out


def print_resync(label: str, f: dict[str, float]) -> None:
    print(
        f"{label}: {int(f['routes'])} routes: first sync {f['first sync']:6.1f} ms "
        f"(cold caches {f['cold']:6.1f} ms), "
        f"resync (vs the full model, new ids, a tenth retracted) {f['resync']:6.1f} ms, "
        f"reconnect (the same, same ids) {f['reconnect']:6.1f} ms; "
        f"split+words {f['split+words']:5.1f} ms (ratio first sync/split+words "
        f"{f['split+words'] / f['first sync']:.3f})"
    )


def best_of(fn, arg, repeat: int) -> tuple[float, object]:
    best = float("inf")
    result = None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn(arg)
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--routes", type=int, default=10_000)
    ap.add_argument("--storm", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-tree", type=Path, help="also measure resync on this tree")
    ap.add_argument(
        "--pairs", type=int, default=3, help="resync runs of each tree, in turn (best of all)"
    )
    ap.add_argument(
        "--instructions",
        action="store_true",
        help="only the resync figures, as valgrind instruction counts (this tree and the baseline)",
    )
    ap.add_argument("--resync-json", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sync-rounds", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--sync-mode", choices=sorted(MODES), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.resync_json:  # the baseline's subprocess
        print(json.dumps(resync_figures(args.routes, args.repeat)))
        return
    if args.sync_rounds is not None:  # a subprocess under valgrind
        sync_rounds(args.routes, args.sync_mode, args.sync_rounds)
        return
    if args.instructions:
        here = Path(__file__).resolve().parents[2]
        trees = [here] + ([args.baseline_tree] if args.baseline_tree is not None else [])
        print_instructions(trees, args.routes)
        return

    data = make_stream(args.routes, args.storm)
    parts = chunks(data)
    total_lines = data.count(b"\n")
    print(
        f"stream: {len(data) / 1e6:.1f} MB, {total_lines} lines, {args.routes} routes, "
        f"{args.storm} storm lines"
    )

    t_split, n = best_of(bare_split, parts, args.repeat)
    t_words, _ = best_of(bare_words, parts, args.repeat)
    t_model, model = best_of(model_ingest, parts, args.repeat)
    assert n == total_lines
    assert isinstance(model, NodeModel)
    assert len(model.routes) == args.routes and model.stats.errors == 0

    def rate(t: float) -> str:
        return f"{total_lines / t / 1e6:6.2f} M lines/s ({t * 1000:7.1f} ms)"

    print(f"baseline split       : {rate(t_split)}")
    print(f"baseline split+words : {rate(t_words)}")
    print(f"model feed+commit    : {rate(t_model)}")
    print(f"ratio model/split       = {t_split / t_model:.3f}")
    print(f"ratio model/split+words = {t_words / t_model:.3f}")
    print(f"noop lines skipped: {model.stats.noops} of {model.stats.lines}")

    # Dump phase alone (every line is a real add: the worst case per line).
    dump_end = data.index(b"\nok\n", data.index(b"add route")) + 4
    dump_parts = chunks(data[:dump_end])
    dump_lines = data[:dump_end].count(b"\n")
    t_dsplit, _ = best_of(bare_words, dump_parts, args.repeat)
    t_dump, _ = best_of(model_ingest, dump_parts, args.repeat)
    print(
        f"dump only, line by line through feed ({dump_lines} lines; sessions load it, below): "
        f"model {dump_lines / t_dump / 1e6:.2f} M lines/s, "
        f"ratio model/split+words = {t_dsplit / t_dump:.3f}"
    )

    gc.collect()
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    loaded = model_ingest(dump_parts)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    used = sum(s.size_diff for s in after.compare_to(base, "filename"))
    print(
        f"memory: {used / 1e6:.1f} MB for {len(loaded.routes)} routes = "
        f"{used / len(loaded.routes):.0f} bytes/route (model incl. line cache)"
    )

    here = Path(__file__).resolve().parents[2]
    trees = [here] + ([args.baseline_tree] if args.baseline_tree is not None else [])
    best: dict[Path, dict[str, float]] = {}
    for _ in range(args.pairs):  # each tree in a fresh process, in turn: alike conditions
        for tree in trees:
            got = resync_in(tree, args.routes, args.repeat)
            best[tree] = {k: min(v, best.get(tree, got)[k]) for k, v in got.items()}
    mine = best[here]
    print_resync("resync, this tree", mine)
    if args.baseline_tree is not None:
        base = best[args.baseline_tree]
        print_resync(f"resync, {args.baseline_tree}", base)
        print(
            "speed-up this tree vs baseline: "
            f"first sync {base['first sync'] / mine['first sync']:.2f}x "
            f"(cold {base['cold'] / mine['cold']:.2f}x), "
            f"resync {base['resync'] / mine['resync']:.2f}x, "
            f"reconnect {base['reconnect'] / mine['reconnect']:.2f}x"
        )


def resync_in(tree: Path, routes: int, repeat: int) -> dict[str, float]:
    """:func:`resync_figures` of the code in ``tree``, in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
    argv = [sys.executable, __file__, "--resync-json", "--routes", str(routes)]
    res = subprocess.run([*argv, "--repeat", str(repeat)], env=env, capture_output=True, check=True)
    return json.loads(res.stdout)  # type: ignore[no-any-return]


if __name__ == "__main__":
    main()
