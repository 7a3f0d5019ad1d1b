"""Every code example in README.md and docs/*.md runs, and the rig-file reference is complete.

Fenced blocks, by their info string:

- ```` ```python ````: executed in document order, all blocks of one file sharing one namespace,
  in a fresh data directory (``$IONRIG_DATA``) with a temporary working directory.
- ```` ```python no-run: REASON ```` (or ``bash no-run: REASON``): not executed; the reason is
  required and such blocks stay few (real hardware, a server on another machine, a command that
  blocks until Ctrl-C).
- ```` ```bash ````: each ``ionrig …`` command whose subcommand is cheap (``RUN_COMMANDS``, or any
  ``--help``) runs as ``sys.executable -m ionrig.cli …`` in the same data and working
  directory, in order with the Python blocks, and must exit 0; every other ``ionrig``
  subcommand must be listed in ``NOT_RUN_COMMANDS`` with the reason. ``pip install`` lines and
  other programs (ssh, createdb, …) are not run.
- ```` ```yaml ```` blocks must parse. Other languages (``text``, none) are prose.

Pages whose examples read "the newest run" of a catalog (``NEEDS_A_RECORDED_RUN``) get one
short simulated time course recorded first.
"""

from __future__ import annotations

import dataclasses
import math
import re
import shlex
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]

#: ``ionrig`` subcommands cheap enough to run from the docs (seconds each).
RUN_COMMANDS = frozenset(
    {
        "doctor",
        "report",
        "export",
        "catalog ls",
        "catalog show",
        "catalog recover",
        "run",
        "demo",
        "solutions new",
        "solutions check",
        "solutions components",
    }
)
#: ``ionrig`` subcommands the docs show but the suite does not run from them, and why.
NOT_RUN_COMMANDS = {
    "catalog serve": "serves the catalog until Ctrl-C (tests/ionrig/cli/test_cli.py runs it)",
    "live": "a 0MQ proxy or printer that runs until Ctrl-C (tests/ionrig/bench/test_publish.py)",
    "queue": (
        "starts Redis, a catalog server and the queue manager (tests/ionrig/night/test_queue.py)"
    ),
    "simulate": "serves a simulated instrument until Ctrl-C (tests/ionrig/cli/test_cli.py)",
}
#: Pages whose examples read the newest run of the catalog: one is recorded before them.
NEEDS_A_RECORDED_RUN = frozenset({"docs/data-model.md", "docs/data-services.md"})
#: Pages whose examples take long (every plan in turn): marked slow, run with ``-m slow``.
SLOW_DOCS = frozenset({"docs/plans.md", "docs/tour.md", "docs/data-services.md"})
#: At most this many blocks may be fenced ``no-run`` over all pages.
MAX_NO_RUN_BLOCKS = 10
#: Real seconds a documented command may take.
COMMAND_TIMEOUT_S = 120


@dataclass(frozen=True)
class Block:
    """One fenced code block: ``line`` is the 1-based line of its opening fence."""

    path: str
    line: int
    language: str
    options: str
    code: str

    @property
    def no_run(self) -> bool:
        return self.options.startswith("no-run")

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


