"""The shape a reviewer can hold in their head, checked over every source file.

- no function body over 80 lines (from the first statement after the docstring to the end);
- no module over 600 lines;
- nothing imports a private name (``_x``) from another module, nor another package's private
  module; library internals (private modules, private attributes, ``__wrapped__``) appear only in
  the one adapter module per library;
- no test imports a private name from an ionrig module (``from ionrig.x import _y``) nor a
  private module by ``import ionrig.x._y``: tests go through public names (a test of a private
  module imports that module's public names, ``from ionrig.x._y import z``);
- no import cycle between modules (imports inside functions count);
- no reference to a document that is not in the repository.

Each check is a function of a source tree, so the last tests plant a violation in a copy of a
small tree and show the check names it.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# folder → the package it is mapped to (pyproject's package-dir)
SOURCE_FOLDERS = {
    "src/ionrig": "ionrig",
    "devices": "ionrig.devices",
    "plans": "ionrig.plans",
    "simulators": "ionrig.simulators",
    "analysis": "ionrig.analysis",
    "chemistry": "ionrig.chemistry",
    "rigs": "ionrig.rigs",
    "benchmarks": "",  # scripts, importing their helpers by bare name
}
MAX_FUNCTION_BODY_LINES = 80
MAX_MODULE_LINES = 600
# The one module per library allowed to touch that library's internals.
ADAPTERS = {
    "ionrig.devices._ophyd_async_adapter": "ophyd_async",
    "ionrig.devices.drivers._pyserial_adapter": "serial",
    "ionrig.data.tiled_writer_adapter": "bluesky_tiled_plugins",
    "ionrig.night.queueserver_adapter": "bluesky_queueserver_api",
}
OUTSIDE_NOTES = re.compile(
    r"physiology-parameters|instrument-protocols|bluesky-ophyd-async\.md|anchors\.md"
    r"|shared/reference"
)


@dataclass(frozen=True)
class Module:
    name: str  # dotted module name (a package's __init__ is the package)
    package: str  # the package the module belongs to
    path: Path
    tree: ast.Module


def modules(root: Path) -> dict[str, Module]:
    """Every source module under ``root``, by dotted name."""
    found = {}
    for folder, package in SOURCE_FOLDERS.items():
        base = root / folder
        for path in sorted(base.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(base).with_suffix("").parts)
            is_init = parts[-1] == "__init__"
            if is_init:
                parts = parts[:-1]
            name = ".".join(p for p in [package, *parts] if p)
            own_package = name if is_init else name.rpartition(".")[0]
            found[name] = Module(name, own_package, path, ast.parse(path.read_text()))
    return found


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _body_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = function.body
    first = body[0]
    is_docstring = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    if is_docstring and len(body) > 1:
        first = body[1]
    return function.end_lineno - first.lineno + 1


def long_functions(found: dict[str, Module]) -> list[str]:
    return [
        f"{m.path.relative_to(REPO_OF[id(found)])}:{f.lineno} {f.name} ({_body_lines(f)} lines)"
        for m in found.values()
        for f in _functions(m.tree)
        if _body_lines(f) > MAX_FUNCTION_BODY_LINES
    ]


def long_modules(found: dict[str, Module]) -> list[str]:
    out = []
    for m in found.values():
        lines = len(m.path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            out.append(f"{m.path.relative_to(REPO_OF[id(found)])} ({lines} lines)")
    return out


def _is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _imports(module: Module) -> Iterator[tuple[ast.AST, str, list[str]]]:
    """(node, absolute module imported from, names imported) for every import in ``module``."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            yield node, source, [alias.name for alias in node.names]


def _private_module_owner(dotted: str) -> str | None:
    """The package that owns the first private module in ``dotted`` (None if none is)."""
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if _is_private(part):
            return ".".join(parts[:i])
    return None


def private_reach_ins(found: dict[str, Module]) -> list[str]:
    """Imports of another module's private names or another package's private modules."""
    out = []
    for m in found.values():
        if m.name in ADAPTERS:
            continue
        for node, source, names in _imports(m):
            where = f"{m.name}:{node.lineno}"
            owner = _private_module_owner(source)
            if owner is not None and owner != m.package:
                out.append(f"{where} imports the private module {source}")
            for name in names:
                submodule = f"{source}.{name}"
                if not _is_private(name):
                    continue
                if source == m.package and submodule in found:
                    continue  # a package's own private module
                out.append(f"{where} imports the private name {name} from {source}")
    return sorted(out)


