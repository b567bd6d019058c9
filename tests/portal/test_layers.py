"""The import layers of the portal, read from the source: who may import whom, and no cycles.

- ``julia_monitor/lib`` imports no app of the portal (every app may import it);
- ``alerts`` may import ``instances``; ``instances`` imports ``alerts`` in one place only, the
  fleet pages that show open alerts;
- ``instances/simulator`` is a fake Evolution gateway: it imports no Django and no other app;
- and the module-level imports of the portal's own modules form no cycle.

Imports inside functions (Django's ``AppConfig.ready``) and under ``TYPE_CHECKING`` do not run
when a module loads, so they are not layers; everything else is.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("julia_monitor", "instances", "alerts")
# The one place the fleet app reads the alerts app: its pages count and list open alerts.
INSTANCES_MAY_IMPORT_ALERTS_IN = {"instances.pages"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def portal_modules() -> dict[str, Path]:
    return {
        module_name(path): path for app in APPS for path in (ROOT / app).rglob("*.py") if "migrations" not in path.parts
    }


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_level_imports(path: Path, module: str, modules: frozenset[str] = frozenset()) -> set[str]:
    """Return the modules this one imports when it loads (top level, outside TYPE_CHECKING).

    ``from package import module`` is an import of that module (``modules`` says which names
    are modules), not of the package's ``__init__``.
    """
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base]) if base else ".".join(anchor)
                submodules = {f"{base}.{alias.name}" for alias in node.names} & modules
                found.update(submodules)
                if len(submodules) < len(node.names):
                    found.add(base)
            elif isinstance(node, ast.If) and not _is_type_checking(node):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(ast.parse(path.read_text(), filename=str(path)).body)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    """Each portal module → the portal modules it imports when it loads."""
    modules = portal_modules()
    names = frozenset(modules)
    return {
        name: {target for target in module_level_imports(path, name, names) if target in modules and target != name}
        for name, path in modules.items()
    }


def importers_of(graph: dict[str, set[str]], prefix: str, among: str) -> set[str]:
    return {
        name
        for name, targets in graph.items()
        if name.startswith(among) and any(t == prefix or t.startswith(prefix + ".") for t in targets)
    }


def test_the_library_imports_no_app(graph: dict[str, set[str]]) -> None:
    offenders = {
        name: sorted(t for t in targets if not t.startswith("julia_monitor.lib"))
        for name, targets in graph.items()
        if name.startswith("julia_monitor.lib")
    }
    assert {name: targets for name, targets in offenders.items() if targets} == {}


def test_the_fleet_imports_the_alerts_app_in_one_place_only(graph: dict[str, set[str]]) -> None:
    assert importers_of(graph, "alerts", among="instances") == INSTANCES_MAY_IMPORT_ALERTS_IN


def test_no_app_imports_the_portal_above_it(graph: dict[str, set[str]]) -> None:
    # The apps may use julia_monitor.lib; the rest of julia_monitor (settings, urls, the API,
    # health, roles, the demo) sits above them.
    above = {
        name: sorted(t for t in targets if t.startswith("julia_monitor") and not t.startswith("julia_monitor.lib"))
        for name, targets in graph.items()
        if name.startswith(("instances", "alerts"))
    }
    assert {name: targets for name, targets in above.items() if targets} == {}


def test_the_simulator_is_a_gateway_of_its_own(graph: dict[str, set[str]]) -> None:
    simulator = ROOT / "instances" / "simulator"
    for path in simulator.rglob("*.py"):
        name = module_name(path)
        imports = module_level_imports(path, name, frozenset(graph))
        outside = sorted(
            t
            for t in imports
            if t.split(".")[0] in {"django", "alerts", "julia_monitor"}
            or (t.startswith("instances.") and not t.startswith("instances.simulator"))
        )
        assert outside == [], f"{name} imports {outside}"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = defaultdict(int)  # 0 unseen, 1 on the path, 2 done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph.get(name, ())):
            if state[target] == 1:
                return [*path[path.index(target) :], target]
            if state[target] == 0 and (cycle := visit(target)):
                return cycle
        path.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if state[name] == 0 and (cycle := visit(name)):
            return cycle
    return None


def test_module_level_imports_form_no_cycle(graph: dict[str, set[str]]) -> None:
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_the_layer_reader_finds_cycles_and_skips_what_does_not_run_at_import(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "from alerts.models import Alert\n"
        "from alerts.channels import render\n"
        "if TYPE_CHECKING:\n"
        "    from instances.models import Instance\n"
        "def later():\n"
        "    from julia_monitor.roles import ROLES\n"
    )

    imports = module_level_imports(module, "probe", frozenset({"alerts.channels.render"}))

    assert imports == {"typing", "alerts.models", "alerts.channels.render"}
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
