"""Imports go one way: glue → plans → devices → simulators → chemistry; analysis uses only
chemistry.

An AST check over every module (lazy imports inside functions included). The last tests add a
forbidden import to a copy of the tree and show that the check catches it.
"""

import ast
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# folder → (its package, the ionrig packages it may import)
CHEMISTRY = "ionrig.chemistry"  # the bottom layer: every layer may use it
CLOCK = "ionrig.clock"  # the clock contract: simulators, devices and plans may use it
LAYERS = {
    "chemistry": (CHEMISTRY, {CHEMISTRY}),
    "simulators": ("ionrig.simulators", {"ionrig.simulators", CLOCK, CHEMISTRY}),
    "devices": ("ionrig.devices", {"ionrig.devices", CLOCK, CHEMISTRY}),
    "plans": (
        "ionrig.plans",
        {"ionrig.plans", "ionrig.devices", "ionrig.analysis", "ionrig", CLOCK, CHEMISTRY},
    ),
    "analysis": ("ionrig.analysis", {"ionrig.analysis", CHEMISTRY}),
}
# Third-party packages a layer may import, where it is restricted (stdlib is always allowed).
THIRD_PARTY = {
    "analysis": {"numpy", "scipy"},
    "simulators": {"numpy", "scipy", "serial"},
    "chemistry": {"numpy", "scipy", "yaml"},
}
FORBIDDEN_IN_PLANS = ("ionrig.devices.drivers",)


def _imports(file: Path, package: str) -> list[str]:
    """Absolute module names imported by ``file`` (relative imports resolved)."""
    tree = ast.parse(file.read_text(), filename=str(file))
    module_package = package
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module_package.split(".")
                base = base[: len(base) - (node.level - 1)]
                names.append(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.append(node.module)
    return names


def _package_of(file: Path, folder_root: Path, package: str) -> str:
    parts = file.parent.relative_to(folder_root).parts
    return ".".join([package, *parts])


def _allowed(name: str, allowed: set[str]) -> bool:
    if name == "ionrig":
        return "ionrig" in allowed
    return any(name == a or name.startswith(a + ".") for a in allowed if a != "ionrig")


def layering_violations(root: Path) -> list[str]:
    violations = []
    for folder, (package, allowed) in LAYERS.items():
        folder_root = root / folder
        for file in folder_root.rglob("*.py"):
            for name in _imports(file, _package_of(file, folder_root, package)):
                where = f"{file.relative_to(root)} imports {name}"
                top = name.split(".")[0]
                if top == "ionrig":
                    if not _allowed(name, allowed):
                        violations.append(where)
                    elif folder == "plans" and name.startswith(FORBIDDEN_IN_PLANS):
                        violations.append(where + " (plans never import drivers)")
                elif (
                    folder in THIRD_PARTY
                    and top not in sys.stdlib_module_names
                    and top not in THIRD_PARTY[folder]
                ):
                    violations.append(where + f" (allowed: {sorted(THIRD_PARTY[folder])})")
    return violations


def test_the_tree_respects_the_layers():
    assert layering_violations(REPO) == []


def _copy_tree(tmp_path: Path) -> Path:
    for folder in LAYERS:
        shutil.copytree(
            REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def test_a_simulator_importing_devices_is_caught(tmp_path):
    root = _copy_tree(tmp_path)
    (root / "simulators" / "_bad.py").write_text("from ionrig.devices import Camera\n")
    assert layering_violations(root) == ["simulators/_bad.py imports ionrig.devices"]


def test_analysis_importing_bluesky_lazily_is_caught(tmp_path):
    root = _copy_tree(tmp_path)
    (root / "analysis" / "_bad.py").write_text("def f():\n    import bluesky\n")
    (violation,) = layering_violations(root)
    assert violation.startswith("analysis/_bad.py imports bluesky")


def test_relative_import_climbing_out_of_devices_is_caught(tmp_path):
    root = _copy_tree(tmp_path)
    (root / "devices" / "_bad.py").write_text("from ..plans import ratiometric_timecourse\n")
    assert layering_violations(root) == ["devices/_bad.py imports ionrig.plans"]


def test_glue_init_holds_only_the_version():
    tree = ast.parse((REPO / "src" / "ionrig" / "__init__.py").read_text())
    statements = [n for n in tree.body if not isinstance(n, ast.Expr)]
    assert len(statements) == 1
    (assign,) = statements
    assert isinstance(assign, ast.Assign) and assign.targets[0].id == "__version__"
