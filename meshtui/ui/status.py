"""What the header and the banner say about the node shown: link state, replay position, hints.

Pure text from a node's feed (its journal's link state, a replay's position);
the app puts it into the :class:`~meshtui.ui.widgets.nodebar.NodeBar` and the
:class:`~meshtui.ui.widgets.banner.Banner`.
"""

from __future__ import annotations

from meshtui.ui import format as fmt
from meshtui.ui.hub import NodeFeed
from meshtui.ui.journal import LinkState
from meshtui.ui.widgets.nodebar import HeaderInfo, status_badge

ENABLE_SOCKET_HINT = (
    "Enable babeld's control socket with `local-path /run/babeld.sock` (or "
    "`local-port 33123`) in babeld.conf, restart babeld, then run "
    "`meshtui --socket /run/babeld.sock` (or `--port 33123`)."
)


def _mmss(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def header_info(
    feed: NodeFeed, now: float, view_title: str, nodes: str, *, paused: bool, read_only: bool
) -> HeaderInfo:
    """The header of ``feed``'s node: its badge (LIVE, REPLAY, PAUSED, END, STALE) and details.

    Args:
        feed: the node shown.
        now: the time on its clock.
        view_title: the view shown.
        nodes: "2/3" with several nodes, else "".
        paused: the display is paused.
        read_only: no write action is bound.
    """
    link = feed.journal.link
    node = feed.model.node
    if link.state is LinkState.LIVE:
        text = "● LIVE"
    elif link.state in (LinkState.CONNECTING, LinkState.SYNCING):
        text = f"{link.state.value}…"
        if link.message:
            text += f" {link.message}"
    elif link.state is LinkState.RECONNECTING:
        text = f"reconnecting: {link.message}" if link.message else "reconnecting"
        if link.stale:
            text = f"STALE {fmt.age(now - link.since)} — {text}"
    elif link.state is LinkState.FAILED:
        text = f"FAILED: {link.message}" if link.message else "FAILED"
        if link.stale:
            text = f"STALE — {text}"
    else:
        text = "stopped"
    replay = ""
    position = feed.replay_position
    if position is not None:
        offset, duration, speed = position
        end = "  END" if feed.replay_finished else ""
        replay = (
            f"REPLAY {_mmss(offset)}/{_mmss(duration)} ×{speed:g}{end}"
            if speed > 0
            else f"REPLAY {_mmss(offset)}/{_mmss(duration)}{end}"
        )
    badge, badge_class = status_badge(
        link.state,
        stale=link.stale,
        replay=position is not None,
        speed=position[2] if position is not None else 1.0,
        paused=paused,
        ended=feed.replay_finished,
    )
    if position is not None:
        detail = f"{_mmss(position[0])}/{_mmss(position[1])}"
    elif link.stale:  # "STALE 3.0 s — reconnecting: why" beside the STALE badge
        detail = text.replace("STALE ", "for ", 1).replace("STALE — ", "", 1)
    elif link.state is not LinkState.LIVE:
        detail = link.message
    else:
        detail = ""
    return HeaderInfo(
        node=feed.name,
        host=node.host,
        router_id=node.my_id,
        version=node.version,
        link=link.state,
        link_text=text,
        stale=link.stale,
        read_only=read_only,
        write_label="LAB: WRITE ACTIONS",
        replay=replay,
        paused=paused,
        view=view_title,
        nodes=nodes,
        badge=badge,
        badge_class=badge_class,
        detail=detail,
    )


def banner_text(feed: NodeFeed, text: str, kind: str) -> tuple[str, str]:
    """(text, kind) of the banner: the app's own ``text``, why babeld cannot be read, the end.

    ``kind`` is ``info``, ``warning`` or ``error`` (a node never read turns it to error);
    the text is "" when there is nothing to say.
    """
    link = feed.journal.link
    parts: list[str] = [text] if text else []
    failing = link.state in (LinkState.RECONNECTING, LinkState.FAILED) or (
        link.state is LinkState.CONNECTING and bool(link.message)  # a retry after an error
    )
    if not link.ever_live and failing:
        retry = "Not retrying." if link.state is LinkState.FAILED else "Retrying."
        parts.append(f"Cannot read babeld at {feed.label}: {link.message}. {retry}")
        parts.append(ENABLE_SOCKET_HINT)
        kind = "error"
    if feed.replay_finished:
        parts.append("End of the recording: the dashboard holds its final state. q quits.")
    return "\n".join(parts), kind
