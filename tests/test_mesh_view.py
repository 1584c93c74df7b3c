"""The Mesh view at 54 nodes (10 sites x (edge + 4 servers) + 4 relays): scrolling both
ways, the site / role filter and keys, the summary row of problems, and the summary's
counts in core. Models come from babeld's lines of a synthetic mesh (tests/mesh_synth.py):
the lab tests talk to real daemons, this is about drawing 50 x 50."""

from __future__ import annotations

from typing import Any

import pytest
from mesh_synth import SynthMesh, synth_mesh
from textual.app import App, ComposeResult

from meshtui.core.meshcheck import (
    NAME_LIMIT,
    CellState,
    ProblemKind,
    build_matrix,
    check_mesh,
    on_standby_relay,
    preferred_relay,
    row_words,
    scope_choices,
    summarize,
)
from meshtui.core.model import NodeModel
from meshtui.ui.themes import BUNDLED_DIR, Palette, load_theme_file, semantic_defaults
from meshtui.ui.views.mesh import MeshInput, MeshView, problem_style
from meshtui.ui.widgets.table import KeyedTable

SITES = "abcdefghij"
INTER_SITE_PAIRS = 10 * 5 * 9 * 5  # every edge or server to every one of another site


def relay_down(mesh: SynthMesh, relay: str = "relay-1") -> dict[str, NodeModel | None]:
    """relay-1 fails: the others route around it (via relay-2), its own row has no data."""
    return mesh.relay_down(relay)


@pytest.fixture(scope="module")
def healthy() -> tuple[SynthMesh, dict[str, NodeModel]]:
    mesh = synth_mesh()
    return mesh, mesh.models()


# ------------------------------------------------------------------ core


def test_a_healthy_mesh_of_54_has_no_problem(healthy: Any) -> None:
    mesh, models = healthy
    names = mesh.names(models)
    matrix = build_matrix(models, names)
    assert len(matrix.sources) == 54 and len(matrix.destinations) == 54
    summary = summarize(matrix, models, names, check_mesh(models, names, None, matrix))
    assert (summary.live, summary.nodes, summary.pairs) == (54, 54, 54 * 53)
    assert summary.problems == ()
    assert summary.text() == "54/54 nodes live · no problems"
    # relay-1 is every edge's cheapest tunnel: the preferred relay; a relay has no preference
    assert preferred_relay(names, "edge-c") == "relay-1"
    assert preferred_relay(names, "relay-2") is None and preferred_relay(names, "srv-a1") is None
    cell = matrix.cell("srv-a1", names.prefix_of("srv-c2"))
    assert cell is not None and cell.relay == "relay-1" and not on_standby_relay(cell, names)
    assert cell.describe() == (
        "srv-a1 → srv-c2: metric 384; path srv-a1 › edge-a › relay-1 › edge-c › srv-c2; "
        "relay relay-1, else relay-2, relay-3, relay-4"
    )


def test_the_summary_counts_a_relay_outage(healthy: Any) -> None:
    mesh = synth_mesh()
    models = relay_down(mesh)
    names = mesh.names({n: m for n, m in models.items() if m is not None})
    # edge-a missed relay-2's last Hello (the newest bit of reach is babeld's high bit)
    edge_a = models["edge-a"]
    assert edge_a is not None
    link = next(n for n in edge_a.neighbours.values() if n.interface == "wg-r2")
    link.reach = 0x7FFF
    matrix = build_matrix(models, names)
    findings = check_mesh(models, names, None, matrix)
    summary = summarize(matrix, models, names, findings, {"relay-1": "reconnecting"})
    kinds = [p.kind for p in summary.problems]
    assert kinds == [
        ProblemKind.STALE,
        ProblemKind.UNREACHABLE,
        ProblemKind.STANDBY_RELAY,
        ProblemKind.DEGRADING,
    ]
    assert summary.live == 53
    stale = summary.of(ProblemKind.STALE)
    assert stale is not None and stale.items == ("relay-1",)
    # nobody reaches relay-1 any more; its own row is unknown, not unreachable
    unreachable = [c for c in matrix.cells.values() if c.state is CellState.UNREACHABLE]
    assert summary.count(ProblemKind.UNREACHABLE) == len(unreachable) == 53
    assert {c.dest for c in unreachable} == {"relay-1"}
    standby = summary.of(ProblemKind.STANDBY_RELAY)
    assert standby is not None and standby.count == INTER_SITE_PAIRS
    assert standby.relays == ("relay-2",)
    assert summary.count(ProblemKind.DEGRADING) == 1
    assert summary.text() == (
        "53/54 nodes live · 1 node stale: relay-1 · 53 pairs unreachable · "
        f"{INTER_SITE_PAIRS} pairs on a standby relay (relay-2) · "
        "1 link degrading: edge-a→relay-2"
    )
    # without states, a node without data is down; few pairs are named
    summary = summarize(matrix, models, names, findings)
    assert summary.of(ProblemKind.DOWN).items == ("relay-1",)  # type: ignore[union-attr]
    assert summary.count(ProblemKind.STALE) == 0
    connecting = summarize(matrix, models, names, findings, {"relay-1": "connecting"})
    assert connecting.count(ProblemKind.CONNECTING) == 1 and not connecting.of(ProblemKind.DOWN)
    assert len(summary.of(ProblemKind.UNREACHABLE).items) == NAME_LIMIT  # type: ignore[union-attr]


