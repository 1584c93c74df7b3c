"""The mesh matrix and its checks, on models built from babeld lines (see test_names)."""

from __future__ import annotations

from test_names import Mesh, healthy, inventory, names_for

from meshtui.core.facts import KernelRoute, NodeFacts
from meshtui.core.meshcheck import (
    CellState,
    CheckKind,
    Severity,
    build_matrix,
    changed_cells,
    check_mesh,
    format_findings,
    format_matrix,
    mesh_report,
)
from meshtui.core.names import Names

SRV_B1 = "fd42:1::b1/128"
SRV_A1 = "fd42:1::a1/128"
EDGE_B = "fd42:1::e2/128"


def kernel_from(mesh: Mesh, node: str) -> NodeFacts:
    """Kernel facts agreeing with babeld: one proto babel route per installed route."""
    model = mesh.model(node)
    routes = [
        KernelRoute(prefix=r.prefix, gateway=r.via, dev=r.interface, protocol="babel", metric=1024)
        for r in model.routes.values()
        if r.installed
    ]
    return NodeFacts(node=node, time=0.0, routes=routes)


def test_matrix_traces_servers_through_their_edge_to_the_relay() -> None:
    names, models = names_for(healthy())
    matrix = build_matrix(models, names)
    assert matrix.sources[:2] == ("relay-1", "relay-2")
    assert [n for n, _ in matrix.destinations] == list(names.nodes)
    cell = matrix.cell("srv-a1", SRV_B1)
    assert cell is not None and cell.state is CellState.OK
    assert cell.hop is not None and cell.hop.node == "edge-a"
    assert cell.path == ("srv-a1", "edge-a", "relay-1", "edge-b", "srv-b1") and cell.complete
    assert cell.relay == "relay-1"
    assert cell.alternatives == ("relay-1", "relay-2") and not cell.single_relay
    assert cell.metric == 384 and cell.label == "relay-1 384"
    edge = matrix.cell("edge-a", SRV_B1)
    assert edge is not None and [str(h) for h in edge.standby] == ["relay-2 (wg-r2)"]
    assert matrix.cell("srv-b1", SRV_B1).state is CellState.SELF  # type: ignore[union-attr]
    # A path to the relay itself crosses no relay: the first hop is shown.
    to_relay = matrix.cell("srv-a1", "fd42:1::f1/128")
    assert to_relay is not None and to_relay.relay is None and to_relay.label == "edge-a 192"


def test_healthy_mesh_has_only_the_idle_standby_relay() -> None:
    mesh = healthy()
    names, models = names_for(mesh)
    facts = {n: kernel_from(mesh, n) for n in models}
    report = mesh_report(models, names, facts)
    kinds = [(f.kind, f.severity, f.node) for f in report.findings]
    assert kinds == [(CheckKind.IDLE_RELAY, Severity.INFO, "relay-2")]
    assert "standby for" in report.findings[0].message


def test_unreachable_destination_is_named() -> None:
    mesh = healthy()
    mesh.routes["srv-a1"] = [line for line in mesh.routes["srv-a1"] if SRV_B1 not in line]
    names, models = names_for(mesh)
    findings = check_mesh(models, names)
    unreachable = [f for f in findings if f.kind is CheckKind.UNREACHABLE]
    assert [(f.node, f.dest) for f in unreachable] == [("srv-a1", "srv-b1")]
    assert unreachable[0].severity is Severity.ERROR
    assert "srv-a1 cannot reach srv-b1" in unreachable[0].message
    assert findings[0].severity is Severity.ERROR  # most severe first


def test_standby_only_destination_is_pending_not_unreachable() -> None:
    mesh = healthy()
    mesh.routes["edge-a"] = [
        line.replace("installed yes", "installed no") if SRV_B1 in line else line
        for line in mesh.routes["edge-a"]
    ]
    names, models = names_for(mesh)
    cell = build_matrix(models, names).cell("edge-a", SRV_B1)
    assert cell is not None and cell.state is CellState.PENDING and cell.label == "~"


def test_destination_depending_on_a_single_relay() -> None:
    mesh = healthy()
    # edge-a lost its standby through relay-2 towards site b.
    mesh.routes["edge-a"] = [
        line
        for line in mesh.routes["edge-a"]
        if not ("installed no" in line and (SRV_B1 in line or EDGE_B in line))
    ]
    names, models = names_for(mesh)
    report = mesh_report(models, names)
    single = report.of(CheckKind.SINGLE_RELAY)
    assert {f.dest for f in single} == {"srv-b1", "edge-b"}
    srv = next(f for f in single if f.dest == "srv-b1")
    assert srv.relay == "relay-1" and set(srv.nodes) == {"edge-a", "srv-a1"}
    assert "srv-b1 depends on relay-1 alone from" in srv.message
    cell = report.matrix.cell("srv-a1", SRV_B1)
    assert cell is not None and cell.single_relay and cell.alternatives == ("relay-1",)


