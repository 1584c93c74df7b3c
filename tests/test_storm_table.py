"""KeyedTable under a storm: in-place changes repaint only the changed rows on screen, and
what is drawn is always what the table holds (on screen, off screen, after a scroll, after a
change of sort order)."""

from __future__ import annotations

from rich.style import Style
from textual.app import App, ComposeResult
from textual.geometry import Region

from meshtui.ui.widgets.table import Column, KeyedTable, RowSpec

ROWS = 200


def spec(i: int, value: int) -> RowSpec:
    key = f"k{i:03d}"
    return (key, value, lambda: ((key, "", key), (f"v{value}", "", value)))


class TableApp(App[None]):
    def __init__(self, sort: str) -> None:
        super().__init__()
        self.sort = sort

    def compose(self) -> ComposeResult:
        yield KeyedTable(
            [Column("name", "name", 8), Column("value", "value", 8)],
            lambda _spec: Style(),
            sort=self.sort,
        )


def drawn(kt: KeyedTable) -> list[list[str]]:
    """The words of the table's lines as on screen (header first): through the widget's
    line cache, which keeps what was painted unless a region was marked for repaint."""
    return [strip.text.split() for strip in drawn_strips(kt)]


def drawn_strips(kt: KeyedTable) -> list:
    """The table's lines as rendered (with their styles and the mouse's metadata)."""
    return kt.render_lines(Region(0, 0, kt.size.width, kt.size.height))


def expected(kt: KeyedTable, values: dict[int, int]) -> list[list[str]]:
    """What the lines must say: the header, then the rows on screen in the table's order."""
    top = int(kt.scroll_y)
    keys = kt.keys()[top : top + kt.size.height - 1]
    return [drawn(kt)[0]] + [[key, f"v{values[int(key[1:])]}"] for key in keys]


async def test_in_place_changes_repaint_the_visible_changed_rows_only() -> None:
    app = TableApp(sort="name")
    async with app.run_test(size=(40, 12)) as pilot:
        kt = app.query_one(KeyedTable)
        values = dict.fromkeys(range(ROWS), 0)
        kt.sync(spec(i, v) for i, v in values.items())
        await pilot.pause()
        assert drawn(kt) == expected(kt, values)
        count = kt._update_count
        # row 3 (on screen) and row 150 (off screen) change: only row 3's line is repainted
        values[3], values[150] = 7, 9
        stats = kt.sync(spec(i, v) for i, v in values.items())
        assert (stats.updated_cells, stats.added, stats.removed) == (2, 0, 0)
        assert kt._update_count == count  # no whole-table invalidation
        assert kt._repaint_regions and all(r.height == 1 for r in kt._repaint_regions)
        await pilot.pause()
        assert drawn(kt) == expected(kt, values)
        # the off-screen change is there when scrolled to
        kt.scroll_to(y=145, animate=False)
        await pilot.pause()
        assert ["k150", "v9"] in drawn(kt)
        assert drawn(kt) == expected(kt, values)
        # changes seen from a scrolled table: drawn where they are
        values[147], values[10] = 3, 4
        kt.sync_some([spec(147, 3), spec(10, 4)])
        await pilot.pause()
        assert drawn(kt) == expected(kt, values)
        kt.scroll_to(y=0, animate=False)
        await pilot.pause()
        assert drawn(kt) == expected(kt, values)


async def test_a_sort_value_change_sorts_only_when_it_breaks_the_order() -> None:
    app = TableApp(sort="value")
    async with app.run_test(size=(40, 12)) as pilot:
        kt = app.query_one(KeyedTable)
        values = {i: 10 * i for i in range(ROWS)}
        kt.sync(spec(i, v) for i, v in values.items())
        await pilot.pause()
        count = kt._update_count
        # 50 -> 51 stays between 40 and 60: no sort, no invalidation
        values[5] = 51
        kt.sync(spec(i, v) for i, v in values.items())
        assert kt._update_count == count
        await pilot.pause()
        assert drawn(kt) == expected(kt, values)
        # 50 -> 5: before 10, the order broke: sorted (the row moves up)
        values[5] = 5
        kt.sync(spec(i, v) for i, v in values.items())
        assert kt.keys()[:3] == ["k000", "k005", "k001"]
        await pilot.pause()
        assert drawn(kt) == expected(kt, values)
        # reversed: the same check the other way round
        kt.sort_by("value", reverse=True)
        await pilot.pause()
        count = kt._update_count
        values[ROWS - 1] = values[ROWS - 1] + 1
        kt.sync(spec(i, v) for i, v in values.items())
        assert kt._update_count == count
        values[ROWS - 1] = -1
        kt.sync(spec(i, v) for i, v in values.items())
        assert kt.keys()[-1] == f"k{ROWS - 1:03d}"
        await pilot.pause()
        assert drawn(kt) == expected(kt, values)


async def test_rows_moved_into_place_match_a_full_sort() -> None:
    """Many sort values change at once (near and far moves, either direction): the order
    is the sorted order, and the screen shows it."""
    import random

    rng = random.Random(12)
    for reverse in (False, True):
        app = TableApp(sort="value")
        async with app.run_test(size=(40, 12)) as pilot:
            kt = app.query_one(KeyedTable)
            if reverse:
                kt.sort_by("value", reverse=True)
            values = {i: rng.randrange(1000) for i in range(ROWS)}
            kt.sync(spec(i, v) for i, v in values.items())
            await pilot.pause()
            for changes in (1, 2, 5, 30, 150, 3, 8, 16, 17, 1, 2, 4):
                for i in rng.sample(range(ROWS), changes):
                    values[i] = max(0, values[i] + rng.choice((-3, -1, 1, 2, 400, -400)))
                kt.sync(spec(i, v) for i, v in values.items())
                order = sorted(values, key=lambda i: (values[i], f"k{i:03d}"), reverse=reverse)
                assert kt.keys() == [f"k{i:03d}" for i in order]
                await pilot.pause()
                assert drawn(kt) == expected(kt, values)


