"""Foresight against real babeld: the explanation of a better route babeld leaves uninstalled."""

from __future__ import annotations

import asyncio
import time

import pytest

from meshtui.core.events import EventType
from meshtui.transport.sources import local_source

pytestmark = pytest.mark.lab


async def _until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


async def test_uninstalled_better_route_is_explained_until_babeld_switches(healthy_lab) -> None:
    """After a heal, babeld keeps the standby ~30 s (smoothing) although relay-1 is better."""
    lab = healthy_lab
    edge = "edge-a"
    events = []
    session = local_source(lab.socket_path(edge), name=edge).session(
        on_events=lambda _n, evs: events.extend(evs)
    )
    runner = asyncio.create_task(session.run())
    target = f"{lab.address('srv-b1')}/128"
    try:
        assert await session.wait_live(15)
        model = session.model
        await asyncio.to_thread(lab.fail_relay, "relay-1")
        try:
            await _until(
                lambda: any(e.type is EventType.FAILOVER and e.prefix == target for e in events),
                30,
                "the failover to relay-2",
            )
        finally:
            await asyncio.to_thread(lab.heal_relay, "relay-1")

        def explained():
            snap = model.snapshot()
            for d in snap["destinations"]:
                if d["prefix"] != target or not d["pending"]:
                    continue
                p = d["pending"][0]
                if lab.neighbour_name(p["via"]) == "relay-1" and "why" in p:
                    return d
            return None

        d = await _until(explained, 30, "relay-1's better route shown pending with a reason")
        assert lab.neighbour_name(d["selected"]["via"]) == "relay-2"
        why = d["pending"][0]
        assert why["reason"] == "smoothing", why
        assert "smoothed metric" in why["why"] and "expect the switch" in why["why"]

        def switched_back():
            snap = model.snapshot()
            d = next(x for x in snap["destinations"] if x["prefix"] == target)
            sel = d["selected"]
            return sel and lab.neighbour_name(sel["via"]) == "relay-1" and d

        d = await _until(switched_back, 120, "babeld to switch back to relay-1")
        assert d["pending"] == [] and d["state"] == "ok"
        back = [
            e
            for e in events
            if e.type is EventType.FAILOVER
            and e.prefix == target
            and e.to.via == d["selected"]["via"]
        ]
        assert back and back[-1].extra["outage"] > 0
    finally:
        await session.stop()
        await runner
        if lab.relay_failed("relay-1"):
            lab.heal_relay("relay-1")
