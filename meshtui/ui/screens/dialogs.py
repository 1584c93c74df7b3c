"""Modal screens: help, saving the event log, and confirming a lab action."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option


@dataclass(frozen=True, slots=True)
class HelpKey:
    """One line of the help screen's key table."""

    key: str
    what: str
    where: str = "everywhere"


class HelpScreen(ModalScreen[None]):
    """The keys, the views and what the colours and marks mean.

    | Key | Action |
    | :- | :- |
    | escape, ?, q | Close. |
    """

    BINDINGS = [
        Binding("escape,question_mark,q", "app.pop_screen", "Close", id="help.close"),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 96;
        max-width: 95%;
        height: 90%;
        background: $surface;
        border: thick $primary;
        padding: 0 2;
    }
    HelpScreen .help-head {
        text-style: bold;
        color: $primary;
        margin-top: 1;
    }
    """

    def __init__(self, keys: list[HelpKey], notes: list[str]) -> None:
        super().__init__()
        self.keys = keys
        self.notes = notes

    def compose(self) -> ComposeResult:
        """Keys, then notes."""
        with VerticalScroll():
            yield Static("Keys", classes="help-head")
            width = max(len(k.key) for k in self.keys) + 2
            lines = []
            for k in self.keys:
                where = f"  ({k.where})" if k.where != "everywhere" else ""
                lines.append(f"{k.key:<{width}}{k.what}{where}")
            yield Static("\n".join(lines), markup=False)
            yield Static("Reading the screen", classes="help-head")
            yield Static("\n".join(self.notes), markup=False)


class SaveScreen(ModalScreen[str | None]):
    """Ask where to save the event log; returns the path or None.

    | Key | Action |
    | :- | :- |
    | enter | Save. |
    | escape | Cancel. |
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="save.cancel")]

    DEFAULT_CSS = """
    SaveScreen {
        align: center middle;
    }
    SaveScreen > Vertical {
        width: 80;
        max-width: 95%;
        height: auto;
        background: $surface;
        border: thick $primary;
        padding: 1 2;
    }
    """

    def __init__(self, default: str, count: int) -> None:
        super().__init__()
        self.default = default
        self.count = count

    def compose(self) -> ComposeResult:
        """The path input."""
        with Vertical():
            yield Label(f"Save {self.count} lines to (enter saves, esc cancels):")
            yield Input(self.default, id="save-path")

    def on_mount(self) -> None:
        """Focus the input."""
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Return the path."""
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        """Return nothing."""
        self.dismiss(None)


class LabActionScreen(ModalScreen[str | None]):
    """Pick a relay for a lab action that writes (fail or heal); returns the relay or None.

    The screen says what the action will do before it runs: it is a write
    action on the lab's namespaces.

    | Key | Action |
    | :- | :- |
    | enter | Run the action on the highlighted relay. |
    | escape | Cancel. |
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="lab.cancel")]

    DEFAULT_CSS = """
    LabActionScreen {
        align: center middle;
    }
    LabActionScreen > Vertical {
        width: 84;
        max-width: 95%;
        height: auto;
        background: $surface;
        border: thick $badge-write;
        padding: 1 2;
    }
    LabActionScreen #lab-what {
        margin-bottom: 1;
    }
    LabActionScreen Horizontal {
        height: auto;
        margin-top: 1;
    }
    """

    def __init__(self, title: str, what: str, relays: list[tuple[str, str]]) -> None:
        """Args: title, a description of the change, and (relay, label) choices."""
        super().__init__()
        self.title_text = title
        self.what = what
        self.relays = relays

    def compose(self) -> ComposeResult:
        """What will happen, the relays, and the buttons."""
        with Vertical():
            yield Label(self.title_text, id="lab-title")
            yield Static(self.what, id="lab-what", markup=False)
            yield OptionList(
                *(Option(label, id=name) for name, label in self.relays), id="lab-relays"
            )
            with Horizontal():
                yield Button("Run", variant="error", id="lab-run")
                yield Button("Cancel", id="lab-cancel")

    def on_mount(self) -> None:
        """Focus the relay list."""
        self.query_one(OptionList).focus()

    def _chosen(self) -> str | None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return None
        return options.get_option_at_index(options.highlighted).id

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter on a relay runs the action."""
        event.stop()
        self.dismiss(event.option.id)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Run or cancel."""
        event.stop()
        self.dismiss(self._chosen() if event.button.id == "lab-run" else None)

    def action_cancel(self) -> None:
        """Return nothing."""
        self.dismiss(None)
