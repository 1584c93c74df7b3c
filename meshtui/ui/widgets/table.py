"""`KeyedTable`: a DataTable kept in step with live data by stable row keys.

Views describe each row as a key, a cheap signature and a function that
builds the row's cells; :meth:`KeyedTable.sync` adds, updates (cell by cell)
and removes rows so that the cursor and the scroll position survive, and
only rebuilds a row's cells when its signature changed. Cells name a
semantic colour role (see :mod:`meshtui.ui.themes`), never a colour.

Under a storm most syncs only change cells in place, of rows mostly off
screen: such a sync repaints the changed rows that are on screen, and
nothing else (a whole-table repaint re-renders every visible cell, and it is
what kept the UI loop busy when a key arrived); a row whose sort value
changed is put back in its place found by a binary search, and the table is
sorted whole only when too many rows changed.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import PseudoClasses, Widget
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey

from meshtui.core.sanitize import inert

CellSpec = tuple[Any, str, Any]
"""One cell: (text, style spec, sort value).

The text is a string, or a tuple of (text, style spec) segments for a cell
in several colours. A style spec is a semantic role optionally followed by
``bold``/``dim``/``italic`` (``"unreachable bold"``), or ``""``."""

RowSpec = tuple[str, Hashable, Callable[[], tuple[CellSpec, ...]]]
"""One row: (key, signature, build cells). Cells are rebuilt only when the signature changes."""

StyleResolver = Callable[[str], Style]

REBUILD_THRESHOLD = 256
"""Above this many removals in one sync the table is rebuilt rather than edited row by row
(DataTable.remove_row is linear in the number of rows)."""

MAX_MOVES = 512
"""Up to this many rows whose sort value changed are taken out and put back in their place in
one sync; beyond, the whole table is sorted."""

FEW_MOVES = 16
"""Up to this many moved rows, only the rows between their old and new places are rebuilt;
beyond, every row is (each row's new place costs a search over places skipping the others)."""


class Cell:
    """A table cell: its text and style, rendered as Rich text when (and only when) drawn.

    One small object per cell rather than a :class:`~rich.text.Text` with its
    lists: a table of 5,000 routes holds tens of thousands of cells, and each
    object more lengthens Python's garbage-collection pauses. Carries its sort
    value and row key (ties in a sort are broken by row key).
    """

    __slots__ = ("parts", "style", "sort_key", "row_key")

    def __init__(
        self,
        parts: str | tuple[tuple[str, Style | None], ...],
        style: Style,
        sort_key: Any,
        row_key: str = "",
    ) -> None:
        self.parts = parts
        self.style = style
        self.sort_key = sort_key
        self.row_key = row_key

    @property
    def plain(self) -> str:
        """The text without styles."""
        parts = self.parts
        return parts if isinstance(parts, str) else "".join(text for text, _ in parts)

    def __rich__(self) -> Text:
        parts = self.parts
        if isinstance(parts, str):
            return Text(parts, style=self.style, no_wrap=True, overflow="ellipsis", end="")
        text = Text("", style=self.style, no_wrap=True, overflow="ellipsis", end="")
        for part, style in parts:
            text.append(part, style)
        return text


def _width(spec: CellSpec) -> int:
    return max((cell_len(line) for line in cell_text(spec).split("\n")), default=0)


def cell_text(spec: CellSpec) -> str:
    """The plain text of a cell spec."""
    text = spec[0]
    return text if isinstance(text, str) else "".join(part for part, _ in text)


@dataclass(frozen=True, slots=True)
class Column:
    """A column: key, header label and an optional fixed width."""

    key: str
    label: str
    width: int | None = None


@dataclass(slots=True)
class SyncStats:
    """What one :meth:`KeyedTable.sync` did."""

    added: int = 0
    updated_rows: int = 0
    updated_cells: int = 0
    removed: int = 0
    rebuilt: bool = False

    @property
    def changed(self) -> bool:
        """Whether the table changed at all."""
        return bool(self.added or self.updated_cells or self.removed or self.rebuilt)


def _sort_value(cell: Any) -> tuple[bool, Any, str]:
    """Sort by the cell's value, None last; ties by row key, so the order never depends on
    when rows arrived."""
    value = getattr(cell, "sort_key", None)
    return (value is None, value, getattr(cell, "row_key", ""))


_COMPONENTS = sorted(DataTable.COMPONENT_CLASSES)


class KeyedTable(DataTable):
    """A DataTable updated in place from keyed rows, with a sort order of its own.

    Clicking a column header sorts by it (again: reverses).

    | Key | Action |
    | :- | :- |
    | enter | Select the row (views open its detail). |
    """

    DEFAULT_CSS = """
    KeyedTable {
        height: 1fr;
    }
    """

    class SortChanged(Message):
        """The sort column or direction changed."""

        def __init__(self, table: KeyedTable) -> None:
            super().__init__()
            self.table = table

    def __init__(
        self,
        columns: list[Column],
        resolve: StyleResolver,
        *,
        sort: str | None = None,
        reverse: bool = False,
        row_height: int | None = 1,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(
            id=id,
            classes=classes,
            cursor_type="row",
            zebra_stripes=False,
            cursor_foreground_priority="css",
        )
        # A label may be a node's name from babeld: inert (and drawn as Text, never markup).
        self.table_columns = [replace(c, label=inert(c.label)) for c in columns]
        self._resolve = resolve
        self._sigs: dict[str, Hashable] = {}
        self._specs: dict[str, tuple[CellSpec, ...]] = {}
        self._column_keys = [c.key for c in columns]
        self._auto_width = [c.width is None for c in columns]
        self._touched: set[str] = set()
        self._whole = False  # a cell update that repaints the whole table (a column widened)
        self.sort_column = sort
        self.sort_reverse = reverse
        self.row_height = row_height
        self.syncs = 0
        self._drawn_size: tuple[Size, Size] | None = None
        self._drawn_styles: dict[PseudoClasses, tuple[Style, ...]] = {}
        self._styles_unchecked = True
        self.cache_kept = 0  # shows and focus changes that re-used the rendered lines

    # ------------------------------------------------------------ keeping rendered lines

    def _on_resize(self, event: events.Resize) -> None:
        """DataTable drops every rendered line on a resize; a view shown again at the size
        it had (a view switch hides and shows it) keeps them.

        Without this, each switch to a table view re-rendered every cell on screen
        (about 500 Rich renders for the Routes view: half of a key's latency).
        """
        drawn = (event.size, event.virtual_size)
        if event.size.area == 0 or drawn == self._drawn_size:
            event.prevent_default()  # only DataTable handles Resize below this class
            self.cache_kept += 1
            return
        self._drawn_size = drawn

    def notify_style_update(self) -> None:
        """DataTable drops every rendered cell when its styles are recomputed, as on each
        focus change; here they are kept, and checked at the next render: its renders are
        keyed by the focus/hover state already, so they hold unless the styles drawn in that
        state changed (a theme change).
        """
        Widget.notify_style_update(self)
        self._styles_cache.clear()
        self._get_styles_to_render_cell.cache_clear()  # not keyed by the focus state
        self._styles_unchecked = True
        self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        """Lines as DataTable renders them, once the rendered cells are known to be drawn
        with the current styles (component styles are only final after the style update)."""
        if self._styles_unchecked:
            self._styles_unchecked = False
            state = self.get_pseudo_class_state()
            styles = self._render_styles()
            drawn = self._drawn_styles.get(state)
            if drawn is None:
                self._drawn_styles[state] = styles
            elif drawn == styles:
                self.cache_kept += 1
            else:  # the same state drawn otherwise: everything rendered is stale
                self._drawn_styles = {state: styles}
                self._clear_caches()
        return super().render_lines(crop)

    def _render_styles(self) -> tuple[Style, ...]:
        """The styles DataTable renders with, in the current state."""
        return (
            self.rich_style,
            *(self.get_component_rich_style(name) for name in _COMPONENTS),
            *(self.get_component_styles(name).rich_style for name in _COMPONENTS),
        )

    def on_mount(self) -> None:
        """Create the columns."""
        self._columns_ready()

    def _columns_ready(self) -> None:
        """Create the columns, once: at mount, or at the first sync if it comes first (a
        failover's refresh can reach a table whose mount event is still queued)."""
        if self.columns:
            return
        for column in self.table_columns:
            self.add_column(Text(column.label), key=column.key, width=column.width)
        self._label_sort()

    # ------------------------------------------------------------ data

    def _cell(self, spec: CellSpec, key: str) -> Cell:
        text = spec[0]
        resolve = self._resolve
        if isinstance(text, str):  # cells hold babeld's words: shown inert (core.sanitize)
            return Cell(inert(text, newlines=True), resolve(spec[1]), spec[2], key)
        parts = tuple(
            (inert(part, newlines=True), resolve(style) if style else None) for part, style in text
        )
        return Cell(parts, resolve(spec[1]), spec[2], key)

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, or None for an empty table."""
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except (CellDoesNotExist, RowDoesNotExist):
            return None

    def keys(self) -> list[str]:
        """Row keys in display order."""
        return [row.key.value for row in self.ordered_rows if row.key.value is not None]

    def visible_keys(self, margin: int | None = None) -> list[str]:
        """Keys of the rows on screen, and of ``margin`` lines either side (a screenful
        by default), in display order: what a refresh of clocks needs to touch."""
        height = max(1, self.size.height)
        margin = height if margin is None else margin
        top = int(self.scroll_y)
        lines = self._y_offsets[max(0, top - margin) : top + height + margin]
        return list(dict.fromkeys(key.value for key, _ in lines if key.value is not None))

    def specs(self, key: str) -> tuple[CellSpec, ...] | None:
        """The cell specs last shown for ``key``."""
        return self._specs.get(key)

    def count(self, column: int, predicate: Callable[[CellSpec], bool]) -> int:
        """How many rows have a cell in ``column`` for which ``predicate`` holds."""
        return sum(1 for cells in self._specs.values() if predicate(cells[column]))

    def plain_rows(self) -> list[list[str]]:
        """The table as text, rows in display order (for tests and saving)."""
        return [[cell_text(spec) for spec in self._specs[key]] for key in self.keys()]

    def sync(self, rows: Iterable[RowSpec]) -> SyncStats:
        """Make the table show exactly ``rows`` (in the table's sort order).

        Rows whose signature did not change are not touched; changed rows are
        updated cell by cell; the cursor stays on the same row key.
        """
        return self._apply(rows, None)

    def sync_some(self, rows: Iterable[RowSpec], remove: Iterable[str] = ()) -> SyncStats:
        """Add or update ``rows`` and remove the ``remove`` keys; leave every other row alone.

        For views that know which rows changed since the last refresh.
        """
        return self._apply(rows, remove)

    def _apply(self, rows: Iterable[RowSpec], remove: Iterable[str] | None) -> SyncStats:
        self._columns_ready()
        self.syncs += 1
        stats = SyncStats()
        sigs = self._sigs
        specs = self._specs
        cursor = self.cursor_key
        seen: set[str] = set()
        added: list[str] = []
        sort_dirty = False
        sort_index = (
            self._column_keys.index(self.sort_column)
            if self.sort_column in self._column_keys
            else -1
        )
        auto_width = self._auto_width
        resorted: list[str] = []
        for key, sig, build in rows:
            seen.add(key)
            old_sig = sigs.get(key)
            if old_sig is None:
                sigs[key] = sig
                specs[key] = build()
                added.append(key)
                continue
            if old_sig == sig:
                continue
            sigs[key] = sig
            new = build()
            old = specs[key]
            specs[key] = new
            stats.updated_rows += 1
            for index, (a, b) in enumerate(zip(old, new, strict=True)):
                if a != b:
                    stats.updated_cells += 1
                    if index == sort_index and a[2] != b[2]:
                        sort_dirty = True
                        resorted.append(key)
                    self._update(key, index, b, auto_width[index])
        if remove is None:
            gone = [key for key in sigs if key not in seen]
        else:
            gone = [key for key in dict.fromkeys(remove) if key in sigs and key not in seen]
        stats.removed = len(gone)
        stats.added = len(added)
        if len(gone) > REBUILD_THRESHOLD:
            for key in gone:
                del sigs[key], specs[key]
            self._rebuild()
            stats.rebuilt = True
        else:
            for key in gone:
                del sigs[key], specs[key]
                self.remove_row(key)
            for key in added:
                self.add_row(
                    *(self._cell(s, key) for s in specs[key]), key=key, height=self.row_height
                )
            moved: tuple[int, int] | None = (0, -1)
            if not added and sort_dirty:
                moved = self._reorder(resorted)
            if added or moved is None:
                self._apply_sort()
            else:
                sort_dirty = False
        touched, self._touched = self._touched, set()
        whole, self._whole = self._whole, False
        if not (gone or added or sort_dirty or whole) and self.row_height == 1:
            # cells changed in place; at most a few rows changed places (``moved``)
            lo, hi = moved if moved is not None else (0, -1)
            if touched or hi >= lo:
                self._forget_rendered(touched, lo, hi)
            self._repaint_rows(touched, lo, hi)
            if hi >= lo and cursor is not None:
                self._restore_cursor(cursor)
            return stats
        if touched:
            self._update_count += 1
            self.refresh()
        if stats.changed:
            # Every render cache entry is keyed by the update count that just moved on:
            # drop them now rather than keep thousands of dead entries for the GC to walk.
            self._clear_caches()
        if stats.changed and cursor is not None and cursor in sigs:
            self._restore_cursor(cursor)
        return stats

    def _reorder(self, keys: list[str]) -> tuple[int, int] | None:
        """Put the rows ``keys``, whose sort values changed, back in order: each is taken
        out and put back where a binary search among the other rows (still in order) puts
        it. Returns the range of row indices that changed, empty when the order held, None
        when too many rows moved (then sort them all).

        Under a storm a few rows change their sort value at each refresh: a failover swaps
        a destination's two routes (a place or two in the Routes view), or turns it
        "pending" (in the Failover view sorted by state: from among thousands of rows to the
        top, and back). No sort of thousands of rows for that, and no walk past each
        neighbour: the cost is a binary search per moved row and one pass over the rows
        between its old and new places.
        """
        if self.sort_column is None or self.sort_column not in self._column_keys:
            return (0, -1)
        column = ColumnKey(self.sort_column)
        data = self._data
        # DataTable's two-way row index (key <-> position): its sort builds a new one, the
        # moves here edit it in place
        forward = getattr(self._row_locations, "_forward", None)
        reverse_map = getattr(self._row_locations, "_reverse", None)
        if not isinstance(forward, dict) or not isinstance(reverse_map, dict):
            return None
        moved = [RowKey(key) for key in dict.fromkeys(keys)]
        if len(moved) > MAX_MOVES:
            return None
        reverse = self.sort_reverse
        count = len(data)

        def value(row: RowKey) -> tuple[bool, Any, str]:
            return _sort_value(data[row][column])

        def before(a: tuple[bool, Any, str], b: tuple[bool, Any, str]) -> bool:
            return (a < b) != reverse

        try:
            held = all(
                (i == 0 or not before(value(row), value(reverse_map[i - 1])))
                and (i == count - 1 or not before(value(reverse_map[i + 1]), value(row)))
                for row, i in ((row, forward[row]) for row in moved)
            )
            if held:  # every changed row still sits between its neighbours: all in order
                return (0, -1)
            moved = [reverse_map[forward[row]] for row in moved]  # the table's own key objects
            was = sorted(forward[row] for row in moved)  # their places, taken out of the order
            staying = count - len(moved)

            def place(rank: int) -> int:
                """The index of the staying row of this rank (the moved rows skipped)."""
                index = rank
                for taken in was:
                    if taken > index:
                        break
                    index += 1
                return index

            ends = [0, count]  # many moved rows: all rows between (no per-row search)
            if len(moved) > FEW_MOVES:
                moved_rows: list[RowKey] = []
            else:
                ends, moved_rows = [], moved
            for row in moved_rows:  # where each goes: before the staying row at this index
                here = value(row)
                lo, hi = 0, staying
                while lo < hi:  # the first staying row that does not go before this one
                    mid = (lo + hi) // 2
                    if before(value(reverse_map[place(mid)]), here):
                        lo = mid + 1
                    else:
                        hi = mid
                ends.append(place(lo) if lo < staying else count)
            # only the rows between the moved rows' old and new places change places
            low, high = min(was[0], *ends), min(count - 1, max(was[-1], *ends))
            leaving = {id(row) for row in moved}
            span = [reverse_map[i] for i in range(low, high + 1)]
            order = [row for row in span if id(row) not in leaving]
            for row in moved:
                here = value(row)
                lo, hi = 0, len(order)
                while lo < hi:
                    mid = (lo + hi) // 2
                    if before(value(order[mid]), here):
                        lo = mid + 1
                    else:
                        hi = mid
                order.insert(lo, row)
        except (TypeError, KeyError):  # values that do not compare: sort them all
            return None
        first, last = count, -1
        for index, row in enumerate(order, low):
            if reverse_map[index] is not row:
                forward[row] = index
                reverse_map[index] = row
                last = index
                if first > index:
                    first = index
        return (first, last) if last >= 0 else (0, -1)

    def _forget_rendered(self, keys: set[str], lo: int, hi: int) -> None:
        """Drop what DataTable rendered of the rows ``keys`` (their cells changed) and of
        the rows now at indices ``lo``–``hi`` (they moved: a rendered cell carries its row's
        index, for the mouse); keep every other row's rendered cells.

        DataTable itself would move its update count on, which drops every rendered cell:
        under a storm each refresh then re-rendered the whole screen of cells (a failover
        moves a row or two at each refresh), and a key waited behind it.
        """
        index_of = self._row_locations.get
        moved = hi >= lo

        def stale(row: RowKey) -> bool:
            if row.value in keys:
                return True
            if not moved:
                return False
            index = index_of(row)
            return index is not None and lo <= index <= hi

        cells, rows = self._cell_render_cache, self._row_render_cache  # keyed by row key
        for cell_key in [k for k in cells.keys() if stale(k[0])]:
            cells.discard(cell_key)
        for row_key in [k for k in rows.keys() if stale(k[0])]:
            rows.discard(row_key)
        self._row_renderable_cache.clear()  # by row index
        self._line_cache.clear()  # by line: rebuilt from the rows' rendered cells
        if moved:  # the row order, cached by the update count that stays: lo-hi rewritten
            reverse = getattr(self._row_locations, "_reverse", None)
            count = self.row_count
            offsets = self._offset_cache.get(self._update_count)
            ordered = self._ordered_row_cache.get((count, self._update_count))
            if isinstance(reverse, dict) and offsets is not None and len(offsets) == count:
                for index in range(lo, hi + 1):  # one line a row (row height 1)
                    offsets[index] = (reverse[index], 0)
            else:
                self._offset_cache.clear()
            if isinstance(reverse, dict) and ordered is not None and len(ordered) == count:
                by_key = self.rows
                for index in range(lo, hi + 1):
                    ordered[index] = by_key[reverse[index]]
            else:
                self._ordered_row_cache.clear()

    def _repaint_rows(self, keys: set[str], lo: int = 0, hi: int = -1) -> None:
        """Repaint what is on screen of the rows ``keys`` and of the rows ``lo``–``hi``
        (one line each: only for row height 1)."""
        header = self.header_height if self.show_header else 0
        top = int(self.scroll_y)
        bottom = top + max(0, self.size.height - header)
        lines = {i for i in range(max(lo, top), min(hi + 1, bottom))}
        locations = self._row_locations
        for key in keys:
            index = locations.get(RowKey(key))
            if index is not None and top <= index < bottom:
                lines.add(index)
        if not lines:
            return
        width = max(self.size.width, self.virtual_size.width)
        regions: list[Region] = []
        start = previous = -2
        for line in sorted(lines):
            if line != previous + 1:
                if start >= 0:
                    regions.append(Region(0, header + start - top, width, previous + 1 - start))
                start = line
            previous = line
        regions.append(Region(0, header + start - top, width, previous + 1 - start))
        self.refresh(*regions)

    def _update(self, key: str, index: int, spec: CellSpec, auto_width: bool) -> None:
        """Update one cell; widen its column when the text got wider (never narrower).

        DataTable re-measures the whole column when a cell gets narrower than
        the column, which is quadratic under a storm; columns only grow here.
        """
        column_key = self._column_keys[index]
        if auto_width:
            column = self.columns.get(ColumnKey(column_key))
            if column is not None and _width(spec) > column.content_width:
                self.update_cell(key, column_key, self._cell(spec, key), update_width=True)
                self._whole = True
                return
        # What update_cell does, minus a repaint request per cell: under a storm hundreds
        # of cells change per refresh, and one repaint (in _apply) covers them all.
        row = self._data.get(RowKey(key))
        if row is None:
            self.update_cell(key, column_key, self._cell(spec, key))
            self._whole = True
            return
        row[ColumnKey(column_key)] = self._cell(spec, key)
        self._touched.add(key)

    def _rebuild(self) -> None:
        self.clear()
        for key, cells in self._specs.items():
            self.add_row(*(self._cell(s, key) for s in cells), key=key, height=self.row_height)
        self._apply_sort()

    def _apply_sort(self) -> None:
        if self.sort_column is None or self.sort_column not in self._column_keys:
            return
        self.sort(
            ColumnKey(self.sort_column),
            key=_sort_value,
            reverse=self.sort_reverse,
        )

    def _restore_cursor(self, key: str) -> None:
        try:
            index = self.get_row_index(key)
        except RowDoesNotExist:
            return
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False, scroll=False)

    def restyle(self) -> None:
        """Re-render every cell (the theme changed)."""
        cursor = self.cursor_key
        self._rebuild()
        if cursor is not None:
            self._restore_cursor(cursor)

    def reset(self) -> None:
        """Forget every row (the next sync adds them all again)."""
        self._sigs.clear()
        self._specs.clear()
        self.clear()

    # ------------------------------------------------------------ sorting

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        """Sort by ``column``; the same column again flips the direction."""
        if column not in self._column_keys:
            return
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_column = column
        self.sort_reverse = reverse
        cursor = self.cursor_key
        self._apply_sort()
        if cursor is not None:
            self._restore_cursor(cursor)
        self._label_sort()
        self.post_message(self.SortChanged(self))

    def _label_sort(self) -> None:
        """Put the sort arrow on the sorted column's header: ▲ ascending, ▼ descending."""
        for column in self.table_columns:
            shown = self.columns.get(ColumnKey(column.key))
            if shown is None or not column.label:
                continue
            label = column.label
            if column.key == self.sort_column:
                label += " ▼" if self.sort_reverse else " ▲"
            shown.label = Text(label)
            if shown.auto_width:
                shown.content_width = max(shown.content_width, cell_len(label))
            else:  # a fixed width grows to show the arrow
                shown.width = max(shown.width, cell_len(label))
        self._require_update_dimensions = True
        self._clear_caches()  # the header row is cached like any other
        self.refresh()

    def cycle_sort(self) -> None:
        """Sort by the next column (left to right, wrapping)."""
        keys = self._column_keys
        index = keys.index(self.sort_column) if self.sort_column in keys else -1
        self.sort_by(keys[(index + 1) % len(keys)], reverse=False)

    def reverse_sort(self) -> None:
        """Flip the sort direction."""
        self.sort_by(self.sort_column or self._column_keys[0], reverse=not self.sort_reverse)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """Sort by a clicked column header."""
        event.stop()
        if event.column_key.value is not None:
            self.sort_by(event.column_key.value)
