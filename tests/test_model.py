"""The live model: destinations, semantic events, noise suppression, resync."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshtui.core.events import EventType
from meshtui.core.model import NodeModel

R1 = "fe80::1"  # relay-1 as seen from an edge
R2 = "fe80::2"
DST = "fd42:1::21/128"
ID_A = "60:27:49:ae:61:4f:51:86"


def route(
    kind: str,
    rid: str,
    via: str,
    iface: str,
    metric: int,
    installed: bool,
    prefix: str = DST,
    router: str = ID_A,
) -> str:
    return (
        f"{kind} route {rid} prefix {prefix} from ::/0 installed {'yes' if installed else 'no'} "
        f"id {router} metric {metric} refmetric {max(metric - 96, 0)} via {via} if {iface}"
    )


def neigh(kind: str, nid: str, addr: str, iface: str, reach: str, cost: int) -> str:
    return (
        f"{kind} neighbour {nid} address {addr} if {iface} reach {reach} ureach 0000 "
        f"rxcost 96 txcost 96 cost {cost}"
    )


def loaded(*lines: str, t: float = 100.0) -> NodeModel:
    model = NodeModel()
    for line in lines:
        model.feed(line, t)
    model.commit(t)
    return model


def test_destination_selected_standby_margin_and_spof() -> None:
    m = loaded(
        route("add", "a1", R1, "wg-r1", 192, True),
        route("add", "a2", R2, "wg-r2", 288, False),
    )
    (d,) = m.destinations()
    assert d.selected is not None and d.selected.via == R1
    assert [r.via for r in d.standby] == [R2]
    assert d.state == "ok" and not d.single_point_of_failure
    j = d.to_json()
    assert j["selected"]["via"] == R1 and j["standby"][0]["margin"] == 96
    m.feed(route("flush", "a2", R2, "wg-r2", 288, False), 101)
    m.commit(101)
    assert m.destination(DST).single_point_of_failure


def test_failover_is_one_event_even_when_babeld_writes_two_lines() -> None:
    m = loaded(
        route("add", "a1", R1, "wg-r1", 192, True),
        route("add", "a2", R2, "wg-r2", 288, False),
    )
    m.feed(route("change", "a1", R1, "wg-r1", 65535, True), 110.0)
    m.feed(route("change", "a1", R1, "wg-r1", 65535, False), 110.0)
    assert m.commit(110.0) == []  # no selection yet: within grace, nothing said
    m.feed(route("change", "a2", R2, "wg-r2", 288, True), 110.05)
    events = m.commit(110.05)
    assert [e.type for e in events] == [EventType.FAILOVER]
    ev = events[0]
    assert ev.from_ is not None and ev.to is not None
    assert (ev.from_.via, ev.from_.interface, ev.from_.metric) == (R1, "wg-r1", 192)
    assert (ev.to.via, ev.to.interface, ev.to.metric) == (R2, "wg-r2", 288)
    assert ev.to_json()["from"]["via"] == R1 and ev.to_json()["to"]["interface"] == "wg-r2"


def test_retraction_then_feasible_standby_is_one_failover_with_its_gap() -> None:
    """As babeld 1.12 does it (seen in the lab): the lost route goes to 65535 at
    once, the standby is installed ~0.6-1 s later when it becomes feasible."""
    m = loaded(
        route("add", "a1", R1, "wg-r1", 192, True),
        route("add", "a2", R2, "wg-r2", 288, False),
    )
    m.feed(route("change", "a1", R1, "wg-r1", 65535, True), 110.0)
    assert m.commit(110.0) == []
    assert m.destination(DST).state == "pending"  # the views show it at once
    m.feed(route("change", "a1", R1, "wg-r1", 65535, False), 110.3)
    assert m.commit(110.9) == []
    m.feed(route("change", "a2", R2, "wg-r2", 301, True), 110.95)
    (ev,) = m.commit(110.95)
    assert ev.type is EventType.FAILOVER and ev.extra["gap"] == 0.95
    assert (ev.from_.via, ev.to.via) == (R1, R2)
    assert m.commit(120.0) == []  # and no late "unreachable"


def test_unreachable_at_once_when_babelds_tables_hold_no_other_route_then_recovered() -> None:
    m = loaded(route("add", "a1", R1, "wg-r1", 192, True))
    m.grace = 0.25
    m.feed(route("change", "a1", R1, "wg-r1", 65535, True), 200.0)
    (ev,) = m.commit(200.0)  # babeld's line says so: no finite route left
    assert ev.type is EventType.UNREACHABLE and ev.time == 200.0 and ev.from_.via == R1
    assert "no_route_since" not in ev.extra
    assert not m.has_pending()
    assert m.destination(DST).state == "unreachable" and m.destination(DST).since == 200.0
    m.feed(route("flush", "a1", R1, "wg-r1", 65535, False), 201)
    assert [e.type for e in m.commit(201)] == [EventType.ROUTE_REMOVED]
    assert [d.state for d in m.destinations()] == ["unreachable"]  # remembered, loud
    m.feed(route("add", "b1", R2, "wg-r2", 288, True), 215)  # long after: an outage, over
    assert [e.type for e in m.commit(215)] == [EventType.ROUTE_ADDED, EventType.RECOVERED]


def test_unreachable_then_another_relay_soon_after_is_the_failover_with_its_gap() -> None:
    """babeld retracted the only finite route, then installed one through relay-2 once
    its seqno request came back: unreachable (babeld's tables said so), then the failover."""
    m = loaded(route("add", "a1", R1, "wg-r1", 192, True))
    m.feed(route("change", "a1", R1, "wg-r1", 65535, True), 200.0)
    (gone,) = m.commit(200.0)
    m.feed(route("add", "b1", R2, "wg-r2", 288, True), 201.2)
    added, fo = m.commit(201.2)
    assert gone.type is EventType.UNREACHABLE and added.type is EventType.ROUTE_ADDED
    assert fo.type is EventType.FAILOVER and fo.extra["gap"] == pytest.approx(1.2)
    assert (fo.from_.via, fo.to.via) == (R1, R2)


def test_a_standby_never_installed_is_unreachable_when_the_grace_runs_out_in_order() -> None:
    m = loaded(
        route("add", "a1", R1, "wg-r1", 192, True),
        route("add", "a2", R2, "wg-r2", 288, False),
    )
    m.grace = 1.0
    m.feed(route("change", "a1", R1, "wg-r1", 65535, True), 200.0)
    assert m.commit(200.0) == [] and m.has_pending()
    assert m.destination(DST).since == 200.0  # "since" moves once, to the loss
    assert m.commit(200.5) == []
    # a line after the grace ran out: the verdict comes first, stamped when it came due
    m.feed(neigh("add", "e9", "fe80::9", "lan0", "ffff", 96), 201.7)
    ev, up = m.commit(201.7)
    assert ev.type is EventType.UNREACHABLE and ev.time == 201.0
    assert ev.extra["no_route_since"] == 200.0 and up.type is EventType.NEIGHBOUR_UP
    assert m.destination(DST).since == 200.0


def test_events_of_one_read_follow_babelds_lines() -> None:
    m = loaded(
        route("add", "a1", R1, "wg-r1", 192, True),
        route("add", "a2", R2, "wg-r2", 288, False),
        neigh("add", "e2", R2, "wg-r2", "ffff", 96),
    )
    # one read: the switch, then relay-2's reach drops
    m.feed(route("change", "a1", R1, "wg-r1", 65535, False), 300.0)
    m.feed(route("change", "a2", R2, "wg-r2", 288, True), 300.0)
    m.feed(neigh("change", "e2", R2, "wg-r2", "7fff", 96), 300.0)
    assert [e.type for e in m.commit(300.0)] == [EventType.FAILOVER, EventType.DEGRADING]


def test_repeated_change_lines_are_noise() -> None:
    line = route("change", "a1", R1, "wg-r1", 192, True)
    m = loaded(route("add", "a1", R1, "wg-r1", 192, True))
    for i in range(50):
        assert m.feed(line, 300 + i) is None
        assert m.commit(300 + i) == []
    assert m.stats.noops == 50
    assert m.routes["a1"].last_seen == 349  # the repeats still count as a heartbeat


def test_metric_change_and_pending_better_route() -> None:
    m = loaded(
        route("add", "a1", R1, "wg-r1", 192, True),
        route("add", "a2", R2, "wg-r2", 288, False),
    )
    m.feed(route("change", "a2", R2, "wg-r2", 150, False), 120)
    m.commit(120)
    d = m.destination(DST)
    assert d.state == "pending" and [r.via for r in d.pending] == [R2]
    assert d.pending[0].better_since == 120
    m.feed(route("change", "a1", R1, "wg-r1", 200, True), 121)
    (ev,) = m.commit(121)
    assert ev.type is EventType.METRIC_CHANGED and (ev.from_.metric, ev.to.metric) == (192, 200)


def test_neighbour_events_and_reach() -> None:
    m = loaded(neigh("add", "e1", R1, "wg-r1", "ffff", 96))
    n = m.neighbours["e1"]
    assert n.heard == 16 and n.loss_pct == 0 and n.up
    m.feed(neigh("change", "e1", R1, "wg-r1", "7fff", 96), 101)
    (deg,) = m.commit(101)
    assert deg.type is EventType.DEGRADING and deg.neighbour == R1
    m.feed(neigh("change", "e1", R1, "wg-r1", "3fff", 65535), 102)
    (down,) = m.commit(102)
    assert down.type is EventType.NEIGHBOUR_DOWN and m.neighbours["e1"].lost_at == 102
    m.feed(neigh("flush", "e1", R1, "wg-r1", "0000", 65535), 110)
    assert m.commit(110) == []  # already reported down
    assert (R1, "wg-r1") in m.lost_neighbours and "e1" not in m.neighbours
    m.feed(neigh("add", "e9", R1, "wg-r1", "8000", 96), 120)
    (up,) = m.commit(120)
    assert up.type is EventType.NEIGHBOUR_UP and (R1, "wg-r1") not in m.lost_neighbours


def test_resync_emits_the_difference() -> None:
    m = NodeModel()
    first = loaded(
        route("add", "a1", R1, "wg-r1", 192, True),
        route("add", "a2", R2, "wg-r2", 288, False),
    )
    assert m.adopt(first, 100) == []  # the first sync is the baseline, not news
    # babeld restarted: new memory addresses; relay-1 is gone now.
    fresh = NodeModel(announce=False)
    fresh.feed(route("add", "ff01", R2, "wg-r2", 288, True), 150)
    types = [e.type for e in m.adopt(fresh, 150)]
    assert types.count(EventType.ROUTE_REMOVED) == 1 and EventType.FAILOVER in types
    assert m.table_state() == fresh.table_state()


def test_errors_are_counted_and_do_not_touch_tables() -> None:
    m = loaded(route("add", "a1", R1, "wg-r1", 192, True))
    before = m.table_state()
    for bad in ("change route a1 prefix nonsense", "add route zz", "garbage", "add neighbour"):
        m.feed(bad, 101)
    assert m.stats.errors == 4 and m.table_state() == before
    assert m.stats.last_error is not None
    # a known route's change with a bad field goes to the full parser, and is refused
    for bad in (
        route("change", "a1", R1, "wg-r1", 192, True).replace("metric 192", "metric 70000"),
        route("change", "a1", R1, "wg-r1", 192, True).replace("metric 192", "metric ²"),
        route("change", "a1", R1, "wg-r1", 192, True).replace("installed yes", "installed si"),
        route("change", "a1", R1, "wg-r1", 192, True).replace(" via ", " vía "),
    ):
        m.feed(bad, 102)
    assert m.stats.errors == 8 and m.table_state() == before


# ------------------------------------------------------ property: stream == dump

_ids = st.sampled_from(["a1", "a2", "b7", "c9"])
_nids = st.sampled_from(["e1", "e2"])
_vias = st.sampled_from([(R1, "wg-r1"), (R2, "wg-r2"), ("fe80::3", "eth0")])
_prefixes = st.sampled_from([DST, "fd42:1::22/128", "fd42:1::23/128"])
_metric = st.sampled_from([96, 160, 192, 288, 65535])
_junk = st.sampled_from(
    [
        "add route",
        "change route a1 prefix x",
        "flush neighbour n1",
        "ok",
        "no oops",
        "bad",
        "change interface",
        "add xroute zz",
        "\x00\x01",
        "change route a1 " + "x " * 30,
    ]
)


@st.composite
def ops(draw):
    kind = draw(st.sampled_from(["route", "route", "neigh", "xroute", "iface", "junk"]))
    return (
        kind,
        draw(st.booleans()),
        draw(_ids),
        draw(_nids),
        draw(_vias),
        draw(_prefixes),
        draw(_metric),
        draw(st.booleans()),
        draw(_junk),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(ops(), max_size=80))
def test_any_stream_leaves_the_model_equal_to_a_fresh_dump(seq) -> None:
    """Simulate babeld's tables, stream their changes, then compare with a dump."""
    routes: dict[str, str] = {}
    neighs: dict[str, str] = {}
    xroutes: dict[str, str] = {}
    ifaces: dict[str, str] = {}
    model = NodeModel()
    t = 1000.0
    for kind, remove, rid, nid, (via, iface), prefix, metric, inst, junk in seq:
        t += 0.01
        if kind == "junk":
            model.feed(junk, t)
        elif kind == "route":
            if remove and rid in routes:
                model.feed("flush" + routes.pop(rid)[len("add") :], t)
            else:
                existing = routes.get(rid)
                # a live babeld route keeps its prefix and neighbour; only state changes
                if existing is not None:
                    prefix = existing.split()[4]
                    via, iface = existing.split()[-3], existing.split()[-1]
                line = route("add", rid, via, iface, metric, inst, prefix)
                model.feed(("change" + line[3:]) if existing else line, t)
                routes[rid] = line
        elif kind == "neigh":
            if remove and nid in neighs:
                model.feed("flush" + neighs.pop(nid)[3:], t)
            else:
                existing = neighs.get(nid)
                if existing is not None:
                    via, iface = existing.split()[4], existing.split()[6]
                line = neigh("add", nid, via, iface, "ffff" if metric < 65535 else "0000", metric)
                model.feed(("change" + line[3:]) if existing else line, t)
                neighs[nid] = line
        elif kind == "xroute":
            x = f"add xroute {prefix}-::/0 prefix {prefix} from ::/0 metric 0"
            if remove and prefix in xroutes:
                model.feed("flush" + xroutes.pop(prefix)[3:], t)
            else:
                model.feed(x if prefix not in xroutes else "change" + x[3:], t)
                xroutes[prefix] = x
        else:
            line = f"add interface {iface} up {'false' if remove else 'true'}"
            model.feed(line if iface not in ifaces else "change" + line[3:], t)
            ifaces[iface] = line
        model.commit(t)
    model.commit(t + 10)
    dump = NodeModel(announce=False)
    for line in [*ifaces.values(), *neighs.values(), *xroutes.values(), *routes.values()]:
        dump.feed(line, t)
    dump.commit(t)
    assert model.table_state() == dump.table_state()
    # and every destination the dump knows is answered the same way
    for d in dump.destinations():
        mine = model.destination(d.prefix, d.src)
        assert (mine.selected and mine.selected.id) == (d.selected and d.selected.id)
        assert [r.id for r in mine.standby] == [r.id for r in d.standby]
