"""Snapshot of the Mesh view at 54 nodes in 80 × 24 (pytest-textual-snapshot).

The synthetic mesh of tests/mesh_synth.py (10 sites x (edge + 4 servers) + 4
relays), drawn healthy, then with relay-1 down: the summary row counts the
stale relay, the 53 pairs that cannot reach it and the 2,250 pairs on relay-2;
the changed cells are lit; the cursor on srv-a1 → srv-c2 says its path. Update
with ``pytest tests/snapshots --snapshot-update`` and look at the SVG.
"""

from __future__ import annotations

from mesh_synth import outage
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from meshtui.ui.themes import BUNDLED_DIR, Palette, load_theme_file, semantic_defaults
from meshtui.ui.views.mesh import MeshInput, MeshView


class MeshHost(App[None]):
    """The Mesh view alone, with the dark theme's palette."""

    def compose(self) -> ComposeResult:
        yield MeshView()


def test_mesh_54_nodes_80x24_relay_down(snap_compare) -> None:
    models, names, down = outage()

    async def run_before(pilot: Pilot) -> None:
        view = pilot.app.query_one(MeshView)
        theme = load_theme_file(BUNDLED_DIR / "meshtui-dark.toml")
        view.palette = Palette({**semantic_defaults(theme), **theme.variables})
        view.show(MeshInput(models, names), 100.0)
        await pilot.pause()
        await pilot.pause()
        view.show(MeshInput(down, names, states={"relay-1": "reconnecting"}), 101.0)
        await pilot.pause()
        table = view.matrix_table
        assert table is not None
        table.focus()
        column = table.get_column_index(names.prefix_of("srv-c2") or "")
        table.move_cursor(row=table.get_row_index("srv-a1"), column=column, animate=False)
        await pilot.pause()

    assert snap_compare(MeshHost(), terminal_size=(80, 24), run_before=run_before)