def test_an_incremental_build_equals_a_full_one(healthy: Any) -> None:
    mesh, models = healthy
    names = mesh.names(models)
    before = build_matrix(models, names)
    # edge-a alone loses relay-1 (its tunnel down): it and the paths through it move
    cut = synth_mesh()
    cut.links = {k: v for k, v in cut.links.items() if set(k) != {"edge-a", "relay-1"}}
    after = dict(models, **{"edge-a": cut.model("edge-a")})
    full = build_matrix(after, names)
    incremental = build_matrix(after, names, previous=before, changed={"edge-a"})
    assert {k: c.to_json() for k, c in incremental.cells.items()} == {
        k: c.to_json() for k, c in full.cells.items()
    }
    kept = sum(1 for k, c in incremental.cells.items() if c is before.cells[k])
    assert 0 < kept < len(before.cells)
    cell = incremental.cell("srv-a1", names.prefix_of("srv-c2"))
    assert cell is not None and cell.relay == "relay-2"
    # nodes that did not change and whose paths do not cross edge-a keep their cells
    other = before.cell("srv-b1", names.prefix_of("srv-c2"))
    assert incremental.cell("srv-b1", names.prefix_of("srv-c2")) is other


def test_row_words_and_scope_choices(healthy: Any) -> None:
    mesh, models = healthy
    names = mesh.names(models)
    assert row_words(names, "srv-c2") == "server role:server site:c"
    assert row_words(names, "relay-3") == "relay role:relay"
    roles, sites = scope_choices(names, names.nodes)
    assert roles == ("relay", "edge", "server") and sites == tuple(SITES)


# ------------------------------------------------------------------ the view


class Host(App[None]):
    def __init__(self, data: MeshInput) -> None:
        super().__init__()
        self.data = data

    def compose(self) -> ComposeResult:
        yield MeshView(lambda: self.data)


def dark() -> Palette:
    theme = load_theme_file(BUNDLED_DIR / "meshtui-dark.toml")
    return Palette({**semantic_defaults(theme), **theme.variables})


async def shown(pilot: Any, view: MeshView, data: MeshInput, now: float = 100.0) -> KeyedTable:
    view.palette = dark()
    view.show(data, now)
    await pilot.pause()
    await pilot.pause()  # the matrix table is mounted with the destinations as columns
    table = view.matrix_table
    assert table is not None and table.is_mounted and table.row_count
    return table


def rows(table: KeyedTable) -> list[str]:
    return [r[0] for r in table.plain_rows()]


