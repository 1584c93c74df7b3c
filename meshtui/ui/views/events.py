"""The Events view: the `babeld -d 2` replacement — a scrolling, filterable log of what changed.

Semantic events by default (failover, unreachable, recovered, neighbour
up/down/degrading, metric changes, routes added and removed, connection
events), their next hops and nodes named as in the other views (``relay-1
(wg-r1)``, ``srv-b1``; `a`: the addresses babeld printed); `r` switches to
babeld's own lines as they arrive (raw mode, as babeld wrote them). `/`
filters either, `space` (everywhere) pauses, `s` saves what is shown to a
file. Under a storm at most :data:`MAX_LINES_PER_REFRESH` lines are drawn
per refresh; the rest are counted on screen, kept in the journal and saved
with `s`.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import RichLog, Static

from meshtui.core.events import EventType
from meshtui.core.sanitize import inert
from meshtui.ui import format as fmt
from meshtui.ui.journal import LogEntry
from meshtui.ui.themes import Palette
from meshtui.ui.views.base import View, ViewContext
from meshtui.ui.widgets.filterbar import FilterBar
from meshtui.ui.widgets.table import SyncStats

MAX_LINES_PER_REFRESH = 60
"""Lines drawn per refresh at most: more than a screenful of the log, the newest."""
SHOWN_LINES = 1_000
REWRITE_LINES = SHOWN_LINES
"""Lines drawn again from the journal after a filter, mode, theme or node change (the newest)."""

_HOP = re.compile(r"(?<![\w:.%])([0-9A-Fa-f:.]+)%([\w.-]+)")
"""A next hop as babeld's lines and the events print it: ``fe80::1%wg-r1``."""
_NODE_PREFIX = re.compile(r"(?<![\w:./])([0-9A-Fa-f:]+/128)(?![\w/])")
"""A node's /128 destination."""

RawItem = tuple[int, float, str]
"""A raw line in the journal: sequence number, time, line."""
Item = TypeVar("Item", LogEntry, RawItem)

EVENT_ROLES: dict[EventType, str] = {
    EventType.FAILOVER: "event-failover bold",
    EventType.UNREACHABLE: "event-unreachable bold",
    EventType.RECOVERED: "event-recovered bold",
    EventType.NEIGHBOUR_UP: "event-recovered",
    EventType.NEIGHBOUR_DOWN: "event-unreachable",
    EventType.DEGRADING: "degrading",
    EventType.ROUTE_ADDED: "event-route",
    EventType.ROUTE_REMOVED: "event-route",
    EventType.METRIC_CHANGED: "event-route",
    EventType.INTERFACE_UP: "event-neighbour",
    EventType.INTERFACE_DOWN: "event-unreachable",
    EventType.CONNECTED: "event-info",
    EventType.DISCONNECTED: "event-unreachable",
    EventType.RESYNCED: "event-info",
    EventType.PROTOCOL_ERROR: "event-unreachable",
}


def entry_line(entry: LogEntry) -> str:
    """An event as one plain line: time, type, description."""
    return f"{fmt.clock_time(entry.time, millis=True)}  {entry.type.value:<14} {entry.text}"


def raw_line(stamp: float, line: str) -> str:
    """A raw babeld line with its arrival time."""
    return f"{fmt.clock_time(stamp, millis=True)}  {line}"


