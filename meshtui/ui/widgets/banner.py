"""`Banner`: a notice across the top of a view (demo mode, no socket, end of replay)."""

from __future__ import annotations

from textual.widgets import Static

from meshtui.core.sanitize import inert


class Banner(Static):
    """A one- or few-line notice; hidden while empty.

    Its kind is a CSS class: ``-info``, ``-warning`` or ``-error``; a notice
    folded to one line (:meth:`collapse`) has ``-collapsed`` too.
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
    Banner.-collapsed {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.text = ""
        self.kind = "info"
        self.collapsed = False  # folded to one line (after the user's first key)

    def show(self, text: str, kind: str = "info") -> None:
        """Show ``text`` (plain text) as a notice of ``kind`` (info, warning or error).

        Once :meth:`collapse` d, an info notice keeps to one line (its first
        sentence); warnings and errors always show in full.
        """
        if text == self.text and kind == self.kind and self.has_class("-shown"):
            return
        self.text = text
        self.kind = kind
        folded = self.collapsed and kind == "info"
        # A notice quotes outside text (a socket path, an SSH error): shown inert.
        self.update(inert(self.first_sentence(text) if folded else text, newlines=True))
        self.set_classes(["-shown", f"-{kind}"] + (["-collapsed"] if folded else []))

    @staticmethod
    def first_sentence(text: str) -> str:
        """The notice's first line, up to its first full stop: what a folded banner says."""
        line = text.split("\n", 1)[0]
        head, sep, _ = line.partition(". ")
        return f"{head}." if sep else line

    def collapse(self) -> None:
        """Fold an info notice to one line (the first key press does this)."""
        if self.collapsed:
            return
        self.collapsed = True
        text, kind = self.text, self.kind
        self.text = ""
        if text:
            self.show(text, kind)

    def hide(self) -> None:
        """Hide the banner."""
        if self.text or self.has_class("-shown"):
            self.text = ""
            self.update("")
            self.set_classes([])