def extract_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, in order (indented fences included)."""
    name = path.relative_to(REPO_ROOT).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        info = opening["info"].strip()
        language, _, options = info.partition(" ")
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                break
            text = lines[j]
            body.append(text[indent:] if text[:indent].strip() == "" else text.lstrip())
            j += 1
        else:
            raise AssertionError(f"{name}:{i + 1}: code fence is never closed")
        blocks.append(Block(name, i + 1, language.lower(), options.strip(), "\n".join(body)))
        i = j + 1
    return blocks


def shell_commands(code: str) -> Iterator[list[str]]:
    """The commands of a shell block as argument lists (continuations joined, comments cut)."""
    logical = re.sub(r"\\\n", " ", code)
    for line in logical.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            yield words


def ionrig_subcommand(words: list[str]) -> str:
    """``catalog ls``, ``queue``, ``doctor``… of an ``ionrig`` command (``--data DIR`` skipped)."""
    rest = list(words[1:])
    while rest and rest[0].startswith("-"):
        rest = rest[2:] if rest[0] in ("--data", "--solutions") else rest[1:]
    if not rest:
        return ""
    if rest[0] in ("catalog", "solutions") and len(rest) > 1:
        return f"{rest[0]} {rest[1]}"
    return rest[0]


def is_pip_install(words: list[str]) -> bool:
    return "pip" in words and "install" in words


def runs(words: list[str]) -> bool:
    """True if the suite runs this documented shell command."""
    if words[0] != "ionrig" or is_pip_install(words):
        return False
    if "--help" in words or "-h" in words:
        return True
    return ionrig_subcommand(words) in RUN_COMMANDS


ALL_BLOCKS = {path: extract_blocks(path) for path in DOC_FILES}


def _runnable(blocks: list[Block]) -> bool:
    for block in blocks:
        if block.no_run:
            continue
        if block.language == "python":
            return True
        if block.language == "bash" and any(runs(w) for w in shell_commands(block.code)):
            return True
    return False


RUNNABLE_DOCS = [
    pytest.param(
        path,
        id=path.relative_to(REPO_ROOT).as_posix(),
        marks=[pytest.mark.slow] if path.relative_to(REPO_ROOT).as_posix() in SLOW_DOCS else [],
    )
    for path, blocks in ALL_BLOCKS.items()
    if _runnable(blocks)
]


# -- conventions (every page) ----------------------------------------------------------------------
def test_no_run_blocks_are_few_and_say_why():
    no_run = [b for blocks in ALL_BLOCKS.values() for b in blocks if b.no_run]
    for block in no_run:
        reason = block.options.removeprefix("no-run").lstrip(":").strip()
        assert len(reason.split()) >= 3, f"{block.where}: say why it does not run (no-run: ...)"
        assert block.language in ("python", "bash"), block.where
    assert len(no_run) <= MAX_NO_RUN_BLOCKS, [b.where for b in no_run]


def test_every_documented_ionrig_command_is_run_or_classified():
    seen_run = 0
    for blocks in ALL_BLOCKS.values():
        for block in blocks:
            if block.language != "bash" or block.no_run:
                continue
            for words in shell_commands(block.code):
                if words[0] != "ionrig" or is_pip_install(words):
                    continue
                if runs(words):
                    seen_run += 1
                    continue
                sub = ionrig_subcommand(words)
                assert sub in NOT_RUN_COMMANDS or sub.split()[0] in NOT_RUN_COMMANDS, (
                    f"{block.where}: `{' '.join(words)}` is neither cheap (RUN_COMMANDS) nor "
                    "listed in NOT_RUN_COMMANDS with a reason"
                )
    assert seen_run >= 3  # the doctor, the report and --help at least


def test_yaml_blocks_parse():
    for blocks in ALL_BLOCKS.values():
        for block in blocks:
            if block.language == "yaml":
                assert isinstance(yaml.safe_load(block.code), dict), block.where


def test_fences_are_recognised():
    """The extractor finds the README's quick start and an indented fence in a list item."""
    readme = ALL_BLOCKS[REPO_ROOT / "README.md"]
    assert [b.language for b in readme[:2]] == ["bash", "bash"]
    assert "ionrig demo" in readme[0].code
    commands = [w for b in readme if b.language == "bash" for w in shell_commands(b.code)]
    assert all(is_pip_install(w) and not runs(w) for w in commands)
    indented = [b for bs in ALL_BLOCKS.values() for b in bs if "regenerate" in b.code]
    assert indented and all(not b.code.startswith(" ") for b in indented)


