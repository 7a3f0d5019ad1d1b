"""Rig files: the YAML a rig is described in, read into a :class:`RigConfig`.

A rig file names its instruments by role. ``rig="sim"`` is the packaged ``rigs/sim.yaml``; any
path to a YAML file works. :func:`read_rig_config` reads and checks one (every key, type and
range, and the solution names against the rig's solutions files) into the sections of
:mod:`ionrig.rig.sections` (re-exported here); :func:`rig_file_json_schema` is the JSON Schema
of a rig file; :func:`ionrig.rig.build.load_rig` builds the rig a file describes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter

from ionrig.chemistry import Solution, SolutionsError, load_solutions, solutions_paths
from ionrig.devices.drivers import AxopatchChannels
from ionrig.rig.config import ConfigError, build, merge
from ionrig.rig.sections import (
    AmplifierConfig,
    CalibrationConfig,
    CameraConfig,
    DaqConfig,
    FaultConfig,
    FilterConfig,
    FilterWheelConfig,
    PerfusionConfig,
    PressureConfig,
    RigConfig,
    TemperatureConfig,
)

__all__ = [
    "AmplifierConfig",
    "CalibrationConfig",
    "CameraConfig",
    "DaqConfig",
    "FaultConfig",
    "FilterConfig",
    "FilterWheelConfig",
    "PerfusionConfig",
    "PressureConfig",
    "RigConfig",
    "TemperatureConfig",
    "available_rigs",
    "axopatch_channels",
    "check_solution_names",
    "read_rig_config",
    "read_solutions",
    "rig_file_json_schema",
    "solutions_origin",
    "valve_lines",
]


#: YAML files in ``rigs/`` that are not rig files.
NOT_RIG_FILES = frozenset({"solutions.yaml"})


def available_rigs() -> list[str]:
    """Names of the rig files shipped with ionrig (``rigs/*.yaml``)."""
    files = resources.files("ionrig.rigs")
    return sorted(
        p.name.removesuffix(".yaml")
        for p in files.iterdir()
        if p.name.endswith(".yaml") and p.name not in NOT_RIG_FILES
    )


def read_rig_config(
    name_or_path: str | os.PathLike = "sim",
    *,
    solutions: Sequence[str | os.PathLike] | None = None,
    **overrides: Any,
) -> RigConfig:
    """Parse a rig file (packaged name or path) with top-level ``overrides`` deep-merged.

    The solution names of ``world`` are checked against the rig's solutions files
    (``solutions``: as ``--solutions``; see :func:`read_solutions`)."""
    text_name = str(name_or_path)
    rig_dir: Path | None = None  # solutions paths in a rig file are relative to it
    if text_name.endswith((".yaml", ".yml")) or os.sep in text_name or Path(text_name).exists():
        path = Path(text_name)
        if not path.is_file():
            raise ConfigError(f"rig file {text_name!r} does not exist")
        raw = yaml.safe_load(path.read_text())
        rig_dir = path.parent
    else:
        names = available_rigs()
        if text_name not in names:
            raise ConfigError(
                f"rig must be one of {', '.join(names)} or a path to a YAML file; got {text_name!r}"
            )
        raw = yaml.safe_load((resources.files("ionrig.rigs") / f"{text_name}.yaml").read_text())
    if not isinstance(raw, dict):
        raise ConfigError(f"rig file {text_name!r} must hold a mapping")
    entry = raw.get("solutions")
    if isinstance(entry, str):
        entry = raw["solutions"] = [entry]
    if isinstance(entry, list) and rig_dir is not None:
        raw["solutions"] = [
            str(rig_dir / e) if isinstance(e, str) and not Path(e).is_absolute() else e
            for e in entry
        ]
    config = build(RigConfig, merge(raw, overrides))
    check_solution_names(config, solutions)
    return config


def check_solution_names(
    config: RigConfig, solutions: Sequence[str | os.PathLike] | None = None
) -> None:
    """Refuse ``world`` solution names that the rig's solutions files do not define."""
    table = read_solutions(config, solutions)
    try:
        config.world.check_solution_names(table)
    except ValueError as error:
        raise ConfigError(f"world.{error}") from error


def axopatch_channels(amplifier: AmplifierConfig) -> AxopatchChannels:
    """The DAQ channels of the rig file's Axopatch 200B, as its driver takes them."""
    a = amplifier
    return AxopatchChannels(
        command_ao=a.command_ao,
        scaled_output_ai=a.scaled_output_ai,
        gain_telegraph_ai=a.gain_telegraph_ai,
        mode_telegraph_ai=a.mode_telegraph_ai,
        filter_telegraph_ai=a.filter_telegraph_ai,
    )


def valve_lines(config: RigConfig) -> dict[str, str]:
    """Solution name → DO line of its valve: ``perfusion.valve_lines``, else
    ``<device>/port0/line<i>`` in the order of ``perfusion.solutions``."""
    p = config.perfusion
    return {
        name: p.valve_lines.get(name, f"{config.daq.device}/port0/line{i}")
        for i, name in enumerate(p.solutions)
    }


def read_solutions(
    config: RigConfig | None = None, solutions: Sequence[str | os.PathLike] | None = None
) -> dict[str, Solution]:
    """The rig's solutions, name → Solution: the files of ``solutions`` (``--solutions``), else
    $IONRIG_SOLUTIONS, else the rig file's ``solutions``, else the packaged example."""
    paths = solutions_paths(solutions, config.solutions if config is not None else None)
    try:
        return load_solutions(*paths)
    except SolutionsError as error:
        raise ConfigError(str(error)) from error


def solutions_origin(config: RigConfig, solutions: Sequence[str | os.PathLike] | None) -> str:
    """Which files a rig's solutions come from, for messages."""
    paths = solutions_paths(solutions, config.solutions)
    return ", ".join(p.name for p in paths) if paths else "the packaged solutions.yaml"


#: The JSON Schema dialect of :func:`rig_file_json_schema`.
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _refuse_unknown_keys(schema: Any) -> None:
    """Every object schema with properties refuses other keys (the world's sections are the
    simulator's plain dataclasses, whose schemas pydantic leaves open)."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)
        for value in schema.values():
            _refuse_unknown_keys(value)
    elif isinstance(schema, list):
        for value in schema:
            _refuse_unknown_keys(value)


def rig_file_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a rig file, as parsed YAML.

    Every section and key, with the descriptions and units (``unit``) of the rig file's fields,
    their defaults, the allowed values of "one of" fields and the ranges checked when the file
    is read (``minimum``, ``exclusiveMinimum`` …); unknown keys are refused at every level. The
    checks that tie fields together (distinct filter positions, a real rig without simulated
    parts …) and the ranges of the simulated world's fields are :func:`read_rig_config`'s only.
    """
    schema = TypeAdapter(RigConfig).json_schema()
    _refuse_unknown_keys(schema)
    return {"$schema": JSON_SCHEMA_DIALECT, **schema, "title": "ionrig rig file"}
