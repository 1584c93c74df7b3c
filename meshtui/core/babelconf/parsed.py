"""What parsing a babeld.conf gives: statements, interfaces, filters, keys and diagnostics.

Also the babeld versions the parser knows and the failover timing their Hellos imply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from meshtui.core.protocol import INFINITY

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
    "parse_version",
]

DEFAULT_VERSION = "1.12"
SUPPORTED_VERSIONS = ("1.10", "1.11", "1.12", "1.13", "1.14")
PROTO_LOCAL = -2  # RTPROT_BABEL_LOCAL: the `local` selector
# A neighbour's cost goes infinite once 2 of its last 3 Hellos are missed, a Hello
# counting as missed 1.7 intervals after the previous one: 2.7 intervals in all.
HELLO_MISS_FACTOR = 2.7
FAILOVER_WARN_SECONDS = 60.0


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
