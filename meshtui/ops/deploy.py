"""Safe babeld config deployment: lint, diff, atomic SFTP write, restart, verify, roll back.

babeld cannot reload its configuration (SIGHUP exits), so a new config is
a write followed by a restart; done carelessly on a relay it cuts the operator
off from the node being fixed. :class:`Deployer` makes every change
commit-confirmed, one node at a time:

1. **Prepare** (local): render the node's config (:func:`render_babeld_conf`,
   key values read by :func:`meshtui.ops.gen.read_key_values`), validate it for
   the node's babeld version and run the security lint with the node's
   interface facts. Errors block, as ``file:line`` messages.
2. **Read** over SFTP what the node runs now; show a unified diff with key
   values redacted (identical: nothing to do). Take a ``dump`` through the SSH
   channel to babeld's control socket: the neighbours that are up and the
   destinations that are reachable now are what verification expects back.
3. **Backup**: the deployed file is copied to ``CONFIG.bak.STAMP`` with the
   same mode (and owner) — temp file, fsync, ``posix_rename``. The new config
   is staged the same way next to it (temp file, chmod/chown to the previous
   mode — 0600 at most when it holds a key — fsync), not yet in place.
4. **Arm** a rollback on the node itself, *before* anything changes: a transient
   systemd timer where systemd runs, else a detached ``setsid sh -c`` process.
   It sleeps until the deadline in its deadline file (node clock) and then, if
   its marker file still exists, claims it (an atomic rename), restores the
   backup atomically and runs the restart command. The deployer keeps the
   deadline at "end of the current phase + grace" and disarms by deleting the
   marker (an atomic unlink: exactly one of the deployer and the timer wins).
   A deployer that dies, or whose SSH path dies, stops moving the deadline: the
   node restores itself. A deployer that decides to roll back (failed
   verification, no confirmation) moves the deadline to now: the restore is
   always done by the same script on the node, even if the path dies during it.
5. **Swap** the staged file in with one ``posix_rename``: the config is always
   the old file or the new one, never a partial one.
6. **Restart** with the node's ``restart_command`` (an argv, shell-quoted).
7. **Verify**: babeld's socket answers again, the expected neighbours are up and
   the expected destinations reachable, within ``3 x hello + margin`` (the
   node's longest hello interval, its own and its peers').
8. **Confirm**: the operator (or ``--yes`` when verification passed) confirms
   within ``confirm_timeout``; otherwise, or when verification failed, the node
   restores the backup, restarts, and the deployer says what came back.

Nodes go one at a time in :func:`deploy_order` (servers, then edges, then
relays: the backbone last) and the run stops at the first node that does not
end confirmed or unchanged. Every outcome is appended to the audit log
(:mod:`meshtui.ops.audit`). Key values are never printed, logged or put in a
diff; the rendered config is held in fields with ``repr=False``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import posixpath
import secrets
import shlex
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

import asyncssh

from meshtui.core.babelconf import Severity, parse_config
from meshtui.core.confgen import render_babeld_conf
from meshtui.core.inventory import Inventory, InventoryError, Node
from meshtui.core.lint import interface_facts_from, lint_node
from meshtui.core.model import NodeModel
from meshtui.core.protocol import INFINITY
from meshtui.core.secrets import mask_secrets as redact  # the names callers know
from meshtui.core.secrets import masked_diff as config_diff
from meshtui.ops.audit import AuditRecord, append_audit, scrub
from meshtui.ops.gen import GenError, keys_used, read_key_values
from meshtui.transport.local import ConnectError, dump_channel
from meshtui.transport.ssh import SSHPool

__all__ = [
    "DEFAULT_CONFIRM_TIMEOUT",
    "DEFAULT_RESTART_TIMEOUT",
    "DEFAULT_ROLLBACK_GRACE",
    "DEFAULT_VERIFY_MARGIN",
    "AutoOperator",
    "Change",
    "DeployOptions",
    "DeployPaths",
    "DeployReport",
    "Deployer",
    "Expectations",
    "FaultHook",
    "LintEntry",
    "NodeReport",
    "Operator",
    "Outcome",
    "Phase",
    "TimerKind",
    "Verification",
    "config_diff",
    "deploy_order",
    "diff_sha256",
    "dump_channel",
    "expectations_from",
    "lint_config_text",
    "redact",
    "restart_argv",
    "rollback_script",
    "verify_budget",
]

DEFAULT_CONFIRM_TIMEOUT = 120.0
DEFAULT_RESTART_TIMEOUT = 60.0
DEFAULT_VERIFY_MARGIN = 10.0
DEFAULT_ROLLBACK_GRACE = 15.0
HELLOS_TO_VERIFY = 3.0  # a neighbour is heard within a hello and acknowledged (IHU) within ~3
STALE_AFTER = 60.0  # an armed marker this far past its deadline has lost its timer
OP_TIMEOUT = 60.0  # one SFTP operation or short command (generous: keepalives catch dead paths)
ARM_ALLOWANCE = 10.0  # from arming to the next deadline move: two SFTP operations
POLL_INTERVAL = 0.5
KEEP_BACKUPS = 10
_HIDDEN = ".meshtui-"
_ROLE_ORDER = {"server": 0, "edge": 1, "relay": 2}


# --------------------------------------------------------------------- plain data


class Outcome(StrEnum):
    """How a node's deployment ended."""

    UNCHANGED = "unchanged"  # the node already runs this config: nothing written
    DRY_RUN = "dry-run"  # diff shown, nothing written
    CONFIRMED = "confirmed"  # written, restarted, verified, confirmed; rollback disarmed
    BLOCKED = "blocked"  # lint errors: nothing written
    DECLINED = "declined"  # the operator said no before anything was written
    REFUSED = "refused"  # a rollback is pending on the node, or the node cannot be changed safely
    FAILED = "failed"  # could not prepare or reach the node; the config was not changed
    ROLLED_BACK = "rolled-back"  # the previous config was restored and babeld restarted
    LOST = "connection-lost"  # the SSH path died mid-change; the node's timer restores
    ROLLBACK_FAILED = "rollback-failed"  # the restore or its restart failed: act now
    SKIPPED = "skipped"  # not attempted: an earlier node failed

    @property
    def ok(self) -> bool:
        """Whether the run may go on to the next node."""
        return self in (Outcome.UNCHANGED, Outcome.DRY_RUN, Outcome.CONFIRMED)


class Phase(StrEnum):
    """Steps of one node's deployment (fault hooks run after each)."""

    PREPARE = "prepare"
    READ = "read"
    BACKUP = "backup"
    ARM = "arm"
    WRITE = "write"
    RESTART = "restart"
    VERIFY = "verify"
    CONFIRM = "confirm"


class TimerKind(StrEnum):
    """How the rollback is armed on the node."""

    AUTO = "auto"  # systemd where it runs (/run/systemd/system and systemd-run), else detached
    SYSTEMD = "systemd"  # systemd-run --on-active=N: a transient timer
    DETACHED = "detached"  # setsid sh -c '...' </dev/null >/dev/null 2>&1 &


FaultHook = Callable[[str, Phase], Awaitable[None]]
"""Called as ``hook(node, phase)`` after each phase; tests and benchmarks inject faults here."""