async def test_mesh_view_scrolls_to_the_last_node_and_keeps_its_place(healthy: Any) -> None:
    mesh, models = healthy
    names = mesh.names(models)
    app = Host(MeshInput(models, names))
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(MeshView)
        table = await shown(pilot, view, app.data)
        assert len(rows(table)) == 54
        assert table.visible_keys(margin=0)[-1] != "srv-j4"  # 54 rows do not fit in 30 lines
        table.focus()
        await pilot.press("ctrl+end", "end")  # the last row, then the last column
        await pilot.pause()
        assert table.cursor_key == "srv-j4"
        assert "srv-j4" in table.visible_keys(margin=0)
        assert table.scroll_y > 0 and table.scroll_x > 0
        last = view.cursor_cell()
        assert last is not None and last.source == "srv-j4" and last.dest == "srv-j4"
        # up a page and left a few cells: somewhere in the middle of both axes
        await pilot.press("pageup", "left", "left", "left")
        await pilot.pause()
        cell = view.cursor_cell()
        assert cell is not None and cell.source != "srv-j4" and cell.dest != "srv-j4"
        place = (table.cursor_coordinate, table.scroll_x, table.scroll_y)
        where = (cell.source, cell.dest)

        # relay-1 fails: hundreds of cells change; the cursor and the scroll stay put
        down = relay_down(synth_mesh())
        view.show(MeshInput(down, names, states={"relay-1": "reconnecting"}), 101.0)
        await pilot.pause()
        assert view.lit()
        now = view.cursor_cell()
        assert now is not None and (now.source, now.dest) == where
        assert (table.cursor_coordinate, table.scroll_x, table.scroll_y) == place
        assert (
            view.query_one("#mesh-cursor")
            .render()
            .plain.startswith(  # type: ignore[attr-defined]
                f"{where[0]} → {where[1]}"
            )
        )


async def test_mesh_view_filters_by_site_and_role(healthy: Any) -> None:
    mesh, models = healthy
    names = mesh.names(models)
    app = Host(MeshInput(models, names))
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.query_one(MeshView)
        table = await shown(pilot, view, app.data)
        table.focus()
        # R cycles the role: relays, edges, servers, then every row again
        await pilot.press("R")
        assert rows(table) == ["relay-1", "relay-2", "relay-3", "relay-4"]
        await pilot.press("R")
        assert rows(table) == [f"edge-{s}" for s in SITES]
        await pilot.press("R")
        assert len(rows(table)) == 40 and all(r.startswith("srv-") for r in rows(table))
        title = view.query_one("#mesh-title").render().plain  # type: ignore[attr-defined]
        assert "role server: 40 of 54 rows" in title
        # S narrows to a site as well: site a's servers
        await pilot.press("S")
        assert rows(table) == ["srv-a1", "srv-a2", "srv-a3", "srv-a4"]
        await pilot.press("R")  # every role of site a
        assert rows(table) == ["edge-a", "srv-a1", "srv-a2", "srv-a3", "srv-a4"]
        assert view.back()  # esc: no filter to clear, so the scope goes
        assert len(rows(table)) == 54 and not view.back()

        # the / filter matches site and role words
        view.open_filter()
        await pilot.press(*"site:c")
        await pilot.pause()
        assert rows(table) == ["edge-c", "srv-c1", "srv-c2", "srv-c3", "srv-c4"]
        await pilot.press("space", *"server")
        await pilot.pause()
        assert rows(table) == ["srv-c1", "srv-c2", "srv-c3", "srv-c4"]
        await pilot.press("escape")
        await pilot.pause()
        assert len(rows(table)) == 54


