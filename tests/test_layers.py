"""Architecture rules that must hold: the core is pure, only the UI hub reaches transports."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import meshtui.core

ROOT = Path(__file__).resolve().parents[1] / "meshtui"
# Modules of meshtui's own that every layer may import, the core included: they
# import nothing of meshtui's (meshtui.paths: the XDG directories, write_atomic).
ANY_LAYER = ("paths",)


def test_core_imports_no_ui_and_no_io() -> None:
    modules = [f"meshtui.core.{m.name}" for m in pkgutil.iter_modules(meshtui.core.__path__)]
    assert "meshtui.core.model" in modules
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'rich', 'asyncssh', 'pyroute2', 'asyncio', 'subprocess', 'socket')"
        f" or m.startswith('meshtui.') and m.split('.')[1] not in ('core', *{ANY_LAYER!r}))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the core pulled in: {out.stdout.strip()}"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_widgets_do_not_import_transports() -> None:
    widgets = ROOT / "ui" / "widgets"
    for path in widgets.rglob("*.py") if widgets.exists() else []:
        bad = {n for n in _imports(path) if n.startswith(("meshtui.transport", "meshtui.ops"))}
        assert not bad, f"{path.name} imports {bad}"


def test_modules_every_layer_may_use_import_nothing_of_ours() -> None:
    for name in ANY_LAYER:
        ours = {n for n in _imports(ROOT / f"{name}.py") if n.split(".")[0] == "meshtui"}
        assert not ours, f"meshtui.{name} imports {ours}: the layers could not all use it"


def _absolute_imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative ones resolved (TYPE_CHECKING and local too)."""
    package = ["meshtui", *path.relative_to(ROOT).parent.parts]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    return names


def test_only_the_hub_imports_transport_and_ops() -> None:
    """ui/hub.py is the UI's one way to nodes (the import-linter contract says it too)."""
    ui = ROOT / "ui"
    hub = ui / "hub.py"
    forbidden = ("meshtui.transport", "meshtui.ops", "asyncssh", "pyroute2")

    def reaches(name: str) -> bool:
        return any(name == f or name.startswith(f + ".") for f in forbidden)

    modules = sorted(p for p in ui.rglob("*.py") if p != hub)
    assert ui / "app.py" in modules and ui / "views" / "filters.py" in modules
    for path in modules:
        bad = sorted(n for n in _absolute_imports(path) if reaches(n))
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}: go through meshtui.ui.hub"
    assert any(reaches(n) for n in _absolute_imports(hub))  # the gateway is where it is said
