"""Tests of the namespace lab: topology rules, convergence, faults, SSH and teardown.

The topology tests are pure; the others run real babeld, wireguard-go and sshd
in namespaces (root only) and share the session ``lab``; each one restores
what it breaks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from ipaddress import IPv6Network
from pathlib import Path

import pytest

from meshtui.lab.topology import LabConfig, build_topology

ULA = IPv6Network("fd12:3456:789a::/48")


# --------------------------------------------------------------------- pure


def test_topology_names_are_unique_short_and_carry_the_lab_id() -> None:
    topo = build_topology("a1b2c3", ULA, LabConfig(sites=26, relays=9, servers_per_site=9))
    wg = topo.wg_interfaces()
    assert len(wg) == len(set(wg)) == 2 * 26 * 9
    for name in wg + topo.mgmt_root_ifs():
        assert len(name) <= 15 and "a1b2c3" in name, name
    assert all(n.namespace.startswith("mtl-a1b2c3-") for n in topo.nodes)
    addresses = [n.address for n in topo.nodes]
    assert len(set(addresses)) == len(addresses)
    assert all(a in topo.prefix for a in addresses)
    assert topo.prefix.subnet_of(IPv6Network("fd00::/8")) and topo.prefix.prefixlen == 64
    lls = [n.lan_link_local for n in topo.nodes if n.lan_link_local] + [
        t.link_local for n in topo.role("relay") for t in n.tunnels[:1]
    ]
    assert len(set(lls)) == len(lls)


def test_topology_relay_one_is_primary() -> None:
    topo = build_topology("a1b2c3", ULA, LabConfig(relays=3))
    costs = {t.peer: t.rxcost for t in topo.node("edge-a").tunnels}
    assert costs == {"relay-1": None, "relay-2": 192, "relay-3": 288}
    assert all(t.rxcost is None for t in topo.node("relay-2").tunnels)


def test_topology_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="sites"):
        build_topology("a1b2c3", ULA, LabConfig(sites=0))
    with pytest.raises(ValueError, match="lab id"):
        build_topology("nothex", ULA, LabConfig())
    with pytest.raises(ValueError, match="fd00::/8"):
        build_topology("a1b2c3", IPv6Network("2001:db8::/48"), LabConfig())


# --------------------------------------------------------------------- lab

lab_only = pytest.mark.lab


@lab_only
def test_lab_converges_via_primary_relay_with_standby(healthy_lab) -> None:
    lab = healthy_lab
    assert lab.converged()
    assert not lab.off_primary("relay-1")
    for edge, dest in (("edge-a", "srv-b1"), ("edge-b", "srv-a1")):
        routes = lab.routes_to(edge, dest)
        by_hop = {lab.neighbour_name(r.via): r for r in routes}
        assert by_hop["relay-1"].installed
        standby = by_hop["relay-2"]
        assert not standby.installed and standby.metric < 65535
    # servers go through their edge for everything
    assert {lab.next_hop("srv-a1", d) for d in lab.nodes if d != "srv-a1"} == {"edge-a"}


@lab_only
def test_lab_inventory_drives_the_configs(lab) -> None:
    from meshtui.core.confgen import render_babeld_conf
    from meshtui.core.inventory import load_inventory

    inv = load_inventory(lab.inventory_path)
    assert set(inv.nodes) == set(lab.nodes)
    assert inv.prefix == lab.prefix
    assert inv.hello_wired == inv.hello_tunnel == 0.5
    for name, node in inv.nodes.items():
        assert node.socket == lab.socket_path(name)
        assert Path(node.config_path).read_text() == render_babeld_conf(inv, name)
        assert node.ssh == lab.ssh_destination(name)
    assert [t.rxcost for t in inv.nodes["edge-a"].tunnels] == [None, 192]


@lab_only
def test_attach_finds_the_running_lab(lab) -> None:
    from meshtui.lab import Lab, LabError

    other = Lab.attach(lab.id)
    assert other.nodes == lab.nodes and other.prefix == lab.prefix
    assert other.socket_path("edge-a") == lab.socket_path("edge-a")
    assert other.babeld_pid("edge-a") == lab.babeld_pid("edge-a") is not None
    with pytest.raises(LabError, match="no lab"):
        Lab.attach("000000")
    with pytest.raises(LabError, match="no lab node named 'nope'"):
        other.kill_babeld("nope")


@lab_only
def test_lab_exec_runs_in_the_node_namespace(lab) -> None:
    res = lab.exec("srv-b1", ["ip", "-6", "addr", "show", "dev", "lo"])
    assert res.returncode == 0
    assert lab.address("srv-b1") in res.stdout
    assert lab.address("srv-a1") not in res.stdout
    res = lab.exec("edge-a", ["ip", "-6", "route", "show", lab.address("srv-b1")])
    assert "proto babel" in res.stdout


@lab_only
def test_silent_relay_outage_fails_over_and_heals(healthy_lab) -> None:
    lab = healthy_lab
    wg_a1 = lab.topology.node("edge-a").tunnels[0].interface
    try:
        lab.fail_relay("relay-1")
        assert lab.relay_failed("relay-1")
        lab.wait(
            lambda: (
                lab.next_hop("edge-a", "srv-b1") == "relay-2"
                and lab.next_hop("edge-b", "srv-a1") == "relay-2"
            ),
            30,
            "edges to switch to relay-2",
        )
        # a silent outage: the tunnel is still up, only Babel is gone
        link = lab.exec("edge-a", ["ip", "link", "show", "dev", wg_a1])
        assert "UP" in link.stdout

        def others_reach_each_other() -> bool:
            missing = lab.missing_routes()
            return all(
                set(lost) <= {"relay-1"} for node, lost in missing.items() if node != "relay-1"
            )

        lab.wait(others_reach_each_other, 30, "the mesh to route around relay-1")
    finally:
        lab.heal_relay("relay-1")
    assert not lab.relay_failed("relay-1")
    lab.wait_converged(120)  # back on relay-1


@lab_only
def test_kill_and_start_babeld(healthy_lab) -> None:
    lab = healthy_lab
    dest = lab.address("edge-b")
    try:
        pid = lab.kill_babeld("edge-b", signal.SIGTERM)
        assert lab.babeld_pid("edge-b") is None

        def exited() -> bool:  # gone, or a zombie waiting to be reaped
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
            except FileNotFoundError:
                return True

        lab.wait(exited, 10, f"babeld (pid {pid}) to exit")
        # SIGTERM retracts: edge-a loses edge-b at once ("no via", not "absent")
        lab.wait(lambda: "edge-b" not in lab.installed("edge-a"), 15, "edge-b's retraction")
        route = lab.exec("edge-a", ["ip", "-6", "route", "show", dest]).stdout
        assert " via " not in route
    finally:
        if lab.babeld_pid("edge-b") is None:
            lab.start_babeld("edge-b")
    lab.wait_converged(120)
    # a silent death (SIGKILL) followed by a restart also recovers
    try:
        lab.kill_babeld("edge-b", signal.SIGKILL)
        lab.wait(lambda: "edge-b" not in lab.installed("relay-1"), 30, "edge-b to be lost")
    finally:
        if lab.babeld_pid("edge-b") is None:
            lab.start_babeld("edge-b")
    lab.wait_converged(120)


@lab_only
def test_restart_babeld(healthy_lab) -> None:
    lab = healthy_lab
    before = lab.babeld_pid("relay-2")
    lab.restart_babeld("relay-2")
    after = lab.babeld_pid("relay-2")
    assert after is not None and after != before
    lab.wait_converged(120)


@lab_only
def test_server_roams_to_the_other_site_and_back(healthy_lab) -> None:
    from meshtui.core.inventory import load_inventory

    lab = healthy_lab
    try:
        lab.roam("srv-a1", "b")
        assert lab.site_of("srv-a1") == "b"
        assert load_inventory(lab.inventory_path).nodes["srv-a1"].site == "b"
        lab.wait(
            lambda: (
                lab.next_hop("edge-b", "srv-a1") == "srv-a1"
                and lab.next_hop("srv-a1", "srv-b1") == "srv-b1"
                and lab.next_hop("edge-a", "srv-a1") in ("relay-1", "relay-2")
            ),
            60,
            "srv-a1 to be reached on site b",
        )
        edge_a = lab.exec("edge-a", ["ip", "-6", "route", "show", lab.address("srv-a1")]).stdout
        assert "lan0" not in edge_a
    finally:
        if lab.site_of("srv-a1") != "a":
            lab.roam("srv-a1", "a")
    lab.wait(lambda: lab.next_hop("edge-a", "srv-a1") == "srv-a1", 60, "srv-a1 back home")
    lab.wait_converged(120)


# Generous: the remote command runs through root's login shell, whose rc files
# (e.g. a pyenv init) can take many seconds on a loaded machine.
SSH_TIMEOUT = 300


def _ssh(lab, node: str, *command: str) -> subprocess.CompletedProcess[str]:
    argv = [
        "ssh", "-i", str(lab.ssh_key),
        "-o", f"UserKnownHostsFile={lab.known_hosts}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
        "-o", "IdentitiesOnly=yes",
        "-o", "ConnectTimeout=10",
        lab.ssh_destination(node), *command,
    ]  # fmt: skip
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=SSH_TIMEOUT, stdin=subprocess.DEVNULL
    )


@lab_only
def test_sshd_reachable_with_the_lab_key(lab) -> None:
    res = _ssh(lab, "relay-2", "ip", "-6", "addr", "show", "dev", "lo")
    assert res.returncode == 0, res.stderr
    assert lab.address("relay-2") in res.stdout
    # the babeld socket is reachable in the session (same filesystem)
    res = _ssh(lab, "edge-a", "test", "-S", lab.socket_path("edge-a"))
    assert res.returncode == 0, res.stderr


@lab_only
def test_sshd_host_key_is_verified(lab, tmp_path: Path) -> None:
    wrong = tmp_path / "known_hosts"
    lines = lab.known_hosts.read_text().splitlines()
    # every host announced with another node's key
    wrong.write_text("\n".join(f"{a.split()[0]} {b.split(' ', 1)[1]}" for a, b in
                               zip(lines, lines[1:] + lines[:1], strict=True)) + "\n")  # fmt: skip
    argv = [
        "ssh", "-i", str(lab.ssh_key), "-o", f"UserKnownHostsFile={wrong}",
        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
        lab.ssh_destination("edge-a"), "true",
    ]  # fmt: skip
    res = subprocess.run(
        argv, capture_output=True, text=True, timeout=SSH_TIMEOUT, stdin=subprocess.DEVNULL
    )
    assert res.returncode != 0
    assert "HOST IDENTIFICATION HAS CHANGED" in res.stderr or "verification failed" in res.stderr


@lab_only
def test_kill_and_start_sshd(lab) -> None:
    try:
        lab.kill_sshd("srv-b1")
        assert lab.sshd_pid("srv-b1") is None
        assert _ssh(lab, "srv-b1", "true").returncode != 0
    finally:
        if lab.sshd_pid("srv-b1") is None:
            lab.start_sshd("srv-b1")
    assert _ssh(lab, "srv-b1", "true").returncode == 0


# --------------------------------------------------------------------- teardown


def _leftovers(lab_id: str) -> list[str]:
    out = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    out += [line.split()[0] for line in netns.splitlines() if f"-{lab_id}-" in line]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    out += [line.split(":")[1].strip() for line in links.splitlines() if f"mt{lab_id}m" in line]
    out += [str(p) for p in Path("/var/run/wireguard").glob(f"w{lab_id}*")]
    if Path("/run/meshtui-lab", lab_id).exists():
        out.append(f"/run/meshtui-lab/{lab_id}")
    return out


@lab_only
def test_teardown_leaves_nothing_behind(lab_available) -> None:
    from meshtui.lab import Lab, LabError

    small = Lab(sites=1, relays=1, hello=0.5)
    try:
        small.up(wait=False)
        namespaces = [n.namespace for n in small.topology.nodes]
        pids = [
            int(p)
            for ns in namespaces
            for p in subprocess.run(
                ["ip", "netns", "pids", ns], capture_output=True, text=True
            ).stdout.split()
        ]
        assert len(pids) >= 3 * 2 + 2  # babeld + sshd per node, wireguard-go per tunnel end
        assert _leftovers(small.id)
    finally:
        assert small.down() == []
    assert _leftovers(small.id) == []
    assert not [p for p in pids if os.path.exists(f"/proc/{p}/ns")]
    # a handle on a torn-down lab fails clearly and resurrects nothing
    with pytest.raises(LabError):
        small.fail_relay("relay-1")
    with pytest.raises(LabError, match="not running"):
        small.kill_babeld("edge-a")
    assert _leftovers(small.id) == []


@lab_only
def test_failed_up_removes_everything(lab_available, monkeypatch) -> None:
    from meshtui.lab import Lab, LabError

    bad = Lab(sites=1, relays=1, hello=0.5)

    def broken_conf(node: str) -> None:
        bad.config_path(node).write_text("this-is-not-a-babeld-directive\n")

    monkeypatch.setattr(bad, "_write_babeld_conf", broken_conf)
    with pytest.raises(LabError, match="babeld on .* exited"):
        bad.up(wait=False)
    assert _leftovers(bad.id) == []


def _meshtui(*args: str) -> subprocess.CompletedProcess[str]:
    from meshtui.lab.lab import meshtui_command

    return _run_meshtui(meshtui_command(), *args)


def _run_meshtui(meshtui_command: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*meshtui_command, *args],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


@lab_only
def test_cli_up_and_down_from_other_processes(lab_available) -> None:
    res = _meshtui("lab", "up", "--sites", "1", "--relays", "1", "--hello", "0.5", "--no-wait")
    assert res.returncode == 0, res.stderr
    lab_id = res.stdout.split()[1]
    try:
        assert "mesh.toml" in res.stdout
        status = _meshtui("lab", "status", "--lab", lab_id)
        assert status.returncode == 0 and "edge-a" in status.stdout
        bad = _meshtui("lab", "fail", "edge-a", "--lab", lab_id)
        assert bad.returncode == 1
        assert bad.stderr.strip() == "meshtui: edge-a is not a relay"
        for action, said in (("fail", "Babel dropped"), ("heal", "healed")):
            done = _meshtui("lab", action, "relay-1", "--lab", lab_id)
            assert done.returncode == 0 and said in done.stdout, done.stderr
        # a detached lab survives `clean`
        assert lab_id not in _meshtui("lab", "clean").stdout
    finally:
        down = _meshtui("lab", "down", "--lab", lab_id)
    assert down.returncode == 0, down.stderr
    assert _leftovers(lab_id) == []


@lab_only
def test_clean_removes_labs_of_dead_owners(lab_available) -> None:
    script = (
        "import sys\n"
        "from meshtui.lab import Lab\n"
        "lab = Lab(sites=1, relays=1, hello=0.5).up(wait=False)\n"
        "print(lab.id, flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        lab_id = child.stdout.readline().strip()  # type: ignore[union-attr]
        assert lab_id and _leftovers(lab_id)
        assert lab_id not in _meshtui("lab", "clean").stdout  # owner alive: kept
    finally:
        child.kill()  # no chance to clean up
        child.wait()
    res = _meshtui("lab", "clean")
    assert res.returncode == 0 and lab_id in res.stdout
    assert _leftovers(lab_id) == []


@pytest.mark.parametrize("action", [["status"], ["up"], ["fail", "relay-1"], ["clean"]])
def test_cli_says_in_one_line_that_the_lab_needs_root(monkeypatch, capsys, action) -> None:
    from meshtui.cli import main

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["lab", *action]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("meshtui: lab: the lab needs root"), err


def test_cli_names_a_missing_babeld(monkeypatch, capsys) -> None:
    import shutil

    from meshtui.cli import main

    real_which = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda n, **kw: None if n == "babeld" else real_which(n, **kw)
    )
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert main(["lab", "up"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "babeld is not installed" in err, err


@lab_only
def test_inventory_restart_command_works_over_ssh(healthy_lab) -> None:
    """What a deploy does: run the node's restart_command in an SSH session on it."""
    from meshtui.core.inventory import load_inventory

    lab = healthy_lab
    node = load_inventory(lab.inventory_path).nodes["srv-b1"]
    before = lab.babeld_pid("srv-b1")
    res = _ssh(lab, "srv-b1", node.restart_command)
    assert res.returncode == 0, res.stderr
    after = lab.babeld_pid("srv-b1")
    assert after is not None and after != before
    lab.wait_converged(120)
    assert lab.babeld_pid("srv-b1") == after  # survives the end of the SSH session
