"""A babeld.conf parser and validator that knows babeld's grammar, per babeld version.

``parse_config(text, filename, version)`` returns a ``ParsedConfig``: the statements
(globals, interface/default lines, filters, keys) with their line numbers, the
merged per-interface configuration, the filter chains, and diagnostics:

* **errors** for every line babeld would refuse (it prints ``Couldn't parse
  configuration`` and exits), emulating its lexer and its number, address and
  prefix parsers (``strtol`` base 0 with ``int`` truncation, fixed-point seconds,
  ``inet_pton``, EUI-64 forms, 255-character words, quoted strings);
* **warnings** for what babeld accepts but is almost surely wrong: a filter on an
  interface babeld does not run on, a selector that can never match in its chain,
  prefix lengths that can never match, shadowed filters, options removed in newer
  babeld, ``rtt-max <= rtt-min``, tunnel hello intervals that make failover take
  minutes, the deprecated ``wired`` keyword, and more.

Verdicts are checked against the real babeld 1.12.1, 1.13.1 and 1.14 (see
tests/data/configs); rules for 1.10 and 1.11 follow babeld's sources and change log. Key
values are never stored: a ``KeyDef`` keeps only the key's id, type and length.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from meshtui.core.protocol import INFINITY
from meshtui.core.secrets import mask_secrets

__all__ = [
    "DEFAULT_VERSION",
    "FAILOVER_WARN_SECONDS",
    "PROTO_LOCAL",
    "SUPPORTED_VERSIONS",
    "Action",
    "Chain",
    "Diagnostic",
    "Filter",
    "GlobalOption",
    "InterfaceConf",
    "KeyDef",
    "ParsedConfig",
    "Severity",
    "Statement",
    "failover_detection_seconds",
    "parse_config",
    "parse_version",
]

DEFAULT_VERSION = "1.12"
SUPPORTED_VERSIONS = ("1.10", "1.11", "1.12", "1.13", "1.14")
PROTO_LOCAL = -2  # RTPROT_BABEL_LOCAL: the `local` selector
MAX_WORD = 255
IFNAMSIZ = 16
# A neighbour's cost goes infinite once 2 of its last 3 Hellos are missed, a Hello
# counting as missed 1.7 intervals after the previous one: 2.7 intervals in all.
HELLO_MISS_FACTOR = 2.7
FAILOVER_WARN_SECONDS = 60.0

_BOOLS = {"true": True, "yes": True, "false": False, "no": False, "default": None, "auto": None}
_IF_TYPES = ("default", "auto", "wired", "wireless", "tunnel")
_BOOL_IF_OPTIONS = (
    "faraway",
    "unicast",
    "link-quality",
    "split-horizon",
    "enable-timestamps",
    "rfc6126-compatible",
    "accept-bad-signatures",
    "v4-via-v6",
    "probe-mtu",
)
_INT_GLOBALS = (
    "protocol-port",
    "kernel-priority",
    "allow-duplicates",
    "local-port",
    "local-port-readwrite",
    "export-table",
    "import-table",
    "kernel-check-interval",
    "shutdown-delay-ms",
)
_BOOL_GLOBALS = (
    "link-detect",
    "random-id",
    "daemonise",
    "skip-kernel-setup",
    "ipv6-subtrees",
    "reflect-kernel-metric",
)
_PATH_GLOBALS = ("state-file", "log-file", "pid-file", "local-path", "local-path-readwrite")
_LOCAL_ONLY = ("quit", "dump", "monitor", "unmonitor", "reopen-logfile")

# (first version that has it, first version that no longer has it); None = open.
_V = tuple[int, int, int]
_FEATURES: dict[str, tuple[_V | None, _V | None]] = {
    "key": ((1, 11, 0), None),
    "if:key": ((1, 11, 0), None),
    "if:accept-bad-signatures": ((1, 11, 0), None),
    "if:v4-via-v6": ((1, 12, 0), None),
    "if:probe-mtu": ((1, 13, 1), None),
    "if:channel": (None, (1, 13, 0)),
    "diversity": (None, (1, 13, 0)),
    "diversity-factor": (None, (1, 13, 0)),
    "kernel-check-interval": ((1, 13, 0), None),
    "shutdown-delay-ms": ((1, 13, 0), None),
}


class Severity(StrEnum):
    """How bad a diagnostic is."""

    ERROR = "error"
    WARNING = "warning"


class Chain(StrEnum):
    """babeld's four filter chains."""

    IN = "in"
    OUT = "out"
    REDISTRIBUTE = "redistribute"
    INSTALL = "install"


@dataclass(frozen=True)
class Diagnostic:
    """One verdict on one line of a config, for one babeld version."""

    severity: Severity
    file: str
    line: int
    message: str
    version: str
    fix: str | None = None

    def format(self) -> str:
        """``file:line: severity: message (fix: ...)``."""
        text = f"{self.file}:{self.line}: {self.severity.value}: {self.message}"
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


@dataclass(frozen=True)
class Statement:
    """One non-empty config line, classified."""

    line: int
    kind: str  # global | interface | default | filter | key | flush | invalid
    keyword: str
    text: str


@dataclass(frozen=True)
class GlobalOption:
    """A global option such as ``local-path`` or ``protocol-port``."""

    line: int
    name: str
    value: str | int | bool | None


