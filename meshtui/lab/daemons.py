"""A lab's daemons: babeld and sshd in every node's namespace, started, found, stopped."""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import signal
import socket
from collections.abc import Callable
from pathlib import Path

from meshtui.lab.base import LabBase
from meshtui.lab.proc import (
    DaemonExited,
    LabError,
    ProcRef,
    comm,
    netns_pids,
    spawn,
    terminate_pids,
    tool,
    wait_until,
)
from meshtui.lab.topology import LabNode


def _host_shell_rc() -> Path | None:
    """Root's ``~/.bashrc`` on this machine, if there is one (see ``_spawn_sshd``)."""
    try:
        rc = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".bashrc"
    except KeyError:
        return None
    return rc if rc.is_file() else None


class LabDaemons(LabBase):
    """Start, find and stop each node's babeld and sshd."""

    def _babeld_files(self, node: str) -> dict[str, Path]:
        d = self.node_dir(node)
        return {
            "conf": d / "babeld.conf",
            "pid": d / "babeld.pid",
            "state": d / "babeld.state",
            "log": d / "babeld.log",
            "out": d / "babeld.out",
            "sock": d / "babeld.sock",
        }

    def babeld_pid(self, node: str) -> int | None:
        """The pid of the node's running babeld (from its pid file), or None."""
        f = self._babeld_files(node)
        try:
            pid = int(f["pid"].read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        named = comm(pid) == self._babeld_name[:15]  # the kernel's comm is 15 bytes at most
        return pid if named and self._in_namespace(pid, node) else None

    @property
    def _babeld_name(self) -> str:
        return os.path.basename(self.babeld)

    def _in_namespace(self, pid: int, node: str) -> bool:
        try:
            ours = os.stat(f"/run/netns/{self.node(node).namespace}")
            theirs = os.stat(f"/proc/{pid}/ns/net")
        except OSError:
            return False
        return (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino)

    def _spawn_babeld(self, n: LabNode) -> None:
        f = self._babeld_files(n.name)
        for stale in (f["pid"], f["sock"]):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        argv = [
            "ip", "netns", "exec", n.namespace, self.babeld,
            "-c", str(f["conf"]), "-I", str(f["pid"]), "-S", str(f["state"]), "-L", str(f["log"]),
            *n.interfaces,
        ]  # fmt: skip
        self._track(spawn(argv, f["out"]))

    def _babeld_ready(self, node: str) -> bool:
        f = self._babeld_files(node)
        if not f["sock"].exists():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            try:
                s.connect(str(f["sock"]))
                ok = s.recv(64).startswith(b"BABEL")
                s.sendall(b"quit\n")  # a polite goodbye keeps babeld's log quiet
                return ok
            except OSError:
                return False

    def _wait_babeld(self, n: LabNode, timeout: float = 15.0) -> None:
        f = self._babeld_files(n.name)

        def ready() -> bool:
            if self._babeld_ready(n.name):
                return True
            self._check_exited(n.name, self._babeld_name, f["out"], f["log"])
            return False

        wait_until(ready, timeout, f"babeld on {n.name} to open {f['sock']}")

    def _check_exited(self, node: str, what: str, *logs: Path) -> None:
        ns = self.node(node).namespace
        for pid, proc in list(self._procs.items()):
            args = [str(a) for a in proc.args] if isinstance(proc.args, list) else []
            programs = {os.path.basename(a) for a in args}
            if proc.poll() is not None and what in programs and ns in args:
                del self._procs[pid]
                tail = []
                for log in logs:
                    with contextlib.suppress(OSError):
                        tail += log.read_text(errors="replace").strip().splitlines()[-3:]
                detail = " | ".join(tail) or "no output"
                raise DaemonExited(
                    f"{what} on {node} exited with status {proc.returncode}: {detail}"
                )

    def _start(
        self,
        node: str,
        daemon: str,
        pid: Callable[[str], int | None],
        spawn_it: Callable[[LabNode], None],
        wait_for: Callable[[LabNode], None],
        wait: bool,
    ) -> None:
        """Start one of the node's daemons (LabError if it runs already); wait until it serves."""
        n = self.node(node)
        if pid(node) is not None:
            raise LabError(f"{daemon} already runs on {node}")
        spawn_it(n)
        if wait:
            wait_for(n)

    def start_babeld(self, node: str, wait: bool = True) -> None:
        """Start the node's babeld with the config at its config path."""
        self._start(node, "babeld", self.babeld_pid, self._spawn_babeld, self._wait_babeld, wait)

    def kill_babeld(
        self, node: str, sig: int = signal.SIGTERM, wait: bool = True, timeout: float = 10.0
    ) -> int:
        """Send ``sig`` to the node's babeld; wait for it to exit (for TERM/KILL/INT/HUP).

        SIGTERM lets babeld send retractions first (neighbours switch at once);
        SIGKILL makes it vanish silently (neighbours notice by missed Hellos).
        Returns the pid signalled.
        """
        pid = self.babeld_pid(node)
        if pid is None:
            raise LabError(f"babeld is not running on {node}")
        ref = ProcRef.of(pid)
        if ref is None or not ref.signal(sig):
            raise LabError(f"babeld on {node} exited before it could be signalled")
        if wait and sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGINT, signal.SIGHUP):

            def gone() -> bool:
                self._reap(pid)
                return not ref.alive()

            wait_until(gone, timeout, f"babeld on {node} (pid {pid}) to exit")
        return pid

    def restart_babeld(self, node: str, wait: bool = True) -> None:
        """Stop babeld cleanly (SIGTERM) if it runs, then start it with its current config."""
        if self.babeld_pid(node) is not None:
            self.kill_babeld(node, signal.SIGTERM)
        self.start_babeld(node, wait=wait)

    # ------------------------------------------------------------------ sshd

    def sshd_pid(self, node: str) -> int | None:
        try:
            pid = int((self.node_dir(node) / "sshd.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if comm(pid) == "sshd" and self._in_namespace(pid, node) else None

    def _spawn_sshd(self, n: LabNode) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        sshd = tool("sshd") or "/usr/sbin/sshd"  # sshd wants an absolute path
        d = self.node_dir(n.name)
        with contextlib.suppress(FileNotFoundError):
            (d / "sshd.pid").unlink()
        argv = [sshd, "-D", "-e", "-f", str(d / "sshd_config")]
        shell_rc = _host_shell_rc()
        if shell_rc is not None and tool("unshare"):
            # A node's shell must not run this machine's own shell set-up: root's
            # ~/.bashrc (sourced by bash for every command over SSH) may start anything
            # (pyenv's init: ~150 ms and ~100 processes a command). In a mount namespace of
            # its own, the node's sshd sees an empty file there (if that fails, sshd starts
            # all the same).
            hide = f'mount --bind /dev/null {shlex.quote(str(shell_rc))}; exec "$@"'
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", hide, "sh", *argv]
        self._track(spawn(["ip", "netns", "exec", n.namespace, *argv], d / "sshd.log"))

    def _sshd_ready(self, n: LabNode) -> bool:
        try:
            with socket.create_connection((str(n.mgmt_address), 22), timeout=1.0) as s:
                return s.recv(16).startswith(b"SSH-")
        except OSError:
            return False

    def _wait_sshd(self, n: LabNode, timeout: float = 15.0) -> None:
        log = self.node_dir(n.name) / "sshd.log"

        def ready() -> bool:
            if self._sshd_ready(n):
                return True
            self._check_exited(n.name, "sshd", log)
            return False

        wait_until(ready, timeout, f"sshd on {n.name} to listen on [{n.mgmt_address}]:22")

    def start_sshd(self, node: str, wait: bool = True) -> None:
        """Start the node's sshd (listening on its management address, port 22)."""
        self._start(node, "sshd", self.sshd_pid, self._spawn_sshd, self._wait_sshd, wait)

    def kill_sshd(self, node: str, sessions: bool = True) -> None:
        """Stop the node's sshd; with ``sessions`` also every open SSH session to it."""
        n = self.node(node)
        pids = [p for p in netns_pids(n.namespace) if comm(p) == "sshd"] if sessions else []
        main = self.sshd_pid(node)
        if main is not None:
            pids.append(main)
        terminate_pids(sorted(set(pids)), reap=self._reap)
