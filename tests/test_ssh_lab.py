"""Remote nodes over SSH against the lab's real sshd (one per namespace).

The lab makes the client key, the host keys and known_hosts; these tests add
their own known_hosts variants. Every fault a test makes (relay outage, sshd
killed, management path cut) is undone in a ``finally``.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from meshtui.core.inventory import load_inventory
from meshtui.core.meshcheck import CheckKind, build_matrix, check_mesh
from meshtui.core.names import Names
from meshtui.transport.facts import fetch_facts
from meshtui.transport.session import SessionState
from meshtui.transport.sources import Source, run_until_live
from meshtui.transport.ssh import SSHSettings, close_sources, inventory_sources, pool_of

pytestmark = pytest.mark.lab

CUT_TABLE = "meshtui_test_mgmt_cut"


def ssh_env(lab: Any, known_hosts: Path | None = None) -> dict[str, str]:
    """The environment that points meshtui at the lab's keys (and no user ssh_config)."""
    env = dict(os.environ)
    env["MESHTUI_SSH_KNOWN_HOSTS"] = str(known_hosts or lab.known_hosts)
    env["MESHTUI_SSH_KEY"] = str(lab.ssh_key)
    env["MESHTUI_SSH_CONFIG"] = "none"
    return env


def settings(lab: Any, **kw: Any) -> SSHSettings:
    return SSHSettings(
        known_hosts=str(kw.pop("known_hosts", lab.known_hosts)),
        client_keys=(str(lab.ssh_key),),
        config=(),
        **kw,
    )


def meshtui(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "meshtui", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


class Watch:
    """``meshtui watch --inventory --json`` in the background, its lines in a queue."""

    def __init__(self, lab: Any, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "meshtui", "watch", "--inventory", str(lab.inventory_path),
             "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def until(
        self, done: Callable[[list[dict[str, Any]]], bool], timeout: float, what: str
    ) -> None:
        deadline = time.monotonic() + timeout
        while not done(self.seen):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                tail = [e for e in self.seen if e["type"] not in ("degrading",)][-15:]
                raise AssertionError(f"watch: no {what} within {timeout:g} s; last: {tail}")
            try:
                self.seen.append(self.lines.get(timeout=min(left, 0.5)))
            except queue.Empty:
                pass

    def stop(self) -> str:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


def live_nodes(events: list[dict[str, Any]]) -> set[str]:
    state: dict[str, str] = {}
    for e in events:
        if e["type"] == "state":
            state[e["node"]] = e["state"]
    return {n for n, s in state.items() if s == "live"}


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:g} s")
        await asyncio.sleep(0.1)


class Sessions:
    """NodeSessions for every source, run as tasks until closed."""

    def __init__(self, sources: list[Source]) -> None:
        self.sources = sources
        self.by_name = {s.name: s.session(backoff=(0.2, 1.0)) for s in sources}
        self.tasks = [asyncio.create_task(s.run()) for s in self.by_name.values()]

    def states(self) -> dict[str, SessionState]:
        return {n: s.state for n, s in self.by_name.items()}

    async def all_live(self, timeout: float = 30) -> None:
        await wait_for(
            lambda: all(s.state is SessionState.LIVE for s in self.by_name.values()),
            timeout,
            "live session on every node",
        )

    async def close(self) -> None:
        for s in self.by_name.values():
            await s.stop()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await close_sources(self.sources)


# ------------------------------------------------------------------ status


def test_status_inventory_json_shows_each_edges_relay_and_standby(healthy_lab: Any) -> None:
    lab = healthy_lab
    res = meshtui("status", "--inventory", str(lab.inventory_path), "--json", env=ssh_env(lab))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert set(out) == set(lab.nodes)
    for node, snapshot in out.items():
        assert "error" not in snapshot, (node, snapshot)
        assert {"node", "interfaces", "neighbours", "routes", "destinations"} <= set(snapshot)
        assert {d["node"] for d in snapshot["destinations"]} == set(lab.nodes) - {node}
    for edge in ("edge-a", "edge-b"):
        remote = "srv-b1" if edge == "edge-a" else "srv-a1"
        dest = next(d for d in out[edge]["destinations"] if d["node"] == remote)
        assert dest["state"] == "ok"
        assert dest["selected"]["neighbour"] == "relay-1"
        assert dest["selected"]["via"] == str(lab.node("relay-1").tunnels[0].link_local)
        assert [s["neighbour"] for s in dest["standby"]] == ["relay-2"]
        assert dest["standby"][0]["margin"] > 0
    srv = next(d for d in out["srv-a1"]["destinations"] if d["node"] == "srv-b1")
    assert srv["selected"]["neighbour"] == "edge-a"
    # Hello intervals come from the inventory (what babeld.conf says), and with
    # them the time babeld takes to notice a silent neighbour on each interface.
    configured = load_inventory(lab.inventory_path).node("edge-a").hello_intervals
    interfaces = {i["name"]: i for i in out["edge-a"]["interfaces"]}
    assert set(configured) <= set(interfaces)
    shortest = min(configured.values())
    for name, hello in configured.items():
        item = interfaces[name]
        assert item["hello_source"] == "config" and item["hello"] == hello
        assert item["detection_time"] == pytest.approx(2.7 * hello + 0.75 * shortest, abs=1e-3)
        assert item["detection_window"] == pytest.approx(
            [2.7 * hello, 2.7 * hello + 1.875 * shortest], abs=1e-3
        )
    # The readable form names relays and carries the mesh matrix and its checks.
    text = meshtui("status", "--inventory", str(lab.inventory_path), env=ssh_env(lab))
    assert text.returncode == 0, text.stderr
    assert "relay-1 (" in text.stdout and "== mesh" in text.stdout
    assert "relay relay-2 carries no path" in text.stdout
    assert "detection" in text.stdout