@dataclass(frozen=True)
class InterfaceConf:
    """Options of an ``interface`` (or, with name None, ``default``) line or merge of lines."""

    name: str | None
    lines: tuple[int, ...]
    options: dict[str, object] = field(default_factory=dict)

    def get(self, option: str, default: object = None) -> object:
        return self.options.get(option, default)


@dataclass(frozen=True)
class KeyDef:
    """An HMAC key definition; the value itself is never kept."""

    line: int
    id: str
    type: str
    length: int  # bytes of the value as written


@dataclass(frozen=True)
class Action:
    """What a matching filter does: allow, deny or add a metric, plus side actions."""

    add_metric: int = 0  # 0 allow, 65535 deny, else added metric
    src_prefix: IPv4Network | IPv6Network | None = None
    table: int | None = None
    pref_src: IPv4Address | IPv6Address | None = None

    @property
    def kind(self) -> str:
        if self.add_metric == 0:
            return "allow"
        if self.add_metric >= INFINITY:
            return "deny"
        return "metric"


@dataclass(frozen=True)
class Filter:
    """One filter rule, with babeld's internal representation of its selectors.

    Prefix lengths (``plen_*``) are in babeld's 128-bit space (IPv4 is v4-mapped,
    lengths + 96) and stored as unsigned chars, as babeld does.
    """

    chain: Chain
    line: int
    index: int  # position in its chain (0-based)
    text: str
    af: int = 0  # 0 any, 4 or 6
    prefix: IPv4Network | IPv6Network | None = None
    src_prefix: IPv4Network | IPv6Network | None = None
    plen_ge: int = 0
    plen_le: int = 128
    src_plen_ge: int = 0
    src_plen_le: int = 128
    neigh: IPv4Address | IPv6Address | None = None
    id: bytes | None = None
    proto: int = 0
    ifname: str | None = None
    action: Action = field(default_factory=Action)

    @property
    def is_catch_all(self) -> bool:
        """True when the rule matches every route its chain sees (no selector at all)."""
        return (
            self.af == 0
            and self.prefix is None
            and self.src_prefix is None
            and self.neigh is None
            and self.id is None
            and self.proto == 0
            and self.ifname is None
            and self.plen_ge == 0
            and self.plen_le >= 128
            and self.src_plen_ge == 0
            and self.src_plen_le >= 128
        )


@dataclass(frozen=True)
class ParsedConfig:
    """A parsed babeld.conf: statements, merged interfaces, chains, keys and diagnostics."""

    filename: str
    version: str
    statements: tuple[Statement, ...]
    globals: tuple[GlobalOption, ...]
    interfaces: dict[str, InterfaceConf]
    default: InterfaceConf | None
    filters: dict[Chain, tuple[Filter, ...]]
    keys: dict[str, KeyDef]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        """True when babeld of this version would accept the file."""
        return not self.errors

    def global_value(self, name: str) -> object:
        """The last value given to global option ``name`` (None if absent)."""
        value = None
        for opt in self.globals:
            if opt.name == name:
                value = opt.value
        return value

    def effective_interface(self, name: str) -> InterfaceConf:
        """The options babeld uses for interface ``name``: its lines merged over ``default``."""
        base = dict(self.default.options) if self.default else {}
        conf = self.interfaces.get(name)
        if conf is not None:
            base.update(conf.options)
        return InterfaceConf(name, conf.lines if conf else (), base)


def parse_version(version: str | None) -> tuple[int, int, int]:
    """Parse "1.12" / "1.12.1" / "babeld-1.12.1" into a tuple; ValueError outside 1.10–1.14."""
    text = (version or DEFAULT_VERSION).strip().removeprefix("babeld-")
    m = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not m:
        raise ValueError(f"{version!r} is not a babeld version like 1.12 or 1.12.1")
    v = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    if not (1, 10, 0) <= v < (1, 15, 0):
        raise ValueError(f"babeld {text} is not supported (known: {', '.join(SUPPORTED_VERSIONS)})")
    return v


def failover_detection_seconds(hello_interval: float) -> float:
    """Seconds until babeld declares a silent neighbour unreachable (2 of 3 Hellos missed)."""
    return HELLO_MISS_FACTOR * hello_interval


# --------------------------------------------------------------------------- lexing


class _Refused(Exception):
    """babeld would refuse this line."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.fix = fix


class _Cursor:
    """babeld's one-character-lookahead lexer over a single line (without its newline)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def _ch(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def skip_ws(self) -> None:
        while self._ch() in (" ", "\t", "\r") and self._ch():
            self.i += 1

    def at_end(self) -> bool:
        """After whitespace: end of line or a comment."""
        self.skip_ws()
        return self._ch() in ("", "#")

    def word(self, what: str) -> str:
        self.skip_ws()
        c = self._ch()
        if c in ("", "#"):
            raise _Refused(f"missing {what}")
        if c == '"':
            raise _Refused(f"{what} cannot be quoted here")
        start = self.i
        while self._ch() not in (" ", "\t", "\r", "#", ""):
            self.i += 1
        w = self.text[start : self.i]
        if len(w) > MAX_WORD:
            raise _Refused(f"word longer than {MAX_WORD} characters")
        return w

    def string(self, what: str) -> str:
        """A word, or a double-quoted string with backslash escapes."""
        self.skip_ws()
        if self._ch() != '"':
            return self.word(what)
        self.i += 1
        out: list[str] = []
        while True:
            if len(out) >= MAX_WORD:
                raise _Refused(f"{what} longer than {MAX_WORD} characters")
            c = self._ch()
            if c == "":
                raise _Refused(f"unterminated quoted {what}", 'close the string with "')
            self.i += 1
            if c == '"':
                break
            if c == "\\":
                c = self._ch()
                if c == "":
                    raise _Refused(f"unterminated quoted {what}", 'close the string with "')
                self.i += 1
            out.append(c)
        return "".join(out)