class EventsView(View):
    """A scrolling log of semantic events, or of babeld's raw lines.

    | Key | Action |
    | :- | :- |
    | r | Raw mode: babeld's own lines instead of events (again: back). |
    | s | Save what is shown (all of it, filtered) to a file. |
    | end | Jump to the newest line and follow. |
    """

    view_id = "events"
    title = "Events"

    BINDINGS = [
        Binding("r", "toggle_raw", "Raw lines", id="events.raw"),
        Binding("s", "save", "Save", id="events.save"),
    ]

    DEFAULT_CSS = """
    EventsView RichLog {
        height: 1fr;
        background: $surface;
    }
    """

    class SaveRequested(Message):
        """The user asked to save the log; the app asks where and writes it."""

        def __init__(self, lines: list[str], raw: bool) -> None:
            super().__init__()
            self.lines = lines
            self.raw = raw

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.raw = False
        self._seen = 0
        self._raw_seen = 0
        self.shown: deque[str] = deque(maxlen=SHOWN_LINES)
        self.skipped = 0
        self.drawn = 0
        self._journal_id = 0
        self._naming: tuple[bool, int] = (False, 0)

    def compose(self) -> ComposeResult:
        """A title and the log."""
        yield Static("Events", classes="section", id="ev-title")
        yield RichLog(max_lines=SHOWN_LINES, wrap=False, markup=False, id="ev-log")
        yield FilterBar(id="ev-filter")

    def main_widget(self) -> Widget | None:
        """The log."""
        return self.query_one("#ev-log", RichLog)

    # ------------------------------------------------------------ drawing

    def _named(self, text: str) -> str:
        """Next hops and /128 destinations named as in the other views: ``relay-1
        (wg-r1)`` for ``fe80::1%wg-r1``, ``srv-b1`` for its /128; addresses as babeld
        printed them with the ``a`` toggle, or where no name is known."""
        ctx = self.ctx
        if ctx is None or ctx.names is None or ctx.addresses:
            return text
        names, node = ctx.names, ctx.node
        text = _HOP.sub(lambda m: names.describe_hop(node, m[1], m[2]), text)
        return _NODE_PREFIX.sub(lambda m: names.describe_prefix(m[1]), text)

    def _event_line(self, entry: LogEntry) -> str | None:
        """The entry's line as shown, or None when the filter hides it (the filter sees
        the names)."""
        line = inert(self._named(entry_line(entry)))
        if self.filter.active and not self.filter.matches(line.lower()):
            return None
        return line

    def _event_text(self, entry: LogEntry) -> tuple[str, Text] | None:
        line = self._event_line(entry)
        if line is None:
            return None
        text = Text(line, no_wrap=True, end="")
        text.stylize(self.style(EVENT_ROLES.get(entry.type, "event-info")), 14)
        text.stylize(self.style("lost"), 0, 12)
        return line, text

    def _raw_shown(self, item: RawItem) -> str | None:
        """A raw line as shown, or None when the filter hides it."""
        shown = inert(raw_line(item[1], item[2]))
        if self.filter.active and not self.filter.matches(shown.lower()):
            return None
        return shown

    def _raw_text(self, item: RawItem) -> tuple[str, Text] | None:
        shown = self._raw_shown(item)
        if shown is None:
            return None
        line = item[2]
        text = Text(shown, no_wrap=True, end="")
        text.stylize(self.style("lost"), 0, 12)
        if line.startswith(("flush", "ok", "no", "bad")):
            text.stylize(
                self.style("event-unreachable" if line.startswith("flush") else "event-info"), 14
            )
        elif line.startswith("add"):
            text.stylize(self.style("event-recovered"), 14)
        return shown, text

    def _write(
        self,
        items: Sequence[Item],
        build: Callable[[Item], tuple[str, Text] | None],
        shown: Callable[[Item], str | None],
    ) -> int:
        """Append the newest of ``items`` (oldest first) that the filter lets through, at
        most :data:`MAX_LINES_PER_REFRESH`; the older ones are counted, never built.

        Under a storm thousands arrive between two refreshes (all of them while the view
        was hidden): building each one's text, only to draw the last few, kept the UI
        loop busy for up to 100 ms when a key arrived.
        """
        log = self.query_one("#ev-log", RichLog)
        ready: list[tuple[str, Text]] = []
        index = len(items)
        while index and len(ready) < MAX_LINES_PER_REFRESH:
            index -= 1
            item = build(items[index])
            if item is not None:
                ready.append(item)
        if not self.filter.active:
            skipped = index
        else:
            skipped = sum(1 for i in range(index) if shown(items[i]) is not None)
        if skipped:
            note = f"… {skipped} more lines not drawn (they are kept: `s` saves them)"
            log.write(Text(note, style=self.style("lost italic")))
        for plain, text in reversed(ready):
            log.write(text)
            self.shown.append(plain)
        self.skipped += skipped
        self.drawn += len(ready)
        return len(ready)

    def _rewrite(self) -> None:
        """Redraw from the journal (filter, mode or theme changed)."""
        ctx = self.ctx
        log = self.query_one("#ev-log", RichLog)
        log.clear()
        self.shown.clear()
        if ctx is None:
            return
        journal = ctx.journal
        items: Iterable[tuple[str, Text] | None]
        if self.raw:  # newest first: only what is shown is built (10,000 kept, 1,000 shown)
            items = (self._raw_text(item) for item in reversed(journal.raw))
            self._raw_seen = journal.raw_seq
        else:
            items = (self._event_text(entry) for entry in reversed(journal.log))
            self._seen = journal.seq
        ready = list(islice((item for item in items if item is not None), REWRITE_LINES))
        for plain, text in reversed(ready):
            log.write(text)
            self.shown.append(plain)

    def refresh_view(self, ctx: ViewContext) -> SyncStats:
        """Append what arrived since the last refresh."""
        naming = (ctx.addresses, id(ctx.names))
        first = self.ctx is None or id(ctx.journal) != self._journal_id or naming != self._naming
        self.begin(ctx)
        journal = ctx.journal
        stats = SyncStats()
        if first:  # another node, or names shown otherwise (the `a` toggle): drawn again
            self._journal_id = id(journal)
            self._naming = naming
            self._rewrite()
            stats.rebuilt = True
        elif self.raw:
            lines = journal.raw_since(self._raw_seen)
            self._raw_seen = journal.raw_seq
            stats.added = self._write(lines, self._raw_text, self._raw_shown)
        else:
            entries = journal.entries_since(self._seen)
            self._seen = journal.seq
            stats.added = self._write(entries, self._event_text, self._event_line)
        self._update_title()
        return stats

    def _update_title(self) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        journal = ctx.journal
        if self.raw:
            title = f"babeld's raw lines ({journal.raw_seq:,} received)  r: back to events"
            dropped, kept = journal.raw_dropped, len(journal.raw)
        else:
            title = f"Events ({journal.seq:,} this session)  r: raw lines"
            dropped, kept = journal.dropped, len(journal.log)
        if dropped:
            title += f"  ({dropped:,} older dropped, newest {kept:,} kept)"
        if self.filter.active:
            title += f"  filter: {self.filter.text}"
        if self.skipped:
            title += f"  ({self.skipped:,} lines not drawn under load)"
        self.query_one("#ev-title", Static).update(title)

    def redraw(self) -> None:
        """The filter changed: redraw from the journal."""
        self._rewrite()
        self._update_title()

    def restyle(self, palette: Palette) -> None:
        """Redraw in the new theme."""
        self.palette = palette
        self._rewrite()

    def reset(self) -> None:
        """Another node: start again."""
        self.ctx = None
        self.query_one("#ev-log", RichLog).clear()
        self.shown.clear()

    # ------------------------------------------------------------ actions

    def action_toggle_raw(self) -> None:
        """Switch between events and raw lines."""
        self.raw = not self.raw
        self._rewrite()
        self._update_title()

    def all_lines(self) -> list[str]:
        """Everything the journal holds for the current mode and filter (for saving)."""
        ctx = self.ctx
        if ctx is None:
            return []
        if self.raw:
            lines = [raw_line(stamp, line) for _, stamp, line in ctx.journal.raw]
        else:
            lines = [inert(self._named(entry_line(entry))) for entry in ctx.journal.log]
        if self.filter.active:
            lines = [line for line in lines if self.filter.matches(line.lower())]
        return lines

    def action_save(self) -> None:
        """Ask the app to save the log."""
        self.post_message(self.SaveRequested(self.all_lines(), self.raw))
