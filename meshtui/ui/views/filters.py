"""The Filters view: per interface, the in and out chains and the live routes each rule decides.

For every interface of the node, the rules of babeld's ``in`` and ``out``
chains that can apply there (each with file:line), and for each rule how many
live routes it decides now: for ``in``, the routes the node learnt on that
interface; for ``out``, the destinations it would announce on it (its xroutes
and installed routes; on a split-horizon interface, not the routes learnt
there). The second table lists those decisions; the route under the cursor
shows the rule that decided it, and the rules table follows it. ``enter`` on a
rule shows only the decisions it makes.

The config is read, read-only, by the hub (the context's ``config``: where
from, loading, parsed, absent or failed), from where the node's access says:
an inventory node's ``config_path`` over SSH, or for a local or recorded
babeld the file given with ``--config FILE``; without either the view says so
and shows nothing. The view only draws it and asks for it (once, then again
on ``c``). The analysis is
:mod:`meshtui.core.decisions`'; verdicts are :mod:`meshtui.core.filters`' —
babeld's first-match semantics, checked against real babeld in
tests/test_filters_lab.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable, Static

from meshtui.core.babelconf import Chain, Filter, ParsedConfig
from meshtui.core.decisions import (
    CHAINS,
    Decision,
    FilterAnalysis,
    RuleRow,
    VerdictCache,
    analyse,
)
from meshtui.core.protocol import INFINITY
from meshtui.ui import format as fmt
from meshtui.ui.views.base import SORT_BINDINGS, NodeConfig, View, ViewContext
from meshtui.ui.widgets.filterbar import FilterBar
from meshtui.ui.widgets.table import CellSpec, Column, KeyedTable, RowSpec, SyncStats

__all__ = ["FiltersView"]


def _verdict_text(d: Decision) -> tuple[str, str]:
    """(text, style spec) of a decision's outcome."""
    if d.held_back:
        return "not sent (split horizon)", "lost"
    assert d.verdict is not None
    if d.verdict.action == "allow":
        return ("accepted" if d.chain is Chain.IN else "announced"), "route-selected"
    if d.verdict.action == "deny":
        return ("refused" if d.chain is Chain.IN else "not announced"), "unreachable"
    return f"metric +{d.verdict.metric}", "route-pending"


def _rule_text(rule: Filter | None, chain: Chain) -> str:
    if rule is not None:
        return rule.text
    return f"(no rule matches: babeld's default, {chain.value} allow)"


def _where(filename: str, rule: Filter | None) -> str:
    return f"{Path(filename).name}:{rule.line}" if rule is not None else "default"


# --------------------------------------------------------------------- the view


