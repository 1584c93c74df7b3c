"""The deployer: one node at a time, commit-confirmed; see :mod:`meshtui.ops.deploy`."""

from __future__ import annotations

import asyncio
import contextlib
import math
import posixpath
import secrets
import shlex
import stat
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import asyncssh

from meshtui.core.confgen import render_babeld_conf
from meshtui.core.inventory import Inventory, InventoryError, Node
from meshtui.core.model import NodeModel
from meshtui.core.secrets import masked_diff as config_diff
from meshtui.ops.audit import AuditRecord, append_audit, scrub
from meshtui.ops.deploy.operator import Operator
from meshtui.ops.deploy.plan import (
    HIDDEN,
    DeployPaths,
    deploy_order,
    diff_sha256,
    expectations_from,
    lint_config_text,
    reachable_prefixes,
    restart_argv,
    up_neighbours,
    verify_budget,
)
from meshtui.ops.deploy.report import (
    Change,
    DeployOptions,
    DeployReport,
    Expectations,
    FaultHook,
    NodeReport,
    Outcome,
    Phase,
    TimerKind,
    Verification,
)
from meshtui.ops.deploy.scripts import ARM_SCRIPT, PREFLIGHT_SCRIPT, rollback_script
from meshtui.ops.gen import GenError, keys_used, read_key_values
from meshtui.transport.local import ConnectError, dump_channel
from meshtui.transport.sftp import (
    OP_TIMEOUT,
    ConnectionLost,
    NodeFailure,
    SFTPSession,
    reason_of,
)
from meshtui.transport.ssh import SSHPool

STALE_AFTER = 60.0  # an armed marker this far past its deadline has lost its timer
ARM_ALLOWANCE = 10.0  # from arming to the next deadline move: two SFTP operations
POLL_INTERVAL = 0.5


class _Ended(Exception):
    """The node's deployment ends here; its outcome and messages are already set."""


