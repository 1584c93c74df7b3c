"""`NodeBar`, the dashboard's header: who the node is, how we are connected, what mode we are in."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from meshtui.ui.format import plain
from meshtui.ui.journal import LinkState


@dataclass(frozen=True, slots=True)
class HeaderInfo:
    """Everything the header shows, as plain data.

    Attributes:
        node: the node's name (the source's name).
        host: babeld's host name.
        router_id: babeld's router-id.
        version: babeld's version string.
        link: the connection state.
        link_text: the state in words, with the reason when not live.
        stale: the tables shown are from an earlier connection.
        read_only: no write action is bound.
        write_label: what the write mode badge says when not read-only.
        replay: replay position and speed, or "" for a live node.
        paused: the display (and a replay) is paused.
        view: the current view's title.
        nodes: "2/3" when several nodes are open, else "".
        badge: the one status badge (see :func:`status_badge`); "" for the link's.
        badge_class: its CSS class (``-live``, ``-stale``, ``-paused``, ``-replay``, ``-end``…).
        detail: beside the badge: a replay's position, a lost connection's reason.
    """

    node: str = ""
    host: str = ""
    router_id: str = ""
    version: str = ""
    link: LinkState = LinkState.CONNECTING
    link_text: str = "connecting"
    stale: bool = False
    read_only: bool = True
    write_label: str = "WRITE"
    replay: str = ""
    paused: bool = False
    view: str = ""
    nodes: str = ""
    badge: str = ""
    badge_class: str = ""
    detail: str = ""


def status_badge(
    link: LinkState,
    *,
    stale: bool = False,
    replay: bool = False,
    speed: float = 1.0,
    paused: bool = False,
    ended: bool = False,
) -> tuple[str, str]:
    """The one status badge (text, CSS class): never two states at once.

    A replay: ``PAUSED`` (the user's last word), else ``END`` once over,
    else ``REPLAY 4×`` (``REPLAY max`` as fast as possible). A live node:
    ``STALE`` while the tables are from a lost connection (paused or not),
    else ``PAUSED``, else ``● LIVE``, or the connection state
    (``connecting…``, ``reconnecting``, ``FAILED``).
    """
    if replay:
        if paused:
            return ("PAUSED", "-paused")
        if ended:
            return ("END", "-end")
        return (f"REPLAY {speed:g}×" if speed > 0 else "REPLAY max", "-replay")
    if stale:
        return ("STALE", "-stale")
    if paused:
        return ("PAUSED", "-paused")
    if link is LinkState.LIVE:
        return ("● LIVE", "-live")
    if link in (LinkState.CONNECTING, LinkState.SYNCING):
        return (f"{link.value}…", "-connecting")
    if link is LinkState.RECONNECTING:
        return ("reconnecting", "-reconnecting")
    return (link.value.upper(), "-failed")


_LINK_CLASSES = {
    LinkState.LIVE: "-live",
    LinkState.CONNECTING: "-connecting",
    LinkState.SYNCING: "-connecting",
    LinkState.RECONNECTING: "-reconnecting",
    LinkState.FAILED: "-failed",
    LinkState.STOPPED: "-failed",
}


class NodeBar(Horizontal):
    """The header line: node identity, connection badge, replay/pause state, mode badge.

    One status badge (``#nb-link``, see :func:`status_badge`) whose CSS class
    carries the state: ``-live``, ``-connecting``, ``-reconnecting``,
    ``-failed``, ``-stale``, ``-paused``, ``-replay``, ``-end``; beside it
    (``#nb-replay``) a replay's position or why the connection is down;
    ``-read-only`` / ``-write`` on ``#nb-mode``.
    """

    DEFAULT_CSS = """
    NodeBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    NodeBar Label {
        padding: 0 1;
        height: 1;
    }
    NodeBar #nb-app {
        text-style: bold;
        color: $primary;
    }
    NodeBar #nb-identity {
        width: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    NodeBar #nb-view {
        text-style: bold;
    }
    NodeBar #nb-link.-live {
        background: $link-live;
        color: $background;
        text-style: bold;
    }
    NodeBar #nb-link.-connecting {
        background: $link-reconnecting;
        color: $background;
    }
    NodeBar #nb-link.-reconnecting, NodeBar #nb-link.-stale {
        background: $link-reconnecting;
        color: $background;
        text-style: bold;
    }
    NodeBar #nb-link.-failed {
        background: $link-failed;
        color: $background;
        text-style: bold;
    }
    NodeBar #nb-replay {
        color: $accent;
        max-width: 50%;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    NodeBar #nb-link.-replay {
        background: $accent;
        color: $background;
        text-style: bold;
    }
    NodeBar #nb-link.-paused, NodeBar #nb-link.-end {
        background: $warning;
        color: $background;
        text-style: bold;
    }
    NodeBar #nb-mode.-read-only {
        background: $badge-read-only;
        color: $background;
        text-style: bold;
    }
    NodeBar #nb-mode.-write {
        background: $badge-write;
        color: $background;
        text-style: bold;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.info = HeaderInfo()

    def compose(self) -> ComposeResult:
        """The header's labels, left to right."""
        yield Label("meshtui", id="nb-app")
        yield Label("", id="nb-view")
        yield Label("", id="nb-identity")
        yield Label("", id="nb-link")
        yield Label("", id="nb-replay")
        yield Label("", id="nb-mode")

    def show(self, info: HeaderInfo) -> None:
        """Show ``info`` (cheap when nothing changed)."""
        if info == self.info and self.is_mounted:
            return
        self.info = info
        self.query_one("#nb-view", Label).update(info.view)
        parts = [info.node]
        if info.nodes:
            parts[0] = f"{info.node} ({info.nodes})"
        if info.host and info.host != info.node:
            parts.append(f"host {info.host}")
        if info.router_id:
            parts.append(f"id {info.router_id}")
        if info.version:
            parts.append(info.version)
        self.query_one("#nb-identity", Label).update(plain("  ".join(parts), newlines=False))
        link = self.query_one("#nb-link", Label)
        if info.badge:
            link.update(info.badge)
            link.set_classes([info.badge_class] if info.badge_class else [])
        else:
            link.update(plain(info.link_text, newlines=False))
            classes = {name: False for name in set(_LINK_CLASSES.values()) | {"-stale"}}
            classes[_LINK_CLASSES[info.link]] = True
            classes["-stale"] = info.stale
            link.set_classes([name for name, on in classes.items() if on])
        replay = self.query_one("#nb-replay", Label)
        text = info.detail if info.badge else info.replay
        replay.update(plain(text, newlines=False))
        replay.display = bool(text)
        mode = self.query_one("#nb-mode", Label)
        mode.update("READ-ONLY" if info.read_only else info.write_label)
        mode.set_classes(["-read-only"] if info.read_only else ["-write"])
