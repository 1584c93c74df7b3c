"""Rehearsals in replicas of real babeld meshes (root): what relay-1's silence does.

The inventories (tests/data/rehearse/): ``single`` — 2 sites, 2 relays, site b
with a single tunnel (to relay-1); ``dual`` — the same with site b's second
tunnel; ``dual_slow`` — ``dual`` with a 2 s tunnel hello interval (0.5 s
elsewhere). One replica at a time, each torn down by the rehearsal itself.
``single`` and ``dual`` are rehearsed once, through the command line; the
regression test reads that run back from its JSON.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from meshtui.cli import main
from meshtui.core.foresight import detection_time
from meshtui.core.rehearsal import RunResult, compare, runs_from_json

DATA = Path(__file__).parent / "data" / "rehearse"
SITE_A = {"edge-a", "srv-a1"}
SITE_B = {"edge-b", "srv-b1"}


@pytest.fixture(scope="module")
def single_vs_dual(lab_available: None, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """`meshtui rehearse --inventory single --candidate dual --outage relay-1`: (status, JSON)."""
    out = tmp_path_factory.mktemp("rehearse") / "result.json"
    status = main([
        "rehearse", "--inventory", str(DATA / "single.toml"),
        "--candidate", str(DATA / "dual.toml"), "--outage", "relay-1",
        "--back-timeout", "10", "--json", "-o", str(out),
    ])  # fmt: skip
    return status, json.loads(out.read_text())


def _pairs(run: RunResult, sources: set[str], dests: set[str]) -> list:
    outage = run.outage("relay-1")
    assert outage is not None
    return [p for p in outage.pairs if p.source in sources and p.dest in dests]


def test_a_single_tunnel_site_is_cut_off_while_its_relay_is_down_and_a_second_tunnel_clears_it(
    single_vs_dual: tuple,
) -> None:
    status, report = single_vs_dual
    assert status == 0 and report["regressions"] == []
    assert report["inventory"] == str(DATA / "single.toml")
    current, candidate = runs_from_json(report)
    # current: every path between the sites crossed relay-1 and is lost while it is silent
    lost = _pairs(current, SITE_B, SITE_A) + _pairs(current, SITE_A, SITE_B)
    assert len(lost) == 8
    for p in lost:
        assert (p.before, p.after, p.failover_s) == ("relay-1", None, None), p
        assert p.unreachable_s > 0, p
        assert p.back_s is not None, p  # relay-1 is its only way: back as soon as it is heard
    # candidate: the same pairs fail over to relay-2
    moved = _pairs(candidate, SITE_B, SITE_A) + _pairs(candidate, SITE_A, SITE_B)
    assert len(moved) == 8
    for p in moved:
        assert (p.before, p.after) == ("relay-1", "relay-2"), p
        assert p.failover_s is not None and p.failover_s > 0, p
    diffs = compare(current, candidate).differences
    assert "srv-b1 keeps srv-a1 when relay-1 fails" in "\n".join(diffs)


def test_a_candidate_removing_a_tunnel_is_a_regression(single_vs_dual: tuple) -> None:
    _, report = single_vs_dual
    current, candidate = runs_from_json(report)
    # dual.toml is deployed, single.toml (edge-b's tunnel to relay-2 removed) is proposed
    result = compare(candidate, current)
    assert result.exit_status == 1
    lost = {(r.outage, r.source, r.dest) for r in result.regressions}
    assert ("relay-1", "srv-b1", "srv-a1") in lost and ("relay-1", "edge-a", "srv-b1") in lost
    # site b's 2 nodes lose site a's 2 and relay-2, and the other way round
    assert len(lost) == 12 and ("relay-1", "relay-2", "srv-b1") in lost
    assert "srv-b1 loses srv-a1 entirely when relay-1 fails" in result.differences


def test_a_longer_tunnel_hello_fails_over_later_as_foresight_expects(
    single_vs_dual: tuple,
) -> None:
    from meshtui.lab.rehearse import rehearse

    _, report = single_vs_dual
    _, fast = runs_from_json(report)
    slow = rehearse(DATA / "dual_slow.toml", ["relay-1"], back_timeout=0)
    fast_times = {(p.source, p.dest): p.failover_s for p in _pairs(fast, SITE_A | SITE_B,
                                                                  SITE_A | SITE_B)}  # fmt: skip
    slow_pairs = _pairs(slow, SITE_A | SITE_B, SITE_A | SITE_B)
    assert len(slow_pairs) == 8
    for p in slow_pairs:
        assert p.after == "relay-2" and p.failover_s is not None, p
        assert p.failover_s > fast_times[(p.source, p.dest)], p
    # relay-1's Hellos every 2 s on the tunnel; the edges' checks paced by their 0.5 s LAN
    expected = detection_time(2.0, shortest=0.5).expected
    median = statistics.median(p.failover_s for p in slow_pairs if p.failover_s is not None)
    assert abs(median - expected) <= 2.0, (median, expected)


def _meshtui(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "meshtui", *args], capture_output=True,
                          text=True, env=env, timeout=300, check=False)  # fmt: skip


def test_lab_up_inventory_builds_a_replica_every_command_reads_over_ssh(
    lab_available: None,
) -> None:
    from meshtui.core.confgen import render_babeld_conf
    from meshtui.core.inventory import load_inventory
    from meshtui.lab import Lab

    up = _meshtui("lab", "up", "--inventory", str(DATA / "single.toml"))
    lab_id = re.search(r"lab ([0-9a-f]{6})", up.stdout + up.stderr)
    assert lab_id, up.stderr
    lab = Lab.attach(lab_id.group(1))
    try:
        assert up.returncode == 0, up.stderr
        assert lab.nodes == ["relay-1", "relay-2", "edge-a", "srv-a1", "edge-b", "srv-b1"]
        # the inventory's interface names, inside the namespaces
        links = lab.exec("edge-b", ["ip", "-o", "link", "show"]).stdout
        assert " eth0:" in links and " wg-r1:" in links and "wg-r2" not in links
        # babeld runs what `gen` renders for the original (paths aside), key included
        original = load_inventory(DATA / "single.toml")
        conf = lab.config_path("edge-a").read_text()
        key = re.search(r"key id site-link type hmac-sha256 value ([0-9a-f]{64})", conf)
        assert key, "edge-a's tunnel to relay-1 is authenticated"
        ours = [ln for ln in conf.splitlines() if not ln.startswith(("#", "local-path"))]
        theirs = render_babeld_conf(original, "edge-a", {"site-link": key.group(1)})
        assert ours == [ln for ln in theirs.splitlines()
                        if not ln.startswith(("#", "local-path"))]  # fmt: skip
        # the replica's own inventory: status over SSH into every namespace
        env = {**os.environ, "MESHTUI_SSH_KNOWN_HOSTS": str(lab.known_hosts),
               "MESHTUI_SSH_KEY": str(lab.ssh_key), "MESHTUI_SSH_CONFIG": "none"}  # fmt: skip
        res = _meshtui("status", "--inventory", str(lab.inventory_path), "--json", env=env)
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout)
        assert set(out) == set(lab.nodes)
        dest = next(d for d in out["srv-b1"]["destinations"] if d["node"] == "srv-a1")
        assert dest["state"] == "ok" and dest["selected"]["neighbour"] == "edge-b"
        hellos = {i["name"]: i["hello"] for i in out["edge-b"]["interfaces"]}
        assert hellos == {"eth0": 0.5, "wg-r1": 0.5}
    finally:
        lab.down()
