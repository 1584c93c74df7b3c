"""Rehearsals without a lab: the replica's topology, the per-pair measures, the comparison.

The replica tests check that an inventory's mesh is copied as it is (names,
LANs, tunnels both ends list, keys) and that what cannot be placed is
reported; that the replica's own inventory makes ``gen`` render the very same
babeld.conf as the original (paths aside). The measure and comparison tests
feed hand-made samples to :mod:`meshtui.core.rehearsal`.
"""

from __future__ import annotations

import json
from ipaddress import IPv6Network
from pathlib import Path

import pytest

from meshtui.cli import main
from meshtui.core.confgen import render_babeld_conf
from meshtui.core.inventory import load_inventory
from meshtui.core.rehearsal import (
    OutageResult,
    PairResult,
    PathState,
    RunResult,
    Sample,
    compare,
    describe_run,
    measure_outage,
    report_json,
    runs_from_json,
    settled,
)
from meshtui.lab.topology import render_inventory, replica_topology

DATA = Path(__file__).parent / "data" / "rehearse"
ULA = IPv6Network("fd12:3456:789a::/48")
KEY = "ab" * 32


def _replica(path: Path):
    return replica_topology("a1b2c3", ULA, load_inventory(path), str(path))


# --------------------------------------------------------------------- replica


def test_replica_copies_names_lans_and_tunnels_both_ends_list() -> None:
    topo = _replica(DATA / "single.toml")
    assert [n.name for n in topo.nodes] == ["relay-1", "relay-2", "edge-a", "srv-a1", "edge-b",
                                            "srv-b1"]  # fmt: skip
    assert topo.unplaced == () and topo.primary is None
    assert str(topo.prefix) == "fd42:15::/64"
    assert str(topo.node("srv-b1").address) == "fd42:15::b1"
    # one LAN per site, held by the edge, named as the inventory says
    assert topo.bridge_of("a").name == "edge-a" and topo.bridge_of("b").name == "edge-b"
    assert [n.name for n in topo.lan_members("a")] == ["srv-a1"]
    assert topo.node("srv-a1").interfaces == ("eth0",)
    assert topo.node("edge-b").interfaces == ("eth0", "wg-r1")  # its single tunnel
    assert topo.node("relay-1").interfaces == ("wg-a", "wg-b")
    edge_a = {t.interface: t for t in topo.node("edge-a").tunnels}
    assert edge_a["wg-r2"].rxcost == 192 and edge_a["wg-r1"].key == "site-link"
    assert edge_a["wg-r1"].hello == 0.5
    assert topo.keys == (("site-link", "hmac-sha256"),)
    # wireguard-go's names are unique on the machine, carry the lab id, fit in 15 chars
    devices = topo.wg_interfaces()
    assert len(devices) == len(set(devices)) == 6
    assert all("a1b2c3" in d and len(d) <= 15 for d in devices)
    # each end knows the other end's device, and one end of every pair starts the handshake
    ends = {t.wg_name: (n.name, t) for n in topo.nodes for t in n.tunnels}
    for _, t in ends.values():
        peer_name, peer_end = ends[t.peer_device]
        assert peer_name == t.peer and peer_end.peer_device == t.wg_name
        assert t.keepalive != peer_end.keepalive


def test_replica_reports_what_it_cannot_place(tmp_path: Path) -> None:
    inv = tmp_path / "mesh.toml"
    inv.write_text(
        """
[mesh]
prefix = "fd42:16::/64"

[nodes.relay-1]
role = "relay"
address = "fd42:16::1"
lan = "eth9"

[[nodes.relay-1.tunnels]]
interface = "wg-a"
peer = "edge-a"

[nodes.edge-a]
role = "edge"
site = "a"
address = "fd42:16::2"
lan = "eth0"

[nodes.watch-only]
ssh = "root@[fd00::9]"
"""
    )
    topo = _replica(inv)
    assert [n.name for n in topo.nodes] == ["edge-a"]
    assert topo.unplaced == (
        "watch-only: left out: no role or address (a monitoring entry)",
        "relay-1: LAN eth9 left out: the node has no site",
        "relay-1: tunnel wg-a left out: edge-a lists no tunnel back",
        "relay-1: left out: no site LAN and no tunnel both ends list",
    )


