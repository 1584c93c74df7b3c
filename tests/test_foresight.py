"""Failover foresight in the model: early warning, expected times, post-mortem, explanations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshtui.core import foresight
from meshtui.core.events import EventType
from meshtui.core.model import NodeModel
from meshtui.transport.held import demo_recording
from meshtui.transport.replay import load_recording
from tests.test_model import DST, R1, R2, neigh, route


def test_detection_time_follows_babelds_rules() -> None:
    d = foresight.detection_time(1.0)
    assert d.cost_infinite == pytest.approx(2.7) and d.first_sign == pytest.approx(1.7)
    # babeld counts misses at its neighbour check: every 1.5 intervals, jittered +-25 %
    assert d.expected == pytest.approx(2.7 + 0.75) and d.latest == pytest.approx(2.7 + 1.875)
    # a slow tunnel on a node whose LAN says Hello every second is checked every 1.5 s
    slow_link = foresight.detection_time(4.0, shortest=1.0)
    assert slow_link.cost_infinite == pytest.approx(10.8)
    assert slow_link.expected == pytest.approx(10.8 + 0.75)
    assert d.dropped == 16 and not d.slow
    seed = foresight.detection_time(60)  # the seed's hello-interval 60
    assert seed.cost_infinite == pytest.approx(162) and seed.slow and seed.dropped == 300
    assert "2 min 42 s" in seed.describe() and "black-holed" in seed.describe()


def test_smoothing_bound_and_explanations() -> None:
    # measured in the lab: a route of metric 192 back from 65535 took ~33 s to beat 288
    bound = foresight.smoothing_delay(192, 288)
    assert 30 < bound < 40
    early = foresight.explain_pending(192, 288, 10.0)
    assert early.reason == "smoothing" and "expect the switch" in early.text
    late = foresight.explain_pending(192, 288, bound + 5)
    assert late.reason == "feasibility" and "USR1" in late.text
    assert foresight.smoothing_delay(300, 288) == float("inf")


def _edge(t: float = 100.0) -> NodeModel:
    """An edge reaching DST via relay-1, with relay-2 as standby."""
    m = NodeModel()
    for line in (
        neigh("add", "e1", R1, "wg-r1", "ffff", 96),
        neigh("add", "e2", R2, "wg-r2", "ffff", 96),
        route("add", "a1", R1, "wg-r1", 192, True),
        route("add", "a2", R2, "wg-r2", 288, False),
    ):
        m.feed(line, t)
    m.commit(t)
    return m


def test_missed_hello_warns_with_affected_destinations_and_expected_switch() -> None:
    m = _edge()
    m.hello_intervals["wg-r1"] = 1.0
    m.feed(neigh("change", "e1", R1, "wg-r1", "ffff", 96), 101.0)  # last Hello heard
    m.feed(neigh("change", "e1", R1, "wg-r1", "ffff", 96), 101.6)  # the check: no Hello
    m.feed(neigh("change", "e2", R2, "wg-r2", "ffff", 96), 101.6)
    # babeld's first sign (reach loses its top bit) at its next check, 1.7 intervals on
    m.feed(neigh("change", "e1", R1, "wg-r1", "7fff", 96), 102.7)
    (ev,) = m.commit(102.7)  # one warning: the silence, decided when it came due
    assert ev.type is EventType.DEGRADING and ev.time == pytest.approx(102.5)
    assert "silent for 1.5 s" in ev.message
    assert ev.extra["affected"] == [
        {
            "prefix": DST,
            "to": {
                "via": R2,
                "interface": "wg-r2",
                "metric": 288,
                "router_id": ev.extra["affected"][0]["to"]["router_id"],
            },
        }
    ]
    # 2.7 intervals, then babeld's next neighbour check (0.75 intervals on average)
    assert ev.extra["expected_switch"] == pytest.approx(101.0 + 3.45)
    assert ev.extra["expected_in"] == pytest.approx(1.95)
    # without a known interval, babeld's own first sign is the warning
    m = _edge()
    m.feed(neigh("change", "e1", R1, "wg-r1", "7fff", 96), 102.7)
    (ev,) = m.commit(102.7)
    assert ev.type is EventType.DEGRADING and "missed a Hello" in ev.message
    assert ev.extra["affected"][0]["prefix"] == DST


def _heartbeats(m: NodeModel, t: float, seconds: int, e1: bool = True) -> float:
    """A second of babeld's stream, ``seconds`` times, as it really comes.

    Each relay's Hello at its own phase (relay-1 at +0.0, relay-2 at +0.4) and
    babeld's neighbour check at +0.7, which prints every neighbour at once.
    """
    for _ in range(seconds):
        t += 1.0
        if e1:
            m.feed(neigh("change", "e1", R1, "wg-r1", "ffff", 96), t)
        m.feed(neigh("change", "e2", R2, "wg-r2", "ffff", 96), t + 0.4)
        m.feed(neigh("change", "e1", R1, "wg-r1", "ffff", 96), t + 0.7)  # the check
        m.feed(neigh("change", "e2", R2, "wg-r2", "ffff", 96), t + 0.7)
        assert m.tick(t + 0.9) == []
    return t


def test_silence_warns_before_babeld_counts_a_miss() -> None:
    m = _edge()
    t = _heartbeats(m, 100.0, 12)  # learn the heartbeat: a Hello every second
    assert m.hello_for(m.neighbours["e1"]) == pytest.approx(1.0)
    # relay-1 falls silent after its Hello at t; babeld's check still prints it at t + 0.7
    m.feed(neigh("change", "e2", R2, "wg-r2", "ffff", 96), t + 1.4)
    assert m.tick(t + 1.45) == []  # within 1.5 intervals: fine
    m.feed(neigh("change", "e1", R1, "wg-r1", "ffff", 96), t + 1.7)
    m.feed(neigh("change", "e2", R2, "wg-r2", "ffff", 96), t + 1.7)
    (ev,) = m.tick(t + 1.8)
    assert ev.type is EventType.DEGRADING and ev.neighbour == R1 and "silent for" in ev.message
    assert ev.time == pytest.approx(t + 1.5)  # when the silence passed 1.5 intervals
    assert m.neighbours["e1"].last_heard == t  # the check's print was no Hello
    assert m.tick(t + 2.0) == []  # said once per episode
    m.feed(neigh("change", "e1", R1, "wg-r1", "ffff", 96), t + 2.1)  # it came back
    m.tick(t + 2.2)
    assert m.neighbours["e1"].degrading_since is None


def test_a_hello_in_the_same_instant_as_the_check_still_counts() -> None:
    m = _edge()
    t = _heartbeats(m, 100.0, 12)
    # relay-1's Hello and the check, in one read: relay-1 printed twice
    for line in (
        neigh("change", "e1", R1, "wg-r1", "ffff", 96),
        neigh("change", "e1", R1, "wg-r1", "ffff", 96),
        neigh("change", "e2", R2, "wg-r2", "ffff", 96),
    ):
        m.feed(line, t + 1.0)
    assert m.tick(t + 1.1) == []
    assert m.neighbours["e1"].last_heard == t + 1.0
    assert m.neighbours["e2"].last_heard == t + 0.4
    assert m.tick(t + 1.8) == []  # relay-2's last Hello 1.4 s ago, relay-1's 0.8 s ago


def test_failover_carries_lead_and_detection_time_and_the_incident_closes() -> None:
    m = _edge()
    m.feed(neigh("change", "e1", R1, "wg-r1", "ffff", 96), 101.0)
    m.feed(neigh("change", "e1", R1, "wg-r1", "7fff", 96), 102.7)  # first sign
    m.feed(neigh("change", "e1", R1, "wg-r1", "3fff", 65535), 103.7)
    m.feed(route("change", "a1", R1, "wg-r1", 65535, True), 103.7)
    m.commit(103.7)
    m.feed(route("change", "a1", R1, "wg-r1", 65535, False), 104.4)
    m.feed(route("change", "a2", R2, "wg-r2", 288, True), 104.4)
    fo = next(e for e in m.commit(104.4) if e.type is EventType.FAILOVER)
    assert fo.extra["lead_time"] == pytest.approx(1.7)
    assert fo.extra["detection_time"] == pytest.approx(3.4)
    assert fo.extra["gap"] == pytest.approx(0.7)
    assert DST in {p for p, _ in m.incidents}
    # heal: relay-1 comes back and, after smoothing, babeld switches back
    m.feed(neigh("change", "e1", R1, "wg-r1", "ffff", 96), 110)
    m.feed(route("change", "a1", R1, "wg-r1", 192, False), 110)
    m.commit(110)
    d = m.destination(DST)
    assert d.state == "pending"
    why = m.explain(d.pending[0], d.selected, now=120)
    assert why is not None and why.reason == "smoothing"
    assert m.snapshot()["destinations"][0]["pending"][0]["reason"] == "smoothing"
    m.feed(route("change", "a2", R2, "wg-r2", 288, False), 143)
    m.feed(route("change", "a1", R1, "wg-r1", 192, True), 143)
    back = next(e for e in m.commit(143) if e.type is EventType.FAILOVER)
    assert back.extra["outage"] == pytest.approx(143 - 104.4)
    assert back.extra["incident_started"] == pytest.approx(102.7)
    assert not m.incidents and m.destination(DST).pending == []


def test_repeated_line_with_gaps_in_reach_is_not_a_heartbeat() -> None:
    """Seen in the lab: babeld re-printed a neighbour (reach ffe3) 1 s into an outage,
    then jumped straight to 3ff8 with cost infinite. Only the silence can warn."""
    m = _edge()
    t = _heartbeats(m, 100.0, 12)
    m.feed(neigh("change", "e1", R1, "wg-r1", "ffe3", 96), t + 1.0)  # a Hello: reach changed
    m.feed(neigh("change", "e1", R1, "wg-r1", "ffe3", 96), t + 1.1)  # not a Hello
    m.feed(neigh("change", "e2", R2, "wg-r2", "ffff", 96), t + 1.4)  # relay-2's Hello
    m.feed(neigh("change", "e1", R1, "wg-r1", "ffe3", 96), t + 2.3)  # the check: no Hello
    m.feed(neigh("change", "e2", R2, "wg-r2", "ffff", 96), t + 2.3)
    (ev,) = m.tick(t + 2.6)  # 1.6 s since the last Hello, whatever lines came
    assert ev.type is EventType.DEGRADING and ev.neighbour == R1
    assert m.neighbours["e1"].last_heard == t + 1.0


def _replay(path: Path, tick: float = 0.1) -> tuple[NodeModel, list[Any]]:
    """Feed a recording to a model as the session would: a commit per read, ticks between."""
    (segment,) = load_recording(path)
    m = NodeModel()
    events: list[Any] = []
    lines = segment.lines
    next_tick = lines[0][0] + tick
    for i, (t, line) in enumerate(lines):
        while next_tick < t:
            events.extend(m.tick(next_tick))
            next_tick += tick
        m.feed(line, t)
        if i + 1 == len(lines) or lines[i + 1][0] != t:
            events.extend(m.commit(t))
    return m, events


def test_real_stream_neighbour_checks_are_no_heartbeat_and_the_warning_comes_first() -> None:
    """babeld 1.12 in the lab (hello 1 s): its neighbour check reprints every
    neighbour; one such print came 0.9 s after relay-1's last Hello. Counting
    it as a Hello delayed the warning by that much."""
    rec = demo_recording()
    m, events = _replay(rec)
    r1 = "fe80::ff:1"
    degrading = [e for e in events if e.type is EventType.DEGRADING]
    assert degrading and degrading[0].neighbour == r1
    first = degrading[0]
    # relay-1's last Hello came at 10.868 s; 1.5 learned intervals later, the warning
    assert first.extra["hello"] == pytest.approx(1.0, abs=0.1)
    assert 12.2 < first.time < 12.6, first
    assert "silent for" in first.message
    # every inter-site destination moved off relay-1 after the warning
    moves = [e for e in events if e.type is EventType.FAILOVER and e.extra.get("lead_time")]
    assert moves and all(e.time > first.time for e in moves)
    assert min(e.extra["lead_time"] for e in moves) > 2.0
    # no other neighbour (LAN, relay-2) was ever called degrading on this quiet mesh
    assert {e.neighbour for e in degrading} == {r1}


def test_a_failover_without_a_warning_says_why() -> None:
    """Connected just before the outage: no Hello spacing learned, babeld's sign came with
    its switch. The failover says that no warning was possible, and why."""
    m = _edge()
    m.feed(neigh("change", "e1", R1, "wg-r1", "3fff", 65535), 101.0)
    m.feed(route("change", "a1", R1, "wg-r1", 65535, False), 101.0)
    m.feed(route("change", "a2", R2, "wg-r2", 288, True), 101.0)
    fo = next(e for e in m.commit(101.0) if e.type is EventType.FAILOVER)
    assert "lead_time" not in fo.extra
    assert fo.extra["no_warning"].startswith("no warning possible yet")
    assert "needed to learn the hello interval" in fo.extra["no_warning"]
    assert "[no warning possible yet" in fo.describe()
    m.hello_intervals["wg-r1"] = 1.0  # with the interval known, nothing to excuse
    assert m.warning_gap(m.neighbours["e1"]) is None
