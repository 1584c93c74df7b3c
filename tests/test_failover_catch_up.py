"""The Failover view's catch-up after a storm: the changed rows on screen are synced at once,
the others at most CATCH_UP_ROWS per refresh until none is left (none is lost)."""

from __future__ import annotations

from meshtui.core.model import NodeModel
from meshtui.ui.views.failover import CATCH_UP_ROWS, FailoverView, dest_key


class Shown:
    """What `_catch_up` asks of the table: the keys of the rows on screen."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys

    def visible_keys(self) -> list[str]:
        return self.keys


def dest(i: int) -> tuple[str, str]:
    return (f"10.0.{i // 256}.{i % 256}/32", "::/0")


def reachable(count: int, but: tuple[int, ...] = ()) -> NodeModel:
    """A model where destinations 0..count-1 have an installed route, except ``but``."""
    model = NodeModel()
    for i in range(count):
        if i in but:
            continue
        prefix = dest(i)[0]
        model.feed(
            f"add route {i + 1:x} prefix {prefix} from ::/0 installed yes "
            "id 02:00:00:00:00:00:00:01 metric 192 refmetric 96 via fe80::1 if wg-r1",
            1.0,
        )
    model.commit(1.0)
    return model


def test_a_large_catch_up_is_spread_over_refreshes_rows_on_screen_first() -> None:
    view = FailoverView()
    on_screen = [dest(i) for i in range(2000, 2040)]
    table = Shown([dest_key(*d) for d in on_screen])
    changed = {dest(i) for i in range(2500)}
    model = reachable(2500)
    first = view._catch_up(table, set(changed), False, model)  # type: ignore[arg-type]
    assert set(on_screen) <= first
    assert len(first) == len(on_screen) + CATCH_UP_ROWS
    assert view.pending_rows == len(changed) - len(first)
    synced = set(first)
    refreshes = 1
    while view.pending_rows:
        now = view._catch_up(table, set(), False, model)  # type: ignore[arg-type]
        assert len(now) <= CATCH_UP_ROWS
        synced |= now
        refreshes += 1
    assert synced == changed
    assert refreshes == 1 + -(-(len(changed) - len(first)) // CATCH_UP_ROWS)
    # a full refresh (clocks) takes every row on screen, changed or not
    again = view._catch_up(table, {dest(5)}, True, model)  # type: ignore[arg-type]
    assert again == set(on_screen) | {dest(5)} and view.pending_rows == 0


def test_a_small_change_is_synced_at_once() -> None:
    view = FailoverView()
    changed = {dest(i) for i in range(CATCH_UP_ROWS)}
    model = reachable(CATCH_UP_ROWS)
    assert view._catch_up(Shown([]), set(changed), False, model) == changed  # type: ignore[arg-type]
    assert view.pending_rows == 0


def test_unreachable_destinations_off_screen_are_caught_up_first() -> None:
    """The title counts unreachable rows and sorts them to the top: never left behind."""
    view = FailoverView()
    lost = (7, 1234, 2499)
    model = reachable(2500, but=lost)
    assert all(model.destination(*dest(i)).state == "unreachable" for i in lost)
    first = view._catch_up(Shown([]), {dest(i) for i in range(2500)}, False, model)  # type: ignore[arg-type]
    assert len(first) == CATCH_UP_ROWS
    assert {dest(i) for i in lost} <= first
