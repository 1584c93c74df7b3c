"""Process and namespace plumbing for the lab: run commands, spawn daemons, kill them.

Daemons are started in the foreground of their own session (``setsid``) through
``ip netns exec``, which execs the daemon, so the pid we get is the daemon's.
A process is identified by (pid, start time) so a recycled pid is never killed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DaemonExited",
    "LabError",
    "LabTimeout",
    "ProcRef",
    "comm",
    "netns_pids",
    "pid_alive",
    "run",
    "spawn",
    "start_time",
    "terminate_pids",
    "tool",
    "wait_until",
]


class LabError(Exception):
    """A lab operation failed; the message is one clear line (plus detail if any)."""


class LabTimeout(LabError):
    """A bounded wait for a lab condition ran out."""


class DaemonExited(LabError):
    """A daemon the lab started has died: waiting for it any longer is pointless."""


SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def tool(name: str) -> str | None:
    """The absolute path of a program, searching PATH and then the sbin directories.

    Daemons and ``ip`` live in /usr/sbin on Debian, which a non-login root
    shell (or a CI runner) may not have on its PATH.
    """
    if "/" in name:
        return name if os.access(name, os.X_OK) else None
    path = os.environ.get("PATH", os.defpath).split(os.pathsep)
    path += [d for d in SBIN_DIRS if d not in path]
    return shutil.which(name, path=os.pathsep.join(path))


def _resolve(argv: Sequence[str]) -> list[str]:
    """``argv`` with its program (and the one ``ip netns exec NS`` runs) as absolute paths."""
    out = list(argv)
    if out:
        out[0] = tool(out[0]) or out[0]
    if len(out) > 4 and out[1:3] == ["netns", "exec"]:
        out[4] = tool(out[4]) or out[4]
    return out


def run(
    argv: Sequence[str],
    *,
    input: str | None = None,
    check: bool = True,
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (no shell) and return its result; raise LabError when it fails."""
    try:
        res = subprocess.run(
            _resolve(argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
        )
    except FileNotFoundError:
        raise LabError(f"{argv[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise LabTimeout(f"{' '.join(argv)}: no answer after {timeout:g} s") from None
    if check and res.returncode != 0:
        detail = (res.stderr or res.stdout).strip().splitlines()
        tail = " | ".join(detail[-3:]) if detail else "no output"
        raise LabError(f"{' '.join(argv)} failed (exit {res.returncode}): {tail}")
    return res


def start_time(pid: int) -> int | None:
    """Return the process's start time in clock ticks since boot, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None  # a zombie has exited already
    return int(fields[19])


def comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def pid_alive(pid: int) -> bool:
    return start_time(pid) is not None


@dataclass(frozen=True)
class ProcRef:
    """A process we started: its pid and start time (so pid reuse is detected)."""

    pid: int
    started: int

    @classmethod
    def of(cls, pid: int) -> ProcRef | None:
        st = start_time(pid)
        return None if st is None else cls(pid, st)

    def alive(self) -> bool:
        return start_time(self.pid) == self.started

    def signal(self, sig: int) -> bool:
        """Send ``sig`` if this very process still lives; return whether it was sent."""
        if not self.alive():
            return False
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return False
        return True


def spawn(argv: Sequence[str], log: Path, *, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``argv`` in a new session with stdout/stderr appended to ``log``."""
    with open(log, "ab") as out:
        try:
            return subprocess.Popen(
                _resolve(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                close_fds=True,
            )
        except FileNotFoundError:
            raise LabError(f"{argv[0]}: command not found") from None


def wait_until(
    predicate: Callable[[], object],
    timeout: float,
    what: str,
    interval: float = 0.05,
) -> object:
    """Poll ``predicate`` until it returns something truthy; raise LabTimeout after ``timeout``.

    OSError, ValueError and LabError raised by the predicate count as "not yet"
    (the last one is named in the timeout message), except DaemonExited.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
        except DaemonExited:
            raise
        except (OSError, LabError, ValueError) as exc:
            value, last_exc = None, exc
        if value:
            return value
        if time.monotonic() >= deadline:
            why = f" (last error: {last_exc})" if last_exc else ""
            raise LabTimeout(f"timed out after {timeout:g} s waiting for {what}{why}")
        time.sleep(interval)


def netns_pids(namespace: str) -> list[int]:
    """Pids of every process whose network namespace is ``namespace``."""
    res = run(["ip", "netns", "pids", namespace], check=False)
    if res.returncode != 0:
        return []
    return [int(p) for p in res.stdout.split() if p.isdigit()]


def terminate_pids(
    pids: Sequence[int],
    grace: float = 2.0,
    reap: Callable[[int], None] | None = None,
) -> list[int]:
    """SIGTERM ``pids``, wait up to ``grace`` s, SIGKILL the rest; return the survivors."""
    refs = [r for r in (ProcRef.of(p) for p in pids) if r is not None and r.pid != os.getpid()]
    for r in refs:
        r.signal(signal.SIGTERM)

    def gone() -> bool:
        if reap:
            for r in refs:
                reap(r.pid)
        return not any(r.alive() for r in refs)

    with contextlib.suppress(LabTimeout):
        wait_until(gone, grace, "processes to exit")
    for r in refs:
        r.signal(signal.SIGKILL)
    with contextlib.suppress(LabTimeout):
        wait_until(gone, 2.0, "killed processes to exit")
    return [r.pid for r in refs if r.alive()]
