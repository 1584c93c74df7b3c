"""The CLI's error contract: one clear line on stderr, a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import meshtui

MESHTUI = [sys.executable, "-m", "meshtui"]


def run(
    *args: str, user: str | None = None, package: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run meshtui; as ``user`` (uid) from ``package``, a copy of meshtui that user can read."""
    argv = [*MESHTUI, *args]
    env = None
    if user is not None:
        argv = ["setpriv", "--reuid", user, "--regid", user, "--clear-groups", *argv]
        env = {**os.environ, "PYTHONPATH": str(package)} if package else None
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=30, env=env, cwd=package or None
    )


NOBODY = "65534"


@pytest.fixture
def world_readable_copy() -> Iterator[Path]:
    """meshtui copied to a directory every user can read (the clone may live in a 0700 one).

    Skips when this interpreter is not one ``nobody`` may run (a venv inside a
    0700 directory): the permission test is about the socket, not the checkout.
    """
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv")
    root = Path(tempfile.mkdtemp(prefix="meshtui-as-nobody-"))
    try:
        root.chmod(0o755)
        source = Path(meshtui.__file__).resolve().parent
        shutil.copytree(source, root / "meshtui", ignore=shutil.ignore_patterns("__pycache__"))
        for path in (root / "meshtui").rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        probe = run("--help", user=NOBODY, package=root)
        if probe.returncode != 0:
            reason = (probe.stderr.strip().splitlines() or ["?"])[-1]
            pytest.skip(f"user nobody cannot run {sys.executable} with meshtui: {reason}")
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def greeter(tmp_path: Path) -> Iterator[callable]:
    """A unix socket that sends a fixed greeting to whoever connects (not a babeld)."""
    servers: list[socket.socket] = []

    def make(greeting: bytes, name: str = "s.sock", directory: Path | None = None) -> str:
        path = str((directory or tmp_path) / name)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(4)
        servers.append(srv)

        def serve() -> None:
            while True:
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return
                with conn:
                    conn.sendall(greeting)
                    conn.settimeout(2)
                    try:
                        conn.recv(100)
                    except OSError:
                        pass

        threading.Thread(target=serve, daemon=True).start()
        return path

    yield make
    for srv in servers:
        srv.close()


@pytest.mark.parametrize("command", ["status", "watch", "record"])
def test_no_such_socket(command: str, tmp_path: Path) -> None:
    extra = ["-o", str(tmp_path / "r.rec")] if command == "record" else []
    result = run(command, "--socket", str(tmp_path / "nope.sock"), *extra)
    assert_one_line_error(result, "no babeld control socket", "nope.sock")
    assert not (tmp_path / "r.rec").exists()


def test_nothing_listening_on_port() -> None:
    with socket.socket(socket.AF_INET6) as s:  # a free port on ::1, closed again
        s.bind(("::1", 0))
        port = s.getsockname()[1]
    assert_one_line_error(run("status", "--port", str(port)), "refused", str(port))


def test_not_a_babeld_socket(greeter) -> None:
    path = greeter(b"SSH-2.0-OpenSSH_9.2\r\n")
    assert_one_line_error(run("status", "--socket", path), "not a babeld control socket")
    assert_one_line_error(run("watch", "--socket", path), "not a babeld control socket")


def test_unsupported_protocol_version(greeter) -> None:
    path = greeter(b"BABEL 0.0\nversion babeld-1.7.1\nhost old\nok\n")
    assert_one_line_error(run("status", "--socket", path), "protocol 0.0", "BABEL 1.0")


def test_silent_socket_times_out_with_a_reason(greeter) -> None:
    path = greeter(b"")
    result = run("status", "--socket", path, "--timeout", "3")
    assert_one_line_error(result)


def test_permission_denied(world_readable_copy: Path, greeter) -> None:
    # The socket sits in a directory nobody can search, so only its own mode refuses.
    greeting = b"BABEL 1.0\nversion babeld-1.12.1\nhost h\nmy-id 00:00:00:00:00:00:00:01\nok\n"
    path = greeter(greeting, directory=world_readable_copy)
    os.chmod(path, 0o600)
    result = run("status", "--socket", path, user=NOBODY, package=world_readable_copy)
    assert_one_line_error(result, "permission denied")
    os.chmod(path, 0o666)  # the same socket, open to all: nobody reads it (the test can fail)
    result = run(
        "status", "--socket", path, "--timeout", "1", user=NOBODY, package=world_readable_copy
    )
    assert "permission denied" not in result.stderr


def test_bad_recording(tmp_path: Path) -> None:
    bad = tmp_path / "x.rec"
    bad.write_text("hello\n")
    assert_one_line_error(run("watch", "--replay", str(bad)), "not a meshtui recording")
    assert_one_line_error(run("status", "--replay", str(tmp_path / "missing.rec")), "missing.rec")


def test_bad_port() -> None:
    assert_one_line_error(run("status", "--port", "70000"), "not a TCP port")
