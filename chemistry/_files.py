"""Solutions files: the lab's own, layered, and the packaged example.

A solutions file is YAML: ``solutions: {name: recipe}`` (the keys of :class:`Solution`).
Several files layer into one table; a name defined twice must have the same recipe in both
(else an error names both files). Paths inside a rig file are relative to the rig file.
"""

from __future__ import annotations

import functools
import math
import os
import types
import typing
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ._solution import Solution

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "SolutionsError",
    "load_solutions",
    "packaged_solutions_text",
    "parse_solutions",
    "solutions_paths",
    "starter_solutions_text",
]

#: Names one or more solutions files (separated by the OS path separator).
ENVIRONMENT_VARIABLE = "IONRIG_SOLUTIONS"
PACKAGED = "packaged example (ionrig/rigs/solutions.yaml)"


class SolutionsError(ValueError):
    """A solutions file or a solution in it is wrong; the message names the file and field."""


def packaged_solutions_text() -> str:
    """The packaged example solutions file (the simulated rig's default)."""
    return (resources.files("ionrig.rigs") / "solutions.yaml").read_text(encoding="utf-8")


def starter_solutions_text() -> str:
    """A commented starter file for a lab (``ionrig solutions new``)."""
    return (resources.files("ionrig.chemistry") / "starter_solutions.yaml").read_text(
        encoding="utf-8"
    )


def _hints() -> dict[str, Any]:
    return typing.get_type_hints(Solution)


def _value(where: str, hint: Any, value: Any) -> Any:
    if value is None and type(None) in typing.get_args(hint):
        return None
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    kind = typing.get_origin(hint) or hint
    if kind is dict:
        if not isinstance(value, Mapping):
            raise SolutionsError(f"{where}: expected a mapping of component → mM, got {value!r}")
        return {str(k): _value(f"{where}.{k}", float, v) for k, v in value.items()}
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value):
            raise SolutionsError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise SolutionsError(f"{where}: expected a string, got {value!r}")
    return value


def solution_from_mapping(raw: Any, where: str) -> Solution:
    """One solution entry, every key checked; errors name ``where`` and the field."""
    if not isinstance(raw, Mapping):
        raise SolutionsError(f"{where}: expected a mapping of recipe keys, got {raw!r}")
    hints = _hints()
    unknown = sorted(set(raw) - set(hints))
    if unknown:
        raise SolutionsError(
            f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
            f"; allowed keys: {', '.join(sorted(hints))}"
        )
    values = {k: _value(f"{where}.{k}", hints[k], v) for k, v in raw.items()}
    try:
        solution = Solution(**values)
        _ = solution.speciation  # free ions solved at load, not in a run
    except ValueError as error:
        raise SolutionsError(f"{where}: {error}") from error
    return solution


def parse_solutions(text: str, origin: str) -> dict[str, Solution]:
    """The solutions of one file's text; ``origin`` names the file in errors."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SolutionsError(f"{origin}: not valid YAML: {error}") from error
    if not isinstance(raw, Mapping) or set(raw) - {"solutions"}:
        raise SolutionsError(f"{origin}: expected a mapping with the one key 'solutions'")
    entries = raw.get("solutions") or {}
    if not isinstance(entries, Mapping):
        raise SolutionsError(f"{origin}: solutions: expected a mapping of name → recipe")
    table = {}
    for name, entry in entries.items():
        if not (isinstance(name, str) and name.isidentifier()):
            raise SolutionsError(
                f"{origin}: solution names must be identifiers (letters, digits, _), got {name!r}"
            )
        table[name] = solution_from_mapping(entry, f"{origin}: solutions.{name}")
    return table


def load_solutions(*paths: str | os.PathLike) -> dict[str, Solution]:
    """The layered solutions of ``paths`` (the packaged example when none), by name.

    A name in several files must have the same recipe in each; otherwise
    :class:`SolutionsError` names the solution and both files. Files are read again when they
    change (size or modification time); an unchanged set is parsed once per process.
    """
    keys = []
    for path in paths:
        file = Path(path)
        if not file.is_file():
            raise SolutionsError(f"solutions file {str(path)!r} does not exist")
        stat = file.stat()
        keys.append((str(path), stat.st_mtime_ns, stat.st_size))
    return dict(_load(tuple(keys)))


@functools.lru_cache(maxsize=32)
def _load(keys: tuple[tuple[str, int, int], ...]) -> dict[str, Solution]:
    sources = [(PACKAGED, packaged_solutions_text())] if not keys else []
    sources += [(path, Path(path).read_text(encoding="utf-8")) for path, _, _ in keys]
    table: dict[str, Solution] = {}
    defined_in: dict[str, str] = {}
    for origin, text in sources:
        for name, solution in parse_solutions(text, origin).items():
            if name in table and table[name] != solution:
                raise SolutionsError(
                    f"solution {name!r} is defined differently in {defined_in[name]} and "
                    f"{origin}; rename one or make the recipes equal"
                )
            table[name] = solution
            defined_in.setdefault(name, origin)
    return table


def solutions_paths(
    explicit: Iterable[str | os.PathLike] | None = None,
    rig_file_entry: str | list[str] | None = None,
    rig_file: str | os.PathLike | None = None,
) -> list[Path]:
    """Which solutions files apply: ``--solutions`` paths, else $IONRIG_SOLUTIONS, else the rig
    file's ``solutions`` entry (relative to the rig file), else none (the packaged example)."""
    if explicit:
        return [Path(p) for p in explicit]
    from_env = os.environ.get(ENVIRONMENT_VARIABLE, "")
    if from_env.strip():
        return [Path(p) for p in from_env.split(os.pathsep) if p.strip()]
    if rig_file_entry:
        entries = [rig_file_entry] if isinstance(rig_file_entry, str) else list(rig_file_entry)
        folder = Path(rig_file).parent if rig_file is not None else Path.cwd()
        return [Path(e) if Path(e).is_absolute() else folder / e for e in entries]
    return []
