"""MatrixTable, the Mesh view's grid: only the cells in sight are drawn, with the header
line and the first column fixed; rows are cached by key and built again only when their
signature changes; the cell cursor moves with keys and the mouse and keeps its keys
across syncs; outside text is drawn inert."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from textual.app import App, ComposeResult

from meshtui.ui.widgets.matrix import MatrixTable
from meshtui.ui.widgets.table import Column, RowSpec

N = 54


def columns() -> list[Column]:
    return [Column("from", "from"), *(Column(f"d{j:02}", f"dest-{j:02}") for j in range(N))]


def specs(version: dict[str, int] | None = None, keep: set[str] | None = None) -> list[RowSpec]:
    version = version or {}
    out: list[RowSpec] = []
    for i in range(N):
        key = f"n{i:02}"
        if keep is not None and key not in keep:
            continue
        v = version.get(key, 0)

        def build(i: int = i, key: str = key, v: int = v) -> tuple:
            head = (key, "bold", i)
            return (head, *((f"{i}>{j} v{v}", "", j) for j in range(N)))

        out.append((key, v, build))
    return out


class Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.selected: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield MatrixTable(columns(), lambda spec: Style(bold="bold" in spec), sort="from")

    def on_matrix_table_cell_selected(self, event: MatrixTable.CellSelected) -> None:
        self.selected.append((event.row_key, event.column_key))


def line(table: MatrixTable, y: int) -> str:
    return table.render_line(y).text


async def test_only_the_cells_in_sight_are_drawn_with_header_and_first_column_fixed() -> None:
    app = Host()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(MatrixTable)
        stats = table.sync(specs())
        assert stats.added == N and table.row_count == N
        await pilot.pause()
        width = table.scrollable_content_region.width
        assert table.virtual_size.height == N + 1  # the header line and the rows
        assert table.virtual_size.width > 5 * width  # 55 columns, a few in sight
        header, first = line(table, 0), line(table, 1)
        assert header.startswith(" from ▲ ") and "dest-00" in header and "dest-20" not in header
        assert first.startswith(" n00 ") and "0>0 v0" in first and "0>20 v0" not in first
        assert table.render_line(1).cell_length == width
        # the last row, the last column: the header and the source column stay in place
        table.focus()
        await pilot.press("ctrl+end", "end")
        await pilot.pause()
        assert table.cursor_key == "n53" and table.cursor_column_key == "d53"
        assert table.scroll_x > 0 and table.scroll_y > 0
        header = line(table, 0)
        assert header.startswith(" from ▲ ") and header.rstrip().endswith("dest-53")
        bottom = line(table, table.scrollable_content_region.height - 1)
        assert bottom.startswith(" n53 ") and bottom.rstrip().endswith("53>53 v0")
        assert "n53" in table.visible_keys(margin=0) and "n00" not in table.visible_keys(margin=0)
        # home: the first column again; ctrl+home: the first row
        await pilot.press("home", "ctrl+home")
        await pilot.pause()
        assert table.cursor_coordinate == (0, 0) and table.scroll_offset == (0, 0)


async def test_the_cursor_moves_by_keys_and_clicks_and_selects() -> None:
    app = Host()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(MatrixTable)
        table.sync(specs())
        table.focus()
        await pilot.press("right", "right", "down")
        assert table.cursor_coordinate == (1, 2)
        await pilot.press("pagedown")
        page = table.scrollable_content_region.height - 1
        assert table.cursor_coordinate == (1 + page, 2)
        assert table.cursor_key in table.visible_keys(margin=0)
        await pilot.press("pageup", "left")
        assert table.cursor_coordinate == (1, 1)
        await pilot.press("enter")
        await pilot.pause()
        assert app.selected == [("n01", "d00")]
        # a click moves the cursor to the cell; a click on the cursor's cell selects it
        await pilot.pause()
        region = table.content_region
        row = int(table.scroll_y) + 2  # line 3: the header, then rows from the scroll
        await pilot.click(MatrixTable, offset=(region.x - table.region.x + 2, 3))
        assert table.cursor_coordinate == (row, 0)
        await pilot.click(MatrixTable, offset=(region.x - table.region.x + 2, 3))
        await pilot.pause()
        assert app.selected[-1] == (f"n{row:02}", "from")
        # the highlighted cell is drawn in the cursor's style
        cursor = table.get_component_rich_style("matrix--fixed-cursor")
        segments = list(table.render_line(3))
        assert segments[0].style is not None and segments[0].style.bgcolor == cursor.bgcolor


async def test_rows_are_cached_by_key_and_built_again_only_when_they_change() -> None:
    app = Host()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(MatrixTable)
        built: list[str] = []

        def counted(rows: list[RowSpec]) -> list[RowSpec]:
            def wrap(key: str, build: Any) -> Any:
                return lambda: (built.append(key), build())[1]

            return [(key, sig, wrap(key, build)) for key, sig, build in rows]

        table.sync(counted(specs()))
        await pilot.pause()
        assert len(built) == N
        cached = dict(table._strips)
        assert set(cached) >= {"n00", "n01"}  # the rows drawn are cached by key
        built.clear()
        stats = table.sync(counted(specs({"n01": 1})))
        assert built == ["n01"] and stats.updated_rows == 1 and stats.updated_cells == N
        await pilot.pause()
        assert table._strips["n00"] is cached["n00"]  # untouched rows keep their segments
        assert table._strips["n01"] is not cached["n01"]
        assert "1>0 v1" in line(table, 2) and "0>0 v0" in line(table, 1)
        # a changed row and a cursor move repaint their own lines, not the grid
        table.focus()
        await pilot.pause()
        drawn = table.renders
        table.sync(specs({"n01": 1, "n02": 1}))
        await pilot.pause()
        assert table.renders - drawn == 1  # n02's line
        drawn = table.renders
        await pilot.press("down")
        await pilot.pause()
        assert table.renders - drawn == 2  # the line the cursor left, the one it entered


async def test_the_cursor_keeps_its_keys_across_syncs() -> None:
    app = Host()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(MatrixTable)
        table.sync(specs())
        table.focus()
        table.move_cursor(row=table.get_row_index("n30"), column=table.get_column_index("d20"))
        await pilot.pause()
        place = (table.scroll_x, table.scroll_y)
        # rows before it go (a filter): the cursor stays on n30 / d20
        table.sync(specs(keep={f"n{i:02}" for i in range(10, N)}))
        assert (table.cursor_key, table.cursor_column_key) == ("n30", "d20")
        assert table.cursor_coordinate == (20, 21)
        # every row back, cells changed: same keys, same scroll
        table.sync(specs({f"n{i:02}": 2 for i in range(N)}))
        await pilot.pause()
        assert (table.cursor_key, table.cursor_column_key) == ("n30", "d20")
        assert (table.scroll_x, table.scroll_y) == place
        # its row gone: the cursor stays at that place, on the row now there
        table.sync(specs(keep={f"n{i:02}" for i in range(N)} - {"n30"}))
        assert table.cursor_key == "n31"
        assert table.plain_rows()[0][:2] == ["n00", "0>0 v0"]  # built again: v0


async def test_outside_text_is_drawn_inert() -> None:
    app = Host()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(MatrixTable)
        table.set_columns([Column("from", "from"), Column("x", "evil\x1b[31m")])
        table.sync([("k\x1b]0;t\x07", 0, lambda: (("k\x1b]0;t\x07", "", 0), ("a\x1bb", "", 0)))])
        await pilot.pause()
        assert "\x1b" not in line(table, 0) and "\x1b" not in line(table, 1)
        assert "\\x1b" in line(table, 1)


def sortable_specs() -> list[RowSpec]:
    """Rows whose d01 cells sort in another order than the rows' (some have no value)."""
    out: list[RowSpec] = []
    for i in range(N):
        key = f"n{i:02}"

        def build(i: int = i, key: str = key) -> tuple:
            value = None if i % 10 == 0 else (i * 7) % 5
            cells = ((f"{i}>{j}", "", value if j == 1 else j) for j in range(N))
            return ((key, "bold", i), *cells)

        out.append((key, 0, build))
    return out


