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
from dataclasses import dataclass
from enum import Enum
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
        _origin_cache,
        _hop_cache,
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


_HEX_COLON = frozenset("0123456789abcdefABCDEF:")


def _plain_ipv6(text: str) -> bool:
    """Whether ``text`` is an IPv6 address in plain hex-and-colons form (no IPv4 tail, no zone).

    A quick yes for the form babeld prints (a dump's thousands of new prefixes):
    every text this accepts, :mod:`ipaddress` accepts too; a no is not a verdict
    (the caller asks :mod:`ipaddress`).
    """
    if not _HEX_COLON.issuperset(text):
        return False
    halves = text.split("::")
    if len(halves) > 2:
        return False
    count = 0
    for half in halves:
        if not half:
            continue
        for group in half.split(":"):
            if not 0 < len(group) <= 4:
                return False
            count += 1
    return count <= 7 if len(halves) == 2 else count == 8


def _prefix(text: str) -> str:
    """Validate a prefix (IPv6 or dotted IPv4) and return it as babeld printed it."""
    cached = _prefix_cache.get(text)
    if cached is not None:
        return cached  # one string object per distinct prefix (memory per route)
    address, slash, length = text.partition("/")
    if not (
        slash
        and _plain_ipv6(address)
        and length.isascii()
        and length.isdigit()
        and len(length) <= 3  # int() of a 5,000-digit text raises
        and int(length) <= 128
    ):
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
    "add route ([0-9a-fA-F]+) prefix ([^ ]+ from [^ ]+) installed (yes|no)"
    " id ([^ ]+ metric [0-9]+ refmetric [0-9]+) via ([^ ]+ if [^ ]+)"
).fullmatch
"""An ``add route`` line in babeld's own layout (local.c), words at single spaces."""
DumpRoute = tuple[str, tuple[str, str], bool, tuple[str, int, int], tuple[str, str]]
"""A dump's route: id, (prefix, source), installed, (router id, metric, refmetric), (via, if)."""
_dest_cache: dict[str, tuple[str, str]] = {}  # "P from S", validated
_origin_cache: dict[str, tuple[str, int, int]] = {}  # "RID metric M refmetric R", validated
_hop_cache: dict[str, tuple[str, str]] = {}  # "A if I", validated


def dump_route(line: str) -> DumpRoute | None:
    """The values of a valid ``add route`` line in babeld's own layout.

    The fast path for a dump: one match of the layout, then one dictionary
    look-up for each part already validated on an earlier line (destination;
    router id and metrics; next hop); a part not seen yet is validated, once,
    by :func:`parse_line`'s own checks. Parts are only
    ever found among validated texts, which hold no whitespace but their own
    single spaces (``P from S``): a line accepted here is babeld's layout word
    for word. No :class:`RouteLine`, no error text. None when the
    line is not in that layout or a value is bad; :func:`parse_line` then says
    what (the two agree on every line this accepts).
    """
    match = _DUMP_ROUTE(line)
    if match is None:
        return None
    rid, dest_text, installed, origin_text, hop_text = match.groups()
    dest = _dest_cache.get(dest_text)
    origin = _origin_cache.get(origin_text)
    hop = _hop_cache.get(hop_text)
    if dest is None or origin is None or hop is None:
        if " ".join(line.split()) != line:  # other whitespace than single spaces
            return None  # parse_line's to judge
        try:  # validate what is new, once, with parse_line's own checks
            if dest is None:
                prefix_text, _, src_text = dest_text.split(" ")
                dest = _remember(_dest_cache, dest_text, (_prefix(prefix_text), _prefix(src_text)))
            if origin is None:
                router_text, _, metric_text, _, refmetric_text = origin_text.split(" ")
                origin = (
                    _router_id(router_text),
                    _u16(metric_text, "metric"),
                    _u16(refmetric_text, "refmetric"),
                )
                _remember(_origin_cache, origin_text, origin)
            if hop is None:
                via_text, _, interface = hop_text.split(" ")
                hop = _remember(_hop_cache, hop_text, (_address(via_text), interface))
        except _Bad:
            return None
    return (rid, dest, installed == "yes", origin, hop)


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
