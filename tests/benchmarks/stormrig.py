"""The storm rig shared by the latency benchmarks: a stormy babeld, the dashboard in a pty.

:func:`launch` starts both: :class:`StormyBabeld` serves a babeld control
socket (unix, in a thread) that greets, dumps ``routes`` routes (two per
destination) and, while ``storming`` is set, streams ``rate`` changed route
lines per second (one line in :data:`FAILOVER_EVERY` a failover), cutting
the client off like babeld when a write blocks :data:`CUT_OFF`; :class:`Terminal`
runs ``meshtui --socket`` in a 160 x 48 pseudo-terminal and drains its output
on a thread. Used by ``bench_storm.py`` (key to screen) and
``bench_event_latency.py`` (babeld's failover line to screen).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import queue
import select
import signal
import socket
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
SIZE = (160, 48)


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
            if started is None:  # a storm (again): its seconds add to the earlier ones
                started, sent = now, 0
                storm_before = self.stats.storm_seconds
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

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        size: tuple[int, int],
        cwd: Path | None = None,
    ) -> None:
        self.master, slave = pty.openpty()
        cols, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            start_new_session=True,
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

    def cpu_seconds(self) -> float:
        """CPU time the dashboard's process used so far (all its threads; Linux)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def sched(self) -> tuple[float, float, int, float, float, int]:
        """Scheduler counters of the dashboard's threads so far (Linux ``schedstat``): its
        main thread's seconds on a CPU, seconds runnable but waiting for one, and times it
        was scheduled in; then the same summed over its other threads."""
        out = [0.0, 0.0, 0, 0.0, 0.0, 0]
        pid = self.proc.pid
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return (0.0, 0.0, 0, 0.0, 0.0, 0)
        for tid in tasks:
            try:
                run, wait, slices = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
            except (OSError, ValueError):
                continue  # the thread ended
            at = 0 if int(tid) == pid else 3
            out[at] += int(run) / 1e9
            out[at + 1] += int(wait) / 1e9
            out[at + 2] += int(slices)
        return (out[0], out[1], int(out[2]), out[3], out[4], int(out[5]))

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
class Rig:
    """A running storm rig: the babeld, the dashboard's terminal, their scratch folder."""

    work: Path
    server: StormyBabeld
    term: Terminal
    stats_path: Path | None
    startup: float = 0.0  # seconds to the dump on screen (set by the bench)
    status: int | None = None  # the dashboard's exit status, once stopped

    def stop(self) -> int:
        """Quit the dashboard (its exit status) and stop the babeld."""
        status = self.term.quit()
        self.server.stopping.set()
        self.server.join(5)
        return status


def launch(
    server_class: type[StormyBabeld],
    routes: int,
    rate: float,
    *,
    prefix: str,
    stats: bool = False,
    tree: Path | None = None,
) -> Rig:
    """Start a ``server_class`` babeld and ``meshtui --socket`` on it in a pty (this tree's
    meshtui, or ``tree``'s; with ``stats``, its counters go to ``rig.stats_path`` when it
    quits)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    sock_path = str(work / "babeld.sock")
    server = server_class(sock_path, routes, rate)
    server.start()
    server.ready.wait(5)
    root = (tree or Path(__file__).parents[2]).resolve()
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "XDG_CONFIG_HOME": str(work / "config"),
        "PYTHONPATH": str(root),
    }
    argv = [sys.executable, "-m", "meshtui", "--socket", sock_path]
    stats_path = work / "stats.json" if stats else None
    if stats_path is not None:
        argv += ["--stats", str(stats_path)]
    # run from the tree: `python -m` puts the working directory first on the import path,
    # ahead of PYTHONPATH (from another clone, its meshtui would be the one measured)
    return Rig(work, server, Terminal(argv, env, SIZE, cwd=root), stats_path)