# -- running the examples ------------------------------------------------------------------------
def _record_a_timecourse() -> None:
    from ionrig.plans import ratiometric_timecourse
    from ionrig.session import start

    session = start("sim", time_scale=200)
    try:
        result = session.RE(ratiometric_timecourse(session.rig, 3))
        assert result.exit_status == "success"
    finally:
        session.close()


def _close_sessions(namespace: dict[str, Any]) -> None:
    """Release what the examples left open (a later test must be able to open its catalog)."""
    from ionrig.data.catalog import Catalog
    from ionrig.session import Session

    for value in list(namespace.values()):
        if isinstance(value, Session | Catalog):
            value.close()  # closing twice is harmless


def _run_command(words: list[str], cwd: Path, block: Block) -> None:
    args = [sys.executable, "-m", "ionrig.cli", *words[1:]]
    done = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, (
        f"{block.where}: `{' '.join(words)}` exited {done.returncode}\n"
        f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    )


@pytest.mark.parametrize("path", RUNNABLE_DOCS)
def test_examples_run(path: Path, data_dir: Path, tmp_path: Path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    blocks = ALL_BLOCKS[path]
    if blocks[0].path in NEEDS_A_RECORDED_RUN:
        _record_a_timecourse()
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    executed = 0
    try:
        for block in blocks:
            if block.no_run:
                continue
            if block.language == "python":
                # pad so that tracebacks give the Markdown file's own line numbers
                code = compile("\n" * block.line + block.code, str(path), "exec")
                exec(code, namespace)
                executed += 1
            elif block.language == "bash":
                for words in shell_commands(block.code):
                    if runs(words):
                        _run_command(words, work, block)
                        executed += 1
    finally:
        _close_sessions(namespace)
    assert executed > 0


# -- the rig-file and simulator reference ----------------------------------------------------------
def _config_paths(cls: type, prefix: str = "") -> dict[str, dataclasses.Field]:
    """Every field of config dataclass ``cls``, recursively, by dotted path: ``a.b`` for a
    section, ``a[].b`` for items of a list, ``a.<name>.b`` for values of a mapping. The
    solutions of ``world.solutions`` are documented once, as the solutions file's."""
    from ionrig.simulators import Solution

    hints = typing.get_type_hints(cls)
    paths: dict[str, dataclasses.Field] = {}
    for field in dataclasses.fields(cls):
        path = f"{prefix}{field.name}"
        paths[path] = field
        hint = hints[field.name]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (typing.Union, types.UnionType):
            options = [a for a in args if a is not type(None)]
            hint = options[0] if len(options) == 1 else hint
            origin, args = typing.get_origin(hint), typing.get_args(hint)
        if dataclasses.is_dataclass(hint):
            paths |= _config_paths(hint, f"{path}.")
        elif origin is list and args and dataclasses.is_dataclass(args[0]):
            paths |= _config_paths(args[0], f"{path}[].")
        elif origin is dict and dataclasses.is_dataclass(args[1]) and args[1] is not Solution:
            paths |= _config_paths(args[1], f"{path}.<name>.")
    return paths


def _reference_rows(*pages: str) -> dict[str, dict[str, str]]:
    """Rows of the pages' tables whose first column is headed ``key``: path → cells by header."""
    rows: dict[str, dict[str, str]] = {}
    for page in pages:
        header: list[str] | None = None
        for line in (REPO_ROOT / page).read_text(encoding="utf-8").splitlines():
            if not line.startswith("|"):
                header = None
                continue
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            if header is None:
                header = [c.lower() for c in cells]
                continue
            if header[0] != "key" or set(cells[0]) <= {"-", ":"}:
                continue
            key = re.match(r"`([^`]+)`", cells[0])
            assert key, f"{page}: a key cell without `code`: {line}"
            assert key[1] not in rows, f"{page}: {key[1]} documented twice"
            rows[key[1]] = dict(zip(header, cells, strict=False))
    return rows


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _same(documented: Any, actual: Any) -> bool:
    if isinstance(actual, bool) or isinstance(documented, bool):
        return documented is actual
    if isinstance(actual, int | float) and isinstance(documented, int | float):
        return math.isclose(documented, actual, rel_tol=1e-3, abs_tol=1e-12)
    if isinstance(actual, dict) and isinstance(documented, dict):
        return documented.keys() == actual.keys() and all(
            _same(documented[k], actual[k]) for k in actual
        )
    if isinstance(actual, list) and isinstance(documented, list):
        return len(documented) == len(actual) and all(map(_same, documented, actual))
    return documented == actual


def _expected_reference() -> dict[str, dataclasses.Field]:
    """The rig file's fields and the solutions file's (``solutions.<name>.*``)."""
    from ionrig.rig import RigConfig
    from ionrig.simulators import SolutionsFile

    return _config_paths(RigConfig) | _config_paths_with_solutions(SolutionsFile)


def _config_paths_with_solutions(solutions_file: type) -> dict[str, dataclasses.Field]:
    from ionrig.simulators import Solution

    # the file's top-level key shares its name with the rig file's ``solutions`` (the files'
    # paths), which has the row; every recipe key is listed under ``solutions.<name>.``
    assert [f.name for f in dataclasses.fields(solutions_file)] == ["solutions"]
    return _config_paths(Solution, "solutions.<name>.")


REFERENCE_PAGES = ("docs/rig-file.md", "docs/simulator.md")


def test_reference_lists_every_config_field_and_no_other():
    """docs/rig-file.md and docs/simulator.md have one table row per field of the rig file's
    dataclasses (``RigConfig``, recursively, and the solutions file's), by full path."""
    expected = _expected_reference()
    rows = _reference_rows(*REFERENCE_PAGES)
    missing = sorted(set(expected) - set(rows))
    stale = sorted(set(rows) - set(expected))
    assert not missing, f"fields not documented in {REFERENCE_PAGES}: {missing}"
    assert not stale, f"documented keys that are no config field: {stale}"
    world = {p for p in rows if p.startswith("world")}
    simulator_rows = _reference_rows("docs/simulator.md")
    assert world == set(simulator_rows), "world.* belongs in docs/simulator.md, the rest not"


def test_reference_defaults_match_the_code():
    """Every documented default that is a literal (in `code`) equals the field's default."""
    expected = _expected_reference()
    rows = _reference_rows(*REFERENCE_PAGES)
    checked = 0
    for path, field in expected.items():
        cell = rows[path].get("default", "")
        literal = re.fullmatch(r"`([^`]*)`", cell)
        if field.default is not dataclasses.MISSING:
            actual = field.default
        elif field.default_factory is not dataclasses.MISSING:
            actual = field.default_factory()
            if dataclasses.is_dataclass(actual):
                continue  # a section: its own rows carry the defaults
        else:
            assert cell.lower().startswith("required"), f"{path}: required, documented {cell!r}"
            continue
        assert literal, f"{path}: default cell must be one `literal`, got {cell!r}"
        documented = yaml.safe_load(literal[1])
        assert _same(_plain(documented), _plain(actual)), f"{path}: {cell} documented, {actual!r}"
        checked += 1
    assert checked > 150


def test_plans_page_covers_every_plan():
    """docs/plans.md has a section per plan of ``ionrig.plans`` (plan stubs: a mention)."""
    import inspect

    from ionrig import plans

    text = (REPO_ROOT / "docs" / "plans.md").read_text(encoding="utf-8")
    headings = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    covered = 0
    for name in plans.__all__:
        function = getattr(plans, name)
        if not inspect.isfunction(function):
            continue
        parameters = list(inspect.signature(function).parameters)
        if not parameters or parameters[0] != "rig":
            continue
        where = text if "plan stub" in (function.__doc__ or "") else headings
        assert re.search(rf"`(plans\.)?{name}[`(]", where), f"docs/plans.md does not cover {name}"
        covered += 1
    assert covered >= 14