@dataclass(frozen=True)
class DeployOptions:
    """Knobs of a deployment; the defaults suit real meshes, the lab passes shorter ones.

    Attributes:
        confirm_timeout: seconds the operator has to confirm once verified.
        restart_timeout: bound on the restart command.
        verify_margin: convergence margin added to ``3 x hello``.
        verify_timeout: a fixed verification bound instead (None: derived).
        rollback_grace: how long past the deployer's own deadline the node waits
            before it restores by itself (covers SSH latency).
        timer: how to arm the rollback on the node.
        keep_backups: timestamped backups kept per node (older ones are pruned
            after a confirmed change; at least the newest is kept).
        dry_run: stop after the diff.
    """

    confirm_timeout: float = DEFAULT_CONFIRM_TIMEOUT
    restart_timeout: float = DEFAULT_RESTART_TIMEOUT
    verify_margin: float = DEFAULT_VERIFY_MARGIN
    verify_timeout: float | None = None
    rollback_grace: float = DEFAULT_ROLLBACK_GRACE
    timer: TimerKind = TimerKind.AUTO
    keep_backups: int = KEEP_BACKUPS
    dry_run: bool = False


@dataclass(frozen=True)
class LintEntry:
    """One validator or security-lint verdict on the generated config."""

    kind: str  # grammar | security | deploy
    severity: str  # error | warning
    file: str
    line: int
    message: str
    fix: str | None = None

    @property
    def error(self) -> bool:
        return self.severity == Severity.ERROR.value

    def text(self) -> str:
        """``file:line: severity: message (fix: ...)``."""
        fix = f" (fix: {self.fix})" if self.fix else ""
        return f"{self.file}:{self.line}: {self.severity}: {self.message}{fix}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Change:
    """What is about to be deployed to one node: shown to the operator before and after."""

    deploy_id: str
    node: str
    role: str
    site: str | None
    config_path: str
    diff: str  # unified diff, key values redacted
    diff_sha256: str
    lint: tuple[LintEntry, ...] = ()
    new_file: bool = False
    position: int = 1
    total: int = 1
    confirm_timeout: float = DEFAULT_CONFIRM_TIMEOUT
    timer: str = ""  # how the rollback is armed ("detached", "systemd")

    @property
    def title(self) -> str:
        site = f", site {self.site}" if self.site else ""
        return f"{self.node} ({self.role}{site}) {self.position}/{self.total}: {self.config_path}"


@dataclass(frozen=True)
class Expectations:
    """What must come back after the restart: taken from a dump just before the change."""

    neighbours: frozenset[tuple[str, str]] = frozenset()  # (interface, link-local address)
    destinations: frozenset[str] = frozenset()  # prefixes with a selected, finite route
    baseline: bool = False  # False: babeld did not answer before the change


@dataclass(frozen=True)
class Verification:
    """What came back after a restart, and what did not."""

    ok: bool
    socket: bool
    elapsed: float
    timeout: float
    neighbours_back: tuple[str, ...] = ()
    neighbours_missing: tuple[str, ...] = ()
    destinations_back: tuple[str, ...] = ()
    destinations_missing: tuple[str, ...] = ()
    error: str | None = None

    def summary(self) -> str:
        """One line: socket, neighbours n/m, destinations n/m, time."""
        if not self.socket:
            why = f": {self.error}" if self.error else ""
            return f"babeld's socket did not answer within {self.timeout:.1f} s{why}"
        nb = len(self.neighbours_back)
        nt = nb + len(self.neighbours_missing)
        db = len(self.destinations_back)
        dt = db + len(self.destinations_missing)
        verdict = "verified" if self.ok else "NOT verified"
        when = f"in {self.elapsed:.1f} s" if self.ok else f"after {self.timeout:.1f} s"
        return (
            f"{verdict} {when}: socket answers; neighbours {nb}/{nt} up; "
            f"destinations {db}/{dt} reachable"
        )

    def lines(self) -> list[str]:
        """The summary, then what is missing."""
        out = [self.summary()]
        if self.neighbours_missing:
            out.append("  neighbours missing: " + ", ".join(self.neighbours_missing))
        if self.destinations_missing:
            out.append("  destinations unreachable: " + ", ".join(self.destinations_missing))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "socket": self.socket,
            "elapsed": round(self.elapsed, 3),
            "timeout": round(self.timeout, 3),
            "neighbours_back": list(self.neighbours_back),
            "neighbours_missing": list(self.neighbours_missing),
            "destinations_back": list(self.destinations_back),
            "destinations_missing": list(self.destinations_missing),
            "error": self.error,
        }


@dataclass
class NodeReport:
    """The outcome of one node's deployment (no key values anywhere)."""

    node: str
    deploy_id: str
    config_path: str
    outcome: Outcome = Outcome.FAILED
    diff: str = ""
    diff_sha256: str | None = None
    lint: list[LintEntry] = field(default_factory=list)
    backup: str | None = None
    timer: str | None = None
    rolled_back: bool = False
    rolled_back_by: str | None = None  # deployer | node-timer
    verification: Verification | None = None
    restored: Verification | None = None  # after a rollback: what came back
    messages: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    phase: Phase = Phase.PREPARE  # the last phase reached

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "deploy_id": self.deploy_id,
            "config_path": self.config_path,
            "outcome": self.outcome.value,
            "ok": self.ok,
            "phase": self.phase.value,
            "rolled_back": self.rolled_back,
            "rolled_back_by": self.rolled_back_by,
            "backup": self.backup,
            "timer": self.timer,
            "diff_sha256": self.diff_sha256,
            "diff": self.diff,
            "lint": [e.to_json() for e in self.lint],
            "verification": self.verification.to_json() if self.verification else None,
            "restored": self.restored.to_json() if self.restored else None,
            "messages": list(self.messages),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


@dataclass
class DeployReport:
    """A whole run: the order chosen and every node's report."""

    deploy_id: str
    order: list[str]
    nodes: list[NodeReport] = field(default_factory=list)
    stopped_at: str | None = None
    audit_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.nodes if r.outcome is not Outcome.SKIPPED) and (
            self.stopped_at is None
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "deploy_id": self.deploy_id,
            "ok": self.ok,
            "order": list(self.order),
            "stopped_at": self.stopped_at,
            "nodes": [r.to_json() for r in self.nodes],
            "audit_errors": list(self.audit_errors),
        }


@dataclass(frozen=True)
class DeployPaths:
    """Every file a deployment touches on the node, all in the config's directory."""

    config: str
    backup: str
    write_tmp: str
    backup_tmp: str
    restore_tmp: str
    marker: str
    deadline: str
    result: str
    rejected: str
    script: str
    unit: str

    @classmethod
    def of(cls, config: str, deploy_id: str, stamp: str) -> DeployPaths:
        """The paths for deployment ``deploy_id`` of ``config``, backed up as ``.bak.STAMP``."""
        folder, base = posixpath.split(config)
        hidden = posixpath.join(folder, f".{base}{_HIDDEN}{deploy_id}")
        return cls(
            config=config,
            backup=f"{config}.bak.{stamp}",
            write_tmp=f"{hidden}.new.tmp",
            backup_tmp=f"{hidden}.bak.tmp",
            restore_tmp=f"{hidden}.restore.tmp",
            marker=f"{hidden}.armed",
            deadline=f"{hidden}.deadline",
            result=f"{hidden}.result",
            rejected=f"{config}.rejected.{stamp}",
            script=f"{hidden}.rollback.sh",
            unit=f"meshtui-rollback-{deploy_id}",
        )


# --------------------------------------------------------------------- pure helpers


def diff_sha256(diff: str) -> str:
    """The sha256 of the redacted diff: what the audit log records."""
    return hashlib.sha256(diff.encode("utf-8")).hexdigest()


def restart_argv(node: Node) -> list[str]:
    """The node's restart command as an argv (shell words; no shell features).

    Raises:
        InventoryError: the command does not split into words (unbalanced quotes).
    """
    try:
        argv = shlex.split(node.restart_command)
    except ValueError as exc:
        raise InventoryError(
            f"cannot split into words: {exc}", node=node.name, field="restart_command"
        ) from None
    if not argv:
        raise InventoryError("is empty", node=node.name, field="restart_command")
    return argv


