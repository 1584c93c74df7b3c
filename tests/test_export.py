"""``meshtui export`` without the lab: metrics of a real recorded outage, labels, rules, CLI.

The lab test (tests/test_export_lab.py) has a real Prometheus scrape a real mesh;
here the same exporter reads the shipped recording of a real relay outage
(edge-a, babeld 1.12.1), and the shipped alert rules go through ``promtool``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from meshtui.commands.export import (
    Exporter,
    PrometheusCollector,
    exposition,
    registry_for,
    rules_text,
)
from meshtui.core import foresight
from meshtui.core.events import Event, EventType
from meshtui.core.inventory import load_inventory
from meshtui.core.metrics import METRICS, Counters, NodeReading, collect
from meshtui.core.model import NodeModel
from meshtui.core.names import Names
from meshtui.core.sanitize import inert
from meshtui.transport.held import demo_recording
from meshtui.transport.sources import replay_source

ROOT = Path(__file__).resolve().parent.parent
RULES_TEST = Path(__file__).parent / "data" / "export" / "alerts_test.yml"
LAB_INVENTORY = Path(__file__).parent / "data" / "inventories" / "lab.toml"
MESHTUI = [sys.executable, "-m", "meshtui"]


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    return path


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The exposition parsed back: {sample name: [(labels, value)]}."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


@contextlib.asynccontextmanager
async def replayed_exporter(**kwargs: Any) -> AsyncIterator[tuple[Exporter, list[Event]]]:
    """An exporter whose one session has replayed the shipped outage to its end (at once).

    The session stays live (a replay's channel stays open) until the block ends.
    """
    source = replay_source(demo_recording(), speed=0)
    exporter = Exporter(Names(None), single=True, **kwargs)
    seen: list[Event] = []

    def on_events(node: str, events: list[Event]) -> None:
        exporter.events(node, events)
        seen.extend(events)

    session = source.session(on_events=on_events)
    exporter.sessions[source.name] = session
    task = asyncio.create_task(session.run())
    try:
        assert source.replay is not None
        await asyncio.wait_for(source.replay.finished.wait(), 30)
        assert await session.wait_live(5)
        exporter.loop = asyncio.get_running_loop()
        yield exporter, seen
    finally:
        await session.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_recorded_outage_as_metrics() -> None:
    async with replayed_exporter() as (exporter, seen):
        session = next(iter(exporter.sessions.values()))
        model = session.model
        text = exposition(registry_for(exporter.families))
    got = samples(text)
    node = model.node.host
    assert node  # a single socket's node label is babeld's host
    assert {labels["node"] for rows in got.values() for labels, _ in rows} == {node}

    # failovers: as many as the events said, per destination; every destination has its series
    failovers: dict[str, int] = {}
    for e in seen:
        if e.type is EventType.FAILOVER and e.prefix:
            failovers[e.prefix] = failovers.get(e.prefix, 0) + 1
    assert failovers and max(failovers.values()) >= 2  # out to relay-2 and back
    own = {x.prefix for x in model.xroutes.values()}
    dests = {d.prefix for d in model.destinations()} - own
    counted = {labels["prefix"]: v for labels, v in got["meshtui_failovers_total"]}
    assert counted == {p: float(failovers.get(p, 0)) for p in dests}

    # the selected routes, with babeld's next hop and interface
    selected = {
        labels["prefix"]: (labels["via"], labels["interface"])
        for labels, v in got["meshtui_selected_route_info"]
        if v == 1
    }
    assert selected == {
        d.prefix: (d.selected.via, d.selected.interface)
        for d in model.destinations()
        if d.selected is not None and d.prefix not in own
    }
    reachable = {labels["prefix"]: v for labels, v in got["meshtui_destination_reachable"]}
    assert reachable == dict.fromkeys(dests, 1.0)

    # neighbours: OpenWrt's names; rtt in seconds (babeld prints milliseconds)
    rtt = {labels["address"]: v for labels, v in got["babel_neighbour_rtt_seconds"]}
    for neigh in model.neighbours.values():
        if neigh.rtt is not None:
            assert rtt[neigh.address] == pytest.approx(neigh.rtt / 1000)
    reach = {labels["address"]: v for labels, v in got["babel_neighbour_hello_reach_ratio"]}
    assert reach == {n.address: n.heard / 16 for n in model.neighbours.values()}
    info = got["meshtui_node_info"][0][0]
    assert info["version"] == "babeld-1.12.1" and info["router_id"] == model.node.my_id
    assert got["meshtui_node_up"] == [({"node": node}, 1.0)]
    # detection times: foresight's, for the learned hello intervals
    detection = {labels["interface"]: v for labels, v in got["meshtui_detection_seconds"]}
    assert set(detection) == {i.name for i in model.interfaces.values()}
    for iface, value in detection.items():
        hello, _ = model.interface_hello(iface)
        assert hello is not None
        expected = foresight.detection_time(hello, model.shortest_hello()).expected
        assert value == pytest.approx(expected)
    assert "babel_route_metric" not in got  # opt-in
    assert got["meshtui_scrape_errors_total"] == [({"node": node}, 0.0)]


async def test_route_metrics_are_opt_in_and_promtool_accepts_the_exposition() -> None:
    async with replayed_exporter(route_metrics=True) as (exporter, _):
        model = next(iter(exporter.sessions.values())).model
        text = exposition(registry_for(exporter.families))
    got = samples(text)
    assert len(got["babel_route_metric"]) == len(model.routes)
    res = subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr


async def test_degrading_is_one_while_foresight_warns() -> None:
    """Mid-outage (the recording cut just after relay-1 went silent), relay-1 is degrading."""
    async with replayed_exporter() as (exporter, seen):
        model = next(iter(exporter.sessions.values())).model
        got = samples(exposition(registry_for(exporter.families)))
    warned = [e for e in seen if e.type is EventType.DEGRADING]
    assert warned
    # at the end of the recording relay-1 is back: nothing degrading
    assert {labels["address"]: v for labels, v in got["meshtui_neighbour_degrading"]} == {
        n.address: 0.0 for n in model.neighbours.values()
    }
    # the same neighbour, silent: degrading
    neigh = model.neighbours[
        next(k for k, n in model.neighbours.items() if n.address == "fe80::ff:1")
    ]
    neigh.degrading_since = model.last_time
    got = samples(exposition(registry_for(exporter.families)))
    flagged = {labels["address"] for labels, v in got["meshtui_neighbour_degrading"] if v == 1}
    assert flagged == {"fe80::ff:1"}


def _evil_model() -> NodeModel:
    """A babeld whose greeting and interface names carry escapes and newlines."""
    m = NodeModel()
    now = time.time()
    for line in (
        "BABEL 1.0",
        "version babeld-1.12.1\x1b]0;owned\x07",
        "host evil\x1b[2Jhost\u202e",
        "my-id 02:00:00:00:00:00:00:01",
        "ok",
        "add interface wg\x1b[31mx up true ipv6 fe80::1",
        "add neighbour 1 address fe80::2 if wg\x1b[31mx reach ffff ureach 0000 rxcost 96 "
        "txcost 96 cost 96",
    ):
        m.feed(line, now)
    m.commit(now)
    return m


def test_label_values_go_through_the_sanitiser() -> None:
    model = _evil_model()
    assert model.node.host.startswith("evil\x1b")  # the model keeps what babeld said
    families = collect([NodeReading("n\x1b[1m", model, True, Counters())], Names(None), mesh=False)
    text = exposition(registry_for(lambda: families))
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    got = samples(text)
    info = got["meshtui_node_info"][0][0]
    assert info["host"] == inert(model.node.host) == "evil\\x1b[2Jhost\\u202e"
    assert info["version"] == inert(model.node.version)
    assert info["node"] == inert("n\x1b[1m")
    ifaces = {labels["interface"] for labels, _ in got["babel_neighbour_cost"]}
    assert ifaces == {"wg\\x1b[31mx"}


async def test_hmac_keys_never_appear() -> None:
    """With an inventory that holds a key (value file), no metric shows its value."""
    inv = load_inventory(LAB_INVENTORY)
    key_file = inv.keys["site-link"].value_file
    assert key_file is not None
    secret = key_file.read_text().strip()
    assert len(secret) >= 32
    async with replayed_exporter(route_metrics=True) as (exporter, _):
        exporter.names = Names(inv)
        exporter.single = False
        text = exposition(registry_for(exporter.families))
    assert "meshtui_node_up" in text
    assert secret not in text and secret.lower() not in text.lower()


def test_a_broken_node_counts_a_scrape_error_and_the_others_are_served() -> None:
    good = _evil_model()
    broken = NodeModel()
    broken.node.host = "b"
    broken.neighbours = None  # type: ignore[assignment]  # a bug in the model
    counters = Counters()
    families = collect(
        [
            NodeReading("ok", good, True, Counters()),
            NodeReading("bad", broken, True, counters),
        ],
        Names(None),
        mesh=False,
    )
    got = samples(exposition(registry_for(lambda: families)))
    assert counters.scrape_errors == 1
    errors = {labels["node"]: v for labels, v in got["meshtui_scrape_errors_total"]}
    assert errors == {"ok": 0.0, "bad": 1.0}
    assert {labels["node"] for labels, _ in got["meshtui_node_info"]} == {"ok"}
    assert {labels["node"]: v for labels, v in got["meshtui_node_up"]} == {"ok": 1.0, "bad": 1.0}


def test_the_collector_yields_counters_with_total_once() -> None:
    families = collect([NodeReading("n", _evil_model(), True, Counters())], Names(None))
    kinds = {m.name: m.type for m in PrometheusCollector(lambda: families).collect()}
    assert kinds["meshtui_failovers"] == "counter" and kinds["meshtui_node_up"] == "gauge"
    text = exposition(registry_for(lambda: families))
    assert "meshtui_resyncs_total_total" not in text and "meshtui_resyncs_total{" in text


# ------------------------------------------------------------------ rules


def test_rules_pass_promtool_check_and_unit_tests(tmp_path: Path) -> None:
    tool = promtool()
    out = subprocess.run(
        [*MESHTUI, "export", "--rules"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == rules_text()
    (tmp_path / "alerts.rules.yml").write_text(out.stdout)
    shutil.copy(RULES_TEST, tmp_path / "alerts_test.yml")
    check = subprocess.run(
        [tool, "check", "rules", "alerts.rules.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run(
        [tool, "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert test.returncode == 0, test.stdout + test.stderr


def test_every_rule_has_promtool_tests_that_expect_it_to_fire() -> None:
    rules = set(re.findall(r"^\s*- alert: (\w+)", rules_text(), re.M))
    assert len(rules) == 8
    tests = RULES_TEST.read_text()
    firing = set()
    for block in re.split(r"\n\s*- eval_time:", tests)[1:]:
        name = re.search(r"alertname: (\w+)", block)
        if name and "exp_labels" in block:
            firing.add(name.group(1))
    assert firing == rules


def test_slow_detection_rule_uses_foresights_threshold() -> None:
    (threshold,) = re.findall(r"meshtui_detection_seconds > ([\d.]+)", rules_text())
    assert float(threshold) == foresight.SLOW_DETECTION


def test_every_metric_in_the_rules_exists() -> None:
    used = set(re.findall(r"\b((?:meshtui|babel)_\w+)", rules_text()))
    assert used and used <= set(METRICS)


def test_readme_documents_every_metric_and_alert() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Metrics and alerts", 1)[1].split("\n## ", 1)[0]
    for name in METRICS:
        assert f"`{name}" in section, name
    for alert in re.findall(r"^\s*- alert: (\w+)", rules_text(), re.M):
        assert alert in section, alert


# ------------------------------------------------------------------ CLI


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MESHTUI, "export", *args], capture_output=True, text=True, timeout=timeout
    )


def _one_line_error(res: subprocess.CompletedProcess[str], *words: str) -> None:
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("meshtui: "), res.stderr
    for word in words:
        assert word in lines[0]


def test_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    _one_line_error(run_cli("--listen", "nowhere"), "--listen nowhere", "ADDR:PORT")
    _one_line_error(run_cli("--listen", "[::1]:99999"), "ADDR:PORT")
    _one_line_error(
        run_cli("--textfile", str(tmp_path / "missing"), "--socket", "/x"), "no such directory"
    )
    _one_line_error(
        run_cli("--textfile", str(tmp_path), "--interval", "0", "--socket", "/x"), "--interval"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        res = run_cli("--replay", str(demo_recording()), "--listen", f"127.0.0.1:{port}")
    _one_line_error(res, f"127.0.0.1:{port}", "in use")


def test_textfile_mode_writes_node_exporters_format_atomically(tmp_path: Path) -> None:
    res = run_cli(
        "--replay", str(demo_recording()), "--speed", "5",
        "--textfile", str(tmp_path), "--interval", "0.2", "--duration", "3",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meshtui.prom"]  # no temp file left
    text = (tmp_path / "meshtui.prom").read_text()
    got = samples(text)
    assert got["meshtui_node_up"][0][1] == 1.0
    assert "process_cpu_seconds_total" not in text  # node_exporter has its own
    if shutil.which("promtool"):
        check = subprocess.run(
            ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr


def test_http_serves_metrics_of_a_replay() -> None:
    proc = subprocess.Popen(
        [*MESHTUI, "export", "--replay", str(demo_recording()), "--listen", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        m = re.search(r"serving (http://127\.0\.0\.1:\d+)/metrics", line)
        assert m, line
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(f"{m.group(1)}/metrics", timeout=10) as resp:
                ctype = resp.headers["Content-Type"]
                text = resp.read().decode()
            if 'meshtui_node_up{node="edge-a"} 1.0' in text or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert ctype.startswith("text/plain")
        assert 'meshtui_node_up{node="edge-a"} 1.0' in text  # as the recording names it
        assert "process_cpu_seconds_total" in text
        # the recording's header names the nodes: destinations and next hops read as names
        got = samples(text)
        selected = {
            labels["dest"]: labels["next_hop"] for labels, _ in got["meshtui_selected_route_info"]
        }
        assert {"edge-b", "srv-b1", "relay-1", "relay-2", "srv-a1"} <= set(selected)
        assert selected["srv-a1"] == "srv-a1"
    finally:
        proc.terminate()
        proc.wait(15)


def test_a_node_not_live_is_down_and_keeps_its_counts() -> None:
    counters = Counters()
    counters.observe(
        [
            Event(EventType.FAILOVER, 1.0, prefix="fd00::1/128"),
            Event(EventType.METRIC_CHANGED, 1.5, prefix="fd00::1/128"),
            Event(EventType.FAILOVER, 2.0, prefix="fd00::1/128"),
            Event(EventType.RESYNCED, 3.0),
        ]
    )
    families = collect([NodeReading("x", None, False, counters)], Names(None))
    got = samples(exposition(registry_for(families.copy)))
    assert got["meshtui_node_up"] == [({"node": "x"}, 0.0)]
    assert got["meshtui_resyncs_total"] == [({"node": "x"}, 1.0)]
    assert got["meshtui_failovers_total"] == [
        ({"node": "x", "prefix": "fd00::1/128", "dest": ""}, 2.0)
    ]
    assert "meshtui_node_info" not in got


def test_a_scrape_the_loop_cannot_answer_serves_nothing_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import meshtui.commands.export as export

    monkeypatch.setattr(export, "SCRAPE_TIMEOUT", 0.2)
    loop = asyncio.new_event_loop()  # never run: as stuck as a loop gets
    try:
        exporter = Exporter(Names(None))
        exporter.loop = loop
        assert exporter.families_threadsafe() == []
    finally:
        loop.close()
    assert exporter.families_threadsafe() == []  # closed: nothing, quietly
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no answer from the sessions' loop" in err
