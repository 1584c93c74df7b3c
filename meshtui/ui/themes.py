"""Themes: the semantic colour roles, theme files (TOML) and their validation.

Every colour the dashboard shows comes from a theme variable with a semantic
name (``route-selected``, ``unreachable``, ``degrading``, ...). A theme file
maps Textual's base colours and these roles onto a palette::

    name = "my-theme"            # required: lower-case letters, digits, dashes
    dark = true                  # optional, default true
    [colors]                     # Textual's base colours; primary is required
    primary = "#4f9dde"
    background = "#101418"
    [variables]                  # semantic roles (any you leave out are derived)
    route-selected = "#5fd787"

Bundled themes are the repository's ``themes/`` (shipped in the wheel as
``meshtui/ui/themes``); users add their own in ``$XDG_CONFIG_HOME/meshtui/themes``
(``~/.config/meshtui/themes``). A file that does not validate is skipped and
reported by file and field; the dashboard falls back to the default theme.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from rich.style import Style
from textual.color import Color, ColorParseError
from textual.theme import Theme

from meshtui.paths import config_dir, shipped

DEFAULT_THEME = "meshtui-dark"
BUNDLED_DIR = shipped("themes", "ui/themes")

SEMANTIC_VARIABLES: dict[str, str] = {
    "route-selected": "the route babeld uses now (installed)",
    "route-standby": "a feasible alternative, ready to take over",
    "route-pending": "a better route babeld has not installed yet",
    "route-lost": "a route with an infinite metric (being retracted)",
    "unreachable": "a destination without any usable route",
    "spof": "a destination reachable through one relay only",
    "node-down": "a lost neighbour or a dead connection",
    "degrading": "a neighbour missing Hellos",
    "asymmetric": "a link heard much worse in one direction",
    "reach-heard": "a Hello heard (reach history cell)",
    "reach-missed": "a Hello missed (reach history cell)",
    "lost": "text of things that are gone but still shown (dimmed)",
    "changed": "a value that changed in the last few seconds",
    "event-failover": "failover events",
    "event-recovered": "recovery and neighbour-up events",
    "event-unreachable": "unreachable and neighbour-down events",
    "event-neighbour": "other neighbour and interface events",
    "event-route": "route additions, removals and metric changes",
    "event-info": "connection and other events",
    "link-live": "the header's live badge",
    "link-reconnecting": "the header's reconnecting / stale badge",
    "link-failed": "the header's failed badge",
    "badge-read-only": "the read-only badge",
    "badge-write": "the badge shown when write actions are enabled",
}
"""The semantic colour roles, with what each one colours."""

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_COLOR_FIELDS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
_MODIFIERS = ("bold", "dim", "italic", "reverse", "underline", "strike")
_TOP_FIELDS = {"name", "dark", "colors", "variables", "luminosity_spread", "text_alpha"}


class ThemeError(Exception):
    """A theme file that cannot be used; ``str()`` names the file and the field."""


@dataclass(frozen=True, slots=True)
class ThemeLoad:
    """What loading the theme directories gave.

    Attributes:
        themes: the valid themes, bundled first, in file-name order.
        problems: one line per file that was skipped.
    """

    themes: tuple[Theme, ...]
    problems: tuple[str, ...]


def user_theme_dir() -> Path:
    """Where users put their own theme files."""
    return config_dir() / "themes"


def _color(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ThemeError(f"{where}: expected a colour string, got {type(value).__name__}")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeError(f"{where}: {value!r} is not a colour (use #rrggbb)") from None
    return value


def parse_theme(data: dict[str, object], path: Path | str) -> Theme:
    """Build a Theme from a theme file's TOML table.

    Raises:
        ThemeError: naming ``path`` and the offending field.
    """
    unknown = sorted(set(data) - _TOP_FIELDS)
    if unknown:
        raise ThemeError(f"{path}: unknown field {unknown[0]!r}")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ThemeError(f"{path}: name: required, lower-case letters, digits and dashes")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeError(f"{path}: dark: expected true or false")
    colors = data.get("colors", {})
    if not isinstance(colors, dict):
        raise ThemeError(f"{path}: colors: expected a table")
    bad = sorted(set(colors) - set(_COLOR_FIELDS))
    if bad:
        raise ThemeError(
            f"{path}: colors.{bad[0]}: not a theme colour ({', '.join(_COLOR_FIELDS)})"
        )
    if "primary" not in colors:
        raise ThemeError(f"{path}: colors.primary: required")
    base = {key: _color(value, f"{path}: colors.{key}") for key, value in colors.items()}
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeError(f"{path}: variables: expected a table")
    out_vars: dict[str, str] = {}
    for key, value in variables.items():
        if key in SEMANTIC_VARIABLES:
            out_vars[key] = _color(value, f"{path}: variables.{key}")
        elif isinstance(value, str):
            out_vars[key] = value  # one of Textual's own variables
        else:
            raise ThemeError(f"{path}: variables.{key}: expected a string")
    extra: dict[str, float] = {}
    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            value = data[key]
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ThemeError(f"{path}: {key}: expected a number from 0 to 1")
            extra[key] = float(value)
    return Theme(name=name, dark=dark, variables=out_vars, **base, **extra)  # type: ignore[arg-type]


def load_theme_file(path: Path) -> Theme:
    """Read and validate one theme file.

    Raises:
        ThemeError: naming the file (and line, for TOML syntax errors) and field.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ThemeError(f"{path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"{path}: {exc}") from None
    return parse_theme(data, path)


def load_themes(*directories: Path) -> ThemeLoad:
    """Load every ``*.toml`` of the given directories (missing ones are skipped).

    A later file with the same theme name replaces an earlier one, so a user
    can override a bundled theme by name.
    """
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ThemeError as exc:
                problems.append(str(exc))
                continue
            themes[theme.name] = theme
    return ThemeLoad(tuple(themes.values()), tuple(problems))


def semantic_defaults(theme: Theme) -> dict[str, str]:
    """The semantic roles derived from a theme's base colours (for themes that omit them)."""
    system = theme.to_color_system().generate()
    fg = Color.parse(system.get("foreground", "#e0e0e0"))
    bg_text = system.get("background", "#000000")
    try:
        bg = Color.parse(bg_text)
    except ColorParseError:
        bg = Color(0, 0, 0) if theme.dark else Color(255, 255, 255)
    muted = bg.blend(fg, 0.55).hex
    success, error = system["success"], system["error"]
    warning, accent = system["warning"], system["accent"]
    primary, secondary = system["primary"], system["secondary"]
    return {
        "route-selected": success,
        "route-standby": fg.hex,
        "route-pending": warning,
        "route-lost": muted,
        "unreachable": error,
        "spof": warning,
        "node-down": error,
        "degrading": warning,
        "asymmetric": accent,
        "reach-heard": success,
        "reach-missed": error,
        "lost": muted,
        "changed": accent,
        "event-failover": accent,
        "event-recovered": success,
        "event-unreachable": error,
        "event-neighbour": primary,
        "event-route": secondary,
        "event-info": fg.hex,
        "link-live": success,
        "link-reconnecting": warning,
        "link-failed": error,
        "badge-read-only": primary,
        "badge-write": error,
    }


class Palette:
    """Rich styles for the semantic roles, resolved from the app's theme variables.

    Table cells are Rich renderables, so views colour them through this
    palette; it is rebuilt whenever the theme changes.
    """

    def __init__(self, variables: dict[str, str]) -> None:
        self._styles: dict[str, Style] = {}
        for role in SEMANTIC_VARIABLES:
            value = variables.get(role)
            style = Style()
            if value:
                try:
                    style = Style(color=Color.parse(value).rich_color)
                except ColorParseError:
                    style = Style()
            self._styles[role] = style
        self.bold = Style(bold=True)
        self.dim = Style(dim=True)
        self._cache: dict[str, Style] = {}

    def __getitem__(self, role: str) -> Style:
        return self._styles[role]

    def resolve(self, spec: str) -> Style:
        """The style for a spec: roles and modifiers separated by spaces (``"unreachable bold"``).

        Unknown words are ignored, so a typo shows plain text rather than failing.
        """
        cached = self._cache.get(spec)
        if cached is not None:
            return cached
        style = Style()
        for token in spec.split():
            role = self._styles.get(token)
            if role is not None:
                style += role
            elif token in _MODIFIERS:
                style += Style.parse(token)
        self._cache[spec] = style
        return style
