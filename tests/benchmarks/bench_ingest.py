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
* memory per route (tracemalloc, model with all routes loaded).
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc

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
    args = ap.parse_args()

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
        f"dump only ({dump_lines} lines): model {dump_lines / t_dump / 1e6:.2f} M lines/s, "
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


if __name__ == "__main__":
    main()
