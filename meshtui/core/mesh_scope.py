"""What the Mesh view's filter and its role / site keys match a node's row on.

Pure: the node's role and site come from :class:`~meshtui.core.names.Names`.
"""

from __future__ import annotations

from collections.abc import Iterable

from meshtui.core.names import Names

__all__ = ["ROLE_ORDER", "row_words", "scope_choices"]

ROLE_ORDER = ("relay", "edge", "server")
"""The roles a mesh has, in the order the Mesh view cycles through them."""


def row_words(names: Names, node: str) -> str:
    """The words a filter matches a node's row on besides its cells: its role and site,
    plain and as ``role:relay`` / ``site:b`` (a bare site letter would match every name)."""
    words = []
    role = names.role(node)
    if role:
        words += [role, f"role:{role}"]
    site = names.site(node)
    if site:
        words.append(f"site:{site}")
    return " ".join(words).lower()


def scope_choices(names: Names, nodes: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(roles, sites) present among ``nodes``: roles in :data:`ROLE_ORDER` (then others,
    sorted), sites sorted — what the Mesh view's role and site keys cycle through."""
    roles: set[str] = set()
    sites: set[str] = set()
    for node in nodes:
        if role := names.role(node):
            roles.add(role)
        if site := names.site(node):
            sites.add(site)
    ordered = [r for r in ROLE_ORDER if r in roles] + sorted(roles - set(ROLE_ORDER))
    return tuple(ordered), tuple(sorted(sites))
