"""`NodeBar`, the dashboard's header: who the node is, how we are connected, what mode we are in."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

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

    Visual state is carried by CSS classes on the badges: ``-live``,
    ``-connecting``, ``-reconnecting``, ``-failed``, ``-stale`` on
    ``#nb-link``; ``-read-only`` / ``-write`` on ``#nb-mode``.
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
    }
    NodeBar #nb-replay.-paused {
        background: $accent;
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
        yield Label("", id="nb-replay")
        yield Label("", id="nb-link")
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
        self.query_one("#nb-identity", Label).update("  ".join(parts))
        link = self.query_one("#nb-link", Label)
        link.update(info.link_text)
        classes = {name: False for name in set(_LINK_CLASSES.values()) | {"-stale"}}
        classes[_LINK_CLASSES[info.link]] = True
        classes["-stale"] = info.stale
        link.set_classes([name for name, on in classes.items() if on])
        replay = self.query_one("#nb-replay", Label)
        text = info.replay
        if info.paused:
            text = f"PAUSED  {text}" if text else "PAUSED"
        replay.update(text)
        replay.display = bool(text)
        replay.set_class(info.paused, "-paused")
        mode = self.query_one("#nb-mode", Label)
        mode.update("READ-ONLY" if info.read_only else info.write_label)
        mode.set_classes(["-read-only"] if info.read_only else ["-write"])
