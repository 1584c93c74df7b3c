"""The ``deploy`` command: push generated babeld configs to nodes, commit-confirmed.

``meshtui deploy [--inventory FILE] [--node NAME ...] [--yes] [--confirm-timeout 120]
[--dry-run] [--read-only] [--json]`` renders each node's babeld.conf from the
inventory, lints it (errors block), shows the diff against what the node runs,
and — once approved — backs the old file up, arms a rollback on the node,
writes the new one atomically over SFTP, restarts babeld, verifies that its
neighbours and destinations come back, and asks for confirmation within
``--confirm-timeout`` seconds. Without confirmation, on a failed verification
or when the SSH path dies, the node restores the previous config by itself.

Nodes go one at a time: servers, then edges, then relays (the shared backbone
last), stopping at the first node that does not end confirmed or unchanged.
``--yes`` approves every change and confirms it automatically once verified
(needed when stdin is not a terminal). ``--read-only`` (or ``read_only = true``
under ``[meshtui]`` in ``$XDG_CONFIG_HOME/meshtui/config.toml``, or
``MESHTUI_READ_ONLY=1``) refuses; ``--dry-run`` is allowed there. Every
deployment appends to ``$XDG_STATE_HOME/meshtui/audit.log``. Key values are
never printed.

Exit status: 0 when every node ended confirmed or unchanged (or the dry run
found no lint error), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import TextIO

from meshtui.cli import CliError
from meshtui.commands import inventory_from_arg, say, warn
from meshtui.core.inventory import Inventory, InventoryError, require_for_config
from meshtui.core.sanitize import inert

__all__ = ["EXAMPLES", "PromptOperator", "register", "run_deploy"]

EXAMPLES = {
    "deploy": """
meshtui deploy --inventory mesh.toml --dry-run     # lint and diff only, nothing written
meshtui deploy --inventory mesh.toml --node edge-fra
meshtui deploy --inventory mesh.toml --yes --confirm-timeout 60
""",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``deploy``."""
    p = subparsers.add_parser(
        "deploy",
        help="push generated babeld configs to nodes (lint, diff, restart, verify, "
        "commit-confirmed rollback)",
        description="Render, lint and diff each node's babeld.conf, then write it over SFTP "
        "(atomically, with a timestamped backup), restart babeld, verify, and keep it only "
        "when confirmed; the node restores the previous config by itself otherwise.",
    )
    p.add_argument(
        "--inventory",
        metavar="FILE",
        nargs="?",
        const="",
        default=None,
        help="mesh inventory (default ./mesh.toml, then $XDG_CONFIG_HOME/meshtui/mesh.toml)",
    )
    p.add_argument("--node", action="append", metavar="NAME", help="only this node (repeat)")
    p.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="approve every change and confirm it automatically once verified (no prompts)",
    )
    p.add_argument(
        "--confirm-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds to confirm a verified change before it is rolled back (default 120)",
    )
    p.add_argument(
        "--restart-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="bound on the node's restart command (default 60)",
    )
    p.add_argument(
        "--verify-margin",
        type=float,
        default=10.0,
        metavar="S",
        help="convergence margin added to 3 x hello interval for verification (default 10)",
    )
    p.add_argument(
        "--verify-timeout",
        type=float,
        metavar="S",
        help="a fixed verification bound instead of 3 x hello + margin",
    )
    p.add_argument(
        "--rollback-grace",
        type=float,
        default=15.0,
        metavar="S",
        help="how long past meshtui's own deadline the node waits before restoring (default 15)",
    )
    p.add_argument(
        "--timer",
        choices=("auto", "systemd", "detached"),
        default="auto",
        help="how the rollback is armed on the node (auto: systemd where it runs)",
    )
    p.add_argument(
        "--keep-backups",
        type=int,
        default=10,
        metavar="N",
        help="timestamped backups kept per node (default 10)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="lint and show the diff only; nothing is written (allowed in read-only mode)",
    )
    p.add_argument("--read-only", action="store_true", help="refuse every write action")
    p.add_argument("--json", action="store_true", help="one JSON report on stdout")
    p.add_argument(
        "--rehearse",
        action="store_true",
        help="first rehearse every relay's outage in replicas (root) of the inventory the "
        "nodes run and of this one; refuse when this one loses a pair the other keeps",
    )
    p.add_argument(
        "--rehearse-against",
        metavar="FILE",
        help="the inventory the nodes run (default: the copy kept by the last complete "
        "deployment of this inventory)",
    )
    p.add_argument("--force", action="store_true", help="deploy despite rehearsal regressions")
    p.set_defaults(func=run_deploy)


