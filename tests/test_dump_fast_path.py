"""The dump fast path (``NodeModel.load``, the session's resync) builds the same model as ``feed``.

``NodeModel.load`` builds a new route in babeld's own layout straight from its
words; everything else goes through ``feed``. These tests hold the two paths to
the same model, line for line: on real recorded babeld streams, on generated
route lines with bad values, and through a :class:`NodeSession` reading a dump
cut at every possible chunk boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from meshtui.core import gcpolicy
from meshtui.core.model import NodeModel
from meshtui.core.protocol import ReplyLine, _Bad, _plain_prefix, _prefix, dump_routes
from meshtui.core.records import Route
from meshtui.transport import session as session_mod
from meshtui.transport.replay import load_recording
from meshtui.transport.session import NodeSession

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = sorted(
    [ROOT / "demo" / "relay-outage.rec", *(ROOT / "tests" / "data" / "recordings").glob("*.rec")]
)


UNSET = "<slot never set>"


def every_field(record: Any) -> tuple[str, dict[str, Any]]:
    """A record's type and all its dataclass fields, read from ``dataclasses.fields``.

    Not a hand-picked list: a field added to a record that the fast path
    (``object.__new__`` then one assignment per field) forgets to set shows
    here as :data:`UNSET` against the constructor's default.
    """
    return type(record).__name__, {
        f.name: getattr(record, f.name, UNSET) for f in dataclasses.fields(record)
    }


def state(model: NodeModel) -> dict[str, Any]:
    """Everything a line can change in a model, in comparable form."""
    return {
        "node": every_field(model.node),
        "routes": {rid: every_field(r) for rid, r in model.routes.items()},
        "by_dest": {d: sorted(b) for d, b in model._by_dest.items()},
        "current": {k: every_field(v) for k, v in model._current.items()},
        "dirty": dict(model._dirty),
        "neighbours": {k: every_field(n) for k, n in model.neighbours.items()},
        "interfaces": {k: every_field(i) for k, i in model.interfaces.items()},
        "xroutes": {k: every_field(x) for k, x in model.xroutes.items()},
        "stats": (model.stats.lines, model.stats.noops, model.stats.errors),
        "errors": [(e.line, e.reason) for e in model.stats.error_samples],
        "last_time": model.last_time,
    }


def by_feed(lines: list[str], now: float, announce: bool = False) -> tuple[NodeModel, list]:
    model = NodeModel(announce=announce)
    replies = []
    for line in lines:
        parsed = model.feed(line, now)
        if isinstance(parsed, ReplyLine):
            replies.append(parsed)
    return model, replies


def by_load(lines: list[str], now: float, announce: bool = False) -> tuple[NodeModel, list]:
    model = NodeModel(announce=announce)
    replies = []
    i = 0
    while i < len(lines):
        i, reply = model.load(lines, i, now)
        if reply is not None:
            replies.append(reply)
    return model, replies


def same(lines: list[str], now: float = 1000.0) -> None:
    for announce in (False, True):
        a, replies_a = by_feed(lines, now, announce)
        b, replies_b = by_load(lines, now, announce)
        assert replies_a == replies_b
        assert state(a) == state(b)
        assert a.commit(now + 1) == b.commit(now + 1)
        assert state(a) == state(b)


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
def test_recorded_streams_give_the_same_model(path: Path) -> None:
    segments = load_recording(path)
    assert segments
    for segment in segments:
        lines = [line for _, line in segment.lines]
        assert any(line.startswith("add route ") for line in lines)
        same(lines)


def _route(
    rid: str, prefix: str, metric: int = 192, via: str = "fe80::1", installed: str = "yes"
) -> str:
    return (
        f"add route {rid} prefix {prefix} from ::/0 installed {installed} "
        f"id 02:00:00:00:00:00:00:01 metric {metric} refmetric 96 via {via} if wg-r1"
    )


def test_a_large_dump_and_its_resync_give_the_same_events() -> None:
    greeting = [
        "BABEL 1.0",
        "version babeld-1.12.1",
        "host n",
        "my-id 02:00:00:00:00:00:00:0a",
        "ok",
    ]
    dump = [_route(f"{i:x}", f"fd42::{i:x}/128", via=f"fe80::{i % 3 + 1}") for i in range(1, 3000)]
    same([*greeting, *dump, "ok"])
    # a reconnect: new ids, a third of the routes through another neighbour
    again = [
        _route(f"a{i:x}", f"fd42::{i:x}/128", via=f"fe80::{(i + (i % 3 == 0)) % 3 + 1}")
        for i in range(1, 3000)
    ]
    olds = []
    for path in (by_feed, by_load):
        live, _ = path([*greeting, *dump, "ok"], 1000.0, True)
        live.commit(1000.0)
        fresh, _ = path([*greeting, *again, "ok"], 2000.0, False)
        events = live.adopt(fresh, 2000.0)
        olds.append((events, state(live)))
    assert olds[0] == olds[1]
    assert any(e.type.value == "failover" for e in olds[0][0])


def _load_all(model: NodeModel, lines: list[str], now: float, known: Any = None) -> None:
    i = 0
    while i < len(lines):
        i, _ = model.load(lines, i, now, known)


def _without_times(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A model's state without the times a taken-over route keeps from before the reconnect."""

    def strip(item: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        kind, fields = item
        kept = ("first_seen", "last_change", "better_since")
        return kind, {k: v for k, v in fields.items() if k not in kept}

    out = dict(snapshot)
    for table in ("routes", "current"):
        out[table] = {k: strip(v) for k, v in snapshot[table].items()}
    return out


def test_a_reconnect_takes_over_unchanged_routes_and_gives_the_same_events() -> None:
    greeting = ["BABEL 1.0", "version babeld-1.12.1", "host n", "my-id 02:00:00:00:00:00:00:0a"]
    dump = [_route(f"{i:x}", f"fd42::{i:x}/128", via=f"fe80::{i % 3 + 1}") for i in range(1, 400)]
    # the same babeld again (the same ids): every 7th route gone, every 5th through another
    # neighbour (a new line), a new route, and an unchanged line under another verb
    again = [
        _route(f"{i:x}", f"fd42::{i:x}/128", via=f"fe80::{(i + (i % 5 == 0)) % 3 + 1}")
        for i in range(1, 400)
        if i % 7
    ]
    again += [_route("fff", "fd42::fff/128"), "bad" + dump[6][3:]]  # route 7, gone
    outcomes = []
    for reuse in (False, True):
        live = NodeModel(announce=True)
        _load_all(live, [*greeting, "ok", *dump, "ok"], 1000.0)
        live.commit(1000.0)
        before = dict(live.routes)
        staging = NodeModel(announce=False)
        _load_all(
            staging, [*greeting, "ok", *again, "ok"], 2000.0, live.current_lines if reuse else None
        )
        events = live.adopt(staging, 2000.0)
        outcomes.append((events, _without_times(state(live))))
        kept = [rid for rid, r in live.routes.items() if r is before.get(rid)]
        if reuse:
            unchanged = {f"{i:x}" for i in range(1, 400) if i % 7 and i % 5}
            assert set(kept) == unchanged  # the other verb's line was not taken for an add
            assert all(live.routes[rid].first_seen == 1000.0 for rid in kept)
            assert all(live.routes[rid].last_seen == 2000.0 for rid in kept)
            assert live.routes["5"].first_seen == 2000.0  # moved: a new line, a new route
        else:
            assert kept == []
    assert outcomes[0] == outcomes[1]
    events = outcomes[1][0]
    assert any(e.type.value == "failover" for e in events)
    assert staging.stats.errors == 1  # "bad route ...": a parse error, as through feed


def test_a_loss_pending_across_a_reconnect_ends_as_without_taking_over() -> None:
    """A destination lost (its standby not installed yet) when the link dropped: the same."""
    greeting = ["BABEL 1.0", "version babeld-1.12.1", "host n", "my-id 02:00:00:00:00:00:00:0a"]
    others = [_route(f"{i:x}", f"fd42::1:{i:x}/128") for i in range(1, 50)]
    standby = _route("a2", "fd42::9/128", metric=288, via="fe80::2", installed="no")
    before = [*greeting, "ok", _route("a1", "fd42::9/128"), standby]
    lost = [_route("a1", "fd42::9/128", metric=65535, installed="no"), standby]
    outcomes = []
    for reuse in (False, True):
        live = NodeModel(announce=True)
        _load_all(live, [*before, *others, "ok"], 1000.0)
        live.commit(1000.0)
        live.feed("change" + lost[0][3:], 1001.0)  # the selected route retracted: pending
        live.commit(1001.0)
        assert live._loss_pending
        staging = NodeModel(announce=False)
        known = live.current_lines if reuse else None
        _load_all(staging, [*greeting, "ok", *lost, *others, "ok"], 1002.0, known)
        assert (staging._taken > 0) == reuse
        events = live.adopt(staging, 1002.0)
        # the standby has been better than the lost route since the loss, not since the dump
        assert live.routes["a2"].better_since == (1001.0 if reuse else 1002.0)
        later = live.tick(1001.0 + live.grace + 1)  # nothing installed within the grace
        outcomes.append((events, later, _without_times(state(live))))
    assert outcomes[0] == outcomes[1]
    assert [e.type.value for e in outcomes[1][1]] == ["unreachable"]


def test_runs_of_new_routes_are_built_at_once_and_give_the_same_model(monkeypatch) -> None:
    """``load`` builds a run of new routes at once (``dump_routes``); the lines of a run it
    cannot build (an id again, a bad value, other whitespace) go through feed, in their place,
    and the run goes on after them."""
    from meshtui.core import model as model_mod

    runs: list[tuple[int, int]] = []  # (lines with good values, lines) of each run

    def spy(lines: list[str], start: int):  # noqa: ANN202
        out = dump_routes(lines, start)
        runs.append((sum(d is not None for d in out[1]), len(out[0])))
        return out

    monkeypatch.setattr(model_mod, "dump_routes", spy)
    dump = [
        _route(f"{i:x}", f"fd42::{i % 40:x}/128", via=f"fe80::{i % 3 + 1}") for i in range(1, 120)
    ]
    dump[20] = _route("5", "fd42::77/128")  # an id again, moved: applied as feed applies it
    dump[30] = dump[30].replace("fd42::", "fd42::g", 1)  # a bad prefix: a parse error
    dump[31] = dump[31].replace(" if wg-r1", " if wg\tr1")  # other whitespace
    dump[32] = dump[32].replace(" via ", " via\x0c", 1)  # no layout match
    dump[33] = dump[33] + "\x1c"  # matches the layout, its state holds whitespace
    dump[50] = "change" + dump[40][3:]  # another verb amid the run
    dump[60] = dump[60].replace("metric 192", "metric 70000")  # out of range
    same(dump)
    assert sum(good for good, _ in runs) >= 110  # all but the bad ones through runs
    assert any(good < lines for good, lines in runs)  # a run that held bad ones went on
    same(["BABEL 1.0", "ok", *dump[:10], "ok", *dump[10:40]])  # runs stop at a reply


def test_a_restart_is_looked_for_in_the_old_model_once_per_dump() -> None:
    """After a babeld restart (new ids), load stops looking the routes up after KNOWN_PROBE
    lines in all, however many chunks (load calls) the dump comes in."""
    from meshtui.core.model import KNOWN_PROBE

    class Counting(dict):
        looked = 0

        def get(self, key, default=None):  # noqa: ANN001, ANN201
            Counting.looked += 1
            return super().get(key, default)

    live = NodeModel(announce=False)
    _load_all(live, [_route(f"{i:x}", f"fd42::{i:x}/128") for i in range(1, 1000)], 1000.0)
    known = Counting(live.current_lines)
    staging = NodeModel(announce=False)
    lines = [_route(f"b{i:x}", f"fd42::{i:x}/128") for i in range(1, 1000)]
    for start in range(0, len(lines), 100):  # ten chunks
        staging.load(lines[start : start + 100], 0, 2000.0, known)
    assert len(staging.routes) == 999
    assert Counting.looked == KNOWN_PROBE


def test_other_whitespace_and_moved_words_leave_the_fast_path() -> None:
    good = _route("1", "fd42::1/128")
    variants = [
        good.replace(" from ", "\tfrom ", 1),
        good.replace(" from ", "  from ", 1),
        good.replace(" if ", " if\x0b", 1),
        good.replace(" via ", "\x1cvia ", 1),
        good + "\x0c",
        good.replace("metric 192", "metric 1\u0669", 1),
        good.replace("prefix fd42::1/128 from ::/0", "from ::/0 prefix fd42::1/128", 1),
        good.replace("installed yes", "installed yes ", 1),
    ]
    for i, line in enumerate(variants):
        # the values of every part are known from the good line; only the layout differs
        same([good.replace("route 1 ", "route f "), line.replace("route 1 ", f"route {i + 2:x} ")])
        same([line])


WORD = st.sampled_from(
    ["1a", "zz", "fd42::1/128", "fd42::1", "::/0", "1.2.3.0/24", "fe80::1", "fe80::g", "192",
     "65535", "65536", "+5", "5_0", "-1", "yes", "no", "maybe", "02:00:00:00:00:00:00:01",
     "02:00:00:00:00:00:01", "wg-r1", "metric", "via", "if", "prefix", "from", "", "ok"]
)  # fmt: skip


@st.composite
def route_lines(draw: st.DrawFn) -> list[str]:
    """Route lines in babeld's layout, some with a word replaced, duplicated ids, other lines."""
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        rid = draw(st.sampled_from(["1", "2", "3", "ab"]))
        words = _route(rid, draw(st.sampled_from(["fd42::1/128", "fd42::2/128"]))).split()
        if draw(st.booleans()):
            words[draw(st.integers(0, len(words) - 1))] = draw(WORD)
        if draw(st.integers(0, 5)) == 0:
            words = words[: draw(st.integers(0, len(words)))]
        kind = draw(st.sampled_from(["add", "add", "change", "flush"]))
        line = " ".join(words).replace("add", kind, 1) if words else ""
        lines.append(line + draw(st.sampled_from(["", "", " ", "\r"])))
    return lines


@given(route_lines())
@settings(max_examples=400, deadline=None)
def test_generated_lines_give_the_same_model(lines: list[str]) -> None:
    same(lines)


HEXTETS = st.lists(st.text(alphabet="0123456789abcdefF", max_size=5), min_size=1, max_size=10)


@st.composite
def ipv6_like(draw: st.DrawFn) -> str:
    """Near-IPv6 prefixes: groups of 0-5 hex digits, at most two "::", a length up to 200
    (sometimes with leading zeros)."""
    groups = draw(HEXTETS)
    text = ":".join(groups)
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(groups)))
        text = ":".join(groups[:at]) + "::" + ":".join(groups[at:])
    if draw(st.booleans()):
        text += "/" + str(draw(st.integers(0, 200))).zfill(draw(st.integers(1, 4)))
    return text


