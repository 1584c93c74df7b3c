"""A harness that asks the real babeld whether it accepts a config file.

Each file runs in a network namespace the harness creates (a veth pair ``eth0``/
``eth1``, ULA-free: babeld only needs an interface to run on), with its own pid,
state and log paths. A file is *accepted* once babeld prints ``Entering main
loop.`` (debug level 2) or is still running after a bound; it is *refused* when
babeld exits with ``Couldn't parse configuration``. Anything else is reported as
a harness failure with babeld's stderr.

Every entry point takes the babeld binary to ask (default: the installed one;
the ``babeld_release`` fixture gives each release operators run).
Other test modules import this one (``from test_babelconf_harness import ...``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

BABELD = shutil.which("babeld") or "/usr/sbin/babeld"
RUNDIR_PLACEHOLDER = "@RUNDIR@"
ACCEPT_BOUND_S = 3.0  # upper bound for a daemon that never prints its main-loop line
EXIT_BOUND_S = 5.0


def babeld_skip_reason() -> str | None:
    """Why the real-babeld tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if not os.path.exists(BABELD):
        return "babeld is not installed"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    return None


def babeld_version(babeld: str = BABELD) -> str:
    """A babeld's version, e.g. '1.12.1' (the installed one by default)."""
    out = subprocess.run([babeld, "-V"], capture_output=True, text=True, timeout=10)
    text = (out.stdout + out.stderr).strip()
    return text.removeprefix("babeld-")


@dataclass(frozen=True)
class BabeldVerdict:
    """What the real babeld did with one config file."""

    name: str
    accepted: bool
    parse_error_line: int | None
    stderr: str
    harness_error: str | None = None
    crashed: bool = False


@contextmanager
def namespace() -> Iterator[str]:
    """A fresh network namespace with an up veth pair eth0/eth1; always removed."""
    name = f"mtcfg-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        ns = ["ip", "-n", name]
        subprocess.run(
            [*ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"],
            check=True,
            capture_output=True,
        )
        for ifname in ("lo", "eth0", "eth1"):
            subprocess.run([*ns, "link", "set", ifname, "up"], check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _parse_error_line(stderr: str) -> int | None:
    marker = "(error at line "
    for line in stderr.splitlines():
        if line.startswith("Couldn't parse configuration") and marker in line:
            tail = line.split(marker, 1)[1]
            digits = tail.split(")", 1)[0]
            if digits.isdigit():
                return int(digits)
            return 0
    return None


def run_babeld(
    ns: str, name: str, text: str, workdir: Path, interfaces=("eth0",), babeld: str = BABELD
) -> BabeldVerdict:
    """Start ``babeld`` on ``text`` in namespace ``ns`` and classify the outcome."""
    rundir = workdir / name.replace("/", "_")
    rundir.mkdir(parents=True)
    conf = rundir / "babeld.conf"
    conf.write_text(text.replace(RUNDIR_PLACEHOLDER, str(rundir)))
    cmd = [
        "ip", "netns", "exec", ns, babeld, "-d", "2", "-c", str(conf),
        "-I", str(rundir / "babeld.pid"), "-S", str(rundir / "babeld.state"),
        *interfaces,
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    lines: list[str] = []
    main_loop = threading.Event()
    eof = threading.Event()

    def reader() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace")
            if len(lines) < 200:
                lines.append(line)
            if line.startswith("Entering main loop"):
                main_loop.set()
        eof.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    deadline = time.monotonic() + ACCEPT_BOUND_S
    while not (main_loop.is_set() or eof.is_set()) and time.monotonic() < deadline:
        main_loop.wait(0.02)
    if eof.is_set() and not main_loop.is_set():
        # stderr closed: babeld exited, or redirected stderr to its log-file.
        while proc.poll() is None and time.monotonic() < deadline:
            if _logged_main_loop(rundir):
                break
            time.sleep(0.02)
    try:
        if proc.poll() is None:
            # In its main loop, or still running after the bound: accepted.
            _stop(proc)
            thread.join(EXIT_BOUND_S)
            return BabeldVerdict(name, True, None, "".join(lines))
        thread.join(EXIT_BOUND_S)
        stderr = "".join(lines)
        line = _parse_error_line(stderr)
        if line is not None:
            return BabeldVerdict(name, False, line, stderr)
        if proc.returncode == 0:
            # `daemonise true`: the parent exits 0 once the configuration is in.
            return BabeldVerdict(name, True, None, stderr)
        if proc.returncode < 0:
            # babeld 1.12.1 aborts (free() of a bad pointer) on some malformed lines,
            # e.g. an unterminated quoted interface name: it does not run either.
            return BabeldVerdict(name, False, None, stderr, crashed=True)
        return BabeldVerdict(
            name, False, None, stderr, harness_error=f"babeld exited {proc.returncode}: {stderr!r}"
        )
    finally:
        _kill_leftovers(str(conf))


def _logged_main_loop(rundir: Path) -> bool:
    for path in rundir.iterdir():
        if path.is_file() and path.suffix == ".log":
            try:
                if b"Entering main loop" in path.read_bytes():
                    return True
            except OSError:
                continue
    return False


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(EXIT_BOUND_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _kill_leftovers(conf: str) -> None:
    """Kill daemonised babelds this harness started (their command line names ``conf``)."""
    needle = conf.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline.split(b"\0"):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def judge_files(
    items: Iterable[tuple[str, str]], parallel: int = 16, babeld: str = BABELD
) -> dict[str, BabeldVerdict]:
    """Run ``babeld`` on every (name, text) pair in one namespace, in parallel."""
    items = list(items)
    workdir = Path(tempfile.mkdtemp(prefix="meshtui-babeld-"))
    try:
        with namespace() as ns, ThreadPoolExecutor(max_workers=parallel) as pool:
            futures = {
                name: pool.submit(run_babeld, ns, name, text, workdir, babeld=babeld)
                for name, text in items
            }
            return {name: f.result() for name, f in futures.items()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


requires_babeld = pytest.mark.skipif(
    babeld_skip_reason() is not None, reason=babeld_skip_reason() or ""
)


@requires_babeld
def test_harness_tells_accept_from_refuse(babeld_release):
    verdicts = judge_files(
        [
            ("ok", "interface eth0 type wired hello-interval 1\n"),
            ("bad", "interface eth0\nno-such-directive 1\n"),
        ],
        babeld=babeld_release.path,
    )
    assert verdicts["ok"].accepted and verdicts["ok"].harness_error is None
    assert not verdicts["bad"].accepted
    assert verdicts["bad"].parse_error_line == 2