def _check_args(args: argparse.Namespace) -> None:
    for name in ("confirm_timeout", "restart_timeout", "verify_margin", "rollback_grace"):
        value = getattr(args, name)
        if not value > 0 or value != value or value == float("inf"):
            raise CliError(f"--{name.replace('_', '-')} must be a positive number of seconds")
    if args.verify_timeout is not None and not 0 < args.verify_timeout < float("inf"):
        raise CliError("--verify-timeout must be a positive number of seconds")
    if args.keep_backups < 1:
        raise CliError("--keep-backups must be at least 1")


def _check_audit_log(path: Path) -> None:
    """Refuse to deploy when the audit log cannot be appended to."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.close(fd)
    except OSError as exc:
        raise CliError(
            f"cannot write the audit log {path}: {exc.strerror or exc}; "
            "set XDG_STATE_HOME or fix its permissions"
        ) from None


class PromptOperator:
    """Asks on the terminal: approve each diff, then confirm the verified change."""

    def __init__(self, out: TextIO, stdin: TextIO | None = None) -> None:
        self.out = out
        self.stdin = stdin or sys.stdin

    def progress(self, node: str, message: str) -> None:
        for line in message.splitlines():
            say(f"{node}: {line}", file=self.out)
            self.out.flush()

    async def approve(self, change) -> bool:  # noqa: ANN001 - ops.deploy.Change
        show_change(change, self.out)
        return await self._ask(f"Write this config to {change.node} and restart babeld? [y/N] ")

    async def confirm(self, change, verification) -> bool:  # noqa: ANN001
        rollback = f"rolls back in {change.confirm_timeout:g} s"
        return await self._ask(f"Keep the new config on {change.node}? [y/N] ({rollback}) ")

    async def _ask(self, prompt: str) -> bool:
        print(inert(prompt), end="", file=self.out, flush=True)
        try:
            line = await _read_line(self.stdin)
        except asyncio.CancelledError:
            print("", file=self.out, flush=True)  # the window closed: end the prompt's line
            raise
        if line is None:
            print("", file=self.out)
        return (line or "").strip().lower() in ("y", "yes")


async def _read_line(stream: TextIO) -> str | None:
    """One line from ``stream`` without blocking the event loop (None at end of input)."""
    loop = asyncio.get_running_loop()
    fd = stream.fileno()
    done: asyncio.Future[str | None] = loop.create_future()
    buf = bytearray()

    def readable() -> None:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if done.done():
            return
        if not chunk:
            done.set_result(buf.decode("utf-8", "replace") if buf else None)
            return
        buf.extend(chunk)
        if b"\n" in buf:
            done.set_result(bytes(buf).split(b"\n", 1)[0].decode("utf-8", "replace"))

    loop.add_reader(fd, readable)
    try:
        return await done
    finally:
        loop.remove_reader(fd)


def show_change(change, out: TextIO) -> None:  # noqa: ANN001 - ops.deploy.Change
    """Print a change: title, lint findings, the diff (key values already redacted)."""
    say(f"== {change.title} ==", file=out)
    errors = sum(e.error for e in change.lint)
    warnings = len(change.lint) - errors
    print(f"lint: {errors} error(s), {warnings} warning(s)", file=out)
    for entry in change.lint:
        say(f"  {entry.text()}", file=out)
    if change.new_file:
        say(f"(no config at {change.config_path} yet: it will be created)", file=out)
    out.write(inert(change.diff, newlines=True))
    out.flush()


def run_deploy(args: argparse.Namespace) -> int:
    """``meshtui deploy``."""
    from meshtui.ops.audit import ReadOnlyError, audit_log_path, refuse_if_read_only

    _check_args(args)
    if not args.dry_run:
        try:
            refuse_if_read_only("`meshtui deploy`", args.read_only)
        except ReadOnlyError as exc:
            raise CliError(f"{exc} (`--dry-run` shows the diff without writing)") from None
    inv = inventory_from_arg(args.inventory)
    names = args.node or list(inv.nodes)
    for name in names:
        if name not in inv.nodes:
            raise CliError(f"{inv.path}: no node named {name!r} (known: {', '.join(inv.nodes)})")
    try:
        require_for_config(inv, names)
    except InventoryError as exc:
        raise CliError(str(exc)) from None
    if not args.dry_run:
        if not args.yes and not sys.stdin.isatty():
            raise CliError(
                "stdin is not a terminal: pass --yes to approve and confirm automatically "
                "once verified, or --dry-run to see the diff"
            )
        _check_audit_log(audit_log_path())
    if getattr(args, "rehearse", False):
        _rehearse_first(args, inv)
    try:
        report = asyncio.run(_deploy(args, inv, names))
    except KeyboardInterrupt:
        print(
            "meshtui: interrupted; a node with an armed rollback restores its previous "
            "config by itself",
            file=sys.stderr,
        )
        return 130
    status = _finish(args, report)
    if status == 0 and not args.dry_run and not args.node and inv.path is not None:
        from meshtui.ops.deployed import save_deployed

        try:
            save_deployed(inv.path)
        except OSError as exc:
            warn(f"could not keep the deployed inventory for --rehearse: {exc.strerror or exc}")
    return status


def _rehearse_first(args: argparse.Namespace, inv: Inventory) -> None:
    """Rehearse the deployed inventory against ``inv``; CliError on a regression (no --force)."""
    from meshtui.commands.rehearse import print_report, run_rehearsal
    from meshtui.ops.deployed import deployed_copy

    if inv.path is None:
        raise CliError("--rehearse needs an inventory file")
    against = Path(args.rehearse_against) if args.rehearse_against else deployed_copy(inv.path)
    if not against.is_file():
        raise CliError(
            f"--rehearse: no deployed state of {inv.path} kept yet (it is kept after a "
            "complete deployment): name the inventory the nodes run with --rehearse-against FILE"
        )
    runs, comparison = run_rehearsal(str(against), str(inv.path), None, quiet=args.json)
    assert comparison is not None
    out = sys.stderr if args.json else sys.stdout
    with contextlib.redirect_stdout(out):
        print_report(runs, comparison)
    if comparison.regressions and not args.force:
        raise CliError(
            f"the rehearsal found {len(comparison.regressions)} regression(s) "
            f"(first: {comparison.regressions[0].message}); nothing deployed "
            "(--force deploys anyway)"
        )


async def _deploy(args: argparse.Namespace, inv: Inventory, names: list[str]):  # -> DeployReport
    from meshtui.ops.deploy import AutoOperator, Deployer, DeployOptions, TimerKind
    from meshtui.transport.ssh import SSHPool

    log = sys.stderr if args.json else sys.stdout
    if args.yes or args.dry_run:

        def progress(node: str, message: str) -> None:
            for line in message.splitlines():
                say(f"{node}: {line}", file=log)
                log.flush()

        operator: _ShowingAuto | PromptOperator = _ShowingAuto(AutoOperator(progress), log)
    else:
        operator = PromptOperator(log)
    options = DeployOptions(
        confirm_timeout=args.confirm_timeout,
        restart_timeout=args.restart_timeout,
        verify_margin=args.verify_margin,
        verify_timeout=args.verify_timeout,
        rollback_grace=args.rollback_grace,
        timer=TimerKind(args.timer),
        keep_backups=args.keep_backups,
        dry_run=args.dry_run,
    )
    pool = SSHPool(inventory=inv)
    try:
        deployer = Deployer(inv, pool, operator, options)
        if not args.json:
            from meshtui.ops.deploy import deploy_order

            order = deploy_order(inv, names)
            say(f"deploy {deployer.deploy_id}: {' -> '.join(order)}", file=log)
            log.flush()
        return await deployer.deploy(names)
    finally:
        with contextlib.suppress(Exception):
            await pool.close()


class _ShowingAuto:
    """``--yes`` / ``--dry-run``: shows each diff, then lets AutoOperator decide."""

    def __init__(self, auto, out: TextIO) -> None:  # noqa: ANN001
        self.auto = auto
        self.out = out

    def progress(self, node: str, message: str) -> None:
        self.auto.progress(node, message)

    async def approve(self, change) -> bool:  # noqa: ANN001
        show_change(change, self.out)
        return await self.auto.approve(change)

    async def confirm(self, change, verification) -> bool:  # noqa: ANN001
        return await self.auto.confirm(change, verification)


def _finish(args: argparse.Namespace, report) -> int:  # noqa: ANN001 - DeployReport
    from meshtui.ops.deploy import Outcome

    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        print()
    else:
        for r in report.nodes:
            if args.dry_run and r.outcome is not Outcome.SKIPPED:
                say(f"== {r.node}: {r.config_path} ==")
                for entry in r.lint:
                    say(f"  {entry.text()}")
                sys.stdout.write(inert(r.diff, newlines=True) if r.diff else "(no change)\n")
            elif r.outcome is Outcome.BLOCKED:
                for entry in r.lint:
                    say(f"  {entry.text()}")
        print("summary:")
        for r in report.nodes:
            extra = ""
            if r.rolled_back:
                extra = f" (rolled back by {r.rolled_back_by})"
            elif r.outcome is Outcome.BLOCKED:
                extra = f" ({sum(e.error for e in r.lint)} lint error(s))"
            say(f"  {r.node:<16} {r.outcome.value}{extra}")
        if report.stopped_at and report.stopped_at != report.order[-1]:
            say(f"stopped at {report.stopped_at}: the nodes after it were not touched")
    for problem in report.audit_errors:
        warn(problem)
    return 0 if report.ok else 1
