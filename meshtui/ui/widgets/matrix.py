"""`MatrixTable`: a keyed grid drawn line by line, only the cells on screen.

A :class:`~textual.widgets.DataTable` renders every column of each line it
draws (a 55-column mesh matrix, ~12 columns on screen, cost 85,000 cell
renders in a profile of 54 nodes). This one is a :class:`ScrollView` on
Textual's Line API: each row's cells are made into :class:`Segment` s once
when the row's signature changes (cached by row key), and
:meth:`MatrixTable.render_line` crops the cached row to the columns in sight;
a sync repaints only the lines of the rows that changed (unless the columns'
widths or the order moved), a cursor move the two lines it leaves and enters.
A fixed header line on top and a fixed first column (the row's name) stay in
place when the grid scrolls. A cell cursor moves with the arrows,
``home``/``end`` (first / last column), ``ctrl+home``/``ctrl+end`` (first /
last row), the page keys and a mouse click; it stays on the same row key and
column key when the rows are synced again. Clicking a column header sorts the
rows by that column's cells (again: reverses), as :class:`KeyedTable` does; the
sorted column's header carries ▲ (ascending) or ▼ (descending).

Rows are given as :mod:`meshtui.ui.widgets.table` row specs (key, signature,
build cells); cells name semantic colour roles, resolved by the view's
palette. Text is made inert (:func:`meshtui.core.sanitize.inert`) before it
is drawn.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Hashable, Iterable
from dataclasses import replace
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from meshtui.core.sanitize import inert
from meshtui.ui.widgets.table import (
    CellSpec,
    Column,
    RowSpec,
    StyleResolver,
    SyncStats,
    _sort_value,
    cell_text,
)

__all__ = ["MatrixTable"]

PAD = 1
"""Blank cells either side of a cell's text (as DataTable's cell padding)."""


class MatrixTable(ScrollView, can_focus=True):
    """A grid of keyed rows with a fixed header line and a fixed first column.

    | Key | Action |
    | :- | :- |
    | arrows | Move the cell cursor. |
    | home / end | First / last column. |
    | ctrl+home / ctrl+end | First / last row. |
    | pageup / pagedown | A screenful up / down. |
    | enter | Select the cell (posts ``CellSelected``). |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("right", "cursor_right", "Cursor right", show=False),
        Binding("left", "cursor_left", "Cursor left", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("ctrl+home", "first_row", "Top", show=False),
        Binding("ctrl+end", "last_row", "Bottom", show=False),
        Binding("home", "first_column", "Home", show=False),
        Binding("end", "last_column", "End", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "matrix--header",
        "matrix--fixed",
        "matrix--cursor",
        "matrix--fixed-cursor",
    }

    # the colours of DataTable's component classes, so the grid looks like the other tables
    DEFAULT_CSS = """
    MatrixTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        &:focus {
            background-tint: $foreground 5%;
            & > .matrix--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .matrix--header {
                background-tint: $foreground 5%;
            }
            & > .matrix--fixed-cursor {
                color: $block-cursor-foreground;
                background: $block-cursor-background;
            }
        }
        & > .matrix--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .matrix--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .matrix--fixed {
            background: $secondary-muted;
            color: $foreground;
        }
        & > .matrix--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .matrix--fixed-cursor {
            background: $block-cursor-blurred-background;
            color: $foreground;
        }
    }
    """

    class CellHighlighted(Message):
        """The cursor moved to another cell."""

        def __init__(self, table: MatrixTable, row_key: str, column_key: str) -> None:
            super().__init__()
            self.table = table
            self.row_key = row_key
            self.column_key = column_key

        @property
        def control(self) -> MatrixTable:
            """The table."""
            return self.table

    class CellSelected(CellHighlighted):
        """Enter (or a click on the cursor's cell) chose a cell."""

    class SortChanged(Message):
        """The sort column or direction changed."""

        def __init__(self, table: MatrixTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> MatrixTable:
            """The table."""
            return self.table

    def __init__(
        self,
        columns: list[Column],
        resolve: StyleResolver,
        *,
        sort: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._resolve = resolve
        self._default_sort = sort  # back to it when the sorted column goes
        self.sort_column = sort
        self.sort_reverse = False  # a header click again, or reverse_sort(): descending
        self._given: list[Column] = []  # the columns as set, labels inert, no arrow
        self._columns: list[Column] = []
        self._column_index: dict[str, int] = {}
        self._sigs: dict[str, Hashable] = {}
        self._specs: dict[str, tuple[CellSpec, ...]] = {}
        self._texts: dict[str, tuple[str, ...]] = {}  # inert, one per cell
        self._widths_of: dict[str, tuple[int, ...]] = {}
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self._widths: list[int] = []
        self._offsets: list[int] = []  # x of each column in the virtual grid
        self._strips: dict[str, list[Segment]] = {}  # a row's cells, cursor aside
        self._header: list[Segment] | None = None
        self._cache_style: tuple[Style, ...] | None = None
        self._line_styles: tuple[Style, ...] | None = None
        self._cursor_row: str | None = None
        self._cursor_column: str | None = None
        self._cursor = Coordinate(0, 0)
        self.syncs = 0
        self.renders = 0  # lines drawn (for benchmarks)
        self.set_columns(columns)

    # ------------------------------------------------------------ data

    def set_columns(self, columns: list[Column]) -> None:
        """Show these columns (a label may be a node's name: drawn inert); rows keep
        their keys and are rebuilt at the next :meth:`sync`. When the sorted column is
        not among them, the rows are sorted by the first sort column again."""
        given = [replace(c, label=inert(c.label)) for c in columns]
        if given == self._given:
            return
        self._given = given
        if self.sort_column not in {c.key for c in given}:
            self.sort_column, self.sort_reverse = self._default_sort, False
        self._columns = self._labelled()
        self._column_index = {c.key: i for i, c in enumerate(self._columns)}
        self._sigs.clear()  # the cells follow the columns: every row is built again
        self._widths = []
        self._layout_changed()

    def _labelled(self) -> list[Column]:
        """The columns with the sort arrow on the sorted one's header, as KeyedTable's."""
        arrow = " ▼" if self.sort_reverse else " ▲"
        return [
            replace(c, label=c.label + arrow) if c.key == self.sort_column else c
            for c in self._given
        ]

    @property
    def columns(self) -> list[Column]:
        """The columns shown."""
        return list(self._columns)

    @property
    def row_count(self) -> int:
        """How many rows are shown."""
        return len(self._order)

    def keys(self) -> list[str]:
        """Row keys in display order."""
        return list(self._order)

    def specs(self, key: str) -> tuple[CellSpec, ...] | None:
        """The cell specs last shown for ``key``."""
        return self._specs.get(key)

    def plain_rows(self) -> list[list[str]]:
        """The grid as text, rows in display order (for tests and saving)."""
        return [list(self._texts[key]) for key in self._order]

    def get_row_index(self, key: str) -> int:
        """The display index of row ``key`` (KeyError: no such row)."""
        return self._index[key]

    def get_column_index(self, key: str) -> int:
        """The index of column ``key`` (KeyError: no such column)."""
        return self._column_index[key]

    def sync(self, rows: Iterable[RowSpec]) -> SyncStats:
        """Show exactly ``rows``, in the order of the sort column's values (ties by key).

        A row whose signature did not change is not built again (nor its cached
        segments); the cursor stays on the same row and column keys, or on the
        same place when its row went.
        """
        self.syncs += 1
        stats = SyncStats()
        seen: dict[str, None] = {}
        rebuilt: list[str] = []
        widths_moved = False
        for key, signature, build in rows:
            seen[key] = None
            if key in self._sigs and self._sigs[key] == signature:
                continue
            specs = build()
            texts = tuple(inert(cell_text(s)) for s in specs)
            widths = tuple(cell_len(t) for t in texts)
            if key in self._specs:
                old = self._specs[key]
                stats.updated_rows += 1
                stats.updated_cells += sum(
                    1 for a, b in zip(old, specs, strict=False) if a != b
                ) + abs(len(old) - len(specs))
            else:
                stats.added += 1
            if self._widths_of.get(key) != widths:
                widths_moved = True
            self._sigs[key] = signature
            self._specs[key] = specs
            self._texts[key] = texts
            self._widths_of[key] = widths
            self._strips.pop(key, None)
            rebuilt.append(key)
        for key in [k for k in self._specs if k not in seen]:
            stats.removed += 1
            widths_moved = True
            for store in (self._sigs, self._specs, self._texts, self._widths_of, self._strips):
                store.pop(key, None)  # type: ignore[attr-defined]
        order = self._sorted(list(seen))
        moved = order != self._order
        if moved:
            self._order = order
            self._index = {k: i for i, k in enumerate(order)}
        if widths_moved or moved or len(self._widths) != len(self._columns):
            self._layout_changed()  # repaints the whole grid
        else:
            for key in rebuilt:  # only the rows that changed (those off screen cost nothing)
                self._refresh_row(self._index[key])
        self._place_cursor()
        return stats

    def _sorted(self, order: list[str]) -> list[str]:
        """Row keys in the sort column's order (None last, ties by key; reversed: all of
        it, as DataTable's sort)."""
        column = self._column_index.get(self.sort_column) if self.sort_column else None
        if column is None:
            return order

        def value(key: str) -> tuple[bool, object, str]:
            specs = self._specs[key]
            cell = specs[column][2] if column < len(specs) else None
            return _sort_value(_Sortable(cell, key))

        return sorted(order, key=value, reverse=self.sort_reverse)

    # ------------------------------------------------------------ sorting

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        """Sort by ``column``; the same column again flips the direction. The cursor
        stays on its row and column keys, brought into sight."""
        if column not in self._column_index:
            return
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_column, self.sort_reverse = column, reverse
        self._columns = self._labelled()
        self._header = None
        order = self._sorted(list(self._order))
        if order != self._order:
            self._order = order
            self._index = {k: i for i, k in enumerate(order)}
        self._layout_changed()  # a header may widen for its arrow; repaints the grid
        row = self._index.get(self._cursor_row or "", self._cursor.row)
        column_index = self._column_index.get(self._cursor_column or "", self._cursor.column)
        self._set_cursor(row, column_index, scroll=True, announce=False)
        self.post_message(self.SortChanged(self))

    def cycle_sort(self) -> None:
        """Sort by the next column (left to right, wrapping)."""
        keys = [c.key for c in self._columns]
        if keys:
            index = keys.index(self.sort_column) if self.sort_column in keys else -1
            self.sort_by(keys[(index + 1) % len(keys)], reverse=False)

    def reverse_sort(self) -> None:
        """Flip the sort direction."""
        column = self.sort_column or (self._columns[0].key if self._columns else None)
        if column is not None:
            self.sort_by(column, reverse=not self.sort_reverse)

    def _refresh_row(self, row: int) -> None:
        """Repaint the line of row ``row`` (index in display order), if it is in sight."""
        top = int(self.scroll_y)
        if top <= row < top + self.scrollable_content_region.height:
            self.refresh_line(row + 1)  # the header is line 0

    def reset(self) -> None:
        """Forget every row."""
        for store in (self._sigs, self._specs, self._texts, self._widths_of, self._strips):
            store.clear()  # type: ignore[attr-defined]
        self._order = []
        self._index = {}
        self._widths = []
        self._layout_changed()

    def restyle(self) -> None:
        """The palette changed: every row is built again at the next sync."""
        self._sigs.clear()
        self._strips.clear()
        self._header = None
        self.refresh()

    def _layout_changed(self) -> None:
        """Column widths from the labels and every row's cells; the grid's virtual size.

        As DataTable's, a column only widens while the columns stay (a cell that got
        shorter does not move the columns right of it, nor the horizontal scroll)."""
        widths = [cell_len(c.label) for c in self._columns]
        for cells in self._widths_of.values():
            for i, w in enumerate(cells[: len(widths)]):
                if w > widths[i]:
                    widths[i] = w
        widths = [
            (c.width if c.width is not None else w) + 2 * PAD
            for c, w in zip(self._columns, widths, strict=True)
        ]
        if len(self._widths) == len(widths):
            widths = [max(a, b) for a, b in zip(self._widths, widths, strict=True)]
        if widths != self._widths:
            self._widths = widths
            offsets, x = [], 0
            for w in widths:
                offsets.append(x)
                x += w
            self._offsets = offsets
            self._strips.clear()
            self._header = None
        self.virtual_size = Size(sum(self._widths), len(self._order) + 1)
        self.refresh()

    # ------------------------------------------------------------ drawing

    def _styles(self) -> tuple[Style, ...]:
        """The base, header, fixed, cursor and fixed-cursor styles now (the theme's)."""
        get = self.get_component_rich_style
        return (
            self.rich_style,
            get("matrix--header"),
            get("matrix--fixed"),
            get("matrix--cursor"),
            get("matrix--fixed-cursor"),
        )

    def _cell(self, text: str, width: int, style: Style) -> Segment:
        pad = " " * PAD
        return Segment(pad + set_cell_size(text, width - 2 * PAD) + pad, style)

    def _row_segments(self, key: str, base: Style, fixed: Style) -> list[Segment]:
        segments = self._strips.get(key)
        if segments is None:
            specs = self._specs[key]
            texts = self._texts[key]
            resolve = self._resolve
            segments = []
            for i, width in enumerate(self._widths):
                if i < len(specs):
                    style = (fixed if i == 0 else base) + resolve(specs[i][1])
                    segments.append(self._cell(texts[i], width, style))
                else:
                    segments.append(Segment(" " * width, base))
            self._strips[key] = segments
        return segments

    def render_lines(self, crop: Region) -> list[Strip]:
        """The lines in ``crop``: the component styles are looked up once for all of them."""
        self._line_styles = self._styles()
        try:
            return super().render_lines(crop)
        finally:
            self._line_styles = None

    def render_line(self, y: int) -> Strip:
        """Line ``y`` of the widget: the header, or the row at ``y`` below the scroll, with
        the first column fixed and only the cells in sight cropped from the row's cache."""
        self.renders += 1
        styles = self._line_styles or self._styles()
        if styles != self._cache_style:  # the theme or focus changed: new colours
            self._cache_style = styles
            self._strips.clear()
            self._header = None
        base, header, fixed, cursor, fixed_cursor = styles
        width = self.scrollable_content_region.width
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            if self._header is None:
                self._header = [
                    self._cell(c.label, w, base + header)
                    for c, w in zip(self._columns, self._widths, strict=True)
                ]
            segments = self._header
        else:
            index = scroll_y + y - 1
            if not 0 <= index < len(self._order) or not self._widths:
                return Strip.blank(width, base)
            key = self._order[index]
            segments = self._row_segments(key, base, fixed)
            if key == self._cursor_row and self._cursor_column in self._column_index:
                column = self._column_index[self._cursor_column]
                segments = list(segments)
                text, style, _ = segments[column]
                segments[column] = Segment(
                    text, (style or base) + (fixed_cursor if column == 0 else cursor)
                )
        return self._crop(segments, scroll_x, width, base)

    def _crop(self, segments: list[Segment], scroll_x: int, width: int, base: Style) -> Strip:
        """The fixed column, then the cells from ``scroll_x`` on that fit in ``width``: one
        list of segments and one Strip (a Strip carries caches of its own: each one made
        per line costs more than the cutting)."""
        widths = self._widths
        if not widths or width <= 0:
            return Strip.blank(max(0, width), base)
        head = widths[0]
        if head >= width:
            return Strip(segments[:1], head).crop(0, width)
        left = head + scroll_x  # the virtual x of the first scrolled cell shown
        right = left + width - head
        offsets = self._offsets
        first = max(1, bisect_right(offsets, left) - 1)
        last = bisect_right(offsets, right - 1)  # cells first .. last - 1 are in sight
        line = [segments[0]]
        for i in range(first, last):
            segment = segments[i]
            start, end = offsets[i], offsets[i] + widths[i]
            if start < left:  # scrolled partly out on the left
                segment = segment.split_cells(left - start)[1]
            if end > right:  # cut by the right edge
                segment = segment.split_cells(right - max(start, left))[0]
            line.append(segment)
        shown = min(right, offsets[-1] + widths[-1]) - left
        if head + shown < width:
            line.append(Segment(" " * (width - head - shown), base))
        return Strip(line, width)

    # ------------------------------------------------------------ the cursor

    @property
    def cursor_coordinate(self) -> Coordinate:
        """The cursor's (row, column)."""
        return self._cursor

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, or None for an empty grid."""
        return self._order[self._cursor.row] if self._order else None

    @property
    def cursor_column_key(self) -> str | None:
        """The key of the column under the cursor."""
        return self._cursor_column

    def _place_cursor(self) -> None:
        """After a sync: the same row and column keys, else the same place (clamped)."""
        row = self._index.get(self._cursor_row or "", self._cursor.row)
        column = self._column_index.get(self._cursor_column or "", self._cursor.column)
        self._set_cursor(row, column, scroll=False, announce=False)

    def _set_cursor(self, row: int, column: int, *, scroll: bool, announce: bool) -> None:
        row = max(0, min(row, len(self._order) - 1))
        column = max(0, min(column, len(self._columns) - 1))
        before = (self._cursor_row, self._cursor_column)
        old = self._index.get(self._cursor_row or "")
        self._cursor = Coordinate(row, column)
        self._cursor_row = self._order[row] if self._order else None
        self._cursor_column = self._columns[column].key if self._columns else None
        if (self._cursor_row, self._cursor_column) != before:
            # the two lines the cursor left and entered; a scroll repaints everything
            if old is not None:
                self._refresh_row(old)
            self._refresh_row(row)
            if announce and self._cursor_row is not None and self._cursor_column is not None:
                self.post_message(self.CellHighlighted(self, self._cursor_row, self._cursor_column))
        if scroll:
            self._scroll_to_cursor()

    def move_cursor(
        self,
        *,
        row: int | None = None,
        column: int | None = None,
        animate: bool = False,
        scroll: bool = True,
    ) -> None:
        """Move the cursor (None: that axis stays) and bring it into sight."""
        del animate  # the grid scrolls at once
        self._set_cursor(
            self._cursor.row if row is None else row,
            self._cursor.column if column is None else column,
            scroll=scroll,
            announce=True,
        )

    def _scroll_to_cursor(self) -> None:
        region = self.scrollable_content_region
        height = max(1, region.height - 1)  # the header line is not the rows'
        x, y = self.scroll_x, self.scroll_y
        row = self._cursor.row
        if row < y:
            y = row
        elif row >= y + height:
            y = row - height + 1
        column = self._cursor.column
        if column == 0:  # the fixed column is always in sight: back to the first cells
            x = 0
        elif self._widths:
            head = self._widths[0]
            span = max(1, region.width - head)
            start = self._offsets[column] - head
            end = start + self._widths[column]
            if start < x:
                x = start
            elif end > x + span:
                x = end - span
        self.scroll_to(x=x, y=y, animate=False, immediate=True)

    def visible_keys(self, margin: int | None = None) -> list[str]:
        """Keys of the rows on screen, and of ``margin`` rows either side (a screenful by
        default), in display order."""
        height = max(1, self.scrollable_content_region.height - 1)
        margin = height if margin is None else margin
        top = int(self.scroll_y)
        return self._order[max(0, top - margin) : top + height + margin]

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self._cursor.row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self._cursor.row + 1)

    def action_cursor_left(self) -> None:
        self.move_cursor(column=self._cursor.column - 1)

    def action_cursor_right(self) -> None:
        self.move_cursor(column=self._cursor.column + 1)

    def action_page_up(self) -> None:
        page = max(1, self.scrollable_content_region.height - 1)
        self.move_cursor(row=self._cursor.row - page)

    def action_page_down(self) -> None:
        page = max(1, self.scrollable_content_region.height - 1)
        self.move_cursor(row=self._cursor.row + page)

    def action_first_row(self) -> None:
        self.move_cursor(row=0)

    def action_last_row(self) -> None:
        self.move_cursor(row=len(self._order) - 1)

    def action_first_column(self) -> None:
        self.move_cursor(column=0)

    def action_last_column(self) -> None:
        self.move_cursor(column=len(self._columns) - 1)

    def action_select_cursor(self) -> None:
        """Enter: post ``CellSelected`` for the cell under the cursor."""
        if self._cursor_row is not None and self._cursor_column is not None:
            self.post_message(self.CellSelected(self, self._cursor_row, self._cursor_column))

    def on_click(self, event: Click) -> None:
        """A click moves the cursor to that cell; a click on the cursor's cell selects it;
        a click on a column's header sorts by it (again: reverses)."""
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 0 or not self._widths:
            return
        row = int(self.scroll_y) + offset.y - 1
        head = self._widths[0]
        x = offset.x + int(self.scroll_x)  # the virtual x, right of the fixed column
        if offset.x < head:
            column = 0
        elif x < sum(self._widths):
            column = max(1, bisect_right(self._offsets, x) - 1)
        else:
            return  # right of the last column
        if offset.y == 0:  # the header line
            event.stop()
            self.sort_by(self._columns[column].key)
            return
        if row >= len(self._order):
            return
        event.stop()
        if (row, column) == tuple(self._cursor):
            self.action_select_cursor()
        else:
            self.move_cursor(row=row, column=column)


class _Sortable:
    """A sort value and row key in the shape :func:`_sort_value` reads."""

    __slots__ = ("sort_key", "row_key")

    def __init__(self, sort_key: object, row_key: str) -> None:
        self.sort_key = sort_key
        self.row_key = row_key