def private_imports_in_tests(root: Path) -> list[str]:
    """Imports, in the test files under ``root/tests``, of a private name from an ionrig module
    (``from ionrig.x import _y``, ``_y`` a function, constant or module) or of a private module
    by its dotted name (``import ionrig.x._y``). Other libraries' names are not looked at."""
    out = []
    tests = root / "tests"
    for path in sorted(tests.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        where = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    in_ionrig = alias.name.partition(".")[0] == "ionrig"
                    if in_ionrig and _private_module_owner(alias.name) is not None:
                        out.append(f"{where}:{node.lineno} imports the private module {alias.name}")
            elif isinstance(node, ast.ImportFrom) and not node.level:
                source = node.module or ""
                if source.partition(".")[0] != "ionrig":
                    continue
                for alias in node.names:
                    if _is_private(alias.name):
                        out.append(
                            f"{where}:{node.lineno} imports the private name {alias.name} "
                            f"from {source}"
                        )
    return sorted(out)


def _names_defined(tree: ast.AST) -> set[str]:
    """Every name a module defines anywhere: functions, classes, assignment targets (including
    ``self._x = …``), parameters, imports."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.keyword) and node.arg:
            names.add(node.arg)
    return names


def _attribute_read(node: ast.AST) -> str | None:
    """The attribute ``node`` reads: ``obj.attr``, or ``getattr(obj, "attr"…)`` /
    ``hasattr(obj, "attr")`` with a literal name."""
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
        return node.attr
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("getattr", "hasattr")
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
    ):
        return node.args[1].value
    return None


def library_internals(found: dict[str, Module]) -> list[str]:
    """Private attributes (and ``__wrapped__``) read where they do not belong, outside the
    adapters: on ``self``/``cls``, a private attribute that no project module defines (so it
    comes from a library base class); on any other object, one this module does not define.

    Not seen: an assignment to a library base class's private attribute through ``self``."""
    defined_in = {name: _names_defined(m.tree) for name, m in found.items()}
    defined_anywhere = set().union(*defined_in.values())
    out = []
    for m in found.values():
        if m.name in ADAPTERS:
            continue
        for node in ast.walk(m.tree):
            attr = _attribute_read(node)
            if attr is None:
                continue
            target = node.value if isinstance(node, ast.Attribute) else node.args[0]
            on_self = isinstance(target, ast.Name) and target.id in ("self", "cls")
            known = defined_anywhere if on_self else defined_in[m.name]
            if attr == "__wrapped__" or (_is_private(attr) and attr not in known):
                out.append(f"{m.name}:{node.lineno} reads .{attr}")
    return sorted(out)


def _resolve(found: dict[str, Module], source: str, names: list[str]) -> set[str]:
    """The project modules an import statement loads."""
    targets = set()
    for name in names or [""]:
        candidate = f"{source}.{name}" if name else source
        while candidate and candidate not in found:
            candidate = candidate.rpartition(".")[0]
        if candidate:
            targets.add(candidate)
    return targets


def import_graph(found: dict[str, Module]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in found}
    for m in found.values():
        for _node, source, names in _imports(m):
            graph[m.name] |= _resolve(found, source, names) - {m.name}
    return graph


def import_cycles(found: dict[str, Module]) -> list[str]:
    """Strongly connected components of more than one module (Tarjan), a package ``__init__``
    that imports its own modules excepted when they do not import the package back."""
    graph = import_graph(found)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(start: str) -> None:
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(" ↔ ".join(sorted(component)))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return cycles


def outside_references(root: Path) -> list[str]:
    """Lines of the repository's text files (tracked, or new and not ignored; a tracked file
    deleted in the working tree is gone) that cite a document kept outside the repository."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    out = []
    for name in listed:
        path = root / name
        if path.suffix not in {".py", ".md", ".yaml", ".toml", ".txt"} or name == THIS_FILE:
            continue
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = OUTSIDE_NOTES.search(line)
            beside = match and (path.parent / match.group(0)).is_file()  # a relative link
            if match and not beside:
                out.append(f"{name}:{number}: {line.strip()[:90]}")
    return out


THIS_FILE = "tests/test_code_shape.py"
REPO_OF: dict[int, Path] = {}


def _tree(root: Path) -> dict[str, Module]:
    found = modules(root)
    REPO_OF[id(found)] = root
    return found


FOUND = _tree(REPO)


def test_no_function_body_is_over_80_lines():
    assert long_functions(FOUND) == []


def test_no_module_is_over_600_lines():
    assert long_modules(FOUND) == []


def test_nothing_imports_another_modules_private_names():
    assert private_reach_ins(FOUND) == []


def test_no_test_imports_a_private_name_from_ionrig():
    assert private_imports_in_tests(REPO) == []


def test_library_internals_only_in_their_adapters():
    assert library_internals(FOUND) == []


def test_there_are_no_import_cycles():
    assert import_cycles(FOUND) == []


def test_no_file_cites_a_document_outside_the_repository():
    assert outside_references(REPO) == []


def test_every_cited_reference_page_exists():
    cited = set()
    for m in FOUND.values():
        cited |= set(re.findall(r"docs/reference/[\w.-]+\.md", m.path.read_text()))
    missing = sorted(page for page in cited if not (REPO / page).is_file())
    assert missing == []


# --- the checks catch what they are meant to catch ------------------------------------------


def _small_tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Module]:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return _tree(tmp_path)


def test_a_long_function_and_a_long_module_are_named(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(81))
    found = _small_tree(
        tmp_path,
        {
            "plans/__init__.py": "",
            "plans/_long.py": 'def plan():\n    """Doc."""\n' + body,
            "plans/_big.py": "x = 1\n" * 601,
        },
    )
    assert long_functions(found) == ["plans/_long.py:1 plan (81 lines)"]
    assert long_modules(found) == ["plans/_big.py (601 lines)"]


def test_private_reach_ins_are_named(tmp_path):
    found = _small_tree(
        tmp_path,
        {
            "plans/__init__.py": "from ._a import plan\n",
            "plans/_a.py": "from ._b import _helper\nfrom . import _b\nplan = 1\n",
            "plans/_b.py": "def _helper():\n    pass\n",
            "src/ionrig/__init__.py": "",
            "src/ionrig/x.py": "from ionrig.plans._a import plan\n",
        },
    )
    assert private_reach_ins(found) == [
        "ionrig.plans._a:1 imports the private name _helper from ionrig.plans._b",
        "ionrig.x:1 imports the private module ionrig.plans._a",
    ]


def test_private_imports_in_tests_are_named(tmp_path):
    _small_tree(
        tmp_path,
        {
            "plans/__init__.py": "from ._a import plan\n",
            "plans/_a.py": "plan = 1\n_helper = 2\n",
            "tests/plans/test_a.py": (
                "import ionrig.plans\n"
                "import ionrig.plans._a as a\n"
                "from ionrig.plans import _a, plan\n"
                "from ionrig.plans._a import _helper, plan\n"
                "from other_library.writer import _RunWriter\n"
                "\n"
                "def test_plan():\n"
                "    from ionrig.plans._a import _helper\n"
            ),
        },
    )
    assert private_imports_in_tests(tmp_path) == [
        "tests/plans/test_a.py:2 imports the private module ionrig.plans._a",
        "tests/plans/test_a.py:3 imports the private name _a from ionrig.plans",
        "tests/plans/test_a.py:4 imports the private name _helper from ionrig.plans._a",
        "tests/plans/test_a.py:8 imports the private name _helper from ionrig.plans._a",
    ]


def test_library_internals_and_cycles_are_named(tmp_path):
    found = _small_tree(
        tmp_path,
        {
            "src/ionrig/__init__.py": "",
            "src/ionrig/a.py": "def f(RE):\n    from ionrig import b\n    RE._secret = 1\n",
            "src/ionrig/b.py": (
                "import ionrig.a\n\ndef g(m):\n    return m.run.__wrapped__\n\n"
                "def h(p):\n    return getattr(p, '_secret', None)\n"
            ),
        },
    )
    # an assignment to RE._secret defines _secret in a; reading it in b is a reach-in
    assert library_internals(found) == [
        "ionrig.b:4 reads .__wrapped__",
        "ionrig.b:7 reads ._secret",
    ]
    assert import_cycles(found) == ["ionrig.a ↔ ionrig.b"]


def test_a_citation_of_an_outside_note_is_named():
    assert OUTSIDE_NOTES.search("see physiology-parameters.md §7.1")
    assert OUTSIDE_NOTES.search("(bluesky-ophyd-async.md §4)")
    assert OUTSIDE_NOTES.search("(instrument-protocols §3.1)")
    assert not OUTSIDE_NOTES.search("docs/reference/bluesky-api.md §4")