async def test_mesh_view_summary_row_names_the_problems(healthy: Any) -> None:
    mesh, models = healthy
    names = mesh.names(models)
    app = Host(MeshInput(models, names))
    async with app.run_test(size=(160, 30)) as pilot:
        view = app.query_one(MeshView)
        await shown(pilot, view, app.data)
        summary = view.query_one("#mesh-summary").render().plain  # type: ignore[attr-defined]
        assert summary == f"54/54 nodes live · no problems ({54 * 53} pairs)"
        down = relay_down(synth_mesh())
        view.show(MeshInput(down, names, states={"relay-1": "reconnecting"}), 101.0)
        await pilot.pause()
        text = view.summary_text()
        assert text.plain.startswith(
            "53/54 nodes live · 1 node stale: relay-1 · 53 pairs unreachable"
        )
        assert f"{INTER_SITE_PAIRS} pairs on a standby relay (relay-2)" in text.plain
        assert view.summary is not None and view.summary.count(ProblemKind.STALE) == 1
        # every count in its own colour role (the view's palette resolves them)
        styled = {text.plain[s.start : s.end]: s.style for s in text.spans}
        palette = dark()
        assert styled["1 node stale: relay-1"] == palette.resolve(problem_style(ProblemKind.STALE))
        assert styled["53 pairs unreachable"] == palette.resolve("unreachable bold")
        assert palette.resolve("unreachable bold") != palette.resolve("link-reconnecting bold")
        # without states (a hub that gives only errors), a bare state word there still tells
        view.show(MeshInput(down, names, errors={"relay-1": "connecting"}), 102.0)
        assert view.summary.count(ProblemKind.CONNECTING) == 1
        assert not view.summary.of(ProblemKind.DOWN)
        view.show(MeshInput(down, names, errors={"relay-1": "relay-1: host key refused"}), 103.0)
        assert view.summary.of(ProblemKind.DOWN).items == ("relay-1",)  # type: ignore[union-attr]
        # the checks keep the most severe first, also for a finding new since the last draw
        await pilot.pause()
        severities = [r[0] for r in view.query_one("#mesh-findings", KeyedTable).plain_rows()]
        assert severities == sorted(severities, key=["error", "warning", "info"].index), severities


async def test_mesh_view_redraws_the_matrix_in_a_new_theme(healthy: Any) -> None:
    mesh, models = healthy
    names = mesh.names(models)
    app = Host(MeshInput(models, names))
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(MeshView)
        table = await shown(pilot, view, app.data)
        before = list(table.render_line(2))
        theme = load_theme_file(BUNDLED_DIR / "meshtui-light.toml")
        light = Palette({**semantic_defaults(theme), **theme.variables})
        view.restyle(light)
        await pilot.pause()
        after = list(table.render_line(2))
        assert [s.text for s in after] == [s.text for s in before]
        # line 2 is the second row; its first destination's cell, in each palette's colour
        specs = table.specs(table.keys()[1])
        assert specs is not None and specs[1][1]
        old, new = before[1].style, after[1].style
        assert old is not None and new is not None
        assert old.color == dark().resolve(specs[1][1]).color
        assert new.color == light.resolve(specs[1][1]).color != old.color


async def test_mesh_view_sorts_by_a_clicked_destination_and_reverses(healthy: Any) -> None:
    """A click on a destination's header sorts the rows by their cells to it (a refresh
    keeps that order), again reverses; the cursor stays on its node."""
    mesh, models = healthy
    names = mesh.names(models)
    app = Host(MeshInput(models, names))
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.query_one(MeshView)
        table: Any = await shown(pilot, view, app.data)
        table.focus()
        matrix_order = table.keys()
        column = 3  # the third destination's, right of the source column
        name, prefix = table.columns[column].label, table.columns[column].key
        table.move_cursor(row=table.get_row_index("srv-c2"), column=column)
        await pilot.pause()

        def by_cell() -> list[str]:
            def value(key: str) -> tuple[bool, Any, str]:
                cell = table.specs(key)[column][2]
                return (cell is None, cell, key)

            return sorted(table.keys(), key=value)

        async def click_header() -> None:
            x = table.render_line(0).text.index(f" {name} ") + 1
            offset = (table.content_region.x - table.region.x + x, 0)
            await pilot.click(type(table), offset=offset)
            await pilot.pause()

        await click_header()
        ascending = by_cell()
        assert ascending != matrix_order and table.keys() == ascending
        assert f"{name} ▲" in table.render_line(0).text and "from \\ to ▲" not in (
            table.render_line(0).text
        )
        assert table.cursor_key == "srv-c2" and table.cursor_column_key == prefix
        assert "srv-c2" in table.visible_keys(margin=0)
        # relay-1 fails: the cells change, the rows stay sorted by them
        view.show(MeshInput(relay_down(synth_mesh()), names), 101.0)
        await pilot.pause()
        assert table.keys() == by_cell() and table.cursor_key == "srv-c2"
        # the same header again: the reverse order, ▼
        ascending = by_cell()
        await click_header()
        assert table.keys() == ascending[::-1] and f"{name} ▼" in table.render_line(0).text
        assert table.cursor_key == "srv-c2" and "srv-c2" in table.visible_keys(margin=0)
