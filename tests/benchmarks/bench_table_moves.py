"""Table benchmark: the cost of a failover in a sorted table of 5,000 rows, drawn on screen.

Run from a clone (no root needed)::

    python tests/benchmarks/bench_table_moves.py [--rows 5000] [--swaps 300]
        [--baseline-tree DIR]

A ``KeyedTable`` sorted by a value column, in a headless Textual app of 160 x 48.
Each step swaps the values of two neighbouring rows (what a failover does to
a destination's two routes in the Routes view) through ``sync_some``, then
renders the table's lines as the compositor would after that sync. It prints
the median and p95 of a step's sync and of its render, and how many cells
DataTable rendered again per step. With ``--baseline-tree`` the same runs in
a subprocess on the code of that tree (e.g. ``git worktree add /tmp/base
<commit>``), and the ratios are printed. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.style import Style
from textual.app import App, ComposeResult
from textual.geometry import Region

from meshtui.ui.widgets.table import Column, KeyedTable, RowSpec


def spec(i: int, value: int) -> RowSpec:
    key = f"fd42:1::{i:x}/128"
    return (key, value, lambda: ((key, "", key), (f"{value}", "", value), ("wg-a", "", "")))


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield KeyedTable(
            [Column("dest", "dest", 24), Column("metric", "metric", 8), Column("if", "if", 8)],
            lambda _spec: Style(),
            sort="metric",
        )


def measure(rows: int, swaps: int) -> dict[str, list[float]]:
    """Per step: seconds of the sync, of the render, and cells rendered again."""
    out: dict[str, list[float]] = {"sync": [], "render": [], "cells": []}

    async def run() -> None:
        app = TableApp()
        async with app.run_test(size=(160, 48)) as pilot:
            table = app.query_one(KeyedTable)
            values = {i: 10 * i for i in range(rows)}
            table.sync(spec(i, v) for i, v in values.items())
            await pilot.pause()
            region = Region(0, 0, table.size.width, table.size.height)
            table.render_lines(region)
            rng = random.Random(7)
            render_cell = table._render_cell
            cells = [0]

            def counted(*args: object, **kwargs: object) -> object:
                cells[0] += 1
                return render_cell(*args, **kwargs)  # type: ignore[arg-type]

            table._render_cell = counted  # type: ignore[method-assign]
            for _ in range(swaps):
                a = rng.randrange(min(rows - 1, 40))  # on screen, as a watched failover
                values[a], values[a + 1] = values[a + 1], values[a]
                cells[0] = 0
                t0 = time.perf_counter()
                table.sync_some([spec(a, values[a]), spec(a + 1, values[a + 1])])
                t1 = time.perf_counter()
                table.render_lines(region)
                t2 = time.perf_counter()
                out["sync"].append(t1 - t0)
                out["render"].append(t2 - t1)
                out["cells"].append(cells[0])

    asyncio.run(run())
    return out


def summary(figures: dict[str, list[float]]) -> dict[str, float]:
    def p95(xs: list[float]) -> float:
        return sorted(xs)[int(0.95 * (len(xs) - 1))]

    return {
        "sync": statistics.median(figures["sync"]) * 1000,
        "sync95": p95(figures["sync"]) * 1000,
        "render": statistics.median(figures["render"]) * 1000,
        "render95": p95(figures["render"]) * 1000,
        "cells": statistics.mean(figures["cells"]),
    }


def line(label: str, s: dict[str, float]) -> str:
    return (
        f"{label:<10} sync median {s['sync']:6.3f} ms p95 {s['sync95']:6.3f}   "
        f"render median {s['render']:6.2f} ms p95 {s['render95']:6.2f}   "
        f"cells rendered again per step {s['cells']:6.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--swaps", type=int, default=300)
    parser.add_argument("--baseline-tree", type=Path)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    mine = summary(measure(args.rows, args.swaps))
    if args.json:
        print(json.dumps(mine))
        return 0
    print(f"KeyedTable, {args.rows} rows sorted by value, {args.swaps} swaps of two neighbours "
          "on screen (a failover), each synced then rendered (160 x 48)")  # fmt: skip
    print(line("this tree", mine))
    if args.baseline_tree is not None:
        res = subprocess.run(
            [sys.executable, __file__, "--json", "--rows", str(args.rows)]
            + ["--swaps", str(args.swaps)],
            env=dict(os.environ, PYTHONPATH=str(args.baseline_tree.resolve())),
            capture_output=True,
            text=True,
            check=True,
        )
        base = json.loads(res.stdout.strip().splitlines()[-1])
        print(line("baseline", base))
        print(
            f"baseline / this tree: sync {base['sync'] / mine['sync']:.2f}x, "
            f"render {base['render'] / mine['render']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