@dataclass
class _Ctx:
    """Working state of one node's deployment."""

    node: Node
    report: NodeReport
    remote: SFTPSession
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
            report.audit_errors.append(f"audit log not written for {r.node}: {reason_of(exc)}")

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

    @contextlib.asynccontextmanager
    async def _phase(self, ctx: _Ctx, step: Phase | str) -> AsyncIterator[None]:
        """Time one step of ``_run`` into ``report.timings[step]``; after a :class:`Phase`,
        record it as the last phase reached and run the fault hook (a plain name such as
        ``"stage"`` is only timed). A step that raises is neither timed nor hooked."""
        t = time.monotonic()
        yield
        ctx.report.timings[str(step)] = time.monotonic() - t
        if isinstance(step, Phase):
            ctx.report.phase = step
            if self.hook is not None:
                await self.hook(ctx.node.name, step)

    # ------------------------------------------------------------ one node

    async def deploy_node(self, name: str, position: int = 1, total: int = 1) -> NodeReport:
        """Deploy one node; never raises for node, network or operator trouble."""
        node = self.inv.node(name)
        node_id = f"{self.deploy_id}-{position}" if total > 1 else self.deploy_id
        report = NodeReport(name, node_id, node.config_path)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        paths = DeployPaths.of(node.config_path, node_id, stamp)
        ctx = _Ctx(node, report, SFTPSession(self.pool, node), paths, stamp)
        t0 = time.monotonic()
        try:
            try:
                await self._run(ctx, position, total)
            except _Ended:
                pass
            except NodeFailure as exc:
                await self._after_failure(ctx, str(exc))
        except ConnectionLost as exc:
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
        except NodeFailure as exc:
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
        async with self._phase(ctx, Phase.PREPARE):
            await ctx.remote.open()
            facts = await self._facts(ctx)
            report.lint = lint_config_text(self.inv, node.name, text, facts)
            errors = [e for e in report.lint if e.error]
        if errors:
            report.outcome = Outcome.BLOCKED
            self._say(ctx, f"{len(errors)} lint error(s): nothing written")
            return

        # 2. read what runs now, check for pending rollbacks, diff
        async with self._phase(ctx, Phase.READ):
            node_now, available = await self._preflight(ctx)
            if not await self._check_pending(ctx, node_now):
                raise _Ended
            real = await ctx.remote.resolve(node.config_path)
            if real != node.config_path:
                ctx.paths = DeployPaths.of(real, report.deploy_id, ctx.stamp)
                self._say(ctx, f"{node.config_path} is a symlink: deploying to {real}")
            ctx.old, ctx.old_attrs = await ctx.remote.read(ctx.paths.config)
            old_text = ctx.old.decode("utf-8", "replace") if ctx.old is not None else None
            label = f"{node.name}:{ctx.paths.config}"
            report.diff = config_diff(old_text, text, label)
            report.diff_sha256 = diff_sha256(report.diff) if report.diff else None
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
        async with self._phase(ctx, Phase.BACKUP):
            mode, owner = self._mode_owner(ctx, has_secret)
            await self._backup(ctx, owner)

        # 4. stage the new config next to it (not in place yet)
        async with self._phase(ctx, "stage"):
            for note in await ctx.remote.stage(
                ctx.paths.config, ctx.paths.write_tmp, ctx.new, mode, owner
            ):
                self._say(ctx, note)

        # 5. arm the rollback on the node, then swap the new config in atomically
        async with self._phase(ctx, Phase.ARM):
            await self._arm(ctx)
        async with self._phase(ctx, Phase.WRITE):
            for note in await ctx.remote.rename(ctx.paths.write_tmp, ctx.paths.config):
                self._say(ctx, note)
            ctx.written = True
            self._say(ctx, f"wrote {ctx.paths.config} (mode {mode:04o})")
        await self._extend(ctx, self.options.restart_timeout)

        # 6. restart
        async with self._phase(ctx, Phase.RESTART):
            restart_ok = await self._restart(ctx)
        if not restart_ok:
            await self._rollback(ctx, "the restart failed")
            return

        # 7. verify
        budget = self.options.verify_timeout or verify_budget(
            self.inv, node.name, self.options.verify_margin
        )
        await self._extend(ctx, budget)
        async with self._phase(ctx, Phase.VERIFY):
            report.verification = await self._verify(ctx, budget)
            for line in report.verification.lines():
                self._say(ctx, line)
        if not report.verification.ok:
            await self._rollback(ctx, "verification failed")
            return

        # 8. confirm
        await self._extend(ctx, self.options.confirm_timeout)
        async with self._phase(ctx, Phase.CONFIRM):
            confirmed = await self._confirm(ctx, change, report.verification)
        if not confirmed:
            await self._rollback(ctx, "not confirmed")
            return
        if await self._disarm(ctx):
            report.outcome = Outcome.CONFIRMED
            self._say(ctx, "confirmed: rollback disarmed")
            await self._prune_backups(ctx)
        else:
            await self._observe_timer(ctx, "confirmed too late")

    async def _backup(self, ctx: _Ctx, owner: tuple[int, int] | None) -> None:
        """Copy the deployed file to its timestamped backup, same mode (and owner), atomically."""
        if ctx.old is None:
            return
        backup = ctx.paths.backup
        if await ctx.remote.exists(backup):
            backup = f"{backup}-{secrets.token_hex(2)}"
            ctx.paths = replace(ctx.paths, backup=backup)
        old_mode = stat.S_IMODE(ctx.old_attrs.permissions or 0o644) if ctx.old_attrs else 0o644
        for note in await ctx.remote.write_atomic(
            backup, ctx.paths.backup_tmp, ctx.old, old_mode, owner
        ):
            self._say(ctx, note)
        ctx.report.backup = backup
        self._say(ctx, f"backup {backup} (mode {old_mode:04o})")

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
            raise NodeFailure(str(exc)) from None

    async def _preflight(self, ctx: _Ctx) -> tuple[int | None, str]:
        res = await ctx.remote.sh(PREFLIGHT_SCRIPT, what="preflight")
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
        prefix = f".{base}{HIDDEN}"
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
        except NodeFailure as exc:
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
            ARM_SCRIPT,
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
            with contextlib.suppress(NodeFailure):
                await ctx.remote.remove(ctx.paths.script)
                await ctx.remote.remove(ctx.paths.write_tmp)
            raise NodeFailure(
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
            raise NodeFailure(f"{ctx.node.name}: the node's rollback timer fired early")

    async def _restart(self, ctx: _Ctx) -> bool:
        command = shlex.join(ctx.restart)
        t = time.monotonic()
        try:
            res = await ctx.remote.run(
                ctx.restart, timeout=self.options.restart_timeout, what="the restart"
            )
        except NodeFailure as exc:
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
        """One dump through the SSH channel to babeld's socket (NodeFailure: no answer)."""
        if not ctx.remote.alive:
            raise ctx.remote.lost("the dump")
        where = f"{ctx.node.name} {ctx.node.socket}"
        try:
            channel = await self.pool.open_channel(ctx.node)
        except ConnectError as exc:
            if not ctx.remote.alive or exc.reason == "ssh":
                raise ctx.remote.lost("opening babeld's socket", exc) from None
            raise NodeFailure(str(exc)) from None
        try:
            return await asyncio.wait_for(dump_channel(channel, where), timeout)
        except TimeoutError:
            raise NodeFailure(f"{where}: no complete dump within {timeout:g} s") from None
        except ConnectError as exc:
            if not ctx.remote.alive:
                raise ctx.remote.lost("the dump", exc) from None
            raise NodeFailure(str(exc)) from None
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
                neighbours = up_neighbours(model)
                reachable = reachable_prefixes(model)
                if expect.neighbours <= neighbours and expect.destinations <= reachable:
                    break
            except NodeFailure as exc:
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
        """Ask the operator; False on timeout. ConnectionLost when the connection closes."""
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
            with contextlib.suppress(NodeFailure):
                await ctx.remote.remove(ctx.paths.deadline)
                await ctx.remote.remove(ctx.paths.script)
            if ctx.timer is TimerKind.SYSTEMD:
                with contextlib.suppress(NodeFailure):
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
            with contextlib.suppress(NodeFailure):
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
        except (ConnectionLost, NodeFailure) as exc:
            self._say(ctx, f"could not check the node after the rollback: {exc}")

    async def _wait_result(self, ctx: _Ctx, bound: float) -> str | None:
        """The node's rollback result line, reconnecting if needed, within ``bound`` seconds."""
        end = time.monotonic() + bound
        while time.monotonic() < end:
            try:
                if not ctx.remote.alive:
                    await ctx.remote.close()
                    ctx.remote = SFTPSession(self.pool, ctx.node)
                    await ctx.remote.open()
                data, _ = await ctx.remote.read(ctx.paths.result)
                if data:
                    return data.decode("utf-8", "replace").strip()
            except (ConnectionLost, NodeFailure):
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
        except (NodeFailure, ConnectionLost) as exc:
            self._say(ctx, f"old backups not pruned: {exc}")


# --------------------------------------------------------------------- small helpers


def _new_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
