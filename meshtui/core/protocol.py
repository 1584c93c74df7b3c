"""Parser for babeld's local control protocol (``BABEL 1.0``, babeld 1.8 to 1.14).

Every line babeld writes on its control socket parses into one of the
dataclasses below, or into a :class:`ParseError` that says what was wrong.
The parser never raises on bad input.

Line formats (babeld ``local.c``)::

    BABEL 1.0 | version V | host H | my-id ID
    ok | no[ message] | bad
    KIND interface NAME up true[ ipv6 LL][ ipv4 A] | KIND interface NAME up false
    KIND neighbour ID address A if I reach R ureach U rxcost X txcost Y[ rtt T rttcost C] cost Z
    KIND xroute P-S prefix P from S metric M
    KIND route ID prefix P from S installed yes|no id RID metric M refmetric R via A if I

where ``KIND`` is ``add``, ``change`` or ``flush``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import compress, count, islice, repeat, takewhile
from operator import is_, truth
from typing import TypeVar

INFINITY = 0xFFFF  # babeld's infinite metric: unreachable (the one definition; import it)
SUPPORTED_PROTOCOL = "1.0"


class Kind(Enum):
    """What happened to an object: the first word of an update line."""

    ADD = "add"
    CHANGE = "change"
    FLUSH = "flush"


_KINDS = {"add": Kind.ADD, "change": Kind.CHANGE, "flush": Kind.FLUSH}


@dataclass(frozen=True, slots=True)
class HeaderLine:
    """A line of the greeting: ``BABEL 1.0``, ``version``, ``host`` or ``my-id``."""

    field: str
    value: str


@dataclass(frozen=True, slots=True)
class ReplyLine:
    """The end of a reply: ``ok``, ``no`` (with an optional message) or ``bad``."""

    status: str
    message: str = ""


@dataclass(frozen=True, slots=True)
class InterfaceLine:
    """An interface babeld runs on."""

    kind: Kind
    name: str
    up: bool
    ipv6: str | None = None
    ipv4: str | None = None


@dataclass(frozen=True, slots=True)
class NeighbourLine:
    """A Babel neighbour on one interface."""

    kind: Kind
    id: str
    address: str
    interface: str
    reach: int
    ureach: int
    rxcost: int
    txcost: int
    cost: int
    rtt: float | None = None
    rttcost: int | None = None


@dataclass(frozen=True, slots=True)
class XrouteLine:
    """A route this node redistributes (its own prefixes)."""

    kind: Kind
    id: str
    prefix: str
    src: str
    metric: int


@dataclass(frozen=True, slots=True)
class RouteLine:
    """A route learnt from a neighbour."""

    kind: Kind
    id: str
    prefix: str
    src: str
    installed: bool
    router_id: str
    metric: int
    refmetric: int
    via: str
    interface: str


@dataclass(frozen=True, slots=True)
class ParseError:
    """A line that is not valid babeld output, and why."""

    line: str
    reason: str


UpdateLine = InterfaceLine | NeighbourLine | XrouteLine | RouteLine
ParsedLine = HeaderLine | ReplyLine | UpdateLine

_HEX = frozenset("0123456789abcdefABCDEF")
_prefix_cache: dict[str, str] = {}
_address_cache: dict[str, str] = {}
_CACHE_LIMIT = 200_000


_V = TypeVar("_V")


def forget_validated() -> None:
    """Forget every validated text (a process's first connect, for benchmarks)."""
    for cache in (
        _prefix_cache,
        _address_cache,
        _router_id_cache,
        _dest_cache,
        _state_cache,
        _interface_cache,
    ):
        cache.clear()


def _remember(cache: dict[str, _V], text: str, value: _V) -> _V:
    """Remember a validated text's value (one object per distinct text: memory per route)."""
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    cache[text] = value
    return value


class _Bad(Exception):
    pass


def _hextets(least: int, most: int) -> str:
    """A regex for ``least`` to ``most`` colon-separated hex groups of one to four digits."""
    group = "[0-9a-fA-F]{1,4}"
    if most == 0:
        return ""
    more = f"(?::{group}){{{max(least - 1, 0)},{most - 1}}}"
    return f"{group}{more}" if least else f"(?:{group}{more})?"


_PLAIN_V6 = "(?:{})".format(
    "|".join(
        [_hextets(8, 8)]  # eight groups, or "::" for one or more with seven at most around it
        + [f"{_hextets(left, left)}::{_hextets(0, 7 - left)}" for left in range(8)]
    )
)
_PLAIN_PREFIX = re.compile(f"{_PLAIN_V6}/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9])").fullmatch


def _plain_prefix(text: str) -> bool:
    """Whether ``text`` is an IPv6 prefix in plain hex-and-colons form (no IPv4 tail, no zone).

    A quick yes for the form babeld prints (a dump's thousands of new prefixes):
    eight groups of one to four hex digits, or seven at most around one ``::``,
    then a length of 0 to 128 (without leading zeros). Every text this
    accepts, :mod:`ipaddress` accepts too; a no is not a verdict (the caller
    asks :mod:`ipaddress`).
    """
    return _PLAIN_PREFIX(text) is not None


def _prefix(text: str) -> str:
    """Validate a prefix (IPv6 or dotted IPv4) and return it as babeld printed it."""
    cached = _prefix_cache.get(text)
    if cached is not None:
        return cached  # one string object per distinct prefix (memory per route)
    if not _plain_prefix(text):
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise _Bad(f"bad prefix {text!r}") from exc
        if "/" not in text:
            raise _Bad(f"prefix without length {text!r}")
    _remember(_prefix_cache, text, text)
    return text


def _address(text: str) -> str:
    cached = _address_cache.get(text)
    if cached is not None:
        return cached
    try:
        ipaddress.ip_address(text)
    except ValueError as exc:
        raise _Bad(f"bad address {text!r}") from exc
    _remember(_address_cache, text, text)
    return text


def _u16(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise _Bad(f"{name} is not a number: {text!r}") from exc
    if not 0 <= value <= INFINITY:
        raise _Bad(f"{name} out of range: {value}")
    return value


def _hex16(text: str, name: str) -> int:
    if not text or len(text) > 4 or not _HEX.issuperset(text):
        raise _Bad(f"{name} is not 16-bit hex: {text!r}")
    return int(text, 16)


def _object_id(text: str) -> str:
    if not text or not _HEX.issuperset(text):
        raise _Bad(f"bad object id {text!r}")
    return text


_router_id_cache: dict[str, str] = {}


def _router_id(text: str) -> str:
    cached = _router_id_cache.get(text)
    if cached is not None:
        return cached
    # eight pairs of hex digits joined by colons: 23 characters, a colon every third
    if not (
        len(text) == 23 and text[2::3] == ":::::::" and _HEX.issuperset(text.replace(":", "", 7))
    ):
        raise _Bad(f"bad router id {text!r}")
    _remember(_router_id_cache, text, text)
    return text


def _pairs(tokens: list[str], start: int) -> dict[str, str]:
    rest = tokens[start:]
    if len(rest) % 2:
        raise _Bad("odd number of words after the object name")
    fields = dict(zip(rest[::2], rest[1::2], strict=True))
    if len(fields) != len(rest) // 2:
        raise _Bad("a field appears twice")
    return fields


def _need(fields: dict[str, str], name: str) -> str:
    try:
        return fields[name]
    except KeyError:
        raise _Bad(f"missing field {name!r}") from None


def _interface(kind: Kind, tokens: list[str]) -> InterfaceLine:
    if len(tokens) < 5 or tokens[3] != "up":
        raise _Bad("interface line without 'up'")
    name, up = tokens[2], tokens[4]
    if up == "false":
        if len(tokens) != 5:
            raise _Bad("words after 'up false'")
        return InterfaceLine(kind, name, False)
    if up != "true":
        raise _Bad(f"bad 'up' value {up!r}")
    fields = _pairs(tokens, 5)
    unknown = set(fields) - {"ipv6", "ipv4"}
    if unknown:
        raise _Bad(f"unknown interface field {sorted(unknown)[0]!r}")
    ipv6 = fields.get("ipv6")
    ipv4 = fields.get("ipv4")
    return InterfaceLine(
        kind,
        name,
        True,
        _address(ipv6) if ipv6 is not None else None,
        _address(ipv4) if ipv4 is not None else None,
    )


def _neighbour(kind: Kind, tokens: list[str]) -> NeighbourLine:
    fields = _pairs(tokens, 3)
    rtt_text = fields.get("rtt")
    rttcost_text = fields.get("rttcost")
    if (rtt_text is None) != (rttcost_text is None):
        raise _Bad("rtt without rttcost or the reverse")
    rtt: float | None = None
    if rtt_text is not None:
        try:
            rtt = float(rtt_text)
        except ValueError as exc:
            raise _Bad(f"bad rtt {rtt_text!r}") from exc
        if not 0 <= rtt < 1e9:
            raise _Bad(f"rtt out of range: {rtt_text}")
    return NeighbourLine(
        kind=kind,
        id=_object_id(tokens[2]),
        address=_address(_need(fields, "address")),
        interface=_need(fields, "if"),
        reach=_hex16(_need(fields, "reach"), "reach"),
        ureach=_hex16(fields.get("ureach", "0"), "ureach"),
        rxcost=_u16(_need(fields, "rxcost"), "rxcost"),
        txcost=_u16(_need(fields, "txcost"), "txcost"),
        cost=_u16(_need(fields, "cost"), "cost"),
        rtt=rtt,
        rttcost=_u16(rttcost_text, "rttcost") if rttcost_text is not None else None,
    )


def _xroute(kind: Kind, tokens: list[str]) -> XrouteLine:
    fields = _pairs(tokens, 3)
    prefix = _prefix(_need(fields, "prefix"))
    src = _prefix(_need(fields, "from"))
    return XrouteLine(kind, tokens[2], prefix, src, _u16(_need(fields, "metric"), "metric"))


RouteValues = tuple[str, str, str, bool, str, int, int, str, str]
"""A route line's values in :class:`RouteLine` order, without its kind."""


def _route_layout(tokens: list[str]) -> RouteValues | None:
    """A route line in babeld's own layout (local.c), validated; None for another layout.

    Fixed positions, no dictionary. Raises :class:`_Bad` for a bad value.
    """
    if not (
        len(tokens) == 19
        and tokens[3] == "prefix"
        and tokens[5] == "from"
        and tokens[7] == "installed"
        and tokens[9] == "id"
        and tokens[11] == "metric"
        and tokens[13] == "refmetric"
        and tokens[15] == "via"
        and tokens[17] == "if"
    ):
        return None
    installed = tokens[8]
    if installed != "yes" and installed != "no":
        raise _Bad(f"bad 'installed' value {installed!r}")
    return (
        _object_id(tokens[2]),
        _prefix(tokens[4]),
        _prefix(tokens[6]),
        installed == "yes",
        _router_id(tokens[10]),
        _u16(tokens[12], "metric"),
        _u16(tokens[14], "refmetric"),
        _address(tokens[16]),
        tokens[18],
    )


_DUMP_ROUTE = re.compile(
    "add route ([0-9a-fA-F]+) prefix ([^ ]+ from [^ ]+)"
    " installed ((?:yes|no) id [^ ]+ metric [0-9]+ refmetric [0-9]+ via [^ ]+ if [^ ]+)"
).fullmatch
"""An ``add route`` line in babeld's own layout (local.c), words at single spaces: its id,
its destination (``P from S``) and what it says of the route (``yes id R metric M ...``)."""
RouteState = tuple[bool, str, int, int, str, str]
"""What a route line says after its destination: installed, router id, metric, refmetric,
via, interface (:class:`RouteLine`'s order)."""
DumpRoute = tuple[str, tuple[str, str], RouteState]
"""A dump's route: id, (prefix, source), its state."""
_dest_cache: dict[str, tuple[str, str]] = {}  # "P from S", validated
_state_cache: dict[str, RouteState] = {}  # "yes id R metric M refmetric N via A if I", validated
_interface_cache: dict[str, str] = {}  # one string per interface name among the states
_match_groups: Callable[[re.Match[str]], tuple[str, ...]] = re.Match.groups


def _validate_parts(
    dest_text: str,
    state_text: str,
    dest: tuple[str, str] | None,
    state: RouteState | None,
) -> tuple[tuple[str, str], RouteState] | None:
    """Validate the parts of a layout match not found among the validated ones (those given
    as None), once, with :func:`parse_line`'s checks.

    None when a value is bad or the line has other whitespace than single
    spaces (:func:`parse_line`'s to judge). The layout's words and the id hold
    none; a text holding one (``isprintable``: no whitespace but the space,
    nothing else unprintable either) is not validated here.
    """
    try:
        if dest is None:
            if not dest_text.isprintable():
                return None
            prefix_text, _, src_text = dest_text.split(" ")
            dest = _remember(_dest_cache, dest_text, (_prefix(prefix_text), _prefix(src_text)))
        if state is None:
            if not state_text.isprintable():
                return None
            installed, _, router_text, _, metric, _, refmetric, _, via, _, name = state_text.split(
                " "
            )
            interface = _interface_cache.get(name) or _remember(_interface_cache, name, name)
            state = _remember(
                _state_cache,
                state_text,
                (
                    installed == "yes",
                    _router_id(router_text),
                    _u16(metric, "metric"),
                    _u16(refmetric, "refmetric"),
                    _address(via),
                    interface,
                ),
            )
    except _Bad:
        return None
    return dest, state


def dump_route(line: str) -> DumpRoute | None:
    """The values of a valid ``add route`` line in babeld's own layout.

    The fast path for a dump: one match of the layout, then one dictionary
    look-up for each part already validated on an earlier line (destination;
    the rest); a part not seen yet is validated, once, by :func:`parse_line`'s
    own checks. Parts are only ever found among validated texts, which hold no
    whitespace but their own single spaces (``P from S``): a line accepted
    here is babeld's layout word for word. No :class:`RouteLine`, no error
    text. None when the line is not in that layout or a value is bad;
    :func:`parse_line` then says what (the two agree on every line this
    accepts). :func:`dump_routes` is the same for a run of lines.
    """
    match = _DUMP_ROUTE(line)
    if match is None:
        return None
    rid, dest_text, state_text = match.groups()
    dest = _dest_cache.get(dest_text)
    state = _state_cache.get(state_text)
    if dest is None or state is None:
        parts = _validate_parts(dest_text, state_text, dest, state)
        if parts is None:
            return None
        dest, state = parts
    return rid, dest, state


def dump_routes(
    lines: list[str], start: int
) -> tuple[Sequence[str], list[tuple[str, str] | None], list[RouteState]]:
    """:func:`dump_route` of each line from ``lines[start]`` on that matches the layout, as columns.

    A dump is 10,000s of route lines in a row: they are matched, split and
    looked up by C loops (``map``), not one Python call a line.

    Returns:
        The ids, destinations and states of the lines from ``start`` up to
        the first that does not match the layout. A line with a bad value
        (which :func:`dump_route` does not accept either) has None for its
        destination.
    """
    matches: list[re.Match[str]] = list(
        takewhile(truth, map(_DUMP_ROUTE, islice(lines, start, None)))  # type: ignore[arg-type]
    )
    if not matches:
        return (), [], []
    rids, dest_texts, state_texts = zip(*map(_match_groups, matches), strict=True)
    dest_get, state_get = _dest_cache.get, _state_cache.get
    dests: list = list(map(dest_get, dest_texts))
    states: list = list(map(state_get, state_texts))
    if None in dests or None in states:  # parts not seen yet: validated once each
        unknown = {*compress(count(), map(is_, dests, repeat(None)))}  # (C loops: 10,000s)
        unknown.update(compress(count(), map(is_, states, repeat(None))))
        for k in sorted(unknown):
            dest, state = dests[k], states[k]
            if dest is None:  # perhaps validated on an earlier line of this run
                dest = dest_get(dest_texts[k])
            if state is None:
                state = state_get(state_texts[k])
            if dest is None or state is None:
                parts = _validate_parts(dest_texts[k], state_texts[k], dest, state)
                dest, state = parts if parts is not None else (None, state)
            dests[k], states[k] = dest, state
    return rids, dests, states


def _route(kind: Kind, tokens: list[str]) -> RouteLine:
    values = _route_layout(tokens)
    if values is not None:
        return RouteLine(kind, *values)
    fields = _pairs(tokens, 3)
    installed = _need(fields, "installed")
    if installed not in ("yes", "no"):
        raise _Bad(f"bad 'installed' value {installed!r}")
    return RouteLine(
        kind=kind,
        id=_object_id(tokens[2]),
        prefix=_prefix(_need(fields, "prefix")),
        src=_prefix(_need(fields, "from")),
        installed=installed == "yes",
        router_id=_router_id(_need(fields, "id")),
        metric=_u16(_need(fields, "metric"), "metric"),
        refmetric=_u16(_need(fields, "refmetric"), "refmetric"),
        via=_address(_need(fields, "via")),
        interface=_need(fields, "if"),
    )


_OBJECTS = {
    "interface": _interface,
    "neighbour": _neighbour,
    "xroute": _xroute,
    "route": _route,
}
_HEADER_FIELDS = ("version", "host", "my-id")


def parse_line(line: str) -> ParsedLine | ParseError:
    """Parse one line of babeld's control protocol (without its newline).

    Args:
        line: the line as received; a trailing ``\\r`` or ``\\n`` is ignored.

    Returns:
        The parsed line, or a :class:`ParseError` naming what is wrong.
    """
    tokens = line.split()
    if not tokens:
        return ParseError(line, "empty line")
    first = tokens[0]
    kind = _KINDS.get(first)
    if kind is not None:
        if len(tokens) < 3:
            return ParseError(line, "update line too short")
        handler = _OBJECTS.get(tokens[1])
        if handler is None:
            return ParseError(line, f"unknown object {tokens[1]!r}")
        try:
            return handler(kind, tokens)  # type: ignore[return-value]
        except _Bad as exc:
            return ParseError(line, str(exc))
    if first == "ok" and len(tokens) == 1:
        return ReplyLine("ok")
    if first == "bad" and len(tokens) == 1:
        return ReplyLine("bad")
    if first == "no":
        return ReplyLine("no", line.strip()[2:].strip())
    if first == "BABEL" and len(tokens) == 2:
        return HeaderLine("BABEL", tokens[1])
    if first in _HEADER_FIELDS and len(tokens) == 2:
        return HeaderLine(first, tokens[1])
    return ParseError(line, "not a babeld control line")
