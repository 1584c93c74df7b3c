"""`Banner`: a notice across the top of a view (demo mode, no socket, end of replay)."""

from __future__ import annotations

from textual.widgets import Static


class Banner(Static):
    """A one- or few-line notice; hidden while empty.

    Its kind is a CSS class: ``-info``, ``-warning`` or ``-error``.
    """

    DEFAULT_CSS = """
    Banner {
        height: auto;
        padding: 0 1;
        display: none;
        background: $panel;
        border-left: thick $primary;
    }
    Banner.-shown {
        display: block;
    }
    Banner.-warning {
        border-left: thick $warning;
    }
    Banner.-error {
        border-left: thick $error;
        text-style: bold;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.text = ""
        self.kind = "info"

    def show(self, text: str, kind: str = "info") -> None:
        """Show ``text`` (plain text) as a notice of ``kind`` (info, warning or error)."""
        if text == self.text and kind == self.kind and self.has_class("-shown"):
            return
        self.text = text
        self.kind = kind
        self.update(text)
        self.set_classes(["-shown", f"-{kind}"])

    def hide(self) -> None:
        """Hide the banner."""
        if self.text or self.has_class("-shown"):
            self.text = ""
            self.update("")
            self.set_classes([])