def _c_strtol(text: str) -> tuple[int, str]:
    """C ``strtol(text, &end, 0)`` on LP64, converted to ``int``: (value, rest)."""
    i = 0
    neg = False
    if i < len(text) and text[i] in "+-":
        neg = text[i] == "-"
        i += 1
    base = 10
    if text[i : i + 2].lower() == "0x" and i + 2 < len(text) and _is_digit(text[i + 2], 16):
        base = 16
        i += 2
    elif text[i : i + 1] == "0":
        base = 8
    start = i
    value = 0
    while i < len(text) and _is_digit(text[i], base):
        value = value * base + int(text[i], base)
        i += 1
    if i == start:
        return 0, text  # no conversion: end points at the start
    if neg:
        value = -value
    value = max(-(2**63), min(2**63 - 1, value))  # LONG_MIN / LONG_MAX
    value &= 0xFFFFFFFF  # (int) truncation
    if value >= 2**31:
        value -= 2**32
    return value, text[i:]


def _is_digit(c: str, base: int) -> bool:
    digits = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}[base]
    return c != "" and c in digits


def _int(cur: _Cursor, what: str) -> int:
    w = cur.word(what)
    value, rest = _c_strtol(w)
    if rest:
        raise _Refused(f"{what} {w!r} is not an integer")
    return value


def _thousands(cur: _Cursor, what: str) -> int:
    """babeld's parse_thousands: "42.1337" -> 42133 (unsigned 32-bit arithmetic)."""
    w = cur.word(what)
    m = re.fullmatch(r"([0-9]*)(?:\.([0-9]*))?", w)
    if not m:
        raise _Refused(f"{what} {w!r} is not a decimal number", "write e.g. 4 or 0.5")
    whole = 0
    for d in m.group(1):
        whole = (whole * 10 + int(d)) & 0xFFFFFFFF
    frac = 0
    digits = m.group(2) or ""
    if m.group(2) is not None:
        for d in digits:
            frac = (frac * 10 + int(d)) & 0xFFFFFFFF
        j = len(digits)
        while j > 3:
            frac //= 10
            j -= 1
        while j < 3:
            frac = (frac * 10) & 0xFFFFFFFF
            j += 1
    value = (whole * 1000 + frac) & 0xFFFFFFFF
    if value >= 2**31:
        value -= 2**32
    return value


def _bool(cur: _Cursor, what: str) -> bool | None:
    w = cur.word(what)
    if w not in _BOOLS:
        raise _Refused(f"{what}: {w!r} is not a boolean", "use true, false, yes, no or default")
    return _BOOLS[w]


def _address(text: str) -> IPv4Address | IPv6Address | None:
    if "%" in text:
        return None
    try:
        return IPv4Address(text)
    except ValueError:
        pass
    try:
        return IPv6Address(text)
    except ValueError:
        return None


def _ip(cur: _Cursor, what: str) -> IPv4Address | IPv6Address:
    w = cur.word(what)
    addr = _address(w)
    if addr is None:
        raise _Refused(f"{what} {w!r} is not an IP address")
    return addr


def _net(cur: _Cursor, what: str) -> tuple[IPv4Network | IPv6Network, bool]:
    """babeld's parse_net; returns (normalised network, host bits were set)."""
    w = cur.word(what)
    if w == "default":
        return IPv6Network("::/0"), False
    if "/" not in w:
        addr = _address(w)
        if addr is None:
            raise _Refused(f"{what} {w!r} is not an IP prefix")
        return ipaddress.ip_network(addr), False
    head, tail = w.split("/", 1)
    if len(head) >= 46:
        raise _Refused(f"{what} {w!r} is not an IP prefix")
    addr = _address(head)
    if addr is None:
        raise _Refused(f"{what} {w!r} is not an IP prefix")
    plen, rest = _c_strtol(tail)
    limit = 32 if isinstance(addr, IPv4Address) else 128
    if rest or plen < 0 or plen > limit:
        raise _Refused(f"{what} {w!r}: prefix length must be 0–{limit}")
    net = ipaddress.ip_network(f"{addr}/{plen}", strict=False)
    return net, net.network_address != addr


_EUI_FORMS = (
    re.compile(r"([0-9a-fA-F]{1,2})" + r":([0-9a-fA-F]{1,2})" * 7),
    re.compile(r"([0-9a-fA-F]{1,2})" + r"-([0-9a-fA-F]{1,2})" * 7),
    re.compile(r"([0-9a-fA-F]{1,2})" + r":([0-9a-fA-F]{1,2})" * 5),
)


