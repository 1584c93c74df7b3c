"""Mesh view benchmark: one refresh drawn, and the switch to the view, at 54 nodes.

Run: ``.venv/bin/python tests/benchmarks/bench_mesh_view.py [--repeat 15]
[--baseline-tree DIR]``

The synthetic mesh of tests/mesh_synth.py (10 sites x (edge + 4 servers) + 4
relays; no daemon: this is about drawing 54 x 54) in a :class:`MeshView`
inside ``App.run_test(size=(160, 50))``. Figures printed, medians of
``--repeat`` runs, in ms:

* ``refresh``: ``show()`` of the other input (healthy <-> relay-1 down, so every
  refresh recomputes and hundreds of cells change) and the screen drawn
  (``pilot.pause()``: the compositor renders the widgets' lines); also each part;
* ``pause``: a pilot pause with nothing to draw (the floor of every figure);
* ``repaint``: the matrix repainted whole (``refresh()``), nothing changed: the
  lines in sight drawn;
* ``scroll``: the cursor one page down and 12 cells right (then back), the
  widget's key actions called directly, the screen drawn after each;
* ``switch 1->6``: from another view (a placeholder in a ContentSwitcher, the
  way the app hides views) key ``6`` shows the Mesh view and refreshes it
  (the app's view switch does both), until the matrix is drawn.

``--baseline-tree DIR`` (e.g. ``git worktree add /tmp/base HEAD~3``, or
``git archive HEAD~3 | tar -x -C /tmp/base``) runs the same figures on the code in
``DIR`` in the same run and prints the ratio baseline / this tree. Each tree is
measured in a subprocess, ``--rounds`` times, the two alternated (the machine is
shared: a busy minute weighs on both); the figures are the medians of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # mesh_synth

SIZE = (160, 50)


async def measure(repeat: int) -> dict[str, Any]:
    from mesh_synth import outage
    from textual.app import App, ComposeResult
    from textual.widgets import ContentSwitcher, Static

    from meshtui.ui.themes import BUNDLED_DIR, Palette, load_theme_file, semantic_defaults
    from meshtui.ui.views.mesh import MeshInput, MeshView

    models, names, down = outage()
    inputs = [
        MeshInput(models, names),
        MeshInput(down, names, states={"relay-1": "reconnecting"}),
    ]
    theme = load_theme_file(BUNDLED_DIR / "meshtui-dark.toml")
    palette = Palette({**semantic_defaults(theme), **theme.variables})
    clock = {"now": 100.0, "input": 0}

    class Host(App[None]):
        BINDINGS = [("1", "show('one')", "one"), ("6", "show('mesh')", "mesh")]

        def compose(self) -> ComposeResult:
            with ContentSwitcher(initial="one"):
                yield Static("overview", id="one")
                yield MeshView(id="mesh")

        def action_show(self, which: str) -> None:
            self.query_one(ContentSwitcher).current = which
            if which == "mesh":
                view = self.query_one(MeshView)
                view.palette = palette
                clock["now"] += 2.0
                view.show(inputs[clock["input"]], clock["now"])
                view.focus_main()

    async def drawn(pilot: Any, view: Any) -> None:
        for _ in range(20):  # the old view mounted a new table for new destinations
            await pilot.pause()
            table = view.matrix_table
            if table is not None and table.is_mounted and table.row_count:
                return
        raise RuntimeError("the matrix was not drawn")

    refresh: list[float] = []
    shows: list[float] = []
    draws: list[float] = []
    idle: list[float] = []
    repaint: list[float] = []
    scroll: list[float] = []
    switch: list[float] = []
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(MeshView)
        await pilot.press("6")
        await drawn(pilot, view)
        for _ in range(repeat):
            clock["input"] ^= 1
            clock["now"] += 2.0
            t0 = time.perf_counter()
            view.show(inputs[clock["input"]], clock["now"])
            t1 = time.perf_counter()
            await pilot.pause()
            t2 = time.perf_counter()
            refresh.append(t2 - t0)
            shows.append(t1 - t0)
            draws.append(t2 - t1)
        table = view.matrix_table
        assert table is not None
        table.focus()
        await pilot.pause()
        for _ in range(repeat):
            t0 = time.perf_counter()
            await pilot.pause()
            idle.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            table.refresh()
            await pilot.pause()
            repaint.append(time.perf_counter() - t0)
        for i in range(repeat):
            # the key's actions (both widgets name them alike), drawn after each: what a key
            # costs without the pilot's own waits
            keys = ("page_down", *["cursor_right"] * 12)
            if i % 2:
                keys = ("page_up", *["cursor_left"] * 12)
            t0 = time.perf_counter()
            for action in keys:
                getattr(table, f"action_{action}")()
                await pilot.pause()
            scroll.append(time.perf_counter() - t0)
        for _ in range(repeat):
            await pilot.press("1")
            await pilot.pause()
            clock["input"] ^= 1
            t0 = time.perf_counter()
            await pilot.press("6")
            await drawn(pilot, view)
            switch.append(time.perf_counter() - t0)
    return {
        "refresh": statistics.median(refresh) * 1e3,
        "show": statistics.median(shows) * 1e3,
        "draw": statistics.median(draws) * 1e3,
        "idle": statistics.median(idle) * 1e3,
        "repaint": statistics.median(repaint) * 1e3,
        "scroll": statistics.median(scroll) * 1e3,
        "switch": statistics.median(switch) * 1e3,
    }


LABELS = {
    "refresh": "refresh (show + draw)",
    "show": "  show(): compute + sync",
    "draw": "  then the screen drawn",
    "idle": "pause, nothing to draw",
    "repaint": "repaint of the matrix",
    "scroll": "scroll (page + 12 cells)",
    "switch": "switch 1->6",
}


def _run(tree: Path, repeat: int) -> dict[str, float]:
    """The figures of the code in ``tree``, measured in a subprocess."""
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
    out = subprocess.run(
        [sys.executable, __file__, "--json", "--repeat", str(repeat)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="runs of each tree, alternated (the machine is shared)",
    )
    ap.add_argument("--baseline-tree", type=Path, help="also measure the code in this tree")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.json:
        print(json.dumps(asyncio.run(measure(args.repeat))))
        return
    here_runs: list[dict[str, float]] = []
    base_runs: list[dict[str, float]] = []
    for _ in range(args.rounds):  # alternated, so a busy minute weighs on both alike
        here_runs.append(_run(HERE.parents[1], args.repeat))
        if args.baseline_tree is not None:
            base_runs.append(_run(args.baseline_tree, args.repeat))

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    print(
        f"Mesh view, 54 nodes, {SIZE[0]}x{SIZE[1]}, ms: median of {args.rounds} rounds "
        f"(each the median of {args.repeat})"
    )
    for key, label in LABELS.items():
        here = median(here_runs, key)
        line = f"{label:26}: this tree {here:8.1f}"
        if base_runs:
            base = median(base_runs, key)
            line += f"   baseline {base:8.1f}   baseline/this {base / here:5.2f}x"
        print(line)


if __name__ == "__main__":
    main()
