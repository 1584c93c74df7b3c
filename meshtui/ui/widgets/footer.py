"""`KeyFooter`: Textual's footer with help and quit first, so narrow terminals still show them."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

FIRST_KEYS = ("question_mark", "q")
"""Keys the footer shows first, whatever the width: help and quit."""


class KeyFooter(Footer):
    """The footer, with ``?`` and ``q`` leading (a narrow terminal cuts the footer's right end)."""

    def compose(self) -> Iterable[Widget]:  # type: ignore[override]
        """The footer's keys, help and quit first, then the others in their usual order."""
        keys = list(super().compose())
        first = [k for key in FIRST_KEYS for k in keys if _key(k) == key]
        return [*first, *(k for k in keys if k not in first)]


def _key(widget: Widget) -> str | None:
    return widget.key if isinstance(widget, FooterKey) else None