def test_replica_inventory_renders_the_same_babeld_conf_as_gen(tmp_path: Path) -> None:
    original = load_inventory(DATA / "single.toml")
    topo = replica_topology("a1b2c3", ULA, original, "single.toml")
    key_file = tmp_path / "site-link.hex"
    key_file.write_text(KEY + "\n")
    dirs = {n.name: str(tmp_path / n.name) for n in topo.nodes}
    text = render_inventory(topo, dirs, key_files={"site-link": str(key_file)})
    (tmp_path / "replica.toml").write_text(text)
    replica = load_inventory(tmp_path / "replica.toml")

    def body(conf: str) -> list[str]:
        return [ln for ln in conf.splitlines() if not ln.startswith(("#", "local-path"))]

    for name in original.nodes:
        ours = render_babeld_conf(replica, name, {"site-link": KEY})
        theirs = render_babeld_conf(original, name, {"site-link": KEY})
        assert body(ours) == body(theirs), name
        assert f"local-path {dirs[name]}/babeld.sock" in ours


def test_replica_quotes_dotted_node_names(tmp_path: Path) -> None:
    inv = tmp_path / "mesh.toml"
    inv.write_text((DATA / "single.toml").read_text().replace("[nodes.srv-a1]", '[nodes."srv.a1"]'))
    topo = _replica(inv)
    text = render_inventory(topo, {n.name: f"/d/{n.name}" for n in topo.nodes},
                            key_files={"site-link": "/k"})  # fmt: skip
    (tmp_path / "replica.toml").write_text(text)
    assert "srv.a1" in load_inventory(tmp_path / "replica.toml").nodes


# --------------------------------------------------------------------- measures

VIA_1 = PathState(True, "relay-1")
VIA_2 = PathState(True, "relay-2")
LOST = PathState(False)
LAN = PathState(True, None)


def _samples(*states: tuple[float, PathState]) -> list[Sample]:
    return [Sample(t, {("srv-b1", "srv-a1"): st, ("srv-b1", "edge-b"): LAN}) for t, st in states]


def test_measure_outage_failover_unreachable_window_and_way_back() -> None:
    baseline = {("srv-b1", "srv-a1"): VIA_1, ("srv-b1", "edge-b"): LAN}
    samples = _samples((0.5, VIA_1), (1.0, LOST), (1.5, VIA_2), (3.0, VIA_2), (3.5, VIA_2),
                       (5.0, VIA_1), (5.5, VIA_1))  # fmt: skip
    result = measure_outage("relay-1", baseline, samples, healed_at=3.0)
    assert result.pairs == (PairResult("srv-b1", "srv-a1", "relay-1", "relay-2", 1.5, 0.5, 2.0),)


def test_measure_outage_a_pair_that_never_finds_another_way() -> None:
    baseline = {("srv-b1", "srv-a1"): VIA_1, ("srv-b1", "edge-b"): LAN}
    samples = _samples((1.0, VIA_1), (2.0, LOST), (4.0, LOST), (4.5, VIA_1))
    (pair,) = measure_outage("relay-1", baseline, samples, healed_at=4.2).pairs
    assert (pair.after, pair.failover_s, pair.unreachable_s, pair.back_s) == (
        None, None, 2.5, pytest.approx(0.3)
    )  # fmt: skip


def test_measure_outage_leaves_out_the_silenced_node_and_untouched_lan_pairs() -> None:
    baseline = {("srv-b1", "relay-1"): VIA_1, ("srv-b1", "edge-b"): LAN, ("a", "b"): VIA_2}
    samples = [Sample(1.0, {**baseline, ("srv-b1", "relay-1"): LOST})]
    result = measure_outage("relay-1", baseline, samples, healed_at=2.0)
    assert [(p.source, p.dest, p.back_s) for p in result.pairs] == [("a", "b", 0.0)]


def test_settled_needs_quiet_and_no_waiting_route() -> None:
    quiet = {("a", "b"): VIA_1}
    waiting = {("a", "b"): PathState(True, "relay-2", pending=True)}
    assert settled([Sample(0, quiet), Sample(3.1, quiet)], 3.0)
    assert not settled([Sample(0, quiet), Sample(2.0, quiet)], 3.0)
    assert not settled([Sample(0, waiting), Sample(9.0, waiting)], 3.0)
    assert not settled([Sample(0, waiting), Sample(3.5, quiet)], 3.0)


# --------------------------------------------------------------------- comparison


def _run(name: str, *pairs: PairResult, node: str = "relay-1") -> RunResult:
    return RunResult(name, (OutageResult(node, pairs),))


