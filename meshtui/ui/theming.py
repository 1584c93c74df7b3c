"""The dashboard's themes at run time: registering meshtui's, the fallback, ``t``, restyling.

The themes themselves (bundled and the user's TOML files, the semantic colour
roles) are :mod:`meshtui.ui.themes`'; this is what the app does with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshtui.ui.actions import VIEW_CLASSES
from meshtui.ui.themes import DEFAULT_THEME, Palette, ThemeLoad, semantic_defaults

if TYPE_CHECKING:
    from textual.app import App
    from textual.theme import Theme

    from meshtui.ui.app import MeshApp


def install_themes(
    app: App[int], loaded: ThemeLoad, wanted: str | None
) -> tuple[list[str], list[str]]:
    """Register ``loaded``'s themes and select ``wanted`` (or the default).

    Returns:
        The themes' names (``t`` cycles through them) and the notices: the
        files that did not load, and a theme asked for that does not exist.
    """
    names: list[str] = []
    for item in loaded.themes:
        app.register_theme(item)
        names.append(item.name)
    notices = list(loaded.problems)
    theme = wanted or DEFAULT_THEME
    if theme not in app.available_themes:
        notices.append(f"theme {theme!r} not found; using {DEFAULT_THEME}")
        theme = DEFAULT_THEME if DEFAULT_THEME in app.available_themes else "textual-dark"
    app.theme = theme
    return names, notices


def palette_of(theme: Theme) -> Palette:
    """Styles for the semantic roles in ``theme`` (derived when it omits them)."""
    return Palette({**semantic_defaults(theme), **theme.variables})


def next_theme(app: MeshApp) -> None:
    """Switch to the next of meshtui's themes (bundled and the user's), and say which."""
    names = app.theme_names or list(app.available_themes)
    index = names.index(app.theme) if app.theme in names else -1
    app.theme = names[(index + 1) % len(names)]
    app.notify(f"theme: {app.theme}", timeout=2)


def retheme(app: MeshApp, _theme: object = None) -> None:
    """The theme changed: the palette follows, every view restyles, the screen refreshes."""
    app.palette = palette_of(app.current_theme)
    with app.batch_update():
        for cls in VIEW_CLASSES:
            app.view(cls.view_id).restyle(app.palette)
    app.refresh_now(force=True)
