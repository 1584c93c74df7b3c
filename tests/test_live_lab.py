"""The live data path against real babeld daemons in the lab (issue: foundation).

* ``status --json`` shows, on every edge, the relay each remote /128 uses and
  its standby relay;
* ``watch --json`` reports a failover for every destination that used relay-1
  during its silent outage, within 1 s of the kernel route switch babeld made
  (read from ``ip monitor`` in the edge's namespace), and the way back after heal;
* babeld killed and restarted under a running ``watch``: the disconnect and
  the reconnect are reported, the command keeps running, and the session's
  model equals a fresh dump afterwards.

These three run once per babeld release operators run (``release_lab``: 1.12.1,
1.13.1, 1.14, a lab each); the model test runs on Debian's only.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from meshtui.core.model import NodeModel
from meshtui.transport.local import ConnectError, dump_once
from meshtui.transport.sources import local_source

pytestmark = pytest.mark.lab

MESHTUI = [sys.executable, "-m", "meshtui"]


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@dataclass
class LineReader:
    """Collects a child's output lines, each with its arrival time."""

    proc: subprocess.Popen
    lines: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.time(), line.rstrip("\n")))

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._thread.join(5)
        err = self.proc.stderr.read() if self.proc.stderr else ""
        return err


def spawn(argv: list[str]) -> LineReader:
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return LineReader(proc)


