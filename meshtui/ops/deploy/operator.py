"""The Operator port: who approves a change and confirms it (CLI, dashboard, ``--yes``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from meshtui.ops.deploy.report import Change, Verification


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
