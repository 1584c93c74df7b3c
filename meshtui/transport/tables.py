"""Asking babeld for its tables: ``SIGUSR1``, then the new dump read from its log or journal.

One shell script does it, on this machine or on a node over SSH (a quoted
``sh -c``): find babeld (the pid given — locally the control socket's peer —
else its pid file or ``pidof``), find where its stdout goes (its ``-L`` log
file, a file on its stdout, else the journal of its systemd unit), note the
log's end, send ``SIGUSR1``, and print what babeld wrote after it.
:func:`meshtui.core.babeld_dump.parse_dump` reads the dump from that text.

Signalling babeld is an action: callers refuse it in read-only mode.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meshtui.core.inventory import Node
    from meshtui.transport.ssh import SSHPool

DUMP_SCRIPT = r"""
pid=$1
if [ -z "$pid" ] && [ -n "$2" ]; then
  case "$2" in
    /*) listening=$(ss -xlpn 2>/dev/null | awk -v p="$2" '$5 == p') ;;
    *) listening=$(ss -ltnp "sport = :$2" 2>/dev/null) ;;
  esac
  pid=$(printf '%s\n' "$listening" | sed -n 's/.*"babeld",pid=\([0-9]*\).*/\1/p' | head -n 1)
fi
if [ -z "$pid" ]; then
  for f in /run/babeld.pid /var/run/babeld.pid; do
    [ -r "$f" ] && pid=$(cat "$f") && break
  done
fi
[ -n "$pid" ] || pid=$(pidof -s babeld 2>/dev/null)
if [ -z "$pid" ] || [ ! -d "/proc/$pid" ]; then
  echo "no running babeld found (no pid file, no process named babeld)" >&2; exit 3
fi
log=$(tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | sed -n '/^-L$/{n;p;q;}')
if [ -z "$log" ]; then
  out=$(readlink "/proc/$pid/fd/1" 2>/dev/null)
  case "$out" in /*) [ -f "$out" ] && log=$out ;; esac
fi
if [ -n "$log" ]; then
  case "$log" in /*) ;; *) log="$(readlink "/proc/$pid/cwd")/$log" ;; esac
  if [ ! -r "$log" ]; then
    echo "cannot read babeld's log $log (permission denied?)" >&2; exit 4
  fi
  size=$(wc -c < "$log")
  kill -USR1 "$pid" 2>/dev/null || {
    echo "cannot signal babeld (pid $pid): not allowed for this user" >&2; exit 5; }
  sleep 0.7
  tail -c +"$((size + 1))" "$log"
  exit 0
fi
if ! command -v journalctl >/dev/null 2>&1; then
  echo "babeld (pid $pid) writes neither to a log file (-L) nor to the journal" >&2; exit 4
fi
unit=$(sed -n 's#.*/\([^/]*\.service\)$#\1#p' "/proc/$pid/cgroup" 2>/dev/null | head -n 1)
[ -n "$unit" ] || unit=babeld.service
since=$(date '+%Y-%m-%d %H:%M:%S')
kill -USR1 "$pid" 2>/dev/null || {
  echo "cannot signal babeld (pid $pid): not allowed for this user" >&2; exit 5; }
sleep 0.7
journalctl -u "$unit" --since "$since" -o cat --no-pager 2>/dev/null || {
  echo "cannot read the journal of $unit (not in the adm/systemd-journal group?)" >&2; exit 4; }
"""
"""The POSIX shell script; ``$1``: babeld's pid, when known; ``$2``: its control socket
(a path or a TCP port) to find the pid by, when not."""

TIMEOUT = 15.0


class TablesError(Exception):
    """babeld's tables could not be had; ``str()`` says why in one line."""


@dataclass(frozen=True, slots=True)
class DumpText:
    """What babeld wrote after the signal, and where it was read."""

    text: str
    where: str


def socket_peer_pid(path: str) -> int | None:
    """The pid of the process serving a unix socket (SO_PEERCRED); None if it cannot be had."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2.0)
            sock.connect(path)
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    pid = struct.unpack("3i", creds)[0]
    return pid if pid > 0 else None


def script_argv(pid: int | None, control: str = "") -> list[str]:
    """The command that runs :data:`DUMP_SCRIPT` (locally, or quoted for SSH)."""
    return ["sh", "-c", DUMP_SCRIPT, "meshtui-why", str(pid) if pid else "", control]


def _result(status: int | None, stdout: str, stderr: str, where: str) -> DumpText:
    if status != 0:
        reason = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {status}"
        raise TablesError(f"{where}: {reason}")
    return DumpText(stdout, where)


async def local_dump(target: str | int) -> DumpText:
    """Signal the babeld serving ``target`` (its socket, or TCP port) here and read its new dump.

    Raises:
        TablesError: no babeld, no readable log, not allowed to signal it.
    """
    pid = socket_peer_pid(target) if isinstance(target, str) else None
    if pid is None and isinstance(target, str):
        raise TablesError(f"{target}: cannot tell which process serves this socket")
    proc = await asyncio.create_subprocess_exec(
        *script_argv(pid, "" if pid else str(target)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except TimeoutError:
        proc.kill()
        raise TablesError(f"babeld ({target}): no dump within {TIMEOUT:g} s") from None
    return _result(
        proc.returncode,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
        f"babeld (pid {pid})" if pid else f"babeld on port {target}",
    )


async def ssh_dump(pool: SSHPool, node: Node) -> DumpText:
    """Signal babeld on an inventory node over SSH and read its new dump.

    Raises:
        TablesError: as :func:`local_dump`.
        ConnectError: the node cannot be reached.
    """
    result = await pool.run(node, script_argv(None, str(node.socket)), timeout=TIMEOUT)
    return _result(result.exit_status, result.stdout, result.stderr, f"{node.name}: babeld")
