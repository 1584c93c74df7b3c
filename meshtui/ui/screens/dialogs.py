"""Modal screens: help, saving the event log, and confirming a lab action."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from meshtui.core import foresight
from meshtui.core.sanitize import inert
from meshtui.ui import format as fmt


def reading_notes() -> list[tuple[str, str]]:
    """How to read the screen: (what you see, what it means), generated from the rules shown.

    The detection figures come from :func:`meshtui.core.foresight.detection_time`,
    the one home of babeld's timing rules, so the help says what the views compute.
    """
    per_hello = foresight.detection_time(1.0)
    detect = (
        f"~{per_hello.expected:.1f} hello intervals (earliest {per_hello.cost_infinite:.1f}, "
        f"latest {per_hello.latest:.1f}): how long babeld takes to notice a silent relay. It "
        f"counts a Hello missed {foresight.MISS_AFTER:g} intervals after the previous one, "
        "declares the neighbour lost once 2 of the last 3 are missed, at its next neighbour "
        "check. Failover: per destination, for its relay now; ⚠ in ~N s counts down once "
        "the relay's Hellos fail. Interfaces: per interface, in seconds"
    )
    return [
        ("● ok", "the destination is carried by the relay shown (relay now)"),
        ("! SPOF", "no standby through another relay: one relay failing cuts it off"),
        (
            "◐ pending",
            "a better route is known but babeld has not installed it yet (its smoothed "
            "metric and feasibility hold it back for a few seconds); ▲ marks it in standby",
        ),
        ("✖ UNREACHABLE", "no route with a finite metric"),
        ("◌ … stale", "the connection is down: the last state known, dimmed, 'since' frozen"),
        (
            "standby",
            "ranked alternatives: relay, metric and margin over the current one; +N: "
            "more than fit the width (enter shows them all)",
        ),  # fmt: skip
        (
            "names",
            "nodes by name (inventory, recording, learnt live), else their /128; "
            "a shows the addresses babeld prints",
        ),  # fmt: skip
        (fmt.DETECTION, detect),
        (
            "timeline",
            "newest first, in the order babeld reported it; 'Hellos failing N s': how long "
            f"the old relay's Hellos had been failing when babeld switched; '{fmt.DETECTION} "
            "N s': from its last Hello heard to the switch; 'gap N s': how long the "
            "destination had no route; 'back on its usual relay after N away': the switch "
            "back; '▲ N new': entries above the part you scrolled to (home goes back)",
        ),
        (
            "reach",
            f"16 cells, newest Hello on the left: {fmt.REACH_HEARD} heard, "
            f"{fmt.REACH_MISSED} missed",
        ),  # fmt: skip
        ("ASYM", "the neighbour hears us much worse than we hear it (txcost > 2×rxcost)"),
        ("lost N ago", "a neighbour babeld dropped; shown dimmed for five minutes"),
        ("badge", "one state: ● LIVE, REPLAY n×, PAUSED, END (of a recording) or STALE"),
        ("READ-ONLY", "meshtui only reads babeld's socket; nothing here changes a node"),
        (
            "themes, keys",
            "t cycles themes; add your own TOML files to ~/.config/meshtui/themes (copy one "
            "of the repository's themes/*.toml). Keys carry ids; rebind them in "
            '~/.config/meshtui/keymap.toml, e.g. "view.routes" = "r"',
        ),
    ]


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

    def __init__(self, keys: list[HelpKey], notes: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys
        self.notes = notes

    def compose(self) -> ComposeResult:
        """Keys, then notes: two columns each, the second wrapped (never cut) to the width."""
        with VerticalScroll():
            yield Static("Keys", classes="help-head")
            keys = [
                (k.key, k.what + (f"  ({k.where})" if k.where != "everywhere" else ""))
                for k in self.keys
            ]
            yield Static(_two_columns(keys), id="help-keys")
            yield Static("Reading the screen", classes="help-head")
            yield Static(_two_columns(self.notes), id="help-notes")

    def plain_text(self) -> str:
        """The help as plain text (terms and explanations), for tests."""
        return "\n".join(f"{a}  {b}" for a, b in [(k.key, k.what) for k in self.keys] + self.notes)


def _two_columns(rows: list[tuple[str, str]]) -> Table:
    """Terms left (as wide as the widest), explanations right, wrapped at word boundaries."""
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for term, text in rows:
        table.add_row(Text(term, style="bold"), Text(text))
    return table


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
            yield Static(inert(self.what, newlines=True), id="lab-what", markup=False)
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
