"""`rearm`: a one-shot timer that replaces the one before it, so a loop of them never forks.

The refresh loop re-arms a one-shot timer after every refresh, and a failover
refreshes at once (stopping the pending timer, then arming a new one). Textual's
``set_timer`` does not call its callback when it fires: it queues it
(``call_next``). So when a failover's refresh ran between the timer firing and
its queued tick, there were two timers after it — the failover's and the
tick's — and both went on re-arming themselves for the rest of the session: a
second refresh loop, then a third (the soak saw live timers creep from 10 to
14 in an hour, every extra one a refresh chain at 5 Hz). Stopping the timer
being replaced, whichever path arms the next one, keeps exactly one.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.message_pump import MessagePump
from textual.timer import Timer


def rearm(
    pump: MessagePump,
    previous: Timer | None,
    delay: float,
    callback: Callable[[], object],
    *,
    name: str,
) -> Timer:
    """A one-shot timer calling ``callback`` after ``delay``, in place of ``previous`` (stopped).

    Use it for every timer a loop re-arms: ``self._timer = rearm(app, self._timer, ...)``.
    A tick already queued by ``previous`` still runs once, and re-arms in its turn
    (stopping the new timer): the loop stays one loop.
    """
    if previous is not None:
        previous.stop()
    return pump.set_timer(delay, callback, name=name)