def json_events(reader: LineReader) -> list[dict]:
    out = []
    for _, line in list(reader.lines):
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def _status_problems(lab, edge: str) -> list[str]:
    """What `status --json` on ``edge`` gets wrong about relays and standbys (empty: all right)."""
    out = subprocess.run(
        [*MESHTUI, "status", "--socket", lab.socket_path(edge), "--json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    snap = json.loads(out.stdout)
    assert set(snap) >= {"node", "interfaces", "neighbours", "xroutes", "routes", "destinations"}
    assert snap["node"]["version"].startswith("babeld-")
    problems = []
    neighbours = {lab.neighbour_name(n["address"]) for n in snap["neighbours"]}
    if not {"relay-1", "relay-2"} <= neighbours:
        problems.append(f"{edge}: neighbours {neighbours}")
    dests = {d["prefix"]: d for d in snap["destinations"]}
    site = lab.site_of(edge)
    for other in lab.nodes:
        if other == edge:
            continue
        d = dests.get(f"{lab.address(other)}/128")
        if d is None or d["selected"] is None:
            problems.append(f"{edge}: {other} unreachable")
            continue
        if lab.site_of(other) in (None, site) or other.startswith("relay"):
            continue  # same site or a relay itself: not carried by a relay
        if lab.neighbour_name(d["selected"]["via"]) != "relay-1":
            problems.append(f"{edge}: {other} not via relay-1: {d['selected']}")
        margins = [s["margin"] for s in d["standby"] if lab.neighbour_name(s["via"]) == "relay-2"]
        if not margins or margins[0] <= 0:
            problems.append(f"{edge}: {other} has no standby via relay-2: {d['standby']}")
    return problems


def test_status_json_shows_relay_and_standby_on_every_edge(release_lab) -> None:
    """Every edge: relay-1 carries the other site, relay-2 stands by with a positive margin.

    A test before this one may have restarted a relay: its standby routes take a
    few seconds to come back, so the condition is awaited (bounded), then asserted.
    """
    lab = release_lab
    last: list[str] = []

    def right() -> bool:
        last[:] = [p for edge in ("edge-a", "edge-b") for p in _status_problems(lab, edge)]
        return not last

    deadline = time.monotonic() + 60
    while not right() and time.monotonic() < deadline:
        time.sleep(1)
    assert not last, last


def _kernel_switches(ns: str) -> LineReader:
    return spawn(["ip", "netns", "exec", ns, "ip", "-6", "monitor", "route"])


_ROUTE_RE = re.compile(r"^(?:Deleted )?(\S+) via (\S+) dev (\S+)")


def _switch_times(reader: LineReader, prefix: str, dev: str) -> list[float]:
    """Arrival times of kernel route updates for ``prefix`` through ``dev``."""
    host = prefix.split("/")[0]
    times = []
    for t, line in reader.lines:
        m = _ROUTE_RE.match(line)
        if (
            m
            and m.group(1) in (host, prefix)
            and m.group(3) == dev
            and not line.startswith("Deleted")
        ):
            times.append(t)
    return times


def test_watch_reports_failover_and_back_during_silent_relay_outage(release_lab, tmp_path) -> None:
    lab = release_lab
    edge = "edge-a"
    before = dump_once(lab.socket_path(edge))
    # The destinations relay-1 carries now and that have a standby elsewhere.
    via_relay1 = {}
    relay1 = f"{lab.address('relay-1')}/128"  # relay-1 itself just becomes unreachable
    for d in before.destinations():
        sel = d.selected
        if d.prefix == relay1 or sel is None or lab.neighbour_name(sel.via) != "relay-1":
            continue
        standby = [r for r in d.standby if lab.neighbour_name(r.via) == "relay-2"]
        if standby:
            via_relay1[d.prefix] = (sel.interface, standby[0].interface)
    assert via_relay1, "nothing went through relay-1 before the outage"

    kernel = _kernel_switches(lab.node(edge).namespace)
    watch = spawn([*MESHTUI, "watch", "--socket", lab.socket_path(edge), "--json"])
    recording = tmp_path / "outage.rec"
    record = spawn([*MESHTUI, "record", "--socket", lab.socket_path(edge), "-o", str(recording)])
    try:
        wait_for(lambda: any(e["type"] == "connected" for e in json_events(watch)), 15, "watch")
        lab.fail_relay("relay-1")
        try:

            def failed_over() -> bool:
                seen = {
                    e["prefix"]
                    for e in json_events(watch)
                    if e["type"] == "failover" and lab.neighbour_name(e["from"]["via"]) == "relay-1"
                }
                return set(via_relay1) <= seen

            wait_for(failed_over, 30, "a failover event for every destination via relay-1")
        finally:
            lab.heal_relay("relay-1")

        def back() -> bool:
            seen = {
                e["prefix"]
                for e in json_events(watch)
                if e["type"] == "failover" and lab.neighbour_name(e["to"]["via"]) == "relay-1"
            }
            return set(via_relay1) <= seen

        try:
            wait_for(back, 90, "failover events back to relay-1 after heal")
        except AssertionError:
            seen = [
                (e["type"], e.get("prefix"), e.get("to", {}).get("via"))
                for e in json_events(watch)
                if e["type"] not in ("metric_changed",)
            ]
            raise AssertionError(f"expected back: {sorted(via_relay1)}; events: {seen}") from None
        time.sleep(0.5)  # let ip monitor's lines arrive
    finally:
        stderr = watch.stop()
        record_err = record.stop()
        kernel.stop()
    assert "Traceback" not in stderr
    assert "Traceback" not in record_err and recording.exists(), record_err

    events = json_events(watch)
    away = {}
    for e in events:
        if e["type"] == "failover" and lab.neighbour_name(e["from"]["via"]) == "relay-1":
            away.setdefault(e["prefix"], e)
    lags = []
    for prefix, (old_if, new_if) in via_relay1.items():
        e = away[prefix]
        assert lab.neighbour_name(e["to"]["via"]) == "relay-2"
        assert (e["from"]["interface"], e["to"]["interface"]) == (old_if, new_if)
        assert e["to"]["metric"] < 65535
        switches = [t for t in _switch_times(kernel, prefix, new_if) if t <= e["time"] + 1.0]
        assert switches, f"no kernel route switch of {prefix} to {new_if} seen"
        lag = e["time"] - switches[-1]
        lags.append(lag)
        assert abs(lag) < 1.0, f"{prefix}: event {lag:+.3f} s from babeld's kernel switch"
    print(f"failover event lag after the kernel switch: max {max(lags) * 1000:.1f} ms")

    # The recording replays to the same failovers, at once and without babeld.
    replay = subprocess.run(
        [*MESHTUI, "watch", "--replay", str(recording), "--speed", "0", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replay.returncode == 0, replay.stderr
    replayed = [json.loads(line) for line in replay.stdout.splitlines()]
    live_failovers = [
        (e["prefix"], e["from"]["via"], e["to"]["via"]) for e in events if e["type"] == "failover"
    ]
    replay_failovers = [
        (e["prefix"], e["from"]["via"], e["to"]["via"]) for e in replayed if e["type"] == "failover"
    ]
    assert replay_failovers == live_failovers


async def _models_agree(session, socket_path: str, timeout: float) -> None:
    """Wait until the session's model equals a fresh dump (babeld settles within seconds)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            fresh: NodeModel = await asyncio.to_thread(dump_once, socket_path)
        except ConnectError:
            await asyncio.sleep(0.2)
            continue
        mine, theirs = session.model.table_state(), fresh.table_state()
        if mine == theirs:
            return
        last = {k: (mine[k] ^ theirs[k]) for k in mine if mine[k] != theirs[k]}
        await asyncio.sleep(0.3)
    raise AssertionError(f"the model never matched a fresh dump; last difference: {last}")


async def test_babeld_restart_under_watch(release_lab) -> None:
    lab = release_lab
    edge = "edge-b"
    sock = lab.socket_path(edge)
    watch = spawn([*MESHTUI, "watch", "--socket", sock, "--json"])
    events: list = []
    session = local_source(sock, name=edge).session(
        on_events=lambda _n, evs: events.extend(evs), backoff=(0.1, 1.0)
    )
    runner = asyncio.create_task(session.run())
    try:
        assert await session.wait_live(15)
        await asyncio.to_thread(
            wait_for, lambda: any(e["type"] == "connected" for e in json_events(watch)), 15, "watch"
        )
        await asyncio.to_thread(lab.kill_babeld, edge)
        await asyncio.to_thread(lab.start_babeld, edge)
        await asyncio.to_thread(
            wait_for,
            lambda: {"disconnected", "resynced"} <= {e["type"] for e in json_events(watch)},
            30,
            "watch to report the disconnect and the reconnect",
        )
        assert await session.wait_live(30)
        await asyncio.to_thread(lab.wait_converged, 120)
        await _models_agree(session, sock, 30)
        assert session.disconnects == 1 and session.connects == 2
        types = [e.type.value for e in events]
        assert types.index("disconnected") < types.index("resynced")
        assert watch.proc.poll() is None, "watch exited after the restart"
    finally:
        await session.stop()
        await runner
        stderr = watch.stop()
    assert "Traceback" not in stderr


async def test_model_tracks_outage_and_heal_exactly(healthy_lab) -> None:
    """Stream through a whole outage and heal; the model must equal a fresh dump after."""
    lab = healthy_lab
    sock = lab.socket_path("edge-a")
    session = local_source(sock, name="edge-a").session()
    runner = asyncio.create_task(session.run())
    try:
        assert await session.wait_live(15)
        await asyncio.to_thread(lab.fail_relay, "relay-2")
        await asyncio.sleep(4)
        await _models_agree(session, sock, 20)
        await asyncio.to_thread(lab.heal_relay, "relay-2")
        await asyncio.to_thread(lab.wait_converged, 120)
        await _models_agree(session, sock, 20)
        assert session.model.stats.errors == 0
        assert session.model.stats.noops > 0  # babeld's repeats were recognised as such
    finally:
        await session.stop()
        await runner
        if lab.relay_failed("relay-2"):
            lab.heal_relay("relay-2")