def deploy_order(inv: Inventory, names: Iterable[str]) -> list[str]:
    """The order nodes are deployed in: servers, then edges, then relays (the backbone last).

    Within a role, by site, then in inventory order. The run is strictly one
    node at a time, so two relays (of a site or not) are never down together.
    Relays go last because every site's inter-site paths cross them: a config
    mistake then shows on a node that only affects its own site, and the run
    stops before the shared backbone is touched.
    """
    index = {name: i for i, name in enumerate(inv.nodes)}
    unique = list(dict.fromkeys(names))
    for name in unique:
        inv.node(name)  # InventoryError for an unknown node

    def key(name: str) -> tuple[int, str, int]:
        node = inv.nodes[name]
        return (_ROLE_ORDER.get(node.role or "", 1), node.site or "", index[name])

    return sorted(unique, key=key)


def verify_budget(inv: Inventory, node_name: str, margin: float = DEFAULT_VERIFY_MARGIN) -> float:
    """Seconds to wait for neighbours and destinations after a restart: 3 x hello + margin.

    The hello is the longest one that matters: the node's own on every
    interface, and its peers' towards it (their tunnel hellos, and the LAN
    hello of other nodes of its site).
    """
    node = inv.node(node_name)
    hellos = [t.hello for t in node.tunnels]
    if node.lan:
        hellos.append(node.lan_hello)
        hellos.extend(
            other.lan_hello
            for other in inv.nodes.values()
            if other.name != node.name and other.lan and other.site == node.site
        )
    for other in inv.nodes.values():
        hellos.extend(t.hello for t in other.tunnels if t.peer == node.name)
    hello = max(hellos, default=inv.hello_wired)
    return HELLOS_TO_VERIFY * hello + margin


def expectations_from(model: NodeModel | None) -> Expectations:
    """Neighbours up and destinations reachable in ``model`` (None: babeld did not answer)."""
    if model is None:
        return Expectations()
    return Expectations(
        neighbours=frozenset(_up_neighbours(model)),
        destinations=frozenset(_reachable(model)),
        baseline=True,
    )


def _up_neighbours(model: NodeModel) -> set[tuple[str, str]]:
    return {(n.interface, n.address) for n in model.neighbours.values() if n.up}


def _reachable(model: NodeModel) -> set[str]:
    return {
        r.prefix for r in model.routes.values() if r.installed and r.metric < INFINITY
    }  # fmt: skip


def lint_config_text(
    inv: Inventory,
    node_name: str,
    text: str,
    facts: object | None = None,
) -> list[LintEntry]:
    """Validate ``text`` for the node's babeld version and run the security lint.

    ``facts`` (a :class:`meshtui.core.facts.NodeFacts`) adds the checks that
    need the node's interfaces: public addresses, the default route, and (a
    warning of this module) interfaces the config names that the node lacks.
    """
    node = inv.node(node_name)
    label = f"{node.name}:{node.config_path}"
    try:
        parsed = parse_config(text, label, node.babeld_version)
    except ValueError as exc:
        return [LintEntry("grammar", "error", label, 1, str(exc))]
    entries = [
        LintEntry("grammar", d.severity.value, d.file, d.line, scrub(d.message), d.fix)
        for d in parsed.diagnostics
    ]
    if not parsed.ok:
        return entries
    if_facts = interface_facts_from(facts) if facts is not None else None
    for f in lint_node(inv, node_name, parsed, if_facts):
        entries.append(LintEntry("security", f.severity.value, f.file, f.line, f.message, f.fix))
    links = getattr(facts, "links", None)
    if links:
        present = {link.name for link in links}
        for name, conf in sorted(parsed.interfaces.items()):
            if name not in present:
                line = conf.lines[0] if conf.lines else 1
                entries.append(
                    LintEntry(
                        "deploy",
                        "warning",
                        label,
                        line,
                        f"interface {name} does not exist on {node.name} (babeld shows it "
                        "`up false`; filters naming it never match)",
                        "check the interface names in the inventory",
                    )
                )
    return entries


# --------------------------------------------------------------------- node scripts

_ROLLBACK_BODY = r"""
while :; do
  [ -e "$m" ] || { rm -f "$self"; exit 0; }
  rel=$(cat "$d" 2>/dev/null)
  case $rel in ''|*[!0-9]*) rel=0 ;; esac
  set_at=$(date -r "$d" +%s 2>/dev/null) || set_at=0
  [ "$(date +%s)" -ge $((set_at + rel)) ] && break
  sleep 1
done
mv -f "$m" "$m.fired" 2>/dev/null || { rm -f "$self"; exit 0; }
rm -f "$wtmp"
if [ -n "$bak" ]; then
  cp -p "$bak" "$rtmp" && sync && mv -f "$rtmp" "$cfg"
else
  mv -f "$cfg" "$rej"
fi
restore=$?
restart </dev/null >/dev/null 2>&1
rc=$?
if command -v logger >/dev/null 2>&1; then
  logger -t meshtui "deploy $id of $cfg not confirmed: previous config restored" \
    "(restore=$restore restart=$rc)"
fi
printf 'rolled-back %s restore=%s restart=%s\n' "$(date +%s)" "$restore" "$rc" \
  > "$res.tmp" && mv -f "$res.tmp" "$res"
rm -f "$m.fired" "$d" "$self"
"""

_ARM_SCRIPT = r"""
n=$1 m=$2 d=$3 info=$4 kind=$5 unit=$6 script=$7
echo "$n" > "$d.tmp" && mv -f "$d.tmp" "$d" || exit 1
printf '%s\n' "$info" > "$m.tmp" && mv -f "$m.tmp" "$m" || exit 1
if [ "$kind" = systemd ]; then
  systemd-run --quiet --unit="$unit" --description="meshtui: roll back unconfirmed babeld config" \
    --on-active="${n}s" --timer-property=AccuracySec=1s /bin/sh "$script" \
    || { rm -f "$m" "$d"; exit 1; }
else
  command -v setsid >/dev/null 2>&1 || { rm -f "$m" "$d"; echo "setsid missing" >&2; exit 1; }
  setsid sh "$script" </dev/null >/dev/null 2>&1 &
fi
echo "armed $(date +%s)"
"""

_PREFLIGHT_SCRIPT = r"""
date +%s
if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then
  echo systemd
else
  echo detached
fi
"""


def rollback_script(
    paths: DeployPaths, has_old: bool, deploy_id: str, restart: Sequence[str]
) -> str:
    """The POSIX sh script the node runs to roll back a deployment (written next to the
    config, run by the detached process or the systemd timer).

    Every path and the restart argv are set at the top, each quoted with
    :func:`shlex.quote`; the body then only expands those variables. It waits
    until its deadline (the deadline file's mtime, node clock, plus the seconds it
    holds) while the marker exists, claims
    the marker with an atomic rename (the deployer disarms with an atomic
    unlink: exactly one of them wins), restores the backup by copy + rename (no
    backup: moves the new file aside), restarts, and writes a result line.
    """
    q = shlex.quote
    values = {
        "self": paths.script,
        "m": paths.marker,
        "d": paths.deadline,
        "cfg": paths.config,
        "bak": paths.backup if has_old else "",
        "wtmp": paths.write_tmp,
        "rtmp": paths.restore_tmp,
        "res": paths.result,
        "rej": paths.rejected,
        "id": deploy_id,
    }
    head = [f"# meshtui: roll back deployment {deploy_id} of {paths.config} unless confirmed"]
    head += [f"{name}={q(value)}" for name, value in values.items()]
    head.append(f"restart() {{ {shlex.join(restart)}; }}")
    return "\n".join(head) + "\n" + _ROLLBACK_BODY


# --------------------------------------------------------------------- operator