async def click_header(pilot: Any, table: MatrixTable, label: str) -> None:
    x = line(table, 0).index(label)
    await pilot.click(MatrixTable, offset=(table.content_region.x - table.region.x + x, 0))
    await pilot.pause()


async def test_a_header_click_sorts_by_that_column_and_again_reverses() -> None:
    app = Host()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(MatrixTable)
        table.sync(sortable_specs())
        table.focus()
        table.move_cursor(row=table.get_row_index("n30"), column=table.get_column_index("d02"))
        await pilot.pause()
        keys = [f"n{i:02}" for i in range(N)]
        assert table.keys() == keys and line(table, 0).startswith(" from ▲ ")

        def value(key: str) -> tuple[bool, int, str]:
            i = int(key[1:])
            return (i % 10 == 0, 0 if i % 10 == 0 else (i * 7) % 5, key)

        ascending = sorted(keys, key=value)
        assert ascending != keys
        await click_header(pilot, table, "dest-01")
        assert table.keys() == ascending and table.keys()[-1] == "n50"  # no value: last
        assert (table.sort_column, table.sort_reverse) == ("d01", False)
        header = line(table, 0)
        assert "dest-01 ▲" in header and "from ▲" not in header and "▼" not in header
        # the cursor stays on its node and column, in sight
        assert (table.cursor_key, table.cursor_column_key) == ("n30", "d02")
        assert table.cursor_coordinate.row == ascending.index("n30")
        assert "n30" in table.visible_keys(margin=0)
        # the same header again: reversed, ▼
        await click_header(pilot, table, "dest-01")
        assert table.keys() == ascending[::-1]
        assert "dest-01 ▼" in line(table, 0) and "▲" not in line(table, 0)
        assert table.cursor_key == "n30" and "n30" in table.visible_keys(margin=0)
        # a sync keeps the order; reverse_sort (O) flips it back; the first column's header
        table.sync(sortable_specs())
        assert table.keys() == ascending[::-1]
        table.reverse_sort()
        assert table.keys() == ascending
        await pilot.pause()
        await click_header(pilot, table, "from")
        assert table.keys() == keys and line(table, 0).startswith(" from ▲ ")
        # the sorted column gone (new destinations): back to the first sort column
        table.sort_by("d01", reverse=True)
        table.set_columns([c for c in columns() if c.key != "d01"])
        assert (table.sort_column, table.sort_reverse) == ("from", False)
