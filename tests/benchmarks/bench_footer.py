"""Benchmark of the footer's rebuild at a view switch: only the keys that changed vs all of them.

Runs the dashboard on the demo recording (headless, 160x48), presses the view
keys ``--rounds`` times over (``1``–``6``), and times every rebuild of the
footer's keys: first with :class:`~meshtui.ui.widgets.footer.KeyFooter` as it
is (the keys both rows start and end with stay), then, in the same run, with
Textual's own rebuild of the whole row (the baseline). Prints how many view
switches rebuilt the footer, the median and p95 of those rebuilds and their
ratio; asserts nothing. Run: ``.venv/bin/python tests/benchmarks/bench_footer.py [--rounds 8]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from textual.widgets import Footer

from meshtui.ui.testing import demo_app, settle
from meshtui.ui.widgets.footer import KeyFooter

KEYS = "123456"


async def rebuilds(rounds: int, whole_row: bool) -> list[float]:
    """Milliseconds of each footer rebuild over ``rounds`` passes over the view keys."""
    spent: list[float] = []
    diffed = KeyFooter.recompose

    async def timed(self: KeyFooter) -> None:
        shown = self._keys_shown()
        if shown == self._shown and self.children:
            return  # the same keys: neither way rebuilds anything
        started = time.perf_counter()
        if whole_row:
            self._shown = shown
            await Footer.recompose(self)
        else:
            await diffed(self)
        spent.append((time.perf_counter() - started) * 1000)

    KeyFooter.recompose = timed  # type: ignore[method-assign]
    try:
        app = demo_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            spent.clear()
            for _ in range(rounds):
                for key in KEYS:
                    await pilot.press(key)
                    await pilot.pause(0.05)
    finally:
        KeyFooter.recompose = diffed  # type: ignore[method-assign]
    return spent


def p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, round(0.95 * len(xs)) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8, help="passes over the view keys 1-6")
    args = ap.parse_args()
    mine = asyncio.run(rebuilds(args.rounds, whole_row=False))
    base = asyncio.run(rebuilds(args.rounds, whole_row=True))
    presses = args.rounds * len(KEYS)
    for label, xs in (("changed keys only", mine), ("whole row (Textual)", base)):
        print(
            f"{label:20}: {len(xs)} rebuilds in {presses} view switches, "
            f"median {statistics.median(xs):5.2f} ms, p95 {p95(xs):5.2f} ms"
        )
    ratio = statistics.median(base) / statistics.median(mine)
    print(f"whole row / changed keys: median {ratio:.2f}x, p95 {p95(base) / p95(mine):.2f}x")


if __name__ == "__main__":
    main()
