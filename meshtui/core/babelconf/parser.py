"""The babeld.conf grammar, per babeld version: each line as babeld parses it, then
the whole file's warnings (see :func:`meshtui.core.babelconf.parse_config`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Address, IPv6Network

from meshtui.core.babelconf.lexer import (
    Cursor,
    Refused,
    c_strtol,
    read_bool,
    read_eui64,
    read_int,
    read_ip,
    read_net,
    read_nonzero_u16,
    read_thousands,
    uchar,
)
from meshtui.core.babelconf.parsed import (
    FAILOVER_WARN_SECONDS,
    PROTO_LOCAL,
    Action,
    Chain,
    Diagnostic,
    Filter,
    GlobalOption,
    InterfaceConf,
    KeyDef,
    ParsedConfig,
    Severity,
    Statement,
    failover_detection_seconds,
    parse_version,
)
from meshtui.core.protocol import INFINITY
from meshtui.core.secrets import mask_secrets

IFNAMSIZ = 16
_FILTER_ACTIONS = ("allow", "deny", "metric", "src-prefix", "table", "pref-src")
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


class Parser:
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

    def unavailable(self, feature: str, fix: str) -> Refused:
        """Why ``feature`` does not parse in this version: removed, or not there yet."""
        name = feature.removeprefix("if:")
        hi = _FEATURES[feature][1]
        if hi is not None and self.v >= hi:
            kind = "option" if feature.startswith("if:") else "line"
            return Refused(
                f"`{name}` was removed in babeld {_vstr(hi)} (this is {self.vlabel})",
                f"delete the {name} {kind}",
            )
        return Refused(f"`{name}` needs {self.feature_range(feature)} (this is {self.vlabel})", fix)

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
        cur = Cursor(raw)
        if cur.at_end():
            return
        if cur._ch() == '"':
            self.statements.append(Statement(n, "invalid", "", raw))
            self.error(n, "a directive cannot start with a quoted string")
            return
        try:
            keyword = cur.word("directive")
        except Refused as exc:
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
        except Refused as exc:
            kind = "invalid"
            message = str(exc)
            if not (message.startswith(keyword) or message.startswith(f"`{keyword}")):
                message = f"{keyword}: {message}"
            self.error(n, message, exc.fix)
        if keyword == "key":
            raw = mask_secrets(raw)  # never keep a key's value
        self.statements.append(Statement(n, kind, keyword, raw))

    # interfaces ------------------------------------------------------------
    def if_name(self, n: int, cur: Cursor) -> str:
        if cur.at_end():
            raise Refused("missing interface name", "write `interface NAME [options]`")
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

    def if_options(self, n: int, cur: Cursor) -> dict[str, object]:
        opts: dict[str, object] = {}
        while not cur.at_end():
            opt = cur.word("interface option")
            self.if_option(n, opt, cur, opts)
        return opts

    def if_option(self, n: int, opt: str, cur: Cursor, opts: dict[str, object]) -> None:
        feature = f"if:{opt}"
        if feature in _FEATURES and not self.has(feature):
            raise self.unavailable(feature, f"remove `{opt}` or upgrade babeld")
        if opt == "rxcost":
            v = read_int(cur, "rxcost")
            if not 0 < v <= 0xFFFF:
                raise Refused(f"rxcost {v} is out of range 1–65535")
            opts["rxcost"] = v
        elif opt in ("hello-interval", "update-interval"):
            v = read_thousands(cur, opt)
            if not 0 < v <= 10 * 0xFFFF:
                raise Refused(
                    f"{opt} must be more than 0 and at most 655.35 seconds",
                    "give seconds with up to 3 decimals, e.g. 4 or 0.5",
                )
            opts[opt] = v / 1000
        elif opt == "type":
            w = cur.word("interface type")
            if w not in _IF_TYPES:
                raise Refused(
                    f"unknown interface type {w!r}", "use wired, wireless, tunnel or auto"
                )
            if w not in ("default", "auto"):
                opts["type"] = w
        elif opt == "wired":
            b = read_bool(cur, "wired")
            self.warn(n, "`wired` is deprecated", "use `type wired` (or `type wireless`)")
            if b is not None:
                opts["type"] = "wired" if b else "wireless"
        elif opt in _BOOL_IF_OPTIONS:
            b = read_bool(cur, opt)
            if b is not None:
                opts[opt] = b
        elif opt == "rtt-decay":
            v = read_int(cur, opt)
            if not 0 < v <= 256:
                raise Refused(f"rtt-decay {v} is out of range 1–256")
            opts[opt] = v
        elif opt in ("rtt-min", "rtt-max"):
            v = read_thousands(cur, opt)
            if v <= 0:
                raise Refused(f"{opt} must be more than 0 milliseconds")
            opts[opt] = v / 1000  # milliseconds
        elif opt == "max-rtt-penalty":
            v = read_int(cur, opt)
            if not 0 < v <= 0xFFFF:
                raise Refused(f"max-rtt-penalty {v} is out of range 1–65535")
            opts[opt] = v
        elif opt == "key":
            key_id = cur.word("key id")
            if key_id not in self.keys:
                raise Refused(
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
                v, rest = c_strtol(w)
                if rest or not 1 <= v <= 255:
                    raise Refused(f"channel {w!r} must be 1–255, interfering or noninterfering")
                ch = v
            opts["channel"] = ch
            self.warn(
                n,
                "`channel` was removed in babeld 1.13: this line will not parse there",
                "delete the channel option",
            )
        else:
            raise Refused(f"unknown interface option {opt!r}")

    def merge(self, name: str | None, entries: list[tuple[int, dict[str, object]]]):
        opts: dict[str, object] = {}
        for _, o in entries:
            opts.update(o)
        return InterfaceConf(name, tuple(n for n, _ in entries), opts)

    # filters ---------------------------------------------------------------
    def filter_line(self, n: int, chain: Chain, cur: Cursor, raw: str) -> None:
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
                raise Refused(f"{what} mixes IPv4 and IPv6 in one filter")

        while not cur.at_end():
            tok = cur.word("filter keyword")
            if tok in ("ip", "src-ip"):
                net, hostbits = read_net(cur, tok)
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
            elif tok in ("eq", "le", "ge", "src-eq", "src-le", "src-ge"):
                p = read_int(cur, tok)
                base = tok.removeprefix("src-")
                ge, le = (src_ge, src_le) if tok.startswith("src-") else (plen_ge, plen_le)
                if base in ("eq", "ge"):
                    ge = uchar(max(ge, p))
                if base in ("eq", "le"):
                    le = uchar(min(le, p))
                if p < 0 or p > 128:
                    self.warn(
                        n,
                        f"{tok} {p}: babeld stores prefix lengths in a byte, so this "
                        f"becomes {uchar(p)}",
                    )
                if tok.startswith("src-"):
                    src_ge, src_le = ge, le
                else:
                    plen_ge, plen_le = ge, le
            elif tok == "neigh":
                neigh = read_ip(cur, "neigh")
            elif tok == "id":
                fid = read_eui64(cur, "id")
            elif tok == "proto":
                proto = read_int(cur, "proto")
            elif tok == "local":
                proto = PROTO_LOCAL
            elif tok == "if":
                ifname = cur.string("interface name")
            elif tok == "allow":
                add_metric = 0
            elif tok == "deny":
                add_metric = INFINITY
            elif tok == "metric":
                add_metric = read_nonzero_u16(cur, "metric")
            elif tok == "src-prefix":
                a_src, _ = read_net(cur, "src-prefix")
                set_af(a_src.version, "src-prefix")
            elif tok == "table":
                table = read_nonzero_u16(cur, "table")
            elif tok == "pref-src":
                pref_src = read_ip(cur, "pref-src")
                set_af(pref_src.version, "pref-src")
            else:
                raise Refused(f"unknown filter keyword {tok!r}")
            (actions if tok in _FILTER_ACTIONS else selectors).append(tok)
        if af == 0:
            if plen_le < 128 or plen_ge > 0 or src_le < 128 or src_ge > 0:
                af = 6
        elif af == 4:
            if plen_le < 128:
                plen_le = uchar(plen_le + 96)
            if plen_ge > 0:
                plen_ge = uchar(plen_ge + 96)
            if src_le < 128:
                src_le = uchar(src_le + 96)
            if src_ge > 0:
                src_ge = uchar(src_ge + 96)
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
    def key_line(self, n: int, cur: Cursor) -> None:
        if not self.has("key"):
            raise Refused(
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
                    raise Refused(
                        f"key type {t!r} isn't supported", "use hmac-sha256 or blake2s128"
                    )
                ktype = t
            elif tok == "value":
                v = cur.word("key value")
                if len(v) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", v):
                    raise Refused(
                        "the key value must be an even number of hex digits",
                        "write the key as hex, e.g. from `openssl rand -hex 32`",
                    )
                length = len(v) // 2
                seen_value = True
            else:
                raise Refused(f"unknown key keyword {tok!r}", "write `key id ID type T value HEX`")
        if key_id is None:
            raise Refused("no key id given", "write `key id ID type T value HEX`")
        if ktype == "hmac-sha256":
            if length > 64:
                raise Refused(f"hmac-sha256 key is {length} bytes; at most 64")
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
                raise Refused(f"blake2s128 key is {length} bytes; expected 1 to 32")
            if length < 16:
                self.warn(n, f"key {key_id!r} is only {length} bytes long", "use 32 random bytes")
        else:
            raise Refused("key type 'none' isn't supported", "add `type hmac-sha256`")
        if key_id in self.keys:
            self.warn(
                n,
                f"key {key_id!r} is defined again (line {self.keys[key_id].line}); "
                "this value replaces it",
            )
        self.keys[key_id] = KeyDef(n, key_id, ktype, length)

    # flush / globals -------------------------------------------------------
    def flush_line(self, n: int, cur: Cursor) -> None:
        what = cur.word("flush target")
        if what != "interface":
            raise Refused(f"cannot flush {what!r}", "only `flush interface NAME` exists")
        cur.word("interface name")
        if not cur.at_end():
            raise Refused("unexpected text after the interface name")
        self.warn(n, "`flush interface` is a run-time command; in a config file it does nothing")

    def global_line(self, n: int, name: str, cur: Cursor) -> None:
        if name in _LOCAL_ONLY:
            raise Refused(f"`{name}` is a control-socket request, not a config directive")
        if name == "first-rule-priority":
            raise Refused(
                "`first-rule-priority` was removed from babeld's parser (the man page still "
                "lists it)",
                "delete the line",
            )
        if name in _FEATURES and not self.has(name):
            raise self.unavailable(name, "delete the line or upgrade babeld")
        value: str | int | bool | None
        if name in _INT_GLOBALS:
            value = read_int(cur, name)
            if not 0 < value < 0xFFFF:
                raise Refused(f"{name} {value} is out of range 1–65534")
            if name == "allow-duplicates" and (1, 12, 0) <= self.v < (1, 12, 2):
                raise Refused(
                    "babeld 1.12.1 crashes at start-up with `allow-duplicates` (seen on the "
                    "real daemon; fixed in 1.12.2)",
                    "delete the line",
                )
        elif name in _BOOL_GLOBALS:
            value = read_bool(cur, name)
        elif name in _PATH_GLOBALS:
            value = cur.string(name)
            if value == "":
                self.warn(n, f"{name} is empty")
        elif name == "protocol-group":
            addr = read_ip(cur, name)
            value = str(addr)
            if not (isinstance(addr, IPv6Address) and addr.is_multicast):
                self.warn(n, f"protocol-group {addr} is not an IPv6 multicast group")
        elif name == "debug":
            value = read_int(cur, name)
            if value < 0:
                raise Refused("debug must be 0 or more")
        elif name == "smoothing-half-life":
            value = read_int(cur, name)
            if value < 0:
                raise Refused("smoothing-half-life must be 0 or more")
        elif name == "router-id":
            value = read_eui64(cur, name).hex(":")
        elif name == "diversity":
            # babeld < 1.13: a number (strtol) when it starts with a digit, else a boolean.
            cur.skip_ws()
            value = read_int(cur, name) if cur._ch().isdigit() else read_bool(cur, name)
        elif name == "diversity-factor":
            value = read_int(cur, name)
            if not 0 <= value <= 256:
                raise Refused(f"diversity-factor {value} is out of range 0–256")
        else:
            raise Refused(f"unknown directive {name!r}")
        if not cur.at_end():
            raise Refused(f"unexpected text after the value of {name}")
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