@given(st.text(alphabet="0123456789abcdefABCDEFg:.%/", max_size=45) | ipv6_like())
@settings(max_examples=3000, deadline=None)
@example("::1:2:3:4:5:6:7/64")  # seven groups and a "::" at either end
@example("1:2:3:4:5:6:7::/128")
@example("1:2:3:4::5:6:7:8/64")  # eight groups and a "::": not an address
def test_plain_prefix_says_yes_to_what_ipaddress_accepts_in_plain_form(text: str) -> None:
    if _plain_prefix(text):
        ipaddress.IPv6Network(text, strict=False)
    try:
        ipaddress.ip_network(text, strict=False)
        expected = "/" in text
    except ValueError:
        expected = False
    try:
        _prefix(text)
        accepted = True
    except _Bad:
        accepted = False
    assert accepted == expected
    # and yes to every valid prefix in the form babeld prints (the fast path takes them all)
    length = text.partition("/")[2]
    if expected and set(text) <= set("0123456789abcdefABCDEF:/") and length == str(int(length)):
        assert _plain_prefix(text)


class _Chunks:
    def __init__(self, parts: list[bytes]) -> None:
        self.parts = list(reversed(parts))
        self.written: list[bytes] = []

    async def read(self) -> bytes:
        return self.parts.pop() if self.parts else b""

    async def write(self, data: bytes) -> None:
        self.written.append(data)

    async def close(self) -> None:
        pass