def test_installed_route_missing_from_the_kernel() -> None:
    mesh = healthy()
    names, models = names_for(mesh)
    facts = {n: kernel_from(mesh, n) for n in models}
    edge = facts["edge-a"]
    kept = [r for r in edge.routes or [] if r.prefix != SRV_B1]
    kept.append(KernelRoute(prefix=SRV_B1, type="unreachable", dev="lo", protocol="babel"))
    facts["edge-a"] = NodeFacts(node="edge-a", time=0.0, routes=kept)
    facts["edge-b"] = NodeFacts(
        node="edge-b",
        time=0.0,
        routes=[r for r in facts["edge-b"].routes or [] if r.prefix != SRV_A1],
    )
    findings = [f for f in check_mesh(models, names, facts) if f.kind is CheckKind.NOT_IN_KERNEL]
    assert [(f.node, f.dest) for f in findings] == [("edge-a", "srv-b1"), ("edge-b", "srv-a1")]
    assert "via relay-1 (wg-r1)" in findings[0].message
    assert "the kernel has unreachable" in findings[0].message
    assert "the kernel has no route for it" in findings[1].message
    # Without kernel routes (not gathered, or not available) nothing is claimed.
    facts["edge-a"] = NodeFacts(node="edge-a", time=0.0, unavailable={"routes": "not available"})
    assert [
        f.node for f in check_mesh(models, names, facts) if f.kind is CheckKind.NOT_IN_KERNEL
    ] == ["edge-b"]


def test_route_switched_while_the_kernel_was_read_is_not_judged() -> None:
    mesh = healthy()
    names, models = names_for(mesh)  # models loaded at t=100
    facts = {"edge-a": NodeFacts(node="edge-a", time=100.5, routes=[])}
    assert not [f for f in check_mesh(models, names, facts) if f.kind is CheckKind.NOT_IN_KERNEL]
    facts["edge-a"].time = 103.0
    assert [f for f in check_mesh(models, names, facts) if f.kind is CheckKind.NOT_IN_KERNEL]


def test_node_without_data_shows_unknown_cells_and_a_finding() -> None:
    names, models = names_for(healthy())
    models_down: dict = dict(models)
    models_down["relay-2"] = None
    errors = {"relay-2": "relay-2: refusing to connect: host key"}
    report = mesh_report(models_down, names, errors=errors)
    down = report.of(CheckKind.NODE_DOWN)
    assert [f.message for f in down] == ["relay-2: refusing to connect: host key"]
    assert all(
        c.state is CellState.UNKNOWN for c in report.matrix.row("relay-2") if c.dest != "relay-2"
    )
    # The other nodes' cells still trace: edge-a reaches srv-b1 through relay-1.
    assert report.matrix.cell("edge-a", SRV_B1).relay == "relay-1"  # type: ignore[union-attr]


def test_no_claim_about_relays_that_were_not_read() -> None:
    names, models = names_for(healthy())
    nothing_read: dict = dict.fromkeys(models)
    assert not mesh_report(nothing_read, names).of(CheckKind.IDLE_RELAY)
    relay_unread: dict = dict(models, **{"relay-2": None})
    assert not mesh_report(relay_unread, names).of(CheckKind.IDLE_RELAY)
    # Every node read: relay-2's idleness is a fact again.
    assert mesh_report(models, names).of(CheckKind.IDLE_RELAY)


def test_relay_that_is_not_even_a_standby_is_a_warning() -> None:
    mesh = healthy()
    for edge in ("edge-a", "edge-b"):
        mesh.routes[edge] = [line for line in mesh.routes[edge] if "installed no" not in line]
    names, models = names_for(mesh)
    idle = mesh_report(models, names).of(CheckKind.IDLE_RELAY)
    assert [(f.relay, f.severity) for f in idle] == [("relay-2", Severity.WARNING)]


