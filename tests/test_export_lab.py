"""``meshtui export`` scraped by a real Prometheus server, against the lab (issue 14).

A Prometheus started by the test (its own config and data dir, loopback, scrape
and rule evaluation every second, the shipped alert rules) scrapes
``meshtui export --inventory`` of the lab: edge-a's inter-site destinations
cross relay-1; after relay-1's silent outage they cross relay-2,
``increase(meshtui_failovers_total[1m]) > 0``, and the failover and
degrading alerts fire. ``promtool check metrics`` passes on the exposition.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from meshtui.commands.export import rules_text

pytestmark = pytest.mark.lab

INTER_SITE = {"edge-b", "srv-b1"}  # what edge-a reaches through a relay


def _need(tool: str) -> str:
    path = shutil.which(tool, path=f"{os.environ.get('PATH', '')}:/usr/bin:/usr/sbin")
    if path is None:
        pytest.skip(f"{tool} is not installed (Debian package prometheus)")
    return path


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 10.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only
        return resp.read().decode("utf-8")


class Child:
    """A child process whose stderr is drained (and kept) by a thread; always reaped."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None):
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._thread.join(5)

    def tail(self) -> str:
        return "\n".join(self.lines[-20:])


@contextlib.contextmanager
def exporter(lab: Any) -> Iterator[str]:
    """``meshtui export --inventory`` of the lab on a free loopback port; yields its URL."""
    env = dict(os.environ)
    env["MESHTUI_SSH_KNOWN_HOSTS"] = str(lab.known_hosts)
    env["MESHTUI_SSH_KEY"] = str(lab.ssh_key)
    env["MESHTUI_SSH_CONFIG"] = "none"
    child = Child(
        [sys.executable, "-m", "meshtui", "export", "--inventory", str(lab.inventory_path),
         "--listen", "127.0.0.1:0"],
        env=env,
    )  # fmt: skip
    try:

        def listening() -> str | None:
            assert child.proc.poll() is None, f"export exited: {child.tail()}"
            for line in child.lines:
                m = re.search(r"serving (http://\S+)/metrics", line)
                if m:
                    return m.group(1)
            return None

        yield wait_for(listening, 30, "meshtui export to listen")
    finally:
        child.stop()


class Prometheus:
    """A Prometheus server of the test's own: temp config and data, loopback, 1 s cycles."""

    def __init__(self, tmp: Path, target: str) -> None:
        binary = _need("prometheus")
        (tmp / "alerts.rules.yml").write_text(rules_text(), encoding="utf-8")
        (tmp / "prometheus.yml").write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "rule_files: [alerts.rules.yml]\n"
            "scrape_configs:\n"
            "  - job_name: meshtui\n"
            "    static_configs:\n"
            f"      - targets: ['{target}']\n",
            encoding="utf-8",
        )
        self.url = f"http://127.0.0.1:{free_port()}"
        self.child = Child(
            [binary, f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address={self.url.removeprefix('http://')}",
             "--log.level=warn"],
            cwd=tmp,
        )  # fmt: skip

    def ready(self) -> bool:
        assert self.child.proc.poll() is None, f"prometheus exited: {self.child.tail()}"
        try:
            http_get(f"{self.url}/-/ready", timeout=2)
        except OSError:
            return False
        return True

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        body = json.loads(http_get(f"{self.url}/api/v1/{path}?{query}"))
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's series (each a dict with ``metric`` and ``value``)."""
        return self.api("query", query=expr)["result"]

    def firing(self, alertname: str) -> list[dict[str, Any]]:
        """The alerts of that name Prometheus' API reports firing now."""
        alerts = self.api("alerts")["alerts"]
        return [
            a for a in alerts if a["labels"]["alertname"] == alertname and a["state"] == "firing"
        ]


def _dests(series: list[dict[str, Any]]) -> set[str]:
    return {s["metric"].get("dest", "") for s in series}


