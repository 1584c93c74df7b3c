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

The package: :mod:`.report` (options, outcomes, the change, reports),
:mod:`.plan` (pure: paths, order, budgets, lint), :mod:`.scripts` (what runs
on the node), :mod:`.operator` (the port that approves and confirms) and
:mod:`.deployer`; SFTP and its errors are :mod:`meshtui.transport.sftp`.
"""

from __future__ import annotations

from meshtui.core.secrets import mask_secrets as redact  # the names callers know
from meshtui.core.secrets import masked_diff as config_diff
from meshtui.ops.deploy.deployer import Deployer
from meshtui.ops.deploy.operator import AutoOperator, Operator
from meshtui.ops.deploy.plan import (
    DeployPaths,
    deploy_order,
    diff_sha256,
    expectations_from,
    lint_config_text,
    restart_argv,
    verify_budget,
)
from meshtui.ops.deploy.report import (
    DEFAULT_CONFIRM_TIMEOUT,
    DEFAULT_RESTART_TIMEOUT,
    DEFAULT_ROLLBACK_GRACE,
    DEFAULT_VERIFY_MARGIN,
    Change,
    DeployOptions,
    DeployReport,
    Expectations,
    FaultHook,
    LintEntry,
    NodeReport,
    Outcome,
    Phase,
    TimerKind,
    Verification,
)
from meshtui.ops.deploy.scripts import rollback_script
from meshtui.transport.local import dump_channel

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
