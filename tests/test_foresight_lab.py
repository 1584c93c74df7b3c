"""Foresight against real babeld: the explanation of a better route babeld leaves uninstalled."""

from __future__ import annotations

import pytest

from meshtui.core.events import EventType

pytestmark = pytest.mark.lab


async def test_uninstalled_better_route_is_explained_until_babeld_switches(
    healed_after_failover,
) -> None:
    """After a heal, babeld keeps the standby ~30 s (smoothing) although relay-1 is better."""
    healed = healed_after_failover
    lab, events, target, until = healed.lab, healed.events, healed.target, healed.until
    model = healed.session.model

    def explained():
        snap = model.snapshot()
        for d in snap["destinations"]:
            if d["prefix"] != target or not d["pending"]:
                continue
            p = d["pending"][0]
            if lab.neighbour_name(p["via"]) == "relay-1" and "why" in p:
                return d
        return None

    d = await until(explained, 30, "relay-1's better route shown pending with a reason")
    assert lab.neighbour_name(d["selected"]["via"]) == "relay-2"
    why = d["pending"][0]
    assert why["reason"] == "smoothing", why
    assert "smoothed metric" in why["why"] and "expect the switch" in why["why"]

    def switched_back():
        snap = model.snapshot()
        d = next(x for x in snap["destinations"] if x["prefix"] == target)
        sel = d["selected"]
        return sel and lab.neighbour_name(sel["via"]) == "relay-1" and d

    d = await until(switched_back, 120, "babeld to switch back to relay-1")
    assert d["pending"] == [] and d["state"] == "ok"
    back = [
        e
        for e in events
        if e.type is EventType.FAILOVER and e.prefix == target and e.to.via == d["selected"]["via"]
    ]
    assert back and back[-1].extra["outage"] > 0
