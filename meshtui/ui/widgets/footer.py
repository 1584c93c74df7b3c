"""`KeyFooter`: Textual's footer with help and quit first, so narrow terminals still show them."""

from __future__ import annotations

from collections.abc import Iterable

from textual.compose import compose
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
        """Rebuild only the keys that changed.

        Textual asks for a recompose on every focus change (every view switch)
        and rebuilds the whole row of keys (~9 ms a view switch). Here nothing
        happens when the keys are the same; otherwise the keys both rows start
        and end with stay, and only those between are removed and mounted.
        """
        shown = self._keys_shown()
        if shown == self._shown and self.children:
            return
        self._shown = shown
        if not self.is_attached or self._pruning:
            return
        composed = compose(self)  # also sizes the footer's grid for them
        new = [w for w in composed if isinstance(w, FooterKey)]
        old = [w for w in self.children if isinstance(w, FooterKey)]
        if len(new) != len(composed) or len(old) != len(self.children):  # key groups
            await super().recompose()  # Textual's way: all again
            return
        start, end = _common_ends([_signature(w) for w in old], [_signature(w) for w in new])
        gone, came = old[start : len(old) - end], new[start : len(new) - end]
        async with self.batch():
            if gone:
                await self.remove_children(gone)
            if came and start:
                await self.mount_all(came, after=old[start - 1])
            elif came and end:
                await self.mount_all(came, before=old[len(old) - end])
            elif came:
                await self.mount_all(came)

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


def _signature(key: FooterKey) -> tuple[object, ...]:
    """Everything a key is built from: two keys with the same draw the same."""
    return (
        key.key,
        key.key_display,
        key.description,
        key.action,
        key._disabled,
        key.tooltip,
        key.compact,
        frozenset(key.classes),
    )


def _common_ends(old: list[tuple[object, ...]], new: list[tuple[object, ...]]) -> tuple[int, int]:
    """How many items ``old`` and ``new`` share at their start, then at their end."""
    most = min(len(old), len(new))
    start = 0
    while start < most and old[start] == new[start]:
        start += 1
    end = 0
    while end < most - start and old[-1 - end] == new[-1 - end]:
        end += 1
    return start, end


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