def _session_read(data: bytes, cuts: list[int]) -> tuple[NodeSession, list, list]:
    bounds = [0, *sorted(set(cuts)), len(data)]
    parts = [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    channel = _Chunks(parts)
    raw: list[str] = []
    events: list = []

    async def opener() -> _Chunks:
        return channel

    session = NodeSession(
        "n",
        opener,
        on_raw=lambda _n, _t, line: raw.append(line),
        on_events=lambda _n, evs: events.extend(evs),
        clock=lambda: 1000.0,
    )

    async def run() -> None:
        with pytest.raises(session_mod._Closed):
            await session._connect_and_read()

    asyncio.run(run())
    assert channel.written == [b"monitor\n"]
    return session, raw, events


def test_the_session_reads_a_dump_cut_anywhere_into_the_same_model() -> None:
    segment = load_recording(RECORDINGS[0])[0]
    lines = [line for _, line in segment.lines]
    data = ("\n".join(lines) + "\n").encode()
    expected, _ = by_feed(lines, 1000.0)
    reference, raw, _ = _session_read(data, [])
    assert raw == lines
    want = state(reference.model)
    for key in ("routes", "by_dest", "current", "neighbours", "interfaces", "xroutes", "node"):
        assert want[key] == state(expected)[key], key
    step = max(1, len(data) // 150)
    for cut in range(1, len(data), step):
        session, raw, _ = _session_read(data, [cut, cut + 7, cut + 301])
        assert raw == lines
        assert state(session.model) == want


def test_the_garbage_collector_runs_again_after_a_dump_and_after_a_lost_one() -> None:
    import gc

    segment = load_recording(RECORDINGS[0])[0]
    data = ("\n".join(line for _, line in segment.lines) + "\n").encode()
    assert gc.isenabled()
    _session_read(data, [len(data) // 2])
    assert gc.isenabled()
    cut = data[: data.index(b"add route") + 5]  # the connection ends inside the dump
    session, _, _ = _session_read_lost(cut)
    assert session.state is not session_mod.SessionState.LIVE
    assert gc.isenabled()
    # overlapping holds (sessions syncing at once) end with the last of them
    gcpolicy.hold_collections()
    gcpolicy.hold_collections()
    gcpolicy.release_collections()
    assert not gc.isenabled()
    gcpolicy.release_collections()
    assert gc.isenabled()


def _frozen(objects: list[object]) -> list[bool]:
    """Whether each (tracked) object is in the collector's permanent generation."""
    import gc

    walked = {id(o) for generation in range(3) for o in gc.get_objects(generation)}
    return [gc.is_tracked(o) and id(o) not in walked for o in objects]


def test_a_dump_is_frozen_with_the_survivors_only_where_the_calm_collector_runs() -> None:
    import gc

    segment = load_recording(RECORDINGS[0])[0]
    data = ("\n".join(line for _, line in segment.lines) + "\n").encode()
    session, _, _ = _session_read(data, [])  # a process without it (the CLI)
    model = session.model
    assert not any(_frozen([*model.routes.values(), *model._by_dest.values()]))
    collector = gcpolicy.CalmCollector()
    collector.start()  # as the dashboard starts it
    try:
        session, _, _ = _session_read(data, [len(data) // 3])
        model = session.model
        # every route and its destination's table: frozen, not walked by young collections
        assert all(_frozen([*model.routes.values(), *model._by_dest.values()]))
        assert model.routes and gc.isenabled()
    finally:
        collector.stop()
    assert gc.get_freeze_count() == 0  # stop gave them back to the collector


def test_a_session_reconnecting_to_the_same_babeld_keeps_its_route_objects() -> None:
    segment = load_recording(RECORDINGS[0])[0]
    lines = [line for _, line in segment.lines]
    dump_end = [i for i, line in enumerate(lines) if line == "ok"][1] + 1  # greeting, dump
    data = ("\n".join(lines[:dump_end]) + "\n").encode()
    channels = [_Chunks([data]), _Chunks([data[:4000], data[4000:]])]

    async def opener() -> _Chunks:
        return channels.pop(0)

    session = NodeSession("n", opener, clock=lambda: 1000.0)

    async def connect() -> None:
        with pytest.raises(session_mod._Closed):
            await session._connect_and_read()

    asyncio.run(connect())
    first = dict(session.model.routes)
    want = state(session.model)
    asyncio.run(connect())
    assert session.connects == 2 and session.model.routes
    assert all(route is first[rid] for rid, route in session.model.routes.items())
    assert state(session.model)["routes"] == want["routes"]


def _session_read_lost(data: bytes) -> tuple[NodeSession, list, list]:
    channel = _Chunks([data])

    async def opener() -> _Chunks:
        return channel

    session = NodeSession("n", opener, clock=lambda: 1000.0)

    async def run() -> None:
        with pytest.raises(session_mod._Closed):
            await session._connect_and_read()

    asyncio.run(run())
    return session, [], []


class _Stalls(_Chunks):
    """A link that dies silently: after its parts, a read never returns."""

    async def read(self) -> bytes:
        if self.parts:
            return self.parts.pop()
        await asyncio.Event().wait()
        return b""


def test_a_dump_that_stalls_gives_the_collector_back_after_gc_hold_max(monkeypatch) -> None:
    import gc

    monkeypatch.setattr(session_mod, "GC_HOLD_MAX", 0.05)
    segment = load_recording(RECORDINGS[0])[0]
    data = ("\n".join(line for _, line in segment.lines) + "\n").encode()
    channel = _Stalls([data[: data.index(b"add route") + 5]])  # stalls inside the dump

    async def opener() -> _Chunks:
        return channel

    session = NodeSession("n", opener, clock=lambda: 1000.0)

    async def run() -> tuple[bool, bool]:
        task = asyncio.create_task(session._connect_and_read())
        await asyncio.sleep(0.01)
        during = gc.isenabled()
        await asyncio.sleep(0.1)
        after = gc.isenabled()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return during, after

    during, after = asyncio.run(run())
    assert (during, after) == (False, True)
    assert gc.isenabled()


def test_the_fast_path_sets_every_field_of_a_route() -> None:
    """A route the fast path builds has every field of the dataclass, as ``Route(...)`` gives."""
    line = _route("1", "fd42::1/128")
    fast = NodeModel()

    def not_here(line: str, now: float) -> None:
        pytest.fail(f"left the fast path: {line!r}")

    fast.feed = not_here  # type: ignore[method-assign]  # the route line must not reach feed
    assert fast.load([line], 0, 1000.0) == (1, None)
    slow, _ = by_feed([line], 1000.0)
    built, expected = every_field(fast.routes["1"]), every_field(slow.routes["1"])
    assert [name for name, value in built[1].items() if value == UNSET] == []
    assert built == expected
    assert set(built[1]) == {f.name for f in dataclasses.fields(Route)}
