"""Storm benchmark: the dashboard's key-to-screen latency under 2,000 events/s over 5,000 routes.

Run from a clone (no root needed)::

    python tests/benchmarks/bench_storm.py [--routes 5000] [--rate 2000] [--presses 40]

What it does, all in one run:

* serves a babeld control socket (unix, in a thread) that greets, answers
  ``monitor`` with a dump of ``--routes`` routes (two per destination, via two
  neighbours), and then — during the storm phase — streams ``--rate`` route
  lines per second, each a real change (the selected route's metric moves;
  every 200th line swaps the selected route: a failover). Like babeld, it
  cuts the client off when a write would block for more than 100 ms;
* runs ``meshtui --socket PATH --stats FILE`` in a pseudo-terminal of
  160 × 48 (the real terminal driver, the real screen output), reading the
  terminal's output continuously;
* presses view keys (1–5, in turn) and measures the time from the key's byte
  reaching the terminal to the new view's title appearing in the terminal's
  output: first with babeld quiet (the baseline), then under the storm;
* quits and reads the dashboard's counters: lines and events received,
  repaints, rows and cells updated, log lines not drawn.

Prints the figures; asserts nothing (see tests/test_ui*.py for behaviour).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import pty
import queue
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CUT_OFF = 0.1  # babeld shuts a client whose write blocks this long (s)
FAILOVER_EVERY = 200
VIEWS = [
    ("3", b"Routes ("),
    ("1", b"Destinations ("),
    ("2", b"Neighbours ("),
    ("5", b"Events ("),
    ("4", b"babeld interfaces ("),
]


# --------------------------------------------------------------------- a stormy babeld


@dataclass
class ServerStats:
    """What the fake babeld saw."""

    connections: int = 0
    cut_offs: int = 0
    lines_sent: int = 0
    storm_lines: int = 0
    max_block: float = 0.0
    storm_seconds: float = 0.0
    cut_phases: list[str] = field(default_factory=list)


@dataclass
class _Route:
    id: str
    prefix: str
    router_id: str
    via: str
    interface: str
    metric: int
    installed: bool

    def line(self, kind: str = "change") -> str:
        return (
            f"{kind} route {self.id} prefix {self.prefix} from ::/0 installed "
            f"{'yes' if self.installed else 'no'} id {self.router_id} metric {self.metric} "
            f"refmetric {self.metric - 96} via {self.via} if {self.interface}"
        )


class StormyBabeld(threading.Thread):
    """A babeld control socket that can storm (one client at a time, like a full babeld)."""

    def __init__(self, path: str, routes: int, rate: float) -> None:
        super().__init__(daemon=True, name="stormy-babeld")
        self.path = path
        self.rate = rate
        self.stats = ServerStats()
        self.storming = threading.Event()
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self._injected: queue.Queue[tuple[bytes, list[float], threading.Event]] = queue.Queue()
        self.routes: list[tuple[_Route, _Route]] = []
        for i in range(routes // 2):
            prefix = f"fd42:1::{i + 1:x}/128"
            rid = f"02:00:00:00:00:{(i >> 8) & 0xFF:02x}:{i & 0xFF:02x}:01"
            a = _Route(f"5600{2 * i:08x}", prefix, rid, "fe80::1", "wg-a", 256, True)
            b = _Route(f"5600{2 * i + 1:08x}", prefix, rid, "fe80::2", "wg-b", 352, False)
            self.routes.append((a, b))

    def _dump(self) -> bytes:
        lines = [
            "add interface wg-a up true ipv6 fe80::100",
            "add interface wg-b up true ipv6 fe80::100",
            "add neighbour 5700000001 address fe80::1 if wg-a reach ffff ureach 0000 rxcost 96 "
            "txcost 96 rtt 1.000 rttcost 0 cost 96",
            "add neighbour 5700000002 address fe80::2 if wg-b reach ffff ureach 0000 rxcost 96 "
            "txcost 96 rtt 1.000 rttcost 0 cost 96",
            "add xroute fd42:1::ffff/128-::/0 prefix fd42:1::ffff/128 from ::/0 metric 0",
        ]
        for a, b in self.routes:
            lines.append(a.line("add"))
            lines.append(b.line("add"))
        lines.extend(self.extra_dump())
        lines.append("ok")
        return ("\n".join(lines) + "\n").encode()

    def extra_dump(self) -> list[str]:
        """More dump lines (subclasses: routes of their own)."""
        return []

    def inject(self, data: bytes, timeout: float = 5.0) -> float | None:
        """Send ``data`` to the client between storm writes; when its first byte left
        (``time.perf_counter()``), or None when no client took it in time."""
        holder: list[float] = []
        done = threading.Event()
        self._injected.put((data, holder, done))
        done.wait(timeout)
        return holder[0] if holder else None

    def _send_injected(self, conn: socket.socket) -> bool:
        while True:
            try:
                data, holder, done = self._injected.get_nowait()
            except queue.Empty:
                return True
            holder.append(time.perf_counter())
            ok = self._send(conn, data, "injected")
            done.set()
            if not ok:
                return False
            self.stats.lines_sent += data.count(b"\n")

    def _send(self, conn: socket.socket, data: bytes, phase: str = "storm") -> bool:
        """Write like babeld: give up (cut the client off) when blocked for more than 100 ms."""
        view = memoryview(data)
        while view:
            try:
                sent = conn.send(view)
            except BlockingIOError:
                started = time.monotonic()
                _, writable, _ = select.select([], [conn], [], CUT_OFF)
                blocked = time.monotonic() - started
                self.stats.max_block = max(self.stats.max_block, blocked)
                if not writable:
                    self.stats.cut_offs += 1
                    self.stats.cut_phases.append(phase)
                    return False
                continue
            except OSError:
                return False
            view = view[sent:]
        return True

    def run(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(self.path)
        server.listen(4)
        server.settimeout(0.2)
        self.ready.set()
        while not self.stopping.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            self.stats.connections += 1
            with conn:
                self._serve(conn)
        server.close()

    def _serve(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        greeting = (
            b"BABEL 1.0\nversion babeld-1.12.1\nhost storm\nmy-id 02:00:00:00:00:00:00:01\nok\n"
        )
        if not self._send(conn, greeting, "greeting"):
            return
        self.stats.lines_sent += greeting.count(b"\n")
        request = b""
        while b"\n" not in request and not self.stopping.is_set():
            readable, _, _ = select.select([conn], [], [], 0.2)
            if readable:
                try:
                    chunk = conn.recv(1024)
                except OSError:
                    return
                if not chunk:
                    return
                request += chunk
        dump = self._dump()
        if not self._send(conn, dump, "dump"):
            return
        self.stats.lines_sent += dump.count(b"\n")
        counter = 0
        started: float | None = None
        sent = 0
        storm_before = self.stats.storm_seconds
        while not self.stopping.is_set():
            readable, _, _ = select.select([conn], [], [], 0.005)
            if readable:
                try:
                    if not conn.recv(1024):
                        return
                except BlockingIOError:
                    pass
                except OSError:
                    return
            if not self._send_injected(conn):
                return
            if not self.storming.is_set():
                started = None
                continue
            now = time.monotonic()
            if started is None:
                started, sent = now, 0
            due = int((now - started) * self.rate) - sent
            if due <= 0:
                continue
            lines = []
            for _ in range(due):
                counter += 1
                a, b = self.routes[counter % len(self.routes)]
                if counter % FAILOVER_EVERY == 0:
                    a.installed, b.installed = b.installed, a.installed
                    lines.append((b if a.installed else a).line())
                    lines.append((a if a.installed else b).line())
                else:
                    sel = a if a.installed else b
                    sel.metric = sel.metric + 1 if sel.metric % 2 == 0 else sel.metric - 1
                    lines.append(sel.line())
            data = ("\n".join(lines) + "\n").encode()
            if not self._send(conn, data):
                return
            sent += due
            self.stats.lines_sent += len(lines)
            self.stats.storm_lines += len(lines)
            self.stats.storm_seconds = storm_before + (now - started)


# --------------------------------------------------------------------- the dashboard in a pty


class Terminal:
    """The dashboard in a pseudo-terminal; a thread drains its output."""

    def __init__(self, argv: list[str], env: dict[str, str], size: tuple[int, int]) -> None:
        self.master, slave = pty.openpty()
        cols, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.output = bytearray()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:
                return
            if not data:
                return
            with self.changed:
                self.output += data
                self.changed.notify_all()

    def mark(self) -> int:
        with self.lock:
            return len(self.output)

    def wait_for(self, marker: bytes, since: int, timeout: float) -> float | None:
        """Seconds until ``marker`` appears in the output after position ``since``, or None."""
        started = time.perf_counter()
        deadline = started + timeout
        with self.changed:
            while True:
                if self.output.find(marker, max(0, since - len(marker))) >= 0:
                    return time.perf_counter() - started
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self.changed.wait(left)

    def arrival(self, marker: bytes, since: int, timeout: float) -> float | None:
        """When (``time.perf_counter()``) ``marker`` appeared after position ``since``, or None."""
        deadline = time.perf_counter() + timeout
        with self.changed:
            while True:
                if self.output.find(marker, max(0, since - len(marker))) >= 0:
                    return time.perf_counter()
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self.changed.wait(left)

    def press(self, key: str, marker: bytes, timeout: float = 10.0) -> float | None:
        """Press ``key``; seconds until ``marker`` is on its way to the screen."""
        since = self.mark()
        started = time.perf_counter()
        os.write(self.master, key.encode())
        found = self.wait_for(marker, since, timeout)
        return None if found is None else time.perf_counter() - started

    def quit(self, timeout: float = 20.0) -> int:
        os.write(self.master, b"q")
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(5)


@dataclass
class Phase:
    """Key-to-screen latencies of one phase (seconds)."""

    name: str
    latencies: list[float] = field(default_factory=list)
    timeouts: int = 0
    by_key: dict[str, list[float]] = field(default_factory=dict)

    def per_view(self) -> str:
        """Median per view key (which view costs what)."""
        return "  ".join(
            f"{key}:{statistics.median(v) * 1000:.0f}" for key, v in sorted(self.by_key.items())
        )

    @property
    def median(self) -> float:
        """Median latency in ms (nan without a measurement)."""
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p95(self) -> float:
        """95th percentile latency in ms (nan without a measurement)."""
        if not self.latencies:
            return float("nan")
        ms = sorted(x * 1000 for x in self.latencies)
        return ms[min(len(ms) - 1, int(0.95 * len(ms)))]

    def line(self) -> str:
        if not self.latencies:
            return f"{self.name:<9} no measurement ({self.timeouts} timeouts)"
        top = max(self.latencies) * 1000
        return (
            f"{self.name:<9} n={len(self.latencies):<3} median {self.median:7.1f} ms   "
            f"p95 {self.p95:7.1f} ms   max {top:7.1f} ms   timeouts {self.timeouts}"
        )


def measure(term: Terminal, phase: Phase, presses: int) -> None:
    for i in range(presses):
        key, marker = VIEWS[i % len(VIEWS)]
        took = term.press(key, marker)
        if took is None:
            phase.timeouts += 1
        else:
            phase.latencies.append(took)
            phase.by_key.setdefault(key, []).append(took)
        time.sleep(0.05)  # a human does not press 20 keys a second; let a repaint land


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="key-to-screen latency under a babeld storm")
    parser.add_argument("--routes", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=2000.0, help="changed lines per second")
    parser.add_argument("--presses", type=int, default=40, help="key presses per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="storm seconds before measuring")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="meshtui-storm-"))
    sock_path = str(work / "babeld.sock")
    stats_path = work / "stats.json"
    server = StormyBabeld(sock_path, args.routes, args.rate)
    server.start()
    server.ready.wait(5)
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "XDG_CONFIG_HOME": str(work / "config"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    argv_app = [sys.executable, "-m", "meshtui", "--socket", sock_path, "--stats", str(stats_path)]
    term = Terminal(argv_app, env, (160, 48))
    started = time.perf_counter()
    loaded = term.wait_for(f"Destinations ({args.routes // 2}".encode(), 0, 60.0)
    if loaded is None:
        print("the dashboard did not show the routes within 60 s", file=sys.stderr)
        term.quit()
        return 1
    startup = time.perf_counter() - started
    measure(term, Phase("warm-up"), len(VIEWS))  # every view drawn once, not measured
    baseline = Phase("baseline")
    measure(term, baseline, args.presses)

    server.storming.set()
    time.sleep(args.warmup)  # let the storm reach its steady state before measuring
    storm = Phase("storm")
    measure(term, storm, args.presses)
    server.storming.clear()
    status = term.quit()
    server.stopping.set()
    server.join(5)

    ui = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    s = server.stats
    rate = s.storm_lines / s.storm_seconds if s.storm_seconds else 0.0
    print(f"meshtui storm benchmark: {args.routes} routes, storm of {args.rate:.0f} lines/s "
          f"(each a real change; a failover every {FAILOVER_EVERY}), 160x48 pty")  # fmt: skip
    print(f"startup   dump of {args.routes} routes on screen after {startup:.2f} s")
    print("key-to-screen latency (view key → the view's title in the terminal output):")
    print("  " + baseline.line())
    print("  " + storm.line())
    print(f"  median ms per view key: quiet {baseline.per_view()};  storm {storm.per_view()}")
    print(
        f"  storm/quiet: median {storm.median / baseline.median:.2f}x, "
        f"p95 {storm.p95 / baseline.p95:.2f}x   (targets: quiet <= 50 / 100 ms, "
        "storm <= 80 / 150 ms, storm/quiet <= 1.3x)"
    )
    print(f"storm     {s.storm_lines} lines in {s.storm_seconds:.1f} s = {rate:.0f} lines/s sent; "
          f"babeld-style cut-offs {s.cut_offs}; longest blocked write "
          f"{s.max_block * 1000:.1f} ms (babeld cuts at 100 ms); connections {s.connections}"
          + (f" (cut during: {', '.join(s.cut_phases)})" if s.cut_phases else ""))  # fmt: skip
    if ui:
        u = ui["ui"]
        events = ui.get("events", 0)
        refreshes = max(1, u["refreshes"])
        print(
            f"ingest    {ui['lines']} lines read ({ui['noop_lines']} unchanged repeats), "
            f"{events} events in {ui['event_batches']} batches; reconnects {ui['disconnects']}"
        )
        print(
            f"repaints  {u['refreshes']} view refreshes for {events} events: "
            f"{events / refreshes:.0f} events merged per refresh; "
            f"{u['skipped_idle']} idle ticks skipped; refresh mean "
            f"{u['refresh_seconds'] / refreshes * 1000:.1f} ms, "
            f"max {u['refresh_max'] * 1000:.1f} ms"
        )
        print(
            f"tables    {u['rows_added']} rows added, {u['cells_updated']} cells updated in place, "
            f"{u['rows_removed']} removed"
        )
        print(
            f"dropped   {s.lines_sent - ui['lines']} lines lost between babeld and the model "
            f"({s.lines_sent} sent, {ui['lines']} read); event-log lines not drawn under load: "
            f"{u['log_lines_not_drawn']} of {u['log_lines_drawn'] + u['log_lines_not_drawn']} "
            "(kept in the journal, saved by `s`)"
        )
        pump, gcs = ui.get("pump") or {}, ui.get("gc") or {}
        if pump:
            print(
                f"reader    socket pump read {pump['bytes'] / 1e6:.1f} MB in {pump['chunks']} "
                f"chunks; largest backlog waiting for the UI loop "
                f"{pump['max_backlog'] / 1e3:.0f} kB"
            )
        if gcs:
            print(
                f"gc        {gcs['calm_collections']} full collections at calm moments "
                f"({gcs['forced']} forced during the storm), longest {gcs['longest'] * 1000:.0f} ms"
            )
    print(f"exit      meshtui exited with status {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
