"""`FilterBar`: the `/` filter input of a view, and the filter expression it edits.

A filter is words separated by spaces; a row matches when every word occurs
in its text (case-insensitive) and no ``!word`` does. ``type:failover`` style
words are plain words too: the event log puts the type in each line.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


@dataclass(frozen=True, slots=True)
class TextFilter:
    """A parsed filter expression."""

    text: str = ""
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> TextFilter:
        """Parse the words of a filter expression."""
        include: list[str] = []
        exclude: list[str] = []
        for word in text.lower().split():
            if word.startswith("!") and len(word) > 1:
                exclude.append(word[1:])
            elif word != "!":
                include.append(word)
        return cls(text.strip(), tuple(include), tuple(exclude))

    @property
    def active(self) -> bool:
        """Whether the filter excludes anything at all."""
        return bool(self.include or self.exclude)

    def matches(self, haystack: str) -> bool:
        """Whether a row whose text is ``haystack`` passes (``haystack`` already lower-case)."""
        for word in self.include:
            if word not in haystack:
                return False
        return not any(word in haystack for word in self.exclude)


class FilterBar(Input):
    """The filter input: shown by `/`, applies as you type, `enter` keeps it, `esc` clears it.

    | Key | Action |
    | :- | :- |
    | enter | Keep the filter and return to the table. |
    | escape | Clear the filter and close. |
    """

    BINDINGS = [
        Binding("escape", "clear_filter", "Clear filter", id="filter.clear"),
    ]

    DEFAULT_CSS = """
    FilterBar {
        dock: bottom;
        display: none;
        border: tall $accent;
    }
    FilterBar.-open {
        display: block;
    }
    """

    class FilterChanged(Message):
        """The filter expression changed (or was cleared)."""

        def __init__(self, bar: FilterBar, filter: TextFilter) -> None:
            super().__init__()
            self.bar = bar
            self.filter = filter

    class FilterClosed(Message):
        """The bar was closed; focus should go back to the view's table."""

        def __init__(self, bar: FilterBar) -> None:
            super().__init__()
            self.bar = bar

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            placeholder="filter: words that must all match; !word excludes; esc clears",
            id=id,
        )

    def open(self) -> None:
        """Show the bar and focus it."""
        self.add_class("-open")
        self.focus()

    def close(self) -> None:
        """Hide the bar, keeping the filter."""
        self.remove_class("-open")
        self.post_message(self.FilterClosed(self))

    def clear_filter(self) -> None:
        """Clear the filter text and hide the bar."""
        self.value = ""
        self.post_message(self.FilterChanged(self, TextFilter()))
        self.close()

    def action_clear_filter(self) -> None:
        """`esc` in the bar."""
        self.clear_filter()

    def on_input_changed(self, event: Input.Changed) -> None:
        """Apply as the user types."""
        event.stop()
        self.post_message(self.FilterChanged(self, TextFilter.parse(event.value)))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """`enter` keeps the filter and goes back to the table."""
        event.stop()
        self.close()
