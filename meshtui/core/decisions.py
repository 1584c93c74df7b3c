"""Every in/out decision a node's filters make now, and where its config comes from (pure).

:func:`analyse` walks a node's live model against its parsed babeld.conf: for
``in``, each route the node learnt; for ``out``, each destination it would
announce on each interface (split horizon first). Verdicts are
:mod:`meshtui.core.filters`' — babeld's first-match semantics. A
:class:`ConfigSource` is where a node's config is read from (read-only): the
implementations (a local file, a node's ``config_path`` over SSH) live in
:mod:`meshtui.transport.config_read`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from meshtui.core.babelconf import DEFAULT_VERSION, Chain, Filter, ParsedConfig, parse_version
from meshtui.core.filters import FilterSet, FilterVerdict
from meshtui.core.model import NodeModel

CHAINS = (Chain.IN, Chain.OUT)
CACHE_LIMIT = 100_000
"""Cached verdicts kept per config before the cache starts over (routes come and go)."""
DEFAULT_RULE = "default"


@dataclass(frozen=True)
class LoadedConfig:
    """A node's babeld.conf as loaded for display; ``text`` None when there is no such file."""

    label: str  # where it came from, for the screen: "ssh root@host:/etc/babeld.conf"
    filename: str  # for file:line references
    text: str | None = field(repr=False)


class ConfigSource(Protocol):
    """Where a node's config can be read from (read-only)."""

    @property
    def label(self) -> str: ...

    async def load(self) -> LoadedConfig: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """What a chain decides for one route on one interface.

    For ``in``: a route the node learnt (``peer`` is the neighbour). For ``out``:
    a destination the node has to announce (``origin`` says whether it is its own
    xroute or its installed route); ``held_back`` when split horizon keeps it
    off the interface before any filter is asked (``verdict`` is then None).
    """

    chain: Chain
    interface: str
    prefix: str
    src: str
    peer: str
    router_id: str
    origin: str  # learnt | xroute | route
    metric: int
    verdict: FilterVerdict | None
    held_back: bool = False

    @property
    def key(self) -> str:
        """The row key: chain, interface, destination and neighbour."""
        return f"{self.chain.value}|{self.interface}|{self.prefix}|{self.src}|{self.peer}"

    @property
    def rule_key(self) -> str | None:
        """The key of the rule row that decided it (None when split horizon did)."""
        if self.verdict is None:
            return None
        index = self.verdict.rule_index
        return rule_key(self.interface, self.chain, index)


def rule_key(interface: str, chain: Chain, index: int | None) -> str:
    """The row key of a rule on an interface (``index`` None: no rule matched)."""
    return f"{interface}|{chain.value}|{DEFAULT_RULE if index is None else index}"


@dataclass(frozen=True, slots=True)
class RuleRow:
    """A rule that can apply on an interface (``rule`` None: babeld's default), and its count."""

    interface: str
    chain: Chain
    rule: Filter | None
    matches: int

    @property
    def key(self) -> str:
        return rule_key(self.interface, self.chain, self.rule.index if self.rule else None)


@dataclass
class FilterAnalysis:
    """The rules per interface and every live decision, for one config and one model."""

    interfaces: list[str]
    rules: list[RuleRow]
    decisions: list[Decision]
    counts: dict[str, int] = field(default_factory=dict)


def _applies(rule: Filter, interface: str) -> bool:
    return rule.ifname is None or rule.ifname == interface


def _split_horizon(config: ParsedConfig, interface: str) -> bool:
    """babeld: split horizon when configured, else on ``type wired`` interfaces only."""
    conf = config.effective_interface(interface)
    configured = conf.get("split-horizon")
    if configured is not None:
        return bool(configured)
    return conf.get("type") == "wired"


VerdictCache = dict[tuple[str, str, str, str, str, str], FilterVerdict]
"""Verdicts already computed for one config and one set of interfaces, by route identity."""


def analyse(
    config: ParsedConfig,
    model: NodeModel,
    interfaces: Iterable[str] | None = None,
    cache: VerdictCache | None = None,
) -> FilterAnalysis:
    """Every in/out decision babeld makes now on the node, and the rules that make them.

    Args:
        config: the node's parsed babeld.conf.
        model: the node's live model.
        interfaces: interfaces that exist on the node (default: babeld's and the config's).
        cache: verdicts kept between calls for the same config and interfaces (a verdict
            depends only on the route's prefix, source, interface, neighbour and router-id).
    """
    names = sorted(set(model.interfaces) | set(config.interfaces))
    fs = FilterSet(config, names if interfaces is None else interfaces)
    known: VerdictCache = {} if cache is None else cache

    if len(known) > CACHE_LIMIT:
        known.clear()

    def verdict_of(
        chain: Chain, prefix: str, src: str, interface: str, via: str, rid: str
    ) -> FilterVerdict:
        key = (chain.value, prefix, src, interface, via, rid)
        found = known.get(key)
        if found is None:
            neighbour = via or None
            found = known[key] = fs.evaluate(chain, prefix, src, interface, neighbour, rid or None)
        return found

    decisions: list[Decision] = []
    for r in model.routes.values():
        verdict = verdict_of(Chain.IN, r.prefix, r.src, r.interface, r.via, r.router_id)
        decisions.append(
            Decision(Chain.IN, r.interface, r.prefix, r.src, r.via, r.router_id, "learnt",
                     r.metric, verdict)
        )  # fmt: skip
    my_id = model.node.my_id
    xroutes = {(x.prefix, x.src): x for x in model.xroutes.values()}
    installed = {(r.prefix, r.src): r for r in model.routes.values() if r.installed}
    for interface in sorted(model.interfaces):
        horizon = _split_horizon(config, interface)
        for dest in sorted(set(xroutes) | set(installed)):
            x = xroutes.get(dest)
            best = installed.get(dest)
            if x is not None:  # babeld announces its own xroute before any route
                origin, rid, metric = "xroute", my_id, x.metric
            elif best is not None:
                origin, rid, metric = "route", best.router_id, best.metric
            else:
                continue
            held_back = bool(
                x is None and best is not None and horizon and best.interface == interface
            )
            out: FilterVerdict | None = None
            if not held_back:
                out = verdict_of(Chain.OUT, dest[0], dest[1], interface, "", rid)
            decisions.append(
                Decision(Chain.OUT, interface, dest[0], dest[1], "", rid, origin, metric, out,
                         held_back)
            )  # fmt: skip
    counts: dict[str, int] = {}
    for d in decisions:
        key = d.rule_key
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
    rules: list[RuleRow] = []
    for interface in names:
        for chain in CHAINS:
            closed = False
            for rule in config.filters[chain]:
                if _applies(rule, interface):
                    key = rule_key(interface, chain, rule.index)
                    rules.append(RuleRow(interface, chain, rule, counts.get(key, 0)))
                    closed = closed or rule.is_catch_all
            if not closed:  # babeld's default decides what no rule matches
                default = rule_key(interface, chain, None)
                rules.append(RuleRow(interface, chain, None, counts.get(default, 0)))
    return FilterAnalysis(names, rules, decisions, counts)


def babeld_version_of(model: NodeModel, fallback: str = DEFAULT_VERSION) -> str:
    """The babeld version the node runs ("1.12"), from its greeting; ``fallback`` if unknown."""
    try:
        major, minor, _ = parse_version(model.node.version)
    except ValueError:
        return fallback
    return f"{major}.{minor}"
