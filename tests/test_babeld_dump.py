"""babeld's table dump: the parser, and babeld's word beside meshtui's explanation."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshtui.core.babeld_dump import babeld_says, parse_dump
from meshtui.core.model import NodeModel
from meshtui.ops.why import TablesError, why_report
from tests.test_model import DST, R1, R2, route

# babeld 1.12.1 in the lab (SIGUSR1, from its -L log), with babeld's other lines around it
REAL = (Path(__file__).parent / "data" / "babeld" / "dump-1.12.1.log").read_text()


def test_the_last_dump_of_a_log_is_parsed_with_smoothed_metrics_and_feasibility() -> None:
    old = REAL.replace("seqno 34316", "seqno 1").replace("My id", "My id", 1)
    dump = parse_dump(old + "\n" + REAL)  # two dumps: the last one counts
    assert dump is not None and dump.my_id == "00:16:5c:bc:b5:1d:55:36" and dump.seqno == 55679
    assert [n[0] for n in dump.neighbours] == ["fe80::1:1", "fe80::ff:1"]
    assert dump.exported == ["fd32:d088:7a3c::ee:1/128"]
    installed, other = dump.routes_to("fd32:d088:7a3c::2:1/128")
    assert (installed.metric, installed.smoothed, installed.seqno, installed.age) == (
        384,
        537,
        34316,
        4,
    )
    assert installed.installed and installed.feasible and installed.interface == "w9c4d83ea2"
    assert (other.smoothed, other.installed, other.feasible) == (51942, False, False)
    (_, feasible) = dump.routes_to("fd32:d088:7a3c::ff:1/128")
    assert feasible.feasible and not feasible.installed and feasible.smoothed == 65535
    assert parse_dump("no dump here\n") is None


def _pending_model() -> NodeModel:
    """relay-1 back after an outage: better (192) than the installed relay-2 route (288)."""
    m = NodeModel()
    m.feed(route("add", "a1", R1, "wg-r1", 192, False), 100.0)
    m.feed(route("add", "a2", R2, "wg-r2", 288, True), 100.0)
    m.commit(100.0)
    m.feed(route("change", "a2", R2, "wg-r2", 288, True), 105.0)
    m.commit(105.0)
    return m


def _dump(r1_state: str, r1_smoothed: int) -> str:
    return (
        "My id 00:00:00:00:00:00:00:01 seqno 1\n"
        f"{DST} from ::/0 metric 288 (300) refmetric 192 id 60:27:49:ae:61:4f:51:86 seqno 7 "
        "age 3 via wg-r2 neigh fe80::2 (installed)\n"
        f"{DST} from ::/0 metric 192 ({r1_smoothed}) refmetric 96 id 60:27:49:ae:61:4f:51:86 "
        f"seqno 6 age 1 via wg-r1 neigh fe80::1{r1_state}\n"
    )


@pytest.mark.parametrize(
    ("state", "smoothed", "word", "disagrees"),
    [
        (" (feasible)", 9000, "smoothing", False),  # meshtui said smoothing: babeld agrees
        ("", 250, "not feasible", True),  # babeld: the seqno, not smoothing
        (" (feasible)", 250, "switches at its next selection", True),
    ],
)
def test_babelds_word_beside_meshtuis_and_it_wins(
    state: str, smoothed: int, word: str, disagrees: bool
) -> None:
    m = _pending_model()
    report = why_report(m, "edge-a", DST, "::/0", _dump(state, smoothed), "babeld (pid 1)")
    r1 = next(v for v in report.verdicts if v.route.neighbour == R1)
    assert r1.ours == "smoothing" and word in r1.text and r1.disagrees is disagrees
    assert ("babeld's word wins" in r1.text) is disagrees
    assert report.disagreements == int(disagrees)
    text = "\n".join(report.lines())
    assert "smoothed 300" in text and "seqno 6" in text and "meshtui on fe80::1%wg-r1" in text
    assert report.to_json()["babeld"][0]["installed"] is True


def test_no_dump_in_the_log_is_one_clear_error() -> None:
    with pytest.raises(TablesError, match="babeld wrote no table dump"):
        why_report(_pending_model(), "edge-a", DST, "::/0", "Warning: x\n", "babeld (pid 1)")
    assert babeld_says(_pending_model().destination(DST), [], {}) == []
