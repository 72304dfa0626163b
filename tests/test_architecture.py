"""docs/architecture.md carries tables generated from the code (the action registry, the state
machines); they must be what `manage.py docs_tables` prints today."""
from __future__ import annotations

import re
from pathlib import Path

from apps.installs.management.commands.docs_tables import tables

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"


def test_generated_tables_in_the_architecture_page_match_the_code():
    text = PAGE.read_text()
    on_page = dict(re.findall(r"<!-- generated: ([^>]+) -->\n(.*?)\n<!-- end generated -->", text, re.S))
    generated = tables()
    assert set(on_page) == set(generated)
    for name, table in generated.items():
        assert on_page[name].strip() == table.strip(), f"docs/architecture.md '{name}' is stale: run manage.py docs_tables --write docs/architecture.md"


# ---------------------------------------------------------------------------------------------- structure

MAX_MODULE_LINES = 600


def _app_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "apps" and len(parts) > 1:
        return parts[1]
    return "project" if parts[0] == "project" else None


def import_graph() -> dict[str, dict[str, list[str]]]:
    """app → imported app → where (file:line), from every import statement in apps/ and project/
    (module level or inside a function: a lazy import is still a dependency) and every
    apps.get_model("<app>", …) call. Migrations are history, not code, and are left out."""
    import ast

    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted([*ROOT.glob("apps/**/*.py"), *ROOT.glob("project/**/*.py")]):
        if "migrations" in path.parts:
            continue
        source = _app_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "get_model" and node.args
                  and isinstance(node.args[0], ast.Constant)):
                targets = [f"apps.{node.args[0].value}"]
            else:
                continue
            for target in targets:
                imported = _app_of(target)
                if imported and source and imported != source:
                    graph.setdefault(source, {}).setdefault(imported, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected groups of more than one app (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(app: str) -> None:
        index[app] = low[app] = len(index)
        stack.append(app)
        for other in graph.get(app, {}):
            if other not in index:
                visit(other)
                low[app] = min(low[app], low[other])
            elif other in stack:
                low[app] = min(low[app], index[other])
        if low[app] == index[app]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == app:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for app in sorted(graph):
        if app not in index:
            visit(app)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}, "d": {"a": []}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b": []}, "b": {}}) == []


def test_no_app_level_import_cycle():
    graph = import_graph()
    found = cycles(graph)
    where = {f"{a} → {b}": graph[a][b][:3] for group in found for a in group for b in group if b in graph.get(a, {})}
    assert found == [], f"app-level import cycles: {found}; imports: {where}"


def test_no_module_under_apps_is_over_600_lines():
    too_long = {str(path.relative_to(ROOT)): n for path in ROOT.glob("apps/**/*.py")
                if "migrations" not in path.parts and (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert too_long == {}, f"split these by subject (STYLE.md): {too_long}"


ENUM_BASES = {"TextChoices", "IntegerChoices", "Choices", "StrEnum", "Enum", "IntEnum"}


def test_one_enum_per_concept():
    """No two enumerations under apps/ share a name (there were two PowerState and two PortMode,
    aliased on import to tell them apart)."""
    import ast

    defined: dict[str, list[str]] = {}
    for path in sorted(ROOT.glob("apps/**/*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(getattr(b, "attr", getattr(b, "id", "")) in ENUM_BASES for b in node.bases):
                defined.setdefault(node.name, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert {name: places for name, places in defined.items() if len(places) > 1} == {}


ACTION_SERVICES = {"device_power", "device_reinstall", "device_delete", "server_power_request", "server_power", "server_commission",
                   "server_maintenance"}


def test_faces_run_actions_only_through_the_registry():
    """From each face (admin, API views, portal) to the service that performs an action is one call
    into the registry: no face calls an action's service itself."""
    import ast

    faces = [p for p in ROOT.glob("apps/**/*.py") if "migrations" not in p.parts
             and (p.name.startswith("admin") or p.name == "views.py" or {"api", "views"} & set(p.relative_to(ROOT).parent.parts))]
    calls = []
    for path in faces:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name in ACTION_SERVICES:
                    calls.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert calls == []
    registry = (ROOT / "apps/installs/actions.py").read_text()
    for face in ("apps/installs/api/views.py", "apps/portal/views/devices.py", "apps/installs/admin.py"):
        assert "perform(" in (ROOT / face).read_text(), face
    assert "def perform(" in registry
