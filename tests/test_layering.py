"""Imports go one way, checked for every pair of layers.

The layers, top to bottom (docs/architecture.md draws them):

    cli ─▶ night ─▶ bench ─▶ session ─▶ reports, rig ─▶ data ─▶ plans ─▶ devices ─▶ drivers
                                                                   └─▶ analysis
    simulators (reached by rig only) ─▶ clock, chemistry;  devices ─▶ clock

Each layer may import only the layers in its row of :data:`ALLOWED` (its own included); the
standard library always, and third-party packages except where :data:`THIRD_PARTY` restricts a
layer to a list or :data:`NO_FRAMEWORK` forbids some. An AST walk over every module, lazy imports
inside functions included, relative imports resolved. The last tests plant forbidden imports in a
copy of the tree and show that the check names them.
"""

import ast
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

GLUE_ROOMS = ("rig", "data", "bench", "reports", "night", "cli")
# layer → the layers it may import (besides itself)
ALLOWED = {
    "chemistry": set(),
    "clock": set(),
    "simulators": {"clock", "chemistry"},
    "drivers": set(),
    "devices": {"drivers", "clock", "chemistry"},
    "analysis": {"chemistry"},
    "plans": {"devices", "analysis", "clock", "chemistry"},
    "data": {"plans", "devices", "analysis", "clock", "chemistry", "version"},
    "rig": {"data", "devices", "drivers", "simulators", "clock", "chemistry"},
    "reports": {"data", "analysis", "chemistry"},
    "session": {"rig", "data", "devices", "clock", "chemistry", "version"},
    "bench": {"session", "rig", "data", "reports", "plans", "devices", "analysis", "clock",
              "chemistry", "simulators", "version"},
    "night": {"bench", "session", "rig", "data", "reports", "plans", "devices", "analysis",
              "clock", "chemistry", "version"},
    "cli": {"night", "bench", "session", "rig", "data", "reports", "plans", "devices",
            "drivers", "analysis", "simulators", "clock", "chemistry", "version"},
    "version": set(),
}  # fmt: skip
# Third-party packages a layer may import, where it is restricted to a list.
THIRD_PARTY = {
    "analysis": {"numpy", "scipy"},
    "simulators": {"numpy", "scipy", "serial"},
    "chemistry": {"numpy", "scipy", "yaml", "pydantic"},
    "clock": set(),
}
# Frameworks a layer must not import.
NO_FRAMEWORK = {"drivers": {"bluesky", "ophyd", "ophyd_async", "tiled", "event_model"}}


def layer_of_module(name: str) -> str | None:
    """The layer of an absolute module name under ``ionrig`` (``None`` for other packages)."""
    parts = name.split(".")
    if parts[0] != "ionrig":
        return None
    if len(parts) == 1:
        return "version"
    if parts[1] == "devices" and len(parts) > 2 and parts[2] == "drivers":
        return "drivers"
    return parts[1]


def layer_of_file(root: Path, file: Path) -> tuple[str, str]:
    """(layer, package) of a source file."""
    relative = file.relative_to(root)
    top = relative.parts[0]
    if top == "src":
        inside = relative.relative_to("src/ionrig")
        if len(inside.parts) == 1:
            stem = inside.stem
            return ("version" if stem == "__init__" else stem), "ionrig"
        return inside.parts[0], ".".join(["ionrig", *inside.parent.parts])
    if top == "devices" and len(relative.parts) > 2 and relative.parts[1] == "drivers":
        return "drivers", "ionrig.devices.drivers"
    return top, ".".join(["ionrig", *relative.parent.parts])


def imported_names(file: Path, package: str) -> list[str]:
    """Absolute names imported by ``file``: modules, and for ``from ionrig import x`` the
    ``ionrig.x`` it names."""
    tree = ast.parse(file.read_text(), filename=str(file))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            if source == "ionrig":
                names.extend(f"ionrig.{alias.name}" for alias in node.names)
            else:
                names.append(source)
    return names


def source_files(root: Path) -> list[Path]:
    folders = ["src/ionrig", "devices", "plans", "simulators", "analysis", "chemistry"]
    return sorted(f for folder in folders for f in (root / folder).rglob("*.py"))


def layering_violations(root: Path) -> list[str]:
    violations = []
    for file in source_files(root):
        layer, package = layer_of_file(root, file)
        allowed = ALLOWED[layer] | {layer}
        for name in imported_names(file, package):
            where = f"{file.relative_to(root)} ({layer}) imports {name}"
            top = name.split(".")[0]
            target = layer_of_module(name)
            if target is not None:
                if target not in allowed:
                    violations.append(f"{where} (allowed: {sorted(ALLOWED[layer])})")
            elif top in sys.stdlib_module_names:
                continue
            elif layer in THIRD_PARTY and top not in THIRD_PARTY[layer]:
                violations.append(where + f" (allowed: {sorted(THIRD_PARTY[layer])})")
            elif top in NO_FRAMEWORK.get(layer, ()):
                violations.append(where + " (no framework here)")
    return violations


def test_every_layer_is_known():
    for file in source_files(REPO):
        layer, _package = layer_of_file(REPO, file)
        assert layer in ALLOWED, f"{file.relative_to(REPO)}: unknown layer {layer}"
    assert set(GLUE_ROOMS) <= set(ALLOWED)


def test_the_tree_respects_the_layers():
    assert layering_violations(REPO) == []


def test_the_allowed_imports_have_no_cycle():
    """The table itself is one-way: no layer can reach itself through the others."""

    def reachable(start: str) -> set[str]:
        seen, todo = set(), list(ALLOWED[start])
        while todo:
            layer = todo.pop()
            if layer not in seen:
                seen.add(layer)
                todo.extend(ALLOWED[layer])
        return seen

    assert [layer for layer in ALLOWED if layer in reachable(layer)] == []


def _copy_tree(tmp_path: Path) -> Path:
    for folder in ("src", "devices", "plans", "simulators", "analysis", "chemistry"):
        shutil.copytree(
            REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def test_forbidden_imports_are_named(tmp_path):
    root = _copy_tree(tmp_path)
    planted = {
        "simulators/_bad.py": "from ionrig.devices import Camera\n",
        "analysis/_bad.py": "def f():\n    import bluesky\n",
        "devices/_bad.py": "from ..plans import ratiometric_timecourse\n",
        "devices/drivers/_bad.py": "import ophyd_async\n",
        "devices/_bad2.py": "from ionrig.simulators import World\n",
        "plans/_bad.py": "from ionrig.devices.drivers import Daq\n",
        "src/ionrig/data/bad.py": "from ionrig.rig import load_rig\n",
        "src/ionrig/rig/bad.py": "from ionrig import session\n",
        "src/ionrig/clock.py": "import numpy\n",
    }
    for relative, text in planted.items():
        (root / relative).write_text(text)
    found = {v.split(" imports ")[0].split(" (")[0] for v in layering_violations(root)}
    assert found == set(planted)


def test_glue_init_holds_only_the_version():
    tree = ast.parse((REPO / "src" / "ionrig" / "__init__.py").read_text())
    statements = [n for n in tree.body if not isinstance(n, ast.Expr)]
    assert len(statements) == 1
    (assign,) = statements
    assert isinstance(assign, ast.Assign) and assign.targets[0].id == "__version__"