class Operator(Protocol):
    """Who approves a change before it is written and confirms it once verified."""

    async def approve(self, change: Change) -> bool:
        """Show the diff; True writes and restarts."""
        ...

    async def confirm(self, change: Change, verification: Verification) -> bool:
        """Keep the verified change? The deployer bounds the wait by ``confirm_timeout``."""
        ...

    def progress(self, node: str, message: str) -> None:
        """A step happened (one line, no key values)."""
        ...


class AutoOperator:
    """Approves every change and confirms exactly those that verified (``--yes``)."""

    def __init__(self, log: Callable[[str, str], None] | None = None) -> None:
        self._log = log

    async def approve(self, change: Change) -> bool:
        return True

    async def confirm(self, change: Change, verification: Verification) -> bool:
        return verification.ok

    def progress(self, node: str, message: str) -> None:
        if self._log is not None:
            self._log(node, message)


# --------------------------------------------------------------------- SSH helpers


class _Lost(Exception):
    """The node's SSH connection died: after arming, the node's timer owns the rollback."""


class _NodeFailure(Exception):
    """An operation failed on the node although the connection is alive."""


def _why(exc: BaseException) -> str:
    if isinstance(exc, ConnectError):  # its message repeats the whole command: keep the cause
        return str(exc).rsplit(": ", 1)[-1]
    if isinstance(exc, asyncssh.SFTPError | asyncssh.DisconnectError):
        return exc.reason or type(exc).__name__
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return str(exc) or type(exc).__name__


class _Remote:
    """One node's SSH connection and SFTP session for the length of a deployment."""

    def __init__(self, pool: SSHPool, node: Node) -> None:
        self.pool = pool
        self.node = node
        self.conn: asyncssh.SSHClientConnection | None = None
        self.sftp: asyncssh.SFTPClient | None = None

    async def open(self) -> None:
        try:
            self.conn = await self.pool.connection(self.node)
        except ConnectError as exc:
            raise _NodeFailure(str(exc)) from None
        try:
            self.sftp = await asyncio.wait_for(self.conn.start_sftp_client(), OP_TIMEOUT)
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            if self.conn.is_closed():
                raise _Lost(f"SSH connection lost while starting SFTP: {_why(exc)}") from None
            raise _NodeFailure(
                f"{self.node.name}: SFTP unavailable ({_why(exc)}): does sshd allow the "
                "sftp subsystem?"
            ) from None

    async def close(self) -> None:
        if self.sftp is not None:
            with contextlib.suppress(Exception):
                self.sftp.exit()
                await asyncio.wait_for(self.sftp.wait_closed(), 2.0)
            self.sftp = None

    @property
    def alive(self) -> bool:
        return self.conn is not None and not self.conn.is_closed()

    def lost(self, what: str, exc: BaseException | None = None) -> _Lost:
        self.pool.forget(self.node.name, self.conn)
        detail = f": {_why(exc)}" if exc is not None else ""
        return _Lost(f"SSH connection lost during {what}{detail}")

    @contextlib.asynccontextmanager
    async def guard(self, what: str) -> AsyncIterator[None]:
        """Map asyncssh/OS errors of ``what`` to _Lost (connection gone) or _NodeFailure."""
        try:
            yield
        except (_Lost, _NodeFailure):
            raise
        except (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection) as exc:
            raise self.lost(what, exc) from None
        except asyncssh.SFTPError as exc:
            if not self.alive:
                raise self.lost(what, exc) from None
            raise _NodeFailure(f"{self.node.name}: {what}: {_why(exc)}") from None
        except (asyncssh.Error, OSError, EOFError, TimeoutError) as exc:
            # A stuck or broken path: an SFTP operation that times out is treated
            # as a dead connection (keepalives would declare it so shortly).
            raise self.lost(what, exc) from None

    def _sftp(self) -> asyncssh.SFTPClient:
        if self.sftp is None or not self.alive:
            raise self.lost("SFTP")
        return self.sftp

    async def run(self, argv: Sequence[str], timeout: float = OP_TIMEOUT, what: str = ""):
        """Run an argv on the node (quoted with shlex.join by the pool)."""
        if not self.alive:
            raise self.lost(what or argv[0])
        try:
            return await self.pool.run(self.node, argv, timeout=timeout)
        except ConnectError as exc:
            if exc.reason == "timeout" and self.alive:
                raise _NodeFailure(str(exc)) from None
            raise self.lost(what or argv[0], exc) from None

    async def sh(self, script: str, *args: str, timeout: float = OP_TIMEOUT, what: str = ""):
        return await self.run(["sh", "-c", script, "meshtui", *args], timeout, what)

    # ------------------------------------------------------------ files

    async def resolve(self, path: str) -> str:
        """The file a (possibly symlinked) config path really is."""
        sftp = self._sftp()
        async with self.guard(f"lstat {path}"):
            try:
                attrs = await asyncio.wait_for(sftp.lstat(path), OP_TIMEOUT)
            except asyncssh.SFTPNoSuchFile:
                return path
            if attrs.permissions is not None and stat.S_ISLNK(attrs.permissions):
                return str(await asyncio.wait_for(sftp.realpath(path), OP_TIMEOUT))
        return path

    async def read(self, path: str) -> tuple[bytes | None, asyncssh.SFTPAttrs | None]:
        """The file's bytes and attributes (None, None when it does not exist)."""
        sftp = self._sftp()
        async with self.guard(f"reading {path}"):
            try:
                attrs = await asyncio.wait_for(sftp.stat(path), OP_TIMEOUT)
            except asyncssh.SFTPNoSuchFile:
                return None, None
            async with sftp.open(path, "rb") as f:
                data: bytes = await asyncio.wait_for(f.read(), OP_TIMEOUT)
        return bytes(data), attrs

    async def exists(self, path: str) -> bool:
        sftp = self._sftp()
        async with self.guard(f"stat {path}"):
            return bool(await asyncio.wait_for(sftp.exists(path), OP_TIMEOUT))

    async def listdir(self, path: str) -> list[str]:
        sftp = self._sftp()
        async with self.guard(f"listing {path}"):
            try:
                names = await asyncio.wait_for(sftp.listdir(path), OP_TIMEOUT)
            except asyncssh.SFTPNoSuchFile:
                return []
        return [str(n) for n in names]

    async def remove(self, path: str) -> bool:
        """Unlink ``path``; False when it did not exist (someone else removed it first)."""
        sftp = self._sftp()
        async with self.guard(f"removing {path}"):
            try:
                await asyncio.wait_for(sftp.remove(path), OP_TIMEOUT)
            except asyncssh.SFTPNoSuchFile:
                return False
        return True

    async def write_atomic(
        self,
        path: str,
        tmp: str,
        data: bytes,
        mode: int,
        owner: tuple[int, int] | None = None,
    ) -> list[str]:
        """:meth:`stage` then :meth:`rename`: ``path`` is the old file or the new one, never
        a partial one. Returns notes (fallbacks used, an owner that could not be kept)."""
        notes = await self.stage(path, tmp, data, mode, owner)
        return notes + await self.rename(tmp, path)

    async def stage(
        self,
        path: str,
        tmp: str,
        data: bytes,
        mode: int,
        owner: tuple[int, int] | None = None,
    ) -> list[str]:
        """Write ``data`` to ``tmp`` (0600 while written), chmod/chown like ``path``, fsync."""
        sftp = self._sftp()
        notes: list[str] = []
        async with self.guard(f"writing {tmp}"):
            with contextlib.suppress(asyncssh.SFTPNoSuchFile):
                await asyncio.wait_for(sftp.remove(tmp), OP_TIMEOUT)  # a leftover of ours
            attrs = asyncssh.SFTPAttrs(permissions=0o600)
            async with sftp.open(tmp, "xb", attrs=attrs) as f:
                await asyncio.wait_for(f.write(data), OP_TIMEOUT)
                await asyncio.wait_for(f.chmod(mode), OP_TIMEOUT)
                if owner is not None:
                    current = await asyncio.wait_for(f.stat(), OP_TIMEOUT)
                    if (current.uid, current.gid) != owner:
                        try:
                            await asyncio.wait_for(f.chown(*owner), OP_TIMEOUT)
                        except asyncssh.SFTPError as exc:
                            notes.append(
                                f"could not keep owner {owner[0]}:{owner[1]} on {path} "
                                f"({_why(exc)})"
                            )
                try:
                    await asyncio.wait_for(f.fsync(), OP_TIMEOUT)
                except asyncssh.SFTPOpUnsupported:
                    notes.append("sshd lacks fsync@openssh.com: used `sync`")
                    await self.run(["sync"], what="sync")
        return notes

    async def rename(self, tmp: str, path: str) -> list[str]:
        """Atomically replace ``path`` by ``tmp`` (posix-rename@openssh.com, else ``mv -f``)."""
        sftp = self._sftp()
        notes: list[str] = []
        async with self.guard(f"renaming {tmp} to {path}"):
            try:
                await asyncio.wait_for(sftp.posix_rename(tmp, path), OP_TIMEOUT)
            except asyncssh.SFTPOpUnsupported:
                notes.append("sshd lacks posix-rename@openssh.com: used `mv -f` (rename(2))")
                res = await self.run(["mv", "-f", tmp, path], what="rename")
                if res.exit_status != 0:
                    raise _NodeFailure(
                        f"{self.node.name}: mv {tmp} {path} failed: {res.stderr.strip()}"
                    ) from None
        return notes

    async def channel_closed(self) -> None:
        """Wait until the SSH connection closes."""
        if self.conn is None:
            return
        await self.conn.wait_closed()