def test_unknown_host_key_is_refused_and_the_other_nodes_connect(lab: Any, tmp_path: Path) -> None:
    victim = lab.node("relay-2")
    known = tmp_path / "known_hosts"
    lines = lab.known_hosts.read_text().splitlines()
    known.write_text("\n".join(x for x in lines if not x.startswith(f"{victim.mgmt_address} ")))
    res = meshtui(
        "status", "--inventory", str(lab.inventory_path), "--json", env=ssh_env(lab, known)
    )
    assert res.returncode != 0
    out = json.loads(res.stdout)
    err = out["relay-2"]
    assert err["reason"] == "host-key"
    assert err["error"].startswith("relay-2: refusing to connect")
    assert str(victim.mgmt_address) in err["error"] and "unknown" in err["error"]
    assert "Traceback" not in res.stderr and "relay-2: refusing to connect" in res.stderr
    for node in set(lab.nodes) - {"relay-2"}:
        assert "destinations" in out[node], (node, out[node])

    # A changed key (another node's) is refused as such.
    other = lab.node("relay-1").mgmt_address
    other_key = next(x for x in lines if x.startswith(f"{other} ")).split(" ", 1)[1]
    known.write_text(
        "\n".join(
            f"{victim.mgmt_address} {other_key}" if x.startswith(f"{victim.mgmt_address} ") else x
            for x in lines
        )
    )
    res = meshtui(
        "status", "--inventory", str(lab.inventory_path), "--node", "relay-2", "--node", "edge-a",
        "--json", env=ssh_env(lab, known),
    )  # fmt: skip
    out = json.loads(res.stdout)
    assert res.returncode != 0 and set(out) == {"relay-2", "edge-a"}
    assert "does NOT match" in out["relay-2"]["error"] and "destinations" in out["edge-a"]


# ------------------------------------------------------------------ failover


def test_watch_reports_the_failover_on_every_node_that_used_the_relay(healthy_lab: Any) -> None:
    lab = healthy_lab
    inv = load_inventory(lab.inventory_path)

    async def matrix_now():  # noqa: ANN202
        sources = inventory_sources(inv, settings=settings(lab))
        try:
            sessions = await asyncio.gather(*(run_until_live(s, 20) for s in sources))
        finally:
            await close_sources(sources)
        models = {s.name: x.model for s, x in zip(sources, sessions, strict=True)}
        return build_matrix(models, Names.build(inv, models))

    matrix = asyncio.run(matrix_now())
    # Edges and servers use relays; a relay may route via the other one for a
    # while (babeld's smoothing after an earlier test restarted it): not a user.
    users = {
        (c.source, c.dest)
        for c in matrix.cells.values()
        if c.relay == "relay-1" and lab.node(c.source).role != "relay"
    }
    direct = {(s, d) for s, d in users if lab.node(s).role == "edge"}
    assert {s for s, _ in users} == {"edge-a", "edge-b", "srv-a1", "srv-b1"}, users

    watch = Watch(lab, ssh_env(lab))
    try:
        watch.until(lambda seen: live_nodes(seen) == set(lab.nodes), 60, "live sessions")
        lab.fail_relay("relay-1")

        def done(seen: list[dict[str, Any]]) -> bool:
            failovers = {
                (e["node"], e["dest_node"])
                for e in seen
                if e["type"] == "failover"
                and e["from"]["neighbour"] == "relay-1"
                and e["to"]["neighbour"] == "relay-2"
            }
            moved = {
                (e["node"], e["dest_node"])
                for e in seen
                if e["type"] == "relay_changed"
                and (e["from_relay"], e["to_relay"]) == ("relay-1", "relay-2")
            }
            return direct <= failovers and users <= moved

        watch.until(done, 90, "failover from relay-1 to relay-2 on every node that used it")
    finally:
        lab.heal_relay("relay-1")
        err = watch.stop()
    assert "Traceback" not in err
    for e in watch.seen:
        assert e.get("node") in lab.nodes, e
    lab.wait_converged(120)


