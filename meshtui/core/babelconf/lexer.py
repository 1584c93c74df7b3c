"""babeld's lexer and value parsers, emulated: words, quoted strings, numbers, addresses.

Each reader takes a :class:`Cursor` on one line and raises :class:`Refused`
where babeld would refuse the line (``Couldn't parse configuration``).
"""

from __future__ import annotations

import ipaddress
import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

MAX_WORD = 255
_BOOLS = {"true": True, "yes": True, "false": False, "no": False, "default": None, "auto": None}


class Refused(Exception):
    """babeld would refuse this line."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.fix = fix


class Cursor:
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
            raise Refused(f"missing {what}")
        if c == '"':
            raise Refused(f"{what} cannot be quoted here")
        start = self.i
        while self._ch() not in (" ", "\t", "\r", "#", ""):
            self.i += 1
        w = self.text[start : self.i]
        if len(w) > MAX_WORD:
            raise Refused(f"word longer than {MAX_WORD} characters")
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
                raise Refused(f"{what} longer than {MAX_WORD} characters")
            c = self._ch()
            if c == "":
                raise Refused(f"unterminated quoted {what}", 'close the string with "')
            self.i += 1
            if c == '"':
                break
            if c == "\\":
                c = self._ch()
                if c == "":
                    raise Refused(f"unterminated quoted {what}", 'close the string with "')
                self.i += 1
            out.append(c)
        return "".join(out)


def c_strtol(text: str) -> tuple[int, str]:
    """C ``strtol(text, &end, 0)`` on LP64, converted to ``int``: (value, rest)."""
    i = 0
    neg = False
    if i < len(text) and text[i] in "+-":
        neg = text[i] == "-"
        i += 1
    base = 10
    if text[i : i + 2].lower() == "0x" and i + 2 < len(text) and is_digit(text[i + 2], 16):
        base = 16
        i += 2
    elif text[i : i + 1] == "0":
        base = 8
    start = i
    value = 0
    while i < len(text) and is_digit(text[i], base):
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


def is_digit(c: str, base: int) -> bool:
    digits = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}[base]
    return c != "" and c in digits


def read_int(cur: Cursor, what: str) -> int:
    w = cur.word(what)
    value, rest = c_strtol(w)
    if rest:
        raise Refused(f"{what} {w!r} is not an integer")
    return value


def read_nonzero_u16(cur: Cursor, what: str) -> int:
    """An integer in 1–65535 (a metric, a table number)."""
    v = read_int(cur, what)
    if not 0 < v <= 0xFFFF:
        raise Refused(f"{what} {v} is out of range 1–65535")
    return v


def read_thousands(cur: Cursor, what: str) -> int:
    """babeld's parse_thousands: "42.1337" -> 42133 (unsigned 32-bit arithmetic)."""
    w = cur.word(what)
    m = re.fullmatch(r"([0-9]*)(?:\.([0-9]*))?", w)
    if not m:
        raise Refused(f"{what} {w!r} is not a decimal number", "write e.g. 4 or 0.5")
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


def read_bool(cur: Cursor, what: str) -> bool | None:
    w = cur.word(what)
    if w not in _BOOLS:
        raise Refused(f"{what}: {w!r} is not a boolean", "use true, false, yes, no or default")
    return _BOOLS[w]


def parse_address(text: str) -> IPv4Address | IPv6Address | None:
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


def read_ip(cur: Cursor, what: str) -> IPv4Address | IPv6Address:
    w = cur.word(what)
    addr = parse_address(w)
    if addr is None:
        raise Refused(f"{what} {w!r} is not an IP address")
    return addr


def read_net(cur: Cursor, what: str) -> tuple[IPv4Network | IPv6Network, bool]:
    """babeld's parse_net; returns (normalised network, host bits were set)."""
    w = cur.word(what)
    if w == "default":
        return IPv6Network("::/0"), False
    if "/" not in w:
        addr = parse_address(w)
        if addr is None:
            raise Refused(f"{what} {w!r} is not an IP prefix")
        return ipaddress.ip_network(addr), False
    head, tail = w.split("/", 1)
    if len(head) >= 46:
        raise Refused(f"{what} {w!r} is not an IP prefix")
    addr = parse_address(head)
    if addr is None:
        raise Refused(f"{what} {w!r} is not an IP prefix")
    plen, rest = c_strtol(tail)
    limit = 32 if isinstance(addr, IPv4Address) else 128
    if rest or plen < 0 or plen > limit:
        raise Refused(f"{what} {w!r}: prefix length must be 0–{limit}")
    net = ipaddress.ip_network(f"{addr}/{plen}", strict=False)
    return net, net.network_address != addr


_EUI_FORMS = (
    re.compile(r"([0-9a-fA-F]{1,2})" + r":([0-9a-fA-F]{1,2})" * 7),
    re.compile(r"([0-9a-fA-F]{1,2})" + r"-([0-9a-fA-F]{1,2})" * 7),
    re.compile(r"([0-9a-fA-F]{1,2})" + r":([0-9a-fA-F]{1,2})" * 5),
)


def read_eui64(cur: Cursor, what: str) -> bytes:
    w = cur.word(what)
    for form in _EUI_FORMS:
        m = form.match(w)  # sscanf: trailing text is ignored
        if m:
            parts = [int(g, 16) for g in m.groups()]
            if len(parts) == 6:
                parts = parts[:3] + [0xFF, 0xFE] + parts[3:]
            return bytes(parts)
    raise Refused(
        f"{what} {w!r} is not an EUI-64 or MAC address", "write e.g. 02:11:22:ff:fe:33:44:55"
    )


def uchar(v: int) -> int:
    return v & 0xFF
