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

    _shown: tuple[object, ...] | None = None

    def compose(self) -> Iterable[Widget]:  # type: ignore[override]
        """The footer's keys, help and quit first, then the others in their usual order."""
        keys = list(super().compose())
        for widget in keys:
            _unbind(widget, self.compact)
        first = [k for key in FIRST_KEYS for k in keys if _key(k) == key]
        return [*first, *(k for k in keys if k not in first)]

    async def recompose(self) -> None:
        """Rebuild the keys only when what they show changed.

        Textual asks for a recompose on every focus change (every view switch),
        and each one builds a row of widgets: skipped when the keys are the same.
        """
        shown = self._keys_shown()
        if shown == self._shown and self.children:
            return
        self._shown = shown
        await super().recompose()

    def watch_compact(self, _compact: bool) -> None:
        """Keys take the footer's style when they are built: rebuild them."""
        self._shown = None
        self.call_after_refresh(self.recompose)

    def _keys_shown(self) -> tuple[object, ...]:
        if not self._bindings_ready or not self.is_attached:
            return ()
        return (
            self.compact,
            self.show_command_palette,
            *(
                (binding.key, binding.action, binding.description, enabled, tooltip)
                for _, binding, enabled, tooltip in self.screen.active_bindings.values()
                if binding.show
            ),
        )


def _key(widget: Widget) -> str | None:
    return widget.key if isinstance(widget, FooterKey) else None


def _unbind(widget: Widget, compact: bool) -> None:
    """Give a key the footer's style once, instead of Textual's data binding.

    The binding registers a watcher on the footer that nothing removes when the
    key is: every recompose left a row of dead keys alive (~1 MB per view switch).
    """
    for node in (widget, *widget.walk_children()):
        if isinstance(node, FooterKey) and node._reactive_connect:
            node._reactive_connect = None
            node.set_reactive(FooterKey.compact, compact)
