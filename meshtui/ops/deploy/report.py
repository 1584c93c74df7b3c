"""The plain data of a deployment: options, outcomes, phases, the change shown, reports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from meshtui.core.babelconf import Severity

DEFAULT_CONFIRM_TIMEOUT = 120.0
DEFAULT_RESTART_TIMEOUT = 60.0
DEFAULT_VERIFY_MARGIN = 10.0
DEFAULT_ROLLBACK_GRACE = 15.0
KEEP_BACKUPS = 10


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
