"""Kernel links and WireGuard peers of this machine, for a babeld read locally (blocking).

Everything here blocks (netlink, a subprocess, a short connection to babeld's
socket for its SO_PEERCRED); the dashboard calls it from thread workers only.
Failures come back as one-line messages, never exceptions.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from meshtui.core.facts import FactError, parse_ip_addrs, parse_ip_links, parse_wg_dump
from meshtui.core.kernel import KernelLink, LocalFacts, WgPeer, babeld_peers, view_links, view_peers


def wg_peers(timeout: float = 5.0) -> tuple[list[WgPeer], str]:
    """Run ``wg show all dump``; returns (peers, error message or "")."""
    wg = shutil.which("wg")
    if wg is None:
        return [], "wg is not installed"
    try:
        result = subprocess.run(
            [wg, "show", "all", "dump"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"wg show failed: {exc}"
    if result.returncode != 0:
        message = result.stderr.strip().splitlines()
        return [], f"wg show: {message[-1] if message else f'exit status {result.returncode}'}"
    try:
        return view_peers(parse_wg_dump(result.stdout)), ""
    except FactError as exc:
        return [], str(exc)


def _netns_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def socket_peer_netns(path: str) -> str | None:
    """The network namespace of the process serving a unix socket, when it differs from ours.

    Uses the peer's credentials (SO_PEERCRED) on a short connection; returns
    ``/proc/PID/ns/net`` for a babeld in another namespace, None otherwise.
    """
    from meshtui.transport.tables import socket_peer_pid

    pid = socket_peer_pid(path)
    if pid is None:
        return None
    theirs = f"/proc/{pid}/ns/net"
    mine = _netns_inode("/proc/self/ns/net")
    other = _netns_inode(theirs)
    if other is None or mine is None or other == mine:
        return None
    return theirs


def _links_in(netns: str) -> tuple[list[KernelLink], str]:
    """Another namespace's links and addresses, from ``nsenter --net=NETNS ip -j``.

    Not pyroute2's ``IPRoute(netns=...)``: that forks a helper process, and a
    fork in this threaded process (the socket pump, Textual's threads) can
    deadlock the child before it runs. ``subprocess`` forks and execs in C.
    """
    outputs: list[str] = []
    for argv in (["ip", "-d", "-j", "link", "show"], ["ip", "-j", "addr", "show"]):
        try:
            result = subprocess.run(
                ["nsenter", f"--net={netns}", *argv], capture_output=True, text=True, timeout=5
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [], f"cannot read the kernel's links of {netns}: {exc}"
        if result.returncode != 0:
            detail = result.stderr.strip() or f"exit status {result.returncode}"
            return [], f"cannot read the kernel's links of {netns}: {detail}"
        outputs.append(result.stdout)
    try:
        return view_links(parse_ip_links(outputs[0]), parse_ip_addrs(outputs[1])), ""
    except FactError as exc:
        return [], f"cannot read the kernel's links of {netns}: {exc}"


def kernel_links(netns: str | None = None) -> tuple[list[KernelLink], str]:
    """The kernel's links and addresses (of ``netns``, a path, or our own namespace)."""
    if netns:
        return _links_in(netns)
    from meshtui.transport.facts import gather_local_facts  # pyroute2, this namespace

    facts = gather_local_facts("local", ("links", "addresses"))
    if facts.links is None:
        why = facts.errors.get("links") or facts.unavailable.get("links") or "no answer"
        return [], f"cannot read the kernel's links: {why}"
    return view_links(facts.links, facts.addresses or []), ""


def probe_local(
    target: str | int | None, interfaces: set[str], netns: str | None | bool = False
) -> LocalFacts:
    """Kernel links and WireGuard peers for a babeld on this machine (blocking).

    Args:
        target: babeld's control socket; for a unix socket served from another
            network namespace, that namespace's links are read.
        interfaces: babeld's interface names; WireGuard peers are limited to these
            when any match.
        netns: babeld's namespace from an earlier probe (False: find it, which takes
            one short connection to babeld's socket — one of its four client slots).
    """
    if netns is False:
        netns = socket_peer_netns(target) if isinstance(target, str) else None
    assert netns is None or isinstance(netns, str)
    links, links_error = kernel_links(netns)
    note = ""
    if netns:
        note = f"babeld runs in another network namespace ({netns})"
    peers, peers_error = wg_peers()
    peers = babeld_peers(peers, interfaces)
    return LocalFacts(tuple(links), links_error, note, netns, tuple(peers), peers_error)