def _eui64(cur: _Cursor, what: str) -> bytes:
    w = cur.word(what)
    for form in _EUI_FORMS:
        m = form.match(w)  # sscanf: trailing text is ignored
        if m:
            parts = [int(g, 16) for g in m.groups()]
            if len(parts) == 6:
                parts = parts[:3] + [0xFF, 0xFE] + parts[3:]
            return bytes(parts)
    raise _Refused(
        f"{what} {w!r} is not an EUI-64 or MAC address", "write e.g. 02:11:22:ff:fe:33:44:55"
    )


def _uchar(v: int) -> int:
    return v & 0xFF


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str, filename: str, version: str, extra_interfaces: Iterable[str]):
        self.text = text
        self.filename = filename
        self.version_text = version
        self.v = parse_version(version)
        self.vlabel = (
            ".".join(str(x) for x in self.v[:2])
            if self.v[2] == 0
            else ".".join(str(x) for x in self.v)
        )
        self.extra_interfaces = tuple(extra_interfaces)
        self.diags: list[Diagnostic] = []
        self.statements: list[Statement] = []
        self.globals: list[GlobalOption] = []
        self.if_lines: dict[str, list[tuple[int, dict[str, object]]]] = {}
        self.default_lines: list[tuple[int, dict[str, object]]] = []
        self.filters: dict[Chain, list[Filter]] = {c: [] for c in Chain}
        self.keys: dict[str, KeyDef] = {}

    # diagnostics -----------------------------------------------------------
    def error(self, line: int, message: str, fix: str | None = None) -> None:
        self.diags.append(
            Diagnostic(Severity.ERROR, self.filename, line, message, self.vlabel, fix)
        )

    def warn(self, line: int, message: str, fix: str | None = None) -> None:
        self.diags.append(
            Diagnostic(Severity.WARNING, self.filename, line, message, self.vlabel, fix)
        )

    def has(self, feature: str) -> bool:
        lo, hi = _FEATURES[feature]
        return (lo is None or self.v >= lo) and (hi is None or self.v < hi)

    def unavailable(self, feature: str, fix: str) -> _Refused:
        """Why ``feature`` does not parse in this version: removed, or not there yet."""
        name = feature.removeprefix("if:")
        hi = _FEATURES[feature][1]
        if hi is not None and self.v >= hi:
            kind = "option" if feature.startswith("if:") else "line"
            return _Refused(
                f"`{name}` was removed in babeld {_vstr(hi)} (this is {self.vlabel})",
                f"delete the {name} {kind}",
            )
        return _Refused(
            f"`{name}` needs {self.feature_range(feature)} (this is {self.vlabel})", fix
        )

    def feature_range(self, feature: str) -> str:
        lo, hi = _FEATURES[feature]
        if lo is not None and hi is None:
            return f"babeld {_vstr(lo)} or later"
        if hi is not None and lo is None:
            return f"babeld before {_vstr(hi)}"
        assert lo is not None and hi is not None
        return f"babeld {_vstr(lo)} to before {_vstr(hi)}"  # pragma: no cover

    # driver ----------------------------------------------------------------
    def run(self) -> ParsedConfig:
        if "\0" in self.text:
            self.warn(1, "the file contains NUL bytes", "save it as plain text")
        lines = self.text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for n, raw in enumerate(lines, start=1):
            self.line(n, raw)
        self.check_whole()
        default = self.merge(None, self.default_lines) if self.default_lines else None
        interfaces = {name: self.merge(name, entries) for name, entries in self.if_lines.items()}
        self.diags.sort(key=lambda d: (d.line, d.severity is not Severity.ERROR))
        return ParsedConfig(
            filename=self.filename,
            version=self.vlabel,
            statements=tuple(self.statements),
            globals=tuple(self.globals),
            interfaces=interfaces,
            default=default,
            filters={c: tuple(fs) for c, fs in self.filters.items()},
            keys=dict(self.keys),
            diagnostics=tuple(self.diags),
        )

    def line(self, n: int, raw: str) -> None:
        cur = _Cursor(raw)
        if cur.at_end():
            return
        if cur._ch() == '"':
            self.statements.append(Statement(n, "invalid", "", raw))
            self.error(n, "a directive cannot start with a quoted string")
            return
        try:
            keyword = cur.word("directive")
        except _Refused as exc:
            self.statements.append(Statement(n, "invalid", "", raw))
            self.error(n, f"directive: {exc}", exc.fix)
            return
        kind = {
            "interface": "interface",
            "default": "default",
            "key": "key",
            "flush": "flush",
            **{c.value: "filter" for c in Chain},
        }.get(keyword, "global")
        try:
            if kind == "filter":
                self.filter_line(n, Chain(keyword), cur, raw)
            elif kind == "interface":
                name = self.if_name(n, cur)
                opts = self.if_options(n, cur)
                self.if_lines.setdefault(name, []).append((n, opts))
            elif kind == "default":
                self.default_lines.append((n, self.if_options(n, cur)))
            elif kind == "key":
                self.key_line(n, cur)
            elif kind == "flush":
                self.flush_line(n, cur)
            else:
                self.global_line(n, keyword, cur)
        except _Refused as exc:
            kind = "invalid"
            message = str(exc)
            if not (message.startswith(keyword) or message.startswith(f"`{keyword}")):
                message = f"{keyword}: {message}"
            self.error(n, message, exc.fix)
        if keyword == "key":
            raw = mask_secrets(raw)  # never keep a key's value
        self.statements.append(Statement(n, kind, keyword, raw))

    # interfaces ------------------------------------------------------------
    def if_name(self, n: int, cur: _Cursor) -> str:
        if cur.at_end():
            raise _Refused("missing interface name", "write `interface NAME [options]`")
        name = cur.string("interface name")
        if name == "":
            self.warn(n, "empty interface name: babeld accepts it but no interface matches")
        elif len(name) >= IFNAMSIZ:
            self.warn(
                n,
                f"interface name {name!r} is longer than 15 characters: no Linux interface "
                "can have it",
            )
        return name

    def if_options(self, n: int, cur: _Cursor) -> dict[str, object]:
        opts: dict[str, object] = {}
        while not cur.at_end():
            opt = cur.word("interface option")
            self.if_option(n, opt, cur, opts)
        return opts

    def if_option(self, n: int, opt: str, cur: _Cursor, opts: dict[str, object]) -> None:
        feature = f"if:{opt}"
        if feature in _FEATURES and not self.has(feature):
            raise self.unavailable(feature, f"remove `{opt}` or upgrade babeld")
        if opt == "rxcost":
            v = _int(cur, "rxcost")
            if not 0 < v <= 0xFFFF:
                raise _Refused(f"rxcost {v} is out of range 1–65535")
            opts["rxcost"] = v
        elif opt in ("hello-interval", "update-interval"):
            v = _thousands(cur, opt)
            if not 0 < v <= 10 * 0xFFFF:
                raise _Refused(
                    f"{opt} must be more than 0 and at most 655.35 seconds",
                    "give seconds with up to 3 decimals, e.g. 4 or 0.5",
                )
            opts[opt] = v / 1000
        elif opt == "type":
            w = cur.word("interface type")
            if w not in _IF_TYPES:
                raise _Refused(
                    f"unknown interface type {w!r}", "use wired, wireless, tunnel or auto"
                )
            if w not in ("default", "auto"):
                opts["type"] = w
        elif opt == "wired":
            b = _bool(cur, "wired")
            self.warn(n, "`wired` is deprecated", "use `type wired` (or `type wireless`)")
            if b is not None:
                opts["type"] = "wired" if b else "wireless"
        elif opt in _BOOL_IF_OPTIONS:
            b = _bool(cur, opt)
            if b is not None:
                opts[opt] = b
        elif opt == "rtt-decay":
            v = _int(cur, opt)
            if not 0 < v <= 256:
                raise _Refused(f"rtt-decay {v} is out of range 1–256")
            opts[opt] = v
        elif opt in ("rtt-min", "rtt-max"):
            v = _thousands(cur, opt)
            if v <= 0:
                raise _Refused(f"{opt} must be more than 0 milliseconds")
            opts[opt] = v / 1000  # milliseconds
        elif opt == "max-rtt-penalty":
            v = _int(cur, opt)
            if not 0 < v <= 0xFFFF:
                raise _Refused(f"max-rtt-penalty {v} is out of range 1–65535")
            opts[opt] = v
        elif opt == "key":
            key_id = cur.word("key id")
            if key_id not in self.keys:
                raise _Refused(
                    f"no key {key_id!r} defined on an earlier line",
                    f"add `key id {key_id} type hmac-sha256 value HEX` above this line",
                )
            opts["key"] = key_id
        elif opt == "channel":
            w = cur.word("channel")
            if w == "noninterfering":
                ch: object = "noninterfering"
            elif w == "interfering":
                ch = "interfering"
            else:
                v, rest = _c_strtol(w)
                if rest or not 1 <= v <= 255:
                    raise _Refused(f"channel {w!r} must be 1–255, interfering or noninterfering")
                ch = v
            opts["channel"] = ch
            self.warn(
                n,
                "`channel` was removed in babeld 1.13: this line will not parse there",
                "delete the channel option",
            )
        else:
            raise _Refused(f"unknown interface option {opt!r}")

    def merge(self, name: str | None, entries: list[tuple[int, dict[str, object]]]):
        opts: dict[str, object] = {}
        for _, o in entries:
            opts.update(o)
        return InterfaceConf(name, tuple(n for n, _ in entries), opts)

    # filters ---------------------------------------------------------------
    def filter_line(self, n: int, chain: Chain, cur: _Cursor, raw: str) -> None:
        af = 0
        prefix = src_prefix = None
        plen_ge, plen_le, src_ge, src_le = 0, 128, 0, 128
        neigh = None
        fid = None
        proto = 0
        ifname = None
        add_metric = 0
        a_src = None
        table = None
        pref_src = None
        actions: list[str] = []
        selectors: list[str] = []

        def set_af(new: int, what: str) -> None:
            nonlocal af
            if af == 0:
                af = new
            elif af != new:
                raise _Refused(f"{what} mixes IPv4 and IPv6 in one filter")

        while not cur.at_end():
            tok = cur.word("filter keyword")
            if tok in ("ip", "src-ip"):
                net, hostbits = _net(cur, tok)
                set_af(net.version, tok)
                if hostbits:
                    self.warn(
                        n,
                        f"{tok} {net.network_address}/{net.prefixlen}: host bits set; babeld "
                        "uses the network address",
                        f"write {net}",
                    )
                if tok == "ip":
                    if prefix is not None:
                        self.warn(n, "`ip` given twice: only the last one counts")
                    prefix = net
                else:
                    src_prefix = net
                selectors.append(tok)
            elif tok in ("eq", "le", "ge", "src-eq", "src-le", "src-ge"):
                p = _int(cur, tok)
                base = tok.removeprefix("src-")
                ge, le = (src_ge, src_le) if tok.startswith("src-") else (plen_ge, plen_le)
                if base in ("eq", "ge"):
                    ge = _uchar(max(ge, p))
                if base in ("eq", "le"):
                    le = _uchar(min(le, p))
                if p < 0 or p > 128:
                    self.warn(
                        n,
                        f"{tok} {p}: babeld stores prefix lengths in a byte, so this "
                        f"becomes {_uchar(p)}",
                    )
                if tok.startswith("src-"):
                    src_ge, src_le = ge, le
                else:
                    plen_ge, plen_le = ge, le
                selectors.append(tok)
            elif tok == "neigh":
                neigh = _ip(cur, "neigh")
                selectors.append(tok)
            elif tok == "id":
                fid = _eui64(cur, "id")
                selectors.append(tok)
            elif tok == "proto":
                proto = _int(cur, "proto")
                selectors.append(tok)
            elif tok == "local":
                proto = PROTO_LOCAL
                selectors.append(tok)
            elif tok == "if":
                ifname = cur.string("interface name")
                selectors.append(tok)
            elif tok == "allow":
                add_metric = 0
                actions.append(tok)
            elif tok == "deny":
                add_metric = INFINITY
                actions.append(tok)
            elif tok == "metric":
                m = _int(cur, "metric")
                if not 0 < m <= INFINITY:
                    raise _Refused(f"metric {m} is out of range 1–65535")
                add_metric = m
                actions.append(tok)
            elif tok == "src-prefix":
                a_src, _ = _net(cur, "src-prefix")
                set_af(a_src.version, "src-prefix")
                actions.append(tok)
            elif tok == "table":
                t = _int(cur, "table")
                if not 0 < t <= INFINITY:
                    raise _Refused(f"table {t} is out of range 1–65535")
                table = t
                actions.append(tok)
            elif tok == "pref-src":
                pref_src = _ip(cur, "pref-src")
                set_af(pref_src.version, "pref-src")
                actions.append(tok)
            else:
                raise _Refused(f"unknown filter keyword {tok!r}")
        if af == 0:
            if plen_le < 128 or plen_ge > 0 or src_le < 128 or src_ge > 0:
                af = 6
        elif af == 4:
            if plen_le < 128:
                plen_le = _uchar(plen_le + 96)
            if plen_ge > 0:
                plen_ge = _uchar(plen_ge + 96)
            if src_le < 128:
                src_le = _uchar(src_le + 96)
            if src_ge > 0:
                src_ge = _uchar(src_ge + 96)
        verdicts = [a for a in actions if a in ("allow", "deny", "metric")]
        if len(verdicts) > 1:
            self.warn(
                n,
                f"several actions ({', '.join(verdicts)}): only the last one, "
                f"`{verdicts[-1]}`, counts",
                "keep a single allow, deny or metric",
            )
        f = Filter(
            chain=chain,
            line=n,
            index=len(self.filters[chain]),
            text=raw.strip(),
            af=af,
            prefix=prefix,
            src_prefix=src_prefix,
            plen_ge=plen_ge,
            plen_le=plen_le,
            src_plen_ge=src_ge,
            src_plen_le=src_le,
            neigh=neigh,
            id=fid,
            proto=proto,
            ifname=ifname,
            action=Action(add_metric, a_src, table, pref_src),
        )
        self.filters[chain].append(f)
        self.filter_warnings(f, selectors, actions)

    def filter_warnings(self, f: Filter, selectors: list[str], actions: list[str]) -> None:
        n = f.line
        chain = f.chain.value
        never: list[str] = []
        if f.chain is Chain.IN and f.proto:
            never.append("proto" if f.proto != PROTO_LOCAL else "local")
        if f.chain is Chain.OUT:
            if f.neigh is not None:
                never.append("neigh")
            if f.proto:
                never.append("proto" if f.proto != PROTO_LOCAL else "local")
        if f.chain is Chain.REDISTRIBUTE:
            if f.neigh is not None:
                never.append("neigh")
            if f.id is not None:
                never.append("id")
        if f.chain is Chain.INSTALL:
            if f.neigh is not None:
                never.append("neigh")
            if f.proto:
                never.append("proto" if f.proto != PROTO_LOCAL else "local")
            if f.id is not None and self.v < (1, 14, 0):
                never.append("id (before babeld 1.14)")
        if never:
            self.warn(
                n,
                f"`{chain}` filters never match on {', '.join(never)}: this rule never applies",
                "remove that selector or move the rule to the chain that sees it",
            )
        lo = f.plen_ge
        if f.prefix is not None:
            lo = max(lo, _plen128(f.prefix))
        hi = f.plen_le
        if hi < lo or lo > 128:
            self.warn(
                n,
                f"the prefix-length bounds of this `{chain}` rule can never be met "
                f"(length ≥ {_show_len(lo, f.af)} and ≤ {_show_len(hi, f.af)})",
                "check eq/le/ge against the prefix length",
            )
        slo = f.src_plen_ge
        if f.src_prefix is not None:
            slo = max(slo, _plen128(f.src_prefix))
        if f.src_plen_le < slo or slo > 128:
            self.warn(
                n,
                f"the source prefix-length bounds of this `{chain}` rule can never be met",
                "check src-eq/src-le/src-ge against src-ip",
            )
        if (
            actions
            and all(a in ("table", "pref-src") for a in actions)
            and f.chain is not (Chain.INSTALL)
        ):
            self.warn(
                n,
                f"`table`/`pref-src` only act in the install chain (this is `{chain}`)",
            )
        if f.action.src_prefix is not None and f.chain is Chain.INSTALL:
            self.warn(n, "`src-prefix` has no effect in the install chain")

    # keys ------------------------------------------------------------------
    def key_line(self, n: int, cur: _Cursor) -> None:
        if not self.has("key"):
            raise _Refused(
                f"keys (HMAC, RFC 8967) need babeld 1.11 or later (this is {self.vlabel})",
                "remove the key and the interfaces' `key` options, or upgrade babeld",
            )
        key_id = None
        ktype = "none"
        length = 0
        seen_value = False
        while not cur.at_end():
            tok = cur.word("key keyword")
            if tok == "id":
                key_id = cur.word("key id")
            elif tok == "type":
                t = cur.word("key type")
                if t not in ("none", "hmac-sha256", "blake2s128"):
                    raise _Refused(
                        f"key type {t!r} isn't supported", "use hmac-sha256 or blake2s128"
                    )
                ktype = t
            elif tok == "value":
                v = cur.word("key value")
                if len(v) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", v):
                    raise _Refused(
                        "the key value must be an even number of hex digits",
                        "write the key as hex, e.g. from `openssl rand -hex 32`",
                    )
                length = len(v) // 2
                seen_value = True
            else:
                raise _Refused(f"unknown key keyword {tok!r}", "write `key id ID type T value HEX`")
        if key_id is None:
            raise _Refused("no key id given", "write `key id ID type T value HEX`")
        if ktype == "hmac-sha256":
            if length > 64:
                raise _Refused(f"hmac-sha256 key is {length} bytes; at most 64")
            if not seen_value or length == 0:
                self.warn(
                    n,
                    f"key {key_id!r} has no value: babeld uses 64 zero bytes, which anyone "
                    "can forge",
                    "add `value HEX` with a random key",
                )
            elif length < 16:
                self.warn(n, f"key {key_id!r} is only {length} bytes long", "use 32 random bytes")
        elif ktype == "blake2s128":
            if not 1 <= length <= 32:
                raise _Refused(f"blake2s128 key is {length} bytes; expected 1 to 32")
            if length < 16:
                self.warn(n, f"key {key_id!r} is only {length} bytes long", "use 32 random bytes")
        else:
            raise _Refused("key type 'none' isn't supported", "add `type hmac-sha256`")
        if key_id in self.keys:
            self.warn(
                n,
                f"key {key_id!r} is defined again (line {self.keys[key_id].line}); "
                "this value replaces it",
            )
        self.keys[key_id] = KeyDef(n, key_id, ktype, length)

    # flush / globals -------------------------------------------------------
    def flush_line(self, n: int, cur: _Cursor) -> None:
        what = cur.word("flush target")
        if what != "interface":
            raise _Refused(f"cannot flush {what!r}", "only `flush interface NAME` exists")
        cur.word("interface name")
        if not cur.at_end():
            raise _Refused("unexpected text after the interface name")
        self.warn(n, "`flush interface` is a run-time command; in a config file it does nothing")

    def global_line(self, n: int, name: str, cur: _Cursor) -> None:
        if name in _LOCAL_ONLY:
            raise _Refused(f"`{name}` is a control-socket request, not a config directive")
        if name == "first-rule-priority":
            raise _Refused(
                "`first-rule-priority` was removed from babeld's parser (the man page still "
                "lists it)",
                "delete the line",
            )
        if name in _FEATURES and not self.has(name):
            raise self.unavailable(name, "delete the line or upgrade babeld")
        value: str | int | bool | None
        if name in _INT_GLOBALS:
            value = _int(cur, name)
            if not 0 < value < 0xFFFF:
                raise _Refused(f"{name} {value} is out of range 1–65534")
            if name == "allow-duplicates" and (1, 12, 0) <= self.v < (1, 12, 2):
                raise _Refused(
                    "babeld 1.12.1 crashes at start-up with `allow-duplicates` (seen on the "
                    "real daemon; fixed in 1.12.2)",
                    "delete the line",
                )
        elif name in _BOOL_GLOBALS:
            value = _bool(cur, name)
        elif name in _PATH_GLOBALS:
            value = cur.string(name)
            if value == "":
                self.warn(n, f"{name} is empty")
        elif name == "protocol-group":
            addr = _ip(cur, name)
            value = str(addr)
            if not (isinstance(addr, IPv6Address) and addr.is_multicast):
                self.warn(n, f"protocol-group {addr} is not an IPv6 multicast group")
        elif name == "debug":
            value = _int(cur, name)
            if value < 0:
                raise _Refused("debug must be 0 or more")
        elif name == "smoothing-half-life":
            value = _int(cur, name)
            if value < 0:
                raise _Refused("smoothing-half-life must be 0 or more")
        elif name == "router-id":
            value = _eui64(cur, name).hex(":")
        elif name == "diversity":
            # babeld < 1.13: a number (strtol) when it starts with a digit, else a boolean.
            cur.skip_ws()
            value = _int(cur, name) if cur._ch().isdigit() else _bool(cur, name)
        elif name == "diversity-factor":
            value = _int(cur, name)
            if not 0 <= value <= 256:
                raise _Refused(f"diversity-factor {value} is out of range 0–256")
        else:
            raise _Refused(f"unknown directive {name!r}")
        if not cur.at_end():
            raise _Refused(f"unexpected text after the value of {name}")
        if name in ("diversity", "diversity-factor"):
            self.warn(
                n,
                f"`{name}` was removed in babeld 1.13: this line will not parse there",
                "delete the line",
            )
        if name == "daemonise" and value:
            self.warn(n, "`daemonise true` under systemd hides start-up errors from the unit")
        self.globals.append(GlobalOption(n, name, value))

    # whole file ------------------------------------------------------------
    def check_whole(self) -> None:
        running = set(self.if_lines) | set(self.extra_interfaces)
        has_interface_line = any(s.keyword == "interface" for s in self.statements)
        if not running and not has_interface_line and self.statements:
            self.warn(
                1,
                "no `interface` line: babeld refuses to start unless interfaces are given on "
                "its command line",
                "add `interface NAME type wired` (or `type tunnel`)",
            )
        for chain, rules in self.filters.items():
            seen_catch_all: Filter | None = None
            for f in rules:
                if seen_catch_all is not None:
                    self.warn(
                        f.line,
                        f"this `{chain.value}` rule is never reached: line "
                        f"{seen_catch_all.line} (`{seen_catch_all.text}`) matches everything "
                        "before it",
                        "move it above the catch-all rule",
                    )
                    continue
                if f.ifname is not None and running and f.ifname not in running:
                    self.warn(
                        f.line,
                        f"filter names interface {f.ifname!r}, which babeld does not run on: "
                        "it never matches"
                        if chain in (Chain.IN, Chain.OUT)
                        else f"filter names interface {f.ifname!r}, which babeld does not run on",
                        f"add `interface {f.ifname}` or fix the name",
                    )
                if f.is_catch_all and chain is not Chain.REDISTRIBUTE:
                    seen_catch_all = f
        default = self.merge(None, self.default_lines).options if self.default_lines else {}
        for name, entries in self.if_lines.items():
            opts = dict(default)
            opts.update(self.merge(name, entries).options)
            line = entries[0][0]
            rmin = float(opts.get("rtt-min", 10.0))  # milliseconds
            rmax = float(opts.get("rtt-max", 120.0))
            if ("rtt-min" in opts or "rtt-max" in opts) and rmax <= rmin:
                self.warn(
                    line,
                    f"interface {name}: rtt-max ({rmax:g} ms) ≤ rtt-min "
                    f"({rmin:g} ms); babeld resets them",
                    "make rtt-max larger than rtt-min",
                )
            itype = opts.get("type")
            hello = float(opts.get("hello-interval", 4.0))  # type: ignore[arg-type]
            detect = failover_detection_seconds(hello)
            if itype == "tunnel" and detect >= FAILOVER_WARN_SECONDS:
                self.warn(
                    line,
                    f"interface {name}: tunnel hello-interval {hello:g} s means a silent relay "
                    f"is noticed only after ~{detect:.0f} s (2 of 3 Hellos missed, "
                    "1.7 intervals each)",
                    "use hello-interval 1–4 on tunnels for failover in seconds",
                )
            if (
                "max-rtt-penalty" in opts
                and itype != "tunnel"
                and not opts.get("enable-timestamps")
            ):
                self.warn(
                    line,
                    f"interface {name}: max-rtt-penalty is set but timestamps are off, so it "
                    "has no effect",
                    "add `enable-timestamps true` or use `type tunnel`",
                )
            upd = opts.get("update-interval")
            if upd is not None and float(upd) < hello:  # type: ignore[arg-type]
                self.warn(
                    line,
                    f"interface {name}: update-interval {float(upd):g} s is shorter than "  # type: ignore[arg-type]
                    f"hello-interval {hello:g} s",
                )


def _plen128(net: IPv4Network | IPv6Network) -> int:
    return net.prefixlen + (96 if net.version == 4 else 0)


def _show_len(v: int, af: int) -> str:
    return str(v - 96) if af == 4 and v >= 96 else str(v)


def _vstr(v: _V) -> str:
    return ".".join(str(x) for x in (v if v[2] else v[:2]))


def parse_config(
    text: str,
    filename: str = "babeld.conf",
    version: str | None = DEFAULT_VERSION,
    *,
    extra_interfaces: Iterable[str] = (),
) -> ParsedConfig:
    """Parse and validate a babeld.conf text as babeld ``version`` would (default 1.12).

    Args:
        text: the file's contents.
        filename: used in diagnostics.
        version: babeld version ("1.10" … "1.14", optionally with a patch level).
        extra_interfaces: interfaces given to babeld on its command line.

    Raises:
        ValueError: ``version`` is not a supported babeld version.
    """
    return _Parser(text, filename, version or DEFAULT_VERSION, extra_interfaces).run()
