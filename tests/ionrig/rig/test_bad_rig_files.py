"""Bad-input matrix of the rig file and the solutions file (issue 11).

Every field of every section of :class:`ionrig.rig.RigConfig` (found by walking
``dataclasses.fields`` from ``RigConfig`` down, through lists and mappings of sections) gets a
value of the wrong type, values out of range (not finite, ±1e9, an unknown name), and — when it
has no default — goes missing; every section gets an unknown key beside its fields. The
solutions file's entries get the same treatment. Each must give one :class:`ConfigError`
naming the field by its path and what is allowed. Cases go through the strict builder on the
packaged ``sim`` rig file as parsed YAML (fast); a sample goes through
:func:`read_rig_config` as written YAML files and as overrides, and must give the same error.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import re
import types
import typing
from importlib import resources
from typing import Any

import pytest
import yaml

from ionrig.rig import RigConfig, check_solution_names, read_rig_config
from ionrig.rig.config import ConfigError, build
from ionrig.simulators import Solution, SolutionsFile

RIG = yaml.safe_load((resources.files("ionrig.rigs") / "sim.yaml").read_text())
SOLUTIONS = yaml.safe_load((resources.files("ionrig.rigs") / "solutions.yaml").read_text())

#: Entries of lists and mappings of sections that the walk descends into: which key (or list
#: index) and what a valid entry holds before one field of it is spoiled.
ENTRIES: dict[tuple[str, ...], tuple[Any, dict[str, Any]]] = {
    ("world", "cells"): (0, {"x_px": 30.0, "y_px": 30.0, "radius_px": 8.0}),
    ("world", "solutions"): ("extra", {"description": "extra", "k_mM": 140.0}),
    ("filter_wheel", "filters"): ("340", {"position": 1, "wavelength_nm": 340.0}),
    ("faults",): (0, {"instrument": "daq", "kind": "no_reply"}),
}

#: Fields whose values are names that must exist (a wrong name is out of range for them).
NAME_FIELDS = {
    "perfusion.initial",
    "world.chamber.initial_solution",
    "world.patch.pipette_solution",
    "world.patch.reference_solution",
}

#: Fields with no upper limit by design (positive physical quantities of the simulation, a
#: seed, when and how long an injected fault lasts): 1e9 may be accepted there.
OPEN_ABOVE = ("world", "seed", "faults[0]")

#: Known gaps, reported in docs/bad-inputs.md (the simulator's own checks, not fixed here):
#: these accept ±1e9 (a cell off the image, a potential or temperature of a billion).
KNOWN_GAPS = {
    ("world.cells[0].x_px", "low"),
    ("world.cells[0].x_px", "high"),
    ("world.cells[0].y_px", "low"),
    ("world.cells[0].y_px", "high"),
    ("world.cells[0].v_rest_mV", "low"),
    ("world.cells[0].v_rest_mV", "high"),
    ("world.cell_model.pump_v_half_mV", "low"),
    ("world.cell_model.pump_v_half_mV", "high"),
    ("world.trpm7.reversal_mV", "low"),
    ("world.trpm7.reversal_mV", "high"),
    ("world.dye_handling.reference_C", "low"),
    ("world.dye_handling.reference_C", "high"),
    ("world.patch.break_in_pressure_kPa", "low"),
}

ALLOWED = re.compile(r"must|one of|expected|allowed|required|needs|multiples of")


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of the rig file: its place in the raw YAML and its name in error messages."""

    keys: tuple[Any, ...]  # keys into the raw mapping (list indices are ints)
    name: str
    type: Any
    required: bool

    @property
    def path(self) -> str:
        """The path as the builder writes it: ``world.cells[0].x_px``."""
        text = ""
        for key in self.keys:
            text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
        return text

    @property
    def section(self) -> str:
        return Field(self.keys[:-1], "", None, False).path