def test_prometheus_sees_edge_a_fail_over_from_relay_1_to_relay_2(
    healthy_lab: Any, tmp_path: Path
) -> None:
    promtool = _need("promtool")
    lab = healthy_lab
    with exporter(lab) as url:
        exposition = wait_for(
            lambda: (
                (text := http_get(f"{url}/metrics")).count("meshtui_node_up{") == 6
                and 'meshtui_node_up{node="relay-2"} 1.0' in text
                and text
            ),
            60,
            "all six nodes in the exposition",
        )
        check = subprocess.run(
            [promtool, "check", "metrics"], input=exposition, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr

        prom = Prometheus(tmp_path, url.removeprefix("http://"))
        try:
            wait_for(prom.ready, 60, "Prometheus to be ready")
            up = wait_for(lambda: len(prom.query("meshtui_node_up == 1")) == 6, 60, "six nodes up")
            assert up
            on_r1 = 'meshtui_selected_route_info{node="edge-a",relay="relay-1"}'
            wait_for(
                lambda: INTER_SITE <= _dests(prom.query(on_r1)), 60, "edge-a's paths on relay-1"
            )
            assert not INTER_SITE & _dests(
                prom.query('meshtui_selected_route_info{node="edge-a",relay="relay-2"}')
            )
            # every destination's counter exists from the start (0), so increase() sees a change
            zero = prom.query('meshtui_failovers_total{node="edge-a",dest="srv-b1"}')
            assert [s["value"][1] for s in zero] == ["0"]
            assert not prom.firing("MeshtuiFailover")

            lab.fail_relay("relay-1")
            try:
                on_r2 = 'meshtui_selected_route_info{node="edge-a",relay="relay-2"}'
                wait_for(
                    lambda: INTER_SITE <= _dests(prom.query(on_r2)), 60, "edge-a's paths on relay-2"
                )
                moved = wait_for(
                    lambda: prom.query('increase(meshtui_failovers_total{node="edge-a"}[1m]) > 0'),
                    30,
                    "increase(meshtui_failovers_total[1m]) > 0",
                )
                assert INTER_SITE <= _dests(moved)

                def failover_alerts() -> set[str] | bool:
                    firing = prom.firing("MeshtuiFailover")
                    dests = {a["labels"]["dest"] for a in firing if a["labels"]["node"] == "edge-a"}
                    return INTER_SITE <= dests and dests

                wait_for(failover_alerts, 30, "the failover alert to fire for edge-a's paths")
                # degrading comes first and lasts until babeld drops the neighbour: read
                # the alert's history (ALERTS) rather than hoping to catch it in /alerts
                degrading = wait_for(
                    lambda: prom.query(
                        'max_over_time(ALERTS{alertname="MeshtuiRelayDegrading",'
                        'alertstate="firing",node="edge-a"}[5m])'
                    ),
                    30,
                    "the relay-degrading alert to have fired on edge-a",
                )
                assert {s["metric"]["neighbour"] for s in degrading} == {"relay-1"}
            finally:
                lab.heal_relay("relay-1")
        finally:
            prom.child.stop()


def _values(url: str, name: str) -> dict[str, float]:
    """``{node: value}`` of one metric, from a scrape."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(http_get(f"{url}/metrics")):
        for s in family.samples:
            if s.name == name:
                out[s.labels["node"]] = s.value
    return out


def babeld_clients(lab: Any, node: str) -> int:
    """Connections babeld on ``node`` holds on its control socket (it serves at most 4)."""
    res = lab.exec(node, ["ss", "-xpH"])
    sock = lab.socket_path(node)
    return sum(
        1
        for line in res.stdout.splitlines()
        if "ESTAB" in line and '"babeld"' in line and f" {sock} " in line
    )


def test_one_connection_per_node_whatever_the_scrapes_and_reconnect(healthy_lab: Any) -> None:
    """Scrapes read the live models (no dump, no connection per scrape); a babeld
    killed and started again is down, then up with a resync counted."""
    lab = healthy_lab
    with exporter(lab) as url:
        wait_for(
            lambda: (up := _values(url, "meshtui_node_up")) and set(up.values()) == {1.0} and up,
            60,
            "every node live",
        )
        assert {n: babeld_clients(lab, n) for n in lab.nodes} == dict.fromkeys(lab.nodes, 1)
        for _ in range(20):
            http_get(f"{url}/metrics")
        assert {n: babeld_clients(lab, n) for n in lab.nodes} == dict.fromkeys(lab.nodes, 1)
        assert _values(url, "meshtui_resyncs_total") == dict.fromkeys(lab.nodes, 0.0)

        lab.kill_babeld("srv-a1")
        try:
            wait_for(
                lambda: _values(url, "meshtui_node_up").get("srv-a1") == 0.0, 30, "srv-a1 down"
            )
            lab.start_babeld("srv-a1")
            wait_for(
                lambda: (
                    _values(url, "meshtui_resyncs_total").get("srv-a1", 0) >= 1
                    and _values(url, "meshtui_node_up").get("srv-a1") == 1.0
                ),
                60,
                "srv-a1 up again, resynced",
            )
        finally:
            if lab.babeld_pid("srv-a1") is None:
                lab.start_babeld("srv-a1")
        assert babeld_clients(lab, "srv-a1") == 1
        assert set(_values(url, "meshtui_scrape_errors_total").values()) == {0.0}