# ------------------------------------------------------------------ dead paths


async def test_sshd_killed_node_disconnects_others_carry_on_then_reconnects(lab: Any) -> None:
    inv = load_inventory(lab.inventory_path)
    victim = "edge-b"
    sessions = Sessions(inventory_sources(inv, settings=settings(lab)))
    try:
        await sessions.all_live()
        lines_before = {n: s.model.stats.lines for n, s in sessions.by_name.items()}
        await asyncio.to_thread(lab.kill_sshd, victim)  # sshd and its session processes
        await wait_for(
            lambda: sessions.by_name[victim].state is not SessionState.LIVE,
            30,
            f"{victim} disconnected",
        )
        assert "lost" in sessions.by_name[victim].message
        others = {n: s for n, s in sessions.by_name.items() if n != victim}
        await wait_for(
            lambda: all(s.model.stats.lines > lines_before[n] for n, s in others.items()),
            30,
            "the other nodes still streaming",
        )
        assert all(s.state is SessionState.LIVE for s in others.values())
        await asyncio.to_thread(lab.start_sshd, victim)
        await wait_for(
            lambda: sessions.by_name[victim].state is SessionState.LIVE, 60, f"{victim} back"
        )
        session = sessions.by_name[victim]
        assert session.disconnects == 1 and session.connects == 2
        pool = pool_of(sessions.sources[0])
        assert pool is not None and pool.connects == len(lab.nodes) + 1
    finally:
        if lab.sshd_pid(victim) is None:
            await asyncio.to_thread(lab.start_sshd, victim)
        await sessions.close()


async def test_cut_management_path_is_noticed_by_keepalive(lab: Any) -> None:
    inv = load_inventory(lab.inventory_path)
    victim = "srv-a1"
    sessions = Sessions(inventory_sources(inv, settings=settings(lab)))
    ruleset = (
        f"table inet {CUT_TABLE} {{\n"
        "  chain input { type filter hook input priority 0; policy accept; tcp dport 22 drop; }\n"
        "  chain output { type filter hook output priority 0; policy accept; tcp sport 22 drop; }\n"
        "}\n"
    )
    try:
        await sessions.all_live()
        await asyncio.to_thread(lab.exec, victim, ["nft", "-f", "-"], check=True, input=ruleset)
        # Nothing closes the TCP connection: only the keepalives can tell (~15 s).
        await wait_for(
            lambda: sessions.by_name[victim].state is not SessionState.LIVE,
            60,
            f"{victim} declared dead",
        )
        assert "keepalive" in sessions.by_name[victim].message
        assert all(s.state is SessionState.LIVE for n, s in sessions.by_name.items() if n != victim)
    finally:
        await asyncio.to_thread(
            lab.exec, victim, ["nft", "delete", "table", "inet", CUT_TABLE], check=False
        )
    try:
        await wait_for(
            lambda: sessions.by_name[victim].state is SessionState.LIVE, 90, f"{victim} back"
        )
    finally:
        await sessions.close()


# ------------------------------------------------------------------ checks


async def test_mesh_checks_find_nothing_wrong_on_the_healthy_lab(healthy_lab: Any) -> None:
    lab = healthy_lab
    inv = load_inventory(lab.inventory_path)
    sessions = Sessions(inventory_sources(inv, settings=settings(lab)))
    try:
        await sessions.all_live()
        facts = await asyncio.gather(*(fetch_facts(s) for s in sessions.sources))
        models = {n: s.model for n, s in sessions.by_name.items()}  # live, as the kernel was read
        by_node = {f.node: f for f in facts}
        names = Names.build(inv, models, by_node)
        findings = check_mesh(models, names, by_node)
        pool = pool_of(sessions.sources[0])
        assert pool is not None and pool.connects == len(lab.nodes)  # facts: same connections
    finally:
        await sessions.close()
    for node, model in models.items():
        for n in model.neighbours.values():
            assert names.neighbour(node, n.address, n.interface) is not None, (node, n.address)
    kinds = {(f.kind, f.node) for f in findings}
    assert kinds == {(CheckKind.IDLE_RELAY, "relay-2")}, findings