# --------------------------------------------------------------------- the deployer


@dataclass
class _Ctx:
    """Working state of one node's deployment."""

    node: Node
    report: NodeReport
    remote: _Remote
    paths: DeployPaths
    stamp: str = ""
    change: Change | None = None
    new: bytes = field(default=b"", repr=False)
    old: bytes | None = field(default=None, repr=False)
    old_attrs: asyncssh.SFTPAttrs | None = None
    expect: Expectations = field(default_factory=Expectations)
    timer: TimerKind = TimerKind.DETACHED
    restart: list[str] = field(default_factory=list)
    armed: bool = False
    written: bool = False
    deadline_at: float = 0.0  # local monotonic estimate of the node's deadline
    budget: float = 0.0


class Deployer:
    """Deploys generated configs to inventory nodes, safely; see the module docstring.

    Args:
        inv: the inventory (configs are rendered from it).
        pool: SSH connections (shared with live sessions when there are any).
        operator: approves and confirms (CLI prompt, TUI dialog, :class:`AutoOperator`).
        options: timeouts and the timer kind.
        audit_path: the audit log (None: the default path); ``audit=False`` disables it.
        key_values: HMAC key values by name (None: read from the inventory's
            value_file/value_env when a node needs them).
        hook: fault injection for tests and benchmarks, called after each phase.
    """

    def __init__(
        self,
        inv: Inventory,
        pool: SSHPool,
        operator: Operator,
        options: DeployOptions | None = None,
        *,
        audit: bool = True,
        audit_path: Any = None,
        key_values: Mapping[str, str] | None = None,
        hook: FaultHook | None = None,
    ) -> None:
        self.inv = inv
        self.pool = pool
        self.operator = operator
        self.options = options or DeployOptions()
        self.audit = audit
        self.audit_path = audit_path
        self._key_values = dict(key_values) if key_values is not None else None
        self.hook = hook
        self.deploy_id = _new_id()

    # ------------------------------------------------------------ run

    async def deploy(self, names: Iterable[str] | None = None) -> DeployReport:
        """Deploy to ``names`` (default: every node) in :func:`deploy_order`, one at a time.

        Stops at the first node whose outcome is not confirmed/unchanged/dry-run;
        the nodes after it are reported as skipped.
        """
        order = deploy_order(self.inv, list(self.inv.nodes) if names is None else names)
        report = DeployReport(self.deploy_id, order)
        for i, name in enumerate(order):
            node_report = await self.deploy_node(name, position=i + 1, total=len(order))
            report.nodes.append(node_report)
            self._audit(node_report, report)
            if not node_report.ok and not (
                self.options.dry_run and node_report.outcome is Outcome.BLOCKED
            ):
                report.stopped_at = name
                for rest in order[i + 1 :]:
                    node = self.inv.nodes[rest]
                    report.nodes.append(
                        NodeReport(
                            rest,
                            self.deploy_id,
                            node.config_path,
                            Outcome.SKIPPED,
                            messages=[f"not attempted: {name} ended {node_report.outcome.value}"],
                        )
                    )
                break
        return report

    def _audit(self, r: NodeReport, report: DeployReport) -> None:
        if not self.audit or r.outcome in (Outcome.DRY_RUN, Outcome.SKIPPED):
            return
        detail = "; ".join(r.messages[-3:])
        record = AuditRecord(
            node=r.node,
            deploy_id=r.deploy_id,
            result=r.outcome.value,
            rolled_back=r.rolled_back,
            rolled_back_by=r.rolled_back_by,
            config_path=r.config_path,
            diff_sha256=r.diff_sha256,
            backup=r.backup,
            detail=detail,
            inventory=str(self.inv.path) if self.inv.path else None,
        )
        try:
            append_audit(record, self.audit_path)
        except OSError as exc:
            report.audit_errors.append(f"audit log not written for {r.node}: {_why(exc)}")

    def _audit_found(self, node: Node, deploy_id: str, result: str, detail: str) -> None:
        """Log a rollback the node's timer did for an earlier deployment, found now."""
        if not self.audit:
            return
        with contextlib.suppress(OSError):
            append_audit(
                AuditRecord(
                    node=node.name,
                    deploy_id=deploy_id,
                    result=result,
                    rolled_back=True,
                    rolled_back_by="node-timer",
                    config_path=node.config_path,
                    detail=detail,
                    inventory=str(self.inv.path) if self.inv.path else None,
                ),
                self.audit_path,
            )

    def _say(self, ctx: _Ctx, message: str) -> None:
        message = scrub(message)
        ctx.report.messages.append(message)
        with contextlib.suppress(Exception):
            self.operator.progress(ctx.node.name, message)

    async def _hook(self, ctx: _Ctx, phase: Phase) -> None:
        ctx.report.phase = phase
        if self.hook is not None:
            await self.hook(ctx.node.name, phase)

    # ------------------------------------------------------------ one node

    async def deploy_node(self, name: str, position: int = 1, total: int = 1) -> NodeReport:
        """Deploy one node; never raises for node, network or operator trouble."""
        node = self.inv.node(name)
        node_id = f"{self.deploy_id}-{position}" if total > 1 else self.deploy_id
        report = NodeReport(name, node_id, node.config_path)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        paths = DeployPaths.of(node.config_path, node_id, stamp)
        ctx = _Ctx(node, report, _Remote(self.pool, node), paths, stamp)
        t0 = time.monotonic()
        try:
            try:
                await self._run(ctx, position, total)
            except _NodeFailure as exc:
                await self._after_failure(ctx, str(exc))
        except _Lost as exc:
            await self._lost(ctx, str(exc))
        except asyncio.CancelledError:
            if ctx.armed:
                report.outcome = Outcome.LOST
                self._say(ctx, "interrupted: the node's timer restores the previous config")
                self._audit(report, DeployReport(self.deploy_id, [name]))
            raise
        finally:
            await ctx.remote.close()
            report.timings["total"] = time.monotonic() - t0
        return report

    async def _after_failure(self, ctx: _Ctx, message: str) -> None:
        """A node-side failure: nothing changed, or (once armed) roll back now."""
        if not ctx.armed:
            ctx.report.outcome = Outcome.FAILED
            self._say(ctx, f"{message}; the config was not changed")
            return
        try:
            await self._rollback(ctx, message)
        except _NodeFailure as exc:
            ctx.report.outcome = Outcome.LOST
            self._say(ctx, f"rollback request failed ({exc}): the node's timer restores it")
            await self._observe_timer(ctx, message)

    async def _run(self, ctx: _Ctx, position: int, total: int) -> None:
        node, report = ctx.node, ctx.report
        # 1. prepare (local): render and lint
        try:
            ctx.restart = restart_argv(node)
            values = self._keys_for(node)
            text = render_babeld_conf(self.inv, node.name, values)
        except (GenError, InventoryError) as exc:
            report.outcome = Outcome.FAILED
            self._say(ctx, str(exc))
            return
        has_secret = any(t.key and t.key in values for t in node.tunnels)
        ctx.new = text.encode("utf-8")
        t = time.monotonic()
        await ctx.remote.open()
        facts = await self._facts(ctx)
        report.lint = lint_config_text(self.inv, node.name, text, facts)
        errors = [e for e in report.lint if e.error]
        report.timings["prepare"] = time.monotonic() - t
        await self._hook(ctx, Phase.PREPARE)
        if errors:
            report.outcome = Outcome.BLOCKED
            self._say(ctx, f"{len(errors)} lint error(s): nothing written")
            return

        # 2. read what runs now, check for pending rollbacks, diff
        t = time.monotonic()
        node_now, available = await self._preflight(ctx)
        if not await self._check_pending(ctx, node_now):
            return
        real = await ctx.remote.resolve(node.config_path)
        if real != node.config_path:
            ctx.paths = DeployPaths.of(real, report.deploy_id, ctx.stamp)
            self._say(ctx, f"{node.config_path} is a symlink: deploying to {real}")
        ctx.old, ctx.old_attrs = await ctx.remote.read(ctx.paths.config)
        old_text = ctx.old.decode("utf-8", "replace") if ctx.old is not None else None
        label = f"{node.name}:{ctx.paths.config}"
        report.diff = config_diff(old_text, text, label)
        report.diff_sha256 = diff_sha256(report.diff) if report.diff else None
        report.timings["read"] = time.monotonic() - t
        await self._hook(ctx, Phase.READ)
        if ctx.old == ctx.new:
            report.outcome = Outcome.UNCHANGED
            self._say(ctx, "already runs this config: nothing to do")
            return
        ctx.timer = self._timer_kind(available)
        change = Change(
            deploy_id=report.deploy_id,
            node=node.name,
            role=node.role or "",
            site=node.site,
            config_path=ctx.paths.config,
            diff=report.diff,
            diff_sha256=report.diff_sha256 or "",
            lint=tuple(report.lint),
            new_file=ctx.old is None,
            position=position,
            total=total,
            confirm_timeout=self.options.confirm_timeout,
            timer=ctx.timer.value,
        )
        ctx.change = change
        if self.options.dry_run:
            report.outcome = Outcome.DRY_RUN
            return
        if not await self.operator.approve(change):
            report.outcome = Outcome.DECLINED
            self._say(ctx, "declined: nothing written")
            return

        # baseline: what must come back
        ctx.expect = await self._baseline(ctx)

        # 3. backup
        t = time.monotonic()
        mode, owner = self._mode_owner(ctx, has_secret)
        if ctx.old is not None:
            backup = ctx.paths.backup
            if await ctx.remote.exists(backup):
                backup = f"{backup}-{secrets.token_hex(2)}"
                ctx.paths = replace(ctx.paths, backup=backup)
            old_mode = stat.S_IMODE(ctx.old_attrs.permissions or 0o644) if ctx.old_attrs else 0o644
            for note in await ctx.remote.write_atomic(
                backup, ctx.paths.backup_tmp, ctx.old, old_mode, owner
            ):
                self._say(ctx, note)
            report.backup = backup
            self._say(ctx, f"backup {backup} (mode {old_mode:04o})")
        report.timings["backup"] = time.monotonic() - t
        await self._hook(ctx, Phase.BACKUP)

        # 4. stage the new config next to it (not in place yet)
        t = time.monotonic()
        for note in await ctx.remote.stage(
            ctx.paths.config, ctx.paths.write_tmp, ctx.new, mode, owner
        ):
            self._say(ctx, note)
        report.timings["stage"] = time.monotonic() - t

        # 5. arm the rollback on the node, then swap the new config in atomically
        t = time.monotonic()
        await self._arm(ctx)
        report.timings["arm"] = time.monotonic() - t
        await self._hook(ctx, Phase.ARM)
        t = time.monotonic()
        for note in await ctx.remote.rename(ctx.paths.write_tmp, ctx.paths.config):
            self._say(ctx, note)
        ctx.written = True
        self._say(ctx, f"wrote {ctx.paths.config} (mode {mode:04o})")
        report.timings["write"] = time.monotonic() - t
        await self._hook(ctx, Phase.WRITE)
        await self._extend(ctx, self.options.restart_timeout)

        # 6. restart
        t = time.monotonic()
        restart_ok = await self._restart(ctx)
        report.timings["restart"] = time.monotonic() - t
        await self._hook(ctx, Phase.RESTART)
        if not restart_ok:
            await self._rollback(ctx, "the restart failed")
            return

        # 7. verify
        budget = self.options.verify_timeout or verify_budget(
            self.inv, node.name, self.options.verify_margin
        )
        await self._extend(ctx, budget)
        t = time.monotonic()
        report.verification = await self._verify(ctx, budget)
        report.timings["verify"] = time.monotonic() - t
        for line in report.verification.lines():
            self._say(ctx, line)
        await self._hook(ctx, Phase.VERIFY)
        if not report.verification.ok:
            await self._rollback(ctx, "verification failed")
            return

        # 8. confirm
        await self._extend(ctx, self.options.confirm_timeout)
        t = time.monotonic()
        confirmed = await self._confirm(ctx, change, report.verification)
        report.timings["confirm"] = time.monotonic() - t
        await self._hook(ctx, Phase.CONFIRM)
        if not confirmed:
            await self._rollback(ctx, "not confirmed")
            return
        if await self._disarm(ctx):
            report.outcome = Outcome.CONFIRMED
            self._say(ctx, "confirmed: rollback disarmed")
            await self._prune_backups(ctx)
        else:
            await self._observe_timer(ctx, "confirmed too late")

    # ------------------------------------------------------------ steps

    def _keys_for(self, node: Node) -> dict[str, str]:
        names = keys_used(self.inv, [node.name])
        if not names:
            return {}
        if self._key_values is not None:
            return {k: v for k, v in self._key_values.items() if k in names}
        return read_key_values(self.inv, names)

    async def _facts(self, ctx: _Ctx) -> object | None:
        from meshtui.transport.facts import fetch_remote_facts

        try:
            return await fetch_remote_facts(
                self.pool, ctx.node, ["links", "addresses", "routes"], timeout=OP_TIMEOUT
            )
        except ConnectError as exc:
            raise _NodeFailure(str(exc)) from None

    async def _preflight(self, ctx: _Ctx) -> tuple[int | None, str]:
        res = await ctx.remote.sh(_PREFLIGHT_SCRIPT, what="preflight")
        lines = res.stdout.split()
        now = int(lines[0]) if lines and lines[0].isdigit() else None
        available = lines[1] if len(lines) > 1 else "detached"
        return now, available

    def _timer_kind(self, available: str) -> TimerKind:
        wanted = self.options.timer
        if wanted is TimerKind.AUTO:
            return TimerKind.SYSTEMD if available == "systemd" else TimerKind.DETACHED
        return wanted

    async def _check_pending(self, ctx: _Ctx, node_now: int | None) -> bool:
        """Refuse while an earlier deployment's rollback is armed or running; report past ones."""
        folder, base = posixpath.split(ctx.paths.config)
        prefix = f".{base}{_HIDDEN}"
        names = [n for n in await ctx.remote.listdir(folder or "/") if n.startswith(prefix)]
        armed = [n for n in names if n.endswith(".armed") or n.endswith(".armed.fired")]
        for name in sorted(n for n in names if n.endswith(".result")):
            dep = name[len(prefix) : -len(".result")]
            path = posixpath.join(folder, name)
            data, _ = await ctx.remote.read(path)
            text = (data or b"").decode("utf-8", "replace").strip()
            self._say(ctx, f"earlier deployment {dep} was rolled back by the node's timer: {text}")
            self._audit_found(ctx.node, dep, "rolled-back", f"found later on the node: {text}")
            await ctx.remote.remove(path)
        if armed:
            name = armed[0]
            dep = name[len(prefix) :].split(".armed")[0]
            deadline_path = posixpath.join(folder, f"{prefix}{dep}.deadline")
            data, attrs = await ctx.remote.read(deadline_path)
            text = (data or b"").decode("ascii", "replace").strip()
            due = None
            if text.isdigit() and attrs is not None and attrs.mtime is not None:
                due = int(attrs.mtime) + int(text)
            ctx.report.outcome = Outcome.REFUSED
            if name.endswith(".fired"):
                self._say(ctx, f"deployment {dep} is being rolled back on the node right now")
            elif due is not None and node_now is not None and node_now > due + STALE_AFTER:
                self._say(
                    ctx,
                    f"stale rollback marker {posixpath.join(folder, name)}: its timer should "
                    f"have fired {node_now - due} s ago (node rebooted?); the config on disk "
                    "may be unconfirmed: compare it with the newest backup, restore it if "
                    "needed, then remove the marker",
                )
            else:
                left = f" (due in {due - node_now} s)" if due and node_now else ""
                self._say(ctx, f"a rollback of deployment {dep} is armed on the node{left}: "
                          "wait for it")  # fmt: skip
            return False
        for name in names:
            if name.endswith((".tmp", ".deadline", ".rollback.sh")):  # leftovers; no timer alive
                await ctx.remote.remove(posixpath.join(folder, name))
        return True

    async def _baseline(self, ctx: _Ctx) -> Expectations:
        try:
            model = await self._dump(ctx, 5.0)
        except _NodeFailure as exc:
            self._say(ctx, f"babeld does not answer before the change ({exc}): "
                      "verification only waits for its socket")  # fmt: skip
            return Expectations()
        expect = expectations_from(model)
        return expect

    def _mode_owner(self, ctx: _Ctx, has_secret: bool) -> tuple[int, tuple[int, int] | None]:
        attrs = ctx.old_attrs
        mode = stat.S_IMODE(attrs.permissions) if attrs and attrs.permissions else 0o644
        if has_secret and mode & 0o077:
            mode &= 0o700
            self._say(ctx, f"the config holds a key: mode tightened to {mode:04o}")
        owner = None
        if attrs is not None and attrs.uid is not None and attrs.gid is not None:
            owner = (attrs.uid, attrs.gid)
        return mode, owner

    async def _arm(self, ctx: _Ctx) -> None:
        """Write the rollback script next to the config, then start its timer on the node."""
        opts = self.options
        seconds = math.ceil(ARM_ALLOWANCE + opts.rollback_grace)
        script = rollback_script(ctx.paths, ctx.old is not None, ctx.report.deploy_id, ctx.restart)
        for note in await ctx.remote.write_atomic(
            ctx.paths.script, ctx.paths.script + ".tmp", script.encode(), 0o700
        ):
            self._say(ctx, note)
        if ctx.timer is TimerKind.SYSTEMD and any(c in ctx.paths.script for c in "%$\\"):
            ctx.timer = TimerKind.DETACHED  # systemd would expand those in ExecStart
            self._say(ctx, "the config path has %, $ or \\: detached rollback, not systemd")
        info = (
            f"meshtui deployment {ctx.report.deploy_id}: unless confirmed, {ctx.paths.script} "
            f"restores {ctx.paths.config} and restarts babeld; deadline: the mtime of "
            f"{ctx.paths.deadline} plus the seconds it holds"
        )
        res = await ctx.remote.sh(
            _ARM_SCRIPT,
            str(seconds),
            ctx.paths.marker,
            ctx.paths.deadline,
            info,
            ctx.timer.value,
            ctx.paths.unit,
            ctx.paths.script,
            what="arming the rollback",
        )
        if res.exit_status != 0 or "armed" not in res.stdout:
            with contextlib.suppress(_NodeFailure):
                await ctx.remote.remove(ctx.paths.script)
                await ctx.remote.remove(ctx.paths.write_tmp)
            raise _NodeFailure(
                f"{ctx.node.name}: could not arm the rollback ({ctx.timer.value}): "
                f"{(res.stderr or res.stdout).strip() or f'exit {res.exit_status}'}"
            )
        ctx.armed = True
        ctx.deadline_at = time.monotonic() + seconds
        ctx.report.timer = ctx.timer.value
        how = "transient systemd timer" if ctx.timer is TimerKind.SYSTEMD else "detached process"
        self._say(ctx, f"rollback armed on the node ({how}); it fires unless confirmed")

    async def _extend(self, ctx: _Ctx, seconds: float) -> None:
        """Move the node's deadline to now + ``seconds`` + grace (node clock).

        Over SFTP only (no login shell, however slow it is): the deadline file
        holds seconds counted from its own mtime, which the node's clock sets.
        """
        total = math.ceil(seconds + self.options.rollback_grace)
        await ctx.remote.write_atomic(
            ctx.paths.deadline, ctx.paths.deadline + ".tmp", f"{total}\n".encode(), 0o600
        )
        ctx.deadline_at = time.monotonic() + total
        if not await ctx.remote.exists(ctx.paths.marker):
            raise _NodeFailure(f"{ctx.node.name}: the node's rollback timer fired early")

    async def _restart(self, ctx: _Ctx) -> bool:
        command = shlex.join(ctx.restart)
        t = time.monotonic()
        try:
            res = await ctx.remote.run(
                ctx.restart, timeout=self.options.restart_timeout, what="the restart"
            )
        except _NodeFailure as exc:
            self._say(ctx, f"restart `{command}`: {exc}")
            return False
        took = time.monotonic() - t
        if res.exit_status != 0:
            tail = " | ".join((res.stderr or res.stdout).strip().splitlines()[-3:])
            tail = tail or "no output"
            self._say(ctx, f"restart `{command}` failed (exit {res.exit_status}): {tail}")
            return False
        self._say(ctx, f"restarted babeld (`{command}`, {took:.1f} s)")
        return True

    async def _dump(self, ctx: _Ctx, timeout: float) -> NodeModel:
        """One dump through the SSH channel to babeld's socket (_NodeFailure: no answer)."""
        if not ctx.remote.alive:
            raise ctx.remote.lost("the dump")
        where = f"{ctx.node.name} {ctx.node.socket}"
        try:
            channel = await self.pool.open_channel(ctx.node)
        except ConnectError as exc:
            if not ctx.remote.alive or exc.reason == "ssh":
                raise ctx.remote.lost("opening babeld's socket", exc) from None
            raise _NodeFailure(str(exc)) from None
        try:
            return await asyncio.wait_for(dump_channel(channel, where), timeout)
        except TimeoutError:
            raise _NodeFailure(f"{where}: no complete dump within {timeout:g} s") from None
        except ConnectError as exc:
            if not ctx.remote.alive:
                raise ctx.remote.lost("the dump", exc) from None
            raise _NodeFailure(str(exc)) from None
        finally:
            await channel.close()

    async def _verify(self, ctx: _Ctx, budget: float) -> Verification:
        """Poll dumps until the expected neighbours and destinations are back, or ``budget``."""
        expect = ctx.expect
        start = time.monotonic()
        deadline = start + budget
        socket_ok = False
        error: str | None = None
        neighbours: set[tuple[str, str]] = set()
        reachable: set[str] = set()
        while True:
            try:
                model = await self._dump(ctx, max(1.0, min(5.0, deadline - time.monotonic())))
                socket_ok = True
                error = None
                neighbours = _up_neighbours(model)
                reachable = _reachable(model)
                if expect.neighbours <= neighbours and expect.destinations <= reachable:
                    break
            except _NodeFailure as exc:
                error = str(exc)
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL_INTERVAL)
        elapsed = time.monotonic() - start
        names = self._prefix_names()
        back_n = sorted(expect.neighbours & neighbours)
        miss_n = sorted(expect.neighbours - neighbours)
        back_d = sorted(expect.destinations & reachable)
        miss_d = sorted(expect.destinations - reachable)
        ok = socket_ok and not miss_n and not miss_d
        return Verification(
            ok=ok,
            socket=socket_ok,
            elapsed=elapsed,
            timeout=budget,
            neighbours_back=tuple(f"{a} on {i}" for i, a in back_n),
            neighbours_missing=tuple(f"{a} on {i}" for i, a in miss_n),
            destinations_back=tuple(names.get(p, p) for p in back_d),
            destinations_missing=tuple(names.get(p, p) for p in miss_d),
            error=error,
        )

    def _prefix_names(self) -> dict[str, str]:
        return {f"{n.address}/128": f"{n.name} ({n.address}/128)" for n in self.inv.nodes.values()}

    async def _confirm(self, ctx: _Ctx, change: Change, verification: Verification) -> bool:
        """Ask the operator; False on timeout. _Lost when the connection closes meanwhile."""
        ask = asyncio.ensure_future(self.operator.confirm(change, verification))
        closed = asyncio.ensure_future(ctx.remote.channel_closed())
        try:
            done, _ = await asyncio.wait(
                {ask, closed},
                timeout=self.options.confirm_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for task in (ask, closed):
                if not task.done():
                    task.cancel()
            for task in (ask, closed):
                with contextlib.suppress(BaseException):
                    await task
        if ask in done and not ask.cancelled() and ask.exception() is None:
            if ask.result():
                return True
            self._say(ctx, "the operator did not confirm")
            return False
        if closed in done:
            raise ctx.remote.lost("the confirmation wait")
        if ask in done:
            self._say(ctx, f"confirmation failed: {ask.exception()}")
            return False
        self._say(ctx, f"no confirmation within {self.options.confirm_timeout:g} s")
        return False

    async def _disarm(self, ctx: _Ctx) -> bool:
        """Claim the marker (atomic unlink): True when we won, False when the timer fired."""
        won = await ctx.remote.remove(ctx.paths.marker)
        if won:
            ctx.armed = False
            with contextlib.suppress(_NodeFailure):
                await ctx.remote.remove(ctx.paths.deadline)
                await ctx.remote.remove(ctx.paths.script)
            if ctx.timer is TimerKind.SYSTEMD:
                with contextlib.suppress(_NodeFailure):
                    await ctx.remote.run(
                        ["systemctl", "stop", f"{ctx.paths.unit}.timer"], what="stopping the timer"
                    )
        return won

    async def _rollback(self, ctx: _Ctx, why: str) -> None:
        """Have the node restore the backup now (the same script as the timer), then verify."""
        self._say(ctx, f"{why}: rolling back")
        await ctx.remote.write_atomic(
            ctx.paths.deadline, ctx.paths.deadline + ".tmp", b"0\n", 0o600
        )
        requested = await ctx.remote.exists(ctx.paths.marker)
        if requested and ctx.timer is TimerKind.SYSTEMD:
            with contextlib.suppress(_NodeFailure):
                await ctx.remote.run(
                    ["systemctl", "start", "--no-block", f"{ctx.paths.unit}.service"],
                    what="starting the rollback",
                )
        await self._observe_timer(ctx, why, by="deployer" if requested else "node-timer")

    async def _observe_timer(self, ctx: _Ctx, why: str, by: str = "node-timer") -> None:
        """Wait for the node's rollback result file, then check what came back."""
        report = ctx.report
        bound = max(ctx.deadline_at - time.monotonic(), 0.0) + self.options.restart_timeout + 30.0
        result = await self._wait_result(ctx, bound)
        if result is None:
            report.outcome = Outcome.LOST if not ctx.remote.alive else Outcome.ROLLBACK_FAILED
            self._say(ctx, f"no rollback result from the node within {bound:.0f} s: check it now")
            return
        ctx.armed = False
        report.rolled_back = True
        report.rolled_back_by = by
        fields = dict(f.split("=", 1) for f in result.split() if "=" in f)
        restored = fields.get("restore") == "0" and fields.get("restart") == "0"
        who = (
            "the node's timer restored" if by == "node-timer" else "the node restored, on request,"
        )
        self._say(ctx, f"{who} the previous config ({result})")
        report.outcome = Outcome.ROLLED_BACK if restored else Outcome.ROLLBACK_FAILED
        try:
            await ctx.remote.remove(ctx.paths.result)
            on_disk, _ = await ctx.remote.read(ctx.paths.config)
            if ctx.old is not None and on_disk != ctx.old:
                report.outcome = Outcome.ROLLBACK_FAILED
                self._say(ctx, f"{ctx.paths.config} does NOT match the previous config")
            budget = self.options.verify_timeout or verify_budget(
                self.inv, ctx.node.name, self.options.verify_margin
            )
            report.restored = await self._verify(ctx, budget)
            self._say(ctx, "after the rollback: " + "\n".join(report.restored.lines()))
        except (_Lost, _NodeFailure) as exc:
            self._say(ctx, f"could not check the node after the rollback: {exc}")

    async def _wait_result(self, ctx: _Ctx, bound: float) -> str | None:
        """The node's rollback result line, reconnecting if needed, within ``bound`` seconds."""
        end = time.monotonic() + bound
        while time.monotonic() < end:
            try:
                if not ctx.remote.alive:
                    await ctx.remote.close()
                    ctx.remote = _Remote(self.pool, ctx.node)
                    await ctx.remote.open()
                data, _ = await ctx.remote.read(ctx.paths.result)
                if data:
                    return data.decode("utf-8", "replace").strip()
            except (_Lost, _NodeFailure):
                pass
            await asyncio.sleep(POLL_INTERVAL)
        return None

    async def _lost(self, ctx: _Ctx, message: str) -> None:
        report = ctx.report
        if not ctx.armed:
            report.outcome = Outcome.FAILED
            self._say(ctx, f"{message}; nothing was changed on the node")
            return
        left = max(ctx.deadline_at - time.monotonic(), 0.0)
        self._say(ctx, f"{message}: the node's timer restores the previous config "
                  f"in about {left:.0f} s")  # fmt: skip
        report.outcome = Outcome.LOST
        await self._observe_timer(ctx, message, by="node-timer")

    async def _prune_backups(self, ctx: _Ctx) -> None:
        keep = max(1, self.options.keep_backups)
        folder, base = posixpath.split(ctx.paths.config)
        try:
            names = sorted(
                n for n in await ctx.remote.listdir(folder or "/") if n.startswith(f"{base}.bak.")
            )
            for name in names[:-keep]:
                path = posixpath.join(folder, name)
                if path != ctx.report.backup:
                    await ctx.remote.remove(path)
        except (_NodeFailure, _Lost) as exc:
            self._say(ctx, f"old backups not pruned: {exc}")


# --------------------------------------------------------------------- small helpers


def _new_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