def _core(tp: Any) -> tuple[Any, bool]:
    """(the type without ``| None``, whether None is allowed)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        assert len(args) == 1, f"no bad values for the union {tp!r}"
        return args[0], optional
    return tp, False


def _walk(cls: type, keys: tuple[Any, ...] = ()) -> list[Field]:
    fields = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        here = (*keys, f.name)
        fields.append(Field(here, f.name, tp, required))
        core, _ = _core(tp)
        args = typing.get_args(core)
        if dataclasses.is_dataclass(core):
            fields += _walk(core, here)
        elif typing.get_origin(core) in (list, dict) and dataclasses.is_dataclass(args[-1]):
            key, _ = ENTRIES[tuple(k for k in here if not isinstance(k, int))]
            fields += _walk(args[-1], (*here, key))
    return fields


FIELDS = _walk(RigConfig)
SECTIONS = [f for f in FIELDS if dataclasses.is_dataclass(_core(f.type)[0])]
ENTRY_SECTIONS = [Field((*keys, key), str(key), None, False) for keys, (key, _) in ENTRIES.items()]


def _raw_with(keys: tuple[Any, ...], value: Any = None, *, delete: bool = False) -> dict:
    """The sim rig file's raw mapping with ``keys`` set to ``value`` (or deleted); the entries
    of lists and mappings of sections on the way are created from :data:`ENTRIES`."""
    raw = copy.deepcopy(RIG)
    node: Any = raw
    names: tuple[str, ...] = ()
    for key, following in itertools.pairwise(keys):
        if not isinstance(key, int):
            names = (*names, key)
        if isinstance(node, dict) and key not in node:
            node[key] = [] if isinstance(following, int) else {}
        child = node[key]
        if names in ENTRIES and not isinstance(key, int):
            entry = copy.deepcopy(ENTRIES[names][1])
            if isinstance(child, list):
                child[:] = [entry]
            else:
                child[following] = {**entry, **child.get(following, {})}
        node = child
    if delete:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return raw


def _build(raw: dict) -> RigConfig:
    """As read_rig_config builds a rig file: the dataclasses, then the world's solution names
    against the rig's solutions files."""
    config = build(RigConfig, raw)
    check_solution_names(config)
    return config


def _bad_types(tp: Any) -> list[Any]:
    """Values of the wrong type for a field of type ``tp``."""
    core, optional = _core(tp)
    origin, args = typing.get_origin(core), typing.get_args(core)
    none = [] if optional else [None]
    if core is float:
        return ["abc", [1.0], True, {"x": 1.0}, *none]
    if core is int:
        return ["abc", 2.5, True, [1], *none]
    if core is bool:
        return ["yes", 1, *none]
    if core is str:
        return [[1], {"x": 1}, True, *none]
    if origin is typing.Literal:
        return [5, [args[0]], *none]
    if dataclasses.is_dataclass(core):
        return [5, "abc", [1]]
    if origin is list:
        inner = "abc" if args[0] in (float, int) else [1] if args[0] is str else 5
        return ["abc", 5, [inner]]
    if origin is dict:
        key_bad = {"abc": 1.0} if args[0] is int else {}
        return ["abc", [1], *([key_bad] if key_bad else []), *none]
    if origin is tuple:
        return ["abc", 5, ["a"] * len(args)]
    raise AssertionError(f"no wrong-type values for {tp!r}")


def _numeric(tp: Any) -> Any:
    core, _ = _core(tp)
    return core if core in (int, float) else None


def _range_values(field: Field) -> list[tuple[str, Any]]:
    """(side, value) pairs out of range for ``field``; side low/high/any."""
    core, _ = _core(field.type)
    origin, args = typing.get_origin(core), typing.get_args(core)
    if core is float:
        return [
            ("any", math.nan),
            ("any", math.inf),
            ("any", -math.inf),
            ("low", -1e9),
            ("high", 1e9),
        ]
    if core is int:
        return [("low", -(10**9)), ("high", 10**9)]
    if origin is typing.Literal:
        return [("any", "no_such_value")]
    if field.path in NAME_FIELDS:
        return [("any", "no_such_solution")]
    if origin in (list, tuple) and args and args[0] is float:
        return [("any", [math.nan] * (len(args) if origin is tuple else 2))]
    return []


def _expectation(field: Field, side: str) -> str:
    if (field.path, side) in KNOWN_GAPS:
        return "gap"
    path = field.path
    if side == "high" and any(path == p or path.startswith((f"{p}.", f"{p}[")) for p in OPEN_ABOVE):
        return "open"
    return "refused"


def _cases() -> list[Any]:
    cases = []
    for field in FIELDS:
        for value in _bad_types(field.type):
            cases.append(
                pytest.param(field, "type", value, "refused", id=f"{field.path}-type-{value!r}")
            )
        for side, value in _range_values(field):
            expected = _expectation(field, side)
            marks = (
                [pytest.mark.xfail(strict=True, reason="known gap: no bound (reported)")]
                if expected == "gap"
                else []
            )
            cases.append(
                pytest.param(
                    field, "range", value, expected, id=f"{field.path}-range-{value!r}", marks=marks
                )
            )
    return cases


