"""Plain-text formatting of babeld figures for the views (no markup, no colours).

Outside text (babeld's lines, configs, SSH errors, inventory values) reaches a
widget only through :func:`plain` (a Static or Label) or, for table cells and
log lines, :func:`meshtui.core.sanitize.inert` directly: control characters and
escapes shown, never obeyed, and never parsed as markup.
"""

from __future__ import annotations

import time

from textual.content import Content

from meshtui.core.protocol import INFINITY
from meshtui.core.sanitize import inert


def plain(text: object, *, newlines: bool = True) -> Content:
    """Text for a Static or Label that may hold outside text: inert, and not markup."""
    return Content(inert(text, newlines=newlines))


REACH_HEARD = "█"
REACH_MISSED = "░"

DETECTION = "detection"
"""The one name of the time babeld takes to notice a silent neighbour: the Failover and
Interfaces columns, the timeline, the help and the README say it (JSON: ``detection_time``,
``detection_window``)."""


def metric(value: int) -> str:
    """A metric or cost; babeld's infinity (65535) reads ``inf``."""
    return "inf" if value >= INFINITY else str(value)


def hop(via: str, interface: str) -> str:
    """A next hop in scoped-address form: ``fe80::1%wg-ams``."""
    return f"{via}%{interface}"


def prefix(text: str) -> str:
    """A destination prefix; host routes drop their ``/128`` (``/32`` for IPv4)."""
    if text.endswith("/128") or (text.endswith("/32") and ":" not in text):
        return text.rsplit("/", 1)[0]
    return text


def age(seconds: float) -> str:
    """A duration, short: ``4.2 s``, ``37 s``, ``5 min``, ``2 h``."""
    if seconds < 0:
        seconds = 0.0
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def clock_time(stamp: float, millis: bool = False) -> str:
    """A wall-clock time of day in local time: ``14:03:07`` (``.123`` with ``millis``)."""
    text = time.strftime("%H:%M:%S", time.localtime(stamp))
    if millis:
        text += f".{int((stamp % 1) * 1000):03d}"
    return text


def seconds(value: float | None) -> str:
    """Seconds with one decimal, or ``-``."""
    return "-" if value is None else f"{value:.1f} s"


def byte_count(value: int) -> str:
    """A byte count in binary units."""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