def test_compare_calls_out_regressions_improvements_and_slower_failovers() -> None:
    current = _run(
        "mesh.toml",
        PairResult("srv-b1", "srv-a1", "relay-1", "relay-2", 207.0, 1.0, 3.0),
        PairResult("edge-b", "srv-a1", "relay-1", "relay-2", 1.2, 0.0, 3.0),
        PairResult("edge-a", "srv-b1", "relay-1", None, None, 5.0, 1.0),
    )
    candidate = _run(
        "other.toml",
        PairResult("srv-b1", "srv-a1", "relay-1", "relay-2", 11.0, 1.0, 3.0),
        PairResult("edge-b", "srv-a1", "relay-1", None, None, 5.0, 1.0),
        PairResult("edge-a", "srv-b1", "relay-1", "relay-2", 1.4, 0.2, 30.0),
    )
    result = compare(current, candidate)
    assert result.exit_status == 1
    assert [(r.outage, r.source, r.dest, r.current) for r in result.regressions] == [
        ("relay-1", "edge-b", "srv-a1", "relay-2")
    ]
    assert result.differences == (
        "srv-b1 → srv-a1: 3 min 27 s → 11.0 s when relay-1 fails",
        "edge-b loses srv-a1 entirely when relay-1 fails",
        "edge-a keeps srv-b1 when relay-1 fails (1.4 s; was unreachable)",
    )
    assert compare(candidate, candidate).exit_status == 0
    assert compare(candidate, candidate).differences == ()
    # and the other way round, the lost pair is the improvement
    assert compare(candidate, current).regressions[0].source == "edge-a"


def test_report_json_has_the_issue_shape_and_reads_back() -> None:
    current = _run("mesh.toml", PairResult("srv-b1", "srv-a1", "relay-1", None, None, 4.5, 1.2))
    candidate = _run(
        "other.toml", PairResult("srv-b1", "srv-a1", "relay-1", "relay-2", 1.8, 0.6, 33.0)
    )
    report = json.loads(json.dumps(report_json("mesh.toml", [current, candidate],
                                               compare(current, candidate))))  # fmt: skip
    assert set(report) == {"inventory", "runs", "regressions"}
    assert report["regressions"] == []
    assert report["runs"][0] == {
        "inventory": "mesh.toml",
        "outages": [
            {
                "node": "relay-1",
                "pairs": [
                    {
                        "from": "srv-b1",
                        "to": "srv-a1",
                        "before": "relay-1",
                        "after": None,
                        "failover_s": None,
                        "unreachable_s": 4.5,
                        "back_s": 1.2,
                    }  # fmt: skip
                ],
            }
        ],
    }
    assert runs_from_json(report) == [current, candidate]
    with pytest.raises(ValueError, match="not a rehearsal result"):
        runs_from_json({"runs": [{"inventory": "x"}]})
    assert "srv-b1 → srv-a1: relay-1 → unreachable; unreachable 4.5 s; back 1.2 s" in "\n".join(
        describe_run(current)
    )


def test_rehearse_bad_inventory_is_one_line(tmp_path: Path, capsys) -> None:
    status = main(["rehearse", "--inventory", str(tmp_path / "missing.toml")])
    err = capsys.readouterr().err
    assert status == 1 and err.startswith("meshtui: ") and err.count("\n") == 1, err


# --------------------------------------------------------------------- deploy --rehearse


def _deployable(tmp_path: Path) -> Path:
    text = (
        (DATA / "single.toml").read_text().replace('role = "', 'ssh = "root@[fd00::1]"\nrole = "')
    )
    path = tmp_path / "mesh.toml"
    path.write_text(text)
    return path


def test_deploy_rehearse_needs_the_deployed_state(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    inv = _deployable(tmp_path)
    status = main(["deploy", "--inventory", str(inv), "--rehearse", "--dry-run"])
    err = capsys.readouterr().err
    assert status == 1 and "no deployed state" in err and "--rehearse-against" in err, err


def test_deploy_rehearse_refuses_a_regression_before_touching_a_node(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """The gate only: the rehearsals themselves run in test_rehearse_lab.py."""
    import meshtui.commands.rehearse as rehearse_cmd

    current = _run("deployed.toml", PairResult("srv-b1", "srv-a1", "relay-1", "relay-2", 1.8,
                                               0.6, 33.0))  # fmt: skip
    candidate = _run("mesh.toml", PairResult("srv-b1", "srv-a1", "relay-1", None, None, 4.5, 1.2))
    calls = []

    def rehearsed(inventory, cand, outages, **kw):  # noqa: ANN001, ANN003
        calls.append((Path(inventory).name, Path(cand).name))
        return [current, candidate], compare(current, candidate)

    monkeypatch.setattr(rehearse_cmd, "run_rehearsal", rehearsed)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    inv = _deployable(tmp_path)
    deployed = tmp_path / "deployed.toml"
    deployed.write_text(inv.read_text())
    argv = ["deploy", "--inventory", str(inv), "--rehearse", "--rehearse-against", str(deployed),
            "--dry-run"]  # fmt: skip
    status = main(argv)
    out, err = capsys.readouterr()
    assert calls == [("deployed.toml", "mesh.toml")]
    assert status == 1 and "1 regression(s)" in err and "--force" in err, err
    assert "srv-b1 loses srv-a1 entirely when relay-1 fails" in out
    assert "nothing deployed" in err and err.count("\n") == 1