CASES = _cases()


def _assert_clear(error: ConfigError, field: Field) -> None:
    message = str(error)
    assert field.name in message, f"the message does not name {field.name!r}: {message}"
    # the path, written whole (world.dye.kd_mM) or as section: field (world: dye.kd_mM)
    if field.section:
        whole = message.replace(": ", ".")
        assert field.path in whole or (field.section in message and field.name in message), (
            f"the message lacks the path {field.path!r}: {message}"
        )
    assert ALLOWED.search(message), f"the message does not say what is allowed: {message}"


def test_the_walk_reaches_every_section_and_field() -> None:
    paths = {f.path for f in FIELDS}
    assert {
        "name",
        "world.sensor.width_px",
        "world.cells[0].x_px",
        "world.solutions.extra.mg_mM",
        "filter_wheel.filters.340.position",
        "perfusion.flow_mL_per_min",
        "amplifier.sample_rate_Hz",
        "calibration.kd_mM",
        "faults[0].kind",
    } <= paths
    assert len(FIELDS) > 200
    # every field of every section reached is a field of its dataclass
    for section in SECTIONS:
        cls = _core(section.type)[0]
        names = {f.name for f in dataclasses.fields(cls)}
        below = {f.name for f in FIELDS if f.keys[:-1] == section.keys}
        assert below == names or below == set(), section.path


def test_the_unspoiled_file_and_entries_build() -> None:
    """The baseline: the sim rig file with every entry of :data:`ENTRIES` added builds."""
    config = _build(RIG)
    assert config.name == "sim" and config.simulated
    for keys, (key, entry) in ENTRIES.items():
        first = next(iter(entry))
        _build(_raw_with((*keys, key, first), entry[first]))


@pytest.mark.parametrize(("field", "kind", "value", "expected"), CASES)
def test_bad_field_value(field: Field, kind: str, value: Any, expected: str) -> None:
    raw = _raw_with(field.keys, value)
    if expected == "open":
        try:
            _build(raw)
        except ConfigError as error:  # a bound exists after all: it must still be clear
            _assert_clear(error, field)
        return
    with pytest.raises(ConfigError) as refused:
        _build(raw)
    _assert_clear(refused.value, field)


@pytest.mark.parametrize("section", SECTIONS + ENTRY_SECTIONS, ids=lambda s: s.path)
def test_unknown_key_beside_the_fields_is_refused(section: Field) -> None:
    raw = _raw_with((*section.keys, "speeed"), 1)
    with pytest.raises(ConfigError) as refused:
        _build(raw)
    message = str(refused.value)
    assert "unknown key 'speeed'" in message and "allowed keys:" in message, message
    assert message.startswith(section.path), message


def test_unknown_top_level_key_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"RigConfig: unknown key 'camra'; allowed keys: .*camera"
    ):
        _build({**RIG, "camra": {}})


REQUIRED = [f for f in FIELDS if f.required]


@pytest.mark.parametrize("field", REQUIRED, ids=lambda f: f.path)
def test_missing_required_field_is_refused(field: Field) -> None:
    with pytest.raises(ConfigError, match=rf"^{re.escape(field.path)}: required field is missing"):
        _build(_raw_with(field.keys, delete=True))


def test_required_fields_are_the_expected_ones() -> None:
    assert {f.path for f in REQUIRED} == {
        "name",
        "world.cells[0].x_px",
        "world.cells[0].y_px",
        "world.cells[0].radius_px",
        "filter_wheel.filters.340.position",
        "filter_wheel.filters.340.wavelength_nm",
        "faults[0].instrument",
        "faults[0].kind",
    }


# -- the same errors through files and overrides ---------------------------------------------
SAMPLE = [
    (("camera", "exposure_ms"), -1e9),
    (("amplifier", "beta"), 0.5),
    (("amplifier", "sample_rate_Hz"), math.nan),
    (("perfusion", "reservoir_mL"), -5.0),
    (("pressure", "kPa_per_V"), 1e9),
    (("world", "sensor", "width_px"), "wide"),
    (("world", "dye", "kd_mM"), math.inf),
    (("filter_wheel", "filters", "340", "position"), 12),
    (("faults",), [{"instrument": "camera", "kind": "error", "after_frames": -1}]),
    (("time_scale",), 1e9),
    (("seed",), -1),
]