async def test_a_row_moving_across_thousands_of_rows_is_not_a_full_sort() -> None:
    """The Failover view sorted by state: a failover turns one destination of thousands
    "pending" (to the top) and back; its row is put in place, the table is not sorted whole,
    and the order and the screen are those of a full sort."""
    rows = 3000
    app = TableApp(sort="value")
    async with app.run_test(size=(40, 12)) as pilot:
        kt = app.query_one(KeyedTable)
        sorts: list[object] = []
        whole_sort = kt.sort
        kt.sort = lambda *a, **k: (sorts.append(a), whole_sort(*a, **k))[1]  # type: ignore[method-assign]
        values = dict.fromkeys(range(rows), 3)
        kt.sync(spec(i, v) for i, v in values.items())
        await pilot.pause()
        sorts.clear()
        for moves in ({2500: 1}, {2500: 3, 1700: 1, 40: 1}, {1700: 3, 40: 3}, {2999: 0}):
            values.update(moves)
            kt.sync_some(spec(i, v) for i, v in moves.items())
            order = sorted(values, key=lambda i: (values[i], f"k{i:03d}"))
            assert kt.keys() == [f"k{i:03d}" for i in order]
            await pilot.pause()
            assert drawn(kt) == expected(kt, values)
        assert sorts == []


def rendered_rows(kt: KeyedTable) -> set[str]:
    """Keys of the rows whose rendered cells DataTable keeps."""
    return {key[0].value for key in kt._cell_render_cache.keys() if key[0].value}


def row_meta(kt: KeyedTable, line: int) -> int:
    """The row index the mouse would get for a click on ``line`` of the table."""
    strip = drawn_strips(kt)[line]
    metas = {seg.style.meta.get("row") for seg in strip if seg.style and seg.style.meta}
    metas.discard(None)
    assert len(metas) == 1, metas
    return metas.pop()


async def test_a_move_re_renders_only_the_rows_whose_place_changed() -> None:
    """A row moving up re-renders the rows between its old and new place; the others' cells
    are kept (no whole-screen re-render at each failover), and every line on screen still
    carries its own row index for the mouse."""
    app = TableApp(sort="value")
    async with app.run_test(size=(40, 12)) as pilot:
        kt = app.query_one(KeyedTable)
        values = {i: 10 * i for i in range(ROWS)}
        kt.sync(spec(i, v) for i, v in values.items())
        await pilot.pause()
        drawn(kt)
        on_screen = set(kt.keys()[:11])
        assert on_screen <= rendered_rows(kt)
        values[6] = 15  # 60 -> 15: from place 6 to place 2, rows 2-5 shift down
        kt.sync(spec(i, v) for i, v in values.items())
        assert kt.keys()[:7] == ["k000", "k001", "k006", "k002", "k003", "k004", "k005"]
        kept = rendered_rows(kt)
        assert {"k000", "k001", "k007", "k008", "k009", "k010"} <= kept
        assert not kept & {"k002", "k003", "k004", "k005", "k006"}
        await pilot.pause()
        assert drawn(kt) == expected(kt, values)
        assert [row_meta(kt, line) for line in range(1, 11)] == list(range(10))


async def test_a_table_shown_again_or_refocused_keeps_its_rendered_cells() -> None:
    """Hiding and showing a table (a view switch) and moving focus away and back do not
    make it re-render its cells; a theme change does."""
    app = TableApp(sort="name")
    async with app.run_test(size=(40, 12)) as pilot:
        kt = app.query_one(KeyedTable)
        kt.sync(spec(i, i) for i in range(ROWS))
        kt.focus()
        await pilot.pause()
        kt.display = False  # shown once with its rows (its first resize had none)
        await pilot.pause()
        kt.display = True
        await pilot.pause()
        kt.blur()  # each focus state styled once (the first time, nothing is kept)
        await pilot.pause()
        kt.focus()
        await pilot.pause()
        drawn(kt)
        count = kt._update_count
        before = {key: kt._cell_render_cache[key] for key in kt._cell_render_cache.keys()}
        for _ in range(2):
            kt.display = False
            await pilot.pause()
            kt.display = True
            await pilot.pause()
            kt.blur()
            await pilot.pause()
            kt.focus()
            await pilot.pause()
        assert kt._update_count == count
        assert kt.cache_kept > 0
        after = kt._cell_render_cache
        assert all(key in after and after[key] is value for key, value in before.items())
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause()
        drawn(kt)
        assert not any(key in kt._cell_render_cache for key in before)


async def test_a_sync_before_the_mount_creates_the_columns_once() -> None:
    """A failover's refresh can reach a table whose mount event is still queued: its first
    sync creates the columns (DataTable refused rows without them), the mount does not add
    them again."""
    app: App[None] = App()
    async with app.run_test(size=(40, 12)) as pilot:
        table = KeyedTable(
            [Column("name", "name", 8), Column("value", "value", 8)], lambda _spec: Style()
        )
        table.sync(spec(i, i) for i in range(3))
        assert [c.value for c in table.columns] == ["name", "value"]
        assert table.row_count == 3
        await app.mount(table)
        await pilot.pause()
        assert [c.value for c in table.columns] == ["name", "value"]
        assert drawn(table)[1:4] == [["k000", "v0"], ["k001", "v1"], ["k002", "v2"]]