def test_changed_cells_after_a_failover() -> None:
    before_mesh = healthy()
    names, models = names_for(before_mesh)
    before = build_matrix(models, names)
    after_mesh = healthy()
    for edge, dests in (("edge-a", (SRV_B1, EDGE_B)),):
        after_mesh.routes[edge] = [
            line.replace("installed yes", "installed no")
            if any(d in line for d in dests) and "wg-r1" in line
            else line.replace("installed no", "installed yes")
            if any(d in line for d in dests)
            else line
            for line in after_mesh.routes[edge]
        ]
    models_after = after_mesh.models()
    after = build_matrix(models_after, Names.build(inventory(), models_after))
    changed = changed_cells(before, after)
    assert ("edge-a", SRV_B1) in changed and ("srv-a1", SRV_B1) in changed
    assert after.cell("srv-a1", SRV_B1).relay == "relay-2"  # type: ignore[union-attr]
    assert ("edge-b", SRV_A1) not in changed
    assert changed_cells(None, after) == set(after.cells)


def test_loop_or_unknown_hop_stops_the_trace() -> None:
    mesh = healthy()
    # relay-1 sends srv-b1 back to edge-a: a loop the trace must stop at.
    mesh.routes["relay-1"] = [
        line.replace("via fe80::e2 if wg-b", "via fe80::e1 if wg-a") if SRV_B1 in line else line
        for line in mesh.routes["relay-1"]
    ]
    names, models = names_for(mesh)
    cell = build_matrix(models, names).cell("edge-a", SRV_B1)
    assert cell is not None and cell.path == ("edge-a", "relay-1") and not cell.complete
    assert cell.relay == "relay-1"


def test_text_forms() -> None:
    names, models = names_for(healthy())
    report = mesh_report(models, names)
    table = format_matrix(report.matrix)
    assert table.splitlines()[0].split()[:3] == ["from", "\\", "to"]
    assert "relay-1 384" in table
    assert format_findings(report.findings).startswith("info")
    assert format_findings([]) == "no findings"
    assert report.to_json()["findings"][0]["kind"] == "idle_relay"


# ------------------------------------------------------------------ the Mesh view


async def test_mesh_view_draws_the_matrix_lights_changes_and_lists_findings() -> None:
    from textual.app import App, ComposeResult

    from meshtui.ui.views.mesh import MeshInput, MeshView
    from meshtui.ui.widgets.table import KeyedTable

    mesh = healthy()
    names, models = names_for(mesh)
    state = {"input": MeshInput(models, names), "now": 100.0}
    selected: list[str] = []

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield MeshView(lambda: state["input"])

        def on_mesh_view_node_selected(self, message: MeshView.NodeSelected) -> None:
            selected.append(message.node)

    app = Host()
    async with app.run_test(size=(160, 40)) as pilot:
        view = app.query_one(MeshView)
        view.show(state["input"], 100.0)
        await pilot.pause()
        await pilot.pause()  # the matrix table is mounted with the destinations as columns
        matrix = view.matrix_table
        assert matrix is not None and matrix.is_mounted
        rows = {r[0]: r for r in matrix.plain_rows()}
        assert set(rows) == set(names.nodes)
        column = [n for n, _ in view.report.matrix.destinations].index("srv-b1") + 1  # type: ignore[union-attr]
        assert rows["srv-a1"][column] == "relay-1 384"
        findings = view.query_one("#mesh-findings", KeyedTable).plain_rows()
        assert findings == [
            ["info", "idle relay", "relay relay-2 carries no path; it is the standby for 8 path(s)"]
        ]
        assert not view.lit()

        # relay-2 goes down (no data): its row shows '?', the cell that changed lights up.
        down = dict(models)
        down["relay-2"] = None
        view.show(MeshInput(down, names, errors={"relay-2": "SSH connection lost"}), 101.0)
        await pilot.pause()
        rows = {r[0]: r for r in matrix.plain_rows()}
        assert rows["relay-2"][1] == "?"
        assert ("relay-2", "fd42:1::f1/128") in view.lit()
        spec = matrix.specs("relay-2")
        assert spec is not None and spec[1][1] == "changed bold" and spec[0][1] == "node-down bold"
        kinds = [r[1] for r in view.query_one("#mesh-findings", KeyedTable).plain_rows()]
        assert "node down" in kinds
        # Lit cells go dark after a while.
        view.show(MeshInput(down, names), 120.0)
        assert not view.lit()
        spec = matrix.specs("relay-2")
        assert spec is not None and spec[1][1] == "node-down dim"

        # Enter on a row selects that node.
        matrix.focus()
        matrix.move_cursor(row=matrix.get_row_index("edge-b"))
        await pilot.press("enter")
        await pilot.pause()
        assert selected == ["edge-b"]