@pytest.mark.parametrize(("keys", "value"), SAMPLE, ids=lambda v: repr(v))
def test_a_written_file_and_overrides_give_the_builders_error(tmp_path, keys, value) -> None:
    raw = _raw_with(keys, value)
    with pytest.raises(ConfigError) as from_builder:
        _build(raw)
    path = tmp_path / "rig.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as from_file:
        read_rig_config(path)
    overrides: Any = value
    for key in reversed(keys):
        overrides = {key: overrides}
    with pytest.raises(ConfigError) as from_overrides:
        read_rig_config("sim", **overrides)
    assert str(from_file.value) == str(from_builder.value) == str(from_overrides.value)


def test_a_missing_field_in_a_written_file_is_named(tmp_path) -> None:
    raw = copy.deepcopy(RIG)
    del raw["filter_wheel"]["filters"]["380"]["wavelength_nm"]
    path = tmp_path / "rig.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(
        ConfigError, match=r"^filter_wheel\.filters\.380\.wavelength_nm: required field is missing"
    ):
        read_rig_config(path)


def test_a_rig_file_that_is_not_a_mapping_is_refused(tmp_path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match=r"must hold a mapping"):
        read_rig_config(path)


def test_a_perfusion_solution_missing_from_the_solutions_file_is_refused_before_connecting(
    RE, tmp_path
) -> None:
    from ionrig.rig import load_rig

    with pytest.raises(
        ConfigError,
        match=r"perfusion\.solutions: \['hbss_with_magic'\] are not in the packaged "
        r"solutions\.yaml \(known: hbss, ",
    ):
        load_rig("sim", raw_dir=tmp_path, perfusion={"solutions": ["hbss", "hbss_with_magic"]})


# -- the solutions file ----------------------------------------------------------------------
SOLUTION_FIELDS = [
    Field(("solutions", "hbss", f.name), f.name, typing.get_type_hints(Solution)[f.name], False)
    for f in dataclasses.fields(Solution)
]


def _solutions_with(name: str, field: str, value: Any) -> dict:
    raw = copy.deepcopy(SOLUTIONS)
    raw["solutions"][name] = {**raw["solutions"][name], field: value}
    return raw


def _solution_cases() -> list[Any]:
    cases = []
    for field in SOLUTION_FIELDS:
        for value in _bad_types(field.type):
            cases.append(pytest.param(field.name, value, id=f"{field.name}-type-{value!r}"))
        if field.type is float:
            for value in (-1.0, -1e9, 1e9, math.nan, math.inf):
                cases.append(pytest.param(field.name, value, id=f"{field.name}-range-{value!r}"))
    return cases


@pytest.mark.parametrize(("field", "value"), _solution_cases())
def test_bad_solution_component_is_refused(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as refused:
        build(SolutionsFile, _solutions_with("hbss", field, value), "solutions.yaml")
    message = str(refused.value)
    assert message.startswith("solutions.yaml.solutions.hbss"), message
    assert field in message and ALLOWED.search(message), message


def test_every_solution_field_is_in_the_matrix() -> None:
    assert {f.name for f in SOLUTION_FIELDS} == {f.name for f in dataclasses.fields(Solution)}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"solutions": {"hbss": {"magnesium_mM": 1.0}}},
            r"^solutions\.yaml\.solutions\.hbss: unknown key 'magnesium_mM'; allowed keys: "
            r".*mg_mM",
        ),
        (
            {"solutions": {"bad name": {"mg_mM": 1.0}}},
            r"solution names must be identifiers",
        ),
        ({"solutions": {"hbss": 5}}, r"^solutions\.yaml\.solutions\.hbss: expected a mapping"),
        ({"solutions": ["hbss"]}, r"^solutions\.yaml\.solutions: expected a mapping"),
        ({"solution": {}}, r"^solutions\.yaml: unknown key 'solution'; allowed keys: solutions"),
        ("just text", r"^solutions\.yaml: expected a mapping"),
    ],
)
def test_bad_solutions_file_structure_is_refused(raw, message) -> None:
    with pytest.raises(ConfigError, match=message):
        build(SolutionsFile, raw, "solutions.yaml")


def test_the_packaged_solutions_file_builds() -> None:
    solutions = build(SolutionsFile, SOLUTIONS, "solutions.yaml").solutions
    assert {"hbss", "mg_k_aspartate", "calibration_rmin"} <= set(solutions)
