"""The rehearsal screen: per outage, the matrix of pairs coloured by failover time (pilot)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable

from meshtui.cli import main
from meshtui.core.rehearsal import OutageResult, PairResult, RunResult
from meshtui.ui.screens.rehearsal import RehearsalScreen
from meshtui.ui.testing import demo_app, settle
from meshtui.ui.themes import Palette

SIZE = (160, 48)


@pytest.fixture(autouse=True)
def _clean_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def _runs() -> list[RunResult]:
    current = RunResult("mesh.toml", (OutageResult("relay-1", (
        PairResult("srv-b1", "srv-a1", "relay-1", "relay-2", 207.0, 0.5, 30.0),
        PairResult("edge-b", "srv-a1", "relay-1", "relay-2", 1.8, 0.0, 30.0),
        PairResult("srv-a1", "srv-b1", "relay-2", "relay-2", None, 0.0, 0.0),
    )),))  # fmt: skip
    candidate = RunResult("other.toml", (OutageResult("relay-1", (
        PairResult("srv-b1", "srv-a1", "relay-1", "relay-2", 11.0, 0.5, 30.0),
        PairResult("edge-b", "srv-a1", "relay-1", None, None, 4.0, 1.0),
    )),))  # fmt: skip
    return [current, candidate]


def _cells(table: DataTable) -> dict[tuple[str, str], object]:
    out = {}
    for row in table.ordered_rows:
        values = table.get_row(row.key)
        for col, value in zip(table.ordered_columns, values, strict=True):
            out[(str(row.key.value), str(col.key.value))] = value
    return out


async def test_the_screen_shows_each_outage_side_by_side_coloured_by_failover() -> None:
    app = demo_app(stop_at=5)
    app.start_screen = RehearsalScreen(_runs(), "result.json")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RehearsalScreen)
        summary = str(screen.query_one("#rh-summary").render())
        assert "1 regression(s)" in summary
        assert "edge-b loses srv-a1 entirely when relay-1 fails" in summary
        assert "srv-b1 → srv-a1: 3 min 27 s → 11.0 s when relay-1 fails" in summary
        palette = Palette(app.get_css_variables())
        grades = ["route-selected", "degrading", "route-lost bold", "unreachable bold", "lost"]
        assert len({palette.resolve(g) for g in grades}) == len(grades)  # five distinct colours
        current = _cells(screen.query_one("#rh-0-relay-1", DataTable))
        candidate = _cells(screen.query_one("#rh-1-relay-1", DataTable))
        assert str(current[("srv-b1", "srv-a1")]) == "3 min 27 s"
        assert current[("srv-b1", "srv-a1")].style == palette.resolve("route-lost bold")
        assert str(current[("edge-b", "srv-a1")]) == "1.8 s"
        assert current[("edge-b", "srv-a1")].style == palette.resolve("route-selected")
        assert str(current[("srv-a1", "srv-b1")]) == "·"
        assert str(candidate[("edge-b", "srv-a1")]) == "lost"
        assert candidate[("edge-b", "srv-a1")].style == palette.resolve("unreachable bold")
        assert str(candidate[("srv-b1", "srv-a1")]) == "11.0 s"
        assert candidate[("srv-b1", "srv-a1")].style == palette.resolve("degrading")
        await pilot.press("escape")
        assert not isinstance(app.screen, RehearsalScreen)


def test_rehearsal_option_rejects_a_file_that_is_not_a_result(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps({"runs": [{"inventory": "x"}]}))
    assert main(["--rehearsal", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "not a rehearsal result" in err and err.count("\n") == 1
    assert main(["--rehearsal", str(tmp_path / "missing.json")]) == 1
    assert "cannot read" in capsys.readouterr().err