class FiltersView(View):
    """Per interface, the in/out chains with live match counts, and every decision.

    | Key | Action |
    | :- | :- |
    | enter | On a rule: show only the decisions it makes (again: all). |
    | c | Read the node's config again. |
    | o / O | Sort by the next column / reverse the order. |
    """

    view_id = "filters"
    title = "Filters"

    BINDINGS = [
        Binding("c", "reload_config", "Reload config", id="filters.reload"),
        *SORT_BINDINGS,
    ]

    DEFAULT_CSS = """
    FiltersView #fl-rules {
        height: auto;
        max-height: 45%;
    }
    FiltersView #fl-decisions {
        height: 1fr;
    }
    FiltersView .note {
        padding: 0 1;
        height: auto;
        color: $text-muted;
    }
    FiltersView #fl-why {
        padding: 0 1;
        height: auto;
        min-height: 2;
        background: $panel;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.configs: dict[str, NodeConfig] = {}
        """The configs the hub handed this view, by node (the hub fills them in)."""
        self._verdicts: dict[str, tuple[ParsedConfig, frozenset[str], VerdictCache]] = {}
        self._read_at: dict[str, float] = {}
        self.analysis: FilterAnalysis | None = None
        self.focus_rule: str | None = None
        self._node: str | None = None

    def compose(self) -> ComposeResult:
        """Title, rules, decisions, the decision under the cursor."""
        yield Static("Filters", classes="section", id="fl-title")
        yield Static("", classes="note", id="fl-note")
        yield KeyedTable(
            [
                Column("if", "interface"),
                Column("chain", "chain", 5),
                Column("where", "file:line"),
                Column("rule", "rule"),
                Column("action", "action", 8),
                Column("matches", "live routes", 11),
            ],
            self.style,
            sort="if",
            id="fl-rules",
        )
        yield Static("Decisions", classes="section", id="fl-decisions-title")
        yield KeyedTable(
            [
                Column("chain", "chain", 5),
                Column("if", "interface"),
                Column("prefix", "destination"),
                Column("peer", "neighbour / origin"),
                Column("verdict", "verdict"),
                Column("where", "decided by"),
            ],
            self.style,
            sort="chain",
            id="fl-decisions",
        )
        yield Static("", id="fl-why")
        yield FilterBar(id="fl-filter")

    def main_widget(self) -> Widget | None:
        """The decisions table (moving through it shows the deciding rule)."""
        return self.query_one("#fl-decisions", KeyedTable)

    def reset(self) -> None:
        """Another node is shown: forget the rows and the rule focus (configs are kept)."""
        super().reset()
        self.focus_rule = None
        self.analysis = None

    # ------------------------------------------------------------ the config

    def _config_for(self, ctx: ViewContext) -> NodeConfig | None:
        """The node's config from the context; the first time, ask the hub to read it."""
        config = ctx.config
        if config is None:
            self.configs.pop(ctx.node, None)
            return None
        self.configs[ctx.node] = config
        if not config.requested:
            self._ask(ctx.node, config)
        return config

    def _ask(self, node: str, config: NodeConfig) -> None:
        def read() -> None:  # the hub's read ended (read, absent or failed)
            self._read_at[node] = time.time()
            self.redraw()

        config.read(then=read)

    def action_reload_config(self) -> None:
        """Read the shown node's config again (read-only)."""
        node = self._node
        config = self.configs.get(node) if node is not None else None
        if node is not None and config is not None:
            self._ask(node, config)
            self.redraw()

    def _verdict_cache(
        self, node: str, parsed: ParsedConfig, names: frozenset[str]
    ) -> VerdictCache:
        """Verdicts made for this config with these interfaces (``if NAME`` depends on them)."""
        kept = self._verdicts.get(node)
        if kept is None or kept[0] is not parsed or kept[1] != names:
            kept = self._verdicts[node] = (parsed, names, {})
        return kept[2]

    # ------------------------------------------------------------ refresh

    def refresh_view(self, ctx: ViewContext) -> SyncStats:
        """Analyse the node's routes against its config and sync both tables."""
        self.begin(ctx)
        self._node = ctx.node
        state = self._config_for(ctx)
        rules = self.query_one("#fl-rules", KeyedTable)
        decisions = self.query_one("#fl-decisions", KeyedTable)
        parsed = state.parsed if state is not None and not state.loading else None
        if state is None or parsed is None:
            self.analysis = None
            stats = rules.sync(())
            decisions.sync(())
            self._show_missing(ctx, state)
            return stats
        names = frozenset(ctx.model.interfaces) | frozenset(parsed.interfaces)
        verdicts = self._verdict_cache(ctx.node, parsed, names)
        analysis = self.analysis = analyse(parsed, ctx.model, names, verdicts)
        stats = rules.sync(self._rule_rows(analysis, parsed))
        shown = decisions.sync(self._decision_rows(analysis, parsed))
        stats.added += shown.added
        stats.removed += shown.removed
        stats.updated_cells += shown.updated_cells
        self._titles(ctx, state, parsed, analysis)
        self._show_why()
        return stats

    def _show_missing(self, ctx: ViewContext, state: NodeConfig | None) -> None:
        title = self.query_one("#fl-title", Static)
        note = self.query_one("#fl-note", Static)
        why = self.query_one("#fl-why", Static)
        if state is None:
            title.update(fmt.plain(f"Filters — {ctx.node}: no config to show"))
            note.update(
                "Not shown: meshtui reads a node's babeld.conf over SSH for inventory nodes, "
                "and for a local babeld or a recording from `--config FILE`."
            )
        elif state.loading or not state.requested:
            title.update(fmt.plain(f"Filters — {ctx.node}: reading {state.label} …"))
            note.update("")
        elif state.absent:
            title.update(fmt.plain(f"Filters — {ctx.node}: {state.label} does not exist"))
            note.update("babeld runs with its defaults there: in and out allow everything.")
        else:
            title.update(fmt.plain(f"Filters — {ctx.node}: cannot read {state.label}"))
            note.update(fmt.plain(f"{state.error}  (c reads it again)"))
        why.update("")

    def _titles(
        self, ctx: ViewContext, state: NodeConfig, parsed: ParsedConfig, analysis: FilterAnalysis
    ) -> None:
        n_in = len(parsed.filters[Chain.IN])
        n_out = len(parsed.filters[Chain.OUT])
        title = (
            f"Filters — {ctx.node}: {state.label} (babeld {parsed.version}) · "
            f"{n_in} in + {n_out} out rules on {len(analysis.interfaces)} interfaces"
        )
        self.query_one("#fl-title", Static).update(fmt.plain(title))
        notes = []
        if parsed.errors:
            first = parsed.errors[0]
            notes.append(
                f"babeld would refuse this file ({len(parsed.errors)} error(s)); first: "
                f"{first.format()}"
            )
        read_at = self._read_at.get(ctx.node)
        if read_at:
            notes.append(f"read {fmt.clock_time(read_at)} (c reads it again)")
        self.query_one("#fl-note", Static).update(fmt.plain("  ·  ".join(notes)))
        learnt = sum(1 for d in analysis.decisions if d.chain is Chain.IN)
        announced = sum(
            1
            for d in analysis.decisions
            if d.chain is Chain.OUT and d.verdict and d.verdict.allowed
        )
        heading = f"Decisions: {learnt} routes learnt (in), {announced} announcements (out)"
        if self.focus_rule is not None:
            heading += f"  · only {self.focus_rule.replace('|', ' ')} (enter: all)"
        if self.filter.active:
            heading += f"  · filter: {self.filter.text}"
        self.query_one("#fl-decisions-title", Static).update(fmt.plain(heading))

    # ------------------------------------------------------------ rows

    def _rule_rows(self, analysis: FilterAnalysis, parsed: ParsedConfig) -> Iterator[RowSpec]:
        flt = self.filter
        order = {name: i for i, name in enumerate(analysis.interfaces)}
        for row in analysis.rules:
            rule = row.rule
            text = _rule_text(rule, row.chain)
            where = _where(parsed.filename, rule)
            action = rule.action.kind if rule is not None else "allow"
            if flt.active:
                hay = f"{row.interface} {row.chain.value} {where} {text} {action}".lower()
                if not flt.matches(hay):
                    continue
            sort = (order.get(row.interface, 0), CHAINS.index(row.chain),
                    rule.index if rule is not None else 1 << 30)  # fmt: skip
            sig = (row.matches, text, where, action)

            def build(
                row: RuleRow = row, text: str = text, where: str = where, action: str = action,
                sort: tuple[int, int, int] = sort,
            ) -> tuple[CellSpec, ...]:  # fmt: skip
                return self._rule_cells(row, text, where, action, sort)

            yield row.key, sig, build

    @staticmethod
    def _rule_cells(
        row: RuleRow, text: str, where: str, action: str, sort: tuple[int, int, int]
    ) -> tuple[CellSpec, ...]:
        style = {"allow": "route-selected", "deny": "unreachable"}.get(action, "route-pending")
        base = "" if row.rule is not None else "lost"
        count_style = "bold" if row.matches else "lost"
        return (
            (row.interface, base, sort),
            (row.chain.value, base, (CHAINS.index(row.chain), sort)),
            (where, base, sort),
            (text, base, (text, sort)),
            (action, style, (action, sort)),
            (str(row.matches), count_style, (row.matches, sort)),
        )

    def _decision_rows(self, analysis: FilterAnalysis, parsed: ParsedConfig) -> Iterator[RowSpec]:
        flt = self.filter
        for d in analysis.decisions:
            if self.focus_rule is not None and d.rule_key != self.focus_rule:
                continue
            rule = d.verdict.rule if d.verdict is not None else None
            where = "split horizon" if d.held_back else _where(parsed.filename, rule)
            verdict, _ = _verdict_text(d)
            peer = d.peer if d.chain is Chain.IN else d.origin
            if flt.active:
                hay = (
                    f"{d.chain.value} {d.interface} {d.prefix} {d.src} {peer} {d.router_id} "
                    f"{verdict} {where} {rule.text if rule else ''}"
                ).lower()
                if not flt.matches(hay):
                    continue
            sig = (verdict, where, d.metric >= INFINITY, peer)

            def build(
                d: Decision = d, where: str = where, peer: str = peer
            ) -> tuple[CellSpec, ...]:
                return self._decision_cells(d, where, peer)

            yield d.key, sig, build

    @staticmethod
    def _decision_cells(d: Decision, where: str, peer: str) -> tuple[CellSpec, ...]:
        verdict, style = _verdict_text(d)
        base = "route-lost" if d.metric >= INFINITY else ""
        src = "" if d.src in ("::/0", "0.0.0.0/0") else f" from {d.src}"
        return (
            (d.chain.value, base, (CHAINS.index(d.chain), d.interface, d.prefix)),
            (d.interface, base, (d.interface, d.chain.value, d.prefix)),
            (fmt.prefix(d.prefix) + src, base, (d.prefix, d.src)),
            (peer, base, peer),
            (verdict, style, verdict),
            (where, base, where),
        )

    # ------------------------------------------------------------ the decision under the cursor

    def decision_under_cursor(self) -> Decision | None:
        """The decision the cursor is on in the decisions table."""
        if self.analysis is None:
            return None
        key = self.query_one("#fl-decisions", KeyedTable).cursor_key
        if key is None:
            return None
        return next((d for d in self.analysis.decisions if d.key == key), None)

    def explain(self, d: Decision) -> str:
        """One paragraph: which rule decided this route, and what it did."""
        state = self.configs.get(self._node or "")
        filename = state.parsed.filename if state and state.parsed else "babeld.conf"
        what = f"{fmt.prefix(d.prefix)}" + (
            "" if d.src in ("::/0", "0.0.0.0/0") else f" from {d.src}"
        )
        if d.chain is Chain.IN:
            head = f"in on {d.interface}: {what} learnt from {d.peer} (router-id {d.router_id})"
        else:
            origin = "its own address (xroute)" if d.origin == "xroute" else "its installed route"
            head = f"out on {d.interface}: {what}, {origin}"
        if d.held_back:
            return (
                f"{head}\nnot sent: split horizon on {d.interface} (a wired interface) keeps "
                "routes learnt there off it; no filter is asked"
            )
        assert d.verdict is not None
        verdict, _ = _verdict_text(d)
        if d.verdict.rule is not None:
            rule = d.verdict.rule
            return (
                f"{head}\n{verdict}: decided by {filename}:{rule.line}  `{rule.text}` "
                f"(rule {rule.index + 1} of the {d.chain.value} chain; first match wins)"
            )
        return f"{head}\n{verdict}: no rule matches; babeld's default for {d.chain.value} is allow"

    def _show_why(self) -> None:
        why = self.query_one("#fl-why", Static)
        d = self.decision_under_cursor()
        if d is None:
            why.update("Move through the decisions to see the rule that decided each.")
            return
        why.update(fmt.plain(self.explain(d)))
        key = d.rule_key
        rules = self.query_one("#fl-rules", KeyedTable)
        if key is not None and rules.cursor_key != key:
            try:
                index = rules.get_row_index(key)
            except Exception:  # noqa: BLE001 - the row is filtered out
                return
            rules.move_cursor(row=index, animate=False, scroll=True)

    @on(DataTable.RowHighlighted, "#fl-decisions")
    def _decision_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_why()

    @on(DataTable.RowSelected, "#fl-rules")
    def _rule_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = event.row_key.value
        self.focus_rule = None if key is None or key == self.focus_rule else key
        self.redraw()

    def back(self) -> bool:
        """`esc`: drop the rule focus first, then the text filter."""
        if self.focus_rule is not None:
            self.focus_rule = None
            self.redraw()
            return True
        return super().back()
