"""The footer: after a view switch it shows what a full rebuild would, having rebuilt only the keys
that changed (Textual rebuilds them all at every focus change: ~9 ms a switch)."""

from __future__ import annotations

from textual.compose import compose
from textual.widgets._footer import FooterKey

from meshtui.ui.testing import demo_app, settle, until
from meshtui.ui.widgets.footer import FIRST_KEYS, KeyFooter, _signature


def _shown(footer: KeyFooter) -> list[tuple[object, ...]]:
    return [_signature(w) for w in footer.children if isinstance(w, FooterKey)]


def _rebuilt(footer: KeyFooter) -> list[tuple[object, ...]]:
    """The keys a rebuild from scratch gives now (new widgets, not mounted)."""
    with footer._context():  # as when the footer composes: its keys bind to it
        return [_signature(w) for w in compose(footer) if isinstance(w, FooterKey)]


async def test_each_view_switch_shows_a_full_rebuild_keeping_the_keys_that_stay() -> None:
    app = demo_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        footer = app.screen.query_one(KeyFooter)
        changed = kept = 0
        for key in "2345612":
            before_keys = _shown(footer)
            before = {id(w) for w in footer.children}
            await pilot.press(key)
            await until(
                pilot, lambda: _shown(footer) == _rebuilt(footer), what=f"footer after {key}"
            )
            await pilot.pause()
            assert _shown(footer) == _rebuilt(footer)
            assert [w.key for w in footer.children][:2] == list(FIRST_KEYS)
            if _shown(footer) != before_keys:
                changed += 1
                kept += len(before & {id(w) for w in footer.children})
        assert changed >= 2  # the views have keys of their own
        assert kept > 0  # and the keys they share were not built again
        footer.compact = not footer.compact  # every key's style changes: all rebuilt
        await until(pilot, lambda: _shown(footer) == _rebuilt(footer), what="compact footer")
        assert all(w.compact == footer.compact for w in footer.children if isinstance(w, FooterKey))
