"""Solutions files: the lab's own, layered, and the packaged example.

A solutions file is YAML: ``solutions: {name: recipe}`` (the keys of :class:`Solution`).
Several files layer into one table; a name defined twice must have the same recipe in both
(else an error names both files). Paths inside a rig file are relative to the rig file.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import typing
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pydantic
import yaml

from ._solution import Solution

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "SolutionsError",
    "load_solutions",
    "packaged_solutions_text",
    "parse_solutions",
    "solutions_file_json_schema",
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


IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _field_definitions() -> dict[str, tuple[Any, Any]]:
    """The recipe keys of :class:`Solution` (its init fields) as pydantic field definitions."""
    hints = typing.get_type_hints(Solution)
    definitions = {}
    for field in dataclasses.fields(Solution):
        if not field.init:
            continue
        if field.default is not dataclasses.MISSING:
            default = field.default
        else:
            default = pydantic.Field(default_factory=field.default_factory)
        definitions[field.name] = (hints[field.name], default)
    return definitions


#: A solution entry of a solutions file, as pydantic checks it: the keys of :class:`Solution`,
#: strict types (a number is not a string, ``true`` is not a number), finite numbers only.
SolutionRecipe = pydantic.create_model(
    "SolutionRecipe",
    __config__=pydantic.ConfigDict(extra="forbid", strict=True, allow_inf_nan=False),
    **_field_definitions(),
)


def _message(error: Mapping[str, Any]) -> str:
    kind, value = error["type"], error["input"]
    if kind in ("dict_type", "mapping_type"):
        return f"expected a mapping of component → mM, got {value!r}"
    if kind in ("string_type", "string_sub_type"):
        return f"expected a string, got {value!r}"
    if kind.startswith(("float", "int", "finite")):
        return f"expected a finite number, got {value!r}"
    return f"{error['msg']}, got {value!r}"


def _check_recipe(raw: Mapping[str, Any], where: str) -> None:
    """Validate ``raw`` with :data:`SolutionRecipe`; the first error (unknown keys first) as a
    :class:`SolutionsError` naming the field path."""
    try:
        SolutionRecipe.model_validate(dict(raw))
    except pydantic.ValidationError as invalid:
        errors = invalid.errors()
        unknown = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
        if unknown:
            allowed = ", ".join(sorted(SolutionRecipe.model_fields))
            plural = "s" if len(unknown) > 1 else ""
            raise SolutionsError(
                f"{where}: unknown key{plural} {', '.join(map(repr, unknown))}"
                f"; allowed keys: {allowed}"
            ) from None
        first = errors[0]
        path = ".".join([where, *map(str, first["loc"])])
        raise SolutionsError(f"{path}: {_message(first)}") from None


def solution_from_mapping(raw: Any, where: str) -> Solution:
    """One solution entry, every key checked; errors name ``where`` and the field."""
    if not isinstance(raw, Mapping):
        raise SolutionsError(f"{where}: expected a mapping of recipe keys, got {raw!r}")
    _check_recipe(raw, where)
    values = {k: ({n: float(x) for n, x in v.items()} if isinstance(v, Mapping) else v)
              for k, v in raw.items()}  # fmt: skip
    values = {k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
              for k, v in values.items()}  # fmt: skip
    try:
        solution = Solution(**values)
        _ = solution.speciation  # free ions solved at load, not in a run
    except ValueError as error:
        raise SolutionsError(f"{where}: {error}") from error
    return solution


def solutions_file_json_schema() -> dict[str, Any]:
    """The JSON Schema of a solutions file (``ionrig solutions schema``): one key,
    ``solutions``, mapping identifier names to recipes."""
    recipe = SolutionRecipe.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ionrig solutions file",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "solutions": {
                "type": "object",
                "description": "solution name (an identifier) → recipe",
                "propertyNames": {"pattern": IDENTIFIER_PATTERN},
                "additionalProperties": {"$ref": "#/$defs/SolutionRecipe"},
            }
        },
        "$defs": {**recipe.pop("$defs", {}), "SolutionRecipe": recipe},
    }


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
