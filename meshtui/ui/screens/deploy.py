"""The deploy dialog: a node's config diff to approve, then the verified change to keep.

Self-contained: :class:`DeployScreen` is a ``ModalScreen[bool]`` that shows one
:class:`meshtui.ops.deploy.Change` (title, lint findings, the unified diff with
key values already redacted) and returns True (write / keep) or False
(cancel / roll back). In ``confirm`` mode it also shows what verification
found and counts down the confirmation window; at zero it returns False (the
node rolls back). :class:`TuiOperator` is the deployer's ``Operator`` port
(:class:`meshtui.ops.deploy.Operator`): the hub runs the deployer, the dialog
asks, so a deploy action runs as a worker::

    from meshtui.ui.screens.deploy import TuiOperator

    @work(group="deploy", exclusive=True, exit_on_error=False, description="deploy")
    async def deploy_nodes(self, names: list[str]) -> None:
        operator = TuiOperator(self, log=lambda node, msg: self.notify(f"{node}: {msg}"))
        report = await self.hub.deploy(names, operator, self.feed)  # NodeHub: Deployer

The action that starts it must not be bound at all in read-only mode (see
:func:`meshtui.ops.audit.read_only_setting`). The safe choice has the focus:
Cancel when approving, Roll back when confirming.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from meshtui.core.sanitize import inert

if TYPE_CHECKING:  # ops' types, as the hub names them (no UI module but the hub imports ops)
    from meshtui.ui.hub import Change, Verification

__all__ = ["DeployScreen", "TuiOperator", "diff_line_class"]


def diff_line_class(line: str) -> str:
    """The CSS class of one unified-diff line: -file, -hunk, -add, -del or -context."""
    if line.startswith(("--- ", "+++ ")):
        return "-file"
    if line.startswith("@@"):
        return "-hunk"
    if line.startswith("+"):
        return "-add"
    if line.startswith("-"):
        return "-del"
    return "-context"


class DeployScreen(ModalScreen[bool]):
    """Approve a config change (``approve``) or keep a verified one (``confirm``).

    | Key | Action |
    | :- | :- |
    | y | Write and restart (approve) / keep the new config (confirm). |
    | n, escape | Cancel (approve) / roll back now (confirm). |
    """

    BINDINGS = [
        Binding("y", "accept", "Yes", id="deploy.accept"),
        Binding("n,escape", "reject", "No", id="deploy.reject"),
    ]

    DEFAULT_CSS = """
    DeployScreen {
        align: center middle;
    }
    DeployScreen > Vertical {
        width: 110;
        max-width: 95%;
        height: 90%;
        background: $surface;
        border: thick $error;
        padding: 0 1;
    }
    DeployScreen #deploy-title {
        text-style: bold;
        width: 100%;
    }
    DeployScreen #deploy-lint, DeployScreen #deploy-verify, DeployScreen #deploy-countdown {
        height: auto;
        width: 100%;
    }
    DeployScreen #deploy-countdown {
        text-style: bold;
        color: $warning;
    }
    DeployScreen #deploy-diff {
        height: 1fr;
        border: round $panel;
        overflow-x: auto;
    }
    DeployScreen #deploy-diff Static {
        width: auto;
    }
    DeployScreen .-file {
        text-style: bold;
    }
    DeployScreen .-hunk {
        color: $accent;
    }
    DeployScreen .-add {
        color: $success;
    }
    DeployScreen .-del {
        color: $error;
    }
    DeployScreen .-context {
        color: $text-muted;
    }
    DeployScreen .-lint-error {
        color: $error;
    }
    DeployScreen .-lint-warning {
        color: $warning;
    }
    DeployScreen Horizontal {
        height: auto;
        align-horizontal: right;
    }
    DeployScreen Button {
        margin-left: 2;
    }
    """

    def __init__(
        self,
        change: Change,
        mode: str = "approve",
        verification: Verification | None = None,
        timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Args:
        change: what is deployed (diff already redacted).
        mode: ``approve`` (before writing) or ``confirm`` (after verification).
        verification: what came back (confirm mode).
        timeout: seconds before the dialog answers False by itself (confirm mode;
            defaults to the change's confirm timeout).
        """
        super().__init__()
        if mode not in ("approve", "confirm"):
            raise ValueError(f"mode must be 'approve' or 'confirm', not {mode!r}")
        self.change = change
        self.mode = mode
        self.verification = verification
        self._clock = clock
        if timeout is None and mode == "confirm":
            timeout = change.confirm_timeout
        self.timeout = timeout
        self._deadline = clock() + timeout if timeout is not None else None

    def compose(self) -> ComposeResult:
        """Title, lint, verification, the diff, the countdown and the buttons."""
        c = self.change
        with Vertical():
            verb = "Deploy to" if self.mode == "approve" else "Keep the new config on"
            yield Label(inert(f"{verb} {c.title}"), id="deploy-title", markup=False)
            errors = sum(e.error for e in c.lint)
            lint = [f"lint: {errors} error(s), {len(c.lint) - errors} warning(s)"]
            yield Static(lint[0], id="deploy-lint", markup=False)
            for entry in c.lint:
                klass = "-lint-error" if entry.error else "-lint-warning"
                yield Static(inert(entry.text()), classes=klass, markup=False)
            if self.verification is not None:
                text = "\n".join(self.verification.lines())
                yield Static(inert(text, newlines=True), id="deploy-verify", markup=False)
            with VerticalScroll(id="deploy-diff"):
                if c.new_file:
                    yield Static(
                        inert(f"(new file: {c.config_path})"), classes="-file", markup=False
                    )
                for line in c.diff.splitlines() or ["(no change)"]:
                    yield Static(inert(line) or " ", classes=diff_line_class(line), markup=False)
            if self.mode == "approve":
                what = (
                    f"Writes {c.config_path} atomically (backup kept), arms a rollback on the "
                    f"node, restarts babeld and verifies; you then have "
                    f"{c.confirm_timeout:g} s to keep it."
                )
                yield Static(what, id="deploy-countdown", markup=False)
            else:
                yield Static(self._countdown_text(), id="deploy-countdown", markup=False)
            with Horizontal():
                if self.mode == "approve":
                    yield Button("Write and restart (y)", variant="error", id="deploy-yes")
                    yield Button("Cancel (n)", variant="primary", id="deploy-no")
                else:
                    yield Button("Keep (y)", variant="success", id="deploy-yes")
                    yield Button("Roll back (n)", variant="error", id="deploy-no")

    def on_mount(self) -> None:
        """Focus the safe button; start the countdown in confirm mode."""
        self.query_one("#deploy-no", Button).focus()
        if self._deadline is not None:
            self.set_interval(0.5, self._tick)

    def _remaining(self) -> float:
        return max(0.0, (self._deadline or 0.0) - self._clock())

    def _countdown_text(self) -> str:
        if self._deadline is None:
            return ""
        return f"Rolls back by itself in {self._remaining():.0f} s unless kept."

    def _tick(self) -> None:
        if self._remaining() <= 0:
            self.dismiss(False)
            return
        self.query_one("#deploy-countdown", Static).update(self._countdown_text())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Yes or no."""
        event.stop()
        self.dismiss(event.button.id == "deploy-yes")

    def action_accept(self) -> None:
        """Write (approve) or keep (confirm)."""
        self.dismiss(True)

    def action_reject(self) -> None:
        """Cancel (approve) or roll back (confirm)."""
        self.dismiss(False)


class TuiOperator:
    """:class:`meshtui.ops.deploy.Operator` for the dashboard: asks with :class:`DeployScreen`.

    Must run inside a worker of ``app`` (``push_screen_wait`` needs one).
    """

    def __init__(self, app: Any, log: Callable[[str, str], None] | None = None) -> None:
        self.app = app
        self._log = log

    async def approve(self, change: Change) -> bool:
        return bool(await self.app.push_screen_wait(DeployScreen(change, "approve")))

    async def confirm(self, change: Change, verification: Verification) -> bool:
        screen = DeployScreen(change, "confirm", verification)
        try:
            return bool(await self.app.push_screen_wait(screen))
        finally:
            if screen.is_attached and self.app.screen is screen:
                screen.dismiss(False)  # the deployer gave up waiting: close the dialog

    def progress(self, node: str, message: str) -> None:
        if self._log is not None:
            self._log(node, message)
